//! A spec is a claim until the bytecode backs it: for every feature, the
//! context fields its program actually loads, the context stores it
//! actually makes and the `bpf_setsockopt` options it actually passes are
//! read out of the compiled object and compared with the spec's `reads:`
//! and `writes:`, both ways. Pure ELF analysis (aya-obj), no kernel.
//!
//! The analysis is a small abstract interpretation over the program's
//! control-flow graph: each register is the context pointer (plus an
//! offset), a stack pointer, a known constant or unknown; stack spills are
//! tracked. Anything it cannot classify (a context access outside the
//! catalog, a call it does not know, a setsockopt whose level or option is
//! not a constant) fails the test rather than passing silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aya_obj::generated::bpf_insn;
use composer::ir::{HookCatalog, WriteMethod};
use runtime::objects::feature_object;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    Unknown,
    Ctx(i64),
    Stack(i64),
    Const(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    regs: [V; 11],
    spills: BTreeMap<i64, V>,
}

impl State {
    fn entry() -> Self {
        let mut regs = [V::Unknown; 11];
        regs[1] = V::Ctx(0);
        regs[10] = V::Stack(0);
        State {
            regs,
            spills: BTreeMap::new(),
        }
    }

    fn join(&mut self, other: &State) -> bool {
        let before = self.clone();
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            if a != b {
                *a = V::Unknown;
            }
        }
        self.spills.retain(|k, v| other.spills.get(k) == Some(v));
        *self != before
    }
}

/// What the bytecode does to the context and the socket.
#[derive(Debug, Default)]
struct Effects {
    /// (offset, size) of every context load.
    ctx_loads: BTreeSet<(i64, i64)>,
    /// offset of every context store.
    ctx_stores: BTreeSet<i64>,
    /// (level, option) of every bpf_setsockopt call.
    setsockopts: BTreeSet<(i64, i64)>,
    problems: Vec<String>,
}

const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
const BPF_FUNC_KTIME_GET_NS: i32 = 5;
const BPF_FUNC_TAIL_CALL: i32 = 12;
const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;
const BPF_FUNC_SETSOCKOPT: i32 = 49;
const BPF_FUNC_RINGBUF_RESERVE: i32 = 131;
const BPF_FUNC_RINGBUF_SUBMIT: i32 = 132;
/// Helpers that neither read the context's fields nor write the socket.
const NEUTRAL_HELPERS: &[i32] = &[
    BPF_FUNC_MAP_LOOKUP_ELEM,
    BPF_FUNC_KTIME_GET_NS,
    BPF_FUNC_TAIL_CALL,
    BPF_FUNC_GET_PRANDOM_U32,
    BPF_FUNC_RINGBUF_RESERVE,
    BPF_FUNC_RINGBUF_SUBMIT,
];

