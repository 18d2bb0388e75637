//! What the kernel shows about a hookpoint's target, beside accord's own
//! pins: whether the cgroup still exists (and is the same cgroup), and which
//! programs are attached to it for a hook, as `BPF_PROG_QUERY` lists them.
//! With `effective`, the programs that run for the cgroup's sockets,
//! including those inherited from its ancestors.
//! `accord doctor` compares this with the records; [`RealInventory`] asks
//! the kernel, [`FakeInventory`] answers from a table for tests.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use dispatcher::Hook;
use libbpf_sys as bpfsys;

use super::{AdapterError, AdapterResult};
use crate::sys::{self, SyscallError};

/// Most programs one query returns: the kernel caps each cgroup at 64, an
/// effective query adds the ancestors' (`ENOSPC` beyond this).
const QUERY_MAX: usize = 256;

/// One program attached to a cgroup, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachedProg {
    pub prog_id: u32,
    /// The program's name (at most 15 bytes); empty if it could not be read.
    pub name: String,
}

/// Read-only questions about the kernel's view of attach targets.
pub trait Inventory {
    /// The cgroup id (inode) of the directory at `cgroup`; `None` when it
    /// does not exist any more.
    fn cgroup_id(&self, cgroup: &Path) -> Option<u64>;
    /// The programs attached directly to `cgroup` for `hook` (links and
    /// `BPF_PROG_ATTACH` alike), in the kernel's order.
    fn attached(&self, cgroup: &Path, hook: Hook) -> AdapterResult<Vec<AttachedProg>>;
    /// The programs that run for `cgroup`'s sockets on `hook`: its own and
    /// those inherited from its ancestors (`BPF_F_QUERY_EFFECTIVE`).
    fn effective(&self, cgroup: &Path, hook: Hook) -> AdapterResult<Vec<AttachedProg>>;
    /// Every cgroup below `cgroup` (not itself), parents first, at most
    /// [`MAX_DESCENDANTS`]: programs attached there run for the sockets
    /// there together with `cgroup`'s.
    fn descendants(&self, cgroup: &Path) -> Vec<PathBuf>;
}

/// How many cgroups below a hookpoint's `descendants` lists.
pub const MAX_DESCENDANTS: usize = 4096;

/// The kernel's answers (`stat`, `BPF_PROG_QUERY`, `BPF_OBJ_GET_INFO_BY_FD`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealInventory;

impl Inventory for RealInventory {
    fn cgroup_id(&self, cgroup: &Path) -> Option<u64> {
        crate::desired::Target::of_cgroup(cgroup)
            .ok()
            .map(|t| t.cgroup_id)
    }

    fn attached(&self, cgroup: &Path, hook: Hook) -> AdapterResult<Vec<AttachedProg>> {
        query_named(cgroup, hook, 0)
    }

    fn effective(&self, cgroup: &Path, hook: Hook) -> AdapterResult<Vec<AttachedProg>> {
        query_named(cgroup, hook, bpfsys::BPF_F_QUERY_EFFECTIVE)
    }

    fn descendants(&self, cgroup: &Path) -> Vec<PathBuf> {
        // In cgroupfs every directory is a cgroup; one removed during the
        // walk is skipped.
        walkdir::WalkDir::new(cgroup)
            .min_depth(1)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_dir())
            .map(walkdir::DirEntry::into_path)
            .take(MAX_DESCENDANTS)
            .collect()
    }
}

/// The programs a query lists, with their names.
fn query_named(cgroup: &Path, hook: Hook, flags: u32) -> AdapterResult<Vec<AttachedProg>> {
    let cg = fs::File::open(cgroup).map_err(|e| AdapterError::io(cgroup, e))?;
    let ids =
        prog_query(cg.as_fd().as_raw_fd(), hook.expected_attach_type(), flags).map_err(|e| {
            AdapterError::sys(format!("listing the programs on {}", cgroup.display()), e)
        })?;
    Ok(ids
        .into_iter()
        .map(|prog_id| AttachedProg {
            prog_id,
            // A program detached between the query and here has no name.
            name: sys::prog_fd_by_id(prog_id)
                .and_then(|fd| sys::prog_info(fd.as_fd()))
                .map(|i| i.name)
                .unwrap_or_default(),
        })
        .collect())
}

/// `BPF_PROG_QUERY`: with no flags the programs attached to this cgroup
/// itself, with `BPF_F_QUERY_EFFECTIVE` also the inherited ones. Audit: opts is built from `Default` with `sz` set, and
/// `prog_ids` points at a live local array of `prog_cnt` entries.
pub(crate) fn prog_query(
    target: i32,
    attach_type: u32,
    flags: u32,
) -> Result<Vec<u32>, SyscallError> {
    let mut ids = [0u32; QUERY_MAX];
    let mut opts = bpfsys::bpf_prog_query_opts {
        sz: std::mem::size_of::<bpfsys::bpf_prog_query_opts>() as _,
        query_flags: flags,
        prog_ids: ids.as_mut_ptr(),
        ..Default::default()
    };
    opts.__bindgen_anon_1.prog_cnt = QUERY_MAX as u32;
    // SAFETY: opts and ids live for the call; prog_cnt is ids' length.
    let ret = unsafe { bpfsys::bpf_prog_query_opts(target, attach_type, &mut opts) };
    if ret < 0 {
        return Err(SyscallError {
            call: "BPF_PROG_QUERY",
            source: std::io::Error::from_raw_os_error(-ret),
        });
    }
    // SAFETY: both union fields are the same u32, set by the kernel.
    let n = unsafe { opts.__bindgen_anon_1.prog_cnt } as usize;
    Ok(ids[..n.min(QUERY_MAX)].to_vec())
}

/// Answers from tables, for tests.
#[derive(Debug, Clone, Default)]
pub struct FakeInventory {
    /// Existing cgroups and their ids.
    pub cgroups: BTreeMap<PathBuf, u64>,
    /// Attached programs per cgroup (for every hook).
    pub attached: BTreeMap<PathBuf, Vec<AttachedProg>>,
    /// Programs inherited from ancestors, per cgroup: `effective` lists
    /// these after the attached ones.
    pub inherited: BTreeMap<PathBuf, Vec<AttachedProg>>,
}

impl Inventory for FakeInventory {
    fn cgroup_id(&self, cgroup: &Path) -> Option<u64> {
        self.cgroups.get(cgroup).copied()
    }

    fn attached(&self, cgroup: &Path, _hook: Hook) -> AdapterResult<Vec<AttachedProg>> {
        if !self.cgroups.contains_key(cgroup) {
            return Err(AdapterError::io(
                cgroup,
                std::io::Error::from_raw_os_error(libc::ENOENT),
            ));
        }
        Ok(self.attached.get(cgroup).cloned().unwrap_or_default())
    }

    fn effective(&self, cgroup: &Path, hook: Hook) -> AdapterResult<Vec<AttachedProg>> {
        let mut all = self.attached(cgroup, hook)?;
        all.extend(self.inherited.get(cgroup).cloned().unwrap_or_default());
        Ok(all)
    }

    fn descendants(&self, cgroup: &Path) -> Vec<PathBuf> {
        self.cgroups
            .keys()
            .filter(|c| c.starts_with(cgroup) && c.as_path() != cgroup)
            .cloned()
            .collect()
    }
}
