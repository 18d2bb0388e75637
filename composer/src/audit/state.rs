//! The abstract machine state at one instruction: the registers and the
//! stack of every active frame (a BPF-to-BPF call pushes one; a callee can
//! reach its callers' stacks through pointers it was given).
//!
//! Stack cells are keyed by (offset from `r10`, size). A store replaces the
//! cells it overlaps (or, when the address is uncertain, joins into them);
//! a load of exactly a stored cell gets its value back, a narrower load of
//! a constant gets the constant's bytes, anything else is a scalar: the
//! verifier too forgets a pointer that is partially overwritten or read.

use std::collections::BTreeMap;

use super::alu::{sign_extend_bytes, truncate_bytes};
use super::ops::OpSet;
use super::value::{Atom, Value};

/// Stack offsets the audit keeps cells for (the verifier allows -512..0);
/// an access elsewhere is treated as "somewhere in this frame", which also
/// keeps the offset arithmetic far from overflow.
const PLAUSIBLE: std::ops::RangeInclusive<i64> = -65536..=65536;

/// One call frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub regs: [Value; 11],
    pub stack: BTreeMap<(i64, u8), Value>,
    /// What a stack byte holds that no tracked store wrote: a scalar, plus
    /// whatever stores to unknown offsets of this frame wrote.
    pub default: Value,
}

impl Frame {
    /// A fresh frame at `depth`: `r10` points at its top, nothing else is known.
    pub fn new(depth: u8) -> Frame {
        // The verifier refuses reads of unset registers; any value is sound.
        let mut regs: [Value; 11] = std::array::from_fn(|_| Value::scalar());
        regs[10] = Value::of(Atom::Stack {
            frame: depth,
            off: 0,
        });
        Frame {
            regs,
            stack: BTreeMap::new(),
            default: Value::scalar(),
        }
    }

    fn overlapping(&self, off: i64, size: u8) -> Vec<(i64, u8)> {
        let end = off + i64::from(size);
        self.stack
            .keys()
            .filter(|(o, s)| *o < end && off < o + i64::from(*s))
            .copied()
            .collect()
    }

    /// Reads `size` bytes at `off`; `signed` for sign-extending loads.
    pub fn read(&self, off: i64, size: u8, signed: bool) -> Value {
        if !PLAUSIBLE.contains(&off) {
            return self.read_anywhere();
        }
        let ext = |v: Value| {
            if signed && size < 8 {
                v.map1(|a| match a {
                    Atom::Const(c) => Atom::Const(sign_extend_bytes(c, size)),
                    _ => Atom::Scalar,
                })
            } else {
                v
            }
        };
        if let Some(v) = self.stack.get(&(off, size)) {
            return ext(v.clone());
        }
        let over = self.overlapping(off, size);
        if over.is_empty() {
            return self.default.clone();
        }
        // A constant cell that covers the whole access gives its bytes.
        let end = off + i64::from(size);
        let mut out = Value::bottom();
        let mut covered = false;
        for (o, s) in &over {
            if *o <= off && end <= o + i64::from(*s) {
                covered = true;
                let shift = ((off - o) * 8) as u32;
                out.join(&self.stack[&(*o, *s)].map1(|a| match a {
                    Atom::Const(c) => Atom::Const(truncate_bytes(c >> shift, size)),
                    _ => Atom::Scalar,
                }));
            }
        }
        if !covered || over.len() > 1 {
            out.join(&Value::scalar());
        }
        ext(out)
    }

    /// Stores `v` (already truncated to `size`) at `off`. `strong`: the
    /// address is certain, so the old contents are gone.
    pub fn write(&mut self, off: i64, size: u8, v: &Value, strong: bool) {
        if !PLAUSIBLE.contains(&off) {
            self.write_anywhere(v);
            return;
        }
        let over = self.overlapping(off, size);
        if strong {
            for k in &over {
                let old = self.stack.remove(k).unwrap_or_default();
                // Bytes of a wider or shifted cell outside the store survive
                // only as a scalar.
                let inside = off <= k.0 && k.0 + i64::from(k.1) <= off + i64::from(size);
                if !inside && !old.is_bottom() {
                    self.stack.insert(*k, Value::scalar());
                }
            }
            self.stack.insert((off, size), v.clone());
        } else {
            let old = self.read(off, size, false);
            for k in over {
                if k != (off, size) {
                    if let Some(cell) = self.stack.get_mut(&k) {
                        cell.join(&Value::scalar());
                    }
                }
            }
            self.stack.insert((off, size), old.joined(v));
        }
    }

