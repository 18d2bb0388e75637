//! 128-bit addresses in guards: `remote_ip6`, `local_ip6` and the
//! family-independent `remote_ip`, `local_ip`.
//!
//! The catalog loader splits every 128-bit field into four `u32` words
//! (`remote_ip6[0]` is the most significant, as the kernel's
//! `remote_ip6[0]` after `bpf_ntohl`), so a comparison or a prefix test on an
//! address lowers to word comparisons and word ranges the checks already
//! understand: `remote_ip6 in 2001:db8::/32` is `remote_ip6[0] == 0x20010db8`.
//!
//! `remote_ip` is virtual (its words have no context offset): on an
//! `AF_INET6` socket it is `remote_ip6`, on any other it is `remote_ip4`
//! IPv4-mapped (`::ffff:a.b.c.d`), which is also how the kernel presents an
//! IPv4 peer of a dual-stack IPv6 socket. A guard that names it gets that
//! definition conjoined ([`link`]), so `remote_ip4 in 10.0.0.0/8` and
//! `remote_ip in ::ffff:10.0.0.0/104` are seen to overlap, and
//! `remote_ip in 2001:db8::/32` never holds on an `AF_INET` socket.

use super::syntax::{Atom, Operand as SynOperand, SetSyntax};
use super::{GuardError, GuardErrorKind as K, Scope};
use crate::ir::{
    word_field, Cidr, Cidr4, CmpOp, Guard, HookCatalog, Literal, Operand, ParamType, SetExpr,
    ValueType,
};

/// A 128-bit field: a real one (`remote_ip6`) or a family-independent
/// virtual one (`remote_ip`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WideField {
    pub name: String,
    pub virtual_: bool,
}

impl WideField {
    fn desc(&self) -> String {
        if self.virtual_ {
            format!("field `{}` (ip: IPv4 or IPv6)", self.name)
        } else {
            format!("field `{}` (ipv6)", self.name)
        }
    }

    pub(super) fn word(&self, i: usize) -> Operand {
        Operand::Field(word_field(&self.name, i))
    }
}

/// The 128-bit field called `name`, if the catalog has one.
pub(super) fn wide_field(cat: &HookCatalog, name: &str) -> Option<WideField> {
    let w0 = cat.readable.get(&word_field(name, 0))?;
    Some(WideField {
        name: name.into(),
        virtual_: w0.offset.is_none(),
    })
}

fn e(o: &SynOperand, kind: K) -> GuardError {
    GuardError {
        offset: o.offset,
        len: o.len.max(1),
        kind,
    }
}

fn eq(a: Operand, b: Operand) -> Guard {
    Guard::Cmp {
        lhs: a,
        op: CmpOp::Eq,
        rhs: b,
    }
}

fn lit(v: u32) -> Operand {
    Operand::Lit(Literal::Int(u64::from(v)))
}

/// `field == addr`, word by word.
fn equals(f: &WideField, addr: u128) -> Guard {
    Guard::And(
        (0..4)
            .map(|i| eq(f.word(i), lit(Cidr::word(addr, i))))
            .collect(),
    )
}

/// `field in prefix`: the words the prefix covers fully are equal, the one
/// it covers partly is in a range, the rest are free.
pub(super) fn in_prefix(f: &WideField, c: Cidr) -> Guard {
    let mut conj = Vec::new();
    for i in 0..4u8 {
        let (lo_bit, hi_bit) = (32 * i, 32 * (i + 1));
        let w = Cidr::word(c.addr, usize::from(i));
        if c.len >= hi_bit {
            conj.push(eq(f.word(usize::from(i)), lit(w)));
        } else if c.len > lo_bit {
            let host = u32::MAX >> (c.len - lo_bit);
            conj.push(Guard::In {
                operand: f.word(usize::from(i)),
                set: SetExpr::Range {
                    lo: u64::from(w & !host),
                    hi: u64::from(w | host),
                },
                negated: false,
            });
        }
    }
    if conj.is_empty() {
        Guard::True
    } else {
        Guard::And(conj)
    }
}

