//! Same-field conflicts, overrides and invariants, on compositions built in
//! code. Every witness is re-evaluated with `composer::eval`, not only
//! compared.

use composer::check::{check, check_traced, CheckOptions, CheckTrace};
use composer::eval::{guard_holds, parse_ipv4};
use composer::ir::{Cidr4, CmpOp, Composition, Literal, WriteValue};
use composer::outcome::{CheckOutcome, Conflict, EdgeReason, Witness};
use composer::testing::*;

fn run(c: &Composition) -> CheckOutcome {
    let out = check(c, &CheckOptions::default());
    let confirmed = confirm_outcome(c, &out);
    assert!(confirmed.is_ok(), "witness does not hold: {confirmed:?}");
    out
}

/// The check with default options, and its trace (no SMT dump).
fn traced(c: &Composition) -> (CheckOutcome, CheckTrace) {
    check_traced(c, &CheckOptions::default(), false)
}

/// `wide` (IW 40 for 10.0.0.0/8) and `narrow` (IW 10 for 10.1.0.0/16), both
/// on the active side: one same-field conflict.
fn wide_and_narrow(name: &str) -> Composition {
    CompositionBuilder::new(name)
        .feature(FeatureBuilder::new("wide").write(
            "TCP_BPF_IW",
            lit(40),
            and([active(), ip_in("remote_ip4", "10.0.0.0/8")]),
        ))
        .feature(FeatureBuilder::new("narrow").write(
            "TCP_BPF_IW",
            lit(10),
            and([active(), ip_in("remote_ip4", "10.1.0.0/16")]),
        ))
        .build()
}

fn same_field(out: &CheckOutcome) -> Vec<(&str, String, String, &Witness)> {
    out.conflicts
        .iter()
        .filter_map(|c| match c {
            Conflict::SameField {
                field,
                a,
                b,
                witness,
            } => Some((field.as_str(), a.to_string(), b.to_string(), witness)),
            Conflict::Invariant { .. } | Conflict::AcrossCallbacks { .. } => None,
        })
        .collect()
}

fn ip(w: &Witness, field: &str) -> u32 {
    match w.connection.get(field).map(|v| &v.raw) {
        Some(Literal::Int(v)) => *v as u32,
        other => panic!("no {field} in witness: {other:?}"),
    }
}

fn active() -> composer::ir::Guard {
    op("ACTIVE_ESTABLISHED_CB")
}

#[test]
fn disjoint_ops_are_safe_without_a_query() {
    let c = CompositionBuilder::new("disjoint")
        .feature(FeatureBuilder::new("a").write("TCP_BPF_IW", lit(40), active()))
        .feature(FeatureBuilder::new("b").write(
            "TCP_BPF_IW",
            lit(10),
            op("PASSIVE_ESTABLISHED_CB"),
        ))
        .build();
    let (out, trace) = traced(&c);
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(trace.stats.same_field_candidates, 1);
    assert_eq!(trace.stats.same_field_disjoint, 1);
    assert_eq!(trace.stats.solver.queries, 0);
}

#[test]
fn overlapping_cidrs_with_different_values_conflict() {
    let c = wide_and_narrow("cidrs");
    let out = run(&c);
    let conflicts = same_field(&out);
    assert_eq!(conflicts.len(), 1, "{out:#?}");
    let (field, a, b, w) = conflicts[0].clone();
    assert_eq!(
        (field, a.as_str(), b.as_str()),
        ("TCP_BPF_IW", "wide", "narrow")
    );
    let addr = ip(w, "remote_ip4");
    assert!(Cidr4 {
        addr: 0x0a01_0000,
        len: 16
    }
    .contains(addr));
    assert!(Cidr4 {
        addr: 0x0a00_0000,
        len: 8
    }
    .contains(addr));
    assert_eq!(
        w.connection["op"].display,
        "BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB"
    );
    assert_eq!(parse_ipv4(&w.connection["remote_ip4"].display), Some(addr));
    assert_eq!(w.written["wide"].display, "40");
    assert_eq!(w.written["narrow"].display, "10");
    // Both guards, evaluated directly on the witness.
    for f in &c.features {
        assert!(guard_holds(&f.programs[0].writes[0].guard, f, w).unwrap_or(false));
    }
    assert!(!out.is_safe());
}

