//! Per-query deadlines for z3 without z3's own timer.
//!
//! z3 4.8.12 runs its `timeout` parameter on a pool of timer threads that
//! can deadlock when several threads use z3 at once (Z3Prover/z3 PR #5371,
//! issue #5990; seen here as parallel tests that hung for good). Instead,
//! one watchdog thread per check run calls `Z3_interrupt` on the context of
//! the run's thread when a query passes its deadline, and again every
//! [`RETRY`] until the query ends: an interrupt that lands before z3 has set
//! up the check is lost. Interrupts are issued while holding the state lock
//! and only for the query still marked active, so one can never hit the
//! next query; an interrupt between queries is not sticky in z3.
//!
//! Besides `backend`, this is the only file that names z3.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use z3::{Context, ContextHandle};

/// How often a late query is interrupted again.
pub const RETRY: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct State {
    /// The running query's deadline.
    deadline: Option<Instant>,
    /// The running query was interrupted.
    fired: bool,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The query side of a run's watchdog (cheap to clone).
#[derive(Debug, Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
    timeout: Duration,
}

impl Watchdog {
    /// A query starts now.
    pub fn begin(&self) {
        let mut st = self.shared.lock();
        st.deadline = Some(Instant::now() + self.timeout);
        st.fired = false;
        self.shared.wake.notify_all();
    }

    /// The query has returned; `true` when its deadline interrupted it.
    pub fn end(&self) -> bool {
        let mut st = self.shared.lock();
        st.deadline = None;
        std::mem::take(&mut st.fired)
    }

    /// The per-query limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

fn watch(shared: &Shared, handle: ContextHandle<'_>) {
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let wait = match st.deadline {
            None => None,
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    handle.interrupt();
                    st.fired = true;
                    Some(RETRY)
                } else {
                    Some(deadline - now)
                }
            }
        };
        st = match wait {
            None => shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
            Some(d) => {
                shared
                    .wake
                    .wait_timeout(st, d)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

/// Stops the watchdog thread when the run ends, panics included (the scope
/// would otherwise wait for it forever).
struct Stop<'a>(&'a Shared);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.lock().shutdown = true;
        self.0.wake.notify_all();
    }
}

/// Runs `f` with a watchdog for this thread's z3 context, giving each query
/// `timeout_ms` (`None` when 0: no deadline).
pub fn with_watchdog<R>(timeout_ms: u32, f: impl FnOnce(Option<&Watchdog>) -> R) -> R {
    if timeout_ms == 0 {
        return f(None);
    }
    let Ok(ctx) = catch_unwind(AssertUnwindSafe(Context::thread_local)) else {
        return f(None);
    };
    let wd = Watchdog {
        shared: Arc::new(Shared::default()),
        timeout: Duration::from_millis(u64::from(timeout_ms)),
    };
    std::thread::scope(|scope| {
        let handle = ctx.handle();
        let shared = Arc::clone(&wd.shared);
        scope.spawn(move || watch(&shared, handle));
        let _stop = Stop(&wd.shared);
        f(Some(&wd))
    })
}
