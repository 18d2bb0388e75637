//! The SMT layer: every question the checks ask about guards and values,
//! answered by z3 behind one narrow boundary ([`Prover`]), as values
//! ([`Verdict`]), never as panics or process exits.
//!
//! # Encoding
//! - Each readable field of the hook is one bit-vector constant, shared by
//!   all members (they all see the same connection), as wide as
//!   [`ValueType::bits`](crate::ir::ValueType::bits): ports 16 bits, IPv4
//!   addresses 32 bits (host order), `op`/`state` 32 bits constrained to the
//!   enum's variant values.
//! - Strings (`TCP_CONGESTION` values, string params) are interned: every
//!   distinct string literal gets an id `0..n` and a string is a 32-bit id.
//!   A free string param may take any id; ids past `n` decode to made-up
//!   names (`other7`) that differ from every literal, so "some other string"
//!   is representable.
//! - Params, default mode: each use of `$p` is replaced by the deployed
//!   `Feature.config` value; `x in $set` over a deployed `cidr4_set` is the
//!   OR of the prefix matches, over a `port_set` the OR of equalities.
//!   Constant comparisons fold away before z3 sees them.
//! - Params, `any_config`: a scalar param is a constant named
//!   `feature.param` bounded by its type and `min`/`max` (enum params to
//!   their variants); a set param is an uninterpreted predicate
//!   `set.feature.param : BitVec 32 (or 16) -> Bool`, so the solver picks
//!   the set's members. The witness shows the members it picked among the
//!   values the guards test (`[10.0.0.1/32]`); other addresses are outside.
//! - A write's value is a term of the field's width: a literal, the param's
//!   term, or for `{min, max}` a constant `value.<site>` bounded to the range
//!   ("some value in the range", chosen by the solver).
//! - A same-field question is `guard_a ∧ guard_b ∧ value_a ≠ value_b`
//!   (with `op` among the field's `honoured_at:` ops, when it has them); an
//!   invariant question is `guard_l ∧ guard_r ∧ ¬(value_l op value_r)`; an
//!   order question is `guard_writer ∧ (∨ guards of the reader's writes)`.
//! - Two callbacks of one connection end ([`Prover::across`]): each side's
//!   guard reads its own copy of the per-callback fields (`op@later`, ...),
//!   the catalog's `per_end` fields are shared, and the pair of ops is one
//!   the catalog's `connection_ends:` allows.
//! - A guard reading a written field (`SO_MARK == 5`) reads a variable
//!   defined by the writes before the reader in chain order
//!   (`encode/seen.rs`); order questions, asked before the order is known,
//!   read a free variable instead.
//!
//! # Limits
//! - Comparisons are unsigned (signed `i32` ones are lowered to unsigned
//!   ranges by the front end); there is no arithmetic in the guard language,
//!   so every query is quantifier-free bit-vector logic with unary
//!   predicates (QF_UFBV) and decidable; a timeout still yields `Unknown`.
//! - String order comparisons (`<` on strings) are rejected as a type error.
//! - A free set is any set: the solver does not know the deployed set's size
//!   limit (1024 entries), which never matters for a witness of one
//!   connection.
//! - All queries of a run share one z3 context per thread (z3 0.22 keeps it
//!   thread-local); a [`Prover`] must stay on the thread that made it.
//!
//! # Around z3
//! [`approx`] is the cheap side: interval boxes per guard that prove pairs
//! disjoint without a query, and that are *exact* for conjunctions of
//! single-field constant atoms (then `check` decides the pair itself and
//! reads the witness off the boxes). Only [`backend`] and [`watchdog`]
//! (per-query deadlines) name z3; [`ast`] is the small formula language in
//! between, which folds constants and prints SMT-LIB.
//!
//! Every query can be printed as SMT-LIB ([`ast::to_smt2`]) and replayed
//! with `z3 FILE`; `check::check_traced` with `dump_smt` collects them.

pub mod approx;
pub mod ast;
pub mod backend;
pub mod encode;
pub mod watchdog;
pub mod witness;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::eval::{render_cidr_set, render_port_set};
use crate::ir::{Cidr4, CmpOp, Composition, Feature, Guard, ValueType, WritableField, Write};
use crate::outcome::{Verdict, Witness};

