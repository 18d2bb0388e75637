//! Kernel feature probes: each is the smallest real use of the feature,
//! undone at once (a map created and closed, a program loaded and attached
//! to a private cgroup that is removed again, one loopback connection read
//! by an `iter/tcp` program). [`crate::kernel`] decides what accord does
//! with the answers; this module only asks the kernel.
//!
//! Nothing here is left behind: every fd is closed when the probe returns,
//! the probe cgroup (`<cgroup2>/accord-probe-<pid>`) is removed, and a
//! struct_ops map is created but never registered.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::maps::Array;
use aya::programs::Iter;
use aya::{Btf, EbpfLoader};

use crate::kernel::{KernelFeatures, SockoptOption, Support, PROBE_STRING, PROBE_VALUES};
use crate::sys;

/// `BPF_PROG_TYPE_SOCK_OPS`, `BPF_CGROUP_SOCK_OPS`.
const SOCK_OPS: (u32, u32) = (13, 3);
/// `BPF_MAP_TYPE_RINGBUF`.
const RINGBUF: u32 = 27;
/// The options one probe program run handles (`PROBE_MAX_OPTS` in the C).
const OPTS_PER_RUN: usize = 32;
/// `struct probe_opt` in ebpf/probe/setsockopt.bpf.c.
const PROBE_OPT_SIZE: usize = 48;

/// Probes everything [`KernelFeatures`] holds; `options` are the
/// `bpf_setsockopt` options to try (from a hook catalog).
pub fn probe(bpffs: &Path, options: &[SockoptOption]) -> KernelFeatures {
    let (cgroup_link, cgroup_mprog_ordering) = cgroup_links();
    let (iter_tcp, setsockopt) = setsockopt_options(options);
    KernelFeatures {
        release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into()),
        bpffs: super::real::is_bpffs(bpffs),
        run_time_stats: sys::enable_stats().is_ok(),
        stats_enabled_by_sysctl: fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
            .map(|s| s.trim() == "1")
            .unwrap_or(false),
        btf: Path::new("/sys/kernel/btf/vmlinux").is_file(),
        cgroup_link,
        cgroup_mprog_ordering,
        socket_storage: sys::sk_storage_create("accord_probe").is_ok(),
        ringbuf: sys::map_create(RINGBUF, "accord_probe", 0, 0, 4096, 0).is_ok(),
        iter_tcp,
        struct_ops: struct_ops_link_supported(false),
        struct_ops_link: struct_ops_link_supported(true),
        setsockopt,
    }
}

/// Whether a `tcp_congestion_ops` struct_ops map can be created (with
/// `BPF_F_LINK` when `link`: registration as a BPF link, Linux 6.4).
pub fn struct_ops_link_supported(link: bool) -> bool {
    sys::struct_ops_map_create("bpf_struct_ops_tcp_congestion_ops", link).is_ok()
}

/// The cgroup v2 mount, from `/proc/mounts`.
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_dev, dir, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == "cgroup2").then(|| PathBuf::from(dir))
    })
}

/// A cgroup made for one probe, removed on drop.
struct ProbeCgroup(PathBuf);

