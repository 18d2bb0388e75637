//! Records: what accord applied to each hookpoint, kept beside bpffs (which
//! cannot hold regular files) so desired and observed state can be
//! compared later. One JSON file per hookpoint, written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use dispatcher::Hook;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::ConfigImage;
use crate::host_audit::AuditStamp;
use crate::layout::Layout;

/// One member as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMember {
    pub slot: u32,
    pub feature: String,
    pub program: String,
    pub object: String,
    pub object_digest: String,
    /// Where the object came from, as the spec names it: `builtin:<name>`
    /// or `file:<path>`. Empty in records written before accord kept it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    pub config: ConfigImage,
}

/// The record of one hookpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookpointRecord {
    pub key: String,
    pub hook: Hook,
    pub cgroup: PathBuf,
    pub cgroup_id: u64,
    pub composition: String,
    pub composition_path: PathBuf,
    pub generation: u64,
    /// Identifies the member set (ids, objects, programs, load constants).
    pub chain_digest: String,
    /// Identifies every member's config.
    pub config_digest: String,
    pub members: Vec<RecordMember>,
    /// struct_ops registrations the members need (by name).
    #[serde(default)]
    pub struct_ops: Vec<String>,
    /// The members measure their own run time (`ACCORD_TIMING = 1`,
    /// `accord apply --timing`). Absent in older records: off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timing: bool,
    /// The chain's `ACCORD_DEBUG_SAMPLE` (`accord apply --debug-sample`):
    /// 0 off, else one run in N emits events. Absent in records written
    /// before accord kept it (then only `chain_digest` holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_sample: Option<u32>,
    /// The generation this one replaced in a swap. It stays pinned (its
    /// chain still runs for the connections it stamped) until the next
    /// swap; `gc` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_generation: Option<u64>,
    /// What the host-side audit said when this chain was applied: clean,
    /// or skipped (`accord apply --skip-audit`). Absent in records written
    /// before accord audited on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditStamp>,
}

impl HookpointRecord {
    /// Whether generation `g` is one this hookpoint still runs.
    pub fn keeps(&self, g: u64) -> bool {
        g == self.generation || Some(g) == self.previous_generation
    }
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid record: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Where records live.
pub trait StateStore {
    fn load(&self, key: &str) -> Result<Option<HookpointRecord>, StateError>;
    fn save(&mut self, record: &HookpointRecord) -> Result<(), StateError>;
    fn remove(&mut self, key: &str) -> Result<(), StateError>;
    fn list(&self) -> Result<Vec<HookpointRecord>, StateError>;
}

/// Records as files under the layout's state directory.
#[derive(Debug, Clone)]
pub struct FsStateStore {
    pub layout: Layout,
}

impl StateStore for FsStateStore {
    fn load(&self, key: &str) -> Result<Option<HookpointRecord>, StateError> {
        let path = self.layout.record_path(key);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StateError::Parse { path, source })
    }

    fn save(&mut self, record: &HookpointRecord) -> Result<(), StateError> {
        let dir = self.layout.records_dir();
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| StateError::Io { path, source }
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = self.layout.record_path(&record.key);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(record).expect("records serialize");
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    fn remove(&mut self, key: &str) -> Result<(), StateError> {
        let path = self.layout.record_path(key);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StateError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    fn list(&self) -> Result<Vec<HookpointRecord>, StateError> {
        let dir = self.layout.records_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Io { path: dir, source }),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StateError::Io {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".json") {
                keys.push(key.to_owned());
            }
        }
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            out.extend(self.load(&key)?);
        }
        Ok(out)
    }
}

/// Records in memory, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemStateStore {
    pub records: BTreeMap<String, HookpointRecord>,
}

impl StateStore for MemStateStore {
    fn load(&self, key: &str) -> Result<Option<HookpointRecord>, StateError> {
        Ok(self.records.get(key).cloned())
    }

    fn save(&mut self, record: &HookpointRecord) -> Result<(), StateError> {
        self.records.insert(record.key.clone(), record.clone());
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<(), StateError> {
        self.records.remove(key);
        Ok(())
    }

    fn list(&self) -> Result<Vec<HookpointRecord>, StateError> {
        Ok(self.records.values().cloned().collect())
    }
}
