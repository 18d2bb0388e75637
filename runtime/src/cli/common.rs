//! What the kernel-facing subcommands share: where accord keeps things, the
//! host lock, loading and checking a composition exactly as `accord check`
//! does, and printing what is live.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use composer::check::CheckOptions;
use composer::ir::Composition;
use composer::load::{self, LoadOptions};
use composer::outcome::CheckOutcome;
use runtime::adapter::events::{self, DebugSample};
use runtime::adapter::BpfAdapter;
use runtime::desired::{self, DesiredChain, Target};
use runtime::host_audit::{self, AuditStamp, Verdict};
use runtime::layout::{self, Layout};
use runtime::lifecycle::{self, HookpointStatus};
use runtime::lock::HostLock;
use runtime::resolve::{ResolvedObjects, SpecObjects};
use runtime::state::{FsStateStore, StateStore};

/// Exit code: the composition is not safe (same as `accord check`).
pub const EXIT_UNSAFE: u8 = 1;
/// Exit code: invalid input (same as `accord check`).
pub const EXIT_INPUT: u8 = 2;
/// Exit code: the kernel refused something (verifier, attach), or the host
/// is not set up (no bpffs, not root). Nothing changed.
pub const EXIT_KERNEL: u8 = 3;

/// `--format` of every subcommand that reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// JSON for machines (input errors too, where the command reads input).
    Json,
}

/// Where accord keeps its pins and records.
#[derive(clap::Args, Debug, Clone)]
pub struct Roots {
    /// bpffs directory holding every accord pin.
    #[arg(long, env = "ACCORD_BPFFS_ROOT", default_value = layout::DEFAULT_BPFFS_ROOT, value_name = "DIR")]
    pub bpffs_root: PathBuf,
    /// Directory for the per-hookpoint records and the host lock.
    #[arg(long, env = "ACCORD_STATE_DIR", default_value = layout::DEFAULT_STATE_DIR, value_name = "DIR")]
    pub state_dir: PathBuf,
}

impl Roots {
    pub fn layout(&self) -> Layout {
        Layout {
            bpffs_root: self.bpffs_root.clone(),
            state_dir: self.state_dir.clone(),
        }
    }

    pub fn store(&self) -> FsStateStore {
        FsStateStore {
            layout: self.layout(),
        }
    }

    /// Takes the host lock, saying so if another accord holds it.
    pub fn lock(&self) -> Result<HostLock, ExitCode> {
        HostLock::acquire(&self.layout().lock_path(), || {
            eprintln!("accord: waiting for another accord invocation to finish");
        })
        .map_err(|e| {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_KERNEL)
        })
    }
}

/// The composition and target of `apply` and `plan`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChainArgs {
    /// The composition file (YAML), as `accord check` takes it.
    pub composition: PathBuf,
    /// The cgroup v2 directory to attach the chain to
    /// (e.g. /sys/fs/cgroup/unified/my-service).
    #[arg(long, value_name = "PATH")]
    pub cgroup: PathBuf,
    /// A specs directory holding hooks/<hook>.yaml (default: searched upward
    /// from the composition).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// Emit one debug event per N chain events per member (0: none).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub debug_sample: u32,
    /// Every member measures its own run time (ACCORD_TIMING=1; `accord
    /// status` shows it). Costs two clock reads per member and event;
    /// turning it on or off reloads the chain.
    #[arg(long)]
    pub timing: bool,
}

/// Loads and checks the composition; on anything but safe prints the same
/// report as `accord check` and returns its exit code.
pub fn load_and_check(
    args: &ChainArgs,
    quiet_if_safe: bool,
) -> Result<(Composition, CheckOutcome), ExitCode> {
    let opts = LoadOptions {
        specs_dir: args.specs.clone(),
        catalog: None,
    };
    let loaded = match load::load(&args.composition, &opts) {
        Ok(l) => l,
        Err(errors) => {
            eprint!("{}", composer::report::load_errors_human(&errors));
            return Err(ExitCode::from(EXIT_INPUT));
        }
    };
    let outcome = composer::check::check(&loaded.composition, &CheckOptions::default());
    let report = composer::report::human(&outcome, &loaded.composition, &loaded.warnings);
    if !outcome.is_safe() {
        print!("{report}");
        println!("accord: refusing to load an unsafe composition; nothing was loaded");
        return Err(ExitCode::from(EXIT_UNSAFE));
    }
    if !quiet_if_safe {
        print!("{report}");
    }
    Ok((loaded.composition, outcome))
}

