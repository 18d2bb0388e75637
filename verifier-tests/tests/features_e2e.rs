//! End to end, one feature at a time: the feature behind the mini
//! dispatcher on a fresh cgroup, real TCP connections over loopback, the
//! effect read back from user space. Connections to 127.0.0.2 are in the
//! configured prefix (127.0.0.2/32); connections to 127.0.0.1 are not and
//! must be unaffected. Root only; each test owns its cgroup and pins, so
//! they run in parallel.

use std::net::Ipv4Addr;

use runtime::objects::feature_object;
use verifier_tests::*;

const IN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const OUT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// One feature in slot 0 with `config`, prefixes = {127.0.0.2/32}, attached.
fn setup(feature: &str, config: &[u64]) -> (TestCgroup, TestChain) {
    let cg = TestCgroup::create(feature).unwrap();
    let mut chain = TestChain::new(feature).unwrap();
    let object = feature_object(feature).unwrap_or_else(|| panic!("no embedded object {feature}"));
    chain.add_member(object).unwrap();
    if !config.is_empty() {
        chain.set_config(0, config).unwrap();
    }
    chain.add_prefix(0, "prefixes", [127, 0, 0, 2], 32).unwrap();
    chain.attach(&cg).unwrap();
    (cg, chain)
}

#[test]
fn init_cwnd_sets_the_initial_window_for_configured_prefixes() {
    if !require_root_or_skip("init_cwnd e2e") {
        return;
    }
    let (cg, mut chain) = setup("init_cwnd", &[40]);
    let inside = TcpConn::connect_from(&cg, IN).unwrap();
    let outside = TcpConn::connect_from(&cg, OUT).unwrap();
    let passive = TcpConn::accept_in(&cg, IN).unwrap();
    let (i, o, p) = (
        tcp_info(&inside.client).unwrap(),
        tcp_info(&outside.client).unwrap(),
        tcp_info(&passive.server).unwrap(),
    );
    eprintln!(
        "init_cwnd: in={} out={} passive={}",
        i.tcpi_snd_cwnd, o.tcpi_snd_cwnd, p.tcpi_snd_cwnd
    );
    assert_eq!(i.tcpi_snd_cwnd, 40, "active side, in prefix");
    assert_eq!(p.tcpi_snd_cwnd, 40, "passive side, in prefix");
    assert_eq!(
        o.tcpi_snd_cwnd, 10,
        "outside the prefix: the kernel's default"
    );
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (2, 0), "{s:?}");
}

#[test]
fn rwnd_init_lowers_the_initial_receive_window() {
    if !require_root_or_skip("rwnd_init e2e") {
        return;
    }
    let (cg, mut chain) = setup("rwnd_init", &[4]);
    let inside = TcpConn::connect_from_with(&cg, IN, Some(1400)).unwrap();
    let outside = TcpConn::connect_from_with(&cg, OUT, Some(1400)).unwrap();
    let (i, o) = (
        tcp_info(&inside.client).unwrap(),
        tcp_info(&outside.client).unwrap(),
    );
    let (si, so) = (
        tcp_info(&inside.server).unwrap(),
        tcp_info(&outside.server).unwrap(),
    );
    eprintln!(
        "rwnd_init: in rcv_wnd={} rcv_space={} ssthresh={} advmss={} peer snd_wnd={} | out rcv_wnd={} rcv_space={} ssthresh={} peer snd_wnd={}",
        i.tcpi_rcv_wnd, i.tcpi_rcv_space, i.tcpi_rcv_ssthresh, i.tcpi_advmss, si.tcpi_snd_wnd, o.tcpi_rcv_wnd, o.tcpi_rcv_space, o.tcpi_rcv_ssthresh, so.tcpi_snd_wnd
    );
    // The client connects with MSS 1400: the kernel's own initial window is
    // 10 segments (~14000 bytes); the feature's reply is 4 segments.
    assert_eq!(
        i.tcpi_rcv_space,
        4 * 1400,
        "in prefix: 4 segments of the 1400-byte MSS"
    );
    assert!(
        i.tcpi_rcv_ssthresh <= 4 * 1400,
        "in prefix: window ceiling {}",
        i.tcpi_rcv_ssthresh
    );
    assert!(
        si.tcpi_snd_wnd < 8192,
        "the peer sees the small window: {}",
        si.tcpi_snd_wnd
    );
    assert!(
        o.tcpi_rcv_space > 10_000,
        "outside: the kernel's default: {}",
        o.tcpi_rcv_space
    );
    assert!(
        so.tcpi_snd_wnd > 32_768,
        "outside: the peer sees the default window: {}",
        so.tcpi_snd_wnd
    );
    let s = chain.stats(0).unwrap();
    assert_eq!(
        (s.writes, s.errors),
        (1, 0),
        "one reply at RWND_INIT for the in-prefix connection: {s:?}"
    );
}

