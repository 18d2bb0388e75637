//! `accord check` and `accord graph` as a user runs them: exit codes (0 safe,
//! 1 not safe, 2 invalid input), the reports on stdout, errors with
//! file:line:col and the valid choices on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime has a parent")
        .to_path_buf()
}

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run accord")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

#[track_caller]
fn assert_has(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "expected {n:?} in:\n{haystack}");
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn tmpdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "accord-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

#[test]
fn examples_give_the_documented_exit_codes() {
    for (example, extra, code, needle) in [
        ("storage-hosts", None, 0, "verdict: SAFE"),
        ("storage-hosts", Some("--any-config"), 0, "verdict: SAFE"),
        (
            "resolved-override",
            None,
            0,
            "warning: `TCP_BPF_IW`: big_iw overrides init_cwnd_intra",
        ),
        (
            "same-field",
            None,
            1,
            "CONFLICT 1: init_cwnd_intra and big_iw write different values to `TCP_BPF_IW`",
        ),
        ("overlapping-cidrs", None, 1, "remote_ip4=10.20."),
        (
            "invariant-break",
            None,
            1,
            "invariant `iw_within_cwnd_clamp` (TCP_BPF_IW <= TCP_BPF_SNDCWND_CLAMP)",
        ),
        ("ordering-cycle", None, 1, "ORDER CYCLE"),
        ("config-dependent", None, 0, "verdict: SAFE"),
        (
            "config-dependent",
            Some("--any-config"),
            1,
            "CONFLICT 1: rwnd_web and rwnd_bulk write different values to `reply`",
        ),
    ] {
        let path = format!("examples/{example}/composition.yaml");
        let mut args = vec!["check", path.as_str()];
        args.extend(extra);
        let o = accord(&args);
        assert_exit(&o, code);
        assert_has(&text(&o).0, &[needle]);
    }
}

#[test]
fn json_output_is_machine_readable() {
    let o = accord(&[
        "check",
        "--format",
        "json",
        "examples/same-field/composition.yaml",
    ]);
    assert_exit(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["verdict"], "conflicts");
    assert_eq!(v["safe"], false);
    assert_eq!(v["outcome"]["conflicts"][0]["field"], "TCP_BPF_IW");
    let o = accord(&[
        "check",
        "--format",
        "json",
        "examples/storage-hosts/composition.yaml",
    ]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["verdict"], "safe");
    assert_eq!(v["outcome"]["order"].as_array().map(Vec::len), Some(7));
}

