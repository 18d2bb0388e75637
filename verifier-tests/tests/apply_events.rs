//! `accord events` on the real kernel: a chain applied with
//! `--debug-sample 1` has every member write one `struct accord_event` per
//! run into its pinned `accord_events` ring buffer; the runtime reads them
//! back through the pins and finds, for every member, the events of a
//! connection made from the cgroup (its ports, ACTIVE_ESTABLISHED_CB, the
//! write made). Applied again with sampling 0, the runtime says debug
//! events are off instead of waiting. Over IPv6 (`::1` in the members'
//! prefix sets), the events carry both 16-byte addresses and the ports.

mod apply_common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use apply_common::*;
use runtime::adapter::events::{
    self, op_name, AccordEvent, DebugSample, EventsError, MemberEvent, MemberRing, RealEvents,
    Until,
};
use runtime::adapter::real::RealAdapter;
use runtime::desired::{DesiredChain, DesiredMember};
use runtime::dispatcher::Hook;
use runtime::lifecycle;
use runtime::state::{FsStateStore, HookpointRecord, StateStore};
use verifier_tests::{require_root_or_skip, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB.
const ACTIVE_ESTABLISHED: u32 = 4;
/// BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB.
const PASSIVE_ESTABLISHED: u32 = 5;

fn members() -> Vec<runtime::desired::DesiredMember> {
    vec![
        member("init_cwnd", Some(40), &[(PEER, 32)]),
        member("rto_min", Some(5000), &[(PEER, 32)]),
    ]
}

/// Applies `members` to `cg` with every run sampled (`--debug-sample 1`);
/// returns the desired chain and its stored record.
fn apply_sampled(
    roots: &Roots,
    adapter: &mut RealAdapter,
    store: &mut FsStateStore,
    cg: &TestCgroup,
    members: Vec<DesiredMember>,
) -> (DesiredChain, HookpointRecord) {
    let mut sampled = chain(cg.path(), members);
    sampled.debug_sample = 1;
    lifecycle::apply(&roots.layout, adapter, store, &sampled).unwrap();
    let record = store.load(&sampled.key).unwrap().expect("a record");
    (sampled, record)
}

/// Polls `rings` for 500 ms and prints every event read; returns what
/// `events::poll` counted and the events.
fn poll_half_a_second(rings: &mut [MemberRing]) -> (usize, Vec<MemberEvent>) {
    let mut got: Vec<MemberEvent> = Vec::new();
    let until = Until {
        count: None,
        duration: Some(Duration::from_millis(500)),
    };
    let n = events::poll(rings, until, &mut |e| got.push(e.clone())).unwrap();
    for e in &got {
        eprintln!(
            "{} slot {} {} {} {:?}:{} -> {:?}:{} writes {} err {}",
            e.member,
            e.event.slot,
            op_name(Hook::SockOps, e.event.op),
            e.event.family_name(),
            e.event.local_text(),
            e.event.local_port,
            e.event.remote_text(),
            e.event.remote_port,
            e.event.writes,
            e.event.last_err
        );
    }
    (n, got)
}

/// The events of member `name` in `got`.
fn events_of(got: &[MemberEvent], name: &str) -> Vec<AccordEvent> {
    got.iter()
        .filter(|e| e.member == name)
        .map(|e| e.event)
        .collect()
}

#[test]
fn debug_events_of_a_connection_are_read_for_every_member() {
    if !require_root_or_skip("accord events") {
        return;
    }
    let roots = Roots::new("events");
    let cg = TestCgroup::create("events").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());

    let (_, record) = apply_sampled(&roots, &mut adapter, &mut store, &cg, members());
    assert_eq!(events::debug_sample(&record), DebugSample::Every(1));

    let mut rings = events::open_rings(&roots.layout, &record, &RealEvents, None).unwrap();
    assert_eq!(rings.len(), 2);
    // Nothing ran in the cgroup yet: the rings are empty.
    let until = Until {
        count: None,
        duration: Some(Duration::from_millis(100)),
    };
    assert_eq!(events::poll(&mut rings, until, &mut |_| {}).unwrap(), 0);

    let mut conn = TcpConn::connect_from(&cg, PEER).unwrap();
    conn.exchange(4096).unwrap();
    let local_port = conn.client.local_addr().unwrap().port();
    let remote_port = conn.client.peer_addr().unwrap().port();

    let (n, got) = poll_half_a_second(&mut rings);
    assert_eq!(n, got.len());
    for (slot, name) in ["init_cwnd", "rto_min"].iter().enumerate() {
        let mine = events_of(&got, name);
        assert!(!mine.is_empty(), "{name}: no events in {got:?}");
        assert!(
            mine.iter().all(|e| e.slot == slot as u32),
            "{name}: {mine:?}"
        );
        let established = mine
            .iter()
            .find(|e| e.op == ACTIVE_ESTABLISHED && e.local_port == local_port)
            .unwrap_or_else(|| panic!("{name}: no ACTIVE_ESTABLISHED_CB event in {mine:?}"));
        assert_eq!(established.family_name(), "ipv4");
        assert_eq!(established.remote_port, remote_port, "{name}");
        assert_eq!(established.remote_text().as_deref(), Some("127.0.0.2"));
        assert_eq!(established.local_text().as_deref(), Some("127.0.0.1"));
        // The 16-byte addresses: IPv4 is v4-mapped, network order.
        assert_eq!(established.remote6, PEER.to_ipv6_mapped().octets());
        assert_eq!(
            established.local6,
            Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets()
        );
        // Both members write at ACTIVE_ESTABLISHED_CB for a peer in their set.
        assert_eq!((established.writes, established.last_err), (1, 0), "{name}");
        // Every run of the chain is sampled, the connect callback too.
        assert!(
            mine.iter()
                .any(|e| op_name(Hook::SockOps, e.op) == "TCP_CONNECT_CB"),
            "{name}: {mine:?}"
        );
    }
    drop(conn);
    drop(rings);

    // One member only.
    let rings = events::open_rings(&roots.layout, &record, &RealEvents, Some("rto_min")).unwrap();
    assert_eq!(rings.len(), 1);
    assert_eq!(rings[0].slot, 1);
    drop(rings);

    // Sampling 0: a reload whose members emit nothing; the reader says so.
    let quiet = chain(cg.path(), members());
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &quiet).unwrap();
    let record = store.load(&quiet.key).unwrap().expect("a record");
    assert_eq!(record.generation, 2);
    assert_eq!(events::debug_sample(&record), DebugSample::Off);
    let err = events::open_rings(&roots.layout, &record, &RealEvents, None)
        .err()
        .expect("refused");
    assert!(matches!(err, EventsError::DebugOff { .. }), "{err}");
    assert!(err.to_string().contains("debug events are off"), "{err}");

    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &quiet.key).unwrap();
}

