//! Following the hook's `op` through the program: which ops each path runs
//! with ([`OpSet`], kept in every state) and functions of the op that
//! registers and stack slots hold ([`OpFns`], interned tables behind
//! [`Atom::Op`]). A branch that compares such a function with a constant
//! splits the ops between its two edges, so each write knows the ops it
//! can happen at; `check` compares those with the spec's `when:` guards.

use std::collections::HashMap;

use super::alu;
use super::insn::{self, Insn};
use super::interp::compare;
use super::value::{Atom, Value};

/// The `op` values a path may run with, as a bit set: bit `v` for op `v`
/// in `0..63` (every kernel `BPF_SOCK_OPS_*` value is far below 63), and
/// bit 63 for "some op of 63 or more", which no branch ever excludes (the
/// analysis stays sound for any 32-bit value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpSet(pub u64);

impl OpSet {
    pub const ALL: OpSet = OpSet(u64::MAX);
    /// The bit of ops `>= 63`.
    pub const OTHERS: u64 = 1 << 63;

    /// Whether op `v` (below 63) is possible.
    pub fn contains(self, v: u64) -> bool {
        v < 63 && self.0 & (1 << v) != 0
    }

    /// The possible ops below 63.
    pub fn values(self) -> impl Iterator<Item = u64> {
        (0..63).filter(move |v| self.contains(*v))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The values of a function of the op, for each op in `0..63` (entry 63
/// is unused: ops of 63 and more are not followed).
pub type OpFn = [u64; 64];

/// The op itself.
pub const OP_IDENTITY: OpFn = {
    let mut t = [0u64; 64];
    let mut v = 0;
    while v < 64 {
        t[v] = v as u64;
        v += 1;
    }
    t
};

/// The interned functions of the op [`Atom::Op`] refers to; entry 0 is
/// the op itself.
#[derive(Debug, Clone)]
pub struct OpFns {
    tables: Vec<OpFn>,
    ids: HashMap<OpFn, u32>,
}

impl Default for OpFns {
    fn default() -> Self {
        Self::new()
    }
}

impl OpFns {
    pub fn new() -> OpFns {
        let mut fns = OpFns {
            tables: Vec::new(),
            ids: HashMap::new(),
        };
        fns.intern(OP_IDENTITY);
        fns
    }

    pub fn intern(&mut self, f: OpFn) -> Atom {
        if let Some(&id) = self.ids.get(&f) {
            return Atom::Op(id);
        }
        let id = self.tables.len() as u32;
        self.tables.push(f);
        self.ids.insert(f, id);
        Atom::Op(id)
    }

    /// `f` applied to every value of the function `id`.
    pub fn map(&mut self, id: u32, f: impl Fn(u64) -> Option<u64>) -> Atom {
        let Some(table) = self.tables.get(id as usize).copied() else {
            return Atom::Scalar;
        };
        let mut out = [0u64; 64];
        for (o, v) in out.iter_mut().zip(table) {
            match f(v) {
                Some(x) => *o = x,
                None => return Atom::Scalar,
            }
        }
        self.intern(out)
    }

    /// One ALU operation on a pair of atoms; functions of the op combine
    /// with constants (and each other) pointwise.
    pub fn alu(&mut self, i: &Insn, is64: bool, a: Atom, b: Atom) -> Atom {
        let fold = |x: u64, y: u64| match alu::binary(i, is64, Atom::Const(x), Atom::Const(y)) {
            Atom::Const(c) => Some(c),
            _ => None,
        };
        match (a, b) {
            (Atom::Op(f), Atom::Const(c)) => self.map(f, |x| fold(x, c)),
            (Atom::Const(c), Atom::Op(f)) => self.map(f, |y| fold(c, y)),
            (Atom::Op(f), Atom::Op(g)) => {
                let (Some(tf), Some(tg)) = (
                    self.tables.get(f as usize).copied(),
                    self.tables.get(g as usize).copied(),
                ) else {
                    return Atom::Scalar;
                };
                let mut out = [0u64; 64];
                for k in 0..64 {
                    match fold(tf[k], tg[k]) {
                        Some(x) => out[k] = x,
                        None => return Atom::Scalar,
                    }
                }
                self.intern(out)
            }
            (Atom::Op(_), _) | (_, Atom::Op(_)) if i.op() != insn::alu::MOV => Atom::Scalar,
            (_, Atom::Op(f)) => self.map(f, |y| fold(0, y)),
            _ => alu::binary(i, is64, a, b),
        }
    }

    /// The ops of `ops` for which `a op b` holds and those for which it does
    /// not, when one side is the (transformed) op and the other a constant.
    pub fn split(
        &self,
        op: u8,
        a: &Value,
        b: &Value,
        is64: bool,
        ops: OpSet,
    ) -> Option<(OpSet, OpSet)> {
        let table = |f: u32| self.tables.get(f as usize).copied();
        let (x, y): (OpFn, OpFn) = match (a.single()?, b.single()?) {
            (Atom::Op(f), Atom::Const(k)) => (table(f)?, [k; 64]),
            (Atom::Const(k), Atom::Op(f)) => ([k; 64], table(f)?),
            (Atom::Op(f), Atom::Op(g)) => (table(f)?, table(g)?),
            _ => return None,
        };
        // Ops of 63 and more are not followed: they stay possible on both edges.
        let others = ops.0 & OpSet::OTHERS;
        let (mut t, mut f) = (others, others);
        for v in ops.values() {
            let k = v as usize;
            match compare(op, x[k], y[k], is64)? {
                true => t |= 1 << v,
                false => f |= 1 << v,
            }
        }
        Some((OpSet(t), OpSet(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::insn::{alu as op, asm, jmp};
    use super::*;

    #[test]
    fn a_range_check_on_the_op_splits_the_ops_exactly() {
        // (op & ~1) != 4, as clang compiles `op == 4 || op == 5`.
        let mut fns = OpFns::new();
        let masked = fns.alu(
            &asm::alu32_imm(op::AND, 1, -2),
            false,
            Atom::Op(0),
            Atom::Const(0xffff_fffe),
        );
        let (ne, eq) = fns
            .split(
                jmp::JNE,
                &Value::of(masked),
                &Value::constant(4),
                true,
                OpSet::ALL,
            )
            .expect("a comparison of the op with a constant");
        assert_eq!(eq.values().collect::<Vec<_>>(), vec![4, 5]);
        assert!(ne.values().all(|v| v != 4 && v != 5));
        assert_eq!(ne.values().count(), 61);
        // Ops of 63 and more stay possible on both edges.
        assert_ne!(eq.0 & OpSet::OTHERS, 0);
        assert_ne!(ne.0 & OpSet::OTHERS, 0);
    }

    #[test]
    fn arithmetic_in_either_width_stays_exact() {
        // w = op - 4; if w > 1 (unsigned): the ops 4 and 5 fall through.
        let mut fns = OpFns::new();
        let minus = fns.alu(
            &asm::alu32_imm(op::ADD, 1, -4),
            false,
            Atom::Op(0),
            Atom::Const(0xffff_fffc),
        );
        let (gt, le) = fns
            .split(
                jmp::JGT,
                &Value::of(minus),
                &Value::constant(1),
                false,
                OpSet::ALL,
            )
            .unwrap();
        assert_eq!(le.values().collect::<Vec<_>>(), vec![4, 5]);
        assert!(!gt.contains(4) && gt.contains(3) && gt.contains(6));
        // Interning: the same function twice is the same atom.
        let again = fns.alu(
            &asm::alu32_imm(op::ADD, 1, -4),
            false,
            Atom::Op(0),
            Atom::Const(0xffff_fffc),
        );
        assert_eq!(minus, again);
        // Anything but a constant makes it a plain scalar.
        let mul = fns.alu(
            &asm::alu64_reg(op::MUL, 1, 2),
            true,
            Atom::Op(0),
            Atom::Scalar,
        );
        assert_eq!(mul, Atom::Scalar);
    }
}
