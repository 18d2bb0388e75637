//! Desired state: what one hookpoint should run, built from a checked
//! composition, its proven order and its members' objects (resolved and
//! read once by [`crate::resolve`]). Pure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use composer::ir::{Composition, MemberId};
use dispatcher::{ChainSpec, ConnStamp, Dispatcher, DispatcherError, Hook};
use thiserror::Error;

use crate::config::{self, ConfigError, ConfigImage};
use crate::host_audit::AuditStamp;
use crate::layout::hookpoint_key;
use crate::resolve::ResolvedObjects;
use crate::state::{HookpointRecord, RecordMember};

/// A cgroup a chain is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cgroup: PathBuf,
    /// The cgroup directory's inode number (the kernel's cgroup id).
    pub cgroup_id: u64,
}

impl Target {
    /// Reads the cgroup id of a cgroup v2 directory.
    pub fn of_cgroup(path: &Path) -> std::io::Result<Target> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        if !meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a cgroup directory",
            ));
        }
        Ok(Target {
            cgroup: path.to_owned(),
            cgroup_id: meta.ino(),
        })
    }
}

/// A member object's bytes and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectImage {
    /// File name, e.g. `init_cwnd.bpf.o`.
    pub name: String,
    /// Where it came from, as the spec names it: `file:<path>` or
    /// `builtin:<name>`.
    pub origin: String,
    pub bytes: Arc<[u8]>,
    pub digest: String,
}

impl ObjectImage {
    pub fn new(name: &str, origin: String, bytes: Vec<u8>) -> Self {
        let digest = config::digest(&[&bytes]);
        ObjectImage {
            name: name.to_owned(),
            origin,
            bytes: bytes.into(),
            digest,
        }
    }
}

/// A struct_ops object a member needs registered (e.g. the BPF DCTCP
/// congestion control its member selects), found by the member object's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructOpsImage {
    pub name: String,
    pub bytes: Arc<[u8]>,
}

/// One member as it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredMember {
    pub feature: String,
    pub program: String,
    pub object: ObjectImage,
    pub config: ConfigImage,
    pub struct_ops: Option<StructOpsImage>,
}

impl DesiredMember {
    pub fn id(&self) -> MemberId {
        MemberId {
            feature: self.feature.clone(),
            program: self.program.clone(),
        }
    }
}

/// What one hookpoint should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredChain {
    pub key: String,
    pub hook: Hook,
    pub target: Target,
    pub composition: String,
    pub composition_path: PathBuf,
    /// In chain order: slot = index.
    pub members: Vec<DesiredMember>,
    pub debug_sample: u32,
    /// `ACCORD_TIMING = 1` for every member (`accord apply --timing`): a
    /// load constant, so part of the chain digest (a change reloads).
    pub timing: bool,
    /// What the host-side audit said about the members' objects (`None`:
    /// no audit ran, as for chains built by tests and benchmarks).
    pub audit: Option<AuditStamp>,
    /// What the chain needs from the kernel (socket options its members
    /// write, struct_ops): checked against the probe before anything loads.
    pub needs: crate::kernel::Needs,
}

