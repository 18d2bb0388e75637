//! Which writes a guard that reads a written field sees: for a reader R of
//! field F (a guard testing `SO_MARK == 5`), the writes of F by the members
//! before R in the chain order, in that order. The order is the one the
//! read and declared edges give (a reader is ordered after the writers of
//! what it reads); the writer a `resolve:` entry prefers for F runs last
//! among them, as the override will make it. With an ordering cycle no
//! order exists and the reads stay free (any value).

use std::collections::HashMap;

use super::Run;
use crate::outcome::OrderEdge;
use crate::solver::encode::SeenWriter;

impl<'c> Run<'c> {
    pub(super) fn seen_writers(&mut self, edges: &[OrderEdge]) {
        let Ok(order) = crate::order::order(&self.members, edges) else {
            return;
        };
        let pos: HashMap<usize, usize> = order
            .iter()
            .filter_map(|m| self.members.iter().position(|x| x == m))
            .enumerate()
            .map(|(p, m)| (m, p))
            .collect();
        let mut table = Vec::new();
        for (r, (_, _, program)) in self.c.members().enumerate() {
            let mut fields: Vec<String> = Vec::new();
            for w in &program.writes {
                for f in w.guard.written_fields(&self.c.catalog) {
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
            }
            for f in fields {
                let mut writers: Vec<usize> = self
                    .by_field
                    .get(f.as_str())
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|&i| {
                        let s = &self.sites[i];
                        s.member != r
                            && s.program.hook == program.hook
                            && pos.get(&s.member) < pos.get(&r)
                    })
                    .collect();
                let preferred = |i: &usize| {
                    let feature = &self.members[self.sites[*i].member].feature;
                    self.c
                        .resolves
                        .iter()
                        .any(|x| x.field == f && &x.prefer == feature)
                };
                writers.sort_by_key(|i| (preferred(i), pos.get(&self.sites[*i].member), *i));
                let list = writers
                    .into_iter()
                    .map(|i| {
                        let s = &self.sites[i];
                        SeenWriter {
                            member: s.member,
                            feature: s.feature,
                            write: s.write,
                            field: s.field,
                            value_key: format!("{}.{}", s.feature.name, i),
                        }
                    })
                    .collect();
                table.push(((r, f), list));
            }
        }
        self.prover.set_writers(table);
    }
}
