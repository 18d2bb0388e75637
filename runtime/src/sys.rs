//! The raw kernel calls aya does not offer: each function here is one
//! `bpf(2)` command, issued through libbpf's low-level `bpf.h` wrappers
//! (`libbpf-sys`), which zero the whole `bpf_attr` (padding included) before
//! filling the fields they are given.
//!
//! Audit notes, for every function: option structs are built from
//! `Default` (all zero) with `sz` set to their own size, pointers passed to
//! the kernel point at live locals for the duration of the call, and every
//! returned fd is wrapped in an `OwnedFd` at once. Only the BPF adapter
//! (`adapter::real`) calls this module.

use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libbpf_sys as sys;
use thiserror::Error;

/// A failed `bpf(2)` command, with the command's name.
#[derive(Debug, Error)]
#[error("{call} failed: {source}")]
pub struct SyscallError {
    pub call: &'static str,
    #[source]
    pub source: io::Error,
}

pub type SysResult<T> = Result<T, SyscallError>;

/// libbpf returns `-errno` (and sets errno) on failure.
fn check(call: &'static str, ret: i32) -> SysResult<i32> {
    if ret < 0 {
        Err(SyscallError {
            call,
            source: io::Error::from_raw_os_error(-ret),
        })
    } else {
        Ok(ret)
    }
}

fn owned(call: &'static str, ret: i32) -> SysResult<OwnedFd> {
    let fd = check(call, ret)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_path(call: &'static str, path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SyscallError {
        call,
        source: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
    })
}

fn c_name(name: &str) -> CString {
    // Object names are at most 15 bytes plus NUL; longer ones are cut.
    let cut: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(15)
        .collect();
    CString::new(cut).expect("filtered to alphanumerics")
}

/// `BPF_MAP_CREATE`.
pub fn map_create(
    map_type: u32,
    name: &str,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> SysResult<OwnedFd> {
    let name = c_name(name);
    let opts = sys::bpf_map_create_opts {
        sz: std::mem::size_of::<sys::bpf_map_create_opts>() as _,
        map_flags,
        ..Default::default()
    };
    // SAFETY: name and opts outlive the call.
    let ret = unsafe {
        sys::bpf_map_create(
            map_type,
            name.as_ptr(),
            key_size,
            value_size,
            max_entries,
            &opts,
        )
    };
    owned("BPF_MAP_CREATE", ret)
}

/// `BPF_MAP_CREATE` of a `BPF_MAP_TYPE_SK_STORAGE` map (`int` key, `u64`
/// value, per socket). The kernel wants BTF for the key and value types of
/// local storage, so a two-type BTF object is loaded for it first (the map
/// keeps its own reference; ours is dropped).
pub fn sk_storage_create(name: &str) -> SysResult<OwnedFd> {
    const BPF_MAP_TYPE_SK_STORAGE: u32 = 24;
    let fail = |call: &'static str, ret: i32| SyscallError {
        call,
        source: io::Error::from_raw_os_error(if ret < 0 { -ret } else { libc::EINVAL }),
    };
    // SAFETY: btf is checked for NULL, used only while alive, freed once;
    // the type names are NUL-terminated literals.
    unsafe {
        let btf = sys::btf__new_empty();
        if btf.is_null() {
            return Err(fail("btf__new_empty", -libc::ENOMEM));
        }
        let int_id = sys::btf__add_int(btf, c"int".as_ptr(), 4, sys::BTF_INT_SIGNED as i32);
        let u64_id = sys::btf__add_int(btf, c"unsigned long long".as_ptr(), 8, 0);
        if int_id <= 0 || u64_id <= 0 {
            sys::btf__free(btf);
            return Err(fail("btf__add_int", int_id.min(u64_id)));
        }
        let ret = sys::btf__load_into_kernel(btf);
        if ret < 0 {
            sys::btf__free(btf);
            return Err(fail("BPF_BTF_LOAD", ret));
        }
        let name = c_name(name);
        let opts = sys::bpf_map_create_opts {
            sz: std::mem::size_of::<sys::bpf_map_create_opts>() as _,
            btf_fd: sys::btf__fd(btf) as u32,
            btf_key_type_id: int_id as u32,
            btf_value_type_id: u64_id as u32,
            map_flags: sys::BPF_F_NO_PREALLOC,
            ..Default::default()
        };
        let ret = sys::bpf_map_create(BPF_MAP_TYPE_SK_STORAGE, name.as_ptr(), 4, 8, 0, &opts);
        sys::btf__free(btf);
        owned("BPF_MAP_CREATE", ret)
    }
}

