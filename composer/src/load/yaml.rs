//! YAML with positions: reading a file into a `marked_yaml` node tree, and
//! the small typed accessors every loader uses, which record an error with
//! the node's line and column instead of failing at the first problem.

use std::path::{Path, PathBuf};

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoaderOptions, Node, Span};

use super::error::{LoadError, LoadErrorKind, Location};
use super::input::{outline, read_input, MAX_YAML_DEPTH};
use crate::suggest::did_you_mean;

/// A parsed YAML file and its text (kept to map guard offsets to columns).
pub(crate) struct Doc {
    pub path: PathBuf,
    pub text: String,
    pub root: MarkedMappingNode,
}

/// Error sink for one file.
pub(crate) struct Cx<'a> {
    pub file: &'a Path,
    pub errors: &'a mut Vec<LoadError>,
}

pub(crate) fn location(file: &Path, span: &Span) -> Location {
    let (line, column) = match span.start() {
        Some(m) => (u32::try_from(m.line()).ok(), u32::try_from(m.column()).ok()),
        None => (None, None),
    };
    Location {
        file: file.to_path_buf(),
        line,
        column,
    }
}

/// What a file is read as: names it in messages and says which top-level
/// keys it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    Composition,
    FeatureSpec,
    HookCatalog,
}

impl DocKind {
    /// `composition`, `feature spec`, `hook catalog`.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Composition => "composition",
            DocKind::FeatureSpec => "feature spec",
            DocKind::HookCatalog => "hook catalog",
        }
    }

    fn top_keys(self) -> &'static [&'static str] {
        match self {
            DocKind::Composition => super::composition::TOP_KEYS,
            DocKind::FeatureSpec => super::spec::TOP_KEYS,
            DocKind::HookCatalog => super::catalog::TOP_KEYS,
        }
    }
}

/// Reads and parses `path` as a `kind` document. On failure the error is
/// recorded at `at` (where the path was named), or at the file itself.
/// Refused before parsing: anything but a regular file of at most 16 MiB,
/// bytes that are not UTF-8, nesting deeper than [`MAX_YAML_DEPTH`], and a
/// mapping none of whose keys `kind` has (its content is never echoed).
pub(crate) fn read_doc(
    path: &Path,
    kind: DocKind,
    at: Option<Location>,
    errors: &mut Vec<LoadError>,
) -> Option<Doc> {
    let what = kind.name();
    let text = match read_input(path, what) {
        Ok(t) => t,
        Err(mut e) => {
            // A file that cannot be read is reported where it was named.
            if let (LoadErrorKind::Read { .. }, Some(at)) = (&e.kind, at) {
                e.location = at;
            }
            errors.push(*e);
            return None;
        }
    };
    let at_file = |line: usize, column: usize| Location {
        file: path.to_path_buf(),
        line: u32::try_from(line).ok(),
        column: u32::try_from(column).ok(),
    };
    // With coercion prevented, `may_coerce()` tells plain scalars (`40`) from
    // quoted ones (`"40"`, a string).
    let outline = outline(&text);
    if let Some((line, column)) = outline.too_deep {
        errors.push(LoadError {
            location: at_file(line, column),
            kind: LoadErrorKind::TooDeep {
                limit: MAX_YAML_DEPTH,
            },
        });
        return None;
    }
    let expected = kind.top_keys();
    if !outline.top_keys.is_empty()
        && !outline
            .top_keys
            .iter()
            .any(|k| expected.contains(&k.as_str()))
    {
        errors.push(LoadError {
            location: at_file(1, 1),
            kind: LoadErrorKind::NotThisKind {
                what: format!("a {what}"),
                expected: crate::suggest::choices(
                    &expected.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    12,
                ),
            },
        });
        return None;
    }
    let opts = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    // marked-yaml asserts on some event orders it never expects; keep any
    // such surprise an input error, never a crash of the caller.
    let parsed = std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(0, &text, opts));
    let err =
        |errors: &mut Vec<LoadError>, location, kind| errors.push(LoadError { location, kind });
    match parsed {
        Ok(Ok(Node::Mapping(root))) => Some(Doc {
            path: path.to_path_buf(),
            text,
            root,
        }),
        Ok(Ok(other)) => {
            // Not `describe`: a scalar here is the whole file's text.
            let found = match other {
                Node::Sequence(_) => "a list",
                _ => "a single value",
            };
            err(
                errors,
                location(path, other.span()),
                LoadErrorKind::WrongType {
                    what: format!("the {what}"),
                    expected: "a mapping".into(),
                    found: found.into(),
                },
            );
            None
        }
        Ok(Err(e)) => {
            use marked_yaml::LoadError as Y;
            let (loc, kind) = match e {
                Y::TopLevelMustBeMapping(m) | Y::TopLevelMustBeSequence(m) => (
                    at_file(m.line(), m.column()),
                    LoadErrorKind::WrongType {
                        what: format!("the {what}"),
                        expected: "a mapping".into(),
                        found: "something else".into(),
                    },
                ),
                Y::UnexpectedAnchor(m) => (
                    at_file(m.line(), m.column()),
                    yaml("anchors and aliases are not supported"),
                ),
                Y::MappingKeyMustBeScalar(m) => (
                    at_file(m.line(), m.column()),
                    yaml("mapping keys must be plain scalars"),
                ),
                Y::UnexpectedTag(m) => (
                    at_file(m.line(), m.column()),
                    yaml("explicit tags are not supported"),
                ),
                Y::ScanError(m, se) => (at_file(m.line(), m.column()), yaml(se.info())),
                Y::DuplicateKey(d) => {
                    let first = d.prev_key.span().start().map(|m| m.line()).unwrap_or(0);
                    (
                        location(path, d.key.span()),
                        LoadErrorKind::DuplicateKey {
                            key: d.key.as_str().to_string(),
                            first_line: u32::try_from(first).unwrap_or(0),
                        },
                    )
                }
            };
            err(errors, loc, kind);
            None
        }
        Err(_) => {
            err(
                errors,
                at_file(1, 1),
                yaml("the YAML parser could not handle this document"),
            );
            None
        }
    }
}

