//! Deliberately wrong objects (composer/tests/audit/*.bpf.c, compiled with
//! clang-19 at test time): each must be caught, with the instruction index
//! and the source line of the offending instruction.

#[path = "audit/common.rs"]
mod common;

use std::path::PathBuf;

use composer::audit::insn::{class, Insn};
use composer::audit::{
    audit_program, elf, report, AuditOptions, ConfigSlot, Finding, FindingKind, ProgramAudit,
    Severity, Site,
};
use composer::ir::{Guard, Literal, Operand, Program, SetExpr, ValueType, WriteValue};

struct Compiled {
    src: PathBuf,
    obj: Vec<u8>,
}

fn compile(name: &str) -> Option<Compiled> {
    let clang = common::clang()?;
    let dir = common::TempDir::new(name);
    let src = common::repo_root().join(format!("composer/tests/audit/{name}.bpf.c"));
    let obj = common::compile(&clang, &src, &dir.0);
    Some(Compiled { src, obj })
}

fn audit(c: &Compiled, p: &Program) -> ProgramAudit {
    audit_program(&c.obj, p, &common::catalog(), &AuditOptions::default())
        .expect("the test object can be audited")
}

fn find(a: &ProgramAudit, pred: impl Fn(&FindingKind) -> bool) -> &Finding {
    a.findings
        .iter()
        .find(|f| pred(&f.kind))
        .unwrap_or_else(|| {
            panic!(
                "expected finding missing; the audit found {:#?}",
                a.findings
            )
        })
}

/// The `UndeclaredWrite` finding of `field`.
fn undeclared_write<'a>(a: &'a ProgramAudit, field: &str) -> &'a Finding {
    find(
        a,
        |k| matches!(k, FindingKind::UndeclaredWrite { field: f } if f == field),
    )
}

/// The `UnreachableWrite` finding of `field`.
fn unreachable_write<'a>(a: &'a ProgramAudit, field: &str) -> &'a Finding {
    find(
        a,
        |k| matches!(k, FindingKind::UnreachableWrite { field: f } if f == field),
    )
}

/// The `UndeclaredValue` finding of `field` writing `value`.
fn undeclared_value<'a>(a: &'a ProgramAudit, field: &str, value: u64) -> &'a Finding {
    find(
        a,
        |k| matches!(k, FindingKind::UndeclaredValue { field: f, value: v } if f == field && *v == value),
    )
}

/// The test object `name` compiled, a program of that name reading the
/// parser's fields and declaring `writes`, and its audit; `None` (the test
/// skips) without clang.
fn compile_and_audit(name: &str, writes: &[&str]) -> Option<(Compiled, Program, ProgramAudit)> {
    let c = compile(name)?;
    let p = common::program(name, common::PARSER_READS, writes);
    let a = audit(&c, &p);
    Some((c, p, a))
}

/// The instruction at a site, decoded from the object.
fn insn_at(c: &Compiled, program: &str, s: &Site) -> Insn {
    let img = elf::image(&c.obj, program).expect("object parses");
    let sec = img
        .sections
        .iter()
        .find(|x| x.name == s.section)
        .expect("the site's section exists");
    sec.insns[s.insn]
}

/// The finding points at the marked source line, and at an instruction
/// that `is_expected` accepts.
fn assert_at_marker(c: &Compiled, program: &str, f: &Finding, is_expected: impl Fn(&Insn) -> bool) {
    let line = common::marker_line(&c.src, "AUDIT-HERE");
    let file = c.src.file_name().and_then(|n| n.to_str()).expect("name");
    let site = f
        .sites
        .iter()
        .find(|s| {
            s.line
                .as_ref()
                .is_some_and(|l| l.file.ends_with(file) && l.line == line)
        })
        .unwrap_or_else(|| panic!("no site of {f:#?} is at {file}:{line}"));
    let insn = insn_at(c, program, site);
    assert!(
        is_expected(&insn),
        "insn {} ({insn:?}) is not the expected kind of instruction",
        site.insn
    );
    let text = site.line.as_ref().map(|l| l.text.as_str()).unwrap_or("");
    assert!(
        text.contains("AUDIT-HERE"),
        "line text {text:?} is not the marked line"
    );
}

fn is_call(id: i32) -> impl Fn(&Insn) -> bool {
    move |i| i.is_call() && i.src == 0 && i.imm == id
}

