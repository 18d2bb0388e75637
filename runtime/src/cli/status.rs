//! `accord status`, `accord detach` and `accord gc`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use runtime::adapter::real::RealAdapter;
use runtime::adapter::BpfAdapter;
use runtime::desired::Target;
use runtime::dispatcher::Hook;
use runtime::layout::hookpoint_key;
use runtime::lifecycle;
use runtime::state::StateStore;

use super::common::{self, Format, Roots, EXIT_INPUT, EXIT_KERNEL};
use super::daemon_client;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Turn on the kernel's run-time statistics (BPF_ENABLE_STATS) for this
    /// many seconds and report the runs and time of that window. Without it,
    /// counts are cumulative and only grow while statistics are on (e.g.
    /// `sysctl kernel.bpf_stats_enabled=1`).
    #[arg(long, value_name = "SECS")]
    pub sample: Option<u64>,
    /// `json`: one object with `kernel`, `daemon` (a running daemon's policy
    /// and targets, or `running: false`) and `hookpoints`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub roots: Roots,
}

pub fn run_status(args: StatusArgs) -> ExitCode {
    let layout = args.roots.layout();
    let mut adapter = RealAdapter::default();
    let store = args.roots.store();
    let features = adapter.probe(&runtime::kernel::builtin_sockopt_options());
    let daemon = daemon_client::query(&layout);
    let human = args.format == Format::Human;
    if human {
        println!("kernel: {features}");
        for lack in features.lacks() {
            println!("  lacks {lack}");
        }
        print!("{}", daemon.human());
    }
    let read = |adapter: &RealAdapter| lifecycle::status(&layout, adapter, &store);
    let result = match args.sample {
        Some(secs) => {
            let session = match adapter.enable_stats() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accord: {e}");
                    return ExitCode::from(EXIT_KERNEL);
                }
            };
            let before = read(&adapter);
            std::thread::sleep(Duration::from_secs(secs));
            let after = read(&adapter);
            drop(session);
            if human {
                println!("run-time statistics over the last {secs} s (BPF_ENABLE_STATS):");
            }
            match (before, after) {
                (Ok(b), Ok(mut a)) => {
                    for (st, old) in a.iter_mut().zip(&b) {
                        subtract(st, old);
                    }
                    Ok(a)
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        None => {
            if human && !features.stats_enabled_by_sysctl {
                println!("(run-time statistics are off: counts grow only while they are on; use --sample SECS or sysctl kernel.bpf_stats_enabled=1)");
            }
            read(&adapter)
        }
    };
    let all = match result {
        Ok(all) => all,
        Err(e) => {
            let hint = if common::permission_denied(&e) {
                " (run accord status as root)"
            } else {
                ""
            };
            eprintln!("accord: {e}{hint}");
            return ExitCode::from(EXIT_KERNEL);
        }
    };
    if !human {
        let v = serde_json::json!({
            "kernel": features.to_string(),
            "kernel_features": features.to_json(),
            "sample_secs": args.sample,
            "daemon": daemon.to_json(),
            "hookpoints": all.iter().map(lifecycle::HookpointStatus::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON prints"));
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        println!(
            "no hookpoints managed by accord (records in {})",
            layout.records_dir().display()
        );
    }
    for st in &all {
        if let Some(m) = daemon.managed(&st.record.key, Some(&st.record.cgroup)) {
            println!("(managed by the daemon's policy {})", m.policy);
        }
        common::print_hookpoint(st);
    }
    ExitCode::SUCCESS
}

fn subtract(st: &mut lifecycle::HookpointStatus, old: &lifecycle::HookpointStatus) {
    if let (Ok(d), Ok(o)) = (&mut st.dispatcher, &old.dispatcher) {
        d.run_cnt -= o.run_cnt.min(d.run_cnt);
        d.run_time_ns -= o.run_time_ns.min(d.run_time_ns);
    }
    for (m, o) in st.members.iter_mut().zip(&old.members) {
        if let (Some(c), Some(p)) = (&mut m.counters, &o.counters) {
            c.events -= p.events.min(c.events);
            c.writes -= p.writes.min(c.writes);
            c.errors -= p.errors.min(c.errors);
            c.run_ns -= p.run_ns.min(c.run_ns);
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DetachArgs {
    /// The cgroup whose chain to remove.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub cgroup: Option<PathBuf>,
    /// Remove every hookpoint accord manages.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub roots: Roots,
}

pub fn run_detach(args: DetachArgs) -> ExitCode {
    let layout = args.roots.layout();
    let mut adapter = RealAdapter::default();
    let mut store = args.roots.store();
    let _lock = match args.roots.lock() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let keys: Vec<String> = if args.all {
        match store.list() {
            Ok(records) => records.into_iter().map(|r| r.key).collect(),
            Err(e) => {
                eprintln!("accord: {e}");
                return ExitCode::from(EXIT_KERNEL);
            }
        }
    } else {
        let cgroup = args
            .cgroup
            .clone()
            .expect("clap requires --cgroup without --all");
        match Target::of_cgroup(&cgroup) {
            Ok(t) => vec![hookpoint_key(Hook::SockOps, t.cgroup_id)],
            Err(e) => {
                // A removed cgroup: find its hookpoint by the recorded path.
                let recorded: Vec<String> = store
                    .list()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r.cgroup == cgroup)
                    .map(|r| r.key)
                    .collect();
                if recorded.is_empty() {
                    eprintln!("accord: --cgroup {}: {e}", cgroup.display());
                    return ExitCode::from(EXIT_INPUT);
                }
                recorded
            }
        }
    };
    let daemon = daemon_client::query(&layout);
    let mut code = ExitCode::SUCCESS;
    for key in keys {
        let recorded_cgroup = store.load(&key).ok().flatten().map(|r| r.cgroup);
        let cgroup = args.cgroup.as_deref().or(recorded_cgroup.as_deref());
        if let Err(refused) = daemon_client::refuse_if_managed(&daemon, "detach", &key, cgroup) {
            code = refused;
            continue;
        }
        let known = store.load(&key).ok().flatten().is_some()
            || adapter.exists(&layout.hookpoint_dir(&key));
        if !known {
            eprintln!("accord: nothing of accord's is attached there ({key})");
            code = ExitCode::from(EXIT_INPUT);
            continue;
        }
        match lifecycle::detach(&layout, &mut adapter, &mut store, &key) {
            Ok(_) => println!("detached {key}: link, generations and record removed"),
            Err(e) => {
                eprintln!("accord: detaching {key}: {e}");
                code = ExitCode::from(EXIT_KERNEL);
            }
        }
    }
    code
}

#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub roots: Roots,
}

pub fn run_gc(args: GcArgs) -> ExitCode {
    let layout = args.roots.layout();
    let mut adapter = RealAdapter::default();
    let store = args.roots.store();
    let _lock = match args.roots.lock() {
        Ok(l) => l,
        Err(code) => return code,
    };
    match lifecycle::gc(&layout, &mut adapter, &store, args.dry_run) {
        Ok(found) => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for p in &found {
                println!("{verb} {}", p.display());
            }
            if found.is_empty() {
                println!("nothing to collect under {}", layout.bpffs_root.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_KERNEL)
        }
    }
}
