//! `apply` on the real kernel: a four-feature chain on a test cgroup, real
//! connections from inside it show every effect, a sibling cgroup shows
//! none; a second apply is a no-op; a config change builds a new generation
//! (so no connection sees two members' configs from different applies).

mod apply_common;

use std::net::Ipv4Addr;

use apply_common::*;
use runtime::lifecycle;
use runtime::plan::PlanKind;
use verifier_tests::{require_root_or_skip, so_sndbuf, tcp_info, tcp_maxseg, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

fn four() -> Vec<runtime::desired::DesiredMember> {
    vec![
        member("init_cwnd", Some(40), &[(PEER, 32)]),
        member("jumbo_mss", Some(1400), &[(PEER, 32)]),
        member("sndbuf", Some(1 << 20), &[(PEER, 32)]),
        member("rto_min", Some(5000), &[(PEER, 32)]),
    ]
}

#[test]
fn four_features_on_a_cgroup_and_none_on_its_sibling() {
    if !require_root_or_skip("apply four features") {
        return;
    }
    let roots = Roots::new("apply4");
    let (cg, sibling) = (
        TestCgroup::create("apply4").unwrap(),
        TestCgroup::create("apply4-sib").unwrap(),
    );
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let desired = chain(cg.path(), four());
    let (plan, done) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Fresh { generation: 1 });
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);

    let mut conn = TcpConn::connect_from(&cg, PEER).unwrap();
    conn.exchange(64 * 1024).unwrap();
    let info = tcp_info(&conn.client).unwrap();
    assert_eq!(
        info.tcpi_snd_cwnd.max(40),
        info.tcpi_snd_cwnd,
        "init_cwnd: cwnd {}",
        info.tcpi_snd_cwnd
    );
    // TCP_MAXSEG reports the MSS less TCP options (12 bytes of timestamps).
    assert!(tcp_maxseg(&conn.client).unwrap() <= 1400, "jumbo_mss");
    assert_eq!(
        so_sndbuf(&conn.client).unwrap(),
        verifier_tests::sndbuf_after_set(1 << 20),
        "sndbuf (the kernel doubles it, capped by net.core.wmem_max)"
    );
    // The RTO follows the smoothed RTT: settle it with round trips first
    // (one bulk exchange leaves it noisy on a slow, emulated machine).
    conn.ping_pong(40).unwrap();
    let rto = tcp_info(&conn.client).unwrap().tcpi_rto;
    assert!(rto < 200_000, "rto_min: rto {rto}us");

    // Not in the prefixes: untouched, from the same cgroup.
    let other = TcpConn::connect_from(&cg, OTHER).unwrap();
    assert_eq!(tcp_info(&other.client).unwrap().tcpi_snd_cwnd, 10);
    assert!(tcp_maxseg(&other.client).unwrap() > 1400);
    // The sibling cgroup: untouched even to the configured peer.
    let mut sib = TcpConn::connect_from(&sibling, PEER).unwrap();
    sib.exchange(64 * 1024).unwrap();
    let sinfo = tcp_info(&sib.client).unwrap();
    assert!(tcp_maxseg(&sib.client).unwrap() > 1400);
    assert_ne!(
        so_sndbuf(&sib.client).unwrap(),
        verifier_tests::sndbuf_after_set(1 << 20)
    );
    assert!(sinfo.tcpi_rto >= 200_000, "sibling rto {}", sinfo.tcpi_rto);

    // Status: members in order, with ids; stats counted while enabled.
    let st = lifecycle::status(&roots.layout, &adapter, &store).unwrap();
    let names: Vec<&str> = st[0].members.iter().map(|m| m.member.as_str()).collect();
    assert_eq!(names, ["init_cwnd", "jumbo_mss", "sndbuf", "rto_min"]);
    assert!(st[0].drift.is_empty(), "{:?}", st[0].drift);
    let ids: Vec<u32> = st[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();

    // Second apply: no-op, same program ids.
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::NoChange { generation: 1 });
    let st = lifecycle::status(&roots.layout, &adapter, &store).unwrap();
    let again: Vec<u32> = st[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();
    assert_eq!(ids, again);

    // Config-only change: a new generation (new ids), the new effect.
    let mut changed = four();
    changed[0] = member("init_cwnd", Some(25), &[(PEER, 32)]);
    let desired2 = chain(cg.path(), changed);
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired2).unwrap();
    assert_eq!(plan.kind, PlanKind::ConfigChange { from: 1, to: 2 });
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 25);
    let st = lifecycle::status(&roots.layout, &adapter, &store).unwrap();
    let after: Vec<u32> = st[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();
    assert!(
        ids.iter().all(|id| !after.contains(id)),
        "every member of generation 2 is loaded anew: {ids:?} {after:?}"
    );

    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &desired.key).unwrap();
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(
        tcp_info(&conn.client).unwrap().tcpi_snd_cwnd,
        10,
        "detached"
    );
}

#[test]
fn bpf_dctcp_is_registered_with_its_member_and_collected_after_detach() {
    if !require_root_or_skip("apply bpf_dctcp") {
        return;
    }
    let _name = verifier_tests::dctcp_lock().unwrap();
    let roots = Roots::new("dctcp");
    let cg = TestCgroup::create("dctcp").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let desired = chain(
        cg.path(),
        vec![
            member("bpf_dctcp", None, &[(PEER, 32)]),
            member("init_cwnd", Some(40), &[(PEER, 32)]),
        ],
    );
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &desired).unwrap();
    assert!(
        plan.to_string().contains("register struct_ops bpf_dctcp"),
        "{plan}"
    );
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(
        verifier_tests::tcp_congestion(&conn.client).unwrap(),
        "bpf_dctcp"
    );
    assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40);
    let other = TcpConn::connect_from(&cg, OTHER).unwrap();
    assert_ne!(
        verifier_tests::tcp_congestion(&other.client).unwrap(),
        "bpf_dctcp"
    );
    drop((conn, other));

    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &desired.key).unwrap();
    let found = lifecycle::gc(&roots.layout, &mut adapter, &store, false).unwrap();
    assert_eq!(found, vec![roots.layout.struct_ops_dir("bpf_dctcp")]);
    let mut available = true;
    for _ in 0..60 {
        available = runtime::struct_ops::congestion_control_available("bpf_dctcp").unwrap();
        if !available {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !available,
        "bpf_dctcp is unregistered once gc removed its pins"
    );
}
