//! The daemon's synchronous core: holds the accepted policy, turns it into
//! desired chains and reconciles them against what is observed, through
//! [`lifecycle::plan_for`] and the one executor. It runs on its own thread;
//! the async side only tells it when to look again.
//!
//! One rule covers removal: every hookpoint the daemon applied is "owned"
//! (remembered in `<state dir>/daemon/owned.json`, so it survives restarts);
//! an owned hookpoint that no target currently wants (the target left the
//! policy, its cgroup disappeared or was recreated with a new id) is
//! detached.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::adapter::real::RealAdapter;
use crate::desired::{DesiredChain, Target};
use crate::executor;
use crate::layout::{hookpoint_key, Layout};
use crate::lifecycle;
use crate::lock::HostLock;
use crate::plan::PlanKind;
use crate::policy::{self, Policy, PolicyError, Prepared, TargetError};
use crate::state::{FsStateStore, StateStore};
use dispatcher::Hook;

/// Why a policy was refused as a whole (nothing changed).
#[derive(Debug, Error)]
pub enum Refusal {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("target {}: {source}", cgroup.display())]
    Target {
        cgroup: PathBuf,
        #[source]
        source: TargetError,
    },
}

impl Refusal {
    /// A composition that is not safe, or a member object that does more
    /// than its spec declares (as opposed to invalid input).
    pub fn is_unsafe(&self) -> bool {
        matches!(
            self,
            Refusal::Target {
                source: TargetError::Unsafe { .. } | TargetError::Audit { .. },
                ..
            }
        )
    }
}

/// Where one target stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Its cgroup does not exist (yet).
    Pending,
    Live {
        key: String,
        generation: u64,
    },
    Failed {
        message: String,
    },
}

struct TargetState {
    prepared: Prepared,
    desired: Option<DesiredChain>,
    phase: Phase,
    /// After a failure, not retried before this (a reload retries at once).
    retry_at: Option<Instant>,
    /// The hookpoint this target maps to while its cgroup exists: kept
    /// through failures, so a failed change never detaches the live chain.
    key: Option<String>,
}

/// How long a failed target waits before the next try (unless reloaded).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// What the async side needs to watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSet {
    /// The policy and every file it references.
    pub files: BTreeSet<PathBuf>,
    /// Directories whose entries appearing or vanishing may make a target
    /// appear or disappear (the nearest existing ancestor of each cgroup).
    pub cgroup_dirs: BTreeSet<PathBuf>,
}

/// The daemon's state.
pub struct Engine {
    layout: Layout,
    adapter: RealAdapter,
    store: FsStateStore,
    policy_path: PathBuf,
    cgroup_root: PathBuf,
    policy: Option<Policy>,
    targets: Vec<TargetState>,
    owned: BTreeSet<String>,
    /// Files the last refused attempt read, watched until it is fixed.
    refused_files: BTreeSet<PathBuf>,
    last_refusal: Option<String>,
    reloads: u64,
    iter_objects: Option<PathBuf>,
    iter_runner: super::existing::AyaIterRunner,
    /// Something was loaded since the loaders were last dropped.
    loaded_since_trim: bool,
}

impl Engine {
    pub fn new(layout: Layout, policy_path: PathBuf, cgroup_root: PathBuf) -> Engine {
        let store = FsStateStore {
            layout: layout.clone(),
        };
        // Watch events name files by absolute path.
        let policy_path = std::path::absolute(&policy_path).unwrap_or(policy_path);
        let owned = std::fs::read(owned_path(&layout))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Engine {
            layout,
            adapter: RealAdapter::default(),
            store,
            policy_path,
            cgroup_root,
            policy: None,
            targets: Vec::new(),
            owned,
            refused_files: BTreeSet::new(),
            last_refusal: None,
            reloads: 0,
            iter_objects: None,
            iter_runner: super::existing::AyaIterRunner::default(),
            loaded_since_trim: false,
        }
    }

    /// Where the existing-connection iterators are (`None`: the built-in ones).
    pub fn set_iter_objects(&mut self, dir: Option<PathBuf>) {
        self.iter_objects = dir;
    }

    /// The accepted policy's reconcile interval, if it sets one.
    pub fn interval_ms(&self) -> Option<u64> {
        self.policy.as_ref().and_then(|p| p.reconcile_interval_ms)
    }

