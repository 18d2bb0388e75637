//! The host daemon end to end, as a real child process on the running
//! kernel: a pending cgroup tuned once it appears, policy and composition
//! edits live without a restart (config-only as a new generation), SIGKILL and
//! restart adopting the same programs, a conflicting policy refused with the
//! running state intact, the status socket closed to non-root users, and
//! connections established before the apply retuned by the iterator.

mod daemon_common;

use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_common::*;
use runtime::daemon::socket::Value;
use verifier_tests::{
    require_root_or_skip, so_sndbuf, tcp_congestion, tcp_info, TcpConn, TestCgroup,
};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LIMIT: Duration = Duration::from_secs(5);

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

/// The client's congestion window.
fn cwnd(conn: &TcpConn) -> u32 {
    tcp_info(&conn.client).unwrap().tcpi_snd_cwnd
}

fn cwnd_of_new(cg: &TestCgroup) -> u32 {
    cwnd(&TcpConn::connect_from(cg, PEER).unwrap())
}

fn sndbuf_of_new(cg: &TestCgroup) -> u32 {
    let conn = TcpConn::connect_from(cg, PEER).unwrap();
    so_sndbuf(&conn.client).unwrap()
}

/// (member, prog id) of the one hookpoint, with its generation.
fn chain_of(status: &Value) -> (u64, Vec<(String, u64)>) {
    let hp = &status["hookpoints"][0];
    let members = hp["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["member"].as_str().unwrap_or_default().to_owned(),
                        m["prog_id"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (hp["generation"].as_u64().unwrap_or_default(), members)
}

fn policy_for(cg: &TestCgroup, composition: &str, config: &str) -> String {
    let mut t = format!(
        "  - cgroup: {}\n    composition: {composition}\n",
        cg.path().display()
    );
    if !config.is_empty() {
        t.push_str(&format!("    config:\n      {config}\n"));
    }
    t
}

/// A fresh [`Env`] and cgroup named `tag`, a policy running `features` on
/// that cgroup, and a daemon started on it and ready.
fn setup(tag: &str, features: &[(&str, &str)]) -> (Env, TestCgroup, Daemon) {
    let mut env = Env::new(tag);
    let cg = TestCgroup::create(tag).unwrap();
    env.composition("c.yaml", features);
    env.write_policy(&policy_for(&cg, "c.yaml", ""));
    let d = env.start_ready();
    (env, cg, d)
}

const IW40: (&str, &str) = ("init_cwnd", "{ iw: 40, prefixes: [127.0.0.2/32] }");
const SNDBUF: (&str, &str) = ("sndbuf", "{ bytes: 1048576, prefixes: [127.0.0.2/32] }");

#[test]
fn pending_cgroup_is_tuned_once_it_appears_and_cleaned_up_when_it_goes() {
    if !require_root_or_skip("daemon: pending cgroup") {
        return;
    }
    let _serial = serial();
    let mut env = Env::new("dpend");
    let cg = TestCgroup::create("dpend").unwrap();
    std::fs::remove_dir(cg.path()).unwrap();
    env.composition("c.yaml", &[IW40]);
    env.write_policy(&policy_for(&cg, "c.yaml", ""));
    let mut d = env.start_ready();
    assert_eq!(d.status()["targets"][0]["state"], "pending");

    std::fs::create_dir(cg.path()).unwrap();
    let appeared = Instant::now();
    let tuned = holds_within(Duration::from_secs(3), || cwnd_of_new(&cg) == 40);
    assert!(
        tuned,
        "not tuned 3 s after the cgroup appeared:\n{}",
        d.log_text()
    );
    eprintln!("tuned {:?} after the cgroup appeared", appeared.elapsed());
    assert_eq!(d.status()["targets"][0]["state"], "live");

    std::fs::remove_dir(cg.path()).unwrap();
    let cleaned = holds_within(LIMIT, || env.status_of_records().is_empty());
    assert!(cleaned, "record left:\n{}", d.log_text());
    assert!(d.log_text().contains("detached"), "{}", d.log_text());
    let dirs: Vec<_> = std::fs::read_dir(&env.layout.bpffs_root)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        dirs.iter().all(|n| n.to_string_lossy() == "struct_ops"),
        "pins left: {dirs:?}"
    );
    d.stop();
}

#[test]
fn edits_are_live_without_a_restart() {
    if !require_root_or_skip("daemon: edits") {
        return;
    }
    let _serial = serial();
    let (env, cg, mut d) = setup("dedit", &[IW40]);
    assert_eq!(cwnd_of_new(&cg), 40, "{}", d.log_text());
    let (gen1, ids1) = chain_of(&d.status());

    // A config value, through the policy's override: a new generation, so
    // every connection sees the old config or the new one, never a mix.
    env.write_policy(&policy_for(&cg, "c.yaml", "init_cwnd: { iw: 25 }"));
    let live = holds_within(LIMIT, || cwnd_of_new(&cg) == 25);
    assert!(live, "iw 25 not live:\n{}", d.log_text());
    let (gen2, ids2) = chain_of(&d.status());
    assert_eq!(gen2, gen1 + 1, "{}", d.log_text());
    assert_ne!(ids2, ids1, "the new config runs in newly loaded members");
    assert!(
        d.log_text().contains("config change: build generation"),
        "{}",
        d.log_text()
    );

    // A feature added through the policy (it now names a composition with
    // one more feature): a new generation.
    env.composition("c2.yaml", &[IW40, SNDBUF]);
    env.write_policy(&policy_for(&cg, "c2.yaml", "init_cwnd: { iw: 25 }"));
    let live = holds_within(LIMIT, || {
        sndbuf_of_new(&cg) == verifier_tests::sndbuf_after_set(1 << 20)
    });
    assert!(live, "sndbuf not live:\n{}", d.log_text());
    assert_eq!(cwnd_of_new(&cg), 25, "the override still applies");
    let (gen3, ids3) = chain_of(&d.status());
    assert_eq!(gen3, gen2 + 1);
    assert_eq!(ids3.len(), 2);

    // The feature removed again, this time by editing the composition file.
    env.composition("c2.yaml", &[IW40]);
    let live = holds_within(LIMIT, || {
        sndbuf_of_new(&cg) != verifier_tests::sndbuf_after_set(1 << 20)
    });
    assert!(live, "sndbuf still live:\n{}", d.log_text());
    assert_eq!(cwnd_of_new(&cg), 25);
    let (gen4, ids4) = chain_of(&d.status());
    assert_eq!((gen4, ids4.len()), (gen3 + 1, 1));

    // SIGHUP reloads without stopping.
    let reloads = d.status()["reloads"].as_u64().unwrap();
    d.signal(libc::SIGHUP);
    let reloaded = holds_within(LIMIT, || d.status()["reloads"].as_u64().unwrap() > reloads);
    assert!(reloaded, "{}", d.log_text());

    // Stopping leaves the chain running.
    d.stop();
    assert_eq!(cwnd_of_new(&cg), 25);
    assert!(!env.socket.exists(), "the socket is removed on exit");
}

/// Sock_ops programs attached to a cgroup, as bpftool shows them.
fn attached(cg: &TestCgroup) -> usize {
    let out = Command::new("bpftool")
        .args(["cgroup", "show"])
        .arg(cg.path())
        .output()
        .expect("bpftool");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("sock_ops"))
        .count()
}

