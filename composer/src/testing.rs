//! Building [`Composition`]s in code, for tests and benchmarks, without the
//! YAML front end: a `sock_ops` catalog that mirrors
//! `specs/hooks/sock_ops.yaml`, small builders, guard and value helpers, and
//! a deterministic generator of large synthetic compositions.
//!
//! Test support only: nothing here validates its input the way the front
//! end does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::eval::{parse_cidr, parse_ipv4};
use crate::ir::{
    Cidr4, CmpOp, Composition, ConfigValue, Feature, Guard, HookCatalog, Invariant, Literal,
    Operand, Param, ParamType, Program, ReadMethod, ReadableField, Resolve, SetExpr, Update,
    ValueType, WritableField, Write, WriteMethod, WriteValue,
};

/// The kernel's `BPF_SOCK_OPS_*` callbacks (0..=15 are in every uapi header).
pub const SOCK_OPS: [(&str, u64); 16] = [
    ("BPF_SOCK_OPS_VOID", 0),
    ("BPF_SOCK_OPS_TIMEOUT_INIT", 1),
    ("BPF_SOCK_OPS_RWND_INIT", 2),
    ("BPF_SOCK_OPS_TCP_CONNECT_CB", 3),
    ("BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB", 4),
    ("BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB", 5),
    ("BPF_SOCK_OPS_NEEDS_ECN", 6),
    ("BPF_SOCK_OPS_BASE_RTT", 7),
    ("BPF_SOCK_OPS_RTO_CB", 8),
    ("BPF_SOCK_OPS_RETRANS_CB", 9),
    ("BPF_SOCK_OPS_STATE_CB", 10),
    ("BPF_SOCK_OPS_TCP_LISTEN_CB", 11),
    ("BPF_SOCK_OPS_RTT_CB", 12),
    ("BPF_SOCK_OPS_PARSE_HDR_OPT_CB", 13),
    ("BPF_SOCK_OPS_HDR_OPT_LEN_CB", 14),
    ("BPF_SOCK_OPS_WRITE_HDR_OPT_CB", 15),
];

fn op_type() -> ValueType {
    ValueType::Enum {
        variants: SOCK_OPS.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    }
}

/// The value of an op name, with or without the `BPF_SOCK_OPS_` prefix.
pub fn op_value(name: &str) -> u64 {
    SOCK_OPS
        .iter()
        .find(|(n, _)| *n == name || n.strip_prefix("BPF_SOCK_OPS_") == Some(name))
        .map_or(u64::MAX, |(_, v)| *v)
}

