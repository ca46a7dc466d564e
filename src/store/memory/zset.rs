//! The in-memory ZSet type. (Its structure and its part of the keyspace
//! arrive with its commands.)

/// The value of a ZSet key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSetValue {}

impl ZSetValue {
    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        true
    }
}

impl crate::commands::zsets::SortedSets for super::keyspace::MemKeyspace<'_> {}
