//! The chain order: a topological order of the members under the order
//! edges, or one cycle that makes every order impossible.
//!
//! Deterministic by construction: Kahn's algorithm always takes the
//! smallest ready member by (feature name, program name), and a cycle is
//! reported starting at the smallest member of the first strongly connected
//! component that holds one, following the shortest way back to it.

use std::collections::{BTreeSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::ir::MemberId;
use crate::outcome::OrderEdge;

/// Orders `members` so that every edge's `first` comes before its `then`.
/// `Err` holds one cycle, its first member repeated at the end. Edges that
/// name an unknown member, and self-edges, are ignored.
pub fn order(members: &[MemberId], edges: &[OrderEdge]) -> Result<Vec<MemberId>, Vec<MemberId>> {
    let mut g: DiGraph<&MemberId, ()> = DiGraph::new();
    let mut index = std::collections::HashMap::new();
    for m in members {
        index.entry(m).or_insert_with(|| g.add_node(m));
    }
    for e in edges {
        if let (Some(a), Some(b)) = (index.get(&e.first), index.get(&e.then)) {
            if a != b && g.find_edge(*a, *b).is_none() {
                g.add_edge(*a, *b, ());
            }
        }
    }
    let mut indegree: Vec<usize> = g
        .node_indices()
        .map(|n| g.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BTreeSet<(&MemberId, NodeIndex)> = g
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .map(|n| (g[n], n))
        .collect();
    let mut out = Vec::with_capacity(g.node_count());
    while let Some((m, n)) = ready.pop_first() {
        out.push(m.clone());
        for s in g.neighbors_directed(n, Direction::Outgoing) {
            indegree[s.index()] -= 1;
            if indegree[s.index()] == 0 {
                ready.insert((g[s], s));
            }
        }
    }
    if out.len() == g.node_count() {
        return Ok(out);
    }
    Err(find_cycle(&g))
}

/// One cycle of a graph that has one.
fn find_cycle(g: &DiGraph<&MemberId, ()>) -> Vec<MemberId> {
    // The cyclic component holding the smallest member.
    let start = tarjan_scc(g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .filter_map(|c| c.iter().copied().min_by_key(|n| g[*n]).map(|s| (c, s)))
        .min_by_key(|(_, s)| g[*s]);
    let Some((component, start)) = start else {
        return Vec::new();
    };
    let inside: BTreeSet<NodeIndex> = component.into_iter().collect();
    // Shortest path start -> ... -> start, visiting successors in name order.
    let mut prev: std::collections::HashMap<NodeIndex, NodeIndex> = Default::default();
    let mut queue = VecDeque::from([start]);
    let mut end = None;
    'bfs: while let Some(n) = queue.pop_front() {
        let mut succ: Vec<NodeIndex> = g
            .neighbors_directed(n, Direction::Outgoing)
            .filter(|s| inside.contains(s))
            .collect();
        succ.sort_by_key(|s| g[*s]);
        for s in succ {
            if s == start {
                end = Some(n);
                break 'bfs;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(s) {
                e.insert(n);
                queue.push_back(s);
            }
        }
    }
    let mut path = vec![start];
    let mut n = end.unwrap_or(start);
    let mut back = Vec::new();
    while n != start {
        back.push(n);
        match prev.get(&n) {
            Some(p) => n = *p,
            None => break,
        }
    }
    path.extend(back.into_iter().rev());
    path.push(start);
    path.into_iter().map(|n| g[n].clone()).collect()
}

/// A cycle as text: `a -> b -> a`.
pub fn render_cycle(cycle: &[MemberId]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::EdgeReason;

    fn m(f: &str) -> MemberId {
        MemberId {
            feature: f.into(),
            program: f.into(),
        }
    }

    fn e(a: &str, b: &str) -> OrderEdge {
        OrderEdge {
            first: m(a),
            then: m(b),
            reason: EdgeReason::Declared,
        }
    }

    #[test]
    fn ties_break_by_name() {
        let ms = vec![m("zeta"), m("alpha"), m("mid")];
        let got = order(&ms, &[]).unwrap_or_default();
        assert_eq!(got, vec![m("alpha"), m("mid"), m("zeta")]);
        let got = order(&ms, &[e("zeta", "alpha")]).unwrap_or_default();
        assert_eq!(got, vec![m("mid"), m("zeta"), m("alpha")]);
    }

    #[test]
    fn cycle_is_found_and_closed() {
        let ms = vec![m("a"), m("b"), m("c"), m("d")];
        let edges = [e("c", "b"), e("b", "d"), e("d", "c"), e("a", "b")];
        let cycle = order(&ms, &edges).err().unwrap_or_default();
        assert_eq!(render_cycle(&cycle), "b -> d -> c -> b");
    }
}
