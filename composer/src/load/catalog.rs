//! The hook catalog (`specs/hooks/<hook>.yaml`): readable context fields,
//! writable socket fields with their write method and merge rule, and
//! cross-field invariants.

use std::collections::BTreeMap;

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;

use super::error::LoadErrorKind;
use super::field_semantics;
use super::value::{scalar_type, unknown_type, SCALAR_TYPES, STRING_MAX_LEN};
use super::yaml::{Cx, Doc};
use crate::ir::{
    CmpOp, HookCatalog, Invariant, ReadOption, ReadableField, ValueType, WritableField, WriteMethod,
};
use crate::suggest::did_you_mean;

pub(crate) const TOP_KEYS: &[&str] = &[
    "hook",
    "context",
    "default_verdict",
    "readable",
    "writable",
    "read_only_options",
    "connection_ends",
    "invariants",
];
const READ_KEYS: &[&str] = &[
    "type",
    "offset",
    "size",
    "byte_order",
    "description",
    "variants",
    "max_len",
];
const WRITE_KEYS: &[&str] = &[
    "type",
    "method",
    "merge",
    "description",
    "max_len",
    "variants",
    "read",
    "updates",
    "persistent",
    "honoured_at",
    "initial",
];
const INV_KEYS: &[&str] = &["name", "lhs", "op", "rhs", "description"];

pub(crate) fn catalog(cx: &mut Cx<'_>, doc: &Doc) -> Option<HookCatalog> {
    let root = &doc.root;
    let before = cx.errors.len();
    cx.check_keys(root, TOP_KEYS, "the hook catalog");
    let hook = cx
        .required(root, "hook", "the hook catalog")
        .and_then(|n| cx.name(n, "hook"))
        .map(|s| s.as_str().to_string());
    let default_verdict = match root.get_node("default_verdict") {
        Some(n) => cx
            .uint(n, "default_verdict")
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(1),
        None => 1,
    };
    let mut readable = BTreeMap::new();
    if let Some(m) = cx
        .required(root, "readable", "the hook catalog")
        .and_then(|n| cx.mapping(n, "readable"))
    {
        for (k, v) in m.iter() {
            let name = k.as_str().to_string();
            if let Some(words) = wide_field(cx, &name, v) {
                for f in words {
                    readable.insert(f.name.clone(), f);
                }
            } else if let Some(f) = readable_field(cx, &name, v) {
                readable.insert(name, f);
            }
        }
    }
    let mut writable = BTreeMap::new();
    if let Some(m) = cx
        .required(root, "writable", "the hook catalog")
        .and_then(|n| cx.mapping(n, "writable"))
    {
        for (k, v) in m.iter() {
            let name = k.as_str().to_string();
            if readable.contains_key(&name) {
                cx.err(
                    k.span(),
                    LoadErrorKind::Duplicate {
                        what: "field name (readable and writable)".into(),
                        name: name.clone(),
                        first: "readable".into(),
                    },
                );
            }
            if let Some(f) = writable_field(cx, &name, v, &readable) {
                writable.insert(name, f);
            }
        }
    }
    let mut read_options = BTreeMap::new();
    if let Some(m) = root
        .get_node("read_only_options")
        .and_then(|n| cx.mapping(n, "read_only_options"))
    {
        for (k, v) in m.iter() {
            let name = k.as_str().to_string();
            if readable.contains_key(&name) || writable.contains_key(&name) {
                cx.err(
                    k.span(),
                    LoadErrorKind::Duplicate {
                        what: "field name (read-only option and field)".into(),
                        name: name.clone(),
                        first: "readable or writable".into(),
                    },
                );
            }
            if let Some(o) = read_option(cx, &name, v) {
                read_options.insert(name, o);
            }
        }
    }
    let connection = match root.get_node("connection_ends") {
        Some(n) => super::connection::connection(cx, n, &readable),
        None => None,
    };
    let mut invariants = Vec::new();
    if let Some(items) = root
        .get_node("invariants")
        .and_then(|n| cx.list(n, "invariants"))
    {
        for item in items {
            if let Some(inv) = invariant(cx, item, &writable) {
                invariants.push(inv);
            }
        }
    }
    if cx.errors.len() != before {
        return None;
    }
    Some(HookCatalog {
        hook: hook?,
        default_verdict,
        readable,
        writable,
        read_options,
        connection,
        invariants,
    })
}

