//! From the analysis's raw effects to findings against one program's spec:
//! map context offsets and `bpf_setsockopt` options to catalog fields,
//! compare with `reads:`/`writes:`, and check that every path continues
//! the chain.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::ctx::sock_ops_field;
use super::guard_ops;
use super::helpers;
use super::image::{Image, Loc};
use super::interp::{Analysis, Effect};
use super::ops::OpSet;
use super::rmw;
use super::sockopt;
use super::value::{Atom, Value};
use super::{
    AuditOptions, Finding, FindingKind, Observed, ProgramAudit, Severity, Site, CHAIN_MAP,
    CONFIG_MAP, SLOT_GLOBAL,
};
use crate::ir::{
    HookCatalog, Literal, Program, ReadMethod, Update, ValueType, WritableField, WriteMethod,
    WriteValue,
};

pub(super) struct Findings(pub(super) Vec<Finding>);

/// One write of a catalog field the bytecode makes.
pub(super) struct WriteSite {
    pub(super) field: String,
    /// The value written, where the audit sees it.
    pub(super) value: Option<Value>,
    /// The hook ops of the paths that reach the write.
    pub(super) ops: OpSet,
    pub(super) at: Site,
}

/// The values the spec declares for writes of `field`.
fn declared_values<'a>(program: &'a Program, field: &str) -> Vec<&'a WriteValue> {
    program
        .writes
        .iter()
        .filter(|w| w.field == field)
        .map(|w| &w.value)
        .collect()
}

/// (field, value, where) of the writes whose value the audit sees.
fn seen_values(sites: &[WriteSite]) -> impl Iterator<Item = (&String, &Value, &Site)> {
    sites
        .iter()
        .filter_map(|w| Some((&w.field, w.value.as_ref()?, &w.at)))
}

impl Findings {
    pub(super) fn add(
        &mut self,
        severity: Severity,
        kind: FindingKind,
        message: String,
        site: Option<Site>,
    ) {
        let f = match self.0.iter_mut().find(|f| f.kind == kind) {
            Some(f) => f,
            None => {
                self.0.push(Finding {
                    severity,
                    kind,
                    message,
                    sites: Vec::new(),
                });
                self.0.last_mut().expect("just pushed")
            }
        };
        if let Some(s) = site {
            if !f.sites.contains(&s) {
                f.sites.push(s);
                f.sites.sort();
            }
        }
    }
}

pub(super) fn site(image: &Image, loc: Loc) -> Site {
    let (function, function_insn) = image
        .function(loc)
        .map(|(n, i)| (n.to_string(), i))
        .unwrap_or_else(|| ("?".to_string(), loc.insn));
    Site {
        insn: loc.insn,
        section: image.section_name(loc).to_string(),
        function,
        function_insn,
        line: image.line(loc).cloned(),
    }
}

/// How the kernel is asked to write a field, for messages.
fn method_text(w: &WritableField) -> String {
    match &w.method {
        WriteMethod::ContextStore { offset } => format!("a context store at offset {offset}"),
        WriteMethod::Setsockopt { level, option, .. } => {
            format!("bpf_setsockopt({level}, {option})")
        }
        WriteMethod::Helper { name, .. } => name.clone(),
    }
}

fn field_size(w: &WritableField) -> i64 {
    i64::from(w.ty.bits().unwrap_or(32).div_ceil(8))
}

fn describe_index(v: &Value) -> String {
    let parts: Vec<String> = v
        .atoms()
        .map(|a| match a {
            Atom::Slot(0) => SLOT_GLOBAL.to_string(),
            Atom::Slot(k) if *k > 0 => format!("{SLOT_GLOBAL} + {k}"),
            Atom::Slot(k) => format!("{SLOT_GLOBAL} - {}", -k),
            Atom::Const(c) => c.to_string(),
            _ => "a run-time value".to_string(),
        })
        .collect();
    if parts.is_empty() {
        "an unknown index".into()
    } else {
        parts.join(" or ")
    }
}

