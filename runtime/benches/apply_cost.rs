//! What failing closed costs per apply, side by side in one run (as root,
//! release build):
//!
//!     cargo bench -p runtime --bench apply_cost
//!
//! A composition of six shipped features (`init_cwnd`, `rwnd_init`,
//! `jumbo_mss`, `rto_min`, `delack_max`, `sndbuf`, the built-in objects),
//! `init_cwnd` and `sndbuf` with a 1,001-prefix set, on a private cgroup, bpffs root and
//! state directory (on tmpfs, like /run/accord). Measured, 7 rounds each:
//!
//! 1. The host-side audit (`runtime::host_audit`) of the six objects:
//!    reading and checking them (`runtime::resolve`), auditing them with no
//!    cache, and with every clean verdict cached (an unchanged re-apply).
//! 2. Applies: a first apply, a no-change apply (resolve + cached audit +
//!    plan), and a config-only change (a new `iw` and send buffer, and a
//!    changed 1,001-prefix set for both): as accord applies it now (a new generation and one
//!    `BPF_LINK_UPDATE`), next to the in-place map updates accord made
//!    before (each member's `accord_config` and `accord_set_*` rewritten on
//!    the live maps, one after another), which were not atomic across
//!    members.
//!
//! Prints Markdown tables for BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use composer::check::CheckOptions;
use composer::load::{self, LoadOptions};
use runtime::adapter::real::RealAdapter;
use runtime::desired::{self, DesiredChain, Target};
use runtime::host_audit::{self, AuditCache};
use runtime::layout::Layout;
use runtime::lifecycle;
use runtime::resolve::{ResolvedObjects, SpecObjects};
use runtime::state::FsStateStore;

const ROUNDS: usize = 7;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
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

/// 1,001 prefixes as a YAML flow list: the peer, 999 /32s in 10.0.0.0/8,
/// and one that depends on `salt` (so a change of salt changes the set,
/// and the set in place never needs more than the maps' 1,024 entries).
fn prefixes(salt: u32) -> String {
    let items: Vec<String> = (0..999u32)
        .map(|i| format!("10.0.{}.{}/32", i >> 8, i & 0xff))
        .collect();
    format!("[127.0.0.2/32, 10.200.{salt}.1/32, {}]", items.join(", "))
}