/// A `read_only_options:` entry: a `getsockopt` method and a description.
fn read_option(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<ReadOption> {
    let what = format!("read-only option `{name}`");
    let m = cx.mapping(node, &what)?;
    cx.check_keys(m, &["method", "description"], &what);
    let mn = cx.required(m, "method", &what)?;
    let mm = cx.mapping(mn, "method")?;
    cx.check_keys(
        mm,
        &["kind", "level", "level_value", "option", "option_value"],
        "a getsockopt method",
    );
    let kind = cx.required(mm, "kind", "method")?;
    if cx.string(kind, "method kind")?.as_str() != "getsockopt" {
        cx.wrong(
            kind,
            "method kind",
            "getsockopt (a read-only option is read, never written)",
        );
        return None;
    }
    let text = |cx: &mut Cx<'_>, key: &str| -> Option<String> {
        let n = cx.required(mm, key, "method")?;
        cx.string(n, key).map(|s| s.as_str().to_string())
    };
    let int = |cx: &mut Cx<'_>, key: &str| -> Option<i32> {
        let n = cx.required(mm, key, "method")?;
        cx.uint(n, key).and_then(|v| i32::try_from(v).ok())
    };
    let (level, level_value) = (text(cx, "level"), int(cx, "level_value"));
    let (option, option_value) = (text(cx, "option"), int(cx, "option_value"));
    Some(ReadOption {
        name: name.into(),
        level: level?,
        level_value: level_value?,
        option: option?,
        option_value: option_value?,
        description: m
            .get_scalar("description")
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    })
}

/// `type:` (+ `max_len:` / `variants:`) of a catalog field.
fn field_type(cx: &mut Cx<'_>, m: &MarkedMappingNode, what: &str) -> Option<ValueType> {
    let tnode = cx.required(m, "type", what)?;
    let tname = cx.string(tnode, "type")?.as_str().to_string();
    if tname == "enum" {
        let vm = cx
            .required(m, "variants", what)
            .and_then(|n| cx.mapping(n, "variants"))?;
        let mut variants = Vec::new();
        for (k, v) in vm.iter() {
            let value = cx.uint(v, &format!("the value of {}", k.as_str()))?;
            if value > u64::from(u32::MAX) {
                cx.err(
                    v.span(),
                    LoadErrorKind::OutOfRange {
                        what: format!("enum value {}", k.as_str()),
                        value: value.to_string(),
                        min: "0".into(),
                        max: u32::MAX.to_string(),
                    },
                );
                return None;
            }
            variants.push((k.as_str().to_string(), value));
        }
        if variants.is_empty() {
            cx.wrong(tnode, "variants", "at least one variant");
            return None;
        }
        return Some(ValueType::Enum { variants });
    }
    let max_len = match m.get_node("max_len") {
        Some(n) => u32::try_from(cx.uint(n, "max_len")?).ok()?,
        None => STRING_MAX_LEN,
    };
    let mut valid: Vec<&str> = SCALAR_TYPES.to_vec();
    valid.push("enum");
    match scalar_type(&tname, max_len) {
        Some(t) => Some(t),
        None => {
            unknown_type(cx, tnode, &tname, &valid);
            None
        }
    }
}

