//! Every composition under `examples/`: its verdict, insta snapshots of the
//! human and JSON reports (and the DOT graph), and every counterexample
//! re-evaluated against both guards with `composer::eval`, independently of
//! the solver.

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

/// Loads `examples/<name>/composition.yaml` with a path relative to the
/// repository root, so reports name files the way a user at the root sees them.
fn load_example(name: &str) -> Loaded {
    std::env::set_current_dir(repo_root()).expect("cd to the repository root");
    let path = PathBuf::from("examples")
        .join(name)
        .join("composition.yaml");
    match load(&path, &LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => panic!(
            "example {name} does not load:\n{}",
            report::load_errors_human(&e)
        ),
    }
}

/// Asserts that `member` has a write of `field` whose guard holds on `w`.
fn assert_guard_holds(c: &Composition, member: &MemberId, field: &str, w: &Witness) {
    let (_, feature, program) = c
        .members()
        .find(|(id, _, _)| id == member)
        .expect("member in composition");
    let holds = program
        .writes
        .iter()
        .filter(|x| x.field == field)
        .any(|x| guard_holds(&x.guard, feature, w).expect("witness evaluates"));
    assert!(
        holds,
        "no guard of {member} writing {field} holds on the witness {w:?}"
    );
}

/// Re-checks every witness of the outcome without the solver.
fn confirm_witnesses(c: &Composition, o: &CheckOutcome) {
    for conflict in &o.conflicts {
        confirm(c, conflict)
            .unwrap_or_else(|e| panic!("witness does not confirm: {e}\n{conflict:?}"));
        match conflict {
            Conflict::SameField {
                field,
                a,
                b,
                witness,
            } => {
                assert_guard_holds(c, a, field, witness);
                assert_guard_holds(c, b, field, witness);
            }
            Conflict::Invariant {
                invariant,
                lhs_writer,
                rhs_writer,
                witness,
            } => {
                let inv = c
                    .catalog
                    .invariants
                    .iter()
                    .find(|i| &i.name == invariant)
                    .expect("invariant in catalog");
                assert_guard_holds(c, lhs_writer, &inv.lhs, witness);
                assert_guard_holds(c, rhs_writer, &inv.rhs, witness);
            }
            Conflict::AcrossCallbacks {
                field,
                first,
                then,
                witness,
                ..
            } => {
                assert_guard_holds(c, first, field, witness);
                assert_guard_holds(c, then, field, &witness.at_later());
            }
        }
    }
    for ov in &o.overrides {
        confirm(c, &ov.as_conflict())
            .unwrap_or_else(|e| panic!("override witness does not confirm: {e}"));
    }
}

/// Checks an example, confirms its witnesses, snapshots its reports and
/// returns the outcome.
fn run(name: &str, any_config: bool) -> CheckOutcome {
    let loaded = load_example(name);
    let c = &loaded.composition;
    let opts = CheckOptions {
        any_config,
        ..CheckOptions::default()
    };
    let outcome = check(c, &opts);
    confirm_witnesses(c, &outcome);
    let suffix = if any_config { "-any-config" } else { "" };
    insta::assert_snapshot!(
        format!("{name}{suffix}-human"),
        report::human(&outcome, c, &loaded.warnings)
    );
    insta::assert_snapshot!(
        format!("{name}{suffix}-json"),
        report::json(&outcome, &loaded.warnings)
    );
    insta::assert_snapshot!(format!("{name}{suffix}-dot"), report::dot(&outcome, c));
    // The same input gives the same bytes.
    let again = check(c, &opts);
    assert_eq!(
        report::json(&outcome, &loaded.warnings),
        report::json(&again, &loaded.warnings)
    );
    outcome
}

fn kinds(o: &CheckOutcome) -> Vec<String> {
    o.conflicts
        .iter()
        .map(|c| match c {
            Conflict::SameField { field, a, b, .. } => format!("same_field {field} {a} {b}"),
            Conflict::AcrossCallbacks {
                field, first, then, ..
            } => format!("across_callbacks {field} {first} {then}"),
            Conflict::Invariant {
                invariant,
                lhs_writer,
                rhs_writer,
                ..
            } => {
                format!("invariant {invariant} {lhs_writer} {rhs_writer}")
            }
        })
        .collect()
}

