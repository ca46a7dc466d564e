//! ACL LOG: the security log of denied commands and failed AUTH, as Redis
//! 7.2 keeps it (`addACLLogEntry`): newest first, an entry like one of the
//! ten newest (same reason, context, object and user, within 60 s) is
//! bumped instead of repeated, and the log holds at most
//! `acllog-max-len` entries, so a brute-force attempt costs a counter,
//! not memory.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::Reply;

/// Why an entry was logged (`ACL_DENIED_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Auth,
    Channel,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
            Reason::Channel => "channel",
        }
    }
}

/// Where it happened (`ACL_LOG_CTX_*`; scripts and modules do not exist
/// here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    count: u64,
    reason: Reason,
    context: Context,
    object: Bytes,
    username: Bytes,
    /// Milliseconds since the Unix epoch of the last update.
    updated_ms: u64,
    created_ms: u64,
    /// CLIENT LIST's line for the client (last one, if bumped).
    client_info: String,
    id: u64,
}

/// Entries within this many milliseconds of each other are grouped.
const GROUPING_MS: u64 = 60_000;

/// The log itself; the registry holds it behind a lock.
#[derive(Debug, Default)]
pub struct AclLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// One event to log.
pub struct Event<'a> {
    pub reason: Reason,
    pub context: Context,
    pub object: &'a [u8],
    pub username: &'a [u8],
    pub client_info: String,
    pub now_ms: u64,
}

impl AclLog {
    pub fn add(&mut self, event: Event<'_>, max_len: usize) {
        let found = self.entries.iter().take(10).position(|e| {
            e.reason == event.reason
                && e.context == event.context
                && e.updated_ms.abs_diff(event.now_ms) <= GROUPING_MS
                && e.object[..] == event.object[..]
                && e.username[..] == event.username[..]
        });
        if let Some(i) = found {
            if let Some(mut e) = self.entries.remove(i) {
                e.count += 1;
                e.updated_ms = event.now_ms;
                e.client_info = event.client_info;
                self.entries.push_front(e);
            }
            return;
        }
        self.entries.push_front(Entry {
            count: 1,
            reason: event.reason,
            context: event.context,
            object: Bytes::copy_from_slice(event.object),
            username: Bytes::copy_from_slice(event.username),
            updated_ms: event.now_ms,
            created_ms: event.now_ms,
            client_info: event.client_info,
            id: self.next_id,
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drop entries past a lowered `acllog-max-len`.
    pub fn trim(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }

    /// ACL LOG [count]: the newest `count` entries, each a map of Redis
    /// 7.2's ten fields.
    pub fn reply(&self, count: usize, now_ms: u64) -> Reply {
        Reply::Array(
            self.entries
                .iter()
                .take(count)
                .map(|e| {
                    let age = now_ms.saturating_sub(e.updated_ms) as f64 / 1000.0;
                    Reply::Map(vec![
                        (Reply::bulk("count"), Reply::Integer(e.count as i64)),
                        (Reply::bulk("reason"), Reply::bulk(e.reason.as_str())),
                        (Reply::bulk("context"), Reply::bulk(e.context.as_str())),
                        (Reply::bulk("object"), Reply::Bulk(e.object.clone())),
                        (Reply::bulk("username"), Reply::Bulk(e.username.clone())),
                        (Reply::bulk("age-seconds"), Reply::Double(age)),
                        (Reply::bulk("client-info"), Reply::bulk(&e.client_info)),
                        (Reply::bulk("entry-id"), Reply::Integer(e.id as i64)),
                        (
                            Reply::bulk("timestamp-created"),
                            Reply::Integer(e.created_ms as i64),
                        ),
                        (
                            Reply::bulk("timestamp-last-updated"),
                            Reply::Integer(e.updated_ms as i64),
                        ),
                    ])
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(object: &'static [u8], now_ms: u64) -> Event<'static> {
        Event {
            reason: Reason::Key,
            context: Context::Toplevel,
            object,
            username: b"bob",
            client_info: String::new(),
            now_ms,
        }
    }

    #[test]
    fn groups_and_bounds() {
        let mut log = AclLog::default();
        log.add(event(b"a", 0), 3);
        log.add(event(b"a", 1_000), 3);
        assert_eq!(log.len(), 1);
        log.add(event(b"a", 100_000), 3);
        assert_eq!(log.len(), 2, "a minute apart: a new entry");
        for i in 0..100u64 {
            let name: &'static [u8] = if i % 2 == 0 { b"x" } else { b"y" };
            log.add(event(name, 200_000 + i * 100_000), 3);
        }
        assert_eq!(log.len(), 3, "bounded by acllog-max-len");
    }
}
