//! IPv6 end to end on the running kernel: the real feature objects behind
//! the mini dispatcher, their prefix tries holding IPv6 (or IPv4-mapped)
//! prefixes, and real TCP connections over IPv6 loopback in a network
//! namespace (`::1` and an extra `2001:db8::2` on its `lo`), over a
//! dual-stack socket to IPv4-mapped peers, and across an IPv6 veth pair.
//! Each effect must appear on connections inside the configured prefix and
//! not outside it. Root only; each test owns its cgroup, namespace and pins.

use std::net::{Ipv6Addr, SocketAddrV6};

use runtime::objects::feature_object;
use verifier_tests::*;

const IN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// `feature` in slot 0 with `config`, its `prefixes` holding `prefix/len`.
fn setup(feature: &str, config: &[u64], prefix: Ipv6Addr, len: u32) -> (TestCgroup, TestChain) {
    let cg = TestCgroup::create(feature).unwrap();
    let mut chain = TestChain::new(feature).unwrap();
    let object = feature_object(feature).unwrap_or_else(|| panic!("no embedded object {feature}"));
    chain.add_member(object).unwrap();
    chain.set_config(0, config).unwrap();
    chain.add_prefix6(0, "prefixes", prefix, len).unwrap();
    chain.attach(&cg).unwrap();
    (cg, chain)
}

/// A namespace whose loopback has `::1` and `2001:db8::2`.
fn loopback_ns(tag: &str) -> NetNs {
    let ns = NetNs::create(tag).unwrap();
    ns.add_loopback_v6(&format!("{IN6}/128")).unwrap();
    ns
}

#[test]
fn init_cwnd_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("init_cwnd IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6lo");
    let (cg, mut chain) = setup("init_cwnd", &[40], "2001:db8::".parse().unwrap(), 32);
    let inside = TcpConn::within6(&cg, Some(&ns), IN6).unwrap();
    let outside = TcpConn::within6(&cg, Some(&ns), Ipv6Addr::LOCALHOST).unwrap();
    let (ia, ip, oa, op) = (
        tcp_info(&inside.client).unwrap().tcpi_snd_cwnd,
        tcp_info(&inside.server).unwrap().tcpi_snd_cwnd,
        tcp_info(&outside.client).unwrap().tcpi_snd_cwnd,
        tcp_info(&outside.server).unwrap().tcpi_snd_cwnd,
    );
    eprintln!("init_cwnd v6: in active={ia} passive={ip} | ::1 active={oa} passive={op}");
    assert_eq!((ia, ip), (40, 40), "2001:db8::2 is in 2001:db8::/32");
    assert_eq!((oa, op), (10, 10), "::1 is outside: the kernel's default");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (2, 0), "{s:?}");
}

#[test]
fn init_cwnd_matches_ipv4_mapped_peers_of_a_dual_stack_socket() {
    if !require_root_or_skip("init_cwnd IPv4-mapped e2e") {
        return;
    }
    let ns = NetNs::create("v6map").unwrap();
    // 127.0.0.2/32 as a cidr_set stores it: ::ffff:127.0.0.2/128.
    let (cg, mut chain) = setup("init_cwnd", &[40], "::ffff:127.0.0.2".parse().unwrap(), 128);
    let inside = TcpConn::within6(&cg, Some(&ns), "::ffff:127.0.0.2".parse().unwrap()).unwrap();
    let outside = TcpConn::within6(&cg, Some(&ns), "::ffff:127.0.0.1".parse().unwrap()).unwrap();
    let (i, o) = (
        tcp_info(&inside.client).unwrap().tcpi_snd_cwnd,
        tcp_info(&outside.client).unwrap().tcpi_snd_cwnd,
    );
    eprintln!("init_cwnd mapped: ::ffff:127.0.0.2={i} ::ffff:127.0.0.1={o}");
    assert_eq!(i, 40, "an AF_INET6 socket's IPv4-mapped peer in the prefix");
    assert_eq!(o, 10, "outside the prefix");
    // The same IPv4 prefix also matches plain AF_INET sockets.
    let v4 = TcpConn::connect_from(&cg, "127.0.0.2".parse().unwrap()).unwrap();
    assert_eq!(
        tcp_info(&v4.client).unwrap().tcpi_snd_cwnd,
        40,
        "AF_INET peer"
    );
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (3, 0), "{s:?}");
}

#[test]
fn rto_min_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("rto_min IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6rto");
    let (cg, mut chain) = setup("rto_min", &[5000], Ipv6Addr::LOCALHOST, 128);
    let mut inside = TcpConn::within6(&cg, Some(&ns), Ipv6Addr::LOCALHOST).unwrap();
    let mut outside = TcpConn::within6(&cg, Some(&ns), IN6).unwrap();
    assert_rto_min_inside_only(&mut inside, &mut outside, "::1/128");
    let s = chain.stats(0).unwrap();
    // Active and passive end of the connection inside the prefix.
    assert_eq!((s.writes, s.errors), (2, 0), "{s:?}");
}

