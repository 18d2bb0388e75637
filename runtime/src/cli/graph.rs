//! `accord graph`: the effect graph of a composition as Graphviz DOT.
//!
//! Exit codes: 0 the graph was written (whatever the verdict; `accord check`
//! is the gate), 2 invalid input or an output file that cannot be written.

use std::path::PathBuf;
use std::process::ExitCode;

use composer::check::{check, CheckOptions};
use composer::load::{self, LoadOptions};
use composer::report;

const LONG_HELP: &str = "\
Nodes are the chain members, numbered in the proven order when one exists,
with the fields each writes. Black edges are order edges (solid: a reader runs
after a writer; dashed: declared with after:/before:; bold: a resolve: entry);
red edges join two members that contradict each other, labelled with the
field or invariant; orange edges form an ordering cycle.

Examples:
  accord graph examples/storage-hosts/composition.yaml -o storage.dot
  dot -Tsvg storage.dot > storage.svg

  accord graph examples/ordering-cycle/composition.yaml | dot -Tpng > cycle.png";

#[derive(clap::Args)]
#[command(after_long_help = LONG_HELP)]
pub struct GraphArgs {
    /// The composition file (YAML).
    pub composition: PathBuf,
    /// Write the DOT text to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Check every config the param types allow (see `accord check --help`).
    #[arg(long)]
    pub any_config: bool,
    /// A specs directory holding hooks/<hook>.yaml.
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
}

pub fn run(args: GraphArgs) -> ExitCode {
    let opts = LoadOptions {
        specs_dir: args.specs.clone(),
        catalog: None,
    };
    let loaded = match load::load(&args.composition, &opts) {
        Ok(l) => l,
        Err(errors) => {
            eprint!("{}", report::load_errors_human(&errors));
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let c = &loaded.composition;
    let outcome = check(
        c,
        &CheckOptions {
            any_config: args.any_config,
            ..CheckOptions::default()
        },
    );
    let text = report::dot(&outcome, c);
    match &args.output {
        None => print!("{text}"),
        Some(path) => {
            if let Err(e) = super::check::write_file(path, &text) {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
