//! The real BPF adapter: aya loads member objects (ELF parsing, relocations,
//! globals, the shared chain map by pin path); [`crate::sys`] does the rest.
//! bpffs pins are created and removed only here.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::programs::{ProgramError, SockOps, Xdp};
use aya::{EbpfLoader, VerifierLogLevel};
use dispatcher::{Dispatcher, Hook, CHAIN_MAP_NAME, DISPATCHER_PROG_NAME};

use super::{
    AdapterError, AdapterResult, BpfAdapter, ExpectedProg, KernelFeatures, MemberCounters,
    MemberLoad, ProgStats, SockoptOption, StatsSession,
};
use crate::plan::ConnMap;
use crate::sys;

/// `BPF_MAP_TYPE_PROG_ARRAY`.
const PROG_ARRAY: u32 = 3;
/// The kernel's tail-call limit: the dispatcher plus 32 members.
const CHAIN_SLOTS: u32 = 32;
/// `BPF_FS_MAGIC`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The adapter that talks to the running kernel.
#[derive(Debug, Default)]
pub struct RealAdapter {
    /// Where bpffs is expected (for probing); `/sys/fs/bpf` by default.
    pub bpffs: Option<PathBuf>,
    /// One loader for every member: `EbpfLoader::new` parses the kernel's
    /// BTF (megabytes) each time, which dominated apply latency.
    loader: Option<EbpfLoader<'static>>,
}

/// Load-time constants must outlive the reused loader: slots come from
/// this table, other values are leaked once (a handful per process).
static SMALL_VALUES: [u32; 33] = {
    let mut t = [0u32; 33];
    let mut i = 0;
    while i < 33 {
        t[i] = i as u32;
        i += 1;
    }
    t
};

fn static_u32(v: u32) -> &'static u32 {
    match SMALL_VALUES.get(v as usize) {
        Some(s) => s,
        None => Box::leak(Box::new(v)),
    }
}

/// Whether `path` is on a bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into a zeroed local struct; c lives for the call.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC
    }
}

fn get(path: &Path) -> AdapterResult<std::os::fd::OwnedFd> {
    sys::obj_get(path).map_err(|e| AdapterError::sys(format!("opening pin {}", path.display()), e))
}

fn load_error(what: &str, err: ProgramError) -> AdapterError {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => AdapterError::Verifier {
            what: what.to_owned(),
            log: verifier_log.to_string(),
            source: io_error,
        },
        other => AdapterError::Object {
            object: what.to_owned(),
            message: other.to_string(),
        },
    }
}

impl BpfAdapter for RealAdapter {
    fn probe(&self, options: &[SockoptOption]) -> KernelFeatures {
        let bpffs = self.bpffs.as_deref().unwrap_or(Path::new("/sys/fs/bpf"));
        super::probe::probe(bpffs, options)
    }

    fn make_dir(&mut self, path: &Path) -> AdapterResult<()> {
        fs::create_dir_all(path).map_err(|e| AdapterError::io(path, e))
    }

    fn remove_tree(&mut self, path: &Path) -> AdapterResult<()> {
        // Unlinking a pin drops bpffs's reference; the kernel frees the
        // object once nothing else holds it. remove_dir_all unlinks each pin.
        // A struct_ops registered through its map (kernels without
        // struct_ops links) is held by the kernel, not the pin: unregister
        // it first.
        for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
            if entry.file_type().is_file() {
                crate::struct_ops::release_pin(entry.path()).map_err(|e| AdapterError::Object {
                    object: entry.path().display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|e| AdapterError::io(path, e)),
        }
    }

    fn unpin(&mut self, path: &Path) -> AdapterResult<()> {
        crate::struct_ops::release_pin(path).map_err(|e| AdapterError::Object {
            object: path.display().to_string(),
            message: e.to_string(),
        })?;
        match fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|e| AdapterError::io(path, e)),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }

    fn list_dir(&self, path: &Path) -> AdapterResult<Vec<PathBuf>> {
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AdapterError::io(path, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            out.push(entry.map_err(|e| AdapterError::io(path, e))?.path());
        }
        out.sort();
        Ok(out)
    }

