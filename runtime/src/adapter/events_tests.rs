//! Unit tests of the event decoder, the sampling check and the polling
//! loop (on [`FakeEvents`]).

use std::path::PathBuf;

use super::*;
use crate::config::ConfigImage;
use crate::desired::{DesiredChain, DesiredMember, ObjectImage, Target};
use crate::layout::hookpoint_key;

/// The bytes of a `struct accord_event` as the kernel writes them.
fn raw(e: &AccordEvent) -> Vec<u8> {
    let mut b = raw_v4(e);
    b.extend_from_slice(&e.remote6);
    b.extend_from_slice(&e.local6);
    b
}

/// The bytes of the older 40-byte event (no 16-byte addresses).
fn raw_v4(e: &AccordEvent) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&e.ts_ns.to_ne_bytes());
    for v in [e.slot, e.op, e.family, e.remote4, e.local4] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    b.extend_from_slice(&e.remote_port.to_ne_bytes());
    b.extend_from_slice(&e.local_port.to_ne_bytes());
    b.extend_from_slice(&e.writes.to_ne_bytes());
    b.extend_from_slice(&e.last_err.to_ne_bytes());
    b
}

fn sample() -> AccordEvent {
    AccordEvent {
        ts_ns: 123_456_789_012,
        slot: 1,
        op: 4,
        family: 2,
        remote4: u32::from(Ipv4Addr::new(127, 0, 0, 2)),
        local4: u32::from(Ipv4Addr::new(127, 0, 0, 1)),
        remote_port: 8080,
        local_port: 40000,
        writes: 1,
        last_err: -22,
        remote6: Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped().octets(),
        local6: Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped().octets(),
    }
}

#[test]
fn decodes_the_accord_h_layout() {
    let e = sample();
    let bytes = raw(&e);
    assert_eq!(bytes.len(), EVENT_SIZE);
    assert_eq!(AccordEvent::decode(&bytes).unwrap(), e);
    // Field offsets, spelled out: slot at 8, ports at 28/30, last_err at 36.
    assert_eq!(bytes[8..12], 1u32.to_ne_bytes());
    assert_eq!(bytes[28..30], 8080u16.to_ne_bytes());
    assert_eq!(bytes[36..40], (-22i32).to_ne_bytes());
    // remote6 at 40, local6 at 56: network order, v4-mapped.
    assert_eq!(
        bytes[40..56],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2]
    );
    assert_eq!(bytes[68..72], [127, 0, 0, 1]);
    for len in [39, 41, 71] {
        assert!(matches!(
            AccordEvent::decode(&bytes[..len]),
            Err(EventsError::Size { len: l }) if l == len
        ));
    }
}

#[test]
fn decodes_an_ipv6_event() {
    let remote: Ipv6Addr = "fd00::2".parse().unwrap();
    let local: Ipv6Addr = "::1".parse().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&7u64.to_ne_bytes());
    // slot, op (PASSIVE_ESTABLISHED_CB), family AF_INET6, remote4, local4:
    // no IPv4 address for an IPv6 peer.
    for v in [0u32, 5, 10, 0, 0] {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    bytes.extend_from_slice(&51000u16.to_ne_bytes());
    bytes.extend_from_slice(&8443u16.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&0i32.to_ne_bytes());
    bytes.extend_from_slice(&remote.octets());
    bytes.extend_from_slice(&local.octets());
    assert_eq!(bytes.len(), EVENT_SIZE);
    let e = AccordEvent::decode(&bytes).unwrap();
    assert_eq!((e.op, e.family, e.remote4, e.local4), (5, 10, 0, 0));
    assert_eq!((e.remote_port, e.local_port), (51000, 8443));
    assert_eq!(e.remote6, remote.octets());
    assert_eq!(e.local6, local.octets());
    assert_eq!(e.family_name(), "ipv6");
    assert_eq!(e.remote_text().as_deref(), Some("fd00::2"));
    assert_eq!(e.local_text().as_deref(), Some("::1"));
}