/// A 128-bit field (`type: ipv6`, 16 bytes at `offset`) or a virtual
/// address of either family (`type: ip`, no offset: `remote_ip` is
/// `remote_ip6` on AF_INET6 sockets, else `remote_ip4` IPv4-mapped), split
/// into four `u32` words `name[0]`..`name[3]` (see `guard::wide`); `None`
/// for any other type.
fn wide_field(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<Vec<ReadableField>> {
    let m = node.as_mapping()?;
    let tname = m.get_scalar("type")?.as_str();
    if tname != "ipv6" && tname != "ip" {
        return None;
    }
    let what = format!("readable field `{name}`");
    cx.check_keys(m, READ_KEYS, &what);
    let offset = m
        .get_node("offset")
        .and_then(|n| cx.uint(n, "offset"))
        .and_then(|v| u32::try_from(v).ok());
    if tname == "ipv6" && offset.is_none() {
        cx.required(m, "offset", &what);
    }
    Some(
        (0..4u32)
            .map(|i| ReadableField {
                name: crate::ir::word_field(name, i as usize),
                ty: ValueType::U32,
                offset: offset.filter(|_| tname == "ipv6").map(|o| o + 4 * i),
                size: offset.filter(|_| tname == "ipv6").map(|_| 4),
            })
            .collect(),
    )
}

fn readable_field(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<ReadableField> {
    let what = format!("readable field `{name}`");
    let m = cx.mapping(node, &what)?;
    cx.check_keys(m, READ_KEYS, &what);
    let ty = field_type(cx, m, &what);
    let offset = m
        .get_node("offset")
        .and_then(|n| cx.uint(n, "offset"))
        .and_then(|v| u32::try_from(v).ok());
    let size = m
        .get_node("size")
        .and_then(|n| cx.uint(n, "size"))
        .and_then(|v| u32::try_from(v).ok());
    Some(ReadableField {
        name: name.into(),
        ty: ty?,
        offset,
        size,
    })
}

fn writable_field(
    cx: &mut Cx<'_>,
    name: &str,
    node: &Node,
    readable: &BTreeMap<String, ReadableField>,
) -> Option<WritableField> {
    let what = format!("writable field `{name}`");
    let m = cx.mapping(node, &what)?;
    cx.check_keys(m, WRITE_KEYS, &what);
    let ty = field_type(cx, m, &what);
    let method = cx.required(m, "method", &what).and_then(|n| method(cx, n));
    let merge_ok = match m.get_node("merge") {
        None => true,
        Some(n) => match cx.string(n, "merge").map(|s| s.as_str()) {
            Some("conflict") => true,
            Some("or") => {
                cx.wrong(
                    n,
                    "merge",
                    "`conflict` (writes are assignments; a read-modify-write that ORs into \
                     the current value is declared per write with `update: or`, which the \
                     field allows with `updates: [set, or]`)",
                );
                false
            }
            Some(other) => {
                let other = other.to_string();
                cx.err(
                    n.span(),
                    LoadErrorKind::UnknownName {
                        what: "merge rule".into(),
                        suggestion: did_you_mean(&other, ["conflict"]),
                        name: other,
                        choices: vec!["conflict".into()],
                    },
                );
                false
            }
            None => false,
        },
    };
    let description = m
        .get_scalar("description")
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let (ty, method) = (ty?, method?);
    let mut field = WritableField::new(name, ty, method);
    field.description = description;
    let semantics = field_semantics::parse(cx, m, &mut field, readable);
    (merge_ok && semantics).then_some(field)
}

fn method(cx: &mut Cx<'_>, node: &Node) -> Option<WriteMethod> {
    let m = cx.mapping(node, "method")?;
    let kind_node = cx.required(m, "kind", "method")?;
    let kind = cx.string(kind_node, "method kind")?.as_str().to_string();
    let int = |cx: &mut Cx<'_>, key: &str| -> Option<i64> {
        let n = cx.required(m, key, "method")?;
        cx.uint(n, key).and_then(|v| i64::try_from(v).ok())
    };
    let text = |cx: &mut Cx<'_>, key: &str| -> Option<String> {
        let n = cx.required(m, key, "method")?;
        cx.string(n, key).map(|s| s.as_str().to_string())
    };
    match kind.as_str() {
        "context_store" => {
            cx.check_keys(m, &["kind", "offset", "size"], "a context_store method");
            Some(WriteMethod::ContextStore {
                offset: u32::try_from(int(cx, "offset")?).ok()?,
            })
        }
        "setsockopt" => {
            cx.check_keys(
                m,
                &["kind", "level", "level_value", "option", "option_value"],
                "a setsockopt method",
            );
            let level = text(cx, "level");
            let level_value = int(cx, "level_value");
            let option = text(cx, "option");
            let option_value = int(cx, "option_value");
            Some(WriteMethod::Setsockopt {
                level: level?,
                level_value: i32::try_from(level_value?).ok()?,
                option: option?,
                option_value: i32::try_from(option_value?).ok()?,
            })
        }
        "helper" => {
            cx.check_keys(m, &["kind", "name", "id"], "a helper method");
            let name = text(cx, "name");
            let id = int(cx, "id");
            Some(WriteMethod::Helper {
                name: name?,
                id: u32::try_from(id?).ok()?,
            })
        }
        other => {
            let choices = ["context_store", "setsockopt", "helper"];
            cx.err(
                kind_node.span(),
                LoadErrorKind::UnknownName {
                    what: "method kind".into(),
                    name: other.into(),
                    suggestion: did_you_mean(other, choices),
                    choices: choices.iter().map(|s| s.to_string()).collect(),
                },
            );
            None
        }
    }
}

fn invariant(
    cx: &mut Cx<'_>,
    node: &Node,
    writable: &BTreeMap<String, WritableField>,
) -> Option<Invariant> {
    let m = cx.mapping(node, "an invariant")?;
    cx.check_keys(m, INV_KEYS, "an invariant");
    let name = cx
        .required(m, "name", "an invariant")
        .and_then(|n| cx.name(n, "invariant name"))
        .map(|s| s.as_str().to_string());
    let side = |cx: &mut Cx<'_>, key: &str| -> Option<String> {
        let n = cx.required(m, key, "an invariant")?;
        let s = cx.string(n, key)?;
        if !writable.contains_key(s.as_str()) {
            let choices: Vec<String> = writable.keys().cloned().collect();
            cx.err(
                s.span(),
                LoadErrorKind::UnknownField {
                    name: s.as_str().into(),
                    note: Some("an invariant relates writable fields".into()),
                    suggestion: did_you_mean(s.as_str(), choices.iter().map(String::as_str)),
                    choices,
                },
            );
            return None;
        }
        Some(s.as_str().to_string())
    };
    let lhs = side(cx, "lhs");
    let rhs = side(cx, "rhs");
    let op_node = cx.required(m, "op", "an invariant")?;
    let op = match cx.string(op_node, "op")?.as_str() {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        other => {
            let choices = ["==", "!=", "<", "<=", ">", ">="];
            cx.err(
                op_node.span(),
                LoadErrorKind::UnknownName {
                    what: "comparison".into(),
                    name: other.into(),
                    suggestion: None,
                    choices: choices.iter().map(|s| s.to_string()).collect(),
                },
            );
            return None;
        }
    };
    let description = m
        .get_scalar("description")
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    Some(Invariant {
        name: name?,
        lhs: lhs?,
        op,
        rhs: rhs?,
        description,
    })
}
