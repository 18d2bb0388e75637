//! `--any-config`, solver trouble (timeouts), the SMT-LIB dump, and
//! witnesses on larger synthetic compositions.

use composer::check::{check, check_traced, CheckOptions};
use composer::eval::{guard_holds, parse_cidr_set};
use composer::ir::{CmpOp, Composition, Guard, Literal};
use composer::outcome::{CheckOutcome, Conflict, Witness};
use composer::testing::*;

const ANY: CheckOptions = CheckOptions {
    any_config: true,
    timeout_ms: 5000,
};

fn run(c: &Composition, opts: &CheckOptions) -> CheckOutcome {
    let out = check(c, opts);
    let confirmed = confirm_outcome(c, &out);
    assert!(confirmed.is_ok(), "witness does not hold: {confirmed:?}");
    out
}

fn witness(out: &CheckOutcome) -> &Witness {
    match out.conflicts.first() {
        Some(
            Conflict::SameField { witness, .. }
            | Conflict::Invariant { witness, .. }
            | Conflict::AcrossCallbacks { witness, .. },
        ) => witness,
        None => panic!("no conflict: {out:#?}"),
    }
}

#[test]
fn equal_deployed_params_are_safe_but_not_for_every_config() {
    let c = CompositionBuilder::new("iw-params")
        .feature(FeatureBuilder::new("a").param_u32("iw", 1, 1024, 40).write(
            "TCP_BPF_IW",
            param("iw"),
            op("ACTIVE_ESTABLISHED_CB"),
        ))
        .feature(FeatureBuilder::new("b").param_u32("iw", 1, 1024, 40).write(
            "TCP_BPF_IW",
            param("iw"),
            ip_in("remote_ip4", "10.0.0.0/8"),
        ))
        .build();
    assert!(run(&c, &CheckOptions::default()).is_safe());
    let out = run(&c, &ANY);
    assert!(out.any_config);
    assert_eq!(out.conflicts.len(), 1, "{out:#?}");
    let w = witness(&out);
    let (a, b) = (&w.config["a.iw"].raw, &w.config["b.iw"].raw);
    assert_ne!(a, b);
    for v in [a, b] {
        let Literal::Int(v) = v else { panic!("{w:?}") };
        assert!((1..=1024).contains(v), "param out of its bounds: {w:?}");
    }
}

#[test]
fn free_set_params_can_overlap() {
    let c = CompositionBuilder::new("sets")
        .feature(
            FeatureBuilder::new("a")
                .param_cidrs("prefixes", &["10.0.0.0/8"])
                .write(
                    "TCP_BPF_IW",
                    lit(40),
                    in_param("remote_ip4", "prefixes", false),
                ),
        )
        .feature(
            FeatureBuilder::new("b")
                .param_cidrs("nets", &["192.168.0.0/16"])
                .param_ports("ports", &[443])
                .write(
                    "TCP_BPF_IW",
                    lit(10),
                    and([
                        in_param("remote_ip4", "nets", false),
                        in_param("remote_port", "ports", true),
                    ]),
                ),
        )
        .build();
    assert!(run(&c, &CheckOptions::default()).is_safe());
    let out = run(&c, &ANY);
    let w = witness(&out);
    let ip = match w.connection["remote_ip4"].raw {
        Literal::Int(v) => v as u32,
        _ => panic!("{w:?}"),
    };
    for key in ["a.prefixes", "b.nets"] {
        let set = parse_cidr_set(&w.config[key].display).unwrap_or_default();
        assert!(
            set.iter().any(|c| c.contains(ip)),
            "{key} must hold the witness address: {w:?}"
        );
    }
    // The port must be outside b's free port set.
    assert!(w.config.contains_key("b.ports"), "{w:?}");
    let b = &c.features[1];
    assert!(guard_holds(&b.programs[0].writes[0].guard, b, w).unwrap_or(false));
}

#[test]
fn free_string_params_and_enum_params() {
    let c = CompositionBuilder::new("cc-any")
        .feature(FeatureBuilder::new("a").param_str("cc", "bbr").write(
            "TCP_CONGESTION",
            param("cc"),
            Guard::True,
        ))
        .feature(FeatureBuilder::new("b").write("TCP_CONGESTION", lit_str("bbr"), Guard::True))
        .build();
    assert!(run(&c, &CheckOptions::default()).is_safe());
    let out = run(&c, &ANY);
    let w = witness(&out);
    assert_ne!(w.written["a"].display, "bbr", "{w:?}");
    assert_eq!(w.written["a"].raw, w.config["a.cc"].raw);
}

