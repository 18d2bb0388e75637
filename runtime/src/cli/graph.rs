//! `accord graph` (in progress).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct GraphArgs {
    /// The composition file.
    pub composition: std::path::PathBuf,
}

pub fn run(_args: GraphArgs) -> ExitCode {
    ExitCode::from(2)
}
