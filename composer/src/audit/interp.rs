//! The abstract interpretation: a worklist fixpoint over (call string,
//! instruction) nodes, so each BPF-to-BPF call is analysed in the state its
//! caller gives it (calls cannot recurse in BPF, and depth is capped at 8).
//! Loops are bounded by the finite height of the value domain.
//!
//! Once the states are stable, one more pass over every reached node
//! records what the instruction does ([`Effect`]) and the edges between
//! nodes; `check` turns those into findings.

use std::collections::{HashMap, VecDeque};

use super::alu;
use super::image::{Image, Loc, RelocTarget};
use super::insn::{self, class, jmp, mode, Insn};
use super::ops::OpFns;
use super::state::{Frame, State};
use super::value::{Atom, Value};
use super::CONFIG_MAP;

/// `bpf_map_lookup_elem`.
const MAP_LOOKUP_ELEM: i32 = 1;

/// BPF allows 8 nested frames.
const MAX_DEPTH: usize = 8;
/// Node visits before the analysis gives up (a verified program converges
/// long before; this only guards against malformed input).
const MAX_STEPS: usize = 500_000;

/// Helper ids whose pointer arguments the helper only reads (any other
/// helper may write the stack memory it is given).
const READS_ONLY: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 25, 46, 49, 59, 87, 130, 131, 132, 133, 134, 137,
];

/// What one instruction does that the audit cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A load through a context pointer (`off` None: unknown offset).
    CtxLoad { off: Option<i64>, size: u8 },
    /// A store through a context pointer.
    CtxStore {
        off: Option<i64>,
        size: u8,
        value: Value,
    },
    /// A helper call with its argument registers r1..r5, and the 4-byte
    /// value its `optval` (r4, length r5 = 4) points at, when that is a
    /// stack address (`bpf_setsockopt` only).
    Helper {
        id: i32,
        args: [Value; 5],
        optval: Option<Value>,
    },
    /// A kfunc call (by symbol name, or BTF id).
    Kfunc { name: String },
    /// Something the analysis cannot follow (malformed or unsupported code).
    Unfollowed { reason: String },
}

/// A node: a call string (the call sites that led here) and an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeKey {
    pub calls: Vec<Loc>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub key: NodeKey,
    pub state: State,
}

/// The result: reached nodes, their edges, and the effects at each.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub nodes: Vec<Node>,
    pub succs: Vec<Vec<usize>>,
    /// (node, effect); a node can have several (a store through a pointer
    /// that may be the context or the stack has one).
    pub effects: Vec<(usize, Effect)>,
    /// Names of maps and globals that atoms refer to.
    pub names: Vec<String>,
    /// Set when the step budget ran out: the result is then incomplete.
    pub gave_up: bool,
}

impl Analysis {
    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// The entry node is always node 0.
    pub fn entry(&self) -> usize {
        0
    }
}

/// What every step shares: the names atoms refer to, and where the hook's
/// `op` field is in the context.
struct Names {
    list: Vec<String>,
    op_offset: Option<i64>,
    /// Context offsets of writable fields' current values (4-byte loads
    /// there give [`Atom::Current`]).
    current: Vec<i64>,
    /// The functions of the op that [`Atom::Op`] atoms refer to.
    ops: OpFns,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        match self.list.iter().position(|n| n == name) {
            Some(i) => i as u32,
            None => {
                self.list.push(name.to_string());
                (self.list.len() - 1) as u32
            }
        }
    }
}

/// Runs the analysis of `image` from its entry. `op_offset` is the context
/// offset of the hook's `op` field (a `u32`), if it has one: branches on it
/// then narrow each state's [`State::ops`].
pub fn analyze(image: &Image, op_offset: Option<i64>) -> Analysis {
    analyze_tracking(image, op_offset, &[])
}

