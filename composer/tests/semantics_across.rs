//! Issue 14, item 2: a persistent field (a socket option, the cb flags)
//! written at two callbacks one connection end goes through, in the
//! catalog's order: two different values are a conflict saying which value
//! the connection keeps and which is lost; a `resolve:` entry preferring
//! the later writer makes it a deliberate override; the active and the
//! passive side stay independent; `reply` stays per callback. Every
//! counterexample is confirmed with `composer::eval` (both guards, each at
//! its own callback, the callbacks in the catalog's order).

#[path = "semantics/common.rs"]
mod common;

use common::*;
use composer::outcome::Conflict;

/// (feature, field, value, when, extra write line)
type F<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

fn case(name: &str, features: &[F<'_>], extra: &str) -> std::path::PathBuf {
    let specs: Vec<(&str, String)> = features
        .iter()
        .map(|(f, field, value, when, more)| (*f, spec_with(f, &[], &[(field, value, when)], more)))
        .collect();
    write_case(name, &specs, extra)
}

/// What a case must give: `Some((first, then, either_last))` for one
/// conflict across callbacks, `None` for safe.
type Expect<'a> = Option<(&'a str, &'a str, bool)>;

#[test]
fn persistent_fields_are_compared_across_the_callbacks_of_one_end() {
    let cases: &[(&str, &[F<'_>], Expect<'_>, &[&str])] = &[
        // The active end sets the send buffer at connect, then again once established.
        ("connect-then-established",
         &[("early", "SO_SNDBUF", "65536", "op == TCP_CONNECT_CB", ""),
           ("late", "SO_SNDBUF", "1048576", "op == ACTIVE_ESTABLISHED_CB", "")],
         Some(("early", "late", false)),
         &["`SO_SNDBUF` is written at two callbacks of one active end: late's write at ACTIVE_ESTABLISHED_CB replaces early's at TCP_CONNECT_CB",
           "the connection ends with SO_SNDBUF = 1048576 (late); 65536 (early) is lost"]),
        // Listed the other way round: the kernel's order decides, not the spec's.
        ("established-listed-first",
         &[("late", "SO_SNDBUF", "1048576", "op == ACTIVE_ESTABLISHED_CB", ""),
           ("early", "SO_SNDBUF", "65536", "op == TCP_CONNECT_CB", "")],
         Some(("early", "late", false)), &[]),
        // The active side's connect and the passive side's establishment: no end sees both.
        ("active-vs-passive",
         &[("a", "TCP_CONGESTION", "cubic", "op == TCP_CONNECT_CB", ""),
           ("b", "TCP_CONGESTION", "reno", "op == PASSIVE_ESTABLISHED_CB", "")],
         None, &[]),
        // The same value: nothing is lost.
        ("same-value",
         &[("a", "SO_MARK", "7", "op == TCP_CONNECT_CB", ""),
           ("b", "SO_MARK", "7", "op == ACTIVE_ESTABLISHED_CB", "")],
         None, &[]),
        // Different peers (a field that is the same for the whole end).
        ("different-peers",
         &[("a", "SO_MARK", "7", "op == TCP_CONNECT_CB && remote_port == 443", ""),
           ("b", "SO_MARK", "8", "op == ACTIVE_ESTABLISHED_CB && remote_port == 80", "")],
         None, &[]),
        // The passive end: established, then a state change.
        ("passive-state",
         &[("a", "SO_PRIORITY", "3", "op == PASSIVE_ESTABLISHED_CB", ""),
           ("b", "SO_PRIORITY", "0", "op == STATE_CB && state == CLOSE_WAIT", "")],
         Some(("a", "b", false)), &["one passive end", "state=BPF_TCP_CLOSE_WAIT"]),
        // Callbacks that repeat come in either order.
        ("repeating",
         &[("a", "SO_PRIORITY", "3", "op == RTT_CB", ""),
           ("b", "SO_PRIORITY", "0", "op == RTO_CB", "")],
         Some(("a", "b", true)),
         &["come in either order", "the connection ends with whichever runs last"]),
        // reply is an answer per callback, not a setting that stays.
        ("reply",
         &[("a", "reply", "10", "op == RWND_INIT", ""),
           ("b", "reply", "3", "op == TIMEOUT_INIT", "")],
         None, &[]),
        // cb flags: an `or` at the later callback keeps the earlier flags ...
        ("flags-or-later",
         &[("a", "cb_flags", "0x8", "op == ACTIVE_ESTABLISHED_CB", ""),
           ("b", "cb_flags", "0x4", "op == RTT_CB", "update: or")],
         None, &[]),
        // ... an assignment there replaces them, even ORed ones.
        ("flags-set-later",
         &[("a", "cb_flags", "0x8", "op == ACTIVE_ESTABLISHED_CB", "update: or"),
           ("b", "cb_flags", "0x4", "op == RTT_CB", "")],
         Some(("a", "b", false)), &["replaces a's at ACTIVE_ESTABLISHED_CB"]),
    ];
    for &(name, features, expect, shows) in cases {
        let checked = check_case(&case(name, features, ""));
        let got: Vec<(String, String, bool)> = checked
            .outcome
            .conflicts
            .iter()
            .filter_map(|c| match c {
                Conflict::AcrossCallbacks {
                    first,
                    then,
                    either_last,
                    ..
                } => Some((first.to_string(), then.to_string(), *either_last)),
                _ => None,
            })
            .collect();
        let want: Vec<(String, String, bool)> = expect
            .iter()
            .map(|(a, b, e)| (a.to_string(), b.to_string(), *e))
            .collect();
        assert_eq!(got, want, "{name}: {}", checked.human);
        assert_eq!(
            checked.outcome.conflicts.len(),
            want.len(),
            "{name}: {}",
            checked.human
        );
        assert_has(&checked.human, shows);
        if name == "connect-then-established" {
            insta::assert_snapshot!("across-sndbuf-human", checked.human);
            insta::assert_snapshot!("across-sndbuf-json", checked.json);
        }
    }
}

#[test]
fn resolve_accepts_the_later_write_but_cannot_keep_the_earlier_one() {
    let features: &[F<'_>] = &[
        ("early", "SO_SNDBUF", "65536", "op == TCP_CONNECT_CB", ""),
        (
            "late",
            "SO_SNDBUF",
            "1048576",
            "op == ACTIVE_ESTABLISHED_CB",
            "",
        ),
    ];
    let prefer = |f: &str| format!("resolve:\n  - {{ field: SO_SNDBUF, prefer: {f} }}\n");
    let accepted = check_case(&case("prefer-late", features, &prefer("late")));
    assert!(accepted.outcome.is_safe(), "{}", accepted.human);
    assert_eq!(accepted.outcome.overrides.len(), 1);
    assert_has(
        &accepted.human,
        &[
            "warning: `SO_SNDBUF`: late overrides early",
            "later callback: op=BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB",
        ],
    );
    let refused = check_case(&case("prefer-early", features, &prefer("early")));
    assert_eq!(refused.outcome.conflicts.len(), 1, "{}", refused.human);
    assert_has(
        &refused.human,
        &["a `resolve:` entry prefers early, but no chain order makes an earlier callback's value stay"],
    );
}
