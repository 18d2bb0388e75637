//! `accord check`'s checks on a loaded [`Composition`]: same-field
//! conflicts, cross-field invariants, order edges, the order itself and the
//! chain-length limit. Produces a [`CheckOutcome`]; never panics, never
//! exits, and turns solver trouble into `unknown` entries.
//!
//! # What is checked
//! - **Same field.** For every two writes of one field by different members
//!   on the same hook: is there a connection (and, under `any_config`, a
//!   config) where both guards hold and the values differ? Yes is a
//!   [`Conflict::SameField`] with the solver's witness, or, when a
//!   `resolve:` entry prefers exactly one of the two features, an
//!   [`Override`] plus an order edge loser -> winner. A write declared
//!   `update: or` (a read-modify-write, cb flags) never conflicts at its
//!   callback: it reads the field, so it runs after the field's
//!   assignments (an order edge), and two such writes combine. At most one
//!   conflict is reported per field and member pair.
//! - **Invariants.** For every invariant `lhs op rhs` of the catalog and
//!   every writer of `lhs` with every writer of `rhs` (the same member
//!   included): both guards hold and `lhs op rhs` fails.
//! - **Order edges.** Rule: member R gets an edge W -> R for field F when R
//!   lists F in `reads:`, W (another member) writes F, and W's guard can
//!   hold together with the guard of at least one of R's own writes (with
//!   W's guard alone when R writes nothing): R acts only when one of its
//!   writes' guards holds, so only those connections matter. When the
//!   solver cannot decide, the edge is added (an extra edge never makes an
//!   order unsafe). A write declared `update: or` reads its field too: it
//!   is ordered after that field's assignments (not after other `or`
//!   writes, which commute). Feature `after:`/`before:` add edges between every
//!   program pair of the two features; names not in the composition are
//!   ignored (the front end reports them).
//! - **Order.** See [`crate::order`]: Kahn with ties broken by (feature,
//!   program), or one cycle.
//! - **Limits.** More than [`MAX_MEMBERS_PER_CHAIN`] members on one hook.
//!
//! # Cost
//! Candidate pairs are enumerated per field (quadratic in its writers, but
//! each costs only an interval test). Pairs whose values are the same single
//! value, or whose guard boxes ([`crate::solver::approx`]) are disjoint, are
//! safe without a query. When both boxes are *exact* (conjunctions of
//! single-field atoms with constant operands) and the values are literals,
//! ranges or deployed params, the answer is certain without z3 too: the
//! witness takes each field's least value in the boxes' intersection and two
//! values picked from the value intervals (the exact fast path, checked
//! against z3 by `tests/solver_config.rs`; [`Tuning`] turns it off). The
//! rest (`||` across fields, field-to-field comparisons, free params under
//! `any_config`) are one z3 query each on one incremental solver (push/pop),
//! with each guard lowered once.

mod across;
mod edges;
mod invariants;
mod seen;

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::audit::guard_ops::may_hold;
use crate::eval::written_key;
use crate::ir::{
    CmpOp, Composition, Feature, Guard, Literal, MemberId, Operand, Program, SetExpr, Update,
    ValueType, WritableField, Write, WriteValue,
};
use crate::outcome::{
    CheckOutcome, Conflict, EdgeReason, IgnoredWrite, OrderEdge, Override, UnknownCheck, Verdict,
    Witness, WitnessValue,
};
use crate::solver::approx::{pick_differ, pick_violation, Approximator, GuardBox, ValueApprox};
use crate::solver::encode::Interner;
use crate::solver::watchdog::{with_watchdog, Watchdog};
use crate::solver::witness::{from_box, show};
use crate::solver::{Prover, QueryRecord, Side, SolverStats};

/// The hook field whose value names the callback (`op`).
pub(super) const OP_FIELD: &str = "op";

/// The kernel allows 33 tail calls: the dispatcher plus 32 members.
pub const MAX_MEMBERS_PER_CHAIN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Params range over every value their types allow instead of taking
    /// the deployed config (`--any-config`).
    pub any_config: bool,
    /// Per solver query; 0 means no limit.
    pub timeout_ms: u32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            any_config: false,
            timeout_ms: 5000,
        }
    }
}