/// Programs the kernel holds with a name this chain's would have (its
/// members, a dispatcher, an existing-connection iterator): other tests on
/// the host load and free programs all the time, and this keeps most of
/// them out of the count.
fn prog_count() -> usize {
    use std::os::fd::AsFd;
    const NAMES: [&str; 4] = ["init_cwnd", "sndbuf", "accord_disp", "accord_iter"];
    runtime::sys::all_ids(runtime::sys::ObjectKind::Prog)
        .unwrap()
        .into_iter()
        .filter_map(|id| runtime::sys::prog_fd_by_id(id).ok())
        .filter_map(|fd| runtime::sys::prog_info(fd.as_fd()).ok())
        .filter(|info| NAMES.contains(&info.name.as_str()))
        .count()
}

#[test]
fn sigkill_keeps_tuning_and_a_restart_adopts() {
    if !require_root_or_skip("daemon: SIGKILL and adoption") {
        return;
    }
    let _serial = serial();
    let (mut env, cg, mut d) = setup("dkill", &[IW40, SNDBUF]);
    let before = chain_of(&d.status());
    assert_eq!(before.1.len(), 2, "{}", d.log_text());
    d.signal(libc::SIGKILL);
    assert_eq!(d.wait(), None, "killed by the signal");
    assert_eq!(cwnd_of_new(&cg), 40, "still tuned with the daemon dead");

    // Other tests load programs concurrently: compare the kernel's program
    // count over the restart a few times and accept one quiet window.
    let mut counts = Vec::new();
    let mut adopted = None;
    for _ in 0..3 {
        let n0 = prog_count();
        let mut d2 = env.start_ready();
        let n1 = prog_count();
        counts.push((n0, n1));
        let after = chain_of(&d2.status());
        assert_eq!(after, before, "same generation, same program ids");
        assert!(d2.log_text().contains("adopted"), "{}", d2.log_text());
        d2.signal(libc::SIGKILL);
        d2.wait();
        if n0 == n1 {
            adopted = Some(());
            break;
        }
    }
    assert!(
        adopted.is_some(),
        "the program count changed over every restart: {counts:?}"
    );
    assert_eq!(
        attached(&cg),
        1,
        "exactly one attachment (no double attach)"
    );
    let hp = std::fs::read_dir(&env.layout.bpffs_root)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("sock_ops-"))
        .unwrap();
    let gens = std::fs::read_dir(hp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .count();
    assert_eq!(gens, 1, "no leaked generation");
    assert_eq!(cwnd_of_new(&cg), 40);
}

