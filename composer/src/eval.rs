//! Evaluating guards and write values on one concrete connection and
//! config, independently of the solver: the test oracle that every witness
//! must pass ([`confirm`]), and the single definition of how witness values
//! are written as text (`10.0.0.1`, `[10.0.0.0/8, 192.168.0.0/16]`,
//! `[443, 8443]`) and read back.
//!
//! Params take the witness's `config` values (keyed `feature.param`) when it
//! has them (free params under `--any-config`), else the feature's deployed
//! config.

use crate::ir::{
    Cidr4, CmpOp, Composition, ConfigValue, Feature, Guard, Literal, MemberId, Operand, ParamType,
    Sequence, SetExpr, Update, WriteValue,
};
use crate::outcome::{Conflict, Witness};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("the witness has no value for field `{field}`")]
    MissingField { field: String },
    #[error("no value for param `{param}` of feature `{feature}`")]
    MissingParam { feature: String, param: String },
    #[error("cannot compare {left:?} with {right:?}")]
    Incomparable { left: Literal, right: Literal },
    #[error("`{text}` is not a valid value for set param `{param}`")]
    BadSet { param: String, text: String },
    #[error("param `{param}` is used as a set but is not one")]
    NotASet { param: String },
    #[error("no member `{member}` in the composition")]
    UnknownMember { member: String },
    #[error("the witness has no written value `{key}`")]
    MissingWritten { key: String },
    #[error("no write of `{field}` by `{member}` holds on the witness with the value it shows")]
    WriteNotShown { member: String, field: String },
    #[error("both writes of `{field}` store the same value on the witness")]
    ValuesEqual { field: String },
    #[error("invariant `{invariant}` holds on the witness")]
    InvariantHolds { invariant: String },
    #[error("no invariant `{invariant}` in the catalog")]
    UnknownInvariant { invariant: String },
    #[error("the catalog has no connection_ends: callbacks cannot be related")]
    NoConnectionModel,
    #[error("field `{field}` is the same at every callback of a connection end, but the witness changes it")]
    PerEndFieldChanged { field: String },
    #[error("{member} sees {field} = {value}, but neither the field's initial value nor any other member's write gives it that value")]
    SeenUnexplained {
        member: String,
        field: String,
        value: String,
    },
    #[error("no connection end goes through op {first} and then op {then} as the conflict claims")]
    NotOneEnd { first: u64, then: u64 },
}

/// `a.b.c.d`
pub fn render_ipv4(ip: u32) -> String {
    let b = ip.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// `a.b.c.d/len`
/// A witness connection in natural form: each field's display text, with
/// the four words of a 128-bit field (`remote_ip6[0]`..`[3]`, see
/// `guard::wide`) joined into one address (`remote_ip6=2001:db8::1`,
/// IPv4-mapped as `::ffff:10.0.0.1`); a word the witness leaves out is 0.
pub fn fold_addresses(
    conn: &std::collections::BTreeMap<String, crate::outcome::WitnessValue>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut wide: std::collections::BTreeMap<&str, u128> = std::collections::BTreeMap::new();
    for (k, v) in conn {
        match (crate::ir::wide_of(k), &v.raw) {
            (Some((base, i)), Literal::Int(n)) => {
                *wide.entry(base).or_default() |= u128::from(*n as u32) << (96 - 32 * i);
            }
            _ => out.push((k.clone(), v.display.clone())),
        }
    }
    for (base, addr) in wide {
        out.push((base.to_string(), std::net::Ipv6Addr::from(addr).to_string()));
    }
    out
}

pub fn render_cidr(c: &Cidr4) -> String {
    format!("{}/{}", render_ipv4(c.addr), c.len)
}

/// `[10.0.0.0/8, 192.168.0.0/16]`
pub fn render_cidr_set(cs: &[Cidr4]) -> String {
    let parts: Vec<String> = cs.iter().map(render_cidr).collect();
    format!("[{}]", parts.join(", "))
}

/// One prefix of a `cidr6_set`/`cidr_set`: IPv4-mapped ones in their IPv4
/// form (`10.0.0.0/8`), others as IPv6 (`2001:db8::/32`).
pub fn render_wide_cidr(c: &crate::ir::Cidr) -> String {
    match c.as_v4() {
        Some(v4) => render_cidr(&v4),
        None => c.to_string(),
    }
}

/// `[10.0.0.0/8, 2001:db8::/32]`
pub fn render_wide_set(cs: &[crate::ir::Cidr]) -> String {
    let parts: Vec<String> = cs.iter().map(render_wide_cidr).collect();
    format!("[{}]", parts.join(", "))
}

/// Parses [`render_wide_set`]'s text back.
pub fn parse_wide_set(text: &str) -> Option<Vec<crate::ir::Cidr>> {
    set_items(text)?
        .into_iter()
        .map(|s| {
            if s.contains(':') {
                crate::guard::parse_cidr6(s).ok()
            } else {
                parse_cidr(s).map(crate::ir::Cidr::from_v4)
            }
        })
        .collect()
}

/// `[443, 8443]`
pub fn render_port_set(ps: &[u16]) -> String {
    let parts: Vec<String> = ps.iter().map(u16::to_string).collect();
    format!("[{}]", parts.join(", "))
}

pub fn parse_ipv4(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut ip = 0u32;
    for p in parts {
        ip = (ip << 8) | u32::from(p.parse::<u8>().ok()?);
    }
    Some(ip)
}

pub fn parse_cidr(s: &str) -> Option<Cidr4> {
    let (addr, len) = s.trim().split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some(Cidr4 {
        addr: parse_ipv4(addr)?,
        len,
    })
}

fn set_items(text: &str) -> Option<Vec<&str>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    Some(inner.split(',').map(str::trim).collect())
}

