//! Issue 14, item 3: the socket options and read-only `bpf_sock_ops`
//! fields real sock_ops programs use are in the catalog, so specs can
//! declare them and `check` sees their conflicts. Each case is a small
//! composition checked with the real catalog; every counterexample is
//! re-evaluated against both guards.

#[path = "semantics/common.rs"]
mod common;

use common::*;
use composer::outcome::Conflict;

/// Every option added to the catalog, with a value its type accepts.
const NEW_OPTIONS: &[(&str, &str)] = &[
    ("IP_TOS", "0x10"),
    ("IPV6_TCLASS", "0x28"),
    ("IPV6_AUTOFLOWLABEL", "true"),
    ("TCP_SAVE_SYN", "1"),
    ("TCP_NOTSENT_LOWAT", "16384"),
    ("TCP_KEEPIDLE", "60"),
    ("TCP_KEEPINTVL", "10"),
    ("TCP_KEEPCNT", "5"),
    ("TCP_SYNCNT", "3"),
    ("TCP_USER_TIMEOUT", "30000"),
    ("TCP_NODELAY", "true"),
    ("TCP_THIN_LINEAR_TIMEOUTS", "true"),
    ("SO_KEEPALIVE", "true"),
    ("SO_RCVLOWAT", "1024"),
    ("SO_MAX_PACING_RATE", "125000000"),
    ("SO_TXREHASH", "1"),
];

#[test]
fn every_added_option_can_be_declared_and_conflicts_on_a_different_value() {
    for (option, value) in NEW_OPTIONS {
        // One writer: safe. Two writers of different values at one
        // callback: one conflict, whose witness both guards satisfy.
        let one = write_case(
            &format!("one-{option}"),
            &[(
                "a",
                spec("a", &[], &[(option, value, "op == TCP_CONNECT_CB")]),
            )],
            "",
        );
        assert!(check_case(&one).outcome.is_safe(), "{option}");
        let other = match *value {
            "true" => "false",
            _ => "2",
        };
        let two = write_case(
            &format!("two-{option}"),
            &[
                (
                    "a",
                    spec("a", &[], &[(option, value, "op == TCP_CONNECT_CB")]),
                ),
                (
                    "b",
                    spec(
                        "b",
                        &[],
                        &[(option, other, "op == TCP_CONNECT_CB && remote_port == 443")],
                    ),
                ),
            ],
            "",
        );
        let checked = check_case(&two);
        assert_eq!(
            checked.outcome.conflicts.len(),
            1,
            "{option}: {}",
            checked.human
        );
        assert_has(
            &checked.human,
            &[
                &format!("a and b write different values to `{option}`"),
                "remote_port=443",
            ],
        );
    }
}

#[test]
fn option_values_are_typed() {
    let cases: &[(&str, &str, &str)] = &[
        ("IP_TOS", "256", "256 is out of range"),
        ("TCP_NODELAY", "2", "expected `true` or `false`"),
        ("TCP_SAVE_SYN", "\"yes\"", "expected a u8"),
    ];
    for (option, value, says) in cases {
        let path = write_case(
            &format!("typed-{option}"),
            &[(
                "a",
                spec("a", &[], &[(option, value, "op == TCP_CONNECT_CB")]),
            )],
            "",
        );
        assert_has(&load_errors(&path), &[says]);
    }
}

#[test]
fn read_only_fields_in_guards_are_decided_exactly() {
    // Two clamps at the RTT callback, keyed on the connection's measured
    // state: they overlap (a slow, wide connection), and the witness shows
    // the state that triggers both.
    let path = write_case(
        "rtt",
        &[
            (
                "slow",
                spec(
                    "slow",
                    &["srtt_us"],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "40",
                        "op == RTT_CB && srtt_us > 80000",
                    )],
                ),
            ),
            (
                "wide",
                spec(
                    "wide",
                    &["snd_cwnd", "bytes_acked"],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "20",
                        "op == RTT_CB && snd_cwnd >= 100 && bytes_acked > 4294967296",
                    )],
                ),
            ),
        ],
        "",
    );
    let checked = check_case(&path);
    assert_eq!(checked.outcome.conflicts.len(), 1, "{}", checked.human);
    assert_has(
        &checked.human,
        &[
            "op=BPF_SOCK_OPS_RTT_CB",
            "srtt_us=80001",
            "snd_cwnd=100",
            "bytes_acked=4294967297",
        ],
    );
    insta::assert_snapshot!("read-only-fields-human", checked.human);

    // The same fields made disjoint: safe without a conflict.
    let disjoint = write_case(
        "rtt-disjoint",
        &[
            (
                "slow",
                spec(
                    "slow",
                    &["srtt_us"],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "40",
                        "op == RTT_CB && srtt_us > 80000",
                    )],
                ),
            ),
            (
                "fast",
                spec(
                    "fast",
                    &["srtt_us"],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "20",
                        "op == RTT_CB && srtt_us <= 80000",
                    )],
                ),
            ),
        ],
        "",
    );
    // Never both at one RTT callback, but a connection's RTT changes: one
    // end meets both at two of its RTT callbacks, in either order.
    let checked = check_case(&disjoint);
    assert!(
        matches!(
            checked.outcome.conflicts.as_slice(),
            [Conflict::AcrossCallbacks {
                either_last: true,
                ..
            }]
        ),
        "{}",
        checked.human
    );
    assert_has(
        &checked.human,
        &[
            "srtt_us=",
            "later callback: op=BPF_SOCK_OPS_RTT_CB srtt_us=",
        ],
    );

    // Disjoint in a field that is the same for the whole end: safe.
    let per_end = write_case(
        "rtt-per-end",
        &[
            (
                "slow",
                spec(
                    "slow",
                    &[],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "40",
                        "op == RTT_CB && remote_port == 443",
                    )],
                ),
            ),
            (
                "fast",
                spec(
                    "fast",
                    &[],
                    &[(
                        "TCP_BPF_SNDCWND_CLAMP",
                        "20",
                        "op == RTT_CB && remote_port != 443",
                    )],
                ),
            ),
        ],
        "",
    );
    assert!(check_case(&per_end).outcome.is_safe());
}

#[test]
fn the_saved_syn_is_read_not_compared() {
    let ok = write_case(
        "syn-read",
        &[(
            "syn",
            spec(
                "syn",
                &["TCP_BPF_SYN", "TCP_BPF_SYN_IP"],
                &[("SO_MARK", "7", "op == PASSIVE_ESTABLISHED_CB")],
            ),
        )],
        "",
    );
    let checked = check_case(&ok);
    assert!(checked.outcome.is_safe());
    let program = &checked.loaded.composition.features[0].programs[0];
    assert!(
        program.reads.iter().any(|r| r == "TCP_BPF_SYN"),
        "{:?}",
        program.reads
    );

    let in_guard = write_case(
        "syn-guard",
        &[(
            "syn",
            spec(
                "syn",
                &[],
                &[(
                    "SO_MARK",
                    "7",
                    "op == PASSIVE_ESTABLISHED_CB && TCP_BPF_SYN == 1",
                )],
            ),
        )],
        "",
    );
    assert_has(
        &load_errors(&in_guard),
        &[
            "`TCP_BPF_SYN` is a socket option a program reads with bpf_getsockopt",
            "list it in `reads:`",
        ],
    );
}
