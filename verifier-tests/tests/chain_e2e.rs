//! The SDK's continuation through a chain: several features in one chain on
//! one cgroup, each effect present; an empty slot ends the chain cleanly; a
//! full 32-member chain runs every member. Root only; parallel-safe.

use std::net::Ipv4Addr;

use runtime::objects::feature_object;
use verifier_tests::*;

const IN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const OUT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// (feature, config) for the four-feature chain, in slot order.
const FOUR: &[(&str, &[u64])] = &[
    ("init_cwnd", &[40]),
    ("jumbo_mss", &[1400]),
    ("rto_min", &[5000]),
    ("sndbuf", &[100_000]),
];

#[test]
fn four_features_in_one_chain_all_take_effect() {
    if !require_root_or_skip("four-feature chain") {
        return;
    }
    let cg = TestCgroup::create("chain4").unwrap();
    let mut chain = TestChain::new("chain4").unwrap();
    for (idx, (feature, config)) in FOUR.iter().enumerate() {
        let slot = chain.add_member(feature_object(feature).unwrap()).unwrap();
        assert_eq!(slot, idx);
        chain.set_config(idx, config).unwrap();
        chain
            .add_prefix(idx, "prefixes", [127, 0, 0, 2], 32)
            .unwrap();
    }
    // Slot 4 stays empty: the last member's continuation must end cleanly.
    chain.attach(&cg).unwrap();

    let mut inside = TcpConn::connect_from(&cg, IN).unwrap();
    let mut outside = TcpConn::connect_from(&cg, OUT).unwrap();
    let cwnd = tcp_info(&inside.client).unwrap().tcpi_snd_cwnd;
    inside.ping_pong(40).unwrap();
    outside.ping_pong(40).unwrap();
    let (i, o) = (
        tcp_info(&inside.client).unwrap(),
        tcp_info(&outside.client).unwrap(),
    );
    let (mss_in, mss_out) = (
        tcp_maxseg(&inside.client).unwrap(),
        tcp_maxseg(&outside.client).unwrap(),
    );
    let (buf_in, buf_out) = (
        so_sndbuf(&inside.client).unwrap(),
        so_sndbuf(&outside.client).unwrap(),
    );
    eprintln!(
        "inside: cwnd {cwnd} mss {mss_in} rto {} sndbuf {buf_in}",
        i.tcpi_rto
    );
    eprintln!("outside: mss {mss_out} rto {} sndbuf {buf_out}", o.tcpi_rto);

    assert_eq!(cwnd, 40, "slot 0 init_cwnd");
    assert!(
        (1300..=1400).contains(&mss_in),
        "slot 1 jumbo_mss: {mss_in}"
    );
    assert!(i.tcpi_rto < 50_000, "slot 2 rto_min: {}", i.tcpi_rto);
    assert_eq!(buf_in, 200_000, "slot 3 sndbuf");
    assert!(
        mss_out > 16_000 && o.tcpi_rto >= 200_000 && buf_out != 200_000,
        "outside untouched"
    );
    for (idx, (feature, _)) in FOUR.iter().enumerate() {
        let s = chain.stats(idx).unwrap();
        assert_eq!(
            s.writes, 1,
            "{feature}: one write, for the in-prefix connection: {s:?}"
        );
        assert_eq!(s.errors, 0, "{feature}: {s:?}");
    }
    // Every member ran for every callback of both connections.
    let first = chain.stats(0).unwrap().events;
    assert!(
        first >= 8,
        "two connections give several callbacks each: {first}"
    );
    for (idx, (feature, _)) in FOUR.iter().enumerate().skip(1) {
        assert_eq!(
            chain.stats(idx).unwrap().events,
            first,
            "{feature} saw every event"
        );
    }
}

#[test]
fn an_empty_slot_ends_the_chain() {
    if !require_root_or_skip("empty slot ends the chain") {
        return;
    }
    let cg = TestCgroup::create("chaingap").unwrap();
    let mut chain = TestChain::new("chaingap").unwrap();
    let first = chain
        .add_member_at(feature_object("init_cwnd").unwrap(), 0)
        .unwrap();
    // Slot 1 empty; slot 2 must never run.
    let unreachable = chain
        .add_member_at(feature_object("sndbuf").unwrap(), 2)
        .unwrap();
    for (idx, config) in [(first, 40), (unreachable, 100_000)] {
        chain.set_config(idx, &[config]).unwrap();
        chain
            .add_prefix(idx, "prefixes", [127, 0, 0, 2], 32)
            .unwrap();
    }
    chain.attach(&cg).unwrap();
    let conn = TcpConn::connect_from(&cg, IN).unwrap();
    assert_eq!(
        tcp_info(&conn.client).unwrap().tcpi_snd_cwnd,
        40,
        "slot 0 ran"
    );
    assert_ne!(
        so_sndbuf(&conn.client).unwrap(),
        200_000,
        "slot 2 did not run"
    );
    assert!(chain.stats(first).unwrap().events > 0);
    assert_eq!(
        chain.stats(unreachable).unwrap().events,
        0,
        "nothing runs past an empty slot"
    );
}

#[test]
fn the_last_slot_ends_the_chain() {
    if !require_root_or_skip("last slot ends the chain") {
        return;
    }
    // A member loaded with ACCORD_SLOT = 31 continues with slot 32, past the
    // end of accord_chain: the tail call falls through and the member
    // returns 1. Put it where the dispatcher starts (slot 0).
    let cg = TestCgroup::create("chainend").unwrap();
    let mut chain = TestChain::new("chainend").unwrap();
    let idx = chain
        .add_member_with_slot(feature_object("init_cwnd").unwrap(), 31, 0)
        .unwrap();
    chain.set_config(idx, &[40]).unwrap();
    chain
        .add_prefix(idx, "prefixes", [127, 0, 0, 2], 32)
        .unwrap();
    chain.attach(&cg).unwrap();
    let conn = TcpConn::connect_from(&cg, IN).unwrap();
    assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40);
    let s = chain.stats(idx).unwrap();
    assert!(s.events > 0 && s.errors == 0, "{s:?}");
}

#[test]
fn a_full_chain_of_32_members_runs_every_member() {
    if !require_root_or_skip("32-member chain") {
        return;
    }
    // The kernel allows 33 tail calls per event: the dispatcher's plus one
    // per member, so 32 members is the most a chain can have.
    let cg = TestCgroup::create("chain32").unwrap();
    let mut chain = TestChain::new("chain32").unwrap();
    for slot in 0..32 {
        assert_eq!(
            chain
                .add_member(feature_object("delack_max").unwrap())
                .unwrap(),
            slot
        );
        chain.set_config(slot, &[5000]).unwrap();
        chain
            .add_prefix(slot, "prefixes", [127, 0, 0, 2], 32)
            .unwrap();
    }
    chain.attach(&cg).unwrap();
    let _conn = TcpConn::connect_from(&cg, IN).unwrap();
    let first = chain.stats(0).unwrap();
    assert!(first.events > 0);
    for idx in 0..32 {
        let s = chain.stats(idx).unwrap();
        assert_eq!(s, first, "member {idx} ran exactly like member 0");
        assert_eq!((s.writes, s.errors), (1, 0), "member {idx}: {s:?}");
    }
}
