//! Dispatcher generation: from the proven order for one hookpoint to the
//! dispatcher program (raw eBPF instructions) and the per-member load
//! constants. Pure: no kernel calls, no I/O; the same chain always gives
//! byte-identical output.
//!
//! The dispatcher keeps `r1` (the context) untouched, loads the chain's
//! `BPF_MAP_TYPE_PROG_ARRAY` (a map-fd relocation the loader patches), tail
//! calls slot 0, and returns the hook's default verdict when the tail call
//! falls through (an empty chain or an empty slot 0).
//!
//! A `sock_ops` dispatcher of a live hookpoint also keeps every connection
//! on one generation ([`ConnStamp`]): the first callback of a socket stamps
//! it with the dispatcher's generation (socket-local storage shared by all
//! generations of the hookpoint); a later callback of a socket stamped by
//! the previous generation runs the previous generation's chain, so a swap
//! never gives one connection some effects of each. A socket stamped by an
//! older generation runs no chain. A request socket (the passive side
//! before the handshake completes) has no socket storage: it is stamped by
//! its addresses and ports in an LRU hash, and the socket it becomes takes
//! that stamp over at its first callback.

pub mod insn;

use composer::ir::MemberId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use insn::Insn;

/// The kernel's tail-call limit allows 33 programs in one run: the
/// dispatcher plus 32 members.
pub const MAX_MEMBERS: usize = 32;

/// The ELF name of the chain map every member shares (the chain ABI).
pub const CHAIN_MAP_NAME: &str = "accord_chain";
/// The global holding a member's slot (the chain ABI).
pub const SLOT_GLOBAL: &str = "ACCORD_SLOT";
/// The global holding a member's debug sampling rate (the chain ABI).
pub const DEBUG_SAMPLE_GLOBAL: &str = "ACCORD_DEBUG_SAMPLE";
/// The global turning on a member's own timing (the chain ABI); set only
/// when timing is on, so objects without it still load with timing off.
pub const TIMING_GLOBAL: &str = "ACCORD_TIMING";
/// The per-hookpoint socket storage of connection stamps (the chain ABI).
pub const CONN_MAP_NAME: &str = "accord_conn_gen";
/// The previous generation's chain, run for its connections after a swap.
pub const PREV_CHAIN_MAP_NAME: &str = "accord_prev_chain";
/// `offsetof(struct bpf_sock_ops, sk)`.
pub const SOCK_OPS_SK_OFFSET: i16 = 184;
/// `BPF_SK_STORAGE_GET_F_CREATE`.
const SK_STORAGE_GET_F_CREATE: i32 = 1;
/// Stamps of request sockets by addresses and ports, until the socket they
/// become takes the stamp over (the chain ABI).
pub const REQ_MAP_NAME: &str = "accord_req_gen";
/// The request map's key: `remote_ip4` .. `local_port` of the context.
pub const REQ_KEY_SIZE: u32 = 48;
/// How many request stamps a hookpoint keeps (LRU beyond that).
pub const REQ_MAP_ENTRIES: u32 = 4096;
/// `offsetof(struct bpf_sock_ops, remote_ip4)`.
const SOCK_OPS_ADDR_OFFSET: i16 = 24;
const REQ_KEY_WORDS: i16 = 12;
/// Where the dispatcher builds the request key and value on its stack.
const REQ_KEY_OFFSET: i16 = -48;
const REQ_VALUE_OFFSET: i16 = -56;
/// The kernel object name given to every dispatcher (at most 15 bytes).
pub const DISPATCHER_PROG_NAME: &str = "accord_disp";

/// A hook a chain can run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// A cgroup `sock_ops` program (`BPF_PROG_TYPE_SOCK_OPS`).
    SockOps,
    /// An XDP program (`BPF_PROG_TYPE_XDP`), used for benchmarks.
    Xdp,
}

