//! Masked comparisons of two address fields: `remote_ip6/44 ==
//! local_ip6/44` (both in the same /44, "same datacenter"), `!=`, any
//! prefix length, for `remote_ip`/`local_ip`, `remote_ip4`/`local_ip4`
//! and `remote_ip6`/`local_ip6`. Lowered to what the solver decides
//! exactly: `==` of the 32-bit words the prefix covers whole, and
//! [`Guard::SamePrefix`] of the word it covers in part.

use super::syntax::{Atom, Operand as SynOperand};
use super::wide::{wide_field, WideField};
use super::{GuardError, GuardErrorKind as K, Scope};
use crate::ir::{word_field, CmpOp, Guard, Operand, ValueType};

/// An address field a mask applies to.
enum Addr {
    /// A 128-bit field (`remote_ip6`, or the virtual `remote_ip`).
    Wide(WideField),
    /// An IPv4 field (`remote_ip4`).
    V4(String),
}

impl Addr {
    fn bits(&self) -> u32 {
        match self {
            Addr::Wide(_) => 128,
            Addr::V4(_) => 32,
        }
    }

    /// The field's `i`th 32-bit word, most significant first.
    fn word(&self, i: usize) -> String {
        match self {
            Addr::Wide(f) => match f.word(i) {
                Operand::Field(n) => n,
                _ => word_field(&f.name, i),
            },
            Addr::V4(n) => n.clone(),
        }
    }
}

fn err(o: &SynOperand, what: String) -> GuardError {
    GuardError {
        offset: o.offset,
        len: o.len.max(1),
        kind: K::Masked { what },
    }
}

/// The address field `name`, or why a mask cannot apply to it.
fn addr(scope: Scope<'_>, o: &SynOperand, name: &str) -> Result<Addr, GuardError> {
    if let Some(w) = wide_field(scope.catalog, name) {
        return Ok(Addr::Wide(w));
    }
    match scope.catalog.readable.get(name).map(|f| &f.ty) {
        Some(ValueType::Ipv4) => Ok(Addr::V4(name.to_string())),
        Some(_) => Err(err(
            o,
            format!("`{name}` is not an address field; a mask (`/len`) applies to remote_ip, local_ip, remote_ip4, local_ip4, remote_ip6 or local_ip6"),
        )),
        None => Err(err(o, format!("unknown field `{name}` before `/`"))),
    }
}

/// A comparison with a masked field (`remote_ip6/44`) on either side;
/// `None` when neither side is one. Virtual fields used are pushed on
/// `used` (their definitions join the guard).
pub(super) fn cmp(
    scope: Scope<'_>,
    lhs: &SynOperand,
    op: CmpOp,
    rhs: &SynOperand,
    used: &mut Vec<WideField>,
) -> Option<Result<Guard, GuardError>> {
    let masked = |o: &SynOperand| match &o.atom {
        Atom::Masked(f, len) => Some((f.clone(), *len)),
        _ => None,
    };
    let (ma, mb) = (masked(lhs), masked(rhs));
    if ma.is_none() && mb.is_none() {
        return None;
    }
    Some((|| {
        let ((fa, la), (fb, lb)) = match (ma, mb) {
            (Some(a), Some(b)) => (a, b),
            (Some(_), None) | (None, Some(_)) => {
                let (masked_side, other) = if masked(lhs).is_some() {
                    (lhs, rhs)
                } else {
                    (rhs, lhs)
                };
                let hint = match &masked_side.atom {
                    Atom::Masked(f, len) => format!(
                        "; to test a prefix, write `{f} in PREFIX/{len}`; to compare two fields, mask both (`{f}/{len} == other/{len}`)"
                    ),
                    _ => String::new(),
                };
                return Err(err(other, format!("a masked comparison needs an address field with the same `/len` on both sides{hint}")));
            }
            (None, None) => unreachable!("checked above"),
        };
        let (a, b) = (addr(scope, lhs, &fa)?, addr(scope, rhs, &fb)?);
        if a.bits() != b.bits() {
            return Err(err(
                rhs,
                format!("`{fa}` and `{fb}` are addresses of different widths ({} and {} bits); compare remote_ip4 with local_ip4, remote_ip6 or remote_ip with local_ip6 or local_ip", a.bits(), b.bits()),
            ));
        }
        if la != lb {
            return Err(err(
                rhs,
                format!("the two sides are masked to different lengths (/{la} and /{lb})"),
            ));
        }
        if la > a.bits() {
            return Err(err(
                lhs,
                format!("/{la} is longer than `{fa}` ({} bits)", a.bits()),
            ));
        }
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(err(
                lhs,
                "masked addresses can only be compared with `==` or `!=`".into(),
            ));
        }
        for f in [&a, &b] {
            if let Addr::Wide(w) = f {
                if w.virtual_ {
                    used.push(w.clone());
                }
            }
        }
        let g = same_prefix(&a, &b, la);
        Ok(if op == CmpOp::Ne {
            Guard::Not(Box::new(g))
        } else {
            g
        })
    })())
}

/// `a/len == b/len`: equal whole words, then the partial word's prefix.
fn same_prefix(a: &Addr, b: &Addr, len: u32) -> Guard {
    let mut conj = Vec::new();
    for i in 0..(a.bits() / 32) as usize {
        let lo = 32 * i as u32;
        if len >= lo + 32 {
            conj.push(Guard::Cmp {
                lhs: Operand::Field(a.word(i)),
                op: CmpOp::Eq,
                rhs: Operand::Field(b.word(i)),
            });
        } else if len > lo {
            conj.push(Guard::SamePrefix {
                lhs: a.word(i),
                rhs: b.word(i),
                bits: (len - lo) as u8,
            });
        }
    }
    match conj.len() {
        0 => Guard::True,
        1 => conj.remove(0),
        _ => Guard::And(conj),
    }
}
