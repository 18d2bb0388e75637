//! The resolved, validated model of a composition: what the front end
//! (`load`) produces and what the checks (`solver`, `order`) and the
//! runtime consume.
//!
//! Everything here is plain data. Names are already checked against the hook
//! catalog and the feature's params; literals are already typed. Nothing in
//! this module does I/O or talks to a solver.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// Where something came from in a YAML input, for error and report messages.
/// Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

/// The type of a readable context field, a writable socket field, or a param.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    Bool,
    U8,
    U16,
    U32,
    U64,
    /// A signed 32-bit integer (`reply`: -1 asks for the kernel's
    /// default). Values are held as their two's-complement bit pattern
    /// (`-1` is `0xffff_ffff`); order comparisons are signed.
    I32,
    /// An IPv4 address, held as the host-order `u32` of its dotted form
    /// (`10.0.0.1` is `0x0a000001`).
    Ipv4,
    /// A string of at most `max_len` bytes (e.g. a congestion control name).
    Str {
        max_len: u32,
    },
    /// A closed set of named integer values (e.g. `op`: the kernel's
    /// `BPF_SOCK_OPS_*` names). Names are stored in full.
    Enum {
        variants: Vec<(String, u64)>,
    },
}

impl ValueType {
    /// `v` (a literal's bits) as people read it: signed for `I32`.
    pub fn int_text(&self, v: u64) -> String {
        match self {
            ValueType::I32 => (v as u32 as i32).to_string(),
            _ => v.to_string(),
        }
    }

    /// Bit width used when the solver encodes this type as a bit-vector;
    /// `None` for strings (encoded as an uninterpreted sort of interned names).
    pub fn bits(&self) -> Option<u32> {
        match self {
            ValueType::Bool => Some(1),
            ValueType::U8 => Some(8),
            ValueType::U16 => Some(16),
            ValueType::U32 | ValueType::I32 | ValueType::Ipv4 | ValueType::Enum { .. } => Some(32),
            ValueType::U64 => Some(64),
            ValueType::Str { .. } => None,
        }
    }
}

/// The type of a feature config param.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// A scalar; `min`/`max` bound it (inclusive) where the spec gives them.
    Scalar {
        ty: ValueType,
        min: Option<u64>,
        max: Option<u64>,
    },
    /// A set of IPv4 prefixes (`cidr4_set`).
    Cidr4Set,
    /// A set of IPv6 prefixes (`cidr6_set`); IPv4-mapped ones
    /// (`::ffff:10.0.0.0/104`) match IPv4 peers of dual-stack sockets.
    Cidr6Set,
    /// A set of prefixes of either family (`cidr_set`: `[10.0.0.0/8,
    /// 2001:db8::/32]`), matched against `remote_ip`/`local_ip`; IPv4
    /// entries are held IPv4-mapped.
    CidrSet,
    /// A set of ports (`port_set`), u16 values.
    PortSet,
}

/// A typed constant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    /// Integers, enum values (already mapped to their number), booleans (0/1)
    /// and IPv4 addresses (host-order u32) are all `Int`; the operand's type
    /// says how to print it.
    Int(u64),
    Str(String),
}

/// An IPv4 prefix, `addr` in host order with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Cidr4 {
    pub addr: u32,
    pub len: u8,
}

impl Cidr4 {
    pub fn contains(&self, ip: u32) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        };
        ip & mask == self.addr & mask
    }
}

/// A prefix of either family in the 128-bit IPv6 space: IPv4 prefixes are
/// IPv4-mapped (`10.0.0.0/8` is `::ffff:10.0.0.0/104`), the form the SDK's
/// prefix tries key on. `addr` has the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Cidr {
    pub addr: u128,
    pub len: u8,
}

impl Cidr {
    /// `::ffff:0.0.0.0`, the IPv4-mapped block.
    pub const V4_MAPPED: u128 = 0xffff_0000_0000;

    /// The network mask of a `len`-bit prefix.
    pub fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len.min(128)))
        }
    }

    pub fn contains(&self, ip: u128) -> bool {
        ip & Self::mask(self.len) == self.addr & Self::mask(self.len)
    }

    /// The IPv4-mapped form of an IPv4 prefix.
    pub fn from_v4(c: Cidr4) -> Cidr {
        Cidr {
            addr: Self::V4_MAPPED | u128::from(c.addr),
            len: c.len + 96,
        }
    }

    /// The IPv4 prefix this is, when it lies inside `::ffff:0.0.0.0/96`.
    pub fn as_v4(&self) -> Option<Cidr4> {
        (self.len >= 96 && self.addr >> 32 == Self::V4_MAPPED >> 32).then(|| Cidr4 {
            addr: self.addr as u32,
            len: self.len - 96,
        })
    }

    /// The `i`th 32-bit word (0 = most significant), as the kernel's
    /// `remote_ip6[i]` holds it after `bpf_ntohl`.
    pub fn word(addr: u128, i: usize) -> u32 {
        (addr >> (96 - 32 * i)) as u32
    }
}