/// A `sock_ops` catalog with the fields, updates and invariant of
/// `specs/hooks/sock_ops.yaml`.
pub fn sock_ops_catalog() -> HookCatalog {
    let readable_fields = [
        ("op", op_type()),
        (
            "family",
            ValueType::Enum {
                variants: vec![("AF_INET".into(), 2), ("AF_INET6".into(), 10)],
            },
        ),
        ("remote_ip4", ValueType::Ipv4),
        ("local_ip4", ValueType::Ipv4),
        ("remote_port", ValueType::U16),
        ("local_port", ValueType::U16),
        (
            "state",
            ValueType::Enum {
                variants: (1..=13)
                    .map(|v| (format!("BPF_TCP_STATE_{v}"), v))
                    .collect(),
            },
        ),
    ];
    let readable = readable_fields
        .into_iter()
        .map(|(n, ty)| {
            (
                n.to_string(),
                ReadableField {
                    name: n.to_string(),
                    ty,
                    offset: None,
                    size: None,
                },
            )
        })
        .collect();
    let sockopt = |level: &str, lv: i32, opt: &str, ov: i32| WriteMethod::Setsockopt {
        level: level.into(),
        level_value: lv,
        option: opt.into(),
        option_value: ov,
    };
    let mut writable = BTreeMap::new();
    let mut add = |name: &str, ty: ValueType, method: WriteMethod| {
        writable.insert(name.to_string(), WritableField::new(name, ty, method));
    };
    add(
        "reply",
        ValueType::U32,
        WriteMethod::ContextStore { offset: 4 },
    );
    add(
        "TCP_CONGESTION",
        ValueType::Str { max_len: 15 },
        sockopt("SOL_TCP", 6, "TCP_CONGESTION", 13),
    );
    for (name, level, lv, ov) in [
        ("TCP_BPF_IW", "SOL_TCP", 6, 1001),
        ("TCP_BPF_SNDCWND_CLAMP", "SOL_TCP", 6, 1002),
        ("TCP_BPF_DELACK_MAX", "SOL_TCP", 6, 1003),
        ("TCP_BPF_RTO_MIN", "SOL_TCP", 6, 1004),
        ("TCP_MAXSEG", "SOL_TCP", 6, 2),
        ("TCP_WINDOW_CLAMP", "SOL_TCP", 6, 10),
        ("SO_RCVBUF", "SOL_SOCKET", 1, 8),
        ("SO_SNDBUF", "SOL_SOCKET", 1, 7),
        ("SO_MARK", "SOL_SOCKET", 1, 36),
        ("SO_PRIORITY", "SOL_SOCKET", 1, 12),
    ] {
        add(name, ValueType::U32, sockopt(level, lv, name, ov));
    }
    add(
        "cb_flags",
        ValueType::U32,
        WriteMethod::Helper {
            name: "bpf_sock_ops_cb_flags_set".into(),
            id: 59,
        },
    );
    if let Some(f) = writable.get_mut("cb_flags") {
        f.or_update = true;
        f.read = Some(ReadMethod::ContextLoad {
            offset: 84,
            size: 4,
        });
    }
    HookCatalog {
        hook: "sock_ops".into(),
        default_verdict: 1,
        readable,
        writable,
        read_options: BTreeMap::new(),
        connection: None,
        invariants: vec![Invariant {
            name: "iw_within_cwnd_clamp".into(),
            lhs: "TCP_BPF_IW".into(),
            op: CmpOp::Le,
            rhs: "TCP_BPF_SNDCWND_CLAMP".into(),
            description: String::new(),
        }],
    }
}

// ---- guards ----------------------------------------------------------------

fn field(f: &str) -> Operand {
    Operand::Field(f.into())
}

/// `op == NAME` (short or full name).
pub fn op(name: &str) -> Guard {
    cmp(
        field("op"),
        CmpOp::Eq,
        Operand::Lit(Literal::Int(op_value(name))),
    )
}

pub fn cmp(lhs: Operand, op: CmpOp, rhs: Operand) -> Guard {
    Guard::Cmp { lhs, op, rhs }
}

/// `f <op> v` for a numeric field.
pub fn field_cmp(f: &str, op: CmpOp, v: u64) -> Guard {
    cmp(field(f), op, Operand::Lit(Literal::Int(v)))
}

/// `f <op> $param`
pub fn field_cmp_param(f: &str, op: CmpOp, param: &str) -> Guard {
    cmp(field(f), op, Operand::Param(param.into()))
}

/// `$a <op> $b`
pub fn param_cmp(a: &str, op: CmpOp, b: &str) -> Guard {
    cmp(Operand::Param(a.into()), op, Operand::Param(b.into()))
}

/// `f == a.b.c.d`
pub fn ip_eq(f: &str, ip: &str) -> Guard {
    field_cmp(f, CmpOp::Eq, u64::from(parse_ipv4(ip).unwrap_or(0)))
}

fn cidr(s: &str) -> Cidr4 {
    parse_cidr(s).unwrap_or(Cidr4 { addr: 0, len: 32 })
}

/// `f in a.b.c.d/len`
pub fn ip_in(f: &str, prefix: &str) -> Guard {
    Guard::In {
        operand: field(f),
        set: SetExpr::Cidr4(cidr(prefix)),
        negated: false,
    }
}

/// `f in {v, ...}`
pub fn in_values(f: &str, vs: &[u64]) -> Guard {
    Guard::In {
        operand: field(f),
        set: SetExpr::Values(vs.iter().map(|v| Literal::Int(*v)).collect()),
        negated: false,
    }
}