pub fn parse_cidr_set(text: &str) -> Option<Vec<Cidr4>> {
    set_items(text)?.into_iter().map(parse_cidr).collect()
}

pub fn parse_port_set(text: &str) -> Option<Vec<u16>> {
    set_items(text)?
        .into_iter()
        .map(|p| p.parse().ok())
        .collect()
}

/// The key of a written value in a witness: the member for a same-field
/// conflict, `member:FIELD` for an invariant (one member may write both).
pub fn written_key(member: &MemberId, field: Option<&str>) -> String {
    match field {
        None => member.to_string(),
        Some(f) => format!("{member}:{f}"),
    }
}

/// The value of `$param` of `feature` on this witness.
pub fn param_value(feature: &Feature, w: &Witness, param: &str) -> Result<ConfigValue, EvalError> {
    let decl = feature.params.iter().find(|p| p.name == param);
    if let Some(v) = w.config.get(&format!("{}.{}", feature.name, param)) {
        let bad = || EvalError::BadSet {
            param: param.to_string(),
            text: v.display.clone(),
        };
        let text = match &v.raw {
            Literal::Str(s) => s.as_str(),
            Literal::Int(_) => "",
        };
        return match decl.map(|d| &d.ty) {
            Some(ParamType::Cidr4Set) => parse_cidr_set(text)
                .map(ConfigValue::Cidr4Set)
                .ok_or_else(bad),
            Some(ParamType::Cidr6Set | ParamType::CidrSet) => parse_wide_set(text)
                .map(ConfigValue::CidrSet)
                .ok_or_else(bad),
            Some(ParamType::PortSet) => parse_port_set(text)
                .map(ConfigValue::PortSet)
                .ok_or_else(bad),
            _ => Ok(ConfigValue::Scalar(v.raw.clone())),
        };
    }
    feature
        .config
        .get(param)
        .cloned()
        .ok_or_else(|| EvalError::MissingParam {
            feature: feature.name.clone(),
            param: param.to_string(),
        })
}

fn operand(o: &Operand, feature: &Feature, w: &Witness) -> Result<Literal, EvalError> {
    match o {
        Operand::Field(f) => w
            .connection
            .get(f)
            .map(|v| v.raw.clone())
            .ok_or_else(|| EvalError::MissingField { field: f.clone() }),
        Operand::Param(p) => match param_value(feature, w, p)? {
            ConfigValue::Scalar(l) => Ok(l),
            _ => Err(EvalError::NotASet { param: p.clone() }),
        },
        Operand::Lit(l) => Ok(l.clone()),
    }
}

/// `a op b` on two literals: numbers compare unsigned, strings only by
/// (in)equality.
pub fn compare(a: &Literal, op: CmpOp, b: &Literal) -> Result<bool, EvalError> {
    let incomparable = || EvalError::Incomparable {
        left: a.clone(),
        right: b.clone(),
    };
    match (a, b) {
        (Literal::Int(x), Literal::Int(y)) => Ok(match op {
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
            CmpOp::Lt => x < y,
            CmpOp::Le => x <= y,
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
        }),
        (Literal::Str(x), Literal::Str(y)) => match op {
            CmpOp::Eq => Ok(x == y),
            CmpOp::Ne => Ok(x != y),
            _ => Err(incomparable()),
        },
        _ => Err(incomparable()),
    }
}

