//! The BPF adapter: the one seam through which the runtime talks to the
//! kernel and to bpffs. Everything above it (plans, the executor, status,
//! gc) is written against [`BpfAdapter`] and tested with [`fake::FakeAdapter`];
//! [`real::RealAdapter`] is the only implementation that issues `bpf(2)`
//! (through aya for member objects and [`crate::sys`] for the rest).
//!
//! Objects are named by their pin paths: a plan says "load this member and
//! pin it here", "put the program pinned there into slot 3". The adapter
//! opens pins as it needs them, so no fd outlives one call.

pub mod events;
pub mod fake;
pub mod inventory;
pub mod probe;
pub mod real;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dispatcher::{Dispatcher, Hook};
use thiserror::Error;

use crate::sys::SyscallError;

/// Everything needed to load one chain member.
#[derive(Debug, Clone)]
pub struct MemberLoad<'a> {
    /// `feature/program`, for messages.
    pub member: String,
    /// The object file's name (`init_cwnd.bpf.o`), for messages.
    pub object_name: &'a str,
    pub object: &'a Arc<[u8]>,
    /// The program (ELF function) name inside the object.
    pub program: &'a str,
    pub hook: Hook,
    /// Load-time constants (`ACCORD_SLOT`, `ACCORD_DEBUG_SAMPLE`).
    pub globals: &'a [(&'static str, u32)],
    /// The generation's chain map, shared with the dispatcher.
    pub chain_pin: &'a Path,
    /// Where the program gets pinned.
    pub prog_pin: &'a Path,
    /// Where the member's own `accord_*` maps get pinned (one file per map).
    pub map_dir: &'a Path,
}

/// What the kernel reports about a loaded program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgStats {
    pub id: u32,
    /// Runs counted while `BPF_ENABLE_STATS` (or `kernel.bpf_stats_enabled`) was on.
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

/// A member's own counters (`accord_stats`, summed over CPUs). Kernel
/// run-time stats do not count tail-called programs, so these are the
/// per-member numbers; the dispatcher's stats cover the whole chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberCounters {
    pub events: u64,
    pub writes: u64,
    pub errors: u64,
    /// Nanoseconds spent in the member, measured by the member itself when
    /// loaded with `ACCORD_TIMING = 1`; 0 otherwise, and for objects built
    /// before the field existed (a 24-byte value).
    pub run_ns: u64,
}

pub use crate::kernel::{KernelFeatures, SockoptOption};

/// Keeps run-time statistics on while alive (the fd from `BPF_ENABLE_STATS`).
pub struct StatsSession {
    _guard: Option<std::os::fd::OwnedFd>,
}

impl StatsSession {
    pub fn new(guard: Option<std::os::fd::OwnedFd>) -> Self {
        StatsSession { _guard: guard }
    }
}

/// A failed kernel or bpffs operation, with what it was for.
#[derive(Debug, Error)]
pub enum AdapterError {
    #[error("{what}: {source}")]
    Syscall {
        what: String,
        #[source]
        source: SyscallError,
    },
    #[error("the verifier refused {what}: {source}\nverifier log:\n{log}")]
    Verifier {
        what: String,
        log: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot load object {object}: {message}")]
    Object { object: String, message: String },
    #[error("object {object} has no program `{program}` (it has: {})", available.join(", "))]
    ProgramNotFound {
        object: String,
        program: String,
        available: Vec<String>,
    },
    #[error("config map {} holds {actual}-byte values, the spec's params need {expected} (see the config layout rule in ARCHITECTURE.md)", map.display())]
    ConfigLayout {
        map: PathBuf,
        expected: usize,
        actual: usize,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("injected failure at {what}")]
    Injected { what: String },
}

impl AdapterError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        AdapterError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: SyscallError) -> Self {
        AdapterError::Syscall {
            what: what.into(),
            source,
        }
    }
}

pub type AdapterResult<T> = Result<T, AdapterError>;

/// The program a link must be running for an update to go through
/// (`BPF_F_REPLACE`): by its pin, or by its id for a program accord has no
/// pin of (a repair of a link whose generation was never recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedProg {
    Pin(PathBuf),
    Id(u32),
}

