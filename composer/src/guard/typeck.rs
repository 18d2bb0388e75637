//! Typing of a parsed guard against the hook catalog and the feature's
//! params: resolves names, types every literal, checks ranges, and lowers
//! the syntax tree to [`ir::Guard`].

use super::syntax::{Atom, Expr, Operand as SynOperand, SetSyntax};
use super::{GuardError, GuardErrorKind as K, Scope};
use crate::ir::{CmpOp, Guard, Literal, Operand, ParamType, SetExpr, ValueType};
use crate::suggest::did_you_mean;

pub(super) fn check(expr: &Expr, scope: Scope<'_>) -> Result<Guard, Vec<GuardError>> {
    let mut errors = Vec::new();
    let mut used = Vec::new();
    let g = Typer {
        scope,
        errors: &mut errors,
        used: &mut used,
    }
    .expr(expr);
    if !errors.is_empty() {
        return Err(errors);
    }
    // A virtual address field (`remote_ip`) is defined by the real ones.
    used.dedup_by(|a, b| a.name == b.name);
    let links: Vec<Guard> = used
        .iter()
        .filter_map(|f| super::wide::link(scope.catalog, f))
        .collect();
    if links.is_empty() {
        Ok(g)
    } else {
        let mut all = vec![g];
        all.extend(links);
        Ok(Guard::And(all))
    }
}

struct Typer<'a, 'e> {
    scope: Scope<'a>,
    errors: &'e mut Vec<GuardError>,
    /// Virtual 128-bit fields the guard names (each gets its definition).
    used: &'e mut Vec<super::wide::WideField>,
}

/// An operand whose type is known from the catalog or the params.
struct Anchor {
    operand: Operand,
    ty: ValueType,
    desc: String,
}

fn e(o: &SynOperand, kind: K) -> GuardError {
    GuardError {
        offset: o.offset,
        len: o.len.max(1),
        kind,
    }
}

