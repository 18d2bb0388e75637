//! The SDK itself against the running kernel: the connection parser's byte
//! orders, where TCP_MAXSEG is honoured, and the debug event stream.
//! Root only.

use std::net::{Ipv4Addr, SocketAddr};

use aya::maps::{Array, RingBuf};
use runtime::objects::testing_object;
use verifier_tests::*;

/// `struct probe_record` in ebpf/testing/conn_probe.bpf.c.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct ProbeRecord {
    seen: u32,
    family: u32,
    remote4: u32,
    local4: u32,
    remote_port: u32,
    local_port: u32,
    raw_remote_port: u32,
    raw_local_port: u32,
    is_v4: u32,
}
// SAFETY: repr(C), u32 fields only.
unsafe impl aya::Pod for ProbeRecord {}

const ACTIVE_ESTABLISHED_CB: u32 = 4;
const PASSIVE_ESTABLISHED_CB: u32 = 5;

fn probe(chain: &mut TestChain, op: u32) -> ProbeRecord {
    let map = chain.member(0).map_mut("probe_last").unwrap();
    let arr: Array<_, ProbeRecord> = map.try_into().unwrap();
    arr.get(&op, 0).unwrap()
}

fn port(addr: SocketAddr) -> u32 {
    u32::from(addr.port())
}

#[test]
fn parser_gives_host_order_addresses_and_ports() {
    if !require_root_or_skip("parser byte orders") {
        return;
    }
    let cg = TestCgroup::create("conn_probe").unwrap();
    let mut chain = TestChain::new("conn_probe").unwrap();
    chain
        .add_member(testing_object("conn_probe").unwrap())
        .unwrap();
    chain.attach(&cg).unwrap();

    let ip = Ipv4Addr::new(127, 0, 0, 2);
    let active = TcpConn::connect_from(&cg, ip).unwrap();
    let r = probe(&mut chain, ACTIVE_ESTABLISHED_CB);
    let (local, peer) = (
        active.client.local_addr().unwrap(),
        active.client.peer_addr().unwrap(),
    );
    eprintln!("active: {r:?} local={local} peer={peer}");
    assert_eq!(r.seen, 1);
    assert_eq!(r.family, libc::AF_INET as u32);
    assert_eq!(r.is_v4, 1);
    assert_eq!(r.remote4, u32::from(ip), "remote address, host order");
    assert_eq!(
        r.local4,
        u32::from(Ipv4Addr::new(127, 0, 0, 1)),
        "source address picked by the kernel"
    );
    assert_eq!(r.remote_port, port(peer), "remote port, host order");
    assert_eq!(r.local_port, port(local), "local port, host order");
    // The kernel's own encodings, which the parser undoes: remote_port is
    // the network-order port in the upper 16 bits (bpf_ntohl of it is the
    // port), local_port is host order.
    assert_eq!(u32::from_be(r.raw_remote_port), port(peer));
    assert_eq!(r.raw_local_port, port(local));

    let passive = TcpConn::accept_in(&cg, ip).unwrap();
    let r = probe(&mut chain, PASSIVE_ESTABLISHED_CB);
    let (local, peer) = (
        passive.server.local_addr().unwrap(),
        passive.server.peer_addr().unwrap(),
    );
    eprintln!("passive: {r:?} local={local} peer={peer}");
    assert_eq!(r.seen, 1);
    assert_eq!(r.remote4, u32::from(ip));
    assert_eq!(r.remote_port, port(peer));
    assert_eq!(r.local_port, port(local));
}

/// (v4-mapped connection record, native IPv6 connection record) from a
/// conn_probe build, for clients in a cgroup.
fn probe_v6_connections(object: &str) -> (ProbeRecord, ProbeRecord, u16, u16) {
    let cg = TestCgroup::create(object).unwrap();
    let mut chain = TestChain::new(object).unwrap();
    chain.add_member(testing_object(object).unwrap()).unwrap();
    chain.attach(&cg).unwrap();
    let v4_listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let mapped: SocketAddr = format!(
        "[::ffff:127.0.0.2]:{}",
        v4_listener.local_addr().unwrap().port()
    )
    .parse()
    .unwrap();
    let conn = TcpConn::connect_to(&cg, &v4_listener, mapped).unwrap();
    let mapped_rec = probe(&mut chain, ACTIVE_ESTABLISHED_CB);
    let mapped_port = conn.client.local_addr().unwrap().port();
    let v6_listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let conn6 = TcpConn::connect_to(&cg, &v6_listener, v6_listener.local_addr().unwrap()).unwrap();
    let native_rec = probe(&mut chain, ACTIVE_ESTABLISHED_CB);
    let native_port = conn6.client.local_addr().unwrap().port();
    (mapped_rec, native_rec, mapped_port, native_port)
}

#[test]
fn parser_ipv6_branch_recognises_v4_mapped_peers() {
    if !require_root_or_skip("parser IPv6 branch") {
        return;
    }
    // The default build parses IPv6; `conn_probe_v6` (ACCORD_IPV6 defined,
    // now a no-op) must parse the same.
    for object in ["conn_probe", "conn_probe_v6"] {
        check_v6_parse(object);
    }
}

