//! `accord doctor`: desired state (the records) against observed state (the
//! pins under the bpffs root, the link and the program it runs, the
//! programs the kernel lists on each cgroup, its ancestors and the cgroups
//! below it, struct_ops registrations).
//! [`gather`] reads the facts through the adapter seam; [`diagnose`] is a
//! pure function from those facts to findings, each with what to do.

use std::path::PathBuf;

use serde::Serialize;

use crate::adapter::inventory::{AttachedProg, Inventory};
use crate::adapter::BpfAdapter;
use crate::layout::{generation_of, Layout, STRUCT_OPS_DIR};
use crate::lifecycle::LifecycleError;
use crate::state::{HookpointRecord, StateStore};

/// What the kernel and bpffs show for one recorded hookpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookpointFacts {
    pub record: HookpointRecord,
    /// The program the pinned link runs; `None` without a link pin.
    pub link_prog_id: Option<u32>,
    /// The recorded generation's dispatcher; `None` without its pin.
    pub dispatcher_id: Option<u32>,
    /// Members (`feature/program`) whose program pin is missing.
    pub missing_members: Vec<String>,
    /// The id of the directory at the recorded cgroup path; `None` if gone.
    pub cgroup_id_now: Option<u64>,
    /// The programs the kernel lists on the cgroup for the hook.
    pub attached: Result<Vec<AttachedProg>, String>,
    /// Programs that run for the cgroup's sockets too, attached to an
    /// ancestor (the effective list minus the attached one).
    pub inherited: Vec<AttachedProg>,
    /// Programs attached to cgroups below it: they run for the sockets
    /// there together with the chain.
    pub descendants: Vec<(PathBuf, AttachedProg)>,
}

/// One hookpoint directory under the bpffs root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinDirFacts {
    pub key: String,
    pub path: PathBuf,
    pub generations: Vec<(u64, PathBuf)>,
    /// The program its link pin runs, if it has one.
    pub link_prog_id: Option<u32>,
}

/// Everything [`diagnose`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub hookpoints: Vec<HookpointFacts>,
    pub pin_dirs: Vec<PinDirFacts>,
    /// struct_ops registrations pinned under the root: (name, path).
    pub struct_ops: Vec<(String, PathBuf)>,
}

/// One disagreement between the records and the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The record says the chain is attached; there is no link pin.
    LinkMissing { key: String, cgroup: PathBuf },
    /// The recorded generation's dispatcher pin is gone.
    DispatcherMissing { key: String, generation: u64 },
    /// The link runs a program other than the recorded dispatcher.
    LinkRunsOther {
        key: String,
        link_prog_id: u32,
        dispatcher_id: Option<u32>,
    },
    /// A recorded member's program pin is gone.
    MemberMissing { key: String, member: String },
    /// A generation directory that is not the live one.
    StaleGeneration {
        key: String,
        generation: u64,
        path: PathBuf,
    },
    /// Pins of a hookpoint with no record.
    Unrecorded {
        key: String,
        path: PathBuf,
        link_prog_id: Option<u32>,
    },
    /// The recorded cgroup no longer exists (or is another cgroup now).
    CgroupGone {
        key: String,
        cgroup: PathBuf,
        /// The id of a different cgroup now at that path.
        replaced_by: Option<u64>,
    },
    /// A program on the cgroup's hook that accord does not own.
    ForeignProgram {
        key: String,
        cgroup: PathBuf,
        prog_id: u32,
        name: String,
    },
    /// A program attached to an ancestor cgroup that runs for this one's
    /// sockets too; `hookpoint` when it is another accord chain.
    InheritedProgram {
        key: String,
        cgroup: PathBuf,
        prog_id: u32,
        name: String,
        hookpoint: Option<String>,
    },
    /// A program attached to a cgroup below this one: it runs for the
    /// sockets there together with the chain; `hookpoint` when it is
    /// another accord chain.
    DescendantProgram {
        key: String,
        cgroup: PathBuf,
        descendant: PathBuf,
        prog_id: u32,
        name: String,
        hookpoint: Option<String>,
    },
    /// A struct_ops registration the record needs is not pinned.
    StructOpsMissing { key: String, name: String },
    /// The kernel could not list the cgroup's programs.
    QueryFailed { key: String, error: String },
    /// A struct_ops registration no record uses.
    UnusedStructOps { name: String, path: PathBuf },
}

