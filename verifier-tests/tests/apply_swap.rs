//! A swap under load: while a client opens connections in a loop from the
//! test cgroup, the chain is swapped to a different member set. Every
//! connection shows exactly the old or exactly the new effects, none fails;
//! and one connection held across the swap on purpose keeps the old chain.

mod apply_common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use apply_common::*;
use runtime::lifecycle;
use runtime::plan::PlanKind;
use verifier_tests::{
    connect_bound, connect_started, listener_in, one_slot_listener, require_root_or_skip,
    setsockopt_u32, so_sndbuf, tcp_info, tcp_maxseg, wait_connected, TcpConn, TestCgroup,
};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Old,
    New,
    Mixed(u32, bool, bool),
}

fn classify(conn: &TcpConn) -> Seen {
    let cwnd = tcp_info(&conn.client).unwrap().tcpi_snd_cwnd;
    let big_sndbuf = so_sndbuf(&conn.client).unwrap() == 2 << 20;
    let small_mss = tcp_maxseg(&conn.client).unwrap() <= 1400;
    match (cwnd, big_sndbuf, small_mss) {
        (40, true, false) => Seen::Old,
        (25, false, true) => Seen::New,
        (c, b, m) => Seen::Mixed(c, b, m),
    }
}

fn v4_addr(listener: &std::net::TcpListener) -> std::net::SocketAddrV4 {
    match listener.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("an IPv4 listener, not {other}"),
    }
}

#[test]
fn every_connection_sees_exactly_one_generation() {
    if !require_root_or_skip("apply swap under load") {
        return;
    }
    let roots = Roots::new("swap");
    let cg = Arc::new(TestCgroup::create("swap").unwrap());
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let old = chain(
        cg.path(),
        vec![
            member("init_cwnd", Some(40), &[(PEER, 32)]),
            member("sndbuf", Some(1 << 20), &[(PEER, 32)]),
        ],
    );
    let new = chain(
        cg.path(),
        vec![
            member("jumbo_mss", Some(1400), &[(PEER, 32)]),
            member("init_cwnd", Some(25), &[(PEER, 32)]),
        ],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &old).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (cg, stop) = (Arc::clone(&cg), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let conn =
                    TcpConn::connect_from(&cg, PEER).expect("no connection may fail during a swap");
                seen.push(classify(&conn));
            }
            seen
        })
    };
    // Let some connections see the old generation first.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = std::time::Instant::now();
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &new).unwrap();
    let took = start.elapsed();
    assert_eq!(plan.kind, PlanKind::Swap { from: 1, to: 2 });
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen = client.join().unwrap();

    let mixed: Vec<&Seen> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Mixed(..)))
        .collect();
    assert!(
        mixed.is_empty(),
        "connections with a mix of effects: {mixed:?}"
    );
    let first_new = seen
        .iter()
        .position(|s| *s == Seen::New)
        .expect("some connection saw the new chain");
    assert!(first_new > 0, "some connection saw the old chain");
    assert!(
        seen[first_new..].iter().all(|s| *s == Seen::New),
        "after the swap, only the new chain"
    );
    eprintln!(
        "{} connections, {} before the swap; swap apply took {took:?}",
        seen.len(),
        first_new
    );
    // The replaced generation stays pinned for the connections it stamped.
    assert!(roots.layout.generation_dir(&old.key, 1).exists());
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &old.key).unwrap();
}

/// A connection whose `TCP_CONNECT_CB` runs under the old generation and
/// whose `ACTIVE_ESTABLISHED_CB` runs after the swap: the listener's full
/// accept queue drops its SYN until the swap is done, so the handshake
/// completes only on the retransmitted SYN, a second later.
#[test]
fn a_connection_across_the_swap_keeps_its_first_generation() {
    if !require_root_or_skip("apply swap across one connection") {
        return;
    }
    let roots = Roots::new("straddle");
    let cg = TestCgroup::create("straddle").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let old = chain(
        cg.path(),
        vec![
            member("jumbo_mss", Some(1400), &[(PEER, 32)]),
            member("init_cwnd", Some(40), &[(PEER, 32)]),
        ],
    );
    let new = chain(
        cg.path(),
        vec![member("init_cwnd", Some(25), &[(PEER, 32)])],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &old).unwrap();

    let listener = one_slot_listener(std::net::SocketAddrV4::new(PEER, 0)).unwrap();
    let addr = v4_addr(&listener);
    // Fill the accept queue from outside the cgroup.
    let filler = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let client = connect_started(&cg, addr).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let not_yet = wait_connected(&client, std::time::Duration::from_millis(0));
    assert!(
        not_yet.is_err(),
        "the handshake should wait for a SYN retransmit"
    );

    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &new).unwrap();
    assert_eq!(plan.kind, PlanKind::Swap { from: 1, to: 2 });
    let (_first, _) = listener.accept().unwrap();
    drop(filler);
    wait_connected(
        &client,
        verifier_tests::slow(std::time::Duration::from_secs(5)),
    )
    .unwrap();
    let (_server, _) = listener.accept().unwrap();

    // Both callbacks ran the old chain: its MSS and its initial window.
    let cwnd = tcp_info(&client).unwrap().tcpi_snd_cwnd;
    let mss = tcp_maxseg(&client).unwrap();
    assert_eq!((cwnd, mss <= 1400), (40, true), "cwnd {cwnd}, mss {mss}");
    // A connection opened now runs only the new chain.
    let fresh = TcpConn::connect_from(&cg, PEER).unwrap();
    let cwnd = tcp_info(&fresh.client).unwrap().tcpi_snd_cwnd;
    let mss = tcp_maxseg(&fresh.client).unwrap();
    assert_eq!((cwnd, mss > 1400), (25, true), "cwnd {cwnd}, mss {mss}");
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &old.key).unwrap();
}

/// The passive side: a listener in the cgroup with `TCP_DEFER_ACCEPT` keeps
/// the connection as a request socket (its `RWND_INIT` runs under the old
/// generation) until the client's first data, sent after the swap; the
/// accepted socket's `PASSIVE_ESTABLISHED_CB` must run the old chain too.
#[test]
fn a_passive_connection_across_the_swap_keeps_its_first_generation() {
    if !require_root_or_skip("apply swap across one passive connection") {
        return;
    }
    let roots = Roots::new("straddle-passive");
    let cg = TestCgroup::create("straddle-passive").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    let old = chain(
        cg.path(),
        vec![member("init_cwnd", Some(40), &[(PEER, 32)])],
    );
    let new = chain(
        cg.path(),
        vec![
            member("init_cwnd", Some(25), &[(PEER, 32)]),
            member("sndbuf", Some(1 << 20), &[(PEER, 32)]),
        ],
    );
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &old).unwrap();

    let listener = listener_in(&cg, None, std::net::SocketAddrV4::new(PEER, 0)).unwrap();
    setsockopt_u32(&listener, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 5).unwrap();
    let addr = v4_addr(&listener);
    let mut client = connect_bound(PEER, addr).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));

    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &new).unwrap();
    assert_eq!(plan.kind, PlanKind::Swap { from: 1, to: 2 });
    std::io::Write::write_all(&mut client, b"x").unwrap();
    let (server, _) = listener.accept().unwrap();
    let cwnd = tcp_info(&server).unwrap().tcpi_snd_cwnd;
    let big_sndbuf = so_sndbuf(&server).unwrap() == 2 << 20;
    assert_eq!(
        (cwnd, big_sndbuf),
        (40, false),
        "the accepted socket ran the new chain"
    );
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &old.key).unwrap();
}
