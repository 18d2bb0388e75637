//! `accord doctor`: compares the records with what bpffs and the kernel
//! show and reports every disagreement with what to do. Exit 0 when every
//! hookpoint is healthy, 1 with findings, 3 when the facts cannot be read.
//! It also probes the kernel and prints what it lacks with what accord does
//! instead; a lack that makes accord refuse something counts as a finding.

use std::process::ExitCode;

use runtime::adapter::inventory::RealInventory;
use runtime::adapter::real::RealAdapter;
use runtime::adapter::BpfAdapter;
use runtime::doctor::{self, Finding, Report};
use runtime::kernel::Consequence;
use serde::Serialize;

use super::common::{Format, Roots, EXIT_KERNEL};

/// Exit code: at least one finding.
const EXIT_FINDINGS: u8 = 1;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// How to print the report.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    #[command(flatten)]
    pub roots: Roots,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    problem: String,
    action: String,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    kernel: serde_json::Value,
    healthy: &'a [String],
    findings: Vec<JsonFinding<'a>>,
}

pub fn run(args: DoctorArgs) -> ExitCode {
    let layout = args.roots.layout();
    let store = args.roots.store();
    let facts = match doctor::gather(&layout, &RealAdapter::default(), &RealInventory, &store) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("accord: {e}");
            return ExitCode::from(EXIT_KERNEL);
        }
    };
    let report = doctor::diagnose(&facts);
    let kernel = RealAdapter::default().probe(&runtime::kernel::builtin_sockopt_options());
    let lacks = kernel.lacks();
    let refusals = lacks
        .iter()
        .filter(|l| matches!(l.consequence, Consequence::Refused(_)))
        .count();
    match args.format {
        Format::Human => {
            println!("kernel {}", kernel.release);
            for lack in &lacks {
                println!("  lacks {lack}");
            }
            if lacks.is_empty() {
                println!("  has every feature accord uses");
            }
            print_human(&report, facts.hookpoints.is_empty());
        }
        Format::Json => {
            let json = JsonReport {
                kernel: kernel.to_json(),
                healthy: &report.healthy,
                findings: report
                    .findings
                    .iter()
                    .map(|f| JsonFinding {
                        finding: f,
                        problem: f.problem(),
                        action: f.action(),
                    })
                    .collect(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("reports serialize")
            );
        }
    }
    if report.findings.is_empty() && refusals == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDINGS)
    }
}

fn print_human(report: &Report, no_records: bool) {
    if no_records && report.findings.is_empty() {
        println!("no hookpoints managed by accord, and no pins left behind");
    }
    for key in &report.healthy {
        println!("{key}: healthy");
    }
    for f in &report.findings {
        println!("{}: {}", f.key().unwrap_or("host"), f.problem());
        println!("    fix: {}", f.action());
    }
    if !report.findings.is_empty() {
        println!("{} finding(s)", report.findings.len());
    }
}