fn as_int(l: &Literal) -> Option<u64> {
    match l {
        Literal::Int(v) => Some(*v),
        Literal::Str(_) => None,
    }
}

/// Does guard `g` of `feature` hold on the witness's connection and config?
pub fn guard_holds(g: &Guard, feature: &Feature, w: &Witness) -> Result<bool, EvalError> {
    Ok(match g {
        Guard::True => true,
        Guard::False => false,
        Guard::Not(inner) => !guard_holds(inner, feature, w)?,
        Guard::And(gs) => {
            for g in gs {
                if !guard_holds(g, feature, w)? {
                    return Ok(false);
                }
            }
            true
        }
        Guard::Or(gs) => {
            for g in gs {
                if guard_holds(g, feature, w)? {
                    return Ok(true);
                }
            }
            false
        }
        Guard::Cmp { lhs, op, rhs } => {
            compare(&operand(lhs, feature, w)?, *op, &operand(rhs, feature, w)?)?
        }
        Guard::SamePrefix { lhs, rhs, bits } => {
            let word = |f: &String| match operand(&Operand::Field(f.clone()), feature, w)? {
                Literal::Int(v) => Ok(v as u32),
                s => Err(EvalError::Incomparable {
                    left: s,
                    right: Literal::Int(0),
                }),
            };
            let shift = 32 - u32::from((*bits).clamp(1, 32));
            (word(lhs)? >> shift) == (word(rhs)? >> shift)
        }
        Guard::In {
            operand: Operand::Field(f),
            set: SetExpr::Param(p),
            negated,
        } if !w.connection.contains_key(f)
            && w.connection.contains_key(&crate::ir::word_field(f, 0)) =>
        {
            // A lowered 128-bit membership (`guard::lower_prefix_sets`):
            // the address in one of the set's IPv6 entries.
            let ConfigValue::CidrSet(cs) = param_value(feature, w, p)? else {
                return Err(EvalError::NotASet { param: p.clone() });
            };
            guard_holds(&crate::guard::v6_entries(f, &cs), feature, w)? != *negated
        }
        Guard::In {
            operand: o,
            set,
            negated,
        } => {
            let x = operand(o, feature, w)?;
            let not_int = |s: &Literal| EvalError::Incomparable {
                left: x.clone(),
                right: s.clone(),
            };
            let inside = match set {
                SetExpr::Cidr4(c) => {
                    let v = as_int(&x).ok_or_else(|| not_int(&Literal::Int(0)))?;
                    u32::try_from(v).is_ok_and(|ip| c.contains(ip))
                }
                SetExpr::Values(vs) => {
                    let mut any = false;
                    for v in vs {
                        any |= compare(&x, CmpOp::Eq, v)?;
                    }
                    any
                }
                SetExpr::Range { lo, hi } => {
                    let v = as_int(&x).ok_or_else(|| not_int(&Literal::Int(*lo)))?;
                    *lo <= v && v <= *hi
                }
                SetExpr::Param(p) => {
                    let v = as_int(&x).ok_or_else(|| not_int(&Literal::Int(0)))?;
                    match param_value(feature, w, p)? {
                        ConfigValue::Cidr4Set(cs) => {
                            u32::try_from(v).is_ok_and(|ip| cs.iter().any(|c| c.contains(ip)))
                        }
                        ConfigValue::PortSet(ps) => ps.iter().any(|p| u64::from(*p) == v),
                        // An IPv4 field against a mixed set (128-bit fields'
                        // memberships are lowered to word constraints).
                        ConfigValue::CidrSet(cs) => u32::try_from(v).is_ok_and(|ip| {
                            cs.iter()
                                .any(|c| c.contains(crate::ir::Cidr::V4_MAPPED | u128::from(ip)))
                        }),
                        ConfigValue::Scalar(_) => {
                            return Err(EvalError::NotASet { param: p.clone() })
                        }
                    }
                }
            };
            inside != *negated
        }
    })
}

