//! Config changes are atomic across members, on the running kernel. Two
//! members (init_cwnd and sndbuf, each with a 1,001-prefix set) get a
//! storm of config-only changes, alternating between two configs, while a
//! client opens connections from the cgroup and reads both effects on
//! every connection: each one must show the first config on both members
//! or the second on both, never one member's old value with the other's
//! new one, and never neither.

mod apply_common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apply_common::*;
use runtime::desired::DesiredChain;
use runtime::lifecycle;
use runtime::plan::PlanKind;
use verifier_tests::{require_root_or_skip, so_sndbuf, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// (initial window, send buffer) of the two configs.
const CONFIGS: [(u64, u64); 2] = [(20, 1 << 20), (30, 2 << 20)];

/// 1,001 prefixes: the peer, 999 /32s in 10.0.0.0/8 and one that differs
/// between the configs (so the set changes with every change, and the
/// whole set never exceeds the maps' 1,024 entries in any accord).
fn prefixes(salt: u8) -> Vec<(Ipv4Addr, u8)> {
    let mut out: Vec<(Ipv4Addr, u8)> = (0..999u16)
        .map(|i| (Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8), 32))
        .collect();
    out.push((Ipv4Addr::new(10, 200, salt, 1), 32));
    out.push((PEER, 32));
    out
}

fn config(cg: &TestCgroup, which: usize) -> DesiredChain {
    let (iw, sndbuf) = CONFIGS[which];
    let set = prefixes(which as u8 + 1);
    chain(
        cg.path(),
        vec![
            member("init_cwnd", Some(iw), &set),
            member("sndbuf", Some(sndbuf), &set),
        ],
    )
}

/// What one connection saw: Some(config index) when both effects belong to
/// one config, None when they do not.
fn seen(conn: &TcpConn) -> Option<usize> {
    let iw = u64::from(tcp_info(&conn.client).ok()?.tcpi_snd_cwnd);
    // The kernel reports twice the send buffer it was given.
    let sndbuf = u64::from(so_sndbuf(&conn.client).ok()?) / 2;
    CONFIGS.iter().position(|c| *c == (iw, sndbuf))
}

#[test]
fn a_storm_of_config_changes_never_mixes_two_configs_on_one_connection() {
    if !require_root_or_skip("config storm") {
        return;
    }
    let roots = Roots::new("storm");
    let cg = Arc::new(TestCgroup::create("storm").unwrap());
    let (mut adapter, mut store) = (roots.adapter(), roots.store());
    lifecycle::apply(&roots.layout, &mut adapter, &mut store, &config(&cg, 0)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (cg, stop) = (cg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut counts = [0u32; 2];
            let (mut mixed, mut failed) = (Vec::new(), 0u32);
            while !stop.load(Ordering::Relaxed) {
                match TcpConn::connect_from(&cg, PEER) {
                    Ok(conn) => match seen(&conn) {
                        Some(i) => counts[i] += 1,
                        None => mixed.push((
                            tcp_info(&conn.client).map(|t| t.tcpi_snd_cwnd).ok(),
                            so_sndbuf(&conn.client).ok(),
                        )),
                    },
                    Err(_) => failed += 1,
                }
            }
            (counts, mixed, failed)
        })
    };

    let started = Instant::now();
    let mut changes = 0;
    while started.elapsed() < Duration::from_secs(4) || changes < 10 {
        let next = config(&cg, (changes + 1) % 2);
        let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &next).unwrap();
        assert!(
            matches!(plan.kind, PlanKind::ConfigChange { .. }),
            "a config-only change: {}",
            plan.kind
        );
        changes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (counts, mixed, failed) = client.join().unwrap();
    let opened = counts[0] + counts[1] + mixed.len() as u32;
    eprintln!(
        "{changes} config changes, {opened} connections: {} with the first config, {} with the second, {} mixed, {failed} failed",
        counts[0],
        counts[1],
        mixed.len()
    );
    assert!(opened >= 100, "only {opened} connections during the storm");
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "both configs were seen: {counts:?}"
    );
    assert_eq!(failed, 0, "connections that failed");
    assert!(
        mixed.is_empty(),
        "{} connections saw a mix (cwnd, SO_SNDBUF): {:?}",
        mixed.len(),
        &mixed[..mixed.len().min(10)]
    );
    let key = config(&cg, 0).key;
    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &key).unwrap();
}
