//! The CLI in hostile surroundings: a reader that closes the pipe early
//! (`accord check … | head -1`) ends the command quietly, as it ends `ls`,
//! never with a panic; `accord status` run by an unprivileged user says
//! permission denied instead of "daemon: not running".

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime has a parent")
        .to_path_buf()
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn tmpdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "accord-hostile-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Privileged tests skip loudly without root, and fail under CI=true.
fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root (CI=true: a missing capability is a failure)"
    );
    eprintln!("skipping test - {test} needs root");
    false
}

/// Runs accord with its stdout a pipe whose reader is already closed, and
/// returns how it ended and what it wrote to stderr.
fn with_closed_stdout(args: &[&str], roots: &Path) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env("ACCORD_STATE_DIR", roots.join("state"))
        .env("ACCORD_BPFFS_ROOT", roots.join("bpffs"))
        .env("ACCORD_SOCKET", roots.join("state/accord.sock"))
        .current_dir(repo())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run accord");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("read stderr");
    (child.wait().expect("accord ends"), err)
}

fn cgroup2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    mounts
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .expect("a cgroup2 mount")
}

#[test]
fn a_closed_stdout_ends_check_status_plan_and_gc_quietly() {
    let roots = tmpdir();
    let safe = "examples/storage-hosts/composition.yaml";
    let unsafe_ = "examples/same-field/composition.yaml";
    let cgroup = cgroup2_mount();
    let cgroup = cgroup.to_str().expect("a UTF-8 path");
    let cases: Vec<Vec<&str>> = vec![
        vec!["check", safe],
        vec!["check", unsafe_],
        vec!["check", "--format", "json", safe],
        vec!["graph", safe],
        vec!["status"],
        vec!["gc", "--dry-run"],
        vec!["plan", safe, "--cgroup", cgroup],
    ];
    for args in cases {
        let (status, err) = with_closed_stdout(&args, &roots);
        // As `ls | head` ends: SIGPIPE's default action, nothing on stderr.
        assert_eq!(
            status.signal(),
            Some(libc::SIGPIPE),
            "accord {args:?}: {status:?}\n{err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "accord {args:?}:\n{err}"
        );
    }
    std::fs::remove_dir_all(roots).unwrap();
}

/// Copies the accord binary where an unprivileged user can run it.
fn accord_for_nobody(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("accord");
    std::fs::copy(env!("CARGO_BIN_EXE_accord"), &bin).expect("copy accord");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn status_as_an_unprivileged_user_says_permission_denied() {
    if !require_root("status_as_an_unprivileged_user_says_permission_denied") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir();
    let bin = accord_for_nobody(&dir);
    // A root-only state directory with a daemon's socket in it.
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = state.join("accord.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&bin)
        .arg("status")
        .arg("--state-dir")
        .arg(&state)
        .arg("--bpffs-root")
        .arg(dir.join("bpffs"))
        .env_remove("ACCORD_SOCKET")
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains("not running"),
        "a socket it cannot see is not a daemon that is not running:\n{all}"
    );
    assert!(
        stdout.contains(&format!(
            "daemon: permission denied on {} (run accord status as root)",
            socket.display()
        )),
        "{all}"
    );
    assert!(
        stderr.to_lowercase().contains("permission denied")
            && stderr.contains("run accord status as root"),
        "{all}"
    );
    assert_eq!(out.status.code(), Some(3), "{all}");
    std::fs::remove_dir_all(dir).unwrap();
}