/// The bench composition in `dir`: `iw`, and `salt` choosing the send
/// buffer and the 1,001-prefix sets of init_cwnd and sndbuf.
fn write_composition(dir: &Path, iw: u32, salt: u32) -> PathBuf {
    let specs = repo().join("specs/features");
    let features = [
        (
            "init_cwnd",
            format!("{{ iw: {iw}, prefixes: {} }}", prefixes(salt)),
        ),
        (
            "rto_min",
            "{ rto_min_us: 5000, prefixes: [127.0.0.2/32] }".into(),
        ),
        (
            "jumbo_mss",
            "{ mss: 1400, prefixes: [127.0.0.2/32] }".into(),
        ),
        (
            "sndbuf",
            format!(
                "{{ bytes: {}, prefixes: {} }}",
                1u32 << (20 + salt % 2),
                prefixes(salt)
            ),
        ),
        ("rwnd_init", "{ rwnd: 4, prefixes: [127.0.0.2/32] }".into()),
        (
            "delack_max",
            "{ delack_max_us: 5000, prefixes: [127.0.0.2/32] }".into(),
        ),
    ];
    let mut text = String::from("composition: bench\nhook: sock_ops\nfeatures:\n");
    for (spec, config) in features {
        text.push_str(&format!(
            "  - spec: {}\n    config: {config}\n",
            specs.join(format!("{spec}.yaml")).display()
        ));
    }
    let path = dir.join("bench.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads and checks the composition, reads its objects.
fn load(
    path: &Path,
) -> (
    composer::ir::Composition,
    Vec<composer::ir::MemberId>,
    ResolvedObjects,
) {
    let opts = LoadOptions {
        specs_dir: Some(repo().join("specs")),
        catalog: None,
    };
    let comp = load::load_composition(path, &opts)
        .unwrap_or_else(|e| panic!("{}", composer::report::load_errors_human(&e)));
    let outcome = composer::check::check(&comp, &CheckOptions::default());
    assert!(outcome.is_safe(), "the bench composition is safe");
    let objects = ResolvedObjects::resolve(&comp, &SpecObjects::built_in()).unwrap();
    (comp, outcome.order.unwrap(), objects)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(label: &str, v: Vec<Duration>) {
    let min = *v.iter().min().unwrap();
    println!("| {label} | {:.2} | {:.2} |", ms(median(v)), ms(min));
}

/// The audit of the six member objects: no cache, and all cached.
fn audit_cost(comp_path: &Path, state: &Path) {
    let (comp, _, _) = load(comp_path);
    let (mut resolve, mut cold, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let t = Instant::now();
        let objects = ResolvedObjects::resolve(&comp, &SpecObjects::built_in()).unwrap();
        resolve.push(t.elapsed());
        let t = Instant::now();
        let a = host_audit::audit_members(&comp, &objects, &AuditCache::none());
        cold.push(t.elapsed());
        assert!(a.is_clean(), "{}", a.refusal_report());
        let cache = AuditCache::in_dir(state.join(format!("audit-{round}")));
        host_audit::audit_members(&comp, &objects, &cache);
        let t = Instant::now();
        let a = host_audit::audit_members(&comp, &objects, &cache);
        cached.push(t.elapsed());
        assert_eq!(a.cached.len(), comp.members().count());
    }
    println!("Host-side audit of the six member objects ({ROUNDS} rounds):\n");
    println!("| step | median ms | min ms |");
    println!("|---|---|---|");
    row("read and check the objects (resolve)", resolve);
    row("audit, nothing cached (first apply of these objects)", cold);
    row("audit, every verdict cached (unchanged re-apply)", cached);
    println!();
}

/// The desired chain of a checked composition on `target`, its objects
/// read and audited with `cache`, as `accord apply` builds it.
fn desired_of(
    comp: &composer::ir::Composition,
    order: &[composer::ir::MemberId],
    target: &Target,
    cache: &AuditCache,
) -> DesiredChain {
    let objects = ResolvedObjects::resolve(comp, &SpecObjects::built_in()).unwrap();
    let audit = host_audit::audit_members(comp, &objects, cache);
    assert!(audit.is_clean());
    let mut chain = desired::from_composition(comp, order, target.clone(), 0, &objects).unwrap();
    chain.audit = Some(audit.stamp());
    chain
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping benchmark - apply_cost needs root (bpf(2), cgroups)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("apply_cost: needs root (CI=true)");
        }
        return;
    }
    let name = format!("accord-bench-applycost-{}", std::process::id());
    let work = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&work).unwrap();
    let cgroup = cgroup2_mount().join(&name);
    std::fs::create_dir(&cgroup).unwrap();
    let layout = Layout {
        bpffs_root: PathBuf::from("/sys/fs/bpf").join(&name),
        state_dir: PathBuf::from("/run").join(&name),
    };
    let _cleanup = Cleanup {
        layout: layout.clone(),
        work: work.clone(),
        cgroup: cgroup.clone(),
    };
    let a = write_composition(&work, 40, 1);
    audit_cost(&a, &layout.state_dir);
    apply_cost(&work, &cgroup, &layout);
}

/// Removes the bench's roots, work directory and cgroup, also on a panic.
struct Cleanup {
    layout: Layout,
    work: PathBuf,
    cgroup: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.layout.bpffs_root);
        let _ = std::fs::remove_dir_all(&self.layout.state_dir);
        let _ = std::fs::remove_dir_all(&self.work);
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

