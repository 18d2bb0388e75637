//! accord's pure core: the effect-spec model, the guard language, the effect
//! graph, the SMT checks and the proven order.
//!
//! Invariant: this crate never touches the kernel and does no I/O beyond
//! reading the spec files it is asked to load.

pub mod ir;
pub mod outcome;