impl Finding {
    /// The hookpoint the finding is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Finding::LinkMissing { key, .. }
            | Finding::DispatcherMissing { key, .. }
            | Finding::LinkRunsOther { key, .. }
            | Finding::MemberMissing { key, .. }
            | Finding::StaleGeneration { key, .. }
            | Finding::Unrecorded { key, .. }
            | Finding::CgroupGone { key, .. }
            | Finding::ForeignProgram { key, .. }
            | Finding::InheritedProgram { key, .. }
            | Finding::DescendantProgram { key, .. }
            | Finding::StructOpsMissing { key, .. }
            | Finding::QueryFailed { key, .. } => Some(key),
            Finding::UnusedStructOps { .. } => None,
        }
    }

    /// What is wrong, in one sentence.
    pub fn problem(&self) -> String {
        match self {
            Finding::LinkMissing { cgroup, .. } => format!(
                "the record says the chain runs on {}, but there is no link pin: it is not attached",
                cgroup.display()
            ),
            Finding::DispatcherMissing { generation, .. } => {
                format!("the dispatcher pin of live generation {generation} is missing")
            }
            Finding::LinkRunsOther {
                link_prog_id,
                dispatcher_id,
                ..
            } => match dispatcher_id {
                Some(d) => format!(
                    "the link runs program {link_prog_id}, not the recorded dispatcher {d}"
                ),
                None => format!(
                    "the link runs program {link_prog_id}, and the recorded dispatcher is gone"
                ),
            },
            Finding::MemberMissing { member, .. } => {
                format!("member {member}'s program pin is missing")
            }
            Finding::StaleGeneration {
                generation, path, ..
            } => format!(
                "generation {generation} ({}) is not the live one",
                path.display()
            ),
            Finding::Unrecorded {
                path, link_prog_id, ..
            } => match link_prog_id {
                Some(p) => format!(
                    "pins at {} have no record, and their link still runs program {p}: a chain runs unmanaged",
                    path.display()
                ),
                None => format!("pins at {} have no record", path.display()),
            },
            Finding::CgroupGone {
                cgroup,
                replaced_by,
                ..
            } => match replaced_by {
                Some(id) => format!(
                    "the recorded cgroup {} was removed; another cgroup (id {id}) now has that path and runs no chain",
                    cgroup.display()
                ),
                None => format!("the recorded cgroup {} no longer exists", cgroup.display()),
            },
            Finding::ForeignProgram {
                cgroup,
                prog_id,
                name,
                ..
            } => format!(
                "program {prog_id} ({}) is attached to {}'s sock_ops beside accord's link: it runs before or after the chain, outside what accord proved",
                if name.is_empty() { "no name" } else { name },
                cgroup.display()
            ),
            Finding::InheritedProgram {
                key,
                cgroup,
                hookpoint: Some(other),
                ..
            } => format!(
                "accord's chain {other}, on an ancestor of {}, runs for its sockets too: it and this chain ({key}) were never checked as one composition",
                cgroup.display()
            ),
            Finding::InheritedProgram {
                cgroup,
                prog_id,
                name,
                ..
            } => format!(
                "program {prog_id} ({}) is attached to an ancestor of {} and runs for its sockets too, outside what accord proved",
                if name.is_empty() { "no name" } else { name },
                cgroup.display()
            ),
            Finding::DescendantProgram {
                key,
                descendant,
                hookpoint: Some(other),
                ..
            } => format!(
                "accord's chain {other} on {} runs there together with this chain ({key}): the two were never checked as one composition",
                descendant.display()
            ),
            Finding::DescendantProgram {
                cgroup,
                descendant,
                prog_id,
                name,
                ..
            } => format!(
                "program {prog_id} ({}) is attached to {}, below {}: it runs for the sockets there together with the chain, outside what accord proved",
                if name.is_empty() { "no name" } else { name },
                descendant.display(),
                cgroup.display()
            ),
            Finding::StructOpsMissing { name, .. } => format!(
                "struct_ops `{name}`, which the members need, is not registered"
            ),
            Finding::QueryFailed { error, .. } => {
                format!("cannot list the cgroup's programs: {error}")
            }
            Finding::UnusedStructOps { name, .. } => {
                format!("struct_ops `{name}` is registered but no record uses it")
            }
        }
    }

    /// What to do about it.
    pub fn action(&self) -> String {
        match self {
            Finding::LinkMissing { cgroup, .. } => format!(
                "run `accord apply` again to reattach, or `accord detach --cgroup {}` to drop the record",
                cgroup.display()
            ),
            Finding::DispatcherMissing { .. }
            | Finding::MemberMissing { .. }
            | Finding::StructOpsMissing { .. }
            | Finding::LinkRunsOther { .. } => {
                "run `accord apply` again: it rebuilds a generation from the record's composition".into()
            }
            Finding::StaleGeneration { .. } | Finding::UnusedStructOps { .. } => {
                "run `accord gc` to remove it".into()
            }
            Finding::Unrecorded { .. } => {
                "run `accord gc` to remove the pins (this detaches the link), then `accord apply` if the chain should run".into()
            }
            Finding::CgroupGone { cgroup, .. } => format!(
                "run `accord detach --cgroup {}` to drop the link, pins and record",
                cgroup.display()
            ),
            Finding::ForeignProgram { cgroup, prog_id, .. } => format!(
                "find its owner (`bpftool cgroup show {}`, `bpftool prog show id {prog_id}`) and detach it, or make it a member of the composition",
                cgroup.display()
            ),
            Finding::InheritedProgram {
                hookpoint: Some(_), ..
            }
            | Finding::DescendantProgram {
                hookpoint: Some(_), ..
            } => "put the features of both chains into one composition and apply it once (`accord check` proves them together), or detach one of them".into(),
            Finding::InheritedProgram { prog_id, .. } => format!(
                "find where it is attached (`bpftool cgroup tree`, `bpftool prog show id {prog_id}`) and detach it, or accept that it runs beside the chain"
            ),
            Finding::DescendantProgram {
                descendant,
                prog_id,
                ..
            } => format!(
                "find its owner (`bpftool cgroup show {}`, `bpftool prog show id {prog_id}`) and detach it, or make it a member of the composition",
                descendant.display()
            ),
            Finding::QueryFailed { .. } => "run as root on a kernel with cgroup v2 BPF".into(),
        }
    }
}

