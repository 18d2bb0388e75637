//! Issue 14 on real connections: the conflicts `accord check` used to call
//! safe, shown live on the running kernel next to what the checker now
//! says. Each test checks a small composition with the real catalog, then
//! runs the same writes as a chain (test objects `ebpf/testing/
//! sockopt_at.bpf.c` and `cb_flag.bpf.c`, configured like the specs) on a
//! test cgroup and reads the effect from the socket. Root only.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use composer::check::{check, CheckOptions};
use composer::load::{load, LoadOptions};
use composer::outcome::{CheckOutcome, Conflict};
use runtime::objects::testing_object;
use verifier_tests::*;

const TCP_CONNECT_CB: u64 = 3;
const ACTIVE_ESTABLISHED_CB: u64 = 4;
const SOL_SOCKET: u64 = 1;
const SO_SNDBUF: u64 = 7;
const SOL_IP: u64 = 0;
const IP_TOS: u64 = 1;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("verifier-tests has a parent")
        .to_path_buf()
}

/// Writes the specs (`(feature, one write: field, value, when, extra)`)
/// and a composition listing them into a fresh directory; checks it with
/// the real sock_ops catalog.
fn check_specs(tag: &str, features: &[(&str, &str, &str, &str, &str)]) -> CheckOutcome {
    let dir = std::env::temp_dir().join(unique_name(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let mut comp = format!("composition: {tag}\nhook: sock_ops\nfeatures:\n");
    for (name, field, value, when, extra) in features {
        let spec = format!(
            "feature: {name}\ndescription: {tag}\nprograms:\n  - name: {name}\n    hook: sock_ops\n    \
             reads: [op, family, remote_ip4, local_ip4, remote_ip6, local_ip6, remote_port, local_port]\n    \
             writes:\n      - field: {field}\n        value: {value}\n        when: '{when}'\n{extra}"
        );
        std::fs::write(dir.join(format!("{name}.yaml")), spec).unwrap();
        comp += &format!("  - spec: {name}.yaml\n");
    }
    let path = dir.join("composition.yaml");
    std::fs::write(&path, comp).unwrap();
    let opts = LoadOptions {
        catalog: Some(repo_root().join("specs/hooks/sock_ops.yaml")),
        ..LoadOptions::default()
    };
    let loaded = load(&path, &opts)
        .unwrap_or_else(|e| panic!("{}", composer::report::load_errors_human(&e)));
    let outcome = check(&loaded.composition, &CheckOptions::default());
    eprintln!(
        "{}",
        composer::report::human(&outcome, &loaded.composition, &loaded.warnings)
    );
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A chain of `sockopt_at` members, each configured (op, level, option,
/// value), in this order, attached to a fresh cgroup.
fn sockopt_chain(tag: &str, members: &[[u64; 4]]) -> (TestCgroup, TestChain) {
    let cg = TestCgroup::create(tag).unwrap();
    let mut chain = TestChain::new(tag).unwrap();
    for cfg in members {
        let idx = chain
            .add_member(testing_object("sockopt_at").unwrap())
            .unwrap();
        chain.set_config(idx, cfg).unwrap();
    }
    chain.attach(&cg).unwrap();
    (cg, chain)
}

/// Item 3: `IP_TOS` was not in the catalog, so a spec could not declare it
/// and `check` could not see two features setting different values. Now it
/// is a conflict, and live the later member's value is what the socket
/// keeps.
#[test]
fn an_added_option_ip_tos_conflicts_and_the_later_member_wins_live() {
    if !require_root_or_skip("semantics: IP_TOS") {
        return;
    }
    let outcome = check_specs(
        "sem-tos",
        &[
            (
                "tos_low_delay",
                "IP_TOS",
                "0x10",
                "op == TCP_CONNECT_CB",
                "",
            ),
            ("tos_af11", "IP_TOS", "0x28", "op == TCP_CONNECT_CB", ""),
        ],
    );
    assert!(
        matches!(outcome.conflicts.as_slice(), [Conflict::SameField { field, .. }] if field == "IP_TOS"),
        "{outcome:#?}"
    );

    let ip = Ipv4Addr::new(127, 0, 0, 2);
    let low_delay = [TCP_CONNECT_CB, SOL_IP, IP_TOS, 0x10];
    let af11 = [TCP_CONNECT_CB, SOL_IP, IP_TOS, 0x28];
    // Alone, each member's value reaches the socket.
    let (cg, _chain) = sockopt_chain("sem-tos-one", &[low_delay]);
    let conn = TcpConn::connect_from(&cg, ip).unwrap();
    let tos = getsockopt_u32(&conn.client, libc::IPPROTO_IP, libc::IP_TOS).unwrap();
    assert_eq!(tos, 0x10, "the first member alone");
    // Together, the later member silently replaces the first one's value.
    let (cg, _chain) = sockopt_chain("sem-tos-two", &[low_delay, af11]);
    let conn = TcpConn::connect_from(&cg, ip).unwrap();
    let tos = getsockopt_u32(&conn.client, libc::IPPROTO_IP, libc::IP_TOS).unwrap();
    eprintln!("IP_TOS with both members: {tos:#x}");
    assert_eq!(tos, 0x28, "the later member's value wins; 0x10 is lost");
}

const BPF_SOCK_OPS_STATE_CB_FLAG: u64 = 4;
const BPF_SOCK_OPS_RTT_CB_FLAG: u64 = 8;
const STATE_CB: u32 = 10;
const RTT_CB: u32 = 12;

/// A chain of `cb_flag` members (flag, or) in this order on a fresh cgroup;
/// one connection with both ends in it makes 50 round trips and closes.
/// Returns each member's callback counts per op.
fn cb_flags_live(tag: &str, members: &[[u64; 2]]) -> Vec<[u64; 32]> {
    let cg = TestCgroup::create(tag).unwrap();
    let mut chain = TestChain::new(tag).unwrap();
    for cfg in members {
        let idx = chain
            .add_member(testing_object("cb_flag").unwrap())
            .unwrap();
        chain.set_config(idx, cfg).unwrap();
    }
    chain.attach(&cg).unwrap();
    let mut conn = TcpConn::within(&cg, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
    conn.ping_pong(50).unwrap();
    drop(conn);
    std::thread::sleep(std::time::Duration::from_millis(50));
    (0..members.len())
        .map(|idx| {
            let map = chain.member(idx).map("cb_counts").unwrap();
            let arr: aya::maps::Array<_, u64> = aya::maps::Array::try_from(map).unwrap();
            let mut counts = [0u64; 32];
            for (op, c) in counts.iter_mut().enumerate() {
                *c = arr.get(&(op as u32), 0).unwrap();
            }
            counts
        })
        .collect()
}

/// Item 1: `bpf_sock_ops_cb_flags_set` assigns the flag word. Two members
/// asking for their own callbacks by assignment were called safe (the
/// catalog merged cb_flags with `or`); live, the later one's assignment
/// takes the RTT callbacks away from the first. Now that pair conflicts,
/// and written as read-modify-writes (`update: or`) both get their
/// callbacks, which the checker proves safe.
#[test]
fn cb_flags_assignments_replace_each_other_and_or_updates_combine_live() {
    if !require_root_or_skip("semantics: cb_flags") {
        return;
    }
    let est = "op in {ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB}";
    let assign = check_specs(
        "sem-flags-set",
        &[
            ("rtt", "cb_flags", "0x8", est, ""),
            ("state", "cb_flags", "0x4", est, ""),
        ],
    );
    assert!(
        matches!(assign.conflicts.as_slice(), [Conflict::SameField { field, .. }] if field == "cb_flags"),
        "{assign:#?}"
    );
    let or = "        update: or\n";
    let combined = check_specs(
        "sem-flags-or",
        &[
            ("rtt", "cb_flags", "0x8", est, or),
            ("state", "cb_flags", "0x4", est, or),
        ],
    );
    assert!(combined.is_safe(), "{combined:#?}");

    let rtt_set = [BPF_SOCK_OPS_RTT_CB_FLAG, 0];
    let state_set = [BPF_SOCK_OPS_STATE_CB_FLAG, 0];
    let alone = cb_flags_live("sem-flags-alone", &[rtt_set]);
    let together = cb_flags_live("sem-flags-set", &[rtt_set, state_set]);
    let rtt_or = [BPF_SOCK_OPS_RTT_CB_FLAG, 1];
    let state_or = [BPF_SOCK_OPS_STATE_CB_FLAG, 1];
    let ored = cb_flags_live("sem-flags-or", &[rtt_or, state_or]);
    let rtt = |c: &[u64; 32]| c[RTT_CB as usize];
    let state = |c: &[u64; 32]| c[STATE_CB as usize];
    eprintln!(
        "RTT callbacks: alone {}, after another member's assignment {}, both read-modify-write {}; \
         state callbacks: {} / {}",
        rtt(&alone[0]),
        rtt(&together[0]),
        rtt(&ored[0]),
        state(&together[1]),
        state(&ored[1])
    );
    assert!(rtt(&alone[0]) >= 50, "RTT callbacks alone: {alone:?}");
    assert_eq!(
        rtt(&together[0]),
        0,
        "the state member's assignment cleared the RTT flag"
    );
    assert!(
        state(&together[1]) > 0,
        "the state member got its callbacks"
    );
    assert!(rtt(&ored[0]) >= 50, "with `or` updates the RTT flag stays");
    assert!(state(&ored[1]) > 0, "and the state flag is set too");
}

/// `struct op_seq` in ebpf/testing/op_order.bpf.c.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct OpSeq {
    n: u32,
    op: [u8; 64],
    fullsock: [u8; 64],
}
// SAFETY: repr(C), plain integers.
unsafe impl aya::Pod for OpSeq {}

/// The callbacks each end of one real connection goes through, in order,
/// as the `op_order` object records them: (active end, passive end), each
/// op with is_fullsock.
/// One end's callbacks in order: (op, is_fullsock).
type EndOps = Vec<(u8, u8)>;

fn ops_of_one_connection(tag: &str) -> (EndOps, EndOps) {
    let cg = TestCgroup::create(tag).unwrap();
    let mut chain = TestChain::new(tag).unwrap();
    chain
        .add_member(testing_object("op_order").unwrap())
        .unwrap();
    chain.attach(&cg).unwrap();
    let mut conn = TcpConn::within(&cg, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
    conn.ping_pong(5).unwrap();
    let client = u32::from(conn.client.local_addr().unwrap().port());
    let server = u32::from(conn.server.local_addr().unwrap().port());
    drop(conn);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let log: aya::maps::HashMap<_, u32, OpSeq> =
        aya::maps::HashMap::try_from(chain.member(0).map("op_log").unwrap()).unwrap();
    let of = |key: u32| {
        let s = log.get(&key, 0).unwrap();
        (0..s.n.min(64) as usize)
            .map(|i| (s.op[i], s.fullsock[i]))
            .collect::<Vec<_>>()
    };
    (of(client << 16 | server), of(server << 16 | client))
}

/// Walks `seen` (ops in the order one end saw them) through `end`'s steps:
/// each op must be in the current step or a later one, and an op of an
/// `any_order` step keeps the walk there. Returns the ops the walk did not
/// expect.
fn out_of_order(end: &composer::ir::ConnectionEnd, seen: &[u8]) -> Vec<String> {
    let mut step = 0;
    let mut bad = Vec::new();
    for &op in seen {
        let op = u64::from(op);
        match (step..end.steps.len()).find(|&i| end.steps[i].ops.contains(&op)) {
            Some(i) => step = i,
            None => bad.push(format!("op {op} after step {step}")),
        }
    }
    bad
}

/// Issue 14, item 2's kernel fact: the order of callbacks one connection
/// end goes through is the catalog's `connection_ends:` on this kernel.
/// Every callback is recorded (with every optional callback asked for);
/// the active end's and the passive end's full-socket callbacks follow
/// their lists, each list's ordered steps are all seen, and the passive
/// side's request-socket callbacks are exactly the ones the catalog leaves
/// out.
#[test]
fn one_connection_end_goes_through_the_catalogs_callbacks_in_order() {
    if !require_root_or_skip("semantics: callback order") {
        return;
    }
    let catalog = composer::load::load_catalog(&repo_root().join("specs/hooks/sock_ops.yaml"))
        .unwrap_or_else(|e| panic!("{}", composer::report::load_errors_human(&e)));
    let model = catalog.connection.expect("the catalog has connection_ends");
    let (active, passive) = ops_of_one_connection("sem-ops");
    eprintln!("active end: {active:?}\npassive end: {passive:?}");
    let full = |seen: &[(u8, u8)]| {
        seen.iter()
            .filter(|(_, f)| *f == 1)
            .map(|(o, _)| *o)
            .collect::<Vec<_>>()
    };
    for (name, seen) in [("active", full(&active)), ("passive", full(&passive))] {
        let end = model
            .ends
            .iter()
            .find(|e| e.name == name)
            .expect("end in catalog");
        assert_eq!(
            out_of_order(end, &seen),
            Vec::<String>::new(),
            "{name}: {seen:?}"
        );
        for step in end.steps.iter().filter(|s| !s.any_order) {
            assert!(
                step.ops.iter().any(|o| seen.contains(&(*o as u8))),
                "{name}: step {:?} never seen in {seen:?}",
                step.ops
            );
        }
    }
    // Before the handshake the passive side is a request socket: RWND_INIT,
    // TIMEOUT_INIT, NEEDS_ECN, where persistent writes fail.
    let request: Vec<u8> = passive
        .iter()
        .filter(|(_, f)| *f == 0)
        .map(|(o, _)| *o)
        .collect();
    assert_eq!(request, [2, 1, 6], "{passive:?}");
    assert!(active.iter().all(|(_, f)| *f == 1), "{active:?}");
}

/// Item 2: a socket option written at two callbacks of one connection end.
/// `early` sets SO_SNDBUF at TCP_CONNECT_CB, `late` at
/// ACTIVE_ESTABLISHED_CB: the ops differ, so this was called safe, yet
/// every connection ends with `late`'s buffer, whatever the chain order.
/// Now it is a conflict whose report names the value kept and the one lost.
#[test]
fn a_socket_option_set_at_connect_is_replaced_at_established_live() {
    if !require_root_or_skip("semantics: across callbacks") {
        return;
    }
    let outcome = check_specs(
        "sem-across",
        &[
            ("early", "SO_SNDBUF", "65536", "op == TCP_CONNECT_CB", ""),
            (
                "late",
                "SO_SNDBUF",
                "1048576",
                "op == ACTIVE_ESTABLISHED_CB",
                "",
            ),
        ],
    );
    match outcome.conflicts.as_slice() {
        [Conflict::AcrossCallbacks {
            field,
            first,
            then,
            either_last: false,
            ..
        }] => {
            assert_eq!(field, "SO_SNDBUF");
            assert_eq!(
                (first.feature.as_str(), then.feature.as_str()),
                ("early", "late")
            );
        }
        other => panic!("{other:#?}"),
    }
    let ip = Ipv4Addr::new(127, 0, 0, 2);
    let early = [TCP_CONNECT_CB, SOL_SOCKET, SO_SNDBUF, 65536];
    let late = [ACTIVE_ESTABLISHED_CB, SOL_SOCKET, SO_SNDBUF, 1_048_576];
    // Alone, early's buffer stays (the kernel reports twice the value set).
    let (cg, _chain) = sockopt_chain("sem-across-one", &[early]);
    let conn = TcpConn::connect_from(&cg, ip).unwrap();
    assert_eq!(so_sndbuf(&conn.client).unwrap(), 2 * 65536, "early alone");
    // With late in either chain slot, the connection ends with late's.
    for (tag, members) in [
        ("sem-across-el", [early, late]),
        ("sem-across-le", [late, early]),
    ] {
        let (cg, _chain) = sockopt_chain(tag, &members);
        let conn = TcpConn::connect_from(&cg, ip).unwrap();
        let sndbuf = so_sndbuf(&conn.client).unwrap();
        eprintln!("{tag}: SO_SNDBUF {sndbuf}");
        assert_eq!(
            sndbuf,
            2 * 1_048_576,
            "{tag}: late's value kept, early's lost"
        );
    }
}
