//! Plans are data: `plan_apply(desired, observed)` and `plan_detach` compute
//! the steps that take a hookpoint from what is observed to what is
//! desired, each with its undo, without touching anything. The executor
//! (`executor`) runs them. `accord plan` prints them.

use std::fmt;
use std::path::PathBuf;

use dispatcher::{
    ConnStamp, Dispatcher, DispatcherError, Hook, CONN_MAP_NAME, PREV_CHAIN_MAP_NAME, REQ_MAP_NAME,
};

use crate::config::CONFIG_MAP;
use crate::desired::{DesiredChain, ObjectImage};
use crate::layout::Layout;
use crate::state::HookpointRecord;

/// What the kernel and the records show for one hookpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub record: Option<HookpointRecord>,
    /// The program the pinned link runs; `None` when there is no link pin.
    pub link_prog_id: Option<u32>,
    /// The id of the recorded generation's pinned dispatcher, if it exists.
    pub live_dispatcher_id: Option<u32>,
    /// Generation numbers with a directory in bpffs.
    pub generations: Vec<u64>,
    pub hookpoint_dir_exists: bool,
    /// The hookpoint's connection stamp map is pinned.
    pub conn_map_exists: bool,
    /// The hookpoint's request stamp map is pinned.
    pub req_map_exists: bool,
    /// struct_ops registrations pinned under the root, by name.
    pub struct_ops_registered: Vec<String>,
}

impl Observed {
    /// The record is live: its dispatcher is what the link runs.
    pub fn healthy(&self) -> bool {
        self.record.is_some()
            && self.link_prog_id.is_some()
            && self.link_prog_id == self.live_dispatcher_id
    }
}

/// The hookpoint-wide maps of connection stamps (see the dispatcher crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnMap {
    /// `accord_conn_gen`: socket storage, a stamp per full socket.
    Sockets,
    /// `accord_req_gen`: an LRU hash of request sockets' stamps.
    Requests,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    MakeDir {
        path: PathBuf,
    },
    RemoveTree {
        path: PathBuf,
    },
    Unpin {
        path: PathBuf,
    },
    CreateChainMap {
        pin: PathBuf,
    },
    /// One of the hookpoint's connection stamp maps.
    CreateConnMap {
        map: ConnMap,
        pin: PathBuf,
    },
    RegisterStructOps {
        name: String,
        object: std::sync::Arc<[u8]>,
        pin_dir: PathBuf,
    },
    LoadMember {
        slot: u32,
        feature: String,
        program: String,
        hook: Hook,
        object: ObjectImage,
        globals: Vec<(&'static str, u32)>,
        chain_pin: PathBuf,
        prog_pin: PathBuf,
        map_dir: PathBuf,
    },
    WriteConfig {
        member: String,
        map_pin: PathBuf,
        value: Vec<u8>,
    },
    ReplaceSet {
        member: String,
        map_pin: PathBuf,
        keys: Vec<Vec<u8>>,
    },
    SetSlot {
        chain_pin: PathBuf,
        slot: u32,
        prog_pin: PathBuf,
    },
    LoadDispatcher {
        dispatcher: Dispatcher,
        /// The pin of each map the dispatcher refers to, by ABI name.
        maps: Vec<(&'static str, PathBuf)>,
        pin: PathBuf,
    },
    CreateLink {
        cgroup: PathBuf,
        hook: Hook,
        prog_pin: PathBuf,
        link_pin: PathBuf,
    },
    UpdateLink {
        link_pin: PathBuf,
        new_prog_pin: PathBuf,
        old_prog_pin: PathBuf,
    },
    WriteState {
        record: Box<HookpointRecord>,
    },
    RemoveState {
        key: String,
    },
}

/// An action, how to take it back, and whether it runs after the commit
/// point (then a failure is a warning: the new state is already live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    pub undo: Option<Action>,
    pub after_commit: bool,
}

