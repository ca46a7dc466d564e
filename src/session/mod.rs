//! The session: everything one client has set for itself.
//!
//! A [`Session`] owns the selected db, whether the client has
//! authenticated (held here only; the codec's unauthenticated limits are
//! derived from it, [`Session::decode_authenticated`]), the RESP version,
//! the MULTI queue and whether WATCH is in force; the client name lives in
//! the client's [`ClientEntry`], which CLIENT LIST reads.
//!
//! Session commands parse and apply here, one module per family:
//! - [`hello_auth`]: AUTH, HELLO, SELECT, RESET;
//! - [`multi`]: MULTI, DISCARD, EXEC, WATCH and the queue;
//! - [`client`]: every CLIENT subcommand;
//! - [`pubsub`]: the subscribe family, the client's subscriptions and
//!   push mailbox, and the RESP2 subscribed-mode rules;
//! - [`tracking`]: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO, and
//!   which reads a tracking client remembers;
//! - [`shutdown`]: SHUTDOWN, which starts the server's graceful drain and
//!   closes the connection.
//!
//! Those that also reach the store (EXEC, WATCH, UNWATCH) are split in
//! two: the session builds the [`Request`] and takes in its reply, and the
//! connection sends it through the stack in between, so that waiting,
//! flushing and pipelining stay the connection's.

pub mod client;
pub mod hello_auth;
pub mod multi;
pub mod pubsub;
pub mod shutdown;
pub mod tracking;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::acl::{Context, User};
use redynamo_layers::command::{self, CommandSpec};
use redynamo_layers::{Command, Reply, Request};

use crate::protocol::ProtocolVersion;
use crate::server::clients::ClientEntry;
use crate::server::state::ServerState;

pub use multi::{ExecStart, Multi};

/// One client's session state (see the module docs).
pub struct Session {
    pub(crate) state: Arc<ServerState>,
    pub(crate) entry: Arc<ClientEntry>,
    db: u32,
    authenticated: bool,
    /// The ACL user commands run as (`default` until AUTH names another).
    user: Arc<User>,
    version: ProtocolVersion,
    multi: Option<Multi>,
    /// This client has WATCHed keys the store must forget on exit.
    watching: bool,
    /// Subscriptions and the push mailbox, from the first SUBSCRIBE on.
    pubsub: Option<pubsub::Subscriptions>,
    /// CLIENT TRACKING is on (its options live in the server's table).
    tracking: bool,
    /// CLIENT CACHING yes/no, for the next command.
    caching: tracking::Caching,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.tracking_off();
    }
}

impl Session {
    pub fn new(state: Arc<ServerState>, entry: Arc<ClientEntry>) -> Session {
        let authenticated = !state.credentials.required();
        let user = state.credentials.default_user().clone();
        *entry.info.user.lock() = Some(user.clone());
        Session {
            state,
            entry,
            db: 0,
            authenticated,
            user,
            version: ProtocolVersion::Resp2,
            multi: None,
            watching: false,
            pubsub: None,
            tracking: false,
            caching: tracking::Caching::Unset,
        }
    }

    pub fn db(&self) -> u32 {
        self.db
    }

    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the codec may decode without Redis' unauthenticated limits:
    /// the client authenticated, or no password is required.
    pub fn decode_authenticated(&self) -> bool {
        self.authenticated || !self.state.credentials.required()
    }

    /// The RESP version replies are encoded in.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    pub fn entry(&self) -> &Arc<ClientEntry> {
        &self.entry
    }

    pub(crate) fn set_db(&mut self, db: u32) {
        self.db = db;
        self.entry.db.store(db, Ordering::Relaxed);
    }

    pub(crate) fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
    }

    /// Run as `user` from now on (AUTH, HELLO … AUTH, RESET).
    pub(crate) fn set_user(&mut self, user: Arc<User>) {
        *self.entry.info.user.lock() = Some(user.clone());
        self.user = user;
    }

    /// The ACL check of a command the connection runs itself or MULTI
    /// queues (the stack's commands are checked by the auth layer):
    /// the `-NOPERM` reply when the user may not run it.
    pub fn acl_check(&self, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Reply> {
        if self.user.is_unrestricted() {
            return Ok(());
        }
        let context = if self.in_multi() {
            Context::Multi
        } else {
            Context::Toplevel
        };
        self.state
            .credentials
            .enforce(&self.user, spec, args, &self.entry.info, context)
    }

    pub(crate) fn set_version(&mut self, v: ProtocolVersion) {
        self.version = v;
        let n = if v == ProtocolVersion::Resp3 { 3 } else { 2 };
        self.entry.resp.store(n, Ordering::Relaxed);
        self.entry.info.set_resp3(n == 3);
        self.pubsub_version_changed();
    }

    /// A request for the stack, in this session's db and on behalf of its
    /// user.
    pub fn request(&self, command: Command) -> Request {
        let mut req = Request::new(command, self.db, self.entry.info.clone());
        req.authenticated = self.authenticated;
        req.user = Some(self.user.clone());
        req
    }

    /// A request the session makes on its own behalf (UNWATCH): no ACL
    /// user, so no rule can refuse the clean-up.
    fn internal(&self, name: &str) -> Request {
        let spec = command::lookup(name.as_bytes()).expect("internal command in the table");
        let mut req = self.request(Command {
            spec,
            args: vec![Bytes::copy_from_slice(name.as_bytes())],
        });
        req.user = None;
        req
    }

    /// Forget this session's watches: the UNWATCH the store must be sent,
    /// if it holds any.
    pub fn unwatch(&mut self) -> Option<Request> {
        self.entry.info.watch_dirty.store(false, Ordering::Release);
        if std::mem::take(&mut self.watching) {
            Some(self.internal("unwatch"))
        } else {
            None
        }
    }
}
