//! `accord events`: print the debug events the members of a cgroup's live
//! chain emit (`accord apply --debug-sample N`), decoded, one line each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use runtime::adapter::events::{
    self, op_name, DebugSample, EventsError, MemberEvent, RealEvents, Until,
};
use runtime::desired::Target;
use runtime::state::StateStore;

use super::common::{Format, Roots, EXIT_INPUT, EXIT_KERNEL};

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// The cgroup whose chain to follow.
    #[arg(long, value_name = "PATH")]
    pub cgroup: PathBuf,
    /// Only this member (its feature, or feature/program).
    #[arg(long, value_name = "NAME")]
    pub member: Option<String>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop after this many seconds (default: run until interrupted, or
    /// until --count).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub roots: Roots,
}

pub fn run(args: EventsArgs) -> ExitCode {
    let layout = args.roots.layout();
    let store = args.roots.store();
    let records = match store.list() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("accord: {e}");
            return ExitCode::from(EXIT_KERNEL);
        }
    };
    // By cgroup id when the cgroup exists, else by the recorded path.
    let id = Target::of_cgroup(&args.cgroup).ok().map(|t| t.cgroup_id);
    let Some(record) = records
        .into_iter()
        .find(|r| Some(r.cgroup_id) == id || r.cgroup == args.cgroup)
    else {
        eprintln!(
            "accord: no chain of accord's on {} (records in {})",
            args.cgroup.display(),
            layout.records_dir().display()
        );
        return ExitCode::from(EXIT_INPUT);
    };
    let duration = match args.duration {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            eprintln!("accord: --duration {s}: not a number of seconds");
            return ExitCode::from(EXIT_INPUT);
        }
        d => d.map(Duration::from_secs_f64),
    };
    let mut rings = match events::open_rings(&layout, &record, &RealEvents, args.member.as_deref())
    {
        Ok(r) => r,
        Err(e @ EventsError::DebugOff { .. }) => {
            // Not a failure of this command: there is nothing to read.
            println!("accord: {e}");
            return ExitCode::SUCCESS;
        }
        Err(e @ EventsError::UnknownMember { .. }) => {
            eprintln!("accord: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
        Err(e) => {
            eprintln!("accord: {e}");
            return ExitCode::from(EXIT_KERNEL);
        }
    };
    let hook = record.hook;
    if args.format == Format::Human {
        let rate = match events::debug_sample(&record) {
            DebugSample::Every(1) => "every run".to_owned(),
            DebugSample::Every(n) => format!("one run in {n}"),
            _ => "sampled runs".to_owned(),
        };
        let names: Vec<&str> = rings.iter().map(|r| r.member.as_str()).collect();
        println!(
            "{} on {} ({}), generation {}: events of {rate} of each member, reading {}",
            hook.name(),
            record.cgroup.display(),
            record.key,
            record.generation,
            names.join(", ")
        );
        println!(
            "{:>16}  {:<16} {:>4}  {:<22} {:<5} {:>21}  {:>21}  {:>6} {:>8}",
            "ts ns", "member", "slot", "op", "fam", "local", "remote", "writes", "last err"
        );
    }
    let until = Until {
        count: args.count,
        duration,
    };
    let mut print = |e: &MemberEvent| {
        let ev = &e.event;
        let op = op_name(hook, ev.op);
        let line = match args.format {
            Format::Json => serde_json::json!({
                "member": e.member,
                "slot": ev.slot,
                "ts_ns": ev.ts_ns,
                "op": ev.op,
                "op_name": op,
                "family": ev.family_name(),
                "local": ev.local_text(),
                "local_port": ev.local_port,
                "remote": ev.remote_text(),
                "remote_port": ev.remote_port,
                "writes": ev.writes,
                "last_err": ev.last_err,
            })
            .to_string(),
            Format::Human => {
                let end = |a: Option<String>, port: u16| {
                    format!("{}:{port}", a.unwrap_or_else(|| "-".to_owned()))
                };
                format!(
                    "{:>16}  {:<16} {:>4}  {:<22} {:<5} {:>21}  {:>21}  {:>6} {:>8}",
                    ev.ts_ns,
                    e.member,
                    ev.slot,
                    op,
                    ev.family_name(),
                    end(ev.local_text(), ev.local_port),
                    end(ev.remote_text(), ev.remote_port),
                    ev.writes,
                    ev.last_err
                )
            }
        };
        println!("{line}");
    };
    match events::poll(&mut rings, until, &mut print) {
        Ok(n) => {
            if args.format == Format::Human {
                println!("{n} events");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accord: {e}");
            ExitCode::from(EXIT_KERNEL)
        }
    }
}