#[test]
fn a_conflicting_policy_is_refused_and_the_old_state_stays() {
    if !require_root_or_skip("daemon: conflicting policy") {
        return;
    }
    let _serial = serial();
    let (mut env, cg, mut d) = setup("dconf", &[IW40]);
    let before = chain_of(&d.status());
    let conflict = repo().join("examples/same-field/composition.yaml");
    env.write_policy(&policy_for(&cg, &conflict.display().to_string(), ""));
    let refused = within(LIMIT, || {
        let s = d.status();
        s["last_refusal"].as_str().map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("not refused:\n{}", d.log_text()));
    assert!(refused.contains("not safe"), "{refused}");
    assert!(d.log_text().contains("policy refused"), "{}", d.log_text());
    assert_eq!(chain_of(&d.status()), before, "running state unchanged");
    assert_eq!(cwnd_of_new(&cg), 40);
    d.stop();

    // Started with it: exit status 1 (unsafe), the log says why, nothing changed.
    let mut d = env.start();
    let code = d.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("refused") && log.contains("conflict"), "{log}");
    assert_eq!(cwnd_of_new(&cg), 40);
    assert_eq!(env.status_of_records()[0].generation, before.0);
}

#[test]
fn the_cli_shows_a_running_daemon_and_does_not_fight_it() {
    if !require_root_or_skip("daemon: CLI beside the daemon") {
        return;
    }
    let Some(accord) = verifier_tests::accord_bin_or_skip("daemon: CLI") else {
        return;
    };
    let _serial = serial();
    let (env, cg, mut d) = setup("dcli", &[IW40]);
    let before = chain_of(&d.status());
    let cgroup = cg.path().display().to_string();

    let (code, out, err) = env.accord(&accord, &["status"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("daemon: running, policy"), "{out}");
    let target_line = out
        .lines()
        .find(|l| l.contains(&format!("target {cgroup} (")));
    assert!(
        target_line.is_some_and(|l| l.contains("): live, sock_ops-")),
        "{out}"
    );
    assert!(out.contains("(managed by the daemon's policy"), "{out}");

    let (code, out, err) = env.accord(&accord, &["status", "--format", "json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["daemon"]["running"], true, "{out}");
    assert_eq!(v["daemon"]["targets"][0]["state"], "live", "{out}");
    assert_eq!(chain_of(&v), before, "the same chain as the socket reports");

    // detach and apply on the daemon's cgroup are refused, nothing changes.
    let (code, _, err) = env.accord(&accord, &["detach", "--cgroup", &cgroup]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("the running accord daemon manages it"),
        "{err}"
    );
    let other = env.composition("other.yaml", &[SNDBUF]);
    let other = other.display().to_string();
    let specs = repo().join("specs").display().to_string();
    let apply = ["apply", &other, "--cgroup", &cgroup, "--specs", &specs];
    let (code, _, err) = env.accord(&accord, &apply);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("refusing to apply to"), "{err}");
    assert_eq!(chain_of(&d.status()), before, "nothing changed");
    assert_eq!(cwnd_of_new(&cg), 40);

    // With the daemon stopped the programs stay, and detach removes them.
    d.stop();
    let (code, out, err) = env.accord(&accord, &["status"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("daemon: not running"), "{out}");
    let (code, out, err) = env.accord(&accord, &["detach", "--all"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(env.status_of_records().is_empty());
    assert_ne!(cwnd_of_new(&cg), 40);
}

#[test]
fn the_socket_is_root_only() {
    if !require_root_or_skip("daemon: socket permissions") {
        return;
    }
    let _serial = serial();
    let (mut env, _cg, mut d) = setup("dsock", &[IW40]);
    let meta = std::fs::metadata(&env.socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), 0);
    // Let an unprivileged user reach the socket's directory, so only the
    // socket's own mode stands in the way.
    std::fs::set_permissions(
        &env.layout.state_dir,
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let probe = |uid: Option<u32>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "daemon_child", "--nocapture"])
            .env(ENV_PROBE, &env.socket)
            .env_remove(ENV_POLICY);
        if let Some(uid) = uid {
            cmd.uid(uid).gid(uid);
        }
        cmd.status().unwrap().code()
    };
    assert_eq!(probe(None), Some(0), "root is answered");
    assert_eq!(probe(Some(65534)), Some(13), "nobody is refused");
    // A second daemon on the same state directory refuses to start and
    // leaves the first one's socket alone.
    let mut second = env.start();
    assert_eq!(second.wait_exit(Duration::from_secs(20)), Some(3));
    assert!(
        second.log_text().contains("another accord daemon (pid "),
        "{}",
        second.log_text()
    );
    assert_eq!(d.status()["targets"][0]["state"], "live");
    d.stop();
}

#[test]
fn connections_established_before_the_apply_are_retuned() {
    if !require_root_or_skip("daemon: existing connections") {
        return;
    }
    let _serial = serial();
    // No --iter-objects: the daemon uses the iterators built into the binary
    // (the bpf_dctcp test below covers the --iter-objects directory path).
    let mut env = Env::new("dexist");
    let cg = TestCgroup::create("dexist").unwrap();
    let other = TestCgroup::create("dexist-other").unwrap();
    let old = TcpConn::connect_from(&cg, PEER).unwrap();
    let outside = TcpConn::connect_from(&other, PEER).unwrap();
    let v6_listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let v6_addr = v6_listener.local_addr().unwrap();
    let old_v6 = TcpConn::connect_to(&cg, &v6_listener, v6_addr).unwrap();
    let default_cwnd = cwnd(&old);
    let default_sndbuf = so_sndbuf(&old.client).unwrap();
    assert_ne!(default_cwnd, 40);
    assert_ne!(default_sndbuf, verifier_tests::sndbuf_after_set(1 << 20));
    env.composition(
        "c.yaml",
        &[
            (
                "init_cwnd",
                "{ iw: 40, prefixes: [127.0.0.2/32, \"::1/128\"] }",
            ),
            SNDBUF,
        ],
    );
    env.write_policy(&policy_for(&cg, "c.yaml", ""));
    let mut d = env.start_ready();
    let retuned = holds_within(LIMIT, || cwnd(&old) == 40);
    assert!(
        retuned,
        "the connection opened before the apply keeps cwnd {}:\n{}",
        cwnd(&old),
        d.log_text()
    );
    assert!(d
        .log_text()
        .contains("existing connections: re-applied init_cwnd"));
    assert_eq!(
        so_sndbuf(&old.client).unwrap(),
        verifier_tests::sndbuf_after_set(1 << 20),
        "sndbuf reached it too"
    );
    assert_eq!(cwnd(&old_v6), 40, "an IPv6 connection in the prefixes too");
    assert_eq!(so_sndbuf(&outside.client).unwrap(), default_sndbuf);
    assert_eq!(
        cwnd(&outside),
        default_cwnd,
        "a connection of another cgroup is left alone"
    );
    // A config change reaches them too.
    env.write_policy(&policy_for(&cg, "c.yaml", "init_cwnd: { iw: 30 }"));
    let retuned = holds_within(LIMIT, || cwnd(&old) == 30);
    assert!(retuned, "{}", d.log_text());
    d.stop();
}

#[test]
fn connections_established_before_the_apply_get_the_congestion_control() {
    if !require_root_or_skip("daemon: existing connections, congestion control") {
        return;
    }
    let _serial = serial();
    let _name = verifier_tests::dctcp_lock().unwrap();
    if !verifier_tests::bpf_dctcp_free() {
        eprintln!("skipping test - bpf_dctcp is registered by another holder (a deployed accord?)");
        return;
    }
    let mut env = Env::new("dexcc");
    let Some(objects) = build_iter_objects(&env.dir) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no clang to build ebpf/iter (CI=true)");
        }
        eprintln!("skipping test - existing connections: no clang to build ebpf/iter");
        return;
    };
    env.iter_objects = Some(objects);
    let cg = TestCgroup::create("dexcc").unwrap();
    let old = TcpConn::connect_from(&cg, PEER).unwrap();
    let far = TcpConn::connect_from(&cg, Ipv4Addr::new(127, 0, 0, 3)).unwrap();
    assert_ne!(tcp_congestion(&old.client).unwrap(), "bpf_dctcp");
    env.composition("c.yaml", &[("bpf_dctcp", "{ prefixes: [127.0.0.2/32] }")]);
    env.write_policy(&policy_for(&cg, "c.yaml", ""));
    let mut d = env.start_ready();
    let switched = holds_within(LIMIT, || {
        tcp_congestion(&old.client).unwrap() == "bpf_dctcp"
    });
    assert!(
        switched,
        "the connection opened before the apply runs {}:\n{}",
        tcp_congestion(&old.client).unwrap(),
        d.log_text()
    );
    assert_ne!(
        tcp_congestion(&far.client).unwrap(),
        "bpf_dctcp",
        "a peer outside the prefixes is left alone"
    );
    d.stop();
    drop((old, far));
    // Unregister (the root's pins go with env) before the name lock is released.
    drop(env);
    let gone = holds_within(Duration::from_secs(5), || {
        !runtime::struct_ops::congestion_control_available("bpf_dctcp").unwrap()
    });
    assert!(gone, "bpf_dctcp still registered after cleanup");
}