/// Builds the desired chain for a checked composition: reads every
/// member's object and audits it against its spec (refusing with the
/// audit's report, exit 1, if one does more than its spec declares),
/// unless `skip_audit` (`accord apply --skip-audit`, loud and recorded).
pub fn desired_chain(
    args: &ChainArgs,
    layout: &Layout,
    comp: &Composition,
    outcome: &CheckOutcome,
    skip_audit: bool,
) -> Result<DesiredChain, ExitCode> {
    let target = Target::of_cgroup(&args.cgroup).map_err(|e| {
        eprintln!("accord: --cgroup {}: {e}", args.cgroup.display());
        ExitCode::from(EXIT_INPUT)
    })?;
    let order = outcome.order.as_deref().unwrap_or_default();
    let objects = resolve_objects(comp)?;
    let stamp = audit_or_refuse(comp, &objects, layout, skip_audit)?;
    let mut chain = desired::from_composition(comp, order, target, args.debug_sample, &objects)
        .map_err(|e| {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_INPUT)
        })?;
    chain.audit = Some(stamp);
    chain.timing = args.timing;
    // Records name the composition by its absolute path.
    if let Ok(abs) = std::fs::canonicalize(&chain.composition_path) {
        chain.composition_path = abs;
    }
    Ok(chain)
}

/// Reads every member's object as its spec names it; on any error prints
/// them all (`file:line:col: error: …`) and returns exit 2.
pub fn resolve_objects(comp: &Composition) -> Result<ResolvedObjects, ExitCode> {
    ResolvedObjects::resolve(comp, &SpecObjects::built_in()).map_err(|e| {
        for err in &e.errors {
            eprintln!("{err}");
        }
        let n = e.errors.len();
        eprintln!(
            "{n} error{} in the member objects; nothing was loaded",
            if n == 1 { "" } else { "s" }
        );
        ExitCode::from(EXIT_INPUT)
    })
}

/// Whether `e` or one of its sources is a permission error (an
/// unprivileged user reading root-only state).
pub fn permission_denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The host-side audit of every member object (`runtime::host_audit`),
/// with this host's verdict cache. On an undeclared effect prints the same
/// report as `accord audit` and returns exit 1 (2 if an object could not
/// be audited at all).
pub fn audit_or_refuse(
    comp: &Composition,
    objects: &ResolvedObjects,
    layout: &Layout,
    skip_audit: bool,
) -> Result<AuditStamp, ExitCode> {
    if skip_audit {
        eprintln!(
            "accord: WARNING: --skip-audit: the member objects are NOT checked against \
             their specs, so what runs may do more than `accord check` proved; the \
             record and `accord status` say so until the next audited apply"
        );
        return Ok(AuditStamp::Skipped);
    }
    let audit = host_audit::audit_members(comp, objects, &host_audit::cache_for(layout));
    let why = match audit.verdict() {
        Verdict::Clean => {
            println!("{}", audit.summary());
            return Ok(audit.stamp());
        }
        Verdict::Undeclared => "a member's object does more than its spec declares",
        Verdict::Unaudited => "a member's object could not be audited",
    };
    print!("{}", audit.refusal_report());
    println!("accord: refusing to load: {why} (the bytecode audit above); nothing was loaded");
    Err(audit.verdict().exit_code())
}

/// Refuses to go on without bpffs.
pub fn require_bpffs(layout: &Layout) -> Result<(), ExitCode> {
    if runtime::adapter::real::is_bpffs(
        layout
            .bpffs_root
            .parent()
            .unwrap_or(Path::new("/sys/fs/bpf")),
    ) {
        return Ok(());
    }
    let parent = layout
        .bpffs_root
        .parent()
        .unwrap_or(Path::new("/sys/fs/bpf"));
    eprintln!(
        "accord: no bpffs at {} (mount it: mount -t bpf bpf {})",
        parent.display(),
        parent.display()
    );
    Err(ExitCode::from(EXIT_KERNEL))
}

