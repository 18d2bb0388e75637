//! The only place that touches z3: lowers [`Formula`]s to z3 ASTs and asks
//! one incremental solver, one query at a time (`push`, `assert`, `check`,
//! `pop`), with a per-query timeout.
//!
//! The timeout is ours, not z3's (see [`super::watchdog`]): with a run's
//! [`Watchdog`] each check only marks itself active; without one, each
//! check gets its own scoped watchdog thread.

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;
use z3::ast::{Bool, BV};

use z3::{FuncDecl, SatResult, Solver, Sort};

use super::watchdog::{Watchdog, RETRY};

use super::ast::{Formula, FuncId, Symbols, Term, VarId};

/// A formula lowered once and kept for reuse across queries (a guard that
/// takes part in many pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared(usize);

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Unsat,
    /// Satisfiable: the model's value of every probed term, and of every
    /// probed formula, in the order asked.
    Sat {
        terms: Vec<u64>,
        formulas: Vec<bool>,
    },
    Unknown(String),
}

/// What to read back from a model.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    pub terms: Vec<Term>,
    pub formulas: Vec<Formula>,
}

pub struct Session {
    solver: Solver,
    /// Per check; 0 means none.
    timeout_ms: u32,
    /// The run's watchdog, when there is one.
    watchdog: Option<Watchdog>,
    /// Each constant and its lowered domain (`None` when unconstrained).
    vars: HashMap<VarId, (BV, Option<Bool>)>,
    funcs: HashMap<FuncId, FuncDecl>,
    /// Prepared formulas and the constants they mention.
    prepared: Vec<(Bool, Vec<VarId>)>,
    /// Set after a panic inside z3: the solver may be in any state.
    broken: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("vars", &self.vars.len())
            .field("prepared", &self.prepared.len())
            .field("broken", &self.broken)
            .finish()
    }
}

/// The version of the z3 library this process runs against.
pub fn z3_version() -> String {
    catch_unwind(z3::full_version).map_or_else(|_| "unknown".to_string(), |v| v.to_string())
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("solver panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("solver panicked: {s}")
    } else {
        "solver panicked".to_string()
    }
}

impl Session {
    /// A fresh solver on this thread's z3 context; each `check` gives up
    /// after `timeout_ms` (0 means no timeout).
    pub fn new(timeout_ms: u32, watchdog: Option<Watchdog>) -> Result<Session, String> {
        catch_unwind(AssertUnwindSafe(|| Session {
            solver: Solver::new(),
            timeout_ms,
            watchdog,
            vars: HashMap::new(),
            funcs: HashMap::new(),
            prepared: Vec::new(),
            broken: None,
        }))
        .map_err(panic_text)
    }

    /// `check()` under the watchdog; `true` when the deadline interrupted it.
    fn check_with_deadline(&self) -> (SatResult, bool) {
        if self.timeout_ms == 0 {
            return (self.solver.check(), false);
        }
        if let Some(wd) = &self.watchdog {
            wd.begin();
            let result = self.solver.check();
            return (result, wd.end());
        }
        let deadline = Duration::from_millis(u64::from(self.timeout_ms));
        let handle = self.solver.get_context().handle();
        std::thread::scope(|scope| {
            let (done, finished) = channel::<()>();
            // An interrupt that lands before z3 has set up its check is
            // lost, so after the deadline keep interrupting until it returns.
            let watchdog = scope.spawn(move || {
                let mut wait = deadline;
                let mut late = false;
                while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(wait) {
                    handle.interrupt();
                    late = true;
                    wait = RETRY;
                }
                late
            });
            let result = self.solver.check();
            drop(done);
            let late = watchdog.join().unwrap_or(false);
            (result, late)
        })
    }

