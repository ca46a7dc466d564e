//! Authentication: refuse commands from a connection that has not
//! authenticated.
//!
//! The connection owns the session and stamps `Request::authenticated`; this
//! layer only enforces it. Commands flagged `no_auth` in the command table
//! (AUTH, HELLO, QUIT …) always pass.