impl Hook {
    /// The verdict returned when the chain does not run: sock_ops 1, `XDP_PASS`.
    pub const fn default_verdict(self) -> i32 {
        match self {
            Hook::SockOps => 1,
            Hook::Xdp => 2,
        }
    }

    /// `enum bpf_prog_type`.
    pub const fn prog_type(self) -> u32 {
        match self {
            Hook::SockOps => 13,
            Hook::Xdp => 6,
        }
    }

    /// `enum bpf_attach_type` the program is loaded for
    /// (`BPF_CGROUP_SOCK_OPS`, `BPF_XDP`).
    pub const fn expected_attach_type(self) -> u32 {
        match self {
            Hook::SockOps => 3,
            Hook::Xdp => 37,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Hook::SockOps => "sock_ops",
            Hook::Xdp => "xdp",
        }
    }

    /// The hook of a composition's `hook:` name.
    pub fn from_name(name: &str) -> Result<Hook, DispatcherError> {
        match name {
            "sock_ops" => Ok(Hook::SockOps),
            "xdp" => Ok(Hook::Xdp),
            other => Err(DispatcherError::UnsupportedHook {
                hook: other.to_owned(),
            }),
        }
    }
}

/// Why no dispatcher can be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DispatcherError {
    #[error(
        "a chain holds at most {max} members (the kernel's tail-call limit), this one has {count}"
    )]
    TooManyMembers { count: usize, max: usize },
    #[error("no dispatcher for hook `{hook}` (supported: sock_ops, xdp)")]
    UnsupportedHook { hook: String },
    #[error("generation {generation} is past the dispatcher's limit ({max})")]
    GenerationTooLarge { generation: u64, max: u64 },
    #[error("connection stamps need sockets: the {hook} hook has none")]
    StampWithoutSockets { hook: &'static str },
}

/// Keeps each connection on the generation that saw its first callback
/// (sock_ops only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnStamp {
    /// This dispatcher's generation (at most `i32::MAX`).
    pub generation: u64,
    /// The generation it replaces, whose chain still runs for the
    /// connections it stamped.
    pub previous: Option<u64>,
}

/// The input: one hookpoint's members in the proven order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSpec {
    pub hook: Hook,
    pub members: Vec<MemberId>,
    /// `ACCORD_DEBUG_SAMPLE` for every member: 0 means no debug events.
    pub debug_sample: u32,
    /// `ACCORD_TIMING = 1` for every member: each measures its own run time.
    pub timing: bool,
    /// Per-connection generation stamps; `None` for a plain dispatcher.
    pub stamp: Option<ConnStamp>,
}

/// A place in the instructions the loader must patch with a map fd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapRelocation {
    /// Index of the first half of the `BPF_LD_IMM64` instruction.
    pub insn_index: usize,
    /// The ABI name of the map: [`CHAIN_MAP_NAME`], [`CONN_MAP_NAME`] or
    /// [`PREV_CHAIN_MAP_NAME`].
    pub map: &'static str,
}

/// One member's load-time constants (`volatile const` globals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberConstants {
    pub member: MemberId,
    pub slot: u32,
    /// `(global name, value)` pairs to override, in a fixed order.
    pub globals: Vec<(&'static str, u32)>,
}

/// The generated dispatcher and what every member is loaded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispatcher {
    pub hook: Hook,
    pub insns: Vec<Insn>,
    pub relocations: Vec<MapRelocation>,
    pub members: Vec<MemberConstants>,
}

impl Dispatcher {
    /// The instructions as the kernel wants them, with `chain_fd` patched
    /// into every relocation (a plain dispatcher only uses the chain map).
    pub fn bytes_with_map_fd(&self, chain_fd: i32) -> Vec<u8> {
        self.bytes_with_map_fds(|_| Some(chain_fd))
            .expect("every map has an fd")
    }

