//! Helpers for accord's privileged tests: they run against the running
//! kernel as root (verifier loads, cgroup v2 sock_ops chains, real TCP
//! connections, struct_ops).
//!
//! Every resource is owned by a guard that undoes it on drop, also when a
//! test panics: [`TestCgroup`] (a cgroup v2 directory), [`TestChain`] (a bpffs
//! pin directory with a chain map, a minimal dispatcher and members),
//! [`NetNs`] and [`VethPair`] (network namespaces and veth links made with
//! `ip`), [`PinDir`] (a bpffs directory). Names carry the test's tag, the
//! process id and a counter, so tests run in parallel without clashing. The
//! one global resource, the `bpf_dctcp` congestion control name, is guarded
//! by [`dctcp_lock`], a file lock that also serialises separate test binaries.
//! What a killed test process leaves behind is swept by [`remove_leftovers`]
//! the next time a privileged test starts.
//!
//! Typical end-to-end test:
//!
//! ```no_run
//! use verifier_tests::*;
//! if !require_root_or_skip("init_cwnd end to end") { return; }
//! let cg = TestCgroup::create("init_cwnd").unwrap();
//! let mut chain = TestChain::new("init_cwnd").unwrap();
//! let idx = chain.add_member(runtime::objects::feature_object("init_cwnd").unwrap()).unwrap();
//! chain.set_config(idx, &[40]).unwrap();
//! chain.add_prefix(idx, "prefixes", [127, 0, 0, 2], 32).unwrap();
//! chain.attach(&cg).unwrap();
//! let conn = TcpConn::connect_from(&cg, "127.0.0.2".parse().unwrap()).unwrap();
//! assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40);
//! ```
//!
//! Privileged tests start with [`require_root_or_skip`]: without root, bpffs
//! or cgroup v2 it prints `skipping test - <why>` and the test returns, but
//! under `CI=true` it panics instead, so CI cannot pass by skipping.

mod cgroup;
mod chain;
mod effects;
mod netns;
mod sock;
mod sock6;
mod test_run;

pub use cgroup::{cgroup2_mount, TestCgroup};
pub use chain::{load_object, AccordStats, PinDir, TestChain, BPFFS};
pub use effects::{
    assert_delack_max_inside_only, assert_jumbo_mss_inside_only, assert_rto_min_inside_only,
};
pub use netns::{NetNs, VethPair};
pub use sock::{
    connect_bound, connect_started, getsockopt_u32, listener_in, one_slot_listener, setsockopt_u32,
    sndbuf_after_set, so_rcvbuf, so_sndbuf, socket_in, tcp_congestion, tcp_info, tcp_maxseg,
    wait_connected, TcpConn, TcpInfo,
};
pub use sock6::listener6_in;
pub use test_run::prog_test_run;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// `limit` scaled by `ACCORD_TEST_TIME_SCALE` (default 1): how long a test
/// waits for something to happen. scripts/test-kernels sets it for guests
/// under QEMU's software emulation (TCG), where everything takes several
/// times longer (the daemon's first check alone takes seconds).
pub fn slow(limit: std::time::Duration) -> std::time::Duration {
    let scale = std::env::var("ACCORD_TEST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1);
    limit * scale
}

/// A name no other live test uses: `accord-test-<tag>-<pid>-<n>`.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("accord-test-{tag}-{}-{n}", std::process::id())
}

/// Whether this process may run privileged tests: root, bpffs mounted at
/// [`BPFFS`] (mounted here if missing), a cgroup v2 mount. If not, prints
/// `skipping test - <test>: <why>` and returns false; under `CI=true` it
/// panics with the same message instead.
pub fn require_root_or_skip(test: &str) -> bool {
    match missing_capability() {
        None => {
            static SWEEP: std::sync::Once = std::sync::Once::new();
            SWEEP.call_once(remove_leftovers);
            true
        }
        Some(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {why} (CI=true: privileged tests must run)");
            }
            // Written to the stderr handle itself, not with eprintln!, so the
            // test harness's output capture does not hide the skip.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "skipping test - {test}: {why}");
            false
        }
    }
}

