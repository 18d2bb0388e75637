//! The human report of `accord check`: the verdict first, then each
//! contradiction with its counterexample connection in natural form (op
//! name, dotted addresses, ports, config values), the two written values and
//! the two guards as the specs wrote them; then overrides, the order or the
//! cycle.

use std::fmt::Write as _;

use super::program_of;
use crate::eval::{guard_holds, written_key};
use crate::ir::{Composition, MemberId, WriteValue};
use crate::load::LoadWarning;
use crate::outcome::{CheckOutcome, Conflict, EdgeReason, Witness};

/// Context fields in the order people read a connection.
const FIELD_ORDER: &[&str] = &[
    "op",
    "family",
    "local_ip4",
    "local_port",
    "local_ip6",
    "local_ip",
    "remote_ip4",
    "remote_ip6",
    "remote_ip",
    "remote_port",
    "state",
    "is_fullsock",
];

/// The whole human report, ending with a newline.
pub fn human(outcome: &CheckOutcome, c: &Composition, warnings: &[LoadWarning]) -> String {
    let mut out = String::new();
    let config = if outcome.any_config {
        "every config the param types allow (--any-config)"
    } else {
        "the deployed config"
    };
    let _ = writeln!(
        out,
        "composition `{}` on hook `{}`: {} member(s), checked for {config}",
        outcome.composition,
        outcome.hook,
        outcome.members.len()
    );
    for w in warnings {
        let _ = writeln!(out, "{w}");
    }
    out.push('\n');

    for (i, conflict) in outcome.conflicts.iter().enumerate() {
        conflict_text(&mut out, i + 1, conflict, c);
    }
    for o in &outcome.overrides {
        let _ = writeln!(
            out,
            "warning: `{}`: {} overrides {} (a `resolve:` entry prefers {})",
            o.field, o.winner, o.loser, o.winner.feature
        );
        let _ = writeln!(out, "  for example on this connection both write it:");
        witness_text(&mut out, &o.witness, "    ");
        out.push('\n');
    }
    for w in &outcome.ignored {
        let prefix = match c.catalog.readable.get("op").map(|f| &f.ty) {
            Some(crate::ir::ValueType::Enum { variants }) => crate::guard::enum_prefix(variants),
            _ => String::new(),
        };
        let short = |n: &String| n.trim_start_matches(prefix.as_str()).to_string();
        let ops: Vec<String> = w.ops.iter().map(short).collect();
        let honoured: Vec<String> = w.honoured.iter().map(short).collect();
        let _ = writeln!(
            out,
            "warning: {} writes `{}` at {}, where the kernel ignores it (it reads `{}` only at {}): those writes have no effect and are in no conflict",
            w.member,
            w.field,
            ops.join(", "),
            w.field,
            honoured.join(", ")
        );
    }
    if !outcome.ignored.is_empty() {
        out.push('\n');
    }
    if let Some(cycle) = &outcome.cycle {
        let names: Vec<String> = cycle.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "ORDER CYCLE: no safe order exists: {}",
            names.join(" -> ")
        );
        for pair in cycle.windows(2) {
            let why = outcome
                .edges
                .iter()
                .find(|e| e.first == pair[0] && e.then == pair[1])
                .map(|e| reason(&e.reason, &e.first, &e.then))
                .unwrap_or_else(|| "ordered".into());
            let _ = writeln!(out, "  {} before {}: {why}", pair[0], pair[1]);
        }
        out.push('\n');
    }
    for u in &outcome.unknown {
        let _ = writeln!(out, "UNKNOWN: {}: {} (not proven safe)", u.what, u.reason);
    }
    for l in &outcome.limits {
        let _ = writeln!(out, "LIMIT: {l}");
    }
    if !outcome.unknown.is_empty() || !outcome.limits.is_empty() {
        out.push('\n');
    }

    if let Some(order) = &outcome.order {
        let title = if outcome.is_safe() {
            "proven-safe order"
        } else {
            "order (not proven safe)"
        };
        let _ = writeln!(out, "{title}:");
        for (i, m) in order.iter().enumerate() {
            let why: Vec<String> = outcome
                .edges
                .iter()
                .filter(|e| &e.then == m)
                .map(|e| format!("after {} ({})", e.first, short_reason(&e.reason)))
                .collect();
            if why.is_empty() {
                let _ = writeln!(out, "  {}. {m}", i + 1);
            } else {
                let _ = writeln!(out, "  {}. {m}  [{}]", i + 1, why.join("; "));
            }
        }
        out.push('\n');
    }
    let verdict = if outcome.is_safe() {
        "SAFE".to_string()
    } else {
        let mut parts = Vec::new();
        if !outcome.conflicts.is_empty() {
            parts.push(format!("{} conflict(s)", outcome.conflicts.len()));
        }
        if outcome.cycle.is_some() {
            parts.push("an ordering cycle".into());
        }
        if !outcome.unknown.is_empty() {
            parts.push(format!("{} unanswered check(s)", outcome.unknown.len()));
        }
        if !outcome.limits.is_empty() {
            parts.push(format!("{} limit(s) exceeded", outcome.limits.len()));
        }
        format!("NOT SAFE: {}", parts.join(", "))
    };
    let _ = writeln!(out, "verdict: {verdict}");
    out
}

