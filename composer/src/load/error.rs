//! Input errors and warnings of the loader: each one carries the file, the
//! 1-based line and column where YAML gives them, and the valid choices.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::guard::GuardErrorKind;
use crate::suggest;

/// Where an input problem is: a file, and a line and column when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// One input error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct LoadError {
    pub location: Location,
    pub kind: LoadErrorKind,
}

impl LoadError {
    /// Extra lines for people: did-you-mean and the valid choices.
    pub fn help(&self) -> Vec<String> {
        self.kind.help()
    }
}

/// Every input error found in one load, in the order found. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} input error(s), first: {}", errors.len(), errors.first().map(|e| e.to_string()).unwrap_or_default())]
pub struct LoadErrors {
    pub errors: Vec<LoadError>,
}

/// Something legal but probably unintended; it does not stop the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadWarning {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.location, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LoadErrorKind {
    #[error("cannot read {what}: {reason}")]
    Read { what: String, reason: String },
    #[error("invalid YAML: {reason}")]
    Yaml { reason: String },
    /// A byte that is not UTF-8; the location is the byte's line and column.
    #[error("invalid UTF-8 (byte 0x{byte:02x}): accord reads UTF-8 text")]
    NotUtf8 { byte: u8 },
    /// YAML nesting (mappings and lists inside each other) beyond the limit.
    #[error("nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// A file that parses as YAML but has none of the keys of what it was
    /// named as (`/etc/shadow` given as a feature spec): its content is
    /// never shown.
    #[error("not {what}: none of its top-level keys is one {what} has (expected {expected}; its content is not shown)")]
    NotThisKind { what: String, expected: String },
    #[error("duplicate key `{key}` (first at line {first_line})")]
    DuplicateKey { key: String, first_line: u32 },
    #[error("expected {expected} for {what}, found {found}")]
    WrongType {
        what: String,
        expected: String,
        found: String,
    },
    #[error("missing required key `{key}` in {context}")]
    MissingKey { key: String, context: String },
    #[error("unknown key `{key}` in {context}")]
    UnknownKey {
        key: String,
        context: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("unknown field `{name}`{}", note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
    UnknownField {
        name: String,
        /// e.g. "it is read-only: a guard can test it, a write cannot set it".
        note: Option<String>,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("unknown param `{name}` of feature `{feature}`")]
    UnknownParam {
        name: String,
        feature: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("unknown feature `{name}`")]
    UnknownFeature {
        name: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("unknown {what} `{name}`")]
    UnknownName {
        what: String,
        name: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("{value} is out of range for {what} ({min}..={max})")]
    OutOfRange {
        what: String,
        value: String,
        min: String,
        max: String,
    },
    #[error("invalid {what} `{text}`: {reason}")]
    Invalid {
        what: String,
        text: String,
        reason: String,
    },
    #[error("{} guard `{guard}`: {error}", if is_syntax(error) { "malformed" } else { "invalid" })]
    Guard {
        guard: String,
        /// Character offset of the problem inside `guard` (0-based).
        offset: usize,
        len: usize,
        error: GuardErrorKind,
    },
    #[error("duplicate {what} `{name}` (first at {first})")]
    Duplicate {
        what: String,
        name: String,
        first: String,
    },
    #[error(
        "param `{param}` of feature `{feature}` has no default and the composition gives no value"
    )]
    MissingConfig { feature: String, param: String },
    #[error("program `{program}` is for hook `{hook}`, but the composition is for `{expected}`")]
    HookMismatch {
        program: String,
        hook: String,
        expected: String,
    },
    #[error("no hook catalog for `{hook}`")]
    CatalogNotFound {
        hook: String,
        searched: Vec<PathBuf>,
    },
    #[error("`{what}` names its own feature `{feature}`")]
    SelfDependency { what: String, feature: String },
    #[error("feature `{feature}` does not write `{field}`, so it cannot be preferred for it")]
    ResolveNotWriter {
        feature: String,
        field: String,
        writers: Vec<String>,
    },
    #[error("`$param` {param} is {param_type}, which does not fit field `{field}` ({field_type})")]
    ParamDoesNotFit {
        param: String,
        param_type: String,
        field: String,
        field_type: String,
    },
    #[error("empty range: min {min} is above max {max}")]
    EmptyRange { min: u64, max: u64 },
}

fn is_syntax(e: &GuardErrorKind) -> bool {
    use GuardErrorKind as G;
    matches!(
        e,
        G::Empty
            | G::UnexpectedChar { .. }
            | G::SingleEquals
            | G::SingleAmpOrBar { .. }
            | G::UnterminatedString
            | G::EmptyParam
            | G::BadNumber { .. }
            | G::BadIpv4 { .. }
            | G::BadCidr { .. }
            | G::CidrOutsideIn
            | G::Expected { .. }
            | G::Unclosed { .. }
            | G::EmptyRange { .. }
            | G::TooDeep { .. }
    )
}

fn choice_lines(suggestion: &Option<String>, choices: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = suggestion {
        out.push(format!("did you mean `{s}`?"));
    }
    if !choices.is_empty() {
        out.push(format!("valid: {}", suggest::choices(choices, 24)));
    }
    out
}

impl LoadErrorKind {
    /// Did-you-mean and valid-choice lines, for human reports.
    pub fn help(&self) -> Vec<String> {
        match self {
            LoadErrorKind::UnknownKey {
                suggestion,
                choices,
                ..
            }
            | LoadErrorKind::UnknownField {
                suggestion,
                choices,
                ..
            }
            | LoadErrorKind::UnknownParam {
                suggestion,
                choices,
                ..
            }
            | LoadErrorKind::UnknownFeature {
                suggestion,
                choices,
                ..
            }
            | LoadErrorKind::UnknownName {
                suggestion,
                choices,
                ..
            } => choice_lines(suggestion, choices),
            LoadErrorKind::ResolveNotWriter { writers, .. } => {
                vec![format!(
                    "features that write it: {}",
                    suggest::choices(writers, 24)
                )]
            }
            LoadErrorKind::CatalogNotFound { searched, .. } => {
                let mut v: Vec<String> = searched
                    .iter()
                    .map(|p| format!("looked for {}", p.display()))
                    .collect();
                v.push("pass --specs DIR (a directory holding hooks/<hook>.yaml)".into());
                v
            }
            LoadErrorKind::MissingConfig { param, .. } => {
                vec![format!(
                    "add `{param}: <value>` to this feature's `config:` in the composition"
                )]
            }
            LoadErrorKind::Guard { .. } => Vec::new(),
            _ => Vec::new(),
        }
    }
}
