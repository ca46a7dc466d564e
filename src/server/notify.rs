//! Keyspace notifications: `notify-keyspace-events` and the
//! `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` messages.
//!
//! Commands raise events where Redis calls `notifyKeyspaceEvent`
//! ([`crate::commands::notify`], through [`crate::commands::Keyspace::notify`]);
//! the store collects them while a command runs and hands them here after
//! it, still in the command's critical section, so they are published in
//! the order the commands ran (the memory store:
//! `store::memory::keyspace`). Expiry raises `expired` when the key is
//! really removed (a read that finds it expired, or active expiry), as
//! Redis does.
//!
//! Flags and their normalised string are Redis' (`notify.c`):
//! `K` keyspace, `E` keyevent, `g` generic, `$` string, `l` list, `s` set,
//! `h` hash, `z` zset, `x` expired, `e` evicted, `t` stream, `m` key miss,
//! `d` module, `n` new key, `A` = `g$lshzxetd`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::pubsub::PubSub;
use super::tracking::Tracking;
use crate::commands::notify::class;

/// Where keyspace events go: the registry, if the flags ask for them.
#[derive(Debug)]
pub struct Notifier {
    flags: AtomicU32,
    pubsub: Arc<PubSub>,
    /// Where the keys commands change go (CLIENT TRACKING): the store's
    /// one sink for what its commands tell the clients.
    pub tracking: Arc<Tracking>,
}

/// One raised event, collected while a command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub class: u32,
    pub event: &'static str,
    pub db: u32,
    pub key: Bytes,
}

impl Notifier {
    pub fn new(pubsub: Arc<PubSub>, tracking: Arc<Tracking>) -> Notifier {
        Notifier {
            flags: AtomicU32::new(0),
            pubsub,
            tracking,
        }
    }

    /// Whether events of `class` are published at all: the stores skip
    /// collecting otherwise (one atomic load per write).
    pub fn wants(&self, event_class: u32) -> bool {
        let flags = self.flags.load(Ordering::Relaxed);
        flags & event_class != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0
    }

    /// Publish one event as Redis' `notifyKeyspaceEvent` does: the
    /// keyspace channel first, then the keyevent one.
    pub fn publish(&self, e: &Event) {
        let flags = self.flags.load(Ordering::Relaxed);
        if flags & e.class == 0 {
            return;
        }
        let mut db = itoa::Buffer::new();
        let db = db.format(e.db).as_bytes();
        if flags & class::KEYSPACE != 0 {
            let mut chan = BytesMut::with_capacity(16 + db.len() + e.key.len());
            chan.extend_from_slice(b"__keyspace@");
            chan.extend_from_slice(db);
            chan.extend_from_slice(b"__:");
            chan.extend_from_slice(&e.key);
            self.pubsub.publish(&chan, e.event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let mut chan = BytesMut::with_capacity(16 + db.len() + e.event.len());
            chan.extend_from_slice(b"__keyevent@");
            chan.extend_from_slice(db);
            chan.extend_from_slice(b"__:");
            chan.extend_from_slice(e.event.as_bytes());
            self.pubsub.publish(&chan, &e.key);
        }
    }

    /// CONFIG GET's value.
    pub fn flags_string(&self) -> String {
        flags_to_string(self.flags.load(Ordering::Relaxed))
    }

    /// CONFIG SET / the option: Redis' error for an unknown character.
    pub fn set_flags(&self, value: &str) -> Result<(), &'static str> {
        let flags = string_to_flags(value)
            .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
        self.flags.store(flags, Ordering::Relaxed);
        Ok(())
    }
}

/// Redis' `keyspaceEventsStringToFlags`.
pub fn string_to_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= match c {
            b'A' => class::ALL,
            b'g' => class::GENERIC,
            b'$' => class::STRING,
            b'l' => class::LIST,
            b's' => class::SET,
            b'h' => class::HASH,
            b'z' => class::ZSET,
            b'x' => class::EXPIRED,
            b'e' => class::EVICTED,
            b'K' => class::KEYSPACE,
            b'E' => class::KEYEVENT,
            b't' => class::STREAM,
            b'm' => class::KEY_MISS,
            b'd' => class::MODULE,
            b'n' => class::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis' `keyspaceEventsFlagsToString`.
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & class::ALL == class::ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        flags_to_string(string_to_flags(s).unwrap())
    }

    #[test]
    fn flags_normalise_as_redis_does() {
        // tests/unit/pubsub.tcl, "test CONFIG GET/SET of event flags".
        assert_eq!(norm("gKE"), "gKE");
        assert_eq!(norm("$lshzxeKE"), "$lshzxeKE");
        assert_eq!(norm("KA"), "AK");
        assert_eq!(norm("EA"), "AE");
        assert_eq!(norm(""), "");
        assert_eq!(norm("Ex"), "xE");
        assert!(string_to_flags("Kq").is_none());
    }
}
