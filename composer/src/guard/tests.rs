//! Table tests of the guard language: input text and the expected typed
//! tree (as an S-expression) or the expected errors, with the offending
//! characters marked.

use std::path::Path;

use super::{compile, pretty, Scope};
use crate::ir::{Cidr4, ConfigValue, HookCatalog, Param, ParamType, ValueType};

fn catalog() -> HookCatalog {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml");
    crate::load::load_catalog(&p).expect("the sock_ops catalog loads")
}

fn params() -> Vec<Param> {
    let scalar = |name: &str, ty: ValueType| Param {
        name: name.into(),
        ty: ParamType::Scalar {
            ty,
            min: None,
            max: None,
        },
        default: None,
    };
    vec![
        scalar("iw", ValueType::U32),
        scalar("port", ValueType::U16),
        scalar("peer", ValueType::Ipv4),
        scalar("cc", ValueType::Str { max_len: 15 }),
        scalar("on", ValueType::Bool),
        scalar("delta", ValueType::I32),
        Param {
            name: "prefixes".into(),
            ty: ParamType::Cidr4Set,
            default: Some(ConfigValue::Cidr4Set(vec![Cidr4 {
                addr: 0x0a00_0000,
                len: 8,
            }])),
        },
        Param {
            name: "ports".into(),
            ty: ParamType::PortSet,
            default: None,
        },
    ]
}