    fn create_chain_map(&mut self, pin: &Path) -> AdapterResult<u32> {
        let map = sys::map_create(PROG_ARRAY, CHAIN_MAP_NAME, 4, 4, CHAIN_SLOTS, 0)
            .map_err(|e| AdapterError::sys("creating the chain map", e))?;
        sys::obj_pin(map.as_fd(), pin)
            .map_err(|e| AdapterError::sys(format!("pinning {}", pin.display()), e))?;
        let info = sys::map_info(map.as_fd())
            .map_err(|e| AdapterError::sys("reading the chain map", e))?;
        Ok(info.id)
    }

    fn load_member(&mut self, req: &MemberLoad<'_>) -> AdapterResult<u32> {
        let what = format!("member {} ({})", req.member, req.object_name);
        let object_err = |message: String| AdapterError::Object {
            object: req.object_name.to_owned(),
            message,
        };
        let loader = self.loader.get_or_insert_with(|| {
            let mut l = EbpfLoader::new();
            l.verifier_log_level(VerifierLogLevel::DEBUG | VerifierLogLevel::STATS);
            l
        });
        // The loader is reused and keeps every override: reset the optional
        // timing switch so a previous timed load does not leak into this one.
        loader.override_global(dispatcher::TIMING_GLOBAL, static_u32(0), false);
        for (name, value) in req.globals {
            // ACCORD_SLOT is required by the ABI; ACCORD_TIMING is set only
            // when asked for, so an object without it is refused then.
            loader.override_global(
                name,
                static_u32(*value),
                *name == dispatcher::SLOT_GLOBAL || *name == dispatcher::TIMING_GLOBAL,
            );
        }
        loader.map_pin_path(CHAIN_MAP_NAME, req.chain_pin.to_path_buf());
        let mut ebpf = loader
            .load(req.object)
            .map_err(|e| object_err(e.to_string()))?;

        fs::create_dir_all(req.map_dir).map_err(|e| AdapterError::io(req.map_dir, e))?;
        for (name, map) in ebpf.maps() {
            if name.starts_with("accord_") && name != CHAIN_MAP_NAME {
                let pin = req.map_dir.join(name);
                map.pin(&pin).map_err(|e| {
                    object_err(format!("pinning map {name} at {}: {e}", pin.display()))
                })?;
            }
        }

        // Exactly the program the spec names (`runtime::resolve` checked the
        // object before anything was planned); never another one.
        if ebpf.program(req.program).is_none() {
            return Err(AdapterError::ProgramNotFound {
                object: req.object_name.to_owned(),
                program: req.program.to_owned(),
                available: ebpf.programs().map(|(n, _)| n.to_owned()).collect(),
            });
        }
        let name = req.program;
        let program = ebpf.program_mut(name).expect("checked above");
        let id = match req.hook {
            Hook::SockOps => {
                let p: &mut SockOps = program
                    .try_into()
                    .map_err(|e: ProgramError| object_err(e.to_string()))?;
                p.load().map_err(|e| load_error(&what, e))?;
                p.pin(req.prog_pin)
                    .map_err(|e| object_err(format!("pinning {}: {e}", req.prog_pin.display())))?;
                p.info().map_err(|e| object_err(e.to_string()))?.id()
            }
            Hook::Xdp => {
                let p: &mut Xdp = program
                    .try_into()
                    .map_err(|e: ProgramError| object_err(e.to_string()))?;
                p.load().map_err(|e| load_error(&what, e))?;
                p.pin(req.prog_pin)
                    .map_err(|e| object_err(format!("pinning {}: {e}", req.prog_pin.display())))?;
                p.info().map_err(|e| object_err(e.to_string()))?.id()
            }
        };
        Ok(id)
    }

    fn create_conn_map(&mut self, map: ConnMap, pin: &Path) -> AdapterResult<()> {
        const LRU_HASH: u32 = 9;
        let map = match map {
            ConnMap::Sockets => sys::sk_storage_create(dispatcher::CONN_MAP_NAME),
            ConnMap::Requests => sys::map_create(
                LRU_HASH,
                dispatcher::REQ_MAP_NAME,
                dispatcher::REQ_KEY_SIZE,
                8,
                dispatcher::REQ_MAP_ENTRIES,
                0,
            ),
        }
        .map_err(|e| AdapterError::sys("creating a connection stamp map", e))?;
        sys::obj_pin(map.as_fd(), pin)
            .map_err(|e| AdapterError::sys(format!("pinning {}", pin.display()), e))
    }

