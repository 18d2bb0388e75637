//! Arithmetic on abstract atoms: constants are folded exactly as the
//! kernel's interpreter would (wrapping, 32-bit operations zero-extend,
//! division by zero gives 0 and modulo by zero leaves the dividend);
//! pointers move only by `+`/`-` of a constant; anything else is a scalar.

use super::insn::{alu, Insn};
use super::value::Atom;

fn sign_extend(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        return v;
    }
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64
}

fn truncate(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// Truncates a constant to a store or load of `size` bytes.
pub fn truncate_bytes(v: u64, size: u8) -> u64 {
    truncate(v, u32::from(size) * 8)
}

/// Sign-extends a `size`-byte value (MEMSX loads).
pub fn sign_extend_bytes(v: u64, size: u8) -> u64 {
    sign_extend(truncate_bytes(v, size), u32::from(size) * 8)
}

fn fold(op: u8, signed: bool, a: u64, b: u64, is64: bool) -> u64 {
    let bits = if is64 { 64 } else { 32 };
    let (a, b) = (truncate(a, bits), truncate(b, bits));
    let r = match op {
        alu::ADD => a.wrapping_add(b),
        alu::SUB => a.wrapping_sub(b),
        alu::MUL => a.wrapping_mul(b),
        alu::OR => a | b,
        alu::AND => a & b,
        alu::XOR => a ^ b,
        alu::LSH => a.wrapping_shl((b & u64::from(bits - 1)) as u32),
        alu::RSH => a.wrapping_shr((b & u64::from(bits - 1)) as u32),
        alu::ARSH => {
            let s = (b & u64::from(bits - 1)) as u32;
            (sign_extend(a, bits) as i64).wrapping_shr(s) as u64
        }
        alu::DIV if b == 0 => 0,
        alu::MOD if b == 0 => a,
        alu::DIV if signed => {
            let (x, y) = (sign_extend(a, bits) as i64, sign_extend(b, bits) as i64);
            if is64 {
                x.wrapping_div(y) as u64
            } else {
                (x as i32).wrapping_div(y as i32) as u32 as u64
            }
        }
        alu::MOD if signed => {
            let (x, y) = (sign_extend(a, bits) as i64, sign_extend(b, bits) as i64);
            if is64 {
                x.wrapping_rem(y) as u64
            } else {
                (x as i32).wrapping_rem(y as i32) as u32 as u64
            }
        }
        alu::DIV => a / b,
        alu::MOD => a % b,
        _ => return a,
    };
    truncate(r, bits)
}

/// `dst op= src` for one pair of atoms. `src` is the immediate as a
/// constant for the `K` forms.
pub fn binary(insn: &Insn, is64: bool, dst: Atom, src: Atom) -> Atom {
    use Atom::*;
    let op = insn.op();
    if op == alu::MOV {
        return mov(insn, is64, src);
    }
    let signed = insn.off == 1 && matches!(op, alu::DIV | alu::MOD);
    match (op, dst, src) {
        (_, Const(a), Const(b)) => Const(fold(op, signed, a, b, is64)),
        // ACCORD_SLOT is a small u32: arithmetic on it keeps its identity.
        (alu::ADD, Slot(k), Const(c)) | (alu::ADD, Const(c), Slot(k)) => {
            Slot(k.wrapping_add(small(c, is64)))
        }
        (alu::SUB, Slot(k), Const(c)) => Slot(k.wrapping_sub(small(c, is64))),
        (_, Slot(_), _) | (_, _, Slot(_)) => Scalar,
        // A field's current value ORed with constants (a read-modify-write);
        // the loaded value is 32 bits, so both widths keep it.
        (alu::OR, Current { off, or }, Const(c)) | (alu::OR, Const(c), Current { off, or }) => {
            Current {
                off,
                or: or | if is64 { c } else { c & u64::from(u32::MAX) },
            }
        }
        (_, Current { .. }, _) | (_, _, Current { .. }) => Scalar,
        // A pointer into the config moves by constants (64-bit only).
        (alu::ADD, ConfigPtr(o), Const(c)) | (alu::ADD, Const(c), ConfigPtr(o)) if is64 => {
            ConfigPtr(o.wrapping_add(c as i64))
        }
        (alu::SUB, ConfigPtr(o), Const(c)) if is64 => ConfigPtr(o.wrapping_sub(c as i64)),
        // Pointer arithmetic exists only in 64 bits; the verifier refuses the rest.
        (_, _, _) if !is64 => Scalar,
        (alu::ADD, Ctx(o), Const(c)) | (alu::ADD, Const(c), Ctx(o)) => {
            Ctx(o.wrapping_add(c as i64))
        }
        (alu::SUB, Ctx(o), Const(c)) => Ctx(o.wrapping_sub(c as i64)),
        (alu::ADD, Ctx(_) | CtxAny, Scalar) | (alu::ADD, Scalar, Ctx(_) | CtxAny) => CtxAny,
        (alu::SUB, Ctx(_) | CtxAny, Scalar | Const(_)) => CtxAny,
        (alu::ADD, CtxAny, Const(_)) | (alu::ADD, Const(_), CtxAny) => CtxAny,
        (alu::ADD, Stack { frame, off }, Const(c)) | (alu::ADD, Const(c), Stack { frame, off }) => {
            Stack {
                frame,
                off: off.wrapping_add(c as i64),
            }
        }
        (alu::SUB, Stack { frame, off }, Const(c)) => Stack {
            frame,
            off: off.wrapping_sub(c as i64),
        },
        (alu::ADD, Stack { frame, .. } | StackAny { frame }, Scalar | Const(_))
        | (alu::ADD, Scalar | Const(_), Stack { frame, .. } | StackAny { frame })
        | (alu::SUB, Stack { frame, .. } | StackAny { frame }, Scalar | Const(_)) => {
            StackAny { frame }
        }
        (alu::ADD, Global { name, off }, Const(c)) | (alu::ADD, Const(c), Global { name, off }) => {
            Global {
                name,
                off: off.wrapping_add(c as i64),
            }
        }
        (alu::SUB, Global { name, off }, Const(c)) => Global {
            name,
            off: off.wrapping_sub(c as i64),
        },
        _ => Scalar,
    }
}

fn small(c: u64, is64: bool) -> i64 {
    if is64 {
        c as i64
    } else {
        c as u32 as i32 as i64
    }
}

/// `dst = src`, with `movsx` (off 8/16/32) sign-extending constants.
fn mov(insn: &Insn, is64: bool, src: Atom) -> Atom {
    let ext = insn.off;
    match src {
        Atom::Const(c) => {
            let c = if matches!(ext, 8 | 16 | 32) {
                sign_extend(c, ext as u32)
            } else {
                c
            };
            Atom::Const(if is64 { c } else { truncate(c, 32) })
        }
        Atom::Slot(k) if ext == 0 => Atom::Slot(k),
        // A param is at most 32 bits wide in value: `w = w` keeps it.
        Atom::Config(o) if ext == 0 => Atom::Config(o),
        Atom::Current { off, or } if ext == 0 => Atom::Current { off, or },
        other if is64 && ext == 0 => other,
        _ => Atom::Scalar,
    }
}

/// `dst = -dst` and the byte-order operations, on one atom.
pub fn unary(insn: &Insn, is64: bool, dst: Atom) -> Atom {
    let Atom::Const(c) = dst else {
        return Atom::Scalar;
    };
    let r = match insn.op() {
        alu::NEG => {
            if is64 {
                c.wrapping_neg()
            } else {
                truncate((c as u32).wrapping_neg().into(), 32)
            }
        }
        alu::END => {
            let bits = match insn.imm {
                16 => 16,
                32 => 32,
                _ => 64,
            };
            // ALU64|END is an unconditional swap; ALU|END|X is to big endian,
            // ALU|END|K to little endian (the host order here: truncation).
            let swap = is64 || insn.src_is_reg();
            let v = truncate(c, bits);
            if swap {
                match bits {
                    16 => u64::from((v as u16).swap_bytes()),
                    32 => u64::from((v as u32).swap_bytes()),
                    _ => v.swap_bytes(),
                }
            } else {
                v
            }
        }
        _ => return Atom::Scalar,
    };
    Atom::Const(r)
}

#[cfg(test)]
mod tests {
    use super::super::insn::asm;
    use super::*;

    #[test]
    fn constants_fold_like_the_kernel() {
        let add32 = asm::alu32_imm(alu::ADD, 1, 1);
        assert_eq!(
            binary(&add32, false, Atom::Const(u64::MAX), Atom::Const(1)),
            Atom::Const(0)
        );
        let div = asm::alu64_imm(alu::DIV, 1, 0);
        assert_eq!(
            binary(&div, true, Atom::Const(7), Atom::Const(0)),
            Atom::Const(0)
        );
        let m = asm::alu64_imm(alu::MOD, 1, 0);
        assert_eq!(
            binary(&m, true, Atom::Const(7), Atom::Const(0)),
            Atom::Const(7)
        );
        let be32 = Insn {
            code: 0xdc,
            imm: 32,
            ..Insn::default()
        };
        assert_eq!(
            unary(&be32, false, Atom::Const(0x0102_0304)),
            Atom::Const(0x0403_0201)
        );
    }

    #[test]
    fn pointers_move_only_by_constants() {
        let add = asm::alu64_reg(alu::ADD, 1, 2);
        assert_eq!(
            binary(&add, true, Atom::Ctx(0), Atom::Const(4)),
            Atom::Ctx(4)
        );
        assert_eq!(binary(&add, true, Atom::Ctx(0), Atom::Scalar), Atom::CtxAny);
        let and = asm::alu64_reg(alu::AND, 1, 2);
        assert_eq!(
            binary(&and, true, Atom::Ctx(0), Atom::Const(4)),
            Atom::Scalar
        );
        let add32 = asm::alu32_reg(alu::ADD, 1, 2);
        assert_eq!(
            binary(&add32, false, Atom::Ctx(0), Atom::Const(4)),
            Atom::Scalar
        );
        assert_eq!(
            binary(&add32, false, Atom::Slot(0), Atom::Const(1)),
            Atom::Slot(1)
        );
    }
}