fn size_of_mode(code: u8) -> i64 {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

/// Runs `state` through instruction `pc`; returns the successors.
fn step(insns: &[bpf_insn], pc: usize, st: &mut State, fx: &mut Effects) -> Vec<usize> {
    let insn = &insns[pc];
    let (code, dst, src) = (insn.code, insn.dst_reg() as usize, insn.src_reg() as usize);
    let (off, imm) = (i64::from(insn.off), i64::from(insn.imm));
    let class = code & 0x07;
    let next = vec![pc + 1];
    match class {
        // LD: only the 64-bit immediate load (maps, constants).
        0x00 => {
            if code == 0x18 {
                let hi = i64::from(insns[pc + 1].imm) << 32;
                st.regs[dst] = if src == 0 {
                    V::Const(hi | (imm & 0xffff_ffff))
                } else {
                    V::Unknown
                };
                return vec![pc + 2];
            }
            fx.problems
                .push(format!("insn {pc}: legacy packet load {code:#x}"));
        }
        // LDX
        0x01 => {
            let loaded = match st.regs[src] {
                V::Ctx(o) => {
                    fx.ctx_loads.insert((o + off, size_of_mode(code)));
                    V::Unknown
                }
                V::Stack(o) => st.spills.get(&(o + off)).copied().unwrap_or(V::Unknown),
                _ => V::Unknown,
            };
            st.regs[dst] = loaded;
        }
        // ST (immediate) and STX (register, including atomics)
        0x02 | 0x03 => match st.regs[dst] {
            V::Ctx(o) => {
                fx.ctx_stores.insert(o + off);
            }
            V::Stack(o) => {
                let value = if class == 0x02 {
                    V::Const(imm)
                } else {
                    st.regs[src]
                };
                if code & 0xe0 == 0x60 && size_of_mode(code) == 8 {
                    st.spills.insert(o + off, value);
                } else {
                    st.spills.remove(&(o + off));
                }
            }
            _ => {}
        },
        // ALU (32-bit) and ALU64
        0x04 | 0x07 => {
            let op = code & 0xf0;
            let operand = if code & 0x08 == 0 {
                V::Const(imm)
            } else {
                st.regs[src]
            };
            let wide = class == 0x07;
            st.regs[dst] = match (op, st.regs[dst], operand) {
                (0xb0, _, v) if wide => v,                                   // mov
                (0xb0, _, V::Const(c)) => V::Const(c & 0xffff_ffff),         // mov32
                (0x00, V::Ctx(o), V::Const(c)) if wide => V::Ctx(o + c),     // add
                (0x00, V::Stack(o), V::Const(c)) if wide => V::Stack(o + c), // add
                (0x00, V::Const(a), V::Const(b)) if wide => V::Const(a.wrapping_add(b)),
                _ => V::Unknown,
            };
        }
        // JMP and JMP32
        0x05 | 0x06 => {
            let op = code & 0xf0;
            let target = (pc as i64 + 1 + off) as usize;
            match (class, op) {
                (0x05, 0x00) => return vec![target], // ja
                (0x05, 0x80) => {
                    // call
                    if src != 0 {
                        fx.problems
                            .push(format!("insn {pc}: bpf-to-bpf or kfunc call"));
                    } else if insn.imm == BPF_FUNC_SETSOCKOPT {
                        match (st.regs[2], st.regs[3]) {
                            (V::Const(level), V::Const(opt)) => {
                                fx.setsockopts.insert((level, opt));
                            }
                            other => fx.problems.push(format!(
                                "insn {pc}: setsockopt with non-constant level/option {other:?}"
                            )),
                        }
                    } else if !NEUTRAL_HELPERS.contains(&insn.imm) {
                        fx.problems
                            .push(format!("insn {pc}: unaudited helper {}", insn.imm));
                    }
                    for r in 0..=5 {
                        st.regs[r] = V::Unknown;
                    }
                }
                (0x05, 0x90) => return vec![], // exit
                _ => return vec![pc + 1, target],
            }
        }
        _ => fx
            .problems
            .push(format!("insn {pc}: unknown class {class}")),
    }
    next
}

fn analyse(insns: &[bpf_insn]) -> Effects {
    let mut fx = Effects::default();
    let mut states: Vec<Option<State>> = vec![None; insns.len() + 1];
    states[0] = Some(State::entry());
    let mut work = vec![0usize];
    while let Some(pc) = work.pop() {
        let Some(mut st) = states[pc].clone() else {
            continue;
        };
        if pc >= insns.len() {
            fx.problems.push("falls off the end".into());
            continue;
        }
        for succ in step(insns, pc, &mut st, &mut fx) {
            match &mut states[succ] {
                Some(existing) => {
                    if existing.join(&st) {
                        work.push(succ);
                    }
                }
                slot @ None => {
                    *slot = Some(st.clone());
                    work.push(succ);
                }
            }
        }
    }
    fx
}

fn catalog() -> HookCatalog {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../specs/hooks/sock_ops.yaml"
    ));
    composer::load::load_catalog(path).unwrap_or_else(|e| panic!("catalog: {e:?}"))
}

