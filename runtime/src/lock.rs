//! The host-wide lock: one `accord` at a time changes hookpoints. An
//! exclusive `flock` on `<state dir>/lock`, held until dropped; the kernel
//! releases it if the process dies.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot take the accord lock {}: {source}", path.display())]
pub struct LockError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Held while alive.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

impl HostLock {
    /// Blocks until the lock is free. `on_wait` is called once if another
    /// accord holds it.
    pub fn acquire(path: &Path, on_wait: impl FnOnce()) -> Result<HostLock, LockError> {
        let err = |source| LockError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(err)?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            on_wait();
            // SAFETY: as above; blocking this time.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(err(std::io::Error::last_os_error()));
            }
        }
        Ok(HostLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits() {
        let dir = std::env::temp_dir().join(format!("accord-lock-{}", std::process::id()));
        let path = dir.join("lock");
        let first = HostLock::acquire(&path, || panic!("free lock")).unwrap();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let mut waited = false;
            let _second = HostLock::acquire(&p, || waited = true).unwrap();
            waited
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(first);
        assert!(waiter.join().unwrap(), "the second taker had to wait");
        fs::remove_dir_all(dir).unwrap();
    }
}