/// How much work a check did, for benchmarks and `--verbose`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckStats {
    pub features: usize,
    pub members: usize,
    pub writes: usize,
    /// Write pairs of one `conflict` field by different members on one hook.
    pub same_field_candidates: u64,
    /// ... of which both values are the same single value (no query).
    pub same_field_equal_values: u64,
    /// ... of which the guard boxes are disjoint (no query).
    pub same_field_disjoint: u64,
    /// ... of which the guards may overlap: one solver query each.
    pub same_field_overlapping: u64,
    /// Write pairs of one persistent field by different members that one
    /// connection end may meet at two callbacks (first, then).
    pub across_candidates: u64,
    /// ... of which the ops and per-end fields may meet: one query each.
    pub across_queries: u64,
    pub invariant_candidates: u64,
    pub invariant_queries: u64,
    pub order_candidates: u64,
    pub order_queries: u64,
    /// Questions decided from exact guard boxes without z3 (counted in the
    /// overlapping pairs and order candidates, not in the queries).
    pub decided_exactly: u64,
    pub solver: SolverStats,
}

/// Everything a check run did besides its outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckTrace {
    pub stats: CheckStats,
    /// Every solver query as SMT-LIB, when asked for (`--dump-smt`).
    pub queries: Vec<QueryRecord>,
}

/// How a check run works, beyond what it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Keep every solver query's SMT-LIB text in the trace (`--dump-smt`).
    pub dump_smt: bool,
    /// Decide pairs whose guard boxes are exact and whose values are single
    /// values without z3 (see the module docs). Off only to test it.
    pub exact_fast_path: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            dump_smt: false,
            exact_fast_path: true,
        }
    }
}

/// Checks a composition.
pub fn check(c: &Composition, opts: &CheckOptions) -> CheckOutcome {
    check_traced(c, opts, false).0
}

/// Checks a composition and says how; with `dump_smt`, every question goes
/// to z3 (no exact fast path) and the trace keeps each query's SMT-LIB text.
pub fn check_traced(
    c: &Composition,
    opts: &CheckOptions,
    dump_smt: bool,
) -> (CheckOutcome, CheckTrace) {
    // Dumping is for reproducing questions by hand: ask z3 every one of them.
    let tuning = Tuning {
        dump_smt,
        exact_fast_path: !dump_smt,
    };
    check_with(c, opts, &tuning)
}

/// [`check_traced`] with every knob.
pub fn check_with(
    c: &Composition,
    opts: &CheckOptions,
    tuning: &Tuning,
) -> (CheckOutcome, CheckTrace) {
    with_watchdog(opts.timeout_ms, |watchdog| {
        let mut run = Run::new(c, opts, *tuning, watchdog.cloned());
        // The order first: what a guard reading a written field sees
        // depends on the members before it.
        run.reads_edges();
        run.declared_edges();
        let order_edges = std::mem::take(&mut run.edges);
        run.seen_writers(&order_edges);
        run.same_field();
        run.across_callbacks();
        run.invariants();
        // Overrides' edges first, as the reports have always listed them.
        run.edges.extend(order_edges);
        run.finish()
    })
}

struct Site<'c> {
    member: usize,
    feature: &'c Feature,
    program: &'c Program,
    write: &'c Write,
    field: &'c WritableField,
    gbox: GuardBox,
    /// Every point of `gbox` satisfies the guard.
    exact: bool,
    value: ValueApprox,
}

impl<'c> Site<'c> {
    fn side(&self, idx: usize) -> Side<'c> {
        Side {
            site: idx,
            member: self.member,
            feature: self.feature,
            field: self.field,
            write: self.write,
        }
    }
}

struct Run<'c> {
    c: &'c Composition,
    opts: CheckOptions,
    members: Vec<MemberId>,
    sites: Vec<Site<'c>>,
    by_field: BTreeMap<&'c str, Vec<usize>>,
    prover: Prover<'c>,
    approx: Approximator<'c>,
    fast: bool,
    conflicts: Vec<Conflict>,
    overrides: Vec<Override>,
    unknown: Vec<UnknownCheck>,
    edges: Vec<OrderEdge>,
    edge_keys: HashSet<(usize, usize, String)>,
    /// (field, member, member), lower member first: pairs already reported
    /// (conflict, override or unknown), so each is reported once.
    reported: HashSet<(String, usize, usize)>,
    stats: CheckStats,
}