fn is_ctx_store_at(off: i16) -> impl Fn(&Insn) -> bool {
    move |i| matches!(i.class(), class::STX | class::ST) && i.off == off
}

#[test]
fn an_undeclared_setsockopt_is_an_error() {
    let Some((c, p, a)) = compile_and_audit("undeclared_setsockopt", &["SO_RCVBUF"]) else {
        return;
    };
    let f = undeclared_write(&a, "TCP_BPF_IW");
    assert_eq!(f.severity, Severity::Error);
    assert_at_marker(&c, &p.name, f, is_call(49));
    // The declared SO_RCVBUF is never written: a warning, not an error.
    let w = unreachable_write(&a, "SO_RCVBUF");
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(a.errors(), 1, "{:#?}", a.findings);
}

#[test]
fn a_wrong_option_is_an_error() {
    let Some((c, p, a)) = compile_and_audit("wrong_option", &["TCP_BPF_IW"]) else {
        return;
    };
    let f = undeclared_write(&a, "TCP_BPF_SNDCWND_CLAMP");
    assert_at_marker(&c, &p.name, f, is_call(49));
    unreachable_write(&a, "TCP_BPF_IW");
}

#[test]
fn an_undeclared_store_to_reply_is_an_error() {
    let Some((c, p, a)) = compile_and_audit("undeclared_reply", &[]) else {
        return;
    };
    let f = undeclared_write(&a, "reply");
    assert_eq!(f.severity, Severity::Error);
    assert_at_marker(&c, &p.name, f, is_ctx_store_at(4));
    // Declared, the same object is clean.
    let ok = audit(
        &c,
        &common::program("undeclared_reply", common::PARSER_READS, &["reply"]),
    );
    assert_eq!(ok.errors(), 0, "{:#?}", ok.findings);
    assert_eq!(ok.warnings(), 0, "{:#?}", ok.findings);
}

#[test]
fn a_context_pointer_spilled_and_restored_is_still_the_context() {
    let Some((c, p, a)) = compile_and_audit("ctx_spill", &[]) else {
        return;
    };
    let f = undeclared_write(&a, "reply");
    assert_at_marker(&c, &p.name, f, is_ctx_store_at(4));
    // The store's base register was filled from the stack: the case under test.
    let site = &f.sites[0];
    let img = elf::image(&c.obj, &p.name).expect("parses");
    let insns = &img
        .sections
        .iter()
        .find(|s| s.name == site.section)
        .expect("section")
        .insns;
    let base = insns[site.insn].dst;
    let def = insns[..site.insn]
        .iter()
        .rev()
        .find(|i| i.dst == base && !matches!(i.class(), class::ST | class::STX | class::JMP))
        .expect("the base register is set before the store");
    assert!(
        def.class() == class::LDX && def.src == 10,
        "the base register should come from a stack slot, got {def:?}"
    );
}

#[test]
fn an_option_chosen_at_run_time_may_write_anything() {
    let Some((c, p, a)) = compile_and_audit("runtime_option", &["TCP_BPF_IW"]) else {
        return;
    };
    let f = find(&a, |k| {
        matches!(
            k,
            FindingKind::AnySocketOption {
                level: Some(6),
                option: None
            }
        )
    });
    assert_eq!(f.severity, Severity::Error);
    assert_at_marker(&c, &p.name, f, is_call(49));
    // "May write anything" covers the declared write: no unreachable warning.
    assert!(
        !a.findings
            .iter()
            .any(|f| matches!(f.kind, FindingKind::UnreachableWrite { .. })),
        "{:#?}",
        a.findings
    );
}

#[test]
fn a_branch_that_skips_the_continuation_cuts_the_chain() {
    let Some(c) = compile("skips_continuation") else {
        return;
    };
    let p = common::program("skips_continuation", &["op"], &[]);
    let a = audit(&c, &p);
    assert!(!a.always_continues);
    let f = find(&a, |k| matches!(k, FindingKind::ChainCut));
    assert_eq!(f.severity, Severity::Error);
    assert_at_marker(&c, &p.name, f, |i| {
        i.class() == class::JMP && !i.is_call() && !i.is_exit()
    });
    assert!(
        f.sites.iter().any(|s| insn_at(&c, &p.name, s).is_exit()),
        "{f:#?}"
    );
    // A member that says it ends the chain may do so.
    let ends = audit_program(
        &c.obj,
        &p,
        &common::catalog(),
        &AuditOptions {
            ends_chain: true,
            ..AuditOptions::default()
        },
    )
    .expect("audits");
    assert_eq!(ends.errors(), 0, "{:#?}", ends.findings);
}

