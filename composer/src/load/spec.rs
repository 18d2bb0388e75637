//! One feature spec: its config params, its programs, their reads and
//! writes, and the `when:` guards, all checked against the hook catalog.

use std::collections::BTreeMap;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::Node;

use super::error::{LoadErrorKind, Location};
use super::value::{
    config_value, literal, scalar_type, type_label, unknown_type, PARAM_TYPES, STRING_MAX_LEN,
};
use super::yaml::{position_in_scalar, Cx, Doc};
use crate::guard::{self, Scope};
use crate::ir::{
    Feature, HookCatalog, Literal, ObjectLocation, ObjectRef, Param, ParamType, Program, Span,
    Update, ValueType, Write, WriteValue,
};
use crate::suggest::did_you_mean;

pub(crate) const TOP_KEYS: &[&str] = &[
    "feature",
    "description",
    "config",
    "programs",
    "after",
    "before",
];
const PARAM_KEYS: &[&str] = &["type", "min", "max", "default", "description", "max_len"];
const PROGRAM_KEYS: &[&str] = &[
    "name",
    "hook",
    "object",
    "reads",
    "writes",
    "description",
    "ends_chain",
];
const WRITE_KEYS: &[&str] = &["field", "value", "when", "update", "description"];

/// A loaded spec plus where its names were written, for the composition's
/// messages. `feature.config` holds the params' defaults only.
pub(crate) struct SpecDraft {
    pub feature: Feature,
    pub name_at: Location,
    /// Where each `after:`/`before:` name was written.
    pub order_at: BTreeMap<String, Location>,
}

pub(crate) fn spec(cx: &mut Cx<'_>, doc: &Doc, catalog: &HookCatalog) -> Option<SpecDraft> {
    let root = &doc.root;
    let before = cx.errors.len();
    cx.check_keys(root, TOP_KEYS, "a feature spec");
    let name_node = cx
        .required(root, "feature", "a feature spec")
        .and_then(|n| cx.name(n, "feature name"));
    let name = name_node.map(|n| n.as_str().to_string());
    let name_at = match name_node {
        Some(n) => cx.at(n.span()),
        None => cx.at(root.span()),
    };
    let description = root
        .get_scalar("description")
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();

    let params = match root.get_node("config") {
        Some(n) => params(cx, n),
        None => Vec::new(),
    };
    let mut programs = Vec::new();
    let programs_node = cx.required(root, "programs", "a feature spec");
    if let Some((node, items)) = programs_node.and_then(|n| cx.list(n, "programs").map(|l| (n, l)))
    {
        if items.is_empty() {
            cx.err(
                node.span(),
                LoadErrorKind::Invalid {
                    what: "programs".into(),
                    text: "[]".into(),
                    reason: "a feature needs at least one program".into(),
                },
            );
        }
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();
        for item in items {
            if let Some((p, at)) = program(cx, doc, item, catalog, &params) {
                if let Some(first) = seen.get(&p.name) {
                    cx.err_at(
                        at,
                        LoadErrorKind::Duplicate {
                            what: "program".into(),
                            name: p.name.clone(),
                            first: first.to_string(),
                        },
                    );
                    continue;
                }
                seen.insert(p.name.clone(), at);
                programs.push(p);
            }
        }
    }
    let mut order_at = BTreeMap::new();
    let mut names = |cx: &mut Cx<'_>, key: &str| -> Vec<String> {
        let Some(items) = root.get_node(key).and_then(|n| cx.list(n, key)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(s) = cx.name(item, &format!("`{key}` feature name")) {
                if Some(s.as_str()) == name.as_deref() {
                    cx.err(
                        s.span(),
                        LoadErrorKind::SelfDependency {
                            what: key.into(),
                            feature: s.as_str().into(),
                        },
                    );
                    continue;
                }
                order_at.insert(s.as_str().to_string(), cx.at(s.span()));
                out.push(s.as_str().to_string());
            }
        }
        out
    };
    let after = names(cx, "after");
    let before_ = names(cx, "before");
    if cx.errors.len() != before {
        return None;
    }
    let config = params
        .iter()
        .filter_map(|p| p.default.clone().map(|d| (p.name.clone(), d)))
        .collect();
    Some(SpecDraft {
        feature: Feature {
            name: name?,
            description,
            spec_path: doc.path.clone(),
            params,
            config,
            programs,
            after,
            before: before_,
        },
        name_at,
        order_at,
    })
}

