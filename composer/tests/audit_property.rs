//! Property test: for random straight-line, branching and looping programs
//! built with the audit's instruction encoder, every `bpf_setsockopt` a
//! concrete run makes is among the effects the audit reports at that
//! instruction (the exact option, or "may write any socket option"), and
//! the op that run had is among the ops the audit says the call can
//! happen at (what the `when:` guards are compared with).
//!
//! The concrete interpreter below is written independently of the audit's
//! abstract domain: it is the ground truth for "reachable" and "constant".

#[path = "audit/common.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};

use composer::audit::image::Image;
use composer::audit::insn::{alu, asm, jmp, size, Insn};
use composer::audit::interp;
use composer::audit::ops::OpSet;
use composer::audit::{audit_image, AuditOptions, FindingKind, ProgramAudit};
use composer::ir::{HookCatalog, WriteMethod};
use proptest::prelude::*;

/// Registers statements may write (r6 holds the context, r9 counts loops).
const REGS: &[u8] = &[0, 2, 3, 4, 5, 7, 8];
/// Registers statements may read.
const SRC_REGS: &[u8] = &[0, 2, 3, 4, 5, 6, 7, 8];
const CTX_OFFS: &[i16] = &[0, 20, 24, 28, 64, 68, 72, 88];
/// Levels and options worth hitting: the catalog's, and some it lacks.
const INTERESTING: &[i32] = &[
    1, 2, 6, 7, 8, 10, 12, 13, 36, 1001, 1002, 1003, 1004, 999, -1,
];

#[derive(Debug, Clone)]
enum Src {
    Imm(i32),
    Reg(u8),
    /// Spilled to the stack and filled back (via slot).
    Stack(i32, u8),
    /// `k - d`, then `+= d` in a register.
    Sum(i32, i32),
}

#[derive(Debug, Clone)]
enum Stmt {
    MovImm(u8, i32),
    MovReg(u8, u8),
    AluImm(u8, u8, i32, bool),
    AluReg(u8, u8, u8, bool),
    CtxLoad(u8, i16),
    Spill(u8, u8),
    Fill(u8, u8),
    StImm(u8, i32, bool),
    FillNarrow(u8, u8),
    SpillCtx(u8),
    Branch(u8, u8, i32, usize),
    /// Load the op into a register, maybe transform it with a constant
    /// (op, k, 64-bit), and branch on it against a small constant, skipping
    /// statements: the shapes clang gives `op == A || op == B`.
    OpBranch {
        r: u8,
        transform: Option<(u8, i32, bool)>,
        jop: u8,
        k: i32,
        skip: usize,
    },
    Helper,
    SetSockOpt {
        level: Src,
        option: Src,
        ctx_slot: Option<u8>,
    },
    Loop(u8, Vec<Stmt>),
}

fn reg() -> impl Strategy<Value = u8> {
    prop::sample::select(REGS)
}

fn src_reg() -> impl Strategy<Value = u8> {
    prop::sample::select(SRC_REGS)
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![prop::sample::select(INTERESTING), -4i32..64, any::<i32>()]
}

fn slot() -> impl Strategy<Value = u8> {
    1u8..=6
}

fn src() -> impl Strategy<Value = Src> {
    prop_oneof![
        3 => prop::sample::select(INTERESTING).prop_map(Src::Imm),
        1 => src_reg().prop_map(Src::Reg),
        1 => (prop::sample::select(INTERESTING), slot()).prop_map(|(k, s)| Src::Stack(k, s)),
        1 => (prop::sample::select(INTERESTING), -8i32..8).prop_map(|(k, d)| Src::Sum(k, d)),
    ]
}

fn alu_op() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        alu::ADD,
        alu::SUB,
        alu::MUL,
        alu::DIV,
        alu::OR,
        alu::AND,
        alu::LSH,
        alu::RSH,
        alu::MOD,
        alu::XOR,
        alu::ARSH,
    ])
}

