//! The loader on bad input: every class from the issue gives an error that
//! names file, line and column and the valid choices; errors are collected
//! all at once; nothing panics.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use composer::load::{load, LoadErrorKind, LoadErrors, LoadOptions, Loaded};
use composer::report::load_errors_human;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn catalog_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml")
}

/// Writes `files` into a fresh directory and returns it.
fn fixture(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "accord-front-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create fixture dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }
    dir
}

fn opts() -> LoadOptions {
    LoadOptions {
        specs_dir: None,
        catalog: Some(catalog_path()),
    }
}

fn load_dir(dir: &Path) -> Result<Loaded, LoadErrors> {
    load(&dir.join("composition.yaml"), &opts())
}

/// The human rendering with the fixture directory replaced by `$DIR`.
fn errors(dir: &Path) -> String {
    match load_dir(dir) {
        Ok(_) => panic!("expected errors"),
        Err(e) => load_errors_human(&e).replace(&dir.display().to_string(), "$DIR"),
    }
}

const SPEC: &str = "\
feature: init_cwnd
config:
  iw:       { type: u32, min: 1, max: 1024, default: 40 }
  prefixes: { type: cidr4_set, default: [10.0.0.0/8] }
  port:     { type: u16, default: 443 }
programs:
  - name: init_cwnd
    hook: sock_ops
    reads: [op, remote_ip4]
    writes:
      - field: TCP_BPF_IW
        value: $iw
        when: op == ACTIVE_ESTABLISHED_CB && remote_ip4 in $prefixes
";

fn composition(config: &str) -> String {
    format!("composition: t\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n    config: {config}\n")
}

#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in:\n{text}");
    }
}

#[test]
fn a_valid_fixture_loads() {
    let dir = fixture(&[
        ("a.yaml", SPEC),
        ("composition.yaml", &composition("{ iw: 10 }")),
    ]);
    let l = load_dir(&dir).unwrap_or_else(|e| panic!("{}", load_errors_human(&e)));
    assert!(l.warnings.is_empty());
    let f = &l.composition.features[0];
    assert_eq!(
        f.config["iw"],
        composer::ir::ConfigValue::Scalar(composer::ir::Literal::Int(10))
    );
    assert_eq!(
        f.config["port"],
        composer::ir::ConfigValue::Scalar(composer::ir::Literal::Int(443))
    );
}

#[test]
fn unknown_write_field_points_at_it_with_did_you_mean() {
    let dir = fixture(&[
        (
            "a.yaml",
            &SPEC.replace("field: TCP_BPF_IW", "field: TCP_BPF_IX"),
        ),
        ("composition.yaml", &composition("{}")),
    ]);
    let text = errors(&dir);
    assert_has(
        &text,
        &[
            "$DIR/a.yaml:11:16: error: unknown field `TCP_BPF_IX`",
            "did you mean `TCP_BPF_IW`?",
            "valid: `IPV6_AUTOFLOWLABEL`, `IPV6_TCLASS`, `IP_TOS`, `SO_KEEPALIVE`, `SO_MARK`",
        ],
    );
}

#[test]
fn read_only_field_as_write_says_so() {
    let dir = fixture(&[
        (
            "a.yaml",
            &SPEC.replace(
                "field: TCP_BPF_IW\n        value: $iw",
                "field: op\n        value: 3",
            ),
        ),
        ("composition.yaml", &composition("{}")),
    ]);
    assert_has(&errors(&dir), &["unknown field `op` (it is read-only"]);
}

#[test]
fn unknown_param_in_config_and_in_guard() {
    let spec = SPEC.replace("in $prefixes", "in $prefix");
    let dir = fixture(&[
        ("a.yaml", &spec),
        ("composition.yaml", &composition("{ iww: 3 }")),
    ]);
    let text = errors(&dir);
    assert_has(
        &text,
        &[
            "$DIR/a.yaml:13:60: error: invalid guard `op == ACTIVE_ESTABLISHED_CB && remote_ip4 in $prefix`: unknown param `$prefix`; did you mean `$prefixes`?",
            "   |                                              ^^^^^^^\n",
        ],
    );
    // The spec failed, so its config is not checked; fix it and the config error shows.
    let dir = fixture(&[
        ("a.yaml", SPEC),
        ("composition.yaml", &composition("{ iww: 3 }")),
    ]);
    assert_has(
        &errors(&dir),
        &[
            "$DIR/composition.yaml:5:15: error: unknown param `iww` of feature `init_cwnd`",
            "did you mean `iw`?",
            "valid: `iw`, `prefixes` or `port`",
        ],
    );
}