impl<'c> Run<'c> {
    fn new(
        c: &'c Composition,
        opts: &CheckOptions,
        tuning: Tuning,
        watchdog: Option<Watchdog>,
    ) -> Self {
        let approx = Approximator::new(c, opts.any_config);
        let mut members = Vec::new();
        let mut sites = Vec::new();
        let mut unknown = Vec::new();
        for (mi, (id, feature, program)) in c.members().enumerate() {
            for write in &program.writes {
                let Some(field) = c.catalog.writable.get(&write.field) else {
                    unknown.push(UnknownCheck {
                        what: format!("{id} writes {}", write.field),
                        reason: format!("no writable field `{}` in the catalog", write.field),
                    });
                    continue;
                };
                let (gbox, exact) = approx.approx(feature, &write.guard, true);
                sites.push(Site {
                    member: mi,
                    feature,
                    program,
                    write,
                    field,
                    gbox,
                    exact,
                    value: approx.value(feature, &write.value),
                });
            }
            members.push(id);
        }
        let mut by_field: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in sites.iter().enumerate() {
            by_field.entry(s.write.field.as_str()).or_default().push(i);
        }
        let stats = CheckStats {
            features: c.features.len(),
            members: members.len(),
            writes: sites.len(),
            ..CheckStats::default()
        };
        Run {
            c,
            opts: *opts,
            members,
            sites,
            by_field,
            prover: Prover::new(
                c,
                opts.any_config,
                opts.timeout_ms,
                watchdog,
                tuning.dump_smt,
            ),
            approx,
            fast: tuning.exact_fast_path,
            conflicts: Vec::new(),
            overrides: Vec::new(),
            unknown,
            edges: Vec::new(),
            edge_keys: HashSet::new(),
            reported: HashSet::new(),
            stats,
        }
    }

    fn edge(&mut self, first: usize, then: usize, reason: EdgeReason) {
        if first == then {
            return;
        }
        let key = match &reason {
            EdgeReason::ReadsWrite { field } => format!("r:{field}"),
            EdgeReason::Declared => "d".to_string(),
            EdgeReason::Resolve { field } => format!("o:{field}"),
        };
        if self.edge_keys.insert((first, then, key)) {
            self.edges.push(OrderEdge {
                first: self.members[first].clone(),
                then: self.members[then].clone(),
                reason,
            });
        }
    }

    /// The preferred member of a pair under a `resolve:` entry for `field`.
    fn resolved(&self, field: &str, a: usize, b: usize) -> Option<(usize, usize)> {
        let (fa, fb) = (&self.members[a].feature, &self.members[b].feature);
        self.c
            .resolves
            .iter()
            .filter(|r| r.field == field)
            .find_map(|r| match (&r.prefer == fa, &r.prefer == fb) {
                (true, false) => Some((a, b)),
                (false, true) => Some((b, a)),
                _ => None,
            })
    }

