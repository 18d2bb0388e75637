//! Shared by the `daemon_*` tests (included with `mod`).
//!
//! The daemon runs as a real child process: the test binary re-executes
//! itself with `--exact daemon_child` and the daemon's settings in the
//! environment, and that test runs `runtime::daemon::run_blocking`. So the
//! tests can SIGKILL it, restart it and read its log, without depending on
//! where cargo put the `accord` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime::adapter::real::RealAdapter;
use runtime::daemon::socket::Value;
use runtime::daemon::{DaemonConfig, DaemonError};
use runtime::layout::Layout;
use runtime::lifecycle;
use runtime::state::{FsStateStore, StateStore};

pub const ENV_POLICY: &str = "ACCORD_TEST_DAEMON_POLICY";
const ENV_BPFFS: &str = "ACCORD_TEST_DAEMON_BPFFS";
const ENV_STATE: &str = "ACCORD_TEST_DAEMON_STATE";
const ENV_SOCKET: &str = "ACCORD_TEST_DAEMON_SOCKET";
const ENV_ITER: &str = "ACCORD_TEST_DAEMON_ITER";
pub const ENV_PROBE: &str = "ACCORD_TEST_SOCKET_PROBE";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("verifier-tests lives in the workspace")
        .to_path_buf()
}

