//! The bytecode audit: does an eBPF object do what its effect spec says?
//!
//! A spec is a claim. This module reads the ELF object a spec names, follows
//! the program's instructions (and its BPF-to-BPF subprograms) with a small
//! abstract interpretation, and lists every effect the bytecode can have:
//! context loads and stores (mapped to the hook catalog's fields by offset),
//! `bpf_setsockopt` calls (mapped by their constant level and option),
//! helper calls the catalog names as write methods, tail calls, and whether
//! every path continues the chain. [`audit_program`] then compares that
//! with the spec's `reads:` and `writes:`:
//!
//! - an effect the spec does not declare is an **error** (undeclared write,
//!   a `bpf_setsockopt` whose option is chosen at run time, a store to a
//!   context field the catalog does not list, a tail call into anything but
//!   the chain's next slot, a path that ends without continuing the chain);
//! - a read the spec does not declare, and a declared write no reachable
//!   instruction makes, are **warnings**.
//!
//! The SDK's own code is attributed to the member: every context field the
//! connection parser reads is a read of every member, so specs list them
//! (`ACCORD_SOCK_OPS_PARSER_READS` in `accord.h`). ARCHITECTURE.md ("The
//! bytecode audit") describes the analysis and what it cannot see.
//!
//! Pure: this module only reads the bytes it is given; it never touches the
//! kernel or the file system.

mod alu;
pub mod btf;
mod check;
pub mod ctx;
pub mod elf;
pub mod guard_ops;
pub mod helpers;
pub mod image;
pub mod insn;
pub mod interp;
pub mod ops;
pub mod report;
mod rmw;
mod sockopt;
mod state;
pub mod value;

use serde::Serialize;

use crate::ir::{Feature, HookCatalog, Param, ParamType, Program, ValueType};

pub use image::{Image, Loc, SourceLine};

/// The SDK's chain map (ARCHITECTURE.md, the chain ABI).
pub const CHAIN_MAP: &str = "accord_chain";
/// The SDK's scalar config map (`ACCORD_CONFIG` in accord.h).
pub const CONFIG_MAP: &str = "accord_config";
/// The SDK's load-time slot constant; a member continues with `ACCORD_SLOT + 1`.
pub const SLOT_GLOBAL: &str = "ACCORD_SLOT";

/// Why an object could not be audited at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("cannot read the object as ELF: {reason}")]
    Elf { reason: String },
    #[error("the object has no program `{program}` (programs: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    ProgramNotFound {
        program: String,
        available: Vec<String>,
    },
    #[error("malformed BTF line info: {reason}")]
    Btf { reason: String },
}

/// What the spec says beyond its `reads:`/`writes:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditOptions {
    /// The member may end the chain (some paths return without continuing
    /// to the next slot) on purpose: the spec's `ends_chain: true`.
    pub ends_chain: bool,
    /// Where the feature's scalar params live in `accord_config`
    /// ([`config_layout`]); empty: `$param` values are not checked.
    pub config: Vec<ConfigSlot>,
}

impl AuditOptions {
    /// The options for `program` of `feature`.
    pub fn for_program(feature: &Feature, program: &Program) -> AuditOptions {
        AuditOptions {
            ends_chain: program.ends_chain,
            config: config_layout(&feature.params),
        }
    }
}

/// One scalar config param and its byte offset in `accord_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSlot {
    pub param: String,
    pub offset: i64,
}