/// First apply, no-change apply, config-only change.
fn apply_cost(work: &Path, cgroup: &Path, layout: &Layout) {
    let target = Target::of_cgroup(cgroup).unwrap();
    let cache = host_audit::cache_for(layout);
    let mut adapter = RealAdapter::default();
    let mut store = FsStateStore {
        layout: layout.clone(),
    };
    let (mut first, mut noop) = (Vec::new(), Vec::new());
    let (comp_a, order_a, _) = load(&write_composition(work, 40, 1));
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let a = desired_of(&comp_a, &order_a, &target, &cache);
        lifecycle::apply(layout, &mut adapter, &mut store, &a).unwrap();
        first.push(t.elapsed());
        let t = Instant::now();
        let again = desired_of(&comp_a, &order_a, &target, &cache);
        let (plan, _) = lifecycle::apply(layout, &mut adapter, &mut store, &again).unwrap();
        noop.push(t.elapsed());
        assert!(
            matches!(plan.kind, runtime::plan::PlanKind::NoChange { .. }),
            "{plan}"
        );
        lifecycle::detach(layout, &mut adapter, &mut store, &a.key).unwrap();
    }
    let (change, in_place) = config_change_cost(work, &target, layout, &cache);
    println!("Apply of the six members, init_cwnd and sndbuf with 1,001 prefixes ({ROUNDS} rounds; objects already audited and cached, composition loaded and checked outside the timing):\n");
    println!("| apply | median ms | min ms |");
    println!("|---|---|---|");
    row(
        "first apply (resolve + cached audit + generation + link)",
        first,
    );
    row("no change (resolve + cached audit + plan)", noop);
    row(
        "config-only change (iw, send buffer, both 1,001-prefix sets): a new generation + BPF_LINK_UPDATE (now)",
        change,
    );
    row(
        "the same change in place on the live maps, member after member (before; not atomic across members)",
        in_place,
    );
    println!();
}

/// A config-only change applied as accord does now (a new generation), and
/// the same change written in place on the live maps as accord did before.
fn config_change_cost(
    work: &Path,
    target: &Target,
    layout: &Layout,
    cache: &AuditCache,
) -> (Vec<Duration>, Vec<Duration>) {
    use runtime::adapter::BpfAdapter;
    let mut adapter = RealAdapter::default();
    let mut store = FsStateStore {
        layout: layout.clone(),
    };
    let configs: Vec<_> = [(40, 1), (41, 2)]
        .into_iter()
        .map(|(iw, salt)| load(&write_composition(work, iw, salt)))
        .collect();
    let chains: Vec<DesiredChain> = configs
        .iter()
        .map(|(comp, order, _)| desired_of(comp, order, target, cache))
        .collect();
    lifecycle::apply(layout, &mut adapter, &mut store, &chains[0]).unwrap();
    let (mut change, mut in_place) = (Vec::new(), Vec::new());
    for round in 0..2 * ROUNDS {
        let (comp, order, _) = &configs[(round + 1) % 2];
        let t = Instant::now();
        let next = desired_of(comp, order, target, cache);
        let (plan, _) = lifecycle::apply(layout, &mut adapter, &mut store, &next).unwrap();
        change.push(t.elapsed());
        assert!(
            matches!(plan.kind, runtime::plan::PlanKind::ConfigChange { .. }),
            "{plan}"
        );
    }
    // Before: each member's scalar config, then its sets, on the live maps.
    let record = store_record(&store, &chains[0].key);
    for round in 0..2 * ROUNDS {
        let next = &chains[(round + 1) % 2];
        let t = Instant::now();
        for (slot, m) in next.members.iter().enumerate() {
            let dir = layout.member_dir(&next.key, record, slot as u32, &m.feature, &m.program);
            if let Some(v) = &m.config.scalar {
                adapter.write_config(&dir.join("accord_config"), v).unwrap();
            }
            for set in &m.config.sets {
                adapter
                    .replace_set(&dir.join(set.map_name()), &set.keys)
                    .unwrap();
            }
        }
        in_place.push(t.elapsed());
    }
    lifecycle::detach(layout, &mut adapter, &mut store, &chains[0].key).unwrap();
    (change, in_place)
}

/// The live generation of `key`.
fn store_record(store: &FsStateStore, key: &str) -> u64 {
    use runtime::state::StateStore;
    store.load(key).unwrap().expect("a record").generation
}
