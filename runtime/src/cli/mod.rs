//! One module per subcommand. Each `run` returns the process exit code.

pub mod check;
pub mod graph;