/// [`analyze`], also following values loaded from the context offsets
/// `current` (writable fields' current values, [`Atom::Current`]) through
/// ORs with constants, so a read-modify-write can be recognised.
pub fn analyze_tracking(image: &Image, op_offset: Option<i64>, current: &[i64]) -> Analysis {
    let mut names = Names {
        list: Vec::new(),
        op_offset,
        current: current.to_vec(),
        ops: OpFns::new(),
    };
    let mut index: HashMap<NodeKey, usize> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut queued: Vec<bool> = Vec::new();
    let mut work = VecDeque::new();
    let entry = NodeKey {
        calls: Vec::new(),
        loc: image.entry,
    };
    index.insert(entry.clone(), 0);
    nodes.push(Node {
        key: entry,
        state: State::entry(),
    });
    queued.push(true);
    work.push_back(0usize);
    let mut steps = 0;
    let mut gave_up = false;
    while let Some(n) = work.pop_front() {
        queued[n] = false;
        steps += 1;
        if steps > MAX_STEPS {
            gave_up = true;
            break;
        }
        let out = step(image, &nodes[n].key, &nodes[n].state, &mut names, None);
        for (key, state) in out {
            match index.get(&key) {
                Some(&m) => {
                    if nodes[m].state.join(&state) && !queued[m] {
                        queued[m] = true;
                        work.push_back(m);
                    }
                }
                None => {
                    index.insert(key.clone(), nodes.len());
                    nodes.push(Node { key, state });
                    queued.push(true);
                    work.push_back(nodes.len() - 1);
                }
            }
        }
    }
    // The recording pass over the stable states.
    let mut succs = vec![Vec::new(); nodes.len()];
    let mut effects = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let mut found = Vec::new();
        for (key, _) in step(image, &node.key, &node.state, &mut names, Some(&mut found)) {
            if let Some(&m) = index.get(&key) {
                succs[n].push(m);
            }
        }
        effects.extend(found.into_iter().map(|e| (n, e)));
    }
    Analysis {
        nodes,
        succs,
        effects,
        names: names.list,
        gave_up,
    }
}

fn at(key: &NodeKey, loc: Loc) -> NodeKey {
    NodeKey {
        calls: key.calls.clone(),
        loc,
    }
}

fn rel(loc: Loc, off: i64) -> Option<Loc> {
    let i = loc.insn as i64 + 1 + off;
    (i >= 0).then_some(Loc {
        section: loc.section,
        insn: i as usize,
    })
}

