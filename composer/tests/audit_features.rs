//! Every feature in ebpf/features audits clean against its spec in
//! specs/features: no undeclared effect, no undeclared read, no declared
//! write the bytecode cannot make, and every path continues the chain.
//! The objects are compiled here as runtime/build.rs compiles them.

#[path = "audit/common.rs"]
mod common;

use std::collections::BTreeMap;

use composer::audit::{audit_program, report, AuditOptions};
use composer::ir::ObjectLocation;

#[test]
fn every_feature_audits_clean_against_its_spec() {
    let Some(clang) = common::clang() else {
        return;
    };
    let root = common::repo_root();
    let dir = common::TempDir::new("features");
    let catalog = common::catalog();
    let mut sources: Vec<_> = std::fs::read_dir(root.join("ebpf/features"))
        .expect("ebpf/features exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    assert!(
        sources.len() >= 6,
        "expected the feature library, found {sources:?}"
    );

    let mut objects = BTreeMap::new();
    for src in &sources {
        let name = src.file_name().and_then(|f| f.to_str()).expect("utf-8");
        let obj = common::compile(&clang, src, &dir.0);
        objects.insert(name.replace(".bpf.c", ".bpf.o"), obj);
    }

    let mut dirty = Vec::new();
    for src in &sources {
        let name = src
            .file_name()
            .and_then(|f| f.to_str())
            .expect("utf-8")
            .trim_end_matches(".bpf.c")
            .to_string();
        let spec = root.join(format!("specs/features/{name}.yaml"));
        let feature = composer::load::load_feature_spec(&spec, &catalog)
            .unwrap_or_else(|e| panic!("{} does not load: {e:?}", spec.display()));
        let mut programs = Vec::new();
        for p in &feature.programs {
            // The shipped specs name the objects accord builds in.
            let file = match p.object.as_ref().map(|o| &o.location) {
                Some(ObjectLocation::Builtin(n)) => format!("{n}.bpf.o"),
                _ => panic!(
                    "{} must name its object as builtin:<name> for {}",
                    spec.display(),
                    p.name
                ),
            };
            let file = file.as_str();
            let obj = objects.get(file).unwrap_or_else(|| {
                panic!(
                    "{} names {file}, which ebpf/features does not build",
                    spec.display()
                )
            });
            let audit = audit_program(obj, p, &catalog, &AuditOptions::for_program(&feature, p))
                .unwrap_or_else(|e| panic!("{name}/{}: {e}", p.name));
            assert!(audit.always_continues, "{name}: some path cuts the chain");
            assert!(
                !audit.writes.is_empty(),
                "{name}: the audit saw no write at all"
            );
            programs.push(report::AuditedProgram {
                program: p.name.clone(),
                object: format!("file:{file}"),
                audit: Some(audit),
                error: None,
            });
        }
        let fa = report::FeatureAudit {
            feature: feature.name.clone(),
            spec: spec.clone(),
            programs,
        };
        if !fa.is_clean() || fa.warnings() > 0 {
            dirty.push(report::human(&fa));
        }
    }
    assert!(
        dirty.is_empty(),
        "features that do not match their specs:\n{}",
        dirty.join("\n")
    );
}
