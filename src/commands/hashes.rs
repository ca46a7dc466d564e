//! The hash commands, and [`Hashes`]: what they need of a keyspace.

/// The hash members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`](super::Interrupt::Unsupported) for a backend
/// that does not store hashs yet.
pub trait Hashes {}
