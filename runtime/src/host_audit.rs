//! The host-side audit: before `accord apply`, `accord plan` or the daemon
//! load anything, every member's object is audited against its spec with
//! `composer::audit` (the analysis and report of `accord audit`). Any
//! undeclared effect refuses the whole change: the solver proved the
//! composition for what the specs declare, so a member that does more is
//! not what was proven.
//!
//! The audit runs on the bytes [`ResolvedObjects`] holds, which are the
//! bytes the executor loads. A clean verdict is cached in the state
//! directory under the digest of (auditor, object, spec, catalog): the
//! object's bytes, the spec's program and params as loaded, the hook
//! catalog as loaded, and the identity of the running `accord` binary (a
//! newer audit never trusts an older one's verdict). SHA-256 throughout,
//! so a different object cannot pass for an audited one. Only clean
//! verdicts are cached: a refusal is audited again, and reported in full,
//! every time.

use std::path::PathBuf;
use std::process::ExitCode;

use composer::audit::report::{self, AuditedProgram, FeatureAudit};
use composer::audit::{audit_program, AuditOptions};
use composer::ir::{Composition, Feature, HookCatalog, MemberId, Program};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::resolve::ResolvedObjects;

/// The overall result of a set of audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Some object does more than its spec says.
    Undeclared,
    /// Some object could not be audited (missing, unreadable, no such program).
    Unaudited,
}

impl Verdict {
    pub fn of(audits: &[FeatureAudit]) -> Verdict {
        if audits.iter().any(|a| a.unaudited() > 0) {
            Verdict::Unaudited
        } else if audits.iter().any(|a| a.errors() > 0) {
            Verdict::Undeclared
        } else {
            Verdict::Clean
        }
    }

    /// `accord audit`'s exit code: 0 clean, 1 an undeclared effect, 2 input.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Clean => ExitCode::SUCCESS,
            Verdict::Undeclared => ExitCode::from(1),
            Verdict::Unaudited => ExitCode::from(2),
        }
    }
}

/// What the record says about the audit of the chain it describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AuditStamp {
    /// Every member object was audited clean against its spec.
    Clean { warnings: usize },
    /// `accord apply --skip-audit`: nothing checked the objects against
    /// their specs. Loud everywhere it shows.
    Skipped,
}

impl std::fmt::Display for AuditStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditStamp::Clean { warnings: 0 } => {
                write!(f, "every member object audited clean against its spec")
            }
            AuditStamp::Clean { warnings } => write!(
                f,
                "every member object audited clean against its spec ({warnings} warning(s))"
            ),
            AuditStamp::Skipped => write!(
                f,
                "SKIPPED (accord apply --skip-audit): the member objects were never checked against their specs"
            ),
        }
    }
}

/// Audits one program's object bytes against its spec, as `accord audit`
/// reports it. `origin` says where the bytes came from (`file:<path>`,
/// `builtin:<name>`).
pub fn audit_object(
    bytes: &[u8],
    origin: &str,
    feature: &Feature,
    program: &Program,
    catalog: &HookCatalog,
) -> AuditedProgram {
    let opts = AuditOptions::for_program(feature, program);
    let (audit, error) = match audit_program(bytes, program, catalog, &opts) {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    AuditedProgram {
        program: program.name.clone(),
        object: origin.to_owned(),
        audit,
        error,
    }
}

/// Clean verdicts on disk (`<state dir>/audit/`), or none.
#[derive(Debug, Clone, Default)]
pub struct AuditCache {
    dir: Option<PathBuf>,
    /// The running binary: a verdict is only as good as the audit that gave it.
    auditor: String,
}

impl AuditCache {
    /// A cache in `dir`, for verdicts of this very binary.
    pub fn in_dir(dir: PathBuf) -> AuditCache {
        AuditCache {
            dir: Some(dir),
            auditor: auditor_identity(),
        }
    }

    /// No cache: every object is audited.
    pub fn none() -> AuditCache {
        AuditCache::default()
    }

    fn entry(&self, key: &CacheKey) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let name = sha256_hex(&[
            self.auditor.as_bytes(),
            key.object.as_bytes(),
            key.spec.as_bytes(),
            key.catalog.as_bytes(),
        ]);
        Some(dir.join(format!("{name}.json")))
    }

    /// The warnings of a cached clean verdict for `key`, if there is one.
    fn clean_verdict(&self, key: &CacheKey) -> Option<usize> {
        let text = std::fs::read(self.entry(key)?).ok()?;
        let entry = serde_json::from_slice::<CacheEntry>(&text).ok()?;
        (entry.key == *key).then_some(entry.warnings)
    }

    /// Remembers a clean verdict. A cache that cannot be written only
    /// costs a second audit next time.
    fn remember(&self, key: &CacheKey, member: &MemberId, warnings: usize) {
        let (Some(dir), Some(path)) = (&self.dir, self.entry(key)) else {
            return;
        };
        let entry = CacheEntry {
            key: key.clone(),
            member: member.to_string(),
            warnings,
        };
        let text = serde_json::to_vec_pretty(&entry).expect("a cache entry serializes");
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            });
    }
}

