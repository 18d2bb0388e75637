//! `apply --timing` on the real kernel: with `ACCORD_TIMING = 1` every
//! member measures its own run time (`accord_stats.run_ns`), which the
//! kernel's `BPF_ENABLE_STATS` cannot (tail-called programs are never
//! counted); turning timing off is a reload to members whose `run_ns` stays 0.
//! The XDP member form measures itself the same way (BPF_PROG_TEST_RUN).
//! With `ACCORD_TIMING = 0` the verifier removes the timing code: every
//! feature's translated program is shorter than its timed load.

mod apply_common;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use aya::maps::PerCpuArray;
use aya::programs::{SockOps, Xdp};
use aya::EbpfLoader;

use apply_common::*;
use runtime::lifecycle::{self, HookpointStatus};
use runtime::plan::PlanKind;
use verifier_tests::{
    prog_test_run, require_root_or_skip, tcp_info, AccordStats, PinDir, TcpConn, TestCgroup,
};

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

/// `(events, run_ns)` of an XDP member loaded with `ACCORD_TIMING` = `timing`
/// in the last slot (its tail call falls through) after 100 test runs.
fn xdp_member_after_runs(timing: u32) -> AccordStats {
    const REPEAT: u32 = 100;
    let pins = PinDir::create("xdptiming").unwrap();
    let slot = 31u32;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pins.path())
        .override_global("ACCORD_SLOT", &slot, true)
        .override_global("ACCORD_TIMING", &timing, true)
        .load(runtime::objects::testing_object("xdp_bench_member").unwrap())
        .unwrap();
    let prog: &mut Xdp = ebpf
        .program_mut("xdp_bench_member")
        .unwrap()
        .try_into()
        .unwrap();
    prog.load().unwrap();
    let verdict = prog_test_run(prog.fd().unwrap().as_fd(), 64, REPEAT);
    assert_eq!(verdict, 2, "XDP_PASS at the end of the chain");
    let stats: PerCpuArray<_, AccordStats> =
        ebpf.map_mut("accord_stats").unwrap().try_into().unwrap();
    let total = stats
        .get(&0, 0)
        .unwrap()
        .iter()
        .fold(AccordStats::default(), |a, s| AccordStats {
            events: a.events + s.events,
            writes: a.writes + s.writes,
            errors: a.errors + s.errors,
            run_ns: a.run_ns + s.run_ns,
        });
    assert_eq!(total.events, u64::from(REPEAT), "one event per run");
    total
}

#[test]
fn the_xdp_member_form_measures_itself_only_with_timing_on() {
    if !require_root_or_skip("XDP member timing") {
        return;
    }
    let on = xdp_member_after_runs(1);
    assert!(on.run_ns > 0, "timing on: {on:?}");
    let off = xdp_member_after_runs(0);
    assert_eq!(off.run_ns, 0, "timing off: {off:?}");
}

/// The kernel's translated length (`BPF_OBJ_GET_INFO_BY_FD`
/// `xlated_prog_len`, bytes) of feature `name` loaded with `ACCORD_TIMING` =
/// `timing`.
fn xlated_len(name: &str, bytes: &[u8], timing: u32) -> u32 {
    let pins = PinDir::create("xlated").unwrap();
    let slot = 2u32;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pins.path())
        .override_global("ACCORD_SLOT", &slot, true)
        .override_global("ACCORD_TIMING", &timing, true)
        .load(bytes)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let prog: &mut SockOps = ebpf
        .program_mut(name)
        .unwrap_or_else(|| panic!("{name}: no program named after the feature"))
        .try_into()
        .unwrap();
    prog.load()
        .unwrap_or_else(|e| panic!("{name} with ACCORD_TIMING={timing}: {e}"));
    prog.info()
        .unwrap()
        .size_translated()
        .unwrap_or_else(|| panic!("{name}: the kernel reports no translated length"))
}

#[test]
fn the_verifier_removes_the_timing_code_when_timing_is_off() {
    if !require_root_or_skip("xlated length with and without ACCORD_TIMING") {
        return;
    }
    assert!(!runtime::objects::FEATURES.is_empty());
    for object in runtime::objects::FEATURES {
        let off = xlated_len(object.name, object.bytes, 0);
        let on = xlated_len(object.name, object.bytes, 1);
        eprintln!("{}: {off} bytes untimed, {on} bytes timed", object.name);
        assert!(
            on > off,
            "{}: the timed program ({on} bytes) must be longer than the untimed one ({off} bytes)",
            object.name
        );
        // Two clock reads and the per-CPU add: a handful of instructions
        // (8 bytes each), not a different program.
        assert!(
            on - off <= 64 * 8,
            "{}: timing adds {} instructions",
            object.name,
            (on - off) / 8
        );
    }
}
