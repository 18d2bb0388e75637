//! The operations the CLI offers, written against the adapter and the state
//! store: observe a hookpoint, apply a desired chain (plan, then execute),
//! detach, status, and garbage collection.

use std::path::PathBuf;

use dispatcher::DispatcherError;
use thiserror::Error;

use crate::adapter::{AdapterError, BpfAdapter, MemberCounters, ProgStats};
use crate::desired::DesiredChain;
use crate::executor::{self, ExecError, Executed};
use crate::kernel::{KernelFeatures, KernelRefusal};
use crate::layout::{generation_of, Layout, STRUCT_OPS_DIR};
use crate::plan::{self, Observed, Plan};
use crate::state::{HookpointRecord, StateError, StateStore};

#[derive(Debug, Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Dispatcher(#[from] DispatcherError),
    #[error(transparent)]
    Exec(#[from] Box<ExecError>),
    #[error("no hookpoint of accord's is attached to {}", cgroup.display())]
    NotManaged { cgroup: PathBuf },
    #[error(transparent)]
    Kernel(#[from] KernelRefusal),
}

/// Reads what the records and the kernel show for one hookpoint.
pub fn observe(
    layout: &Layout,
    adapter: &dyn BpfAdapter,
    store: &dyn StateStore,
    key: &str,
) -> Result<Observed, LifecycleError> {
    let record = store.load(key)?;
    let link_prog_id = adapter.link_prog_id(&layout.link_pin(key))?;
    let live_dispatcher_id = match &record {
        Some(r) => {
            let pin = layout.dispatcher_pin(key, r.generation);
            if adapter.exists(&pin) {
                Some(adapter.prog_stats(&pin)?.id)
            } else {
                None
            }
        }
        None => None,
    };
    let dir = layout.hookpoint_dir(key);
    let generations: Vec<u64> = adapter
        .list_dir(&dir)?
        .iter()
        .filter_map(|p| generation_of(&p.file_name()?.to_string_lossy()))
        .collect();
    // Which generation the link runs (its dispatcher and chain pinned).
    let link_generation = link_prog_id.and_then(|running| {
        generations.iter().copied().find(|g| {
            let pin = layout.dispatcher_pin(key, *g);
            adapter.exists(&layout.chain_pin(key, *g))
                && adapter.prog_stats(&pin).is_ok_and(|s| s.id == running)
        })
    });
    let members_missing = record.as_ref().is_some_and(|r| {
        r.members.iter().any(|m| {
            let dir = layout.member_dir(key, r.generation, m.slot, &m.feature, &m.program);
            !adapter.exists(&dir.join("prog"))
        })
    });
    let struct_ops_registered = adapter
        .list_dir(&layout.struct_ops_root())?
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    Ok(Observed {
        struct_ops_registered,
        record,
        link_prog_id,
        live_dispatcher_id,
        link_generation,
        members_missing,
        generations,
        hookpoint_dir_exists: adapter.exists(&dir),
        conn_map_exists: adapter.exists(&layout.conn_map_pin(key)),
        req_map_exists: adapter.exists(&layout.req_map_pin(key)),
    })
}

/// Computes the plan for `desired` on this host.
pub fn plan_for(
    layout: &Layout,
    adapter: &dyn BpfAdapter,
    store: &dyn StateStore,
    desired: &DesiredChain,
) -> Result<Plan, LifecycleError> {
    let observed = observe(layout, adapter, store, &desired.key)?;
    Ok(plan::plan_apply(layout, desired, &observed)?)
}

/// A chain this kernel can run, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub features: KernelFeatures,
    /// The documented fallbacks the chain runs with here (for the user).
    pub fallbacks: Vec<String>,
}

/// Probes the kernel for what `desired` needs and decides whether it can
/// run here ([`KernelFeatures::admit`]): a chain the kernel cannot run is
/// refused before anything is loaded, never by a verifier error.
pub fn admit(adapter: &dyn BpfAdapter, desired: &DesiredChain) -> Result<Admitted, LifecycleError> {
    let features = adapter.probe(&desired.needs.options());
    let fallbacks = features.admit(&desired.needs)?;
    Ok(Admitted {
        features,
        fallbacks,
    })
}

/// Plans and executes an apply; a plan that changes anything is first
/// admitted by the kernel probe ([`admit`]), whose fallbacks end up in the
/// result's `notes`.
pub fn apply(
    layout: &Layout,
    adapter: &mut dyn BpfAdapter,
    store: &mut dyn StateStore,
    desired: &DesiredChain,
) -> Result<(Plan, Executed), LifecycleError> {
    let plan = plan_for(layout, adapter, store, desired)?;
    let notes = if plan.steps.is_empty() {
        Vec::new()
    } else {
        admit(adapter, desired)?.fallbacks
    };
    let mut done = executor::execute(&plan, adapter, store)?;
    done.notes = notes;
    Ok((plan, done))
}

/// Removes the hookpoint of `key` completely.
pub fn detach(
    layout: &Layout,
    adapter: &mut dyn BpfAdapter,
    store: &mut dyn StateStore,
    key: &str,
) -> Result<Executed, LifecycleError> {
    let plan = plan::plan_detach(layout, key);
    Ok(executor::execute(&plan, adapter, store)?)
}

/// One member as the kernel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    pub slot: u32,
    pub member: String,
    /// `Err` when its pin is gone (drift). The kernel's run counts stay 0
    /// for tail-called programs: see `counters`.
    pub stats: Result<ProgStats, String>,
    /// The member's own `accord_stats` (events, writes, errors).
    pub counters: Option<MemberCounters>,
}