impl std::fmt::Display for ExpectedProg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedProg::Pin(p) => write!(f, "{}", p.display()),
            ExpectedProg::Id(id) => write!(f, "program {id}"),
        }
    }
}

/// Every kernel and bpffs operation the runtime performs.
pub trait BpfAdapter {
    /// What this kernel offers; `options` are the `bpf_setsockopt`
    /// options to try (a hook catalog's, see [`SockoptOption::of_catalog`]).
    fn probe(&self, options: &[SockoptOption]) -> KernelFeatures;

    /// Creates a directory in bpffs (and its parents).
    fn make_dir(&mut self, path: &Path) -> AdapterResult<()>;
    /// Unpins everything under `path` and removes it; a missing path is fine.
    fn remove_tree(&mut self, path: &Path) -> AdapterResult<()>;
    /// Unpins one object; a missing pin is fine.
    fn unpin(&mut self, path: &Path) -> AdapterResult<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Entries of a bpffs directory, sorted; empty when it does not exist.
    fn list_dir(&self, path: &Path) -> AdapterResult<Vec<PathBuf>>;

    /// Creates a chain (`BPF_MAP_TYPE_PROG_ARRAY`, 32 slots) and pins it.
    fn create_chain_map(&mut self, pin: &Path) -> AdapterResult<u32>;
    /// Loads a member with its globals, sharing the chain map; pins the
    /// program and its `accord_*` maps. Returns the program id.
    fn load_member(&mut self, req: &MemberLoad<'_>) -> AdapterResult<u32>;
    /// Creates one of a hookpoint's connection stamp maps and pins it.
    fn create_conn_map(&mut self, map: crate::plan::ConnMap, pin: &Path) -> AdapterResult<()>;
    /// Loads a generated dispatcher against its maps (pins by ABI name)
    /// and pins it.
    fn load_dispatcher(
        &mut self,
        dispatcher: &Dispatcher,
        maps: &[(&'static str, PathBuf)],
        pin: &Path,
    ) -> AdapterResult<u32>;
    /// Puts the program pinned at `prog_pin` into `slot` of the chain.
    fn set_slot(&mut self, chain_pin: &Path, slot: u32, prog_pin: &Path) -> AdapterResult<()>;

    /// Writes key 0 of a pinned `accord_config` array; the value size must match.
    fn write_config(&mut self, map_pin: &Path, value: &[u8]) -> AdapterResult<()>;
    /// Makes a pinned set map hold exactly `keys` (value 1 each).
    fn replace_set(&mut self, map_pin: &Path, keys: &[Vec<u8>]) -> AdapterResult<()>;

    /// Attaches the program to a cgroup through a BPF link and pins the link.
    fn create_link(
        &mut self,
        cgroup: &Path,
        hook: Hook,
        prog_pin: &Path,
        link_pin: &Path,
    ) -> AdapterResult<u32>;
    /// Points the pinned link at another program in one `BPF_LINK_UPDATE`,
    /// only if it still runs the `old` program (`BPF_F_REPLACE`). The link
    /// stays attached throughout: no event ever finds the hook empty.
    fn update_link(
        &mut self,
        link_pin: &Path,
        new_prog_pin: &Path,
        old: &ExpectedProg,
    ) -> AdapterResult<()>;
    /// The program id a pinned link runs; `None` when there is no such pin.
    fn link_prog_id(&self, link_pin: &Path) -> AdapterResult<Option<u32>>;

    /// Id and run statistics of a pinned program.
    fn prog_stats(&self, prog_pin: &Path) -> AdapterResult<ProgStats>;
    /// Registers the kernel struct_ops in `object` (e.g. a BPF congestion
    /// control) and pins their links in `pin_dir`; registered while pinned.
    fn register_struct_ops(
        &mut self,
        name: &str,
        object: &[u8],
        pin_dir: &Path,
    ) -> AdapterResult<()>;
    /// A member's `accord_stats` map, summed over CPUs; `None` without the pin.
    fn member_counters(&self, stats_pin: &Path) -> AdapterResult<Option<MemberCounters>>;
    /// Turns run-time statistics on until the session is dropped.
    fn enable_stats(&mut self) -> AdapterResult<StatsSession>;
}
