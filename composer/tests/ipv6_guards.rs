//! IPv6 in guards: v6-only, v4-only, mixed and IPv4-mapped overlaps between
//! two features writing the same field, checked with the real sock_ops
//! catalog; every witness is re-evaluated against both guards with
//! `composer::eval`, and malformed IPv6 input is a located load error.

use std::path::{Path, PathBuf};

use composer::check::{check, CheckOptions};
use composer::eval::{confirm, guard_holds};
use composer::ir::{Composition, MemberId};
use composer::load::{load, LoadOptions, Loaded};
use composer::outcome::{CheckOutcome, Conflict, Witness};
use composer::report;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("composer has a parent")
        .to_path_buf()
}

/// Writes a two-feature composition (`a` sets cubic when `guard_a`, `b`
/// sets reno when `guard_b`) into a fresh directory and returns its path.
fn write_case(name: &str, guard_a: &str, guard_b: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("accord-ipv6-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (f, cc, g) in [("a", "cubic", guard_a), ("b", "reno", guard_b)] {
        let spec = format!(
            "feature: {f}\ndescription: test\nprograms:\n  - name: {f}\n    hook: sock_ops\n    \
             reads: [op, remote_ip4, remote_ip6, remote_ip]\n    writes:\n      - field: TCP_CONGESTION\n        \
             value: \"{cc}\"\n        when: '{g}'\n"
        );
        std::fs::write(dir.join(format!("{f}.yaml")), spec).expect("write spec");
    }
    let comp = format!(
        "composition: {name}\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n  - spec: b.yaml\n"
    );
    let path = dir.join("composition.yaml");
    std::fs::write(&path, comp).expect("write composition");
    path
}

fn opts() -> LoadOptions {
    LoadOptions {
        catalog: Some(repo_root().join("specs/hooks/sock_ops.yaml")),
        ..LoadOptions::default()
    }
}

fn guard_holds_for(c: &Composition, member: &str, w: &Witness) -> bool {
    let id = MemberId {
        feature: member.into(),
        program: member.into(),
    };
    let (_, feature, program) = c.members().find(|(m, _, _)| *m == id).expect("member");
    program
        .writes
        .iter()
        .any(|x| guard_holds(&x.guard, feature, w).expect("witness evaluates"))
}

/// Checks a case; when it conflicts, confirms the witness independently
/// and returns the human report.
fn run(name: &str, a: &str, b: &str) -> (CheckOutcome, String) {
    let path = write_case(name, a, b);
    let (loaded, o) = load_and_check(name, &path, false);
    let human = report::human(&o, &loaded.composition, &loaded.warnings);
    (o, human)
}

/// Loads case `name` from `path` and checks it; every conflict's witness is
/// confirmed independently and satisfies both guards.
fn load_and_check(name: &str, path: &Path, any_config: bool) -> (Loaded, CheckOutcome) {
    let loaded = load(path, &opts()).unwrap_or_else(|e| {
        panic!(
            "case {name} does not load:\n{}",
            report::load_errors_human(&e)
        )
    });
    let c = &loaded.composition;
    let opts = CheckOptions {
        any_config,
        ..CheckOptions::default()
    };
    let o = check(c, &opts);
    for conflict in &o.conflicts {
        confirm(c, conflict).unwrap_or_else(|e| panic!("{name}: witness does not confirm: {e}"));
        let Conflict::SameField { witness, .. } = conflict else {
            panic!("{name}: unexpected conflict kind {conflict:?}");
        };
        assert!(
            guard_holds_for(c, "a", witness),
            "{name}: a's guard on {witness:?}"
        );
        assert!(
            guard_holds_for(c, "b", witness),
            "{name}: b's guard on {witness:?}"
        );
    }
    (loaded, o)
}

fn conflicts(o: &CheckOutcome) -> usize {
    o.conflicts.len()
}

/// One case of [`check_cases`]: its name, the guards of `a` and `b`, how
/// many conflicts it has, and what its human report shows (if anything).
type Case<'a> = (&'a str, &'a str, &'a str, usize, Option<&'a str>);