#[test]
fn unknown_feature_in_resolve() {
    let comp = format!(
        "{}resolve:\n  - {{ field: TCP_BPF_IW, prefer: init_cwd }}\n",
        composition("{}")
    );
    let dir = fixture(&[("a.yaml", SPEC), ("composition.yaml", &comp)]);
    assert_has(
        &errors(&dir),
        &[
            "$DIR/composition.yaml:7:34: error: unknown feature `init_cwd`",
            "did you mean `init_cwnd`?",
        ],
    );
}

#[test]
fn wrong_types_and_ranges() {
    for (config, needles) in [
        ("{ iw: fast }", vec!["composition.yaml:5:19: error: expected a u32 for `init_cwnd.iw`, found `fast`"]),
        ("{ iw: \"40\" }", vec!["composition.yaml:5:19: error: expected a u32 for `init_cwnd.iw`, found the string \"40\""]),
        ("{ iw: 2000 }", vec!["composition.yaml:5:19: error: 2000 is out of range for `init_cwnd.iw` (u32) (1..=1024)"]),
        ("{ port: 70000 }", vec!["composition.yaml:5:21: error: 70000 is out of range for `init_cwnd.port` (u16) (0..=65535)"]),
        ("{ prefixes: [10.0.0.300/8] }", vec!["composition.yaml:5:26: error: invalid CIDR prefix `10.0.0.300/8`: octet 300 is out of range 0..=255"]),
        ("{ prefixes: [10.0.0.1/8] }", vec!["invalid CIDR prefix `10.0.0.1/8`: host bits are set; did you mean 10.0.0.0/8?"]),
        ("{ prefixes: 10.0.0.0/8 }", vec!["expected a list for `init_cwnd.prefixes`, found `10.0.0.0/8`"]),
    ] {
        let dir = fixture(&[("a.yaml", SPEC), ("composition.yaml", &composition(config))]);
        let e = load_dir(&dir).expect_err(config);
        assert_has(&load_errors_human(&e).replace(&dir.display().to_string(), "$DIR"), &needles);
    }
}

#[test]
fn malformed_guard_points_inside_the_guard() {
    let spec = SPEC.replace(
        "when: op == ACTIVE_ESTABLISHED_CB && remote_ip4 in $prefixes",
        "when: \"op == ACTIVE_ESTABLISHED_CB && remote_ip4 in 10.0.0.300/8\"",
    );
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    // Column 15 opens the quote; the CIDR starts 45 characters into the guard.
    assert_has(
        &errors(&dir),
        &[
            "$DIR/a.yaml:13:61: error: malformed guard",
            "invalid CIDR `10.0.0.300/8`: octet 300 is out of range 0..=255",
        ],
    );
    let spec = SPEC.replace("&& remote_ip4", "&&& remote_ip4");
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    assert_has(
        &errors(&dir),
        &[
            "$DIR/a.yaml:13:45: error: malformed guard",
            "`&` is not an operator; use `&&`",
        ],
    );
}

#[test]
fn missing_files_are_named() {
    let dir = fixture(&[("composition.yaml", &composition("{}"))]);
    assert_has(
        &errors(&dir),
        &["$DIR/composition.yaml:4:11: error: cannot read feature spec $DIR/a.yaml: no such file"],
    );
    let dir = fixture(&[]);
    assert_has(&errors(&dir), &["$DIR/composition.yaml: error: cannot read composition $DIR/composition.yaml: no such file"]);
}

#[test]
fn duplicate_feature_names() {
    let comp = "composition: t\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n  - spec: b.yaml\n";
    let dir = fixture(&[
        ("a.yaml", SPEC),
        ("b.yaml", SPEC),
        ("composition.yaml", comp),
    ]);
    assert_has(&errors(&dir), &["$DIR/composition.yaml:5:11: error: duplicate feature name `init_cwnd` (first at $DIR/a.yaml:1:10 (listed at $DIR/composition.yaml:4:11))"]);
}

