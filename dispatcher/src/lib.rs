//! Dispatcher generation: from the proven order for one hookpoint to the
//! dispatcher program (raw eBPF instructions) and the per-member load
//! constants. Pure: no kernel calls, no I/O; the same chain always gives
//! byte-identical output.
//!
//! The dispatcher keeps `r1` (the context) untouched, loads the chain's
//! `BPF_MAP_TYPE_PROG_ARRAY` (a map-fd relocation the loader patches), tail
//! calls slot 0, and returns the hook's default verdict when the tail call
//! falls through (an empty chain or an empty slot 0).

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
}

/// A place in the instructions the loader must patch with a map fd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapRelocation {
    /// Index of the first half of the `BPF_LD_IMM64` instruction.
    pub insn_index: usize,
    /// The ELF/ABI name of the map (always the chain map here).
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
    /// into every relocation.
    pub fn bytes_with_map_fd(&self, chain_fd: i32) -> Vec<u8> {
        let mut insns = self.insns.clone();
        for reloc in &self.relocations {
            insns[reloc.insn_index].imm = chain_fd;
        }
        insns.iter().flat_map(|i| i.to_bytes()).collect()
    }

    /// A readable listing of the program followed by the slot table.
    pub fn listing(&self) -> String {
        let mut out = format!(
            "dispatcher for {} ({} members)\n",
            self.hook.name(),
            self.members.len()
        );
        out.push_str(&insn::listing(&self.insns, CHAIN_MAP_NAME));
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
    insns.push(Insn::mov64_imm(0, spec.hook.default_verdict()));
    insns.push(Insn::exit());

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
        relocations: vec![relocation],
        members,
    })
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
