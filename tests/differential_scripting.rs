//! Differential tests of Lua scripting: a corpus of scripts goes to
//! redynamo (in-memory backend) and to a real `redis-server`, and the raw
//! replies must be the same bytes, in RESP2 and in RESP3.
//!
//! The corpus covers the conversion rules both ways (every reply type a
//! command gives a script, every Lua value a script returns, with
//! `redis.setresp(3)` too), the error texts with their script line
//! (`script: <sha>, on @user_script:N.`), the sandbox's errors, the
//! `redis` API's argument checks, shebang flags and the `_RO` commands,
//! SCRIPT LOAD/EXISTS/FLUSH, `cjson` and `bit`, and functions (FUNCTION
//! LOAD's errors, FCALL, FUNCTION LIST).
//!
//! Not compared: `redis.REDIS_VERSION` (redis-server here is 7.0, we
//! report 7.2), and what 7.0 and 7.2 answer differently (the function-name
//! error of `redis.register_function`, which 7.0 words as the library-name
//! one): those are checked against 7.2's texts in `tests/scripting.rs`.

mod common;

use common::*;

fn corpus() -> Vec<Vec<Vec<u8>>> {
    let mut lines: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut add = |parts: &[&str]| lines.push(line(parts));
    let eval = |script: &str| -> Vec<String> { vec!["eval".into(), script.into(), "0".into()] };
    // Keys of every type for the scripts to read.
    add(&["set", "s", "abc"]);
    add(&["set", "n", "10"]);
    add(&["hset", "h", "a", "1", "b", "2"]);
    add(&["rpush", "l", "x", "y", "z"]);
    add(&["sadd", "st", "m"]);
    add(&["zadd", "z", "1.5", "a", "2", "b"]);
    let scripts: &[&str] = &[
        // Lua → reply.
        "return 1",
        "return -7",
        "return 3.99",
        "return -3.99",
        "return 'hello'",
        "return true",
        "return false",
        "return nil",
        "return {}",
        "return {1, 2, 3}",
        "return {1, 'two', {3, {4, 'five'}}, true, false}",
        "return {1, 2, nil, 4}",
        "return {err = 'MYERR custom'}",
        "return {err = 'no code here'}",
        "return {ok = 'FINE'}",
        "return {ok = 'a\\r\\nb'}",
        "return {double = 3.5}",
        "return {map = {a = 1}}",
        "return {set = {a = true}}",
        "return redis.status_reply('STATUS')",
        "return redis.error_reply('My Error')",
        "return redis.error_reply('-PREFIX with code')",
        "return redis.error_reply('')",
        "return redis.status_reply(1)",
        "return redis.error_reply()",
        // Reply → Lua, RESP2.
        "return redis.call('get', 's')",
        "return redis.call('get', 'missing')",
        "return type(redis.call('get', 'missing'))",
        "return redis.call('incr', 'n')",
        "return redis.call('set', 'k', 'v')",
        "return type(redis.call('set', 'k', 'v'))",
        "return redis.call('set', 'k', 'v').ok",
        "return redis.call('hgetall', 'h')",
        "return redis.call('lrange', 'l', 0, -1)",
        "return redis.call('smembers', 'st')",
        "return redis.call('zrange', 'z', 0, -1, 'withscores')",
        "return redis.call('zscore', 'z', 'a')",
        "return redis.call('exists', 's', 'h', 'missing')",
        "return redis.call('mget', 's', 'missing', 'n')",
        "return redis.call('type', 'h')",
        "return redis.pcall('incr', 's')",
        "return type(redis.pcall('incr', 's'))",
        "return redis.pcall('incr', 's').err",
        "return redis.call('set', 'f', 1.5)",
        "return redis.call('set', 'f', 0.1)",
        "return redis.call('get', 'f')",
        "return redis.call('incrbyfloat', 'f', 0.25)",
        "return redis.call('set', 'big', 12345678901234567)",
        "return redis.call('get', 'big')",
        "return redis.call('ping')",
        "return redis.call('echo', 'hi')",
        "return redis.call('select', 1)",
        "redis.call('select', 2); redis.call('set', 'in2', 'x'); return redis.call('get', 'in2')",
        "return redis.call('get', 'in2')",
        // Reply → Lua, RESP3 (redis.setresp).
        "redis.setresp(3); return redis.call('hgetall', 'h')",
        "redis.setresp(3); return redis.call('smembers', 'st')",
        "redis.setresp(3); return redis.call('zscore', 'z', 'a')",
        "redis.setresp(3); return redis.call('get', 'missing')",
        "redis.setresp(3); return type(redis.call('get', 'missing'))",
        "redis.setresp(3); return true",
        "redis.setresp(3); return false",
        "redis.setresp(3); local t = redis.call('hgetall', 'h'); return t.map.a",
        "redis.setresp(3); return redis.call('zrange', 'z', 0, -1, 'withscores')",
        "redis.setresp(4)",
        "redis.setresp()",
        // Errors, with the script line.
        "return redis.call('incr', 's')",
        "\n\nreturn redis.call('incr', 's')",
        "local x = 1\nlocal y = 2\nerror('boom')",
        "error({err = 'MINE table error'})",
        "error('plain')",
        "return redis.call('nosuchcommand')",
        "return redis.call('get')",
        "return redis.call('get', 'a', 'b')",
        "return redis.call('get', {})",
        "return redis.call('get', nil)",
        "return redis.call()",
        "return redis.pcall()",
        "return redis.call('eval', 'return 1', 0)",
        "return redis.call('multi')",
        "return redis.call('object')",
        "return redis.call('object', 'nosuch')",
        "local t = nil; return t.x",
        "return 1 + {}",
        "this is not lua",
        "return 'unfinished",
        "return {pcall(redis.call, 'incr', 's')}",
        "local ok, e = pcall(redis.call, 'incr', 's'); return e",
        "local ok, e = pcall(error, {err = 'X'}); return e",
        "local ok, e = pcall(error, 'msg'); return e",
        // The sandbox.
        "return a",
        "a = 1",
        "print('x')",
        "os.exit()",
        "io.write('x')",
        "loadfile('x')",
        "dofile('x')",
        "require('x')",
        "return debug",
        "setmetatable(_G, {})",
        "local g = getmetatable(_G); g.__index = {}",
        "redis = function() return 1 end",
        "_G = {}",
        "_G.x = 1",
        "rawset(_G, 'x', 1)",
        "redis.call = function() return 1 end",
        "cjson.encode = function() return 1 end",
        "bit.band = function() return 1 end",
        "string.foo = 1",
        "return string.foo",
        "table.insert = nil",
        "return loadstring('return 1 + 1')()",
        "local f = loadstring('x = 1'); f()",
        "return getfenv(1) == _G",
        "return type(_G)",
        "return _VERSION",
        "return coroutine.wrap(function() coroutine.yield(5) end)()",
        // The redis API.
        "return redis.sha1hex('')",
        "return redis.sha1hex('abc')",
        "return redis.sha1hex()",
        "return redis.sha1hex(1, 2)",
        "redis.log(redis.LOG_WARNING, 'from a script')",
        "redis.log(redis.LOG_WARNING)",
        "redis.log('x', 'y')",
        "redis.log(9, 'y')",
        "return redis.set_repl(redis.REPL_ALL)",
        "redis.set_repl(9)",
        "redis.set_repl()",
        "return redis.replicate_commands()",
        "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
        "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
        "return redis.REDIS_VERSION_NUM > 0x00070000",
        "return type(redis.REDIS_VERSION)",
        "return redis.acl_check_cmd('get', 'x')",
        "return redis.acl_check_cmd('nosuch')",
        // Shebangs.
        "#!lua\nreturn 1",
        "#!lua flags=no-writes\nreturn redis.call('get', 's')",
        "#!lua flags=no-writes\nreturn redis.call('set', 's', 'x')",
        "#!lua flags=no-writes,allow-oom,allow-stale,no-cluster\nreturn 2",
        "#!lua flags=bad\nreturn 1",
        "#!lua name=x\nreturn 1",
        "#!python\nreturn 1",
        // Libraries and Lua 5.1 itself.
        "return cjson.encode({1, 2, {a = 1}})",
        "return cjson.encode({a = 1, b = {c = 'x/y'}, d = 0.1, e = 1/3, f = 'q\"\\n'})",
        "return cjson.encode('x')",
        "return cjson.encode(nil)",
        "return cjson.encode({})",
        "return cjson.encode({[1] = 1, [3] = 3})",
        "return cjson.decode('[1, 2, {\"a\": \"b\"}]')[3].a",
        "return cjson.encode(cjson.decode('{\"a\":null,\"b\":[true,false,1.5]}'))",
        "return cjson.decode('{\"k\": [10, 20]}').k[2]",
        "return cjson.decode('\"\\\\u00e9\"')",
        "return bit.tohex(65535)",
        "return bit.tohex(-1, -4)",
        "return bit.band(0xff, 0x0f, 0x3)",
        "return bit.bor(1, 2, 4)",
        "return bit.bxor(5, 3)",
        "return bit.bnot(0)",
        "return bit.lshift(1, 31)",
        "return bit.rshift(-1, 28)",
        "return bit.arshift(-16, 2)",
        "return bit.rol(1, 33)",
        "return bit.bswap(0x01020304)",
        "return bit.tobit(2^32 + 5)",
        "return tostring(1/3)",
        "return tostring(1e100)",
        "return string.format('%d %s %5.2f %q', 3, 'x', 1.5, 'a\"b')",
        "return string.rep('ab', 3)",
        "return {string.byte('AB', 1, 2)}",
        "return table.concat({1, 2, 3}, ',')",
        "local t = {3, 1, 2}; table.sort(t); return t",
        "return math.floor(3.7)",
        "return math.huge",
        "return tonumber('0x10')",
        "return #KEYS + #ARGV",
        "return unpack({1, 2})",
        "return select('#', 1, 2, 3)",
        "local t = {} for k, v in pairs({a = 1}) do t[#t + 1] = k end return t",
    ];
    for s in scripts {
        let parts = eval(s);
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        add(&refs);
    }
    // KEYS, ARGV and numkeys.
    add(&[
        "eval",
        "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
        "2",
        "k1",
        "k2",
        "a1",
        "a2",
    ]);
    add(&["eval", "return #KEYS", "0"]);
    add(&["eval", "return 1", "3", "a"]);
    add(&["eval", "return 1", "-1"]);
    add(&["eval", "return 1", "x"]);
    add(&["eval", "return redis.call('get', KEYS[1])", "1", "s"]);
    add(&["eval", "return redis.call('get', KEYS[1])", "1", "h"]);
    // _RO commands.
    add(&["eval_ro", "return redis.call('get', KEYS[1])", "1", "s"]);
    add(&[
        "eval_ro",
        "return redis.call('set', KEYS[1], 'x')",
        "1",
        "s",
    ]);
    add(&["eval_ro", "#!lua\nreturn 1", "0"]);
    add(&["eval_ro", "#!lua flags=no-writes\nreturn 1", "0"]);
    // SCRIPT.
    add(&["script", "load", "return 'loaded'"]);
    add(&["evalsha", "b534286061d4b9e4026607613b95c06c06015ae8", "0"]);
    add(&["evalsha", "B534286061D4B9E4026607613B95C06C06015AE8", "0"]);
    add(&[
        "evalsha_ro",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "0",
    ]);
    add(&["evalsha", "ffffffffffffffffffffffffffffffffffffffff", "0"]);
    add(&["evalsha", "short", "0"]);
    add(&[
        "script",
        "exists",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "nope",
    ]);
    add(&["script", "load", "not lua"]);
    add(&["script", "flush", "bad"]);
    add(&["script", "flush"]);
    add(&[
        "script",
        "exists",
        "b534286061d4b9e4026607613b95c06c06015ae8",
    ]);
    add(&["evalsha", "b534286061d4b9e4026607613b95c06c06015ae8", "0"]);
    add(&["script", "flush", "async"]);
    add(&["script", "help"]);
    add(&["script", "kill"]);
    add(&["function", "kill"]);
    // Functions.
    add(&["function", "load", "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)"]);
    add(&["fcall", "f1", "1", "k", "a"]);
    add(&["fcall_ro", "f1", "0"]);
    add(&["function", "load", "#!lua name=lib2\nredis.register_function{function_name='ro', callback=function() return redis.call('get', 's') end, flags={'no-writes'}, description='reads'}"]);
    add(&["fcall_ro", "ro", "0"]);
    // Several libraries list in Redis' dict order: one at a time here.
    add(&["function", "list", "libraryname", "lib1"]);
    add(&["function", "list", "withcode", "libraryname", "lib2"]);
    add(&["function", "list", "libraryname", "lib2", "withcode"]);
    add(&["function", "list", "libraryname", "LIB2*"]);
    add(&["function", "list", "bad"]);
    add(&["function", "list", "libraryname"]);
    add(&[
        "function",
        "load",
        "#!lua name=lib1\nredis.register_function('g', function() end)",
    ]);
    add(&[
        "function",
        "load",
        "replace",
        "#!lua name=lib1\nredis.register_function('g', function() return 'g' end)",
    ]);
    add(&["fcall", "g", "0"]);
    add(&["fcall", "f1", "0"]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function('g', function() end)",
    ]);
    add(&["function", "load", "#!lua name=lib3\nredis.call('ping')"]);
    add(&["function", "load", "#!lua name=lib3\nlocal x = 1"]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function()",
    ]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function('a', 'b')",
    ]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function(1)",
    ]);
    add(&["function", "load", "#!lua name=lib3\nredis.register_function{function_name='x', callback=function() end, flags={'bad'}}"]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function{function_name='x'}",
    ]);
    add(&[
        "function",
        "load",
        "#!lua name=lib3\nredis.register_function{callback=function() end}",
    ]);
    add(&["function", "load", "#!lua name=lib3\nredis.register_function{function_name='x', callback=function() end, other=1}"]);
    add(&["function", "load", "#!lua name=lib3\nfoo()"]);
    add(&["function", "load", "#!lua name=lib3\nerror('x"]);
    add(&["function", "load", "return 1"]);
    add(&["function", "load", "#!lua"]);
    add(&["function", "load", "#!lua\n"]);
    add(&["function", "load", "#!lua name=a-b\n"]);
    add(&["function", "load", "#!foo name=ab\n"]);
    add(&["function", "load", "#!lua name=ab foo=bar\n"]);
    add(&["function", "load", "foo", "#!lua name=ab\n"]);
    add(&["function", "load", "#!lua name=lib4\nredis.register_function('w', function(keys) return redis.call('set', keys[1], 'w') end)"]);
    add(&["fcall", "w", "1", "wk"]);
    add(&["fcall_ro", "w", "1", "wk"]);
    add(&["fcall", "nosuch", "0"]);
    add(&["fcall", "w", "5", "wk"]);
    add(&[
        "function",
        "load",
        "#!lua name=lib5\nredis.register_function('e', function() error('in f') end)",
    ]);
    add(&["fcall", "e", "0"]);
    add(&["function", "load", "#!lua name=lib6\nredis.register_function('r', function() redis.register_function('z', function() end) end)"]);
    add(&["fcall", "r", "0"]);
    add(&["function", "stats"]);
    add(&["function", "delete", "lib5"]);
    add(&["function", "delete", "lib5"]);
    add(&["function", "flush", "bad"]);
    add(&["function", "restore", "garbage"]);
    add(&["function", "restore", "garbage", "bad"]);
    add(&["function", "help"]);
    add(&["function", "flush"]);
    add(&["function", "list"]);
    add(&["fcall", "w", "1", "wk"]);
    lines
}