/// `f in lo..hi`
pub fn in_range(f: &str, lo: u64, hi: u64) -> Guard {
    Guard::In {
        operand: field(f),
        set: SetExpr::Range { lo, hi },
        negated: false,
    }
}

/// `f in $param` (or `not in` when `negated`).
pub fn in_param(f: &str, param: &str, negated: bool) -> Guard {
    Guard::In {
        operand: field(f),
        set: SetExpr::Param(param.into()),
        negated,
    }
}

pub fn and(gs: impl IntoIterator<Item = Guard>) -> Guard {
    Guard::And(gs.into_iter().collect())
}

pub fn or(gs: impl IntoIterator<Item = Guard>) -> Guard {
    Guard::Or(gs.into_iter().collect())
}

pub fn not(g: Guard) -> Guard {
    Guard::Not(Box::new(g))
}

// ---- values ----------------------------------------------------------------

pub fn lit(v: u64) -> WriteValue {
    WriteValue::Lit(Literal::Int(v))
}

pub fn lit_str(s: &str) -> WriteValue {
    WriteValue::Lit(Literal::Str(s.into()))
}

pub fn param(p: &str) -> WriteValue {
    WriteValue::Param(p.into())
}

pub fn range(min: u64, max: u64) -> WriteValue {
    WriteValue::Range { min, max }
}

// ---- builders --------------------------------------------------------------

fn new_program(name: &str) -> Program {
    Program {
        name: name.into(),
        hook: "sock_ops".into(),
        object: None,
        reads: Vec::new(),
        writes: Vec::new(),
        span: None,
        ends_chain: false,
    }
}

/// A feature under construction. `write`/`reads` apply to the current
/// program: the last one started with [`FeatureBuilder::program`], else a
/// program named like the feature.
#[derive(Debug, Clone)]
pub struct FeatureBuilder {
    f: Feature,
}

impl FeatureBuilder {
    pub fn new(name: &str) -> Self {
        FeatureBuilder {
            f: Feature {
                name: name.into(),
                description: String::new(),
                spec_path: PathBuf::from(format!("{name}.yaml")),
                params: Vec::new(),
                config: BTreeMap::new(),
                programs: Vec::new(),
                after: Vec::new(),
                before: Vec::new(),
            },
        }
    }

    /// Starts another program of this feature.
    pub fn program(mut self, name: &str) -> Self {
        self.f.programs.push(new_program(name));
        self
    }

    fn current(&mut self) -> &mut Program {
        if self.f.programs.is_empty() {
            self.f.programs.push(new_program(&self.f.name));
        }
        let last = self.f.programs.len() - 1;
        &mut self.f.programs[last]
    }

    /// Sets the current program's hook.
    pub fn hook(mut self, hook: &str) -> Self {
        self.current().hook = hook.into();
        self
    }

    pub fn write(mut self, field: &str, value: WriteValue, guard: Guard) -> Self {
        self.current().writes.push(Write {
            field: field.into(),
            value,
            update: Update::Set,
            guard,
            guard_text: String::new(),
            span: None,
        });
        self
    }

    /// A read-modify-write that ORs `value` into `field` (`update: or`).
    pub fn write_or(mut self, field: &str, value: WriteValue, guard: Guard) -> Self {
        self = self.write(field, value, guard);
        if let Some(w) = self.current().writes.last_mut() {
            w.update = Update::Or;
        }
        self
    }

    pub fn reads(mut self, fields: &[&str]) -> Self {
        let p = self.current();
        p.reads.extend(fields.iter().map(|f| f.to_string()));
        self
    }

    pub fn after(mut self, feature: &str) -> Self {
        self.f.after.push(feature.into());
        self
    }

    pub fn before(mut self, feature: &str) -> Self {
        self.f.before.push(feature.into());
        self
    }

    fn param(mut self, name: &str, ty: ParamType, deployed: Option<ConfigValue>) -> Self {
        self.f.params.push(Param {
            name: name.into(),
            ty,
            default: deployed.clone(),
        });
        if let Some(v) = deployed {
            self.f.config.insert(name.into(), v);
        }
        self
    }

