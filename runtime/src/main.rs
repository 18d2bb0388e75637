//! The `accord` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// accord: prove that eBPF tuning features can share a hookpoint, then run
/// them there as one chain in the proven order.
#[derive(Parser)]
#[command(name = "accord", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a composition: exit 0 with the proven-safe order, 1 with every
    /// contradiction and a counterexample connection, 2 for invalid input.
    Check(cli::check::CheckArgs),
    /// Write the effect graph of a composition (members, order edges,
    /// conflict edges) as Graphviz DOT.
    Graph(cli::graph::GraphArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => cli::check::run(args),
        Command::Graph(args) => cli::graph::run(args),
    }
}
