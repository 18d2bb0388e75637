//! (checks, in progress)
