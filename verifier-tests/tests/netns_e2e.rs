//! A feature over a real (non-loopback) path: a veth pair into a network
//! namespace made by the test, with jumbo frames (MTU 9000). jumbo_mss
//! clamps the MSS towards the namespace's prefix; the kernel's own MSS on
//! that path is 8948. Exercises the NetNs/VethPair helpers. Root only.

use std::net::{Ipv4Addr, SocketAddrV4};

use runtime::objects::feature_object;
use verifier_tests::*;

#[test]
fn jumbo_mss_over_a_veth_pair_in_a_netns() {
    if !require_root_or_skip("jumbo_mss over veth") {
        return;
    }
    // A /24 and interface names private to this process.
    let n = (std::process::id() % 250) as u8 + 1;
    let (host_ip, ns_ip) = (Ipv4Addr::new(10, 231, n, 1), Ipv4Addr::new(10, 231, n, 2));
    let ns = NetNs::create("veth").unwrap();
    let _veth = VethPair::create(
        &ns,
        &format!("acvh{}", std::process::id() % 100_000),
        &format!("acvn{}", std::process::id() % 100_000),
        &format!("{host_ip}/24"),
        &format!("{ns_ip}/24"),
        9000,
    )
    .unwrap();

    let cg = TestCgroup::create("veth").unwrap();
    let listener = listener_in(&cg, Some(&ns), SocketAddrV4::new(ns_ip, 0)).unwrap();
    // Before the feature: the path's own MSS.
    let (client, server) = TcpConn::connect_in_netns_from_host(&cg, &listener).unwrap();
    let default_mss = tcp_maxseg(&client).unwrap();
    assert!(
        (8900..=8960).contains(&default_mss),
        "jumbo path MSS {default_mss}"
    );
    drop((client, server));

    let mut chain = TestChain::new("veth").unwrap();
    chain
        .add_member(feature_object("jumbo_mss").unwrap())
        .unwrap();
    chain.set_config(0, &[4000]).unwrap();
    chain
        .add_prefix(0, "prefixes", [10, 231, n, 0], 24)
        .unwrap();
    chain.attach(&cg).unwrap();
    let (client, server) = TcpConn::connect_in_netns_from_host(&cg, &listener).unwrap();
    let mss = tcp_maxseg(&client).unwrap();
    let peer_mss = tcp_info(&server).unwrap().tcpi_snd_mss;
    eprintln!("veth: default {default_mss}, with jumbo_mss {mss}, peer sends {peer_mss}");
    assert!(
        (3900..=4000).contains(&mss),
        "clamped to 4000 minus options: {mss}"
    );
    assert!(
        (3900..=4000).contains(&peer_mss),
        "the peer in the namespace sends with it: {peer_mss}"
    );
    assert_eq!(chain.stats(0).unwrap().writes, 1);
}
