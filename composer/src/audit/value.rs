//! The abstract values of the audit: for each register and stack slot, a
//! small set of possibilities (a constant, the context pointer plus an
//! offset, a stack address, a map, a global, `ACCORD_SLOT + k`, or "some
//! scalar"). Sets join by union; a set that grows past [`MAX_ATOMS`] is
//! widened (constants become "some scalar", context offsets "the context at
//! some offset"), which bounds every chain of joins and so every loop.
//!
//! Soundness rests on the verifier's typing: a context pointer can only be
//! copied, spilled and filled, or moved by adding a scalar; any other
//! operation on it, and any load through any pointer other than the stack,
//! gives a scalar. So a value without a context atom is never the context.

use std::collections::BTreeSet;

/// How many possibilities a value keeps before it is widened.
pub const MAX_ATOMS: usize = 12;

/// One possibility for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// A known 64-bit constant.
    Const(u64),
    /// Any scalar, or a pointer that is neither the context nor the stack
    /// (map values, ring buffer records, sockets).
    Scalar,
    /// The context pointer plus a byte offset.
    Ctx(i64),
    /// The context pointer plus an unknown offset.
    CtxAny,
    /// An address in the stack frame at depth `frame` (0 is the program's),
    /// as an offset from that frame's `r10`.
    Stack { frame: u8, off: i64 },
    /// An address somewhere in the stack frame `frame`.
    StackAny { frame: u8 },
    /// The address of a map (index into the analysis's name table).
    Map(u32),
    /// The address of a global plus a byte offset (index into the name table).
    Global { name: u32, off: i64 },
    /// The value of the `ACCORD_SLOT` load-time constant plus `k`.
    Slot(i64),
    /// A function of the hook's `op` field (a small enum): entry `id` of
    /// the analysis's table of functions, which gives the value for each op
    /// in `0..63` (entry 0 is the op itself). Arithmetic with constants is
    /// applied pointwise, so any mix of `+`, `&`, shifts and widths stays
    /// exact; branches on it narrow the state's set of possible ops
    /// ([`super::ops::OpSet`]).
    Op(u32),
    /// A pointer into the value of the SDK's scalar config map
    /// (`accord_config`) at this byte offset.
    ConfigPtr(i64),
    /// The scalar config param stored at this byte offset of
    /// `accord_config` (loaded as 4 or 8 bytes; params are at most `u32`
    /// wide in value, so a 32-bit truncation keeps it).
    Config(i64),
    /// The current value of a writable field, loaded from the context at
    /// `off` (cb flags: `bpf_sock_ops_cb_flags`), ORed with the constant
    /// `or`: what a read-modify-write passes to the field's helper.
    Current { off: i64, or: u64 },
}

impl Atom {
    fn widen(self) -> Atom {
        match self {
            Atom::Const(_)
            | Atom::Global { .. }
            | Atom::Slot(_)
            | Atom::Op(_)
            | Atom::ConfigPtr(_)
            | Atom::Config(_)
            | Atom::Current { .. } => Atom::Scalar,
            Atom::Ctx(_) => Atom::CtxAny,
            Atom::Stack { frame, .. } => Atom::StackAny { frame },
            other => other,
        }
    }

    pub fn is_ctx(&self) -> bool {
        matches!(self, Atom::Ctx(_) | Atom::CtxAny)
    }
}

/// A set of possibilities; empty means "never assigned" (bottom).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Value(BTreeSet<Atom>);

impl Value {
    pub fn bottom() -> Value {
        Value(BTreeSet::new())
    }

    pub fn of(a: Atom) -> Value {
        Value(BTreeSet::from([a]))
    }

    pub fn scalar() -> Value {
        Value::of(Atom::Scalar)
    }

    pub fn constant(c: u64) -> Value {
        Value::of(Atom::Const(c))
    }

    pub fn from_atoms(atoms: impl IntoIterator<Item = Atom>) -> Value {
        let mut v = Value(atoms.into_iter().collect());
        v.normalize();
        v
    }

    pub fn atoms(&self) -> impl Iterator<Item = &Atom> {
        self.0.iter()
    }

    pub fn is_bottom(&self) -> bool {
        self.0.is_empty()
    }