/// What kind of change a plan makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanKind {
    /// Already live as desired.
    NoChange { generation: u64 },
    /// Same members; config maps updated in place.
    ConfigInPlace { generation: u64 },
    /// Nothing was attached: first generation and a new link.
    Fresh { generation: u64 },
    /// A new generation replaces the live one in one link update.
    Swap { from: u64, to: u64 },
    /// The record and the kernel disagree: build anew and re-attach.
    Repair { generation: u64 },
    /// Remove the hookpoint.
    Detach,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub key: String,
    pub kind: PlanKind,
    pub steps: Vec<Step>,
}

fn step(action: Action, undo: Option<Action>) -> Step {
    Step {
        action,
        undo,
        after_commit: false,
    }
}

/// Plans an apply of `desired` over what is `observed`.
pub fn plan_apply(
    layout: &Layout,
    desired: &DesiredChain,
    observed: &Observed,
) -> Result<Plan, DispatcherError> {
    let key = desired.key.clone();
    let chain_digest = desired.chain_digest();
    let config_digest = desired.config_digest();
    // Shared registrations first (undone on failure only when new).
    let mut steps: Vec<Step> = desired
        .struct_ops()
        .into_iter()
        .filter(|s| !observed.struct_ops_registered.contains(&s.name))
        .map(|s| {
            let pin_dir = layout.struct_ops_dir(&s.name);
            step(
                Action::RegisterStructOps {
                    name: s.name.clone(),
                    object: s.bytes.clone(),
                    pin_dir: pin_dir.clone(),
                },
                Some(Action::RemoveTree { path: pin_dir }),
            )
        })
        .collect();
    if observed.healthy() {
        let record = observed.record.as_ref().expect("healthy has a record");
        if record.chain_digest == chain_digest {
            if steps.is_empty()
                && record.config_digest == config_digest
                && record.composition_path == desired.composition_path
                && record.audit == desired.audit
            {
                return Ok(Plan {
                    key,
                    kind: PlanKind::NoChange {
                        generation: record.generation,
                    },
                    steps,
                });
            }
            let mut plan = config_in_place(layout, desired, record);
            steps.append(&mut plan.steps);
            plan.steps = steps;
            return Ok(plan);
        }
    }
    let next = observed
        .generations
        .iter()
        .chain(observed.record.iter().map(|r| &r.generation))
        .max()
        .map_or(1, |g| g + 1);
    if !observed.hookpoint_dir_exists {
        let dir = layout.hookpoint_dir(&key);
        steps.push(step(
            Action::MakeDir { path: dir.clone() },
            Some(Action::RemoveTree { path: dir }),
        ));
    }
    // sock_ops generations keep each connection on one generation.
    let stamp = (desired.hook == Hook::SockOps).then(|| ConnStamp {
        generation: next,
        previous: observed
            .healthy()
            .then(|| observed.record.as_ref().map(|r| r.generation))
            .flatten(),
    });
    if stamp.is_some() {
        let maps = [
            (
                ConnMap::Sockets,
                layout.conn_map_pin(&key),
                observed.conn_map_exists,
            ),
            (
                ConnMap::Requests,
                layout.req_map_pin(&key),
                observed.req_map_exists,
            ),
        ];
        for (map, pin, exists) in maps {
            if !exists {
                steps.push(step(
                    Action::CreateConnMap {
                        map,
                        pin: pin.clone(),
                    },
                    Some(Action::Unpin { path: pin }),
                ));
            }
        }
    }
    build_generation(layout, desired, next, stamp, &mut steps)?;

    let link_pin = layout.link_pin(&key);
    let new_dispatcher = layout.dispatcher_pin(&key, next);
    let create = Action::CreateLink {
        cgroup: desired.target.cgroup.clone(),
        hook: desired.hook,
        prog_pin: new_dispatcher.clone(),
        link_pin: link_pin.clone(),
    };
    let kind = match (&observed.record, observed.healthy(), observed.link_prog_id) {
        (Some(record), true, _) => {
            let old_dispatcher = layout.dispatcher_pin(&key, record.generation);
            steps.push(step(
                Action::UpdateLink {
                    link_pin: link_pin.clone(),
                    new_prog_pin: new_dispatcher.clone(),
                    old_prog_pin: old_dispatcher.clone(),
                },
                Some(Action::UpdateLink {
                    link_pin,
                    new_prog_pin: old_dispatcher,
                    old_prog_pin: new_dispatcher,
                }),
            ));
            PlanKind::Swap {
                from: record.generation,
                to: next,
            }
        }
        (None, _, None) => {
            steps.push(step(create, Some(Action::Unpin { path: link_pin })));
            PlanKind::Fresh { generation: next }
        }
        (_, _, link) => {
            // A link the record does not explain (or none where one should
            // be): drop it and attach the new generation.
            if link.is_some() {
                steps.push(step(
                    Action::Unpin {
                        path: link_pin.clone(),
                    },
                    None,
                ));
            }
            steps.push(step(create, Some(Action::Unpin { path: link_pin })));
            PlanKind::Repair { generation: next }
        }
    };
    let previous = stamp.and_then(|s| s.previous);
    let mut record = desired.record(next);
    record.previous_generation = previous;
    steps.push(step(
        Action::WriteState {
            record: Box::new(record),
        },
        Some(restore_state(&key, observed.record.as_ref())),
    ));
    // Cleanup after the commit point: every older generation but the one
    // just replaced, whose chain still serves the connections it stamped.
    let mut old: Vec<u64> = observed
        .generations
        .iter()
        .chain(observed.record.iter().map(|r| &r.generation))
        .copied()
        .filter(|g| *g != next && Some(*g) != previous)
        .collect();
    old.sort_unstable();
    old.dedup();
    for g in old {
        steps.push(Step {
            action: Action::RemoveTree {
                path: layout.generation_dir(&key, g),
            },
            undo: None,
            after_commit: true,
        });
    }
    Ok(Plan { key, kind, steps })
}

