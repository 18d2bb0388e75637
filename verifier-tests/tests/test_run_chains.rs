//! The SDK's XDP and tc member forms (ACCORD_XDP, ACCORD_TC) through
//! BPF_PROG_TEST_RUN: a 16-member XDP chain behind xdp_mini_dispatcher runs
//! every member once per packet and passes it; the monolithic equivalent
//! does the same work in one program; a tc member's drop verdict ends its
//! chain. Root only. (Timing is the runtime's benchmark, not a test.)

use std::os::fd::{AsFd, BorrowedFd};

use aya::maps::{PerCpuArray, ProgramArray};
use aya::programs::{ProgramFd, SchedClassifier, Xdp};
use runtime::objects::testing_object;
use verifier_tests::*;

const XDP_PASS: u32 = 2;
const MEMBERS: u32 = 16;
const REPEAT: u32 = 1000;

/// Runs `prog` `REPEAT` times on a 64-byte packet; returns its verdict.
fn test_run(prog: BorrowedFd<'_>) -> u32 {
    test_run_len(prog, 64)
}

/// Runs `prog` `REPEAT` times on a zeroed packet of `len` bytes.
fn test_run_len(prog: BorrowedFd<'_>, len: usize) -> u32 {
    prog_test_run(prog, len, REPEAT)
}

/// Entry `key` of the per-CPU u64 array `map`, summed over the CPUs.
fn percpu_sum(ebpf: &mut aya::Ebpf, map: &str, key: u32) -> u64 {
    let arr: PerCpuArray<_, u64> = ebpf.map_mut(map).unwrap().try_into().unwrap();
    arr.get(&key, 0).unwrap().iter().sum()
}

fn count(ebpf: &mut aya::Ebpf, key: u32) -> u64 {
    percpu_sum(ebpf, "bench_counts", key)
}

/// The testing dispatcher object `name`, loaded with its maps pinned in `pins`.
fn load_dispatcher(name: &str, pins: &PinDir) -> aya::Ebpf {
    load_object(testing_object(name).unwrap(), pins.path(), 0).unwrap()
}

/// Puts `fd` in `slot` of the dispatcher's `accord_chain` program array.
fn set_slot(dispatcher: &mut aya::Ebpf, slot: u32, fd: &ProgramFd) {
    let mut chain: ProgramArray<_> = dispatcher
        .map_mut("accord_chain")
        .unwrap()
        .try_into()
        .unwrap();
    chain.set(slot, fd, 0).unwrap();
}

#[test]
fn xdp_chain_runs_every_member_per_packet() {
    if !require_root_or_skip("XDP chain test run") {
        return;
    }
    let pins = PinDir::create("xdpchain").unwrap();
    let mut dispatcher = load_dispatcher("xdp_mini_dispatcher", &pins);
    let mut members = Vec::new();
    for slot in 0..MEMBERS {
        let member = load_object(
            testing_object("xdp_bench_member").unwrap(),
            pins.path(),
            slot,
        )
        .unwrap();
        let prog: &Xdp = member
            .program("xdp_bench_member")
            .unwrap()
            .try_into()
            .unwrap();
        let fd = prog.fd().unwrap().try_clone().unwrap();
        set_slot(&mut dispatcher, slot, &fd);
        members.push(member);
    }
    let prog: &Xdp = dispatcher
        .program("xdp_mini_dispatcher")
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        test_run(prog.fd().unwrap().as_fd()),
        XDP_PASS,
        "the chain passes the packet"
    );
    for (slot, member) in members.iter_mut().enumerate() {
        assert_eq!(
            count(member, slot as u32),
            u64::from(REPEAT),
            "member {slot} ran once per packet"
        );
        let stats: PerCpuArray<_, AccordStats> =
            member.map_mut("accord_stats").unwrap().try_into().unwrap();
        let events: u64 = stats.get(&0, 0).unwrap().iter().map(|s| s.events).sum();
        assert_eq!(
            events,
            u64::from(REPEAT),
            "member {slot} counted its events"
        );
    }
}

#[test]
fn xdp_monolithic_equivalent_does_the_same_updates() {
    if !require_root_or_skip("XDP monolithic test run") {
        return;
    }
    let pins = PinDir::create("xdpmono").unwrap();
    let mut mono = aya::EbpfLoader::new()
        .default_map_pin_directory(pins.path())
        .override_global("BENCH_UPDATES", &MEMBERS, true)
        .load(testing_object("xdp_bench_monolithic").unwrap())
        .unwrap();
    let prog: &mut Xdp = mono
        .program_mut("xdp_bench_monolithic")
        .unwrap()
        .try_into()
        .unwrap();
    prog.load().unwrap();
    assert_eq!(test_run(prog.fd().unwrap().as_fd()), XDP_PASS);
    for key in 0..32 {
        let expected = if key < MEMBERS { u64::from(REPEAT) } else { 0 };
        assert_eq!(count(&mut mono, key), expected, "counter {key}");
    }
}

const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;

#[test]
fn tc_chain_continues_on_ok_and_ends_on_a_drop() {
    if !require_root_or_skip("tc chain test run") {
        return;
    }
    let pins = PinDir::create("tcchain").unwrap();
    let mut dispatcher = load_dispatcher("tc_mini_dispatcher", &pins);
    // Slot 1 drops packets under 100 bytes; slots 0 and 2 never drop.
    let mut members = Vec::new();
    for (slot, drop_below) in [(0u32, 0u32), (1, 100), (2, 0)] {
        let mut member = aya::EbpfLoader::new()
            .default_map_pin_directory(pins.path())
            .override_global("ACCORD_SLOT", &slot, true)
            .override_global("DROP_BELOW", &drop_below, true)
            .load(testing_object("tc_drop_member").unwrap())
            .unwrap();
        let prog: &mut SchedClassifier = member
            .program_mut("tc_drop_member")
            .unwrap()
            .try_into()
            .unwrap();
        prog.load().unwrap();
        let fd = prog.fd().unwrap().try_clone().unwrap();
        set_slot(&mut dispatcher, slot, &fd);
        members.push(member);
    }
    let seen = |m: &mut aya::Ebpf| percpu_sum(m, "tc_seen", 0);
    let prog: &SchedClassifier = dispatcher
        .program("tc_mini_dispatcher")
        .unwrap()
        .try_into()
        .unwrap();
    let fd = prog.fd().unwrap().as_fd();
    assert_eq!(
        test_run_len(fd, 64),
        TC_ACT_SHOT,
        "slot 1 drops a short packet"
    );
    let counts: Vec<u64> = members.iter_mut().map(seen).collect();
    assert_eq!(
        counts,
        [u64::from(REPEAT), u64::from(REPEAT), 0],
        "the drop ended the chain"
    );
    assert_eq!(
        test_run_len(fd, 128),
        TC_ACT_OK,
        "a long packet passes every member"
    );
    let counts: Vec<u64> = members.iter_mut().map(seen).collect();
    assert_eq!(
        counts,
        [
            2 * u64::from(REPEAT),
            2 * u64::from(REPEAT),
            u64::from(REPEAT)
        ]
    );
}