#[test]
fn a_spec_that_says_ends_chain_allows_the_cut() {
    let Some(c) = compile("skips_continuation") else {
        return;
    };
    let dir = common::TempDir::new("ends-chain");
    let spec = dir.0.join("skips.yaml");
    std::fs::write(
        &spec,
        "feature: skips\nprograms:\n  - name: skips_continuation\n    hook: sock_ops\n    reads: [op]\n    ends_chain: true\n",
    )
    .expect("write the spec");
    let f = composer::load::load_feature_spec(&spec, &common::catalog()).expect("the spec loads");
    let p = &f.programs[0];
    assert!(p.ends_chain);
    let opts = AuditOptions::for_program(&f, p);
    let a = audit_program(&c.obj, p, &common::catalog(), &opts).expect("audits");
    assert!(!a.always_continues);
    assert_eq!(a.errors() + a.warnings(), 0, "{:#?}", a.findings);
    std::fs::write(
        &spec,
        "feature: skips\nprograms:\n  - name: skips_continuation\n    ends_chain: maybe\n",
    )
    .expect("write the spec");
    assert!(composer::load::load_feature_spec(&spec, &common::catalog()).is_err());
}

#[test]
fn a_tail_call_outside_the_chain_is_reported() {
    let Some(c) = compile("foreign_tail_call") else {
        return;
    };
    let p = common::program("foreign_tail_call", &[], &[]);
    let a = audit(&c, &p);
    let f = find(
        &a,
        |k| matches!(k, FindingKind::ForeignTailCall { map, index } if map == "side_door" && index == "2"),
    );
    assert_at_marker(&c, &p.name, f, is_call(12));
    // The real continuation after it is recognised: no chain cut.
    assert!(a.always_continues, "{:#?}", a.findings);
    assert_eq!(a.errors(), 1, "{:#?}", a.findings);
}

#[test]
fn a_subprogram_is_followed_in_each_calling_context() {
    let Some((c, p, a)) = compile_and_audit("subprog_setsockopt", &["TCP_BPF_IW"]) else {
        return;
    };
    let f = undeclared_write(&a, "TCP_BPF_SNDCWND_CLAMP");
    assert_at_marker(&c, &p.name, f, is_call(49));
    assert_eq!(f.sites[0].section, ".text");
    assert_eq!(f.sites[0].function, "set_opt");
    let iw = a
        .writes
        .iter()
        .find(|w| w.field == "TCP_BPF_IW")
        .expect("IW written");
    assert!(iw.declared);
    // Both options, and nothing vaguer: the calls were told apart.
    assert_eq!(a.errors(), 1, "{:#?}", a.findings);
}

#[test]
fn a_constant_other_than_the_declared_value_is_an_error() {
    let Some(c) = compile("wrong_value") else {
        return;
    };
    let lit = |n| WriteValue::Lit(Literal::Int(n));
    let p = common::program_with_values(
        "wrong_value",
        common::PARSER_READS,
        &[("reply", lit(10)), ("TCP_BPF_IW", lit(10))],
    );
    let a = audit(&c, &p);
    let reply = undeclared_value(&a, "reply", 20);
    assert!(reply
        .sites
        .iter()
        .all(|s| insn_at(&c, &p.name, s).class() != class::JMP));
    undeclared_value(&a, "TCP_BPF_IW", 40);
    assert_eq!(a.errors(), 2, "{:#?}", a.findings);
    // The same object against the values it writes, or ranges holding them, is clean.
    let ok = common::program_with_values(
        "wrong_value",
        common::PARSER_READS,
        &[
            ("reply", lit(20)),
            ("TCP_BPF_IW", WriteValue::Range { min: 1, max: 64 }),
        ],
    );
    let a = audit(&c, &ok);
    assert_eq!(a.errors() + a.warnings(), 0, "{:#?}", a.findings);
}

#[test]
fn helper_writes_are_mapped_through_the_catalog_and_unknown_helpers_reported() {
    let Some((c, p, a)) = compile_and_audit("helper_effects", &[]) else {
        return;
    };
    let f = find(
        &a,
        |k| matches!(k, FindingKind::UnknownHelper { id: 143, name } if name == "bpf_store_hdr_opt"),
    );
    assert_at_marker(&c, &p.name, f, is_call(143));
    undeclared_write(&a, "cb_flags");
    // Declared with another flag, the constant is reported.
    let other = common::program_with_values(
        "helper_effects",
        common::PARSER_READS,
        &[("cb_flags", WriteValue::Lit(Literal::Int(1)))],
    );
    let a = audit(&c, &other);
    undeclared_value(&a, "cb_flags", 8);
    assert!(!a
        .findings
        .iter()
        .any(|f| matches!(f.kind, FindingKind::UndeclaredWrite { .. })));
}