/// The members of [`members`] with `::1/128` as their only prefix.
fn members_v6() -> Vec<runtime::desired::DesiredMember> {
    // LPM key: prefixlen, then the 16 address bytes in network order.
    let mut key = 128u32.to_ne_bytes().to_vec();
    key.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    let mut out = vec![
        member("init_cwnd", Some(40), &[]),
        member("rto_min", Some(5000), &[]),
    ];
    for m in &mut out {
        m.config.sets[0].keys = vec![key.clone()];
    }
    out
}

#[test]
fn debug_events_of_an_ipv6_connection_carry_its_addresses() {
    if !require_root_or_skip("accord events over IPv6") {
        return;
    }
    let roots = Roots::new("events6");
    let cg = TestCgroup::create("events6").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());

    let (sampled, record) = apply_sampled(&roots, &mut adapter, &mut store, &cg, members_v6());
    assert_eq!(record.debug_sample, Some(1));
    let mut rings = events::open_rings(&roots.layout, &record, &RealEvents, None).unwrap();

    // Both ends in the cgroup, over ::1: active and passive callbacks run.
    let conn = TcpConn::within6(&cg, None, Ipv6Addr::LOCALHOST).unwrap();
    let client_port = conn.client.local_addr().unwrap().port();
    let server_port = conn.client.peer_addr().unwrap().port();

    let (_, got) = poll_half_a_second(&mut rings);
    let lo = Ipv6Addr::LOCALHOST.octets();
    for (slot, name) in ["init_cwnd", "rto_min"].iter().enumerate() {
        let mine = events_of(&got, name);
        let find = |op: u32, local_port: u16| {
            mine.iter()
                .find(|e| e.op == op && e.local_port == local_port)
                .copied()
                .unwrap_or_else(|| panic!("{name}: no op {op} on port {local_port} in {mine:?}"))
        };
        let active = find(ACTIVE_ESTABLISHED, client_port);
        let passive = find(PASSIVE_ESTABLISHED, server_port);
        for (e, remote_port) in [(active, server_port), (passive, client_port)] {
            assert_eq!(e.slot, slot as u32, "{name}: {e:?}");
            assert_eq!(e.family_name(), "ipv6", "{name}: {e:?}");
            assert_eq!((e.remote6, e.local6), (lo, lo), "{name}: {e:?}");
            // No IPv4 address for an IPv6 peer: the text comes from remote6.
            assert_eq!((e.remote4, e.local4), (0, 0), "{name}: {e:?}");
            assert_eq!(e.remote_text().as_deref(), Some("::1"), "{name}");
            assert_eq!(e.local_text().as_deref(), Some("::1"), "{name}");
            assert_eq!(e.remote_port, remote_port, "{name}: {e:?}");
        }
        // ::1 is in the prefix set: the member wrote when established.
        assert_eq!((active.writes, active.last_err), (1, 0), "{name}");
    }
    drop(conn);
    drop(rings);
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &sampled.key).unwrap();
}