#[test]
fn a_guard_on_a_param_is_checked_for_every_value_of_it() {
    // `remote_port == $port` with a deployed 443 is disjoint from port 80;
    // any config may pick 80.
    let c = CompositionBuilder::new("port-param")
        .feature(
            FeatureBuilder::new("a")
                .param_scalar("port", composer::ir::ValueType::U16, Literal::Int(443))
                .write(
                    "SO_MARK",
                    lit(1),
                    field_cmp_param("remote_port", CmpOp::Eq, "port"),
                ),
        )
        .feature(FeatureBuilder::new("b").write(
            "SO_MARK",
            lit(2),
            field_cmp("remote_port", CmpOp::Eq, 80),
        ))
        .build();
    assert!(run(&c, &CheckOptions::default()).is_safe());
    let out = run(&c, &ANY);
    assert_eq!(witness(&out).config["a.port"].display, "80");
}

/// Pigeonhole: 20 params in 0..=18, pairwise different. Unsatisfiable, and
/// far beyond what a bit-blasting solver proves in any reasonable time.
fn pigeonhole() -> Composition {
    let n = 20;
    let mut f = FeatureBuilder::new("hard");
    let mut g = Vec::new();
    for i in 0..n {
        f = f.param_u32(&format!("p{i}"), 0, 18, 0);
        for j in 0..i {
            g.push(param_cmp(&format!("p{i}"), CmpOp::Ne, &format!("p{j}")));
        }
    }
    CompositionBuilder::new("hard")
        .feature(f.write("SO_MARK", lit(1), and(g)))
        .feature(FeatureBuilder::new("easy").write("SO_MARK", lit(2), Guard::True))
        .build()
}

#[test]
fn a_timeout_is_unknown_not_a_panic() {
    let opts = CheckOptions {
        any_config: true,
        timeout_ms: 1,
    };
    let (out, trace) = check_traced(&pigeonhole(), &opts, false);
    assert!(out.conflicts.is_empty(), "{out:#?}");
    assert_eq!(out.unknown.len(), 1, "{out:#?}");
    assert!(
        out.unknown[0].what.contains("SO_MARK"),
        "{:?}",
        out.unknown[0]
    );
    assert!(
        out.unknown[0].reason.starts_with("timed out after 1 ms"),
        "{:?}",
        out.unknown[0]
    );
    assert_eq!(trace.stats.solver.unknown, 1);
    assert!(!out.is_safe());
}

#[test]
fn every_query_can_be_dumped_as_smt_lib() {
    let c = CompositionBuilder::new("dump")
        .feature(
            FeatureBuilder::new("a")
                .param_cidrs("prefixes", &["10.0.0.0/8"])
                .write(
                    "TCP_BPF_IW",
                    lit(40),
                    in_param("remote_ip4", "prefixes", false),
                ),
        )
        // `||` over two fields: not exact, so z3 decides even by default.
        .feature(FeatureBuilder::new("b").write(
            "TCP_BPF_IW",
            range(10, 20),
            or([
                op("ACTIVE_ESTABLISHED_CB"),
                field_cmp("remote_port", CmpOp::Eq, 443),
            ]),
        ))
        .build();
    for opts in [CheckOptions::default(), ANY] {
        let (out, trace) = check_traced(&c, &opts, true);
        assert_eq!(out.conflicts.len(), 1);
        assert_eq!(trace.queries.len() as u64, trace.stats.solver.queries);
        let q = &trace.queries[0];
        assert_eq!(q.answer, "sat");
        assert!(q.smt2.starts_with("; TCP_BPF_IW: a vs b\n"), "{}", q.smt2);
        assert!(
            q.smt2
                .contains("(declare-const |remote_ip4| (_ BitVec 32))"),
            "{}",
            q.smt2
        );
        assert!(q.smt2.contains("(check-sat)"), "{}", q.smt2);
        if opts.any_config {
            assert!(
                q.smt2
                    .contains("(declare-fun |set.a.prefixes| ((_ BitVec 32)) Bool)"),
                "{}",
                q.smt2
            );
        }
        // Replays in a fresh z3 solver with the same answer.
        let solver = z3::Solver::new();
        solver.from_string(q.smt2.replace("(check-sat)\n(get-model)\n", ""));
        assert_eq!(solver.check(), z3::SatResult::Sat, "{}", q.smt2);
    }
    let (_, quiet) = check_traced(&c, &CheckOptions::default(), false);
    assert!(quiet.queries.is_empty());
    // With a dump, even pairs the fast path would decide become queries.
    let exact = CompositionBuilder::new("exact")
        .feature(FeatureBuilder::new("a").write("SO_MARK", lit(1), op("ACTIVE_ESTABLISHED_CB")))
        .feature(FeatureBuilder::new("b").write("SO_MARK", lit(2), Guard::True))
        .build();
    let (out, trace) = check_traced(&exact, &CheckOptions::default(), true);
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(trace.queries.len(), 1);
    assert_eq!(trace.stats.decided_exactly, 0);
}