/// One hookpoint as the record and the kernel show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookpointStatus {
    pub record: HookpointRecord,
    pub link_prog_id: Option<u32>,
    pub dispatcher: Result<ProgStats, String>,
    pub members: Vec<MemberStatus>,
    /// Where the kernel disagrees with the record.
    pub drift: Vec<String>,
}

impl HookpointStatus {
    /// The JSON form `accord status --format json` prints and the daemon's
    /// status socket answers with (one shape for both).
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.record;
        serde_json::json!({
            "hookpoint": r.key,
            "hook": r.hook.name(),
            "cgroup": r.cgroup,
            "cgroup_id": r.cgroup_id,
            "composition": r.composition,
            "composition_path": r.composition_path,
            "generation": r.generation,
            // Kept pinned for the connections it stamped (until the next swap).
            "previous_generation": r.previous_generation,
            // Whether the members measure their run time (`run_ns` below).
            "timing": r.timing,
            // The host-side audit: {"verdict": "clean", "warnings": N} or
            // {"verdict": "skipped"} (`apply --skip-audit`); null in older records.
            "audit": r.audit,
            "link_prog_id": self.link_prog_id,
            "dispatcher_prog_id": self.dispatcher.as_ref().ok().map(|d| d.id),
            // The kernel's BPF_ENABLE_STATS counters of the dispatcher; they
            // cover every tail-called member.
            "dispatcher_run_cnt": self.dispatcher.as_ref().ok().map(|d| d.run_cnt),
            "dispatcher_run_time_ns": self.dispatcher.as_ref().ok().map(|d| d.run_time_ns),
            "members": self.members.iter().map(|m| serde_json::json!({
                "slot": m.slot,
                "member": m.member,
                // `builtin:<name>` or `file:<path>` (null in older records).
                "object": r.members.iter().find(|rm| rm.slot == m.slot)
                    .map(|rm| rm.origin.as_str()).filter(|o| !o.is_empty()),
                "prog_id": m.stats.as_ref().ok().map(|s| s.id),
                "events": m.counters.map(|c| c.events),
                "writes": m.counters.map(|c| c.writes),
                "errors": m.counters.map(|c| c.errors),
                // 0 unless `timing` is on.
                "run_ns": m.counters.map(|c| c.run_ns),
            })).collect::<Vec<_>>(),
            "drift": self.drift,
        })
    }
}

/// The status of every hookpoint with a record.
pub fn status(
    layout: &Layout,
    adapter: &dyn BpfAdapter,
    store: &dyn StateStore,
) -> Result<Vec<HookpointStatus>, LifecycleError> {
    let mut out = Vec::new();
    for record in store.list()? {
        let key = record.key.clone();
        let link_prog_id = adapter.link_prog_id(&layout.link_pin(&key))?;
        let dispatcher = adapter
            .prog_stats(&layout.dispatcher_pin(&key, record.generation))
            .map_err(|e| e.to_string());
        let mut drift = Vec::new();
        match (&dispatcher, link_prog_id) {
            (_, None) => drift.push("no link pinned: the chain is not attached".to_owned()),
            (Ok(d), Some(l)) if d.id != l => drift.push(format!(
                "the link runs program {l}, not the recorded dispatcher {}",
                d.id
            )),
            (Err(e), _) => drift.push(format!("dispatcher: {e}")),
            _ => {}
        }
        let members = record
            .members
            .iter()
            .map(|m| {
                let dir =
                    layout.member_dir(&key, record.generation, m.slot, &m.feature, &m.program);
                let stats = adapter
                    .prog_stats(&dir.join("prog"))
                    .map_err(|e| e.to_string());
                let counters = adapter
                    .member_counters(&dir.join("accord_stats"))
                    .ok()
                    .flatten();
                if let Err(e) = &stats {
                    drift.push(format!("member {}: {e}", m.feature));
                }
                MemberStatus {
                    slot: m.slot,
                    member: if m.feature == m.program {
                        m.feature.clone()
                    } else {
                        format!("{}/{}", m.feature, m.program)
                    },
                    stats,
                    counters,
                }
            })
            .collect();
        out.push(HookpointStatus {
            record,
            link_prog_id,
            dispatcher,
            members,
            drift,
        });
    }
    Ok(out)
}

/// Pins under the root that no record uses: hookpoint directories without a
/// record, and generations other than the recorded one.
pub fn gc_candidates(
    layout: &Layout,
    adapter: &dyn BpfAdapter,
    store: &dyn StateStore,
) -> Result<Vec<PathBuf>, LifecycleError> {
    let records = store.list()?;
    let mut out = Vec::new();
    for dir in adapter.list_dir(&layout.bpffs_root)? {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == STRUCT_OPS_DIR {
            // Registrations no record needs any more.
            for reg in adapter.list_dir(&dir)? {
                let reg_name = reg
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !records.iter().any(|r| r.struct_ops.contains(&reg_name)) {
                    out.push(reg);
                }
            }
            continue;
        }
        match records.iter().find(|r| r.key == name) {
            None => out.push(dir),
            Some(record) => {
                for entry in adapter.list_dir(&dir)? {
                    let entry_name = entry
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if let Some(g) = generation_of(&entry_name) {
                        if !record.keeps(g) {
                            out.push(entry);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Removes (or with `dry_run`, only lists) what [`gc_candidates`] finds.
pub fn gc(
    layout: &Layout,
    adapter: &mut dyn BpfAdapter,
    store: &dyn StateStore,
    dry_run: bool,
) -> Result<Vec<PathBuf>, LifecycleError> {
    let found = gc_candidates(layout, adapter, store)?;
    if !dry_run {
        for path in &found {
            if layout.owns(path) {
                adapter.remove_tree(path)?;
            }
        }
    }
    Ok(found)
}
