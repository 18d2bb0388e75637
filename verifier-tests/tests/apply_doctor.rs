//! `accord doctor` against the running kernel: a freshly applied chain is
//! healthy; a sock_ops program attached to the same cgroup outside accord
//! (BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI, as another agent would) is named
//! by its kernel id; pins whose record was removed are reported as running
//! unmanaged; a removed cgroup is reported; gc and detach clean up.

mod apply_common;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use apply_common::*;
use runtime::adapter::inventory::RealInventory;
use runtime::adapter::BpfAdapter;
use runtime::doctor::{self, Finding, Report};
use runtime::lifecycle;
use runtime::sys;
use verifier_tests::{require_root_or_skip, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const SOCK_OPS: u32 = 13;
const CGROUP_SOCK_OPS: u32 = 3;
const ALLOW_MULTI: u32 = 2;

/// `r0 = 1; exit`: a sock_ops program that changes nothing.
fn foreign_program() -> std::os::fd::OwnedFd {
    let insns = [
        0xb7, 0, 0, 0, 1, 0, 0, 0, // mov64 r0, 1
        0x95, 0, 0, 0, 0, 0, 0, 0, // exit
    ];
    sys::prog_load(SOCK_OPS, CGROUP_SOCK_OPS, "foreign_ops", &insns).unwrap()
}

#[test]
fn doctor_finds_foreign_programs_missing_records_and_removed_cgroups() {
    if !require_root_or_skip("accord doctor") {
        return;
    }
    let roots = Roots::new("doctor");
    let cg = TestCgroup::create("doctor").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let desired = chain(
        cg.path(),
        vec![member("init_cwnd", Some(40), &[(PEER, 32)])],
    );
    let key = desired.key.clone();
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();

    // The kernel lists the link's program on the cgroup, and it is ours.
    let facts = doctor::gather(&roots.layout, &adapter, &RealInventory, &store).unwrap();
    let hp = &facts.hookpoints[0];
    let listed: Vec<u32> = hp
        .attached
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.prog_id)
        .collect();
    assert_eq!(listed, vec![hp.link_prog_id.unwrap()]);
    assert_eq!(hp.dispatcher_id, hp.link_prog_id);
    let report = diagnose(&roots);
    assert_eq!(report.findings, vec![], "a fresh apply is healthy");
    assert_eq!(report.healthy, vec![key.clone()]);

    // Another agent attaches its own sock_ops program beside accord's link.
    let prog = foreign_program();
    let prog_id = sys::prog_info(prog.as_fd()).unwrap().id;
    let cg_file = cg.open().unwrap();
    sys::prog_attach(prog.as_fd(), cg_file.as_fd(), CGROUP_SOCK_OPS, ALLOW_MULTI).unwrap();
    let report = diagnose(&roots);
    assert_eq!(
        report.findings,
        vec![Finding::ForeignProgram {
            key: key.clone(),
            cgroup: cg.path().to_owned(),
            prog_id,
            name: "foreign_ops".into(),
        }]
    );
    assert!(report.healthy.is_empty());
    sys::prog_detach(prog.as_fd(), cg_file.as_fd(), CGROUP_SOCK_OPS).unwrap();
    assert_eq!(diagnose(&roots).findings, vec![], "detached: healthy again");

    // The record file goes missing: the pins and the attached link remain.
    let link_prog = adapter
        .link_prog_id(&roots.layout.link_pin(&key))
        .unwrap()
        .expect("the link is pinned");
    std::fs::remove_file(roots.layout.record_path(&key)).unwrap();
    let report = diagnose(&roots);
    assert_eq!(
        report.findings,
        vec![Finding::Unrecorded {
            key: key.clone(),
            path: roots.layout.hookpoint_dir(&key),
            link_prog_id: Some(link_prog),
        }]
    );
    assert!(report.healthy.is_empty());
    let removed = lifecycle::gc(&roots.layout, &mut adapter, &store, false).unwrap();
    assert_eq!(removed, vec![roots.layout.hookpoint_dir(&key)]);
    let report = diagnose(&roots);
    assert_eq!(report, Report::default(), "gc left nothing to report");

    // A chain on a cgroup that is then removed.
    let gone = TestCgroup::create("doctor-gone").unwrap();
    let gone_path = gone.path().to_owned();
    let desired = chain(
        &gone_path,
        vec![member("init_cwnd", Some(40), &[(PEER, 32)])],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    drop(gone);
    assert!(!gone_path.exists(), "the test cgroup was removed");
    let report = diagnose(&roots);
    assert_eq!(
        report.findings,
        vec![Finding::CgroupGone {
            key: desired.key.clone(),
            cgroup: gone_path,
            replaced_by: None,
        }]
    );
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &desired.key).unwrap();
    assert_eq!(diagnose(&roots), Report::default());
}