fn restore_state(key: &str, old: Option<&HookpointRecord>) -> Action {
    match old {
        Some(r) => Action::WriteState {
            record: Box::new(r.clone()),
        },
        None => Action::RemoveState {
            key: key.to_owned(),
        },
    }
}

fn build_generation(
    layout: &Layout,
    desired: &DesiredChain,
    generation: u64,
    stamp: Option<ConnStamp>,
    steps: &mut Vec<Step>,
) -> Result<(), DispatcherError> {
    let key = &desired.key;
    let dispatcher = desired.dispatcher_with(stamp)?;
    let gen_dir = layout.generation_dir(key, generation);
    let chain_pin = layout.chain_pin(key, generation);
    // Undoing the directory unpins everything in it: the steps inside it
    // need no undo of their own.
    steps.push(step(
        Action::MakeDir {
            path: gen_dir.clone(),
        },
        Some(Action::RemoveTree { path: gen_dir }),
    ));
    steps.push(step(
        Action::CreateChainMap {
            pin: chain_pin.clone(),
        },
        None,
    ));
    for (m, constants) in desired.members.iter().zip(&dispatcher.members) {
        let slot = constants.slot;
        let map_dir = layout.member_dir(key, generation, slot, &m.feature, &m.program);
        steps.push(step(
            Action::LoadMember {
                slot,
                feature: m.feature.clone(),
                program: m.program.clone(),
                hook: desired.hook,
                object: m.object.clone(),
                globals: constants.globals.clone(),
                chain_pin: chain_pin.clone(),
                prog_pin: map_dir.join("prog"),
                map_dir: map_dir.clone(),
            },
            None,
        ));
        let member = m.id().to_string();
        if let Some(value) = &m.config.scalar {
            steps.push(step(
                Action::WriteConfig {
                    member: member.clone(),
                    map_pin: map_dir.join(CONFIG_MAP),
                    value: value.clone(),
                },
                None,
            ));
        }
        for set in &m.config.sets {
            steps.push(step(
                Action::ReplaceSet {
                    member: member.clone(),
                    map_pin: map_dir.join(set.map_name()),
                    keys: set.keys.clone(),
                },
                None,
            ));
        }
    }
    for (slot, m) in desired.members.iter().enumerate() {
        let slot = slot as u32;
        let prog_pin = layout
            .member_dir(key, generation, slot, &m.feature, &m.program)
            .join("prog");
        steps.push(step(
            Action::SetSlot {
                chain_pin: chain_pin.clone(),
                slot,
                prog_pin,
            },
            None,
        ));
    }
    let maps = dispatcher
        .maps()
        .into_iter()
        .map(|name| {
            let pin = match name {
                CONN_MAP_NAME => layout.conn_map_pin(key),
                REQ_MAP_NAME => layout.req_map_pin(key),
                PREV_CHAIN_MAP_NAME => {
                    let previous = stamp.and_then(|s| s.previous).unwrap_or(generation);
                    layout.chain_pin(key, previous)
                }
                _ => chain_pin.clone(),
            };
            (name, pin)
        })
        .collect();
    steps.push(step(
        Action::LoadDispatcher {
            dispatcher,
            maps,
            pin: layout.dispatcher_pin(key, generation),
        },
        None,
    ));
    Ok(())
}