pub(super) fn check(
    image: &Image,
    a: &Analysis,
    program: &Program,
    catalog: &HookCatalog,
    opts: &AuditOptions,
) -> ProgramAudit {
    let mut found = Findings(Vec::new());
    let mut writes: BTreeMap<String, BTreeSet<Site>> = BTreeMap::new();
    let mut reads: BTreeMap<String, BTreeSet<Site>> = BTreeMap::new();
    let mut continuation: BTreeSet<usize> = BTreeSet::new();
    let mut any_option = false;
    let mut any_store = false;
    // Every write of a catalog field, with what the audit knows of it.
    let mut write_sites: Vec<WriteSite> = Vec::new();
    let chain_id = a
        .names
        .iter()
        .position(|n| n == CHAIN_MAP)
        .map(|i| i as u32);
    let member = |off: i64| {
        (catalog.hook == "sock_ops")
            .then(|| sock_ops_field(off))
            .flatten()
    };
    // A writable field whose current value is read from the context.
    let current_field = |off: i64| {
        catalog.writable.values().find(|w| match w.read {
            Some(ReadMethod::ContextLoad { offset, size }) => {
                i64::from(offset) <= off && off < i64::from(offset + size)
            }
            _ => false,
        })
    };
    let ctx_store_field = |off: i64| {
        catalog.writable.values().find(|w| match w.method {
            WriteMethod::ContextStore { offset } => {
                let o = i64::from(offset);
                o <= off && off < o + field_size(w)
            }
            _ => false,
        })
    };

    for (node, effect) in &a.effects {
        let loc = a.nodes[*node].key.loc;
        let ops = a.nodes[*node].state.ops;
        let here = || Some(site(image, loc));
        match effect {
            Effect::CtxLoad { off: Some(off), .. } => {
                let readable = catalog.readable.values().find(|r| match (r.offset, r.size) {
                    (Some(o), Some(s)) => i64::from(o) <= *off && *off < i64::from(o + s),
                    _ => false,
                });
                let name = readable
                    .map(|r| r.name.clone())
                    .or_else(|| ctx_store_field(*off).map(|w| w.name.clone()))
                    .or_else(|| current_field(*off).map(|w| w.name.clone()));
                match name {
                    Some(n) => {
                        reads.entry(n).or_default().extend(here());
                    }
                    None => found.add(
                        Severity::Warning,
                        FindingKind::UnknownRead {
                            offset: Some(*off),
                            member: member(*off).map(str::to_string),
                        },
                        format!(
                            "reads context offset {off}{}, which the {} catalog does not list",
                            member(*off).map(|m| format!(" ({m})")).unwrap_or_default(),
                            catalog.hook
                        ),
                        here(),
                    ),
                }
            }
            Effect::CtxLoad { off: None, .. } => found.add(
                Severity::Warning,
                FindingKind::UnknownRead {
                    offset: None,
                    member: None,
                },
                "reads the context at an offset the audit cannot determine".into(),
                here(),
            ),
            Effect::CtxStore {
                off: Some(off),
                value,
                ..
            } => match ctx_store_field(*off) {
                Some(w) => {
                    writes.entry(w.name.clone()).or_default().extend(here());
                    write_sites.push(WriteSite {
                        field: w.name.clone(),
                        value: Some(value.clone()),
                        ops,
                        at: site(image, loc),
                    });
                }
                None => found.add(
                    Severity::Error,
                    FindingKind::UnknownContextStore {
                        offset: Some(*off),
                        member: member(*off).map(str::to_string),
                    },
                    format!(
                        "stores to context offset {off}{}, which is not a writable field of the {} catalog",
                        member(*off).map(|m| format!(" ({m})")).unwrap_or_default(),
                        catalog.hook
                    ),
                    here(),
                ),
            },
            Effect::CtxStore { off: None, .. } => {
                any_store = true;
                found.add(
                    Severity::Error,
                    FindingKind::UnknownContextStore {
                        offset: None,
                        member: None,
                    },
                    "stores to the context at an offset the audit cannot determine: it may write any context field".into(),
                    here(),
                );
            }
            Effect::Helper { id, args, optval } => match *id {
                helpers::TAIL_CALL => {
                    let to_chain = chain_id.is_some()
                        && args[1].single() == chain_id.map(Atom::Map)
                        && args[2].single() == Some(Atom::Slot(1));
                    if to_chain {
                        continuation.insert(*node);
                    } else {
                        let maps: Vec<String> = args[1]
                            .atoms()
                            .map(|m| match m {
                                Atom::Map(id) => a.name(*id).to_string(),
                                _ => "an unknown map".to_string(),
                            })
                            .collect();
                        let map = if maps.is_empty() {
                            "an unknown map".to_string()
                        } else {
                            maps.join(" or ")
                        };
                        let index = describe_index(&args[2]);
                        found.add(
                            Severity::Error,
                            FindingKind::ForeignTailCall {
                                map: map.clone(),
                                index: index.clone(),
                            },
                            format!(
                                "tail-calls {map} at index {index}; a member may only continue the chain ({CHAIN_MAP} at {SLOT_GLOBAL} + 1)"
                            ),
                            here(),
                        );
                    }
                }
                helpers::SETSOCKOPT => {
                    match (args[1].constants(), args[2].constants()) {
                        (Some(levels), Some(options)) => {
                            for l in &levels {
                                for o in &options {
                                    let field = sockopt::setsockopt(
                                        catalog, *l, *o, &mut writes, &mut found, here());
                                    if let Some(field) = field {
                                        write_sites.push(WriteSite {
                                            field,
                                            value: optval.clone(),
                                            ops,
                                            at: site(image, loc),
                                        });
                                    }
                                }
                            }
                        }
                        (levels, options) => {
                            any_option = true;
                            let one = |v: &Option<Vec<u64>>| match v.as_deref() {
                                Some([c]) => Some(*c),
                                _ => None,
                            };
                            let what = match (&levels, &options) {
                                (None, None) => "a level and an option",
                                (None, _) => "a level",
                                _ => "an option",
                            };
                            found.add(
                                Severity::Error,
                                FindingKind::AnySocketOption {
                                    level: one(&levels),
                                    option: one(&options),
                                },
                                format!(
                                    "calls bpf_setsockopt with {what} chosen at run time: it may write any socket option"
                                ),
                                here(),
                            );
                        }
                    }
                }
                helpers::GETSOCKOPT => {
                    for field in sockopt::getsockopt_reads(catalog, &args[1], &args[2]) {
                        reads.entry(field).or_default().extend(here());
                    }
                }
                id => {
                    let by_catalog = catalog.writable.values().find(
                        |w| matches!(&w.method, WriteMethod::Helper { id: h, .. } if i64::from(*h) == i64::from(id)),
                    );
                    if let Some(w) = by_catalog {
                        writes.entry(w.name.clone()).or_default().extend(here());
                        // The written value is the first argument after ctx.
                        write_sites.push(WriteSite {
                            field: w.name.clone(),
                            value: Some(args[1].clone()),
                            ops,
                            at: site(image, loc),
                        });
                    } else if helpers::WITH_CALLBACK.contains(&id) {
                        found.add(
                            Severity::Error,
                            FindingKind::UnknownHelper {
                                id,
                                name: helpers::display(id),
                            },
                            format!(
                                "calls {}, whose callback the audit does not follow",
                                helpers::display(id)
                            ),
                            here(),
                        );
                    } else if !helpers::NO_SOCKET_EFFECT.contains(&id) {
                        found.add(
                            Severity::Error,
                            FindingKind::UnknownHelper {
                                id,
                                name: helpers::display(id),
                            },
                            format!(
                                "calls {}, whose effect on the socket the {} catalog does not describe",
                                helpers::display(id),
                                catalog.hook
                            ),
                            here(),
                        );
                    }
                }
            },
            Effect::Kfunc { name } => found.add(
                Severity::Error,
                FindingKind::Kfunc { name: name.clone() },
                format!("calls the kfunc {name}, whose effects the audit does not know"),
                here(),
            ),
            Effect::Unfollowed { reason } => found.add(
                Severity::Error,
                FindingKind::Unfollowed {
                    reason: reason.clone(),
                },
                format!("the audit cannot follow the program here: {reason}"),
                here(),
            ),
        }
    }
    if a.gave_up {
        found.add(
            Severity::Error,
            FindingKind::Unfollowed {
                reason: "the analysis did not settle within its step budget".into(),
            },
            "the audit gave up: the analysis did not settle within its step budget".into(),
            None,
        );
    }

    // Writes against the spec.
    let declared: BTreeSet<&str> = program.writes.iter().map(|w| w.field.as_str()).collect();
    for (field, sites) in &writes {
        if !declared.contains(field.as_str()) {
            let how = catalog
                .writable
                .get(field)
                .map(method_text)
                .unwrap_or_default();
            found.add(
                Severity::Error,
                FindingKind::UndeclaredWrite {
                    field: field.clone(),
                },
                format!("writes {field} ({how}), which the spec does not declare"),
                None,
            );
            if let Some(f) = found.0.last_mut() {
                f.sites = sites.iter().cloned().collect();
            }
        }
    }
    for w in &program.writes {
        if writes.contains_key(&w.field) {
            continue;
        }
        let covered = match catalog.writable.get(&w.field).map(|f| &f.method) {
            Some(WriteMethod::Setsockopt { .. }) => any_option,
            Some(WriteMethod::ContextStore { .. }) => any_store,
            _ => false,
        };
        if !covered {
            let at = w
                .span
                .as_ref()
                .map(|s| format!(" (declared at {}:{})", s.file.display(), s.line))
                .unwrap_or_default();
            found.add(
                Severity::Warning,
                FindingKind::UnreachableWrite {
                    field: w.field.clone(),
                },
                format!(
                    "declares a write to {}{at} that no reachable instruction makes",
                    w.field
                ),
                None,
            );
        }
    }
    writes_outside_guards(catalog, program, &write_sites, &mut found);
    rmw::check(catalog, program, &write_sites, &mut found);
    // Constant values against the spec's literals and ranges.
    for (field, value, at) in seen_values(&write_sites) {
        let Some(consts) = value.constants() else {
            continue;
        };
        let declared = declared_values(program, field);
        let checkable = !declared.is_empty()
            && declared.iter().all(|v| {
                matches!(
                    v,
                    WriteValue::Lit(Literal::Int(_)) | WriteValue::Range { .. }
                )
            });
        if !checkable {
            continue;
        }
        for c in consts {
            let allowed = declared.iter().any(|v| match v {
                WriteValue::Lit(Literal::Int(n)) => *n == c,
                WriteValue::Range { min, max } => (*min..=*max).contains(&c),
                _ => true,
            });
            if !allowed {
                let ty = catalog.writable.get(field).map(|w| &w.ty);
                let text = |v: u64| ty.map_or_else(|| v.to_string(), |t| t.int_text(v));
                let spec_says: Vec<String> = declared
                    .iter()
                    .map(|v| match v {
                        WriteValue::Lit(Literal::Int(n)) => text(*n),
                        WriteValue::Range { min, max } => {
                            format!("{}..={}", text(*min), text(*max))
                        }
                        _ => "?".into(),
                    })
                    .collect();
                found.add(
                    Severity::Error,
                    FindingKind::UndeclaredValue {
                        field: field.clone(),
                        value: c,
                    },
                    format!(
                        "writes {field} = {}, but the spec declares {}",
                        text(c),
                        spec_says.join(" or ")
                    ),
                    Some(at.clone()),
                );
            }
        }
    }
    config_params(program, opts, &write_sites, &mut found);
    // Reads against the spec.
    let reads_declared = |field: &str| {
        program.reads.iter().any(|r| r == field)
            || program
                .writes
                .iter()
                .any(|w| w.field == field && w.update == Update::Or)
    };
    for (field, sites) in &reads {
        if !reads_declared(field) {
            found.add(
                Severity::Warning,
                FindingKind::UndeclaredRead {
                    field: field.clone(),
                },
                format!("reads {field}, which the spec's `reads:` does not list (reads order the chain)"),
                None,
            );
            if let Some(f) = found.0.last_mut() {
                f.sites = sites.iter().cloned().collect();
            }
        }
    }

    // Every path must continue the chain.
    let (bad_exits, branches) = chain_cuts(image, a, &continuation);
    if !bad_exits.is_empty() && !opts.ends_chain {
        let message = if continuation.is_empty() {
            format!("never continues the chain (no tail call into {CHAIN_MAP} at {SLOT_GLOBAL} + 1): every member after this one is cut off")
        } else {
            format!("a path returns without continuing the chain ({CHAIN_MAP} at {SLOT_GLOBAL} + 1): every member after this one is skipped on that path")
        };
        for loc in branches.iter().chain(bad_exits.iter()) {
            found.add(
                Severity::Error,
                FindingKind::ChainCut,
                message.clone(),
                Some(site(image, *loc)),
            );
        }
    }

    // What each field is written with, where the audit can tell.
    let mut written: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (field, value, _) in seen_values(&write_sites) {
        let ty = catalog.writable.get(field).map(|w| &w.ty);
        let names: Option<Vec<String>> = value
            .atoms()
            .map(|a| match a {
                Atom::Const(c) => Some(ty.map_or_else(|| c.to_string(), |t| t.int_text(*c))),
                Atom::Current { off, or } => Some(rmw::describe(catalog, *off, *or)),
                Atom::Config(o) => Some(
                    opts.config
                        .iter()
                        .find(|c| c.offset == *o)
                        .map(|c| format!("${}", c.param))
                        .unwrap_or_else(|| format!("{CONFIG_MAP}+{o}")),
                ),
                _ => None,
            })
            .collect();
        if let Some(names) = names {
            written.entry(field).or_default().extend(names);
        }
    }
    let observed = |m: BTreeMap<String, BTreeSet<Site>>, declared: &dyn Fn(&str) -> bool| {
        m.into_iter()
            .map(|(field, sites)| Observed {
                declared: declared(&field),
                values: written
                    .get(field.as_str())
                    .map(|v| v.iter().cloned().collect())
                    .unwrap_or_default(),
                field,
                sites: sites.into_iter().collect(),
            })
            .collect::<Vec<_>>()
    };
    let mut findings = found.0;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let locs: BTreeSet<Loc> = a.nodes.iter().map(|n| n.key.loc).collect();
    ProgramAudit {
        program: image.program.clone(),
        section: image.section_name(image.entry).to_string(),
        reached_insns: locs.len(),
        writes: observed(writes, &|f| declared.contains(f)),
        reads: observed(reads, &reads_declared),
        always_continues: bad_exits.is_empty(),
        findings,
    }
}

