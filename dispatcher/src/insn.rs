//! eBPF instructions: the handful of encodings the dispatcher emits, their
//! byte form for `BPF_PROG_LOAD`, and a readable listing in the style of
//! `bpftool prog dump xlated`.
//!
//! Only what the dispatcher needs is modelled; the listing still prints any
//! other instruction as raw fields so a listing never hides bytes.

use std::fmt;

/// `BPF_LD | BPF_DW | BPF_IMM`: the first half of a 64-bit immediate load.
pub const LD_IMM64: u8 = 0x18;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
pub const MOV64_IMM: u8 = 0xb7;
/// `BPF_ALU64 | BPF_MOV | BPF_X`.
pub const MOV64_REG: u8 = 0xbf;
/// `BPF_JMP | BPF_CALL`.
pub const CALL: u8 = 0x85;
/// `BPF_JMP | BPF_EXIT`.
pub const EXIT: u8 = 0x95;
/// `BPF_ALU64 | BPF_ADD | BPF_K`.
pub const ADD64_IMM: u8 = 0x07;
/// `BPF_ST | BPF_MEM | BPF_W`: store a 32-bit immediate.
pub const ST_MEM_W: u8 = 0x62;
/// `BPF_LDX | BPF_MEM | BPF_DW`.
pub const LDX_MEM_DW: u8 = 0x79;
/// `BPF_LDX | BPF_MEM | BPF_W`.
pub const LDX_MEM_W: u8 = 0x61;
/// `BPF_STX | BPF_MEM | BPF_W`.
pub const STX_MEM_W: u8 = 0x63;
/// `BPF_STX | BPF_MEM | BPF_DW`.
pub const STX_MEM_DW: u8 = 0x7b;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JEQ_IMM: u8 = 0x15;
/// `BPF_JMP | BPF_JNE | BPF_K`.
pub const JNE_IMM: u8 = 0x55;
/// `BPF_JMP | BPF_JA`.
pub const JA: u8 = 0x05;
/// `src_reg` of a 64-bit immediate load whose `imm` is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = 1;
/// The `bpf_tail_call` helper id.
pub const HELPER_TAIL_CALL: i32 = 12;
/// `bpf_map_lookup_elem`, `bpf_map_update_elem`, `bpf_map_delete_elem`.
pub const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
pub const HELPER_MAP_UPDATE_ELEM: i32 = 2;
pub const HELPER_MAP_DELETE_ELEM: i32 = 3;
/// The `bpf_sk_storage_get` helper id.
pub const HELPER_SK_STORAGE_GET: i32 = 107;