fn short_reason(r: &EdgeReason) -> String {
    match r {
        EdgeReason::ReadsWrite { field } => format!("reads {field}"),
        EdgeReason::Declared => "declared".into(),
        EdgeReason::Resolve { field } => format!("resolve {field}"),
    }
}

fn reason(r: &EdgeReason, first: &MemberId, then: &MemberId) -> String {
    match r {
        EdgeReason::ReadsWrite { field } => format!("{then} reads `{field}`, which {first} writes"),
        EdgeReason::Declared => "declared with `after:`/`before:`".into(),
        EdgeReason::Resolve { field } => format!("a `resolve:` entry makes {then} win `{field}`"),
    }
}

fn conflict_text(out: &mut String, n: usize, conflict: &Conflict, c: &Composition) {
    match conflict {
        Conflict::AcrossCallbacks {
            field,
            first,
            then,
            either_last,
            witness,
        } => across_text(out, n, field, [first, then], *either_last, witness, c),
        Conflict::SameField {
            field,
            a,
            b,
            witness,
        } => {
            let _ = writeln!(
                out,
                "CONFLICT {n}: {a} and {b} write different values to `{field}`"
            );
            for m in [a, b] {
                write_line(out, c, m, field, witness, &written_key(m, None));
            }
            let _ = writeln!(out, "  counterexample:");
            witness_text(out, witness, "    ");
            let or = c.catalog.writable.get(field).is_some_and(|f| f.or_update);
            let _ = writeln!(
                out,
                "  fix: make the guards disjoint, write the same value,{} or add `resolve: [{{field: {field}, prefer: <feature>}}]` to the composition",
                if or {
                    " make the writes read-modify-writes (`update: or`: the current value | the bits),"
                } else {
                    ""
                }
            );
        }
        Conflict::Invariant {
            invariant,
            lhs_writer,
            rhs_writer,
            witness,
        } => {
            let inv = c.catalog.invariants.iter().find(|i| &i.name == invariant);
            let rule = inv
                .map(|i| format!("{} {} {}", i.lhs, crate::guard::cmp_op(i.op), i.rhs))
                .unwrap_or_default();
            let _ = writeln!(out, "CONFLICT {n}: invariant `{invariant}` ({rule}) breaks between {lhs_writer} and {rhs_writer}");
            if let Some(i) = inv {
                if !i.description.is_empty() {
                    let _ = writeln!(out, "  ({})", i.description);
                }
                write_line(
                    out,
                    c,
                    lhs_writer,
                    &i.lhs,
                    witness,
                    &written_key(lhs_writer, Some(&i.lhs)),
                );
                write_line(
                    out,
                    c,
                    rhs_writer,
                    &i.rhs,
                    witness,
                    &written_key(rhs_writer, Some(&i.rhs)),
                );
            }
            let _ = writeln!(out, "  counterexample:");
            witness_text(out, witness, "    ");
            if !rule.is_empty() {
                let _ = writeln!(
                    out,
                    "  fix: make the guards disjoint, or change the values so that {rule} holds wherever both apply"
                );
            }
        }
    }
    out.push('\n');
}

/// `  init_cwnd writes TCP_BPF_IW = 40 ($iw)   when: op == ...`
fn write_line(
    out: &mut String,
    c: &Composition,
    m: &MemberId,
    field: &str,
    w: &Witness,
    key: &str,
) {
    let value = w
        .written
        .get(key)
        .map(|v| v.display.clone())
        .unwrap_or_else(|| "?".into());
    let Some((feature, program)) = program_of(c, m) else {
        let _ = writeln!(out, "  {m} writes {field} = {value}");
        return;
    };
    let writes: Vec<_> = program.writes.iter().filter(|x| x.field == field).collect();
    // The write whose guard holds on the witness is the one in conflict.
    let view = w.for_member(m);
    let chosen = writes
        .iter()
        .find(|x| guard_holds(&x.guard, feature, &view).unwrap_or(false))
        .or(writes.first());
    let (spec_value, when, at) = match chosen {
        Some(x) => {
            let v = match &x.value {
                WriteValue::Lit(_) => String::new(),
                WriteValue::Param(p) => format!("${p}"),
                WriteValue::Range { min, max } => format!("{{min: {min}, max: {max}}}"),
            };
            let when = if x.guard_text.is_empty() {
                "always".to_string()
            } else {
                x.guard_text.clone()
            };
            let at = x
                .span
                .as_ref()
                .map(|s| format!("{}:{}", s.file.display(), s.line))
                .unwrap_or_default();
            (v, when, at)
        }
        None => (String::new(), "?".into(), String::new()),
    };
    let shown = if spec_value.is_empty() || spec_value == value {
        String::new()
    } else {
        format!(" (spec: {spec_value})")
    };
    let _ = writeln!(out, "  {m} writes {field} = {value}{shown}");
    let _ = writeln!(out, "      when: {when}");
    if !at.is_empty() {
        let _ = writeln!(out, "      at: {at}");
    }
}