    /// A u32 param with bounds and its deployed value.
    pub fn param_u32(self, name: &str, min: u64, max: u64, deployed: u64) -> Self {
        self.param(
            name,
            ParamType::Scalar {
                ty: ValueType::U32,
                min: Some(min),
                max: Some(max),
            },
            Some(ConfigValue::Scalar(Literal::Int(deployed))),
        )
    }

    /// A scalar param of any type, deployed as `deployed`.
    pub fn param_scalar(self, name: &str, ty: ValueType, deployed: Literal) -> Self {
        self.param(
            name,
            ParamType::Scalar {
                ty,
                min: None,
                max: None,
            },
            Some(ConfigValue::Scalar(deployed)),
        )
    }

    pub fn param_str(self, name: &str, deployed: &str) -> Self {
        self.param_scalar(
            name,
            ValueType::Str { max_len: 15 },
            Literal::Str(deployed.into()),
        )
    }

    pub fn param_cidrs(self, name: &str, deployed: &[&str]) -> Self {
        let v = ConfigValue::Cidr4Set(deployed.iter().map(|s| cidr(s)).collect());
        self.param(name, ParamType::Cidr4Set, Some(v))
    }

    pub fn param_ports(self, name: &str, deployed: &[u16]) -> Self {
        self.param(
            name,
            ParamType::PortSet,
            Some(ConfigValue::PortSet(deployed.to_vec())),
        )
    }

    pub fn build(mut self) -> Feature {
        self.current();
        self.f
    }
}

/// A composition on `sock_ops` under construction.
#[derive(Debug, Clone)]
pub struct CompositionBuilder {
    c: Composition,
}

impl CompositionBuilder {
    pub fn new(name: &str) -> Self {
        CompositionBuilder {
            c: Composition {
                name: name.into(),
                hook: "sock_ops".into(),
                path: PathBuf::from(format!("{name}/composition.yaml")),
                catalog: sock_ops_catalog(),
                features: Vec::new(),
                resolves: Vec::new(),
            },
        }
    }

    pub fn feature(mut self, f: FeatureBuilder) -> Self {
        self.c.features.push(f.build());
        self
    }

    pub fn resolve(mut self, field: &str, prefer: &str) -> Self {
        self.c.resolves.push(Resolve {
            field: field.into(),
            prefer: prefer.into(),
            span: None,
        });
        self
    }

    pub fn build(self) -> Composition {
        self.c
    }
}

// ---- synthetic compositions ------------------------------------------------

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `true` with probability `pct`%.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// Picks by weight.
    pub fn pick<'a, T>(&mut self, choices: &'a [(u64, T)]) -> &'a T {
        let total: u64 = choices.iter().map(|(w, _)| w).sum();
        let mut r = self.below(total);
        for (w, t) in choices {
            if r < *w {
                return t;
            }
            r -= w;
        }
        &choices[choices.len() - 1].1
    }
}

