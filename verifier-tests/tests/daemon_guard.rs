//! The daemon guard fails closed, with the real `accord` binary and a
//! daemon child process on the running kernel: a stopped daemon (SIGSTOP)
//! makes `apply` and `detach` refuse at once instead of proceeding; with
//! its state directory removed, a running daemon binds its status socket
//! again, `apply` still finds it and refuses its cgroups, and a second
//! daemon on the same state directory cannot start.

mod daemon_common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use daemon_common::*;
use verifier_tests::{require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const IW40: (&str, &str) = ("init_cwnd", "{ iw: 40, prefixes: [127.0.0.2/32] }");

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

fn cwnd_of_new(cg: &TestCgroup) -> u32 {
    let conn = TcpConn::connect_from(cg, PEER).unwrap();
    tcp_info(&conn.client).unwrap().tcpi_snd_cwnd
}

/// A daemon running init_cwnd on a fresh cgroup.
fn setup(tag: &str) -> Option<(Env, TestCgroup, Daemon, std::path::PathBuf)> {
    if !require_root_or_skip(tag) {
        return None;
    }
    let accord = verifier_tests::accord_bin_or_skip(tag)?;
    let mut env = Env::new(tag);
    let cg = TestCgroup::create(tag).unwrap();
    let comp = env.composition("c.yaml", &[IW40]);
    env.write_policy(&format!(
        "  - cgroup: {}\n    composition: {}\n",
        cg.path().display(),
        comp.display()
    ));
    let d = env.start_ready();
    assert_eq!(cwnd_of_new(&cg), 40, "{}", d.log_text());
    Some((env, cg, d, accord))
}

/// `accord apply` of a one-feature composition on `cgroup`.
fn apply_on(
    env: &Env,
    accord: &std::path::Path,
    cgroup: &std::path::Path,
) -> (Option<i32>, String) {
    let comp = env.composition(
        "other.yaml",
        &[("sndbuf", "{ bytes: 1048576, prefixes: [127.0.0.2/32] }")],
    );
    let specs = repo().join("specs").display().to_string();
    let (c, cg) = (comp.display().to_string(), cgroup.display().to_string());
    let (code, out, err) = env.accord(accord, &["apply", &c, "--cgroup", &cg, "--specs", &specs]);
    (code, format!("{out}{err}"))
}

#[test]
fn a_stopped_daemon_makes_apply_and_detach_refuse_at_once() {
    let _serial = serial();
    let Some((env, cg, mut d, accord)) = setup("dguardstop") else {
        return;
    };
    let other = TestCgroup::create("dguardstop2").unwrap();
    let before = env.status_of_records();
    d.signal(libc::SIGSTOP);
    let pid = d.pid();

    // Its own cgroup and any other: a daemon that does not answer cannot
    // say which cgroups it manages.
    for cgroup in [cg.path(), other.path()] {
        let started = Instant::now();
        let (code, text) = apply_on(&env, &accord, cgroup);
        assert_eq!(code, Some(3), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused at once, not after a timeout: {:?}",
            started.elapsed()
        );
        assert!(
            text.contains(&format!(
                "an accord daemon (pid {pid}) holds this state directory but does not answer"
            )),
            "{text}"
        );
        assert!(text.contains("stopped"), "{text}");
    }
    let cgroup = cg.path().display().to_string();
    let (code, out, err) = env.accord(&accord, &["detach", "--cgroup", &cgroup]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("does not answer"), "{err}");
    let (code, out, _) = env.accord(&accord, &["status"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("NOT ANSWERING"), "{out}");

    // Nothing changed, and the chain keeps working while the daemon is stopped.
    assert_eq!(env.status_of_records(), before);
    assert_eq!(cwnd_of_new(&cg), 40);
    assert!(env
        .status_of_records()
        .iter()
        .all(|r| r.cgroup != other.path()));

    d.signal(libc::SIGCONT);
    let (code, text) = apply_on(&env, &accord, other.path());
    assert_eq!(
        code,
        Some(0),
        "a cgroup the daemon does not manage, once it answers: {text}"
    );
    let (code, text) = apply_on(&env, &accord, cg.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the running accord daemon manages it"),
        "{text}"
    );
    d.stop();
}

#[test]
fn a_removed_state_directory_breaks_neither_the_guard_nor_the_single_daemon() {
    let _serial = serial();
    let Some((mut env, cg, mut d, accord)) = setup("dguardrm") else {
        return;
    };
    std::fs::remove_dir_all(&env.layout.state_dir).unwrap();
    assert!(!env.socket.exists());

    // apply still finds the daemon (by its name) and refuses its cgroup.
    let (code, text) = apply_on(&env, &accord, cg.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the running accord daemon manages it"),
        "{text}"
    );

    // A second daemon on the same state directory cannot start, so it
    // cannot detach the first one's chain.
    let mut second = env.start();
    assert_eq!(
        second.wait_exit(Duration::from_secs(20)),
        Some(3),
        "{}",
        second.log_text()
    );
    assert!(
        second
            .log_text()
            .contains(&format!("another accord daemon (pid {}) runs on", d.pid())),
        "{}",
        second.log_text()
    );

    // The daemon binds its status socket again and keeps the chain.
    let back = holds_within(Duration::from_secs(5), || {
        env.socket.exists()
            && runtime::daemon::socket::request(&env.socket, "status", Duration::from_secs(5))
                .is_ok()
    });
    assert!(back, "the socket was not bound again:\n{}", d.log_text());
    assert!(d.log_text().contains("bound it again"), "{}", d.log_text());
    assert_eq!(cwnd_of_new(&cg), 40);
    let live = holds_within(Duration::from_secs(5), || {
        d.status()["targets"][0]["state"] == "live" && !env.status_of_records().is_empty()
    });
    assert!(live, "{}", d.log_text());
    d.stop();
    assert!(!env.socket.exists(), "removed on exit");
}
