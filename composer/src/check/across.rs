//! Persistent fields across the callbacks of one connection end.
//!
//! A socket option (or the cb flags) set at one callback stays set: when
//! one member writes it at `TCP_CONNECT_CB` and another at
//! `ACTIVE_ESTABLISHED_CB`, the same connection end meets both writes and
//! keeps the later one, whatever the chain order. So for every two writes
//! of a persistent field by different members, where the first write's
//! guard may hold at a callback X and the second's at a callback Y that
//! one end goes through after X (the catalog's `connection_ends:`), the
//! solver is asked for one end (per-end fields such as addresses and
//! ports shared, per-callback ones like `op` apart) where both guards hold
//! and the values differ: a [`Conflict::AcrossCallbacks`], or, when a
//! `resolve:` entry prefers the later writer, an [`Override`]. A later
//! write declared `update: or` keeps what was there and is never one.
//! Writes no single end sees both of (the active side's `TCP_CONNECT_CB`,
//! the passive side's `PASSIVE_ESTABLISHED_CB`) are never compared, and a
//! field that is `persistent: false` (`reply`) is compared per callback
//! only (`same_field`).

use std::collections::BTreeSet;

use super::{Run, OP_FIELD};
use crate::audit::guard_ops::may_hold;
use crate::eval::written_key;
use crate::ir::{Literal, Sequence, Update, ValueType};
use crate::outcome::{Conflict, Override, UnknownCheck, Verdict};

impl Run<'_> {
    pub(super) fn across_callbacks(&mut self) {
        let Some(model) = self.c.catalog.connection.as_ref() else {
            return;
        };
        let Some(ValueType::Enum { variants }) =
            self.c.catalog.readable.get(OP_FIELD).map(|f| &f.ty)
        else {
            return;
        };
        // The ops each write's guard may hold at.
        let ops: Vec<Vec<u64>> = self
            .sites
            .iter()
            .map(|s| {
                variants
                    .iter()
                    .map(|(_, v)| *v)
                    .filter(|v| may_hold(&s.write.guard, *v) && s.field.honoured(*v))
                    .collect()
            })
            .collect();
        // Box fields that are the same at every callback of one end.
        let per_end: BTreeSet<usize> = model
            .per_end
            .iter()
            .filter_map(|f| self.approx.field_index(f))
            .collect();
        let fields: Vec<(String, Vec<usize>)> = self
            .by_field
            .iter()
            .map(|(f, v)| (f.to_string(), v.clone()))
            .collect();
        for (field, idxs) in fields {
            if !self.sites[idxs[0]].field.persistent {
                continue;
            }
            for &i in &idxs {
                for &j in &idxs {
                    let pairs: Vec<(u64, u64)> = ops[i]
                        .iter()
                        .flat_map(|x| ops[j].iter().map(move |y| (*x, *y)))
                        .filter(|(x, y)| model.follows(*x, *y).is_some())
                        .collect();
                    self.across_pair(&field, i, j, &pairs, &per_end);
                }
            }
        }
    }

    /// Writes `i` (at a first callback) and `j` (at a later one) of `field`.
    fn across_pair(
        &mut self,
        field: &str,
        i: usize,
        j: usize,
        pairs: &[(u64, u64)],
        per_end: &BTreeSet<usize>,
    ) {
        let (a, b) = (&self.sites[i], &self.sites[j]);
        if a.member == b.member || a.program.hook != b.program.hook {
            return;
        }
        // An `or` at the later callback keeps the earlier bits.
        if b.write.update == Update::Or {
            return;
        }
        let key = (
            field.to_string(),
            a.member.min(b.member),
            a.member.max(b.member),
        );
        if self.reported.contains(&key) || pairs.is_empty() {
            return;
        }
        self.stats.across_candidates += 1;
        if a.value.surely_equal(&b.value) {
            return;
        }
        let (pa, pb) = (
            a.gbox.restricted(|f| per_end.contains(&f)),
            b.gbox.restricted(|f| per_end.contains(&f)),
        );
        if !pa.may_overlap(&pb) {
            return;
        }
        self.stats.across_queries += 1;
        let (ma, mb) = (
            self.members[a.member].clone(),
            self.members[b.member].clone(),
        );
        let what = format!("{field} across callbacks: {ma} then {mb}");
        let labels = [written_key(&ma, None), written_key(&mb, None)];
        let (sa, sb) = (a.side(i), b.side(j));
        let (first, then) = (a.member, b.member);
        match self.prover.across(&what, &sa, &sb, pairs, labels) {
            Verdict::Safe => {}
            Verdict::Unknown { reason } => {
                self.reported.insert(key);
                self.unknown.push(UnknownCheck { what, reason });
            }
            Verdict::Violated(witness) => {
                self.reported.insert(key);
                let op =
                    |m: &std::collections::BTreeMap<String, crate::outcome::WitnessValue>| match m
                        .get(OP_FIELD)
                        .map(|v| &v.raw)
                    {
                        Some(Literal::Int(v)) => *v,
                        _ => u64::MAX,
                    };
                let either_last = self
                    .c
                    .catalog
                    .connection
                    .as_ref()
                    .and_then(|m| m.follows(op(&witness.connection), op(&witness.later)))
                    .is_some_and(|(s, _)| s == Sequence::Either);
                // A `resolve:` can accept the later write winning; it cannot
                // make an earlier callback's value survive.
                match self.resolved(field, first, then) {
                    Some((winner, loser)) if winner == then && !either_last => {
                        self.overrides.push(Override {
                            field: field.to_string(),
                            winner: self.members[winner].clone(),
                            loser: self.members[loser].clone(),
                            witness,
                        });
                    }
                    _ => self.conflicts.push(Conflict::AcrossCallbacks {
                        field: field.to_string(),
                        first: ma,
                        then: mb,
                        either_last,
                        witness,
                    }),
                }
            }
        }
    }
}
