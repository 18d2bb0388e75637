//! accord's host side. Every kernel call goes through the BPF adapter seam.
