//! The set commands, and [`Sets`]: what they need of a keyspace.

/// The set members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`](super::Interrupt::Unsupported) for a backend
/// that does not store sets yet.
pub trait Sets {}
