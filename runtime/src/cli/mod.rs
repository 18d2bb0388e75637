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

/// A reader that closes early (`accord check … | head -1`) ends the
/// command as it ends `ls`: killed quietly by SIGPIPE at its next write.
/// Rust starts programs with SIGPIPE ignored, which turns that write into a
/// panic (exit 101). The daemon, which writes to sockets whose clients may
/// hang up, puts SIGPIPE back to ignored ([`ignore_sigpipe`]); the CLI's one
/// socket write (`daemon::socket::request`) sends with `MSG_NOSIGNAL`.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// SIGPIPE ignored: a write to a closed pipe or socket returns `EPIPE`.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
