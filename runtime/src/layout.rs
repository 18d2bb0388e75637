//! Where accord keeps things: every pin under one bpffs root, every record
//! under one state directory. The layout is documented in ARCHITECTURE.md
//! ("Pin layout"); this module is the only place that spells paths.
//!
//! ```text
//! /sys/fs/bpf/accord/                       bpffs root
//!   struct_ops/<name>/                      a registered struct_ops (e.g. bpf_dctcp),
//!                                           shared by every hookpoint that needs it
//!   sock_ops-cg<cgroup inode>/              one hookpoint (hook + target)
//!     link                                  the pinned BPF link (attached while pinned)
//!     gen-<N>/                              one generation
//!       chain                               accord_chain (prog array)
//!       dispatcher                          the generated dispatcher
//!       m<slot>-<feature>[-<program>]/    one member (bpffs names hold no '.')
//!         prog                              the member program
//!         accord_config, accord_set_<p>, accord_stats, ...   its maps
//! /run/accord/
//!   lock                                    flock: one accord at a time
//!   hookpoints/<hookpoint>.json             the record (desired state as applied)
//!   audit/<digest>.json                     a clean audit verdict (the host-side audit's cache)
//! ```

use std::path::{Path, PathBuf};

use dispatcher::Hook;

/// The default bpffs root.
pub const DEFAULT_BPFFS_ROOT: &str = "/sys/fs/bpf/accord";
/// The directory under the root that holds struct_ops registrations.
pub const STRUCT_OPS_DIR: &str = "struct_ops";
/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/accord";

/// The roots accord works under (tests use private ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub bpffs_root: PathBuf,
    pub state_dir: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            bpffs_root: PathBuf::from(DEFAULT_BPFFS_ROOT),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

/// Keeps pin names to characters that need no quoting.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name of a hookpoint directory: `sock_ops-cg<cgroup inode>`.
pub fn hookpoint_key(hook: Hook, cgroup_id: u64) -> String {
    format!("{}-cg{cgroup_id}", hook.name())
}

/// Parses `gen-<N>`.
pub fn generation_of(dir_name: &str) -> Option<u64> {
    dir_name.strip_prefix("gen-")?.parse().ok()
}

impl Layout {
    pub fn hookpoint_dir(&self, key: &str) -> PathBuf {
        self.bpffs_root.join(key)
    }

    pub fn link_pin(&self, key: &str) -> PathBuf {
        self.hookpoint_dir(key).join("link")
    }

    /// The hookpoint's connection stamps (socket storage shared by its
    /// generations; see the dispatcher crate).
    pub fn conn_map_pin(&self, key: &str) -> PathBuf {
        self.hookpoint_dir(key).join("conn_gen")
    }

    /// The stamps of the hookpoint's request sockets (LRU hash by
    /// addresses and ports).
    pub fn req_map_pin(&self, key: &str) -> PathBuf {
        self.hookpoint_dir(key).join("req_gen")
    }

    pub fn generation_dir(&self, key: &str, generation: u64) -> PathBuf {
        self.hookpoint_dir(key).join(format!("gen-{generation}"))
    }

    pub fn chain_pin(&self, key: &str, generation: u64) -> PathBuf {
        self.generation_dir(key, generation).join("chain")
    }

    pub fn dispatcher_pin(&self, key: &str, generation: u64) -> PathBuf {
        self.generation_dir(key, generation).join("dispatcher")
    }

    pub fn member_dir(
        &self,
        key: &str,
        generation: u64,
        slot: u32,
        feature: &str,
        program: &str,
    ) -> PathBuf {
        // bpffs refuses names with a '.'.
        let name = if feature == program {
            format!("m{slot:02}-{}", clean(feature))
        } else {
            format!("m{slot:02}-{}-{}", clean(feature), clean(program))
        };
        self.generation_dir(key, generation).join(name)
    }

    /// Not a hookpoint: where struct_ops registrations are pinned.
    pub fn struct_ops_root(&self) -> PathBuf {
        self.bpffs_root.join(STRUCT_OPS_DIR)
    }

    pub fn struct_ops_dir(&self, name: &str) -> PathBuf {
        self.struct_ops_root().join(clean(name))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.state_dir.join("lock")
    }

    /// Clean audit verdicts, one file per (auditor, object, spec, catalog).
    pub fn audit_cache_dir(&self) -> PathBuf {
        self.state_dir.join("audit")
    }

    pub fn records_dir(&self) -> PathBuf {
        self.state_dir.join("hookpoints")
    }

    pub fn record_path(&self, key: &str) -> PathBuf {
        self.records_dir().join(format!("{key}.json"))
    }

    /// Whether `path` is inside the bpffs root (a guard for removals).
    pub fn owns(&self, path: &Path) -> bool {
        path.starts_with(&self.bpffs_root) && path != self.bpffs_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::default();
        let key = hookpoint_key(Hook::SockOps, 4242);
        assert_eq!(key, "sock_ops-cg4242");
        assert_eq!(
            l.link_pin(&key),
            Path::new("/sys/fs/bpf/accord/sock_ops-cg4242/link")
        );
        assert_eq!(
            l.member_dir(&key, 3, 1, "init_cwnd", "init.cwnd"),
            Path::new("/sys/fs/bpf/accord/sock_ops-cg4242/gen-3/m01-init_cwnd-init_cwnd")
        );
        assert_eq!(generation_of("gen-12"), Some(12));
        assert_eq!(generation_of("link"), None);
        assert!(l.owns(&l.generation_dir(&key, 1)));
        assert!(!l.owns(Path::new("/sys/fs/bpf/other")));
    }
}
