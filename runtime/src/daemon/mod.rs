//! The host daemon (`accord daemon`): keeps a policy file true on a host.
//!
//! Two halves. The [`engine::Engine`] runs on its own thread and does every
//! kernel and file operation synchronously, through the same lifecycle
//! functions and executor as `accord apply`. The async half (tokio, one
//! thread) waits for signals, inotify events, timer ticks and status socket
//! clients, and sends the engine [`Command`]s:
//!
//! - a change to the policy or any file it references (debounced) is a
//!   reload: the whole policy is loaded and checked again and replaces the
//!   running one only if every target passes;
//! - a cgroup appearing or vanishing beside a target, and every tick of the
//!   reconcile interval, is a reconcile: desired versus observed, the
//!   difference executed;
//! - SIGHUP reloads at once (as an input change does);
//! - SIGTERM/SIGINT stop the daemon; the chains stay pinned and attached.

pub mod engine;
pub mod existing;
pub mod instance;
pub mod socket;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use thiserror::Error;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::layout::Layout;
use engine::{Engine, Refusal};
use watch::{Change, Watch};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub policy: PathBuf,
    pub layout: Layout,
    /// Relative target cgroups are relative to this (the cgroup2 mount).
    pub cgroup_root: PathBuf,
    pub socket: PathBuf,
    /// Reconcile at least this often (the policy's `reconcile_interval_ms` wins).
    pub interval: Duration,
    /// Wait this long after the last change to an input before reloading.
    pub debounce: Duration,
    /// Where the `iter/tcp` objects for existing connections are
    /// (`<feature>.bpf.o`); `None`: existing connections are left alone.
    pub iter_objects: Option<PathBuf>,
}

impl DaemonConfig {
    /// The default socket path for a state directory.
    pub fn default_socket(layout: &Layout) -> PathBuf {
        layout.state_dir.join("accord.sock")
    }
}

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error("the policy was refused at start, nothing changed: {0}")]
    Refused(#[source] Refusal),
    #[error(transparent)]
    Socket(#[from] socket::SocketError),
    #[error("cannot watch files: {0}")]
    Watch(#[from] notify::Error),
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    #[error("another accord daemon{} runs on {} (it holds the name {name})", pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), state_dir.display())]
    AlreadyRunning {
        state_dir: PathBuf,
        name: String,
        pid: Option<u32>,
    },
    #[error("cannot take the daemon's name {name} for {}: {source}", state_dir.display())]
    Lock {
        state_dir: PathBuf,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the engine thread stopped unexpectedly")]
    EngineGone,
}

/// What the async half asks of the engine.
pub enum Command {
    Reload(oneshot::Sender<Value>),
    Reconcile,
    Status(oneshot::Sender<Value>),
    /// Finish the current command and end the engine thread.
    Stop,
}

/// What the engine reports back after each command.
struct Report {
    watch: engine::WatchSet,
    interval_ms: Option<u64>,
}

/// Logs go to stderr; `ACCORD_LOG` (else `RUST_LOG`) filters them, default `info`.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ACCORD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// [`run`] on a single-threaded tokio runtime of its own, until SIGTERM or SIGINT.
pub fn run_blocking(cfg: DaemonConfig) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(run(cfg, None))
}

/// Runs the daemon until SIGTERM or SIGINT (or, in tests, `stop`).
pub async fn run(
    cfg: DaemonConfig,
    stop: Option<oneshot::Receiver<()>>,
) -> Result<(), DaemonError> {
    let instance = instance_lock(&cfg.layout)?;
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Command>();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    let (start_tx, start_rx) = oneshot::channel::<Result<(), Refusal>>();
    let engine_cfg = cfg.clone();
    let engine_thread = std::thread::Builder::new()
        .name("accord-engine".into())
        .spawn(move || engine_loop(engine_cfg, cmd_rx, report_tx, start_tx))
        .expect("spawn the engine thread");
    match start_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            let _ = engine_thread.join();
            return Err(DaemonError::Refused(refusal));
        }
        Err(_) => return Err(DaemonError::EngineGone),
    }
    let mut watch = Watch::new()?;
    let mut interval = cfg.interval;
    if let Some(r) = report_rx.recv().await {
        watch.update(r.watch);
        interval = r.interval_ms.map_or(cfg.interval, Duration::from_millis);
    }
    let mut listener = socket::bind(&cfg.socket)?;
    let mut bound = socket::identity(&cfg.socket);
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;
    let mut stop = stop;
    info!(socket = %cfg.socket.display(), interval_ms = interval.as_millis() as u64, "daemon running");

    let far = || Instant::now() + Duration::from_secs(24 * 3600);
    let mut reload_at = far();
    let mut reconcile_at = Instant::now() + interval;
    let mut watching = true;
    let result = loop {
        let next = reload_at.min(reconcile_at);
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: stopping; the chains stay pinned and attached"); break Ok(()); }
            _ = sigint.recv() => { info!("SIGINT: stopping; the chains stay pinned and attached"); break Ok(()); }
            _ = async { match stop.as_mut() { Some(s) => { let _ = s.await; } None => std::future::pending().await } } => {
                info!("stop requested; the chains stay pinned and attached");
                break Ok(());
            }
            _ = sighup.recv() => { info!("SIGHUP: reloading the policy"); reload_at = Instant::now(); }
            change = watch.next(), if watching => match change {
                Some(Change::Inputs) => reload_at = Instant::now() + cfg.debounce,
                Some(Change::Cgroups) => reconcile_at = reconcile_at.min(Instant::now() + Duration::from_millis(10)),
                None => {
                    warn!("the file watcher stopped; only the reconcile interval applies changes now");
                    watching = false;
                }
            },
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { tokio::spawn(socket::serve(stream, cmd_tx.clone())); }
                Err(e) => warn!("status socket: accept failed: {e}"),
            },
            accepted = instance.listener.accept() => match accepted {
                Ok((stream, _)) => { tokio::spawn(socket::serve(stream, cmd_tx.clone())); }
                Err(e) => warn!("instance socket: accept failed: {e}"),
            },
            Some(r) = report_rx.recv() => {
                watch.update(r.watch);
                interval = r.interval_ms.map_or(cfg.interval, Duration::from_millis);
            }
            _ = tokio::time::sleep_until(next) => {
                // The status socket file removed (the state directory
                // deleted, say) or replaced: bind it again.
                if bound.is_none() || socket::identity(&cfg.socket) != bound {
                    match socket::bind(&cfg.socket) {
                        Ok(l) => {
                            warn!(socket = %cfg.socket.display(), "the status socket was removed or replaced: bound it again");
                            listener = l;
                            bound = socket::identity(&cfg.socket);
                        }
                        Err(e) => warn!("the status socket is gone and cannot be bound again (clients still find the daemon by its name): {e}"),
                    }
                }
                let now = Instant::now();
                if reload_at <= now {
                    reload_at = far();
                    let (tx, _rx) = oneshot::channel();
                    if cmd_tx.send(Command::Reload(tx)).is_err() { break Err(DaemonError::EngineGone); }
                    reconcile_at = now + interval;
                } else {
                    if cmd_tx.send(Command::Reconcile).is_err() { break Err(DaemonError::EngineGone); }
                    reconcile_at = now + interval;
                }
            }
        }
    };
    drop(listener);
    // Only our own socket: never one a newer daemon bound in its place.
    if socket::identity(&cfg.socket) == bound {
        let _ = std::fs::remove_file(&cfg.socket);
    }
    // Let the engine finish what it is doing (never stop halfway through a
    // plan), then end it.
    let _ = cmd_tx.send(Command::Stop);
    let _ = tokio::task::spawn_blocking(move || engine_thread.join()).await;
    result
}