#[test]
fn missing_config_without_default() {
    let spec = SPEC.replace(
        "{ type: u32, min: 1, max: 1024, default: 40 }",
        "{ type: u32, min: 1, max: 1024 }",
    );
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    assert_has(&errors(&dir), &["error: param `iw` of feature `init_cwnd` has no default and the composition gives no value", "add `iw: <value>`"]);
}

#[test]
fn all_errors_at_once() {
    let spec = SPEC
        .replace("field: TCP_BPF_IW", "field: TCP_BPF_IX")
        .replace("reads: [op, remote_ip4]", "reads: [op, remote_ipv4]")
        .replace("wrties", "")
        .replace(
            "hook: sock_ops\n    reads",
            "hook: sock_ops\n    raeds: []\n    reads",
        );
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    let e = load_dir(&dir).expect_err("errors");
    let kinds: Vec<&LoadErrorKind> = e.errors.iter().map(|e| &e.kind).collect();
    assert!(kinds.len() >= 3, "{}", load_errors_human(&e));
    assert_has(
        &load_errors_human(&e),
        &[
            "unknown key `raeds` in a program",
            "did you mean `reads`?",
            "unknown field `remote_ipv4`",
            "unknown field `TCP_BPF_IX`",
        ],
    );
}

#[test]
fn optional_after_names_give_a_warning_not_an_error() {
    let spec = format!("{SPEC}after: [rwnd_int]\n");
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    let l = load_dir(&dir).unwrap_or_else(|e| panic!("{}", load_errors_human(&e)));
    assert_eq!(l.warnings.len(), 1);
    assert!(l.warnings[0]
        .message
        .contains("`after: rwnd_int` names a feature that is not in this composition"));
    assert_eq!(
        (l.warnings[0].location.line, l.warnings[0].location.column),
        (Some(14), Some(9))
    );
    assert!(l.composition.features[0].after.is_empty());
    let self_dep = format!("{SPEC}before: [init_cwnd]\n");
    let dir = fixture(&[
        ("a.yaml", &self_dep),
        ("composition.yaml", &composition("{}")),
    ]);
    assert_has(
        &errors(&dir),
        &["`before` names its own feature `init_cwnd`"],
    );
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let dir = fixture(&[
        ("a.yaml", "feature: [unclosed\n"),
        ("composition.yaml", &composition("{}")),
    ]);
    assert_has(&errors(&dir), &["$DIR/a.yaml:2:1: error: invalid YAML"]);
    let dir = fixture(&[
        ("a.yaml", SPEC),
        ("composition.yaml", "composition: t\ncomposition: u\n"),
    ]);
    assert_has(
        &errors(&dir),
        &["$DIR/composition.yaml:2:1: error: duplicate key `composition` (first at line 1)"],
    );
}

#[test]
fn unknown_hook_lists_the_known_ones() {
    let dir = fixture(&[
        ("a.yaml", SPEC),
        (
            "composition.yaml",
            "composition: t\nhook: sockops\nfeatures: []\n",
        ),
    ]);
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let e = load(
        &dir.join("composition.yaml"),
        &LoadOptions {
            specs_dir: Some(specs),
            catalog: None,
        },
    )
    .expect_err("unknown hook");
    let text = load_errors_human(&e);
    assert_has(
        &text,
        &[
            "composition.yaml:2:7: error: unknown hook `sockops`",
            "did you mean `sock_ops`?",
        ],
    );
}