#[test]
fn a_box_overlap_that_the_solver_refutes_is_safe() {
    // The pre-filter joins the two arms of `||` and sees an overlap; z3 does not.
    let c = CompositionBuilder::new("imprecise")
        .feature(FeatureBuilder::new("a").write(
            "TCP_BPF_IW",
            lit(40),
            and([
                ip_in("remote_ip4", "10.0.0.0/8"),
                field_cmp("remote_port", CmpOp::Eq, 443),
            ]),
        ))
        .feature(FeatureBuilder::new("b").write(
            "TCP_BPF_IW",
            lit(10),
            or([
                and([
                    ip_in("remote_ip4", "10.1.0.0/16"),
                    field_cmp("remote_port", CmpOp::Eq, 80),
                ]),
                and([
                    ip_in("remote_ip4", "192.168.0.0/16"),
                    field_cmp("remote_port", CmpOp::Eq, 443),
                ]),
            ]),
        ))
        .build();
    let (out, trace) = traced(&c);
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(trace.stats.same_field_overlapping, 1);
    assert_eq!(trace.stats.solver.unsat, 1);
}

#[test]
fn equal_values_never_conflict() {
    let c = CompositionBuilder::new("equal")
        .feature(FeatureBuilder::new("a").write("TCP_BPF_IW", lit(40), active()))
        .feature(FeatureBuilder::new("b").write("TCP_BPF_IW", lit(40), Guard::True))
        .feature(FeatureBuilder::new("c").param_u32("iw", 1, 1024, 40).write(
            "TCP_BPF_IW",
            param("iw"),
            active(),
        ))
        .feature(FeatureBuilder::new("d").write("TCP_CONGESTION", lit_str("bbr"), active()))
        .feature(FeatureBuilder::new("e").param_str("cc", "bbr").write(
            "TCP_CONGESTION",
            param("cc"),
            Guard::True,
        ))
        .build();
    let (out, trace) = traced(&c);
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(trace.stats.same_field_candidates, 4);
    assert_eq!(trace.stats.same_field_equal_values, 4);
}

use composer::ir::Guard;

#[test]
fn strings_conflict_by_name() {
    let c = CompositionBuilder::new("cc")
        .feature(FeatureBuilder::new("a").write("TCP_CONGESTION", lit_str("bbr"), active()))
        .feature(FeatureBuilder::new("b").param_str("cc", "cubic").write(
            "TCP_CONGESTION",
            param("cc"),
            in_values("remote_port", &[443]),
        ))
        .build();
    let out = run(&c);
    let conflicts = same_field(&out);
    assert_eq!(conflicts.len(), 1, "{out:#?}");
    let w = conflicts[0].3;
    assert_eq!(w.written["a"].display, "bbr");
    assert_eq!(w.written["b"].display, "cubic");
    assert_eq!(w.connection["remote_port"].display, "443");
    assert_eq!(w.config["b.cc"].display, "cubic");
}

#[test]
fn ranges_conflict_when_the_solver_can_pick_different_values() {
    let build = |a: WriteValue, b: WriteValue| {
        CompositionBuilder::new("ranges")
            .feature(FeatureBuilder::new("a").write("SO_RCVBUF", a, active()))
            .feature(FeatureBuilder::new("b").write("SO_RCVBUF", b, active()))
            .build()
    };
    // A range against a literal inside it: the range may pick another value.
    let c = build(range(10, 20), lit(15));
    let out = run(&c);
    let conflicts = same_field(&out);
    assert_eq!(conflicts.len(), 1, "{out:#?}");
    let written = &conflicts[0].3.written;
    let Literal::Int(x) = written["a"].raw else {
        panic!("{written:?}")
    };
    assert!((10..=20).contains(&x) && x != 15, "{written:?}");
    // A one-value range is that value.
    assert!(run(&build(range(15, 15), lit(15))).is_safe());
    // Two ranges overlap in values: still a conflict (they may differ).
    assert_eq!(same_field(&run(&build(range(1, 5), range(5, 9)))).len(), 1);
    // A literal outside the range: every pair differs.
    assert_eq!(same_field(&run(&build(range(1, 5), lit(100)))).len(), 1);
}

