//! Chain cost and apply latency, side by side in one run (as root):
//!
//!     cargo bench -p runtime --bench chain_cost
//!
//! 1. Per-event cost of a chain of N = 1, 4, 8, 16, 32 members (accord's
//!    generated dispatcher + tail calls) against the same work in one
//!    monolithic program and against the kernel's own cgroup multi-attach
//!    (`BPF_F_ALLOW_MULTI`) of the same N programs: sock_ops run time per
//!    event from `BPF_ENABLE_STATS` on real loopback connections, and
//!    `BPF_PROG_TEST_RUN` for an XDP build of the same chain.
//!    Every member does the same work: one per-CPU array increment. The
//!    programs are generated as raw instructions here (no compiler needed).
//! 2. Apply latency for 8 members (embedded feature objects), cold (first
//!    apply) and swap (a new generation and one `BPF_LINK_UPDATE`).
//!
//! Prints a Markdown table for BENCHMARKS.md.

use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dispatcher::{ChainSpec, Hook, Insn};
use runtime::sys;

const SIZES: [usize; 5] = [1, 4, 8, 16, 32];
const CONNECTIONS: usize = 2000;
/// sock_ops cells are measured this many times; the table shows the best.
const ROWS_PER_CELL: usize = 3;
const TEST_RUN_REPEAT: u32 = 2_000_000;
const PERCPU_ARRAY: u32 = 6;
const PROG_ARRAY: u32 = 3;
const LRU_HASH: u32 = 9;
const BPF_F_ALLOW_MULTI: u32 = 2;
const HELPER_MAP_LOOKUP: i32 = 1;

fn ld_map(dst: u8, fd: &OwnedFd) -> [Insn; 2] {
    let mut ld = Insn::ld_map_fd(dst);
    ld[0].imm = fd.as_raw_fd();
    ld
}

/// `counts[key] += 1` on this CPU.
fn increment(out: &mut Vec<Insn>, counts: &OwnedFd, key: i32) {
    out.push(Insn::st_mem_w(10, -4, key));
    out.push(Insn::mov64_reg(2, 10));
    out.push(Insn::add64_imm(2, -4));
    out.extend(ld_map(1, counts));
    out.push(Insn::call(HELPER_MAP_LOOKUP));
    out.push(Insn::jeq_imm(0, 0, 3));
    out.push(Insn::ldx_dw(1, 0, 0));
    out.push(Insn::add64_imm(1, 1));
    out.push(Insn::stx_dw(0, 1, 0));
}

/// A chain member: its increment, then a tail call into slot + 1.
fn member(hook: Hook, slot: i32, counts: &OwnedFd, chain: &OwnedFd) -> Vec<Insn> {
    let mut p = vec![Insn::mov64_reg(6, 1)];
    increment(&mut p, counts, slot);
    p.push(Insn::mov64_reg(1, 6));
    p.extend(ld_map(2, chain));
    p.push(Insn::mov64_imm(3, slot + 1));
    p.push(Insn::call(12));
    p.push(Insn::mov64_imm(0, hook.default_verdict()));
    p.push(Insn::exit());
    p
}

/// A standalone program (for multi-attach): its increment, then the verdict.
fn standalone(hook: Hook, slot: i32, counts: &OwnedFd) -> Vec<Insn> {
    let mut p = Vec::new();
    increment(&mut p, counts, slot);
    p.push(Insn::mov64_imm(0, hook.default_verdict()));
    p.push(Insn::exit());
    p
}

/// The same work as a chain of `n`, in one program.
fn monolithic(hook: Hook, n: usize, counts: &OwnedFd) -> Vec<Insn> {
    let mut p = Vec::new();
    for k in 0..n {
        increment(&mut p, counts, k as i32);
    }
    p.push(Insn::mov64_imm(0, hook.default_verdict()));
    p.push(Insn::exit());
    p
}

fn load(hook: Hook, name: &str, insns: &[Insn]) -> OwnedFd {
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    sys::prog_load(hook.prog_type(), hook.expected_attach_type(), name, &bytes)
        .unwrap_or_else(|e| panic!("loading {name}: {e}\n{}", e.verifier_log))
}