fn params(cx: &mut Cx<'_>, node: &Node) -> Vec<Param> {
    let Some(m) = cx.mapping(node, "config") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m.iter() {
        let key = Node::Scalar(k.clone());
        let Some(key) = cx.name(&key, "param name") else {
            continue;
        };
        let name = key.as_str().to_string();
        if let Some(p) = param(cx, &name, v) {
            out.push(p);
        }
    }
    out
}

fn param(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<Param> {
    let what = format!("param `{name}`");
    let m = cx.mapping(node, &what)?;
    cx.check_keys(m, PARAM_KEYS, &what);
    let tnode = cx.required(m, "type", &what)?;
    let tname = cx.string(tnode, "type")?.as_str().to_string();
    let max_len = match m.get_node("max_len") {
        Some(n) => {
            let v = cx.uint(n, "max_len")?;
            if v == 0 || v > u64::from(STRING_MAX_LEN) {
                cx.err(
                    n.span(),
                    LoadErrorKind::OutOfRange {
                        what: "max_len".into(),
                        value: v.to_string(),
                        min: "1".into(),
                        max: STRING_MAX_LEN.to_string(),
                    },
                );
                return None;
            }
            v as u32
        }
        None => STRING_MAX_LEN,
    };
    let ty = match tname.as_str() {
        "cidr4_set" => ParamType::Cidr4Set,
        "cidr6_set" => ParamType::Cidr6Set,
        "cidr_set" => ParamType::CidrSet,
        "port_set" => ParamType::PortSet,
        other => match scalar_type(other, max_len) {
            Some(ty) => {
                let numeric = matches!(
                    ty,
                    ValueType::U8
                        | ValueType::U16
                        | ValueType::U32
                        | ValueType::U64
                        | ValueType::Ipv4
                );
                let mut bound = |key: &str| -> Option<Option<u64>> {
                    match m.get_node(key) {
                        None => Some(None),
                        Some(n) if !numeric => {
                            cx.wrong(n, key, &format!("no `{key}` for a {tname} param"));
                            None
                        }
                        Some(n) => literal(cx, n, &ty, key, None, None).map(|l| match l {
                            Literal::Int(v) => Some(v),
                            Literal::Str(_) => None,
                        }),
                    }
                };
                let min = bound("min")?;
                let max = bound("max")?;
                if let (Some(lo), Some(hi)) = (min, max) {
                    if lo > hi {
                        cx.err(m.span(), LoadErrorKind::EmptyRange { min: lo, max: hi });
                        return None;
                    }
                }
                ParamType::Scalar { ty, min, max }
            }
            None => {
                unknown_type(cx, tnode, other, PARAM_TYPES);
                return None;
            }
        },
    };
    let default = match m.get_node("default") {
        Some(n) => Some(config_value(
            cx,
            n,
            &ty,
            &format!("the default of `{name}`"),
        )?),
        None => None,
    };
    Some(Param {
        name: name.into(),
        ty,
        default,
    })
}

/// The program's `object:`: `builtin:<name>` (an object built into
/// accord) or a path, resolved relative to the spec file. Whether the file
/// exists or the name is built in is for whoever loads it to say.
fn object_ref(cx: &mut Cx<'_>, doc: &Doc, m: &MarkedMappingNode) -> Option<ObjectRef> {
    let (key, node) = m.iter().find(|(k, _)| k.as_str() == "object")?;
    let at = cx.at(key.span());
    let span = Some(Span {
        file: cx.file.to_path_buf(),
        line: at.line.unwrap_or(0),
        column: at.column.unwrap_or(0),
    });
    let text = cx.string(node, "object")?.as_str();
    let location = match text.strip_prefix(ObjectRef::BUILTIN_PREFIX) {
        Some(name) if is_builtin_name(name) => ObjectLocation::Builtin(name.to_owned()),
        Some(_) => {
            cx.wrong(
                node,
                "object",
                "`builtin:` and an object name such as builtin:init_cwnd",
            );
            return None;
        }
        None => {
            let rel = std::path::Path::new(text);
            ObjectLocation::File(
                doc.path
                    .parent()
                    .map(|d| d.join(rel))
                    .unwrap_or_else(|| rel.to_path_buf()),
            )
        }
    };
    Some(ObjectRef { location, span })
}

/// A built-in object's name: letters, digits and `_`, not starting with a digit.
fn is_builtin_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn program(
    cx: &mut Cx<'_>,
    doc: &Doc,
    node: &Node,
    catalog: &HookCatalog,
    params: &[Param],
) -> Option<(Program, Location)> {
    let m = cx.mapping(node, "a program")?;
    cx.check_keys(m, PROGRAM_KEYS, "a program");
    let at = cx.at(m.span());
    let name = cx
        .required(m, "name", "a program")
        .and_then(|n| cx.name(n, "program name"))
        .map(|s| s.as_str().to_string());
    let hook = match m.get_node("hook") {
        Some(n) => cx
            .string(n, "hook")
            .map(|s| (s.as_str().to_string(), s.span())),
        None => None,
    };
    if let (Some((h, span)), Some(pname)) = (&hook, &name) {
        if h != &catalog.hook {
            cx.err(
                span,
                LoadErrorKind::HookMismatch {
                    program: pname.clone(),
                    hook: h.clone(),
                    expected: catalog.hook.clone(),
                },
            );
        }
    }
    let object = object_ref(cx, doc, m);
    let mut reads = Vec::new();
    if let Some(items) = m.get_node("reads").and_then(|n| cx.list(n, "reads")) {
        for item in items {
            let Some(s) = cx.string(item, "a read field") else {
                continue;
            };
            let f = s.as_str();
            if catalog.readable.contains_key(f)
                || catalog.writable.contains_key(f)
                || catalog.read_options.contains_key(f)
            {
                reads.push(f.to_string());
            } else if let Some(words) = wide_reads(catalog, f) {
                reads.extend(words);
            } else {
                // Users name 128-bit fields whole (`remote_ip6`), never by word.
                let mut choices: Vec<String> = catalog
                    .readable
                    .keys()
                    .map(|k| {
                        crate::ir::wide_of(k)
                            .map_or(k.as_str(), |(b, _)| b)
                            .to_string()
                    })
                    .collect();
                choices.dedup();
                choices.extend(catalog.writable.keys().cloned());
                choices.extend(catalog.read_options.keys().cloned());
                cx.err(
                    s.span(),
                    LoadErrorKind::UnknownField {
                        name: f.into(),
                        note: None,
                        suggestion: did_you_mean(f, choices.iter().map(String::as_str)),
                        choices,
                    },
                );
            }
        }
    }
    let ends_chain = match m.get_node("ends_chain") {
        None => false,
        Some(n) => match cx.string(n, "ends_chain").map(|s| s.as_str().to_string()) {
            Some(s) if s == "true" => true,
            Some(s) if s == "false" => false,
            Some(_) => {
                cx.wrong(n, "ends_chain", "true or false");
                false
            }
            None => false,
        },
    };
    let mut writes = Vec::new();
    if let Some(items) = m.get_node("writes").and_then(|n| cx.list(n, "writes")) {
        for item in items {
            if let Some(w) = write(cx, doc, item, catalog, params) {
                writes.push(w);
            }
        }
    }
    // A guard that tests a written field (`SO_MARK == 5`) reads it.
    for w in &writes {
        for f in w.guard.written_fields(catalog) {
            if !reads.contains(&f) {
                reads.push(f);
            }
        }
    }
    let span = Span {
        file: cx.file.to_path_buf(),
        line: at.line.unwrap_or(0),
        column: at.column.unwrap_or(0),
    };
    Some((
        Program {
            name: name?,
            hook: catalog.hook.clone(),
            object,
            reads,
            writes,
            span: Some(span),
            ends_chain,
        },
        at,
    ))
}

fn write(
    cx: &mut Cx<'_>,
    doc: &Doc,
    node: &Node,
    catalog: &HookCatalog,
    params: &[Param],
) -> Option<Write> {
    let m = cx.mapping(node, "a write")?;
    cx.check_keys(m, WRITE_KEYS, "a write");
    let at = cx.at(m.span());
    let field_node = cx
        .required(m, "field", "a write")
        .and_then(|n| cx.string(n, "field"));
    let field = field_node.and_then(|s| {
        let f = s.as_str();
        match catalog.writable.get(f) {
            Some(w) => Some(w),
            None => {
                let choices: Vec<String> = catalog.writable.keys().cloned().collect();
                let note = catalog.readable.contains_key(f).then(|| {
                    "it is read-only: a guard can test it, a write cannot set it".to_string()
                });
                cx.err(
                    s.span(),
                    LoadErrorKind::UnknownField {
                        name: f.into(),
                        note,
                        suggestion: did_you_mean(f, choices.iter().map(String::as_str)),
                        choices,
                    },
                );
                None
            }
        }
    });
    let value_node = cx.required(m, "value", "a write");
    let value = match (field, value_node) {
        (Some(f), Some(v)) => write_value(cx, v, &f.name, &f.ty, params),
        _ => None,
    };
    let (guard, guard_text) = match m.get_node("when") {
        None => (Some(crate::ir::Guard::True), String::new()),
        Some(n) => match n {
            Node::Scalar(s) => (
                compile_guard(cx, doc, s, catalog, params),
                s.as_str().to_string(),
            ),
            other => {
                cx.wrong(other, "when", "a guard string");
                (None, String::new())
            }
        },
    };
    let update = match (m.get_node("update"), field) {
        (None, _) => Some(Update::Set),
        (Some(n), f) => match cx.string(n, "update").map(|s| s.as_str()) {
            Some("set") => Some(Update::Set),
            Some("or") if f.is_none_or(|f| f.or_update) => Some(Update::Or),
            Some("or") => {
                let name = f.map(|f| f.name.clone()).unwrap_or_default();
                cx.wrong(
                    n,
                    "update",
                    &format!(
                        "set (`{name}` takes its value; only a field whose catalog entry says \
                         `updates: [set, or]`, such as cb_flags, can be ORed into)"
                    ),
                );
                None
            }
            _ => {
                cx.wrong(n, "update", "set or or");
                None
            }
        },
    };
    let span = Span {
        file: cx.file.to_path_buf(),
        line: at.line.unwrap_or(0),
        column: at.column.unwrap_or(0),
    };
    Some(Write {
        field: field?.name.clone(),
        value: value?,
        update: update?,
        guard: guard?,
        guard_text,
        span: Some(span),
    })
}

fn compile_guard(
    cx: &mut Cx<'_>,
    doc: &Doc,
    s: &MarkedScalarNode,
    catalog: &HookCatalog,
    params: &[Param],
) -> Option<crate::ir::Guard> {
    match guard::compile(s.as_str(), Scope { catalog, params }) {
        Ok(g) => Some(g),
        Err(errs) => {
            for e in errs {
                let location = position_in_scalar(cx.file, &doc.text, s, e.offset);
                cx.err_at(
                    location,
                    LoadErrorKind::Guard {
                        guard: s.as_str().into(),
                        offset: e.offset,
                        len: e.len,
                        error: e.kind,
                    },
                );
            }
            None
        }
    }
}

/// A write's value: a literal of the field's type, `$param`, or `{min, max}`.
fn write_value(
    cx: &mut Cx<'_>,
    node: &Node,
    field: &str,
    ty: &ValueType,
    params: &[Param],
) -> Option<WriteValue> {
    let what = format!("the value written to `{field}`");
    match node {
        Node::Scalar(s) if s.may_coerce() && s.as_str().starts_with('$') => {
            let pname = &s.as_str()[1..];
            let Some(p) = params.iter().find(|p| p.name == pname) else {
                let choices: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
                cx.err(
                    s.span(),
                    LoadErrorKind::UnknownName {
                        what: "param".into(),
                        name: s.as_str().into(),
                        suggestion: did_you_mean(pname, choices.iter().map(String::as_str))
                            .map(|x| format!("${x}")),
                        choices,
                    },
                );
                return None;
            };
            if !param_fits(&p.ty, ty) {
                let param_type = match &p.ty {
                    ParamType::Scalar { ty, min, max } => format!(
                        "{} in {}..={}",
                        type_label(ty),
                        min.unwrap_or(0),
                        max.unwrap_or_else(|| guard::type_max(ty))
                    ),
                    ParamType::Cidr4Set => "a cidr4_set".into(),
                    ParamType::Cidr6Set => "a cidr6_set".into(),
                    ParamType::CidrSet => "a cidr_set".into(),
                    ParamType::PortSet => "a port_set".into(),
                };
                cx.err(
                    s.span(),
                    LoadErrorKind::ParamDoesNotFit {
                        param: s.as_str().into(),
                        param_type,
                        field: field.into(),
                        field_type: type_label(ty),
                    },
                );
                return None;
            }
            Some(WriteValue::Param(pname.to_string()))
        }
        Node::Mapping(m) => {
            cx.check_keys(m, &["min", "max"], "a value range");
            if matches!(
                ty,
                ValueType::Str { .. } | ValueType::Bool | ValueType::Enum { .. }
            ) {
                cx.wrong(
                    node,
                    &what,
                    &format!(
                        "a literal (a range needs a numeric field, `{field}` is {})",
                        type_label(ty)
                    ),
                );
                return None;
            }
            let bound = |cx: &mut Cx<'_>, key: &str| -> Option<u64> {
                let n = cx.required(m, key, "a value range")?;
                match literal(cx, n, ty, &what, None, None)? {
                    Literal::Int(v) => Some(v),
                    Literal::Str(_) => None,
                }
            };
            let min = bound(cx, "min");
            let max = bound(cx, "max");
            let (min, max) = (min?, max?);
            if *ty == ValueType::I32 {
                // Bit patterns: a range on one side of 0 stays one range.
                let (lo, hi) = (min as u32 as i32, max as u32 as i32);
                if lo > hi {
                    cx.wrong(
                        node,
                        &what,
                        &format!("a range with min <= max (got {lo}..{hi})"),
                    );
                    return None;
                }
                if lo < 0 && hi >= 0 {
                    cx.wrong(
                        node,
                        &what,
                        "a range on one side of 0 (a signed range across 0 is two ranges: declare two writes)",
                    );
                    return None;
                }
            } else if min > max {
                cx.err(m.span(), LoadErrorKind::EmptyRange { min, max });
                return None;
            }
            Some(WriteValue::Range { min, max })
        }
        _ => literal(cx, node, ty, &what, None, None).map(WriteValue::Lit),
    }
}

