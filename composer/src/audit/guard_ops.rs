//! Which hook `op` values a spec's `when:` guard allows.
//!
//! The solver proves a composition for the guards as declared, so a write
//! the bytecode makes at an op its guard excludes (say at
//! `BPF_SOCK_OPS_TCP_CONNECT_CB` for a guard of `op ==
//! BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB`) is an effect the proof never saw.
//! A guard is evaluated here with `op` fixed and every other field,
//! param and set unknown, in three-valued (Kleene) logic: an op is excluded
//! only when the guard is false whatever the rest of the connection is, so
//! the audit never reports an op the guard could allow.

use crate::ir::{CmpOp, Guard, Literal, Operand, SetExpr};

/// The name of the hook field this module evaluates guards on.
pub const OP_FIELD: &str = "op";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// Whether `guard` may hold for some connection whose `op` is `op`.
pub fn may_hold(guard: &Guard, op: u64) -> bool {
    eval(guard, op) != Tri::False
}

fn eval(g: &Guard, op: u64) -> Tri {
    match g {
        // Two address fields: unknown whatever the op.
        Guard::SamePrefix { .. } => Tri::Unknown,
        Guard::True => Tri::True,
        Guard::False => Tri::False,
        Guard::Not(x) => eval(x, op).not(),
        Guard::And(xs) => {
            let vs: Vec<Tri> = xs.iter().map(|x| eval(x, op)).collect();
            if vs.contains(&Tri::False) {
                Tri::False
            } else if vs.iter().all(|v| *v == Tri::True) {
                Tri::True
            } else {
                Tri::Unknown
            }
        }
        Guard::Or(xs) => {
            let vs: Vec<Tri> = xs.iter().map(|x| eval(x, op)).collect();
            if vs.contains(&Tri::True) {
                Tri::True
            } else if vs.iter().all(|v| *v == Tri::False) {
                Tri::False
            } else {
                Tri::Unknown
            }
        }
        Guard::Cmp { lhs, op: c, rhs } => match (known(lhs, op), known(rhs, op)) {
            (Some(a), Some(b)) => Tri::of(match c {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
            }),
            _ => Tri::Unknown,
        },
        Guard::In {
            operand,
            set,
            negated,
        } => {
            let Some(x) = known(operand, op) else {
                return Tri::Unknown;
            };
            let inside = match set {
                SetExpr::Values(lits) => Tri::of(lits.contains(&Literal::Int(x))),
                SetExpr::Range { lo, hi } => Tri::of((*lo..=*hi).contains(&x)),
                SetExpr::Cidr4(_) | SetExpr::Param(_) => Tri::Unknown,
            };
            if *negated {
                inside.not()
            } else {
                inside
            }
        }
    }
}

/// The operand's value when only `op` is known.
fn known(o: &Operand, op: u64) -> Option<u64> {
    match o {
        Operand::Field(f) if f == OP_FIELD => Some(op),
        Operand::Lit(Literal::Int(n)) => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_is(v: u64) -> Guard {
        Guard::Cmp {
            lhs: Operand::Field(OP_FIELD.into()),
            op: CmpOp::Eq,
            rhs: Operand::Lit(Literal::Int(v)),
        }
    }

    fn other() -> Guard {
        Guard::In {
            operand: Operand::Field("remote_ip4".into()),
            set: SetExpr::Param("prefixes".into()),
            negated: false,
        }
    }

    #[test]
    fn an_op_is_excluded_only_when_the_guard_is_false_whatever_else_holds() {
        let g = Guard::And(vec![op_is(4), other()]);
        assert!(may_hold(&g, 4));
        assert!(!may_hold(&g, 5));
        let either = Guard::Or(vec![op_is(4), other()]);
        assert!(may_hold(&either, 5), "the other field may make it true");
        assert!(!may_hold(&Guard::Not(Box::new(op_is(4))), 4));
        assert!(may_hold(&Guard::True, 9));
    }

    #[test]
    fn sets_and_ranges_of_ops() {
        let set = Guard::In {
            operand: Operand::Field(OP_FIELD.into()),
            set: SetExpr::Values(vec![Literal::Int(4), Literal::Int(5)]),
            negated: false,
        };
        assert!(may_hold(&set, 5) && !may_hold(&set, 3));
        let outside = Guard::In {
            operand: Operand::Field(OP_FIELD.into()),
            set: SetExpr::Range { lo: 4, hi: 5 },
            negated: true,
        };
        assert!(may_hold(&outside, 3) && !may_hold(&outside, 4));
    }
}