#[test]
fn reply_conflicts_only_on_the_same_op() {
    let c = CompositionBuilder::new("reply")
        .feature(FeatureBuilder::new("syn_rto").write("reply", lit(10), op("TIMEOUT_INIT")))
        .feature(FeatureBuilder::new("rwnd").write("reply", lit(40), op("RWND_INIT")))
        .feature(FeatureBuilder::new("fast_rto").write(
            "reply",
            lit(3),
            and([op("TIMEOUT_INIT"), field_cmp("remote_port", CmpOp::Eq, 443)]),
        ))
        .build();
    let out = run(&c);
    let conflicts = same_field(&out);
    assert_eq!(conflicts.len(), 1, "{out:#?}");
    assert_eq!(
        (conflicts[0].1.as_str(), conflicts[0].2.as_str()),
        ("syn_rto", "fast_rto")
    );
    assert_eq!(
        conflicts[0].3.connection["op"].display,
        "BPF_SOCK_OPS_TIMEOUT_INIT"
    );
}

#[test]
fn cb_flags_assignments_conflict_and_or_updates_combine() {
    // bpf_sock_ops_cb_flags_set assigns: two members' own flags replace
    // each other.
    let c = CompositionBuilder::new("flags")
        .feature(FeatureBuilder::new("a").write("cb_flags", lit(1), Guard::True))
        .feature(FeatureBuilder::new("b").write("cb_flags", lit(4), Guard::True))
        .build();
    assert_eq!(same_field(&run(&c)).len(), 1);
    // Read-modify-writes combine, and never need a query.
    let c = CompositionBuilder::new("flags")
        .feature(FeatureBuilder::new("a").write_or("cb_flags", lit(1), Guard::True))
        .feature(FeatureBuilder::new("b").write_or("cb_flags", lit(4), Guard::True))
        .build();
    let (out, trace) = traced(&c);
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(trace.stats.same_field_candidates, 0);
    assert!(out.edges.is_empty(), "{:?}", out.edges);
}

#[test]
fn one_member_never_conflicts_with_itself() {
    let c = CompositionBuilder::new("self")
        .feature(
            FeatureBuilder::new("a")
                .write("TCP_BPF_IW", lit(40), active())
                .write("TCP_BPF_IW", lit(10), Guard::True),
        )
        .build();
    assert!(run(&c).is_safe());
}

#[test]
fn resolve_turns_a_conflict_into_an_ordered_override() {
    let c = CompositionBuilder::new("resolved")
        .feature(FeatureBuilder::new("alpha").write("TCP_BPF_IW", lit(40), active()))
        .feature(FeatureBuilder::new("beta").write("TCP_BPF_IW", lit(10), Guard::True))
        .resolve("TCP_BPF_IW", "alpha")
        .build();
    let out = run(&c);
    assert!(out.conflicts.is_empty(), "{out:#?}");
    assert_eq!(out.overrides.len(), 1);
    let o = &out.overrides[0];
    assert_eq!(
        (o.winner.to_string(), o.loser.to_string()),
        ("alpha".into(), "beta".into())
    );
    assert_eq!(out.edges.len(), 1);
    assert_eq!(out.edges[0].first.feature, "beta");
    assert_eq!(out.edges[0].then.feature, "alpha");
    assert_eq!(
        out.edges[0].reason,
        EdgeReason::Resolve {
            field: "TCP_BPF_IW".into()
        }
    );
    // The preferred feature runs last although its name sorts first.
    let order: Vec<String> = out
        .order
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert_eq!(order, ["beta", "alpha"]);
    assert!(out.is_safe());
    // A resolve for another field changes nothing.
    let mut other = c.clone();
    other.resolves[0].field = "SO_MARK".into();
    assert_eq!(same_field(&run(&other)).len(), 1);
}