#[test]
fn init_cwnd_across_an_ipv6_veth_pair() {
    if !require_root_or_skip("init_cwnd IPv6 veth e2e") {
        return;
    }
    let n = std::process::id() % 250 + 1;
    let ns = NetNs::create("v6veth").unwrap();
    let ns_if = format!("a6vn{}", std::process::id() % 100_000);
    let veth = VethPair::create(
        &ns,
        &format!("a6vh{}", std::process::id() % 100_000),
        &ns_if,
        &format!("10.233.{n}.1/24"),
        &format!("10.233.{n}.2/24"),
        1500,
    )
    .unwrap();
    veth.add_v6(&ns, &ns_if, "2001:db8:77::1/64", "2001:db8:77::2/64")
        .unwrap();
    veth.add_v6(&ns, &ns_if, "2001:db9:77::1/64", "2001:db9:77::2/64")
        .unwrap();
    let (cg, mut chain) = setup("init_cwnd", &[40], "2001:db8:77::".parse().unwrap(), 48);
    let listen = |ip: &str| {
        listener6_in(
            &cg,
            Some(&ns),
            SocketAddrV6::new(ip.parse().unwrap(), 0, 0, 0),
        )
        .unwrap()
    };
    let (in_l, out_l) = (listen("2001:db8:77::2"), listen("2001:db9:77::2"));
    let inside = TcpConn::connect6_to(&cg, &in_l).unwrap();
    let outside = TcpConn::connect6_to(&cg, &out_l).unwrap();
    let (ia, ip, oa, op) = (
        tcp_info(&inside.client).unwrap().tcpi_snd_cwnd,
        tcp_info(&inside.server).unwrap().tcpi_snd_cwnd,
        tcp_info(&outside.client).unwrap().tcpi_snd_cwnd,
        tcp_info(&outside.server).unwrap().tcpi_snd_cwnd,
    );
    eprintln!("init_cwnd veth v6: in active={ia} passive={ip} | out active={oa} passive={op}");
    assert_eq!(
        (ia, ip),
        (40, 40),
        "both ends' peers are in 2001:db8:77::/48"
    );
    assert_eq!((oa, op), (10, 10), "2001:db9:77::/64 is outside");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (2, 0), "{s:?}");
}

#[test]
fn rwnd_init_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("rwnd_init IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6rwnd");
    let (cg, mut chain) = setup("rwnd_init", &[4], "2001:db8::".parse().unwrap(), 32);
    let inside = TcpConn::within6_with(&cg, Some(&ns), IN6, Some(1400)).unwrap();
    let outside = TcpConn::within6_with(&cg, Some(&ns), Ipv6Addr::LOCALHOST, Some(1400)).unwrap();
    let (i, o) = (
        tcp_info(&inside.client).unwrap(),
        tcp_info(&outside.client).unwrap(),
    );
    eprintln!(
        "rwnd_init v6: in rcv_space={} advmss={} | ::1 rcv_space={} advmss={}",
        i.tcpi_rcv_space, i.tcpi_advmss, o.tcpi_rcv_space, o.tcpi_advmss
    );
    // The client connects with MSS 1400: the reply is 4 segments, the
    // kernel's own initial window 10.
    assert_eq!(i.tcpi_rcv_space, 4 * 1400, "in prefix: 4 segments");
    assert!(
        o.tcpi_rcv_space > 10_000,
        "outside: the kernel's default, got {}",
        o.tcpi_rcv_space
    );
    let s = chain.stats(0).unwrap();
    assert_eq!(s.errors, 0, "{s:?}");
    assert!(
        s.writes >= 1,
        "a reply at RWND_INIT inside the prefix: {s:?}"
    );
}