fn simple() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        1 => (reg(), imm()).prop_map(|(r, k)| Stmt::MovImm(r, k)),
        1 => (reg(), src_reg()).prop_map(|(r, s)| Stmt::MovReg(r, s)),
        1 => (alu_op(), reg(), 0i32..32, any::<bool>())
            .prop_map(|(o, r, k, w)| Stmt::AluImm(o, r, k, w)),
        1 => (alu_op(), reg(), src_reg(), any::<bool>())
            .prop_map(|(o, r, s, w)| Stmt::AluReg(o, r, s, w)),
        1 => (reg(), prop::sample::select(CTX_OFFS)).prop_map(|(r, o)| Stmt::CtxLoad(r, o)),
        1 => (src_reg(), slot()).prop_map(|(r, s)| Stmt::Spill(r, s)),
        1 => (reg(), slot()).prop_map(|(r, s)| Stmt::Fill(r, s)),
        1 => (slot(), imm(), any::<bool>()).prop_map(|(s, k, w)| Stmt::StImm(s, k, w)),
        1 => (reg(), slot()).prop_map(|(r, s)| Stmt::FillNarrow(r, s)),
        1 => slot().prop_map(Stmt::SpillCtx),
        1 => Just(Stmt::Helper),
        3 => (src(), src(), prop::option::of(slot())).prop_map(|(level, option, ctx_slot)| {
            Stmt::SetSockOpt { level, option, ctx_slot }
        }),
    ]
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let jmp_op = prop::sample::select(vec![
        jmp::JEQ,
        jmp::JNE,
        jmp::JGT,
        jmp::JLT,
        jmp::JSET,
        jmp::JSGT,
    ]);
    prop_oneof![
        6 => simple(),
        2 => (src_reg(), jmp_op.clone(), imm(), 1usize..6).prop_map(|(r, o, k, n)| Stmt::Branch(r, o, k, n)),
        2 => (
            reg(),
            prop::option::of((
                prop::sample::select(vec![alu::ADD, alu::SUB, alu::AND, alu::OR, alu::XOR, alu::RSH]),
                -8i32..8,
                any::<bool>(),
            )),
            prop::sample::select(vec![jmp::JEQ, jmp::JNE, jmp::JGT, jmp::JLT, jmp::JSET, jmp::JSGT]),
            -2i32..16,
            1usize..6,
        )
            .prop_map(|(r, transform, jop, k, skip)| Stmt::OpBranch { r, transform, jop, k, skip }),
        1 => (1u8..4, prop::collection::vec(simple(), 1..5)).prop_map(|(n, b)| Stmt::Loop(n, b)),
    ]
}

