//! The guard language of `when:` conditions: parse the text, type-check it
//! against the hook catalog and the feature's params, and produce an
//! [`ir::Guard`](crate::ir::Guard).
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! guard   := or
//! or      := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | "(" or ")" | atom
//! atom    := "true" | "false"
//!          | operand ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//!          | operand ["not"] "in" set
//! operand := FIELD | "$"PARAM | INT | IPV4 | IPV6 | "STRING" | ENUM_NAME | "true" | "false"
//! set     := CIDR | "{" operand ("," operand)* "}" | INT ".." INT | "$"PARAM
//! ```
//!
//! `INT` is decimal or `0x` hex; `IPV4` is dotted (`10.0.0.1`); `IPV6` is
//! any RFC 4291 text form (`2001:db8::1`, `::ffff:10.0.0.1`); `CIDR` is
//! `10.0.0.0/8` or `2001:db8::/32` with the host bits zero; `ENUM_NAME` is a variant of the
//! enum field on the other side, in full (`BPF_SOCK_OPS_RWND_INIT`) or
//! without the common prefix (`RWND_INIT`). Ranges are inclusive.
//!
//! Errors carry the character offset inside the guard text; the loader maps
//! it to a line and column of the YAML file. This module does no I/O.

mod masked;
mod print;
mod syntax;
mod typeck;
mod wide;

use serde::Serialize;

use crate::ir::{Guard, HookCatalog, Param};

pub use print::{cmp_op, ipv4, literal as print_literal, pretty};
pub use syntax::{parse_cidr4, parse_cidr6, parse_ipv4, parse_ipv6, MAX_GUARD_DEPTH};
pub use typeck::{enum_prefix, param_type_name, type_max, type_name};
pub use wide::{lower_prefix_sets, lowered_wide, v6_entries};

/// What a guard may name: the hook's readable fields and the feature's params.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub catalog: &'a HookCatalog,
    pub params: &'a [Param],
}

/// A guard error at a character offset (0-based) inside the guard text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind}")]
pub struct GuardError {
    pub offset: usize,
    pub len: usize,
    pub kind: GuardErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "error")]
pub enum GuardErrorKind {
    // Syntax.
    #[error("empty guard (leave `when:` out to mean always, or write `true`)")]
    Empty,
    #[error("unexpected character `{ch}`")]
    UnexpectedChar { ch: char },
    #[error("`=` is not an operator; use `==` to compare")]
    SingleEquals,
    #[error("`{ch}` is not an operator; use `{ch}{ch}`")]
    SingleAmpOrBar { ch: char },
    #[error("unterminated string")]
    UnterminatedString,
    #[error("`$` must be followed by a param name")]
    EmptyParam,
    #[error("invalid number `{text}`")]
    BadNumber { text: String },
    #[error("invalid IPv4 address `{text}`: {reason}")]
    BadIpv4 { text: String, reason: String },
    #[error("invalid IPv6 address `{text}`: {reason}")]
    BadIpv6 { text: String, reason: String },
    #[error("invalid CIDR `{text}`: {reason}")]
    BadCidr { text: String, reason: String },
    #[error("invalid masked field `{text}`: write FIELD/LEN with LEN a prefix length (0..=128 for IPv6 and `remote_ip`/`local_ip`, 0..=32 for IPv4)")]
    BadMask { text: String },
    #[error("{what}")]
    Masked { what: String },
    #[error("a CIDR can only follow `in` or `not in`")]
    CidrOutsideIn,
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    #[error("expected `)` to close the `(` at character {}, found {found}", open + 1)]
    Unclosed { open: usize, found: String },
    #[error("empty range {lo}..{hi} (the lower bound is above the upper)")]
    EmptyRange { lo: u64, hi: u64 },
    #[error("nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    // Names.
    #[error("unknown field `{name}`{}", hint(suggestion, choices))]
    UnknownField {
        name: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("`{name}` is a writable field a program cannot read back (the catalog gives it no `read:`); a guard can read context fields and readable written fields{}", hint(&None, choices))]
    WritableInGuard { name: String, choices: Vec<String> },
    #[error("`{name}` is a socket option a program reads with bpf_getsockopt ({what}); list it in `reads:`, a guard cannot compare it")]
    ReadOptionInGuard { name: String, what: String },
    #[error("unknown param `${name}`{}", hint(suggestion, choices))]
    UnknownParam {
        name: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    #[error("unknown {field} value `{name}`{}", hint(suggestion, choices))]
    UnknownVariant {
        field: String,
        name: String,
        suggestion: Option<String>,
        choices: Vec<String>,
    },
    // Types.
    #[error("cannot compare {lhs} with {rhs}")]
    TypeMismatch { lhs: String, rhs: String },
    #[error("{value} is out of range for {what} ({min}..={max})")]
    OutOfRange {
        value: u64,
        what: String,
        min: u64,
        max: u64,
    },
    #[error("string \"{value}\" is longer than {max_len} bytes")]
    StringTooLong { value: String, max_len: u32 },
    #[error("{value} is out of range for {what} (-2147483648..=2147483647)")]
    SignedOutOfRange { value: String, what: String },
    #[error("{what} is signed: compare it with a literal (`< 0`, `>= -1`); an order comparison of two signed operands is not supported")]
    SignedOrderNeedsLiteral { what: String },
    #[error("{what} can only be compared with `==` or `!=`")]
    OrderingOnUnordered { what: String },
    #[error("`${name}` is a set ({ty}); use it after `in` or `not in`")]
    SetParamInComparison { name: String, ty: String },
    #[error("`${name}` is a {ty}, not a set; compare it with `==` instead of `in`")]
    ScalarParamAsSet { name: String, ty: String },
    #[error("the left side of `in` must be a field or a `$param`")]
    LiteralBeforeIn,
    #[error("{operand} cannot be in {set}")]
    SetTypeMismatch { operand: String, set: String },
}

fn hint(suggestion: &Option<String>, choices: &[String]) -> String {
    let mut s = String::new();
    if let Some(sug) = suggestion {
        s.push_str(&format!("; did you mean `{sug}`?"));
    }
    if !choices.is_empty() {
        s.push_str(&format!(
            " (valid: {})",
            crate::suggest::choices(choices, 12)
        ));
    }
    s
}

/// Parses and type-checks a guard. Syntax errors stop at the first one;
/// type errors are collected for every atom.
pub fn compile(text: &str, scope: Scope<'_>) -> Result<Guard, Vec<GuardError>> {
    let expr = parse(text).map_err(|e| vec![e])?;
    typeck::check(&expr, scope)
}

/// Parses a guard without typing it; `Ok` means the syntax is valid.
pub fn validate_syntax(text: &str) -> Result<(), GuardError> {
    parse(text).map(|_| ())
}

fn parse(text: &str) -> Result<syntax::Expr, GuardError> {
    let toks = syntax::lex(text)?;
    syntax::Parser::new(toks, text.chars().count()).parse_all()
}

#[cfg(test)]
mod tests;
