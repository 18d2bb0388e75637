//! Composer scale: checks synthetic compositions of growing size on one
//! `sock_ops` hook (see `composer::testing::synthetic`) and prints one
//! Markdown table row per size.
//!
//!     cargo bench -p composer --bench scale            # 10, 100, 1000, 5000
//!     cargo bench -p composer --bench scale -- 1000    # chosen sizes
//!     cargo bench -p composer --bench scale -- --any-config 1000
//!     cargo bench -p composer --bench scale -- --timeout-ms=0 1000   # no per-query timeout
//!
//! A plain binary (`harness = false`): each size is checked `REPEAT` times
//! and the fastest wall time is shown (the machine is shared and noisy).

use std::time::{Duration, Instant};

use composer::check::{check_traced, CheckOptions};
use composer::testing::synthetic;

const REPEAT: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let any_config = args.iter().any(|a| a == "--any-config");
    let timeout_ms = args
        .iter()
        .find_map(|a| a.strip_prefix("--timeout-ms=").and_then(|v| v.parse().ok()))
        .unwrap_or(CheckOptions::default().timeout_ms);
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![10, 100, 1000, 5000];
    }
    let opts = CheckOptions {
        any_config,
        timeout_ms,
    };
    println!(
        "z3 {}, any_config: {any_config}",
        composer::solver::z3_version()
    );
    println!();
    println!(
        "| features | members | writes | same-field candidate pairs | overlapping pairs | \
         invariant queries | order queries | solver queries | conflicts | overrides | edges | \
         wall time | of which in z3 | per solver query |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let c = synthetic(n, 42);
        let mut best = Duration::MAX;
        let mut last = None;
        for _ in 0..REPEAT {
            let t = Instant::now();
            let r = check_traced(&c, &opts, false);
            let took = t.elapsed();
            if took < best {
                best = took;
                last = Some(r);
            }
        }
        let Some((out, trace)) = last else { continue };
        let s = &trace.stats;
        let per_query = if s.solver.queries > 0 {
            let micros = s.solver.solver_micros as f64 / s.solver.queries as f64;
            format!("{micros:.0} µs")
        } else {
            "-".to_string()
        };
        let in_z3 = s.solver.solver_micros as f64 / 1e3;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} ms | {:.1} ms | {} |",
            s.features,
            s.members,
            s.writes,
            s.same_field_candidates,
            s.same_field_overlapping,
            s.invariant_queries,
            s.order_queries,
            s.solver.queries,
            out.conflicts.len(),
            out.overrides.len(),
            out.edges.len(),
            best.as_secs_f64() * 1e3,
            in_z3,
            per_query,
        );
        if !out.unknown.is_empty() {
            println!("(n = {n}: {} unknown checks)", out.unknown.len());
        }
    }
}