    /// Lowers `f` and keeps it for later queries.
    pub fn prepare(&mut self, symbols: &Symbols, f: &Formula) -> Result<Prepared, String> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut used = BTreeSet::new();
            let b = self.lower(symbols, f, &mut used);
            (b, used.into_iter().collect())
        }));
        match r {
            Ok(b) => {
                self.prepared.push(b);
                Ok(Prepared(self.prepared.len() - 1))
            }
            Err(p) => {
                let t = panic_text(p);
                self.broken = Some(t.clone());
                Err(t)
            }
        }
    }

    /// Is the conjunction of `parts` satisfiable? Reads `probes` back from
    /// the model when it is.
    pub fn check(
        &mut self,
        parts: &[Prepared],
        extra: &[Formula],
        probes: &Probes,
        symbols: &Symbols,
    ) -> Answer {
        if let Some(b) = &self.broken {
            return Answer::Unknown(b.clone());
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            self.check_inner(parts, extra, probes, symbols)
        }));
        match r {
            Ok(a) => a,
            Err(p) => {
                let t = panic_text(p);
                self.broken = Some(t.clone());
                Answer::Unknown(t)
            }
        }
    }

    fn check_inner(
        &mut self,
        parts: &[Prepared],
        extra: &[Formula],
        probes: &Probes,
        symbols: &Symbols,
    ) -> Answer {
        // Domains are asserted inside the query's scope, and only for the
        // constants it mentions: base-level assertions would make every later
        // query pay for every constant ever declared.
        let mut used = BTreeSet::new();
        let extra: Vec<Bool> = extra
            .iter()
            .map(|f| self.lower(symbols, f, &mut used))
            .collect();
        let terms: Vec<BV> = probes
            .terms
            .iter()
            .map(|t| self.term(symbols, t, &mut used))
            .collect();
        let formulas: Vec<Bool> = probes
            .formulas
            .iter()
            .map(|f| self.lower(symbols, f, &mut used))
            .collect();
        let mut asserted = Vec::with_capacity(parts.len() + extra.len());
        for p in parts {
            if let Some((b, vars)) = self.prepared.get(p.0) {
                asserted.push(b.clone());
                used.extend(vars.iter().copied());
            }
        }
        asserted.extend(extra);
        self.solver.push();
        for v in &used {
            if let Some((_, Some(dom))) = self.vars.get(v) {
                self.solver.assert(dom);
            }
        }
        for b in &asserted {
            self.solver.assert(b);
        }
        let (result, late) = self.check_with_deadline();
        let answer = match result {
            SatResult::Unsat => Answer::Unsat,
            SatResult::Unknown if late => {
                Answer::Unknown(format!("timed out after {} ms", self.timeout_ms))
            }
            SatResult::Unknown => Answer::Unknown(
                self.solver
                    .get_reason_unknown()
                    .unwrap_or_else(|| "unknown".to_string()),
            ),
            SatResult::Sat => match self.solver.get_model() {
                None => Answer::Unknown("sat but no model".to_string()),
                Some(m) => {
                    let mut tv = Vec::with_capacity(terms.len());
                    let mut fv = Vec::with_capacity(formulas.len());
                    let mut ok = true;
                    for t in &terms {
                        match m.eval(t, true).and_then(|v| v.as_u64()) {
                            Some(v) => tv.push(v),
                            None => ok = false,
                        }
                    }
                    for f in &formulas {
                        match m.eval(f, true).and_then(|v| v.as_bool()) {
                            Some(v) => fv.push(v),
                            None => ok = false,
                        }
                    }
                    if ok {
                        Answer::Sat {
                            terms: tv,
                            formulas: fv,
                        }
                    } else {
                        Answer::Unknown("model has no value for a probed term".to_string())
                    }
                }
            },
        };
        self.solver.pop(1);
        answer
    }

    fn var(&mut self, symbols: &Symbols, id: VarId, used: &mut BTreeSet<VarId>) -> BV {
        used.insert(id);
        if let Some((v, _)) = self.vars.get(&id) {
            return v.clone();
        }
        let d = symbols.var_decl(id);
        let v = BV::new_const(d.name.as_str(), d.width);
        self.vars.insert(id, (v.clone(), None));
        if !d.domain.is_true() {
            let dom = self.lower(symbols, &d.domain, &mut BTreeSet::new());
            self.vars.insert(id, (v.clone(), Some(dom)));
        }
        v
    }

    fn apply(&mut self, symbols: &Symbols, id: FuncId, arg: &BV) -> Bool {
        let f = self.funcs.entry(id).or_insert_with(|| {
            let d = symbols.func_decl(id);
            FuncDecl::new(
                d.name.as_str(),
                &[&Sort::bitvector(d.domain_width)],
                &Sort::bool(),
            )
        });
        f.apply(&[arg])
            .as_bool()
            .unwrap_or_else(|| Bool::from_bool(false))
    }

    fn term(&mut self, symbols: &Symbols, t: &Term, used: &mut BTreeSet<VarId>) -> BV {
        match t {
            Term::Var { id, .. } => self.var(symbols, *id, used),
            Term::Num { value, width } => BV::from_u64(*value, *width),
            Term::ZeroExt { extra, term } => self.term(symbols, term, used).zero_ext(*extra),
            Term::Extract { hi, lo, term } => self.term(symbols, term, used).extract(*hi, *lo),
            Term::Concat(parts) => {
                let mut it = parts.iter();
                let first = it
                    .next()
                    .map_or_else(|| BV::from_u64(0, 1), |p| self.term(symbols, p, used));
                it.fold(first, |acc, p| acc.concat(self.term(symbols, p, used)))
            }
            Term::BvOr(a, b) => {
                let a = self.term(symbols, a, used);
                a.bvor(self.term(symbols, b, used))
            }
        }
    }

    fn lower(&mut self, symbols: &Symbols, f: &Formula, used: &mut BTreeSet<VarId>) -> Bool {
        match f {
            Formula::True => Bool::from_bool(true),
            Formula::False => Bool::from_bool(false),
            Formula::Not(inner) => self.lower(symbols, inner, used).not(),
            Formula::And(fs) => {
                let parts: Vec<Bool> = fs.iter().map(|f| self.lower(symbols, f, used)).collect();
                Bool::and(&parts)
            }
            Formula::Or(fs) => {
                let parts: Vec<Bool> = fs.iter().map(|f| self.lower(symbols, f, used)).collect();
                Bool::or(&parts)
            }
            Formula::Eq(a, b) => {
                let (a, b) = (self.term(symbols, a, used), self.term(symbols, b, used));
                a.eq(&b)
            }
            Formula::Ult(a, b) => {
                let (a, b) = (self.term(symbols, a, used), self.term(symbols, b, used));
                a.bvult(&b)
            }
            Formula::Ule(a, b) => {
                let (a, b) = (self.term(symbols, a, used), self.term(symbols, b, used));
                a.bvule(&b)
            }
            Formula::Member { func, arg } => {
                let a = self.term(symbols, arg, used);
                self.apply(symbols, *func, &a)
            }
        }
    }
}
