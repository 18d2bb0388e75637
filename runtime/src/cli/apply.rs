//! `accord apply` and `accord plan`.

use std::process::ExitCode;

use runtime::adapter::real::RealAdapter;
use runtime::lifecycle;

use super::common::{self, ChainArgs, Roots, EXIT_KERNEL};
use super::daemon_client;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: ChainArgs,
    #[command(flatten)]
    pub roots: Roots,
    /// For development only: load the member objects without auditing them
    /// against their specs. Loud: a warning now, and the record and
    /// `accord status` say the chain was never audited. The daemon has no
    /// such switch.
    #[arg(long)]
    pub skip_audit: bool,
}

/// `accord apply`: check, plan, execute, print what is live.
pub fn run(args: ApplyArgs) -> ExitCode {
    let (comp, outcome) = match common::load_and_check(&args.target, false) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let layout = args.roots.layout();
    let desired =
        match common::desired_chain(&args.target, &layout, &comp, &outcome, args.skip_audit) {
            Ok(d) => d,
            Err(code) => return code,
        };
    let daemon = daemon_client::query(&layout);
    let cgroup = Some(args.target.cgroup.as_path());
    if let Err(code) = daemon_client::refuse_if_managed(&daemon, "apply to", &desired.key, cgroup) {
        return code;
    }
    let mut adapter = RealAdapter::default();
    if let Err(code) = common::require_bpffs(&layout) {
        return code;
    }
    let _lock = match args.roots.lock() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut store = args.roots.store();
    match lifecycle::apply(&layout, &mut adapter, &mut store, &desired) {
        Ok((plan, done)) => {
            println!("applied: {} ({} steps)", plan.kind, done.steps);
            for w in &done.warnings {
                println!("warning: {w} (run `accord gc` to finish the cleanup)");
            }
            for n in &done.notes {
                println!("note: kernel fallback: {n}");
            }
            common::print_live(&layout, &adapter, &store, &desired.key);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accord: apply failed: {e}");
            ExitCode::from(EXIT_KERNEL)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: ChainArgs,
    #[command(flatten)]
    pub roots: Roots,
}

/// `accord plan`: what `apply` would do, without doing it.
pub fn run_plan(args: PlanArgs) -> ExitCode {
    let (comp, outcome) = match common::load_and_check(&args.target, true) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let layout = args.roots.layout();
    let desired = match common::desired_chain(&args.target, &layout, &comp, &outcome, false) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let adapter = RealAdapter::default();
    let store = args.roots.store();
    let daemon = daemon_client::query(&layout);
    match lifecycle::plan_for(&layout, &adapter, &store, &desired) {
        Ok(plan) => {
            print!("{plan}");
            if let Some(m) = daemon.managed(&desired.key, Some(&args.target.cgroup)) {
                println!(
                    "note: the running accord daemon manages {} (policy {}): `accord apply` would be refused",
                    m.cgroup, m.policy
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_KERNEL)
        }
    }
}
