//! redynamo: a Redis-compatible server whose request path is a tower stack.

pub mod protocol;