#[test]
fn dot_and_graph_write_graphviz() {
    let dir = tmpdir();
    let dot = dir.join("g.dot");
    let o = accord(&[
        "check",
        "--dot",
        dot.to_str().expect("utf-8"),
        "examples/same-field/composition.yaml",
    ]);
    assert_exit(&o, 1);
    let g = std::fs::read_to_string(&dot).expect("dot written");
    assert_has(
        &g,
        &[
            "digraph \"same-field\"",
            "color=red",
            "label=\"TCP_BPF_IW\"",
        ],
    );

    let out = dir.join("cycle.dot");
    let o = accord(&[
        "graph",
        "examples/ordering-cycle/composition.yaml",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 0);
    assert_has(
        &std::fs::read_to_string(&out).expect("graph written"),
        &["color=orange", "reads SO_MARK"],
    );

    let o = accord(&["graph", "examples/storage-hosts/composition.yaml"]);
    assert_exit(&o, 0);
    assert_has(&text(&o).0, &["\"init_cwnd\" [label="]);

    let o = accord(&[
        "check",
        "--dot",
        "/nonexistent-dir/x.dot",
        "examples/storage-hosts/composition.yaml",
    ]);
    assert_exit(&o, 2);
    assert_has(&text(&o).1, &["cannot write /nonexistent-dir/x.dot"]);
}

#[test]
fn dump_smt_writes_each_query() {
    let dir = tmpdir().join("smt");
    // Set-typed params under --any-config always need z3 (simpler pairs may
    // be decided without it, and then there is nothing to dump).
    let o = accord(&[
        "check",
        "--any-config",
        "--dump-smt",
        dir.to_str().expect("utf-8"),
        "examples/config-dependent/composition.yaml",
    ]);
    assert_exit(&o, 1);
    let first = std::fs::read_to_string(dir.join("0001.smt2")).expect("a query was written");
    assert_has(&first, &["; answer: sat", "(check-sat)", "reply"]);
}

#[test]
fn help_teaches_with_examples() {
    let o = accord(&["check", "--help"]);
    assert_exit(&o, 0);
    assert_has(
        &text(&o).0,
        &[
            "--any-config",
            "--format",
            "--dot",
            "--specs",
            "Examples:",
            "accord check --format json",
        ],
    );
    let o = accord(&["graph", "--help"]);
    assert_has(&text(&o).0, &["Examples:", "-o, --output"]);
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

/// Runs `accord check` on a composition of `spec` with `config`, and
/// returns (stderr with the temp dir replaced by `$DIR`) after asserting exit 2.
fn bad(spec: &str, config: &str, extra: &str) -> String {
    let dir = tmpdir();
    std::fs::write(dir.join("a.yaml"), spec).expect("write spec");
    let comp = format!("composition: t\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n    config: {config}\n{extra}");
    std::fs::write(dir.join("composition.yaml"), comp).expect("write composition");
    let specs = root().join("specs");
    let path = dir.join("composition.yaml");
    let o = accord(&[
        "check",
        "--specs",
        specs.to_str().expect("utf-8"),
        path.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 2);
    text(&o).1.replace(&dir.display().to_string(), "$DIR")
}

#[test]
fn every_bad_input_class_exits_2_with_file_line_column_and_choices() {
    let cases: Vec<(String, &str, &str, Vec<&str>)> = vec![
        // unknown field
        (SPEC.replace("field: TCP_BPF_IW", "field: TCP_BPF_IX"), "{}", "", vec!["$DIR/a.yaml:11:16: error: unknown field `TCP_BPF_IX`", "help: did you mean `TCP_BPF_IW`?", "help: valid: `IPV6_AUTOFLOWLABEL`, `IPV6_TCLASS`, `IP_TOS`, `SO_KEEPALIVE`, `SO_MARK`"]),
        // unknown param
        (SPEC.to_string(), "{ iww: 3 }", "", vec!["$DIR/composition.yaml:5:15: error: unknown param `iww` of feature `init_cwnd`", "did you mean `iw`?", "valid: `iw`, `prefixes` or `port`"]),
        // unknown feature
        (SPEC.to_string(), "{}", "resolve:\n  - { field: TCP_BPF_IW, prefer: init_cwd }\n", vec!["$DIR/composition.yaml:7:34: error: unknown feature `init_cwd`", "did you mean `init_cwnd`?"]),
        // wrong type
        (SPEC.to_string(), "{ iw: fast }", "", vec!["$DIR/composition.yaml:5:19: error: expected a u32 for `init_cwnd.iw`, found `fast`"]),
        // out of range port
        (SPEC.to_string(), "{ port: 70000 }", "", vec!["$DIR/composition.yaml:5:21: error: 70000 is out of range for `init_cwnd.port` (u16) (0..=65535)"]),
        // bad CIDR
        (SPEC.to_string(), "{ prefixes: [10.0.0.300/8] }", "", vec!["$DIR/composition.yaml:5:26: error: invalid CIDR prefix `10.0.0.300/8`: octet 300 is out of range 0..=255"]),
        // a string for a u32
        (SPEC.to_string(), "{ iw: \"40\" }", "", vec!["$DIR/composition.yaml:5:19: error: expected a u32 for `init_cwnd.iw`, found the string \"40\""]),
        // malformed guard
        (SPEC.replace("&& remote_ip4", "&& (remote_ip4"), "{}", "", vec!["$DIR/a.yaml:13:70: error: malformed guard", "expected `)` to close the `(` at character 32, found end of guard", "   | op == ACTIVE_ESTABLISHED_CB && (remote_ip4 in $prefixes\n"]),
        // a guard comparing an ipv4 field with a string
        (SPEC.replace("remote_ip4 in $prefixes", "remote_ip4 == \"10.0.0.1\""), "{}", "", vec!["$DIR/a.yaml:13:60: error: invalid guard", "cannot compare field `remote_ip4` (ipv4) with string \"10.0.0.1\""]),
        // unknown op name
        (SPEC.replace("ACTIVE_ESTABLISHED_CB", "ACTIVE_ESTABLISH_CB"), "{}", "", vec!["$DIR/a.yaml:13:21: error: invalid guard", "unknown op value `ACTIVE_ESTABLISH_CB`; did you mean `BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB`?"]),
    ];
    for (spec, config, extra, needles) in cases {
        let err = bad(&spec, config, extra);
        assert_has(&err, &needles);
        assert_has(&err, &["nothing was checked"]);
    }
}

#[test]
fn missing_and_duplicate_inputs_exit_2() {
    let o = accord(&["check", "examples/no-such/composition.yaml"]);
    assert_exit(&o, 2);
    assert_has(&text(&o).1, &["examples/no-such/composition.yaml: error: cannot read composition examples/no-such/composition.yaml: no such file"]);

    let dir = tmpdir();
    std::fs::write(dir.join("a.yaml"), SPEC).expect("write");
    std::fs::write(dir.join("b.yaml"), SPEC).expect("write");
    std::fs::write(dir.join("composition.yaml"), "composition: t\nhook: sock_ops\nfeatures:\n  - spec: a.yaml\n  - spec: b.yaml\n  - spec: c.yaml\n").expect("write");
    let specs = root().join("specs");
    let path = dir.join("composition.yaml");
    let o = accord(&[
        "check",
        "--specs",
        specs.to_str().expect("utf-8"),
        path.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 2);
    let err = text(&o).1.replace(&dir.display().to_string(), "$DIR");
    assert_has(
        &err,
        &[
            "$DIR/composition.yaml:6:11: error: cannot read feature spec $DIR/c.yaml: no such file",
            "$DIR/composition.yaml:5:11: error: duplicate feature name `init_cwnd`",
            "2 errors in the input",
        ],
    );

    // The same as JSON, for machines.
    let o = accord(&[
        "check",
        "--format",
        "json",
        "--specs",
        specs.to_str().expect("utf-8"),
        path.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 2);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["verdict"], "invalid_input");
    assert_eq!(v["errors"]["errors"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["errors"]["errors"][1]["location"]["line"], 5);
    assert_eq!(v["errors"]["errors"][1]["kind"]["kind"], "duplicate");
}
