//! Custom tower layers inserted with `Server::builder(config).layer(…)`,
//! checked over TCP: the read-only example from `examples/read_only/`, a
//! key-prefix namespace that rewrites keys at the table's key positions,
//! the order of several layers, their place after auth, and the error
//! channel for infrastructure failures.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "../examples/read_only/layer.rs"]
mod read_only;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use common::*;
use futures::future::{ready, Either, Ready};
use redynamo::config::Config;
use redynamo::layers::error::BackendUnavailable;
use redynamo::layers::{BoxError, Command, Reply, Request};
use tower::layer::layer_fn;
use tower::{Layer, Service};

#[tokio::test]
async fn the_read_only_example_refuses_writes() {
    let server =
        TestServer::with_builder(Config::for_tests(), |b| b.layer(read_only::ReadOnlyLayer)).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, err(read_only::READONLY));
    assert_eq!(
        c.cmd_bytes(&["INCR", "n"]).await,
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    for write in [
        &["DEL", "k"][..],
        &["MSET", "a", "1"],
        &["EXPIRE", "k", "1"],
        &["FLUSHALL"],
        &["APPEND", "k", "x"],
    ] {
        assert_eq!(c.cmd(write).await, err(read_only::READONLY), "{write:?}");
    }
    // Reads and server commands pass.
    assert_eq!(c.cmd(&["GET", "k"]).await, nil());
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "databases"]).await,
        bulks(&["databases", "16"])
    );
    // Transactions: reads run, a queued write refuses the whole EXEC.
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([nil(), simple("PONG")]));
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        err("EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica.")
    );
    // The redis crate maps READONLY to its own error kind.
    let mut con = server.conn().await;
    let e = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async::<()>(&mut con)
        .await
        .expect_err("READONLY");
    assert_eq!(e.kind(), redis::ErrorKind::ReadOnly);
}

/// A namespace: every key a command names gets `prefix` in front of it,
/// at the key positions of the command table. Commands in a transaction
/// are rewritten too. (Replies that list keys — KEYS, SCAN, RANDOMKEY —
/// are left alone here, which the test uses to see the stored names.)
#[derive(Clone)]
struct KeyPrefixLayer {
    prefix: Bytes,
}

impl<S> Layer<S> for KeyPrefixLayer {
    type Service = KeyPrefix<S>;

    fn layer(&self, inner: S) -> KeyPrefix<S> {
        KeyPrefix {
            inner,
            prefix: self.prefix.clone(),
        }
    }
}

#[derive(Clone)]
struct KeyPrefix<S> {
    inner: S,
    prefix: Bytes,
}

impl<S> KeyPrefix<S> {
    fn rewrite(&self, cmd: &mut Command) {
        let positions: Vec<usize> = cmd.spec.key_indexes(cmd.args.len()).collect();
        for i in positions {
            let mut key = BytesMut::with_capacity(self.prefix.len() + cmd.args[i].len());
            key.extend_from_slice(&self.prefix);
            key.extend_from_slice(&cmd.args[i]);
            cmd.args[i] = key.freeze();
        }
    }
}

impl<S: Service<Request>> Service<Request> for KeyPrefix<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> S::Future {
        self.rewrite(&mut req.command);
        for queued in &mut req.transaction {
            self.rewrite(queued);
        }
        self.inner.call(req)
    }
}