/// A chain of `n` members behind a generated dispatcher (with connection
/// stamps, as `accord apply` loads it for sock_ops, when `stamped`);
/// returns the dispatcher and everything that must stay open.
fn chain(hook: Hook, n: usize, stamped: bool) -> (OwnedFd, Vec<OwnedFd>) {
    let counts = sys::map_create(PERCPU_ARRAY, "bench_counts", 4, 8, 32, 0).unwrap();
    let chain = sys::map_create(PROG_ARRAY, "accord_chain", 4, 4, 32, 0).unwrap();
    let spec = ChainSpec {
        hook,
        members: (0..n)
            .map(|i| composer::ir::MemberId {
                feature: format!("m{i}"),
                program: format!("m{i}"),
            })
            .collect(),
        debug_sample: 0,
        timing: false,
        stamp: stamped.then_some(dispatcher::ConnStamp {
            generation: 1,
            previous: None,
        }),
    };
    let d = dispatcher::generate(&spec).unwrap();
    let conn = sys::sk_storage_create(dispatcher::CONN_MAP_NAME).unwrap();
    let req = sys::map_create(
        LRU_HASH,
        dispatcher::REQ_MAP_NAME,
        dispatcher::REQ_KEY_SIZE,
        8,
        dispatcher::REQ_MAP_ENTRIES,
        0,
    )
    .unwrap();
    let bytes = d
        .bytes_with_map_fds(|name| match name {
            dispatcher::CONN_MAP_NAME => Some(conn.as_raw_fd()),
            dispatcher::REQ_MAP_NAME => Some(req.as_raw_fd()),
            dispatcher::CHAIN_MAP_NAME => Some(chain.as_raw_fd()),
            _ => None,
        })
        .unwrap();
    let disp = sys::prog_load(
        hook.prog_type(),
        hook.expected_attach_type(),
        "accord_disp",
        &bytes,
    )
    .unwrap();
    let mut keep = vec![conn, req];
    for slot in 0..n {
        let prog = load(
            hook,
            "bench_member",
            &member(hook, slot as i32, &counts, &chain),
        );
        let fd = prog.as_raw_fd() as u32;
        sys::map_update(
            chain.as_fd(),
            &(slot as u32).to_ne_bytes(),
            &fd.to_ne_bytes(),
            0,
        )
        .unwrap();
        keep.push(prog);
    }
    keep.push(counts);
    keep.push(chain);
    (disp, keep)
}

fn stats(fd: &OwnedFd) -> (u64, u64) {
    let i = sys::prog_info(fd.as_fd()).unwrap();
    (i.run_cnt, i.run_time_ns)
}

fn cgroup2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .expect("a cgroup2 mount")
}

fn join_cgroup(dir: &Path) {
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).unwrap();
}

/// Opens and closes `CONNECTIONS` loopback connections from this process.
fn connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for _ in 0..CONNECTIONS {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = listener.accept().unwrap();
        drop((c, s));
    }
}