/// Whether every value a param can take is a valid value of the field.
fn param_fits(p: &ParamType, field: &ValueType) -> bool {
    let ParamType::Scalar { ty, max, .. } = p else {
        return false;
    };
    let int_like = |t: &ValueType| {
        matches!(
            t,
            ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64 | ValueType::Bool
        )
    };
    match (ty, field) {
        (ValueType::Str { max_len: a }, ValueType::Str { max_len: b }) => a <= b,
        (a, b) if int_like(a) && int_like(b) => {
            max.unwrap_or_else(|| guard::type_max(a)) <= guard::type_max(b)
        }
        // An unsigned param fits a signed field below its sign bit.
        (a, ValueType::I32) if int_like(a) => {
            max.unwrap_or_else(|| guard::type_max(a)) <= i32::MAX as u64
        }
        (a, b) => a == b,
    }
}

/// The catalog fields behind a 128-bit name in `reads:`: the four words of
/// `remote_ip6`; for the virtual `remote_ip`, what defines it (`family`,
/// `remote_ip4` and `remote_ip6`'s words).
fn wide_reads(catalog: &crate::ir::HookCatalog, name: &str) -> Option<Vec<String>> {
    use crate::ir::word_field;
    let w0 = catalog.readable.get(&word_field(name, 0))?;
    if w0.offset.is_some() {
        return Some((0..4).map(|i| word_field(name, i)).collect());
    }
    let mut out = vec!["family".to_string(), format!("{name}4")];
    out.extend((0..4).map(|i| word_field(&format!("{name}6"), i)));
    Some(out)
}
