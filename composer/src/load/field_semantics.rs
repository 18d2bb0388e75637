//! What a catalog's writable field means to the kernel beyond how it is
//! written: how a program reads its current value (`read:`), whether a
//! write may OR into it (`updates:`), whether it stays set across the
//! callbacks of a connection (`persistent:`), where the kernel uses it
//! (`honoured_at:`) and what it holds before anyone writes it (`initial:`).

use std::collections::BTreeMap;

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;

use super::value::literal;
use super::yaml::Cx;
use crate::ir::{Initial, Literal, ReadMethod, ReadableField, WritableField, WriteMethod};

/// Fills `field` from the optional keys of its mapping `m`; false after an
/// error (reported on `cx`).
pub(super) fn parse(
    cx: &mut Cx<'_>,
    m: &MarkedMappingNode,
    field: &mut WritableField,
    readable: &BTreeMap<String, ReadableField>,
) -> bool {
    let before = cx.errors.len();
    if let Some(n) = m.get_node("read") {
        field.read = read_method(cx, n, field);
    }
    if let Some(n) = m.get_node("updates") {
        field.or_update = updates(cx, n);
    }
    if let Some(n) = m.get_node("persistent") {
        match cx.string(n, "persistent").map(|s| s.as_str()) {
            Some("true") => field.persistent = true,
            Some("false") => field.persistent = false,
            _ => cx.wrong(n, "persistent", "true or false"),
        }
    }
    if let Some(n) = m.get_node("honoured_at") {
        field.honoured_at = ops(cx, n, "honoured_at", readable);
    }
    if let Some(n) = m.get_node("initial") {
        field.initial = initial(cx, n, field, readable);
        if field.initial.is_some() && field.persistent {
            cx.wrong(
                n,
                "initial",
                "unknown (a persistent field holds what earlier callbacks of the connection \
                 wrote, so before a callback's writes its value is not known)",
            );
        }
    }
    cx.errors.len() == before
}

/// `read: { kind: context_load, offset, size }` or `read: { kind: getsockopt }`.
fn read_method(cx: &mut Cx<'_>, node: &Node, field: &WritableField) -> Option<ReadMethod> {
    let m = cx.mapping(node, "read")?;
    let kind_node = cx.required(m, "kind", "read")?;
    match cx.string(kind_node, "read kind")?.as_str() {
        "context_load" => {
            cx.check_keys(m, &["kind", "offset", "size"], "a context_load read");
            let mut int = |key: &str| {
                let n = cx.required(m, key, "a context_load read")?;
                cx.uint(n, key).and_then(|v| u32::try_from(v).ok())
            };
            let (offset, size) = (int("offset"), int("size"));
            Some(ReadMethod::ContextLoad {
                offset: offset?,
                size: size?,
            })
        }
        "getsockopt" if matches!(field.method, WriteMethod::Setsockopt { .. }) => {
            cx.check_keys(m, &["kind"], "a getsockopt read");
            Some(ReadMethod::Getsockopt)
        }
        "getsockopt" => {
            cx.wrong(
                kind_node,
                "read kind",
                "context_load (getsockopt reads only a field written with setsockopt)",
            );
            None
        }
        _ => {
            cx.wrong(kind_node, "read kind", "context_load or getsockopt");
            None
        }
    }
}

/// `updates: [set]` or `[set, or]`: whether `update: or` is allowed.
fn updates(cx: &mut Cx<'_>, node: &Node) -> bool {
    let Some(items) = cx.list(node, "updates") else {
        return false;
    };
    let mut or = false;
    for item in items {
        match cx.string(item, "an update").map(|s| s.as_str()) {
            Some("set") => {}
            Some("or") => or = true,
            _ => cx.wrong(item, "an update", "set or or"),
        }
    }
    or
}

/// A list of `op` names (full or without the common prefix).
fn ops(
    cx: &mut Cx<'_>,
    node: &Node,
    what: &str,
    readable: &BTreeMap<String, ReadableField>,
) -> Option<Vec<u64>> {
    let Some(op) = readable.get("op") else {
        cx.wrong(node, what, "nothing: the catalog has no `op` field to name");
        return None;
    };
    let items = cx.list(node, what)?;
    let mut out = Vec::new();
    for item in items {
        if let Some(Literal::Int(v)) = literal(cx, item, &op.ty, what, None, None) {
            out.push(v);
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// `initial: unknown`, `initial: <literal>` or `initial: { value, at: [ops] }`.
fn initial(
    cx: &mut Cx<'_>,
    node: &Node,
    field: &WritableField,
    readable: &BTreeMap<String, ReadableField>,
) -> Option<Initial> {
    let what = format!("the initial value of `{}`", field.name);
    match node {
        Node::Scalar(s) if s.as_str() == "unknown" => None,
        Node::Mapping(m) => {
            cx.check_keys(m, &["value", "at"], "an initial value");
            let v = cx.required(m, "value", "an initial value")?;
            let value = literal(cx, v, &field.ty, &what, None, None)?;
            let at = match m.get_node("at") {
                Some(n) => Some(ops(cx, n, "at", readable)?),
                None => None,
            };
            Some(Initial { value, at })
        }
        n => literal(cx, n, &field.ty, &what, None, None).map(|value| Initial { value, at: None }),
    }
}