#[test]
fn rwnd_init_applies_to_the_passive_side_too() {
    if !require_root_or_skip("rwnd_init passive e2e") {
        return;
    }
    // The kernel asks at RWND_INIT for the request socket of a listener in
    // the cgroup; the listener's MSS is 1400.
    let (cg, mut chain) = setup("rwnd_init", &[4]);
    let inside = TcpConn::accept_in_with(&cg, IN, Some(1400)).unwrap();
    let outside = TcpConn::accept_in_with(&cg, OUT, Some(1400)).unwrap();
    let (i, o) = (
        tcp_info(&inside.server).unwrap(),
        tcp_info(&outside.server).unwrap(),
    );
    eprintln!(
        "rwnd_init passive: in rcv_space={} | out rcv_space={}",
        i.tcpi_rcv_space, o.tcpi_rcv_space
    );
    // The passive side sizes segments without the 12-byte timestamp option.
    assert_eq!(i.tcpi_rcv_space, 4 * (1400 - 12), "in prefix: 4 segments");
    assert!(o.tcpi_rcv_space > 10_000, "outside: {}", o.tcpi_rcv_space);
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
}

#[test]
fn jumbo_mss_clamps_the_mss_at_connect() {
    if !require_root_or_skip("jumbo_mss e2e") {
        return;
    }
    let (cg, mut chain) = setup("jumbo_mss", &[1400]);
    let inside = TcpConn::connect_from(&cg, IN).unwrap();
    let outside = TcpConn::connect_from(&cg, OUT).unwrap();
    assert_jumbo_mss_inside_only(&inside, &outside, "outside");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
}

#[test]
fn rto_min_lowers_the_retransmission_timeout() {
    if !require_root_or_skip("rto_min e2e") {
        return;
    }
    let (cg, mut chain) = setup("rto_min", &[5000]);
    let mut inside = TcpConn::connect_from(&cg, IN).unwrap();
    let mut outside = TcpConn::connect_from(&cg, OUT).unwrap();
    assert_rto_min_inside_only(&mut inside, &mut outside, "in prefix");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
}

#[test]
fn sndbuf_fixes_the_send_buffer() {
    if !require_root_or_skip("sndbuf e2e") {
        return;
    }
    let (cg, mut chain) = setup("sndbuf", &[100_000]);
    let inside = TcpConn::connect_from(&cg, IN).unwrap();
    let outside = TcpConn::connect_from(&cg, OUT).unwrap();
    let (i, o) = (
        so_sndbuf(&inside.client).unwrap(),
        so_sndbuf(&outside.client).unwrap(),
    );
    eprintln!("sndbuf: in={i} out={o}");
    assert_eq!(
        i, 200_000,
        "in prefix: the kernel doubles the 100000 bytes set"
    );
    assert_ne!(o, 200_000, "outside: autotuned");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
}

#[test]
fn delack_max_is_written_for_configured_prefixes() {
    if !require_root_or_skip("delack_max e2e") {
        return;
    }
    let (cg, mut chain) = setup("delack_max", &[5000]);
    // The member's counters show the kernel accepted exactly one write, for
    // the in-prefix connection only (the effect on the wire is
    // delack_max_shortens_the_delayed_ack).
    let inside = TcpConn::connect_from(&cg, IN).unwrap();
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
    let outside = TcpConn::connect_from(&cg, OUT).unwrap();
    let t = chain.stats(0).unwrap();
    assert_eq!(
        (t.writes, t.errors),
        (1, 0),
        "outside the prefix: no write: {t:?}"
    );
    assert!(
        t.events > s.events,
        "the member ran for the outside connection too"
    );
    drop((inside, outside));
}

#[test]
fn delack_max_shortens_the_delayed_ack() {
    if !require_root_or_skip("delack_max effect") {
        return;
    }
    let (cg, _chain) = setup("delack_max", &[5000]);
    // The receivers are the accepted ends of listeners in the cgroup: the
    // one whose peer is 127.0.0.2 gets delack_max, the other does not.
    let inside = TcpConn::accept_in(&cg, IN).unwrap();
    let outside = TcpConn::accept_in(&cg, OUT).unwrap();
    assert_delack_max_inside_only(inside, outside, "outside");
}
