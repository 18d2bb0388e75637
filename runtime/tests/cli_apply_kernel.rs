//! The CLI against the running kernel (root): `accord apply` of the demo
//! composition on a test cgroup, `plan` and a second `apply` change
//! nothing, `status` lists the members in order, `detach` and `gc` leave
//! nothing under the root. Private bpffs root and state dir.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn privileged_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let bpffs = Path::new("/sys/fs/bpf").is_dir();
    if root && bpffs && cgroup2().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root, bpffs and cgroup v2 (CI=true)");
    }
    eprintln!("skipping test - {test}: needs root, bpffs and cgroup v2");
    false
}

fn cgroup2() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
    })
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

fn accord(s: &Scratch, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env("ACCORD_BPFFS_ROOT", &s.bpffs)
        .env("ACCORD_STATE_DIR", &s.state)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn apply_status_plan_detach_gc_of_the_demo_composition() {
    if !privileged_or_skip("accord apply on the kernel") {
        return;
    }
    // bpf_dctcp is one name per kernel: the verifier-tests hold this lock too.
    let lock = std::fs::File::create("/run/lock/accord-bpf-dctcp.lock")
        .or_else(|_| std::fs::File::create("/tmp/accord-bpf-dctcp.lock"))
        .unwrap();
    // SAFETY: flock on an fd we own; released when `lock` closes.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);

    let name = format!("accord-cli-kernel-{}", std::process::id());
    let s = Scratch {
        cgroup: cgroup2().unwrap().join(&name),
        bpffs: PathBuf::from("/sys/fs/bpf").join(&name),
        state: std::env::temp_dir().join(&name),
    };
    std::fs::create_dir(&s.cgroup).unwrap();
    let comp = repo().join("examples/storage-hosts/composition.yaml");
    let (comp, cg) = (comp.to_str().unwrap(), s.cgroup.to_str().unwrap());

    let (code, out) = accord(&s, &["apply", comp, "--cgroup", cg]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("verdict: SAFE"),
        "the check report comes first: {out}"
    );
    assert!(out.contains("first apply: build generation 1"), "{out}");
    assert!(
        out.contains("register struct_ops bpf_dctcp") || out.contains("applied:"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
            .unwrap()
            .contains("bpf_dctcp")
    );

    let (code, status) = accord(&s, &["status"]);
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("generation 1"), "{status}");
    let members: Vec<&str> = status
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0].parse::<u32>().is_ok() && f[2].parse::<u32>().is_ok())
                .then(|| f[1])
        })
        .collect();
    let (_, check) = accord(&s, &["check", comp]);
    let order: Vec<&str> = check
        .lines()
        .filter_map(|l| l.trim().split_once(". ").map(|(_, m)| m.trim()))
        .filter(|m| members.contains(m))
        .collect();
    assert!(members.len() >= 6, "{status}");
    assert_eq!(
        members, order,
        "status lists the members in the proven order"
    );

    let (code, plan) = accord(&s, &["plan", comp, "--cgroup", cg]);
    assert_eq!(code, 0);
    assert!(plan.contains("no change"), "{plan}");
    let (code, again) = accord(&s, &["apply", comp, "--cgroup", cg]);
    assert_eq!(code, 0);
    assert!(again.contains("no change"), "{again}");
    let (_, status2) = accord(&s, &["status"]);
    assert_eq!(status, status2, "same program ids after a second apply");

    let (code, out) = accord(&s, &["detach", "--cgroup", cg]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = accord(&s, &["gc"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("struct_ops/bpf_dctcp"),
        "gc unregisters the congestion control: {out}"
    );
    let left: Vec<PathBuf> = walk(&s.bpffs).into_iter().filter(|p| !p.is_dir()).collect();
    assert!(left.is_empty(), "pins left: {left:?}");
    let (_, status) = accord(&s, &["status"]);
    assert!(status.contains("no hookpoints"), "{status}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