#[test]
fn never_panics_on_truncated_or_mangled_input() {
    let comp = composition("{ iw: 10, prefixes: [10.0.0.0/8] }");
    let mut inputs: Vec<String> = (0..SPEC.len())
        .filter(|i| SPEC.is_char_boundary(*i))
        .map(|i| SPEC[..i].to_string())
        .collect();
    inputs.extend(
        [
            "",
            "---\n---\n",
            "- a\n- b\n",
            "&a x: *a\n",
            "feature: !!str x\n",
            "a: &x 1\nb: *x\n",
            "feature: {programs: [[[]]]}\n",
            "\u{0}\u{1}",
        ]
        .map(String::from),
    );
    inputs.push(SPEC.replace("    ", "\t"));
    inputs.push(SPEC.replace(':', ""));
    for spec in &inputs {
        let dir = fixture(&[("a.yaml", spec), ("composition.yaml", &comp)]);
        if let Err(e) = load_dir(&dir) {
            assert!(!e.errors.is_empty());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn write_values_are_typed_against_the_field() {
    let with_write =
        |write: &str| SPEC.replace("      - field: TCP_BPF_IW\n        value: $iw\n", write);
    let ok = with_write("      - field: TCP_BPF_IW\n        value: { min: 10, max: 20 }\n");
    let dir = fixture(&[("a.yaml", &ok), ("composition.yaml", &composition("{}"))]);
    let l = load_dir(&dir).unwrap_or_else(|e| panic!("{}", load_errors_human(&e)));
    assert_eq!(
        l.composition.features[0].programs[0].writes[0].value,
        composer::ir::WriteValue::Range { min: 10, max: 20 }
    );
    for (write, needle) in [
        ("      - field: TCP_BPF_IW\n        value: { min: 20, max: 10 }\n", "a.yaml:12:16: error: empty range: min 20 is above max 10"),
        ("      - field: TCP_BPF_IW\n        value: reno\n", "a.yaml:12:16: error: expected a u32 for the value written to `TCP_BPF_IW`, found `reno`"),
        ("      - field: TCP_CONGESTION\n        value: averyveryverylongname\n", "a.yaml:12:16: error: invalid string `averyveryverylongname`: longer than 15 bytes (for the value written to `TCP_CONGESTION`)"),
        ("      - field: TCP_CONGESTION\n        value: $iw\n", "error: `$param` $iw is u32 in 1..=1024, which does not fit field `TCP_CONGESTION` (string (at most 15 bytes))"),
        ("      - field: TCP_BPF_IW\n        value: $prefixes\n", "`$param` $prefixes is a cidr4_set, which does not fit field `TCP_BPF_IW` (u32)"),
        ("      - field: TCP_BPF_IW\n        value: $i\n", "a.yaml:12:16: error: unknown param `$i`"),
    ] {
        let dir = fixture(&[("a.yaml", &with_write(write)), ("composition.yaml", &composition("{}"))]);
        assert_has(&errors(&dir), &[needle]);
    }
}

#[test]
fn program_hooks_must_match_the_composition() {
    let dir = fixture(&[
        ("a.yaml", &SPEC.replace("hook: sock_ops", "hook: xdp")),
        ("composition.yaml", &composition("{}")),
    ]);
    assert_has(&errors(&dir), &["a.yaml:8:11: error: program `init_cwnd` is for hook `xdp`, but the composition is for `sock_ops`"]);
}

#[test]
fn missing_catalog_says_where_it_looked() {
    let dir = fixture(&[("a.yaml", SPEC), ("composition.yaml", &composition("{}"))]);
    let e = load(
        &dir.join("composition.yaml"),
        &LoadOptions {
            specs_dir: Some(dir.join("nope")),
            catalog: None,
        },
    )
    .expect_err("no catalog");
    let text = load_errors_human(&e).replace(&dir.display().to_string(), "$DIR");
    assert_has(
        &text,
        &[
            "$DIR/composition.yaml:2:7: error: no hook catalog for `sock_ops`",
            "help: looked for $DIR/nope/hooks/sock_ops.yaml",
            "help: pass --specs DIR",
        ],
    );
    // Found by searching upward from the composition.
    let nested = dir.join("deep/er");
    std::fs::create_dir_all(dir.join("specs/hooks")).expect("mkdir");
    std::fs::create_dir_all(&nested).expect("mkdir");
    std::fs::copy(catalog_path(), dir.join("specs/hooks/sock_ops.yaml")).expect("copy catalog");
    std::fs::write(nested.join("a.yaml"), SPEC).expect("write");
    std::fs::write(nested.join("composition.yaml"), composition("{}")).expect("write");
    let l = load(&nested.join("composition.yaml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", load_errors_human(&e)));
    assert_eq!(l.composition.catalog.hook, "sock_ops");
}

#[test]
fn error_reports_snapshot() {
    let spec = SPEC
        .replace("field: TCP_BPF_IW", "field: TCP_BPF_IX")
        .replace("&& remote_ip4", "&& (remote_ip4");
    let dir = fixture(&[("a.yaml", &spec), ("b.yaml", "feature: b\nprograms: []\nwrtes: 1\n"), ("composition.yaml", "composition: t\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n  - spec: b.yaml\n    config: { x: 1 }\n  - spec: c.yaml\n")]);
    let e = load_dir(&dir).expect_err("errors");
    let d = dir.display().to_string();
    insta::assert_snapshot!(
        "load-errors-human",
        load_errors_human(&e).replace(&d, "$DIR")
    );
    insta::assert_snapshot!(
        "load-errors-json",
        composer::report::load_errors_json(&e).replace(&d, "$DIR")
    );
}

#[test]
fn one_resolve_entry_per_field() {
    let comp = format!("{}resolve:\n  - {{ field: TCP_BPF_IW, prefer: init_cwnd }}\n  - {{ field: TCP_BPF_IW, prefer: init_cwnd }}\n", composition("{}"));
    let dir = fixture(&[("a.yaml", SPEC), ("composition.yaml", &comp)]);
    assert_has(&errors(&dir), &["$DIR/composition.yaml:8:5: error: duplicate resolve entry for field `TCP_BPF_IW` (first at $DIR/composition.yaml:7:5)"]);
    let comp = format!(
        "{}resolve:\n  - {{ field: TCP_BPF_RTO_MIN, prefer: init_cwnd }}\n",
        composition("{}")
    );
    let dir = fixture(&[("a.yaml", SPEC), ("composition.yaml", &comp)]);
    assert_has(&errors(&dir), &["error: feature `init_cwnd` does not write `TCP_BPF_RTO_MIN`, so it cannot be preferred for it", "help: features that write it: (none)"]);
}

#[test]
fn unknown_read_lists_whole_address_fields_not_their_words() {
    let spec = SPEC.replace("reads: [op, remote_ip4]", "reads: [op, remote_prot]");
    let dir = fixture(&[("a.yaml", &spec), ("composition.yaml", &composition("{}"))]);
    let text = errors(&dir);
    assert_has(
        &text,
        &[
            "unknown field `remote_prot`",
            "did you mean `remote_port`?",
            "`remote_ip6`",
        ],
    );
    assert!(
        !text.contains("remote_ip6["),
        "the 128-bit lowering leaked into the message:\n{text}"
    );
}

#[test]
fn object_is_a_path_beside_the_spec_or_a_builtin_name() {
    use composer::ir::ObjectLocation;
    let with_object = |object: &str| {
        SPEC.replace(
            "    hook: sock_ops\n",
            &format!("    hook: sock_ops\n    object: {object}\n"),
        )
    };
    let object_of = |spec: &str| {
        let dir = fixture(&[("a.yaml", spec), ("composition.yaml", &composition("{}"))]);
        let l = load_dir(&dir).unwrap_or_else(|e| panic!("{}", load_errors_human(&e)));
        let o = l.composition.features[0].programs[0].object.clone();
        (dir, o)
    };
    let (dir, o) = object_of(&with_object("build/init_cwnd.bpf.o"));
    let o = o.expect("an object");
    assert_eq!(
        o.location,
        ObjectLocation::File(dir.join("build/init_cwnd.bpf.o"))
    );
    // The span is the `object:` key: line 9, column 5.
    let span = o.span.expect("a span");
    assert_eq!((span.line, span.column), (9, 5));
    let (_, o) = object_of(&with_object("builtin:init_cwnd"));
    let o = o.expect("an object");
    assert_eq!(o.location, ObjectLocation::Builtin("init_cwnd".into()));
    assert_eq!(o.to_string(), "builtin:init_cwnd");
    let (_, none) = object_of(SPEC);
    assert_eq!(none, None);

    for bad in ["'builtin:'", "builtin:../x", "builtin:init_cwnd.bpf.o"] {
        let dir = fixture(&[
            ("a.yaml", &with_object(bad)),
            ("composition.yaml", &composition("{}")),
        ]);
        assert_has(
            &errors(&dir),
            &["a.yaml:9:13: error: expected `builtin:` and an object name"],
        );
    }
}
