//! The audit follows every program in every object the repository builds
//! (features, test programs, struct_ops): no panic, no code it cannot
//! follow, and a verdict for each.

#[path = "audit/common.rs"]
mod common;

use composer::audit::{audit_program, elf, AuditOptions, FindingKind};

#[test]
fn every_program_in_every_repository_object_is_followed() {
    let Some(clang) = common::clang() else {
        return;
    };
    let root = common::repo_root();
    let dir = common::TempDir::new("all");
    let catalog = common::catalog();
    let mut audited = 0;
    for group in ["features", "testing", "struct_ops"] {
        let Ok(entries) = std::fs::read_dir(root.join("ebpf").join(group)) else {
            continue;
        };
        let mut sources: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
            .collect();
        sources.sort();
        for src in sources {
            let obj = common::compile(&clang, &src, &dir.0);
            let programs = elf::programs(&obj).expect("an ELF object");
            for name in programs {
                let spec = common::program(&name, &[], &[]);
                let a = audit_program(
                    &obj,
                    &spec,
                    &catalog,
                    &AuditOptions {
                        ends_chain: true,
                        ..AuditOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", src.display()));
                let unfollowed: Vec<_> = a
                    .findings
                    .iter()
                    .filter(|f| matches!(f.kind, FindingKind::Unfollowed { .. }))
                    .collect();
                assert!(
                    unfollowed.is_empty(),
                    "{}: {name}: {unfollowed:#?}",
                    src.display()
                );
                assert!(
                    a.reached_insns > 1,
                    "{}: {name} reached nothing",
                    src.display()
                );
                audited += 1;
            }
        }
    }
    assert!(audited >= 10, "only {audited} programs audited");
}