impl ProbeCgroup {
    fn create() -> Option<ProbeCgroup> {
        let path = cgroup2_mount()?.join(format!("accord-probe-{}", std::process::id()));
        match fs::create_dir(&path) {
            Ok(()) => Some(ProbeCgroup(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(ProbeCgroup(path)),
            Err(_) => None,
        }
    }
}

impl Drop for ProbeCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// (cgroup BPF links, the kernel's BEFORE/AFTER ordering of cgroup
/// programs): three `return 1` sock_ops programs linked to an empty private
/// cgroup, A and B plainly, then C with `BPF_F_BEFORE` B's link. Ordering
/// is there when the kernel runs them A, C, B (`BPF_PROG_QUERY` lists them
/// in run order). A version check would not do: Debian's 6.12 orders
/// (Linux 6.17 upstream), 6.1 refuses the flag. The links are closed at
/// once (unpinned, so closing detaches them).
fn cgroup_links() -> (bool, bool) {
    // r0 = 1; exit
    const RETURN_ONE: [u8; 16] = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let load = || sys::prog_load(SOCK_OPS.0, SOCK_OPS.1, "accord_probe", &RETURN_ONE).ok();
    let (Some(a), Some(b), Some(c)) = (load(), load(), load()) else {
        return (false, false);
    };
    let Some(cg) = ProbeCgroup::create() else {
        return (false, false);
    };
    let Ok(dir) = fs::File::open(&cg.0) else {
        return (false, false);
    };
    let link = |p: &std::os::fd::OwnedFd| sys::link_create(p.as_fd(), dir.as_fd(), SOCK_OPS.1);
    let (Ok(_a_link), Ok(b_link)) = (link(&a), link(&b)) else {
        return (false, false);
    };
    let placed = sys::link_create_ordered(
        c.as_fd(),
        dir.as_fd(),
        SOCK_OPS.1,
        sys::BPF_F_BEFORE,
        Some(b_link.as_fd()),
    );
    let Ok(_c_link) = placed else {
        return (true, false);
    };
    let id = |p: &std::os::fd::OwnedFd| sys::prog_info(p.as_fd()).map(|i| i.id).unwrap_or(0);
    let order = super::inventory::prog_query(std::os::fd::AsRawFd::as_raw_fd(&dir), SOCK_OPS.1, 0)
        .unwrap_or_default();
    (true, order == [id(&a), id(&c), id(&b)])
}

/// `struct probe_opt` for one option.
fn probe_opt(o: &SockoptOption) -> [u8; PROBE_OPT_SIZE] {
    let mut b = [0u8; PROBE_OPT_SIZE];
    let words: [u32; 8] = [
        o.level as u32,
        o.option as u32,
        u32::from(o.string),
        PROBE_VALUES.len() as u32,
        PROBE_VALUES[0],
        PROBE_VALUES[1],
        PROBE_VALUES[2],
        PROBE_VALUES[3],
    ];
    for (i, w) in words.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    b[32..32 + PROBE_STRING.len()].copy_from_slice(PROBE_STRING.as_bytes());
    b
}

/// `SOL_IPV6`: its options act on IPv6 sockets only.
const SOL_IPV6: i32 = 41;

/// (iter/tcp with `bpf_setsockopt` loads, each option's answer). Options
/// are tried on the accepted end of a loopback connection: IPv6-level ones
/// over `::1`, the rest over 127.0.0.1. Without iter/tcp (or without a
/// loopback of that family) an option stays [`Support::Unknown`].
fn setsockopt_options(options: &[SockoptOption]) -> (bool, BTreeMap<String, Support>) {
    let mut answers: BTreeMap<String, Support> = options
        .iter()
        .map(|o| (o.name.clone(), Support::Unknown))
        .collect();
    let Some(object) = crate::objects::probe_object("setsockopt") else {
        return (false, answers);
    };
    let Ok(btf) = Btf::from_sys_fs() else {
        return (false, answers);
    };
    let (v6, v4): (Vec<SockoptOption>, Vec<SockoptOption>) =
        options.iter().cloned().partition(|o| o.level == SOL_IPV6);
    let mut loaded = None;
    for (addr, group) in [
        (IpAddr::from(Ipv4Addr::LOCALHOST), v4),
        (IpAddr::from(Ipv6Addr::LOCALHOST), v6),
    ] {
        // One run even without options: whether iter/tcp loads at all.
        if group.is_empty() && (loaded.is_some() || addr.is_ipv6()) {
            continue;
        }
        let Ok(listener) = TcpListener::bind((addr, 0)) else {
            continue;
        };
        let Ok(local) = listener.local_addr() else {
            continue;
        };
        let chunks: Vec<&[SockoptOption]> = if group.is_empty() {
            vec![&[]]
        } else {
            group.chunks(OPTS_PER_RUN).collect()
        };
        for chunk in chunks {
            let Ok(client) = TcpStream::connect(local) else {
                break;
            };
            let Ok((server, _)) = listener.accept() else {
                break;
            };
            match run_iterator(object, &btf, u32::from(local.port()), chunk) {
                Ok(results) => {
                    loaded = Some(true);
                    for (index, ret) in results {
                        if let Some(o) = chunk.get(index as usize) {
                            let answer = if ret == 0 { Support::Yes } else { Support::No };
                            answers.insert(o.name.clone(), answer);
                        }
                    }
                }
                Err(Stage::Load) => return (false, answers),
                Err(Stage::Run) => {}
            }
            drop((client, server));
        }
    }
    (loaded.unwrap_or(false), answers)
}

/// Where a probe iterator run stopped.
enum Stage {
    /// The program did not load: no iter/tcp (or no setsockopt in it).
    Load,
    /// Loaded, but attaching or reading failed.
    Run,
}

/// Loads the probe iterator for `options`, reads it once, and returns
/// (option index, bpf_setsockopt's last return) per option.
fn run_iterator(
    object: &[u8],
    btf: &Btf,
    port: u32,
    options: &[SockoptOption],
) -> Result<Vec<(u32, i32)>, Stage> {
    let count = options.len() as u32;
    let mut loader = EbpfLoader::new();
    loader.btf(Some(btf));
    loader.override_global("PROBE_PORT", &port, true);
    loader.override_global("PROBE_COUNT", &count, true);
    let mut ebpf = loader.load(object).map_err(|_| Stage::Load)?;
    {
        let map = ebpf.map_mut("probe_opts").ok_or(Stage::Load)?;
        let mut opts: Array<_, [u8; PROBE_OPT_SIZE]> =
            Array::try_from(map).map_err(|_| Stage::Load)?;
        for (i, o) in options.iter().enumerate() {
            opts.set(i as u32, probe_opt(o), 0)
                .map_err(|_| Stage::Run)?;
        }
    }
    let prog: &mut Iter = ebpf
        .program_mut("accord_probe_setsockopt")
        .ok_or(Stage::Load)?
        .try_into()
        .map_err(|_| Stage::Load)?;
    prog.load("tcp", btf).map_err(|_| Stage::Load)?;
    let id = prog.attach().map_err(|_| Stage::Run)?;
    let link = prog.take_link(id).map_err(|_| Stage::Run)?;
    let mut file = link.into_file().map_err(|_| Stage::Run)?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(|_| Stage::Run)?;
    Ok(out
        .chunks_exact(8)
        .map(|r| {
            (
                u32::from_ne_bytes(r[0..4].try_into().expect("4 bytes")),
                i32::from_ne_bytes(r[4..8].try_into().expect("4 bytes")),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_opt_matches_the_c_layout() {
        let o = SockoptOption {
            name: "TCP_CONGESTION".into(),
            level: 6,
            option: 13,
            string: true,
        };
        let b = probe_opt(&o);
        let word = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!((word(0), word(1), word(2), word(3)), (6, 13, 1, 4));
        assert_eq!(word(4), PROBE_VALUES[0]);
        assert_eq!(&b[32..36], b"reno");
        assert!(b[36..].iter().all(|c| *c == 0), "NUL-padded");
    }

    #[test]
    fn the_probe_object_is_embedded_with_its_program() {
        let object = crate::objects::probe_object("setsockopt").expect("built by build.rs");
        let text = String::from_utf8_lossy(object);
        assert!(text.contains("accord_probe_setsockopt"));
        assert!(text.contains("probe_opts"));
    }
}
