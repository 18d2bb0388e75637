//! What a checked composition does to one connection: at one callback
//! (`op`) of one concrete connection (addresses, ports, family), which
//! writes of which members happen, in chain order, and the value each
//! written field ends with. The demo prints this next to what the kernel
//! shows for real connections.
//!
//! Pure: guards and values are evaluated with [`crate::eval`] on the
//! deployed config; nothing here touches the kernel or a solver.

use std::collections::BTreeMap;

use crate::eval::{self, EvalError};
use crate::ir::{Composition, ConfigValue, Literal, MemberId, Update, ValueType, WriteValue};
use crate::outcome::{Witness, WitnessValue};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    #[error("evaluating `{member}`'s write of `{field}`: {source}")]
    Eval {
        member: String,
        field: String,
        source: EvalError,
    },
    #[error("the order names `{member}`, which is not in the composition")]
    UnknownMember { member: String },
    #[error("param `{param}` of `{feature}` is a set, not a value a field can take")]
    SetValue { feature: String, param: String },
    #[error("field `{field}` has no value named `{name}` (valid: {valid})")]
    UnknownName {
        field: String,
        name: String,
        valid: String,
    },
    #[error("field `{field}` is not an enum field of the hook")]
    NotAnEnum { field: String },
}

/// The value a write stores, as far as the spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredictedValue {
    /// Exactly this value.
    Exact(Literal),
    /// Some value in this inclusive range (the spec does not say which).
    Range { min: u64, max: u64 },
}

impl std::fmt::Display for PredictedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PredictedValue::Exact(Literal::Int(v)) => write!(f, "{v}"),
            PredictedValue::Exact(Literal::Str(s)) => write!(f, "{s}"),
            PredictedValue::Range { min, max } => write!(f, "{min}..{max}"),
        }
    }
}

/// One write that happens for the connection at this callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictedWrite {
    pub member: MemberId,
    pub field: String,
    pub value: PredictedValue,
    /// Whether the write replaces the field or ORs into it (`update: or`).
    pub update: Update,
    /// The `when:` text as written in the spec.
    pub guard_text: String,
}

/// Every write that happens at one callback, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prediction {
    pub writes: Vec<PredictedWrite>,
}

impl Prediction {
    /// The value `field` ends with after the whole chain ran, and the member
    /// whose write decided it: the last writer in chain order, except that
    /// a write declared `update: or` ORs its bits into the exact value
    /// before it (attributed to the last writer; with nothing before it,
    /// its own bits, ORed into what the socket had). `None` when no member
    /// writes the field for this connection.
    pub fn effective(&self, field: &str) -> Option<(PredictedValue, &MemberId)> {
        let mut writes = self.writes.iter().filter(|w| w.field == field);
        let first = writes.next()?;
        let mut value = first.value.clone();
        let mut by = &first.member;
        for w in writes {
            value = match (&value, &w.value, w.update) {
                (
                    PredictedValue::Exact(Literal::Int(a)),
                    PredictedValue::Exact(Literal::Int(b)),
                    Update::Or,
                ) => PredictedValue::Exact(Literal::Int(a | b)),
                _ => w.value.clone(),
            };
            by = &w.member;
        }
        Some((value, by))
    }

