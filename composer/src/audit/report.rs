//! Audit reports for people and machines: one [`FeatureAudit`] per spec,
//! one entry per program in it.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::{Finding, ProgramAudit, Severity, Site};

/// One program of a spec: where its object came from, and the audit or why
/// there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditedProgram {
    pub program: String,
    /// Where the object was found (`file:<path>`, `embedded:<name>`).
    pub object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<ProgramAudit>,
    /// Why the object could not be audited (not found, not ELF, no such program).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The audit of every program of one feature spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureAudit {
    pub feature: String,
    pub spec: PathBuf,
    pub programs: Vec<AuditedProgram>,
}

impl FeatureAudit {
    pub fn errors(&self) -> usize {
        self.programs
            .iter()
            .map(|p| p.audit.as_ref().map_or(0, ProgramAudit::errors))
            .sum()
    }

    pub fn warnings(&self) -> usize {
        self.programs
            .iter()
            .map(|p| p.audit.as_ref().map_or(0, ProgramAudit::warnings))
            .sum()
    }

    /// Programs whose object could not be audited at all.
    pub fn unaudited(&self) -> usize {
        self.programs.iter().filter(|p| p.error.is_some()).count()
    }

    /// No undeclared effect and every object audited.
    pub fn is_clean(&self) -> bool {
        self.errors() == 0 && self.unaudited() == 0
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `insn 78 (init_cwnd+78) ebpf/include/accord.h:386:13`
pub fn site_text(s: &Site) -> String {
    let mut t = format!("insn {} ({}+{})", s.insn, s.function, s.function_insn);
    if let Some(l) = &s.line {
        let _ = write!(t, " {}:{}", l.file, l.line);
        if l.column > 0 {
            let _ = write!(t, ":{}", l.column);
        }
    }
    t
}

fn finding(out: &mut String, f: &Finding) {
    let label = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "    {label}: {}", f.message);
    for s in &f.sites {
        let _ = writeln!(out, "      at {}", site_text(s));
        if let Some(l) = s.line.as_ref().filter(|l| !l.text.is_empty()) {
            let _ = writeln!(out, "         | {}", l.text);
        }
    }
}

/// ` = $iw`, ` = 1 or 2`; empty when the audit cannot tell the value.
fn values_brief(values: &[String]) -> String {
    if values.is_empty() {
        String::new()
    } else {
        format!(" = {}", values.join(" or "))
    }
}

fn sites_brief(sites: &[Site]) -> String {
    let mut insns: Vec<String> = sites.iter().take(4).map(|s| s.insn.to_string()).collect();
    if sites.len() > 4 {
        insns.push("...".into());
    }
    if insns.is_empty() {
        String::new()
    } else {
        format!(" at insn {}", insns.join(", "))
    }
}

/// The human report of one feature.
pub fn human(a: &FeatureAudit) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "audit {} ({})", a.feature, a.spec.display());
    for p in &a.programs {
        let Some(audit) = &p.audit else {
            let _ = writeln!(
                out,
                "  program {} ({}): not audited: {}",
                p.program,
                p.object,
                p.error.as_deref().unwrap_or("unknown reason")
            );
            continue;
        };
        let _ = writeln!(
            out,
            "  program {} ({}, section {}, {} reached)",
            p.program,
            p.object,
            audit.section,
            plural(audit.reached_insns, "instruction")
        );
        for w in &audit.writes {
            let tag = if w.declared { "declared" } else { "UNDECLARED" };
            let _ = writeln!(
                out,
                "    writes {}{} ({tag}){}",
                w.field,
                values_brief(&w.values),
                sites_brief(&w.sites)
            );
        }
        if audit.writes.is_empty() {
            let _ = writeln!(out, "    writes nothing");
        }
        let reads: Vec<String> = audit
            .reads
            .iter()
            .map(|r| {
                if r.declared {
                    r.field.clone()
                } else {
                    format!("{} (UNDECLARED)", r.field)
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "    reads {}",
            if reads.is_empty() {
                "nothing".to_string()
            } else {
                reads.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "    chain: {}",
            if audit.always_continues {
                "every path continues the chain"
            } else {
                "some path ends without continuing the chain"
            }
        );
        for f in &audit.findings {
            finding(&mut out, f);
        }
    }
    let mut result = format!(
        "  result: {}, {}",
        plural(a.errors(), "error"),
        plural(a.warnings(), "warning")
    );
    if a.unaudited() > 0 {
        let _ = write!(result, ", {} not audited", plural(a.unaudited(), "program"));
    }
    let verdict = if a.errors() > 0 {
        "the object does more than the spec says"
    } else if a.unaudited() > 0 {
        "not every object could be audited"
    } else {
        "the object does what the spec says"
    };
    let _ = writeln!(out, "{result}: {verdict}");
    out
}

/// One line for a feature with nothing to report, else the full [`human`]
/// report (for `accord check --audit`, which audits many features at once).
pub fn brief(a: &FeatureAudit) -> String {
    if !a.is_clean() || a.warnings() > 0 {
        return human(a);
    }
    let writes: Vec<String> = a
        .programs
        .iter()
        .filter_map(|p| p.audit.as_ref())
        .flat_map(|x| x.writes.iter())
        .map(|w| {
            format!(
                "{}{}{}",
                w.field,
                values_brief(&w.values),
                sites_brief(&w.sites)
            )
        })
        .collect();
    format!(
        "audit {}: clean (writes {})\n",
        a.feature,
        if writes.is_empty() {
            "nothing".to_string()
        } else {
            writes.join("; ")
        }
    )
}

/// The JSON report of several features (`accord audit --format json`).
pub fn json(audits: &[FeatureAudit]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        clean: bool,
        errors: usize,
        warnings: usize,
        features: &'a [FeatureAudit],
    }
    let out = Out {
        clean: audits.iter().all(FeatureAudit::is_clean),
        errors: audits.iter().map(FeatureAudit::errors).sum(),
        warnings: audits.iter().map(FeatureAudit::warnings).sum(),
        features: audits,
    };
    let mut s = serde_json::to_string_pretty(&out).unwrap_or_else(|e| {
        format!("{{\"clean\": false, \"error\": \"cannot serialize the audit: {e}\"}}")
    });
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{FindingKind, Observed};

    fn site(insn: usize) -> Site {
        Site {
            insn,
            section: "sockops".into(),
            function: "m".into(),
            function_insn: insn,
            line: None,
        }
    }

    fn feature(findings: Vec<Finding>) -> FeatureAudit {
        FeatureAudit {
            feature: "m".into(),
            spec: "m.yaml".into(),
            programs: vec![AuditedProgram {
                program: "m".into(),
                object: "file:m.bpf.o".into(),
                audit: Some(ProgramAudit {
                    program: "m".into(),
                    section: "sockops".into(),
                    reached_insns: 10,
                    writes: vec![Observed {
                        field: "reply".into(),
                        declared: true,
                        sites: vec![site(3)],
                        values: Vec::new(),
                    }],
                    reads: Vec::new(),
                    always_continues: true,
                    findings,
                }),
                error: None,
            }],
        }
    }

    #[test]
    fn a_clean_feature_is_one_line_and_a_dirty_one_the_full_report() {
        let clean = feature(Vec::new());
        assert!(clean.is_clean());
        assert_eq!(brief(&clean), "audit m: clean (writes reply at insn 3)\n");
        let dirty = feature(vec![Finding {
            severity: Severity::Error,
            kind: FindingKind::ChainCut,
            message: "cut".into(),
            sites: vec![site(9)],
        }]);
        assert!(!dirty.is_clean());
        let text = brief(&dirty);
        assert!(
            text.contains("    error: cut\n      at insn 9 (m+9)\n"),
            "{text}"
        );
        assert!(text.ends_with("1 error, 0 warnings: the object does more than the spec says\n"));
        let v: serde_json::Value = serde_json::from_str(&json(&[clean, dirty])).expect("json");
        assert_eq!(v["clean"], false);
        assert_eq!(v["errors"], 1);
        assert_eq!(
            v["features"][1]["programs"][0]["audit"]["findings"][0]["kind"],
            "chain_cut"
        );
    }

    #[test]
    fn an_object_that_could_not_be_audited_is_not_clean() {
        let mut f = feature(Vec::new());
        f.programs[0].audit = None;
        f.programs[0].error = Some("no object m.bpf.o".into());
        assert!(!f.is_clean());
        let text = human(&f);
        assert!(text.contains("not audited: no object m.bpf.o"), "{text}");
        assert!(text.contains("not every object could be audited"), "{text}");
    }
}
