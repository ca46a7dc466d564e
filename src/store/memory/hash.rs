//! The in-memory Hash type. (Its structure and its part of the keyspace
//! arrive with its commands.)

/// The value of a Hash key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashValue {}

impl HashValue {
    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        true
    }
}

impl crate::commands::hashes::Hashes for super::keyspace::MemKeyspace<'_> {}
