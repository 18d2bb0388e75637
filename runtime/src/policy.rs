//! The daemon's policy file: which composition runs on which cgroup, with
//! per-feature config overrides. Parsing and preparing a target (load the
//! composition with its overrides, check it, read and audit its member
//! objects, build the desired chain) are pure apart from reading files
//! (and the audit's verdict cache); the daemon decides what to do with them.
//!
//! ```yaml
//! reconcile_interval_ms: 2000        # optional: how often to compare desired and observed
//! specs: ../specs                    # optional: the specs directory holding hooks/<hook>.yaml
//!                                    # (default: searched upward from each composition)
//! targets:
//!   - cgroup: storage.slice          # relative to the cgroup2 mount, or absolute
//!     composition: compositions/storage.yaml   # relative to this file
//!     config:                        # optional per-feature overrides
//!       init_cwnd: { iw: 40 }
//!     debug_sample: 0                # optional, as `accord apply --debug-sample`
//!     timing: false                  # optional, as `accord apply --timing`
//! ```
//!
//! Overrides are merged into the composition's YAML (the `config:` of the
//! feature entry whose spec has that feature name), so they are typed and
//! checked exactly as if the composition said them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use composer::check::CheckOptions;
use composer::ir::Composition;
use composer::load::{self, LoadOptions};
use composer::outcome::CheckOutcome;
use serde::Deserialize;
use thiserror::Error;

use crate::desired::{self, DesiredChain, DesiredError, Target};
use crate::host_audit::{self, AuditCache, AuditStamp};
use crate::resolve::{ObjectErrors, ResolvedObjects, SpecObjects};

/// The policy file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    reconcile_interval_ms: Option<u64>,
    #[serde(default)]
    specs: Option<PathBuf>,
    targets: Vec<TargetFile>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    cgroup: PathBuf,
    composition: PathBuf,
    #[serde(default)]
    config: BTreeMap<String, serde_yaml::Mapping>,
    #[serde(default)]
    debug_sample: u32,
    #[serde(default)]
    timing: bool,
}

/// One target with its paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyTarget {
    /// Absolute cgroup directory (it need not exist yet).
    pub cgroup: PathBuf,
    /// Absolute composition path.
    pub composition: PathBuf,
    /// Feature name to the params it overrides.
    pub config: BTreeMap<String, serde_yaml::Mapping>,
    pub debug_sample: u32,
    /// Every member measures its own run time (`ACCORD_TIMING = 1`), as
    /// `accord apply --timing`; part of the chain digest, so a change reloads.
    pub timing: bool,
    /// The policy's `specs:` directory, if it names one.
    pub specs: Option<PathBuf>,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub path: PathBuf,
    pub reconcile_interval_ms: Option<u64>,
    pub targets: Vec<PolicyTarget>,
}

#[derive(Debug, Error)]
pub enum PolicyError {
    /// Unreadable, not a regular file, too large, or not UTF-8 (then with
    /// the line and column of the byte).
    #[error("{0}")]
    Read(Box<load::LoadError>),
    #[error("policy {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("policy {}: target cgroup {} is listed twice", path.display(), cgroup.display())]
    DuplicateTarget { path: PathBuf, cgroup: PathBuf },
    #[error("policy {}: cgroup {} must not contain `..`", path.display(), cgroup.display())]
    CgroupEscapes { path: PathBuf, cgroup: PathBuf },
}

