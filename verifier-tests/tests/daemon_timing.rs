//! The daemon's per-target `timing:` key on the real kernel: with
//! `timing: true` every member measures its own run time and the status
//! socket reports it (`run_ns` beside events, writes and errors); turning it
//! off in the policy is a reload, after which `run_ns` stays 0.

mod daemon_common;

use std::net::Ipv4Addr;
use std::time::Duration;

use daemon_common::*;
use runtime::daemon::socket::Value;
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LIMIT: Duration = Duration::from_secs(5);

const IW40: (&str, &str) = ("init_cwnd", "{ iw: 40, prefixes: [127.0.0.2/32] }");
const SNDBUF: (&str, &str) = ("sndbuf", "{ bytes: 1048576, prefixes: [127.0.0.2/32] }");

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

fn policy_for(cg: &TestCgroup, timing: Option<bool>) -> String {
    let mut t = format!(
        "  - cgroup: {}\n    composition: c.yaml\n",
        cg.path().display()
    );
    if let Some(on) = timing {
        t.push_str(&format!("    timing: {on}\n"));
    }
    t
}

fn connect_a_few(cg: &TestCgroup) {
    for _ in 0..5 {
        let mut conn = TcpConn::connect_from(cg, PEER).unwrap();
        assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40);
        conn.exchange(16 * 1024).unwrap();
    }
}

/// A member's counters as the status socket reports them.
#[derive(Debug)]
struct Counters {
    member: String,
    prog_id: u64,
    events: u64,
    writes: u64,
    errors: u64,
    run_ns: u64,
}

/// The one hookpoint's generation, `timing` flag and members.
fn hookpoint(status: &Value) -> (u64, bool, Vec<Counters>) {
    let hp = &status["hookpoints"][0];
    let field = |m: &Value, k: &str| {
        m[k].as_u64()
            .unwrap_or_else(|| panic!("member without a numeric `{k}`: {m}"))
    };
    let members = hp["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {status}"))
        .iter()
        .map(|m| Counters {
            member: m["member"].as_str().unwrap_or_default().to_owned(),
            prog_id: field(m, "prog_id"),
            events: field(m, "events"),
            writes: field(m, "writes"),
            errors: field(m, "errors"),
            run_ns: field(m, "run_ns"),
        })
        .collect();
    (
        hp["generation"].as_u64().unwrap_or_default(),
        hp["timing"].as_bool().expect("a `timing` flag"),
        members,
    )
}

#[test]
fn timing_in_the_policy_reports_run_ns_for_every_member() {
    if !require_root_or_skip("daemon: member timing") {
        return;
    }
    let _serial = serial();
    let mut env = Env::new("dtiming");
    let cg = TestCgroup::create("dtiming").unwrap();
    env.composition("c.yaml", &[IW40, SNDBUF]);
    env.write_policy(&policy_for(&cg, Some(true)));
    let mut d = env.start();
    d.ready();
    let live = within(LIMIT, || {
        (d.status()["targets"][0]["state"] == "live").then_some(())
    });
    assert!(live.is_some(), "not live:\n{}", d.log_text());
    let status = d.status();
    assert_eq!(status["targets"][0]["timing"], true, "{status}");
    assert!(env.status_of_records()[0].timing, "the record says timing");

    connect_a_few(&cg);
    let (generation, timing, members) = hookpoint(&d.status());
    assert!(timing, "the hookpoint says timing is on");
    assert_eq!(members.len(), 2, "{members:?}");
    for m in &members {
        assert!(m.events > 0, "{m:?}");
        assert!(m.writes > 0, "{}: both members write: {m:?}", m.member);
        assert_eq!(m.errors, 0, "{m:?}");
        assert!(m.run_ns > 0, "run_ns with timing on: {m:?}");
        assert!(
            m.run_ns / m.events < 1_000_000,
            "{}: {} ns per event",
            m.member,
            m.run_ns / m.events
        );
        eprintln!(
            "{}: {} events, {} ns, {} ns/event",
            m.member,
            m.events,
            m.run_ns,
            m.run_ns / m.events
        );
    }

    // Dropping the key (default off) reloads every member; run_ns stays 0.
    env.write_policy(&policy_for(&cg, None));
    let swapped = within(LIMIT, || {
        let (g, t, _) = hookpoint(&d.status());
        (g > generation && !t).then_some(())
    });
    assert!(
        swapped.is_some(),
        "timing off not applied:\n{}",
        d.log_text()
    );
    connect_a_few(&cg);
    let (_, _, after) = hookpoint(&d.status());
    assert_eq!(after.len(), 2);
    for (m, before) in after.iter().zip(&members) {
        assert_ne!(m.prog_id, before.prog_id, "{} was reloaded", m.member);
        assert!(m.events > 0, "{m:?}");
        assert_eq!(m.run_ns, 0, "run_ns with timing off: {m:?}");
    }
    assert!(!env.status_of_records()[0].timing);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(), Some(0), "{}", d.log_text());
}