#[test]
fn every_feature_does_exactly_what_its_spec_declares() {
    let catalog = catalog();
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/features"));
    let mut audited = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let feature =
            composer::load::load_feature_spec(&path, &catalog).unwrap_or_else(|e| panic!("{e:?}"));
        for program in &feature.programs {
            let file = program
                .object
                .as_ref()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let obj = aya_obj::Object::parse(feature_object(&file).unwrap()).unwrap();
            let key = obj.programs[&program.name].function_key();
            let fx = analyse(&obj.functions[&key].instructions);
            let who = format!("{}/{}", feature.name, program.name);
            assert!(fx.problems.is_empty(), "{who}: {:?}", fx.problems);

            let mut reads = BTreeSet::new();
            for &(off, size) in &fx.ctx_loads {
                let field = catalog
                    .readable
                    .values()
                    .find(|f| match (f.offset, f.size) {
                        (Some(fo), Some(fs)) => {
                            i64::from(fo) <= off && off + size <= i64::from(fo + fs)
                        }
                        _ => false,
                    });
                let field = field.unwrap_or_else(|| {
                    panic!("{who}: loads ctx+{off} ({size} bytes), no catalog field there")
                });
                reads.insert(field.name.clone());
            }
            let declared_reads: BTreeSet<String> = program.reads.iter().cloned().collect();
            assert_eq!(
                reads, declared_reads,
                "{who}: fields read by the bytecode vs the spec's reads"
            );

            let mut writes = BTreeSet::new();
            for &off in &fx.ctx_stores {
                let field = catalog.writable.values().find(|f| matches!(f.method, WriteMethod::ContextStore { offset } if i64::from(offset) == off));
                let field = field
                    .unwrap_or_else(|| panic!("{who}: stores to ctx+{off}, not a writable field"));
                writes.insert(field.name.clone());
            }
            for &(level, opt) in &fx.setsockopts {
                let field = catalog.writable.values().find(|f| {
                    matches!(&f.method, WriteMethod::Setsockopt { level_value, option_value, .. }
                        if i64::from(*level_value) == level && i64::from(*option_value) == opt)
                });
                let field = field.unwrap_or_else(|| {
                    panic!("{who}: setsockopt({level}, {opt}) is not in the catalog")
                });
                writes.insert(field.name.clone());
            }
            let declared_writes: BTreeSet<String> =
                program.writes.iter().map(|w| w.field.clone()).collect();
            assert_eq!(
                writes, declared_writes,
                "{who}: fields written by the bytecode vs the spec's writes"
            );
            audited += 1;
        }
    }
    assert!(audited >= 7, "audited {audited} programs");
}

#[test]
fn the_audit_finds_exactly_the_accesses_of_known_objects() {
    // maxseg_established reads the parser's six fields and writes
    // TCP_MAXSEG, nothing else: the analysis finds exactly those.
    let catalog = catalog();
    let obj =
        aya_obj::Object::parse(runtime::objects::testing_object("maxseg_established").unwrap())
            .unwrap();
    let fx =
        analyse(&obj.functions[&obj.programs["maxseg_established"].function_key()].instructions);
    assert!(fx.problems.is_empty(), "{:?}", fx.problems);
    assert_eq!(
        fx.setsockopts,
        BTreeSet::from([(6, 2)]),
        "SOL_TCP, TCP_MAXSEG"
    );
    assert!(fx.ctx_stores.is_empty());
    let offsets: BTreeSet<i64> = fx.ctx_loads.iter().map(|(o, _)| *o).collect();
    let expected: BTreeSet<i64> = [
        "op",
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_port",
        "local_port",
    ]
    .iter()
    .map(|f| i64::from(catalog.readable[*f].offset.unwrap()))
    .collect();
    assert_eq!(offsets, expected);
    // The broken object reads past the context: the audit reports an
    // offset no catalog field covers.
    let obj =
        aya_obj::Object::parse(runtime::objects::testing_object("broken_ctx_access").unwrap())
            .unwrap();
    let fx =
        analyse(&obj.functions[&obj.programs["broken_ctx_access"].function_key()].instructions);
    assert!(
        fx.ctx_loads.iter().any(|(o, _)| *o == 4096),
        "{:?}",
        fx.ctx_loads
    );
}
