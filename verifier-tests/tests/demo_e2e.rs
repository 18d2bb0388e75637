//! The README's main job, end to end: `accord-demo` (what `scripts/demo`
//! runs) checks the demo composition, applies it with the real `accord`
//! binary to a demo cgroup, measures real loopback connections against the
//! composer's predictions and cleans up. Run as root; the `accord` binary
//! must be built beside the test (`cargo test --workspace` builds it, as
//! runtime's CLI tests need it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use verifier_tests::{cgroup2_mount, require_root_or_skip};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the demo on `composition` and checks it left nothing behind, or
/// returns `None` (having said why) when this host cannot run it.
fn demo(test: &str, composition: &str) -> Option<(Output, String)> {
    // The demo serialises itself against other demos, but this file's
    // checks of what is left must not see the other test's demo running.
    static ONE_DEMO: Mutex<()> = Mutex::new(());
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    if !require_root_or_skip(test) {
        return None;
    }
    let accord = verifier_tests::accord_bin_or_skip(test)?;
    let out = Command::new(env!("CARGO_BIN_EXE_accord-demo"))
        .arg("--accord")
        .arg(&accord)
        .arg(repo().join(composition))
        .output()
        .expect("running accord-demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    // Whatever the verdict, the demo leaves nothing behind.
    assert_nothing_left(&text);
    Some((out, text))
}

/// Nothing of the demo is left: no demo cgroup of this process's children,
/// no pins, no records.
fn assert_nothing_left(text: &str) {
    assert!(text.contains("nothing left behind"), "{text}");
    assert!(!Path::new("/sys/fs/bpf/accord-demo").exists(), "pins left");
    assert!(!Path::new("/run/accord-demo").exists(), "records left");
    let root = cgroup2_mount().unwrap();
    for line in text.lines() {
        if let Some(cg) = line.trim().strip_prefix("demo cgroup:") {
            assert!(!Path::new(cg.trim()).exists(), "cgroup {cg} left");
        }
    }
    assert!(root.is_dir());
}

/// The connection tables: their rows, as (row text, agrees).
fn tables(text: &str) -> Vec<Vec<(&str, bool)>> {
    let mut tables: Vec<Vec<(&str, bool)>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("end ") && line.contains("predicted") {
            tables.push(Vec::new());
        } else if line.starts_with("client ") || line.starts_with("server ") {
            let ok = line.ends_with('✓');
            tables
                .last_mut()
                .expect("a row after a header")
                .push((line, ok));
        }
    }
    tables
}

fn row<'a>(tables: &[Vec<(&'a str, bool)>], table: usize, prefix: &str) -> &'a str {
    tables[table]
        .iter()
        .find(|(r, _)| r.starts_with(prefix))
        .unwrap_or_else(|| panic!("no row {prefix} in table {table}"))
        .0
}

#[test]
fn demo_measures_every_predicted_effect_and_cleans_up() {
    let Some((out, text)) = demo("demo end to end", "examples/demo/loopback.yaml") else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{text}");
    for step in ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"] {
        assert!(text.contains(step), "{step} missing:\n{text}");
    }
    assert!(text.contains("verdict: SAFE"), "{text}");
    assert!(text.contains("applied: first apply"), "{text}");
    let tables = tables(&text);
    assert_eq!(tables.len(), 4, "four connections:\n{text}");
    let rows: usize = tables.iter().map(Vec::len).sum();
    assert!(tables.iter().flatten().all(|(_, ok)| *ok), "{text}");
    // 127.0.0.2 gets every feature; 127.0.0.3 only init_cwnd and rto_min;
    // 127.0.0.1 and the sibling cgroup none.
    let r = row(&tables, 0, "client  initial cwnd");
    assert!(
        r.contains("40 segments (init_cwnd)") && r.contains("snd_cwnd 40"),
        "{r}"
    );
    let r = row(&tables, 0, "client  congestion control");
    assert!(r.contains("bpf_dctcp (bpf_dctcp)"), "{r}");
    let r = row(&tables, 0, "client  MSS");
    assert!(
        r.contains("1400 bytes (jumbo_mss)") && r.contains("1388"),
        "{r}"
    );
    let r = row(&tables, 0, "client  ECN");
    assert!(r.contains("negotiated"), "{r}");
    let r = row(&tables, 0, "client  initial receive window");
    assert!(
        r.contains("4 x MSS (rwnd_init)") && r.contains("5600"),
        "{r}"
    );
    let r = row(&tables, 1, "server  initial cwnd");
    assert!(r.contains("snd_cwnd 40"), "{r}");
    let r = row(&tables, 1, "client  congestion control");
    assert!(r.contains("host default"), "{r}");
    for table in [2, 3] {
        let r = row(&tables, table, "client  initial cwnd");
        assert!(
            r.contains("kernel default 10") && r.contains("snd_cwnd 10"),
            "{r}"
        );
    }
    assert!(
        text.contains(&format!("result: all {rows} measured effects")),
        "{text}"
    );
}

#[test]
fn demo_reports_a_spec_that_claims_another_value_and_still_cleans_up() {
    let Some((out, text)) = demo(
        "demo with a wrong spec",
        "examples/demo/wrong-spec/composition.yaml",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1), "{text}");
    let tables = tables(&text);
    let rows: usize = tables.iter().map(Vec::len).sum();
    let wrong: Vec<&str> = tables
        .iter()
        .flatten()
        .filter(|(_, ok)| !ok)
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(wrong.len(), 2, "client and server initial cwnd:\n{text}");
    for r in &wrong {
        assert!(
            r.contains("20 segments") && r.contains("snd_cwnd 40"),
            "{r}"
        );
    }
    assert!(
        text.contains(&format!("2 of {rows} measured effects differ")),
        "{text}"
    );
}