    fn load_dispatcher(
        &mut self,
        dispatcher: &Dispatcher,
        maps: &[(&'static str, PathBuf)],
        pin: &Path,
    ) -> AdapterResult<u32> {
        let mut fds = Vec::new();
        for (name, map_pin) in maps {
            fds.push((*name, get(map_pin)?));
        }
        let bytes = dispatcher
            .bytes_with_map_fds(|name| {
                fds.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, fd)| std::os::fd::AsRawFd::as_raw_fd(fd))
            })
            .map_err(|missing| AdapterError::Object {
                object: DISPATCHER_PROG_NAME.to_owned(),
                message: format!("no pin given for the dispatcher's map {missing}"),
            })?;
        let hook = dispatcher.hook;
        let prog = sys::prog_load(
            hook.prog_type(),
            hook.expected_attach_type(),
            DISPATCHER_PROG_NAME,
            &bytes,
        )
        .map_err(|e| AdapterError::Verifier {
            what: format!("the {} dispatcher", hook.name()),
            log: e.verifier_log,
            source: e.source,
        })?;
        sys::obj_pin(prog.as_fd(), pin)
            .map_err(|e| AdapterError::sys(format!("pinning {}", pin.display()), e))?;
        let info = sys::prog_info(prog.as_fd())
            .map_err(|e| AdapterError::sys("reading the dispatcher", e))?;
        Ok(info.id)
    }

