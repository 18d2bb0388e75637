//! Issue 14, item 6: a guard may test a field another member writes
//! (`SO_MARK == 5`, `reply == 0`). The reader runs after the field's
//! writers (a cycle is reported as for `reads:`), and the solver reasons on
//! the value the reader sees: what the members before it wrote under their
//! guards, else the catalog's initial value (`reply` is 0 at the callbacks
//! the kernel calls without arguments) or any value. Every counterexample
//! is re-evaluated with `composer::eval`, each member seeing its own values.

#[path = "semantics/common.rs"]
mod common;

use common::*;
use composer::ir::Literal;
use composer::outcome::{EdgeReason, Witness};
use composer::predict::{enum_value, predict, PredictedValue};

/// (feature, field, value, when, extra write line)
type F<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

fn case(name: &str, features: &[F<'_>]) -> std::path::PathBuf {
    let specs: Vec<(&str, String)> = features
        .iter()
        .map(|(f, field, value, when, more)| (*f, spec_with(f, &[], &[(field, value, when)], more)))
        .collect();
    write_case(name, &specs, "")
}

fn seen<'w>(w: &'w Witness, key: &str) -> &'w str {
    w.seen
        .get(key)
        .map(|v| v.display.as_str())
        .unwrap_or_else(|| panic!("no {key} in {:?}", w.seen))
}

#[test]
fn a_default_only_where_nobody_set_one_is_safe() {
    // `fallback` sets the initial window only when no member before it did
    // (reply is 0 there before any write): never against `rwnd`.
    let path = case(
        "default",
        &[
            (
                "rwnd",
                "reply",
                "10",
                "op == RWND_INIT && remote_port == 443",
                "",
            ),
            (
                "fallback",
                "reply",
                "40",
                "op == RWND_INIT && reply == 0",
                "",
            ),
        ],
    );
    let checked = check_case(&path);
    assert!(checked.outcome.is_safe(), "{}", checked.human);
    let edge = &checked.outcome.edges[0];
    assert_eq!(
        (edge.first.feature.as_str(), edge.then.feature.as_str()),
        ("rwnd", "fallback")
    );
    assert_eq!(
        edge.reason,
        EdgeReason::ReadsWrite {
            field: "reply".into()
        }
    );
    assert_has(&checked.human, &["2. fallback  [after rwnd (reads reply)]"]);
    // What each peer gets: rwnd's window at 443, the fallback elsewhere.
    let c = &checked.loaded.composition;
    let order = checked.outcome.order.clone().expect("an order");
    let at = |port: u64| {
        let event = [
            ("op", enum_value(c, "op", "RWND_INIT").unwrap()),
            ("family", 2),
            ("remote_ip4", 0x0a00_0001),
            ("local_ip4", 0x0a00_0002),
            ("remote_port", port),
            ("local_port", 40000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Literal::Int(v)))
        .collect();
        let p = predict(c, &order, &event).unwrap();
        p.effective("reply").map(|(v, by)| (v, by.feature.clone()))
    };
    let int = |v: u64, by: &str| Some((PredictedValue::Exact(Literal::Int(v)), by.to_string()));
    assert_eq!(at(443), int(10, "rwnd"));
    assert_eq!(at(80), int(40, "fallback"));
    // The reader lists the field it tests among its reads.
    let fallback = &checked.loaded.composition.features[1].programs[0];
    assert!(
        fallback.reads.iter().any(|r| r == "reply"),
        "{:?}",
        fallback.reads
    );

    // Testing for another value than the one written: both can write, and
    // the witness shows what the reader saw.
    let path = case(
        "not-default",
        &[
            (
                "rwnd",
                "reply",
                "10",
                "op == RWND_INIT && remote_port == 443",
                "",
            ),
            ("bump", "reply", "40", "op == RWND_INIT && reply == 10", ""),
        ],
    );
    let checked = check_case(&path);
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    let composer::outcome::Conflict::SameField { witness, .. } = &checked.outcome.conflicts[0]
    else {
        panic!("{:#?}", checked.outcome.conflicts)
    };
    assert_eq!(seen(witness, "bump:reply"), "10");
    assert_has(
        &checked.human,
        &["read: bump sees reply=10", "remote_port=443"],
    );
    insta::assert_snapshot!("reads-bump-human", checked.human);
}

