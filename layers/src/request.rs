//! What a connection sends into the stack.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::command::{CommandSpec, Dbs};

/// A command line resolved against the command table: its spec and its
/// arguments. `args[0]` is the command name as the client sent it.
#[derive(Clone, Debug)]
pub struct Command {
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

impl Command {
    /// The keys this command touches, from the table's key positions.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.spec
            .key_indexes(self.args.len())
            .map(move |i| &self.args[i])
    }

    /// Whether this command line reaches keys in a db other than the
    /// request's, or (SELECT inside MULTI) moves the commands after it to
    /// another db: always for [`Dbs::Several`], and for [`Dbs::Named`] when
    /// a `DB` token follows the last key (`COPY a b DB 3`). A value that
    /// happens to read `db` only makes the answer conservative.
    pub fn reaches_other_db(&self) -> bool {
        match self.spec.routing.dbs {
            Dbs::One => false,
            Dbs::Several => true,
            Dbs::Named => {
                let after_keys = self.spec.key_indexes(self.args.len()).last().unwrap_or(0) + 1;
                self.args
                    .iter()
                    .skip(after_keys)
                    .any(|a| a.eq_ignore_ascii_case(b"db"))
            }
        }
    }

    /// The lowercase table name (`get`, `client|list` is not used here:
    /// subcommands are dispatched by the command that owns them).
    pub fn name(&self) -> &'static str {
        self.spec.name
    }
}

/// One request through the tower stack.
#[derive(Clone, Debug)]
pub struct Request {
    pub command: Command,
    /// The database the connection has SELECTed.
    pub db: u32,
    /// The connection that sent it. Shared so that layers and the leaf can
    /// read session facts without the connection having to copy them.
    pub client: Arc<ClientInfo>,
    /// Whether the connection has authenticated (or no password is set).
    /// Stamped by the connection on every request so the auth layer needs no
    /// lock to check it.
    pub authenticated: bool,
    /// The ACL user the connection runs as, checked by the auth layer.
    /// None for the server's own requests, which may do anything (as
    /// Redis' clients with no user).
    pub user: Option<Arc<crate::acl::User>>,
    /// For `EXEC` only: the commands queued since `MULTI`, to run as one
    /// atomic unit. Empty for every other command.
    pub transaction: Vec<Command>,
    /// Set by the cache layer when it wants to learn what the backend saw:
    /// a backend that supports caching records each key it read or wrote,
    /// with the item's version (see [`Observations`]). None: nobody asks.
    pub observations: Option<Arc<Observations>>,
}

/// What a backend learned about keys while serving one request.
#[derive(Debug, Default)]
pub struct Observations {
    items: Mutex<Vec<Observation>>,
}

impl Observations {
    pub fn push(&self, observation: Observation) {
        if let Ok(mut items) = self.items.lock() {
            items.push(observation);
        }
    }

    pub fn take(&self) -> Vec<Observation> {
        self.items
            .lock()
            .map(|mut items| std::mem::take(&mut *items))
            .unwrap_or_default()
    }
}

