//! `accord events` as a command against the running kernel (root): a
//! chain applied with `--debug-sample 1`, one connection from inside the
//! cgroup, and the JSON lines of both members' events for it; applied
//! again with sampling 0, the command says debug events are off and exits
//! 0 at once. Private bpffs root, state dir and cgroup.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cgroup2() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
    })
}

fn privileged_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && Path::new("/sys/fs/bpf").is_dir() && cgroup2().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root, bpffs and cgroup v2 (CI=true)");
    }
    eprintln!("skipping test - {test}: needs root, bpffs and cgroup v2");
    false
}

/// Removes the test's cgroup and roots, also when the test fails.
struct Scratch {
    cgroup: PathBuf,
    bpffs: PathBuf,
    state: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.bpffs);
        let _ = std::fs::remove_dir_all(&self.state);
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

fn accord(s: &Scratch, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env("ACCORD_BPFFS_ROOT", &s.bpffs)
        .env("ACCORD_STATE_DIR", &s.state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn events_prints_both_members_events_of_a_connection_and_says_when_off() {
    if !privileged_or_skip("accord events on the kernel") {
        return;
    }
    let tag = format!("accord-cli-events-{}", std::process::id());
    let s = Scratch {
        cgroup: cgroup2().unwrap().join(&tag),
        bpffs: Path::new("/sys/fs/bpf").join(&tag),
        state: std::env::temp_dir().join(&tag),
    };
    std::fs::create_dir_all(&s.cgroup).unwrap();
    std::fs::create_dir_all(&s.state).unwrap();
    let specs = repo().join("specs");
    let composition = s.state.join("composition.yaml");
    std::fs::write(
        &composition,
        format!(
            "composition: events\nhook: sock_ops\nfeatures:\n  \
             - spec: {0}/features/init_cwnd.yaml\n    config: {{ iw: 40, prefixes: [127.0.0.0/8] }}\n  \
             - spec: {0}/features/rto_min.yaml\n    config: {{ rto_min_us: 10000 }}\n",
            specs.display()
        ),
    )
    .unwrap();
    let cg = s.cgroup.to_str().unwrap().to_owned();
    let comp = composition.to_str().unwrap().to_owned();
    let specs = specs.to_str().unwrap().to_owned();
    let apply = |sample: &str| {
        let (code, out, err) = accord(
            &s,
            &[
                "apply",
                &comp,
                "--cgroup",
                &cg,
                "--specs",
                &specs,
                "--debug-sample",
                sample,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
    };
    apply("1");

    // One connection from a process inside the cgroup.
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "echo $$ > {cg}/cgroup.procs && exec 3<>/dev/tcp/127.0.0.2/{port}"
        ))
        .spawn()
        .unwrap();
    let (_server, _) = listener.accept().unwrap();
    assert!(child.wait().unwrap().success());

    // The events wait in the rings until read.
    let (code, out, err) = accord(
        &s,
        &[
            "events",
            "--cgroup",
            &cg,
            "--duration",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    for (slot, member) in ["init_cwnd", "rto_min"].iter().enumerate() {
        let est = events
            .iter()
            .find(|e| e["member"] == *member && e["op_name"] == "ACTIVE_ESTABLISHED_CB")
            .unwrap_or_else(|| panic!("{member}: no ACTIVE_ESTABLISHED_CB in\n{out}"));
        assert_eq!(est["op"], 4, "{est}");
        assert_eq!(est["slot"], slot, "{est}");
        assert_eq!(est["family"], "ipv4", "{est}");
        assert_eq!(est["remote"], "127.0.0.2", "{est}");
        assert_eq!(est["remote_port"], port, "{est}");
        assert_eq!(est["last_err"], 0, "{est}");
    }
    // init_cwnd's prefix holds the peer: its established run wrote.
    assert!(
        events
            .iter()
            .any(|e| e["member"] == "init_cwnd" && e["op"] == 4 && e["writes"] == 1),
        "{out}"
    );

    // The human form, one member, by count: the rings are empty now, so
    // the duration ends it.
    let (code, out, err) = accord(
        &s,
        &[
            "events",
            "--cgroup",
            &cg,
            "--member",
            "rto_min",
            "--count",
            "1",
            "--duration",
            "0.2",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reading rto_min"), "{out}");
    assert!(out.contains("0 events"), "{out}");
    let (code, _, err) = accord(&s, &["events", "--cgroup", &cg, "--member", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("init_cwnd, rto_min"), "{err}");

    // Sampling 0: said at once, not waited for.
    apply("0");
    let t0 = Instant::now();
    let (code, out, err) = accord(&s, &["events", "--cgroup", &cg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("debug events are off"), "{out}{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));

    let (code, out, err) = accord(&s, &["detach", "--cgroup", &cg]);
    assert_eq!(code, 0, "{out}{err}");
}
