//! Issue 14 in the bytecode audit: reads of read-only context fields and
//! of socket options (`bpf_getsockopt`) are mapped to catalog fields, and
//! a write declared as a read-modify-write of cb_flags must be one.
//! Objects: composer/tests/audit/*.bpf.c, compiled with clang-19.

#[path = "audit/common.rs"]
mod common;

use composer::audit::{audit_program, AuditOptions, FindingKind, ProgramAudit};
use composer::ir::{Literal, Program, Update, WriteValue};

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

/// A program of the `cb_flags_updates` object declaring one cb_flags write
/// of `value` with `update`.
fn flags_program(name: &str, value: u64, update: Update) -> Program {
    let mut p = common::program_with_values(
        name,
        common::PARSER_READS,
        &[("cb_flags", WriteValue::Lit(Literal::Int(value)))],
    );
    p.writes[0].update = update;
    p
}

fn kinds(a: &ProgramAudit) -> Vec<&FindingKind> {
    a.findings.iter().map(|f| &f.kind).collect()
}

#[test]
fn a_declared_or_update_must_be_a_read_modify_write() {
    const RTT: u64 = 8; // BPF_SOCK_OPS_RTT_CB_FLAG
                        // `current | RTT` declared `update: or`: clean, shown as such.
    let Some(a) = audit(
        "cb_flags_updates",
        &flags_program("flags_or", RTT, Update::Or),
    ) else {
        return;
    };
    assert_eq!(a.errors() + a.warnings(), 0, "{:#?}", a.findings);
    let w = a
        .writes
        .iter()
        .find(|w| w.field == "cb_flags")
        .expect("a cb_flags write");
    assert_eq!(w.values, ["cb_flags | 0x8"]);
    assert!(
        a.reads.iter().any(|r| r.field == "cb_flags" && r.declared),
        "{:?}",
        a.reads
    );

    // Declared `update: or` with other bits: the ORed constant is checked.
    let a = audit(
        "cb_flags_updates",
        &flags_program("flags_or", 1, Update::Or),
    )
    .unwrap();
    assert!(
        kinds(&a).contains(&&FindingKind::UndeclaredValue {
            field: "cb_flags".into(),
            value: RTT
        }),
        "{:#?}",
        a.findings
    );

    // An assignment declared `update: or`: an error (it clears the others' flags).
    let a = audit(
        "cb_flags_updates",
        &flags_program("flags_set", RTT, Update::Or),
    )
    .unwrap();
    assert!(
        kinds(&a).contains(&&FindingKind::NotReadModifyWrite {
            field: "cb_flags".into()
        }),
        "{:#?}",
        a.findings
    );
    // ... declared as what it is, an assignment: clean.
    let a = audit(
        "cb_flags_updates",
        &flags_program("flags_set", RTT, Update::Set),
    )
    .unwrap();
    assert_eq!(a.errors() + a.warnings(), 0, "{:#?}", a.findings);

    // Clearing a bit reads the flags but is no OR: an error when declared `or`.
    let a = audit(
        "cb_flags_updates",
        &flags_program("flags_clear", 0, Update::Or),
    )
    .unwrap();
    assert!(
        kinds(&a).contains(&&FindingKind::NotReadModifyWrite {
            field: "cb_flags".into()
        }),
        "{:#?}",
        a.findings
    );

    // A read-modify-write declared as an assignment: a warning that says so.
    let a = audit(
        "cb_flags_updates",
        &flags_program("flags_or", RTT, Update::Set),
    )
    .unwrap();
    let f = a
        .findings
        .iter()
        .find(|f| {
            f.kind
                == FindingKind::ReadModifyWriteUndeclared {
                    field: "cb_flags".into(),
                }
        })
        .unwrap_or_else(|| panic!("{:#?}", a.findings));
    assert!(
        f.message.contains("declare the write `update: or`"),
        "{}",
        f.message
    );
    assert_eq!(a.errors(), 0, "{:#?}", a.findings);
}
