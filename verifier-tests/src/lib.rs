//! Helpers for the privileged tests (cgroups, namespaces, connections).