#[tokio::test]
async fn a_key_prefix_layer_rewrites_keys_at_the_tables_positions() {
    let layer = KeyPrefixLayer {
        prefix: Bytes::from_static(b"tenant:"),
    };
    let server = TestServer::with_builder(Config::for_tests(), |b| b.layer(layer)).await;
    let mut c = server.raw().await;
    // Single key, every other key (MSET's step 2), all keys (DEL, MGET),
    // two keys (RENAME, COPY).
    assert_eq!(c.cmd(&["SET", "a", "1"]).await, ok());
    assert_eq!(c.cmd(&["MSET", "b", "2", "c", "3"]).await, ok());
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]).await,
        bulks(&["1", "2", "3"])
    );
    assert_eq!(c.cmd(&["RENAME", "c", "d"]).await, ok());
    assert_eq!(c.cmd(&["COPY", "d", "e"]).await, int(1));
    assert_eq!(c.cmd(&["INCR", "counter"]).await, int(1));
    // What the store holds: the values MSET wrote are not rewritten.
    let stored = c.cmd(&["KEYS", "*"]).await;
    let mut names: Vec<String> = stored.items().iter().map(Reply::text).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tenant:a",
            "tenant:b",
            "tenant:counter",
            "tenant:d",
            "tenant:e"
        ]
    );
    assert_eq!(c.cmd(&["DEL", "a", "b", "nokey"]).await, int(2));
    // Inside MULTI/EXEC and for WATCH as well.
    let mut other = server.raw().await;
    assert_eq!(c.cmd(&["WATCH", "d"]).await, ok());
    assert_eq!(other.cmd(&["SET", "d", "changed"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["GET", "d"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        Reply::NullArray,
        "WATCH saw the same key"
    );
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "f", "6"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["GET", "d"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([ok(), bulk("changed")]));
    assert_eq!(c.cmd(&["EXISTS", "f", "tenant:f"]).await, int(1));
    assert_eq!(c.cmd(&["KEYS", "tenant:f"]).await, bulks(&["tenant:f"]));
}

/// Records the name of every command it sees, tagged with `tag`.
fn recorder(
    tag: &'static str,
    log: Arc<Mutex<Vec<String>>>,
) -> impl Layer<redynamo::stack::Stack, Service = Recorder<redynamo::stack::Stack>> + Clone {
    layer_fn(move |inner| Recorder {
        inner,
        tag,
        log: log.clone(),
    })
}

#[derive(Clone)]
struct Recorder<S> {
    inner: S,
    tag: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl<S: Service<Request>> Service<Request> for Recorder<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> S::Future {
        let entry = format!("{}:{}", self.tag, req.command.name());
        self.log.lock().expect("log lock").push(entry);
        self.inner.call(req)
    }
}

#[tokio::test]
async fn layers_run_in_the_order_added_and_only_after_auth() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::for_tests();
    config.requirepass = Some("pw".into());
    let (first, second) = (
        recorder("first", log.clone()),
        recorder("second", log.clone()),
    );
    let server = TestServer::with_builder(config, |b| b.layer(first).layer(second)).await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        err("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v"]).await,
        err("NOAUTH Authentication required.")
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "a custom layer saw an unauthenticated command: {:?}",
        log.lock().unwrap()
    );
    assert_eq!(c.cmd(&["AUTH", "pw"]).await, ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // Session commands stay in the connection; server commands go through.
    assert!(c.cmd(&["CLIENT", "ID"]).await.int() > 0);
    assert_eq!(
        *log.lock().unwrap(),
        ["first:set", "second:set", "first:ping", "second:ping"]
    );
}

/// Fails GET of the key `boom` with an infrastructure error.
#[derive(Clone)]
struct Flaky<S>(S);

impl<S> Service<Request> for Flaky<S>
where
    S: Service<Request, Response = Reply, Error = BoxError>,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Either<Ready<Result<Reply, BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.command.keys().any(|k| k.as_ref() == b"boom") {
            let e = BackendUnavailable("maintenance window".into());
            return Either::Left(ready(Err(e.into())));
        }
        Either::Right(self.0.call(req))
    }
}

#[tokio::test]
async fn a_layer_error_becomes_an_err_reply_and_the_connection_stays() {
    let server = TestServer::with_builder(Config::for_tests(), |b| b.layer(layer_fn(Flaky))).await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["GET", "boom"]).await,
        err("ERR backend unavailable: maintenance window")
    );
    assert_eq!(c.cmd(&["SET", "fine", "1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "fine"]).await, bulk("1"));
}

#[tokio::test]
async fn tower_combinators_are_layers_too() {
    // The first rung of docs/middleware.md: no new types at all. Lowercase
    // every key on the way in, and hide error details on the way out.
    use tower::util::{MapRequestLayer, MapResponseLayer};
    let lowercase_keys = MapRequestLayer::new(|mut req: Request| {
        let positions: Vec<usize> = req
            .command
            .spec
            .key_indexes(req.command.args.len())
            .collect();
        for i in positions {
            req.command.args[i] = Bytes::from(req.command.args[i].to_ascii_lowercase());
        }
        req
    });
    let terse_errors = MapResponseLayer::new(|reply: Reply| match reply.error_code() {
        Some("ERR") => Reply::static_error("ERR request failed"),
        _ => reply,
    });
    let server = TestServer::with_builder(Config::for_tests(), |b| {
        b.layer(terse_errors).layer(lowercase_keys)
    })
    .await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "MiXeD", "Value"]).await, ok());
    assert_eq!(
        c.cmd(&["GET", "mixed"]).await,
        bulk("Value"),
        "values untouched"
    );
    assert_eq!(c.cmd(&["KEYS", "*"]).await, bulks(&["mixed"]));
    assert_eq!(c.cmd(&["INCR", "MIXED"]).await, err("ERR request failed"));
    // Errors the connection produces itself (arity) do not pass the stack.
    assert_eq!(
        c.cmd(&["GET"]).await,
        err("ERR wrong number of arguments for 'get' command")
    );
}
