//! Cross-field invariants of the catalog (`lhs op rhs` whenever a
//! connection gets both written), checked for every writer pair.

use std::collections::HashSet;

use super::Run;
use crate::eval::written_key;
use crate::outcome::{Conflict, UnknownCheck, Verdict};

impl Run<'_> {
    pub(super) fn invariants(&mut self) {
        for inv in &self.c.catalog.invariants {
            let known = |f: &str| self.c.catalog.writable.contains_key(f);
            if !known(&inv.lhs) || !known(&inv.rhs) {
                self.unknown.push(UnknownCheck {
                    what: format!("invariant {}", inv.name),
                    reason: format!(
                        "the catalog has no writable field `{}`",
                        if known(&inv.lhs) { &inv.rhs } else { &inv.lhs }
                    ),
                });
                continue;
            }
            let lw = self
                .by_field
                .get(inv.lhs.as_str())
                .cloned()
                .unwrap_or_default();
            let rw = self
                .by_field
                .get(inv.rhs.as_str())
                .cloned()
                .unwrap_or_default();
            let mut decided = HashSet::new();
            for &i in &lw {
                for &j in &rw {
                    let (l, r) = (&self.sites[i], &self.sites[j]);
                    if l.program.hook != r.program.hook || decided.contains(&(l.member, r.member)) {
                        continue;
                    }
                    self.stats.invariant_candidates += 1;
                    if l.value.surely_holds(inv.op, &r.value) || !l.gbox.may_overlap(&r.gbox) {
                        continue;
                    }
                    self.stats.invariant_queries += 1;
                    let (ml, mr) = (
                        self.members[l.member].clone(),
                        self.members[r.member].clone(),
                    );
                    let what = format!("{}: {ml} {} vs {mr} {}", inv.name, inv.lhs, inv.rhs);
                    let labels = [
                        written_key(&ml, Some(&inv.lhs)),
                        written_key(&mr, Some(&inv.rhs)),
                    ];
                    let pair = (l.member, r.member);
                    let (sl, sr) = (l.side(i), r.side(j));
                    let only = self.honoured_only(&[&inv.lhs, &inv.rhs], l.feature);
                    let only_box = only.as_ref().map(|(_, b)| b);
                    let exact = self.exact_witness(i, j, labels.clone(), Some(inv.op), only_box);
                    let verdict = match exact {
                        Some(w) => Verdict::Violated(w),
                        None => {
                            let only = only.as_ref().map(|(g, _)| g);
                            self.prover.invariant(&what, inv.op, &sl, &sr, labels, only)
                        }
                    };
                    match verdict {
                        Verdict::Safe => {}
                        Verdict::Violated(witness) => {
                            decided.insert(pair);
                            self.conflicts.push(Conflict::Invariant {
                                invariant: inv.name.clone(),
                                lhs_writer: ml,
                                rhs_writer: mr,
                                witness,
                            });
                        }
                        Verdict::Unknown { reason } => {
                            decided.insert(pair);
                            self.unknown.push(UnknownCheck { what, reason });
                        }
                    }
                }
            }
        }
    }
}