/// Expands statements into instructions; branches skip whole statements.
fn expand(stmts: &[Stmt], out: &mut Vec<Insn>) {
    let mut starts = Vec::new();
    let mut patches = Vec::new();
    for (i, s) in stmts.iter().enumerate() {
        starts.push(out.len());
        match s {
            Stmt::MovImm(r, k) => out.push(asm::mov64_imm(*r, *k)),
            Stmt::MovReg(r, s) => out.push(asm::mov64_reg(*r, *s)),
            Stmt::AluImm(o, r, k, w) => out.push(if *w {
                asm::alu64_imm(*o, *r, *k)
            } else {
                asm::alu32_imm(*o, *r, *k)
            }),
            Stmt::AluReg(o, r, s, w) => out.push(if *w {
                asm::alu64_reg(*o, *r, *s)
            } else {
                asm::alu32_reg(*o, *r, *s)
            }),
            Stmt::CtxLoad(r, o) => out.push(asm::ldx(size::W, *r, 6, *o)),
            Stmt::Spill(r, s) => out.push(asm::stx(size::DW, 10, -8 * i16::from(*s), *r)),
            Stmt::Fill(r, s) => out.push(asm::ldx(size::DW, *r, 10, -8 * i16::from(*s))),
            Stmt::StImm(s, k, w) => out.push(asm::st_imm(
                if *w { size::DW } else { size::W },
                10,
                -8 * i16::from(*s),
                *k,
            )),
            Stmt::FillNarrow(r, s) => out.push(asm::ldx(size::W, *r, 10, -8 * i16::from(*s))),
            Stmt::SpillCtx(s) => out.push(asm::stx(size::DW, 10, -8 * i16::from(*s), 6)),
            Stmt::Branch(r, o, k, n) => {
                patches.push((out.len(), (i + 1 + n).min(stmts.len())));
                out.push(asm::jmp_imm(*o, *r, *k, 0));
            }
            Stmt::OpBranch {
                r,
                transform,
                jop,
                k,
                skip,
            } => {
                out.push(asm::ldx(size::W, *r, 6, 0));
                if let Some((o, c, w)) = transform {
                    out.push(if *w {
                        asm::alu64_imm(*o, *r, *c)
                    } else {
                        asm::alu32_imm(*o, *r, *c)
                    });
                }
                patches.push((out.len(), (i + 1 + skip).min(stmts.len())));
                out.push(asm::jmp_imm(*jop, *r, *k, 0));
            }
            Stmt::Helper => out.push(asm::call(7)),
            Stmt::SetSockOpt {
                level,
                option,
                ctx_slot,
            } => {
                for (dst, v) in [(2u8, level), (3u8, option)] {
                    match v {
                        Src::Imm(k) => out.push(asm::mov64_imm(dst, *k)),
                        Src::Reg(r) => out.push(asm::mov64_reg(dst, *r)),
                        Src::Stack(k, s) => {
                            out.push(asm::st_imm(size::DW, 10, -8 * i16::from(*s), *k));
                            out.push(asm::ldx(size::DW, dst, 10, -8 * i16::from(*s)));
                        }
                        Src::Sum(k, d) => {
                            out.push(asm::mov64_imm(dst, k.wrapping_sub(*d)));
                            out.push(asm::alu64_imm(alu::ADD, dst, *d));
                        }
                    }
                }
                match ctx_slot {
                    Some(s) => {
                        out.push(asm::stx(size::DW, 10, -8 * i16::from(*s), 6));
                        out.push(asm::ldx(size::DW, 1, 10, -8 * i16::from(*s)));
                    }
                    None => out.push(asm::mov64_reg(1, 6)),
                }
                out.push(asm::st_imm(size::W, 10, -64, 1));
                out.push(asm::mov64_reg(4, 10));
                out.push(asm::alu64_imm(alu::ADD, 4, -64));
                out.push(asm::mov64_imm(5, 4));
                out.push(asm::call(49));
            }
            Stmt::Loop(n, body) => {
                out.push(asm::mov64_imm(9, i32::from(*n)));
                let top = out.len();
                expand(body, out);
                out.push(asm::alu64_imm(alu::SUB, 9, 1));
                let back = top as i64 - (out.len() as i64 + 1);
                out.push(asm::jmp_imm(jmp::JNE, 9, 0, back as i16));
            }
        }
    }
    starts.push(out.len());
    for (at, to) in patches {
        out[at].off = (starts[to] as i64 - (at as i64 + 1)) as i16;
    }
}

fn program(stmts: &[Stmt]) -> Vec<Insn> {
    let mut out = vec![asm::mov64_reg(6, 1)];
    expand(stmts, &mut out);
    out.push(asm::mov64_imm(0, 1));
    out.push(asm::exit());
    out
}

// ---------------------------------------------------------------------------
// The concrete interpreter (ground truth).

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cv {
    Num(u64),
    Ctx(i64),
    Stack(i64),
}

impl Cv {
    fn bits(self) -> u64 {
        match self {
            Cv::Num(n) => n,
            Cv::Ctx(o) => 0xffff_8880_0000_0000u64.wrapping_add(o as u64),
            Cv::Stack(o) => 0xffff_c900_0000_0200u64.wrapping_add(o as u64),
        }
    }
}

fn concrete_alu(op: u8, a: u64, b: u64, w64: bool) -> u64 {
    let mask = if w64 { u64::MAX } else { u64::from(u32::MAX) };
    let (a, b) = (a & mask, b & mask);
    let sh = if w64 { b & 63 } else { b & 31 } as u32;
    let r = match op {
        alu::ADD => a.wrapping_add(b),
        alu::SUB => a.wrapping_sub(b),
        alu::MUL => a.wrapping_mul(b),
        alu::DIV => a.checked_div(b).unwrap_or(0),
        alu::MOD => a.checked_rem(b).unwrap_or(a),
        alu::OR => a | b,
        alu::AND => a & b,
        alu::XOR => a ^ b,
        alu::LSH => a << sh,
        alu::RSH => a >> sh,
        alu::ARSH => {
            if w64 {
                ((a as i64) >> sh) as u64
            } else {
                u64::from(((a as u32 as i32) >> sh) as u32)
            }
        }
        _ => a,
    };
    r & mask
}