/// Can write value `v` of `feature` store `written` on this witness? A
/// range admits any value in it; a literal or param exactly its value.
pub fn value_admits(
    v: &WriteValue,
    feature: &Feature,
    w: &Witness,
    written: &Literal,
) -> Result<bool, EvalError> {
    match v {
        WriteValue::Lit(l) => Ok(l == written),
        WriteValue::Param(p) => match param_value(feature, w, p)? {
            ConfigValue::Scalar(l) => Ok(&l == written),
            _ => Err(EvalError::NotASet { param: p.clone() }),
        },
        WriteValue::Range { min, max } => {
            Ok(as_int(written).is_some_and(|x| *min <= x && x <= *max))
        }
    }
}

/// Does some write of `field` by `member` hold on the witness, storing the
/// witness's value under `key`? Returns that value.
fn shown_write(
    c: &Composition,
    member: &MemberId,
    field: &str,
    key: &str,
    w: &Witness,
) -> Result<Literal, EvalError> {
    shown_write_of(c, member, field, key, w, None)
}

/// [`shown_write`] among the writes declared with `update` only, when given.
fn shown_write_of(
    c: &Composition,
    member: &MemberId,
    field: &str,
    key: &str,
    w: &Witness,
    update: Option<Update>,
) -> Result<Literal, EvalError> {
    let (_, feature, program) =
        c.members()
            .find(|(m, _, _)| m == member)
            .ok_or_else(|| EvalError::UnknownMember {
                member: member.to_string(),
            })?;
    let written = w
        .written
        .get(key)
        .ok_or_else(|| EvalError::MissingWritten {
            key: key.to_string(),
        })?;
    let writes = program
        .writes
        .iter()
        .filter(|wr| wr.field == field && update.is_none_or(|u| wr.update == u));
    // The written fields its guards read, at the values it sees.
    let view = w.for_member(member);
    for wr in writes {
        if guard_holds(&wr.guard, feature, &view)?
            && value_admits(&wr.value, feature, &view, &written.raw)?
        {
            return Ok(written.raw.clone());
        }
    }
    Err(EvalError::WriteNotShown {
        member: member.to_string(),
        field: field.to_string(),
    })
}

/// Re-checks a conflict's witness against the composition without the
/// solver: both writes happen on the witness connection with the values it
/// shows, and those values contradict (differ, or break the invariant).
pub fn confirm(c: &Composition, conflict: &Conflict) -> Result<(), EvalError> {
    let witness = match conflict {
        Conflict::SameField { witness, .. }
        | Conflict::Invariant { witness, .. }
        | Conflict::AcrossCallbacks { witness, .. } => witness,
    };
    seen_explained(c, witness)?;
    match conflict {
        Conflict::SameField {
            field,
            a,
            b,
            witness,
        } => {
            let va = shown_write(c, a, field, &written_key(a, None), witness)?;
            let vb = shown_write(c, b, field, &written_key(b, None), witness)?;
            if va == vb {
                return Err(EvalError::ValuesEqual {
                    field: field.clone(),
                });
            }
            Ok(())
        }
        Conflict::Invariant {
            invariant,
            lhs_writer,
            rhs_writer,
            witness,
        } => {
            let inv = c
                .catalog
                .invariants
                .iter()
                .find(|i| &i.name == invariant)
                .ok_or_else(|| EvalError::UnknownInvariant {
                    invariant: invariant.clone(),
                })?;
            let l = shown_write(
                c,
                lhs_writer,
                &inv.lhs,
                &written_key(lhs_writer, Some(&inv.lhs)),
                witness,
            )?;
            let r = shown_write(
                c,
                rhs_writer,
                &inv.rhs,
                &written_key(rhs_writer, Some(&inv.rhs)),
                witness,
            )?;
            if compare(&l, inv.op, &r)? {
                return Err(EvalError::InvariantHolds {
                    invariant: invariant.clone(),
                });
            }
            Ok(())
        }
        Conflict::AcrossCallbacks {
            field,
            first,
            then,
            either_last,
            witness,
        } => confirm_across(c, field, [first, then], *either_last, witness),
    }
}

