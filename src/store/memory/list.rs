//! The in-memory List type. (Its structure and its part of the keyspace
//! arrive with its commands.)

/// The value of a List key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {}

impl ListValue {
    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        true
    }
}

impl crate::commands::lists::Lists for super::keyspace::MemKeyspace<'_> {}