/// The IPv6 text form: `2001:db8::/32`, `::ffff:10.0.0.0/104`.
impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", std::net::Ipv6Addr::from(self.addr), self.len)
    }
}

/// The name of word `i` (0..4) of a 128-bit context field: the catalog
/// loader splits `remote_ip6` into `remote_ip6[0]`..`remote_ip6[3]`, each a
/// `u32` at its own offset (the C member `remote_ip6[i]`), so the checks
/// see four 32-bit fields.
pub fn word_field(name: &str, i: usize) -> String {
    format!("{name}[{i}]")
}

/// The 128-bit field a word name belongs to (`remote_ip6[2]` → `remote_ip6`).
pub fn wide_of(word: &str) -> Option<(&str, usize)> {
    let (base, rest) = word.split_once('[')?;
    let i = rest.strip_suffix(']')?.parse().ok()?;
    (i < 4).then_some((base, i))
}

/// A config value as deployed (from the composition, else the param default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigValue {
    Scalar(Literal),
    Cidr4Set(Vec<Cidr4>),
    PortSet(Vec<u16>),
    /// The value of a `cidr6_set` or `cidr_set` param, every prefix in the
    /// 128-bit space (IPv4 ones IPv4-mapped).
    CidrSet(Vec<Cidr>),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// A readable context field of the hook (`remote_port`).
    Field(String),
    /// A scalar param of the member's own feature (`$iw`), without the `$`.
    Param(String),
    Lit(Literal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The right-hand side of `x in SET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetExpr {
    Cidr4(Cidr4),
    /// `{443, 8443}`
    Values(Vec<Literal>),
    /// `1024..65535`, inclusive at both ends.
    Range {
        lo: u64,
        hi: u64,
    },
    /// A set-typed param of the member's own feature, without the `$`.
    Param(String),
}

/// A `when:` guard, typed and resolved. A missing `when:` is `Guard::True`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    True,
    False,
    Not(Box<Guard>),
    And(Vec<Guard>),
    Or(Vec<Guard>),
    Cmp {
        lhs: Operand,
        op: CmpOp,
        rhs: Operand,
    },
    In {
        operand: Operand,
        set: SetExpr,
        negated: bool,
    },
    /// The first `bits` bits (1..=32) of two 32-bit readable fields are
    /// equal: a word of `remote_ip6/44 == local_ip6/44` (the front end
    /// lowers a masked comparison of two addresses to these and `==` of
    /// whole words).
    SamePrefix {
        lhs: String,
        rhs: String,
        bits: u8,
    },
}

impl Guard {
    /// The writable fields of `catalog` the guard reads (`SO_MARK == 5`),
    /// each once, in order of appearance.
    pub fn written_fields(&self, catalog: &HookCatalog) -> Vec<String> {
        fn walk(g: &Guard, cat: &HookCatalog, out: &mut Vec<String>) {
            let mut field = |o: &Operand| {
                if let Operand::Field(f) = o {
                    if cat.writable.contains_key(f) && !out.contains(f) {
                        out.push(f.clone());
                    }
                }
            };
            match g {
                Guard::True | Guard::False | Guard::SamePrefix { .. } => {}
                Guard::Not(x) => walk(x, cat, out),
                Guard::And(xs) | Guard::Or(xs) => xs.iter().for_each(|x| walk(x, cat, out)),
                Guard::Cmp { lhs, rhs, .. } => {
                    field(lhs);
                    field(rhs);
                }
                Guard::In { operand, .. } => field(operand),
            }
        }
        let mut out = Vec::new();
        walk(self, catalog, &mut out);
        out
    }
}

/// What a write stores into its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteValue {
    Lit(Literal),
    /// A scalar param of the member's own feature, without the `$`.
    Param(String),
    /// "Some value in this range", inclusive.
    Range {
        min: u64,
        max: u64,
    },
}

/// How one write changes its field: most writes replace the value; a
/// read-modify-write ORs its bits into the current value (cb flags set as
/// `current | FLAG`), so two of them combine instead of contradicting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    /// The field takes the written value (the default).
    #[default]
    Set,
    /// The field takes its current value OR the written one (`update: or`).
    Or,
}

/// How a program reads the current value of a writable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMethod {
    /// A load from the context struct (`bpf_sock_ops_cb_flags` for `cb_flags`).
    ContextLoad { offset: u32, size: u32 },
    /// `bpf_getsockopt` with the level and option of the setsockopt method.
    Getsockopt,
}

/// What a writable field holds before any member writes it at a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Initial {
    pub value: Literal,
    /// The ops where this holds (`reply` is 0 where the kernel calls the
    /// program without arguments); `None`: every op. Elsewhere: unknown.
    pub at: Option<Vec<u64>>,
}

/// How the kernel is asked to write a socket field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMethod {
    /// A store into the context struct at this byte offset (`reply`).
    ContextStore { offset: u32 },
    /// `bpf_setsockopt(ctx, level, optname, ...)`.
    Setsockopt {
        level: String,
        level_value: i32,
        option: String,
        option_value: i32,
    },
    /// A helper call (e.g. `bpf_sock_ops_cb_flags_set`).
    Helper { name: String, id: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadableField {
    pub name: String,
    pub ty: ValueType,
    /// Byte offset in the hook's context struct (e.g. `struct bpf_sock_ops`).
    pub offset: Option<u32>,
    pub size: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WritableField {
    pub name: String,
    pub ty: ValueType,
    pub method: WriteMethod,
    /// What the field does, from the catalog (for reports and `--help`).
    pub description: String,
    /// How a program reads the current value, where it can (`read:`).
    pub read: Option<ReadMethod>,
    /// A write may be declared `update: or` (`updates: [set, or]`).
    pub or_update: bool,
    /// The value stays set for the rest of the connection end (socket
    /// options, cb flags), so writes at different callbacks of one
    /// connection meet; `false` for a per-callback answer (`reply`).
    pub persistent: bool,
    /// The ops whose value the kernel uses (`honoured_at:`, `reply`);
    /// `None`: every op. A write elsewhere has no effect.
    pub honoured_at: Option<Vec<u64>>,
    /// The value before any member writes it at a callback (`initial:`);
    /// `None`: unknown.
    pub initial: Option<Initial>,
}

/// Whether a program can read `w`'s current value (a context store, a
/// field with a `read:` method, a socket option through `bpf_getsockopt`),
/// so a guard may test it.
pub fn readable_when_written(w: &WritableField) -> bool {
    w.read.is_some()
        || matches!(
            w.method,
            WriteMethod::ContextStore { .. } | WriteMethod::Setsockopt { .. }
        )
}

impl WritableField {
    /// A field written as `method`, with the defaults of everything else:
    /// no read method, no `or` updates, persistent unless a context store,
    /// honoured everywhere, unknown initial value.
    pub fn new(name: &str, ty: ValueType, method: WriteMethod) -> WritableField {
        let persistent = !matches!(method, WriteMethod::ContextStore { .. });
        WritableField {
            name: name.into(),
            ty,
            method,
            description: String::new(),
            read: None,
            or_update: false,
            persistent,
            honoured_at: None,
            initial: None,
        }
    }

    /// Whether the kernel uses a value written at op `op`.
    pub fn honoured(&self, op: u64) -> bool {
        self.honoured_at
            .as_ref()
            .is_none_or(|ops| ops.contains(&op))
    }
}

/// A cross-field invariant from the hook catalog: whenever a connection gets
/// both `lhs` and `rhs` written, `lhs <op> rhs` must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    pub name: String,
    pub lhs: String,
    pub op: CmpOp,
    pub rhs: String,
    pub description: String,
}

/// A socket option a program can read with `bpf_getsockopt` but never
/// write (sock_ops: the saved SYN's headers, `TCP_BPF_SYN*`). A spec lists
/// it in `reads:`; a guard cannot compare it (it is bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadOption {
    pub name: String,
    pub level: String,
    pub level_value: i32,
    pub option: String,
    pub option_value: i32,
    pub description: String,
}

/// One step of a connection end: the callbacks that come at that point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndStep {
    /// `op` values.
    pub ops: Vec<u64>,
    /// The callbacks of this step come in any order, any number of times
    /// (after the handshake: RTO, retransmissions, state changes, RTTs).
    pub any_order: bool,
}

/// The callbacks one end of a connection goes through, in the kernel's
/// order (`connection_ends:` in the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionEnd {
    /// `active` or `passive`.
    pub name: String,
    pub steps: Vec<EndStep>,
}

/// How two callbacks of one connection end can follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sequence {
    /// The first always comes before the other.
    Ordered,
    /// Either may come last (callbacks of an `any_order` step).
    Either,
}

/// The catalog's model of one connection end: which readable fields keep
/// one value across its callbacks, and the callbacks' order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionModel {
    /// Readable fields (128-bit ones as their words) that are the same at
    /// every callback of one end: addresses, ports, family.
    pub per_end: std::collections::BTreeSet<String>,
    pub ends: Vec<ConnectionEnd>,
}

impl ConnectionModel {
    /// How a callback at op `first` and a later, distinct callback at op
    /// `then` of one end can follow each other, and on which end; `None`
    /// when no end goes through `first` and then `then`.
    pub fn follows(&self, first: u64, then: u64) -> Option<(Sequence, &str)> {
        let mut out = None;
        for end in &self.ends {
            for (i, a) in end.steps.iter().enumerate() {
                if !a.ops.contains(&first) {
                    continue;
                }
                if a.any_order && a.ops.contains(&then) {
                    out = out.or(Some((Sequence::Either, end.name.as_str())));
                }
                if end.steps[i + 1..].iter().any(|b| b.ops.contains(&then)) {
                    return Some((Sequence::Ordered, end.name.as_str()));
                }
            }
        }
        out
    }
}

/// The hook catalog (`specs/hooks/<hook>.yaml`), resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookCatalog {
    pub hook: String,
    /// The verdict a program returns to let the event go on (sock_ops: 1).
    pub default_verdict: i32,
    pub readable: BTreeMap<String, ReadableField>,
    pub writable: BTreeMap<String, WritableField>,
    /// Options readable with `bpf_getsockopt` only (`read_only_options:`).
    pub read_options: BTreeMap<String, ReadOption>,
    /// The callbacks of a connection end (`connection_ends:`); `None`: the
    /// hook's events are unrelated, and persistent fields are compared
    /// per event only.
    pub connection: Option<ConnectionModel>,
    pub invariants: Vec<Invariant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: Option<ConfigValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Write {
    pub field: String,
    pub value: WriteValue,
    /// Set (the default) or a read-modify-write OR (`update: or`).
    pub update: Update,
    pub guard: Guard,
    /// The `when:` text as written, for reports.
    pub guard_text: String,
    pub span: Option<Span>,
}

/// Where a program's object comes from, exactly as the spec's `object:` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectLocation {
    /// A file, resolved relative to the spec file (`object: build/x.bpf.o`).
    File(PathBuf),
    /// An object built into accord, asked for by name (`object: builtin:init_cwnd`).
    Builtin(String),
}

/// The spec's `object:` and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub location: ObjectLocation,
    /// The `object:` key in the spec.
    pub span: Option<Span>,
}

impl ObjectRef {
    /// The prefix of a built-in object's name in a spec (`builtin:init_cwnd`).
    pub const BUILTIN_PREFIX: &'static str = "builtin:";

    /// The file, when the spec names one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.location {
            ObjectLocation::File(p) => Some(p),
            ObjectLocation::Builtin(_) => None,
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// As a spec writes it: `builtin:init_cwnd`, or the resolved path.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            ObjectLocation::File(p) => write!(f, "{}", p.display()),
            ObjectLocation::Builtin(n) => write!(f, "{}{n}", Self::BUILTIN_PREFIX),
        }
    }
}

/// One eBPF program of a feature: a chain member at its hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    pub name: String,
    pub hook: String,
    /// The spec's `object:`, if it names one.
    pub object: Option<ObjectRef>,
    pub reads: Vec<String>,
    pub writes: Vec<Write>,
    pub span: Option<Span>,
    /// The spec's `ends_chain: true`: the member may end the chain on
    /// purpose (some paths return without continuing to the next slot), so
    /// the bytecode audit accepts such paths. Default false.
    pub ends_chain: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feature {
    pub name: String,
    pub description: String,
    pub spec_path: PathBuf,
    /// Declaration order of the spec's `config:` (it fixes the config map layout).
    pub params: Vec<Param>,
    /// Every param's deployed value: the composition's config, else the default.
    pub config: BTreeMap<String, ConfigValue>,
    pub programs: Vec<Program>,
    pub after: Vec<String>,
    pub before: Vec<String>,
}

/// A deliberate override from the composition's `resolve:` list: the
/// `prefer`ed feature runs after the others that write `field`, and wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolve {
    pub field: String,
    pub prefer: String,
    pub span: Option<Span>,
}

/// A composition after loading and validation: every name resolved, every
/// literal typed. The checks never fail on a `Composition` for input reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Composition {
    pub name: String,
    pub hook: String,
    pub path: PathBuf,
    pub catalog: HookCatalog,
    /// In the composition's order of listing.
    pub features: Vec<Feature>,
    pub resolves: Vec<Resolve>,
}

/// A member of a chain: one program of one feature.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MemberId {
    pub feature: String,
    pub program: String,
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.feature == self.program {
            write!(f, "{}", self.feature)
        } else {
            write!(f, "{}/{}", self.feature, self.program)
        }
    }
}

impl Composition {
    /// Every (feature, program) pair, in listing order.
    pub fn members(&self) -> impl Iterator<Item = (MemberId, &Feature, &Program)> {
        self.features.iter().flat_map(|f| {
            f.programs.iter().map(move |p| {
                (
                    MemberId {
                        feature: f.name.clone(),
                        program: p.name.clone(),
                    },
                    f,
                    p,
                )
            })
        })
    }
}
