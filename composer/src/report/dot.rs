//! The effect graph as Graphviz DOT: members as nodes (with the fields they
//! write), order edges (black; dashed when declared), conflict edges in red
//! labelled with the field or invariant, and the cycle, if any, in orange.

use std::fmt::Write as _;

use super::program_of;
use crate::ir::{Composition, MemberId};
use crate::outcome::{CheckOutcome, Conflict, EdgeReason};

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn id(m: &MemberId) -> String {
    q(&m.to_string())
}

/// `digraph` text, ending with a newline.
pub fn dot(outcome: &CheckOutcome, c: &Composition) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", q(&outcome.composition));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, fontname=\"monospace\"];");
    let _ = writeln!(
        out,
        "  label={};",
        q(&format!(
            "{} on {} ({})",
            outcome.composition,
            outcome.hook,
            super::verdict(outcome)
        ))
    );
    let position = |m: &MemberId| {
        outcome
            .order
            .as_ref()
            .and_then(|o| o.iter().position(|x| x == m))
    };
    for m in &outcome.members {
        let mut fields: Vec<String> = program_of(c, m)
            .map(|(_, p)| p.writes.iter().map(|w| w.field.clone()).collect())
            .unwrap_or_default();
        fields.sort();
        fields.dedup();
        let mut label = match position(m) {
            Some(i) => format!("{}. {m}", i + 1),
            None => m.to_string(),
        };
        if !fields.is_empty() {
            label.push_str(&format!("\\nwrites {}", fields.join(", ")));
        }
        let _ = writeln!(
            out,
            "  {} [label={}];",
            id(m),
            q(&label).replace("\\\\n", "\\n")
        );
    }
    let cycle: Vec<(MemberId, MemberId)> = outcome
        .cycle
        .as_ref()
        .map(|c| c.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect())
        .unwrap_or_default();
    for e in &outcome.edges {
        let (label, style) = match &e.reason {
            EdgeReason::ReadsWrite { field } => (format!("reads {field}"), "solid"),
            EdgeReason::Declared => ("after".to_string(), "dashed"),
            EdgeReason::Resolve { field } => (format!("resolve {field}"), "bold"),
        };
        let color = if cycle.contains(&(e.first.clone(), e.then.clone())) {
            "orange"
        } else {
            "black"
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, style={style}, color={color}];",
            id(&e.first),
            id(&e.then),
            q(&label)
        );
    }
    for conflict in &outcome.conflicts {
        let (a, b, label) = match conflict {
            Conflict::SameField { field, a, b, .. } => (a, b, field.clone()),
            Conflict::AcrossCallbacks {
                field, first, then, ..
            } => (first, then, format!("{field} (across callbacks)")),
            Conflict::Invariant {
                invariant,
                lhs_writer,
                rhs_writer,
                ..
            } => (lhs_writer, rhs_writer, invariant.clone()),
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color=red, fontcolor=red, dir=none, penwidth=2];",
            id(a),
            id(b),
            q(&label)
        );
    }
    for o in &outcome.overrides {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color=red, fontcolor=red, style=dotted];",
            id(&o.loser),
            id(&o.winner),
            q(&format!("{} (overridden)", o.field))
        );
    }
    out.push_str("}\n");
    out
}