    fn same_field(&mut self) {
        let fields: Vec<(&'c str, Vec<usize>)> =
            self.by_field.iter().map(|(f, v)| (*f, v.clone())).collect();
        for (field, idxs) in fields {
            if !self.c.catalog.writable.contains_key(field) {
                continue;
            }
            let mut decided: HashSet<(usize, usize)> = HashSet::new();
            for (n, &i) in idxs.iter().enumerate() {
                for &j in &idxs[n + 1..] {
                    self.same_field_pair(field, i, j, &mut decided);
                }
            }
        }
    }

    fn same_field_pair(
        &mut self,
        field: &str,
        i: usize,
        j: usize,
        decided: &mut HashSet<(usize, usize)>,
    ) {
        let (a, b) = (&self.sites[i], &self.sites[j]);
        if a.member == b.member || a.program.hook != b.program.hook {
            return;
        }
        // A read-modify-write ORs into what is there: two of them combine,
        // and one after an assignment keeps it (the `or` writer reads the
        // field, which orders it after the assignment: `reads_edges`).
        if a.write.update == Update::Or || b.write.update == Update::Or {
            return;
        }
        let pair = (a.member, b.member);
        if decided.contains(&pair) {
            return;
        }
        self.stats.same_field_candidates += 1;
        if a.value.surely_equal(&b.value) {
            self.stats.same_field_equal_values += 1;
            return;
        }
        // Only the callbacks whose value the kernel uses can contradict.
        let only = self.honoured_only(&[field], a.feature);
        let meet = a.gbox.meet(&b.gbox);
        let disjoint = match &only {
            Some((_, ob)) => meet.meet(ob).is_bottom(),
            None => meet.is_bottom(),
        };
        if disjoint {
            self.stats.same_field_disjoint += 1;
            return;
        }
        self.stats.same_field_overlapping += 1;
        let (ma, mb) = (
            self.members[a.member].clone(),
            self.members[b.member].clone(),
        );
        let what = format!("{field}: {ma} vs {mb}");
        let (sa, sb) = (a.side(i), b.side(j));
        let labels = [written_key(&ma, None), written_key(&mb, None)];
        let only_box = only.as_ref().map(|(_, b)| b);
        let verdict = match self.exact_witness(i, j, labels.clone(), None, only_box) {
            Some(w) => Verdict::Violated(w),
            None => {
                let only = only.as_ref().map(|(g, _)| g);
                self.prover.same_field(&what, &sa, &sb, labels, only)
            }
        };
        let resolved = self.resolved(field, pair.0, pair.1);
        match verdict {
            Verdict::Safe => {}
            Verdict::Violated(witness) => {
                decided.insert(pair);
                self.reported
                    .insert((field.to_string(), pair.0.min(pair.1), pair.0.max(pair.1)));
                match resolved {
                    Some((winner, loser)) => {
                        self.overrides.push(Override {
                            field: field.to_string(),
                            winner: self.members[winner].clone(),
                            loser: self.members[loser].clone(),
                            witness,
                        });
                        self.edge(
                            loser,
                            winner,
                            EdgeReason::Resolve {
                                field: field.into(),
                            },
                        );
                    }
                    None => self.conflicts.push(Conflict::SameField {
                        field: field.to_string(),
                        a: ma,
                        b: mb,
                        witness,
                    }),
                }
            }
            Verdict::Unknown { reason } => {
                decided.insert(pair);
                self.reported
                    .insert((field.to_string(), pair.0.min(pair.1), pair.0.max(pair.1)));
                match resolved {
                    // The override order settles the pair whatever the answer.
                    Some((winner, loser)) => {
                        self.edge(
                            loser,
                            winner,
                            EdgeReason::Resolve {
                                field: field.into(),
                            },
                        );
                    }
                    None => self.unknown.push(UnknownCheck { what, reason }),
                }
            }
        }
    }

    /// The fast path: both guards' boxes exact and overlapping, both values
    /// literals, ranges, deployed params, or free integer params of two
    /// different features (exact guards mention no free param, and params
    /// are per feature, so such values are independent). Then two values
    /// that differ (`op` is `None`) or that break `lhs op rhs` are picked
    /// from the value intervals, every field takes a value from the boxes'
    /// intersection, and the violation is certain. `None`: let z3 decide.
    fn exact_witness(
        &mut self,
        i: usize,
        j: usize,
        labels: [String; 2],
        op: Option<CmpOp>,
        only: Option<&GuardBox>,
    ) -> Option<Witness> {
        let (a, b) = (&self.sites[i], &self.sites[j]);
        if !self.fast || !a.exact || !b.exact {
            return None;
        }
        let (free_a, free_b) = (self.free_value(a), self.free_value(b));
        if (free_a || free_b) && a.feature.name == b.feature.name {
            return None;
        }
        let (x, y) = match op {
            None => pick_differ(&a.value, &b.value)?,
            Some(op) => pick_violation(op, &a.value, &b.value)?,
        };
        let mut meet = a.gbox.meet(&b.gbox);
        if let Some(ob) = only {
            meet = meet.meet(ob);
        }
        if meet.is_bottom() {
            return None;
        }
        let [la, lb] = labels;
        let none = Interner::default();
        let shown = |ty: &ValueType, v: Literal| match v {
            Literal::Int(n) => show(ty, n, &none),
            Literal::Str(s) => WitnessValue {
                raw: Literal::Str(s.clone()),
                display: s,
            },
        };
        let (wa, wb) = (shown(&a.field.ty, x), shown(&b.field.ty, y));
        let mut w = from_box(
            self.c,
            &self.approx,
            &meet,
            [
                (a.feature, a.write, la, wa.clone()),
                (b.feature, b.write, lb, wb.clone()),
            ],
        )?;
        // The op the restriction picked, when neither guard names it.
        if let (Some(_), Some(idx)) = (only, self.approx.field_index(OP_FIELD)) {
            if let (false, Some(v), Some(f)) = (
                w.connection.contains_key(OP_FIELD),
                meet.least(idx),
                self.c.catalog.readable.get(OP_FIELD),
            ) {
                w.connection
                    .insert(OP_FIELD.to_string(), show(&f.ty, v, &none));
            }
        }
        // A free param takes the value picked for its write.
        for (site, free, v) in [(a, free_a, wa), (b, free_b, wb)] {
            if let (true, WriteValue::Param(p)) = (free, &site.write.value) {
                w.config.insert(format!("{}.{}", site.feature.name, p), v);
            }
        }
        self.stats.decided_exactly += 1;
        Some(w)
    }

    /// Where the kernel uses the value of any of `fields` (`honoured_at:`),
    /// as a guard on `op` and its box; `None` when all are used everywhere.
    fn honoured_only(&self, fields: &[&str], feature: &Feature) -> Option<(Guard, GuardBox)> {
        let mut parts = Vec::new();
        for f in fields {
            if let Some(ops) = self
                .c
                .catalog
                .writable
                .get(*f)
                .and_then(|w| w.honoured_at.as_ref())
            {
                parts.push(Guard::In {
                    operand: Operand::Field(OP_FIELD.into()),
                    set: SetExpr::Values(ops.iter().map(|v| Literal::Int(*v)).collect()),
                    negated: false,
                });
            }
        }
        if parts.is_empty() {
            return None;
        }
        let g = Guard::And(parts);
        let b = self.approx.guard_box(feature, &g, true);
        Some((g, b))
    }

    /// Writes whose guard may hold at ops where the kernel ignores the
    /// field (decided per op, with every other field unknown).
    fn ignored_writes(&self) -> Vec<IgnoredWrite> {
        let Some(ValueType::Enum { variants }) =
            self.c.catalog.readable.get(OP_FIELD).map(|f| &f.ty)
        else {
            return Vec::new();
        };
        let name = |v: u64| {
            variants
                .iter()
                .find(|(_, x)| *x == v)
                .map_or_else(|| v.to_string(), |(n, _)| n.clone())
        };
        let mut out = Vec::new();
        for s in &self.sites {
            let Some(honoured) = &s.field.honoured_at else {
                continue;
            };
            let ops: Vec<String> = variants
                .iter()
                .filter(|(_, v)| !honoured.contains(v) && may_hold(&s.write.guard, *v))
                .map(|(n, _)| n.clone())
                .collect();
            if !ops.is_empty() {
                out.push(IgnoredWrite {
                    member: self.members[s.member].clone(),
                    field: s.write.field.clone(),
                    ops,
                    honoured: honoured.iter().map(|v| name(*v)).collect(),
                });
            }
        }
        out
    }

    /// Is this write's value a param the solver may choose?
    fn free_value(&self, s: &Site) -> bool {
        match &s.write.value {
            WriteValue::Param(p) => self.opts.any_config || !s.feature.config.contains_key(p),
            _ => false,
        }
    }

    fn limits(&self) -> Vec<String> {
        let mut per_hook: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, p) in self.c.members() {
            *per_hook.entry(p.hook.as_str()).or_default() += 1;
        }
        per_hook
            .into_iter()
            .filter(|(_, n)| *n > MAX_MEMBERS_PER_CHAIN)
            .map(|(hook, n)| {
                format!(
                    "hook `{hook}` has {n} members, but a chain holds at most \
                     {MAX_MEMBERS_PER_CHAIN} (the kernel allows 33 tail calls: the dispatcher and 32 members)"
                )
            })
            .collect()
    }

    fn finish(mut self) -> (CheckOutcome, CheckTrace) {
        let (order, cycle) = match crate::order::order(&self.members, &self.edges) {
            Ok(o) => (Some(o), None),
            Err(c) => (None, Some(c)),
        };
        let limits = self.limits();
        let ignored = self.ignored_writes();
        self.stats.solver = self.prover.stats;
        let outcome = CheckOutcome {
            composition: self.c.name.clone(),
            hook: self.c.hook.clone(),
            any_config: self.opts.any_config,
            members: self.members,
            conflicts: self.conflicts,
            overrides: self.overrides,
            unknown: self.unknown,
            edges: self.edges,
            order,
            cycle,
            limits,
            ignored,
        };
        let trace = CheckTrace {
            stats: self.stats,
            queries: std::mem::take(&mut self.prover.queries),
        };
        (outcome, trace)
    }
}
