//! CLIENT TRACKING over real TCP: default mode (RESP3 pushes), REDIRECT to
//! a RESP2 subscriber on `__redis__:invalidate`, BCAST with PREFIX,
//! OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, the null of a flush,
//! `tracking-table-max-keys`, a broken redirect, CLIENT GETREDIR and
//! TRACKINGINFO, and the options' errors, byte for byte as Redis 7.2
//! sends them (`tracking.c`, `tests/unit/tracking.tcl`).

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use redynamo_layers::Reply;

const QUIET: Duration = Duration::from_millis(150);

fn invalidate(keys: &[&str]) -> Reply {
    Reply::Push(vec![bulk("invalidate"), bulks(keys)])
}

async fn resp3(server: &TestServer) -> RawClient {
    let mut c = server.raw().await;
    c.cmd(&["HELLO", "3"]).await;
    c
}

#[tokio::test]
async fn default_mode_invalidates_keys_the_client_read() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    let mut w = server.raw().await;
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::Null);
    c.cmd(&["MGET", "a", "b"]).await;
    assert_eq!(w.cmd(&["SET", "k", "1"]).await, ok());
    assert_eq!(
        c.read_bytes().await,
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
    );
    // Forgotten once sent: no second message until it is read again.
    w.cmd(&["SET", "k", "2"]).await;
    assert!(c.nothing_within(QUIET).await);
    // A key never read is not sent; a multi-key write sends each key.
    w.cmd(&["SET", "other", "x"]).await;
    w.cmd(&["MSET", "a", "1", "b", "2"]).await;
    let mut got = vec![c.read().await, c.read().await];
    got.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, vec![invalidate(&["a"]), invalidate(&["b"])]);
    // The client's own write: the invalidation follows its reply.
    c.cmd(&["GET", "k"]).await;
    c.send_cmd(&["SET", "k", "mine"]).await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await, invalidate(&["k"]));
    // Expiry invalidates too.
    c.cmd(&["GET", "e"]).await;
    w.cmd(&["SET", "e", "v", "PX", "50"]).await;
    assert_eq!(c.read().await, invalidate(&["e"]));
    c.cmd(&["GET", "e"]).await;
    assert_eq!(c.read().await, invalidate(&["e"]));
    // Reads inside MULTI are tracked; the invalidation follows EXEC's
    // reply.
    c.cmd(&["MULTI"]).await;
    c.cmd(&["GET", "m"]).await;
    c.cmd(&["SET", "m", "1"]).await;
    assert_eq!(c.cmd(&["EXEC"]).await, arr([Reply::Null, ok()]));
    assert_eq!(c.read().await, invalidate(&["m"]));
    // OFF: nothing more.
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "OFF"]).await, ok());
    c.cmd(&["GET", "k"]).await;
    w.cmd(&["SET", "k", "3"]).await;
    assert!(c.nothing_within(QUIET).await);
}

#[tokio::test]
async fn noloop_skips_the_clients_own_writes() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    let mut w = server.raw().await;
    c.cmd(&["CLIENT", "TRACKING", "ON", "NOLOOP"]).await;
    c.cmd(&["GET", "k"]).await;
    assert_eq!(c.cmd(&["SET", "k", "mine"]).await, ok());
    assert!(c.nothing_within(QUIET).await);
    c.cmd(&["GET", "k"]).await;
    w.cmd(&["SET", "k", "theirs"]).await;
    assert_eq!(c.read().await, invalidate(&["k"]));
}

#[tokio::test]
async fn redirect_to_a_resp2_subscriber() {
    let server = TestServer::start().await;
    let mut r = server.raw().await;
    let rid = r.cmd(&["CLIENT", "ID"]).await.int();
    r.send_cmd(&["SUBSCRIBE", "__redis__:invalidate"]).await;
    r.read().await;
    let mut c = server.raw().await;
    let mut w = server.raw().await;
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &rid.to_string()])
            .await,
        ok()
    );
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]).await, int(rid));
    c.cmd(&["GET", "k"]).await;
    w.cmd(&["SET", "k", "v"]).await;
    assert_eq!(
        r.read_bytes().await,
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
    );
    // A flush: the keys are a null.
    w.cmd(&["FLUSHALL"]).await;
    assert_eq!(
        r.read_bytes().await,
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    // Nothing reaches the RESP2 tracking client itself.
    assert!(c.nothing_within(QUIET).await);
}

#[tokio::test]
async fn flush_sends_a_null_and_a_broken_redirect_is_reported() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    let mut w = server.raw().await;
    c.cmd(&["CLIENT", "TRACKING", "ON"]).await;
    w.cmd(&["FLUSHDB"]).await;
    assert_eq!(c.read_bytes().await, b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    // Redirect to a client that then leaves.
    let mut gone = server.raw().await;
    let gid = gone.cmd(&["CLIENT", "ID"]).await.int();
    let mut d = resp3(&server).await;
    d.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &gid.to_string()])
        .await;
    d.cmd(&["GET", "x"]).await;
    drop(gone);
    wait_until("the redirect target is gone", PATIENCE, || async {
        server.state().clients.get(gid as u64).is_none()
    })
    .await;
    w.cmd(&["SET", "x", "1"]).await;
    assert_eq!(
        d.read_bytes().await,
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{gid}\r\n").as_bytes()
    );
    let info = d.cmd(&["CLIENT", "TRACKINGINFO"]).await;
    assert_eq!(
        info,
        Reply::Map(vec![
            (
                bulk("flags"),
                Reply::Set(vec![bulk("on"), bulk("broken_redirect")])
            ),
            (bulk("redirect"), int(gid)),
            (bulk("prefixes"), arr(Vec::new())),
        ])
    );
}

