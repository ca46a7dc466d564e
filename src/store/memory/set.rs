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

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        true
    }

    /// Every member, in no particular order: ZUNION, ZINTER and ZDIFF read
    /// a set as a sorted set whose scores are all 1
    /// (`store::memory::zset`). The set type keeps this over its structure.
    pub fn members(&self) -> impl Iterator<Item = &[u8]> + '_ {
        std::iter::empty()
    }
}

impl crate::commands::sets::Sets for super::keyspace::MemKeyspace<'_> {}
