//! `detach` then `gc` leaves no accord program, map, link or pin behind,
//! checked against the kernel's own object listing.

mod apply_common;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use apply_common::*;
use runtime::adapter::BpfAdapter;
use runtime::lifecycle;
use runtime::sys;
use verifier_tests::{require_root_or_skip, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn map_id(pin: &std::path::Path) -> u32 {
    sys::map_info(sys::obj_get(pin).unwrap().as_fd())
        .unwrap()
        .id
}

fn gone(ids: &[u32], kind: sys::ObjectKind) -> bool {
    // Freeing is deferred (RCU): give the kernel a moment.
    for _ in 0..60 {
        let live = sys::all_ids(kind).unwrap();
        if ids.iter().all(|id| !live.contains(id)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[test]
fn detach_and_gc_leave_nothing_behind() {
    if !require_root_or_skip("detach and gc") {
        return;
    }
    let roots = Roots::new("gc");
    let cg = TestCgroup::create("gc").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let desired = chain(
        cg.path(),
        vec![
            member("init_cwnd", Some(40), &[(PEER, 32)]),
            member("sndbuf", Some(1 << 20), &[(PEER, 32)]),
        ],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    let layout = &roots.layout;

    // What is live, by kernel id.
    let st = &lifecycle::status(layout, &adapter, &store).unwrap()[0];
    let mut progs: Vec<u32> = st
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();
    progs.push(st.dispatcher.as_ref().unwrap().id);
    let link = sys::link_info(
        sys::obj_get(&layout.link_pin(&desired.key))
            .unwrap()
            .as_fd(),
    )
    .unwrap()
    .id;
    let mut maps = vec![map_id(&layout.chain_pin(&desired.key, 1))];
    for m in ["m00-init_cwnd", "m01-sndbuf"] {
        let dir = layout.generation_dir(&desired.key, 1).join(m);
        maps.push(map_id(&dir.join("accord_config")));
        maps.push(map_id(&dir.join("accord_set_prefixes")));
    }

    // An orphan generation, as an interrupted apply would leave it.
    let orphan = layout.generation_dir(&desired.key, 7);
    adapter.make_dir(&orphan).unwrap();
    adapter.create_chain_map(&orphan.join("chain")).unwrap();
    maps.push(map_id(&orphan.join("chain")));
    let found = lifecycle::gc(layout, &mut adapter, &store, true).unwrap();
    assert_eq!(found, vec![orphan.clone()]);
    assert!(orphan.exists(), "a dry run removes nothing");

    lifecycle::detach(layout, &mut adapter, &mut store, &desired.key).unwrap();
    let found = lifecycle::gc(layout, &mut adapter, &store, false).unwrap();
    assert!(
        found.is_empty(),
        "detach removed the whole hookpoint: {found:?}"
    );
    assert_eq!(
        std::fs::read_dir(&layout.bpffs_root).unwrap().count(),
        0,
        "no pin left"
    );
    assert!(
        gone(&progs, sys::ObjectKind::Prog),
        "programs still loaded: {progs:?}"
    );
    assert!(
        gone(&maps, sys::ObjectKind::Map),
        "maps still present: {maps:?}"
    );
    assert!(
        gone(&[link], sys::ObjectKind::Link),
        "link still present: {link}"
    );
}