#[tokio::test]
async fn bcast_with_prefixes() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    let mut w = server.raw().await;
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:"])
            .await,
        ok()
    );
    // Keys never read are sent; one message per prefix, keys in order.
    w.cmd(&["MSET", "a:2", "x", "a:1", "y", "c:1", "z"]).await;
    assert_eq!(c.read().await, invalidate(&["a:1", "a:2"]));
    w.cmd(&["SET", "b:9", "x"]).await;
    assert_eq!(c.read().await, invalidate(&["b:9"]));
    w.cmd(&["SET", "c:2", "x"]).await;
    assert!(c.nothing_within(QUIET).await);
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKINGINFO"]).await,
        Reply::Map(vec![
            (bulk("flags"), Reply::Set(vec![bulk("on"), bulk("bcast")])),
            (bulk("redirect"), int(0)),
            (bulk("prefixes"), bulks(&["a:", "b:"])),
        ])
    );
}

#[tokio::test]
async fn optin_and_optout_with_client_caching() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    let mut w = server.raw().await;
    c.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN"]).await;
    c.cmd(&["GET", "k1"]).await;
    w.cmd(&["SET", "k1", "x"]).await;
    assert!(c.nothing_within(QUIET).await, "OPTIN: not remembered");
    assert_eq!(c.cmd(&["CLIENT", "CACHING", "YES"]).await, ok());
    c.cmd(&["GET", "k2"]).await;
    // CACHING lasts one command.
    c.cmd(&["GET", "k3"]).await;
    w.cmd(&["MSET", "k2", "x", "k3", "y"]).await;
    assert_eq!(c.read().await, invalidate(&["k2"]));
    assert!(c.nothing_within(QUIET).await);
    assert_eq!(
        c.cmd(&["CLIENT", "CACHING", "NO"]).await,
        err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );
    c.cmd(&["CLIENT", "TRACKING", "OFF"]).await;
    c.cmd(&["CLIENT", "TRACKING", "ON", "OPTOUT"]).await;
    c.cmd(&["CLIENT", "CACHING", "NO"]).await;
    c.cmd(&["GET", "k4"]).await;
    c.cmd(&["GET", "k5"]).await;
    w.cmd(&["MSET", "k4", "x", "k5", "y"]).await;
    assert_eq!(c.read().await, invalidate(&["k5"]));
    assert!(c.nothing_within(QUIET).await);
}

#[tokio::test]
async fn tracking_table_max_keys_evicts_with_an_invalidation() {
    let server = TestServer::start().await;
    let mut c = resp3(&server).await;
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"])
            .await,
        ok()
    );
    c.cmd(&["CLIENT", "TRACKING", "ON"]).await;
    c.cmd(&["GET", "a"]).await;
    c.send_cmd(&["GET", "b"]).await;
    // One of the two is forgotten, and said so.
    let mut got = vec![c.read().await, c.read().await];
    got.sort_by_key(|r| format!("{r:?}"));
    assert!(
        got == vec![Reply::Null, invalidate(&["a"])]
            || got == vec![Reply::Null, invalidate(&["b"])],
        "{got:?}"
    );
    let info = c.info("clients").await;
    assert_eq!(info["tracking_clients"], "1");
    let stats = c.info("stats").await;
    assert_eq!(stats["tracking_total_keys"], "1");
    assert_eq!(stats["tracking_total_items"], "1");
}

#[tokio::test]
async fn options_are_checked_as_redis_does() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]).await, int(-1));
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKINGINFO"]).await,
        arr([
            bulk("flags"),
            bulks(&["off"]),
            bulk("redirect"),
            int(-1),
            bulk("prefixes"),
            arr(Vec::new()),
        ])
    );
    for (args, e) in [
        (vec!["MAYBE"], "ERR syntax error"),
        (vec!["ON", "WHAT"], "ERR syntax error"),
        (vec!["ON", "PREFIX", "a"], "ERR PREFIX option requires BCAST mode to be enabled"),
        (vec!["ON", "BCAST", "OPTIN"], "ERR OPTIN and OPTOUT are not compatible with BCAST"),
        (vec!["ON", "OPTIN", "OPTOUT"], "ERR You can't use both OPTIN and OPTOUT"),
        (vec!["ON", "REDIRECT", "99999"], "ERR The client ID you want redirect to does not exist"),
        (vec!["ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"], "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."),
    ] {
        let mut full = vec!["CLIENT", "TRACKING"];
        full.extend(args.iter());
        assert_eq!(c.cmd(&full).await, err(e), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["CLIENT", "CACHING", "YES"]).await,
        err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    );
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]).await, ok());
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON"]).await,
        err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]).await, int(0));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "tracking-table-max-keys"]).await,
        bulks(&["tracking-table-max-keys", "1000000"])
    );
}