    /// Reads, loads and checks the whole policy; on success it replaces the
    /// running one and is reconciled at once. On failure nothing changes.
    pub fn reload(&mut self) -> Result<(), Refusal> {
        let started = Instant::now();
        let mut attempt_files: BTreeSet<PathBuf> = BTreeSet::new();
        // On a thread of its own: the solver keeps its context in a
        // thread-local, freed when the thread ends (idle memory).
        let result = std::thread::scope(|s| {
            s.spawn(|| self.prepare_all(&mut attempt_files))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        release_memory();
        let prepared = match result {
            Ok(p) => p,
            Err(refusal) => {
                error!(policy = %self.policy_path.display(), "policy refused, running state unchanged: {refusal}");
                self.last_refusal = Some(refusal.to_string());
                self.refused_files = attempt_files;
                return Err(refusal);
            }
        };
        let (policy, prepared) = prepared;
        self.refused_files.clear();
        self.last_refusal = None;
        self.reloads += 1;
        // Carry each target's phase over; its chain is rebuilt from the new inputs.
        let mut old: BTreeMap<PathBuf, TargetState> = self
            .targets
            .drain(..)
            .map(|t| (t.prepared.target.cgroup.clone(), t))
            .collect();
        self.targets = prepared
            .into_iter()
            .map(|p| {
                let phase = old
                    .remove(&p.target.cgroup)
                    .map_or(Phase::Pending, |t| t.phase);
                TargetState {
                    prepared: p,
                    desired: None,
                    phase,
                    retry_at: None,
                    key: None,
                }
            })
            .collect();
        for t in &self.targets {
            debug!(cgroup = %t.prepared.target.cgroup.display(), "{}", t.prepared.audit_summary);
        }
        info!(
            policy = %policy.path.display(),
            targets = self.targets.len(),
            ms = started.elapsed().as_millis() as u64,
            "policy accepted"
        );
        self.policy = Some(policy);
        self.reconcile();
        Ok(())
    }

    fn prepare_all(
        &self,
        files: &mut BTreeSet<PathBuf>,
    ) -> Result<(Policy, Vec<Prepared>), Refusal> {
        files.insert(self.policy_path.clone());
        let policy = policy::read(&self.policy_path, &self.cgroup_root)?;
        files.extend(policy.targets.iter().map(|t| t.composition.clone()));
        let scratch = self.layout.state_dir.join("daemon").join("scratch");
        let audits = crate::host_audit::cache_for(&self.layout);
        let mut out = Vec::new();
        for t in &policy.targets {
            let p = policy::prepare(t, &scratch, &audits).map_err(|source| Refusal::Target {
                cgroup: t.cgroup.clone(),
                source,
            })?;
            files.extend(p.files.iter().cloned());
            out.push(p);
        }
        Ok((policy, out))
    }

    /// Compares every target's desired chain with what is observed and
    /// executes the difference; detaches owned hookpoints no target wants.
    pub fn reconcile(&mut self) {
        let lock = match HostLock::acquire(&self.layout.lock_path(), || {
            info!("waiting for another accord invocation to finish");
        }) {
            Ok(l) => l,
            Err(e) => {
                error!("cannot reconcile: {e}");
                return;
            }
        };
        let mut wanted = BTreeSet::new();
        for i in 0..self.targets.len() {
            self.reconcile_target(i);
            wanted.extend(self.targets[i].key.clone());
        }
        let stale: Vec<String> = self.owned.difference(&wanted).cloned().collect();
        for key in stale {
            let cgroup = self
                .store
                .load(&key)
                .ok()
                .flatten()
                .map(|r| r.cgroup.display().to_string())
                .unwrap_or_default();
            match lifecycle::detach(&self.layout, &mut self.adapter, &mut self.store, &key) {
                Ok(_) => {
                    info!(hookpoint = %key, cgroup = %cgroup, "detached: no target wants it (cgroup gone or left the policy)");
                    self.owned.remove(&key);
                }
                Err(e) => error!(hookpoint = %key, "detach failed: {e}"),
            }
        }
        self.save_owned();
        drop(lock);
        if self.loaded_since_trim {
            // The loaders hold the kernel's parsed BTF (megabytes): drop
            // them between changes; the next change parses it again once.
            self.adapter = RealAdapter::default();
            self.iter_runner = super::existing::AyaIterRunner::default();
            self.loaded_since_trim = false;
            release_memory();
        }
    }

    fn reconcile_target(&mut self, i: usize) {
        if self.targets[i]
            .retry_at
            .is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        self.targets[i].retry_at = None;
        let cgroup = self.targets[i].prepared.target.cgroup.clone();
        let target = match Target::of_cgroup(&cgroup) {
            Ok(t) => t,
            Err(_) => {
                let t = &mut self.targets[i];
                if t.phase != Phase::Pending {
                    info!(cgroup = %cgroup.display(), "pending: the cgroup does not exist; applied when it appears");
                }
                t.phase = Phase::Pending;
                t.desired = None;
                t.key = None;
                return;
            }
        };
        if let Ok(hook) = Hook::from_name(&self.targets[i].prepared.composition.hook) {
            self.targets[i].key = Some(hookpoint_key(hook, target.cgroup_id));
        }
        let rebuild = self.targets[i]
            .desired
            .as_ref()
            .is_none_or(|d| d.target != target);
        if rebuild {
            match self.targets[i].prepared.desired(target) {
                Ok(d) => self.targets[i].desired = Some(d),
                Err(e) => {
                    error!(cgroup = %cgroup.display(), "cannot build the chain: {e}");
                    self.targets[i].retry_at = Some(Instant::now() + RETRY_AFTER);
                    self.targets[i].phase = Phase::Failed {
                        message: e.to_string(),
                    };
                    return;
                }
            }
        }
        let desired = self.targets[i].desired.clone().expect("built above");
        let key = desired.key.clone();
        let started = Instant::now();
        let plan = match lifecycle::plan_for(&self.layout, &self.adapter, &self.store, &desired) {
            Ok(p) => p,
            Err(e) => {
                error!(hookpoint = %key, cgroup = %cgroup.display(), "cannot plan: {e}");
                self.targets[i].retry_at = Some(Instant::now() + RETRY_AFTER);
                self.targets[i].phase = Phase::Failed {
                    message: e.to_string(),
                };
                return;
            }
        };
        let generation = generation_of(&plan.kind);
        if let PlanKind::NoChange { generation } = plan.kind {
            // Adoption: nothing loaded. Only leftovers of an interrupted
            // run (stale generations) are removed.
            if !plan.steps.is_empty() {
                match executor::execute(&plan, &mut self.adapter, &mut self.store) {
                    Ok(done) => {
                        info!(hookpoint = %key, generation, steps = done.steps, "removed stale generations")
                    }
                    Err(e) => warn!(hookpoint = %key, generation, "cleanup failed: {e}"),
                }
            }
            let was = std::mem::replace(
                &mut self.targets[i].phase,
                Phase::Live {
                    key: key.clone(),
                    generation,
                },
            );
            if !matches!(was, Phase::Live { .. }) {
                info!(hookpoint = %key, generation, cgroup = %cgroup.display(), "adopted: generation {generation} is live as desired (no reload)");
            }
            self.owned.insert(key);
            return;
        }
        // What this kernel cannot run is refused before anything loads.
        let admitted = match lifecycle::admit(&self.adapter, &desired) {
            Ok(a) => a,
            Err(e) => {
                error!(hookpoint = %key, cgroup = %cgroup.display(), "{e}");
                self.targets[i].retry_at = Some(Instant::now() + RETRY_AFTER);
                self.targets[i].phase = Phase::Failed {
                    message: e.to_string(),
                };
                return;
            }
        };
        for note in &admitted.fallbacks {
            info!(hookpoint = %key, "kernel fallback: {note}");
        }
        match executor::execute(&plan, &mut self.adapter, &mut self.store) {
            Ok(done) => {
                for (step, took) in plan.steps.iter().zip(&done.timings) {
                    debug!(hookpoint = %key, generation, us = took.as_micros() as u64, "step: {}", step.action);
                }
                for w in &done.warnings {
                    warn!(hookpoint = %key, generation, "{w} (accord gc finishes the cleanup)");
                }
                info!(
                    hookpoint = %key,
                    generation,
                    cgroup = %cgroup.display(),
                    steps = done.steps,
                    ms = started.elapsed().as_millis() as u64,
                    "applied: {}",
                    plan.kind
                );
                self.loaded_since_trim = true;
                self.owned.insert(key.clone());
                self.targets[i].phase = Phase::Live { key, generation };
                if !admitted.features.iter_tcp {
                    info!(hookpoint = %desired.key, "no iter/tcp with bpf_setsockopt on this kernel: connections established before this change are not retuned");
                    return;
                }
                // `--iter-objects DIR` wins over the objects built in.
                let dir = self.iter_objects.clone();
                let find = |f: &str| match &dir {
                    Some(d) => super::existing::objects_in(d, f),
                    None => crate::objects::iter_object(f).map(<[u8]>::to_vec),
                };
                super::existing::retune(
                    &self.layout,
                    &desired,
                    generation,
                    &find,
                    &mut self.iter_runner,
                );
            }
            Err(e) => {
                error!(hookpoint = %key, generation, cgroup = %cgroup.display(), "apply failed: {e}");
                self.targets[i].retry_at = Some(Instant::now() + RETRY_AFTER);
                self.targets[i].phase = Phase::Failed {
                    message: e.to_string(),
                };
                // Try again from scratch next time.
                self.targets[i].desired = None;
            }
        }
    }

    fn save_owned(&self) {
        let path = owned_path(&self.layout);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = serde_json::to_vec(&self.owned).expect("a set of strings serializes");
        let tmp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
            warn!("cannot record owned hookpoints in {}: {e}", path.display());
        }
    }

    /// What to watch now.
    pub fn watch_set(&self) -> WatchSet {
        let mut files: BTreeSet<PathBuf> = [self.policy_path.clone()].into_iter().collect();
        files.extend(self.targets.iter().flat_map(|t| t.prepared.files.clone()));
        files.extend(self.refused_files.iter().cloned());
        let cgroup_dirs = self
            .targets
            .iter()
            .filter_map(|t| nearest_existing_parent(&t.prepared.target.cgroup))
            .collect();
        WatchSet { files, cgroup_dirs }
    }

    /// Everything the status socket reports.
    pub fn status(&self) -> Value {
        let hookpoints = match lifecycle::status(&self.layout, &self.adapter, &self.store) {
            Ok(all) => all
                .iter()
                .map(lifecycle::HookpointStatus::to_json)
                .collect(),
            Err(e) => vec![json!({ "error": e.to_string() })],
        };
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let mut v = json!({
                    "cgroup": t.prepared.target.cgroup,
                    "composition": t.prepared.target.composition,
                    "timing": t.prepared.target.timing,
                });
                let m = v.as_object_mut().expect("an object");
                if let Some(key) = &t.key {
                    m.insert("hookpoint".into(), key.clone().into());
                }
                match &t.phase {
                    Phase::Pending => {
                        m.insert("state".into(), "pending".into());
                    }
                    Phase::Live { key, generation } => {
                        m.insert("state".into(), "live".into());
                        m.insert("hookpoint".into(), key.clone().into());
                        m.insert("generation".into(), (*generation).into());
                    }
                    Phase::Failed { message } => {
                        m.insert("state".into(), "failed".into());
                        m.insert("error".into(), message.clone().into());
                    }
                }
                v
            })
            .collect();
        json!({
            "policy": self.policy_path,
            "reloads": self.reloads,
            "last_refusal": self.last_refusal,
            "targets": targets,
            "hookpoints": hookpoints,
        })
    }

    /// Each target's phase, for tests and logs.
    pub fn phases(&self) -> Vec<(PathBuf, Phase)> {
        self.targets
            .iter()
            .map(|t| (t.prepared.target.cgroup.clone(), t.phase.clone()))
            .collect()
    }
}

/// Gives freed heap memory back to the kernel (glibc keeps it otherwise).
fn release_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn owned_path(layout: &Layout) -> PathBuf {
    layout.state_dir.join("daemon").join("owned.json")
}

fn generation_of(kind: &PlanKind) -> u64 {
    match kind {
        PlanKind::NoChange { generation }
        | PlanKind::RecordUpdate { generation }
        | PlanKind::Fresh { generation }
        | PlanKind::Repair { generation } => *generation,
        PlanKind::Swap { to, .. } | PlanKind::ConfigChange { to, .. } => *to,
        PlanKind::Detach => 0,
    }
}

fn nearest_existing_parent(cgroup: &Path) -> Option<PathBuf> {
    cgroup
        .ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
}