/// One instruction: its successors with their states; its effects when
/// `record` is given.
fn step(
    image: &Image,
    key: &NodeKey,
    st: &State,
    names: &mut Names,
    mut record: Option<&mut Vec<Effect>>,
) -> Vec<(NodeKey, State)> {
    let mut emit = |e: Effect| {
        if let Some(r) = record.as_deref_mut() {
            r.push(e);
        }
    };
    let loc = key.loc;
    let Some(i) = image.insn(loc).copied() else {
        emit(Effect::Unfollowed {
            reason: "control reaches past the end of the code".into(),
        });
        return Vec::new();
    };
    let next = |n: usize| Loc {
        section: loc.section,
        insn: loc.insn + n,
    };
    let mut s = st.clone();
    match i.class() {
        class::ALU | class::ALU64 => {
            let is64 = i.class() == class::ALU64;
            let dst = s.reg(i.dst);
            let v = match i.op() {
                insn::alu::NEG | insn::alu::END => {
                    let atoms: Vec<Atom> = dst.atoms().copied().collect();
                    Value::from_atoms(atoms.into_iter().map(|a| match a {
                        Atom::Op(f) => names.ops.map(f, |x| {
                            match alu::unary(&i, is64, Atom::Const(x)) {
                                Atom::Const(c) => Some(c),
                                _ => None,
                            }
                        }),
                        other => alu::unary(&i, is64, other),
                    }))
                }
                _ => {
                    let src = if i.src_is_reg() {
                        s.reg(i.src)
                    } else if is64 {
                        Value::constant(i64::from(i.imm) as u64)
                    } else {
                        Value::constant(u64::from(i.imm as u32))
                    };
                    let dst = if i.op() == insn::alu::MOV {
                        Value::constant(0)
                    } else {
                        dst
                    };
                    let pairs: Vec<(Atom, Atom)> = dst
                        .atoms()
                        .flat_map(|a| src.atoms().map(move |b| (*a, *b)))
                        .collect();
                    Value::from_atoms(
                        pairs
                            .into_iter()
                            .map(|(a, b)| names.ops.alu(&i, is64, a, b)),
                    )
                }
            };
            s.set_reg(i.dst, v);
            vec![(at(key, next(1)), s)]
        }
        class::LD if i.is_ld_imm64() => {
            let hi = image.insn(next(1)).map(|n| n.imm as u32).unwrap_or(0);
            let v = match image.reloc(loc) {
                Some(RelocTarget::Map(n)) => Value::of(Atom::Map(names.id(n))),
                Some(RelocTarget::Global { name, off }) => Value::of(Atom::Global {
                    name: names.id(name),
                    off: *off,
                }),
                Some(_) => Value::scalar(),
                None => match i.src {
                    0 => Value::constant(u64::from(i.imm as u32) | (u64::from(hi) << 32)),
                    1 | 5 => Value::of(Atom::Map(names.id(&format!("map#{}", i.imm)))),
                    _ => Value::scalar(),
                },
            };
            s.set_reg(i.dst, v);
            vec![(at(key, next(2)), s)]
        }
        class::LD => {
            // Legacy packet loads (skb programs only): r0 = data, r1-r5 clobbered.
            clobber_call(&mut s, Value::scalar());
            vec![(at(key, next(1)), s)]
        }
        class::LDX => {
            let signed = i.mode() == mode::MEMSX;
            let v = load(
                &s,
                &s.reg(i.src),
                i.off,
                i.size_bytes(),
                signed,
                names,
                &mut emit,
            );
            s.set_reg(i.dst, v);
            vec![(at(key, next(1)), s)]
        }
        class::ST | class::STX => {
            let size = i.size_bytes();
            let base = s.reg(i.dst);
            if i.class() == class::STX && i.mode() == mode::ATOMIC {
                atomic(&mut s, &i, names, &mut emit);
            } else {
                let v = if i.class() == class::ST {
                    Value::constant(alu::truncate_bytes(i64::from(i.imm) as u64, size))
                } else {
                    let atoms: Vec<Atom> = s.reg(i.src).atoms().copied().collect();
                    Value::from_atoms(atoms.into_iter().map(|a| match a {
                        Atom::Const(c) => Atom::Const(alu::truncate_bytes(c, size)),
                        Atom::Slot(k) if size >= 4 => Atom::Slot(k),
                        Atom::Op(f) => names.ops.map(f, |x| Some(alu::truncate_bytes(x, size))),
                        Atom::Config(o) if size >= 4 => Atom::Config(o),
                        Atom::Current { off, or } if size >= 4 => Atom::Current { off, or },
                        other if size == 8 => other,
                        _ => Atom::Scalar,
                    }))
                };
                store(&mut s, &base, i.off, size, &v, &mut emit);
            }
            vec![(at(key, next(1)), s)]
        }
        class::JMP | class::JMP32 => jump(image, key, &i, s, names, &mut emit),
        _ => {
            emit(Effect::Unfollowed {
                reason: format!("unknown instruction class in opcode {:#04x}", i.code),
            });
            Vec::new()
        }
    }
}

