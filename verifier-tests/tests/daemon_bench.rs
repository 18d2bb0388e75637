//! Daemon benchmarks for BENCHMARKS.md ("## Daemon"), run on request only
//! (a plain test run says it skips them):
//!
//!     ACCORD_BENCH=1 cargo test --release -p verifier-tests --test daemon_bench -- --nocapture
//!
//! A daemon child (release build) keeps one cgroup with 8 members; measured:
//! idle RSS and CPU, and the time from a policy edit (file renamed over the
//! old one, as editors do) to the new state in the record, for an edit that
//! builds a new generation of 8 members and for a config-only edit.

mod daemon_common;

use std::time::{Duration, Instant};

use daemon_common::*;
use verifier_tests::{require_root_or_skip, TestCgroup};

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

/// A copy of a shipped spec under another feature name (same embedded
/// object), so a composition can hold 8 members from 7 shipped features.
fn clone_spec(env: &Env, feature: &str, as_name: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join(format!("specs/features/{feature}.yaml")))
        .unwrap()
        .replace(
            &format!("feature: {feature}"),
            &format!("feature: {as_name}"),
        );
    let path = env.dir.join(format!("{as_name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn eight_members(env: &Env) -> std::path::PathBuf {
    let specs = repo().join("specs/features");
    let s = |f: &str| specs.join(format!("{f}.yaml")).display().to_string();
    let near = "[127.0.0.0/8]";
    let far = "[192.168.0.0/16]";
    let features = [
        (s("init_cwnd"), format!("{{ iw: 40, prefixes: {near} }}")),
        (
            clone_spec(env, "init_cwnd", "init_cwnd_wan")
                .display()
                .to_string(),
            format!("{{ iw: 20, prefixes: {far} }}"),
        ),
        (s("rwnd_init"), format!("{{ rwnd: 64, prefixes: {near} }}")),
        (s("jumbo_mss"), format!("{{ prefixes: {far} }}")),
        (
            s("rto_min"),
            format!("{{ rto_min_us: 10000, prefixes: {near} }}"),
        ),
        (s("delack_max"), format!("{{ prefixes: {near} }}")),
        (
            s("sndbuf"),
            format!("{{ bytes: 8388608, prefixes: {near} }}"),
        ),
        (
            clone_spec(env, "sndbuf", "sndbuf_wan")
                .display()
                .to_string(),
            format!("{{ bytes: 4194304, prefixes: {far} }}"),
        ),
    ];
    let mut text = String::from("composition: bench8\nhook: sock_ops\nfeatures:\n");
    for (spec, config) in features {
        text.push_str(&format!("  - spec: {spec}\n    config: {config}\n"));
    }
    let path = env.dir.join("bench8.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls `f` every millisecond (the shared `within` polls every 25 ms,
/// too coarse for a latency).
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn record(env: &Env) -> Option<runtime::state::HookpointRecord> {
    env.status_of_records().into_iter().next()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0])
}

#[test]
fn daemon_idle_cost_and_edit_to_live() {
    if std::env::var_os("ACCORD_BENCH").is_none() {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipping test - daemon bench: a benchmark, run with ACCORD_BENCH=1 (release, see BENCHMARKS.md)"
        );
        return;
    }
    if !require_root_or_skip("daemon bench") {
        return;
    }
    let mut env = Env::new("dbench");
    let cg = TestCgroup::create("dbench").unwrap();
    let comp = eight_members(&env);
    let policy = |debug: u32, iw: u32| {
        format!(
            "  - cgroup: {}\n    composition: {}\n    debug_sample: {debug}\n    config:\n      init_cwnd: {{ iw: {iw} }}\n",
            cg.path().display(),
            comp.display()
        )
    };
    env.write_policy(&policy(0, 40));
    let mut d = env.start();
    d.ready();
    let first = record(&env).expect("applied");
    assert_eq!(first.members.len(), 8, "{}", d.log_text());

    std::thread::sleep(Duration::from_secs(2));
    let pid = d.pid();
    let rss = rss_kb(pid);
    let hz = 100.0; // USER_HZ on Linux
    let t0 = cpu_ticks(pid);
    let idle = Duration::from_secs(10);
    std::thread::sleep(idle);
    let cpu = (cpu_ticks(pid) - t0) as f64 / hz / idle.as_secs_f64() * 100.0;

    const ROUNDS: usize = 7;
    let mut swap = Vec::new();
    let mut config = Vec::new();
    let mut gen = first.generation;
    for round in 0..ROUNDS {
        // A new generation of 8 members (the load constant changes).
        let started = Instant::now();
        env.write_policy(&policy((round as u32 + 1) % 2, 40));
        let r = poll(Duration::from_secs(10), || {
            record(&env).filter(|r| r.generation != gen)
        })
        .unwrap_or_else(|| panic!("no new generation:\n{}", d.log_text()));
        swap.push(started.elapsed().as_secs_f64() * 1e3);
        gen = r.generation;
        let digest = r.config_digest;
        // A config value only.
        let started = Instant::now();
        env.write_policy(&policy((round as u32 + 1) % 2, 41 + round as u32));
        let r = poll(Duration::from_secs(10), || {
            record(&env).filter(|r| r.config_digest != digest)
        })
        .unwrap_or_else(|| panic!("config not applied:\n{}", d.log_text()));
        config.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.generation, gen + 1, "a config edit is a new generation");
        gen = r.generation;
    }
    let (swap_med, swap_min) = median(swap);
    let (cfg_med, cfg_min) = median(config);
    println!("\nDaemon, one cgroup with 8 members ({ROUNDS} rounds, debounce 30 ms included; the daemon is this test binary re-executed):\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| idle RSS | {:.1} MB |", rss as f64 / 1024.0);
    println!("| idle CPU (10 s, reconcile every 500 ms) | {cpu:.2} % |");
    println!("| edit to live, new generation of 8 members | median {swap_med:.0} ms, min {swap_min:.0} ms |");
    println!("| edit to live, config only (new generation) | median {cfg_med:.0} ms, min {cfg_min:.0} ms |");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(), Some(0));
}
