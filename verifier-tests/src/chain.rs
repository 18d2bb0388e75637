//! A test chain on one cgroup: a bpffs pin directory holding the shared
//! `accord_chain`, the test-only `mini_dispatcher` (tail-calls slot 0), and
//! members loaded from embedded objects per the chain ABI (ARCHITECTURE.md).

use std::io;
use std::path::{Path, PathBuf};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, PerCpuArray, ProgramArray};
use aya::programs::{CgroupAttachMode, Program, SockOps};
use aya::{Ebpf, EbpfLoader};

use crate::TestCgroup;

/// Where bpffs is mounted.
pub const BPFFS: &str = "/sys/fs/bpf";

pub(crate) fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines().any(|l| {
                l.split_whitespace().nth(1) == Some(BPFFS)
                    && l.split_whitespace().nth(2) == Some("bpf")
            })
        })
        .unwrap_or(false)
}

/// A directory under bpffs, removed with everything pinned in it on drop.
#[derive(Debug)]
pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    pub fn create(tag: &str) -> io::Result<Self> {
        let path = Path::new(BPFFS).join(crate::unique_name(tag));
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        // bpffs has no recursive unlink of pinned objects in one call; unpin
        // each entry, then the directory.
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// The counters of `accord_stats`, summed over CPUs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccordStats {
    pub events: u64,
    pub writes: u64,
    pub errors: u64,
    /// Nanoseconds in the member (only with `ACCORD_TIMING` = 1).
    pub run_ns: u64,
}

// SAFETY: repr(C), four u64s, no padding: any bit pattern is valid.
unsafe impl aya::Pod for AccordStats {}

/// Loads every program of `object` into the kernel (maps pinned by name
/// under `pin_dir`, `ACCORD_SLOT` = `slot` when the object has it).
/// Returns the loaded object or the first rejection, whose `Display`
/// carries the verifier log.
pub fn load_object(object: &[u8], pin_dir: &Path, slot: u32) -> Result<Ebpf, String> {
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pin_dir)
        .override_global("ACCORD_SLOT", &slot, false)
        .load(object)
        .map_err(|e| format!("object rejected: {e}"))?;
    let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
    for name in names {
        let prog = ebpf.program_mut(&name).expect("listed program");
        let loaded = match prog {
            Program::SockOps(p) => p.load(),
            Program::Xdp(p) => p.load(),
            Program::SchedClassifier(p) => p.load(),
            other => {
                return Err(format!(
                    "program {name}: unexpected program type {:?}",
                    other.prog_type()
                ))
            }
        };
        loaded.map_err(|e| format!("program {name} rejected by the verifier: {e}"))?;
    }
    Ok(ebpf)
}

/// A sock_ops chain: the mini dispatcher plus members in slots 0, 1, ...
/// Drop detaches everything and removes the pin directory.
pub struct TestChain {
    // Field order is drop order: programs and links go before the pins.
    members: Vec<Ebpf>,
    dispatcher: Ebpf,
    pins: PinDir,
}

impl TestChain {
    /// Loads `mini_dispatcher`, which creates `accord_chain` and pins it in a
    /// fresh pin directory.
    pub fn new(tag: &str) -> Result<Self, String> {
        let pins = PinDir::create(tag).map_err(|e| format!("pin dir: {e}"))?;
        let object = runtime::objects::testing_object("mini_dispatcher")
            .ok_or("no mini_dispatcher object")?;
        let dispatcher = load_object(object, pins.path(), 0)?;
        Ok(Self {
            members: Vec::new(),
            dispatcher,
            pins,
        })
    }

    pub fn pin_dir(&self) -> &Path {
        self.pins.path()
    }

    /// Loads a member into the next slot (slot = number of members so far)
    /// and puts its sock_ops program in the chain. Returns the member's index,
    /// which is also its slot when only this method adds members.
    pub fn add_member(&mut self, object: &[u8]) -> Result<usize, String> {
        let slot = self.members.len() as u32;
        self.add_member_at(object, slot)
    }

    /// Loads a member with `ACCORD_SLOT` = `slot` and sets chain slot `slot`
    /// (slots may be left empty on purpose). Returns the member's index.
    pub fn add_member_at(&mut self, object: &[u8], slot: u32) -> Result<usize, String> {
        self.add_member_with_slot(object, slot, slot)
    }

    /// Loads a member with `ACCORD_SLOT` = `accord_slot` and puts it in chain
    /// slot `chain_slot` (they differ only in tests of the chain's ends).
    /// Returns the member's index.
    pub fn add_member_with_slot(
        &mut self,
        object: &[u8],
        accord_slot: u32,
        chain_slot: u32,
    ) -> Result<usize, String> {
        let ebpf = load_object(object, self.pins.path(), accord_slot)?;
        let fd = {
            let (_, prog) = ebpf.programs().next().ok_or("member has no program")?;
            let prog: &SockOps = prog
                .try_into()
                .map_err(|e| format!("member is not sock_ops: {e}"))?;
            prog.fd()
                .map_err(|e| format!("member fd: {e}"))?
                .try_clone()
                .map_err(|e| format!("dup fd: {e}"))?
        };
        let mut chain: ProgramArray<_> = self
            .dispatcher
            .map_mut("accord_chain")
            .ok_or("dispatcher has no accord_chain")?
            .try_into()
            .map_err(|e| format!("accord_chain: {e}"))?;
        chain
            .set(chain_slot, &fd, 0)
            .map_err(|e| format!("set slot {chain_slot}: {e}"))?;
        self.members.push(ebpf);
        Ok(self.members.len() - 1)
    }