fn jump(
    image: &Image,
    key: &NodeKey,
    i: &Insn,
    mut s: State,
    names: &Names,
    emit: &mut impl FnMut(Effect),
) -> Vec<(NodeKey, State)> {
    let loc = key.loc;
    let fall = at(key, rel(loc, 0).unwrap_or(loc));
    let target = |off: i64| rel(loc, off).map(|l| at(key, l));
    match i.op() {
        jmp::JA => {
            let off = if i.class() == class::JMP32 {
                i64::from(i.imm)
            } else {
                i64::from(i.off)
            };
            match target(off) {
                Some(k) => vec![(k, s)],
                None => {
                    emit(Effect::Unfollowed {
                        reason: "a jump before the start of the code".into(),
                    });
                    Vec::new()
                }
            }
        }
        jmp::EXIT => {
            if key.calls.is_empty() {
                return Vec::new();
            }
            // Return to the caller: r0 comes back, r1-r5 are clobbered.
            let ret = s.reg(0);
            s.frames.pop();
            clobber_call(&mut s, ret);
            let site = *key.calls.last().expect("checked non-empty");
            let mut calls = key.calls.clone();
            calls.pop();
            vec![(
                NodeKey {
                    calls,
                    loc: rel(site, 0).unwrap_or(site),
                },
                s,
            )]
        }
        jmp::CALL => call(image, key, i, s, names, emit),
        _ => {
            let is64 = i.class() == class::JMP;
            let a = s.reg(i.dst);
            let b = if i.src_is_reg() {
                s.reg(i.src)
            } else {
                Value::constant(i64::from(i.imm) as u64)
            };
            let taken = match (a.single(), b.single()) {
                (Some(Atom::Const(x)), Some(Atom::Const(y))) => compare(i.op(), x, y, is64),
                _ => None,
            };
            let (mut on_taken, mut on_fall) = (s.clone(), s);
            let (mut may_take, mut may_fall) = (taken != Some(false), taken != Some(true));
            // A comparison of the op with a constant splits the ops.
            if let Some((t, f)) = names.ops.split(i.op(), &a, &b, is64, on_taken.ops) {
                on_taken.ops = t;
                on_fall.ops = f;
                may_take &= !t.is_empty();
                may_fall &= !f.is_empty();
            }
            // `if r == K`: r is K on one edge and not K on the other.
            if let (true, jmp::JEQ | jmp::JNE, Some(Atom::Const(k))) = (is64, i.op(), b.single()) {
                let (eq, ne) = (refine(&a, k, true), refine(&a, k, false));
                let (t, f) = if i.op() == jmp::JEQ {
                    (eq, ne)
                } else {
                    (ne, eq)
                };
                match t {
                    Some(v) => on_taken.set_reg(i.dst, v),
                    None => may_take = false,
                }
                match f {
                    Some(v) => on_fall.set_reg(i.dst, v),
                    None => may_fall = false,
                }
            }
            let mut out = Vec::new();
            if may_take {
                match target(i64::from(i.off)) {
                    Some(k) => out.push((k, on_taken)),
                    None => emit(Effect::Unfollowed {
                        reason: "a jump before the start of the code".into(),
                    }),
                }
            }
            if may_fall {
                out.push((fall, on_fall));
            }
            out
        }
    }
}

/// A scalar value on the edge where it is (`equal`) or is not `k`; `None`
/// when no possibility survives (the edge cannot be taken). Values that may
/// be pointers are left alone.
fn refine(v: &Value, k: u64, equal: bool) -> Option<Value> {
    if v.is_bottom()
        || v.atoms()
            .any(|a| !matches!(a, Atom::Const(_) | Atom::Scalar))
    {
        return Some(v.clone());
    }
    let scalar = v.atoms().any(|a| *a == Atom::Scalar);
    if equal {
        (scalar || v.atoms().any(|a| *a == Atom::Const(k))).then(|| Value::constant(k))
    } else {
        let rest = Value::from_atoms(v.atoms().copied().filter(|a| *a != Atom::Const(k)));
        (!rest.is_bottom()).then_some(rest)
    }
}

pub(super) fn compare(op: u8, x: u64, y: u64, is64: bool) -> Option<bool> {
    let (x, y) = if is64 {
        (x, y)
    } else {
        (u64::from(x as u32), u64::from(y as u32))
    };
    let (sx, sy) = if is64 {
        (x as i64, y as i64)
    } else {
        (i64::from(x as u32 as i32), i64::from(y as u32 as i32))
    };
    Some(match op {
        jmp::JEQ => x == y,
        jmp::JNE => x != y,
        jmp::JGT => x > y,
        jmp::JGE => x >= y,
        jmp::JLT => x < y,
        jmp::JLE => x <= y,
        jmp::JSET => x & y != 0,
        jmp::JSGT => sx > sy,
        jmp::JSGE => sx >= sy,
        jmp::JSLT => sx < sy,
        jmp::JSLE => sx <= sy,
        _ => return None,
    })
}

