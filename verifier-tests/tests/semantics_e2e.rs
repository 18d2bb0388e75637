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
