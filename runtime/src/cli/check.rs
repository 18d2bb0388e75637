//! `accord check` (in progress).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The composition file.
    pub composition: std::path::PathBuf,
}

pub fn run(_args: CheckArgs) -> ExitCode {
    ExitCode::from(2)
}