/// ns per event of a chain on the cgroup (the dispatcher's stats cover
/// every tail-called member).
fn chain_ns(cg: &std::fs::File, n: usize, stamped: bool) -> f64 {
    let hook = Hook::SockOps;
    let (disp, _keep) = chain(hook, n, stamped);
    let link = sys::link_create(disp.as_fd(), cg.as_fd(), hook.expected_attach_type()).unwrap();
    let before = stats(&disp);
    connections();
    let after = stats(&disp);
    drop(link);
    (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64
}

/// ns per event for sock_ops: (chain, chain with connection stamps,
/// monolithic, multi-attach).
fn sock_ops_row(cg: &std::fs::File, n: usize) -> (f64, f64, f64, f64) {
    let hook = Hook::SockOps;
    let attach = hook.expected_attach_type();
    let chain_ns_plain = chain_ns(cg, n, false);
    let chain_ns_stamped = chain_ns(cg, n, true);

    let counts = sys::map_create(PERCPU_ARRAY, "bench_counts", 4, 8, 32, 0).unwrap();
    let mono = load(hook, "bench_mono", &monolithic(hook, n, &counts));
    let link = sys::link_create(mono.as_fd(), cg.as_fd(), attach).unwrap();
    let before = stats(&mono);
    connections();
    let after = stats(&mono);
    drop(link);
    let mono_ns = (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64;

    // The kernel's multi-attach: N programs run one after another. Their
    // own stats exclude the kernel's loop between them.
    let progs: Vec<OwnedFd> = (0..n)
        .map(|k| load(hook, "bench_multi", &standalone(hook, k as i32, &counts)))
        .collect();
    for p in &progs {
        sys::prog_attach(p.as_fd(), cg.as_fd(), attach, BPF_F_ALLOW_MULTI).unwrap();
    }
    let before: Vec<(u64, u64)> = progs.iter().map(stats).collect();
    connections();
    let after: Vec<(u64, u64)> = progs.iter().map(stats).collect();
    for p in &progs {
        sys::prog_detach(p.as_fd(), cg.as_fd(), attach).unwrap();
    }
    let events = (after[0].0 - before[0].0).max(1) as f64;
    let time: u64 = after.iter().zip(&before).map(|(a, b)| a.1 - b.1).sum();
    (
        chain_ns_plain,
        chain_ns_stamped,
        mono_ns,
        time as f64 / events,
    )
}

/// ns per run from BPF_PROG_TEST_RUN (XDP, 64-byte packet): (chain, monolithic).
fn xdp_row(n: usize) -> (u32, u32) {
    let hook = Hook::Xdp;
    let packet = [0u8; 64];
    let (disp, _keep) = chain(hook, n, false);
    let chain_run = sys::prog_test_run(disp.as_fd(), &packet, TEST_RUN_REPEAT).unwrap();
    assert_eq!(chain_run.retval, 2, "XDP_PASS");
    let counts = sys::map_create(PERCPU_ARRAY, "bench_counts", 4, 8, 32, 0).unwrap();
    let mono = load(hook, "bench_mono", &monolithic(hook, n, &counts));
    let mono_run = sys::prog_test_run(mono.as_fd(), &packet, TEST_RUN_REPEAT).unwrap();
    (chain_run.duration_ns, mono_run.duration_ns)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping benchmark - chain_cost needs root (bpf(2), cgroups)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chain_cost: needs root (CI=true)");
        }
        return;
    }
    // `cargo bench --bench chain_cost -- apply`: only the apply part.
    if std::env::args().any(|a| a == "apply") {
        apply_latency();
        member_load_phases();
        return;
    }
    let stats_on = sys::enable_stats().expect("BPF_ENABLE_STATS");
    let root = cgroup2_mount();
    let original = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let original = root.join(
        original
            .lines()
            .find_map(|l| l.strip_prefix("0::/"))
            .unwrap_or(""),
    );
    let dir = root.join(format!("accord-bench-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    join_cgroup(&dir);
    let cg = std::fs::File::open(&dir).unwrap();

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "Chain cost (kernel {}, {} connections per cell; every member does one per-CPU array increment)\n",
        kernel.trim(),
        CONNECTIONS
    );
    println!("sock_ops, ns per event from BPF_ENABLE_STATS (run_time_ns / run_cnt) on real loopback connections, best of {ROWS_PER_CELL} runs:\n");
    println!("| N | chain (dispatcher + N tail calls) | chain with connection stamps (as `accord apply` loads it) | monolithic | kernel multi-attach (sum of N programs) | chain - monolithic, per member |");
    println!("|---|---|---|---|---|---|");
    type Row = (f64, f64, f64, f64);
    for n in SIZES {
        // The best of a few runs per cell: the machine is shared and noisy.
        let runs: Vec<Row> = (0..ROWS_PER_CELL).map(|_| sock_ops_row(&cg, n)).collect();
        let best = |f: fn(&Row) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min);
        let (c, st, m, multi) = (best(|r| r.0), best(|r| r.1), best(|r| r.2), best(|r| r.3));
        println!(
            "| {n} | {c:.1} | {st:.1} | {m:.1} | {multi:.1} | {:.2} |",
            (c - m) / n as f64
        );
    }
    // BPF_PROG_TEST_RUN measures on its own; run-time stats would add
    // their clock reads to every run.
    drop(stats_on);
    println!("\nXDP, ns per run from BPF_PROG_TEST_RUN (64-byte packet, {TEST_RUN_REPEAT} repeats, stats off):\n");
    println!(
        "| N | chain (dispatcher + N tail calls) | monolithic | chain - monolithic, per member |"
    );
    println!("|---|---|---|---|");
    for n in SIZES {
        let (xc, xm) = xdp_row(n);
        println!(
            "| {n} | {xc} | {xm} | {:.2} |",
            (f64::from(xc) - f64::from(xm)) / n as f64
        );
    }
    std::fs::write(
        original.join("cgroup.procs"),
        std::process::id().to_string(),
    )
    .unwrap();
    drop(cg);
    std::thread::sleep(Duration::from_millis(100));
    let _ = std::fs::remove_dir(&dir);

    println!();
    apply_latency();
    member_load_phases();
}

