//! Issue 14, item 4: the kernel reads `reply` only at a few callbacks
//! (TIMEOUT_INIT, RWND_INIT, NEEDS_ECN, BASE_RTT: the catalog's
//! `honoured_at:`); writes elsewhere have no effect, so they are a warning
//! and never a conflict. `reply` is signed: `value: -1` (the kernel's
//! default) is valid and printed -1. Every counterexample is re-evaluated
//! against both guards.

#[path = "semantics/common.rs"]
mod common;

use common::*;

/// Two features writing `reply` = `va` when `ga` and `vb` when `gb`.
fn replies(name: &str, va: &str, ga: &str, vb: &str, gb: &str) -> std::path::PathBuf {
    write_case(
        name,
        &[
            ("a", spec("a", &[], &[("reply", va, ga)])),
            ("b", spec("b", &[], &[("reply", vb, gb)])),
        ],
        "",
    )
}

/// (name, a's value and guard, b's value and guard, conflicts, warnings,
/// what the report shows).
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    usize,
    usize,
    &'a [&'a str],
);

#[test]
fn reply_conflicts_only_where_the_kernel_reads_it() {
    let cases: &[Case<'_>] = &[
        // Both at STATE_CB: the kernel ignores reply there. Safe, two warnings.
        ("state", "1", "op == STATE_CB", "2", "op == STATE_CB", 0, 2,
         &["warning: a writes `reply` at STATE_CB, where the kernel ignores it (it reads `reply` only at TIMEOUT_INIT, RWND_INIT, NEEDS_ECN, BASE_RTT)"]),
        // At an honoured callback: a conflict, as before.
        ("rwnd", "10", "op == RWND_INIT", "40", "op == RWND_INIT", 1, 0,
         &["CONFLICT 1: a and b write different values to `reply`", "op=BPF_SOCK_OPS_RWND_INIT"]),
        // An unguarded write meets a guarded one only where reply counts,
        // and is warned about everywhere else.
        ("always", "1", "", "40", "op == RWND_INIT || op == STATE_CB", 1, 2,
         &["op=BPF_SOCK_OPS_RWND_INIT", "warning: a writes `reply` at VOID, TCP_CONNECT_CB", "warning: b writes `reply` at STATE_CB,"]),
        // Two unguarded writes: the witness names an honoured callback.
        ("both-always", "1", "", "2", "", 1, 2, &["connection: op=BPF_SOCK_OPS_TIMEOUT_INIT"]),
        // -1 asks for the kernel's default, and is printed as such.
        ("default", "-1", "op == TIMEOUT_INIT", "3", "op == TIMEOUT_INIT && remote_port == 443", 1, 0,
         &["a writes reply = -1", "written: a=-1 b=3"]),
        ("same-default", "-1", "op == TIMEOUT_INIT", "-1", "op == TIMEOUT_INIT", 0, 0, &[]),
        // A signed range on one side of 0.
        ("range", "{min: -5, max: -1}", "op == BASE_RTT", "-3", "op == BASE_RTT", 1, 0, &["op=BPF_SOCK_OPS_BASE_RTT"]),
    ];
    for &(name, va, ga, vb, gb, conflicts, warnings, shows) in cases {
        let checked = check_case(&replies(name, va, ga, vb, gb));
        assert_eq!(
            checked.outcome.conflicts.len(),
            conflicts,
            "{name}: {}",
            checked.human
        );
        assert_eq!(
            checked.outcome.ignored.len(),
            warnings,
            "{name}: {}",
            checked.human
        );
        assert_has(&checked.human, shows);
        if name == "default" {
            insta::assert_snapshot!("reply-default-human", checked.human);
            insta::assert_snapshot!("reply-default-json", checked.json);
        }
        if name == "always" {
            insta::assert_snapshot!("reply-always-human", checked.human);
        }
    }
}

#[test]
fn reply_values_are_signed_32_bit() {
    let cases: &[(&str, &str)] = &[
        ("-2147483649", "out of range"),
        ("4294967295", "out of range"),
        ("{min: -1, max: 5}", "a range on one side of 0"),
        ("{min: 5, max: -1}", "min <= max"),
    ];
    for (value, says) in cases {
        let path = write_case(
            "bad-reply",
            &[("a", spec("a", &[], &[("reply", value, "op == RWND_INIT")]))],
            "",
        );
        assert_has(&load_errors(&path), &[says]);
    }
    // A negative value for an unsigned field is refused.
    let path = write_case(
        "negative-iw",
        &[(
            "a",
            spec(
                "a",
                &[],
                &[("TCP_BPF_IW", "-1", "op == ACTIVE_ESTABLISHED_CB")],
            ),
        )],
        "",
    );
    assert_has(&load_errors(&path), &["expected a u32"]);
}
