//! Plans are data: `plan_apply(desired, observed)` and `plan_detach` compute
//! the steps that take a hookpoint from what is observed to what is
//! desired, each with its undo, without touching anything. The executor
//! (`executor`) runs them. `accord plan` prints them (`display.rs`).

mod display;

use std::path::PathBuf;

use dispatcher::{
    ConnStamp, Dispatcher, DispatcherError, Hook, CONN_MAP_NAME, PREV_CHAIN_MAP_NAME, REQ_MAP_NAME,
};

pub use crate::adapter::ExpectedProg;
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
    /// The generation whose pinned dispatcher (and chain) the link runs,
    /// whether or not the record names it (after a kill between the link
    /// update and the record write, it does not).
    pub link_generation: Option<u64>,
    /// Some recorded member's program is not pinned where the record says.
    pub members_missing: bool,
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
    /// The record is live: its dispatcher is what the link runs, and its
    /// members are pinned.
    pub fn healthy(&self) -> bool {
        self.record.is_some()
            && self.link_prog_id.is_some()
            && self.link_prog_id == self.live_dispatcher_id
            && !self.members_missing
    }

    /// Generation directories neither the record's live one nor the one it
    /// replaced: leftovers of an interrupted run (`doctor` reports them).
    fn stale_generations(&self, record: &HookpointRecord) -> Vec<u64> {
        let mut stale: Vec<u64> = self
            .generations
            .iter()
            .copied()
            .filter(|g| !record.keeps(*g))
            .collect();
        stale.sort_unstable();
        stale.dedup();
        stale
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
    /// One `BPF_LINK_UPDATE` of the pinned link, only if it still runs
    /// `old_prog`: the hook is never without a program.
    UpdateLink {
        link_pin: PathBuf,
        new_prog_pin: PathBuf,
        old_prog: ExpectedProg,
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
    /// The chain is live as desired: only its record changes (the
    /// composition's path, the audit verdict) or a struct_ops registration
    /// it needs is missing.
    RecordUpdate { generation: u64 },
    /// Same members, new config: a new generation with the new config
    /// replaces the live one in one link update, so each connection sees
    /// the old config or the new one on every member, never a mix.
    ConfigChange { from: u64, to: u64 },
    /// Nothing was attached: first generation and a new link.
    Fresh { generation: u64 },
    /// A new generation replaces the live one in one link update.
    Swap { from: u64, to: u64 },
    /// The record and the kernel disagree: build anew and point the link at
    /// it (attach only if the link is gone).
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
        if record.chain_digest == chain_digest && record.config_digest == config_digest {
            if steps.is_empty()
                && record.composition_path == desired.composition_path
                && record.audit == desired.audit
            {
                // Nothing to change; only what an interrupted run left.
                let steps = observed
                    .stale_generations(record)
                    .into_iter()
                    .map(|g| cleanup(layout.generation_dir(&key, g)))
                    .collect();
                return Ok(Plan {
                    key,
                    kind: PlanKind::NoChange {
                        generation: record.generation,
                    },
                    steps,
                });
            }
            let mut updated = desired.record(record.generation);
            updated.previous_generation = record.previous_generation;
            steps.push(step(
                Action::WriteState {
                    record: Box::new(updated),
                },
                Some(Action::WriteState {
                    record: Box::new(record.clone()),
                }),
            ));
            return Ok(Plan {
                key,
                kind: PlanKind::RecordUpdate {
                    generation: record.generation,
                },
                steps,
            });
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
    // The generation that keeps serving the connections it stamped: the
    // live one in a swap, or in a repair whichever the link runs now.
    let replaced = match (&observed.record, observed.healthy()) {
        (Some(r), true) => Some(r.generation),
        _ => observed.link_generation,
    };
    let stamp = (desired.hook == Hook::SockOps).then_some(ConnStamp {
        generation: next,
        previous: replaced,
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
            steps.push(swap_link(&link_pin, &new_dispatcher, &old_dispatcher));
            if record.chain_digest == chain_digest {
                PlanKind::ConfigChange {
                    from: record.generation,
                    to: next,
                }
            } else {
                PlanKind::Swap {
                    from: record.generation,
                    to: next,
                }
            }
        }
        (None, _, None) => {
            steps.push(step(create, Some(Action::Unpin { path: link_pin })));
            PlanKind::Fresh { generation: next }
        }
        (_, _, Some(running)) => {
            // A link the record does not explain: accord's own (it is
            // pinned under accord's root), so it is updated in place, never
            // detached and attached again, and no connection finds the hook
            // empty in between.
            match observed.link_generation {
                Some(g) => {
                    let old = layout.dispatcher_pin(&key, g);
                    steps.push(swap_link(&link_pin, &new_dispatcher, &old));
                }
                None => steps.push(step(
                    Action::UpdateLink {
                        link_pin,
                        new_prog_pin: new_dispatcher.clone(),
                        old_prog: ExpectedProg::Id(running),
                    },
                    None,
                )),
            }
            PlanKind::Repair { generation: next }
        }
        (Some(_), _, None) => {
            // The record's link is gone: nothing runs, attach anew.
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
    steps.extend(
        old.into_iter()
            .map(|g| cleanup(layout.generation_dir(&key, g))),
    );
    Ok(Plan { key, kind, steps })
}

/// Removing an old generation, after the commit point (a failure is a
/// warning that `accord gc` finishes).
fn cleanup(path: PathBuf) -> Step {
    Step {
        action: Action::RemoveTree { path },
        undo: None,
        after_commit: true,
    }
}

/// One `BPF_LINK_UPDATE` from `old` to `new`, undone by the reverse one.
fn swap_link(link_pin: &std::path::Path, new: &std::path::Path, old: &std::path::Path) -> Step {
    step(
        Action::UpdateLink {
            link_pin: link_pin.to_owned(),
            new_prog_pin: new.to_owned(),
            old_prog: ExpectedProg::Pin(old.to_owned()),
        },
        Some(Action::UpdateLink {
            link_pin: link_pin.to_owned(),
            new_prog_pin: old.to_owned(),
            old_prog: ExpectedProg::Pin(new.to_owned()),
        }),
    )
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