/// Runs the program; returns every (insn, level, option) setsockopt call.
fn run(insns: &[Insn], ctx: &HashMap<i16, u32>, helper_ret: u64) -> Vec<(usize, u32, u32)> {
    let mut regs = [Cv::Num(0); 11];
    regs[1] = Cv::Ctx(0);
    regs[10] = Cv::Stack(0);
    let mut stack = [0u8; 512];
    let mut ptrs: HashMap<i64, Cv> = HashMap::new();
    let mut calls = Vec::new();
    let mut pc = 0usize;
    for _ in 0..100_000 {
        let i = insns[pc];
        let mut next = pc + 1;
        let cls = i.class();
        match cls {
            0x04 | 0x07 => {
                let w64 = cls == 0x07;
                let src = if i.src_is_reg() {
                    regs[usize::from(i.src)]
                } else if w64 {
                    Cv::Num(i64::from(i.imm) as u64)
                } else {
                    Cv::Num(u64::from(i.imm as u32))
                };
                let dst = regs[usize::from(i.dst)];
                regs[usize::from(i.dst)] = match (i.op(), dst, src) {
                    (alu::MOV, _, s) if w64 => s,
                    (alu::MOV, _, s) => Cv::Num(s.bits() & u64::from(u32::MAX)),
                    (alu::ADD, Cv::Ctx(o), Cv::Num(n)) if w64 => Cv::Ctx(o.wrapping_add(n as i64)),
                    (alu::ADD, Cv::Stack(o), Cv::Num(n)) if w64 => {
                        Cv::Stack(o.wrapping_add(n as i64))
                    }
                    (alu::SUB, Cv::Ctx(o), Cv::Num(n)) if w64 => Cv::Ctx(o.wrapping_sub(n as i64)),
                    (op, d, s) => Cv::Num(concrete_alu(op, d.bits(), s.bits(), w64)),
                };
            }
            0x01 => {
                let base = regs[usize::from(i.src)];
                let sz = i.size_bytes() as usize;
                regs[usize::from(i.dst)] = match base {
                    Cv::Ctx(o) => Cv::Num(u64::from(
                        *ctx.get(&((o + i64::from(i.off)) as i16)).unwrap_or(&0),
                    )),
                    Cv::Stack(o) => {
                        let at = o + i64::from(i.off);
                        match ptrs.get(&at) {
                            Some(p) if sz == 8 => *p,
                            _ => {
                                let start = (512 + at) as usize;
                                let mut b = [0u8; 8];
                                b[..sz].copy_from_slice(&stack[start..start + sz]);
                                Cv::Num(u64::from_le_bytes(b))
                            }
                        }
                    }
                    Cv::Num(_) => Cv::Num(0),
                };
            }
            0x02 | 0x03 => {
                let sz = i.size_bytes() as usize;
                let v = if cls == 0x02 {
                    Cv::Num(i64::from(i.imm) as u64)
                } else {
                    regs[usize::from(i.src)]
                };
                if let Cv::Stack(o) = regs[usize::from(i.dst)] {
                    let at = o + i64::from(i.off);
                    ptrs.retain(|k, _| *k + 8 <= at || at + sz as i64 <= *k);
                    if sz == 8 && !matches!(v, Cv::Num(_)) {
                        ptrs.insert(at, v);
                    }
                    let start = (512 + at) as usize;
                    stack[start..start + sz].copy_from_slice(&v.bits().to_le_bytes()[..sz]);
                }
            }
            0x05 => match i.op() {
                jmp::EXIT => return calls,
                jmp::CALL => {
                    if i.imm == 49 {
                        calls.push((pc, regs[2].bits() as u32, regs[3].bits() as u32));
                    }
                    regs[0] = Cv::Num(helper_ret);
                    for r in regs.iter_mut().take(6).skip(1) {
                        *r = Cv::Num(0x5a5a_5a5a);
                    }
                }
                jmp::JA => next = (pc as i64 + 1 + i64::from(i.off)) as usize,
                op => {
                    let a = regs[usize::from(i.dst)].bits();
                    let b = i64::from(i.imm) as u64;
                    let t = match op {
                        jmp::JEQ => a == b,
                        jmp::JNE => a != b,
                        jmp::JGT => a > b,
                        jmp::JLT => a < b,
                        jmp::JSET => a & b != 0,
                        jmp::JSGT => (a as i64) > (b as i64),
                        _ => false,
                    };
                    if t {
                        next = (pc as i64 + 1 + i64::from(i.off)) as usize;
                    }
                }
            },
            _ => panic!("the generator made an unexpected instruction {i:?}"),
        }
        pc = next;
    }
    panic!("the program did not finish");
}

