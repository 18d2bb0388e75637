//! A composition: finds the hook catalog, loads every listed feature spec,
//! fills each feature's config, and resolves `after`/`before`/`resolve`.

use std::collections::BTreeMap;
use std::path::Path;

use marked_yaml::Node;

use super::error::{LoadError, LoadErrorKind, LoadWarning, Location};
use super::spec::{spec, SpecDraft};
use super::value::config_value;
use super::yaml::{read_doc, Cx, DocKind};
use super::{catalog_for, LoadOptions, Loaded};
use crate::ir::{Composition, HookCatalog, Resolve, Span};
use crate::suggest::did_you_mean;

pub(crate) const TOP_KEYS: &[&str] = &["composition", "description", "hook", "features", "resolve"];
const ENTRY_KEYS: &[&str] = &["spec", "config"];

struct Entry<'d> {
    draft: SpecDraft,
    config: Option<&'d Node>,
    at: Location,
}

pub(crate) fn composition(
    path: &Path,
    opts: &LoadOptions,
    errors: &mut Vec<LoadError>,
) -> Option<Loaded> {
    let doc = read_doc(path, DocKind::Composition, None, errors)?;
    let mut cx = Cx {
        file: &doc.path,
        errors,
    };
    let root = &doc.root;
    cx.check_keys(root, TOP_KEYS, "a composition");
    let name = cx
        .required(root, "composition", "a composition")
        .and_then(|n| cx.name(n, "composition name"))
        .map(|s| s.as_str().to_string());
    let hook_node = cx
        .required(root, "hook", "a composition")
        .and_then(|n| cx.name(n, "hook"));
    let features_node = cx
        .required(root, "features", "a composition")
        .and_then(|n| cx.list(n, "features"));
    let hook_node = hook_node?;
    let hook_at = cx.at(hook_node.span());
    let catalog = catalog_for(path, hook_node.as_str(), opts, Some(hook_at), cx.errors)?;

    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut docs_ok = true;
    for item in features_node.unwrap_or(&[]) {
        let (spec_node, config) = match item {
            Node::Scalar(_) => (Some(item), None),
            Node::Mapping(m) => {
                cx.check_keys(m, ENTRY_KEYS, "a feature entry");
                (
                    cx.required(m, "spec", "a feature entry"),
                    m.get_node("config"),
                )
            }
            _ => {
                cx.wrong(
                    item,
                    "a feature entry",
                    "a mapping with `spec:` and `config:`",
                );
                (None, None)
            }
        };
        let Some(spec_s) = spec_node.and_then(|n| cx.string(n, "spec")) else {
            docs_ok = false;
            continue;
        };
        let at = cx.at(spec_s.span());
        let spec_path = normalize(
            &doc.path
                .parent()
                .unwrap_or(Path::new("."))
                .join(spec_s.as_str()),
        );
        let Some(spec_doc) = read_doc(
            &spec_path,
            DocKind::FeatureSpec,
            Some(at.clone()),
            cx.errors,
        ) else {
            docs_ok = false;
            continue;
        };
        let mut scx = Cx {
            file: &spec_doc.path,
            errors: cx.errors,
        };
        match spec(&mut scx, &spec_doc, &catalog) {
            Some(draft) => entries.push(Entry { draft, config, at }),
            None => docs_ok = false,
        }
    }

    // Duplicate feature names.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut unique = Vec::new();
    for e in entries {
        let n = e.draft.feature.name.clone();
        if let Some(&i) = by_name.get(&n) {
            let first: &Entry<'_> = &unique[i];
            let first_at = format!("{} (listed at {})", first.draft.name_at, first.at);
            cx.err_at(
                e.at.clone(),
                LoadErrorKind::Duplicate {
                    what: "feature name".into(),
                    name: n,
                    first: first_at,
                },
            );
            continue;
        }
        by_name.insert(n, unique.len());
        unique.push(e);
    }

    // Config: the composition's values, else the defaults.
    for e in &mut unique {
        fill_config(&mut cx, e);
        crate::guard::lower_prefix_sets(&mut e.draft.feature, &catalog);
    }

    let mut warnings = Vec::new();
    let names: Vec<String> = unique
        .iter()
        .map(|e| e.draft.feature.name.clone())
        .collect();
    // `after`/`before` naming a feature that is not in the composition is an
    // optional dependency (like systemd's After=): it adds no edge, and gets
    // a warning so a typo does not go unnoticed.
    for e in &mut unique {
        let f = &mut e.draft.feature;
        for (key, list) in [("after", &mut f.after), ("before", &mut f.before)] {
            list.retain(|other| {
                if names.contains(other) {
                    return true;
                }
                let location = e.draft.order_at.get(other).cloned().unwrap_or_else(|| e.draft.name_at.clone());
                let mut message = format!("`{key}: {other}` names a feature that is not in this composition; the ordering constraint is ignored");
                if let Some(s) = did_you_mean(other, names.iter().map(String::as_str)) {
                    message.push_str(&format!(" (did you mean `{s}`?)"));
                }
                warnings.push(LoadWarning { location, message });
                false
            });
        }
    }

    let resolves = match root.get_node("resolve") {
        Some(n) => resolves(&mut cx, n, &catalog, &unique),
        None => Vec::new(),
    };
    if !cx.errors.is_empty() || !docs_ok {
        return None;
    }
    Some(Loaded {
        composition: Composition {
            name: name?,
            hook: catalog.hook.clone(),
            path: doc.path.clone(),
            catalog,
            features: unique.into_iter().map(|e| e.draft.feature).collect(),
            resolves,
        },
        warnings,
    })
}

