//! Dispatcher generation: from the proven order for one hookpoint to the
//! dispatcher program (raw eBPF instructions) and the per-member load
//! constants. Pure: no kernel calls.
