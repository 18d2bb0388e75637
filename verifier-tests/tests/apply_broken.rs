//! A member the verifier refuses: the apply fails with its verifier log,
//! the live generation keeps working, nothing new stays pinned or loaded.

mod apply_common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use apply_common::*;
use runtime::adapter::AdapterError;
use runtime::adapter::BpfAdapter;
use runtime::executor::StepError;
use runtime::lifecycle::{self, LifecycleError};
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(tree(&p));
        }
        out.insert(p);
    }
    out
}

/// Programs the kernel holds that were not there before, named like ours.
fn new_programs(before: &[u32], names: &[&str]) -> Vec<(u32, String)> {
    use runtime::sys::{all_ids, prog_fd_by_id, prog_info, ObjectKind};
    use std::os::fd::AsFd;
    all_ids(ObjectKind::Prog)
        .unwrap()
        .into_iter()
        .filter(|id| !before.contains(id))
        .filter_map(|id| {
            let fd = prog_fd_by_id(id).ok()?;
            let info = prog_info(fd.as_fd()).ok()?;
            names
                .contains(&info.name.as_str())
                .then_some((id, info.name))
        })
        .collect()
}

#[test]
fn a_verifier_rejection_leaves_the_live_generation_intact() {
    if !require_root_or_skip("apply with a broken member") {
        return;
    }
    let roots = Roots::new("broken");
    let cg = TestCgroup::create("broken").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let good = chain(
        cg.path(),
        vec![member("init_cwnd", Some(40), &[(PEER, 32)])],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &good).unwrap();
    let link_before = adapter
        .link_prog_id(&roots.layout.link_pin(&good.key))
        .unwrap();
    let pins_before = tree(&roots.layout.bpffs_root);
    let record_before = std::fs::read_to_string(roots.layout.record_path(&good.key)).unwrap();
    let (progs_before, _, _) = kernel_ids();

    let mut broken_members = vec![
        member("sndbuf", Some(1 << 20), &[(PEER, 32)]),
        member("init_cwnd", Some(25), &[(PEER, 32)]),
    ];
    let mut broken = member("broken_ctx_access", None, &[]);
    broken.config.sets.clear();
    broken_members.insert(1, broken);
    let bad = chain(cg.path(), broken_members);
    let err = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &bad).unwrap_err();
    let LifecycleError::Exec(exec) = &err else {
        panic!("not an executor error: {err}")
    };
    match &exec.source {
        StepError::Adapter(AdapterError::Verifier { what, log, .. }) => {
            assert!(what.contains("broken_ctx_access"), "{what}");
            assert!(
                !log.trim().is_empty(),
                "the verifier log travels with the error"
            );
        }
        other => panic!("expected a verifier rejection, got {other}"),
    }
    assert!(exec.undo_failures.is_empty(), "{:?}", exec.undo_failures);

    assert_eq!(
        tree(&roots.layout.bpffs_root),
        pins_before,
        "nothing new pinned, nothing removed"
    );
    assert_eq!(
        adapter
            .link_prog_id(&roots.layout.link_pin(&good.key))
            .unwrap(),
        link_before
    );
    assert_eq!(
        std::fs::read_to_string(roots.layout.record_path(&good.key)).unwrap(),
        record_before
    );
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(
        tcp_info(&conn.client).unwrap().tcpi_snd_cwnd,
        40,
        "the live generation still works"
    );

    // Programs of the failed generation are freed (RCU may take a moment).
    let mut leftover = Vec::new();
    for _ in 0..40 {
        leftover = new_programs(&progs_before, &["sndbuf", "init_cwnd", "accord_disp"]);
        if leftover.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(leftover.is_empty(), "programs left loaded: {leftover:?}");
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &good.key).unwrap();
}

#[test]
fn a_config_map_off_the_layout_rule_is_refused_and_rolled_back() {
    if !require_root_or_skip("apply with a config layout mismatch") {
        return;
    }
    let roots = Roots::new("badcfg");
    let cg = TestCgroup::create("badcfg").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    // The spec side says one u32 param: 8 bytes by the rule; the object
    // declares a 4-byte struct.
    let mut bad = member("bad_config_layout", Some(40), &[]);
    bad.config.sets.clear();
    let desired = chain(
        cg.path(),
        vec![member("init_cwnd", Some(40), &[(PEER, 32)]), bad],
    );
    let err = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap_err();
    let LifecycleError::Exec(exec) = &err else {
        panic!("not an executor error: {err}")
    };
    match &exec.source {
        StepError::Adapter(AdapterError::ConfigLayout {
            expected: 8,
            actual: 4,
            ..
        }) => {}
        other => panic!("expected a layout refusal, got {other}"),
    }
    assert!(err.to_string().contains("layout rule"), "{err}");
    assert!(
        tree(&roots.layout.bpffs_root).is_empty(),
        "nothing left pinned: {:?}",
        tree(&roots.layout.bpffs_root)
    );
    assert!(!roots.layout.record_path(&desired.key).exists());
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(
        tcp_info(&conn.client).unwrap().tcpi_snd_cwnd,
        10,
        "nothing attached"
    );
}
