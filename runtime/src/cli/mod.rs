//! One module per subcommand. Each `run` returns the process exit code.

pub mod audit;
pub mod check;
pub mod graph;

// Loading and managing chains in the kernel.
pub mod apply;
pub mod common;
pub mod daemon;
pub mod daemon_client;
pub mod doctor;
pub mod events;
pub mod status;
