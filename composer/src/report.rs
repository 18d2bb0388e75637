//! Reports: a [`CheckOutcome`] for people (text), for machines (JSON) and
//! as a picture (Graphviz DOT); input errors ([`LoadErrors`]) for people and
//! machines.
//!
//! Rendering is pure: it reads the outcome and the loaded composition (for
//! the guards and values as the specs wrote them) and returns a string. The
//! same input always gives the same bytes (everything is ordered).

mod dot;
mod errors;
mod human;

use serde::Serialize;

use crate::ir::Composition;
use crate::load::LoadWarning;
use crate::outcome::CheckOutcome;

pub use dot::dot;
pub use errors::{load_errors_human, load_errors_json};
pub use human::human;

/// What `accord check --format json` prints: the outcome, whether it is
/// safe, and the loader's warnings. Field order is stable.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// `"safe"`, `"conflicts"`, `"cycle"` or `"unknown"` (the first that applies
    /// in the order conflicts, cycle, unknown/limits).
    pub verdict: &'static str,
    pub safe: bool,
    pub warnings: &'a [LoadWarning],
    pub outcome: &'a CheckOutcome,
}

/// The one-word verdict of an outcome (see [`JsonReport::verdict`]).
pub fn verdict(o: &CheckOutcome) -> &'static str {
    if o.is_safe() {
        "safe"
    } else if !o.conflicts.is_empty() {
        "conflicts"
    } else if o.cycle.is_some() {
        "cycle"
    } else {
        "unknown"
    }
}

/// The outcome as pretty JSON, with a trailing newline.
pub fn json(outcome: &CheckOutcome, warnings: &[LoadWarning]) -> String {
    let outcome = &with_folded_addresses(outcome);
    let r = JsonReport {
        verdict: verdict(outcome),
        safe: outcome.is_safe(),
        warnings,
        outcome,
    };
    // Serializing plain data with string keys cannot fail.
    let mut s =
        serde_json::to_string_pretty(&r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The outcome with every witness's 128-bit fields (four `u32` words in
/// the checks) as one address each: `"remote_ip6": {"raw": "2001:db8::1",
/// "display": "2001:db8::1"}`.
fn with_folded_addresses(outcome: &CheckOutcome) -> CheckOutcome {
    use crate::outcome::{Conflict, Witness, WitnessValue};
    let fold = |w: &mut Witness| {
        if !w.connection.keys().any(|k| crate::ir::wide_of(k).is_some()) {
            return;
        }
        let folded = |m: &std::collections::BTreeMap<String, WitnessValue>| {
            crate::eval::fold_addresses(m)
                .into_iter()
                .map(|(k, display)| {
                    let raw = match m.get(&k) {
                        Some(v) => v.raw.clone(),
                        None => crate::ir::Literal::Str(display.clone()),
                    };
                    (k, WitnessValue { raw, display })
                })
                .collect()
        };
        w.connection = folded(&w.connection);
        w.later = folded(&w.later);
    };
    let mut o = outcome.clone();
    for c in &mut o.conflicts {
        match c {
            Conflict::SameField { witness, .. }
            | Conflict::Invariant { witness, .. }
            | Conflict::AcrossCallbacks { witness, .. } => fold(witness),
        }
    }
    for ov in &mut o.overrides {
        fold(&mut ov.witness);
    }
    o
}

/// Used by the human and DOT renderers: `(feature, program)` of a member in
/// the composition.
fn program_of<'c>(
    c: &'c Composition,
    m: &crate::ir::MemberId,
) -> Option<(&'c crate::ir::Feature, &'c crate::ir::Program)> {
    let f = c.features.iter().find(|f| f.name == m.feature)?;
    let p = f.programs.iter().find(|p| p.name == m.program)?;
    Some((f, p))
}
