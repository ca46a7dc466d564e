//! EXEC's body: the queued commands, one after another, on one keyspace.
//!
//! MULTI, DISCARD and the queueing itself are session state (the
//! connection's); WATCH is kept by each store in its own way (dirty flags in
//! memory, item versions on DynamoDB), and the store decides whether EXEC
//! aborts. What runs once it does not is written here.

use redynamo_layers::{Command, Reply};

use super::keyspace::{Keyspace, Ks};

/// Run `commands` in order on `ks` and answer with their replies. SELECT
/// among them moves the following commands to another db; the keyspace is
/// back on its first db afterwards. `other` runs the commands that are not
/// keyed (whole-db commands, which a store executes itself).
pub fn exec<K: Keyspace>(
    ks: &mut K,
    commands: &[Command],
    mut other: impl FnMut(&mut K, &Command) -> Ks<Reply>,
) -> Ks<Reply> {
    let home = ks.db();
    let mut replies = Vec::with_capacity(commands.len());
    for cmd in commands {
        let reply = match super::apply(cmd, ks) {
            Some(reply) => reply,
            // Queued UNWATCH only answers OK: the watches were checked when
            // EXEC began, and EXEC forgets them whatever happens.
            None if super::route(cmd.spec) == super::Route::Unwatch => Ok(Reply::ok()),
            None => other(ks, cmd),
        };
        match reply {
            Ok(r) => replies.push(r),
            Err(interrupt) => {
                ks.select(home);
                return Err(interrupt);
            }
        }
    }
    ks.select(home);
    Ok(Reply::Array(replies))
}
