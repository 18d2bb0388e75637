//! `accord daemon`: run the host daemon, or (`--status`) ask a running one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use runtime::daemon::{self, DaemonConfig, DaemonError};

use super::common::{self, Roots, EXIT_INPUT, EXIT_KERNEL, EXIT_UNSAFE};

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// The policy file (YAML): targets with their cgroup, composition and
    /// config overrides (see README.md, "Running the daemon").
    #[arg(long, value_name = "FILE", required_unless_present = "status")]
    pub policy: Option<PathBuf>,
    /// Ask the running daemon for its status (JSON) instead of running one.
    #[arg(long, conflicts_with = "policy")]
    pub status: bool,
    /// The status socket (default: <state dir>/accord.sock).
    #[arg(long, env = "ACCORD_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Relative target cgroups are relative to this (default: the cgroup2 mount).
    #[arg(long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
    /// Compare desired and observed state at least this often.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub interval_ms: u64,
    /// Wait this long after the last change to a policy input before reloading.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,
    /// A directory of `iter/tcp` objects (`<feature>.bpf.o`, built from
    /// ebpf/iter/) that re-apply effects to connections already established
    /// when a generation goes live.
    #[arg(long, env = "ACCORD_ITER_OBJECTS", value_name = "DIR")]
    pub iter_objects: Option<PathBuf>,
    #[command(flatten)]
    pub roots: Roots,
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_dev, dir, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == "cgroup2").then(|| PathBuf::from(dir))
    })
}

pub fn run(args: DaemonArgs) -> ExitCode {
    let layout = args.roots.layout();
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| DaemonConfig::default_socket(&layout));
    if args.status {
        let within = Duration::from_secs(10);
        // The socket file, else the daemon's name (its file may be gone).
        let answer = daemon::socket::request(&socket, "status", within).or_else(|e| {
            daemon::instance::request(&layout.state_dir, "status", within).map_err(|_| e)
        });
        return match answer {
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON prints"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("accord: is the daemon running? {e}");
                ExitCode::from(EXIT_KERNEL)
            }
        };
    }
    // Clients of the status socket may hang up mid-answer.
    super::ignore_sigpipe();
    daemon::init_tracing();
    let policy = args
        .policy
        .expect("clap requires --policy without --status");
    let Some(cgroup_root) = args.cgroup_root.or_else(cgroup2_mount) else {
        eprintln!("accord: no cgroup2 mount in /proc/mounts (give --cgroup-root)");
        return ExitCode::from(EXIT_KERNEL);
    };
    if let Err(code) = common::require_bpffs(&layout) {
        return code;
    }
    let cfg = DaemonConfig {
        policy,
        layout,
        cgroup_root,
        socket,
        interval: Duration::from_millis(args.interval_ms.max(10)),
        debounce: Duration::from_millis(args.debounce_ms),
        iter_objects: args.iter_objects,
    };
    match daemon::run_blocking(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(DaemonError::Refused(r)) => {
            eprintln!("accord: policy refused, nothing changed: {r}");
            ExitCode::from(if r.is_unsafe() {
                EXIT_UNSAFE
            } else {
                EXIT_INPUT
            })
        }
        Err(e) => {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_KERNEL)
        }
    }
}
