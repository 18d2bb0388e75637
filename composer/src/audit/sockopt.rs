//! `bpf_setsockopt` and `bpf_getsockopt` calls, by their constant level
//! and option, as the hook catalog's fields: a set is a write of the
//! writable field with that method, a get is a read of it (or of a
//! read-only option such as `TCP_BPF_SYN`).

use std::collections::{BTreeMap, BTreeSet};

use super::check::Findings;
use super::value::Value;
use super::{FindingKind, Severity, Site};
use crate::ir::{HookCatalog, WriteMethod};

/// The catalog field `bpf_setsockopt(level, option)` writes, recorded in
/// `writes`; an option the catalog lacks is an error.
pub(super) fn setsockopt(
    catalog: &HookCatalog,
    level: u64,
    option: u64,
    writes: &mut BTreeMap<String, BTreeSet<Site>>,
    found: &mut Findings,
    here: Option<Site>,
) -> Option<String> {
    // The helper takes `int level, int optname`: the low 32 bits count.
    let (l, o) = (level as u32 as i32, option as u32 as i32);
    let field = catalog.writable.values().find(|w| {
        matches!(&w.method, WriteMethod::Setsockopt { level_value, option_value, .. }
            if *level_value == l && *option_value == o)
    });
    match field {
        Some(w) => {
            writes.entry(w.name.clone()).or_default().extend(here);
            Some(w.name.clone())
        }
        None => {
            found.add(
            Severity::Error,
            FindingKind::UnknownSocketOption {
                level: u64::from(l as u32),
                option: u64::from(o as u32),
            },
            format!(
                "calls bpf_setsockopt(level {l}, option {o}), a socket option the {} catalog does not list",
                catalog.hook
            ),
            here,
            );
            None
        }
    }
}

/// The catalog fields a `bpf_getsockopt(ctx, level, option, ...)` call
/// reads: for each constant level and option, the writable field set with
/// that option or the read-only option of that number. A level or option
/// chosen at run time, or one the catalog lacks, reads nothing a spec
/// declares (getsockopt changes nothing).
pub(super) fn getsockopt_reads(
    catalog: &HookCatalog,
    levels: &Value,
    options: &Value,
) -> Vec<String> {
    let (Some(levels), Some(options)) = (levels.constants(), options.constants()) else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    for l in &levels {
        for o in &options {
            let (l, o) = (*l as u32 as i32, *o as u32 as i32);
            let written = catalog.writable.values().find(|w| {
                matches!(&w.method, WriteMethod::Setsockopt { level_value, option_value, .. }
                    if *level_value == l && *option_value == o)
            });
            if let Some(w) = written {
                out.insert(w.name.clone());
            }
            let read_only = catalog
                .read_options
                .values()
                .find(|r| r.level_value == l && r.option_value == o);
            if let Some(r) = read_only {
                out.insert(r.name.clone());
            }
        }
    }
    out.into_iter().collect()
}