/// Whether the audit accounts for a setsockopt(level, option) at `insn`.
fn covered(a: &ProgramAudit, cat: &HookCatalog, insn: usize, level: u32, option: u32) -> bool {
    let field = cat.writable.values().find(|w| {
        matches!(&w.method, WriteMethod::Setsockopt { level_value, option_value, .. }
            if *level_value as u32 == level && *option_value as u32 == option)
    });
    let by_field = field.is_some_and(|f| {
        a.writes
            .iter()
            .any(|w| w.field == f.name && w.sites.iter().any(|s| s.insn == insn))
    });
    let by_finding = a.findings.iter().any(|f| {
        let kind_ok = match &f.kind {
            FindingKind::AnySocketOption { .. } => true,
            FindingKind::UnknownSocketOption {
                level: l,
                option: o,
            } => *l == u64::from(level) && *o == u64::from(option),
            _ => false,
        };
        kind_ok && f.sites.iter().any(|s| s.insn == insn)
    });
    by_field || by_finding
}

/// Some state the analysis reached at `insn` allows `op` (ops of 63 and
/// more are one bucket the analysis never excludes).
fn op_possible_at(a: &interp::Analysis, insn: usize, op: u64) -> bool {
    a.nodes.iter().filter(|n| n.key.loc.insn == insn).any(|n| {
        if op < 63 {
            n.state.ops.contains(op)
        } else {
            n.state.ops.0 & OpSet::OTHERS != 0
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_reachable_constant_setsockopt_is_missed(
        stmts in prop::collection::vec(stmt(), 1..24),
        inputs in prop::collection::vec((prop::collection::vec(prop::sample::select(INTERESTING.iter().map(|k| *k as u32).chain([0, 1, 4, 5, 11, 0x8000_0000]).collect::<Vec<u32>>()), CTX_OFFS.len()), any::<u64>()), 1..8),
    ) {
        let insns = program(&stmts);
        let cat = common::catalog();
        let image = Image::from_insns(insns.clone(), BTreeMap::new());
        let spec = common::program("prog", &[], &[]);
        let a = audit_image(&image, &spec, &cat, &AuditOptions { ends_chain: true, ..AuditOptions::default() });
        prop_assert!(
            !a.findings.iter().any(|f| matches!(f.kind, FindingKind::Unfollowed { .. })),
            "the audit could not follow a generated program: {:#?}", a.findings
        );
        let op_offset = cat.readable.get("op").and_then(|f| f.offset).map(i64::from);
        prop_assert_eq!(op_offset, Some(0), "the property drives the op at context offset 0");
        let analysis = interp::analyze(&image, op_offset);
        for (fields, ret) in &inputs {
            let ctx: HashMap<i16, u32> = CTX_OFFS.iter().copied().zip(fields.iter().copied()).collect();
            let op = u64::from(ctx[&0]);
            for (insn, level, option) in run(&insns, &ctx, *ret) {
                prop_assert!(
                    covered(&a, &cat, insn, level, option),
                    "setsockopt({level}, {option}) at insn {insn} is not reported; findings {:#?}, writes {:#?}",
                    a.findings, a.writes
                );
                // The op this run had is among the ops the audit says the
                // call can happen at (what `when:` guards are checked with).
                prop_assert!(
                    op_possible_at(&analysis, insn, op),
                    "setsockopt at insn {insn} ran with op {op}, which the audit excludes there"
                );
            }
        }
    }
}

fn any_insn() -> impl Strategy<Value = Insn> {
    // Valid and invalid opcodes alike, registers beyond r10, any offsets.
    let code = prop_oneof![
        prop::sample::select(vec![
            0x07u8, 0x0f, 0x17, 0x1f, 0xb7, 0xbf, 0xb4, 0xbc, 0x04, 0x0c, 0x57, 0x5f, 0x67, 0x77,
            0xc7, 0x87, 0x84, 0xd4, 0xdc, 0xd7, 0x37, 0x3f, 0x97, 0x9f, 0x18, 0x61, 0x69, 0x71,
            0x79, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xdb, 0xc3, 0x05, 0x06, 0x15,
            0x1d, 0x55, 0x5d, 0x25, 0xa5, 0x45, 0x65, 0xd5, 0x16, 0x56, 0x85, 0x95, 0x81, 0x89,
            0x91, 0x99, 0x20, 0x28, 0x30, 0x40,
        ]),
        any::<u8>(),
    ];
    let dst = prop_oneof![8 => 0u8..=10, 1 => 0u8..=15];
    let src = prop_oneof![8 => 0u8..=10, 1 => 0u8..=15];
    let off = prop_oneof![4 => -16i16..16, 1 => any::<i16>()];
    let imm = prop_oneof![
        2 => prop::sample::select(vec![0i32, 1, 4, 6, 7, 12, 49, 59, 181, 1001, -1, -8]),
        1 => any::<i32>(),
    ];
    (code, dst, src, off, imm).prop_map(|(code, dst, src, off, imm)| Insn {
        code,
        dst,
        src,
        off,
        imm,
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary instruction streams (what a corrupt or hostile object
    /// holds): the audit never panics and always finishes.
    #[test]
    fn arbitrary_code_never_panics(insns in prop::collection::vec(any_insn(), 1..48)) {
        let cat = common::catalog();
        let image = Image::from_insns(insns, BTreeMap::new());
        let a = audit_image(&image, &common::program("prog", &[], &[]), &cat, &AuditOptions::default());
        prop_assert!(a.reached_insns >= 1);
    }
}

#[test]
fn the_generator_makes_programs_that_call_setsockopt() {
    // A fixed program through the same path: constant, spilled, summed.
    let stmts = vec![
        Stmt::SetSockOpt {
            level: Src::Imm(6),
            option: Src::Sum(1001, 5),
            ctx_slot: Some(2),
        },
        Stmt::Branch(7, jmp::JNE, 0, 1),
        Stmt::SetSockOpt {
            level: Src::Stack(1, 3),
            option: Src::Stack(8, 4),
            ctx_slot: None,
        },
    ];
    let insns = program(&stmts);
    let calls = run(&insns, &HashMap::new(), 0);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let cat = common::catalog();
    let a = audit_image(
        &Image::from_insns(insns, BTreeMap::new()),
        &common::program("prog", &[], &[]),
        &cat,
        &AuditOptions {
            ends_chain: true,
            ..AuditOptions::default()
        },
    );
    let fields: Vec<&str> = a.writes.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["SO_RCVBUF", "TCP_BPF_IW"]);
    for (insn, l, o) in calls {
        assert!(covered(&a, &cat, insn, l, o));
    }
}

#[test]
fn a_run_time_option_checked_against_a_constant_is_that_constant() {
    // r7 = ctx->remote_port; if r7 != 1001 goto out; setsockopt(ctx, 6, r7)
    let insns = program(&[
        Stmt::CtxLoad(7, 64),
        Stmt::Branch(7, jmp::JNE, 1001, 1),
        Stmt::SetSockOpt {
            level: Src::Imm(6),
            option: Src::Reg(7),
            ctx_slot: None,
        },
    ]);
    let cat = common::catalog();
    let a = audit_image(
        &Image::from_insns(insns, BTreeMap::new()),
        &common::program("prog", &["remote_port"], &["TCP_BPF_IW"]),
        &cat,
        &AuditOptions {
            ends_chain: true,
            ..AuditOptions::default()
        },
    );
    assert_eq!(a.errors() + a.warnings(), 0, "{:#?}", a.findings);
    assert_eq!(a.writes.len(), 1);
    assert_eq!(a.writes[0].field, "TCP_BPF_IW");
}