#[test]
fn a_change_the_kernel_refuses_leaves_the_live_chain_attached() {
    if !require_root_or_skip("daemon: failed change") {
        return;
    }
    let _serial = serial();
    let (env, cg, mut d) = setup("dfail", &[IW40]);
    let before = chain_of(&d.status());
    // A safe composition whose second member audits clean against its spec
    // but breaks the config layout rule: the check and the audit pass,
    // loading fails, the executor rolls back.
    let object = env.dir.join("bad_config_layout.bpf.o");
    std::fs::write(
        &object,
        runtime::objects::testing_object("bad_config_layout").unwrap(),
    )
    .unwrap();
    let spec = format!(
        "feature: bad_config_layout\nconfig:\n  iw: {{ type: u32, min: 1, max: 1024, default: 40 }}\n\
         programs:\n  - name: bad_config_layout\n    hook: sock_ops\n    object: {}\n\
         \x20   reads: [op, family, remote_ip4, local_ip4, remote_ip6, local_ip6, remote_port, local_port]\n\
         \x20   writes:\n      - field: TCP_BPF_IW\n        value: $iw\n\
         \x20       when: op in {{ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB}}\n",
        object.display()
    );
    std::fs::write(env.dir.join("bad.yaml"), spec).unwrap();
    let text = std::fs::read_to_string(env.dir.join("c.yaml")).unwrap()
        + &format!(
            "  - spec: {}\n    config: {{ iw: 40 }}\n",
            env.dir.join("bad.yaml").display()
        );
    std::fs::write(env.dir.join("c.yaml"), text).unwrap();
    let failed = holds_within(LIMIT, || d.status()["targets"][0]["state"] == "failed");
    assert!(failed, "{}", d.log_text());
    assert!(d.log_text().contains("apply failed"), "{}", d.log_text());
    // Several reconcile ticks later the old chain is still there.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(chain_of(&d.status()), before, "{}", d.log_text());
    assert_eq!(cwnd_of_new(&cg), 40);
    assert!(!d.log_text().contains("detached"), "{}", d.log_text());
    d.stop();
}