/// Values loaded from `accord_config` against the spec's `$param` values:
/// a write declared as `$iw` must write the slot where `iw` lives.
fn config_params(
    program: &Program,
    opts: &AuditOptions,
    write_sites: &[WriteSite],
    found: &mut Findings,
) {
    if opts.config.is_empty() {
        return;
    }
    for (field, value, at) in seen_values(write_sites) {
        let declared = declared_values(program, field);
        let params: Vec<&str> = declared
            .iter()
            .filter_map(|v| match v {
                WriteValue::Param(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        if params.is_empty() || params.len() != declared.len() {
            continue;
        }
        // Only values that are config params for certain are compared.
        let Some(offsets) = value
            .atoms()
            .map(|a| match a {
                Atom::Config(o) => Some(*o),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
        else {
            continue;
        };
        let spec_says: Vec<String> = params.iter().map(|p| format!("${p}")).collect();
        for offset in offsets {
            let slot = opts.config.iter().find(|c| c.offset == offset);
            if slot.is_some_and(|c| params.contains(&c.param.as_str())) {
                continue;
            }
            let from = match slot {
                Some(c) => format!(
                    "config param `{}` (offset {offset} of {CONFIG_MAP})",
                    c.param
                ),
                None => format!(
                    "offset {offset} of {CONFIG_MAP}, where no scalar param of the spec lives"
                ),
            };
            found.add(
                Severity::Error,
                FindingKind::UndeclaredParam {
                    field: field.clone(),
                    param: slot.map(|c| c.param.clone()),
                    offset,
                },
                format!(
                    "writes {field} from {from}, but the spec declares {}",
                    spec_says.join(" or ")
                ),
                Some(at.clone()),
            );
        }
    }
}

/// Declared writes made at ops where none of the field's guards can hold.
fn writes_outside_guards(
    catalog: &HookCatalog,
    program: &Program,
    write_sites: &[WriteSite],
    found: &mut Findings,
) {
    let Some(ValueType::Enum { variants }) =
        catalog.readable.get(guard_ops::OP_FIELD).map(|f| &f.ty)
    else {
        return;
    };
    // Per field: the excluded ops it is written at (value, name), and where.
    type Outside<'a> = (BTreeSet<(u64, &'a str)>, BTreeSet<&'a Site>);
    let mut outside: BTreeMap<&str, Outside> = BTreeMap::new();
    for WriteSite { field, ops, at, .. } in write_sites {
        let guards: Vec<_> = program
            .writes
            .iter()
            .filter(|w| &w.field == field)
            .map(|w| &w.guard)
            .collect();
        if guards.is_empty() {
            continue; // an undeclared write, reported as such
        }
        for (name, v) in variants {
            if ops.contains(*v) && !guards.iter().any(|g| guard_ops::may_hold(g, *v)) {
                let e = outside.entry(field).or_default();
                e.0.insert((*v, name));
                e.1.insert(at);
            }
        }
    }
    for (field, (ops, sites)) in outside {
        let names: Vec<String> = ops.iter().map(|(_, n)| n.to_string()).collect();
        found.add(
            Severity::Error,
            FindingKind::WriteOutsideGuard {
                field: field.to_string(),
                ops: names.clone(),
            },
            format!(
                "writes {field} when op is {}, where the spec's `when:` cannot hold: the composition was proved for the declared guard only",
                names.join(" or ")
            ),
            None,
        );
        if let Some(f) = found.0.last_mut() {
            f.sites = sites.into_iter().cloned().collect();
        }
    }
}

/// Exits of the program (not of a subprogram) reachable from the entry
/// without passing a chain continuation, and the branches where such a path
/// leaves the paths that continue.
fn chain_cuts(image: &Image, a: &Analysis, continuation: &BTreeSet<usize>) -> (Vec<Loc>, Vec<Loc>) {
    let n = a.nodes.len();
    let is_root_exit = |i: usize| {
        a.nodes[i].key.calls.is_empty()
            && image.insn(a.nodes[i].key.loc).is_some_and(|x| x.is_exit())
    };
    // Forward: reachable without passing a continuation.
    let mut fwd = vec![false; n];
    let mut q = VecDeque::from([a.entry()]);
    fwd[a.entry()] = true;
    while let Some(i) = q.pop_front() {
        if continuation.contains(&i) {
            continue;
        }
        for &j in &a.succs[i] {
            if !fwd[j] {
                fwd[j] = true;
                q.push_back(j);
            }
        }
    }
    let bad: Vec<usize> = (0..n).filter(|&i| fwd[i] && is_root_exit(i)).collect();
    if bad.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // Backward from the bad exits, inside the forward set.
    let mut preds = vec![Vec::new(); n];
    for (i, ss) in a.succs.iter().enumerate() {
        for &j in ss {
            preds[j].push(i);
        }
    }
    let mut back = vec![false; n];
    let mut q: VecDeque<usize> = bad.iter().copied().collect();
    for &b in &bad {
        back[b] = true;
    }
    while let Some(i) = q.pop_front() {
        for &p in &preds[i] {
            if fwd[p] && !continuation.contains(&p) && !back[p] {
                back[p] = true;
                q.push_back(p);
            }
        }
    }
    // A branch on a cutting path with a successor that is not on one.
    let branches: BTreeSet<Loc> = (0..n)
        .filter(|&i| back[i] && a.succs[i].len() > 1 && a.succs[i].iter().any(|&j| !back[j]))
        .map(|i| a.nodes[i].key.loc)
        .collect();
    let exits: BTreeSet<Loc> = bad.iter().map(|&i| a.nodes[i].key.loc).collect();
    (exits.into_iter().collect(), branches.into_iter().collect())
}