/// The `accord` binary of the same target directory and profile as the
/// running test (`target/<profile>/accord`, beside `deps/`), or `None`
/// after saying why; under `CI=true` a missing binary panics instead.
pub fn accord_bin_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("accord");
    if bin.is_file() {
        return Some(bin);
    }
    let why = format!(
        "no accord binary at {} (cargo build -p runtime, or cargo test --workspace)",
        bin.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipping test - {test}: {why}");
    None
}

/// The pid in a name made by [`unique_name`], if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("accord-test-")?;
    let mut parts = rest.rsplitn(3, '-');
    let (_n, pid) = (parts.next()?, parts.next()?);
    parts.next()?;
    pid.parse().ok()
}

/// Removes what test processes that died without unwinding (SIGKILL, abort)
/// left behind: cgroups, bpffs directories and network namespaces named by
/// [`unique_name`] whose owning process is gone. Live processes' resources
/// are never touched, so concurrent test binaries are safe. Runs once per
/// process, from [`require_root_or_skip`].
pub fn remove_leftovers() {
    let dead = |name: &str| {
        owner_pid(name).is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    let entries = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    if let Some(root) = cgroup2_mount() {
        for path in entries(&root) {
            if path.file_name().and_then(|n| n.to_str()).is_some_and(dead) {
                let _ = std::fs::remove_dir(&path);
            }
        }
    }
    for path in entries(std::path::Path::new(BPFFS)) {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(dead) {
            for pin in entries(&path) {
                let _ = std::fs::remove_file(pin);
            }
            let _ = std::fs::remove_dir(&path);
        }
    }
    for path in entries(std::path::Path::new("/run/netns")) {
        if let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| dead(n))
        {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .status();
        }
    }
}

fn missing_capability() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root".into());
    }
    if !chain::bpffs_mounted() {
        let _ = std::fs::create_dir_all(BPFFS);
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf", BPFFS])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !chain::bpffs_mounted() {
            return Some(format!("no bpffs at {BPFFS} and mounting it failed"));
        }
    }
    if cgroup2_mount().is_none() {
        return Some("no cgroup v2 mount in /proc/mounts".into());
    }
    None
}

/// Holds the machine-wide `bpf_dctcp` name: struct_ops registers a
/// congestion control name once per kernel, so tests (in any test binary)
/// that register it take this lock first. Released on drop.
pub struct DctcpLock(File);

/// Takes the `bpf_dctcp` lock (an `flock` on `/run/lock/accord-bpf-dctcp.lock`),
/// waiting for other holders.
pub fn dctcp_lock() -> std::io::Result<DctcpLock> {
    let dir = if std::path::Path::new("/run/lock").is_dir() {
        "/run/lock"
    } else {
        "/tmp"
    };
    let file = File::create(format!("{dir}/accord-bpf-dctcp.lock"))?;
    // SAFETY: the fd is valid for the lifetime of `file`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(DctcpLock(file))
}

/// Whether the congestion control name `bpf_dctcp` is free for a test to
/// register, waiting up to 5 s for one that is going away: the kernel frees
/// an unregistered struct_ops after an RCU grace period, so a test that runs
/// right after another one's cleanup can still see the name for a moment.
/// Call it holding [`dctcp_lock`]; `false` means someone outside the tests
/// (a deployed accord) holds the name.
pub fn bpf_dctcp_free() -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match runtime::struct_ops::congestion_control_available("bpf_dctcp") {
            Ok(false) => return true,
            Ok(true) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(true) => return false,
            Err(e) => panic!("reading the available congestion controls: {e}"),
        }
    }
}

impl Drop for DctcpLock {
    fn drop(&mut self) {
        // SAFETY: the fd is valid; closing it would release the lock too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_unique_names() {
        assert_eq!(owner_pid(&unique_name("chain4")), Some(std::process::id()));
        assert_eq!(owner_pid("accord-test-load-features-123-7"), Some(123));
        assert_eq!(owner_pid("accord-test-x-notapid-1"), None);
        assert_eq!(owner_pid("accord-cli-test"), None);
        assert_eq!(owner_pid("accord"), None);
    }
}
