//! Issue 14 in the bytecode audit: reads of read-only context fields and
//! of socket options (`bpf_getsockopt`) are mapped to catalog fields, and
//! a write declared as a read-modify-write of cb_flags must be one.
//! Objects: composer/tests/audit/*.bpf.c, compiled with clang-19.

#[path = "audit/common.rs"]
mod common;

use composer::audit::{audit_program, AuditOptions, FindingKind, ProgramAudit};
use composer::ir::Program;

fn audit(name: &str, p: &Program) -> Option<ProgramAudit> {
    let clang = common::clang()?;
    let dir = common::TempDir::new(name);
    let src = common::repo_root().join(format!("composer/tests/audit/{name}.bpf.c"));
    let obj = common::compile(&clang, &src, &dir.0);
    Some(
        audit_program(&obj, p, &common::catalog(), &AuditOptions::default())
            .expect("the test object can be audited"),
    )
}

fn undeclared_reads(a: &ProgramAudit) -> Vec<String> {
    a.findings
        .iter()
        .filter_map(|f| match &f.kind {
            FindingKind::UndeclaredRead { field } => Some(field.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn context_fields_and_getsockopt_options_are_reads() {
    let mut reads: Vec<&str> = common::PARSER_READS.to_vec();
    reads.extend(["snd_cwnd", "TCP_BPF_SYN"]);
    let p = common::program("reads_options", &reads, &["TCP_BPF_SNDCWND_CLAMP"]);
    let Some(a) = audit("reads_options", &p) else {
        return;
    };
    let read: Vec<&str> = a.reads.iter().map(|r| r.field.as_str()).collect();
    for f in ["snd_cwnd", "srtt_us", "TCP_BPF_SYN", "SO_MARK"] {
        assert!(read.contains(&f), "{f} not among the reads {read:?}");
    }
    // Declared reads are quiet; the others are warnings, never errors.
    assert_eq!(
        undeclared_reads(&a),
        ["SO_MARK", "srtt_us"],
        "{:#?}",
        a.findings
    );
    assert_eq!(a.errors(), 0, "{:#?}", a.findings);
}