    fn set_slot(&mut self, chain_pin: &Path, slot: u32, prog_pin: &Path) -> AdapterResult<()> {
        let chain = get(chain_pin)?;
        let prog = get(prog_pin)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&prog) as u32;
        sys::map_update(chain.as_fd(), &slot.to_ne_bytes(), &fd.to_ne_bytes(), 0).map_err(|e| {
            AdapterError::sys(format!("setting slot {slot} of {}", chain_pin.display()), e)
        })
    }

    fn write_config(&mut self, map_pin: &Path, value: &[u8]) -> AdapterResult<()> {
        let map = get(map_pin)?;
        let info =
            sys::map_info(map.as_fd()).map_err(|e| AdapterError::sys("reading a config map", e))?;
        if info.value_size as usize != value.len() || info.key_size != 4 {
            return Err(AdapterError::ConfigLayout {
                map: map_pin.to_owned(),
                expected: value.len(),
                actual: info.value_size as usize,
            });
        }
        sys::map_update(map.as_fd(), &0u32.to_ne_bytes(), value, 0)
            .map_err(|e| AdapterError::sys(format!("writing {}", map_pin.display()), e))
    }

    fn replace_set(&mut self, map_pin: &Path, keys: &[Vec<u8>]) -> AdapterResult<()> {
        let map = get(map_pin)?;
        let info =
            sys::map_info(map.as_fd()).map_err(|e| AdapterError::sys("reading a set map", e))?;
        let key_size = info.key_size as usize;
        if let Some(bad) = keys.iter().find(|k| k.len() != key_size) {
            return Err(AdapterError::ConfigLayout {
                map: map_pin.to_owned(),
                expected: bad.len(),
                actual: key_size,
            });
        }
        let what = |e| AdapterError::sys(format!("updating {}", map_pin.display()), e);
        // Collect the present keys first: deleting while walking restarts walks.
        let mut present = Vec::new();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let mut next = vec![0u8; key_size];
            if !sys::map_next_key(map.as_fd(), cursor.as_deref(), &mut next).map_err(what)? {
                break;
            }
            present.push(next.clone());
            cursor = Some(next);
        }
        let mut value = vec![0u8; info.value_size as usize];
        if let Some(first) = value.first_mut() {
            *first = 1;
        }
        for key in keys {
            sys::map_update(map.as_fd(), key, &value, 0).map_err(what)?;
        }
        for key in present.iter().filter(|k| !keys.contains(k)) {
            sys::map_delete(map.as_fd(), key).map_err(what)?;
        }
        Ok(())
    }

    fn create_link(
        &mut self,
        cgroup: &Path,
        hook: Hook,
        prog_pin: &Path,
        link_pin: &Path,
    ) -> AdapterResult<u32> {
        if hook != Hook::SockOps {
            return Err(AdapterError::Object {
                object: prog_pin.display().to_string(),
                message: format!("no cgroup link for hook {}", hook.name()),
            });
        }
        let cg = fs::File::open(cgroup).map_err(|e| AdapterError::io(cgroup, e))?;
        let prog = get(prog_pin)?;
        let link = sys::link_create(prog.as_fd(), cg.as_fd(), hook.expected_attach_type())
            .map_err(|e| AdapterError::sys(format!("attaching to {}", cgroup.display()), e))?;
        sys::obj_pin(link.as_fd(), link_pin)
            .map_err(|e| AdapterError::sys(format!("pinning {}", link_pin.display()), e))?;
        let info =
            sys::link_info(link.as_fd()).map_err(|e| AdapterError::sys("reading the link", e))?;
        Ok(info.id)
    }

    fn update_link(
        &mut self,
        link_pin: &Path,
        new_prog_pin: &Path,
        old: &ExpectedProg,
    ) -> AdapterResult<()> {
        let link = get(link_pin)?;
        let new = get(new_prog_pin)?;
        let old = match old {
            ExpectedProg::Pin(pin) => get(pin)?,
            ExpectedProg::Id(id) => sys::prog_fd_by_id(*id)
                .map_err(|e| AdapterError::sys(format!("opening program {id}"), e))?,
        };
        sys::link_update(link.as_fd(), new.as_fd(), Some(old.as_fd()))
            .map_err(|e| AdapterError::sys(format!("swapping {}", link_pin.display()), e))
    }

    fn link_prog_id(&self, link_pin: &Path) -> AdapterResult<Option<u32>> {
        if !self.exists(link_pin) {
            return Ok(None);
        }
        let link = get(link_pin)?;
        let info =
            sys::link_info(link.as_fd()).map_err(|e| AdapterError::sys("reading the link", e))?;
        Ok(Some(info.prog_id))
    }

    fn prog_stats(&self, prog_pin: &Path) -> AdapterResult<ProgStats> {
        let prog = get(prog_pin)?;
        let info = sys::prog_info(prog.as_fd())
            .map_err(|e| AdapterError::sys(format!("reading {}", prog_pin.display()), e))?;
        Ok(ProgStats {
            id: info.id,
            run_cnt: info.run_cnt,
            run_time_ns: info.run_time_ns,
        })
    }

    fn register_struct_ops(
        &mut self,
        name: &str,
        object: &[u8],
        pin_dir: &Path,
    ) -> AdapterResult<()> {
        fs::create_dir_all(pin_dir).map_err(|e| AdapterError::io(pin_dir, e))?;
        match crate::struct_ops::register(name, object, pin_dir) {
            Ok(_) => Ok(()),
            // Registered by someone else: the name is available, which is
            // all the chain needs.
            Err(e) if e.is_already_registered() => Ok(()),
            Err(e) => Err(AdapterError::Object {
                object: format!("{name} (struct_ops)"),
                message: e.to_string(),
            }),
        }
    }

    fn member_counters(&self, stats_pin: &Path) -> AdapterResult<Option<MemberCounters>> {
        if !self.exists(stats_pin) {
            return Ok(None);
        }
        let map = get(stats_pin)?;
        let what = |e| AdapterError::sys(format!("reading {}", stats_pin.display()), e);
        let info = sys::map_info(map.as_fd()).map_err(what)?;
        let cpus =
            aya::util::nr_cpus().map_err(|(path, e)| AdapterError::io(Path::new(path), e))?;
        // Per-CPU values come back one per possible CPU, each 8-byte aligned.
        // Read only the fields the value holds (older objects: no run_ns).
        let fields = info.value_size as usize / 8;
        let stride = (info.value_size as usize).div_ceil(8) * 8;
        let mut buf = vec![0u8; stride * cpus];
        if !sys::map_lookup(map.as_fd(), &0u32.to_ne_bytes(), &mut buf).map_err(what)? {
            return Ok(None);
        }
        let field = |cpu: usize, i: usize| {
            if i >= fields {
                return 0;
            }
            let at = cpu * stride + i * 8;
            buf.get(at..at + 8)
                .map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
        };
        let mut c = MemberCounters::default();
        for cpu in 0..cpus {
            c.events += field(cpu, 0);
            c.writes += field(cpu, 1);
            c.errors += field(cpu, 2);
            c.run_ns += field(cpu, 3);
        }
        Ok(Some(c))
    }

    fn enable_stats(&mut self) -> AdapterResult<StatsSession> {
        let fd =
            sys::enable_stats().map_err(|e| AdapterError::sys("enabling run-time stats", e))?;
        Ok(StatsSession::new(Some(fd)))
    }
}