#[test]
fn decodes_the_older_40_byte_event() {
    let e = sample();
    let bytes = raw_v4(&e);
    assert_eq!(bytes.len(), EVENT_SIZE_V4);
    let old = AccordEvent::decode(&bytes).unwrap();
    assert_eq!(
        old,
        AccordEvent {
            remote6: [0; 16],
            local6: [0; 16],
            ..e
        }
    );
    // The addresses still read from the IPv4 fields.
    assert_eq!(old.remote_text().as_deref(), Some("127.0.0.2"));
    let v6 = AccordEvent {
        family: 10,
        remote4: 0,
        ..old
    };
    // An IPv6 peer in an older event: not carried.
    assert_eq!(v6.remote_text(), None);
    assert_eq!(v6.local_text().as_deref(), Some("::ffff:127.0.0.1"));
}

#[test]
fn names_ops_families_and_addresses() {
    assert_eq!(op_name(Hook::SockOps, 4), "ACTIVE_ESTABLISHED_CB");
    assert_eq!(op_name(Hook::SockOps, 5), "PASSIVE_ESTABLISHED_CB");
    assert_eq!(op_name(Hook::SockOps, 3), "TCP_CONNECT_CB");
    assert_eq!(op_name(Hook::SockOps, 99), "op99");
    assert_eq!(op_name(Hook::Xdp, 0), "-");
    let mut e = sample();
    assert_eq!(e.family_name(), "ipv4");
    assert_eq!(e.remote_text().as_deref(), Some("127.0.0.2"));
    assert_eq!(e.local_text().as_deref(), Some("127.0.0.1"));
    e.family = 10;
    assert_eq!(e.family_name(), "ipv6");
    assert_eq!(e.remote_text().as_deref(), Some("::ffff:127.0.0.2"));
    // XDP, tc: no addresses at all.
    e.remote4 = 0;
    e.remote6 = [0; 16];
    assert_eq!(e.remote_text(), None);
}

fn chain(debug_sample: u32, timing: bool) -> DesiredChain {
    let member = |f: &str, bytes: &[u8]| DesiredMember {
        feature: f.into(),
        program: f.into(),
        object: ObjectImage::new(&format!("{f}.bpf.o"), "test".into(), bytes.to_vec()),
        config: ConfigImage::default(),
        struct_ops: None,
    };
    DesiredChain {
        key: hookpoint_key(Hook::SockOps, 7),
        hook: Hook::SockOps,
        target: Target {
            cgroup: PathBuf::from("/sys/fs/cgroup/unified/t"),
            cgroup_id: 7,
        },
        composition: "t".into(),
        composition_path: PathBuf::from("t.yaml"),
        members: vec![member("init_cwnd", b"a"), member("rto_min", b"b")],
        debug_sample,
        timing,
        audit: None,
        needs: Default::default(),
    }
}

#[test]
fn tells_the_sampling_rate_from_the_record() {
    // Records keep the rate itself, even past what the digest search names.
    for (n, timing) in [(0, false), (1, false), (64, true), (1 << 20, false)] {
        let record = chain(n, timing).record(1);
        assert_eq!(record.debug_sample, Some(n));
        let want = if n == 0 {
            DebugSample::Off
        } else {
            DebugSample::Every(n)
        };
        assert_eq!(debug_sample(&record), want);
    }
}

/// A record as written before records kept `debug_sample`.
fn old_record(n: u32, timing: bool, generation: u64) -> HookpointRecord {
    let mut record = chain(n, timing).record(generation);
    record.debug_sample = None;
    record
}

#[test]
fn tells_the_sampling_rate_of_an_old_record_from_its_digest() {
    // Against the real digest: breaks if chain_digest changes its parts.
    assert_eq!(debug_sample(&old_record(0, false, 1)), DebugSample::Off);
    assert_eq!(debug_sample(&old_record(0, true, 1)), DebugSample::Off);
    assert_eq!(
        debug_sample(&old_record(1, false, 1)),
        DebugSample::Every(1)
    );
    assert_eq!(
        debug_sample(&old_record(64, true, 3)),
        DebugSample::Every(64)
    );
    assert_eq!(
        debug_sample(&old_record(1 << 20, false, 1)),
        DebugSample::On
    );
}

