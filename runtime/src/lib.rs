//! accord's host side. Every kernel call goes through the BPF adapter seam.
pub mod objects;
pub mod struct_ops;

// apply: adapter, plans, executor, records (see ARCHITECTURE.md)
pub mod adapter;
pub mod config;
pub mod desired;
pub mod doctor;
pub mod executor;
pub mod host_audit;
pub mod kernel;
pub mod layout;
pub mod lifecycle;
pub mod lock;
pub mod plan;
pub mod resolve;
pub mod state;
pub mod sys;

// the host daemon (`accord daemon`) and its policy file
pub mod daemon;
pub mod policy;

/// The dispatcher generator, re-exported for tests and tools.
pub use dispatcher;
