//! Per-command timeout.