fn fill_config(cx: &mut Cx<'_>, e: &mut Entry<'_>) {
    let f = &mut e.draft.feature;
    let given = match e.config {
        None => None,
        Some(Node::Scalar(s)) if s.as_str().is_empty() && s.may_coerce() => None,
        Some(n) => cx.mapping(n, &format!("the config of `{}`", f.name)),
    };
    if let Some(m) = given {
        for (k, v) in m.iter() {
            match f.params.iter().find(|p| p.name == k.as_str()) {
                Some(p) => {
                    if let Some(value) =
                        config_value(cx, v, &p.ty, &format!("`{}.{}`", f.name, p.name))
                    {
                        f.config.insert(p.name.clone(), value);
                    }
                }
                None => {
                    let choices: Vec<String> = f.params.iter().map(|p| p.name.clone()).collect();
                    cx.err(
                        k.span(),
                        LoadErrorKind::UnknownParam {
                            name: k.as_str().into(),
                            feature: f.name.clone(),
                            suggestion: did_you_mean(
                                k.as_str(),
                                choices.iter().map(String::as_str),
                            ),
                            choices,
                        },
                    );
                }
            }
        }
    }
    for p in &f.params {
        let given_here = given.is_some_and(|m| m.get_node(&p.name).is_some());
        if !f.config.contains_key(&p.name) && !given_here {
            cx.err_at(
                e.at.clone(),
                LoadErrorKind::MissingConfig {
                    feature: f.name.clone(),
                    param: p.name.clone(),
                },
            );
        }
    }
}

fn resolves(
    cx: &mut Cx<'_>,
    node: &Node,
    catalog: &HookCatalog,
    entries: &[Entry<'_>],
) -> Vec<Resolve> {
    let Some(items) = cx.list(node, "resolve") else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .iter()
        .map(|e| e.draft.feature.name.clone())
        .collect();
    let mut out = Vec::new();
    for item in items {
        let Some(m) = cx.mapping(item, "a resolve entry") else {
            continue;
        };
        cx.check_keys(m, &["field", "prefer"], "a resolve entry");
        let field = cx
            .required(m, "field", "a resolve entry")
            .and_then(|n| cx.string(n, "field"));
        let prefer = cx
            .required(m, "prefer", "a resolve entry")
            .and_then(|n| cx.string(n, "prefer"));
        let (Some(field), Some(prefer)) = (field, prefer) else {
            continue;
        };
        let Some(wf) = catalog.writable.get(field.as_str()) else {
            let choices: Vec<String> = catalog.writable.keys().cloned().collect();
            cx.err(
                field.span(),
                LoadErrorKind::UnknownField {
                    name: field.as_str().into(),
                    note: None,
                    suggestion: did_you_mean(field.as_str(), choices.iter().map(String::as_str)),
                    choices,
                },
            );
            continue;
        };
        let Some(entry) = entries
            .iter()
            .find(|e| e.draft.feature.name == prefer.as_str())
        else {
            cx.err(
                prefer.span(),
                LoadErrorKind::UnknownFeature {
                    name: prefer.as_str().into(),
                    suggestion: did_you_mean(prefer.as_str(), names.iter().map(String::as_str)),
                    choices: names.clone(),
                },
            );
            continue;
        };
        let writes = |e: &Entry<'_>| {
            e.draft
                .feature
                .programs
                .iter()
                .any(|p| p.writes.iter().any(|w| w.field == wf.name))
        };
        if !writes(entry) {
            let writers = entries
                .iter()
                .filter(|e| writes(e))
                .map(|e| e.draft.feature.name.clone())
                .collect();
            cx.err(
                prefer.span(),
                LoadErrorKind::ResolveNotWriter {
                    feature: prefer.as_str().into(),
                    field: wf.name.clone(),
                    writers,
                },
            );
            continue;
        }
        let at = cx.at(m.span());
        if let Some(first) = out.iter().find(|r: &&Resolve| r.field == wf.name) {
            let first = first
                .span
                .as_ref()
                .map(|s| format!("{}:{}:{}", s.file.display(), s.line, s.column))
                .unwrap_or_default();
            cx.err_at(
                at,
                LoadErrorKind::Duplicate {
                    what: "resolve entry for field".into(),
                    name: wf.name.clone(),
                    first,
                },
            );
            continue;
        }
        out.push(Resolve {
            field: wf.name.clone(),
            prefer: prefer.as_str().into(),
            span: Some(Span {
                file: at.file,
                line: at.line.unwrap_or(0),
                column: at.column.unwrap_or(0),
            }),
        });
    }
    out
}

/// `a/b/../c` to `a/c`, lexically (no file system access), so messages
/// name spec files the way people would.
fn normalize(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return std::path::PathBuf::from(".");
    }
    out.iter().collect()
}