/// A program the verifier refused, with its log.
#[derive(Debug, Error)]
#[error("BPF_PROG_LOAD failed: {source}")]
pub struct ProgLoadError {
    #[source]
    pub source: io::Error,
    pub verifier_log: String,
}

/// `BPF_PROG_LOAD` of raw instructions (little-endian `struct bpf_insn` bytes).
/// Loads without a log first (a log too small for a long but valid
/// verification would fail the load with `ENOSPC`); on failure loads again
/// with `log_level 1` to return the verifier's reasons, as libbpf does.
pub fn prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    name: &str,
    insns: &[u8],
) -> Result<OwnedFd, ProgLoadError> {
    match prog_load_with_log(prog_type, expected_attach_type, name, insns, None) {
        Ok(fd) => Ok(fd),
        Err(_) => {
            let mut log = vec![0u8; 1 << 20];
            let err = match prog_load_with_log(
                prog_type,
                expected_attach_type,
                name,
                insns,
                Some(&mut log),
            ) {
                // Loaded the second time (a transient failure): keep it.
                Ok(fd) => return Ok(fd),
                Err(e) => e,
            };
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err(ProgLoadError {
                source: err,
                verifier_log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

fn prog_load_with_log(
    prog_type: u32,
    expected_attach_type: u32,
    name: &str,
    insns: &[u8],
    log: Option<&mut [u8]>,
) -> Result<OwnedFd, io::Error> {
    assert_eq!(insns.len() % 8, 0, "instructions are 8 bytes each");
    let name = c_name(name);
    let license = CString::new("GPL").expect("no NUL");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr().cast()),
        None => (0, 0, std::ptr::null_mut()),
    };
    let mut opts = sys::bpf_prog_load_opts {
        sz: std::mem::size_of::<sys::bpf_prog_load_opts>() as _,
        expected_attach_type,
        log_level,
        log_size,
        log_buf,
        ..Default::default()
    };
    // SAFETY: insns, name, license, the log buffer and opts outlive the
    // call; insn_cnt matches the buffer, log_size the log buffer.
    let ret = unsafe {
        sys::bpf_prog_load(
            prog_type,
            name.as_ptr(),
            license.as_ptr(),
            insns.as_ptr().cast(),
            (insns.len() / 8) as _,
            &mut opts,
        )
    };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    // SAFETY: a fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// `BPF_MAP_UPDATE_ELEM`.
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
    // SAFETY: key/value buffers live for the call; the map's sizes were
    // checked by the caller (the kernel reads exactly key_size/value_size).
    let ret = unsafe {
        sys::bpf_map_update_elem(
            map.as_raw_fd(),
            key.as_ptr().cast(),
            value.as_ptr().cast(),
            flags,
        )
    };
    check("BPF_MAP_UPDATE_ELEM", ret).map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM`; `Ok(false)` when the key is absent.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> SysResult<bool> {
    // SAFETY: as for `map_update`; value is value_size bytes long.
    let ret = unsafe {
        sys::bpf_map_lookup_elem(
            map.as_raw_fd(),
            key.as_ptr().cast(),
            value.as_mut_ptr().cast(),
        )
    };
    match check("BPF_MAP_LOOKUP_ELEM", ret) {
        Ok(_) => Ok(true),
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_DELETE_ELEM`; a missing key is not an error.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> SysResult<()> {
    // SAFETY: key lives for the call.
    let ret = unsafe { sys::bpf_map_delete_elem(map.as_raw_fd(), key.as_ptr().cast()) };
    match check("BPF_MAP_DELETE_ELEM", ret) {
        Err(e) if e.source.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`; `None` at the end.
pub fn map_next_key(map: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8]) -> SysResult<bool> {
    let key_ptr: *const c_void = key.map_or(std::ptr::null(), |k| k.as_ptr().cast());
    // SAFETY: key (or NULL for the first key) and next live for the call.
    let ret =
        unsafe { sys::bpf_map_get_next_key(map.as_raw_fd(), key_ptr, next.as_mut_ptr().cast()) };
    match check("BPF_MAP_GET_NEXT_KEY", ret) {
        Ok(_) => Ok(true),
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_OBJ_PIN`.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> SysResult<()> {
    let path = c_path("BPF_OBJ_PIN", path)?;
    // SAFETY: path lives for the call.
    check("BPF_OBJ_PIN", unsafe {
        sys::bpf_obj_pin(fd.as_raw_fd(), path.as_ptr())
    })
    .map(drop)
}

/// `BPF_OBJ_GET`.
pub fn obj_get(path: &Path) -> SysResult<OwnedFd> {
    let path = c_path("BPF_OBJ_GET", path)?;
    // SAFETY: path lives for the call.
    owned("BPF_OBJ_GET", unsafe { sys::bpf_obj_get(path.as_ptr()) })
}

/// `BPF_LINK_CREATE` with no options (a cgroup link: `target` is the cgroup dir fd).
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> SysResult<OwnedFd> {
    // SAFETY: a NULL opts pointer means "no options" to libbpf.
    let ret = unsafe {
        sys::bpf_link_create(
            prog.as_raw_fd(),
            target.as_raw_fd(),
            attach_type,
            std::ptr::null(),
        )
    };
    owned("BPF_LINK_CREATE", ret)
}

/// `BPF_F_BEFORE` / `BPF_F_AFTER`: the kernel's own ordering of programs on
/// one hook (mprog), for cgroups in recent kernels.
pub const BPF_F_BEFORE: u32 = 1 << 3;
pub const BPF_F_AFTER: u32 = 1 << 4;

/// `BPF_LINK_CREATE` of a cgroup link with ordering `flags` (`BPF_F_BEFORE`
/// or `BPF_F_AFTER`): relative to the program of the link `relative`
/// (`BPF_F_LINK`), or before/after every program without one. Used by the
/// feature probe and its test; accord's chains never depend on it.
pub fn link_create_ordered(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    relative: Option<BorrowedFd<'_>>,
) -> SysResult<OwnedFd> {
    let mut opts = sys::bpf_link_create_opts {
        sz: std::mem::size_of::<sys::bpf_link_create_opts>() as _,
        flags: flags
            | if relative.is_some() {
                sys::BPF_F_LINK
            } else {
                0
            },
        ..Default::default()
    };
    opts.__bindgen_anon_1.cgroup.relative_fd = relative.map_or(0, |fd| fd.as_raw_fd() as u32);
    // SAFETY: opts lives for the call; it holds no pointers.
    let ret =
        unsafe { sys::bpf_link_create(prog.as_raw_fd(), target.as_raw_fd(), attach_type, &opts) };
    owned("BPF_LINK_CREATE", ret)
}

/// `BPF_MAP_CREATE` of a `BPF_MAP_TYPE_STRUCT_OPS` map for the kernel type
/// `value_type` (`bpf_struct_ops_tcp_congestion_ops`, looked up in the
/// kernel's BTF), with `BPF_F_LINK` when `link`. Nothing is registered: the
/// map is only created (the feature probe's question is whether it can be).
pub fn struct_ops_map_create(value_type: &str, link: bool) -> SysResult<OwnedFd> {
    let fail = |call: &'static str, errno: i32| SyscallError {
        call,
        source: io::Error::from_raw_os_error(errno),
    };
    let c_type =
        CString::new(value_type).map_err(|_| fail("btf__find_by_name_kind", libc::EINVAL))?;
    // SAFETY: btf is checked for NULL, used only while alive and freed once;
    // c_type and opts outlive the calls.
    unsafe {
        let btf = sys::btf__load_vmlinux_btf();
        if btf.is_null() {
            return Err(fail("btf__load_vmlinux_btf", libc::ENOENT));
        }
        let id = sys::btf__find_by_name_kind(btf, c_type.as_ptr(), sys::BTF_KIND_STRUCT);
        let size = if id > 0 {
            sys::btf__resolve_size(btf, id as u32)
        } else {
            -1
        };
        sys::btf__free(btf);
        if id <= 0 || size <= 0 {
            return Err(fail("btf__find_by_name_kind", libc::ENOENT));
        }
        // The kernel wants a BTF object with the map (as it would have the
        // loaded program's): a one-type BTF, released after the call.
        let own = sys::btf__new_empty();
        if own.is_null() {
            return Err(fail("btf__new_empty", libc::ENOMEM));
        }
        let loaded = sys::btf__add_int(own, c"int".as_ptr(), 4, sys::BTF_INT_SIGNED as i32) > 0
            && sys::btf__load_into_kernel(own) == 0;
        if !loaded {
            sys::btf__free(own);
            return Err(fail("BPF_BTF_LOAD", libc::EINVAL));
        }
        let opts = sys::bpf_map_create_opts {
            sz: std::mem::size_of::<sys::bpf_map_create_opts>() as _,
            btf_fd: sys::btf__fd(own) as u32,
            btf_vmlinux_value_type_id: id as u32,
            map_flags: if link { sys::BPF_F_LINK } else { 0 },
            ..Default::default()
        };
        let name = c_name("accord_probe");
        let ret = sys::bpf_map_create(
            sys::BPF_MAP_TYPE_STRUCT_OPS,
            name.as_ptr(),
            4,
            size as u32,
            1,
            &opts,
        );
        sys::btf__free(own);
        owned("BPF_MAP_CREATE", ret)
    }
}

/// `BPF_LINK_UPDATE`; with `old_prog`, only if the link still runs that
/// program (`BPF_F_REPLACE`), so two updaters cannot overwrite each other.
pub fn link_update(
    link: BorrowedFd<'_>,
    new_prog: BorrowedFd<'_>,
    old_prog: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let opts = sys::bpf_link_update_opts {
        sz: std::mem::size_of::<sys::bpf_link_update_opts>() as _,
        flags: if old_prog.is_some() {
            sys::BPF_F_REPLACE
        } else {
            0
        },
        old_prog_fd: old_prog.map_or(0, |fd| fd.as_raw_fd() as u32),
        ..Default::default()
    };
    // SAFETY: opts lives for the call.
    let ret = unsafe { sys::bpf_link_update(link.as_raw_fd(), new_prog.as_raw_fd(), &opts) };
    check("BPF_LINK_UPDATE", ret).map(drop)
}

/// `BPF_PROG_ATTACH` (the kernel's own cgroup multi-attach when `flags`
/// holds `BPF_F_ALLOW_MULTI`); used by benchmarks to compare.
pub fn prog_attach(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> SysResult<()> {
    // SAFETY: plain integers.
    let ret =
        unsafe { sys::bpf_prog_attach(prog.as_raw_fd(), target.as_raw_fd(), attach_type, flags) };
    check("BPF_PROG_ATTACH", ret).map(drop)
}

/// `BPF_PROG_DETACH` of one program.
pub fn prog_detach(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> SysResult<()> {
    // SAFETY: plain integers.
    let ret = unsafe { sys::bpf_prog_detach2(prog.as_raw_fd(), target.as_raw_fd(), attach_type) };
    check("BPF_PROG_DETACH", ret).map(drop)
}

/// What `BPF_OBJ_GET_INFO_BY_FD` tells about a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    pub prog_type: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

fn c_chars(name: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program.
pub fn prog_info(prog: BorrowedFd<'_>) -> SysResult<ProgInfo> {
    let mut info = sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<sys::bpf_prog_info>() as u32;
    // SAFETY: info is len bytes, zeroed (no output arrays requested).
    let ret = unsafe { sys::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len) };
    check("BPF_OBJ_GET_INFO_BY_FD", ret)?;
    Ok(ProgInfo {
        id: info.id,
        prog_type: info.type_,
        name: c_chars(&info.name),
        run_cnt: info.run_cnt,
        run_time_ns: info.run_time_ns,
    })
}

/// What `BPF_OBJ_GET_INFO_BY_FD` tells about a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    pub id: u32,
    pub map_type: u32,
    pub name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map.
pub fn map_info(map: BorrowedFd<'_>) -> SysResult<MapInfo> {
    let mut info = sys::bpf_map_info::default();
    let mut len = std::mem::size_of::<sys::bpf_map_info>() as u32;
    // SAFETY: info is len bytes, zeroed.
    let ret = unsafe { sys::bpf_map_get_info_by_fd(map.as_raw_fd(), &mut info, &mut len) };
    check("BPF_OBJ_GET_INFO_BY_FD", ret)?;
    Ok(MapInfo {
        id: info.id,
        map_type: info.type_,
        name: c_chars(&info.name),
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
    })
}

/// Link id and the program it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    pub id: u32,
    pub prog_id: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a link.
pub fn link_info(link: BorrowedFd<'_>) -> SysResult<LinkInfo> {
    // SAFETY: bpf_link_info is plain data; all-zero is a valid value.
    let mut info: sys::bpf_link_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<sys::bpf_link_info>() as u32;
    // SAFETY: info is len bytes, zeroed.
    let ret = unsafe { sys::bpf_link_get_info_by_fd(link.as_raw_fd(), &mut info, &mut len) };
    check("BPF_OBJ_GET_INFO_BY_FD", ret)?;
    Ok(LinkInfo {
        id: info.id,
        prog_id: info.prog_id,
    })
}

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: run-time statistics stay on while
/// the returned fd is open.
pub fn enable_stats() -> SysResult<OwnedFd> {
    // SAFETY: plain integer.
    owned("BPF_ENABLE_STATS", unsafe {
        sys::bpf_enable_stats(sys::BPF_STATS_RUN_TIME)
    })
}

/// Which kind of object `next_id` walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Prog,
    Map,
    Link,
}

/// `BPF_{PROG,MAP,LINK}_GET_NEXT_ID`: every id of that kind the kernel holds.
pub fn all_ids(kind: ObjectKind) -> SysResult<Vec<u32>> {
    let mut ids = Vec::new();
    let mut id = 0u32;
    loop {
        let mut next = 0u32;
        // SAFETY: next is a live u32.
        let ret = unsafe {
            match kind {
                ObjectKind::Prog => sys::bpf_prog_get_next_id(id, &mut next),
                ObjectKind::Map => sys::bpf_map_get_next_id(id, &mut next),
                ObjectKind::Link => sys::bpf_link_get_next_id(id, &mut next),
            }
        };
        match check("BPF_GET_NEXT_ID", ret) {
            Ok(_) => {
                ids.push(next);
                id = next;
            }
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
            Err(e) => return Err(e),
        }
    }
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    // SAFETY: plain integer.
    owned("BPF_PROG_GET_FD_BY_ID", unsafe {
        sys::bpf_prog_get_fd_by_id(id)
    })
}

/// `BPF_MAP_GET_FD_BY_ID`.
pub fn map_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    // SAFETY: plain integer.
    owned("BPF_MAP_GET_FD_BY_ID", unsafe {
        sys::bpf_map_get_fd_by_id(id)
    })
}

/// The result of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun {
    pub retval: u32,
    /// Average nanoseconds per run, as the kernel measured it.
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN` with `data` as packet input, `repeat` times.
pub fn prog_test_run(prog: BorrowedFd<'_>, data: &[u8], repeat: u32) -> SysResult<TestRun> {
    let mut out = vec![0u8; data.len() + 256];
    let mut opts = sys::bpf_test_run_opts {
        sz: std::mem::size_of::<sys::bpf_test_run_opts>() as _,
        data_in: data.as_ptr().cast(),
        data_size_in: data.len() as u32,
        data_out: out.as_mut_ptr().cast(),
        data_size_out: out.len() as u32,
        repeat: repeat as i32,
        ..Default::default()
    };
    // SAFETY: data, out and opts live for the call; sizes match the buffers.
    let ret = unsafe { sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    check("BPF_PROG_TEST_RUN", ret)?;
    Ok(TestRun {
        retval: opts.retval,
        duration_ns: opts.duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_the_kernel_limit() {
        assert_eq!(
            c_name("accord_dispatcher_x").to_str().unwrap(),
            "accord_dispatch"
        );
        assert_eq!(c_name("a-b.c").to_str().unwrap(), "abc");
    }

    #[test]
    fn errors_name_the_call() {
        let err = check("BPF_OBJ_GET", -libc::ENOENT).unwrap_err();
        assert!(err.to_string().starts_with("BPF_OBJ_GET failed"));
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOENT));
    }
}