fn config_in_place(layout: &Layout, desired: &DesiredChain, record: &HookpointRecord) -> Plan {
    let key = &desired.key;
    let generation = record.generation;
    let mut steps = Vec::new();
    for (m, old) in desired.members.iter().zip(&record.members) {
        let map_dir = layout.member_dir(key, generation, old.slot, &m.feature, &m.program);
        let member = m.id().to_string();
        if let (Some(new), Some(prev)) = (&m.config.scalar, &old.config.scalar) {
            if new != prev {
                let map_pin = map_dir.join(CONFIG_MAP);
                steps.push(step(
                    Action::WriteConfig {
                        member: member.clone(),
                        map_pin: map_pin.clone(),
                        value: new.clone(),
                    },
                    Some(Action::WriteConfig {
                        member: member.clone(),
                        map_pin,
                        value: prev.clone(),
                    }),
                ));
            }
        }
        for (set, prev) in m.config.sets.iter().zip(&old.config.sets) {
            if set.keys != prev.keys {
                let map_pin = map_dir.join(set.map_name());
                steps.push(step(
                    Action::ReplaceSet {
                        member: member.clone(),
                        map_pin: map_pin.clone(),
                        keys: set.keys.clone(),
                    },
                    Some(Action::ReplaceSet {
                        member: member.clone(),
                        map_pin,
                        keys: prev.keys.clone(),
                    }),
                ));
            }
        }
    }
    let mut updated = desired.record(generation);
    updated.previous_generation = record.previous_generation;
    steps.push(step(
        Action::WriteState {
            record: Box::new(updated),
        },
        Some(Action::WriteState {
            record: Box::new(record.clone()),
        }),
    ));
    Plan {
        key: key.clone(),
        kind: PlanKind::ConfigInPlace { generation },
        steps,
    }
}

/// Plans removing a hookpoint completely: the link first (detaching the
/// chain), then every pin, then the record.
pub fn plan_detach(layout: &Layout, key: &str) -> Plan {
    let steps = vec![
        step(
            Action::Unpin {
                path: layout.link_pin(key),
            },
            None,
        ),
        step(
            Action::RemoveTree {
                path: layout.hookpoint_dir(key),
            },
            None,
        ),
        step(
            Action::RemoveState {
                key: key.to_owned(),
            },
            None,
        ),
    ];
    Plan {
        key: key.to_owned(),
        kind: PlanKind::Detach,
        steps,
    }
}

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
                old_prog_pin,
            } => write!(
                f,
                "swap {} from {} to {} (one BPF_LINK_UPDATE)",
                link_pin.display(),
                old_prog_pin.display(),
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
            PlanKind::ConfigInPlace { generation } => {
                write!(f, "config change: update generation {generation}'s config maps in place (no reload, no swap)")
            }
            PlanKind::Fresh { generation } => write!(
                f,
                "first apply: build generation {generation} and attach it"
            ),
            PlanKind::Swap { from, to } => write!(
                f,
                "swap: build generation {to} beside {from}, then swap atomically"
            ),
            PlanKind::Repair { generation } => {
                write!(f, "repair: the kernel does not match the record; build generation {generation} and re-attach")
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