/// One daemon per state directory: the state directory's abstract socket
/// name ([`instance`]), held for the process's life. Nothing on the file
/// system can break it, and the kernel frees it when the process dies.
fn instance_lock(layout: &Layout) -> Result<instance::InstanceLock, DaemonError> {
    let name = instance::name(&layout.state_dir);
    instance::InstanceLock::take(&layout.state_dir).map_err(|e| match e {
        instance::TakeError::Held { pid } => DaemonError::AlreadyRunning {
            state_dir: layout.state_dir.clone(),
            name,
            pid,
        },
        instance::TakeError::Io(source) => DaemonError::Lock {
            state_dir: layout.state_dir.clone(),
            name,
            source,
        },
    })
}

fn engine_loop(
    cfg: DaemonConfig,
    commands: std::sync::mpsc::Receiver<Command>,
    reports: tokio::sync::mpsc::UnboundedSender<Report>,
    started: oneshot::Sender<Result<(), Refusal>>,
) {
    let mut engine = Engine::new(
        cfg.layout.clone(),
        cfg.policy.clone(),
        cfg.cgroup_root.clone(),
    );
    engine.set_iter_objects(cfg.iter_objects.clone());
    match engine.reload() {
        Ok(()) => {
            let _ = started.send(Ok(()));
        }
        Err(refusal) => {
            let _ = started.send(Err(refusal));
            return;
        }
    }
    let report = |engine: &Engine| Report {
        watch: engine.watch_set(),
        interval_ms: engine.interval_ms(),
    };
    let _ = reports.send(report(&engine));
    while let Ok(cmd) = commands.recv() {
        match cmd {
            Command::Reload(reply) => {
                let answer = match engine.reload() {
                    Ok(()) => json!({ "ok": true }),
                    Err(e) => json!({ "ok": false, "error": e.to_string() }),
                };
                let _ = reply.send(answer);
            }
            Command::Reconcile => engine.reconcile(),
            Command::Stop => return,
            Command::Status(reply) => {
                let _ = reply.send(engine.status());
                continue;
            }
        }
        let _ = reports.send(report(&engine));
    }
}
