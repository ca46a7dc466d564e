//! The list commands, and [`Lists`]: what they need of a keyspace.

/// The list members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`](super::Interrupt::Unsupported) for a backend
/// that does not store lists yet.
pub trait Lists {}
