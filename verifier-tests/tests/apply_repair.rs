//! Repair without a gap, on the running kernel. An `accord apply` killed
//! (SIGKILL, in a child process) between the link update and the record
//! write leaves the link running a generation the record does not name;
//! the next apply repairs it with one `BPF_LINK_UPDATE` of the same link
//! (never detach, then attach) while a loop of connections runs, and not
//! one connection goes untuned. A kill after the record write but before
//! the old generation's cleanup leaves a stale generation; the next
//! apply, with nothing to change, removes it, and `doctor` is healthy.

mod apply_common;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apply_common::*;
use runtime::desired::DesiredChain;
use runtime::plan::{Action, PlanKind};
use runtime::{executor, lifecycle, sys};
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const ENV_CRASH: &str = "ACCORD_TEST_CRASH_AFTER";
const ENV_BPFFS: &str = "ACCORD_TEST_CRASH_BPFFS";
const ENV_STATE: &str = "ACCORD_TEST_CRASH_STATE";
const ENV_CGROUP: &str = "ACCORD_TEST_CRASH_CGROUP";
const ENV_IW: &str = "ACCORD_TEST_CRASH_IW";

/// The chains of these tests: init_cwnd with `iw`, and sndbuf when `iw` is
/// 41 (so the member set changes and the apply builds a new generation).
fn chain_with(cgroup: &Path, iw: u64) -> DesiredChain {
    let mut members = vec![member("init_cwnd", Some(iw), &[(PEER, 32)])];
    if iw == 41 {
        members.push(member("sndbuf", Some(1 << 20), &[(PEER, 32)]));
    }
    chain(cgroup, members)
}

/// Not a test of its own: the child that applies a chain and kills itself
/// with SIGKILL right after the step named by ACCORD_TEST_CRASH_AFTER.
#[test]
fn crash_child() {
    let Ok(after) = std::env::var(ENV_CRASH) else {
        return;
    };
    let var = |k: &str| PathBuf::from(std::env::var(k).expect("set by the parent"));
    let layout = runtime::layout::Layout {
        bpffs_root: var(ENV_BPFFS),
        state_dir: var(ENV_STATE),
    };
    let iw: u64 = std::env::var(ENV_IW).unwrap().parse().unwrap();
    let desired = chain_with(&var(ENV_CGROUP), iw);
    let mut adapter = runtime::adapter::real::RealAdapter::default();
    let mut store = runtime::state::FsStateStore {
        layout: layout.clone(),
    };
    let plan = lifecycle::plan_for(&layout, &adapter, &store, &desired).unwrap();
    for step in &plan.steps {
        executor::run_action(&step.action, &mut adapter, &mut store).unwrap();
        let hit = matches!(
            (&step.action, after.as_str()),
            (Action::UpdateLink { .. }, "update_link") | (Action::WriteState { .. }, "write_state")
        );
        if hit {
            // SAFETY: killing this very process, as an OOM kill or a
            // power cut would.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
    panic!("the plan had no step {after}:\n{plan}");
}

/// Runs [`crash_child`] applying `iw`'s chain, killed after `after`.
fn apply_killed_after(roots: &Roots, cg: &TestCgroup, iw: u64, after: &str) {
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(ENV_CRASH, after)
        .env(ENV_BPFFS, &roots.layout.bpffs_root)
        .env(ENV_STATE, &roots.layout.state_dir)
        .env(ENV_CGROUP, cg.path())
        .env(ENV_IW, iw.to_string())
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
}

/// The kernel's id of the link pinned for `key` (the link object itself,
/// not the program it runs).
fn link_id(roots: &Roots, key: &str) -> u32 {
    let fd = sys::obj_get(&roots.layout.link_pin(key)).unwrap();
    sys::link_info(fd.as_fd()).unwrap().id
}

fn findings(roots: &Roots) -> Vec<String> {
    diagnose(roots)
        .findings
        .iter()
        .map(|f| format!("{f:?}"))
        .collect()
}

/// Opens connections from the cgroup until stopped; (opened, untuned):
/// untuned are those with the kernel's initial window, i.e. no chain ran.
fn connection_loop(
    cg: Arc<TestCgroup>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u32, u32)> {
    std::thread::spawn(move || {
        let (mut opened, mut untuned) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            let conn = TcpConn::connect_from(&cg, PEER).unwrap();
            opened += 1;
            if !matches!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40 | 41) {
                untuned += 1;
            }
        }
        (opened, untuned)
    })
}