fn call(
    image: &Image,
    key: &NodeKey,
    i: &Insn,
    mut s: State,
    names: &Names,
    emit: &mut impl FnMut(Effect),
) -> Vec<(NodeKey, State)> {
    let loc = key.loc;
    let next = at(key, rel(loc, 0).unwrap_or(loc));
    // In an object, a kfunc call is a pseudo call relocated to an extern
    // symbol (libbpf turns it into a kfunc call at load time).
    let is_kfunc = i.src == insn::PSEUDO_KFUNC_CALL
        || (i.src == insn::PSEUDO_CALL && matches!(image.reloc(loc), Some(RelocTarget::Extern(_))));
    match i.src {
        _ if is_kfunc => {
            let name = match image.reloc(loc) {
                Some(RelocTarget::Extern(n)) => n.clone(),
                _ => format!("btf#{}", i.imm),
            };
            emit(Effect::Kfunc { name });
            clobber_args(&mut s);
            clobber_call(&mut s, Value::scalar());
            vec![(next, s)]
        }
        insn::PSEUDO_CALL => {
            let target = match image.reloc(loc) {
                Some(RelocTarget::Call(t)) => Some(*t),
                _ => rel(loc, i64::from(i.imm)),
            };
            let Some(target) = target.filter(|t| image.insn(*t).is_some()) else {
                emit(Effect::Unfollowed {
                    reason: "a call to a subprogram the audit cannot find".into(),
                });
                return Vec::new();
            };
            if key.calls.len() + 1 >= MAX_DEPTH {
                emit(Effect::Unfollowed {
                    reason: "calls nested deeper than BPF allows".into(),
                });
                return Vec::new();
            }
            let depth = s.frames.len() as u8;
            let mut f = Frame::new(depth);
            for r in 1..=5 {
                f.regs[r] = s.reg(r as u8);
            }
            s.frames.push(f);
            let mut calls = key.calls.clone();
            calls.push(loc);
            vec![(NodeKey { calls, loc: target }, s)]
        }
        _ => {
            let args = [s.reg(1), s.reg(2), s.reg(3), s.reg(4), s.reg(5)];
            let optval = (i.imm == 49 && args[4].single() == Some(Atom::Const(4)))
                .then(|| match args[3].single() {
                    Some(Atom::Stack { frame, off }) => {
                        s.frame(frame).map(|f| f.read(off, 4, false))
                    }
                    _ => None,
                })
                .flatten();
            emit(Effect::Helper {
                id: i.imm,
                args,
                optval,
            });
            // bpf_map_lookup_elem on the scalar config map: a pointer to
            // the config (the verifier makes the program check it for NULL).
            let config_lookup = i.imm == MAP_LOOKUP_ELEM
                && matches!(s.reg(1).single(),
                    Some(Atom::Map(m)) if names.list.get(m as usize).map(String::as_str) == Some(CONFIG_MAP));
            if !READS_ONLY.contains(&i.imm) {
                clobber_args(&mut s);
            }
            let r0 = if config_lookup {
                Value::of(Atom::ConfigPtr(0))
            } else {
                Value::scalar()
            };
            clobber_call(&mut s, r0);
            vec![(next, s)]
        }
    }
}

/// After a call: r0 is the result, r1-r5 hold nothing useful.
fn clobber_call(s: &mut State, r0: Value) {
    s.set_reg(0, r0);
    for r in 1..=5 {
        s.set_reg(r, Value::scalar());
    }
}

/// A helper may write the stack memory its pointer arguments point at:
/// those bytes become possibly-scalar (old contents kept as possibilities,
/// since the helper may also leave them alone).
fn clobber_args(s: &mut State) {
    for r in 1..=5u8 {
        let targets: Vec<Atom> = s.reg(r).atoms().copied().collect();
        for a in targets {
            match a {
                Atom::Stack { frame, off } => {
                    if let Some(f) = s.frame_mut(frame) {
                        let keys: Vec<(i64, u8)> =
                            f.stack.keys().filter(|(o, _)| *o >= off).copied().collect();
                        for k in keys {
                            if let Some(c) = f.stack.get_mut(&k) {
                                c.join(&Value::scalar());
                            }
                        }
                    }
                }
                Atom::StackAny { frame } => {
                    if let Some(f) = s.frame_mut(frame) {
                        f.write_anywhere(&Value::scalar());
                    }
                }
                _ => {}
            }
        }
    }
}

