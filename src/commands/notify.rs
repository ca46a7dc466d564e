//! Keyspace event classes, as Redis' `NOTIFY_*` flags (`server.h`).
//!
//! A command raises an event with [`crate::commands::Keyspace::notify`]
//! where Redis' command calls `notifyKeyspaceEvent`, with Redis' class and
//! event name; the store decides what to do with it (the server's
//! [`crate::server::notify::Notifier`] publishes it).

/// The `NOTIFY_*` bits.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const LOADED: u32 = 1 << 12;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but key-miss, new and loaded.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

use super::keyspace::{Keyspace, Ks};

/// After a write that may have emptied the collection at `key` (a store
/// deletes an empty collection): Redis' `del` event, raised after the
/// command's own, as Redis' commands do. Looks the key up only when the
/// store publishes generic events.
pub fn del_if_emptied<K: Keyspace>(ks: &mut K, key: &[u8]) -> Ks<()> {
    if ks.notifies(class::GENERIC) && !ks.exists(key)? {
        ks.notify(class::GENERIC, "del", key);
    }
    Ok(())
}
