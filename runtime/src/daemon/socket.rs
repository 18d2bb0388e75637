//! The status socket: a unix stream socket, mode 0600 (root only), in the
//! state directory. JSON lines: the client writes one request line, the
//! daemon answers with one JSON object per line.
//!
//! Requests: `status` (the daemon's targets and every hookpoint with its
//! members' program ids and counters: events, writes, errors, run_ns),
//! `reload` (re-read the policy now; answers `{"ok": true}` or
//! `{"ok": false, "error": ...}`).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::SendFlags;
use serde_json::json;
/// The JSON value requests answer with.
pub use serde_json::Value;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use super::Command;

#[derive(Debug, Error)]
pub enum SocketError {
    #[error("socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("socket {}: the daemon answered something that is not JSON: {source}", path.display())]
    Answer {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Binds the socket with mode 0600 before it becomes visible under its name
/// (bound beside it, chmod-ed, then renamed over any stale one).
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(io)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(listener)
}

/// Serves one connection: only the daemon's own user (root) is answered,
/// whatever the file mode says.
pub async fn serve(stream: UnixStream, commands: std::sync::mpsc::Sender<Command>) {
    let me = unsafe { libc::geteuid() };
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => {}
        Ok(cred) => {
            warn!(
                uid = cred.uid(),
                "status socket: refused a client that is not root"
            );
            return;
        }
        Err(e) => {
            warn!("status socket: no peer credentials: {e}");
            return;
        }
    }
    let (read, mut write) = stream.into_split();
    let mut lines = AsyncBufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let request = line.trim().trim_matches('"');
        let request = serde_json::from_str::<Value>(line.trim())
            .ok()
            .and_then(|v| v.get("cmd").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| request.to_owned());
        debug!(request, "status socket request");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cmd = match request.as_str() {
            "status" => Command::Status(tx),
            "reload" => Command::Reload(tx),
            other => {
                let answer = json!({ "ok": false, "error": format!("unknown request `{other}` (try status or reload)") });
                if write_line(&mut write, &answer).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if commands.send(cmd).is_err() {
            return;
        }
        let Ok(answer) = rx.await else { return };
        if write_line(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    v: &Value,
) -> std::io::Result<()> {
    let mut text = v.to_string();
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

/// The file a socket was bound as: (device, inode). A socket file removed
/// or replaced by another has none or another.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Sends one request and reads one answer (blocking; for the CLI and tests).
pub fn request(path: &Path, request: &str, timeout: Duration) -> Result<Value, SocketError> {
    let stream = StdUnixStream::connect(path).map_err(|source| SocketError::Io {
        path: path.to_owned(),
        source,
    })?;
    request_on(stream, path, request, timeout)
}

/// [`request`] on a connected stream; `path` names it in errors.
pub fn request_on(
    stream: StdUnixStream,
    path: &Path,
    request: &str,
    timeout: Duration,
) -> Result<Value, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    // Not `write`: a daemon that hung up is an error, not a SIGPIPE (the
    // CLI leaves SIGPIPE's default action on, for its stdout).
    let line = format!("{request}\n");
    let mut sent = 0;
    while sent < line.len() {
        sent += rustix::net::send(&stream, &line.as_bytes()[sent..], SendFlags::NOSIGNAL)
            .map_err(|e| io(e.into()))?;
    }
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(io)?;
    serde_json::from_str(&line).map_err(|source| SocketError::Answer {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_appears_with_mode_0600_only() {
        let dir = std::env::temp_dir().join(format!("accord-sock-{}", std::process::id()));
        let path = dir.join("accord.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let _listener = bind(&path).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            // Bound again over a stale socket (a daemon killed before).
            drop(_listener);
            let _again = bind(&path).unwrap();
        });
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("accord.sock")]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
