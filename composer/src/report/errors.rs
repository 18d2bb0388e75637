//! Input errors for people (`file:line:col: error: message`, then help
//! lines and, for guards, the guard with the bad characters marked) and for
//! machines (JSON).

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::{LoadErrorKind, LoadErrors, LoadWarning};

/// Every error, then a count line; ends with a newline.
pub fn load_errors_human(e: &LoadErrors) -> String {
    let mut out = String::new();
    for err in &e.errors {
        let _ = writeln!(out, "{}: error: {}", err.location, err.kind);
        if let LoadErrorKind::Guard {
            guard, offset, len, ..
        } = &err.kind
        {
            let _ = writeln!(out, "   | {guard}");
            let _ = writeln!(
                out,
                "   | {}{}",
                " ".repeat(*offset),
                "^".repeat((*len).max(1))
            );
        }
        for h in err.help() {
            let _ = writeln!(out, "   = help: {h}");
        }
    }
    let n = e.errors.len();
    let _ = writeln!(
        out,
        "{n} error{} in the input; nothing was checked",
        if n == 1 { "" } else { "s" }
    );
    out
}

#[derive(Serialize)]
struct JsonErrors<'a> {
    verdict: &'static str,
    errors: &'a LoadErrors,
    warnings: &'a [LoadWarning],
}

/// `{"verdict": "invalid_input", "errors": {...}}` with a trailing newline.
pub fn load_errors_json(e: &LoadErrors) -> String {
    let r = JsonErrors {
        verdict: "invalid_input",
        errors: e,
        warnings: &[],
    };
    let mut s =
        serde_json::to_string_pretty(&r).unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"));
    s.push('\n');
    s
}