#[derive(Debug, Error)]
pub enum DesiredError {
    #[error(transparent)]
    Dispatcher(#[from] DispatcherError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("member {member}: the order names it but the composition has no such program")]
    UnknownMember { member: String },
    #[error("member {member}: its object was not resolved")]
    Unresolved { member: String },
}

/// Builds the desired chain of a checked composition, members in `order`,
/// each loaded from its object in `objects` ([`ResolvedObjects::resolve`]).
pub fn from_composition(
    comp: &Composition,
    order: &[MemberId],
    target: Target,
    debug_sample: u32,
    objects: &ResolvedObjects,
) -> Result<DesiredChain, DesiredError> {
    let hook = Hook::from_name(&comp.hook)?;
    let mut members = Vec::with_capacity(order.len());
    for id in order {
        let (_, feature, _) = comp.members().find(|(m, _, _)| m == id).ok_or_else(|| {
            DesiredError::UnknownMember {
                member: id.to_string(),
            }
        })?;
        let resolved = objects.get(id).ok_or_else(|| DesiredError::Unresolved {
            member: id.to_string(),
        })?;
        members.push(DesiredMember {
            feature: id.feature.clone(),
            program: id.program.clone(),
            struct_ops: resolved.struct_ops.clone(),
            object: resolved.object.clone(),
            config: config::image(feature)?,
        });
    }
    let mut needs = crate::kernel::Needs::of_composition(comp);
    needs.struct_ops = members
        .iter()
        .filter(|m| m.struct_ops.is_some())
        .map(|m| m.id().to_string())
        .collect();
    let chain = DesiredChain {
        key: hookpoint_key(hook, target.cgroup_id),
        hook,
        target,
        composition: comp.name.clone(),
        composition_path: comp.path.clone(),
        members,
        debug_sample,
        timing: false,
        audit: None,
        needs,
    };
    // Refuse what no dispatcher can run before anything else happens.
    chain.dispatcher()?;
    Ok(chain)
}

impl DesiredChain {
    /// The plain dispatcher (no connection stamps).
    pub fn dispatcher(&self) -> Result<Dispatcher, DispatcherError> {
        self.dispatcher_with(None)
    }

    /// The dispatcher with `stamp`, as a generation of a live hookpoint
    /// runs it.
    pub fn dispatcher_with(&self, stamp: Option<ConnStamp>) -> Result<Dispatcher, DispatcherError> {
        dispatcher::generate(&ChainSpec {
            hook: self.hook,
            members: self.members.iter().map(DesiredMember::id).collect(),
            debug_sample: self.debug_sample,
            timing: self.timing,
            stamp,
        })
    }

    /// The struct_ops registrations the members need, once each, by name.
    pub fn struct_ops(&self) -> Vec<&StructOpsImage> {
        let mut out: Vec<&StructOpsImage> = Vec::new();
        for s in self.members.iter().filter_map(|m| m.struct_ops.as_ref()) {
            if !out.iter().any(|o| o.name == s.name) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Identifies the member set: same digest, same programs in the same slots.
    pub fn chain_digest(&self) -> String {
        let mut parts: Vec<Vec<u8>> = vec![
            self.hook.name().into(),
            self.debug_sample.to_le_bytes().to_vec(),
        ];
        // Only when on, so digests of chains without timing stay as they were.
        if self.timing {
            parts.push(b"timing".to_vec());
        }
        for m in &self.members {
            parts.push(m.feature.as_bytes().to_vec());
            parts.push(m.program.as_bytes().to_vec());
            parts.push(m.object.digest.as_bytes().to_vec());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        config::digest(&refs)
    }

    /// Identifies every member's config.
    pub fn config_digest(&self) -> String {
        let text = serde_json::to_vec(&self.members.iter().map(|m| &m.config).collect::<Vec<_>>())
            .expect("config images serialize");
        config::digest(&[&text])
    }

    /// The record this chain leaves once applied as `generation`.
    pub fn record(&self, generation: u64) -> HookpointRecord {
        HookpointRecord {
            key: self.key.clone(),
            hook: self.hook,
            cgroup: self.target.cgroup.clone(),
            cgroup_id: self.target.cgroup_id,
            composition: self.composition.clone(),
            composition_path: self.composition_path.clone(),
            generation,
            chain_digest: self.chain_digest(),
            config_digest: self.config_digest(),
            members: self
                .members
                .iter()
                .enumerate()
                .map(|(slot, m)| RecordMember {
                    slot: slot as u32,
                    feature: m.feature.clone(),
                    program: m.program.clone(),
                    object: m.object.name.clone(),
                    object_digest: m.object.digest.clone(),
                    origin: m.object.origin.clone(),
                    config: m.config.clone(),
                })
                .collect(),
            struct_ops: self
                .struct_ops()
                .into_iter()
                .map(|s| s.name.clone())
                .collect(),
            timing: self.timing,
            debug_sample: Some(self.debug_sample),
            previous_generation: None,
            audit: self.audit.clone(),
        }
    }
}
