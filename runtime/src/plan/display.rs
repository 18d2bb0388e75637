//! How plans print (`accord plan`, the daemon's log, the insta snapshots).

use std::fmt;

use super::{Action, ConnMap, Plan, PlanKind};

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::MakeDir { path } => write!(f, "make dir {}", path.display()),
            Action::RemoveTree { path } => write!(f, "unpin and remove {}", path.display()),
            Action::Unpin { path } => write!(f, "unpin {}", path.display()),
            Action::CreateChainMap { pin } => write!(f, "create chain map, pin {}", pin.display()),
            Action::CreateConnMap { map, pin } => {
                let what = match map {
                    ConnMap::Sockets => "connection stamp map",
                    ConnMap::Requests => "request stamp map",
                };
                write!(f, "create {what}, pin {}", pin.display())
            }
            Action::RegisterStructOps { name, pin_dir, .. } => write!(
                f,
                "register struct_ops {name}, pin its links in {}",
                pin_dir.display()
            ),
            Action::LoadMember {
                slot,
                feature,
                program,
                object,
                globals,
                prog_pin,
                ..
            } => {
                let globals: Vec<String> =
                    globals.iter().map(|(n, v)| format!("{n}={v}")).collect();
                let member = if feature == program {
                    feature.clone()
                } else {
                    format!("{feature}/{program}")
                };
                write!(
                    f,
                    "load member {member} from {} ({}, {}) with {}, pin {}",
                    object.name,
                    object.origin,
                    object.digest,
                    globals.join(" "),
                    prog_pin.display()
                )?;
                write!(f, " [slot {slot}]")
            }
            Action::WriteConfig {
                member,
                map_pin,
                value,
            } => {
                let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
                write!(f, "write config of {member}: {} = {hex}", map_pin.display())
            }
            Action::ReplaceSet {
                member,
                map_pin,
                keys,
            } => {
                write!(
                    f,
                    "fill set of {member}: {} = {} keys",
                    map_pin.display(),
                    keys.len()
                )
            }
            Action::SetSlot {
                chain_pin,
                slot,
                prog_pin,
            } => {
                write!(
                    f,
                    "set slot {slot} of {} to {}",
                    chain_pin.display(),
                    prog_pin.display()
                )
            }
            Action::LoadDispatcher {
                dispatcher,
                maps,
                pin,
            } => {
                write!(
                    f,
                    "load {} dispatcher ({} insns, {} members), pin {}",
                    dispatcher.hook.name(),
                    dispatcher.insns.len(),
                    dispatcher.members.len(),
                    pin.display()
                )?;
                // The chain map is the generation's own; name the others.
                for (name, map_pin) in maps
                    .iter()
                    .filter(|(n, _)| *n != dispatcher::CHAIN_MAP_NAME)
                {
                    write!(f, "; {name} {}", map_pin.display())?;
                }
                Ok(())
            }
            Action::CreateLink {
                cgroup,
                hook,
                prog_pin,
                link_pin,
            } => write!(
                f,
                "attach {} to {} via a {} link running {}, pin {}",
                hook.name(),
                cgroup.display(),
                hook.name(),
                prog_pin.display(),
                link_pin.display()
            ),
            Action::UpdateLink {
                link_pin,
                new_prog_pin,
                old_prog,
            } => write!(
                f,
                "swap {} from {} to {} (one BPF_LINK_UPDATE)",
                link_pin.display(),
                old_prog,
                new_prog_pin.display()
            ),
            Action::WriteState { record } => write!(
                f,
                "write record {} (generation {}, {} members)",
                record.key,
                record.generation,
                record.members.len()
            ),
            Action::RemoveState { key } => write!(f, "remove record {key}"),
        }
    }
}

impl fmt::Display for PlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanKind::NoChange { generation } => {
                write!(f, "no change: generation {generation} is live as desired")
            }
            PlanKind::RecordUpdate { generation } => write!(
                f,
                "record update: generation {generation} is live as desired; update its record"
            ),
            PlanKind::ConfigChange { from, to } => write!(
                f,
                "config change: build generation {to} with the new config beside {from}, then swap atomically (each connection sees one config)"
            ),
            PlanKind::Fresh { generation } => write!(
                f,
                "first apply: build generation {generation} and attach it"
            ),
            PlanKind::Swap { from, to } => write!(
                f,
                "swap: build generation {to} beside {from}, then swap atomically"
            ),
            PlanKind::Repair { generation } => {
                write!(f, "repair: the kernel does not match the record; build generation {generation} and point the link at it")
            }
            PlanKind::Detach => write!(
                f,
                "detach: remove the chain and every pin of this hookpoint"
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan for {}: {}", self.key, self.kind)?;
        for (i, s) in self.steps.iter().enumerate() {
            let marker = if s.after_commit {
                " (after commit)"
            } else {
                ""
            };
            writeln!(f, "{:3}. {}{marker}", i + 1, s.action)?;
            if let Some(undo) = &s.undo {
                writeln!(f, "     undo: {undo}")?;
            }
        }
        Ok(())
    }
}