/// Why one target cannot be prepared.
#[derive(Debug, Error)]
pub enum TargetError {
    #[error("composition {}: cannot be loaded:\n{report}", path.display())]
    Load { path: PathBuf, report: String },
    #[error("composition {} is not safe, refusing it:\n{report}", path.display())]
    Unsafe { path: PathBuf, report: String },
    #[error("composition {}: config overrides name feature `{feature}`, which it does not have (it has: {})", path.display(), available.join(", "))]
    UnknownFeature {
        path: PathBuf,
        feature: String,
        available: Vec<String>,
    },
    #[error("composition {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("composition {}: not YAML the daemon can rewrite: {source}", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("composition {}: a member's object does more than its spec declares (or cannot be audited), refusing it:\n{report}", path.display())]
    Audit { path: PathBuf, report: String },
    #[error("composition {}: member objects:\n{source}", path.display())]
    Objects {
        path: PathBuf,
        #[source]
        source: ObjectErrors,
    },
    #[error(transparent)]
    Desired(#[from] DesiredError),
}

/// Reads and parses a policy file; `cgroup_root` anchors relative cgroups.
pub fn read(path: &Path, cgroup_root: &Path) -> Result<Policy, PolicyError> {
    let text = load::read_input(path, "policy").map_err(PolicyError::Read)?;
    parse(&text, path, cgroup_root)
}

/// Parses policy text read from `path`.
pub fn parse(text: &str, path: &Path, cgroup_root: &Path) -> Result<Policy, PolicyError> {
    let file: PolicyFile = serde_yaml::from_str(text).map_err(|source| PolicyError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
    let mut seen = BTreeSet::new();
    let mut targets = Vec::new();
    for t in file.targets {
        if t.cgroup.components().any(|c| c == Component::ParentDir) {
            return Err(PolicyError::CgroupEscapes {
                path: path.to_owned(),
                cgroup: t.cgroup,
            });
        }
        let cgroup = normalize(&cgroup_root.join(&t.cgroup));
        if !seen.insert(cgroup.clone()) {
            return Err(PolicyError::DuplicateTarget {
                path: path.to_owned(),
                cgroup,
            });
        }
        targets.push(PolicyTarget {
            cgroup,
            composition: normalize(&base.join(&t.composition)),
            config: t.config,
            debug_sample: t.debug_sample,
            timing: t.timing,
            specs: file.specs.as_ref().map(|d| normalize(&base.join(d))),
        });
    }
    Ok(Policy {
        path: path.to_owned(),
        reconcile_interval_ms: file.reconcile_interval_ms,
        targets,
    })
}

/// A target whose composition loaded and checked safe.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: PolicyTarget,
    /// With the overrides merged in.
    pub composition: Composition,
    pub outcome: CheckOutcome,
    /// Every member's object, read once when the target was prepared: what
    /// is loaded on every reconcile until the next reload.
    pub objects: ResolvedObjects,
    /// The host-side audit of those objects (clean, or nothing is prepared).
    pub audit: AuditStamp,
    /// How many objects were audited and how many verdicts came from the cache.
    pub audit_summary: String,
    /// Every file the result depends on: composition, catalog, specs, objects.
    pub files: BTreeSet<PathBuf>,
}

/// Loads, overrides and checks a target's composition, reads its members'
/// objects and audits them against their specs (`audits` holds clean
/// verdicts already given). `scratch` is a private directory for the
/// rewritten composition when there are overrides.
pub fn prepare(
    target: &PolicyTarget,
    scratch: &Path,
    audits: &AuditCache,
) -> Result<Prepared, TargetError> {
    let path = &target.composition;
    let load_report = |errors: &load::LoadErrors| TargetError::Load {
        path: path.clone(),
        report: composer::report::load_errors_human(errors),
    };
    let opts = LoadOptions {
        specs_dir: target.specs.clone(),
        catalog: None,
    };
    let original = load::load(path, &opts).map_err(|e| load_report(&e))?;
    let catalog = match &target.specs {
        Some(dir) => Some(
            dir.join("hooks")
                .join(format!("{}.yaml", original.composition.hook)),
        ),
        None => find_catalog(path, &original.composition.hook),
    };
    let loaded = if target.config.is_empty() {
        original
    } else {
        let rewritten = with_overrides(path, &original.composition, &target.config)?;
        std::fs::create_dir_all(scratch).map_err(|source| TargetError::Io {
            path: scratch.to_owned(),
            what: "cannot create the scratch directory",
            source,
        })?;
        let name = format!(
            "{}-{}.yaml",
            original.composition.name,
            crate::config::digest(&[path.as_os_str().as_encoded_bytes()])
        );
        let tmp = scratch.join(name);
        std::fs::write(&tmp, rewritten).map_err(|source| TargetError::Io {
            path: tmp.clone(),
            what: "cannot write the overridden composition",
            source,
        })?;
        let opts = LoadOptions {
            specs_dir: None,
            catalog: catalog.clone(),
        };
        let result = load::load(&tmp, &opts);
        let _ = std::fs::remove_file(&tmp);
        let mut loaded = result.map_err(|e| TargetError::Load {
            path: path.clone(),
            report: format!(
                "with the policy's config overrides:\n{}",
                composer::report::load_errors_human(&e)
            ),
        })?;
        loaded.composition.path = path.clone();
        loaded
    };
    let outcome = composer::check::check(&loaded.composition, &CheckOptions::default());
    if !outcome.is_safe() {
        return Err(TargetError::Unsafe {
            path: path.clone(),
            report: composer::report::human(&outcome, &loaded.composition, &loaded.warnings),
        });
    }
    let mut files: BTreeSet<PathBuf> = [path.clone()].into_iter().collect();
    files.extend(catalog);
    for f in &loaded.composition.features {
        files.insert(absolute(&f.spec_path));
        for p in &f.programs {
            files.extend(p.object.as_ref().and_then(|o| o.file()).map(absolute));
        }
    }
    let objects = ResolvedObjects::resolve(&loaded.composition, &SpecObjects::built_in()).map_err(
        |source| TargetError::Objects {
            path: path.clone(),
            source,
        },
    )?;
    let audit = host_audit::audit_members(&loaded.composition, &objects, audits);
    if !audit.is_clean() {
        return Err(TargetError::Audit {
            path: path.clone(),
            report: audit.refusal_report(),
        });
    }
    Ok(Prepared {
        target: target.clone(),
        composition: loaded.composition,
        outcome,
        objects,
        audit: audit.stamp(),
        audit_summary: audit.summary(),
        files,
    })
}

impl Prepared {
    /// The desired chain on the cgroup as it exists now.
    pub fn desired(&self, target: Target) -> Result<DesiredChain, DesiredError> {
        let order = self.outcome.order.as_deref().unwrap_or_default();
        let mut chain = desired::from_composition(
            &self.composition,
            order,
            target,
            self.target.debug_sample,
            &self.objects,
        )?;
        chain.timing = self.target.timing;
        chain.audit = Some(self.audit.clone());
        // As `accord apply` records it, so either can adopt the other's chain.
        if let Ok(abs) = std::fs::canonicalize(&chain.composition_path) {
            chain.composition_path = abs;
        }
        Ok(chain)
    }
}

/// The composition's YAML with `overrides` merged into its feature entries
/// and every spec path made absolute.
fn with_overrides(
    path: &Path,
    comp: &Composition,
    overrides: &BTreeMap<String, serde_yaml::Mapping>,
) -> Result<String, TargetError> {
    use serde_yaml::Value;
    let yaml_err = |source| TargetError::Yaml {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|source| TargetError::Io {
        path: path.to_owned(),
        what: "cannot read",
        source,
    })?;
    let mut doc: Value = serde_yaml::from_str(&text).map_err(yaml_err)?;
    for name in overrides.keys() {
        if !comp.features.iter().any(|f| &f.name == name) {
            return Err(TargetError::UnknownFeature {
                path: path.to_owned(),
                feature: name.clone(),
                available: comp.features.iter().map(|f| f.name.clone()).collect(),
            });
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Some(Value::Sequence(entries)) = doc.get_mut("features") {
        for entry in entries.iter_mut() {
            if let Value::String(s) = entry {
                let mut m = serde_yaml::Mapping::new();
                m.insert("spec".into(), Value::String(s.clone()));
                *entry = Value::Mapping(m);
            }
            let Value::Mapping(m) = entry else { continue };
            let Some(Value::String(spec)) = m.get("spec").cloned() else {
                continue;
            };
            let spec_path = normalize(&dir.join(&spec));
            m.insert(
                "spec".into(),
                Value::String(absolute(&spec_path).to_string_lossy().into_owned()),
            );
            let Some(feature) = comp.features.iter().find(|f| f.spec_path == spec_path) else {
                continue;
            };
            if let Some(over) = overrides.get(&feature.name) {
                let config = m
                    .entry("config".into())
                    .or_insert_with(|| Value::Mapping(Default::default()));
                if let Value::Mapping(c) = config {
                    for (k, v) in over {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(yaml_err)
}

/// The catalog the loader's upward search finds for a composition.
fn find_catalog(composition: &Path, hook: &str) -> Option<PathBuf> {
    let start = composition.parent()?.canonicalize().ok()?;
    start
        .ancestors()
        .map(|d| d.join("specs").join("hooks").join(format!("{hook}.yaml")))
        .find(|p| p.is_file())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// `a/b/../c` to `a/c`, lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .into()
    }

    #[test]
    fn paths_resolve_against_the_mount_and_the_file() {
        let p = parse(
            "targets:\n  - cgroup: storage.slice\n    composition: c/storage.yaml\n    config:\n      init_cwnd: { iw: 40 }\n  - cgroup: /sys/fs/cgroup/x\n    composition: /abs/c.yaml\n",
            Path::new("/etc/accord/policy.yaml"),
            Path::new("/sys/fs/cgroup/unified"),
        )
        .unwrap();
        assert_eq!(
            p.targets[0].cgroup,
            Path::new("/sys/fs/cgroup/unified/storage.slice")
        );
        assert_eq!(
            p.targets[0].composition,
            Path::new("/etc/accord/c/storage.yaml")
        );
        assert_eq!(p.targets[0].config["init_cwnd"].len(), 1);
        assert_eq!(p.targets[1].cgroup, Path::new("/sys/fs/cgroup/x"));
        assert_eq!(p.targets[1].composition, Path::new("/abs/c.yaml"));
    }

    #[test]
    fn the_example_policy_is_accepted() {
        let path = repo().join("examples/daemon/policy.yaml");
        let policy = read(&path, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(policy.targets.len(), 2);
        let scratch = std::env::temp_dir().join(format!("accord-policy-ex-{}", std::process::id()));
        for t in &policy.targets {
            let p = prepare(t, &scratch, &AuditCache::none()).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.outcome.is_safe());
        }
        let _ = std::fs::remove_dir_all(scratch);
    }

    #[test]
    fn refuses_duplicates_escapes_and_unknown_keys() {
        let at = Path::new("/p.yaml");
        let root = Path::new("/cg");
        let dup = "targets:\n  - {cgroup: a, composition: x.yaml}\n  - {cgroup: /cg/a, composition: y.yaml}\n";
        assert!(matches!(
            parse(dup, at, root),
            Err(PolicyError::DuplicateTarget { .. })
        ));
        let esc = "targets:\n  - {cgroup: ../a, composition: x.yaml}\n";
        assert!(matches!(
            parse(esc, at, root),
            Err(PolicyError::CgroupEscapes { .. })
        ));
        let typo = "targets:\n  - {cgroup: a, compositon: x.yaml}\n";
        let e = parse(typo, at, root).unwrap_err().to_string();
        assert!(e.contains("compositon"), "{e}");
    }

    #[test]
    fn a_policy_that_is_not_utf8_is_refused_at_the_byte() {
        let dir = std::env::temp_dir().join(format!("accord-policy-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("policy.yaml");
        std::fs::write(
            &path,
            b"targets:\n  - {cgroup: a\xc3, composition: x.yaml}\n",
        )
        .unwrap();
        let e = read(&path, Path::new("/cg")).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2:15: invalid UTF-8 (byte 0xc3): accord reads UTF-8 text",
                path.display()
            )
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn timing_is_off_unless_the_target_asks_and_reaches_the_chain() {
        let at = repo().join("examples/daemon/policy.yaml");
        let comp = repo().join("examples/storage-hosts/composition.yaml");
        let text = format!(
            "targets:\n  - {{cgroup: a, composition: {c}, timing: true}}\n  - {{cgroup: b, composition: {c}}}\n  - {{cgroup: c, composition: {c}, timing: false}}\n",
            c = comp.display()
        );
        let p = parse(&text, &at, Path::new("/cg")).unwrap();
        let timing: Vec<bool> = p.targets.iter().map(|t| t.timing).collect();
        assert_eq!(timing, [true, false, false]);
        let bad = format!(
            "targets:\n  - {{cgroup: a, composition: {}, timing: 3}}\n",
            comp.display()
        );
        let e = parse(&bad, &at, Path::new("/cg")).unwrap_err().to_string();
        assert!(e.contains("timing"), "{e}");
        // The desired chain carries it, and it changes the digest (a reload).
        let scratch =
            std::env::temp_dir().join(format!("accord-policy-timing-{}", std::process::id()));
        let target = Target {
            cgroup: "/cg/a".into(),
            cgroup_id: 4242,
        };
        let on = prepare(&p.targets[0], &scratch, &AuditCache::none()).unwrap();
        let off = prepare(&p.targets[1], &scratch, &AuditCache::none()).unwrap();
        let on = on.desired(target.clone()).unwrap();
        let off = off.desired(target).unwrap();
        assert!(on.timing);
        assert!(!off.timing);
        assert_ne!(on.chain_digest(), off.chain_digest());
        let _ = std::fs::remove_dir_all(scratch);
    }

    #[test]
    fn overrides_reach_the_config_and_the_check() {
        let scratch = std::env::temp_dir().join(format!("accord-policy-{}", std::process::id()));
        let comp = repo().join("examples/storage-hosts/composition.yaml");
        let mut t = PolicyTarget {
            cgroup: "/cg/x".into(),
            composition: comp.clone(),
            config: BTreeMap::new(),
            debug_sample: 0,
            timing: false,
            specs: None,
        };
        let plain = prepare(&t, &scratch, &AuditCache::none()).unwrap();
        let iw = |p: &Prepared| {
            p.composition
                .features
                .iter()
                .find(|f| f.name == "init_cwnd")
                .unwrap()
                .config["iw"]
                .clone()
        };
        assert_eq!(
            iw(&plain),
            composer::ir::ConfigValue::Scalar(composer::ir::Literal::Int(40))
        );
        assert!(plain.files.contains(&comp));
        assert!(plain.files.iter().any(|f| f.ends_with("init_cwnd.yaml")));
        t.config.insert(
            "init_cwnd".into(),
            serde_yaml::from_str("{ iw: 25 }").unwrap(),
        );
        let over = prepare(&t, &scratch, &AuditCache::none()).unwrap();
        assert_eq!(
            iw(&over),
            composer::ir::ConfigValue::Scalar(composer::ir::Literal::Int(25))
        );
        assert_eq!(over.composition.path, comp);
        t.config.insert("nope".into(), Default::default());
        assert!(matches!(
            prepare(&t, &scratch, &AuditCache::none()),
            Err(TargetError::UnknownFeature { .. })
        ));
        t.config.remove("nope");
        t.config.insert(
            "init_cwnd".into(),
            serde_yaml::from_str("{ iw: banana }").unwrap(),
        );
        assert!(matches!(
            prepare(&t, &scratch, &AuditCache::none()),
            Err(TargetError::Load { .. })
        ));
        let _ = std::fs::remove_dir_all(scratch);
    }
}
