//! AUTH and HELLO … AUTH with `requirepass`: Redis 7's NOAUTH and
//! WRONGPASS texts before, and everything working after.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redynamo::config::Config;

const PASSWORD: &str = "s3cret";

async fn protected() -> TestServer {
    let mut config = Config::for_tests();
    config.requirepass = Some(PASSWORD.into());
    TestServer::with_config(config).await
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, \
     otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
     client and select the RESP protocol version at the same time";

#[tokio::test]
async fn commands_before_auth_get_noauth() {
    let server = protected().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd_bytes(&["GET", "k"]).await,
        b"-NOAUTH Authentication required.\r\n"
    );
    for cmd in [
        &["PING"][..],
        &["SET", "k", "v"],
        &["ECHO", "x"],
        &["SELECT", "1"],
        &["CLIENT", "ID"],
        &["INFO"],
        &["CONFIG", "GET", "requirepass"],
        &["COMMAND", "COUNT"],
        &["MULTI"],
        &["WATCH", "k"],
    ] {
        assert_eq!(c.cmd(cmd).await, err(NOAUTH), "{cmd:?}");
    }
    // Unknown commands and wrong arity are reported as such, as in Redis.
    assert_eq!(
        c.cmd(&["NOSUCH"]).await,
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    // An EXEC before AUTH aborts with the reason.
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        err("EXECABORT Transaction discarded because of: NOAUTH Authentication required.")
    );
    assert_eq!(c.cmd(&["HELLO", "3"]).await, err(HELLO_NOAUTH));
    assert_eq!(c.cmd(&["HELLO"]).await, err(HELLO_NOAUTH));
    // Nothing was written.
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, ok());
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
    // QUIT is allowed before AUTH.
    let mut q = server.raw().await;
    assert_eq!(q.cmd(&["QUIT"]).await, ok());
    assert!(q.is_closed().await);
}

#[tokio::test]
async fn wrong_passwords_get_wrongpass() {
    let server = protected().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd_bytes(&["AUTH", "wrong"]).await,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "default", "wrong"]).await, err(WRONGPASS));
    assert_eq!(c.cmd(&["AUTH", "nouser", PASSWORD]).await, err(WRONGPASS));
    assert_eq!(
        c.cmd(&["AUTH", "a", "b", "c"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["AUTH"]).await,
        err("ERR wrong number of arguments for 'auth' command")
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "wrong"]).await,
        err(WRONGPASS)
    );
    // Still not authenticated after all that.
    assert_eq!(c.cmd(&["GET", "k"]).await, err(NOAUTH));
    // A wrong password after a right one does not log the client out.
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, ok());
    assert_eq!(c.cmd(&["AUTH", "wrong"]).await, err(WRONGPASS));
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
}

#[tokio::test]
async fn auth_then_commands_work() {
    let server = protected().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // AUTH default <pass>
    let mut d = server.raw().await;
    assert_eq!(d.cmd(&["AUTH", "default", PASSWORD]).await, ok());
    assert_eq!(d.cmd(&["GET", "k"]).await, bulk("v"));
    // Authentication is per connection.
    let mut e = server.raw().await;
    assert_eq!(e.cmd(&["GET", "k"]).await, err(NOAUTH));
}

#[tokio::test]
async fn hello_3_auth_default_pass() {
    let server = protected().await;
    let mut c = server.raw().await;
    let hello = c
        .cmd_bytes(&["HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "app"])
        .await;
    let id = server
        .state()
        .clients
        .all()
        .last()
        .expect("one client")
        .id();
    let expected = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n\
         $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&hello), expected);
    // Authenticated, named, and speaking RESP3.
    assert_eq!(c.cmd_bytes(&["GET", "nokey"]).await, b"_\r\n");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, bulk("app"));
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    // HELLO 2 AUTH works too, and answers a flat array.
    let mut d = server.raw().await;
    let flat = d.cmd(&["HELLO", "2", "AUTH", "default", PASSWORD]).await;
    assert_eq!(flat.items().len(), 14);
    assert_eq!(flat.items()[5], int(2));
    assert_eq!(d.cmd_bytes(&["GET", "nokey"]).await, b"$-1\r\n");
}

#[tokio::test]
async fn reset_logs_the_client_out() {
    let server = protected().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, ok());
    assert_eq!(c.cmd(&["RESET"]).await, simple("RESET"));
    assert_eq!(c.cmd(&["GET", "k"]).await, err(NOAUTH));
}

#[tokio::test]
async fn redis_crate_with_and_without_the_password() {
    let server = protected().await;
    let mut con = server.conn_with_password(PASSWORD).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, "v");
    let mut anonymous = server.conn().await;
    let e = redis::cmd("GET")
        .arg("k")
        .query_async::<String>(&mut anonymous)
        .await
        .expect_err("NOAUTH");
    assert!(e.to_string().contains("Authentication required"), "{e}");
    let client = redis::Client::open(format!("redis://:wrong@{}/", server.addr())).unwrap();
    let e = client
        .get_multiplexed_async_connection()
        .await
        .expect_err("a wrong password fails the connection");
    assert_eq!(e.kind(), redis::ErrorKind::AuthenticationFailed, "{e}");
}

#[tokio::test]
async fn config_set_requirepass_applies_to_new_auth() {
    let server = protected().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, ok());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "requirepass", "newpass"]).await,
        ok()
    );
    assert_eq!(
        c.cmd(&["PING"]).await,
        simple("PONG"),
        "already authenticated"
    );
    let mut d = server.raw().await;
    assert_eq!(d.cmd(&["AUTH", PASSWORD]).await, err(WRONGPASS));
    assert_eq!(d.cmd(&["AUTH", "newpass"]).await, ok());
}

#[tokio::test]
async fn auth_without_a_password_configured() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["AUTH", "x"]).await,
        err(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    // Any password is right for `default` when none is set.
    assert_eq!(c.cmd(&["AUTH", "default", "anything"]).await, ok());
    assert_eq!(c.cmd(&["AUTH", "foo", "x"]).await, err(WRONGPASS));
    assert!(matches!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "any"]).await,
        Reply::Map(_)
    ));
}