#[test]
fn same_field_conflicts_on_tcp_bpf_iw() {
    let o = run("same-field", false);
    assert!(!o.is_safe());
    assert_eq!(kinds(&o), ["same_field TCP_BPF_IW init_cwnd_intra big_iw"]);
}

#[test]
fn resolved_override_is_safe_with_a_warning() {
    let o = run("resolved-override", false);
    assert!(o.is_safe(), "{o:?}");
    assert_eq!(o.overrides.len(), 1);
    assert_eq!(o.overrides[0].winner.feature, "big_iw");
    let order = o.order.expect("an order");
    assert_eq!(order.last().map(|m| m.feature.as_str()), Some("big_iw"));
}

#[test]
fn overlapping_cidrs_conflict_inside_both_prefixes() {
    let o = run("overlapping-cidrs", false);
    assert_eq!(kinds(&o), ["same_field TCP_CONGESTION cc_region cc_rack"]);
    let Conflict::SameField { witness, .. } = &o.conflicts[0] else {
        unreachable!()
    };
    let ip = &witness.connection["remote_ip4"].display;
    assert!(
        ip.starts_with("10.20."),
        "peer {ip} should be inside 10.20.0.0/16"
    );
}

#[test]
fn ipv6_dual_stack_finds_the_mapped_rack_inside_the_ipv4_prefix() {
    let o = run("ipv6-dual-stack", false);
    assert_eq!(kinds(&o), ["same_field TCP_BPF_IW init_cwnd rack_iw"]);
    let Conflict::SameField { witness, .. } = &o.conflicts[0] else {
        unreachable!()
    };
    let conn: std::collections::BTreeMap<String, String> =
        composer::eval::fold_addresses(&witness.connection)
            .into_iter()
            .collect();
    assert_eq!(conn["family"], "AF_INET6");
    let ip = &conn["remote_ip6"];
    assert!(
        ip.starts_with("::ffff:10.20."),
        "peer {ip} should be inside ::ffff:10.20.0.0/112"
    );
}

#[test]
fn invariant_break_is_reported() {
    let o = run("invariant-break", false);
    assert_eq!(
        kinds(&o),
        ["invariant iw_within_cwnd_clamp init_cwnd cwnd_clamp"]
    );
}

#[test]
fn ordering_cycle_is_printed() {
    let o = run("ordering-cycle", false);
    assert!(o.conflicts.is_empty());
    assert!(o.order.is_none());
    let cycle: Vec<String> = o
        .cycle
        .expect("a cycle")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 3);
}

#[test]
fn config_dependent_is_safe_as_deployed_but_not_for_any_config() {
    let deployed = run("config-dependent", false);
    assert!(deployed.is_safe(), "{deployed:?}");
    let any = run("config-dependent", true);
    assert_eq!(kinds(&any), ["same_field reply rwnd_web rwnd_bulk"]);
}

#[test]
fn every_example_has_a_readme_and_is_tested() {
    let tested = [
        "config-dependent",
        "invariant-break",
        "ipv6-dual-stack",
        "ordering-cycle",
        "overlapping-cidrs",
        "resolved-override",
        "same-field",
        "storage-hosts",
    ];
    let dir = repo_root().join("examples");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("composition.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    for name in &found {
        assert!(
            tested.contains(&name.as_str()),
            "example {name} has no test in composer/tests/examples.rs"
        );
        let readme = dir.join(name).join("README.md");
        let text = std::fs::read_to_string(&readme).unwrap_or_default();
        assert!(
            !text.trim().is_empty(),
            "{} is missing or empty",
            readme.display()
        );
    }
}

#[test]
fn storage_hosts_is_safe_for_any_config() {
    for any_config in [false, true] {
        let o = run("storage-hosts", any_config);
        assert!(o.is_safe(), "{o:?}");
        assert_eq!(o.members.len(), 7);
        assert_eq!(o.order.map(|v| v.len()), Some(7));
    }
}

#[test]
fn every_shared_feature_spec_loads_against_the_catalog() {
    let root = repo_root();
    let catalog = composer::load::load_catalog(&root.join("specs/hooks/sock_ops.yaml"))
        .expect("catalog loads");
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("specs/features")).expect("specs/features exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = composer::load::load_feature_spec(&path, &catalog) {
                panic!("{}", report::load_errors_human(&e));
            }
            n += 1;
        }
    }
    assert!(n >= 6, "only {n} feature specs found");
}
