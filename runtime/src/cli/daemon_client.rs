//! What the other subcommands learn from a running `accord daemon`: its
//! targets for `accord status`, and which hookpoints it manages, so that
//! `apply` and `detach` do not fight it (the daemon would put its policy
//! back at its next reconcile, silently undoing the command).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use runtime::daemon::instance::{self, Liveness};
use runtime::daemon::socket::{self, Value};
use runtime::daemon::DaemonConfig;
use runtime::layout::Layout;
use serde_json::json;

use super::common::{EXIT_INPUT, EXIT_KERNEL};

/// How long a subcommand waits for the daemon's answer. The daemon answers
/// between reconcile steps, so a slow apply of its own delays it.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What the daemon of a state directory says, if one is alive.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonView {
    /// No daemon holds this state directory, and no socket answers.
    Absent { socket: PathBuf },
    /// A socket file nobody listens on any more (a daemon that was killed):
    /// no daemon is alive.
    Stale { socket: PathBuf },
    /// A daemon is alive but does not answer (stopped with SIGSTOP, hung,
    /// or answering nonsense): it may manage any cgroup, so `apply` and
    /// `detach` refuse.
    Unresponsive {
        socket: PathBuf,
        pid: Option<u32>,
        error: String,
    },
    /// A daemon answered with its status.
    Running { socket: PathBuf, status: Value },
    /// The socket (or the directory holding it) is root-only: whether a
    /// daemon runs cannot be told from here.
    Denied { socket: PathBuf },
}

/// A hookpoint (or cgroup) the running daemon's policy covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedBy {
    pub policy: String,
    pub cgroup: String,
}