/// `feature` in slot 0 with its maps filled the way `accord apply` fills
/// them: the spec loaded in a composition with `config` (YAML flow map),
/// turned into a config image ([`runtime::config::image`]). So the spec's
/// param type decides whether IPv6 prefixes are accepted at all.
fn setup_from_spec(feature: &str, config: &str) -> (TestCgroup, TestChain) {
    let specs = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs"));
    let file =
        std::env::temp_dir().join(format!("accord-ipv6-{feature}-{}.yaml", std::process::id()));
    let spec = specs.join(format!("features/{feature}.yaml"));
    std::fs::write(
        &file,
        format!(
            "composition: v6\nhook: sock_ops\nfeatures:\n  - spec: {}\n    config: {config}\n",
            spec.display()
        ),
    )
    .unwrap();
    let opts = composer::load::LoadOptions {
        specs_dir: Some(specs.to_path_buf()),
        catalog: None,
    };
    let loaded = composer::load::load_composition(&file, &opts);
    std::fs::remove_file(&file).unwrap();
    let composition = loaded.unwrap_or_else(|e| panic!("{feature} with {config}: {e:?}"));
    let image = runtime::config::image(&composition.features[0]).unwrap();

    let cg = TestCgroup::create(feature).unwrap();
    let mut chain = TestChain::new(feature).unwrap();
    let object = feature_object(feature).unwrap_or_else(|| panic!("no embedded object {feature}"));
    chain.add_member(object).unwrap();
    let scalar: Vec<u64> = image
        .scalar
        .unwrap_or_default()
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    chain.set_config(0, &scalar).unwrap();
    for set in &image.sets {
        for key in &set.keys {
            let len = u32::from_ne_bytes(key[..4].try_into().unwrap());
            let addr: [u8; 16] = key[4..].try_into().unwrap();
            chain
                .add_prefix6(0, &set.param, Ipv6Addr::from(addr), len)
                .unwrap();
        }
    }
    chain.attach(&cg).unwrap();
    (cg, chain)
}

#[test]
fn sndbuf_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("sndbuf IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6snd");
    let (cg, mut chain) = setup_from_spec("sndbuf", "{ bytes: 100000, prefixes: [2001:db8::/32] }");
    let inside = TcpConn::within6(&cg, Some(&ns), IN6).unwrap();
    let outside = TcpConn::within6(&cg, Some(&ns), Ipv6Addr::LOCALHOST).unwrap();
    let (ia, ip, oa, op) = (
        so_sndbuf(&inside.client).unwrap(),
        so_sndbuf(&inside.server).unwrap(),
        so_sndbuf(&outside.client).unwrap(),
        so_sndbuf(&outside.server).unwrap(),
    );
    eprintln!("sndbuf v6: in active={ia} passive={ip} | ::1 active={oa} passive={op}");
    assert_eq!(
        (ia, ip),
        (200_000, 200_000),
        "2001:db8::2 is in 2001:db8::/32: the kernel doubles the 100000 bytes"
    );
    assert!(oa != 200_000 && op != 200_000, "::1 is outside: autotuned");
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (2, 0), "{s:?}");
}

#[test]
fn jumbo_mss_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("jumbo_mss IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6mss");
    let (cg, mut chain) = setup_from_spec("jumbo_mss", "{ mss: 1400, prefixes: [2001:db8::/32] }");
    let inside = TcpConn::within6(&cg, Some(&ns), IN6).unwrap();
    let outside = TcpConn::within6(&cg, Some(&ns), Ipv6Addr::LOCALHOST).unwrap();
    assert_jumbo_mss_inside_only(&inside, &outside, "::1 is outside");
    let s = chain.stats(0).unwrap();
    // One write: the active side's TCP_CONNECT_CB inside the prefix.
    assert_eq!((s.writes, s.errors), (1, 0), "{s:?}");
}

#[test]
fn delack_max_on_ipv6_loopback_inside_and_outside_the_prefix() {
    if !require_root_or_skip("delack_max IPv6 loopback e2e") {
        return;
    }
    let ns = loopback_ns("v6dack");
    let (cg, mut chain) = setup_from_spec(
        "delack_max",
        "{ delack_max_us: 5000, prefixes: [2001:db8::/32] }",
    );
    let inside = TcpConn::within6(&cg, Some(&ns), IN6).unwrap();
    let outside = TcpConn::within6(&cg, Some(&ns), Ipv6Addr::LOCALHOST).unwrap();
    let s = chain.stats(0).unwrap();
    assert_eq!((s.writes, s.errors), (2, 0), "both ends inside: {s:?}");
    assert_delack_max_inside_only(inside, outside, "::1 is outside");
}

#[test]
fn jumbo_mss_delack_max_sndbuf_take_mixed_sets_with_ipv4_defaults() {
    // The defaults of the mixed sets are IPv4 ([10.0.0.0/8]): their image
    // holds the one IPv4-mapped key, as for a cidr4_set.
    let specs = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs"));
    let catalog = composer::load::load_catalog(&specs.join("hooks/sock_ops.yaml")).unwrap();
    for feature in ["jumbo_mss", "delack_max", "sndbuf"] {
        let f = composer::load::load_feature_spec(
            &specs.join(format!("features/{feature}.yaml")),
            &catalog,
        )
        .unwrap();
        let param = f.params.iter().find(|p| p.name == "prefixes").unwrap();
        assert_eq!(
            param.ty,
            composer::ir::ParamType::CidrSet,
            "{feature}: a mixed set"
        );
        let image = runtime::config::image(&f).unwrap();
        let mut want = (96u32 + 8).to_ne_bytes().to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0]);
        assert_eq!(
            image.sets[0].keys,
            vec![want],
            "{feature}: ::ffff:10.0.0.0/104"
        );
    }
}