/// One 8-byte eBPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn mov64_imm(dst: u8, imm: i32) -> Self {
        Insn {
            code: MOV64_IMM,
            dst,
            src: 0,
            off: 0,
            imm,
        }
    }

    pub const fn mov64_reg(dst: u8, src: u8) -> Self {
        Insn {
            code: MOV64_REG,
            dst,
            src,
            off: 0,
            imm: 0,
        }
    }

    pub const fn add64_imm(dst: u8, imm: i32) -> Self {
        Insn {
            code: ADD64_IMM,
            dst,
            src: 0,
            off: 0,
            imm,
        }
    }

    /// `*(u32 *)(dst + off) = imm`.
    pub const fn st_mem_w(dst: u8, off: i16, imm: i32) -> Self {
        Insn {
            code: ST_MEM_W,
            dst,
            src: 0,
            off,
            imm,
        }
    }

    /// `dst = *(u64 *)(src + off)`.
    pub const fn ldx_dw(dst: u8, src: u8, off: i16) -> Self {
        Insn {
            code: LDX_MEM_DW,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    /// `*(u64 *)(dst + off) = src`.
    pub const fn stx_dw(dst: u8, src: u8, off: i16) -> Self {
        Insn {
            code: STX_MEM_DW,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    /// `if dst == imm goto pc + off`.
    pub const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Self {
        Insn {
            code: JEQ_IMM,
            dst,
            src: 0,
            off,
            imm,
        }
    }

    /// `dst = *(u32 *)(src + off)`.
    pub const fn ldx_w(dst: u8, src: u8, off: i16) -> Self {
        Insn {
            code: LDX_MEM_W,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    /// `*(u32 *)(dst + off) = src`.
    pub const fn stx_w(dst: u8, src: u8, off: i16) -> Self {
        Insn {
            code: STX_MEM_W,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    /// `if dst != imm goto pc + off`.
    pub const fn jne_imm(dst: u8, imm: i32, off: i16) -> Self {
        Insn {
            code: JNE_IMM,
            dst,
            src: 0,
            off,
            imm,
        }
    }

    /// `goto pc + off`.
    pub const fn ja(off: i16) -> Self {
        Insn {
            code: JA,
            dst: 0,
            src: 0,
            off,
            imm: 0,
        }
    }

    pub const fn call(helper: i32) -> Self {
        Insn {
            code: CALL,
            dst: 0,
            src: 0,
            off: 0,
            imm: helper,
        }
    }

    pub const fn exit() -> Self {
        Insn {
            code: EXIT,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        }
    }

    /// The two instructions of `dst = map` with a map fd placeholder (0);
    /// the loader patches `imm` of the first one.
    pub const fn ld_map_fd(dst: u8) -> [Self; 2] {
        [
            Insn {
                code: LD_IMM64,
                dst,
                src: PSEUDO_MAP_FD,
                off: 0,
                imm: 0,
            },
            Insn {
                code: 0,
                dst: 0,
                src: 0,
                off: 0,
                imm: 0,
            },
        ]
    }

    /// The kernel's byte layout (`struct bpf_insn`, little-endian host).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[0] = self.code;
        out[1] = (self.src << 4) | (self.dst & 0x0f);
        out[2..4].copy_from_slice(&self.off.to_le_bytes());
        out[4..8].copy_from_slice(&self.imm.to_le_bytes());
        out
    }
}

/// Renders instructions one per line, `bpftool`-style:
/// `   3: (85) call bpf_tail_call#12`. `map_name` labels the pseudo map load
/// at each instruction index.
pub fn listing<'a>(insns: &[Insn], map_name: impl Fn(usize) -> &'a str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let text = Listed {
            insn,
            map_name: map_name(i),
        };
        out.push_str(&format!("{i:4}: ({:02x}) {text}\n", insn.code));
        // A 64-bit immediate load occupies two slots.
        i += if insn.code == LD_IMM64 { 2 } else { 1 };
    }
    out
}

struct Listed<'a> {
    insn: Insn,
    map_name: &'a str,
}

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Insn {
            code,
            dst,
            src,
            off,
            imm,
        } = self.insn;
        match code {
            LD_IMM64 if src == PSEUDO_MAP_FD => write!(f, "r{dst} = map[{}] ll", self.map_name),
            LD_IMM64 => write!(f, "r{dst} = {imm:#x} ll"),
            MOV64_IMM => write!(f, "r{dst} = {imm}"),
            MOV64_REG => write!(f, "r{dst} = r{src}"),
            ADD64_IMM => write!(f, "r{dst} += {imm}"),
            ST_MEM_W => write!(f, "*(u32 *)(r{dst} {off:+}) = {imm}"),
            LDX_MEM_DW => write!(f, "r{dst} = *(u64 *)(r{src} {off:+})"),
            LDX_MEM_W => write!(f, "r{dst} = *(u32 *)(r{src} {off:+})"),
            STX_MEM_W => write!(f, "*(u32 *)(r{dst} {off:+}) = r{src}"),
            STX_MEM_DW => write!(f, "*(u64 *)(r{dst} {off:+}) = r{src}"),
            JEQ_IMM => write!(f, "if r{dst} == {imm} goto pc{off:+}"),
            JNE_IMM => write!(f, "if r{dst} != {imm} goto pc{off:+}"),
            JA => write!(f, "goto pc{off:+}"),
            CALL if imm == HELPER_TAIL_CALL => write!(f, "call bpf_tail_call#{imm}"),
            CALL if imm == HELPER_SK_STORAGE_GET => write!(f, "call bpf_sk_storage_get#{imm}"),
            CALL if imm == HELPER_MAP_LOOKUP_ELEM => write!(f, "call bpf_map_lookup_elem#{imm}"),
            CALL if imm == HELPER_MAP_UPDATE_ELEM => write!(f, "call bpf_map_update_elem#{imm}"),
            CALL if imm == HELPER_MAP_DELETE_ELEM => write!(f, "call bpf_map_delete_elem#{imm}"),
            CALL => write!(f, "call #{imm}"),
            EXIT => write!(f, "exit"),
            _ => write!(f, "raw dst=r{dst} src=r{src} off={off} imm={imm}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel_headers() {
        // BPF_MOV64_IMM(BPF_REG_0, 1) from linux/filter.h: b7 00 00 00 01 00 00 00
        assert_eq!(
            Insn::mov64_imm(0, 1).to_bytes(),
            [0xb7, 0, 0, 0, 1, 0, 0, 0]
        );
        // BPF_LD_MAP_FD(BPF_REG_2, fd): 18 12 ...
        assert_eq!(Insn::ld_map_fd(2)[0].to_bytes()[..2], [0x18, 0x12]);
        assert_eq!(Insn::call(12).to_bytes(), [0x85, 0, 0, 0, 12, 0, 0, 0]);
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::mov64_reg(6, 1).to_bytes()[..2], [0xbf, 0x16]);
        // BPF_ST_MEM(BPF_W, BPF_REG_10, -4, 7)
        assert_eq!(
            Insn::st_mem_w(10, -4, 7).to_bytes(),
            [0x62, 0x0a, 0xfc, 0xff, 7, 0, 0, 0]
        );
        assert_eq!(Insn::ldx_dw(1, 0, 0).to_bytes()[..2], [0x79, 0x01]);
        assert_eq!(Insn::stx_dw(0, 1, 0).to_bytes()[..2], [0x7b, 0x10]);
        assert_eq!(
            Insn::jeq_imm(0, 0, 3).to_bytes(),
            [0x15, 0, 3, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::add64_imm(2, -4).to_bytes(),
            [0x07, 2, 0, 0, 0xfc, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn listing_skips_the_second_half_of_wide_loads() {
        let mut insns = Insn::ld_map_fd(2).to_vec();
        insns.push(Insn::exit());
        let text = listing(&insns, |_| "chain");
        assert_eq!(text, "   0: (18) r2 = map[chain] ll\n   2: (95) exit\n");
    }
}
