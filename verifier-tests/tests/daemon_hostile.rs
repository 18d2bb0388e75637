//! The daemon fed pathological edits: a guard nested 6000 deep, YAML
//! nested 3000 deep, bytes that are not UTF-8, a file that is not a spec at
//! all (`/etc/shadow`-like). Each edit is refused with its file:line:col,
//! the daemon keeps running, and the live chain stays exactly as it was
//! (same generation, same program ids, same effect on new connections);
//! the refusal and the log never echo the lines of a file that is not YAML.

mod daemon_common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use daemon_common::*;
use runtime::daemon::socket::Value;
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LIMIT: Duration = Duration::from_secs(10);

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

fn cwnd_of_new(cg: &TestCgroup) -> u32 {
    let conn = TcpConn::connect_from(cg, PEER).unwrap();
    tcp_info(&conn.client).unwrap().tcpi_snd_cwnd
}

/// The one hookpoint's generation and member program ids.
fn chain_of(status: &Value) -> (u64, Vec<u64>) {
    let hp = &status["hookpoints"][0];
    let ids = hp["members"]
        .as_array()
        .map(|ms| ms.iter().filter_map(|m| m["prog_id"].as_u64()).collect())
        .unwrap_or_default();
    (hp["generation"].as_u64().unwrap_or_default(), ids)
}

/// An init_cwnd spec (as specs/features/init_cwnd.yaml) whose guard is `guard`.
fn spec_with_guard(guard: &str) -> String {
    let real = std::fs::read_to_string(repo().join("specs/features/init_cwnd.yaml")).unwrap();
    let line = real
        .lines()
        .find(|l| l.trim_start().starts_with("when:"))
        .expect("init_cwnd has a guard");
    real.replace(line, &format!("        when: \"{guard}\""))
}

/// Writes `file` in `dir` atomically (a new file renamed over, as editors do).
fn write(dir: &Path, file: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(file)).unwrap();
}

/// Waits until the daemon's last refusal contains `needle`; returns it.
fn refusal_with(d: &Daemon, needle: &str) -> String {
    within(LIMIT, || {
        let s = d.status();
        let r = s["last_refusal"].as_str()?.to_owned();
        r.contains(needle).then_some(r)
    })
    .unwrap_or_else(|| {
        panic!(
            "no refusal with {needle:?}; last: {}\n{}",
            d.status()["last_refusal"],
            d.log_text()
        )
    })
}

#[test]
fn pathological_edits_are_refused_and_the_daemon_and_its_chain_stay() {
    if !require_root_or_skip("daemon: pathological edits") {
        return;
    }
    let _serial = serial();
    let mut env = Env::new("dhost");
    let cg = TestCgroup::create("dhost").unwrap();
    let spec_dir = env.dir.clone();
    // Its object is the built-in one (`object: builtin:init_cwnd`).
    let init_cwnd = spec_with_guard(
        "op in {ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB} && remote_ip in $prefixes",
    );
    write(&spec_dir, "iw.yaml", init_cwnd.as_bytes());
    let composition = "composition: c\nhook: sock_ops\nfeatures:\n  - spec: iw.yaml\n    \
                       config: { iw: 40, prefixes: [127.0.0.2/32] }\n";
    write(&spec_dir, "c.yaml", composition.as_bytes());
    env.write_policy(&format!(
        "  - cgroup: {}\n    composition: c.yaml\n",
        cg.path().display()
    ));
    let mut d = env.start_ready();
    let live = within(LIMIT, || {
        let c = chain_of(&d.status());
        (c.0 > 0).then_some(c)
    })
    .unwrap_or_else(|| panic!("never live:\n{}", d.log_text()));
    assert_eq!(cwnd_of_new(&cg), 40);

    let stays = |d: &mut Daemon, what: &str| {
        assert_eq!(chain_of(&d.status()), live, "{what}: the chain changed");
        assert_eq!(cwnd_of_new(&cg), 40, "{what}: new connections");
    };

    // 1. A guard nested 6000 deep.
    let deep_guard = format!("{}op == 1{}", "(".repeat(6000), ")".repeat(6000));
    write(
        &spec_dir,
        "iw.yaml",
        spec_with_guard(&deep_guard).as_bytes(),
    );
    let r = refusal_with(&d, "nested deeper than 256 levels");
    assert!(r.contains("iw.yaml:"), "{r}");
    stays(&mut d, "deep guard");

    // 2. YAML nested 3000 deep.
    let mut deep = String::from("feature: init_cwnd\ndescription:\n");
    for i in 1..3000 {
        deep.push_str(&format!("{}a:\n", " ".repeat(i)));
    }
    deep.push_str(&format!("{}b: 1\n", " ".repeat(3000)));
    write(&spec_dir, "iw.yaml", deep.as_bytes());
    let r = refusal_with(&d, "iw.yaml:258:257: error: nested deeper than 256 levels");
    assert!(!r.contains("stack"), "{r}");
    stays(&mut d, "deep YAML");

    // 3. Bytes that are not UTF-8.
    let mut bad = init_cwnd.clone().into_bytes();
    bad.splice(3..3, [0xc0, 0xaf]);
    write(&spec_dir, "iw.yaml", &bad);
    refusal_with(&d, "iw.yaml:1:4: error: invalid UTF-8 (byte 0xc0)");
    stays(&mut d, "invalid UTF-8");

    // 4. A file that is not a spec, named as one: never echoed.
    let shadow = "root:*:20228:0:99999:7:::\nsecretuser:$y$j9T$c2VjcmV0:20228:0:99999:7:::\n";
    write(&spec_dir, "iw.yaml", shadow.as_bytes());
    let r = refusal_with(&d, "not a feature spec");
    stays(&mut d, "not a spec");
    let log = d.log_text();
    for out in [&r, &log] {
        assert!(!out.contains("secretuser"), "echoed:\n{out}");
        assert!(!out.contains("99999"), "echoed:\n{out}");
    }

    // Fixed again (and the window changed): the daemon takes it.
    write(&spec_dir, "iw.yaml", init_cwnd.as_bytes());
    let composition_30 = composition.replace("iw: 40", "iw: 30");
    write(&spec_dir, "c.yaml", composition_30.as_bytes());
    assert!(
        holds_within(LIMIT, || cwnd_of_new(&cg) == 30),
        "the daemon did not take the fixed inputs:\n{}",
        d.log_text()
    );
    d.stop();
}
