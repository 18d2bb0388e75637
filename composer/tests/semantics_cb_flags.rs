//! Issue 14, item 1: `bpf_sock_ops_cb_flags_set` assigns the whole flag
//! word, so two members setting their own flag replace each other (a
//! conflict), unless a write is declared `update: or` (a read-modify-write
//! of the current flags, which the audit checks): then the flags combine
//! and the `or` writer runs after the assignments. Every counterexample is
//! re-evaluated against both guards.

#[path = "semantics/common.rs"]
mod common;

use common::*;
use composer::ir::Literal;
use composer::outcome::EdgeReason;
use composer::predict::{enum_value, predict, PredictedValue};

const EST: &str = "op in {ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB}";

/// `rtt` asks for RTT callbacks (0x8), `state` for state callbacks (0x4),
/// each as an assignment or as `update: or`.
fn flags(name: &str, or_rtt: bool, or_state: bool, extra: &str) -> std::path::PathBuf {
    let w = |or: bool| if or { "update: or" } else { "" };
    write_case(
        name,
        &[
            (
                "rtt",
                spec_with("rtt", &[], &[("cb_flags", "0x8", EST)], w(or_rtt)),
            ),
            (
                "state",
                spec_with("state", &[], &[("cb_flags", "0x4", EST)], w(or_state)),
            ),
        ],
        extra,
    )
}

#[test]
fn two_assignments_of_different_flags_conflict() {
    let checked = check_case(&flags("assign", false, false, ""));
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    assert_has(
        &checked.human,
        &[
            "CONFLICT 1: rtt and state write different values to `cb_flags`",
            "written: rtt=8 state=4",
        ],
    );
    insta::assert_snapshot!("cb-flags-assignments-human", checked.human);
}

#[test]
fn read_modify_writes_combine_and_follow_assignments() {
    // Both `or`: safe, no order needed between them.
    let both = check_case(&flags("or-or", true, true, ""));
    assert!(both.outcome.is_safe(), "{}", both.human);
    assert!(both.outcome.edges.is_empty(), "{:?}", both.outcome.edges);

    // An assignment and an `or`: safe, the `or` writer after the assignment,
    // and the connection ends with both flags.
    for (rtt_or, first, then) in [(true, "state", "rtt"), (false, "rtt", "state")] {
        let checked = check_case(&flags("set-or", rtt_or, !rtt_or, ""));
        assert!(checked.outcome.is_safe(), "{}", checked.human);
        let edge = &checked.outcome.edges[0];
        assert_eq!(
            (edge.first.feature.as_str(), edge.then.feature.as_str()),
            (first, then)
        );
        assert_eq!(
            edge.reason,
            EdgeReason::ReadsWrite {
                field: "cb_flags".into()
            }
        );
        let c = &checked.loaded.composition;
        let order = checked.outcome.order.clone().expect("an order");
        let event = [
            ("op", enum_value(c, "op", "ACTIVE_ESTABLISHED_CB").unwrap()),
            ("family", 2),
            ("remote_ip4", 0x0a00_0001),
            ("local_ip4", 0x0a00_0002),
            ("remote_port", 443),
            ("local_port", 40000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Literal::Int(v)))
        .collect();
        let p = predict(c, &order, &event).unwrap();
        assert_eq!(
            p.effective("cb_flags").map(|(v, _)| v),
            Some(PredictedValue::Exact(Literal::Int(0xc)))
        );
    }

    // The `or` writer forced before the assignment: no safe order.
    let forced = write_case(
        "or-before",
        &[
            (
                "rtt",
                spec_with("rtt", &[], &[("cb_flags", "0x8", EST)], "update: or")
                    + "before: [state]\n",
            ),
            ("state", spec("state", &[], &[("cb_flags", "0x4", EST)])),
        ],
        "",
    );
    let checked = check_case(&forced);
    assert!(checked.outcome.cycle.is_some(), "{}", checked.human);
    assert_has(
        &checked.human,
        &["ORDER CYCLE", "rtt reads `cb_flags`, which state writes"],
    );
}

#[test]
fn or_updates_are_for_fields_that_take_them() {
    let path = write_case(
        "or-sndbuf",
        &[(
            "a",
            spec_with("a", &[], &[("SO_SNDBUF", "65536", EST)], "update: or"),
        )],
        "",
    );
    assert_has(
        &load_errors(&path),
        &[
            "`SO_SNDBUF` takes its value",
            "updates: [set, or]",
            "cb_flags",
        ],
    );
}