/// `n` features on one `sock_ops` hook, shaped like a fleet's tuning
/// features: each targets one callback, mostly its own /24 of peers (8% a
/// shared /16, 2% every peer), sometimes a port set or range (10% an `||`
/// of a remote-port set and a local-port range); writes one
/// or two fields drawn with realistic weights (initial window, congestion
/// control, buffers, MSS, marks, `reply` on the init callbacks, cb flags);
/// values are literals from small menus (so many pairs agree), deployed
/// params, or ranges. A fifth of the features read a field, some declare
/// `after:` an earlier feature.
pub fn synthetic(n: usize, seed: u64) -> Composition {
    let mut rng = Rng::new(seed);
    let mut b = CompositionBuilder::new(&format!("synthetic-{n}"));
    let ops: [(u64, &str); 6] = [
        (35, "ACTIVE_ESTABLISHED_CB"),
        (25, "PASSIVE_ESTABLISHED_CB"),
        (15, "TCP_CONNECT_CB"),
        (10, "TIMEOUT_INIT"),
        (10, "RWND_INIT"),
        (5, "NEEDS_ECN"),
    ];
    let fields: [(u64, &str); 11] = [
        (25, "TCP_BPF_IW"),
        (15, "TCP_CONGESTION"),
        (10, "TCP_BPF_SNDCWND_CLAMP"),
        (10, "SO_RCVBUF"),
        (10, "SO_SNDBUF"),
        (8, "TCP_MAXSEG"),
        (7, "SO_MARK"),
        (5, "SO_PRIORITY"),
        (5, "TCP_BPF_RTO_MIN"),
        (5, "cb_flags"),
        (5, "TCP_BPF_DELACK_MAX"),
    ];
    for i in 0..n {
        let name = format!("f{i:05}");
        let mut f = FeatureBuilder::new(&name);
        let op_name = *rng.pick(&ops);
        let mut guard = vec![op(op_name)];
        let use_set_param = rng.pct(30);
        let prefix = match rng.below(100) {
            0..=1 => None,
            2..=9 => Some(format!("10.{}.0.0/16", rng.below(4))),
            _ => Some(format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)),
        };
        if let Some(p) = &prefix {
            if use_set_param {
                f = f.param_cidrs("prefixes", &[p]);
                guard.push(in_param("remote_ip4", "prefixes", false));
            } else {
                guard.push(ip_in("remote_ip4", p));
            }
        }
        match rng.below(10) {
            0 | 1 => guard.push(in_values("remote_port", &[443, 8443])),
            2 => guard.push(in_range("local_port", 1024, 65535)),
            // `||` across two fields: the pre-filter is not exact, z3 decides.
            3 => guard.push(or([
                in_values("remote_port", &[443, 8443]),
                in_range("local_port", 8000, 8999),
            ])),
            _ => {}
        }
        let guard = and(guard);
        let init_cb = matches!(op_name, "TIMEOUT_INIT" | "RWND_INIT" | "NEEDS_ECN");
        let n_writes = if init_cb { 1 } else { 1 + rng.below(2) };
        for w in 0..n_writes {
            let field = if init_cb { "reply" } else { *rng.pick(&fields) };
            let value = match field {
                "TCP_CONGESTION" => {
                    let cc = ["bbr", "cubic", "reno", "dctcp"][rng.below(4) as usize];
                    if rng.pct(30) {
                        let p = format!("cc{w}");
                        f = f.param_str(&p, cc);
                        param(&p)
                    } else {
                        lit_str(cc)
                    }
                }
                "reply" => lit([1, 3, 10][rng.below(3) as usize]),
                _ => {
                    let menu = [10, 20, 40, 64, 100, 1000];
                    let v = menu[rng.below(menu.len() as u64) as usize];
                    match rng.below(10) {
                        0..=4 => lit(v),
                        5..=7 => {
                            let p = format!("v{w}");
                            f = f.param_u32(&p, 1, 1 << 20, v);
                            param(&p)
                        }
                        _ => range(v, v * 2),
                    }
                }
            };
            f = f.write(field, value, guard.clone());
        }
        if rng.pct(20) {
            let read = *rng.pick(&fields);
            f = f.reads(&["op", read]);
        }
        if i > 0 && rng.pct(5) {
            f = f.after(&format!("f{:05}", rng.below(i as u64)));
        }
        b = b.feature(f);
    }
    b.build()
}

/// Re-evaluates every witness of an outcome (conflicts and overrides) with
/// [`crate::eval::confirm`]; `Err` names the first that does not hold up.
pub fn confirm_outcome(
    c: &Composition,
    outcome: &crate::outcome::CheckOutcome,
) -> Result<usize, String> {
    use crate::outcome::Conflict;
    let mut n = 0;
    for conflict in &outcome.conflicts {
        crate::eval::confirm(c, conflict).map_err(|e| format!("{conflict:?}: {e}"))?;
        n += 1;
    }
    for o in &outcome.overrides {
        let as_conflict = Conflict::SameField {
            field: o.field.clone(),
            a: o.winner.clone(),
            b: o.loser.clone(),
            witness: o.witness.clone(),
        };
        crate::eval::confirm(c, &as_conflict).map_err(|e| format!("{o:?}: {e}"))?;
        n += 1;
    }
    Ok(n)
}