    /// The single atom, if there is exactly one.
    pub fn single(&self) -> Option<Atom> {
        if self.0.len() == 1 {
            self.0.iter().next().copied()
        } else {
            None
        }
    }

    /// Every value is a known constant: the constants; otherwise (or for
    /// bottom) `None`.
    pub fn constants(&self) -> Option<Vec<u64>> {
        if self.0.is_empty() {
            return None;
        }
        self.0
            .iter()
            .map(|a| match a {
                Atom::Const(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    pub fn may_be_ctx(&self) -> bool {
        self.0.iter().any(Atom::is_ctx)
    }

    /// Unions `other` in; true if this value grew.
    pub fn join(&mut self, other: &Value) -> bool {
        let before = self.0.len();
        let old = (before > 0).then(|| self.0.clone());
        self.0.extend(other.0.iter().copied());
        self.normalize();
        match old {
            None => !self.0.is_empty(),
            Some(old) => old != self.0,
        }
    }

    pub fn joined(&self, other: &Value) -> Value {
        let mut v = self.clone();
        v.join(other);
        v
    }

    /// `Scalar` absorbs constants, globals, slots, ops, config values and
    /// pointers and current field values; `CtxAny` absorbs
    /// context offsets; `StackAny` absorbs stack offsets of its frame; a
    /// set too large is widened.
    fn normalize(&mut self) {
        if self.0.len() > MAX_ATOMS {
            self.0 = self.0.iter().map(|a| a.widen()).collect();
        }
        let has = |s: &BTreeSet<Atom>, a: &Atom| s.contains(a);
        if has(&self.0, &Atom::Scalar) {
            self.0.retain(|a| {
                !matches!(
                    a,
                    Atom::Const(_)
                        | Atom::Global { .. }
                        | Atom::Slot(_)
                        | Atom::Op(_)
                        | Atom::ConfigPtr(_)
                        | Atom::Config(_)
                        | Atom::Current { .. }
                )
            });
        }
        if has(&self.0, &Atom::CtxAny) {
            self.0.retain(|a| !matches!(a, Atom::Ctx(_)));
        }
        let any_frames: Vec<u8> = self
            .0
            .iter()
            .filter_map(|a| match a {
                Atom::StackAny { frame } => Some(*frame),
                _ => None,
            })
            .collect();
        if !any_frames.is_empty() {
            self.0
                .retain(|a| !matches!(a, Atom::Stack { frame, .. } if any_frames.contains(frame)));
        }
    }

    /// Applies `f` to every atom (every pair with `other` for binary ops)
    /// and collects the results.
    pub fn map2(&self, other: &Value, f: impl Fn(Atom, Atom) -> Atom) -> Value {
        let mut out = BTreeSet::new();
        for a in &self.0 {
            for b in &other.0 {
                out.insert(f(*a, *b));
            }
        }
        let mut v = Value(out);
        v.normalize();
        v
    }

    pub fn map1(&self, f: impl Fn(Atom) -> Atom) -> Value {
        let mut v = Value(self.0.iter().map(|a| f(*a)).collect());
        v.normalize();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_small_sets_and_widens_large_ones() {
        let mut v = Value::constant(1);
        assert!(v.join(&Value::constant(2)));
        assert!(!v.join(&Value::constant(2)));
        assert_eq!(v.constants(), Some(vec![1, 2]));
        for c in 3..=(MAX_ATOMS as u64 + 1) {
            v.join(&Value::constant(c));
        }
        assert_eq!(v, Value::scalar());
        let mut p = Value::of(Atom::Ctx(0));
        for off in 1..=(MAX_ATOMS as i64 + 1) {
            p.join(&Value::of(Atom::Ctx(off)));
        }
        assert_eq!(p, Value::of(Atom::CtxAny));
        assert!(p.may_be_ctx());
    }

    #[test]
    fn scalar_absorbs_constants_but_not_pointers() {
        let v = Value::from_atoms([Atom::Const(3), Atom::Scalar, Atom::Ctx(4)]);
        assert_eq!(v, Value::from_atoms([Atom::Scalar, Atom::Ctx(4)]));
        assert_eq!(v.constants(), None);
    }
}
