//! Shared by the semantics tests: small compositions written as YAML into
//! a fresh directory, loaded with the real sock_ops catalog, checked, and
//! every counterexample re-evaluated against the composition with
//! `composer::eval` (independently of the solver).

#![allow(dead_code, reason = "each test binary uses a different part of it")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use composer::check::{check, CheckOptions};
use composer::eval::{confirm, guard_holds};
use composer::ir::{Composition, MemberId};
use composer::load::{load, LoadOptions, Loaded};
use composer::outcome::{CheckOutcome, Conflict, Witness};
use composer::report;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("composer has a parent")
        .to_path_buf()
}

/// One write of a test feature: field, value (YAML text), `when:` (empty
/// for always) and extra keys (`update: or`).
pub type W<'a> = (&'a str, &'a str, &'a str);

/// A feature spec: `name` reads the parser's fields plus `reads` and makes
/// `writes`.
pub fn spec(name: &str, reads: &[&str], writes: &[W<'_>]) -> String {
    spec_with(name, reads, writes, "")
}

/// [`spec`] with extra lines appended to every write (e.g. `update: or`).
pub fn spec_with(name: &str, reads: &[&str], writes: &[W<'_>], write_extra: &str) -> String {
    let mut all_reads = vec![
        "op",
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_ip6",
        "local_ip6",
        "remote_port",
        "local_port",
    ];
    all_reads.extend_from_slice(reads);
    let mut s = format!(
        "feature: {name}\ndescription: test feature {name}\nprograms:\n  - name: {name}\n    hook: sock_ops\n    reads: [{}]\n    writes:\n",
        all_reads.join(", ")
    );
    for (field, value, when) in writes {
        s += &format!("      - field: {field}\n        value: {value}\n");
        if !when.is_empty() {
            s += &format!("        when: '{when}'\n");
        }
        if !write_extra.is_empty() {
            s += &format!("        {write_extra}\n");
        }
    }
    s
}

/// A case's files in a fresh directory: each `(feature, spec text)` as
/// `<feature>.yaml`, and a composition listing them in order, with
/// `extra` (e.g. a `resolve:` list) appended.
pub fn write_case(name: &str, specs: &[(&str, String)], extra: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "accord-semantics-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut comp = format!("composition: {name}\nhook: sock_ops\nfeatures:\n");
    for (f, text) in specs {
        std::fs::write(dir.join(format!("{f}.yaml")), text).expect("write spec");
        comp += &format!("  - spec: {f}.yaml\n");
    }
    comp += extra;
    let path = dir.join("composition.yaml");
    std::fs::write(&path, comp).expect("write composition");
    path
}

pub fn opts() -> LoadOptions {
    LoadOptions {
        catalog: Some(repo_root().join("specs/hooks/sock_ops.yaml")),
        ..LoadOptions::default()
    }
}

/// The load errors of a case (it must not load), as people read them.
pub fn load_errors(path: &Path) -> String {
    match load(path, &opts()) {
        Ok(_) => panic!("{} loads, but it should not", path.display()),
        Err(e) => report::load_errors_human(&e)
            .replace(&path.parent().expect("dir").display().to_string(), "$DIR"),
    }
}

/// Does some write of `field` by `member` hold on `w`?
pub fn some_guard_holds(c: &Composition, member: &MemberId, field: &str, w: &Witness) -> bool {
    let (_, feature, program) = c
        .members()
        .find(|(id, _, _)| id == member)
        .expect("member in the composition");
    // The written fields its guards read, at the values it sees.
    let view = w.for_member(member);
    program
        .writes
        .iter()
        .filter(|x| x.field == field)
        .any(|x| guard_holds(&x.guard, feature, &view).expect("the witness evaluates"))
}

/// A checked case: what loaded, the outcome, the human report (the case's
/// directory shown as `$DIR`).
pub struct Checked {
    pub loaded: Loaded,
    pub outcome: CheckOutcome,
    pub human: String,
    pub json: String,
}

/// Loads and checks a case; every conflict's and override's witness is
/// confirmed by `composer::eval` and satisfies the guards of both writes.
pub fn check_case(path: &Path) -> Checked {
    let loaded = load(path, &opts()).unwrap_or_else(|e| {
        panic!(
            "{} does not load:\n{}",
            path.display(),
            report::load_errors_human(&e)
        )
    });
    let c = &loaded.composition;
    let outcome = check(c, &CheckOptions::default());
    for conflict in &outcome.conflicts {
        confirm(c, conflict)
            .unwrap_or_else(|e| panic!("witness does not confirm: {e}\n{conflict:#?}"));
        match conflict {
            Conflict::SameField {
                field,
                a,
                b,
                witness,
            } => {
                assert!(some_guard_holds(c, a, field, witness), "{a}: {witness:?}");
                assert!(some_guard_holds(c, b, field, witness), "{b}: {witness:?}");
            }
            Conflict::AcrossCallbacks {
                field,
                first,
                then,
                witness,
                ..
            } => {
                let later = witness.at_later();
                assert!(
                    some_guard_holds(c, first, field, witness),
                    "{first}: {witness:?}"
                );
                assert!(
                    some_guard_holds(c, then, field, &later),
                    "{then}: {later:?}"
                );
            }
            Conflict::Invariant { .. } => {}
        }
    }
    for ov in &outcome.overrides {
        confirm(c, &ov.as_conflict())
            .unwrap_or_else(|e| panic!("override witness does not confirm: {e}\n{ov:#?}"));
    }
    let dir = path.parent().expect("dir").display().to_string();
    let human = report::human(&outcome, c, &loaded.warnings).replace(&dir, "$DIR");
    let json = report::json(&outcome, &loaded.warnings).replace(&dir, "$DIR");
    Checked {
        loaded,
        outcome,
        human,
        json,
    }
}

/// Asserts that `text` contains every one of `parts`.
pub fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "expected {p:?} in:\n{text}");
    }
}
