//! The `accord` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// accord: prove that eBPF tuning features can share a hookpoint, then run
/// them there as one chain in the proven order.
#[derive(Parser)]
#[command(name = "accord", version, long_about = None)]
#[command(after_help = "\
Typical use, as root:
  accord check --audit examples/storage-hosts/composition.yaml
  accord plan  examples/storage-hosts/composition.yaml --cgroup /sys/fs/cgroup/unified/svc
  accord apply examples/storage-hosts/composition.yaml --cgroup /sys/fs/cgroup/unified/svc
  accord status --sample 5
  accord events --cgroup /sys/fs/cgroup/unified/svc --count 10   (after apply --debug-sample 1)
  accord doctor
  accord detach --cgroup /sys/fs/cgroup/unified/svc && accord gc
  accord daemon --policy /etc/accord/policy.yaml

Pins live under /sys/fs/bpf/accord, records under /run/accord (see ARCHITECTURE.md).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a composition: exit 0 with the proven-safe order, 1 with every
    /// contradiction and a counterexample connection, 2 for invalid input.
    Check(cli::check::CheckArgs),
    /// Check each object's bytecode against its effect spec: exit 0 if it
    /// does nothing the spec does not declare, 1 with every undeclared effect
    /// (instruction and source line), 2 for invalid input.
    Audit(cli::audit::AuditArgs),
    /// Write the effect graph of a composition (members, order edges,
    /// conflict edges) as Graphviz DOT.
    Graph(cli::graph::GraphArgs),
    /// Check a composition and run it on a cgroup as one chain.
    ///
    /// Checks first, with the same report as `accord check`, and refuses an
    /// unsafe composition before loading anything (exit 1; 2 for invalid
    /// input). Each spec's `object:` is loaded exactly as written (a file
    /// relative to the spec, or `builtin:<name>`) and audited against its
    /// spec first, as `accord audit` does: an object that does more than
    /// its spec declares is refused with the audit's report (exit 1).
    /// Clean verdicts are cached in the state directory. Then builds a generation (chain map, members loaded with their
    /// slots and config, a generated dispatcher) beside the live one and
    /// swaps the cgroup's pinned BPF link to it in one BPF_LINK_UPDATE. Any
    /// failure before the swap (a verifier rejection, say) rolls everything
    /// back and leaves the live chain untouched (exit 3, with the verifier
    /// log). Applying the same composition again changes nothing; a change
    /// of config only is a new generation too, so every connection sees the
    /// old config or the new one, never a mix. A cgroup the
    /// running daemon's policy covers is refused (exit 2): change the
    /// policy instead.
    Apply(cli::apply::ApplyArgs),
    /// Print the steps `accord apply` would take, taking none (after the
    /// same check, object resolution and audit).
    Plan(cli::apply::PlanArgs),
    /// Show every hookpoint accord manages: target, generation, members in
    /// order with their kernel program ids, run counts and run time; and a
    /// running daemon's policy and targets (live, pending, failed).
    Status(cli::status::StatusArgs),
    /// Remove a cgroup's chain completely (link, every generation, record).
    /// Refused for a cgroup the running daemon's policy covers.
    Detach(cli::status::DetachArgs),
    /// Remove accord pins that no hookpoint uses (old generations, leftovers
    /// of interrupted runs). `--dry-run` only lists them.
    Gc(cli::status::GcArgs),
    /// Compare the records with what bpffs and the kernel show: missing or
    /// swapped links, stale generations, removed cgroups, programs on the
    /// cgroup, its ancestors or the cgroups below it that accord does not
    /// own (or another accord chain nested there), unused struct_ops. Each finding says
    /// what to do. Exit 0 when healthy, 1 with findings.
    Doctor(cli::doctor::DoctorArgs),
    /// Keep a policy file true on this host: apply it, reconcile it, reapply
    /// on edits, follow cgroups as they come and go; serve status on a
    /// root-only socket. `--status` asks a running daemon.
    Daemon(cli::daemon::DaemonArgs),
    /// Print the debug events of a cgroup's live chain as they come (one
    /// line per sampled member run: op, addresses, ports, writes, last
    /// error). The chain must be applied with `--debug-sample N`.
    Events(cli::events::EventsArgs),
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => cli::check::run(args),
        Command::Audit(args) => cli::audit::run(args),
        Command::Graph(args) => cli::graph::run(args),
        Command::Apply(args) => cli::apply::run(args),
        Command::Plan(args) => cli::apply::run_plan(args),
        Command::Status(args) => cli::status::run_status(args),
        Command::Detach(args) => cli::status::run_detach(args),
        Command::Gc(args) => cli::status::run_gc(args),
        Command::Doctor(args) => cli::doctor::run(args),
        Command::Daemon(args) => cli::daemon::run(args),
        Command::Events(args) => cli::events::run(args),
    }
}