#[tokio::test]
async fn script_corpus_replies_as_redis_does() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    for resp3 in [false, true] {
        if resp3 {
            // HELLO's reply names the server: not compared.
            pair.both(&line(&["hello", "3"])).await;
        }
        pair.both(&line(&["script", "flush"])).await;
        pair.both(&line(&["function", "flush"])).await;
        pair.both(&line(&["flushall"])).await;
        // Every divergence, not only the first: the corpus' lines do not
        // depend on each other's replies.
        let mut diverged = Vec::new();
        for args in corpus() {
            let (ours, theirs) = pair.both(&args).await;
            if !same_reply(&args, &ours, &theirs) {
                diverged.push(format!(
                    "{}\n  redynamo:     {}\n  redis-server: {}",
                    show(&args),
                    String::from_utf8_lossy(&ours).escape_debug(),
                    String::from_utf8_lossy(&theirs).escape_debug()
                ));
            }
        }
        assert!(
            diverged.is_empty(),
            "RESP{}: {} divergences:\n{}",
            if resp3 { 3 } else { 2 },
            diverged.len(),
            diverged.join("\n")
        );
    }
}

/// MULTI/EXEC runs EVAL like any command, and SCRIPT LOAD inside it.
#[tokio::test]
async fn scripts_inside_transactions() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let lines = vec![
        line(&["multi"]),
        line(&["eval", "return redis.call('incr', KEYS[1])", "1", "c"]),
        line(&["script", "load", "return 7"]),
        line(&["evalsha", "6d1a0dc2a5a9e8b4e8bdcb11b7e2b0f0d2c2e5c6", "0"]),
        line(&["exec"]),
        line(&["get", "c"]),
    ];
    pair.run(&lines).await.unwrap();
}