/// Every written value a member sees on the witness (`seen`) is one the
/// connection can hold there: the field's initial value (anything, when
/// the catalog says it is unknown or it does not apply at this op), or a
/// value another member's write of it stores where its guard holds.
fn seen_explained(c: &Composition, w: &Witness) -> Result<(), EvalError> {
    for (key, v) in &w.seen {
        let Some((reader, field)) = key.rsplit_once(':') else {
            return Err(EvalError::MissingWritten { key: key.clone() });
        };
        let Some(wf) = c.catalog.writable.get(field) else {
            return Err(EvalError::UnknownMember {
                member: key.clone(),
            });
        };
        // The reader's callback: the later one when it writes there.
        let views = [w.clone(), w.at_later()];
        let op = |view: &Witness| match view.connection.get("op").map(|x| &x.raw) {
            Some(Literal::Int(o)) => Some(*o),
            _ => None,
        };
        let initial_holds = views.iter().any(|view| match &wf.initial {
            None => true,
            Some(init) => match (&init.at, op(view)) {
                (None, _) => init.value == v.raw,
                (Some(ops), Some(o)) if ops.contains(&o) => init.value == v.raw,
                (Some(_), _) => true,
            },
        });
        let mut written = false;
        for (id, feature, program) in c.members() {
            if id.to_string() == reader {
                continue;
            }
            for wr in program.writes.iter().filter(|x| x.field == field) {
                for view in &views {
                    let view = view.for_member(&id);
                    if guard_holds(&wr.guard, feature, &view).unwrap_or(false)
                        && (wr.update == Update::Or
                            || value_admits(&wr.value, feature, &view, &v.raw).unwrap_or(false))
                    {
                        written = true;
                    }
                }
            }
        }
        if !initial_holds && !written {
            return Err(EvalError::SeenUnexplained {
                member: reader.to_string(),
                field: field.to_string(),
                value: v.display.clone(),
            });
        }
    }
    Ok(())
}

/// A conflict across callbacks: `first`'s write holds at the callback of
/// `witness.connection`, `then`'s assignment at the callback of
/// `witness.later` (which changes only per-callback fields), the values
/// differ, and one end of a connection goes through the first callback
/// and then the other, in the order `either_last` claims.
fn confirm_across(
    c: &Composition,
    field: &str,
    [first, then]: [&MemberId; 2],
    either_last: bool,
    witness: &Witness,
) -> Result<(), EvalError> {
    let model = c
        .catalog
        .connection
        .as_ref()
        .ok_or(EvalError::NoConnectionModel)?;
    if let Some(f) = witness.later.keys().find(|f| model.per_end.contains(*f)) {
        return Err(EvalError::PerEndFieldChanged { field: f.clone() });
    }
    let later = witness.at_later();
    let v1 = shown_write(c, first, field, &written_key(first, None), witness)?;

    let v2 = shown_write_of(
        c,
        then,
        field,
        &written_key(then, None),
        &later,
        Some(Update::Set),
    )?;
    if v1 == v2 {
        return Err(EvalError::ValuesEqual {
            field: field.to_string(),
        });
    }
    let op = |w: &Witness| match w.connection.get("op").map(|v| &v.raw) {
        Some(Literal::Int(v)) => Ok(*v),
        _ => Err(EvalError::MissingField { field: "op".into() }),
    };
    let (op1, op2) = (op(witness)?, op(&later)?);
    match model.follows(op1, op2) {
        Some((Sequence::Either, _)) if either_last => Ok(()),
        Some((Sequence::Ordered, _)) if !either_last => Ok(()),
        _ => Err(EvalError::NotOneEnd {
            first: op1,
            then: op2,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_text_round_trips() {
        let cs = vec![
            Cidr4 {
                addr: 0x0a00_0000,
                len: 8,
            },
            Cidr4 {
                addr: 0xc0a8_0101,
                len: 32,
            },
        ];
        let text = render_cidr_set(&cs);
        assert_eq!(text, "[10.0.0.0/8, 192.168.1.1/32]");
        assert_eq!(parse_cidr_set(&text), Some(cs));
        assert_eq!(parse_port_set("[443, 8443]"), Some(vec![443, 8443]));
        assert_eq!(parse_port_set("[]"), Some(vec![]));
        assert_eq!(parse_cidr("10.0.0.300/8"), None);
        assert_eq!(parse_ipv4("1.2.3"), None);
    }

    #[test]
    fn strings_do_not_order() {
        let a = Literal::Str("bbr".into());
        assert!(compare(&a, CmpOp::Eq, &a).unwrap_or(false));
        assert!(compare(&a, CmpOp::Lt, &a).is_err());
        assert!(compare(&a, CmpOp::Eq, &Literal::Int(1)).is_err());
    }
}
