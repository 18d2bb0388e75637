//! Order edges: a member that reads a field runs after the members that
//! write it (where their guards overlap), and the specs' `after:` /
//! `before:`.

use std::collections::BTreeMap;

use super::Run;
use crate::ir::{Program, Update};
use crate::outcome::EdgeReason;
use crate::solver::{Overlap, Side};

impl<'c> Run<'c> {
    pub(super) fn reads_edges(&mut self) {
        let mut own: Vec<Vec<usize>> = vec![Vec::new(); self.members.len()];
        for (i, s) in self.sites.iter().enumerate() {
            own[s.member].push(i);
        }
        let readers: Vec<(usize, &'c Program)> = self
            .c
            .members()
            .enumerate()
            .map(|(i, (_, _, p))| (i, p))
            .collect();
        for (r, program) in readers {
            for (field, only_set) in read_fields(program) {
                let writers = self.by_field.get(field).cloned().unwrap_or_default();
                for wi in writers {
                    let w = &self.sites[wi];
                    if only_set && w.write.update == Update::Or {
                        continue;
                    }
                    let key = (w.member, r, format!("r:{field}"));
                    if w.member == r
                        || w.program.hook != program.hook
                        || self.edge_keys.contains(&key)
                    {
                        continue;
                    }
                    self.stats.order_candidates += 1;
                    if w.gbox.is_bottom() {
                        continue;
                    }
                    let acting: Vec<Side<'c>> = own[r]
                        .iter()
                        .filter(|&&x| self.sites[x].gbox.may_overlap(&w.gbox))
                        .map(|&x| self.sites[x].side(x))
                        .collect();
                    if !own[r].is_empty() && acting.is_empty() {
                        continue;
                    }
                    if self.fast
                        && w.exact
                        && (own[r].is_empty() || acting.iter().any(|s| self.sites[s.site].exact))
                    {
                        // Exact boxes that intersect: the guards overlap.
                        let wm = w.member;
                        self.stats.decided_exactly += 1;
                        self.edge(
                            wm,
                            r,
                            EdgeReason::ReadsWrite {
                                field: field.into(),
                            },
                        );
                        continue;
                    }
                    self.stats.order_queries += 1;
                    let what = format!(
                        "order: {} writes {field}, read by {}",
                        self.members[w.member], self.members[r]
                    );
                    let (wm, side) = (w.member, w.side(wi));
                    match self.prover.overlap(&what, &side, &acting) {
                        Overlap::No => {}
                        Overlap::Yes | Overlap::Unknown(_) => {
                            self.edge(
                                wm,
                                r,
                                EdgeReason::ReadsWrite {
                                    field: field.into(),
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    pub(super) fn declared_edges(&mut self) {
        let mut of_feature: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in self.members.iter().enumerate() {
            of_feature.entry(m.feature.clone()).or_default().push(i);
        }
        for f in &self.c.features {
            let mine = of_feature.get(f.name.as_str()).cloned().unwrap_or_default();
            for (others, mine_first) in [(&f.after, false), (&f.before, true)] {
                for o in others {
                    let theirs = of_feature.get(o.as_str()).cloned().unwrap_or_default();
                    for &x in &mine {
                        for &y in &theirs {
                            let (a, b) = if mine_first { (x, y) } else { (y, x) };
                            self.edge(a, b, EdgeReason::Declared);
                        }
                    }
                }
            }
        }
    }
}

/// The fields a program's behaviour depends on, each with whether only
/// assignments to it matter: its `reads:` (every writer), and the fields
/// it ORs into (`update: or` reads the current value; another `or` writer
/// commutes with it, an assignment must come first).
fn read_fields(program: &Program) -> Vec<(&str, bool)> {
    let mut out: BTreeMap<&str, bool> = BTreeMap::new();
    for f in &program.reads {
        out.insert(f.as_str(), false);
    }
    for w in program.writes.iter().filter(|w| w.update == Update::Or) {
        out.entry(w.field.as_str()).or_insert(true);
    }
    out.into_iter().collect()
}