/// What a clean verdict was given for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CacheKey {
    /// SHA-256 of the object's bytes.
    object: String,
    /// SHA-256 of the spec's program and params as loaded.
    spec: String,
    /// SHA-256 of the hook catalog as loaded.
    catalog: String,
}

impl CacheKey {
    fn of(bytes: &[u8], feature: &Feature, program: &Program, catalog: &HookCatalog) -> CacheKey {
        CacheKey {
            object: sha256_hex(&[bytes]),
            spec: sha256_hex(&[&json(&(&feature.params, program))]),
            catalog: sha256_hex(&[&json(catalog)]),
        }
    }
}

/// The IR as JSON, for digests (it is all `Serialize`).
fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("the IR serializes")
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    key: CacheKey,
    member: String,
    warnings: usize,
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The running binary by file identity (device, inode, size, mtime): any
/// rebuild or upgrade changes it, and reading it costs one `stat`.
fn auditor_identity() -> String {
    use std::os::unix::fs::MetadataExt;
    let exe = std::env::current_exe().ok();
    let meta = exe.as_deref().and_then(|p| std::fs::metadata(p).ok());
    match meta {
        Some(m) => format!(
            "{}:{}:{}:{}:{}.{}",
            env!("CARGO_PKG_VERSION"),
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        ),
        // Unknown binary: a key nobody else has, so nothing is trusted.
        None => format!(
            "unknown:{}:{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ),
    }
}

/// The host-side audit of a composition's members.
#[derive(Debug, Clone, Default)]
pub struct HostAudit {
    /// The features audited now (members whose verdict was cached are not
    /// in here), each with its programs in spec order.
    pub audits: Vec<FeatureAudit>,
    /// Members whose clean verdict came from the cache.
    pub cached: Vec<MemberId>,
    /// Warnings of the audits run now and of the cached verdicts.
    pub warnings: usize,
}

impl HostAudit {
    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.audits)
    }

    pub fn is_clean(&self) -> bool {
        self.verdict() == Verdict::Clean
    }

    /// What the record keeps.
    pub fn stamp(&self) -> AuditStamp {
        AuditStamp::Clean {
            warnings: self.warnings,
        }
    }

    /// `accord audit`'s report of every feature that is not clean.
    pub fn refusal_report(&self) -> String {
        self.audits
            .iter()
            .filter(|a| !a.is_clean())
            .map(report::human)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One line: how many members were audited, how many came from the cache.
    pub fn summary(&self) -> String {
        let audited: usize = self.audits.iter().map(|a| a.programs.len()).sum();
        format!(
            "audit: {} member object(s) audited, {} clean verdict(s) cached, {} warning(s)",
            audited,
            self.cached.len(),
            self.warnings
        )
    }
}

/// Audits every member of `comp` on the bytes in `objects`, trusting clean
/// verdicts in `cache`.
pub fn audit_members(
    comp: &Composition,
    objects: &ResolvedObjects,
    cache: &AuditCache,
) -> HostAudit {
    let mut out = HostAudit::default();
    for feature in &comp.features {
        let mut programs = Vec::new();
        for program in &feature.programs {
            let id = MemberId {
                feature: feature.name.clone(),
                program: program.name.clone(),
            };
            let Some(resolved) = objects.get(&id) else {
                programs.push(AuditedProgram {
                    program: program.name.clone(),
                    object: "(none)".into(),
                    audit: None,
                    error: Some("its object was not resolved".into()),
                });
                continue;
            };
            let bytes = &resolved.object.bytes;
            let key = CacheKey::of(bytes, feature, program, &comp.catalog);
            if let Some(warnings) = cache.clean_verdict(&key) {
                out.warnings += warnings;
                out.cached.push(id);
                continue;
            }
            let audited = audit_object(
                bytes,
                &resolved.object.origin,
                feature,
                program,
                &comp.catalog,
            );
            if let Some(a) = audited.audit.as_ref().filter(|a| a.errors() == 0) {
                out.warnings += a.warnings();
                cache.remember(&key, &id, a.warnings());
            }
            programs.push(audited);
        }
        if !programs.is_empty() {
            out.audits.push(FeatureAudit {
                feature: feature.name.clone(),
                spec: feature.spec_path.clone(),
                programs,
            });
        }
    }
    out
}

/// The cache `apply`, `plan` and the daemon share on this host.
pub fn cache_for(layout: &crate::layout::Layout) -> AuditCache {
    AuditCache::in_dir(layout.audit_cache_dir())
}