/// Every finding, and the hookpoints with none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub healthy: Vec<String>,
    pub findings: Vec<Finding>,
}

/// Reads the facts: every record, every pin directory under the root, and
/// what the kernel lists on each recorded cgroup.
pub fn gather(
    layout: &Layout,
    adapter: &dyn BpfAdapter,
    inventory: &dyn Inventory,
    store: &dyn StateStore,
) -> Result<Facts, LifecycleError> {
    let name_of = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut facts = Facts::default();
    for record in store.list()? {
        let key = record.key.clone();
        let link_prog_id = adapter.link_prog_id(&layout.link_pin(&key))?;
        let pin = layout.dispatcher_pin(&key, record.generation);
        let dispatcher_id = if adapter.exists(&pin) {
            Some(adapter.prog_stats(&pin)?.id)
        } else {
            None
        };
        let missing_members = record
            .members
            .iter()
            .filter(|m| {
                let dir =
                    layout.member_dir(&key, record.generation, m.slot, &m.feature, &m.program);
                !adapter.exists(&dir.join("prog"))
            })
            .map(|m| format!("{}/{}", m.feature, m.program))
            .collect();
        let cgroup_id_now = inventory.cgroup_id(&record.cgroup);
        let descendants = if cgroup_id_now.is_some() {
            inventory
                .descendants(&record.cgroup)
                .into_iter()
                .flat_map(|d| {
                    // A cgroup removed since the walk lists nothing.
                    let progs = inventory.attached(&d, record.hook).unwrap_or_default();
                    progs.into_iter().map(move |p| (d.clone(), p))
                })
                .collect()
        } else {
            Vec::new()
        };
        let (attached, inherited) = if cgroup_id_now.is_some() {
            let query = || -> Result<_, crate::adapter::AdapterError> {
                let attached = inventory.attached(&record.cgroup, record.hook)?;
                let inherited = inventory
                    .effective(&record.cgroup, record.hook)?
                    .into_iter()
                    .filter(|p| !attached.iter().any(|a| a.prog_id == p.prog_id))
                    .collect();
                Ok((attached, inherited))
            };
            match query() {
                Ok((a, i)) => (Ok(a), i),
                Err(e) => (Err(e.to_string()), Vec::new()),
            }
        } else {
            (Ok(Vec::new()), Vec::new())
        };
        facts.hookpoints.push(HookpointFacts {
            record,
            link_prog_id,
            dispatcher_id,
            missing_members,
            cgroup_id_now,
            attached,
            inherited,
            descendants,
        });
    }
    for dir in adapter.list_dir(&layout.bpffs_root)? {
        let key = name_of(&dir);
        if key == STRUCT_OPS_DIR {
            for reg in adapter.list_dir(&dir)? {
                facts.struct_ops.push((name_of(&reg), reg));
            }
            continue;
        }
        let generations = adapter
            .list_dir(&dir)?
            .into_iter()
            .filter_map(|p| Some((generation_of(&name_of(&p))?, p)))
            .collect();
        // A pin that is not a link is reported by the missing link instead.
        let link_prog_id = adapter.link_prog_id(&layout.link_pin(&key)).ok().flatten();
        facts.pin_dirs.push(PinDirFacts {
            key,
            path: dir,
            generations,
            link_prog_id,
        });
    }
    Ok(facts)
}

