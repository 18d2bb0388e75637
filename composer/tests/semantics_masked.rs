//! Issue 14, item 5: "same datacenter" guards compare two address fields
//! under a mask (`remote_ip6/44 == local_ip6/44`, `!=`, any length, IPv4,
//! IPv6 and the family-independent fields), decided exactly by the
//! solver: disjoint masks are safe, overlapping ones give a witness whose
//! addresses both guards accept (re-evaluated with `composer::eval`).

#[path = "semantics/common.rs"]
mod common;

use common::*;

/// `a` sets cubic when `ga`, `b` sets reno when `gb`, at TCP_CONNECT_CB.
fn cc(name: &str, ga: &str, gb: &str) -> std::path::PathBuf {
    let at = |g: &str| format!("op == TCP_CONNECT_CB && {g}");
    write_case(
        name,
        &[
            ("a", spec("a", &[], &[("TCP_CONGESTION", "cubic", &at(ga))])),
            ("b", spec("b", &[], &[("TCP_CONGESTION", "reno", &at(gb))])),
        ],
        "",
    )
}

/// (name, a's guard, b's guard, conflicts, what the report shows).
type Case<'a> = (&'a str, &'a str, &'a str, usize, &'a [&'a str]);

#[test]
fn masked_address_comparisons_are_decided_exactly() {
    let cases: &[Case<'_>] = &[
        // Same /44 against a different /44: never both.
        (
            "v6-44",
            "remote_ip6/44 == local_ip6/44",
            "remote_ip6/44 != local_ip6/44",
            0,
            &[],
        ),
        // Same /44 but a different /48: both, with addresses that show it.
        (
            "v6-44-48",
            "remote_ip6/44 == local_ip6/44",
            "remote_ip6/48 != local_ip6/48",
            1,
            &["local_ip6=", "remote_ip6="],
        ),
        // Same /44 and the peer in a prefix: the local address follows it.
        (
            "v6-44-prefix",
            "remote_ip6/44 == local_ip6/44",
            "remote_ip6 in 2001:db8:ab00::/40 && local_ip6 in 2001:db8:ab10::/44",
            1,
            &["local_ip6=2001:db8:ab1", "remote_ip6=2001:db8:ab1"],
        ),
        // ... but not when the local address is elsewhere.
        (
            "v6-44-elsewhere",
            "remote_ip6/44 == local_ip6/44",
            "remote_ip6 in 2001:db8:ab00::/44 && local_ip6 in 2001:db8:cd00::/44",
            0,
            &[],
        ),
        // IPv4, and lengths inside a word.
        (
            "v4-24",
            "remote_ip4/24 == local_ip4/24",
            "remote_ip4/24 != local_ip4/24",
            0,
            &[],
        ),
        (
            "v4-24-20",
            "remote_ip4/24 == local_ip4/24",
            "remote_ip4/20 == local_ip4/20 && remote_ip4 != local_ip4",
            1,
            &["local_ip4=", "remote_ip4="],
        ),
        (
            "v4-0",
            "remote_ip4/0 == local_ip4/0",
            "remote_port == 443",
            1,
            &["remote_port=443"],
        ),
        // Family-independent fields: an IPv4 pair on a dual-stack socket
        // is in the same /120 when the IPv4 addresses share a /24.
        (
            "mapped",
            "remote_ip/120 == local_ip/120",
            "remote_ip4 in 10.1.2.0/24 && local_ip4 in 10.1.3.0/24 && family == AF_INET",
            0,
            &[],
        ),
        (
            "mapped-same",
            "remote_ip/120 == local_ip/120",
            "remote_ip4 in 10.1.2.0/24 && local_ip4 in 10.1.2.0/24 && family == AF_INET",
            1,
            &["family=AF_INET", "remote_ip4=10.1.2."],
        ),
        // Full and empty masks.
        (
            "v6-128",
            "remote_ip6/128 == local_ip6/128",
            "remote_ip6 != local_ip6",
            0,
            &[],
        ),
    ];
    for &(name, a, b, conflicts, shows) in cases {
        let checked = check_case(&cc(name, a, b));
        assert_eq!(
            checked.outcome.conflicts.len(),
            conflicts,
            "{name}: {}",
            checked.human
        );
        assert_has(&checked.human, shows);
        if name == "v6-44-prefix" {
            insta::assert_snapshot!("masked-v6-44-human", checked.human);
        }
    }
}