/// The typed tree, or each error as `^^^ message` under the input.
fn render(input: &str) -> String {
    let cat = catalog();
    let params = params();
    let scope = Scope {
        catalog: &cat,
        params: &params,
    };
    match compile(input, scope) {
        Ok(g) => pretty(&g, scope),
        Err(errs) => errs
            .iter()
            .map(|e| format!("{}{} {}", " ".repeat(e.offset), "^".repeat(e.len), e.kind))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn check(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, expect) in cases {
        let got = render(input);
        if got != *expect {
            failures.push(format!(
                "input:  {input}\nexpect: {expect}\ngot:    {got}\n"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parses_and_types() {
    check(&[
        ("op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && remote_ip4 in $prefixes", "(&& (== op BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) (in remote_ip4 $prefixes))"),
        ("op == RWND_INIT", "(== op BPF_SOCK_OPS_RWND_INIT)"),
        ("true", "true"),
        ("false", "false"),
        ("!(op == 4)", "(! (== op BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB))"),
        ("op == 4 || op == 5 && remote_port == 1", "(|| (== op BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) (&& (== op BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) (== remote_port 1)))"),
        ("remote_port in {443, 8443}", "(in remote_port {443, 8443})"),
        ("local_port in 1024..65535", "(in local_port 1024..65535)"),
        ("remote_ip4 not in 10.0.0.0/8", "(not-in remote_ip4 10.0.0.0/8)"),
        ("remote_ip4 == 10.1.2.3", "(== remote_ip4 10.1.2.3)"),
        ("$cc == \"reno\"", "(== $cc \"reno\")"),
        ("$on == true", "(== $on true)"),
        ("op in {ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB}", "(in op {BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB})"),
        ("$iw >= 10 || (family == AF_INET6 && !(remote_port < 1024))", "(|| (>= $iw 10) (&& (== family AF_INET6) (! (< remote_port 1024))))"),
        ("0x10 == 16", "(== 16 16)"),
        ("remote_port in $ports", "(in remote_port $ports)"),
        ("op == 0x5", "(== op BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)"),
        ("state == ESTABLISHED", "(== state BPF_TCP_ESTABLISHED)"),
        ("local_ip4 == $peer", "(== local_ip4 $peer)"),
        ("  remote_port  ==  80  ", "(== remote_port 80)"),
        // Written fields a program can read back: the value members before it left.
        ("TCP_BPF_IW == 3", "(== TCP_BPF_IW 3)"),
        ("SO_MARK in {1, 2} && TCP_CONGESTION == \"bpf_dctcp\"", "(&& (in SO_MARK {1, 2}) (== TCP_CONGESTION \"bpf_dctcp\"))"),
        ("reply == -1", "(== reply -1)"),
        ("reply < 0", "(in reply 2147483648..4294967295)"),
        ("cb_flags != 0", "(!= cb_flags 0)"),
        // Signed operands: literals as their bits, order as unsigned ranges.
        ("$delta == -1", "(== $delta -1)"),
        ("$delta < 0", "(in $delta 2147483648..4294967295)"),
        ("$delta >= -1", "(|| (in $delta 4294967295..4294967295) (in $delta 0..2147483647))"),
        ("0 > $delta", "(in $delta 2147483648..4294967295)"),
        ("$delta <= 2147483647", "(|| (in $delta 2147483648..4294967295) (in $delta 0..2147483647))"),
        ("$delta < -2147483648", "false"),
        // Masked comparisons of two addresses: whole words, then a prefix.
        ("remote_ip6/44 == local_ip6/44", "(&& (== remote_ip6[0] local_ip6[0]) (prefix12== remote_ip6[1] local_ip6[1]))"),
        ("remote_ip6/64 != local_ip6/64", "(! (&& (== remote_ip6[0] local_ip6[0]) (== remote_ip6[1] local_ip6[1])))"),
        ("remote_ip4/24 == local_ip4/24", "(prefix24== remote_ip4 local_ip4)"),
        ("remote_ip4/32 == local_ip4/32", "(== remote_ip4 local_ip4)"),
        ("remote_ip6/0 == local_ip6/0", "true"),
        ("remote_ip6/128 == local_ip6/128", "(&& (== remote_ip6[0] local_ip6[0]) (== remote_ip6[1] local_ip6[1]) (== remote_ip6[2] local_ip6[2]) (== remote_ip6[3] local_ip6[3]))"),
        // 128-bit addresses lower to their four u32 words.
        ("remote_ip6 in 2001:db8::/32", "(&& (== remote_ip6[0] 536939960))"),
        ("remote_ip6 in 2001:db8:8000::/33", "(&& (== remote_ip6[0] 536939960) (in remote_ip6[1] 2147483648..4294967295))"),
        ("remote_ip6 != ::1", "(! (&& (== remote_ip6[0] 0) (== remote_ip6[1] 0) (== remote_ip6[2] 0) (== remote_ip6[3] 1)))"),
        ("remote_ip6 in ::/0", "true"),
        ("local_ip6 == remote_ip6", "(&& (== local_ip6[0] remote_ip6[0]) (== local_ip6[1] remote_ip6[1]) (== local_ip6[2] remote_ip6[2]) (== local_ip6[3] remote_ip6[3]))"),
        ("remote_ip6 in $prefixes", "(&& (== remote_ip6[0] 0) (== remote_ip6[1] 0) (== remote_ip6[2] 65535) (in remote_ip6[3] $prefixes))"),
        // The virtual field brings its definition along.
        ("remote_ip in 10.0.0.0/8", "(&& (&& (== remote_ip[0] 0) (== remote_ip[1] 0) (== remote_ip[2] 65535) (in remote_ip[3] 167772160..184549375)) (|| (&& (== family AF_INET6) (== remote_ip[0] remote_ip6[0]) (== remote_ip[1] remote_ip6[1]) (== remote_ip[2] remote_ip6[2]) (== remote_ip[3] remote_ip6[3])) (&& (!= family AF_INET6) (== remote_ip[0] 0) (== remote_ip[1] 0) (== remote_ip[2] 65535) (== remote_ip[3] remote_ip4))))"),
    ]);
}

#[test]
fn reports_errors_at_their_characters() {
    check(&[
        ("remote_ip4 == \"10.0.0.1\"", "              ^^^^^^^^^^ cannot compare field `remote_ip4` (ipv4) with string \"10.0.0.1\""),
        ("op == ACTIVE_ESTABLISHD_CB", "      ^^^^^^^^^^^^^^^^^^^^ unknown op value `ACTIVE_ESTABLISHD_CB`; did you mean `BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB`? (valid: `BPF_SOCK_OPS_VOID`, `BPF_SOCK_OPS_TIMEOUT_INIT`, `BPF_SOCK_OPS_RWND_INIT`, `BPF_SOCK_OPS_TCP_CONNECT_CB`, `BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB`, `BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB`, `BPF_SOCK_OPS_NEEDS_ECN`, `BPF_SOCK_OPS_BASE_RTT`, `BPF_SOCK_OPS_RTO_CB`, `BPF_SOCK_OPS_RETRANS_CB`, `BPF_SOCK_OPS_STATE_CB`, `BPF_SOCK_OPS_TCP_LISTEN_CB` and 9 more)"),
        ("remote_ipv4 in 10.0.0.0/8", "^^^^^^^^^^^ unknown field `remote_ipv4`; did you mean `remote_ip4`? (valid: `bytes_acked`, `bytes_received`, `data_segs_in`, `data_segs_out`, `ecn_flags`, `family`, `is_fullsock`, `local_ip`, `local_ip4`, `local_ip6`, `local_port`, `lost_out` and 25 more)"),
        ("remote_ip4 in 10.0.0.300/8", "              ^^^^^^^^^^^^ invalid CIDR `10.0.0.300/8`: octet 300 is out of range 0..=255"),
        ("remote_ip4 in 10.0.0.1/8", "              ^^^^^^^^^^ invalid CIDR `10.0.0.1/8`: host bits are set; did you mean 10.0.0.0/8?"),
        ("remote_port == 70000", "               ^^^^^ 70000 is out of range for field `remote_port` (u16) (0..=65535)"),
        ("op = 4", "   ^ `=` is not an operator; use `==` to compare"),
        ("op == 4 &&", "          ^ expected a field, `$param`, literal, `!` or `(`, found end of guard"),
        ("(op == 4", "        ^ expected `)` to close the `(` at character 1, found end of guard"),
        ("remote_port in $prefixes", "               ^^^^^^^^^ field `remote_port` (u16) cannot be in `$prefixes` (cidr4_set)"),
        ("$iww == 3", "^^^^ unknown param `$iww`; did you mean `$iw`? (valid: `iw`, `port`, `peer`, `cc`, `on`, `delta`, `prefixes` or `ports`)"),
        ("$prefixes == 3", "^^^^^^^^^ `$prefixes` is a set (cidr4_set); use it after `in` or `not in`"),
        ("remote_ip4 in $iw", "              ^^^ `$iw` is a u32, not a set; compare it with `==` instead of `in`"),
        ("remote_port == 1 & op == 4", "                 ^ `&` is not an operator; use `&&`"),
        ("$cc < \"a\"", "^^^ param `$cc` (string (at most 15 bytes)) can only be compared with `==` or `!=`"),
        ("remote_port in 10..5", "               ^^^^^ empty range 10..5 (the lower bound is above the upper)"),
        ("remote_port in {}", "                ^ expected a value (a set literal cannot be empty), found `}`"),
        ("\"abc", "^^^^ unterminated string"),
        ("remote_ip4 == 10", "              ^^ cannot compare field `remote_ip4` (ipv4) with integer 10"),
        ("family in 10.0.0.0/8", "          ^^^^^^^^^^ field `family` (enum (AF_*)) cannot be in an IPv4 prefix"),
        ("op == 4 op == 5", "        ^^ expected `&&`, `||` or the end of the guard, found `op`"),
        ("remote_port == 1 && remote_ip4 == \"x\" && $nope == 1", "                                  ^^^ cannot compare field `remote_ip4` (ipv4) with string \"x\"\n                                         ^^^^^ unknown param `$nope` (valid: `iw`, `port`, `peer`, `cc`, `on`, `delta`, `prefixes` or `ports`)"),
        ("remote_port == 8080abc", "               ^^^^^^^ invalid number `8080abc`"),
        ("op == 4 && #", "           ^ unexpected character `#`"),
        ("1.2.3 == remote_ip4", "^^^^^ invalid IPv4 address `1.2.3`: expected 4 dotted octets, found 3"),
        ("remote_port not 5", "                ^ expected `in` after `not`, found `5`"),
        ("", "^ empty guard (leave `when:` out to mean always, or write `true`)"),
        ("   ", "^ empty guard (leave `when:` out to mean always, or write `true`)"),
        ("remote_ip6 == 2001:db8:::1", "              ^^^^^^^^^^^^ invalid IPv6 address `2001:db8:::1`: not an IPv6 address (eight 16-bit hex groups, `::` for zeros)"),
        ("remote_ip6 in fe80::/129", "              ^^^^^^^^^^ invalid CIDR `fe80::/129`: prefix length `129` is out of range 0..=128"),
        ("remote_ip6 in fe80::1/64", "              ^^^^^^^^^^ invalid CIDR `fe80::1/64`: host bits are set; did you mean fe80::/64?"),
        ("remote_ip6 in 10.0.0.0/8", "              ^^^^^^^^^^ field `remote_ip6` (ipv6) cannot be in an IPv4 prefix (write it IPv4-mapped, ::ffff:a.b.c.d/(96+len))"),
        ("remote_ip4 == ::1", "              ^^^ cannot compare field `remote_ip4` (ipv4) with IPv6 address ::1"),
        ("remote_ip6 >= ::1", "^^^^^^^^^^ field `remote_ip6` (ipv6) can only be compared with `==` or `!=`"),
        ("remote_ip6 in $ports", "              ^^^^^^ field `remote_ip6` (ipv6) cannot be in `$ports` (port_set)"),
        ("::1 in 2001:db8::/32", "^^^ the left side of `in` must be a field or a `$param`"),
        ("remote_ip6/44 == local_ip6/48", "                 ^^^^^^^^^^^^ the two sides are masked to different lengths (/44 and /48)"),
        ("remote_ip6/44 == local_ip4/44", "                 ^^^^^^^^^^^^ `remote_ip6` and `local_ip4` are addresses of different widths (128 and 32 bits); compare remote_ip4 with local_ip4, remote_ip6 or remote_ip with local_ip6 or local_ip"),
        ("remote_ip4/40 == local_ip4/40", "^^^^^^^^^^^^^ /40 is longer than `remote_ip4` (32 bits)"),
        ("remote_ip6/44 < local_ip6/44", "^^^^^^^^^^^^^ masked addresses can only be compared with `==` or `!=`"),
        ("remote_ip6/44 == 2001:db8::", "                 ^^^^^^^^^^ a masked comparison needs an address field with the same `/len` on both sides; to test a prefix, write `remote_ip6 in PREFIX/44`; to compare two fields, mask both (`remote_ip6/44 == other/44`)"),
        ("remote_port/8 == local_port/8", "^^^^^^^^^^^^^ `remote_port` is not an address field; a mask (`/len`) applies to remote_ip, local_ip, remote_ip4, local_ip4, remote_ip6 or local_ip6"),
        ("remote_ip6/x == local_ip6/44", "^^^^^^^^^^^^ invalid masked field `remote_ip6/x`: write FIELD/LEN with LEN a prefix length (0..=128 for IPv6 and `remote_ip`/`local_ip`, 0..=32 for IPv4)"),
        ("remote_ip6/129 == local_ip6/129", "^^^^^^^^^^^^^^ invalid masked field `remote_ip6/129`: write FIELD/LEN with LEN a prefix length (0..=128 for IPv6 and `remote_ip`/`local_ip`, 0..=32 for IPv4)"),
        ("$delta == -2147483649", "          ^^^^^^^^^^^ -2147483649 is out of range for param `$delta` (i32) (-2147483648..=2147483647)"),
        ("remote_port == -1", "               ^^ cannot compare field `remote_port` (u16) with integer -1"),
        ("$delta < $delta", "^^^^^^ param `$delta` (i32) is signed: compare it with a literal (`< 0`, `>= -1`); an order comparison of two signed operands is not supported"),
        ("remote_port == 1-2", "                ^^ expected `&&`, `||` or the end of the guard, found `-2`"),
    ]);
}

#[test]
fn never_panics_on_odd_input() {
    let cat = catalog();
    let params = params();
    let scope = Scope {
        catalog: &cat,
        params: &params,
    };
    let odd = [
        "((((",
        "))))",
        "!!!!",
        "$",
        "{1,",
        "1..",
        "..",
        "op in",
        "op not",
        "\u{0}",
        "é == 1",
        "0x",
        "0xffffffffffffffffff == 1",
        "99999999999999999999999 == 1",
        "remote_ip4 in 1.2.3.4/99",
        "op in {op}",
        "a.b.c.d",
        "::",
        ":::",
        "remote_ip6 in ::/",
        "remote_ip6 in ::/999999999999",
        "fe80::1%eth0 == remote_ip6",
        "remote_ip in {::1, 1.2.3.4, 5}",
        "remote_ip6/ == local_ip6/",
        "remote_ip6/44",
        "remote_ip6/44 in 10.0.0.0/8",
        "op/3 == op/3",
        "nope/3 == nope/3",
        "remote_ip/104 != local_ip/104 || remote_ip4/0 == local_ip4/0",
    ];
    for text in odd {
        let _ = compile(text, scope);
    }
}