/// Eight members from the embedded feature objects (two objects twice,
/// under other names), each with one scalar and a prefix set.
fn eight(reversed: bool) -> Vec<runtime::desired::DesiredMember> {
    use runtime::config::{lpm_key, ConfigImage, SetImage};
    use runtime::desired::{DesiredMember, ObjectImage};
    let specs = [
        ("init_cwnd", "init_cwnd", 40),
        ("rwnd_init", "rwnd_init", 64),
        ("jumbo_mss", "jumbo_mss", 8948),
        ("rto_min", "rto_min", 5000),
        ("delack_max", "delack_max", 5000),
        ("sndbuf", "sndbuf", 1 << 20),
        ("init_cwnd_b", "init_cwnd", 20),
        ("sndbuf_b", "sndbuf", 1 << 21),
    ];
    let mut members: Vec<DesiredMember> = specs
        .iter()
        .map(|(name, object, value)| {
            let bytes = runtime::objects::feature_object(object).expect("embedded feature object");
            DesiredMember {
                feature: (*name).into(),
                program: (*object).into(),
                object: ObjectImage::new(
                    &format!("{object}.bpf.o"),
                    "embedded".into(),
                    bytes.to_vec(),
                ),
                config: ConfigImage {
                    scalar: Some((*value as u64).to_ne_bytes().to_vec()),
                    sets: vec![SetImage {
                        param: "prefixes".into(),
                        keys: vec![lpm_key(&composer::ir::Cidr4 {
                            addr: 0x0a00_0000,
                            len: 8,
                        })],
                    }],
                },
                struct_ops: None,
            }
        })
        .collect();
    if reversed {
        members.reverse();
    }
    members
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Apply latency of 8 members, release build, private bpffs root.
fn apply_latency() {
    use runtime::adapter::real::RealAdapter;
    use runtime::desired::{DesiredChain, Target};
    use runtime::layout::{hookpoint_key, Layout};
    use runtime::lifecycle;
    use runtime::plan::PlanKind;
    use runtime::state::FsStateStore;

    const ROUNDS: usize = 7;
    let name = format!("accord-bench-apply-{}", std::process::id());
    let cgroup = cgroup2_mount().join(&name);
    std::fs::create_dir(&cgroup).unwrap();
    let layout = Layout {
        bpffs_root: PathBuf::from("/sys/fs/bpf").join(&name),
        // Like /run/accord: records on tmpfs.
        state_dir: PathBuf::from("/run").join(&name),
    };
    let target = Target::of_cgroup(&cgroup).unwrap();
    let desired = |reversed: bool| DesiredChain {
        key: hookpoint_key(Hook::SockOps, target.cgroup_id),
        hook: Hook::SockOps,
        target: target.clone(),
        composition: "bench".into(),
        composition_path: PathBuf::from("bench.yaml"),
        members: eight(reversed),
        debug_sample: 0,
        timing: false,
        audit: None,
        needs: Default::default(),
    };
    let (a, b) = (desired(false), desired(true));
    let mut adapter = RealAdapter::default();
    let mut store = FsStateStore {
        layout: layout.clone(),
    };
    let (mut cold, mut swap, mut noop) = (Vec::new(), Vec::new(), Vec::new());
    let mut breakdown: Vec<(String, Duration)> = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let (plan, _) = lifecycle::apply(&layout, &mut adapter, &mut store, &a).unwrap();
        cold.push(t.elapsed());
        assert!(matches!(plan.kind, PlanKind::Fresh { .. }));
        for next in [&b, &a] {
            let t = Instant::now();
            let (plan, done) = lifecycle::apply(&layout, &mut adapter, &mut store, next).unwrap();
            swap.push(t.elapsed());
            assert!(matches!(plan.kind, PlanKind::Swap { .. }));
            for (step, took) in plan.steps.iter().zip(&done.timings) {
                let text = step.action.to_string();
                let kind: String = match text.split_whitespace().next() {
                    Some("swap") => "BPF_LINK_UPDATE".into(),
                    _ => text
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                match breakdown.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, d)) => *d += *took,
                    None => breakdown.push((kind, *took)),
                }
            }
        }
        let t = Instant::now();
        let (plan, _) = lifecycle::apply(&layout, &mut adapter, &mut store, &a).unwrap();
        noop.push(t.elapsed());
        assert!(matches!(plan.kind, PlanKind::NoChange { .. }));
        lifecycle::detach(&layout, &mut adapter, &mut store, &a.key).unwrap();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("Apply latency, 8 members from the embedded feature objects ({ROUNDS} rounds):\n");
    println!("| apply | median ms | min ms |");
    println!("|---|---|---|");
    for (label, v) in [
        ("cold (first generation + link)", cold),
        ("swap (new generation + BPF_LINK_UPDATE)", swap),
        ("no change", noop),
    ] {
        let min = *v.iter().min().unwrap();
        println!("| {label} | {:.1} | {:.1} |", ms(median(v)), ms(min));
    }
    let swaps = (2 * ROUNDS) as u32;
    let parts: Vec<String> = breakdown
        .iter()
        .map(|(k, d)| format!("{k} {:.1} ms", ms(*d / swaps)))
        .collect();
    println!("\nswap, mean time per step kind: {}", parts.join("; "));
    let _ = std::fs::remove_dir_all(&layout.bpffs_root);
    let _ = std::fs::remove_dir_all(&layout.state_dir);
    let _ = std::fs::remove_dir(&cgroup);
}