/// Runs every case and asserts its conflict count and, when given, that
/// the human report contains the expected text.
fn check_cases(cases: &[Case<'_>]) {
    for &(name, a, b, want, shows) in cases {
        let (o, human) = run(name, a, b);
        assert_eq!(conflicts(&o), want, "{name}: {human}");
        if let Some(shows) = shows {
            assert!(human.contains(shows), "{name}: {human}");
        }
    }
}

#[test]
fn v6_only_nested_prefixes_conflict_and_the_witness_is_in_the_inner_one() {
    check_cases(&[(
        "v6-nested",
        "remote_ip6 in 2001:db8::/32",
        "remote_ip6 in 2001:db8:1::/48",
        1,
        Some("remote_ip6=2001:db8:1:"),
    )]);
}

#[test]
fn v6_only_disjoint_prefixes_do_not_conflict() {
    check_cases(&[(
        "v6-disjoint",
        "remote_ip6 in 2001:db8::/32",
        "remote_ip6 in 2001:db9::/32 || remote_ip6 == ::1",
        0,
        None,
    )]);
}

#[test]
fn v6_prefix_ending_inside_a_word_is_exact() {
    check_cases(&[
        // /36 splits the second word: 2001:db8:1000:: is inside, 2001:db8:f000:: not.
        (
            "v6-partial-word-in",
            "remote_ip6 in 2001:db8::/36",
            "remote_ip6 == 2001:db8:fff::1",
            1,
            None,
        ),
        (
            "v6-partial-word-out",
            "remote_ip6 in 2001:db8::/36",
            "remote_ip6 == 2001:db8:1000::1",
            0,
            None,
        ),
    ]);
}

#[test]
fn v4_only_through_the_family_independent_field() {
    check_cases(&[
        (
            "v4-only",
            "remote_ip in 10.0.0.0/8",
            "family == AF_INET && remote_ip4 in 10.1.0.0/16",
            1,
            Some("remote_ip=::ffff:10.1."),
        ),
        (
            "v4-only-disjoint",
            "remote_ip in 10.0.0.0/8",
            "family == AF_INET && remote_ip4 in 11.0.0.0/8",
            0,
            None,
        ),
    ]);
}

#[test]
fn mixed_prefixes_meet_only_in_their_own_family() {
    check_cases(&[
        (
            "mixed",
            "remote_ip in 10.0.0.0/8 || remote_ip in 2001:db8::/32",
            "remote_ip6 in 2001:db8:5::/48",
            1,
            Some("family=AF_INET6"),
        ),
        // An IPv6 prefix never holds for an IPv4 peer and the other way round.
        (
            "mixed-disjoint",
            "remote_ip in 2001:db8::/32",
            "remote_ip in 10.0.0.0/8",
            0,
            None,
        ),
    ]);
}

#[test]
fn mapped_prefix_overlaps_the_ipv4_prefix_it_maps() {
    check_cases(&[
        // A dual-stack socket's IPv4 peer, seen as remote_ip6, against the same
        // peer seen through remote_ip.
        (
            "mapped-v6-field",
            "remote_ip6 in ::ffff:10.0.0.0/104",
            "remote_ip in 10.1.0.0/16",
            1,
            Some("remote_ip6=::ffff:10.1."),
        ),
        // On an AF_INET socket remote_ip is remote_ip4 mapped.
        (
            "mapped-v4-field",
            "remote_ip in ::ffff:10.0.0.0/104",
            "family == AF_INET && remote_ip4 == 10.9.8.7",
            1,
            Some("remote_ip4=10.9.8.7"),
        ),
        (
            "mapped-disjoint",
            "remote_ip in ::ffff:10.0.0.0/104",
            "remote_ip in 11.0.0.0/8 || remote_ip == ::ffff:12.0.0.1",
            0,
            None,
        ),
    ]);
}

#[test]
fn negated_and_set_forms() {
    check_cases(&[
        (
            "negated",
            "remote_ip6 not in 2001:db8::/32 && remote_ip6 != ::1",
            "remote_ip6 in {::1, 2001:db8::7}",
            0,
            None,
        ),
        (
            "set-literal",
            "remote_ip in {10.0.0.1, 2001:db8::7}",
            "remote_ip6 == 2001:db8::7",
            1,
            None,
        ),
    ]);
}

/// The load error of a case whose first guard is `bad`.
fn load_error(name: &str, bad: &str) -> String {
    let path = write_case(name, bad, "true");
    match load(&path, &opts()) {
        Ok(_) => panic!("{name}: `{bad}` loaded"),
        Err(e) => report::load_errors_human(&e),
    }
}

#[test]
fn malformed_ipv6_and_long_prefixes_are_located_errors() {
    for (name, bad, want) in [
        (
            "bad-literal",
            "remote_ip6 == 2001:db8:::1",
            "invalid IPv6 address `2001:db8:::1`",
        ),
        (
            "bad-group",
            "remote_ip6 == 2001:db8::12345",
            "invalid IPv6 address",
        ),
        (
            "long-prefix",
            "remote_ip6 in 2001:db8::/129",
            "prefix length `129` is out of range 0..=128",
        ),
        (
            "host-bits",
            "remote_ip6 in 2001:db8::1/32",
            "did you mean 2001:db8::/32",
        ),
        (
            "v6-on-v4",
            "remote_ip4 in 2001:db8::/32",
            "cannot be in an IPv6 prefix",
        ),
        ("v6-vs-port", "remote_port == ::1", "cannot compare"),
        (
            "ordered",
            "remote_ip6 < ::1",
            "can only be compared with `==` or `!=`",
        ),
    ] {
        let msg = load_error(name, bad);
        assert!(msg.contains(want), "{name}: {msg}");
        // file:line:col of the guard inside a.yaml.
        assert!(msg.contains("a.yaml:"), "{name}: no location in {msg}");
    }
}

/// A two-feature composition where `a` guards on `$p` (a set param of type
/// `ty` deployed as `value`) and `b` on `guard_b`.
fn run_param(name: &str, ty: &str, value: &str, guard_a: &str, guard_b: &str) -> CheckOutcome {
    run_param_with(name, ty, value, guard_a, guard_b, false)
}

fn run_param_with(
    name: &str,
    ty: &str,
    value: &str,
    guard_a: &str,
    guard_b: &str,
    any_config: bool,
) -> CheckOutcome {
    let path = write_case(name, "true", guard_b);
    let dir = path.parent().expect("case dir");
    let spec = format!(
        "feature: a\ndescription: test\nconfig:\n  p: {{ type: {ty} }}\nprograms:\n  - name: a\n    \
         hook: sock_ops\n    reads: [op, remote_ip, remote_ip4, remote_ip6]\n    writes:\n      - field: TCP_CONGESTION\n        \
         value: \"cubic\"\n        when: '{guard_a}'\n"
    );
    std::fs::write(dir.join("a.yaml"), spec).expect("write spec");
    let comp = format!(
        "composition: {name}\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n    config: {{ p: {value} }}\n  - spec: b.yaml\n"
    );
    std::fs::write(&path, comp).expect("write composition");
    load_and_check(name, &path, any_config).1
}

#[test]
fn any_config_leaves_the_ipv4_entries_of_a_mixed_set_free() {
    // Deployed, the set holds no IPv4 prefix; some config could hold 10.1.1.1.
    let v6_only = r#"["2001:db8::/32"]"#;
    let (a, b) = ("remote_ip in $p", "remote_ip == ::ffff:10.1.1.1");
    let o = run_param_with("any-deployed", "cidr_set", v6_only, a, b, false);
    assert_eq!(o.conflicts.len(), 0, "{o:?}");
    let o = run_param_with("any-free", "cidr_set", v6_only, a, b, true);
    assert_eq!(o.conflicts.len(), 1, "{o:?}");
    let (a, b) = ("remote_ip4 in $p", "remote_ip4 == 10.1.1.1");
    let o = run_param_with("any-free-v4", "cidr_set", v6_only, a, b, true);
    assert_eq!(o.conflicts.len(), 1, "{o:?}");
}

#[test]
fn mixed_and_ipv6_set_params_take_their_deployed_prefixes() {
    let mixed = r#"[10.0.0.0/8, "2001:db8::/32"]"#;
    for (name, ty, value, a, b, want) in [
        (
            "mixed-v6-in",
            "cidr_set",
            mixed,
            "remote_ip in $p",
            "remote_ip6 == 2001:db8::9",
            1,
        ),
        (
            "mixed-v4-in",
            "cidr_set",
            mixed,
            "remote_ip in $p",
            "family == AF_INET && remote_ip4 == 10.1.1.1",
            1,
        ),
        (
            "mixed-out",
            "cidr_set",
            mixed,
            "remote_ip in $p",
            "remote_ip in 2001:db9::/32 || remote_ip in 11.0.0.0/8",
            0,
        ),
        (
            "mixed-not-in",
            "cidr_set",
            mixed,
            "remote_ip not in $p",
            "remote_ip == ::ffff:10.2.3.4",
            0,
        ),
        (
            "mixed-v4-field",
            "cidr_set",
            mixed,
            "remote_ip4 in $p",
            "remote_ip4 == 10.9.9.9",
            1,
        ),
        (
            "mixed-v4-field-out",
            "cidr_set",
            r#"["2001:db8::/32"]"#,
            "remote_ip4 in $p",
            "true",
            0,
        ),
        (
            "v6set-in",
            "cidr6_set",
            r#"["2001:db8::/32", "::ffff:10.0.0.0/104"]"#,
            "remote_ip6 in $p",
            "remote_ip in 10.5.0.0/16",
            1,
        ),
        (
            "v6set-out",
            "cidr6_set",
            r#"["2001:db8::/32"]"#,
            "remote_ip6 in $p",
            "remote_ip6 in fe80::/10",
            0,
        ),
    ] {
        let o = run_param(name, ty, value, a, b);
        assert_eq!(o.conflicts.len(), want, "{name}: {o:?}");
    }
}

#[test]
fn set_param_values_are_checked() {
    for (name, ty, value, want) in [
        (
            "v4-in-v6set",
            "cidr6_set",
            "[10.0.0.0/8]",
            "a cidr6_set holds IPv6 prefixes",
        ),
        (
            "long",
            "cidr_set",
            r#"["2001:db8::/200"]"#,
            "out of range 0..=128",
        ),
        (
            "bad",
            "cidr_set",
            r#"["2001:db8:::/32"]"#,
            "invalid CIDR prefix",
        ),
    ] {
        let path = write_case(name, "true", "true");
        let dir = path.parent().expect("case dir");
        let spec = format!(
            "feature: a\ndescription: test\nconfig:\n  p: {{ type: {ty} }}\nprograms:\n  - name: a\n    hook: sock_ops\n    \
             writes:\n      - field: TCP_CONGESTION\n        value: \"cubic\"\n        when: remote_ip in $p\n"
        );
        std::fs::write(dir.join("a.yaml"), spec).expect("write spec");
        let comp = format!(
            "composition: {name}\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n    config: {{ p: {value} }}\n  - spec: b.yaml\n"
        );
        std::fs::write(&path, comp).expect("write composition");
        let msg = match load(&path, &opts()) {
            Ok(_) => panic!("{name}: loaded"),
            Err(e) => report::load_errors_human(&e),
        };
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(
            msg.contains("composition.yaml:5:"),
            "{name}: no location in {msg}"
        );
    }
}

/// The free set a conflict's witness shows for `a.p`.
fn witness_set(o: &CheckOutcome) -> String {
    let Some(Conflict::SameField { witness, .. }) = o.conflicts.first() else {
        panic!("no conflict: {o:?}");
    };
    witness
        .config
        .get("a.p")
        .unwrap_or_else(|| panic!("no a.p in {witness:?}"))
        .display
        .clone()
}

#[test]
fn any_config_leaves_the_ipv6_entries_of_a_set_free() {
    // Deployed, the set holds no prefix around the peer; some config could
    // (the witness shows one that does, and `eval` re-checks it).
    for (name, ty, value, a, b, want) in [
        (
            "free6-mixed",
            "cidr_set",
            "[10.0.0.0/8]",
            "remote_ip in $p",
            "remote_ip == 2001:db8::9",
            Some("2001:db8::9/128"),
        ),
        (
            "free6-v6set",
            "cidr6_set",
            r#"["2001:db8::/32"]"#,
            "remote_ip6 in $p",
            "remote_ip6 == fe80::1",
            Some("fe80::1/128"),
        ),
        (
            "free6-negated",
            "cidr_set",
            r#"["2001:db8::/32"]"#,
            "remote_ip not in $p",
            "remote_ip == 2001:db8::9",
            None,
        ),
        (
            "free6-with-v4-part",
            "cidr_set",
            r#"["2001:db8::/32"]"#,
            "remote_ip in $p && remote_ip4 in $p",
            "family == AF_INET6 && remote_ip6 == 2001:db9::1",
            Some("2001:db9::1/128"),
        ),
    ] {
        let o = run_param_with(name, ty, value, a, b, false);
        assert_eq!(o.conflicts.len(), 0, "{name} deployed: {o:?}");
        let o = run_param_with(name, ty, value, a, b, true);
        assert_eq!(o.conflicts.len(), 1, "{name} any config: {o:?}");
        let set = witness_set(&o);
        match want {
            Some(entry) => assert!(set.contains(entry), "{name}: {set}"),
            None => assert!(!set.contains("2001:db8::9"), "{name}: {set}"),
        }
    }
}

#[test]
fn a_free_ipv6_set_keeps_the_families_apart() {
    // The 128-bit set holds no IPv4-mapped address (those are the IPv4
    // entries'), so on an AF_INET socket (remote_ip is remote_ip4 mapped)
    // the two parts never disagree about one address.
    let (a, b) = (
        "remote_ip in $p && remote_ip4 not in $p",
        "family == AF_INET && remote_ip4 == 10.1.1.1",
    );
    let o = run_param_with("free6-apart", "cidr_set", "[10.0.0.0/8]", a, b, true);
    assert_eq!(o.conflicts.len(), 0, "{o:?}");
    // Under the same guard an IPv6 peer does conflict.
    let b = "remote_ip == 2001:db8::1";
    let o = run_param_with("free6-apart-v6", "cidr_set", "[10.0.0.0/8]", a, b, true);
    assert_eq!(o.conflicts.len(), 1, "{o:?}");
    assert!(witness_set(&o).contains("2001:db8::1/128"), "{o:?}");
}