/// The longest common prefix of the variant names that ends with `_`
/// (`BPF_SOCK_OPS_` for `op`), so short names can be accepted.
pub fn enum_prefix(variants: &[(String, u64)]) -> String {
    let Some((first, _)) = variants.first() else {
        return String::new();
    };
    if variants.len() < 2 {
        return String::new();
    }
    // Common prefix in whole characters, so slicing never splits one.
    let mut len = first.len();
    for (v, _) in variants {
        let common: usize = first
            .chars()
            .zip(v.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        len = len.min(common);
    }
    match first[..len].rfind('_') {
        Some(i) => first[..=i].to_string(),
        None => String::new(),
    }
}

/// The spec's name of a param type (`cidr4_set`, `u32`).
pub fn param_type_name(ty: &ParamType) -> String {
    match ty {
        ParamType::Scalar { ty, .. } => type_name(ty),
        ParamType::Cidr4Set => "cidr4_set".into(),
        ParamType::Cidr6Set => "cidr6_set".into(),
        ParamType::CidrSet => "cidr_set".into(),
        ParamType::PortSet => "port_set".into(),
    }
}

pub fn type_name(ty: &ValueType) -> String {
    match ty {
        ValueType::Bool => "bool".into(),
        ValueType::U8 => "u8".into(),
        ValueType::U16 => "u16".into(),
        ValueType::U32 => "u32".into(),
        ValueType::U64 => "u64".into(),
        ValueType::I32 => "i32".into(),
        ValueType::Ipv4 => "ipv4".into(),
        ValueType::Str { max_len } => format!("string (at most {max_len} bytes)"),
        ValueType::Enum { variants } => format!("enum ({}*)", enum_prefix(variants)),
    }
}

/// The largest integer a value of this type can hold.
pub fn type_max(ty: &ValueType) -> u64 {
    match ty {
        ValueType::Bool => 1,
        ValueType::U8 => u8::MAX.into(),
        ValueType::U16 => u16::MAX.into(),
        ValueType::U32 | ValueType::I32 | ValueType::Ipv4 | ValueType::Enum { .. } => {
            u32::MAX.into()
        }
        ValueType::U64 => u64::MAX,
        ValueType::Str { .. } => 0,
    }
}

#[derive(PartialEq)]
enum Class {
    Int,
    Enum,
    Ipv4,
    Str,
    Bool,
}

fn class(ty: &ValueType) -> Class {
    match ty {
        ValueType::Bool => Class::Bool,
        ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64 | ValueType::I32 => {
            Class::Int
        }
        ValueType::Ipv4 => Class::Ipv4,
        ValueType::Str { .. } => Class::Str,
        ValueType::Enum { .. } => Class::Enum,
    }
}

fn compatible(a: &ValueType, b: &ValueType) -> bool {
    match (class(a), class(b)) {
        (Class::Enum, Class::Enum) => a == b,
        (Class::Int | Class::Enum, Class::Int | Class::Enum) => true,
        (x, y) => x == y,
    }
}

fn literal_desc(atom: &Atom) -> String {
    match atom {
        Atom::Ident(s) => format!("`{s}`"),
        Atom::Param(s) => format!("`${s}`"),
        Atom::Int(v) => format!("integer {v}"),
        Atom::NegInt(v) => format!("integer -{v}"),
        Atom::Masked(f, len) => format!("`{f}/{len}`"),
        Atom::Ipv4(v) => format!("IPv4 address {}", super::print::ipv4(*v)),
        Atom::Ipv6(v) => format!("IPv6 address {}", std::net::Ipv6Addr::from(*v)),
        Atom::Str(s) => format!("string \"{s}\""),
        Atom::Bool(b) => format!("boolean {b}"),
    }
}

impl Typer<'_, '_> {
    fn push(&mut self, err: GuardError) -> Guard {
        self.errors.push(err);
        Guard::False
    }

    fn expr(&mut self, expr: &Expr) -> Guard {
        match expr {
            Expr::Cmp { lhs, op, rhs } => {
                if let Some(r) = super::masked::cmp(self.scope, lhs, *op, rhs, self.used) {
                    return r.unwrap_or_else(|err| self.push(err));
                }
                if let Some(r) = super::wide::cmp(self.scope, lhs, *op, rhs, self.used) {
                    return r.unwrap_or_else(|err| self.push(err));
                }
            }
            Expr::In {
                operand,
                set,
                set_offset,
                set_len,
                ..
            } => {
                let set_err = |kind| GuardError {
                    offset: *set_offset,
                    len: (*set_len).max(1),
                    kind,
                };
                if let Some(r) =
                    super::wide::membership(self.scope, operand, set, &set_err, self.used)
                {
                    return match (r, expr) {
                        (Ok(g), Expr::In { negated: true, .. }) => Guard::Not(Box::new(g)),
                        (Ok(g), _) => g,
                        (Err(err), _) => self.push(err),
                    };
                }
            }
            _ => {}
        }
        match expr {
            Expr::Bool(true) => Guard::True,
            Expr::Bool(false) => Guard::False,
            Expr::Not(inner) => Guard::Not(Box::new(self.expr(inner))),
            Expr::And(items) => Guard::And(items.iter().map(|i| self.expr(i)).collect()),
            Expr::Or(items) => Guard::Or(items.iter().map(|i| self.expr(i)).collect()),
            Expr::Cmp { lhs, op, rhs } => {
                self.cmp(lhs, *op, rhs).unwrap_or_else(|err| self.push(err))
            }
            Expr::In {
                operand,
                set,
                set_offset,
                set_len,
                negated,
            } => self
                .membership(operand, set, *set_offset, *set_len, *negated)
                .unwrap_or_else(|err| self.push(err)),
        }
    }

    fn unknown_field(&self, o: &SynOperand, name: &str) -> GuardError {
        // 128-bit fields are listed by their name, not their words.
        let mut readable: Vec<String> = self
            .scope
            .catalog
            .readable
            .keys()
            .map(|k| {
                crate::ir::wide_of(k)
                    .map_or(k.as_str(), |(b, _)| b)
                    .to_string()
            })
            .collect();
        readable.sort();
        readable.dedup();
        if let Some(ro) = self.scope.catalog.read_options.get(name) {
            return e(
                o,
                K::ReadOptionInGuard {
                    name: name.into(),
                    what: ro.description.clone(),
                },
            );
        }
        if self.scope.catalog.writable.contains_key(name) {
            return e(
                o,
                K::WritableInGuard {
                    name: name.into(),
                    choices: readable,
                },
            );
        }
        let suggestion = did_you_mean(name, readable.iter().map(String::as_str));
        e(
            o,
            K::UnknownField {
                name: name.into(),
                suggestion,
                choices: readable,
            },
        )
    }

    fn param_names(&self) -> Vec<String> {
        self.scope.params.iter().map(|p| p.name.clone()).collect()
    }

    fn unknown_param(&self, o: &SynOperand, name: &str) -> GuardError {
        let names = self.param_names();
        let suggestion =
            did_you_mean(name, names.iter().map(String::as_str)).map(|s| format!("${s}"));
        e(
            o,
            K::UnknownParam {
                name: name.into(),
                suggestion,
                choices: names,
            },
        )
    }

    /// Resolves fields and params; literals and bare names stay pending.
    fn anchor(&self, o: &SynOperand) -> Result<Option<Anchor>, GuardError> {
        match &o.atom {
            Atom::Ident(name) => Ok(match self.scope.catalog.readable.get(name) {
                Some(f) => Some(Anchor {
                    operand: Operand::Field(name.clone()),
                    ty: f.ty.clone(),
                    desc: format!("field `{name}` ({})", type_name(&f.ty)),
                }),
                // A writable field a program can read: the value the members
                // before this one left there (`check` orders the reader after
                // its writers).
                None => self
                    .scope
                    .catalog
                    .writable
                    .get(name)
                    .filter(|w| crate::ir::readable_when_written(w))
                    .map(|w| Anchor {
                        operand: Operand::Field(name.clone()),
                        ty: w.ty.clone(),
                        desc: format!("written field `{name}` ({})", type_name(&w.ty)),
                    }),
            }),
            Atom::Param(name) => match self.scope.params.iter().find(|p| &p.name == name) {
                None => Err(self.unknown_param(o, name)),
                Some(p) => match &p.ty {
                    ParamType::Scalar { ty, .. } => Ok(Some(Anchor {
                        operand: Operand::Param(name.clone()),
                        ty: ty.clone(),
                        desc: format!("param `${name}` ({})", type_name(ty)),
                    })),
                    set => Err(e(
                        o,
                        K::SetParamInComparison {
                            name: name.clone(),
                            ty: param_type_name(set),
                        },
                    )),
                },
            },
            _ => Ok(None),
        }
    }

    /// Types a literal (or bare enum name) against the other side's type.
    fn literal(&self, o: &SynOperand, ty: &ValueType, other: &str) -> Result<Literal, GuardError> {
        let mismatch = || {
            e(
                o,
                K::TypeMismatch {
                    lhs: other.to_string(),
                    rhs: literal_desc(&o.atom),
                },
            )
        };
        match (&o.atom, ty) {
            (Atom::Ident(name), ValueType::Enum { variants }) => {
                let prefix = enum_prefix(variants);
                if let Some((_, v)) = variants
                    .iter()
                    .find(|(n, _)| n == name || *n == format!("{prefix}{name}"))
                {
                    return Ok(Literal::Int(*v));
                }
                let names: Vec<String> = variants.iter().map(|(n, _)| n.clone()).collect();
                let short: Vec<String> = names
                    .iter()
                    .map(|n| n[prefix.len()..].to_string())
                    .collect();
                let suggestion =
                    did_you_mean(name, names.iter().map(String::as_str)).or_else(|| {
                        did_you_mean(name, short.iter().map(String::as_str))
                            .map(|s| format!("{prefix}{s}"))
                    });
                let field = other.split('`').nth(1).unwrap_or("enum").to_string();
                Err(e(
                    o,
                    K::UnknownVariant {
                        field,
                        name: name.clone(),
                        suggestion,
                        choices: names,
                    },
                ))
            }
            (Atom::Ident(name), _) => Err(self.unknown_field(o, name)),
            (Atom::Int(v), ValueType::Enum { variants }) => {
                match variants.iter().find(|(_, x)| x == v) {
                    Some(_) => Ok(Literal::Int(*v)),
                    None => {
                        let field = other.split('`').nth(1).unwrap_or("enum").to_string();
                        let names = variants.iter().map(|(n, x)| format!("{n} ({x})")).collect();
                        Err(e(
                            o,
                            K::UnknownVariant {
                                field,
                                name: v.to_string(),
                                suggestion: None,
                                choices: names,
                            },
                        ))
                    }
                }
            }
            (Atom::Int(v), ValueType::I32) => signed(*v as i128, o, other),
            (Atom::NegInt(v), ValueType::I32) => signed(-(*v as i128), o, other),
            (Atom::Int(v), ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64) => {
                let max = type_max(ty);
                if *v > max {
                    return Err(e(
                        o,
                        K::OutOfRange {
                            value: *v,
                            what: other.to_string(),
                            min: 0,
                            max,
                        },
                    ));
                }
                Ok(Literal::Int(*v))
            }
            (Atom::Ipv4(v), ValueType::Ipv4) => Ok(Literal::Int(u64::from(*v))),
            (Atom::Bool(b), ValueType::Bool) => Ok(Literal::Int(u64::from(*b))),
            (Atom::Str(s), ValueType::Str { max_len }) => {
                if s.len() > *max_len as usize {
                    return Err(e(
                        o,
                        K::StringTooLong {
                            value: s.clone(),
                            max_len: *max_len,
                        },
                    ));
                }
                Ok(Literal::Str(s.clone()))
            }
            _ => Err(mismatch()),
        }
    }

    fn cmp(&self, lhs: &SynOperand, op: CmpOp, rhs: &SynOperand) -> Result<Guard, GuardError> {
        let a = self.anchor(lhs)?;
        let b = self.anchor(rhs)?;
        let (l, r, ty, desc) = match (a, b) {
            (Some(a), Some(b)) => {
                if !compatible(&a.ty, &b.ty) {
                    return Err(e(
                        rhs,
                        K::TypeMismatch {
                            lhs: a.desc,
                            rhs: b.desc,
                        },
                    ));
                }
                (a.operand, b.operand, a.ty, a.desc)
            }
            (Some(a), None) => {
                let lit = self.literal(rhs, &a.ty, &a.desc)?;
                (a.operand, Operand::Lit(lit), a.ty, a.desc)
            }
            (None, Some(b)) => {
                let lit = self.literal(lhs, &b.ty, &b.desc)?;
                (Operand::Lit(lit), b.operand, b.ty, b.desc)
            }
            (None, None) => {
                for o in [lhs, rhs] {
                    if let Atom::Ident(name) = &o.atom {
                        return Err(self.unknown_field(o, name));
                    }
                }
                let ty = match (&lhs.atom, &rhs.atom) {
                    (Atom::Int(_), Atom::Int(_)) => ValueType::U64,
                    (Atom::Ipv4(_), Atom::Ipv4(_)) => ValueType::Ipv4,
                    (Atom::Str(_), Atom::Str(_)) => ValueType::Str { max_len: u32::MAX },
                    (Atom::Bool(_), Atom::Bool(_)) => ValueType::Bool,
                    _ => {
                        return Err(e(
                            rhs,
                            K::TypeMismatch {
                                lhs: literal_desc(&lhs.atom),
                                rhs: literal_desc(&rhs.atom),
                            },
                        ));
                    }
                };
                let desc = literal_desc(&lhs.atom);
                (
                    Operand::Lit(self.literal(lhs, &ty, &desc)?),
                    Operand::Lit(self.literal(rhs, &ty, &desc)?),
                    ty,
                    desc,
                )
            }
        };
        let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        if ordered && matches!(class(&ty), Class::Str | Class::Bool) {
            return Err(e(lhs, K::OrderingOnUnordered { what: desc }));
        }
        if ordered && ty == ValueType::I32 {
            return match (l, r) {
                (x, Operand::Lit(Literal::Int(k))) => Ok(signed_order(x, op, k)),
                (Operand::Lit(Literal::Int(k)), x) => Ok(signed_order(x, flip(op), k)),
                _ => Err(e(lhs, K::SignedOrderNeedsLiteral { what: desc })),
            };
        }
        Ok(Guard::Cmp { lhs: l, op, rhs: r })
    }

    fn membership(
        &self,
        operand: &SynOperand,
        set: &SetSyntax,
        set_offset: usize,
        set_len: usize,
        negated: bool,
    ) -> Result<Guard, GuardError> {
        let set_err = |kind| GuardError {
            offset: set_offset,
            len: set_len.max(1),
            kind,
        };
        let anchor = match (&operand.atom, self.anchor(operand)?) {
            (_, Some(a)) => a,
            (Atom::Ident(name), None) => return Err(self.unknown_field(operand, name)),
            _ => return Err(e(operand, K::LiteralBeforeIn)),
        };
        let cls = class(&anchor.ty);
        let set = match set {
            SetSyntax::Cidr(c) => {
                if cls != Class::Ipv4 {
                    return Err(set_err(K::SetTypeMismatch {
                        operand: anchor.desc,
                        set: "an IPv4 prefix".into(),
                    }));
                }
                SetExpr::Cidr4(*c)
            }
            SetSyntax::Cidr6(_) => {
                return Err(set_err(K::SetTypeMismatch {
                    operand: anchor.desc,
                    set: "an IPv6 prefix".into(),
                }));
            }
            SetSyntax::Range { lo, hi } => {
                if !matches!(cls, Class::Int | Class::Enum) {
                    return Err(set_err(K::SetTypeMismatch {
                        operand: anchor.desc,
                        set: "an integer range".into(),
                    }));
                }
                let max = type_max(&anchor.ty);
                if *hi > max {
                    return Err(set_err(K::OutOfRange {
                        value: *hi,
                        what: anchor.desc,
                        min: 0,
                        max,
                    }));
                }
                SetExpr::Range { lo: *lo, hi: *hi }
            }
            SetSyntax::Values(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    if matches!(item.atom, Atom::Param(_)) {
                        return Err(e(
                            item,
                            K::Expected {
                                expected: "a literal in a set literal".into(),
                                found: literal_desc(&item.atom),
                            },
                        ));
                    }
                    values.push(self.literal(item, &anchor.ty, &anchor.desc)?);
                }
                values.sort();
                values.dedup();
                SetExpr::Values(values)
            }
            SetSyntax::Param(name) => {
                let p = self.scope.params.iter().find(|p| &p.name == name);
                let so = SynOperand {
                    atom: Atom::Param(name.clone()),
                    offset: set_offset,
                    len: set_len,
                };
                let Some(p) = p else {
                    return Err(self.unknown_param(&so, name));
                };
                let fits = match &p.ty {
                    ParamType::Cidr4Set | ParamType::CidrSet => cls == Class::Ipv4,
                    ParamType::Cidr6Set => false,
                    ParamType::PortSet => cls == Class::Int,
                    ParamType::Scalar { ty, .. } => {
                        return Err(set_err(K::ScalarParamAsSet {
                            name: name.clone(),
                            ty: type_name(ty),
                        }));
                    }
                };
                if !fits {
                    let set = format!("`${name}` ({})", param_type_name(&p.ty));
                    return Err(set_err(K::SetTypeMismatch {
                        operand: anchor.desc,
                        set,
                    }));
                }
                SetExpr::Param(name.clone())
            }
        };
        Ok(Guard::In {
            operand: anchor.operand,
            set,
            negated,
        })
    }
}