/// The body of the `daemon_child` test: runs the daemon when the parent
/// asked for one, else returns at once.
pub fn child_main() {
    if let Ok(path) = std::env::var(ENV_PROBE) {
        // The socket probe of the non-root test: exit 0 if the daemon
        // answered, 13 if connecting was refused, 1 otherwise.
        let code = match runtime::daemon::socket::request(
            Path::new(&path),
            "status",
            Duration::from_secs(2),
        ) {
            Ok(_) => 0,
            Err(runtime::daemon::socket::SocketError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                13
            }
            Err(e) => {
                eprintln!("probe: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    let Ok(policy) = std::env::var(ENV_POLICY) else {
        return;
    };
    let var = |k: &str| PathBuf::from(std::env::var(k).expect("set by the parent"));
    runtime::daemon::init_tracing();
    let cfg = DaemonConfig {
        policy: policy.into(),
        layout: Layout {
            bpffs_root: var(ENV_BPFFS),
            state_dir: var(ENV_STATE),
        },
        cgroup_root: verifier_tests::cgroup2_mount().expect("cgroup2"),
        socket: var(ENV_SOCKET),
        interval: Duration::from_millis(500),
        debounce: Duration::from_millis(30),
        iter_objects: std::env::var(ENV_ITER).ok().map(PathBuf::from),
    };
    let code = match runtime::daemon::run_blocking(cfg) {
        Ok(()) => 0,
        Err(DaemonError::Refused(r)) => {
            eprintln!("accord: policy refused, nothing changed: {r}");
            if r.is_unsafe() {
                1
            } else {
                2
            }
        }
        Err(e) => {
            eprintln!("accord: {e}");
            3
        }
    };
    std::process::exit(code);
}

/// A private bpffs root, state directory and work directory (policy,
/// compositions, log); on drop every hookpoint left is detached and all
/// three are removed.
pub struct Env {
    pub layout: Layout,
    pub dir: PathBuf,
    pub policy: PathBuf,
    pub socket: PathBuf,
    pub iter_objects: Option<PathBuf>,
    runs: u32,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        let name = verifier_tests::unique_name(tag);
        let layout = Layout {
            bpffs_root: PathBuf::from(verifier_tests::BPFFS).join(&name),
            state_dir: std::env::temp_dir().join(format!("{name}-state")),
        };
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        Env {
            socket: layout.state_dir.join("accord.sock"),
            policy: dir.join("policy.yaml"),
            layout,
            dir,
            iter_objects: None,
            runs: 0,
        }
    }

    /// Writes a composition of `features` (spec name, config YAML) under
    /// the work directory; returns its path.
    pub fn composition(&self, file: &str, features: &[(&str, &str)]) -> PathBuf {
        let specs = repo().join("specs/features");
        let mut text = format!(
            "composition: {}\nhook: sock_ops\nfeatures:\n",
            file.trim_end_matches(".yaml")
        );
        for (spec, config) in features {
            text.push_str(&format!(
                "  - spec: {}\n    config: {config}\n",
                specs.join(format!("{spec}.yaml")).display()
            ));
        }
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the policy (atomically, as editors do: a new file renamed over).
    pub fn write_policy(&self, targets: &str) {
        let text = format!(
            "specs: {}\ntargets:\n{targets}",
            repo().join("specs").display()
        );
        let tmp = self.dir.join(".policy.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.policy).unwrap();
    }

    /// Starts a daemon; its stderr goes to `daemon-<n>.log`.
    pub fn start(&mut self) -> Daemon {
        self.runs += 1;
        let log = self.dir.join(format!("daemon-{}.log", self.runs));
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "daemon_child", "--nocapture", "--test-threads=1"])
            .env(ENV_POLICY, &self.policy)
            .env(ENV_BPFFS, &self.layout.bpffs_root)
            .env(ENV_STATE, &self.layout.state_dir)
            .env(ENV_SOCKET, &self.socket)
            .env("ACCORD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(dir) = &self.iter_objects {
            cmd.env(ENV_ITER, dir);
        }
        Daemon {
            child: Some(cmd.spawn().unwrap()),
            log,
            socket: self.socket.clone(),
        }
    }

    /// [`Env::start`], then waits until the daemon answers as ready.
    pub fn start_ready(&mut self) -> Daemon {
        let mut d = self.start();
        d.ready();
        d
    }

    /// Runs the `accord` binary `bin` on this environment's bpffs root,
    /// state directory and socket; returns (exit code, stdout, stderr).
    pub fn accord(&self, bin: &Path, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(bin)
            .args(args)
            .env("ACCORD_BPFFS_ROOT", &self.layout.bpffs_root)
            .env("ACCORD_STATE_DIR", &self.layout.state_dir)
            .env("ACCORD_SOCKET", &self.socket)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn status_of_records(&self) -> Vec<runtime::state::HookpointRecord> {
        FsStateStore {
            layout: self.layout.clone(),
        }
        .list()
        .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let mut store = FsStateStore {
            layout: self.layout.clone(),
        };
        let mut adapter = RealAdapter::default();
        for r in store.list().unwrap_or_default() {
            let _ = lifecycle::detach(&self.layout, &mut adapter, &mut store, &r.key);
        }
        let _ = std::fs::remove_dir_all(&self.layout.bpffs_root);
        let _ = std::fs::remove_dir_all(&self.layout.state_dir);
        if std::env::var_os("ACCORD_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running daemon child; killed on drop if still running.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
    pub socket: PathBuf,
}

impl Daemon {
    /// Waits until the socket answers; panics with the log if the daemon
    /// exits or does not come up.
    pub fn ready(&mut self) -> &mut Self {
        let start = Instant::now();
        while start.elapsed() < verifier_tests::slow(Duration::from_secs(20)) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the daemon exited with {status}:\n{}", self.log_text());
            }
            if runtime::daemon::socket::request(&self.socket, "status", Duration::from_secs(5))
                .is_ok()
            {
                return self;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not come up:\n{}", self.log_text());
    }

    pub fn status(&self) -> Value {
        runtime::daemon::socket::request(&self.socket, "status", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("status: {e}\n{}", self.log_text()))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn signal(&mut self, sig: i32) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, sig) };
    }

    /// Waits for the child to exit; its exit code (None if killed by a signal).
    pub fn wait(&mut self) -> Option<i32> {
        let status = self.child.take().unwrap().wait().unwrap();
        status.code()
    }

    /// Waits up to `limit` for the child to exit by itself.
    /// SIGTERM, and the daemon must exit with status 0 (its log otherwise).
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        assert_eq!(self.wait(), Some(0), "{}", self.log_text());
    }

    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let limit = verifier_tests::slow(limit);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not exit:\n{}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Held by each test of a binary for its whole body: the tests compare
/// kernel-wide program counts, which a neighbour loading a chain would
/// change.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Polls `f` until it returns `Some` or `limit` passes.
/// [`within`] for a condition: whether `f` held before `limit` ran out.
pub fn holds_within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    within(limit, || f().then_some(())).is_some()
}

pub fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let limit = verifier_tests::slow(limit);
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The host's multiarch include directory (for `asm/types.h`), as
/// runtime/build.rs finds it.
fn multiarch_include() -> String {
    let triple = match std::env::consts::ARCH {
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    format!("/usr/include/{triple}")
}

/// Builds ebpf/iter/*.bpf.c with clang into `dir` (until the build embeds
/// them); `None` without clang.
pub fn build_iter_objects(dir: &Path) -> Option<PathBuf> {
    let src = repo().join("ebpf/iter");
    let out = dir.join("iter");
    std::fs::create_dir_all(&out).unwrap();
    let clang = ["clang-19", "clang"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())?;
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".bpf.c") else {
            continue;
        };
        let status = Command::new(clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-I"])
            .arg(repo().join("ebpf/include"))
            .args(["-idirafter", &multiarch_include(), "-c"])
            .arg(entry.path())
            .arg("-o")
            .arg(out.join(format!("{stem}.bpf.o")))
            .status()
            .unwrap();
        assert!(status.success(), "clang failed on {name}");
    }
    Some(out)
}
