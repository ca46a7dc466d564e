//! The in-memory Set type. (Its structure and its part of the keyspace
//! arrive with its commands.)

/// The value of a Set key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetValue {}

impl SetValue {
    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        true
    }
}

impl crate::commands::sets::Sets for super::keyspace::MemKeyspace<'_> {}
