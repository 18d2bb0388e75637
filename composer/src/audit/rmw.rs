//! Read-modify-writes: a write declared `update: or` (cb flags set as
//! `bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | FLAG)`)
//! lets the check combine it with other members' flags instead of calling
//! two different values a conflict, so the object must do exactly that:
//! pass the field's current value (loaded from the context where the
//! catalog's `read:` says) ORed with the declared constant.

use super::check::{Findings, WriteSite};
use super::value::Atom;
use super::{FindingKind, Severity};
use crate::ir::{HookCatalog, Literal, Program, ReadMethod, Update, WriteValue};

/// The context offset a writable field's current value is read from.
fn read_offset(catalog: &HookCatalog, field: &str) -> Option<i64> {
    match catalog.writable.get(field)?.read {
        Some(ReadMethod::ContextLoad { offset, .. }) => Some(i64::from(offset)),
        _ => None,
    }
}

/// `cb_flags | 4` for a current value ORed with 4.
pub(super) fn describe(catalog: &HookCatalog, off: i64, or: u64) -> String {
    let name = catalog
        .writable
        .values()
        .find(|w| matches!(w.read, Some(ReadMethod::ContextLoad { offset, .. }) if i64::from(offset) == off))
        .map_or_else(|| format!("ctx+{off}"), |w| w.name.clone());
    format!("{name} | {or:#x}")
}

/// Compares every write site of a field that has a context read with the
/// spec: `update: or` writes must pass `current | K` with K a declared
/// literal (errors otherwise); an assignment whose value is `current | K`
/// is a warning (declare it `update: or`).
pub(super) fn check(
    catalog: &HookCatalog,
    program: &Program,
    sites: &[WriteSite],
    found: &mut Findings,
) {
    for w in sites {
        let Some(off) = read_offset(catalog, &w.field) else {
            continue;
        };
        let Some(value) = &w.value else {
            continue;
        };
        let declared: Vec<_> = program
            .writes
            .iter()
            .filter(|d| d.field == w.field)
            .collect();
        let or_declared: Vec<&WriteValue> = declared
            .iter()
            .filter(|d| d.update == Update::Or)
            .map(|d| &d.value)
            .collect();
        let current: Vec<u64> = value
            .atoms()
            .filter_map(|a| match a {
                Atom::Current { off: o, or } if *o == off => Some(*or),
                _ => None,
            })
            .collect();
        let all_current = current.len() == value.atoms().count();
        if or_declared.is_empty() {
            if !current.is_empty() && !declared.is_empty() {
                found.add(
                    Severity::Warning,
                    FindingKind::ReadModifyWriteUndeclared {
                        field: w.field.clone(),
                    },
                    format!(
                        "writes {} as a read-modify-write ({}); declare the write `update: or` so the check combines it with other members' writes instead of treating it as replacing them",
                        w.field,
                        describe(catalog, off, current[0])
                    ),
                    Some(w.at.clone()),
                );
            }
            continue;
        }
        if !all_current || (declared.len() == or_declared.len() && current.is_empty()) {
            found.add(
                Severity::Error,
                FindingKind::NotReadModifyWrite {
                    field: w.field.clone(),
                },
                format!(
                    "declares `update: or` for {}, but writes a value that is not its current value ORed with constants: the write may clear other members' bits",
                    w.field
                ),
                Some(w.at.clone()),
            );
            continue;
        }
        for bits in current {
            let allowed = or_declared.iter().any(|v| match v {
                WriteValue::Lit(Literal::Int(n)) => *n == bits,
                WriteValue::Range { min, max } => (*min..=*max).contains(&bits),
                _ => true,
            });
            if !allowed {
                found.add(
                    Severity::Error,
                    FindingKind::UndeclaredValue {
                        field: w.field.clone(),
                        value: bits,
                    },
                    format!(
                        "ORs {bits:#x} into {}, but the spec's `update: or` writes declare other bits",
                        w.field
                    ),
                    Some(w.at.clone()),
                );
            }
        }
    }
}