/// The layout rule of `accord_config` (accord.h, ARCHITECTURE.md): the
/// scalar params in the spec's order, a string 16 bytes, anything else a
/// `u64`; set params have maps of their own.
pub fn config_layout(params: &[Param]) -> Vec<ConfigSlot> {
    let mut offset = 0;
    let mut out = Vec::new();
    for p in params {
        if let ParamType::Scalar { ty, .. } = &p.ty {
            out.push(ConfigSlot {
                param: p.name.clone(),
                offset,
            });
            offset += if matches!(ty, ValueType::Str { .. }) {
                16
            } else {
                8
            };
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// Where in the object something happens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Site {
    /// The instruction index in its section (as `llvm-objdump -d` numbers it).
    pub insn: usize,
    pub section: String,
    /// The function symbol containing the instruction and the index from its start.
    pub function: String,
    pub function_insn: usize,
    /// From BTF line info, where the object has it.
    pub line: Option<SourceLine>,
}

/// One thing the audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// The bytecode writes a catalog field the spec does not declare.
    UndeclaredWrite { field: String },
    /// A declared write the bytecode makes at hook ops (`BPF_SOCK_OPS_*`
    /// names) where none of the field's `when:` guards can hold: the
    /// solver proved the composition for the declared guards only.
    WriteOutsideGuard { field: String, ops: Vec<String> },
    /// A declared `$param` write whose value the bytecode loads from
    /// another slot of `accord_config` (`param` None: no scalar param
    /// lives at `offset`).
    UndeclaredParam {
        field: String,
        param: Option<String>,
        offset: i64,
    },
    /// A declared write of a constant the spec's literal or range does not
    /// allow (the solver reasoned about the declared value, not this one).
    UndeclaredValue { field: String, value: u64 },
    /// `bpf_setsockopt` with a level or option the audit cannot pin to a
    /// constant: it may write any socket option.
    AnySocketOption {
        level: Option<u64>,
        option: Option<u64>,
    },
    /// `bpf_setsockopt` with a constant level and option the catalog lacks.
    UnknownSocketOption { level: u64, option: u64 },
    /// A store to a context offset that is not a writable catalog field
    /// (`offset` None: an offset the audit cannot determine).
    UnknownContextStore {
        offset: Option<i64>,
        member: Option<String>,
    },
    /// A helper whose effect on the socket the catalog does not describe.
    UnknownHelper { id: i32, name: String },
    /// A kfunc call (the audit does not know kfunc effects).
    Kfunc { name: String },
    /// A tail call that is not the SDK's chain continuation.
    ForeignTailCall { map: String, index: String },
    /// Some path returns without continuing the chain.
    ChainCut,
    /// Code the audit cannot follow.
    Unfollowed { reason: String },
    /// The bytecode reads a context field the spec's `reads:` lacks.
    UndeclaredRead { field: String },
    /// A context load the catalog has no field for.
    UnknownRead {
        offset: Option<i64>,
        member: Option<String>,
    },
    /// A declared write that no reachable instruction makes.
    UnreachableWrite { field: String },
    /// A write declared `update: or` whose value is not the field's
    /// current value ORed with constants.
    NotReadModifyWrite { field: String },
    /// A read-modify-write (current value ORed with constants) declared
    /// as an assignment: the check treats it as replacing the field.
    ReadModifyWriteUndeclared { field: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(flatten)]
    pub kind: FindingKind,
    /// One sentence for people.
    pub message: String,
    pub sites: Vec<Site>,
}

/// An effect the bytecode has, declared or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub field: String,
    pub declared: bool,
    pub sites: Vec<Site>,
    /// For writes: what the bytecode writes, where the audit can tell
    /// (`40`, `$iw` for a config param, `"bpf_dctcp"` is not tracked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The audit of one program against its spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramAudit {
    pub program: String,
    pub section: String,
    /// Instructions the analysis reached (over all call contexts, counted once).
    pub reached_insns: usize,
    pub writes: Vec<Observed>,
    pub reads: Vec<Observed>,
    /// Every path reaches the chain continuation.
    pub always_continues: bool,
    pub findings: Vec<Finding>,
}

impl ProgramAudit {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}

/// Audits the program `program.name` of the ELF `object` against `program`'s
/// declared reads and writes.
pub fn audit_program(
    object: &[u8],
    program: &Program,
    catalog: &HookCatalog,
    opts: &AuditOptions,
) -> Result<ProgramAudit, AuditError> {
    let image = elf::image(object, &program.name)?;
    Ok(audit_image(&image, program, catalog, opts))
}

/// [`audit_program`] on an already prepared image (tests build images from
/// instructions).
pub fn audit_image(
    image: &Image,
    program: &Program,
    catalog: &HookCatalog,
    opts: &AuditOptions,
) -> ProgramAudit {
    let op_offset = catalog
        .readable
        .get("op")
        .and_then(|f| f.offset)
        .map(i64::from);
    // Writable fields read from the context (cb flags): their current value
    // is followed, to tell a read-modify-write from an assignment.
    let current: Vec<i64> = catalog
        .writable
        .values()
        .filter_map(|w| match w.read {
            Some(crate::ir::ReadMethod::ContextLoad { offset, .. }) => Some(i64::from(offset)),
            _ => None,
        })
        .collect();
    let analysis = interp::analyze_tracking(image, op_offset, &current);
    check::check(image, &analysis, program, catalog, opts)
}