/// Where one member load spends its time: aya's object load (ELF, BTF,
/// relocations, map creation) and the verifier (`BPF_PROG_LOAD`).
fn member_load_phases() {
    let bytes = runtime::objects::feature_object("init_cwnd").unwrap();
    let pin_dir =
        PathBuf::from("/sys/fs/bpf").join(format!("accord-bench-phases-{}", std::process::id()));
    std::fs::create_dir_all(&pin_dir).unwrap();
    let chain_pin = pin_dir.join("accord_chain");
    let btf = aya::Btf::from_sys_fs().ok();
    let (mut object, mut program) = (Duration::ZERO, Duration::ZERO);
    const N: u32 = 10;
    for _ in 0..N {
        let t = Instant::now();
        let mut loader = aya::EbpfLoader::new();
        loader.btf(btf.as_ref());
        // Never aya's default pin (/sys/fs/bpf/accord_chain): a private one.
        loader.map_pin_path("accord_chain", chain_pin.as_path());
        let mut ebpf = loader.load(bytes).unwrap();
        object += t.elapsed();
        let t = Instant::now();
        let p: &mut aya::programs::SockOps =
            ebpf.program_mut("init_cwnd").unwrap().try_into().unwrap();
        p.load().unwrap();
        program += t.elapsed();
    }
    let t = Instant::now();
    for _ in 0..N {
        let mut loader = aya::EbpfLoader::new();
        loader.btf(None);
        loader.map_pin_path("accord_chain", chain_pin.as_path());
        let _ = loader.load(bytes);
    }
    let no_btf = t.elapsed();
    let t = Instant::now();
    for _ in 0..N {
        let _ = aya_obj_parse(bytes);
    }
    let parse = t.elapsed();
    println!(
        "fresh loader, without kernel BTF {:.1} ms; ELF parse only {:.1} ms",
        no_btf.as_secs_f64() * 1000.0 / f64::from(N),
        parse.as_secs_f64() * 1000.0 / f64::from(N)
    );
    println!(
        "one member load with a fresh EbpfLoader each time (what the adapter avoids; init_cwnd, mean of {N}): object load (kernel BTF parse, ELF, relocations, maps) {:.1} ms, program load (verifier) {:.1} ms",
        object.as_secs_f64() * 1000.0 / f64::from(N),
        program.as_secs_f64() * 1000.0 / f64::from(N)
    );
    let _ = std::fs::remove_dir_all(&pin_dir);
}

fn aya_obj_parse(bytes: &[u8]) -> bool {
    aya_obj::Object::parse(bytes).is_ok()
}