/// Prints one hookpoint: target, generation, link, members in order.
pub fn print_hookpoint(st: &HookpointStatus) {
    let r = &st.record;
    println!(
        "{} on {} ({}), composition {} ({}), generation {}",
        r.hook.name(),
        r.cgroup.display(),
        r.key,
        r.composition,
        r.composition_path.display(),
        r.generation
    );
    if let Some(p) = r.previous_generation {
        println!("  generation {p} (replaced) stays pinned for the connections it began, until the next swap");
    }
    match (&st.dispatcher, st.link_prog_id) {
        (Ok(d), Some(l)) => println!(
            "  link -> dispatcher prog {l}; dispatcher runs {} events, {} ns",
            d.run_cnt, d.run_time_ns
        ),
        (_, None) => println!("  link: none"),
        (Err(e), Some(l)) => println!("  link -> prog {l}; dispatcher: {e}"),
    }
    if let Ok(d) = &st.dispatcher {
        if d.run_cnt > 0 {
            println!(
                "  chain: {:.1} ns per event (the dispatcher's kernel stats cover every tail-called member)",
                d.run_time_ns as f64 / d.run_cnt as f64
            );
        }
    }
    match &r.audit {
        Some(a) => println!("  audit: {a}"),
        None => {
            println!("  audit: not recorded (applied by an accord that did not audit on the host)")
        }
    }
    let timing = r.timing;
    if !timing {
        println!("  member timing: off (accord apply --timing measures each member's run time)");
    }
    match events::debug_sample(r) {
        DebugSample::Off => {
            println!("  debug events: off (accord apply --debug-sample N emits one run in N)")
        }
        DebugSample::Every(1) => println!("  debug events: every run (accord events reads them)"),
        DebugSample::Every(n) => {
            println!("  debug events: one run in {n} (accord events reads them)")
        }
        DebugSample::On => println!("  debug events: sampled runs (accord events reads them)"),
    }
    println!(
        "  {:>4}  {:<20} {:>8} {:>10} {:>10} {:>8}{}",
        "slot",
        "member",
        "prog id",
        "events",
        "writes",
        "errors",
        if timing {
            format!(" {:>14} {:>10}", "run ns", "ns/event")
        } else {
            String::new()
        }
    );
    for m in &st.members {
        match (&m.stats, &m.counters) {
            (Ok(s), Some(c)) => println!(
                "  {:>4}  {:<20} {:>8} {:>10} {:>10} {:>8}{}",
                m.slot,
                m.member,
                s.id,
                c.events,
                c.writes,
                c.errors,
                if timing {
                    format!(" {:>14} {:>10}", c.run_ns, ns_per_event(c))
                } else {
                    String::new()
                }
            ),
            (Ok(s), None) => println!("  {:>4}  {:<20} {:>8} {:>10}", m.slot, m.member, s.id, "-"),
            (Err(e), _) => println!("  {:>4}  {:<20} missing: {e}", m.slot, m.member),
        }
    }
    let objects: Vec<String> = r
        .members
        .iter()
        .filter(|m| !m.origin.is_empty())
        .map(|m| format!("{} {}", m.slot, m.origin))
        .collect();
    if !objects.is_empty() {
        println!("  objects: {}", objects.join(", "));
    }
    for d in &st.drift {
        println!("  drift: {d}");
    }
}

/// Prints the live state of one hookpoint after a change.
pub fn print_live(layout: &Layout, adapter: &dyn BpfAdapter, store: &dyn StateStore, key: &str) {
    match lifecycle::status(layout, adapter, store) {
        Ok(all) => {
            for st in all.iter().filter(|s| s.record.key == key) {
                println!("live:");
                print_hookpoint(st);
            }
        }
        Err(e) => eprintln!("accord: cannot read back the live state: {e}"),
    }
}

/// A member's own run time per event, as `accord status` prints it.
fn ns_per_event(c: &runtime::adapter::MemberCounters) -> String {
    if c.events == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}", c.run_ns as f64 / c.events as f64)
    }
}
