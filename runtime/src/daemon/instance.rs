//! One daemon per state directory, and how anyone finds it.
//!
//! The daemon binds an abstract unix socket (Linux: a name, not a file)
//! derived from its state directory, and keeps it for its whole life. The
//! kernel lets one socket at a time bind a name and frees it only when the
//! process is gone, so:
//!
//! - a second daemon on the same state directory cannot bind it and exits
//!   (removing the state directory, its files or the status socket changes
//!   nothing about that: there is no file to remove);
//! - a client that can connect to it knows a daemon is alive, even if its
//!   status socket file was removed, and reads the daemon's pid from the
//!   connection (`SO_PEERCRED`) to tell a stopped daemon (SIGSTOP) from a
//!   busy one. The daemon answers status requests on it as on the status
//!   socket, to its own user only.
//!
//! The name is `accord-daemon/` and the SHA-256 of the state directory's
//! path with every existing ancestor resolved (so a removed and recreated
//! directory, or a path through a symlink, gives the same name). Abstract
//! names belong to a network namespace: daemons in two namespaces sharing
//! one state directory would not see each other.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener as StdUnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::UnixListener;

use super::socket::{self, SocketError, Value};

/// The abstract socket name of the daemon of `state_dir`.
pub fn name(state_dir: &Path) -> String {
    let stable = resolved(state_dir);
    let digest = Sha256::digest(stable.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("accord-daemon/{hex}")
}

/// `path` with its longest existing ancestor resolved (symlinks, `..`) and
/// the rest appended as written: the same before and after the directory
/// itself is removed.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut rest = Vec::new();
    let mut cur = absolute.as_path();
    loop {
        if let Ok(real) = cur.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(last)) => {
                rest.push(last.to_owned());
                cur = parent;
            }
            _ => return absolute,
        }
    }
}

fn addr(state_dir: &Path) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name(state_dir).as_bytes())
}

/// Holding it is being the daemon of a state directory.
#[derive(Debug)]
pub struct InstanceLock {
    pub listener: UnixListener,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum TakeError {
    /// Another process holds it (its pid, when it can be read).
    Held {
        pid: Option<u32>,
    },
    Io(std::io::Error),
}

impl InstanceLock {
    /// Binds the state directory's name (inside a tokio runtime).
    pub fn take(state_dir: &Path) -> Result<InstanceLock, TakeError> {
        let listener = StdUnixListener::bind_addr(&addr(state_dir).map_err(TakeError::Io)?)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => TakeError::Held {
                    pid: match probe(state_dir) {
                        Liveness::Alive { pid, .. } => Some(pid),
                        Liveness::None => None,
                    },
                },
                _ => TakeError::Io(e),
            })?;
        listener.set_nonblocking(true).map_err(TakeError::Io)?;
        let listener = UnixListener::from_std(listener).map_err(TakeError::Io)?;
        Ok(InstanceLock { listener })
    }
}

/// Whether a daemon holds a state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    None,
    /// `stopped`: the process is stopped (SIGSTOP, a debugger) and will not
    /// answer until it is continued. `uid`: the daemon's user (it answers
    /// that user only).
    Alive {
        pid: u32,
        uid: u32,
        stopped: bool,
    },
}

/// Connects to the daemon of `state_dir`, if one is alive.
fn connect(state_dir: &Path) -> Option<(UnixStream, u32, u32)> {
    let stream = UnixStream::connect_addr(&addr(state_dir).ok()?).ok()?;
    let (pid, uid) = rustix::net::sockopt::socket_peercred(&stream)
        .ok()
        .map_or((0, u32::MAX), |c| {
            (c.pid.as_raw_nonzero().get() as u32, c.uid.as_raw())
        });
    Some((stream, pid, uid))
}

/// Is a daemon alive on `state_dir`? Connecting is enough to know (the
/// kernel queues the connection even if the daemon never accepts it).
pub fn probe(state_dir: &Path) -> Liveness {
    match connect(state_dir) {
        None => Liveness::None,
        Some((_, pid, uid)) => Liveness::Alive {
            pid,
            uid,
            stopped: is_stopped(pid),
        },
    }
}

/// The process state in `/proc/<pid>/stat` is `T` (stopped by a signal) or
/// `t` (stopped by a tracer).
fn is_stopped(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S ...`: comm may hold spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "T" || state == "t")
}

/// Sends one request to the daemon of `state_dir` and reads its answer.
pub fn request(state_dir: &Path, request: &str, timeout: Duration) -> Result<Value, SocketError> {
    let what = PathBuf::from(format!("@{}", name(state_dir)));
    let Some((stream, _, _)) = connect(state_dir) else {
        return Err(SocketError::Io {
            path: what,
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        });
    };
    socket::request_on(stream, &what, request, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_survives_the_directory_and_differs_between_directories() {
        let base = std::env::temp_dir().join(format!("accord-instance-{}", std::process::id()));
        let dir = base.join("state");
        std::fs::create_dir_all(&dir).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let before = name(&dir);
        assert_eq!(name(&link), before, "through a symlink");
        assert_eq!(name(&base.join("state/../state")), before);
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(name(&dir), before, "after the directory is removed");
        assert_ne!(name(&base.join("other")), before);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_second_holder_is_refused_and_names_the_first() {
        let dir = std::env::temp_dir().join(format!("accord-instance-lock-{}", std::process::id()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(probe(&dir), Liveness::None);
            let first = InstanceLock::take(&dir).unwrap();
            match InstanceLock::take(&dir) {
                Err(TakeError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
                other => panic!("{other:?}"),
            }
            assert_eq!(
                probe(&dir),
                Liveness::Alive {
                    pid: std::process::id(),
                    uid: rustix::process::geteuid().as_raw(),
                    stopped: false
                }
            );
            drop(first);
            assert!(InstanceLock::take(&dir).is_ok(), "free once dropped");
        });
    }
}
