//! Unit tests of the catalog loader and the YAML helpers.

use std::path::Path;

use super::{load_catalog, LoadErrorKind};
use crate::ir::{CmpOp, ReadMethod, ValueType, WriteMethod};

fn write_tmp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("accord-load-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join("catalog.yaml");
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn the_sock_ops_catalog_has_the_contract_fields() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml");
    let c = load_catalog(&p).expect("loads");
    assert_eq!(c.hook, "sock_ops");
    assert_eq!(c.default_verdict, 1);
    for f in [
        "op",
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_port",
        "local_port",
        "state",
    ] {
        assert!(c.readable.contains_key(f), "readable {f}");
    }
    for f in [
        "reply",
        "TCP_CONGESTION",
        "TCP_BPF_IW",
        "TCP_BPF_SNDCWND_CLAMP",
        "TCP_BPF_RTO_MIN",
        "TCP_BPF_DELACK_MAX",
        "TCP_MAXSEG",
        "TCP_WINDOW_CLAMP",
        "SO_RCVBUF",
        "SO_SNDBUF",
        "SO_MARK",
        "SO_PRIORITY",
        "cb_flags",
    ] {
        assert!(c.writable.contains_key(f), "writable {f}");
    }
    let ValueType::Enum { variants } = &c.readable["op"].ty else {
        panic!("op is an enum")
    };
    assert_eq!(variants.len(), 21);
    assert_eq!(
        variants.last(),
        Some(&("BPF_SOCK_OPS_TSTAMP_SENDMSG_CB".to_string(), 20))
    );
    assert_eq!(c.readable["remote_port"].ty, ValueType::U16);
    assert_eq!(c.readable["remote_ip4"].ty, ValueType::Ipv4);
    assert_eq!(
        c.writable["TCP_CONGESTION"].ty,
        ValueType::Str { max_len: 15 }
    );
    assert!(c.writable["cb_flags"].or_update);
    assert_eq!(
        c.writable["cb_flags"].read,
        Some(ReadMethod::ContextLoad {
            offset: 84,
            size: 4
        })
    );
    assert_eq!(
        c.writable["reply"].method,
        WriteMethod::ContextStore { offset: 4 }
    );
    assert_eq!(
        c.writable["cb_flags"].method,
        WriteMethod::Helper {
            name: "bpf_sock_ops_cb_flags_set".into(),
            id: 59
        }
    );
    let inv = &c.invariants[0];
    assert_eq!(
        (inv.lhs.as_str(), inv.op, inv.rhs.as_str()),
        ("TCP_BPF_IW", CmpOp::Le, "TCP_BPF_SNDCWND_CLAMP")
    );
}

#[test]
fn catalog_errors_are_collected_with_positions() {
    let p = write_tmp(
        "bad",
        "hook: h\nreadable:\n  op: { type: enumm }\nwritable:\n  x: { type: u32, method: { kind: sockopt }, merge: xor }\ninvariants:\n  - { name: i, lhs: x, op: \"=<\", rhs: y }\n",
    );
    let e = load_catalog(&p).expect_err("bad catalog");
    let got: Vec<String> = e
        .errors
        .iter()
        .map(|e| {
            format!(
                "{}:{} {}",
                e.location.line.unwrap_or(0),
                e.location.column.unwrap_or(0),
                e.kind
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "3:15 unknown type `enumm`",
            "5:35 unknown method kind `sockopt`",
            "5:53 unknown merge rule `xor`",
            // `x` failed above, so it is unknown too.
            "7:21 unknown field `x` (an invariant relates writable fields)",
            "7:39 unknown field `y` (an invariant relates writable fields)",
            "7:28 unknown comparison `=<`",
        ],
        "{e:?}"
    );
    assert!(
        matches!(&e.errors[0].kind, LoadErrorKind::UnknownName { suggestion: Some(s), .. } if s == "enum")
    );
}

#[test]
fn the_sock_ops_catalog_states_what_the_kernel_does_with_each_field() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml");
    let c = load_catalog(&p).expect("the sock_ops catalog loads");
    let reply = &c.writable["reply"];
    assert_eq!(reply.ty, ValueType::I32);
    assert!(!reply.persistent);
    assert_eq!(reply.honoured_at, Some(vec![1, 2, 6, 7]));
    let init = reply.initial.as_ref().expect("reply starts at 0");
    assert_eq!(init.value, crate::ir::Literal::Int(0));
    assert!(c.writable["SO_SNDBUF"].persistent && c.writable["cb_flags"].persistent);
    assert!(c.writable["SO_SNDBUF"].initial.is_none());
    let m = c.connection.as_ref().expect("connection_ends");
    assert!(m.per_end.contains("remote_ip6[3]") && m.per_end.contains("remote_port"));
    assert!(!m.per_end.contains("op") && !m.per_end.contains("state"));
    assert_eq!(
        m.follows(3, 4),
        Some((crate::ir::Sequence::Ordered, "active"))
    );
    assert_eq!(
        m.follows(4, 3),
        None,
        "established never comes before connect"
    );
    assert_eq!(
        m.follows(3, 5),
        None,
        "the active and the passive side are two ends"
    );
    assert_eq!(
        m.follows(12, 12).map(|(s, _)| s),
        Some(crate::ir::Sequence::Either)
    );
    assert_eq!(m.follows(5, 10).map(|(_, e)| e), Some("passive"));
}

#[test]
fn catalog_semantics_errors_say_what_is_valid() {
    let base = "hook: h\nreadable:\n  op: { type: enum, variants: { A: 0, B: 1 } }\nwritable:\n";
    let cases = [
        ("  x: { type: u32, method: { kind: helper, name: h, id: 1 }, merge: or }\n", "`conflict` (writes are assignments"),
        ("  x: { type: u32, method: { kind: helper, name: h, id: 1 }, initial: 0 }\n", "a persistent field holds what earlier callbacks"),
        ("  x: { type: u32, method: { kind: helper, name: h, id: 1 }, updates: [set, xor] }\n", "expected set or or"),
        ("  x: { type: u32, method: { kind: context_store, offset: 4, size: 4 }, honoured_at: [C] }\n", "unknown honoured_at value `C`"),
        ("  x: { type: u32, method: { kind: helper, name: h, id: 1 }, read: { kind: getsockopt } }\n", "getsockopt reads only a field written with setsockopt"),
        ("  x: { type: u32, method: { kind: helper, name: h, id: 1 } }\nconnection_ends:\n  per_end: [nope]\n  ends: { active: [A, Z] }\n", "a readable field of the catalog"),
    ];
    for (i, (writable, says)) in cases.iter().enumerate() {
        let p = write_tmp(&format!("sem{i}"), &format!("{base}{writable}"));
        let e = load_catalog(&p).expect_err("bad catalog");
        let text = e
            .errors
            .iter()
            .map(|e| e.kind.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains(says), "case {i}: {text}");
    }
}

#[test]
fn enum_prefixes_never_split_characters() {
    let v = |names: &[&str]| {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i as u64))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        crate::guard::enum_prefix(&v(&["BPF_TCP_A", "BPF_TCP_B"])),
        "BPF_TCP_"
    );
    assert_eq!(
        crate::guard::enum_prefix(&v(&["AF_INET", "AF_INET6"])),
        "AF_"
    );
    assert_eq!(crate::guard::enum_prefix(&v(&["é_a", "é_b", "éx"])), "");
    assert_eq!(crate::guard::enum_prefix(&v(&["ééé_a", "ééé_b"])), "ééé_");
}
