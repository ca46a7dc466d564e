//! The sorted set commands, and [`SortedSets`]: what they need of a keyspace.

/// The sorted set members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`](super::Interrupt::Unsupported) for a backend
/// that does not store sorted sets yet.
pub trait SortedSets {}