    /// The instructions with each relocation's map fd from `fd_of` (by
    /// ABI name); `Err` names a map `fd_of` has no fd for.
    pub fn bytes_with_map_fds(
        &self,
        fd_of: impl Fn(&str) -> Option<i32>,
    ) -> Result<Vec<u8>, &'static str> {
        let mut insns = self.insns.clone();
        for reloc in &self.relocations {
            insns[reloc.insn_index].imm = fd_of(reloc.map).ok_or(reloc.map)?;
        }
        Ok(insns.iter().flat_map(|i| i.to_bytes()).collect())
    }

    /// The maps the dispatcher refers to, by ABI name, each once.
    pub fn maps(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for r in &self.relocations {
            if !out.contains(&r.map) {
                out.push(r.map);
            }
        }
        out
    }

    /// A readable listing of the program followed by the slot table.
    pub fn listing(&self) -> String {
        let mut out = format!(
            "dispatcher for {} ({} members)\n",
            self.hook.name(),
            self.members.len()
        );
        let map_at = |i: usize| {
            self.relocations
                .iter()
                .find(|r| r.insn_index == i)
                .map_or("?", |r| r.map)
        };
        out.push_str(&insn::listing(&self.insns, map_at));
        out.push_str("slots:\n");
        for m in &self.members {
            let globals: Vec<String> = m.globals.iter().map(|(n, v)| format!("{n}={v}")).collect();
            out.push_str(&format!(
                "  {:2}: {} [{}]\n",
                m.slot,
                m.member,
                globals.join(" ")
            ));
        }
        out
    }
}

/// Generates the dispatcher and per-member constants for one chain.
pub fn generate(spec: &ChainSpec) -> Result<Dispatcher, DispatcherError> {
    if spec.members.len() > MAX_MEMBERS {
        return Err(DispatcherError::TooManyMembers {
            count: spec.members.len(),
            max: MAX_MEMBERS,
        });
    }
    let (insns, relocations) = match spec.stamp {
        None => plain(spec.hook),
        Some(stamp) if spec.hook == Hook::SockOps => stamped(stamp)?,
        Some(_) => {
            return Err(DispatcherError::StampWithoutSockets {
                hook: spec.hook.name(),
            })
        }
    };

    let members = spec
        .members
        .iter()
        .enumerate()
        .map(|(slot, member)| {
            let slot = u32::try_from(slot).expect("at most 32 members");
            let mut globals = vec![
                (SLOT_GLOBAL, slot),
                (DEBUG_SAMPLE_GLOBAL, spec.debug_sample),
            ];
            if spec.timing {
                globals.push((TIMING_GLOBAL, 1));
            }
            MemberConstants {
                member: member.clone(),
                slot,
                globals,
            }
        })
        .collect();

    Ok(Dispatcher {
        hook: spec.hook,
        insns,
        relocations,
        members,
    })
}

/// Tail-call slot 0 of the chain; the default verdict if it falls through.
fn plain(hook: Hook) -> (Vec<Insn>, Vec<MapRelocation>) {
    let mut insns = Vec::with_capacity(6);
    // r1 holds the context and is passed on unchanged to the tail call.
    let relocation = MapRelocation {
        insn_index: insns.len(),
        map: CHAIN_MAP_NAME,
    };
    insns.extend(Insn::ld_map_fd(2));
    insns.push(Insn::mov64_imm(3, 0));
    insns.push(Insn::call(insn::HELPER_TAIL_CALL));
    // Reached only when slot 0 is empty: let the event go on.
    insns.push(Insn::mov64_imm(0, hook.default_verdict()));
    insns.push(Insn::exit());
    (insns, vec![relocation])
}

