//! `accord check`: load a composition, prove it safe or print every
//! contradiction with a counterexample connection.
//!
//! Exit codes: 0 safe, 1 conflicts / ordering cycle / unanswered checks,
//! 2 invalid input (including a missing file) or an output file that cannot
//! be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::common::Format;
use composer::check::{check_traced, CheckOptions};
use composer::load::{self, LoadOptions};
use composer::report;

const LONG_HELP: &str = "\
Examples:
  # Is this composition safe with the config it will be deployed with?
  accord check examples/storage-hosts/composition.yaml

  # The same for CI, as JSON; exit code 0 safe, 1 not safe, 2 bad input
  accord check --format json examples/storage-hosts/composition.yaml

  # Safe for every config the specs' param types allow?
  accord check --any-config examples/config-dependent/composition.yaml

  # Also write the effect graph, then draw it
  accord check --dot graph.dot examples/same-field/composition.yaml
  dot -Tsvg graph.dot > graph.svg

The hook catalog (specs/hooks/<hook>.yaml) is found by searching upward from
the composition's directory for specs/; --specs DIR names another specs
directory. Each contradiction is printed with a concrete connection (op,
addresses, ports) and config that make two features disagree.";

#[derive(clap::Args)]
#[command(after_long_help = LONG_HELP)]
pub struct CheckArgs {
    /// The composition file (YAML) to check.
    pub composition: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also write the effect graph (members, order edges, conflict edges in
    /// red) to FILE as Graphviz DOT.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Check every config the param types allow instead of the composition's
    /// deployed config: proves a composition safe whatever config is deployed.
    #[arg(long)]
    pub any_config: bool,
    /// A specs directory holding hooks/<hook>.yaml (default: search upward
    /// from the composition for specs/).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// Give up on one solver question after this many milliseconds (it is
    /// then reported as unknown, exit 1); 0 means no limit.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u32,
    /// Write every solver query to DIR as SMT-LIB (NNNN.smt2, with the answer
    /// in a comment), to reproduce a verdict with z3 by hand.
    #[arg(long, value_name = "DIR")]
    pub dump_smt: Option<PathBuf>,
    /// Also audit the bytecode of every member that names an `object:`
    /// against its spec (as `accord audit` does); an undeclared effect
    /// makes the exit code 1, an object that cannot be audited 2.
    #[arg(long)]
    pub audit: bool,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let opts = LoadOptions {
        specs_dir: args.specs.clone(),
        catalog: None,
    };
    let loaded = match load::load(&args.composition, &opts) {
        Ok(l) => l,
        Err(errors) => {
            match args.format {
                Format::Human => eprint!("{}", report::load_errors_human(&errors)),
                Format::Json => print!("{}", report::load_errors_json(&errors)),
            }
            return ExitCode::from(2);
        }
    };
    let c = &loaded.composition;
    let opts = CheckOptions {
        any_config: args.any_config,
        timeout_ms: args.timeout_ms,
    };
    let (outcome, trace) = check_traced(c, &opts, args.dump_smt.is_some());
    if let Some(dir) = &args.dump_smt {
        if let Err(e) = dump_smt(dir, &trace.queries) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let audits = if args.audit {
        super::audit::audit_composition(c)
    } else {
        Vec::new()
    };
    match args.format {
        Format::Human => {
            print!("{}", report::human(&outcome, c, &loaded.warnings));
            if args.audit {
                print!("{}", super::audit::composition_human(&audits));
            }
        }
        Format::Json if args.audit => print!(
            "{}",
            super::audit::merge_json(&report::json(&outcome, &loaded.warnings), &audits)
        ),
        Format::Json => print!("{}", report::json(&outcome, &loaded.warnings)),
    }
    let audit = super::audit::Verdict::of(&audits);
    if let Some(path) = &args.dot {
        if let Err(e) = write_file(path, &report::dot(&outcome, c)) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    if audit == super::audit::Verdict::Unaudited {
        ExitCode::from(2)
    } else if outcome.is_safe() && audit == super::audit::Verdict::Clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn dump_smt(dir: &Path, queries: &[composer::solver::QueryRecord]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, q) in queries.iter().enumerate() {
        let text = format!("; answer: {}\n{}\n", q.answer, q.smt2);
        write_file(&dir.join(format!("{:04}.smt2", i + 1)), &text)?;
    }
    Ok(())
}

/// Writes `text` to `path`, naming the file in the error.
pub(crate) fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
