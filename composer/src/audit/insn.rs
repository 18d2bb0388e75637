//! eBPF instructions: the 8-byte encoding, a decoder, and an encoder for
//! building programs in tests (the property tests build random programs
//! with it).
//!
//! Only the encoding lives here; what an instruction *means* for the audit
//! is in `interp`.

/// Instruction classes (`code & 0x07`).
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
}

/// ALU operations (`code & 0xf0` in the ALU classes).
pub mod alu {
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    pub const END: u8 = 0xd0;
}

/// Jump operations (`code & 0xf0` in the JMP classes).
pub mod jmp {
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;
}

/// Memory modes (`code & 0xe0` in the load/store classes).
pub mod mode {
    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const MEMSX: u8 = 0x80;
    pub const ATOMIC: u8 = 0xc0;
}

/// Access sizes (`code & 0x18`).
pub mod size {
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;
}

/// The source bit: register operand (`X`) rather than immediate (`K`).
pub const SRC_X: u8 = 0x08;
/// `call` with `src_reg` 1: a BPF-to-BPF call, `imm` relative to the next insn.
pub const PSEUDO_CALL: u8 = 1;
/// `call` with `src_reg` 2: a kernel function (kfunc), `imm` a BTF id.
pub const PSEUDO_KFUNC_CALL: u8 = 2;
/// Atomic `imm` flag: the old value is fetched into `src_reg`.
pub const ATOMIC_FETCH: i32 = 0x01;
pub const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
pub const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;
pub const ATOMIC_LOAD_ACQ: i32 = 0x100;
pub const ATOMIC_STORE_REL: i32 = 0x110;

/// One 8-byte instruction slot (`ld_imm64` takes two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    pub fn op(&self) -> u8 {
        self.code & 0xf0
    }

    pub fn mode(&self) -> u8 {
        self.code & 0xe0
    }

    /// Access size in bytes of a load or store.
    pub fn size_bytes(&self) -> u8 {
        match self.code & 0x18 {
            size::W => 4,
            size::H => 2,
            size::B => 1,
            _ => 8,
        }
    }

    /// Whether the operand is a register (`X`) rather than the immediate.
    pub fn src_is_reg(&self) -> bool {
        self.code & SRC_X != 0
    }

    /// The first slot of a 16-byte `ld_imm64`.
    pub fn is_ld_imm64(&self) -> bool {
        self.code == class::LD | mode::IMM | size::DW
    }

    /// `call` (helper, subprogram or kfunc).
    pub fn is_call(&self) -> bool {
        self.class() == class::JMP && self.op() == jmp::CALL
    }

    pub fn is_exit(&self) -> bool {
        self.class() == class::JMP && self.op() == jmp::EXIT
    }

    /// Decodes one little-endian slot.
    pub fn decode(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes one little-endian slot.
    pub fn encode(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }
}

/// Decodes a section's bytes; a trailing partial slot is ignored.
pub fn decode_all(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            Insn::decode(b)
        })
        .collect()
}

/// Encodes instructions back to bytes.
pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.encode()).collect()
}

/// Builders that read like assembly, for tests and the property test.
pub mod asm {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// `dst = imm` (64-bit, sign-extended).
    pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
        insn(class::ALU64 | alu::MOV, dst, 0, 0, imm)
    }

    /// `dst = src` (64-bit).
    pub fn mov64_reg(dst: u8, src: u8) -> Insn {
        insn(class::ALU64 | alu::MOV | SRC_X, dst, src, 0, 0)
    }

    /// `dst op= imm` (64-bit).
    pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
        insn(class::ALU64 | op, dst, 0, 0, imm)
    }

    /// `dst op= src` (64-bit).
    pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
        insn(class::ALU64 | op | SRC_X, dst, src, 0, 0)
    }

    /// `wdst op= imm` (32-bit, zero-extends the result).
    pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
        insn(class::ALU | op, dst, 0, 0, imm)
    }

    /// `wdst op= wsrc` (32-bit).
    pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
        insn(class::ALU | op | SRC_X, dst, src, 0, 0)
    }

    /// `dst = *(size *)(src + off)`; `size` is one of [`size`](super::size).
    pub fn ldx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
        insn(class::LDX | mode::MEM | sz, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(sz: u8, dst: u8, off: i16, src: u8) -> Insn {
        insn(class::STX | mode::MEM | sz, dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st_imm(sz: u8, dst: u8, off: i16, imm: i32) -> Insn {
        insn(class::ST | mode::MEM | sz, dst, 0, off, imm)
    }

    /// `if dst op imm goto +off`.
    pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        insn(class::JMP | op, dst, 0, off, imm)
    }

    /// `if dst op src goto +off`.
    pub fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
        insn(class::JMP | op | SRC_X, dst, src, off, 0)
    }

    /// `goto +off`.
    pub fn ja(off: i16) -> Insn {
        insn(class::JMP | jmp::JA, 0, 0, off, 0)
    }

    /// `call helper#id`.
    pub fn call(id: i32) -> Insn {
        insn(class::JMP | jmp::CALL, 0, 0, 0, id)
    }

    /// `call pc+rel` (a BPF-to-BPF call to the insn at `pc + rel + 1`).
    pub fn call_rel(rel: i32) -> Insn {
        insn(class::JMP | jmp::CALL, 0, PSEUDO_CALL, 0, rel)
    }

    pub fn exit() -> Insn {
        insn(class::JMP | jmp::EXIT, 0, 0, 0, 0)
    }

    /// `dst = imm64 ll` (two slots). A relocation on the first slot turns
    /// it into a map or global address.
    pub fn ld_imm64(dst: u8, imm: u64) -> [Insn; 2] {
        [
            insn(
                class::LD | mode::IMM | size::DW,
                dst,
                0,
                0,
                imm as u32 as i32,
            ),
            insn(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let prog = [
            asm::mov64_imm(2, 6),
            asm::stx(size::DW, 10, -8, 6),
            asm::ldx(size::W, 3, 1, 0x40),
            asm::jmp_imm(jmp::JNE, 3, 1001, 2),
            asm::call(49),
            asm::exit(),
        ];
        let bytes = encode_all(&prog);
        assert_eq!(bytes.len(), 48);
        assert_eq!(decode_all(&bytes), prog);
        // `*(u64 *)(r10 - 8) = r6` as llvm-objdump prints it: 7b 6a f8 ff 00 00 00 00.
        assert_eq!(prog[1].encode(), [0x7b, 0x6a, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(prog[1].size_bytes(), 8);
        assert!(prog[4].is_call() && prog[5].is_exit());
    }

    #[test]
    fn ld_imm64_splits_the_constant() {
        let [a, b] = asm::ld_imm64(1, 0xffff_0000_0000_0001);
        assert!(a.is_ld_imm64());
        assert_eq!((a.imm as u32, b.imm as u32), (1, 0xffff_0000));
    }
}
