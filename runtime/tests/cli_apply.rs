//! `accord apply` and `accord plan` as a user runs them: an unsafe
//! composition is refused with the check report before anything is loaded
//! or pinned; bad input exits 2. (Needs no privileges: nothing reaches the
//! kernel.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn accord(args: &[&str], tag: &str) -> (i32, String, String, PathBuf) {
    let scratch = std::env::temp_dir().join(format!("accord-cli-{tag}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env("ACCORD_BPFFS_ROOT", scratch.join("bpffs"))
        .env("ACCORD_STATE_DIR", scratch.join("state"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        scratch,
    )
}

#[test]
fn an_unsafe_composition_is_refused_before_anything_loads() {
    let comp = repo().join("examples/same-field/composition.yaml");
    let cgroup = std::env::temp_dir();
    let check = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("check")
        .arg(&comp)
        .output()
        .unwrap();
    let (code, stdout, _, scratch) = accord(
        &[
            "apply",
            comp.to_str().unwrap(),
            "--cgroup",
            cgroup.to_str().unwrap(),
        ],
        "unsafe",
    );
    assert_eq!(code, 1, "{stdout}");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.starts_with(report.as_ref()),
        "apply prints the check report first:\n{stdout}"
    );
    assert!(stdout.contains("nothing was loaded"), "{stdout}");
    assert!(!scratch.exists(), "no pin, record or lock was created");

    let (code, _, _, scratch) = accord(
        &[
            "plan",
            comp.to_str().unwrap(),
            "--cgroup",
            cgroup.to_str().unwrap(),
        ],
        "unsafe-plan",
    );
    assert_eq!(code, 1);
    assert!(!scratch.exists());
}

#[test]
fn bad_input_exits_2() {
    let comp = repo().join("examples/storage-hosts/composition.yaml");
    let (code, _, stderr, _) = accord(
        &[
            "apply",
            comp.to_str().unwrap(),
            "--cgroup",
            "/no/such/cgroup",
        ],
        "nocg",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("/no/such/cgroup"), "{stderr}");
    let (code, _, _, _) = accord(
        &["apply", "/no/such/composition.yaml", "--cgroup", "/tmp"],
        "nocomp",
    );
    assert_eq!(code, 2);
    let (code, _, stderr, _) = accord(&["detach"], "noargs");
    assert_eq!(code, 2, "detach needs --cgroup or --all: {stderr}");
}

#[test]
fn a_second_invocation_waits_for_the_host_lock() {
    let scratch = std::env::temp_dir().join(format!("accord-cli-lock-{}", std::process::id()));
    let layout = runtime::layout::Layout {
        bpffs_root: scratch.join("bpffs"),
        state_dir: scratch.join("state"),
    };
    let held = runtime::lock::HostLock::acquire(&layout.lock_path(), || panic!("the lock is free"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["gc", "--dry-run"])
        .env("ACCORD_BPFFS_ROOT", &layout.bpffs_root)
        .env("ACCORD_STATE_DIR", &layout.state_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    drop(held);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for another accord"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::remove_dir_all(&scratch).unwrap();
}