fn load(
    s: &State,
    base: &Value,
    off: i16,
    size: u8,
    signed: bool,
    names: &mut Names,
    emit: &mut impl FnMut(Effect),
) -> Value {
    let off = i64::from(off);
    let mut out = Value::bottom();
    for a in base.atoms() {
        let v = match *a {
            Atom::Ctx(o) => {
                let at = o.wrapping_add(off);
                emit(Effect::CtxLoad {
                    off: Some(at),
                    size,
                });
                if names.op_offset == Some(at) && size == 4 && !signed {
                    Value::of(Atom::Op(0))
                } else if names.current.contains(&at) && size == 4 && !signed {
                    Value::of(Atom::Current { off: at, or: 0 })
                } else {
                    Value::scalar()
                }
            }
            Atom::CtxAny => {
                emit(Effect::CtxLoad { off: None, size });
                Value::scalar()
            }
            Atom::Stack { frame, off: o } => match s.frame(frame) {
                Some(f) => f.read(o.wrapping_add(off), size, signed),
                None => Value::scalar(),
            },
            Atom::StackAny { frame } => match s.frame(frame) {
                Some(f) => f.read_anywhere(),
                None => Value::scalar(),
            },
            Atom::ConfigPtr(o) if matches!(size, 4 | 8) && !signed => {
                Value::of(Atom::Config(o.wrapping_add(off)))
            }
            Atom::Global { name, off: o }
                if names.list.get(name as usize).map(String::as_str) == Some("ACCORD_SLOT")
                    && o.wrapping_add(off) == 0
                    && size == 4 =>
            {
                Value::of(Atom::Slot(0))
            }
            _ => Value::scalar(),
        };
        out.join(&v);
    }
    if out.is_bottom() {
        out = Value::scalar();
    }
    out
}

fn store(
    s: &mut State,
    base: &Value,
    off: i16,
    size: u8,
    v: &Value,
    emit: &mut impl FnMut(Effect),
) {
    let off = i64::from(off);
    let strong = base.single().is_some();
    for a in base.atoms().copied().collect::<Vec<_>>() {
        match a {
            Atom::Ctx(o) => emit(Effect::CtxStore {
                off: Some(o.wrapping_add(off)),
                size,
                value: v.clone(),
            }),
            Atom::CtxAny => emit(Effect::CtxStore {
                off: None,
                size,
                value: v.clone(),
            }),
            Atom::Stack { frame, off: o } => {
                if let Some(f) = s.frame_mut(frame) {
                    f.write(o.wrapping_add(off), size, v, strong);
                }
            }
            Atom::StackAny { frame } => {
                if let Some(f) = s.frame_mut(frame) {
                    f.write_anywhere(v);
                }
            }
            _ => {}
        }
    }
}

/// Atomic read-modify-write (and load-acquire / store-release).
fn atomic(s: &mut State, i: &Insn, names: &mut Names, emit: &mut impl FnMut(Effect)) {
    let size = i.size_bytes();
    if i.imm == insn::ATOMIC_LOAD_ACQ {
        // dst = load_acquire(src + off)
        let v = load(s, &s.reg(i.src), i.off, size, false, names, emit);
        s.set_reg(i.dst, v);
        return;
    }
    let base = s.reg(i.dst);
    if i.imm == insn::ATOMIC_STORE_REL {
        let v = s.reg(i.src);
        store(s, &base, i.off, size, &v, emit);
        return;
    }
    let old = load(s, &base, i.off, size, false, names, emit);
    let mut new = old.joined(&s.reg(i.src));
    new.join(&Value::scalar());
    store(s, &base, i.off, size, &new, emit);
    if i.imm == insn::ATOMIC_CMPXCHG {
        s.set_reg(0, old.joined(&Value::scalar()));
    } else if i.imm & insn::ATOMIC_FETCH != 0 {
        s.set_reg(i.src, old.joined(&Value::scalar()));
    }
}