    /// A store somewhere in this frame: every cell and the default may now be `v`.
    pub fn write_anywhere(&mut self, v: &Value) {
        let mut v = v.clone();
        v.join(&Value::scalar());
        for cell in self.stack.values_mut() {
            cell.join(&v);
        }
        self.default.join(&v);
    }

    /// Everything this frame's stack may hold.
    pub fn read_anywhere(&self) -> Value {
        let mut out = self.default.clone();
        for cell in self.stack.values() {
            out.join(cell);
        }
        out.join(&Value::scalar());
        out
    }

    fn join(&mut self, other: &Frame) -> bool {
        let mut grew = false;
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            grew |= a.join(b);
        }
        grew |= self.default.join(&other.default);
        let keys: Vec<(i64, u8)> = self
            .stack
            .keys()
            .chain(other.stack.keys())
            .copied()
            .collect();
        for k in keys {
            let theirs = match other.stack.get(&k) {
                Some(v) => v.clone(),
                None => other.read(k.0, k.1, false),
            };
            match self.stack.get_mut(&k) {
                Some(mine) => grew |= mine.join(&theirs),
                None => {
                    let mut mine = self.read(k.0, k.1, false);
                    mine.join(&theirs);
                    self.stack.insert(k, mine);
                    grew = true;
                }
            }
        }
        grew
    }
}

/// The state at one instruction: the frames, the innermost last, and the
/// hook `op` values of the paths that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub frames: Vec<Frame>,
    pub ops: OpSet,
}

impl State {
    /// The program's entry: `r1` is the context, `r10` the stack.
    pub fn entry() -> State {
        let mut f = Frame::new(0);
        f.regs[1] = Value::of(Atom::Ctx(0));
        State {
            frames: vec![f],
            ops: OpSet::ALL,
        }
    }

    pub fn top(&self) -> &Frame {
        self.frames.last().expect("a state has at least one frame")
    }

    pub fn top_mut(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("a state has at least one frame")
    }

    pub fn reg(&self, r: u8) -> Value {
        self.top()
            .regs
            .get(usize::from(r))
            .cloned()
            .unwrap_or_else(Value::scalar)
    }

    pub fn set_reg(&mut self, r: u8, v: Value) {
        if let Some(slot) = self.top_mut().regs.get_mut(usize::from(r)) {
            *slot = v;
        }
    }

    /// Joins `other` in (same call string, so the same depth); true if it grew.
    pub fn join(&mut self, other: &State) -> bool {
        let mut grew = false;
        for (a, b) in self.frames.iter_mut().zip(other.frames.iter()) {
            grew |= a.join(b);
        }
        let ops = OpSet(self.ops.0 | other.ops.0);
        grew |= ops != self.ops;
        self.ops = ops;
        grew
    }

    pub fn frame_mut(&mut self, depth: u8) -> Option<&mut Frame> {
        self.frames.get_mut(usize::from(depth))
    }

    pub fn frame(&self, depth: u8) -> Option<&Frame> {
        self.frames.get(usize::from(depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_context_pointer_comes_back() {
        let mut f = Frame::new(0);
        f.write(-8, 8, &Value::of(Atom::Ctx(0)), true);
        assert_eq!(f.read(-8, 8, false), Value::of(Atom::Ctx(0)));
        // A partial read or a partial overwrite makes it a scalar.
        assert_eq!(f.read(-8, 4, false), Value::scalar());
        f.write(-4, 4, &Value::constant(7), true);
        assert!(!f.read(-8, 8, false).may_be_ctx());
    }

    #[test]
    fn narrow_reads_of_constants_take_their_bytes() {
        let mut f = Frame::new(0);
        f.write(-8, 8, &Value::constant(0x1122_3344_5566_7788), true);
        assert_eq!(f.read(-8, 4, false), Value::constant(0x5566_7788));
        assert_eq!(f.read(-4, 4, false), Value::constant(0x1122_3344));
        assert_eq!(f.read(-8, 1, true), Value::constant(0xffff_ffff_ffff_ff88));
    }

    #[test]
    fn joins_keep_both_possibilities() {
        let mut a = State::entry();
        let mut b = State::entry();
        a.top_mut().write(-8, 8, &Value::of(Atom::Ctx(0)), true);
        b.top_mut().write(-8, 4, &Value::constant(3), true);
        assert!(a.join(&b));
        assert!(a.top().read(-8, 8, false).may_be_ctx());
        assert!(!a.join(&b));
    }
}