#[test]
fn a_kill_between_link_update_and_record_write_is_repaired_in_place() {
    if !require_root_or_skip("repair after a kill") {
        return;
    }
    let roots = Roots::new("repair");
    let cg = Arc::new(TestCgroup::create("repair").unwrap());
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let a = chain_with(cg.path(), 40);
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &a).unwrap();
    let key = a.key.clone();
    let link = link_id(&roots, &key);

    apply_killed_after(&roots, &cg, 41, "update_link");
    // The link runs generation 2; the record still names generation 1.
    let record = lifecycle::observe(&roots.layout, &adapter, &store, &key).unwrap();
    assert_eq!(record.record.as_ref().unwrap().generation, 1);
    assert_eq!(record.link_generation, Some(2));
    assert!(!record.healthy());

    let stop = Arc::new(AtomicBool::new(false));
    let conns = connection_loop(cg.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(200));
    let b = chain_with(cg.path(), 41);
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &b).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (opened, untuned) = conns.join().unwrap();
    eprintln!("{opened} connections during the repair, {untuned} untuned");

    assert!(
        matches!(plan.kind, PlanKind::Repair { generation: 3 }),
        "{plan}"
    );
    let link_pin = roots.layout.link_pin(&key);
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(&s.action, Action::Unpin { path } if *path == link_pin)),
        "the repair must not unpin (detach) the link:\n{plan}"
    );
    assert_eq!(
        link_id(&roots, &key),
        link,
        "the same link, updated in place"
    );
    assert!(opened > 20, "only {opened} connections");
    assert_eq!(untuned, 0, "connections that ran no chain");

    // Generation 2 keeps serving the connections it stamped, until the next
    // swap; 1 is gone; doctor is healthy; applying again changes nothing.
    let observed = lifecycle::observe(&roots.layout, &adapter, &store, &key).unwrap();
    let record = observed.record.as_ref().unwrap();
    assert_eq!(
        (record.generation, record.previous_generation),
        (3, Some(2))
    );
    let mut gens = observed.generations.clone();
    gens.sort_unstable();
    assert_eq!(gens, vec![2, 3]);
    assert_eq!(findings(&roots), Vec::<String>::new());
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &b).unwrap();
    assert!(
        matches!(plan.kind, PlanKind::NoChange { .. }) && plan.steps.is_empty(),
        "{plan}"
    );
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &key).unwrap();
}

#[test]
fn a_no_change_apply_removes_what_a_kill_left_and_doctor_is_healthy() {
    if !require_root_or_skip("no-change apply after a kill") {
        return;
    }
    let roots = Roots::new("stale");
    let cg = TestCgroup::create("stale").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    for iw in [40, 41] {
        lifecycle::apply(
            &roots.layout,
            &mut adapter,
            &mut store,
            &chain_with(cg.path(), iw),
        )
        .unwrap();
    }
    // Generation 3 recorded, then killed before generation 1 was removed.
    apply_killed_after(&roots, &cg, 42, "write_state");
    let c = chain_with(cg.path(), 42);
    let observed = lifecycle::observe(&roots.layout, &adapter, &store, &c.key).unwrap();
    assert!(observed.healthy());
    assert!(
        observed.generations.contains(&1),
        "{:?}",
        observed.generations
    );
    assert!(
        findings(&roots)
            .iter()
            .any(|f| f.contains("StaleGeneration")),
        "{:?}",
        findings(&roots)
    );

    let (plan, done) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &c).unwrap();
    assert!(
        matches!(plan.kind, PlanKind::NoChange { generation: 3 }),
        "{plan}"
    );
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert_eq!(findings(&roots), Vec::<String>::new());
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 42);
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &c.key).unwrap();
}