/// The sock_ops dispatcher with connection stamps (see the crate docs).
fn stamped(stamp: ConnStamp) -> Result<(Vec<Insn>, Vec<MapRelocation>), DispatcherError> {
    let imm = |generation: u64| {
        i32::try_from(generation).map_err(|_| DispatcherError::GenerationTooLarge {
            generation,
            max: i32::MAX as u64,
        })
    };
    let generation = imm(stamp.generation)?;
    let previous = stamp.previous.map(imm).transpose()?;
    let verdict = Hook::SockOps.default_verdict();
    let mut b = Builder::default();
    // r6: the context; r7: the socket's storage (or NULL); r8: the stamp.
    b.push(Insn::mov64_reg(6, 1));
    // `ctx->sk` is NULL unless the socket is a full one: a request socket
    // (the passive side before the handshake completes) has no storage and
    // is stamped by its addresses and ports instead.
    b.push(Insn::ldx_dw(2, 1, SOCK_OPS_SK_OFFSET));
    b.jump(Insn::jeq_imm(2, 0, 0), Label::Request);
    b.map(1, CONN_MAP_NAME);
    b.push(Insn::mov64_imm(3, 0));
    b.push(Insn::mov64_imm(4, SK_STORAGE_GET_F_CREATE));
    b.push(Insn::call(insn::HELPER_SK_STORAGE_GET));
    b.push(Insn::mov64_reg(7, 0));
    // No storage (the kernel could not allocate it): stamp as a request.
    b.jump(Insn::jeq_imm(7, 0, 0), Label::Request);
    b.push(Insn::ldx_dw(8, 7, 0));
    b.jump(Insn::jne_imm(8, 0, 0), Label::Dispatch);
    // A full socket's first callback: take over its request socket's stamp
    // (the passive side), else stamp it with this generation.
    b.lookup_request();
    b.jump(Insn::jeq_imm(0, 0, 0), Label::StampNew);
    b.push(Insn::ldx_dw(8, 0, 0));
    b.push(Insn::stx_dw(7, 8, 0));
    b.request_args();
    b.push(Insn::call(insn::HELPER_MAP_DELETE_ELEM));
    b.jump(Insn::ja(0), Label::Dispatch);
    b.label(Label::StampNew);
    b.push(Insn::mov64_imm(8, generation));
    b.push(Insn::stx_dw(7, 8, 0));
    b.jump(Insn::ja(0), Label::Run);
    b.label(Label::Request);
    b.lookup_request();
    b.jump(Insn::jeq_imm(0, 0, 0), Label::RequestNew);
    b.push(Insn::ldx_dw(8, 0, 0));
    b.jump(Insn::ja(0), Label::Dispatch);
    b.label(Label::RequestNew);
    b.push(Insn::mov64_imm(1, generation));
    b.push(Insn::stx_dw(10, 1, REQ_VALUE_OFFSET));
    b.request_args();
    b.push(Insn::mov64_reg(3, 10));
    b.push(Insn::add64_imm(3, REQ_VALUE_OFFSET.into()));
    b.push(Insn::mov64_imm(4, 0));
    b.push(Insn::call(insn::HELPER_MAP_UPDATE_ELEM));
    b.jump(Insn::ja(0), Label::Run);
    // The stamp decides: this generation's chain, the previous one's, or none.
    b.label(Label::Dispatch);
    b.jump(Insn::jeq_imm(8, generation, 0), Label::Run);
    if let Some(previous) = previous {
        b.jump(Insn::jne_imm(8, previous, 0), Label::End);
        b.push(Insn::mov64_reg(1, 6));
        b.map(2, PREV_CHAIN_MAP_NAME);
        b.push(Insn::mov64_imm(3, 0));
        b.push(Insn::call(insn::HELPER_TAIL_CALL));
    }
    b.label(Label::End);
    b.push(Insn::mov64_imm(0, verdict));
    b.push(Insn::exit());
    b.label(Label::Run);
    b.push(Insn::mov64_reg(1, 6));
    b.map(2, CHAIN_MAP_NAME);
    b.push(Insn::mov64_imm(3, 0));
    b.push(Insn::call(insn::HELPER_TAIL_CALL));
    b.push(Insn::mov64_imm(0, verdict));
    b.push(Insn::exit());
    Ok(b.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Run,
    StampNew,
    Request,
    RequestNew,
    Dispatch,
    End,
}

/// Instructions with forward jumps to labels, patched at the end.
#[derive(Default)]
struct Builder {
    insns: Vec<Insn>,
    relocations: Vec<MapRelocation>,
    jumps: Vec<(usize, Label)>,
    labels: Vec<(Label, usize)>,
}

impl Builder {
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn jump(&mut self, i: Insn, to: Label) {
        self.jumps.push((self.insns.len(), to));
        self.insns.push(i);
    }

    fn map(&mut self, dst: u8, map: &'static str) {
        self.relocations.push(MapRelocation {
            insn_index: self.insns.len(),
            map,
        });
        self.insns.extend(Insn::ld_map_fd(dst));
    }

    /// The request key on the stack at [`REQ_KEY_OFFSET`]: the context's
    /// addresses and ports, `remote_ip4` through `local_port` (48 bytes,
    /// contiguous in `struct bpf_sock_ops`), the same for a request socket
    /// and the socket it becomes.
    fn request_key(&mut self) {
        for word in 0..REQ_KEY_WORDS {
            let at = word * 4;
            self.push(Insn::ldx_w(1, 6, SOCK_OPS_ADDR_OFFSET + at));
            self.push(Insn::stx_w(10, 1, REQ_KEY_OFFSET + at));
        }
    }

    /// r1 = `accord_req_gen`, r2 = the request key's address.
    fn request_args(&mut self) {
        self.map(1, REQ_MAP_NAME);
        self.push(Insn::mov64_reg(2, 10));
        self.push(Insn::add64_imm(2, REQ_KEY_OFFSET.into()));
    }

    /// Builds the request key and looks it up: r0 is the stamp's address or NULL.
    fn lookup_request(&mut self) {
        self.request_key();
        self.request_args();
        self.push(Insn::call(insn::HELPER_MAP_LOOKUP_ELEM));
    }

    fn label(&mut self, l: Label) {
        self.labels.push((l, self.insns.len()));
    }

    fn finish(mut self) -> (Vec<Insn>, Vec<MapRelocation>) {
        for (at, to) in &self.jumps {
            let target = self
                .labels
                .iter()
                .find(|(l, _)| l == to)
                .map(|(_, i)| *i)
                .expect("every label is placed");
            let off = target as i64 - (*at as i64 + 1);
            self.insns[*at].off = i16::try_from(off).expect("a short program");
        }
        (self.insns, self.relocations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> MemberId {
        MemberId {
            feature: name.to_owned(),
            program: name.to_owned(),
        }
    }

    fn spec(hook: Hook, names: &[&str]) -> ChainSpec {
        ChainSpec {
            hook,
            members: names.iter().map(|n| member(n)).collect(),
            debug_sample: 0,
            timing: false,
            stamp: None,
        }
    }

    #[test]
    fn sock_ops_listing() {
        let d = generate(&spec(
            Hook::SockOps,
            &["init_cwnd", "rwnd_init", "jumbo_mss", "bpf_dctcp"],
        ))
        .unwrap();
        insta::assert_snapshot!(d.listing());
    }

    #[test]
    fn stamped_sock_ops_listing() {
        let mut s = spec(Hook::SockOps, &["init_cwnd", "sndbuf"]);
        s.stamp = Some(ConnStamp {
            generation: 3,
            previous: Some(2),
        });
        let d = generate(&s).unwrap();
        insta::assert_snapshot!(d.listing());
        assert_eq!(
            d.maps(),
            vec![
                CONN_MAP_NAME,
                REQ_MAP_NAME,
                PREV_CHAIN_MAP_NAME,
                CHAIN_MAP_NAME
            ]
        );
        // Every jump lands inside the program.
        for (i, insn) in d.insns.iter().enumerate() {
            if matches!(insn.code, insn::JEQ_IMM | insn::JNE_IMM | insn::JA)
                && insn.src == 0
                && i + 1 < d.insns.len()
            {
                let t = i as i64 + 1 + i64::from(insn.off);
                assert!(
                    (0..d.insns.len() as i64).contains(&t),
                    "insn {i} jumps to {t}"
                );
            }
        }
        // The first generation has no previous chain to run.
        s.stamp = Some(ConnStamp {
            generation: 1,
            previous: None,
        });
        let first = generate(&s).unwrap();
        assert_eq!(
            first.maps(),
            vec![CONN_MAP_NAME, REQ_MAP_NAME, CHAIN_MAP_NAME]
        );
        assert!(first
            .bytes_with_map_fds(|m| (m != PREV_CHAIN_MAP_NAME).then_some(5))
            .is_ok());
        assert_eq!(
            d.bytes_with_map_fds(|m| (m == CHAIN_MAP_NAME).then_some(5)),
            Err(CONN_MAP_NAME)
        );
    }

    #[test]
    fn stamps_need_sockets_and_a_small_generation() {
        let mut s = spec(Hook::Xdp, &["a"]);
        s.stamp = Some(ConnStamp {
            generation: 1,
            previous: None,
        });
        assert!(matches!(
            generate(&s),
            Err(DispatcherError::StampWithoutSockets { .. })
        ));
        s.hook = Hook::SockOps;
        s.stamp = Some(ConnStamp {
            generation: 1 << 31,
            previous: None,
        });
        assert!(matches!(
            generate(&s),
            Err(DispatcherError::GenerationTooLarge { .. })
        ));
    }

    #[test]
    fn xdp_listing_returns_xdp_pass() {
        let d = generate(&spec(Hook::Xdp, &["a", "b"])).unwrap();
        insta::assert_snapshot!(d.listing());
        assert_eq!(d.insns[d.insns.len() - 2], Insn::mov64_imm(0, 2));
    }

    #[test]
    fn output_is_deterministic_and_patches_the_map_fd() {
        let s = spec(Hook::SockOps, &["a", "b", "c"]);
        let a = generate(&s).unwrap();
        let b = generate(&s).unwrap();
        assert_eq!(a.bytes_with_map_fd(7), b.bytes_with_map_fd(7));
        let bytes = a.bytes_with_map_fd(7);
        assert_eq!(bytes.len(), 6 * 8);
        // imm of the first LD_IMM64 half carries the fd; the second half stays 0.
        assert_eq!(&bytes[0..8], &[0x18, 0x12, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&bytes[8..16], &[0u8; 8]);
    }

    #[test]
    fn slots_follow_the_order_and_carry_the_debug_rate() {
        let mut s = spec(Hook::SockOps, &["z", "a"]);
        s.debug_sample = 64;
        let d = generate(&s).unwrap();
        assert_eq!(d.members[0].member, member("z"));
        assert_eq!(
            d.members[1].globals,
            vec![("ACCORD_SLOT", 1), ("ACCORD_DEBUG_SAMPLE", 64)]
        );
    }

    #[test]
    fn timing_sets_accord_timing_only_when_on() {
        let mut s = spec(Hook::SockOps, &["a"]);
        let off = generate(&s).unwrap();
        assert!(off.members[0]
            .globals
            .iter()
            .all(|(n, _)| *n != TIMING_GLOBAL));
        s.timing = true;
        let on = generate(&s).unwrap();
        assert_eq!(on.members[0].globals.last(), Some(&("ACCORD_TIMING", 1)));
    }

    #[test]
    fn thirty_two_members_fit_thirty_three_do_not() {
        let names: Vec<String> = (0..33).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(generate(&spec(Hook::SockOps, &refs[..32])).is_ok());
        let err = generate(&spec(Hook::SockOps, &refs)).unwrap_err();
        assert_eq!(err, DispatcherError::TooManyMembers { count: 33, max: 32 });
        assert!(err.to_string().contains("tail-call limit"));
    }

    #[test]
    fn hooks_by_name() {
        assert_eq!(Hook::from_name("sock_ops"), Ok(Hook::SockOps));
        assert!(matches!(
            Hook::from_name("tc"),
            Err(DispatcherError::UnsupportedHook { .. })
        ));
    }
}