#[test]
fn doctor_names_a_program_inherited_from_an_ancestor_cgroup() {
    if !require_root_or_skip("accord doctor, inherited programs") {
        return;
    }
    let roots = Roots::new("doctor-inherit");
    let parent = TestCgroup::create("doctor-parent").unwrap();
    let child = parent.path().join("child");
    std::fs::create_dir(&child).unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let desired = chain(&child, vec![member("init_cwnd", Some(40), &[(PEER, 32)])]);
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    assert_eq!(diagnose(&roots).findings, vec![]);

    let prog = foreign_program();
    let prog_id = sys::prog_info(prog.as_fd()).unwrap().id;
    let parent_file = parent.open().unwrap();
    sys::prog_attach(
        prog.as_fd(),
        parent_file.as_fd(),
        CGROUP_SOCK_OPS,
        ALLOW_MULTI,
    )
    .unwrap();
    let report = diagnose(&roots);
    sys::prog_detach(prog.as_fd(), parent_file.as_fd(), CGROUP_SOCK_OPS).unwrap();
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &desired.key).unwrap();
    std::fs::remove_dir(&child).unwrap();
    assert_eq!(
        report.findings,
        vec![Finding::InheritedProgram {
            key: desired.key.clone(),
            cgroup: child.clone(),
            prog_id,
            name: "foreign_ops".into(),
            hookpoint: None,
        }]
    );
}

#[test]
fn doctor_names_programs_below_the_cgroup_and_nested_chains() {
    if !require_root_or_skip("accord doctor, programs below the cgroup") {
        return;
    }
    let roots = Roots::new("doctor-below");
    let parent = TestCgroup::create("doctor-above").unwrap();
    let child = parent.path().join("child");
    let grandchild = child.join("grandchild");
    std::fs::create_dir_all(&grandchild).unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let outer = chain(
        parent.path(),
        vec![member("init_cwnd", Some(40), &[(PEER, 32)])],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &outer).unwrap();
    assert_eq!(diagnose(&roots).findings, vec![]);

    // A foreign program on the child, and a second accord chain on the
    // grandchild: both run for sockets there together with the outer chain.
    let prog = foreign_program();
    let prog_id = sys::prog_info(prog.as_fd()).unwrap().id;
    let child_file = std::fs::File::open(&child).unwrap();
    sys::prog_attach(
        prog.as_fd(),
        child_file.as_fd(),
        CGROUP_SOCK_OPS,
        ALLOW_MULTI,
    )
    .unwrap();
    let inner = chain(
        &grandchild,
        vec![member("init_cwnd", Some(20), &[(PEER, 32)])],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &inner).unwrap();
    let report = diagnose(&roots);
    sys::prog_detach(prog.as_fd(), child_file.as_fd(), CGROUP_SOCK_OPS).unwrap();
    let inner_id = lifecycle::status(&roots.layout, &adapter, &store)
        .unwrap()
        .iter()
        .find(|h| h.record.key == inner.key)
        .and_then(|h| h.link_prog_id)
        .unwrap();
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &inner.key).unwrap();
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &outer.key).unwrap();
    std::fs::remove_dir(&grandchild).unwrap();
    std::fs::remove_dir(&child).unwrap();

    let below: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::DescendantProgram { .. }))
        .cloned()
        .collect();
    assert_eq!(
        below,
        vec![
            Finding::DescendantProgram {
                key: outer.key.clone(),
                cgroup: parent.path().to_owned(),
                descendant: child.clone(),
                prog_id,
                name: "foreign_ops".into(),
                hookpoint: None,
            },
            Finding::DescendantProgram {
                key: outer.key.clone(),
                cgroup: parent.path().to_owned(),
                descendant: grandchild.clone(),
                prog_id: inner_id,
                name: runtime::dispatcher::DISPATCHER_PROG_NAME.into(),
                hookpoint: Some(inner.key.clone()),
            },
        ],
        "{:#?}",
        report.findings
    );
    // The inner chain sees both from below: the foreign program and the
    // outer chain are inherited.
    let inherited: Vec<Option<String>> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::InheritedProgram { key, hookpoint, .. } if *key == inner.key => {
                Some(hookpoint.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(inherited.len(), 2, "{:#?}", report.findings);
    assert!(inherited.contains(&Some(outer.key.clone())));
    assert!(inherited.contains(&None));
}