use self::ast::{Formula, Term};
use self::backend::{Answer, Prepared, Probes, Session};
use self::encode::{EncodeError, Encoder, Event, SetProbe};
use self::witness::{set_value, show, show_config, Footprint};

/// One query as SMT-LIB text, for `--dump-smt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryRecord {
    pub what: String,
    pub smt2: String,
    /// `sat`, `unsat` or `unknown: <reason>`.
    pub answer: String,
}

/// Counts of solver calls in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SolverStats {
    pub queries: u64,
    pub sat: u64,
    pub unsat: u64,
    pub unknown: u64,
    /// Wall time spent inside z3 (lowering, check, model), in microseconds.
    pub solver_micros: u64,
}

/// One write taking part in a question. `site` identifies the write for the
/// whole run (its encoding is cached under it).
#[derive(Debug, Clone, Copy)]
pub struct Side<'c> {
    pub site: usize,
    /// The member making the write (whose guards read what it sees).
    pub member: usize,
    pub feature: &'c Feature,
    pub field: &'c WritableField,
    pub write: &'c Write,
}

/// How a question reads written fields in guards (`SO_MARK == 5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reads {
    /// The value the member sees (writes before it in chain order).
    Seen,
    /// Any value (order questions, asked before the order is known).
    Free,
}

/// The key of a write's value in the encoder (one variable per write for
/// a range's chosen value).
fn value_key(s: &Side<'_>) -> String {
    format!("{}.{}", s.feature.name, s.site)
}

/// Whether some connection makes two sets of guards hold at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlap {
    Yes,
    No,
    Unknown(String),
}

struct SiteEnc {
    guard: Prepared,
    formula: Formula,
    probes: Vec<SetProbe>,
    value: Term,
}

/// Asks z3 the checks' questions for one composition and mode.
pub struct Prover<'c> {
    enc: Encoder<'c>,
    session: Result<Session, String>,
    sites: HashMap<(usize, Event, Reads), Result<SiteEnc, String>>,
    /// The composition's members in listing order (a [`Side`]'s `member`
    /// indexes it).
    member_ids: Vec<crate::ir::MemberId>,
    dump: bool,
    pub queries: Vec<QueryRecord>,
    pub stats: SolverStats,
}

