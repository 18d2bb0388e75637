//! What a check concludes: verdicts are values, never errors.
//!
//! `solver` and `order` produce these; `report` renders them (human, JSON,
//! DOT); the runtime takes the `order` of a safe outcome. A counterexample
//! (`Witness`) is a concrete connection plus config that the caller can
//! re-evaluate against both guards (`eval`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ir::{Literal, MemberId};

/// The result of asking the solver one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict<W> {
    /// No connection and config make the property fail (unsat).
    Safe,
    /// The solver found one (sat); the model is the witness.
    Violated(W),
    /// The solver gave up (`unknown`, including a timeout), with its reason.
    Unknown { reason: String },
}

/// A concrete connection and config: the solver's model, decoded.
/// Values are printed in the field's own form ("10.0.0.1", "ACTIVE_ESTABLISHED_CB").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Witness {
    /// Readable context fields, e.g. `op`, `remote_ip4`, `remote_port`.
    pub connection: BTreeMap<String, WitnessValue>,
    /// Config params that mattered, keyed `feature.param`.
    pub config: BTreeMap<String, WitnessValue>,
    /// The values written by each side of the conflict, keyed by member.
    pub written: BTreeMap<String, WitnessValue>,
    /// For a conflict across callbacks: the later callback's own fields
    /// (`op`, `state`, ...); the rest of the connection is `connection`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub later: BTreeMap<String, WitnessValue>,
    /// Written fields a guard reads (`SO_MARK == 5`), as each member sees
    /// them when it runs (what the members before it wrote, or the field's
    /// initial value), keyed `member:FIELD`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub seen: BTreeMap<String, WitnessValue>,
}

/// The key of a written field's value as `member` sees it in
/// [`Witness::seen`].
pub fn seen_key(member: &MemberId, field: &str) -> String {
    format!("{member}:{field}")
}

impl Witness {
    /// The connection as the later callback of a conflict across callbacks
    /// sees it: `connection` with `later`'s fields in place.
    pub fn at_later(&self) -> Witness {
        let mut w = self.clone();
        for (k, v) in &self.later {
            w.connection.insert(k.clone(), v.clone());
        }
        w.later.clear();
        w
    }

    /// The connection as `member` sees it: with the written fields its
    /// guards read at the values [`Witness::seen`] gives for it.
    pub fn for_member(&self, member: &MemberId) -> Witness {
        let prefix = format!("{member}:");
        let mut w = self.clone();
        for (k, v) in &self.seen {
            if let Some(field) = k.strip_prefix(&prefix) {
                w.connection.insert(field.to_string(), v.clone());
            }
        }
        w
    }
}

/// One value in a witness: the raw value plus its display form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessValue {
    pub raw: Literal,
    pub display: String,
}

/// Why two members cannot share the hook as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Conflict {
    /// Both write `field`, some connection satisfies both guards, the values differ.
    SameField {
        field: String,
        a: MemberId,
        b: MemberId,
        witness: Witness,
    },
    /// Both write a persistent field (one that stays set, like a socket
    /// option) at two callbacks one connection end goes through, with
    /// different values: the later callback's write replaces the earlier
    /// one (`first` writes at the callback in `witness.connection`, `then`
    /// at the one in `witness.later`). With `either_last` the two callbacks
    /// come in either order (callbacks that repeat), so either value may be
    /// lost.
    AcrossCallbacks {
        field: String,
        first: MemberId,
        then: MemberId,
        either_last: bool,
        witness: Witness,
    },
    /// Both fields get written for one connection and the invariant fails.
    Invariant {
        invariant: String,
        lhs_writer: MemberId,
        rhs_writer: MemberId,
        witness: Witness,
    },
}

/// A `resolve:` entry that turned a same-field conflict into an ordered
/// override, or accepted that the preferred feature's write at a later
/// callback replaces the other's (its witness then has `later` fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub field: String,
    pub winner: MemberId,
    pub loser: MemberId,
    pub witness: Witness,
}

impl Override {
    /// The conflict the `resolve:` entry settled, for re-checking the
    /// witness with [`crate::eval::confirm`].
    pub fn as_conflict(&self) -> Conflict {
        if self.witness.later.is_empty() {
            Conflict::SameField {
                field: self.field.clone(),
                a: self.winner.clone(),
                b: self.loser.clone(),
                witness: self.witness.clone(),
            }
        } else {
            Conflict::AcrossCallbacks {
                field: self.field.clone(),
                first: self.loser.clone(),
                then: self.winner.clone(),
                either_last: false,
                witness: self.witness.clone(),
            }
        }
    }
}

/// Why one member must run before another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EdgeReason {
    /// `reader` reads `field`, which `writer` writes under an overlapping guard.
    ReadsWrite { field: String },
    /// The spec's `after:` / `before:`.
    Declared,
    /// A `resolve:` entry: the preferred writer runs last.
    Resolve { field: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEdge {
    pub first: MemberId,
    pub then: MemberId,
    pub reason: EdgeReason,
}

/// The whole result of `accord check` for one composition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    pub composition: String,
    pub hook: String,
    /// `true` when params range over every value their types allow
    /// (`--any-config`) instead of the deployed config.
    pub any_config: bool,
    pub members: Vec<MemberId>,
    pub conflicts: Vec<Conflict>,
    pub overrides: Vec<Override>,
    /// Questions the solver could not answer: not proven safe.
    pub unknown: Vec<UnknownCheck>,
    pub edges: Vec<OrderEdge>,
    /// `Some` when the order constraints are acyclic: the proven order.
    pub order: Option<Vec<MemberId>>,
    /// `Some` when they are not: one cycle, first member repeated at the end.
    pub cycle: Option<Vec<MemberId>>,
    /// Any other refusal that is not an input error (e.g. more members than
    /// the kernel's tail-call limit allows).
    pub limits: Vec<String>,
    /// Writes made at callbacks where the kernel ignores the field: warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredWrite>,
}

/// A write its guard allows at callbacks where the kernel does not use the
/// field (`reply` outside its `honoured_at:` ops): it has no effect there,
/// so it takes part in no conflict; a warning, since it may be a mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredWrite {
    pub member: MemberId,
    pub field: String,
    /// The ops (enum names) the guard allows and the kernel ignores.
    pub ops: Vec<String>,
    /// The ops whose value the kernel uses.
    pub honoured: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownCheck {
    pub what: String,
    pub reason: String,
}

impl CheckOutcome {
    /// Safe means: no conflict, no unknown, an order exists, no limit broken.
    pub fn is_safe(&self) -> bool {
        self.conflicts.is_empty()
            && self.unknown.is_empty()
            && self.order.is_some()
            && self.limits.is_empty()
    }
}
