//! accord's pure core: the effect-spec model, the guard language, the effect
//! graph, the SMT checks and the proven order.
//!
//! Invariant: this crate never touches the kernel and does no I/O beyond
//! reading the spec files it is asked to load.

// Contracts shared by every part.
pub mod ir;
pub mod outcome;

// Front end: YAML with locations, the guard language, validation, reports.
pub mod guard;
pub mod load;
pub mod report;
pub mod suggest;

// Checks: z3 encoding, conflicts and invariants, order, witness evaluation.
pub mod check;
pub mod eval;
pub mod order;
pub mod predict;
pub mod solver;

// The bytecode audit: an object's instructions against its effect spec.
pub mod audit;

// Test support: build compositions in code (tests, benchmarks).
pub mod testing;