/// A literal of a signed 32-bit operand, as its two's-complement bits.
fn signed(v: i128, o: &SynOperand, other: &str) -> Result<Literal, GuardError> {
    match i32::try_from(v) {
        Ok(x) => Ok(Literal::Int(u64::from(x as u32))),
        Err(_) => Err(e(
            o,
            K::SignedOutOfRange {
                value: v.to_string(),
                what: other.to_string(),
            },
        )),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

/// `x op k` on signed 32-bit values (held as their bits), as unsigned
/// ranges of bits: with `f(v) = v ^ 0x8000_0000` signed order is unsigned
/// order of `f`, so the comparison is an interval of `f(x)`, which is one
/// or two intervals of `x`.
fn signed_order(x: Operand, op: CmpOp, k: u64) -> Guard {
    const SIGN: u64 = 0x8000_0000;
    const MAX: u64 = u32::MAX as u64;
    let fk = (k & MAX) ^ SIGN;
    let (lo, hi) = match op {
        CmpOp::Lt if fk == 0 => return Guard::False,
        CmpOp::Lt => (0, fk - 1),
        CmpOp::Le => (0, fk),
        CmpOp::Gt if fk == MAX => return Guard::False,
        CmpOp::Gt => (fk + 1, MAX),
        CmpOp::Ge => (fk, MAX),
        CmpOp::Eq | CmpOp::Ne => {
            return Guard::Cmp {
                lhs: x,
                op,
                rhs: Operand::Lit(Literal::Int(k)),
            }
        }
    };
    // Back from f-space: [0, SIGN) holds the negatives, [SIGN, MAX] the rest.
    let mut parts = Vec::new();
    let range = |lo: u64, hi: u64| Guard::In {
        operand: x.clone(),
        set: SetExpr::Range { lo, hi },
        negated: false,
    };
    if lo < SIGN {
        parts.push(range(lo + SIGN, hi.min(SIGN - 1) + SIGN));
    }
    if hi >= SIGN {
        parts.push(range(lo.max(SIGN) - SIGN, hi - SIGN));
    }
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Guard::Or(parts)
    }
}
