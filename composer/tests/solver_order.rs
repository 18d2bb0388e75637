//! Order edges (reads, after/before, resolve), the deterministic order,
//! cycles, and the chain-length limit.

use composer::check::{check, CheckOptions};
use composer::ir::{Composition, Guard};
use composer::order::render_cycle;
use composer::outcome::{CheckOutcome, EdgeReason};
use composer::testing::*;

fn run(c: &Composition) -> CheckOutcome {
    check(c, &CheckOptions::default())
}

fn order(out: &CheckOutcome) -> Vec<String> {
    out.order
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect()
}

fn edges(out: &CheckOutcome) -> Vec<(String, String, EdgeReason)> {
    out.edges
        .iter()
        .map(|e| (e.first.to_string(), e.then.to_string(), e.reason.clone()))
        .collect()
}

fn reads(field: &str) -> EdgeReason {
    EdgeReason::ReadsWrite {
        field: field.into(),
    }
}

#[test]
fn a_reader_runs_after_the_writer_of_what_it_reads() {
    let active = || op("ACTIVE_ESTABLISHED_CB");
    let c = CompositionBuilder::new("reads")
        // Sorts last by name, but must run first.
        .feature(FeatureBuilder::new("zz_cc").write("TCP_CONGESTION", lit_str("bbr"), active()))
        .feature(
            FeatureBuilder::new("aa_iw")
                .reads(&["op", "TCP_CONGESTION"])
                .write("TCP_BPF_IW", lit(40), active()),
        )
        // Reads it too, but acts only on passive connections: no edge.
        .feature(
            FeatureBuilder::new("bb_passive")
                .reads(&["TCP_CONGESTION"])
                .write("SO_MARK", lit(7), op("PASSIVE_ESTABLISHED_CB")),
        )
        // Reads it and writes nothing: it may read on any event.
        .feature(FeatureBuilder::new("cc_observer").reads(&["TCP_CONGESTION"]))
        .build();
    let out = run(&c);
    assert!(out.is_safe(), "{out:#?}");
    assert_eq!(
        edges(&out),
        vec![
            ("zz_cc".into(), "aa_iw".into(), reads("TCP_CONGESTION")),
            (
                "zz_cc".into(),
                "cc_observer".into(),
                reads("TCP_CONGESTION")
            ),
        ]
    );
    assert_eq!(order(&out), ["bb_passive", "zz_cc", "aa_iw", "cc_observer"]);
}

#[test]
fn after_and_before_cover_every_program_pair() {
    let c = CompositionBuilder::new("declared")
        .feature(
            FeatureBuilder::new("a")
                .program("p1")
                .write("SO_MARK", lit(1), Guard::True)
                .program("p2")
                .write("SO_PRIORITY", lit(1), Guard::True),
        )
        .feature(FeatureBuilder::new("b").after("a"))
        .feature(FeatureBuilder::new("c").before("a").after("not_deployed"))
        .build();
    let out = run(&c);
    assert!(out.is_safe(), "{out:#?}");
    let declared: Vec<(String, String)> = edges(&out)
        .into_iter()
        .filter(|(_, _, r)| *r == EdgeReason::Declared)
        .map(|(a, b, _)| (a, b))
        .collect();
    assert_eq!(
        declared,
        vec![
            ("a/p1".into(), "b".into()),
            ("a/p2".into(), "b".into()),
            ("c".into(), "a/p1".into()),
            ("c".into(), "a/p2".into()),
        ]
    );
    assert_eq!(order(&out), ["c", "a/p1", "a/p2", "b"]);
}

#[test]
fn a_declared_cycle_is_reported_with_its_members() {
    let c = CompositionBuilder::new("cycle")
        .feature(FeatureBuilder::new("a").after("c"))
        .feature(FeatureBuilder::new("b").after("a"))
        .feature(FeatureBuilder::new("c").after("b"))
        .feature(FeatureBuilder::new("d").after("a"))
        .build();
    let out = run(&c);
    assert!(out.order.is_none());
    assert!(!out.is_safe());
    let cycle = out.cycle.clone().unwrap_or_default();
    assert_eq!(render_cycle(&cycle), "a -> b -> c -> a");
}

#[test]
fn mutual_reads_make_a_cycle() {
    let c = CompositionBuilder::new("reads-cycle")
        .feature(FeatureBuilder::new("mss").reads(&["SO_RCVBUF"]).write(
            "TCP_MAXSEG",
            lit(1400),
            Guard::True,
        ))
        .feature(FeatureBuilder::new("rcvbuf").reads(&["TCP_MAXSEG"]).write(
            "SO_RCVBUF",
            lit(1 << 20),
            Guard::True,
        ))
        .build();
    let out = run(&c);
    let cycle = out.cycle.clone().unwrap_or_default();
    assert_eq!(render_cycle(&cycle), "mss -> rcvbuf -> mss", "{out:#?}");
}

#[test]
fn the_order_is_by_name_and_repeatable() {
    let names = ["delta", "alpha", "echo", "charlie", "bravo"];
    let build = |names: &[&str]| {
        names
            .iter()
            .fold(CompositionBuilder::new("ties"), |b, n| {
                b.feature(FeatureBuilder::new(n).write("SO_MARK", lit(1), Guard::True))
            })
            .build()
    };
    let out = run(&build(&names));
    assert_eq!(order(&out), ["alpha", "bravo", "charlie", "delta", "echo"]);
    let mut reversed = names;
    reversed.reverse();
    assert_eq!(order(&run(&build(&reversed))), order(&out));
    assert_eq!(
        run(&build(&names)),
        out,
        "the same input gives the same outcome"
    );
}

#[test]
fn more_than_32_members_is_a_limit() {
    let build = |n: usize| {
        (0..n)
            .fold(CompositionBuilder::new("many"), |b, i| {
                b.feature(FeatureBuilder::new(&format!("f{i:02}")).write(
                    "SO_MARK",
                    lit(1),
                    Guard::True,
                ))
            })
            .build()
    };
    let out = run(&build(32));
    assert!(out.limits.is_empty() && out.is_safe(), "{out:#?}");
    let out = run(&build(33));
    assert_eq!(out.limits.len(), 1, "{out:#?}");
    assert!(out.limits[0].contains("33 members"), "{}", out.limits[0]);
    assert!(out.order.is_some());
    assert!(!out.is_safe());
}

#[test]
fn an_undecided_order_question_keeps_the_edge() {
    use composer::ir::CmpOp;
    // The reader acts under a pigeonhole guard over free params: z3 cannot
    // decide it in 1 ms, and the edge is kept (an extra edge is safe).
    let mut reader = FeatureBuilder::new("aa_reader").reads(&["TCP_CONGESTION"]);
    let mut g = Vec::new();
    for i in 0..20 {
        reader = reader.param_u32(&format!("p{i}"), 0, 18, 0);
        for j in 0..i {
            g.push(param_cmp(&format!("p{i}"), CmpOp::Ne, &format!("p{j}")));
        }
    }
    let c = CompositionBuilder::new("undecided")
        .feature(FeatureBuilder::new("zz_writer").write(
            "TCP_CONGESTION",
            lit_str("bbr"),
            Guard::True,
        ))
        .feature(reader.write("SO_MARK", lit(1), and(g)))
        .build();
    let opts = CheckOptions {
        any_config: true,
        timeout_ms: 1,
    };
    let out = check(&c, &opts);
    assert_eq!(
        edges(&out),
        vec![(
            "zz_writer".into(),
            "aa_reader".into(),
            reads("TCP_CONGESTION")
        )]
    );
    assert_eq!(order(&out), ["zz_writer", "aa_reader"]);
}
