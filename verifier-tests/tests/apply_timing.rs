//! `apply --timing` on the real kernel: with `ACCORD_TIMING = 1` every
//! member measures its own run time (`accord_stats.run_ns`), which the
//! kernel's `BPF_ENABLE_STATS` cannot (tail-called programs are never
//! counted); turning timing off is a reload to members whose `run_ns` stays 0.

mod apply_common;

use std::net::Ipv4Addr;

use apply_common::*;
use runtime::lifecycle::{self, HookpointStatus};
use runtime::plan::PlanKind;
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn members() -> Vec<runtime::desired::DesiredMember> {
    vec![
        member("init_cwnd", Some(40), &[(PEER, 32)]),
        member("rto_min", Some(5000), &[(PEER, 32)]),
    ]
}

fn connect_a_few(cg: &TestCgroup) {
    for _ in 0..5 {
        let mut conn = TcpConn::connect_from(cg, PEER).unwrap();
        conn.exchange(16 * 1024).unwrap();
        assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd.max(40), {
            tcp_info(&conn.client).unwrap().tcpi_snd_cwnd
        });
    }
}

/// `(member, events, run_ns)` of every member, in chain order.
fn counters(st: &[HookpointStatus]) -> Vec<(String, u64, u64)> {
    st[0]
        .members
        .iter()
        .map(|m| {
            let c = m
                .counters
                .unwrap_or_else(|| panic!("{}: no counters", m.member));
            (m.member.clone(), c.events, c.run_ns)
        })
        .collect()
}

#[test]
fn timing_on_measures_every_member_and_off_leaves_run_ns_zero() {
    if !require_root_or_skip("apply --timing") {
        return;
    }
    let roots = Roots::new("timing");
    let cg = TestCgroup::create("timing").unwrap();
    let (mut adapter, mut store) = (roots.adapter(), roots.store());

    let mut timed = chain(cg.path(), members());
    timed.timing = true;
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &timed).unwrap();
    assert_eq!(plan.kind, PlanKind::Fresh { generation: 1 });
    assert!(plan.to_string().contains("ACCORD_TIMING=1"), "{plan}");
    connect_a_few(&cg);

    let st = lifecycle::status(&roots.layout, &adapter, &store).unwrap();
    assert!(st[0].record.timing, "the record says timing is on");
    assert!(st[0].drift.is_empty(), "{:?}", st[0].drift);
    let on = counters(&st);
    assert_eq!(on.len(), 2);
    for (name, events, run_ns) in &on {
        assert!(*events > 0, "{name}: events {events}");
        assert!(*run_ns > 0, "{name}: run_ns {run_ns} with timing on");
        // A member runs for nanoseconds to microseconds, never a millisecond.
        assert!(
            run_ns / events < 1_000_000,
            "{name}: {} ns per event",
            run_ns / events
        );
        eprintln!(
            "{name}: {events} events, {run_ns} ns, {} ns/event",
            run_ns / events
        );
    }
    let timed_ids: Vec<u32> = st[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();

    // Timing off: a load constant, so a swap that reloads every member.
    let untimed = chain(cg.path(), members());
    let (plan, _) = lifecycle::apply(&roots.layout, &mut adapter, &mut store, &untimed).unwrap();
    assert_eq!(plan.kind, PlanKind::Swap { from: 1, to: 2 });
    assert!(!plan.to_string().contains("ACCORD_TIMING"), "{plan}");
    connect_a_few(&cg);
    let st = lifecycle::status(&roots.layout, &adapter, &store).unwrap();
    assert!(!st[0].record.timing);
    let ids: Vec<u32> = st[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect();
    assert!(
        ids.iter().all(|id| !timed_ids.contains(id)),
        "reloaded: {ids:?} vs {timed_ids:?}"
    );
    for (name, events, run_ns) in counters(&st) {
        assert!(events > 0, "{name}: events {events}");
        assert_eq!(run_ns, 0, "{name}: run_ns with timing off");
    }

    lifecycle::detach(&roots.layout, &mut adapter, &mut store, &untimed.key).unwrap();
}