    /// Whether any member writes anything at this callback.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// The number of `name` (`ACTIVE_ESTABLISHED_CB` or
/// `BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB`) in the hook's enum field `field`.
pub fn enum_value(c: &Composition, field: &str, name: &str) -> Result<u64, PredictError> {
    let not_enum = || PredictError::NotAnEnum {
        field: field.to_string(),
    };
    let f = c.catalog.readable.get(field).ok_or_else(not_enum)?;
    let ValueType::Enum { variants } = &f.ty else {
        return Err(not_enum());
    };
    if let Some((_, v)) = variants.iter().find(|(full, _)| full == name) {
        return Ok(*v);
    }
    let suffix = format!("_{name}");
    let mut matches = variants.iter().filter(|(full, _)| full.ends_with(&suffix));
    match (matches.next(), matches.next()) {
        (Some((_, v)), None) => Ok(*v),
        _ => Err(PredictError::UnknownName {
            field: field.to_string(),
            name: name.to_string(),
            valid: variants
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The four word fields of a 128-bit address field (`remote_ip6[0]`..), for
/// an `event` of [`predict`] on an IPv6 connection.
pub fn address_fields(field: &str, addr: std::net::Ipv6Addr) -> Vec<(String, Literal)> {
    let v = u128::from(addr);
    (0..4)
        .map(|i| {
            (
                crate::ir::word_field(field, i),
                Literal::Int(u64::from(crate::ir::Cidr::word(v, i))),
            )
        })
        .collect()
}

/// `event` completed with the 128-bit words it leaves out: a real address
/// field (`remote_ip6`) the event lacks is `::` (an IPv4 socket's), a
/// virtual one (`remote_ip`) follows its definition (`guard::wide`).
fn with_addresses(c: &Composition, event: &BTreeMap<String, Literal>) -> BTreeMap<String, Literal> {
    let mut out = event.clone();
    for (name, f) in &c.catalog.readable {
        if f.offset.is_some() && crate::ir::wide_of(name).is_some() {
            out.entry(name.clone()).or_insert(Literal::Int(0));
        }
    }
    let inet6 = enum_value(c, "family", "AF_INET6").ok();
    let is_v6 = inet6.is_some() && event.get("family") == inet6.map(Literal::Int).as_ref();
    for (name, f) in &c.catalog.readable {
        let Some((base, i)) = crate::ir::wide_of(name) else {
            continue;
        };
        if f.offset.is_some() || out.contains_key(name) {
            continue;
        }
        let v = if is_v6 {
            out.get(&crate::ir::word_field(&format!("{base}6"), i))
                .cloned()
        } else {
            let v4 = match out.get(&format!("{base}4")) {
                Some(Literal::Int(v)) => *v,
                _ => 0,
            };
            Some(Literal::Int([0, 0, 0xffff, v4][i]))
        };
        if let Some(v) = v {
            out.insert(name.clone(), v);
        }
    }
    out
}

/// The writes `order`'s members make at one callback of one connection.
///
/// `event` gives the context fields (`op`, `family`, `remote_ip4`,
/// `remote_port`, ...; IPv4 addresses as host-order integers, enums as
/// their numbers); a guard that reads a field `event` lacks is an error.
/// A guard that reads a written field (`reply == 0`) sees what the members
/// before it wrote, else the value `event` gives it, else the catalog's
/// initial value where it applies (an error when none does). Params take
/// the composition's deployed config.
pub fn predict(
    c: &Composition,
    order: &[MemberId],
    event: &BTreeMap<String, Literal>,
) -> Result<Prediction, PredictError> {
    let event = &with_addresses(c, event);
    let mut witness = Witness {
        connection: event
            .iter()
            .map(|(k, v)| {
                let display = match v {
                    Literal::Int(i) => i.to_string(),
                    Literal::Str(s) => s.clone(),
                };
                (
                    k.clone(),
                    WitnessValue {
                        raw: v.clone(),
                        display,
                    },
                )
            })
            .collect(),
        config: BTreeMap::new(),
        written: BTreeMap::new(),
        later: BTreeMap::new(),
        seen: BTreeMap::new(),
    };
    // Written fields a guard may read: what the event says they hold, else
    // the catalog's initial value where it applies.
    let op = match event.get("op") {
        Some(Literal::Int(v)) => Some(*v),
        _ => None,
    };
    for (name, f) in &c.catalog.writable {
        if witness.connection.contains_key(name) {
            continue;
        }
        if let Some(init) = &f.initial {
            let applies = match (&init.at, op) {
                (None, _) => true,
                (Some(ops), Some(o)) => ops.contains(&o),
                (Some(_), None) => false,
            };
            if applies {
                witness
                    .connection
                    .insert(name.clone(), shown(init.value.clone()));
            }
        }
    }
    let mut out = Prediction { writes: Vec::new() };
    for id in order {
        let (_, feature, program) =
            c.members()
                .find(|(m, _, _)| m == id)
                .ok_or_else(|| PredictError::UnknownMember {
                    member: id.to_string(),
                })?;
        for w in &program.writes {
            let eval_err = |source| PredictError::Eval {
                member: id.to_string(),
                field: w.field.clone(),
                source,
            };
            if !eval::guard_holds(&w.guard, feature, &witness).map_err(eval_err)? {
                continue;
            }
            let value = match &w.value {
                WriteValue::Lit(l) => PredictedValue::Exact(l.clone()),
                WriteValue::Range { min, max } => PredictedValue::Range {
                    min: *min,
                    max: *max,
                },
                WriteValue::Param(p) => {
                    match eval::param_value(feature, &witness, p).map_err(eval_err)? {
                        ConfigValue::Scalar(l) => PredictedValue::Exact(l),
                        _ => {
                            return Err(PredictError::SetValue {
                                feature: feature.name.clone(),
                                param: p.clone(),
                            })
                        }
                    }
                }
            };
            out.writes.push(PredictedWrite {
                member: id.clone(),
                field: w.field.clone(),
                value,
                update: w.update,
                guard_text: w.guard_text.clone(),
            });
        }
        // The next members' guards see what this one wrote (its own
        // guards read the values before it ran).
        for pw in out.writes.iter().filter(|pw| &pw.member == id) {
            let before = witness.connection.get(&pw.field).map(|v| v.raw.clone());
            let after = match (&pw.value, pw.update, before) {
                (PredictedValue::Exact(v), Update::Set, _) => Some(v.clone()),
                (PredictedValue::Exact(Literal::Int(b)), Update::Or, Some(Literal::Int(a))) => {
                    Some(Literal::Int(a | b))
                }
                _ => None,
            };
            match after {
                Some(v) => witness.connection.insert(pw.field.clone(), shown(v)),
                None => witness.connection.remove(&pw.field),
            };
        }
    }
    Ok(out)
}

fn shown(v: Literal) -> WitnessValue {
    let display = match &v {
        Literal::Int(i) => i.to_string(),
        Literal::Str(s) => s.clone(),
    };
    WitnessValue { raw: v, display }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{
        Cidr4, Feature, Guard, HookCatalog, Operand, Param, ParamType, Program, ReadableField,
        SetExpr, WritableField, Write, WriteMethod,
    };
    use std::path::PathBuf;

    const ACTIVE: u64 = 4;
    const CONNECT: u64 = 3;

    fn catalog() -> HookCatalog {
        let op = ReadableField {
            name: "op".into(),
            ty: ValueType::Enum {
                variants: vec![
                    ("BPF_SOCK_OPS_TCP_CONNECT_CB".into(), CONNECT),
                    ("BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB".into(), ACTIVE),
                ],
            },
            offset: Some(0),
            size: Some(4),
        };
        let ip = ReadableField {
            name: "remote_ip4".into(),
            ty: ValueType::Ipv4,
            offset: Some(24),
            size: Some(4),
        };
        let writable = |name: &str, or_update| WritableField {
            or_update,
            ..WritableField::new(
                name,
                ValueType::U32,
                WriteMethod::Helper {
                    name: "h".into(),
                    id: 1,
                },
            )
        };
        HookCatalog {
            hook: "sock_ops".into(),
            default_verdict: 1,
            readable: [("op".into(), op), ("remote_ip4".into(), ip)].into(),
            writable: [
                ("TCP_BPF_IW".into(), writable("TCP_BPF_IW", false)),
                ("cb_flags".into(), writable("cb_flags", true)),
            ]
            .into(),
            read_options: BTreeMap::new(),
            connection: None,
            invariants: vec![],
        }
    }

    fn at(op: u64) -> Guard {
        Guard::Cmp {
            lhs: Operand::Field("op".into()),
            op: crate::ir::CmpOp::Eq,
            rhs: Operand::Lit(Literal::Int(op)),
        }
    }

    fn in_prefixes() -> Guard {
        Guard::In {
            operand: Operand::Field("remote_ip4".into()),
            set: SetExpr::Param("prefixes".into()),
            negated: false,
        }
    }

    /// A feature writing `field` = `value` at `op` for peers in its prefixes.
    fn feature(name: &str, field: &str, value: WriteValue, op: u64, prefix: Cidr4) -> Feature {
        Feature {
            name: name.into(),
            description: String::new(),
            spec_path: PathBuf::from(format!("{name}.yaml")),
            params: vec![
                Param {
                    name: "iw".into(),
                    ty: ParamType::Scalar {
                        ty: ValueType::U32,
                        min: None,
                        max: None,
                    },
                    default: None,
                },
                Param {
                    name: "prefixes".into(),
                    ty: ParamType::Cidr4Set,
                    default: None,
                },
            ],
            config: [
                ("iw".into(), ConfigValue::Scalar(Literal::Int(40))),
                ("prefixes".into(), ConfigValue::Cidr4Set(vec![prefix])),
            ]
            .into(),
            programs: vec![Program {
                name: name.into(),
                hook: "sock_ops".into(),
                object: None,
                reads: vec!["op".into(), "remote_ip4".into()],
                writes: vec![Write {
                    field: field.into(),
                    value,
                    update: Update::Set,
                    guard: Guard::And(vec![at(op), in_prefixes()]),
                    guard_text: "op == X && remote_ip4 in $prefixes".into(),
                    span: None,
                }],
                span: None,
                ends_chain: false,
            }],
            after: vec![],
            before: vec![],
        }
    }

    fn composition(features: Vec<Feature>) -> Composition {
        Composition {
            name: "t".into(),
            hook: "sock_ops".into(),
            path: PathBuf::from("t.yaml"),
            catalog: catalog(),
            features,
            resolves: vec![],
        }
    }

    fn id(name: &str) -> MemberId {
        MemberId {
            feature: name.into(),
            program: name.into(),
        }
    }

    fn event(op: u64, ip: [u8; 4]) -> BTreeMap<String, Literal> {
        [
            ("op".to_string(), Literal::Int(op)),
            (
                "remote_ip4".to_string(),
                Literal::Int(u64::from(u32::from_be_bytes(ip))),
            ),
        ]
        .into()
    }

    const LOOP2: Cidr4 = Cidr4 {
        addr: 0x7f00_0002,
        len: 32,
    };
    const LOOP_0_4: Cidr4 = Cidr4 {
        addr: 0x7f00_0000,
        len: 30,
    };

    #[test]
    fn a_write_happens_only_at_its_op_and_for_its_peers() {
        let c = composition(vec![feature(
            "iw",
            "TCP_BPF_IW",
            WriteValue::Param("iw".into()),
            ACTIVE,
            LOOP2,
        )]);
        let order = [id("iw")];
        let p = predict(&c, &order, &event(ACTIVE, [127, 0, 0, 2])).unwrap();
        assert_eq!(
            p.effective("TCP_BPF_IW"),
            Some((PredictedValue::Exact(Literal::Int(40)), &id("iw")))
        );
        assert_eq!(p.writes[0].guard_text, "op == X && remote_ip4 in $prefixes");
        let other_peer = predict(&c, &order, &event(ACTIVE, [127, 0, 0, 1])).unwrap();
        assert!(other_peer.is_empty());
        let other_op = predict(&c, &order, &event(CONNECT, [127, 0, 0, 2])).unwrap();
        assert_eq!(other_op.effective("TCP_BPF_IW"), None);
    }

    #[test]
    fn the_last_writer_in_chain_order_decides_a_field() {
        let c = composition(vec![
            feature(
                "a",
                "TCP_BPF_IW",
                WriteValue::Param("iw".into()),
                ACTIVE,
                LOOP2,
            ),
            feature(
                "b",
                "TCP_BPF_IW",
                WriteValue::Lit(Literal::Int(7)),
                ACTIVE,
                LOOP_0_4,
            ),
        ]);
        let ev = event(ACTIVE, [127, 0, 0, 2]);
        let ab = predict(&c, &[id("a"), id("b")], &ev).unwrap();
        assert_eq!(ab.writes.len(), 2);
        assert_eq!(
            ab.effective("TCP_BPF_IW"),
            Some((PredictedValue::Exact(Literal::Int(7)), &id("b")))
        );
        let ba = predict(&c, &[id("b"), id("a")], &ev).unwrap();
        assert_eq!(
            ba.effective("TCP_BPF_IW"),
            Some((PredictedValue::Exact(Literal::Int(40)), &id("a")))
        );
        // Only `b` covers 127.0.0.1.
        let one = predict(&c, &[id("a"), id("b")], &event(ACTIVE, [127, 0, 0, 1])).unwrap();
        assert_eq!(one.writes.len(), 1);
        assert_eq!(one.writes[0].member, id("b"));
    }

    #[test]
    fn or_updates_combine_assignments_replace_and_ranges_stay_ranges() {
        let or = |mut f: Feature| {
            f.programs[0].writes[0].update = Update::Or;
            f
        };
        let flags = |name: &str, v: u64| {
            feature(
                name,
                "cb_flags",
                WriteValue::Lit(Literal::Int(v)),
                ACTIVE,
                LOOP2,
            )
        };
        let c = composition(vec![
            flags("set1", 1),
            or(flags("or4", 4)),
            flags("set2", 2),
            feature(
                "r",
                "TCP_BPF_IW",
                WriteValue::Range { min: 10, max: 20 },
                ACTIVE,
                LOOP2,
            ),
        ]);
        let ev = event(ACTIVE, [127, 0, 0, 2]);
        let value = |order: &[&str]| {
            let order: Vec<MemberId> = order.iter().map(|m| id(m)).collect();
            let p = predict(&c, &order, &ev).unwrap();
            p.effective("cb_flags")
                .map(|(v, by)| (v, by.feature.clone()))
        };
        let int = |v: u64, by: &str| Some((PredictedValue::Exact(Literal::Int(v)), by.to_string()));
        // An `or` write after an assignment keeps it; an assignment after
        // anything replaces it.
        assert_eq!(value(&["set1", "or4"]), int(5, "or4"));
        assert_eq!(value(&["or4", "set1"]), int(1, "set1"));
        assert_eq!(value(&["set1", "set2"]), int(2, "set2"));
        assert_eq!(value(&["or4"]), int(4, "or4"));
        let p = predict(&c, &[id("r")], &ev).unwrap();
        let (range, _) = p.effective("TCP_BPF_IW").unwrap();
        assert_eq!(range, PredictedValue::Range { min: 10, max: 20 });
        assert_eq!(range.to_string(), "10..20");
    }

    #[test]
    fn errors_name_what_is_missing() {
        let c = composition(vec![feature(
            "iw",
            "TCP_BPF_IW",
            WriteValue::Param("iw".into()),
            ACTIVE,
            LOOP2,
        )]);
        let no_ip: BTreeMap<String, Literal> = [("op".to_string(), Literal::Int(ACTIVE))].into();
        let e = predict(&c, &[id("iw")], &no_ip).unwrap_err();
        assert!(
            matches!(&e, PredictError::Eval { source: EvalError::MissingField { field }, .. } if field == "remote_ip4"),
            "{e}"
        );
        let e = predict(&c, &[id("nope")], &event(ACTIVE, [127, 0, 0, 2])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the order names `nope`, which is not in the composition"
        );
    }

    #[test]
    fn enum_values_by_short_or_full_name() {
        let c = composition(vec![]);
        assert_eq!(enum_value(&c, "op", "ACTIVE_ESTABLISHED_CB"), Ok(ACTIVE));
        assert_eq!(
            enum_value(&c, "op", "BPF_SOCK_OPS_TCP_CONNECT_CB"),
            Ok(CONNECT)
        );
        assert!(matches!(
            enum_value(&c, "op", "CB"),
            Err(PredictError::UnknownName { .. })
        ));
        assert!(matches!(
            enum_value(&c, "op", "ESTABLISHED"),
            Err(PredictError::UnknownName { .. })
        ));
        assert!(matches!(
            enum_value(&c, "remote_ip4", "X"),
            Err(PredictError::NotAnEnum { .. })
        ));
    }

    /// The demo composition, loaded from its real specs: what each
    /// loopback peer gets at each callback.
    #[test]
    fn the_demo_composition_on_loopback_peers() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo/loopback.yaml");
        let c = crate::load::load(&path, &Default::default())
            .expect("the demo composition loads")
            .composition;
        let order: Vec<MemberId> = c.members().map(|(m, _, _)| m).collect();
        let at = |op: &str, ip: [u8; 4]| {
            let ev: BTreeMap<String, Literal> = [
                ("op", enum_value(&c, "op", op).unwrap()),
                ("family", enum_value(&c, "family", "AF_INET").unwrap()),
                ("remote_ip4", u64::from(u32::from_be_bytes(ip))),
                ("local_ip4", u64::from(u32::from_be_bytes(ip))),
                ("remote_port", 443),
                ("local_port", 50000),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Literal::Int(v)))
            .collect();
            predict(&c, &order, &ev).unwrap()
        };
        let int = |v: u64| Some(PredictedValue::Exact(Literal::Int(v)));
        let value = |p: &Prediction, f: &str| p.effective(f).map(|(v, _)| v);

        let est = at("ACTIVE_ESTABLISHED_CB", [127, 0, 0, 2]);
        assert_eq!(value(&est, "TCP_BPF_IW"), int(40));
        assert_eq!(value(&est, "TCP_BPF_RTO_MIN"), int(5000));
        assert_eq!(value(&est, "SO_SNDBUF"), int(1_048_576));
        assert_eq!(value(&est, "TCP_MAXSEG"), None, "only before the SYN");
        let connect = at("TCP_CONNECT_CB", [127, 0, 0, 2]);
        assert_eq!(value(&connect, "TCP_MAXSEG"), int(1400));
        assert_eq!(
            value(&connect, "TCP_CONGESTION"),
            Some(PredictedValue::Exact(Literal::Str("bpf_dctcp".into())))
        );
        // Two features write `reply`, each at its own callback.
        let reply = |op| {
            let p = at(op, [127, 0, 0, 2]);
            p.effective("reply").map(|(v, by)| (v, by.feature.clone()))
        };
        assert_eq!(
            reply("RWND_INIT"),
            Some((PredictedValue::Exact(Literal::Int(4)), "rwnd_init".into()))
        );
        assert_eq!(
            reply("NEEDS_ECN"),
            Some((PredictedValue::Exact(Literal::Int(1)), "bpf_dctcp".into()))
        );
        // 127.0.0.3: init_cwnd and rto_min only; 127.0.0.1: nothing.
        let three = at("ACTIVE_ESTABLISHED_CB", [127, 0, 0, 3]);
        let fields: Vec<&str> = three.writes.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["TCP_BPF_IW", "TCP_BPF_RTO_MIN"]);
        for op in [
            "TCP_CONNECT_CB",
            "RWND_INIT",
            "NEEDS_ECN",
            "ACTIVE_ESTABLISHED_CB",
            "PASSIVE_ESTABLISHED_CB",
        ] {
            assert!(at(op, [127, 0, 0, 1]).is_empty(), "{op}");
        }
    }

    /// IPv6 events: an IPv4-mapped peer of a dual-stack socket is in the
    /// demo's IPv4 prefixes (through `remote_ip`), a native IPv6 peer is not.
    #[test]
    fn ipv6_events_follow_the_family_independent_peer() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo/loopback.yaml");
        let c = crate::load::load(&path, &Default::default())
            .expect("the demo composition loads")
            .composition;
        let order: Vec<MemberId> = c.members().map(|(m, _, _)| m).collect();
        let at = |peer: &str| {
            let ip: std::net::Ipv6Addr = peer.parse().unwrap();
            let mut ev: BTreeMap<String, Literal> = [
                ("op", enum_value(&c, "op", "ACTIVE_ESTABLISHED_CB").unwrap()),
                ("family", enum_value(&c, "family", "AF_INET6").unwrap()),
                ("remote_port", 443),
                ("local_port", 50000),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Literal::Int(v)))
            .collect();
            ev.extend(address_fields("remote_ip6", ip));
            ev.extend(address_fields("local_ip6", ip));
            predict(&c, &order, &ev).unwrap()
        };
        let mapped = at("::ffff:127.0.0.2");
        assert_eq!(
            mapped.effective("TCP_BPF_IW").map(|(v, _)| v),
            Some(PredictedValue::Exact(Literal::Int(40)))
        );
        assert!(at("2001:db8::2").is_empty());
        assert!(at("::1").is_empty());
    }
}