/// The daemon's socket for this state directory: `ACCORD_SOCKET` (as
/// `accord daemon --socket` takes it) or `<state dir>/accord.sock`.
pub fn socket_path(layout: &Layout) -> PathBuf {
    std::env::var_os("ACCORD_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| DaemonConfig::default_socket(layout))
}

/// Asks the daemon of this state directory for its status: first by its
/// name (`runtime::daemon::instance`, which tells a live daemon from a
/// dead one even if its socket file was removed), then, for a daemon that
/// has no name, at the socket file.
pub fn query(layout: &Layout) -> DaemonView {
    let socket = socket_path(layout);
    match instance::probe(&layout.state_dir) {
        Liveness::Alive { uid, .. } if uid != rustix::process::geteuid().as_raw() => {
            DaemonView::Denied { socket }
        }
        Liveness::Alive {
            pid, stopped: true, ..
        } => DaemonView::Unresponsive {
            socket,
            pid: Some(pid),
            error: format!("the process is stopped (SIGSTOP?); `kill -CONT {pid}` resumes it"),
        },
        Liveness::Alive { pid, .. } => {
            let answer = instance::request(&layout.state_dir, "status", ANSWER_WITHIN);
            view_of(socket, Some(pid), answer)
        }
        Liveness::None => query_socket(socket),
    }
}

/// The socket file alone (a daemon without an instance name).
fn query_socket(socket: PathBuf) -> DaemonView {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    match socket.symlink_metadata() {
        Ok(_) => {}
        Err(e) if denied(&e) => return DaemonView::Denied { socket },
        Err(_) => return DaemonView::Absent { socket },
    }
    match socket::request(&socket, "status", ANSWER_WITHIN) {
        Err(socket::SocketError::Io { source, .. }) if denied(&source) => {
            DaemonView::Denied { socket }
        }
        // Nobody listens: the daemon that bound it is gone.
        Err(socket::SocketError::Io { source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            DaemonView::Stale { socket }
        }
        answer => view_of(socket, None, answer),
    }
}

fn view_of(
    socket: PathBuf,
    pid: Option<u32>,
    answer: Result<Value, socket::SocketError>,
) -> DaemonView {
    match answer {
        Ok(status) if status.get("targets").is_some() => DaemonView::Running { socket, status },
        Ok(other) => DaemonView::Unresponsive {
            socket,
            pid,
            error: format!("unexpected answer {other}"),
        },
        Err(e) => DaemonView::Unresponsive {
            socket,
            pid,
            error: format!("no answer within {} s: {e}", ANSWER_WITHIN.as_secs()),
        },
    }
}

impl DaemonView {
    /// The daemon's target for hookpoint `key` or cgroup `cgroup`, if the
    /// daemon is running and its policy has one.
    pub fn managed(&self, key: &str, cgroup: Option<&Path>) -> Option<ManagedBy> {
        let DaemonView::Running { status, .. } = self else {
            return None;
        };
        let policy = status["policy"].as_str().unwrap_or("?").to_owned();
        status["targets"].as_array()?.iter().find_map(|t| {
            let target_cgroup = t["cgroup"].as_str()?;
            let same_key = t["hookpoint"].as_str() == Some(key);
            let same_cgroup = cgroup.is_some_and(|c| same_path(c, Path::new(target_cgroup)));
            (same_key || same_cgroup).then(|| ManagedBy {
                policy: policy.clone(),
                cgroup: target_cgroup.to_owned(),
            })
        })
    }

    /// The `daemon` object of `accord status --format json`.
    pub fn to_json(&self) -> Value {
        match self {
            DaemonView::Absent { socket } => json!({ "running": false, "socket": socket }),
            DaemonView::Stale { socket } => {
                json!({ "running": false, "socket": socket, "error": "stale socket: nobody listens" })
            }
            DaemonView::Unresponsive { socket, pid, error } => {
                json!({ "running": true, "answering": false, "pid": pid, "socket": socket, "error": error })
            }
            DaemonView::Denied { socket } => {
                json!({ "running": null, "socket": socket, "error": "permission denied" })
            }
            DaemonView::Running { socket, status } => {
                let mut v = json!({ "running": true, "socket": socket });
                let m = v.as_object_mut().expect("an object");
                for field in ["policy", "reloads", "last_refusal", "targets"] {
                    m.insert(field.into(), status[field].clone());
                }
                v
            }
        }
    }

    /// The daemon section of `accord status`.
    pub fn human(&self) -> String {
        match self {
            DaemonView::Absent { socket } => {
                format!("daemon: not running (no socket at {})\n", socket.display())
            }
            DaemonView::Stale { socket } => format!(
                "daemon: not running (socket {} is stale: nobody listens)\n",
                socket.display()
            ),
            DaemonView::Unresponsive { socket, pid, error } => format!(
                "daemon: running{} but NOT ANSWERING ({error}); apply and detach refuse until it answers (socket {})\n",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                socket.display()
            ),
            DaemonView::Denied { socket } => format!(
                "daemon: permission denied on {} (run accord status as root)\n",
                socket.display()
            ),
            DaemonView::Running { socket, status } => {
                let mut out = format!(
                    "daemon: running, policy {}, {} reload(s) (socket {})\n",
                    status["policy"].as_str().unwrap_or("?"),
                    status["reloads"].as_u64().unwrap_or(0),
                    socket.display()
                );
                for t in status["targets"].as_array().into_iter().flatten() {
                    let cgroup = t["cgroup"].as_str().unwrap_or("?");
                    let composition = t["composition"].as_str().unwrap_or("?");
                    let state = match t["state"].as_str().unwrap_or("?") {
                        "live" => format!(
                            "live, {} generation {}",
                            t["hookpoint"].as_str().unwrap_or("?"),
                            t["generation"]
                        ),
                        "pending" => "pending: the cgroup does not exist yet".to_owned(),
                        "failed" => format!("failed: {}", t["error"].as_str().unwrap_or("?")),
                        other => other.to_owned(),
                    };
                    out.push_str(&format!("  target {cgroup} ({composition}): {state}\n"));
                }
                if let Some(r) = status["last_refusal"].as_str() {
                    out.push_str(&format!("  last policy refused: {r}\n"));
                }
                out
            }
        }
    }
}

/// Refuses `what` (an apply or detach) on a hookpoint the running daemon
/// manages, or anywhere while a daemon is alive but does not answer (it
/// may manage this cgroup too), with what to do instead.
pub fn refuse_if_managed(
    view: &DaemonView,
    what: &str,
    key: &str,
    cgroup: Option<&Path>,
) -> Result<(), ExitCode> {
    if let DaemonView::Unresponsive { pid, error, .. } = view {
        let target = cgroup.map_or_else(|| key.to_owned(), |c| c.display().to_string());
        eprintln!(
            "accord: refusing to {what} {target}: an accord daemon{} holds this state directory \
             but does not answer ({error}), so it cannot say whether it manages this cgroup, \
             and it would undo this at its next reconcile if it does; resume or stop it, then retry",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        );
        return Err(ExitCode::from(EXIT_KERNEL));
    }
    let Some(m) = view.managed(key, cgroup) else {
        return Ok(());
    };
    eprintln!(
        "accord: refusing to {what} {}: the running accord daemon manages it (policy {}) \
         and would undo this at its next reconcile; change the policy instead, \
         or stop the daemon first",
        m.cgroup, m.policy
    );
    Err(ExitCode::from(EXIT_INPUT))
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    a == b || canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    fn running(targets: Value) -> DaemonView {
        DaemonView::Running {
            socket: PathBuf::from("/run/accord/accord.sock"),
            status: json!({ "policy": "/etc/accord/policy.yaml", "reloads": 2,
                            "last_refusal": null, "targets": targets, "hookpoints": [] }),
        }
    }

    #[test]
    fn a_target_is_managed_by_key_or_by_cgroup_path() {
        let view = running(json!([
            { "cgroup": "/sys/fs/cgroup/a", "composition": "a.yaml", "state": "live",
              "hookpoint": "sock_ops-7", "generation": 3 },
            { "cgroup": "/sys/fs/cgroup/b", "composition": "b.yaml", "state": "pending" },
        ]));
        let a = view.managed("sock_ops-7", None).unwrap();
        assert_eq!(a.cgroup, "/sys/fs/cgroup/a");
        assert_eq!(a.policy, "/etc/accord/policy.yaml");
        let b = view.managed("sock_ops-9", Some(Path::new("/sys/fs/cgroup/b")));
        assert_eq!(b.unwrap().cgroup, "/sys/fs/cgroup/b");
        assert_eq!(
            view.managed("sock_ops-9", Some(Path::new("/sys/fs/cgroup/c"))),
            None
        );
        assert!(refuse_if_managed(&view, "detach", "sock_ops-7", None).is_err());
        assert!(refuse_if_managed(&view, "detach", "sock_ops-8", None).is_ok());
    }

    #[test]
    fn no_daemon_manages_nothing() {
        let absent = DaemonView::Absent {
            socket: PathBuf::from("/nonexistent/accord.sock"),
        };
        assert_eq!(absent.managed("sock_ops-7", None), None);
        assert!(absent.human().contains("not running"));
        assert_eq!(absent.to_json()["running"], false);
    }

    #[test]
    fn human_lists_every_target_with_its_state() {
        let view = running(json!([
            { "cgroup": "/sys/fs/cgroup/a", "composition": "a.yaml", "state": "live",
              "hookpoint": "sock_ops-7", "generation": 3 },
            { "cgroup": "/sys/fs/cgroup/b", "composition": "b.yaml", "state": "pending" },
            { "cgroup": "/sys/fs/cgroup/c", "composition": "c.yaml", "state": "failed",
              "error": "verifier said no" },
        ]));
        insta::assert_snapshot!(view.human(), @r"
        daemon: running, policy /etc/accord/policy.yaml, 2 reload(s) (socket /run/accord/accord.sock)
          target /sys/fs/cgroup/a (a.yaml): live, sock_ops-7 generation 3
          target /sys/fs/cgroup/b (b.yaml): pending: the cgroup does not exist yet
          target /sys/fs/cgroup/c (c.yaml): failed: verifier said no
        ");
    }

    #[test]
    fn query_reads_a_live_socket_and_names_a_dead_one() {
        let dir = std::env::temp_dir().join(format!("accord-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("accord.sock");
        let _ = std::fs::remove_file(&path);
        assert!(matches!(
            query_socket(path.clone()),
            DaemonView::Absent { .. }
        ));

        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "status");
            let answer = json!({ "policy": "p.yaml", "reloads": 0, "targets": [] });
            writeln!(&stream, "{answer}").unwrap();
            // A second client gets no answer: the connection just closes.
            let (stream, _) = listener.accept().unwrap();
            drop(stream);
            listener
        });
        let view = query_socket(path.clone());
        assert!(
            matches!(&view, DaemonView::Running { status, .. } if status["policy"] == "p.yaml"),
            "{view:?}"
        );
        let view = query_socket(path.clone());
        assert!(matches!(view, DaemonView::Unresponsive { .. }), "{view:?}");
        assert!(view.human().contains("NOT ANSWERING"), "{}", view.human());
        assert!(refuse_if_managed(&view, "apply to", "sock_ops-1", None).is_err());
        drop(server.join().unwrap());

        // The listener is gone; the socket file stays, as after a SIGKILL.
        let view = query_socket(path.clone());
        assert!(matches!(view, DaemonView::Stale { .. }), "{view:?}");
        assert!(view.human().contains("stale"), "{}", view.human());
        assert!(refuse_if_managed(&view, "apply to", "sock_ops-1", None).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