#[test]
fn invariant_iw_above_clamp_is_a_conflict() {
    let build = |iw: u64| {
        CompositionBuilder::new("inv")
            .feature(FeatureBuilder::new("iw").write("TCP_BPF_IW", lit(iw), active()))
            .feature(FeatureBuilder::new("clamp").write(
                "TCP_BPF_SNDCWND_CLAMP",
                lit(50),
                ip_in("remote_ip4", "10.0.0.0/8"),
            ))
            .build()
    };
    let out = run(&build(100));
    assert_eq!(out.conflicts.len(), 1, "{out:#?}");
    let Conflict::Invariant {
        invariant,
        lhs_writer,
        rhs_writer,
        witness,
    } = &out.conflicts[0]
    else {
        panic!("{out:#?}")
    };
    assert_eq!(invariant, "iw_within_cwnd_clamp");
    assert_eq!(
        (lhs_writer.to_string(), rhs_writer.to_string()),
        ("iw".into(), "clamp".into())
    );
    assert_eq!(witness.written["iw:TCP_BPF_IW"].display, "100");
    assert_eq!(witness.written["clamp:TCP_BPF_SNDCWND_CLAMP"].display, "50");
    let (out, trace) = traced(&build(10));
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(trace.stats.invariant_candidates, 1);
    assert_eq!(
        trace.stats.invariant_queries, 0,
        "decided from the values alone"
    );
}

#[test]
fn invariant_within_one_member_and_with_ranges() {
    let c = CompositionBuilder::new("inv-self")
        .feature(
            FeatureBuilder::new("both")
                .write("TCP_BPF_IW", range(40, 80), active())
                .write("TCP_BPF_SNDCWND_CLAMP", lit(60), Guard::True),
        )
        .build();
    let out = run(&c);
    assert_eq!(out.conflicts.len(), 1, "{out:#?}");
    let Conflict::Invariant { witness, .. } = &out.conflicts[0] else {
        panic!("{out:#?}")
    };
    let Literal::Int(iw) = witness.written["both:TCP_BPF_IW"].raw else {
        panic!("{witness:?}")
    };
    assert!(iw > 60 && iw <= 80, "{witness:?}");
}

#[test]
fn an_unknown_field_is_an_unknown_check_not_a_panic() {
    let c = CompositionBuilder::new("bad")
        .feature(FeatureBuilder::new("a").write(
            "TCP_BPF_IW",
            lit(1),
            field_cmp("nope", CmpOp::Eq, 1),
        ))
        .feature(FeatureBuilder::new("b").write("TCP_BPF_IW", lit(2), Guard::True))
        .feature(FeatureBuilder::new("c").write("NOT_A_FIELD", lit(2), Guard::True))
        .build();
    let out = check(&c, &CheckOptions::default());
    assert_eq!(out.unknown.len(), 2, "{out:#?}");
    assert!(
        out.unknown.iter().any(|u| u.reason.contains("nope")),
        "{out:#?}"
    );
    assert!(
        out.unknown.iter().any(|u| u.reason.contains("NOT_A_FIELD")),
        "{out:#?}"
    );
    assert!(!out.is_safe());
}

#[test]
fn a_tampered_witness_is_rejected_by_eval() {
    use composer::eval::{confirm, EvalError};
    use composer::outcome::WitnessValue;
    let c = wide_and_narrow("tamper");
    let out = run(&c);
    let Some(Conflict::SameField {
        field,
        a,
        b,
        witness,
    }) = out.conflicts.first().cloned()
    else {
        panic!("{out:#?}")
    };
    let rebuild = |w: Witness| Conflict::SameField {
        field: field.clone(),
        a: a.clone(),
        b: b.clone(),
        witness: w,
    };
    assert_eq!(confirm(&c, &rebuild(witness.clone())), Ok(()));
    // An address outside the narrow prefix: that write does not happen.
    let mut w = witness.clone();
    w.connection.insert(
        "remote_ip4".into(),
        WitnessValue {
            raw: Literal::Int(0x0a02_0000),
            display: "10.2.0.0".into(),
        },
    );
    assert!(matches!(
        confirm(&c, &rebuild(w)),
        Err(EvalError::WriteNotShown { .. })
    ));
    // The same value on both sides is no conflict.
    let mut w = witness.clone();
    let same = w.written["wide"].clone();
    w.written.insert("narrow".into(), same);
    assert!(confirm(&c, &rebuild(w)).is_err());
    // A missing field is an error, not a pass.
    let mut w = witness;
    w.connection.remove("op");
    assert_eq!(
        confirm(&c, &rebuild(w)),
        Err(EvalError::MissingField { field: "op".into() })
    );
}