#[test]
fn a_missing_program_is_an_error_naming_the_ones_there() {
    let Some(c) = compile("undeclared_reply") else {
        return;
    };
    let err = audit_program(
        &c.obj,
        &common::program("no_such_program", &[], &[]),
        &common::catalog(),
        &AuditOptions::default(),
    )
    .expect_err("no such program");
    assert_eq!(
        err.to_string(),
        "the object has no program `no_such_program` (programs: undeclared_reply)"
    );
    assert!(audit_program(
        b"not an elf",
        &common::program("x", &[], &[]),
        &common::catalog(),
        &AuditOptions::default()
    )
    .is_err());
}

/// `field`'s writes guarded by `op in {ops}` (catalog names) and, if
/// `also`, by a condition on another field that the audit cannot decide.
fn guarded(name: &str, field: &str, ops: &[&str], also: bool) -> Program {
    let catalog = common::catalog();
    let Some(ValueType::Enum { variants }) = catalog.readable.get("op").map(|f| f.ty.clone())
    else {
        panic!("the catalog's op is an enum");
    };
    let value = |n: &str| {
        let v = variants.iter().find(|(name, _)| name == n).map(|(_, v)| *v);
        Literal::Int(v.unwrap_or_else(|| panic!("{n} is an op")))
    };
    let op_in = Guard::In {
        operand: Operand::Field("op".into()),
        set: SetExpr::Values(ops.iter().map(|n| value(n)).collect()),
        negated: false,
    };
    let other = Guard::In {
        operand: Operand::Field("remote_ip4".into()),
        set: SetExpr::Param("prefixes".into()),
        negated: false,
    };
    let mut p = common::program(name, common::PARSER_READS, &[field]);
    p.writes[0].guard = if also {
        Guard::And(vec![op_in, other])
    } else {
        op_in
    };
    p
}

#[test]
fn a_write_at_an_op_its_guard_excludes_is_an_error() {
    let Some(c) = compile("op_outside_guard") else {
        return;
    };
    let established = [
        "BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB",
        "BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB",
    ];
    let p = guarded("op_outside_guard", "TCP_BPF_IW", &established, true);
    let a = audit(&c, &p);
    let f = find(&a, |k| matches!(k, FindingKind::WriteOutsideGuard { .. }));
    assert_eq!(
        f.kind,
        FindingKind::WriteOutsideGuard {
            field: "TCP_BPF_IW".into(),
            ops: vec!["BPF_SOCK_OPS_TCP_CONNECT_CB".into()],
        },
        "only the op the program adds is reported"
    );
    assert_eq!(f.severity, Severity::Error);
    assert_at_marker(&c, &p.name, f, is_call(49));
    assert_eq!(a.errors(), 1, "{:#?}", a.findings);

    // A guard that allows only one established op: the other one too.
    let one = guarded("op_outside_guard", "TCP_BPF_IW", &established[..1], false);
    let a = audit(&c, &one);
    let f = find(&a, |k| matches!(k, FindingKind::WriteOutsideGuard { .. }));
    assert_eq!(
        f.kind,
        FindingKind::WriteOutsideGuard {
            field: "TCP_BPF_IW".into(),
            ops: vec![
                "BPF_SOCK_OPS_TCP_CONNECT_CB".into(),
                "BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB".into()
            ],
        }
    );

    // Declared with the op it writes at, the object is clean.
    let all = [
        established[0],
        established[1],
        "BPF_SOCK_OPS_TCP_CONNECT_CB",
    ];
    let ok = audit(&c, &guarded("op_outside_guard", "TCP_BPF_IW", &all, true));
    assert_eq!(ok.errors(), 0, "{:#?}", ok.findings);
}

/// `params` as the config layout puts them (scalars, u64 each).
fn layout(params: &[&str]) -> Vec<ConfigSlot> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| ConfigSlot {
            param: p.to_string(),
            offset: 8 * i as i64,
        })
        .collect()
}