#[test]
fn records_keep_debug_sample_and_old_records_still_read() {
    let record = chain(64, true).record(3);
    let text = serde_json::to_string_pretty(&record).unwrap();
    assert!(text.contains("\"debug_sample\": 64"), "{text}");
    let back: HookpointRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);

    // An older record: no debug_sample field at all.
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("debug_sample");
    let old: HookpointRecord = serde_json::from_value(value).unwrap();
    assert_eq!(old.debug_sample, None);
    assert_eq!(debug_sample(&old), DebugSample::Every(64));
    // And it is written back without the field.
    assert!(!serde_json::to_string(&old)
        .unwrap()
        .contains("debug_sample"));
}

fn layout(tag: &str) -> (Layout, HookpointRecord) {
    let dir = std::env::temp_dir().join(format!("accord-events-{tag}-{}", std::process::id()));
    let layout = Layout {
        bpffs_root: dir.join("bpf"),
        state_dir: dir.join("state"),
    };
    let record = chain(1, false).record(2);
    for m in &record.members {
        let d = layout.member_dir(&record.key, 2, m.slot, &m.feature, &m.program);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(EVENTS_MAP), b"").unwrap();
    }
    (layout, record)
}

#[test]
fn polls_every_member_in_time_order_until_the_count() {
    let (layout, record) = layout("poll");
    let pin = |slot: u32, f: &str| {
        layout
            .member_dir(&record.key, 2, slot, f, f)
            .join(EVENTS_MAP)
    };
    let ev = |ts: u64, slot: u32| {
        raw(&AccordEvent {
            ts_ns: ts,
            slot,
            ..sample()
        })
    };
    let source = FakeEvents {
        rings: vec![
            (pin(0, "init_cwnd"), vec![ev(10, 0), ev(30, 0)]),
            (pin(1, "rto_min"), vec![ev(20, 1)]),
        ],
    };
    let mut rings = open_rings(&layout, &record, &source, None).unwrap();
    assert_eq!(rings.len(), 2);
    let mut got = Vec::new();
    let until = Until {
        count: Some(3),
        duration: None,
    };
    let n = poll(&mut rings, until, &mut |e| {
        got.push((e.member.clone(), e.event.ts_ns))
    })
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        got,
        [
            ("init_cwnd".to_owned(), 10),
            ("rto_min".to_owned(), 20),
            ("init_cwnd".to_owned(), 30)
        ]
    );

    // One member only; an unknown one is refused with the names there are.
    let rings = open_rings(&layout, &record, &source, Some("rto_min")).unwrap();
    assert_eq!(rings.len(), 1);
    assert_eq!(rings[0].slot, 1);
    let err = open_rings(&layout, &record, &source, Some("nope"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("init_cwnd, rto_min"), "{err}");

    // A duration ends an empty poll.
    let mut rings = open_rings(&layout, &record, &source, Some("rto_min")).unwrap();
    let until = Until {
        count: Some(5),
        duration: Some(Duration::from_millis(50)),
    };
    assert_eq!(poll(&mut rings, until, &mut |_| {}).unwrap(), 1);
    let _ = std::fs::remove_dir_all(layout.bpffs_root.parent().unwrap());
}

#[test]
fn refuses_a_chain_without_sampling() {
    let (layout, _) = layout("off");
    let off = chain(0, false).record(2);
    let err = open_rings(&layout, &off, &FakeEvents::default(), None)
        .err()
        .unwrap();
    assert!(matches!(err, EventsError::DebugOff { .. }));
    assert!(err.to_string().contains("debug events are off"), "{err}");
    let _ = std::fs::remove_dir_all(layout.bpffs_root.parent().unwrap());
}