fn check_v6_parse(object: &str) {
    let (mapped, native, mapped_port, native_port) = probe_v6_connections(object);
    eprintln!("{object}: mapped {mapped:?}\nnative {native:?}");
    assert_eq!(mapped.family, libc::AF_INET6 as u32);
    assert_eq!(
        (mapped.is_v4, mapped.remote4),
        (1, u32::from(Ipv4Addr::new(127, 0, 0, 2)))
    );
    assert_eq!(mapped.local_port, u32::from(mapped_port));
    assert_eq!(native.family, libc::AF_INET6 as u32);
    assert_eq!(
        (native.is_v4, native.remote4),
        (0, 0),
        "::1 is not an IPv4 peer"
    );
    assert_eq!(native.local_port, u32::from(native_port));
}

#[test]
fn parser_without_ipv6_leaves_ipv6_sockets_unparsed() {
    if !require_root_or_skip("parser with ACCORD_NO_IPV6") {
        return;
    }
    // The IPv4-only build reads only the IPv4 fields: an AF_INET6 socket,
    // even a v4-mapped one, has no address, so no prefix matches.
    let (mapped, native, _, _) = probe_v6_connections("conn_probe_v4only");
    for r in [mapped, native] {
        assert_eq!(r.family, libc::AF_INET6 as u32);
        assert_eq!((r.is_v4, r.remote4), (0, 0), "{r:?}");
        assert_ne!(r.remote_port, 0, "ports are parsed for every family");
    }
}

#[test]
fn tcp_maxseg_is_not_honoured_at_the_established_callbacks() {
    if !require_root_or_skip("TCP_MAXSEG at established") {
        return;
    }
    let cg = TestCgroup::create("maxseg_est").unwrap();
    let mut chain = TestChain::new("maxseg_est").unwrap();
    chain
        .add_member(testing_object("maxseg_established").unwrap())
        .unwrap();
    chain.set_config(0, &[1400]).unwrap();
    chain.add_prefix(0, "prefixes", [127, 0, 0, 2], 32).unwrap();
    chain.attach(&cg).unwrap();
    let conn = TcpConn::connect_from(&cg, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
    let s = chain.stats(0).unwrap();
    assert_eq!(
        (s.writes, s.errors),
        (1, 0),
        "the kernel accepts the write: {s:?}"
    );
    let (client, server) = (
        tcp_maxseg(&conn.client).unwrap(),
        tcp_info(&conn.server).unwrap().tcpi_snd_mss,
    );
    assert!(
        client > 16_000 && server > 16_000,
        "but the MSS stays loopback's ({client}, {server})"
    );
}

#[test]
fn debug_events_are_emitted_when_sampling_is_on() {
    if !require_root_or_skip("debug events") {
        return;
    }
    let cg = TestCgroup::create("debug_events").unwrap();
    let pins = PinDir::create("debug_events").unwrap();
    // Load init_cwnd by hand with ACCORD_DEBUG_SAMPLE = 1 (every run).
    let mut dispatcher =
        load_object(testing_object("mini_dispatcher").unwrap(), pins.path(), 0).unwrap();
    let mut member = aya::EbpfLoader::new()
        .default_map_pin_directory(pins.path())
        .override_global("ACCORD_SLOT", &0u32, true)
        .override_global("ACCORD_DEBUG_SAMPLE", &1u32, true)
        .load(runtime::objects::feature_object("init_cwnd").unwrap())
        .unwrap();
    let prog: &mut aya::programs::SockOps =
        member.program_mut("init_cwnd").unwrap().try_into().unwrap();
    prog.load().unwrap();
    let fd = prog.fd().unwrap().try_clone().unwrap();
    let mut chain_map: aya::maps::ProgramArray<_> = dispatcher
        .map_mut("accord_chain")
        .unwrap()
        .try_into()
        .unwrap();
    chain_map.set(0, &fd, 0).unwrap();
    let mut cfg: Array<_, u64> = member.map_mut("accord_config").unwrap().try_into().unwrap();
    cfg.set(0, 40, 0).unwrap();
    let attach: &mut aya::programs::SockOps = dispatcher
        .program_mut("mini_dispatcher")
        .unwrap()
        .try_into()
        .unwrap();
    attach
        .attach(cg.open().unwrap(), aya::programs::CgroupAttachMode::Single)
        .unwrap();

    let conn = TcpConn::connect_from(&cg, Ipv4Addr::new(127, 0, 0, 1)).unwrap();
    let peer_port = conn.client.peer_addr().unwrap().port();
    let mut ring = RingBuf::try_from(member.map_mut("accord_events").unwrap()).unwrap();
    let mut ops = Vec::new();
    while let Some(item) = ring.next() {
        // struct accord_event: ts_ns u64, slot, op, family, remote4, local4
        // (u32), remote_port, local_port (u16), writes u32, last_err i32,
        // remote6, local6 (16 bytes each, network order, IPv4 v4-mapped).
        let b = &*item;
        assert_eq!(b.len(), 72, "sizeof(struct accord_event)");
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        let op = u32_at(12);
        if u32_at(16) == libc::AF_INET as u32 {
            assert_eq!(u32_at(20), u32::from(Ipv4Addr::new(127, 0, 0, 1)));
            assert_eq!(u16::from_ne_bytes(b[28..30].try_into().unwrap()), peer_port);
            let mapped = Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped().octets();
            assert_eq!(b[40..56], mapped, "remote6");
            assert_eq!(b[56..72], mapped, "local6");
        }
        ops.push(op);
    }
    eprintln!("debug events for ops {ops:?}");
    assert!(ops.contains(&3), "TCP_CONNECT_CB event");
    assert!(
        ops.contains(&ACTIVE_ESTABLISHED_CB),
        "ACTIVE_ESTABLISHED_CB event"
    );
    drop(conn);
}