/// The state of one key as the backend saw it, with the item version that
/// state belongs to. Versions of one key only grow, across deletes too.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub db: u32,
    pub key: Bytes,
    pub version: u64,
    pub state: ItemState,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemState {
    /// A string value, with its expiry in Unix milliseconds (0 = none).
    Value { value: Bytes, expire_at: u64 },
    /// The key does not exist (or has expired).
    Absent,
    /// The key holds another type, named as TYPE names it.
    OtherType(&'static str),
}

impl Request {
    /// A request for a command line, resolved against the command table,
    /// from the server itself: handy in tests and benchmarks of layers.
    ///
    /// ```
    /// let req = redynamo_layers::Request::from_line(&["GET", "k"]).unwrap();
    /// assert_eq!(req.command.spec.name, "get");
    /// ```
    pub fn from_line(line: &[&str]) -> Result<Request, crate::Reply> {
        let args: Vec<Bytes> = line
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let spec = crate::command::resolve(&args)?;
        Ok(Request::new(
            Command { spec, args },
            0,
            ClientInfo::internal(),
        ))
    }

    pub fn new(command: Command, db: u32, client: Arc<ClientInfo>) -> Request {
        Request {
            command,
            db,
            client,
            authenticated: true,
            user: None,
            transaction: Vec::new(),
            observations: None,
        }
    }
}

/// Facts about a connection that the stack may read.
#[derive(Debug)]
pub struct ClientInfo {
    /// CLIENT ID: unique and increasing for the life of the process.
    pub id: u64,
    pub addr: Option<SocketAddr>,
    /// Set by a backend when a key this client WATCHes is modified, so that
    /// its next EXEC fails. Cleared by the connection on EXEC, DISCARD,
    /// UNWATCH and RESET.
    pub watch_dirty: AtomicBool,
    /// CLIENT SETNAME; read by CLIENT LIST and SLOWLOG.
    pub name: Mutex<Option<Bytes>>,
    /// Whether `name` is set: lets the metrics layer skip keeping a
    /// reference to the client for the slow log when there is no name to
    /// log (the common case).
    named: AtomicBool,
    /// The client's blocking command while it waits (BLPOP …): the store
    /// that parks it says so here, and CLIENT UNBLOCK, sent from another
    /// connection, ends the wait through it.
    pub block: BlockState,
    /// How the metrics layer times this client's commands that follow
    /// straight on from each other: the connection says when they do
    /// ([`RunTimer::follow_on`](crate::metrics::RunTimer::follow_on)) and
    /// where a run ends ([`RunTimer::end_run`](crate::metrics::RunTimer::end_run)).
    /// Untouched (and never chaining) for a client whose connection does
    /// neither, and for the server's own requests (client id 0).
    pub timing: crate::metrics::RunTimer,
    /// The client speaks RESP3 (HELLO 3): a backend that passes another
    /// server's replies through ([`Reply::Encoded`](crate::Reply::Encoded))
    /// asks that server in the same protocol. Set by the session.
    resp3: AtomicBool,
    /// The ACL user the client is authenticated as (CLIENT LIST's
    /// `user=`; ACL DELUSER disconnects its clients). None: `default`.
    pub user: parking_lot::Mutex<Option<Arc<crate::acl::User>>>,
}

/// How CLIENT UNBLOCK ends a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// As if the timeout had passed.
    Timeout,
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

/// Whether a client waits in a blocking command, and a request to end the
/// wait. One blocking command per client runs at a time, so one state
/// suffices. The transitions are compare-and-swaps, so that a store
/// serving the client and CLIENT UNBLOCK never both win: whichever moves
/// the state out of `BLOCKED` first decides the reply.
#[derive(Debug, Default)]
pub struct BlockState {
    state: std::sync::atomic::AtomicU8,
    waker: futures::task::AtomicWaker,
}

const IDLE: u8 = 0;
const BLOCKED: u8 = 1;
const UNBLOCK_TIMEOUT: u8 = 2;
const UNBLOCK_ERROR: u8 = 3;

impl BlockState {
    /// The store parked the client's command.
    pub fn enter(&self) {
        self.state.store(BLOCKED, Ordering::Release);
    }

    /// The command is over (answered, timed out, dropped).
    pub fn leave(&self) {
        self.state.store(IDLE, Ordering::Release);
    }

    /// Whether the client waits (INFO blocked_clients, CLIENT LIST).
    pub fn is_blocked(&self) -> bool {
        self.state.load(Ordering::Acquire) != IDLE
    }

    /// The store serves the waiting command: true when it may (no CLIENT
    /// UNBLOCK came first); the client then no longer counts as blocked.
    pub fn claim(&self) -> bool {
        self.state
            .compare_exchange(BLOCKED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// CLIENT UNBLOCK: ends the wait `how`; false when the client was not
    /// blocked.
    pub fn unblock(&self, how: Unblock) -> bool {
        let to = match how {
            Unblock::Timeout => UNBLOCK_TIMEOUT,
            Unblock::Error => UNBLOCK_ERROR,
        };
        let done = self
            .state
            .compare_exchange(BLOCKED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if done {
            self.waker.wake();
        }
        done
    }

    /// For the waiting command: a CLIENT UNBLOCK it must answer, if one
    /// came (the client is then no longer blocked).
    pub fn take_unblock(&self) -> Option<Unblock> {
        let how = match self.state.load(Ordering::Acquire) {
            UNBLOCK_TIMEOUT => Unblock::Timeout,
            UNBLOCK_ERROR => Unblock::Error,
            _ => return None,
        };
        self.state.store(IDLE, Ordering::Release);
        Some(how)
    }

    /// The waiting command's task, to wake on CLIENT UNBLOCK.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }
}

impl ClientInfo {
    pub fn new(id: u64, addr: Option<SocketAddr>) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            watch_dirty: AtomicBool::new(false),
            name: Mutex::new(None),
            named: AtomicBool::new(false),
            block: BlockState::default(),
            timing: crate::metrics::RunTimer::new(),
            resp3: AtomicBool::new(false),
            user: parking_lot::Mutex::new(None),
        }
    }

    /// A client for tests and for requests the server makes itself.
    pub fn internal() -> Arc<ClientInfo> {
        Arc::new(ClientInfo::new(0, None))
    }

    pub fn mark_watch_dirty(&self) {
        self.watch_dirty.store(true, Ordering::Release);
    }

    pub fn is_watch_dirty(&self) -> bool {
        self.watch_dirty.load(Ordering::Acquire)
    }

    pub fn name(&self) -> Option<Bytes> {
        self.name.lock().ok().and_then(|n| n.clone())
    }

    pub fn set_name(&self, name: Option<Bytes>) {
        if let Ok(mut n) = self.name.lock() {
            self.named.store(name.is_some(), Ordering::Relaxed);
            *n = name;
        }
    }

    /// Whether the client speaks RESP3 (see the field).
    pub fn is_resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    pub fn set_resp3(&self, yes: bool) {
        self.resp3.store(yes, Ordering::Relaxed);
    }

    /// The name of the client's ACL user (`default` until it
    /// authenticates as another).
    pub fn user_name(&self) -> Bytes {
        self.user
            .lock()
            .as_ref()
            .map(|u| u.name().clone())
            .unwrap_or_else(|| Bytes::from_static(b"default"))
    }

    /// Whether the client runs as `user`.
    pub fn is_user(&self, user: &Arc<crate::acl::User>) -> bool {
        self.user
            .lock()
            .as_ref()
            .is_some_and(|u| Arc::ptr_eq(u, user))
    }

    /// Whether CLIENT SETNAME gave this client a name.
    pub fn is_named(&self) -> bool {
        self.named.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::lookup;

    fn command(parts: &[&str]) -> Command {
        Command {
            spec: lookup(parts[0].as_bytes()).expect("test step"),
            args: parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
        }
    }

    #[test]
    fn other_dbs_come_from_the_table_and_the_db_token() {
        assert!(!command(&["copy", "a", "b"]).reaches_other_db());
        assert!(!command(&["copy", "a", "b", "REPLACE"]).reaches_other_db());
        // A key named `db` is a key, not the token.
        assert!(!command(&["copy", "db", "db"]).reaches_other_db());
        assert!(command(&["copy", "a", "b", "db", "3"]).reaches_other_db());
        assert!(command(&["copy", "a", "b", "REPLACE", "DB", "3"]).reaches_other_db());
        assert!(command(&["swapdb", "0", "1"]).reaches_other_db());
        assert!(command(&["select", "1"]).reaches_other_db());
        assert!(command(&["flushall"]).reaches_other_db());
        assert!(!command(&["set", "db", "db"]).reaches_other_db());
    }
}