/// `k=v` for each field, in the order people read a connection.
fn fields_text(
    m: &std::collections::BTreeMap<String, crate::outcome::WitnessValue>,
) -> Vec<String> {
    let mut fields = crate::eval::fold_addresses(m);
    fields.sort_by_key(|(k, _)| {
        (
            FIELD_ORDER
                .iter()
                .position(|f| f == k)
                .unwrap_or(usize::MAX),
            k.clone(),
        )
    });
    fields.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn witness_text(out: &mut String, w: &Witness, indent: &str) {
    let conn = fields_text(&w.connection);
    if conn.is_empty() {
        let _ = writeln!(out, "{indent}connection: any");
    } else {
        let _ = writeln!(out, "{indent}connection: {}", conn.join(" "));
    }
    if !w.later.is_empty() {
        let _ = writeln!(
            out,
            "{indent}later callback: {}",
            fields_text(&w.later).join(" ")
        );
    }
    if !w.seen.is_empty() {
        let seen: Vec<String> = w
            .seen
            .iter()
            .filter_map(|(k, v)| {
                let (member, field) = k.rsplit_once(':')?;
                Some(format!("{member} sees {field}={}", v.display))
            })
            .collect();
        let _ = writeln!(out, "{indent}read: {}", seen.join(", "));
    }
    if !w.config.is_empty() {
        let cfg: Vec<String> = w
            .config
            .iter()
            .map(|(k, v)| format!("{k}={}", v.display))
            .collect();
        let _ = writeln!(out, "{indent}config: {}", cfg.join(" "));
    }
    if !w.written.is_empty() {
        let written: Vec<String> = w
            .written
            .iter()
            .map(|(k, v)| format!("{k}={}", v.display))
            .collect();
        let _ = writeln!(out, "{indent}written: {}", written.join(" "));
    }
}

/// The op of a witness map, by its short name (`TCP_CONNECT_CB`).
fn op_name(m: &std::collections::BTreeMap<String, crate::outcome::WitnessValue>) -> String {
    m.get("op")
        .map(|v| v.display.trim_start_matches("BPF_SOCK_OPS_").to_string())
        .unwrap_or_else(|| "?".into())
}

fn across_text(
    out: &mut String,
    n: usize,
    field: &str,
    [first, then]: [&MemberId; 2],
    either_last: bool,
    witness: &Witness,
    c: &Composition,
) {
    let later = witness.at_later();
    let (op1, op2) = (op_name(&witness.connection), op_name(&later.connection));
    let end = match (
        c.catalog.connection.as_ref(),
        witness.connection.get("op").map(|v| &v.raw),
        later.connection.get("op").map(|v| &v.raw),
    ) {
        (Some(m), Some(crate::ir::Literal::Int(a)), Some(crate::ir::Literal::Int(b))) => m
            .follows(*a, *b)
            .map(|(_, e)| format!("one {e} end"))
            .unwrap_or_else(|| "one connection end".into()),
        _ => "one connection end".into(),
    };
    let value = |m: &MemberId| {
        witness
            .written
            .get(&written_key(m, None))
            .map(|v| v.display.clone())
            .unwrap_or_else(|| "?".into())
    };
    if either_last {
        let _ = writeln!(
            out,
            "CONFLICT {n}: `{field}` is written at two callbacks of {end} that come in either order: {first} at {op1} and {then} at {op2}"
        );
    } else {
        let _ = writeln!(
            out,
            "CONFLICT {n}: `{field}` is written at two callbacks of {end}: {then}'s write at {op2} replaces {first}'s at {op1}"
        );
    }
    write_line(out, c, first, field, witness, &written_key(first, None));
    write_line(out, c, then, field, &later, &written_key(then, None));
    let _ = writeln!(out, "  counterexample:");
    witness_text(out, witness, "    ");
    if either_last {
        let _ = writeln!(
            out,
            "  the connection ends with whichever runs last: {field} = {} ({first}) or {} ({then}); the other is lost",
            value(first),
            value(then)
        );
        let _ = writeln!(
            out,
            "  fix: write the field at one callback, make the guards disjoint, or write the same value"
        );
    } else {
        let _ = writeln!(
            out,
            "  the connection ends with {field} = {} ({then}); {} ({first}) is lost",
            value(then),
            value(first)
        );
        if c.resolves
            .iter()
            .any(|r| r.field == field && r.prefer == first.feature)
        {
            let _ = writeln!(
                out,
                "  (a `resolve:` entry prefers {}, but no chain order makes an earlier callback's value stay)",
                first.feature
            );
        }
        let _ = writeln!(
            out,
            "  fix: write the field at one callback, make the guards disjoint, write the same value, or accept the override with `resolve: [{{field: {field}, prefer: {}}}]`",
            then.feature
        );
    }
}