#[test]
fn a_mark_set_by_an_earlier_member_selects_the_congestion_control() {
    // The example: `mark` tags port 443, `dc` picks bbr for tagged
    // connections, `cubic443` picks cubic for port 443: they meet there.
    let path = case(
        "mark",
        &[
            (
                "mark",
                "SO_MARK",
                "5",
                "op == TCP_CONNECT_CB && remote_port == 443",
                "",
            ),
            (
                "dc",
                "TCP_CONGESTION",
                "bbr",
                "op == TCP_CONNECT_CB && SO_MARK == 5",
                "",
            ),
            (
                "cubic443",
                "TCP_CONGESTION",
                "cubic",
                "op == TCP_CONNECT_CB && remote_port == 443",
                "",
            ),
        ],
    );
    let checked = check_case(&path);
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    assert_has(
        &checked.human,
        &[
            "dc and cubic443 write different values to `TCP_CONGESTION`",
            "dc sees SO_MARK=5",
        ],
    );
    let order: Vec<String> = checked
        .outcome
        .order
        .clone()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    let (m, d) = (
        order.iter().position(|x| x == "mark").unwrap(),
        order.iter().position(|x| x == "dc").unwrap(),
    );
    assert!(m < d, "{order:?}");

    // `dc` for a mark nobody before it writes where cubic443 acts: the
    // socket's own mark (unknown to accord) may still be 5.
    let path = case(
        "mark-unknown",
        &[
            (
                "mark",
                "SO_MARK",
                "7",
                "op == TCP_CONNECT_CB && remote_port == 443",
                "",
            ),
            (
                "dc",
                "TCP_CONGESTION",
                "bbr",
                "op == TCP_CONNECT_CB && SO_MARK == 5",
                "",
            ),
            (
                "cubic80",
                "TCP_CONGESTION",
                "cubic",
                "op == TCP_CONNECT_CB && remote_port == 80",
                "",
            ),
        ],
    );
    let checked = check_case(&path);
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    assert_has(&checked.human, &["remote_port=80", "dc sees SO_MARK=5"]);
}

#[test]
fn an_or_update_before_the_reader_is_seen_exactly() {
    // `rtt` ORs the RTT flag in; `quiet` acts only where no flag is set.
    let features = |gated: &str| -> Vec<F<'static>> {
        let g: &'static str =
            Box::leak(format!("op == ACTIVE_ESTABLISHED_CB{gated}").into_boxed_str());
        vec![
            ("rtt", "cb_flags", "0x8", g, "update: or"),
            (
                "quiet",
                "SO_MARK",
                "1",
                "op == ACTIVE_ESTABLISHED_CB && cb_flags == 0",
                "",
            ),
            ("other", "SO_MARK", "2", "op == ACTIVE_ESTABLISHED_CB", ""),
        ]
    };
    // Every established connection gets the flag: `quiet` never acts.
    let checked = check_case(&case("or-always", &features("")));
    assert!(checked.outcome.is_safe(), "{}", checked.human);
    // Only port 443's: elsewhere the flags may still be 0.
    let checked = check_case(&case("or-443", &features(" && remote_port == 443")));
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    assert_has(&checked.human, &["quiet sees cb_flags=0"]);
}

#[test]
fn guards_reading_each_others_writes_form_a_cycle() {
    let path = case(
        "cycle",
        &[
            (
                "a",
                "SO_PRIORITY",
                "1",
                "op == TCP_CONNECT_CB && SO_MARK == 5",
                "",
            ),
            (
                "b",
                "SO_MARK",
                "5",
                "op == TCP_CONNECT_CB && SO_PRIORITY == 1",
                "",
            ),
        ],
    );
    let checked = check_case(&path);
    assert!(checked.outcome.cycle.is_some(), "{}", checked.human);
    assert_has(
        &checked.human,
        &[
            "ORDER CYCLE",
            "reads `SO_MARK`, which b writes",
            "reads `SO_PRIORITY`, which a writes",
        ],
    );
}
