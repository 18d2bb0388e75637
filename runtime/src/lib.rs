//! accord's host side. Every kernel call goes through the BPF adapter seam.
pub mod objects;
pub mod struct_ops;
