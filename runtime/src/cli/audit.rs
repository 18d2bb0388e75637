//! `accord audit`: check each object's bytecode against its effect spec
//! (composer::audit), and the `--audit` step of `accord check`.
//!
//! Exit codes: 0 the bytecode does nothing the spec does not declare
//! (warnings allowed), 1 an undeclared effect, 2 invalid input (a spec that
//! does not load, an object that cannot be found or read, a program missing
//! from its object).
//!
//! Object resolution, per program: `--object PATH` if given; else the
//! spec's `object:` exactly as `accord apply` resolves it
//! (`runtime::resolve`): a file relative to the spec, or `builtin:<name>`,
//! an object built into accord. So a spec audits against what apply loads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::common::Format;
use composer::audit::report::{self, AuditedProgram, FeatureAudit};
use composer::audit::{audit_program, AuditOptions};
use composer::ir::{Composition, Feature, HookCatalog, MemberId, Program};
use composer::load;
use runtime::resolve::{ObjectSource, SpecObjects};

const LONG_HELP: &str = "\
Examples:
  # Does the init_cwnd object do exactly what its spec declares?
  accord audit specs/features/init_cwnd.yaml

  # Every feature spec, as JSON for CI; exit 0 clean, 1 undeclared effect,
  # 2 invalid input
  accord audit --format json specs/features/*.yaml

  # Audit a freshly built object against a spec
  accord audit specs/features/init_cwnd.yaml --object build/init_cwnd.bpf.o

The audit follows every path of the program (and its BPF-to-BPF
subprograms) and reports, with the instruction index and source line:
writes the spec does not declare (context stores, bpf_setsockopt with a
constant option, helpers the catalog names), bpf_setsockopt with an option
chosen at run time, tail calls other than the chain continuation, and paths
that end without continuing the chain (errors); reads the spec does not
list and declared writes no path makes (warnings).";

#[derive(clap::Args, Debug)]
#[command(after_long_help = LONG_HELP)]
pub struct AuditArgs {
    /// Feature spec files (YAML) to audit.
    #[arg(required = true, value_name = "SPEC")]
    pub spec: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Audit this object file instead of the one the spec names (one spec only).
    #[arg(long, value_name = "PATH")]
    pub object: Option<PathBuf>,
    /// A specs directory holding hooks/<hook>.yaml (default: search upward
    /// from each spec for specs/hooks/ or hooks/).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
}

pub use runtime::host_audit::Verdict;

pub fn run(args: AuditArgs) -> ExitCode {
    if args.object.is_some() && args.spec.len() != 1 {
        eprintln!("accord: --object needs exactly one SPEC");
        return ExitCode::from(2);
    }
    let mut audits = Vec::new();
    for spec in &args.spec {
        let feature = match load_spec(spec, args.specs.as_deref()) {
            Ok(f) => f,
            Err(LoadFailure::Errors(errors)) => {
                match args.format {
                    Format::Human => eprint!("{}", composer::report::load_errors_human(&errors)),
                    Format::Json => print!("{}", composer::report::load_errors_json(&errors)),
                }
                return ExitCode::from(2);
            }
            Err(LoadFailure::Other(msg)) => {
                eprintln!("accord: {}: {msg}", spec.display());
                return ExitCode::from(2);
            }
        };
        audits.push(audit_feature(
            &feature.0,
            &feature.1,
            args.object.as_deref(),
        ));
    }
    match args.format {
        Format::Human => {
            let texts: Vec<String> = audits.iter().map(report::human).collect();
            print!("{}", texts.join("\n"));
        }
        Format::Json => print!("{}", report::json(&audits)),
    }
    Verdict::of(&audits).exit_code()
}

enum LoadFailure {
    Errors(composer::load::LoadErrors),
    Other(String),
}

/// Loads a feature spec with the catalog of its programs' hook.
fn load_spec(spec: &Path, specs_dir: Option<&Path>) -> Result<(Feature, HookCatalog), LoadFailure> {
    let text = std::fs::read_to_string(spec)
        .map_err(|e| LoadFailure::Other(format!("cannot read it: {e}")))?;
    // The hook decides the catalog; the loader then checks everything else.
    let hook = serde_yaml::from_str::<serde_yaml::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("programs")?
                .as_sequence()?
                .iter()
                .find_map(|p| p.get("hook")?.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| "sock_ops".to_string());
    let catalog_path = find_catalog(spec, &hook, specs_dir).ok_or_else(|| {
        LoadFailure::Other(format!(
            "no hook catalog hooks/{hook}.yaml found (searched upward from the spec; --specs DIR names one)"
        ))
    })?;
    let catalog = load::load_catalog(&catalog_path).map_err(LoadFailure::Errors)?;
    let feature = load::load_feature_spec(spec, &catalog).map_err(LoadFailure::Errors)?;
    Ok((feature, catalog))
}

fn find_catalog(spec: &Path, hook: &str, specs_dir: Option<&Path>) -> Option<PathBuf> {
    let file = format!("{hook}.yaml");
    if let Some(d) = specs_dir {
        let p = d.join("hooks").join(&file);
        return p.is_file().then_some(p);
    }
    let start = spec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    start.ancestors().find_map(|dir| {
        [
            dir.join("specs/hooks").join(&file),
            dir.join("hooks").join(&file),
        ]
        .into_iter()
        .find(|p| p.is_file())
    })
}

/// The object bytes for a program and where they came from: `--object`,
/// else the spec's `object:` exactly as `accord apply` resolves it.
fn resolve_object(
    feature: &Feature,
    program: &Program,
    forced: Option<&Path>,
) -> Result<(String, Vec<u8>), String> {
    if let Some(path) = forced {
        return std::fs::read(path)
            .map(|b| (format!("file:{}", path.display()), b))
            .map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    let member = MemberId {
        feature: feature.name.clone(),
        program: program.name.clone(),
    };
    SpecObjects::built_in()
        .find(&member, feature, program)
        .map(|o| (o.origin, o.bytes.to_vec()))
        .map_err(|e| e.to_string())
}

/// Audits every program of a feature (each against its own object).
pub fn audit_feature(
    feature: &Feature,
    catalog: &HookCatalog,
    forced: Option<&Path>,
) -> FeatureAudit {
    let programs = feature
        .programs
        .iter()
        .map(|p| match resolve_object(feature, p, forced) {
            Err(e) => AuditedProgram {
                program: p.name.clone(),
                object: match (forced, &p.object) {
                    (Some(f), _) => f.display().to_string(),
                    (None, Some(o)) => o.to_string(),
                    (None, None) => "(none)".into(),
                },
                audit: None,
                error: Some(e),
            },
            Ok((object, bytes)) => {
                match audit_forced(&bytes, feature, p, catalog, forced.is_some()) {
                    Ok(a) => AuditedProgram {
                        program: p.name.clone(),
                        object,
                        audit: Some(a),
                        error: None,
                    },
                    Err(e) => AuditedProgram {
                        program: p.name.clone(),
                        object,
                        audit: None,
                        error: Some(e.to_string()),
                    },
                }
            }
        })
        .collect();
    FeatureAudit {
        feature: feature.name.clone(),
        spec: feature.spec_path.clone(),
        programs,
    }
}

/// Audits `p` in `bytes`. With `--object`, an object holding exactly one
/// program is audited as the spec's program whatever its name.
fn audit_forced(
    bytes: &[u8],
    feature: &Feature,
    p: &Program,
    catalog: &HookCatalog,
    forced: bool,
) -> Result<composer::audit::ProgramAudit, composer::audit::AuditError> {
    let opts = AuditOptions::for_program(feature, p);
    match audit_program(bytes, p, catalog, &opts) {
        Err(composer::audit::AuditError::ProgramNotFound { available, .. })
            if forced && available.len() == 1 =>
        {
            let mut renamed = p.clone();
            renamed.name = available[0].clone();
            audit_program(bytes, &renamed, catalog, &opts)
        }
        other => other,
    }
}

/// `accord check --audit`: audits every feature of a loaded composition
/// that has a program naming an `object:`.
pub fn audit_composition(c: &Composition) -> Vec<FeatureAudit> {
    c.features
        .iter()
        .filter(|f| f.programs.iter().any(|p| p.object.is_some()))
        .map(|f| {
            let mut only_named = f.clone();
            only_named.programs.retain(|p| p.object.is_some());
            audit_feature(&only_named, &c.catalog, None)
        })
        .collect()
}

/// The human text of a composition's audits (after `check`'s own report).
pub fn composition_human(audits: &[FeatureAudit]) -> String {
    let mut out = String::from("\nbytecode audit (--audit):\n");
    if audits.is_empty() {
        out.push_str("  no member names an object: nothing to audit\n");
    }
    for a in audits {
        out.push_str(&report::brief(a));
    }
    out
}

/// `check`'s JSON report with the audits added under `"audit"`.
pub fn merge_json(check_json: &str, audits: &[FeatureAudit]) -> String {
    let audit: serde_json::Value =
        serde_json::from_str(&report::json(audits)).unwrap_or(serde_json::Value::Null);
    match serde_json::from_str::<serde_json::Value>(check_json) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("audit".into(), audit);
            let mut s = serde_json::to_string_pretty(&serde_json::Value::Object(m))
                .unwrap_or_else(|_| check_json.to_string());
            s.push('\n');
            s
        }
        _ => check_json.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("runtime/ lives in the workspace")
            .to_path_buf()
    }

    #[test]
    fn every_repository_spec_audits_clean_against_the_embedded_object() {
        let dir = repo().join("specs/features");
        let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("specs/features")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        specs.sort();
        assert!(!specs.is_empty());
        let mut audits = Vec::new();
        for s in &specs {
            let Ok((f, cat)) = load_spec(s, None) else {
                panic!("{} does not load", s.display());
            };
            let a = audit_feature(&f, &cat, None);
            assert!(
                a.programs.iter().all(|p| p.object.starts_with("builtin:")),
                "{:?}",
                a.programs
            );
            audits.push(a);
        }
        let text: String = audits.iter().map(report::human).collect();
        assert_eq!(Verdict::of(&audits), Verdict::Clean, "{text}");
    }

    #[test]
    fn a_wrong_object_is_an_undeclared_effect_and_a_missing_one_is_input() {
        let spec = repo().join("specs/features/init_cwnd.yaml");
        let (f, cat) = load_spec(&spec, None).ok().expect("init_cwnd loads");
        // rwnd_init's object stores to reply, which init_cwnd does not declare,
        // and has no program named init_cwnd: not auditable.
        let mut renamed = f.clone();
        renamed.programs[0].name = "rwnd_init".into();
        renamed.programs[0].object = Some(composer::ir::ObjectRef {
            location: composer::ir::ObjectLocation::Builtin("rwnd_init".into()),
            span: None,
        });
        let a = audit_feature(&renamed, &cat, None);
        assert_eq!(
            Verdict::of(std::slice::from_ref(&a)),
            Verdict::Undeclared,
            "{}",
            report::human(&a)
        );
        let missing = audit_feature(&f, &cat, Some(Path::new("/nonexistent/x.bpf.o")));
        assert_eq!(
            Verdict::of(std::slice::from_ref(&missing)),
            Verdict::Unaudited
        );
        let merged = merge_json("{\"safe\": true}", std::slice::from_ref(&a));
        let v: serde_json::Value = serde_json::from_str(&merged).expect("json");
        assert_eq!(v["safe"], true);
        assert_eq!(v["audit"]["clean"], false);
    }
}