/// The findings the facts show; pure.
pub fn diagnose(facts: &Facts) -> Report {
    let mut findings = Vec::new();
    // Which hookpoint a program id is the chain of (its link or dispatcher).
    let chain_of = |prog_id: u32| {
        facts
            .hookpoints
            .iter()
            .find(|h| h.link_prog_id == Some(prog_id) || h.dispatcher_id == Some(prog_id))
            .map(|h| h.record.key.clone())
    };
    for hp in &facts.hookpoints {
        let r = &hp.record;
        let key = r.key.clone();
        let gone = hp.cgroup_id_now != Some(r.cgroup_id);
        if gone {
            findings.push(Finding::CgroupGone {
                key: key.clone(),
                cgroup: r.cgroup.clone(),
                replaced_by: hp.cgroup_id_now,
            });
        }
        match hp.link_prog_id {
            None => findings.push(Finding::LinkMissing {
                key: key.clone(),
                cgroup: r.cgroup.clone(),
            }),
            Some(l) if hp.dispatcher_id != Some(l) => findings.push(Finding::LinkRunsOther {
                key: key.clone(),
                link_prog_id: l,
                dispatcher_id: hp.dispatcher_id,
            }),
            Some(_) => {}
        }
        if hp.dispatcher_id.is_none() {
            findings.push(Finding::DispatcherMissing {
                key: key.clone(),
                generation: r.generation,
            });
        }
        for member in &hp.missing_members {
            findings.push(Finding::MemberMissing {
                key: key.clone(),
                member: member.clone(),
            });
        }
        for name in &r.struct_ops {
            if !facts.struct_ops.iter().any(|(n, _)| n == name) {
                findings.push(Finding::StructOpsMissing {
                    key: key.clone(),
                    name: name.clone(),
                });
            }
        }
        if gone {
            // The programs at the path now belong to another cgroup.
            continue;
        }
        for p in &hp.inherited {
            findings.push(Finding::InheritedProgram {
                key: key.clone(),
                cgroup: r.cgroup.clone(),
                prog_id: p.prog_id,
                name: p.name.clone(),
                hookpoint: chain_of(p.prog_id),
            });
        }
        for (descendant, p) in &hp.descendants {
            findings.push(Finding::DescendantProgram {
                key: key.clone(),
                cgroup: r.cgroup.clone(),
                descendant: descendant.clone(),
                prog_id: p.prog_id,
                name: p.name.clone(),
                hookpoint: chain_of(p.prog_id),
            });
        }
        match &hp.attached {
            Err(error) => findings.push(Finding::QueryFailed {
                key: key.clone(),
                error: error.clone(),
            }),
            Ok(progs) => {
                for p in progs {
                    let ours =
                        Some(p.prog_id) == hp.link_prog_id || Some(p.prog_id) == hp.dispatcher_id;
                    if !ours {
                        findings.push(Finding::ForeignProgram {
                            key: key.clone(),
                            cgroup: r.cgroup.clone(),
                            prog_id: p.prog_id,
                            name: p.name.clone(),
                        });
                    }
                }
            }
        }
    }
    for dir in &facts.pin_dirs {
        match facts.hookpoints.iter().find(|h| h.record.key == dir.key) {
            None => findings.push(Finding::Unrecorded {
                key: dir.key.clone(),
                path: dir.path.clone(),
                link_prog_id: dir.link_prog_id,
            }),
            Some(hp) => {
                for (generation, path) in &dir.generations {
                    if !hp.record.keeps(*generation) {
                        findings.push(Finding::StaleGeneration {
                            key: dir.key.clone(),
                            generation: *generation,
                            path: path.clone(),
                        });
                    }
                }
            }
        }
    }
    for (name, path) in &facts.struct_ops {
        if !facts
            .hookpoints
            .iter()
            .any(|h| h.record.struct_ops.contains(name))
        {
            findings.push(Finding::UnusedStructOps {
                name: name.clone(),
                path: path.clone(),
            });
        }
    }
    let healthy = facts
        .hookpoints
        .iter()
        .map(|h| h.record.key.clone())
        .filter(|k| !findings.iter().any(|f| f.key() == Some(k)))
        .collect();
    Report { healthy, findings }
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
