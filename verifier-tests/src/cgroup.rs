//! Test cgroups under the cgroup v2 mount.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup v2 mount point, from `/proc/mounts` (`/sys/fs/cgroup/unified`
/// on hybrid hosts, `/sys/fs/cgroup` on unified ones).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_dev, dir, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == "cgroup2").then(|| PathBuf::from(dir))
    })
}

/// A fresh cgroup v2 directory, removed on drop.
///
/// Sockets are charged to the cgroup of the process that *creates* them
/// (accepted sockets inherit their listener's), and cgroup sock_ops programs
/// run for the sockets charged to their cgroup. Use [`crate::socket_in`] or
/// [`crate::TcpConn::connect_from`] to get sockets created inside it; the
/// test process itself never joins the cgroup.
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// Creates `<cgroup2 mount>/accord-test-<tag>-<pid>-<n>`.
    pub fn create(tag: &str) -> io::Result<Self> {
        let root = cgroup2_mount()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup2 mount"))?;
        let path = root.join(crate::unique_name(tag));
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup directory opened read-only, as the attach target.
    pub fn open(&self) -> io::Result<File> {
        File::open(&self.path)
    }

    /// `<cgroup>/cgroup.procs`.
    pub fn procs_path(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Helper children have exited by now; retry briefly in case one is
        // still being reaped.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        eprintln!(
            "warning: could not remove test cgroup {}",
            self.path.display()
        );
    }
}