#[test]
fn synthetic_witnesses_all_hold() {
    for seed in 1..=3 {
        let c = synthetic(80, seed);
        for opts in [CheckOptions::default(), ANY] {
            let (out, trace) = check_traced(&c, &opts, false);
            let n = confirm_outcome(&c, &out);
            assert!(n.is_ok(), "seed {seed}: {n:?}");
            assert!(out.unknown.is_empty(), "seed {seed}: {:?}", out.unknown);
            assert!(
                !out.conflicts.is_empty(),
                "seed {seed}: expected some conflicts"
            );
            let s = &trace.stats;
            assert!(
                (s.solver.sat + s.decided_exactly) as usize
                    >= out.conflicts.len() + out.overrides.len()
            );
            assert!(trace.stats.same_field_disjoint > trace.stats.same_field_overlapping);
            // 80 members is over the chain limit.
            assert_eq!(out.limits.len(), 1);
        }
    }
}

/// The conflicts, overrides and edges of an outcome, without witnesses.
fn shape(out: &CheckOutcome) -> (Vec<String>, Vec<String>, Vec<String>) {
    let conflicts = out
        .conflicts
        .iter()
        .map(|c| match c {
            Conflict::SameField { field, a, b, .. } => format!("{field} {a} {b}"),
            Conflict::AcrossCallbacks {
                field, first, then, ..
            } => format!("{field} {first} then {then}"),
            Conflict::Invariant {
                invariant,
                lhs_writer,
                rhs_writer,
                ..
            } => format!("{invariant} {lhs_writer} {rhs_writer}"),
        })
        .collect();
    let overrides = out
        .overrides
        .iter()
        .map(|o| format!("{} {} {}", o.field, o.winner, o.loser))
        .collect();
    let edges = out
        .edges
        .iter()
        .map(|e| format!("{} {} {:?}", e.first, e.then, e.reason))
        .collect();
    (conflicts, overrides, edges)
}

#[test]
fn the_exact_fast_path_agrees_with_z3() {
    use composer::check::{check_with, Tuning};
    let with = Tuning::default();
    let without = Tuning {
        exact_fast_path: false,
        ..Tuning::default()
    };
    for seed in 4..=6 {
        let mut c = synthetic(150, seed);
        c.resolves.push(composer::ir::Resolve {
            field: "TCP_BPF_IW".into(),
            prefer: "f00003".into(),
            span: None,
        });
        for opts in [CheckOptions::default(), ANY] {
            let (fast, fast_trace) = check_with(&c, &opts, &with);
            let (slow, slow_trace) = check_with(&c, &opts, &without);
            assert_eq!(shape(&fast), shape(&slow), "seed {seed}, {opts:?}");
            assert_eq!(fast.order, slow.order, "seed {seed}");
            assert!(confirm_outcome(&c, &fast).is_ok(), "seed {seed}");
            assert!(confirm_outcome(&c, &slow).is_ok(), "seed {seed}");
            assert_eq!(slow_trace.stats.decided_exactly, 0);
            if !opts.any_config {
                assert!(
                    fast_trace.stats.decided_exactly > 0
                        && fast_trace.stats.solver.queries < slow_trace.stats.solver.queries,
                    "seed {seed}: {:?} vs {:?}",
                    fast_trace.stats,
                    slow_trace.stats
                );
            }
        }
    }
}

#[test]
fn checks_on_parallel_threads_with_timeouts_all_finish() {
    // z3 4.8.12's own timer pool deadlocks under concurrent use; the
    // solver's watchdog must not. Fail (instead of hanging) after a minute.
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..4u64 {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for round in 0..3u64 {
                let hard = check(
                    &pigeonhole(),
                    &CheckOptions {
                        any_config: true,
                        timeout_ms: 1 + round as u32,
                    },
                );
                let easy = check(&synthetic(40, t * 10 + round), &CheckOptions::default());
                let _ = tx.send((hard.unknown.len(), easy.unknown.len()));
            }
        });
    }
    drop(tx);
    for _ in 0..12 {
        let got = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(got, Ok((1, 0)), "a check hung or gave the wrong answer");
    }
}

#[test]
fn a_prover_without_a_run_watchdog_still_times_out() {
    use composer::outcome::Verdict;
    use composer::solver::{Prover, Side};
    let c = pigeonhole();
    let field = &c.catalog.writable["SO_MARK"];
    let side = |i: usize| Side {
        site: i,
        member: i,
        feature: &c.features[i],
        field,
        write: &c.features[i].programs[0].writes[0],
    };
    let mut prover = Prover::new(&c, true, 1, None, false);
    let verdict = prover.same_field(
        "hard vs easy",
        &side(0),
        &side(1),
        ["a".into(), "b".into()],
        None,
    );
    match verdict {
        Verdict::Unknown { reason } => {
            assert!(reason.starts_with("timed out after 1 ms"), "{reason}")
        }
        v => panic!("expected a timeout, got {v:?}"),
    }
    assert_eq!(prover.stats.unknown, 1);
}