fn yaml(reason: &str) -> LoadErrorKind {
    LoadErrorKind::Yaml {
        reason: reason.to_string(),
    }
}

/// How a node reads in a message: `a mapping`, `the string "abc"`, `70000`.
pub(crate) fn describe(node: &Node) -> String {
    match node {
        Node::Mapping(_) => "a mapping".into(),
        Node::Sequence(_) => "a list".into(),
        Node::Scalar(s) => describe_scalar(s),
    }
}

pub(crate) fn describe_scalar(s: &MarkedScalarNode) -> String {
    if s.as_str().is_empty() && s.may_coerce() {
        "nothing".into()
    } else if s.may_coerce() {
        format!("`{}`", s.as_str())
    } else {
        format!("the string \"{}\"", s.as_str())
    }
}

impl Cx<'_> {
    pub fn at(&self, span: &Span) -> Location {
        location(self.file, span)
    }

    pub fn err(&mut self, span: &Span, kind: LoadErrorKind) {
        let location = self.at(span);
        self.errors.push(LoadError { location, kind });
    }

    pub fn err_at(&mut self, location: Location, kind: LoadErrorKind) {
        self.errors.push(LoadError { location, kind });
    }

    /// Records an error for every key not in `allowed`, with did-you-mean.
    pub fn check_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], context: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let suggestion = did_you_mean(key.as_str(), allowed.iter().copied());
                self.err(
                    key.span(),
                    LoadErrorKind::UnknownKey {
                        key: key.as_str().to_string(),
                        context: context.to_string(),
                        suggestion,
                        choices: allowed.iter().map(|s| s.to_string()).collect(),
                    },
                );
            }
        }
    }

    /// A required key; records `MissingKey` at the mapping when absent.
    pub fn required<'n>(
        &mut self,
        map: &'n MarkedMappingNode,
        key: &str,
        context: &str,
    ) -> Option<&'n Node> {
        let node = map.get_node(key);
        if node.is_none() {
            self.err(
                map.span(),
                LoadErrorKind::MissingKey {
                    key: key.into(),
                    context: context.into(),
                },
            );
        }
        node
    }

    pub fn wrong(&mut self, node: &Node, what: &str, expected: &str) {
        self.err(
            node.span(),
            LoadErrorKind::WrongType {
                what: what.into(),
                expected: expected.into(),
                found: describe(node),
            },
        );
    }

    pub fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            _ => {
                self.wrong(node, what, "a mapping");
                None
            }
        }
    }

    /// A list; an empty scalar (`key:` with nothing) counts as an empty list.
    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match node {
            Node::Sequence(s) => Some(s.as_slice()),
            Node::Scalar(s) if s.as_str().is_empty() && s.may_coerce() => Some(&[]),
            _ => {
                self.wrong(node, what, "a list");
                None
            }
        }
    }

    /// A non-empty string scalar.
    pub fn string<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) if !s.as_str().is_empty() => Some(s),
            _ => {
                self.wrong(node, what, "a string");
                None
            }
        }
    }

    /// A name: letters, digits, `_` and `-`, starting with a letter or `_`.
    pub fn name<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        let s = self.string(node, what)?;
        let ok = s
            .as_str()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            self.err(
                s.span(),
                LoadErrorKind::Invalid {
                    what: what.into(),
                    text: s.as_str().into(),
                    reason: "use letters, digits, `_` and `-`, starting with a letter".into(),
                },
            );
            return None;
        }
        Some(s)
    }

    /// A plain (unquoted) unsigned integer, decimal or `0x` hex.
    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        match node {
            Node::Scalar(s) if s.may_coerce() => match parse_uint(s.as_str()) {
                Some(v) => Some(v),
                None => {
                    self.wrong(node, what, "an unsigned integer");
                    None
                }
            },
            _ => {
                self.wrong(node, what, "an unsigned integer");
                None
            }
        }
    }
}

pub(crate) fn parse_uint(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// The 1-based line and column in `doc` of character `offset` inside the
/// scalar `node` (a `when:` guard), when the scalar sits on one line as
/// written; otherwise the scalar's own start.
pub(crate) fn position_in_scalar(
    file: &Path,
    text: &str,
    node: &MarkedScalarNode,
    offset: usize,
) -> Location {
    let base = location(file, node.span());
    let (Some(line), Some(col)) = (base.line, base.column) else {
        return base;
    };
    let Some(src_line) = (line as usize)
        .checked_sub(1)
        .and_then(|l| text.lines().nth(l))
    else {
        return base;
    };
    let from: Vec<char> = src_line
        .chars()
        .skip((col as usize).saturating_sub(1))
        .collect();
    let value: Vec<char> = node.as_str().chars().collect();
    let prefix_len = (offset + 1).min(value.len());
    // Plain scalar: the value starts at the node; quoted: one later.
    for skip in [0usize, 1] {
        if from.len() >= skip + prefix_len && from[skip..skip + prefix_len] == value[..prefix_len] {
            return Location {
                column: u32::try_from(col as usize + skip + offset).ok(),
                ..base
            };
        }
    }
    base
}
