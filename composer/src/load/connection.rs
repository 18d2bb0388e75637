//! `connection_ends:` of a hook catalog: the callbacks one end of a
//! connection goes through, in the kernel's order, and the context fields
//! that keep one value across them. Persistent writable fields written at
//! two of those callbacks meet (`check` compares them).
//!
//! ```yaml
//! connection_ends:
//!   per_end: [family, remote_ip4, remote_port, ...]
//!   ends:
//!     active: [TCP_CONNECT_CB, RWND_INIT, ..., {any_order: [RTO_CB, RTT_CB]}]
//! ```

use std::collections::{BTreeMap, BTreeSet};

use marked_yaml::Node;

use super::value::literal;
use super::yaml::Cx;
use crate::ir::{word_field, ConnectionEnd, ConnectionModel, EndStep, Literal, ReadableField};

pub(super) fn connection(
    cx: &mut Cx<'_>,
    node: &Node,
    readable: &BTreeMap<String, ReadableField>,
) -> Option<ConnectionModel> {
    let what = "connection_ends";
    let m = cx.mapping(node, what)?;
    cx.check_keys(m, &["per_end", "ends", "description"], what);
    let before = cx.errors.len();
    let mut per_end = BTreeSet::new();
    if let Some(items) = cx
        .required(m, "per_end", what)
        .and_then(|n| cx.list(n, "per_end"))
    {
        for item in items {
            let Some(s) = cx.string(item, "a per-end field") else {
                continue;
            };
            let name = s.as_str();
            if readable.contains_key(name) {
                per_end.insert(name.to_string());
            } else if readable.contains_key(&word_field(name, 0)) {
                per_end.extend((0..4).map(|i| word_field(name, i)));
            } else {
                cx.wrong(item, "a per-end field", "a readable field of the catalog");
            }
        }
    }
    let Some(op) = readable.get("op") else {
        cx.wrong(node, what, "nothing: the catalog has no `op` field");
        return None;
    };
    let mut ends = Vec::new();
    if let Some(em) = cx
        .required(m, "ends", what)
        .and_then(|n| cx.mapping(n, "ends"))
    {
        for (k, v) in em.iter() {
            let Some(items) = cx.list(v, "a connection end") else {
                continue;
            };
            let mut steps = Vec::new();
            for item in items {
                let (ops_nodes, any_order): (Vec<&Node>, bool) = match item {
                    Node::Mapping(sm) => {
                        cx.check_keys(sm, &["any_order"], "a step");
                        match cx
                            .required(sm, "any_order", "a step")
                            .and_then(|n| cx.list(n, "any_order"))
                        {
                            Some(l) => (l.iter().collect(), true),
                            None => continue,
                        }
                    }
                    n => (vec![n], false),
                };
                let mut ops = Vec::new();
                for n in ops_nodes {
                    if let Some(Literal::Int(v)) = literal(cx, n, &op.ty, "a callback", None, None)
                    {
                        ops.push(v);
                    }
                }
                steps.push(EndStep { ops, any_order });
            }
            ends.push(ConnectionEnd {
                name: k.as_str().to_string(),
                steps,
            });
        }
    }
    (cx.errors.len() == before).then_some(ConnectionModel { per_end, ends })
}