/// `field in $p` for a `cidr4_set` param: an IPv4-mapped address whose
/// low word is in the set.
fn in_v4_param(f: &WideField, param: &str) -> Guard {
    Guard::And(vec![
        eq(f.word(0), lit(0)),
        eq(f.word(1), lit(0)),
        eq(f.word(2), lit(0xffff)),
        Guard::In {
            operand: f.word(3),
            set: SetExpr::Param(param.into()),
            negated: false,
        },
    ])
}

/// The address a literal stands for next to `f`: IPv6 anywhere, IPv4
/// (mapped) only next to a virtual field.
fn address(f: &WideField, o: &SynOperand) -> Result<u128, GuardError> {
    match o.atom {
        Atom::Ipv6(v) => Ok(v),
        Atom::Ipv4(v) if f.virtual_ => Ok(Cidr::V4_MAPPED | u128::from(v)),
        _ => Err(e(
            o,
            K::TypeMismatch {
                lhs: f.desc(),
                rhs: describe(&o.atom),
            },
        )),
    }
}

fn describe(a: &Atom) -> String {
    match a {
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

fn as_wide(scope: Scope<'_>, o: &SynOperand) -> Option<WideField> {
    match &o.atom {
        Atom::Ident(n) => wide_field(scope.catalog, n),
        _ => None,
    }
}

/// A comparison with a 128-bit field or an IPv6 literal on either side;
/// `None` when neither side is one (the ordinary typing applies). Virtual
/// fields used are pushed on `used`.
pub(super) fn cmp(
    scope: Scope<'_>,
    lhs: &SynOperand,
    op: CmpOp,
    rhs: &SynOperand,
    used: &mut Vec<WideField>,
) -> Option<Result<Guard, GuardError>> {
    let (a, b) = (as_wide(scope, lhs), as_wide(scope, rhs));
    let v6_lit = |o: &SynOperand| matches!(o.atom, Atom::Ipv6(_));
    if a.is_none() && b.is_none() && !v6_lit(lhs) && !v6_lit(rhs) {
        return None;
    }
    let r = (|| {
        let g = match (&a, &b) {
            (Some(fa), Some(fb)) => {
                Guard::And((0..4).map(|i| eq(fa.word(i), fb.word(i))).collect())
            }
            (Some(f), None) => equals(f, address(f, rhs)?),
            (None, Some(f)) => equals(f, address(f, lhs)?),
            (None, None) => {
                // An IPv6 literal next to something that is not an address.
                let (other, v6) = if v6_lit(rhs) { (lhs, rhs) } else { (rhs, lhs) };
                let lhs_desc = match &other.atom {
                    Atom::Ident(n) => match scope.catalog.readable.get(n) {
                        Some(f) => format!("field `{n}` ({})", super::type_name(&f.ty)),
                        None => describe(&other.atom),
                    },
                    Atom::Param(n) => format!("param `${n}`"),
                    a => describe(a),
                };
                if let Atom::Ipv6(x) = other.atom {
                    if let Atom::Ipv6(y) = v6.atom {
                        let holds = (x == y) == (op == CmpOp::Eq);
                        return ordered(op, lhs, "an IPv6 address").map(|()| {
                            if holds {
                                Guard::True
                            } else {
                                Guard::False
                            }
                        });
                    }
                }
                return Err(e(
                    v6,
                    K::TypeMismatch {
                        lhs: lhs_desc,
                        rhs: describe(&v6.atom),
                    },
                ));
            }
        };
        let f = a.as_ref().or(b.as_ref()).expect("one side is wide");
        ordered(op, lhs, &f.desc())?;
        for f in [&a, &b].into_iter().flatten() {
            if f.virtual_ {
                used.push(f.clone());
            }
        }
        Ok(match op {
            CmpOp::Ne => Guard::Not(Box::new(g)),
            _ => g,
        })
    })();
    Some(r)
}

fn ordered(op: CmpOp, at: &SynOperand, what: &str) -> Result<(), GuardError> {
    if matches!(op, CmpOp::Eq | CmpOp::Ne) {
        Ok(())
    } else {
        Err(e(
            at,
            K::OrderingOnUnordered {
                what: what.to_string(),
            },
        ))
    }
}

/// `x in SET` where `x` is a 128-bit field; `None` when it is not one.
pub(super) fn membership(
    scope: Scope<'_>,
    operand: &SynOperand,
    set: &SetSyntax,
    set_err: &dyn Fn(K) -> GuardError,
    used: &mut Vec<WideField>,
) -> Option<Result<Guard, GuardError>> {
    let f = as_wide(scope, operand)?;
    let r = (|| {
        let g = match set {
            SetSyntax::Cidr6(c) => in_prefix(&f, *c),
            SetSyntax::Cidr(c) if f.virtual_ => in_prefix(&f, Cidr::from_v4(*c)),
            SetSyntax::Cidr(_) => {
                return Err(set_err(K::SetTypeMismatch {
                    operand: f.desc(),
                    set: "an IPv4 prefix (write it IPv4-mapped, ::ffff:a.b.c.d/(96+len))".into(),
                }))
            }
            SetSyntax::Values(items) => {
                let mut alts = Vec::new();
                for item in items {
                    alts.push(equals(&f, address(&f, item)?));
                }
                Guard::Or(alts)
            }
            SetSyntax::Range { .. } => {
                return Err(set_err(K::SetTypeMismatch {
                    operand: f.desc(),
                    set: "an integer range".into(),
                }))
            }
            SetSyntax::Param(name) => {
                let Some(p) = scope.params.iter().find(|p| &p.name == name) else {
                    return Err(set_err(K::UnknownParam {
                        name: name.clone(),
                        suggestion: None,
                        choices: scope.params.iter().map(|p| p.name.clone()).collect(),
                    }));
                };
                match &p.ty {
                    ParamType::Cidr4Set => in_v4_param(&f, name),
                    // Split once the config is known
                    // (`lower_prefix_sets`): the IPv4 entries on the low
                    // word, the IPv6 ones left as this membership of the
                    // field's base name (its four words).
                    ParamType::Cidr6Set | ParamType::CidrSet => {
                        if matches!(p.ty, ParamType::CidrSet) && !f.virtual_ {
                            // remote_ip6 in a mixed set: fine, IPv4 entries
                            // are mapped and match dual-stack IPv4 peers.
                        }
                        Guard::In {
                            operand: Operand::Field(f.name.clone()),
                            set: SetExpr::Param(name.clone()),
                            negated: false,
                        }
                    }
                    ParamType::PortSet => {
                        return Err(set_err(K::SetTypeMismatch {
                            operand: f.desc(),
                            set: format!("`${name}` (port_set)"),
                        }))
                    }
                    ParamType::Scalar { ty, .. } => {
                        return Err(set_err(K::ScalarParamAsSet {
                            name: name.clone(),
                            ty: super::type_name(ty),
                        }))
                    }
                }
            }
        };
        if f.virtual_ {
            used.push(f.clone());
        }
        Ok(g)
    })();
    Some(r)
}

/// The definition of the virtual field `f` (`remote_ip`) in terms of the
/// real ones: `family == AF_INET6` and the words equal `remote_ip6`'s, or
/// another family and the words are `::ffff:` + `remote_ip4`. `None` when
/// the catalog lacks `family` with `AF_INET6`, `<name>4` or `<name>6`.
pub(super) fn link(cat: &HookCatalog, f: &WideField) -> Option<Guard> {
    let ValueType::Enum { variants } = &cat.readable.get("family")?.ty else {
        return None;
    };
    let inet6 = variants.iter().find(|(n, _)| n == "AF_INET6")?.1;
    let v4 = format!("{}4", f.name);
    let v6 = wide_field(cat, &format!("{}6", f.name))?;
    cat.readable.get(&v4)?;
    let fam = |op| Guard::Cmp {
        lhs: Operand::Field("family".into()),
        op,
        rhs: Operand::Lit(Literal::Int(inet6)),
    };
    let mut as_v6 = vec![fam(CmpOp::Eq)];
    as_v6.extend((0..4).map(|i| eq(f.word(i), v6.word(i))));
    let mut as_v4 = vec![fam(CmpOp::Ne)];
    if let Guard::And(words) = in_v4_prefix_words(f) {
        as_v4.extend(words);
    }
    as_v4.push(eq(f.word(3), Operand::Field(v4)));
    Some(Guard::Or(vec![Guard::And(as_v6), Guard::And(as_v4)]))
}

/// `f` is inside `::ffff:0.0.0.0/96`.
fn in_v4_prefix_words(f: &WideField) -> Guard {
    in_prefix(f, Cidr::from_v4(Cidr4 { addr: 0, len: 0 }))
}

/// Lowers every `x in $p` of a 128-bit field `x` over a `cidr6_set` or
/// `cidr_set` param (the solver's 32-bit sets cannot hold it): an
/// IPv4-mapped `x` whose low word is in the param (the checks read a
/// 128-bit set's IPv4 entries there, free under `--any-config` like a
/// `cidr4_set`), or `x in $p` kept as it is, which from here on means `x`
/// in one of the param's IPv6 entries ([`v6_entries`] of the value: the
/// deployed one, a witness's, or a free 128-bit set under `--any-config`).
/// Run once the feature's config is final. A param without a value (a spec
/// on its own, no default) is an over-approximation: the membership may
/// hold either way.
pub fn lower_prefix_sets(feature: &mut crate::ir::Feature, catalog: &HookCatalog) {
    let config = feature.config.clone();
    for p in &mut feature.programs {
        for w in &mut p.writes {
            w.guard = lower(&w.guard, &config, catalog);
        }
    }
}

fn lower(
    g: &Guard,
    config: &std::collections::BTreeMap<String, crate::ir::ConfigValue>,
    cat: &HookCatalog,
) -> Guard {
    use crate::ir::ConfigValue;
    let rec = |x: &Guard| lower(x, config, cat);
    match g {
        Guard::Not(x) => Guard::Not(Box::new(rec(x))),
        Guard::And(xs) => Guard::And(xs.iter().map(rec).collect()),
        Guard::Or(xs) => Guard::Or(xs.iter().map(rec).collect()),
        Guard::In {
            operand: Operand::Field(f),
            set: SetExpr::Param(p),
            negated,
        } => {
            // An IPv4 field's membership stays symbolic: the checks read a
            // 128-bit set's IPv4 entries from a 32-bit operand.
            let Some(wf) = wide_field(cat, f) else {
                return g.clone();
            };
            // IPv4(-mapped) entries stay the 32-bit param (free under
            // `--any-config`, like a cidr4_set); the IPv6 ones are the
            // 128-bit membership left in place (see `v6_entries`).
            let Some(ConfigValue::CidrSet(_)) = config.get(p) else {
                return Guard::True;
            };
            let any = Guard::Or(vec![in_v4_param(&wf, p), g_pos(f, p)]);
            if *negated {
                Guard::Not(Box::new(any))
            } else {
                any
            }
        }
        other => other.clone(),
    }
}

fn g_pos(field: &str, param: &str) -> Guard {
    Guard::In {
        operand: Operand::Field(field.into()),
        set: SetExpr::Param(param.into()),
        negated: false,
    }
}

/// What a lowered `x in $p` over a 128-bit field `x` (see
/// [`lower_prefix_sets`]) means for the set value `cs`: `x` in one of its
/// IPv6 entries (those not inside `::ffff:0.0.0.0/96`), as word
/// constraints. The checks encode a deployed value this way; `eval` the
/// value a witness shows.
pub fn v6_entries(field: &str, cs: &[Cidr]) -> Guard {
    let wf = WideField {
        name: field.into(),
        virtual_: false,
    };
    Guard::Or(
        cs.iter()
            .filter(|c| c.as_v4().is_none())
            .map(|c| in_prefix(&wf, *c))
            .collect(),
    )
}

/// `x in $p` where `x` names a 128-bit field (its words are in the
/// catalog): a lowered membership in `$p`'s IPv6 entries.
pub fn lowered_wide(cat: &HookCatalog, g: &Guard) -> Option<(String, String)> {
    match g {
        Guard::In {
            operand: Operand::Field(f),
            set: SetExpr::Param(p),
            ..
        } if wide_field(cat, f).is_some() => Some((f.clone(), p.clone())),
        _ => None,
    }
}