#[test]
fn a_write_from_another_config_param_than_declared_is_an_error() {
    let Some(c) = compile("wrong_param") else {
        return;
    };
    let p = common::program_with_values(
        "wrong_param",
        common::PARSER_READS,
        &[("TCP_BPF_IW", WriteValue::Param("iw".into()))],
    );
    let opts = AuditOptions {
        config: layout(&["iw", "clamp"]),
        ..AuditOptions::default()
    };
    let a = audit_program(&c.obj, &p, &common::catalog(), &opts).expect("audits");
    let f = find(&a, |k| matches!(k, FindingKind::UndeclaredParam { .. }));
    assert_eq!(
        f.kind,
        FindingKind::UndeclaredParam {
            field: "TCP_BPF_IW".into(),
            param: Some("clamp".into()),
            offset: 8,
        }
    );
    assert!(
        f.message.contains("but the spec declares $iw"),
        "{}",
        f.message
    );
    assert_at_marker(&c, &p.name, f, is_call(49));
    assert_eq!(a.errors(), 1, "{:#?}", a.findings);

    // Declared as `$clamp`, it is clean; without a layout, not checked.
    let clamp = common::program_with_values(
        "wrong_param",
        common::PARSER_READS,
        &[("TCP_BPF_IW", WriteValue::Param("clamp".into()))],
    );
    let ok = audit_program(&c.obj, &clamp, &common::catalog(), &opts).expect("audits");
    assert_eq!(ok.errors(), 0, "{:#?}", ok.findings);
    let unchecked = audit(&c, &p);
    assert_eq!(unchecked.errors(), 0, "{:#?}", unchecked.findings);
}

#[test]
fn the_sdk_reference_feature_writes_its_declared_param() {
    // init_cwnd as shipped, against its spec, with `iw` moved in the
    // layout: the write from offset 0 no longer matches `$iw`.
    let Some(clang) = common::clang() else {
        return;
    };
    let root = common::repo_root();
    let dir = common::TempDir::new("init_cwnd_param");
    let obj = common::compile(&clang, &root.join("ebpf/features/init_cwnd.bpf.c"), &dir.0);
    let feature = composer::load::load_feature_spec(
        &root.join("specs/features/init_cwnd.yaml"),
        &common::catalog(),
    )
    .expect("the spec loads");
    let p = &feature.programs[0];
    let opts = AuditOptions::for_program(&feature, p);
    assert_eq!(opts.config, layout(&["iw"]));
    let a = audit_program(&obj, p, &common::catalog(), &opts).expect("audits");
    assert_eq!(a.errors(), 0, "{:#?}", a.findings);

    let moved = AuditOptions {
        config: vec![ConfigSlot {
            param: "iw".into(),
            offset: 8,
        }],
        ..opts
    };
    let a = audit_program(&obj, p, &common::catalog(), &moved).expect("audits");
    let f = find(&a, |k| matches!(k, FindingKind::UndeclaredParam { .. }));
    assert_eq!(
        f.kind,
        FindingKind::UndeclaredParam {
            field: "TCP_BPF_IW".into(),
            param: None,
            offset: 0,
        }
    );
}

#[test]
fn human_and_json_reports() {
    let Some(c) = compile("undeclared_setsockopt") else {
        return;
    };
    let p = common::program(
        "undeclared_setsockopt",
        common::PARSER_READS,
        &["SO_RCVBUF"],
    );
    let fa = report::FeatureAudit {
        feature: "undeclared_setsockopt".into(),
        spec: "composer/tests/audit/undeclared_setsockopt.yaml".into(),
        programs: vec![report::AuditedProgram {
            program: p.name.clone(),
            object: "file:undeclared_setsockopt.bpf.o".into(),
            audit: Some(audit(&c, &p)),
            error: None,
        }],
    };
    insta::assert_snapshot!("undeclared_setsockopt_human", report::human(&fa));
    let json: serde_json::Value =
        serde_json::from_str(&report::json(std::slice::from_ref(&fa))).expect("valid JSON");
    assert_eq!(json["clean"], false);
    assert_eq!(json["errors"], 1);
    let f = &json["features"][0]["programs"][0]["audit"]["findings"][0];
    assert_eq!(f["kind"], "undeclared_write");
    assert_eq!(f["field"], "TCP_BPF_IW");
    assert_eq!(f["severity"], "error");
    assert!(f["sites"][0]["insn"].is_u64());
    assert!(f["sites"][0]["line"]["line"].is_u64());
}
