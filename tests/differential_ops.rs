//! Differential tests of the operators' commands: the same lines to
//! redynamo and to redis-server (started with its defaults: no replicas,
//! no AOF, the latency monitor off, `enable-debug-command no`), raw
//! replies compared byte for byte. WAITAOF (Redis 7.2 only) and what
//! cannot be compared (SHUTDOWN's drain, MEMORY's figures) are in
//! `tests/ops.rs`.

mod common;

use common::*;

#[tokio::test]
async fn operators_commands_reply_as_redis() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let lines: Vec<Vec<Vec<u8>>> = [
        // WAIT: no replica acknowledges; 0 replicas asked is answered now.
        "wait 0 0",
        "wait 0 100",
        "wait -1 0",
        "wait 1 1",
        "wait x 0",
        "wait 0 x",
        "wait 0 -1",
        "wait 1 -1",
        "wait 0",
        // Inside MULTI, WAIT does not block.
        "multi",
        "wait 1 0",
        "exec",
        // SHUTDOWN's refusals (the ones that leave the server running).
        "shutdown abort",
        "shutdown ABORT",
        "shutdown later",
        "shutdown nosave save",
        "shutdown abort now",
        "shutdown abort force",
        "shutdown now abort",
        // SHUTDOWN is refused inside MULTI (Redis' no_multi).
        "multi",
        "shutdown",
        "exec",
        // The latency monitor is off.
        "latency latest",
        "latency history command",
        "latency history",
        "latency reset",
        "latency reset command fork",
        "latency doctor",
        "latency nosuch",
        // DEBUG is refused with enable-debug-command no.
        "debug sleep 0",
        "debug object k",
        "debug help",
        "debug",
        "memory",
        "memory nosuch",
        // CLIENT PAUSE's argument errors (the mode is read first); a 0
        // timeout pauses nothing.
        "client pause x",
        "client pause -1",
        "client pause 10 foo",
        "client pause x foo",
        "client pause 10 write x",
        "client pause",
        "client unpause x",
        "client pause 0",
        "client pause 0 write",
        "set k v",
        "client unpause",
    ]
    .iter()
    .map(|l| words(l))
    .collect();
    if let Err(e) = pair.run(&lines).await {
        panic!("{e}");
    }
}

/// LATENCY DOCTOR and MEMORY STATS in RESP3: a verbatim string and a map.
#[tokio::test]
async fn resp3_types() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    pair.both(&words("hello 3")).await;
    let (ours, theirs) = pair.both(&words("latency doctor")).await;
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    let (ours, theirs) = pair.both(&words("memory stats")).await;
    assert_eq!((ours[0], theirs[0]), (b'%', b'%'));
    let (ours, theirs) = pair.both(&words("latency latest")).await;
    assert_eq!(ours, theirs);
}