    /// The loaded member with index `idx` (in order of adding).
    pub fn member(&mut self, idx: usize) -> &mut Ebpf {
        &mut self.members[idx]
    }

    /// Writes `accord_config` key 0 of member `idx`: one u64 per scalar
    /// param in spec order (the layout rule).
    pub fn set_config(&mut self, idx: usize, values: &[u64]) -> Result<(), String> {
        let map = self.members[idx]
            .map_mut("accord_config")
            .ok_or("member has no accord_config")?;
        macro_rules! write_n {
            ($($n:literal)*) => {
                match values.len() {
                    $($n => {
                        let mut arr: Array<_, [u64; $n]> = map.try_into().map_err(|e| format!("accord_config: {e}"))?;
                        let v: [u64; $n] = values.try_into().expect("length checked");
                        arr.set(0, v, 0).map_err(|e| format!("accord_config: {e}"))
                    })*
                    n => Err(format!("{n} config values not supported by the test helper")),
                }
            };
        }
        write_n!(1 2 3 4)
    }

    /// Adds `a.b.c.d/len` to member `idx`'s `accord_set_<param>` LPM trie,
    /// IPv4-mapped (`::ffff:a.b.c.d`, prefixlen 96 + len) per the ABI.
    pub fn add_prefix(
        &mut self,
        idx: usize,
        param: &str,
        addr: [u8; 4],
        len: u32,
    ) -> Result<(), String> {
        let name = format!("accord_set_{param}");
        let map = self.members[idx]
            .map_mut(&name)
            .ok_or_else(|| format!("member has no {name}"))?;
        let mut trie: LpmTrie<_, [u8; 16], u8> =
            map.try_into().map_err(|e| format!("{name}: {e}"))?;
        let mut key = [0u8; 16];
        key[10] = 0xff;
        key[11] = 0xff;
        key[12..].copy_from_slice(&addr);
        trie.insert(&Key::new(96 + len, key), 1, 0)
            .map_err(|e| format!("{name}: {e}"))
    }

    /// Adds the IPv6 prefix `addr/len` to member `idx`'s `accord_set_<param>`
    /// LPM trie (a cidr6_set or cidr_set entry; `::ffff:a.b.c.d/(96+n)` is
    /// the IPv4 prefix a.b.c.d/n, as [`TestChain::add_prefix`] stores it).
    pub fn add_prefix6(
        &mut self,
        idx: usize,
        param: &str,
        addr: std::net::Ipv6Addr,
        len: u32,
    ) -> Result<(), String> {
        let name = format!("accord_set_{param}");
        let map = self.members[idx]
            .map_mut(&name)
            .ok_or_else(|| format!("member has no {name}"))?;
        let mut trie: LpmTrie<_, [u8; 16], u8> =
            map.try_into().map_err(|e| format!("{name}: {e}"))?;
        trie.insert(&Key::new(len, addr.octets()), 1, 0)
            .map_err(|e| format!("{name}: {e}"))
    }

    /// Member `idx`'s `accord_stats`, summed over CPUs.
    pub fn stats(&mut self, idx: usize) -> Result<AccordStats, String> {
        let map = self.members[idx]
            .map_mut("accord_stats")
            .ok_or("member has no accord_stats")?;
        let arr: PerCpuArray<_, AccordStats> =
            map.try_into().map_err(|e| format!("accord_stats: {e}"))?;
        let per_cpu = arr.get(&0, 0).map_err(|e| format!("accord_stats: {e}"))?;
        Ok(per_cpu
            .iter()
            .fold(AccordStats::default(), |acc, s| AccordStats {
                events: acc.events + s.events,
                writes: acc.writes + s.writes,
                errors: acc.errors + s.errors,
                run_ns: acc.run_ns + s.run_ns,
            }))
    }

    /// Attaches the dispatcher to `cgroup` as its sock_ops program (a BPF
    /// link, detached when the chain is dropped).
    pub fn attach(&mut self, cgroup: &TestCgroup) -> Result<(), String> {
        let file = cgroup.open().map_err(|e| format!("open cgroup: {e}"))?;
        let prog: &mut SockOps = self
            .dispatcher
            .program_mut("mini_dispatcher")
            .ok_or("no mini_dispatcher program")?
            .try_into()
            .map_err(|e| format!("{e}"))?;
        prog.attach(file, CgroupAttachMode::Single)
            .map_err(|e| format!("attach: {e}"))?;
        Ok(())
    }
}