impl std::fmt::Debug for Prover<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover")
            .field("sites", &self.sites.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<'c> Prover<'c> {
    /// `timeout_ms` bounds each query (kept by `watchdog` when given, see
    /// [`watchdog::with_watchdog`]); `dump` keeps every query's SMT-LIB.
    pub fn new(
        comp: &'c Composition,
        any_config: bool,
        timeout_ms: u32,
        watchdog: Option<watchdog::Watchdog>,
        dump: bool,
    ) -> Self {
        Prover {
            enc: Encoder::new(comp, any_config),
            session: Session::new(timeout_ms, watchdog),
            sites: HashMap::new(),
            member_ids: comp.members().map(|(id, _, _)| id).collect(),
            dump,
            queries: Vec::new(),
            stats: SolverStats::default(),
        }
    }

    fn site(&mut self, s: &Side<'c>) -> Result<(), String> {
        self.site_at(s, Event::First)
    }

    fn site_at(&mut self, s: &Side<'c>, event: Event) -> Result<(), String> {
        self.site_as(s, event, Reads::Seen)
    }

    fn site_as(&mut self, s: &Side<'c>, event: Event, reads: Reads) -> Result<(), String> {
        if let Some(r) = self.sites.get(&(s.site, event, reads)) {
            return r.as_ref().map(|_| ()).map_err(Clone::clone);
        }
        let r = self.encode_site(s, event, reads);
        let out = r.as_ref().map(|_| ()).map_err(Clone::clone);
        self.sites.insert((s.site, event, reads), r);
        out
    }

    fn encode_site(&mut self, s: &Side<'c>, event: Event, reads: Reads) -> Result<SiteEnc, String> {
        let key = value_key(s);
        let enc = |e: EncodeError| format!("cannot encode: {e}");
        let reader = (reads == Reads::Seen).then_some(s.member);
        let (formula, probes) = self
            .enc
            .with_reader(reader, |enc| enc.guard_at(s.feature, &s.write.guard, event))
            .map_err(enc)?;
        let value = self
            .enc
            .value(s.feature, s.field, &s.write.value, &key)
            .map_err(enc)?;
        let session = self.session.as_mut().map_err(|e| e.clone())?;
        let guard = session.prepare(&self.enc.symbols, &formula)?;
        Ok(SiteEnc {
            guard,
            formula,
            probes,
            value,
        })
    }

    fn enc_of(&self, site: usize) -> Option<&SiteEnc> {
        self.enc_at(site, Event::First)
    }

    fn enc_at(&self, site: usize, event: Event) -> Option<&SiteEnc> {
        self.enc_as(site, event, Reads::Seen)
    }

    fn enc_as(&self, site: usize, event: Event, reads: Reads) -> Option<&SiteEnc> {
        self.sites
            .get(&(site, event, reads))
            .and_then(|r| r.as_ref().ok())
    }

    /// Tells the encoder which writes each member's written-field reads
    /// see (see [`encode::SeenWriter`]); set once the order is known.
    pub fn set_writers(&mut self, writers: Vec<((usize, String), Vec<encode::SeenWriter<'c>>)>) {
        self.enc.set_writers(writers);
    }

    /// Can `a` and `b` write different values to their (shared) field for
    /// one connection (where `only` holds too, when given: the callbacks
    /// whose value the kernel uses)? `labels` key the written values in
    /// the witness.
    pub fn same_field(
        &mut self,
        what: &str,
        a: &Side<'c>,
        b: &Side<'c>,
        labels: [String; 2],
        only: Option<&Guard>,
    ) -> Verdict<Witness> {
        if let Err(e) = self.site(a).and_then(|()| self.site(b)) {
            return Verdict::Unknown { reason: e };
        }
        let (Some(ea), Some(eb)) = (self.enc_of(a.site), self.enc_of(b.site)) else {
            return Verdict::Unknown {
                reason: "missing encoding".into(),
            };
        };
        let violation = Formula::not(Formula::eq(ea.value.clone(), eb.value.clone()));
        let [la, lb] = labels;
        let first = Event::First;
        self.run(what, [(a, first), (b, first)], violation, [la, lb], only)
    }

    /// Can `first` write its field at one callback of a connection end and
    /// `then` write a different value at a later, distinct callback of the
    /// same end? `pairs` are the (first op, later op) pairs one end goes
    /// through (the catalog's `connection_ends:`); each side's guard reads
    /// its own callback's per-callback fields, the per-end ones are shared.
    pub fn across(
        &mut self,
        what: &str,
        first: &Side<'c>,
        then: &Side<'c>,
        pairs: &[(u64, u64)],
        labels: [String; 2],
    ) -> Verdict<Witness> {
        if let Err(e) = self
            .site_at(first, Event::First)
            .and_then(|()| self.site_at(then, Event::Later))
        {
            return Verdict::Unknown { reason: e };
        }
        let (Some(ef), Some(et)) = (
            self.enc_at(first.site, Event::First),
            self.enc_at(then.site, Event::Later),
        ) else {
            return Verdict::Unknown {
                reason: "missing encoding".into(),
            };
        };
        let differ = Formula::not(Formula::eq(ef.value.clone(), et.value.clone()));
        let ops = self
            .enc
            .field_at("op", Event::First)
            .and_then(|a| Ok((a, self.enc.field_at("op", Event::Later)?)));
        let (op1, op2) = match ops {
            Ok(t) => t,
            Err(e) => {
                return Verdict::Unknown {
                    reason: e.to_string(),
                }
            }
        };
        let order = Formula::or(pairs.iter().map(|(x, y)| {
            Formula::and([
                Formula::eq(op1.clone(), Term::num(*x, op1.width())),
                Formula::eq(op2.clone(), Term::num(*y, op2.width())),
            ])
        }));
        let violation = Formula::and([differ, order]);
        let sides = [(first, Event::First), (then, Event::Later)];
        self.run(what, sides, violation, labels, None)
    }

    /// Can `l` and `r` both write, for one connection (where `only`
    /// holds, when given), values that break `l op r`?
    pub fn invariant(
        &mut self,
        what: &str,
        op: CmpOp,
        l: &Side<'c>,
        r: &Side<'c>,
        labels: [String; 2],
        only: Option<&Guard>,
    ) -> Verdict<Witness> {
        if let Err(e) = self.site(l).and_then(|()| self.site(r)) {
            return Verdict::Unknown { reason: e };
        }
        let strings = [l, r]
            .iter()
            .any(|s| matches!(s.field.ty, ValueType::Str { .. }));
        if strings && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Verdict::Unknown {
                reason: "an ordering invariant over string fields".into(),
            };
        }
        let (Some(el), Some(er)) = (self.enc_of(l.site), self.enc_of(r.site)) else {
            return Verdict::Unknown {
                reason: "missing encoding".into(),
            };
        };
        let (x, y) = (el.value.clone(), er.value.clone());
        let holds = match op {
            CmpOp::Eq => Formula::eq(x, y),
            CmpOp::Ne => Formula::not(Formula::eq(x, y)),
            CmpOp::Lt => Formula::ult(x, y),
            CmpOp::Le => Formula::ule(x, y),
            CmpOp::Gt => Formula::ult(y, x),
            CmpOp::Ge => Formula::ule(y, x),
        };
        let first = Event::First;
        self.run(
            what,
            [(l, first), (r, first)],
            Formula::not(holds),
            labels,
            only,
        )
    }

    /// Can `writer`'s guard hold together with at least one of `others`'
    /// guards (with just `writer`'s guard when `others` is empty)?
    pub fn overlap(&mut self, what: &str, writer: &Side<'c>, others: &[Side<'c>]) -> Overlap {
        let mut all = vec![*writer];
        all.extend_from_slice(others);
        // Written fields read in guards are any value here: the order the
        // answer helps to find is not known yet.
        let free = Reads::Free;
        for s in &all {
            if let Err(e) = self.site_as(s, Event::First, free) {
                return Overlap::Unknown(e);
            }
        }
        let Some(w) = self.enc_as(writer.site, Event::First, free) else {
            return Overlap::Unknown("missing encoding".into());
        };
        let parts = [w.guard];
        let mut extra = Vec::new();
        if !others.is_empty() {
            extra.push(Formula::or(others.iter().filter_map(|s| {
                self.enc_as(s.site, Event::First, free)
                    .map(|e| e.formula.clone())
            })));
        }
        let whole = self.dump.then(|| {
            let mut all = vec![w.formula.clone()];
            all.extend(extra.iter().cloned());
            Formula::and(all)
        });
        let answer = self.ask(what, &parts, &extra, &Probes::default(), whole);
        match answer {
            Answer::Sat { .. } => Overlap::Yes,
            Answer::Unsat => Overlap::No,
            Answer::Unknown(r) => Overlap::Unknown(r),
        }
    }

    /// Runs one query, counting it and keeping its SMT-LIB when asked.
    fn ask(
        &mut self,
        what: &str,
        parts: &[Prepared],
        extra: &[Formula],
        probes: &Probes,
        whole: Option<Formula>,
    ) -> Answer {
        let started = std::time::Instant::now();
        let answer = match self.session.as_mut() {
            Ok(s) => s.check(parts, extra, probes, &self.enc.symbols),
            Err(e) => Answer::Unknown(e.clone()),
        };
        self.stats.solver_micros += started.elapsed().as_micros() as u64;
        self.stats.queries += 1;
        let text = match &answer {
            Answer::Sat { .. } => {
                self.stats.sat += 1;
                "sat".to_string()
            }
            Answer::Unsat => {
                self.stats.unsat += 1;
                "unsat".to_string()
            }
            Answer::Unknown(r) => {
                self.stats.unknown += 1;
                format!("unknown: {r}")
            }
        };
        if let Some(whole) = whole {
            let smt2 = ast::to_smt2(&self.enc.symbols, what, &whole);
            self.queries.push(QueryRecord {
                what: what.to_string(),
                smt2,
                answer: text,
            });
        }
        answer
    }

    fn run(
        &mut self,
        what: &str,
        sides: [(&Side<'c>, Event); 2],
        violation: Formula,
        labels: [String; 2],
        only: Option<&Guard>,
    ) -> Verdict<Witness> {
        let violation = match only {
            None => violation,
            Some(g) => match self.enc.guard(sides[0].0.feature, g) {
                Ok((f, _)) => Formula::and([violation, f]),
                Err(e) => {
                    return Verdict::Unknown {
                        reason: format!("cannot encode: {e}"),
                    }
                }
            },
        };
        if violation.is_false() {
            return Verdict::Safe;
        }
        // What to read back: fields and free params of both guards and
        // values, free-set memberships, and the two written values.
        // Fields to read back, each at the callback its side reads it at
        // (a per-end field only once, at the first).
        let mut fields: BTreeSet<(String, Event)> = BTreeSet::new();
        if let Some(g) = only {
            let mut fp = Footprint::default();
            fp.add_guard(g);
            fields.extend(fp.fields.into_iter().map(|f| (f, Event::First)));
        }
        let across = sides.iter().any(|(_, e)| *e == Event::Later);
        // Written fields the guards read: (member, field, event).
        let mut written: Vec<(usize, String, Event)> = Vec::new();
        let mut params: Vec<(&'c Feature, String)> = Vec::new();
        for (s, event) in sides {
            let mut fp = Footprint::default();
            fp.add_guard(&s.write.guard);
            fp.add_value(&s.write.value);
            fp.expand_wide(&self.enc.composition().catalog);
            if across {
                fp.fields.insert("op".to_string());
            }
            for f in fp.fields {
                let catalog = &self.enc.composition().catalog;
                if !catalog.readable.contains_key(&f) && catalog.writable.contains_key(&f) {
                    written.push((s.member, f, event));
                    continue;
                }
                let e = if self.enc.per_callback(&f) {
                    event
                } else {
                    Event::First
                };
                fields.insert((f, e));
            }
            for p in fp.params {
                if !params
                    .iter()
                    .any(|(f, q)| f.name == s.feature.name && *q == p)
                {
                    params.push((s.feature, p));
                }
            }
        }
        let mut probes = Probes::default();
        let mut field_list = Vec::new();
        for (f, event) in &fields {
            match self.enc.field_at(f, *event) {
                Ok(t) => {
                    probes.terms.push(t);
                    field_list.push((f.clone(), *event));
                }
                Err(e) => {
                    return Verdict::Unknown {
                        reason: e.to_string(),
                    }
                }
            }
        }
        for (member, f, event) in &written {
            match self.enc.seen_term(*member, f, *event) {
                Ok(t) => probes.terms.push(t),
                Err(e) => {
                    return Verdict::Unknown {
                        reason: e.to_string(),
                    }
                }
            }
        }
        let mut free_params = Vec::new();
        for (feature, p) in &params {
            if let Some(t) = self.enc.free_scalar(feature, p) {
                probes.terms.push(t);
                free_params.push((*feature, p.clone()));
            }
        }
        let mut set_probes: Vec<SetProbe> = Vec::new();
        let mut parts = Vec::new();
        let mut whole = Vec::new();
        for (s, event) in sides {
            let Some(e) = self.enc_at(s.site, event) else {
                return Verdict::Unknown {
                    reason: "missing encoding".into(),
                };
            };
            parts.push(e.guard);
            probes.terms.push(e.value.clone());
            set_probes.extend(e.probes.iter().cloned());
            if self.dump {
                whole.push(e.formula.clone());
            }
        }
        for sp in &set_probes {
            if sp.words.is_empty() {
                probes.terms.push(sp.arg.clone());
            } else {
                probes.terms.extend(sp.words.iter().cloned());
            }
            probes.formulas.push(sp.member.clone());
        }
        whole.push(violation.clone());
        let whole = self.dump.then(|| Formula::and(whole));
        let answer = self.ask(what, &parts, &[violation], &probes, whole);
        let (terms, formulas) = match answer {
            Answer::Unsat => return Verdict::Safe,
            Answer::Unknown(reason) => return Verdict::Unknown { reason },
            Answer::Sat { terms, formulas } => (terms, formulas),
        };
        let mut it = terms.into_iter();
        let comp = self.enc.composition();
        let mut w = Witness {
            connection: BTreeMap::new(),
            config: BTreeMap::new(),
            written: BTreeMap::new(),
            later: BTreeMap::new(),
            seen: BTreeMap::new(),
        };
        for (f, event) in field_list {
            let raw = it.next().unwrap_or(0);
            if let Some(rf) = comp.catalog.readable.get(&f) {
                let v = show(&rf.ty, raw, &self.enc.strings);
                match event {
                    Event::First => w.connection.insert(f, v),
                    Event::Later => w.later.insert(f, v),
                };
            }
        }
        for (member, f, _) in written {
            let raw = it.next().unwrap_or(0);
            let (Some(wf), Some(id)) = (comp.catalog.writable.get(&f), self.member_ids.get(member))
            else {
                continue;
            };
            w.seen.insert(
                crate::outcome::seen_key(id, &f),
                show(&wf.ty, raw, &self.enc.strings),
            );
        }
        for (feature, p) in free_params {
            let raw = it.next().unwrap_or(0);
            if let Some(crate::ir::ParamType::Scalar { ty, .. }) =
                feature.params.iter().find(|q| q.name == p).map(|q| &q.ty)
            {
                w.config.insert(
                    format!("{}.{}", feature.name, p),
                    show(ty, raw, &self.enc.strings),
                );
            }
        }
        for ((s, _), label) in sides.iter().zip(labels) {
            let raw = it.next().unwrap_or(0);
            w.written
                .insert(label, show(&s.field.ty, raw, &self.enc.strings));
        }
        // Free sets: the tested values the solver put in each set. A
        // 128-bit set's members are its IPv6 entries (the encoder keeps
        // IPv4-mapped addresses out of it; they are the 32-bit set's).
        let mut sets: BTreeMap<String, FreeSet> = BTreeMap::new();
        for (sp, member) in set_probes.iter().zip(formulas) {
            let e = sets.entry(sp.key.clone()).or_insert_with(|| FreeSet {
                is_ports: sp.is_ports,
                ..FreeSet::default()
            });
            if sp.words.is_empty() {
                let raw = it.next().unwrap_or(0);
                if member {
                    e.narrow.insert(raw);
                }
            } else {
                let raw = (0..4).fold(0u128, |a, _| {
                    (a << 32) | u128::from(it.next().unwrap_or(0) as u32)
                });
                e.wide = true;
                if member && raw >> 32 != crate::ir::Cidr::V4_MAPPED >> 32 {
                    e.v6.insert(raw);
                }
            }
        }
        for (key, set) in sets {
            let text = if set.is_ports {
                render_port_set(&set.narrow.iter().map(|v| *v as u16).collect::<Vec<_>>())
            } else if set.wide {
                let v4 = set.narrow.iter().map(|v| {
                    crate::ir::Cidr::from_v4(Cidr4 {
                        addr: *v as u32,
                        len: 32,
                    })
                });
                let v6 = set
                    .v6
                    .iter()
                    .map(|a| crate::ir::Cidr { addr: *a, len: 128 });
                crate::eval::render_wide_set(&v4.chain(v6).collect::<Vec<_>>())
            } else {
                render_cidr_set(
                    &set.narrow
                        .iter()
                        .map(|v| Cidr4 {
                            addr: *v as u32,
                            len: 32,
                        })
                        .collect::<Vec<_>>(),
                )
            };
            w.config.insert(key, set_value(text));
        }
        // Deployed params that the two sides use.
        for (feature, p) in &params {
            let key = format!("{}.{}", feature.name, p);
            if w.config.contains_key(&key) || self.enc.param_is_free(feature, p) {
                continue;
            }
            if let (Some(decl), Some(v)) = (
                feature.params.iter().find(|q| &q.name == p),
                feature.config.get(p),
            ) {
                w.config.insert(key, show_config(&decl.ty, v));
            }
        }
        Verdict::Violated(w)
    }
}

/// The z3 version this process runs against (e.g. `4.8.12.0`).
pub fn z3_version() -> String {
    backend::z3_version()
}

/// What a witness shows of one free set param: the probed values the
/// solver put in it.
#[derive(Debug, Default)]
struct FreeSet {
    is_ports: bool,
    /// A 128-bit set (`cidr6_set`/`cidr_set`) was probed as such.
    wide: bool,
    /// Members of the 32-bit (or 16-bit) set: IPv4 addresses, or ports.
    narrow: BTreeSet<u64>,
    /// Members of the 128-bit set: IPv6 addresses.
    v6: BTreeSet<u128>,
}
