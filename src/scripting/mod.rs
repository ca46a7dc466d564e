//! Lua scripting and functions: EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL,
//! on Lua 5.1 as Redis 7.2 runs them (docs/scripting.md).
//!
//! ```text
//! EVAL ─► store (holds its lock) ─► Engine::command ─► Lua (mlua, Lua 5.1)
//!                                        ▲                 │ redis.call
//!                                        └── Host::call ◄──┘ (commands::apply)
//! ```
//!
//! - [`Engine`]: one Lua VM per store, its script cache and function
//!   libraries. A store runs a scripting command by handing the engine a
//!   [`Host`], through which `redis.call` runs commands with the same
//!   one-home semantics as any client's (`commands::apply` on the store's
//!   keyspace), inside the store's critical section: nothing interleaves.
//! - [`status`]: the running script's shared state, read without the lock
//!   (`-BUSY`, SCRIPT KILL, FUNCTION KILL).
//! - [`convert`]: replies ⇄ Lua values, Redis' rules.
//! - `sandbox.lua`: the read-only globals and the `redis` table.
//! - [`libs`]: `bit` and `cjson` in Rust (`cmsgpack` and `struct` too).
//! - [`functions`]: FUNCTION LOAD and friends, FCALL.

pub mod convert;
pub mod functions;
pub mod libs;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use redynamo_layers::command::{lookup, CommandId, CommandSpec, Flags};
use redynamo_layers::{Command, Reply};
use sha1::{Digest, Sha1};

pub use status::{KillKind, ScriptStatus, BUSY_FUNCTION, BUSY_SCRIPT};

use crate::admin::REDIS_VERSION_FOR_HELLO as REDIS_VERSION;

/// How a store runs the commands a script calls.
pub trait Host {
    /// Run `cmd` in db `db`. The engine has checked it first: known, right
    /// arity, allowed in scripts, allowed by the script's flags.
    fn call(&mut self, cmd: &Command, db: u32) -> Reply;
    /// How many dbs SELECT may choose from.
    fn databases(&self) -> u32;
}

/// Memory a Lua VM may use (scripts, their data and function libraries):
/// past it, an allocation fails with Lua's "not enough memory", which the
/// script sees as an error.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 * 1024 * 1024;

/// The chunk name of the sandbox's own code: frames of it are skipped when
/// the script line of an error is looked up.
const SANDBOX_CHUNK: &str = "=[sandbox]";

/// A script's shebang flags (`#!lua flags=no-writes,allow-oom`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// The script had a shebang: Redis then applies the flags below
    /// instead of its compatibility rules for plain EVAL scripts.
    pub declared: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Set the flag named `name`; false for an unknown one.
    fn set(&mut self, name: &[u8]) -> bool {
        match name {
            b"no-writes" => self.no_writes = true,
            b"allow-oom" => self.allow_oom = true,
            b"allow-stale" => self.allow_stale = true,
            b"no-cluster" => self.no_cluster = true,
            b"allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            _ => return false,
        }
        true
    }

    /// The names FUNCTION LIST shows, in Redis' order.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (on, name) in [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot_keys, "allow-cross-slot-keys"),
        ] {
            if on {
                out.push(name);
            }
        }
        out
    }
}

/// A cached EVAL script.
struct Script {
    body: Bytes,
    flags: ScriptFlags,
    func: Function,
}

/// What a run calls: an EVAL script or a function.
struct Run<'a> {
    func: &'a Function,
    flags: ScriptFlags,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    read_only_command: bool,
    /// The name errors give: the script's SHA1, or the function's name.
    name: &'a str,
    function: bool,
    keys: &'a [Bytes],
    args: &'a [Bytes],
}

/// The Lua VM of a store, with its scripts and function libraries.
pub struct Engine {
    lua: Lua,
    /// The sandbox's host table: `dispatch` (set for each run), `resp`.
    host: Table,
    /// What scripts see as globals (KEYS and ARGV are set here).
    visible: Table,
    /// The read-only global table scripts run in.
    globals: Table,
    /// The globals of function libraries (load-time API while loading).
    function_globals: Table,
    /// Runs a library's chunk for FUNCTION LOAD (sandbox.lua).
    load_library: Function,
    run_eval: Function,
    run_fcall: Function,
    scripts: HashMap<String, Script>,
    libraries: functions::Libraries,
    status: Arc<ScriptStatus>,
    /// Runs since the last incremental GC step.
    runs: u32,
    /// The VM's memory limit, bytes.
    memory_limit: usize,
}

impl Engine {
    /// A new VM: the sandbox, the libraries, the `redis` table, the hook
    /// that marks a long script busy and stops a killed one.
    pub fn new(status: Arc<ScriptStatus>, memory_limit: usize) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let real = lua.globals();
        libs::register(&lua, &real)?;
        let host = lua.create_table()?;
        host.raw_set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return Err(ScriptError::raise("ERR wrong number of arguments"));
                }
                let data = value_arg(&args[0]).unwrap_or_default();
                lua.create_string(sha1_hex(&data))
            })?,
        )?;
        host.raw_set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::String)| {
                let msg = msg.to_string_lossy();
                match level {
                    0 | 1 => tracing::debug!(target: "redynamo::lua", "{msg}"),
                    2 => tracing::info!(target: "redynamo::lua", "{msg}"),
                    _ => tracing::warn!(target: "redynamo::lua", "{msg}"),
                }
                Ok(())
            })?,
        )?;
        let in_run = host.clone();
        host.raw_set(
            "acl_check_cmd",
            lua.create_function(move |_, args: MultiValue| {
                if in_run.raw_get::<Option<Function>>("dispatch")?.is_none() {
                    return Err(ScriptError::raise(
                        "ERR redis.acl_check_cmd can only be called inside a script invocation",
                    ));
                }
                if args.is_empty() {
                    return Err(ScriptError::raise(
                        "ERR Please specify at least one argument for this redis lib call",
                    ));
                }
                let mut argv = Vec::with_capacity(args.len());
                for v in args.iter() {
                    match value_arg(v) {
                        Some(a) => argv.push(a),
                        None => {
                            return Err(ScriptError::raise(
                                "ERR Lua redis lib command arguments must be strings or integers",
                            ))
                        }
                    }
                }
                match find_command(&argv) {
                    // No ACL users but `default`, who may run everything.
                    Ok(_) | Err(Refusal::Arity) => Ok(true),
                    Err(Refusal::Unknown) => Err(ScriptError::raise(
                        "ERR Invalid command passed to redis.acl_check_cmd()",
                    )),
                }
            })?,
        )?;
        let resp_host = host.clone();
        host.raw_set(
            "setresp",
            lua.create_function(move |_, args: MultiValue| {
                if resp_host.raw_get::<Option<Function>>("dispatch")?.is_none() {
                    return Err(ScriptError::raise(
                        "ERR redis.setresp can only be called inside a script invocation",
                    ));
                }
                if args.len() != 1 {
                    return Err(ScriptError::raise(
                        "ERR redis.setresp() requires one argument.",
                    ));
                }
                let resp = match &args[0] {
                    Value::Integer(i) => *i as f64,
                    Value::Number(n) => *n,
                    Value::String(s) => s
                        .to_str()
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0.0),
                    _ => 0.0,
                };
                if resp != 2.0 && resp != 3.0 {
                    return Err(ScriptError::raise("ERR RESP version must be 2 or 3."));
                }
                resp_host.raw_set("resp", resp as i64)
            })?,
        )?;
        let dispatcher = host.clone();
        host.raw_set(
            "call",
            lua.create_function(move |_, args: MultiValue| {
                let dispatch: Option<Function> = dispatcher.raw_get("dispatch")?;
                let Some(dispatch) = dispatch else {
                    return Err(ScriptError::raise(
                        "ERR redis.call/pcall can only be called inside a script invocation",
                    ));
                };
                let (value, failed): (Value, bool) = dispatch.call((true, args))?;
                if failed {
                    let msg = match &value {
                        Value::Table(t) => t.raw_get::<mlua::String>("err")?.to_string_lossy(),
                        _ => "ERR unknown error".to_string(),
                    };
                    return Err(ScriptError::raise(msg));
                }
                Ok(value)
            })?,
        )?;
        host.raw_set(
            "error_text",
            lua.create_function(|lua, e: Value| match e {
                Value::Error(e) => Ok(Some(lua.create_string(root_message(&e))?)),
                _ => Ok(None),
            })?,
        )?;
        host.raw_set("version", REDIS_VERSION)?;
        host.raw_set("version_num", version_num(REDIS_VERSION))?;
        host.raw_set("resp", 2)?;
        let (globals, visible, function_globals, load_library): (Table, Table, Table, Function) =
            lua.load(include_str!("sandbox.lua"))
                .set_name(SANDBOX_CHUNK)
                .call((real.clone(), host.clone()))?;
        let handler = lua.create_function(error_handler)?;
        let (run_eval, run_fcall): (Function, Function) = lua
            .load(
                "local handler = ...\n\
                 return function(f) return xpcall(f, handler) end,\n\
                 function(f, keys, args) return xpcall(function() return f(keys, args) end, handler) end",
            )
            .set_name(SANDBOX_CHUNK)
            .call(handler)?;
        let hook_status = status.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| {
                hook_status.hand_off();
                match hook_status.interrupt() {
                    Some(why) => Err(ScriptError::raise(format!("ERR {why}"))),
                    None => Ok(VmState::Continue),
                }
            },
        );
        lua.set_memory_limit(memory_limit)?;
        let libraries = functions::Libraries::default();
        Ok(Engine {
            lua,
            host,
            visible,
            globals,
            function_globals,
            load_library,
            run_eval,
            run_fcall,
            scripts: HashMap::new(),
            libraries,
            status,
            runs: 0,
            memory_limit,
        })
    }

    /// Run one scripting command (EVAL*, EVALSHA*, SCRIPT …, FUNCTION …,
    /// FCALL*) from db `db`, its commands through `host`.
    pub fn command(&mut self, cmd: &Command, db: u32, host: &mut dyn Host) -> Reply {
        use CommandId as Id;
        let a = &cmd.args[..];
        match cmd.spec.id {
            Id::Eval => self.eval(a, false, false, db, host),
            Id::EvalRo => self.eval(a, false, true, db, host),
            Id::Evalsha => self.eval(a, true, false, db, host),
            Id::EvalshaRo => self.eval(a, true, true, db, host),
            Id::ScriptLoad => match self.create(&a[2]) {
                Ok(sha) => Reply::Bulk(Bytes::from(sha)),
                Err(e) => e,
            },
            Id::ScriptExists => Reply::Array(
                a[2..]
                    .iter()
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                        Reply::Integer(self.scripts.contains_key(&sha) as i64)
                    })
                    .collect(),
            ),
            Id::ScriptFlush => match flush_mode(&a[2..]) {
                Ok(()) => {
                    self.scripts.clear();
                    let _ = self.lua.gc_collect();
                    Reply::ok()
                }
                Err(()) => Reply::static_error("ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
            },
            Id::ScriptKill => self.status.kill(KillKind::Script),
            Id::FunctionKill => self.status.kill(KillKind::Function),
            Id::Fcall => self.fcall(a, false, db, host),
            Id::FcallRo => self.fcall(a, true, db, host),
            _ => functions::command(self, cmd),
        }
    }

    /// Compile `body` into the cache (EVAL, SCRIPT LOAD); its SHA1.
    fn create(&mut self, body: &Bytes) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_shebang(body)?;
        // Redis 7 loads the body itself as the chunk (the shebang line's
        // line break stays, so line numbers do not move).
        let func = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(self.globals.clone())
            .into_function()
            .map_err(|e| {
                Reply::error(format!(
                    "ERR Error compiling script (new function): {}",
                    lua_message(&e)
                ))
            })?;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    fn eval(&mut self, a: &[Bytes], sha: bool, ro: bool, db: u32, host: &mut dyn Host) -> Reply {
        let numkeys = match parse_numkeys(a) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let key = if sha {
            let key = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
            if !self.scripts.contains_key(&key) {
                return Reply::static_error("NOSCRIPT No matching script. Please use EVAL.");
            }
            key
        } else {
            match self.create(&a[1]) {
                Ok(sha) => sha,
                Err(e) => return e,
            }
        };
        let Some(script) = self.scripts.get(&key) else {
            return Reply::static_error("NOSCRIPT No matching script. Please use EVAL.");
        };
        if let Err(e) = check_flags(script.flags, ro) {
            return e;
        }
        let func = script.func.clone();
        let flags = script.flags;
        let run = Run {
            func: &func,
            flags,
            read_only_command: ro,
            name: &key,
            function: false,
            keys: &a[3..3 + numkeys],
            args: &a[3 + numkeys..],
        };
        self.run(run, db, host)
    }

    fn fcall(&mut self, a: &[Bytes], ro: bool, db: u32, host: &mut dyn Host) -> Reply {
        let numkeys = match parse_numkeys(a) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let Some((func, flags, name)) = self.libraries.function(&a[1]) else {
            return Reply::static_error("ERR Function not found");
        };
        if let Err(e) = check_flags(flags, ro) {
            return e;
        }
        let run = Run {
            func: &func,
            flags,
            read_only_command: ro,
            name: &name,
            function: true,
            keys: &a[3..3 + numkeys],
            args: &a[3 + numkeys..],
        };
        self.run(run, db, host)
    }

    /// Run a script or function to completion, under the caller's lock.
    fn run(&mut self, run: Run<'_>, db: u32, host: &mut dyn Host) -> Reply {
        self.status.start(run.function);
        let reply = self.run_inner(&run, db, host).unwrap_or_else(|e| {
            Reply::error(format!(
                "ERR Error running script {}, {}",
                run.name,
                truncate(&lua_message(&e), 100)
            ))
        });
        self.status.finish();
        let _ = self.host.raw_set("dispatch", Value::Nil);
        self.runs += 1;
        // A script that ran out of memory (or nearly) leaves its garbage:
        // collect it now, or the next script starts out of memory.
        if self.lua.used_memory() > self.memory_limit / 2 {
            let _ = self.lua.gc_collect();
        } else if self.runs >= 50 {
            self.runs = 0;
            let _ = self.lua.gc_step_kbytes(50);
        }
        reply
    }

    fn run_inner(&mut self, run: &Run<'_>, db: u32, host: &mut dyn Host) -> mlua::Result<Reply> {
        let lua = &self.lua;
        let keys = string_array(lua, run.keys)?;
        let args = string_array(lua, run.args)?;
        self.host.raw_set("resp", 2)?;
        let read_only = run.flags.no_writes || run.read_only_command;
        let status = &self.status;
        let host_table = &self.host;
        let visible = &self.visible;
        let mut ctx = CallContext {
            host,
            db,
            read_only,
            status,
        };
        let (ok, value): (bool, Value) = lua.scope(|scope| {
            let dispatch =
                scope.create_function_mut(|lua, (raise, args): (bool, MultiValue)| {
                    let resp3 = host_table.raw_get::<i64>("resp").unwrap_or(2) == 3;
                    ctx.dispatch(lua, raise, args, resp3)
                })?;
            host_table.raw_set("dispatch", dispatch)?;
            let out = if run.function {
                self.run_fcall.call((run.func.clone(), keys, args))
            } else {
                visible.raw_set("KEYS", keys)?;
                visible.raw_set("ARGV", args)?;
                let out = self.run_eval.call(run.func.clone());
                // KEYS and ARGV are the running script's alone: a function
                // (or the next script's bug) must not find them.
                visible.raw_set("KEYS", Value::Nil)?;
                visible.raw_set("ARGV", Value::Nil)?;
                out
            };
            host_table.raw_set("dispatch", Value::Nil)?;
            out
        })?;
        let resp3 = self.host.raw_get::<i64>("resp").unwrap_or(2) == 3;
        if ok {
            return Ok(convert::lua_to_reply(&value, resp3));
        }
        Ok(match value {
            Value::Table(t) => {
                let msg: Vec<u8> = match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.as_bytes().to_vec(),
                    _ => b"ERR unknown error".to_vec(),
                };
                let mut text = String::from_utf8_lossy(&msg).into_owned();
                let source = t.raw_get::<Option<mlua::String>>("source").ok().flatten();
                let line = t.raw_get::<Option<i64>>("line").ok().flatten();
                if let (Some(source), Some(line)) = (source, line) {
                    text.push_str(&format!(
                        " script: {}, on {}:{}.",
                        run.name,
                        source.to_string_lossy(),
                        line
                    ));
                }
                Reply::error(text)
            }
            other => Reply::error(format!(
                "ERR Error running script {}, {}",
                run.name,
                truncate(&value_text(&other), 100)
            )),
        })
    }

    /// The Lua VM's memory in use, bytes (INFO used_memory_lua).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// How many EVAL scripts are cached (INFO number_of_cached_scripts).
    pub fn cached_scripts(&self) -> usize {
        self.scripts.len()
    }

    /// The body of a cached script (replication, AOF: EVALSHA as EVAL).
    pub fn script_body(&self, sha: &str) -> Option<&Bytes> {
        self.scripts.get(sha).map(|s| &s.body)
    }
}

/// A command a script may not call, and why.
enum Refusal {
    Unknown,
    Arity,
}

/// The command `argv` names, as Redis' `lookupCommand` finds it.
fn find_command(argv: &[Bytes]) -> Result<&'static CommandSpec, Refusal> {
    let spec = argv
        .first()
        .and_then(|n| lookup(n))
        .ok_or(Refusal::Unknown)?;
    let spec = if !spec.subcommands.is_empty() && argv.len() >= 2 {
        spec.subcommand(&argv[1]).ok_or(Refusal::Unknown)?
    } else {
        spec
    };
    if !spec.arity_ok(argv.len()) {
        return Err(Refusal::Arity);
    }
    Ok(spec)
}

/// What `redis.call` works with during one run.
struct CallContext<'a> {
    host: &'a mut dyn Host,
    /// The script's db (SELECT inside a script moves only the script).
    db: u32,
    read_only: bool,
    status: &'a ScriptStatus,
}

impl CallContext<'_> {
    /// `redis.call` (`raise`) and `redis.pcall`: the reply as a Lua value,
    /// and whether it is an error `redis.call` must raise.
    fn dispatch(
        &mut self,
        lua: &Lua,
        raise: bool,
        args: MultiValue,
        resp3: bool,
    ) -> mlua::Result<(Value, bool)> {
        let fail = |msg: &str| -> mlua::Result<(Value, bool)> {
            Ok((
                Value::Table(convert::error_table(lua, format!("ERR {msg}").as_bytes())?),
                true,
            ))
        };
        if args.is_empty() {
            return fail("Please specify at least one argument for this redis lib call");
        }
        let mut argv = Vec::with_capacity(args.len());
        for v in args.iter() {
            match value_arg(v) {
                Some(a) => argv.push(a),
                None => return fail("Lua redis lib command arguments must be strings or integers"),
            }
        }
        let spec = match find_command(&argv) {
            Ok(spec) => spec,
            Err(Refusal::Unknown) => return fail("Unknown Redis command called from script"),
            Err(Refusal::Arity) => {
                return fail("Wrong number of args calling Redis command from script")
            }
        };
        if spec.flags.contains(Flags::NOSCRIPT) {
            return fail("This Redis command is not allowed from script");
        }
        if spec.is_write() {
            if self.read_only {
                return fail("Write commands are not allowed from read-only scripts.");
            }
            self.status.mark_wrote();
        }
        let reply = self.run_command(spec, argv);
        let failed = raise && reply.is_error();
        Ok((convert::reply_to_lua(lua, &reply, resp3)?, failed))
    }

    fn run_command(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        match spec.id {
            // The script's own db; the caller's stays as it was.
            CommandId::Select => {
                let index = std::str::from_utf8(&args[1])
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok());
                match index {
                    None => Reply::static_error("ERR value is not an integer or out of range"),
                    Some(i) if i < 0 || i >= self.host.databases() as i64 => {
                        redynamo_layers::reply::errors::DB_INDEX
                    }
                    Some(i) => {
                        self.db = i as u32;
                        Reply::ok()
                    }
                }
            }
            CommandId::Ping => match args.get(1) {
                Some(msg) => Reply::Bulk(msg.clone()),
                None => Reply::status("PONG"),
            },
            CommandId::Echo => Reply::Bulk(args[1].clone()),
            CommandId::Time => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Reply::Array(vec![
                    Reply::bulk(now.as_secs().to_string()),
                    Reply::bulk(now.subsec_micros().to_string()),
                ])
            }
            _ => self.host.call(&Command { spec, args }, self.db),
        }
    }
}

/// A Lua value as a command argument: strings as they are, numbers as
/// `%.17g`; None for anything else.
fn value_arg(v: &Value) -> Option<Bytes> {
    match v {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Some(Bytes::from(i.to_string())),
        Value::Number(n) => Some(Bytes::from(convert::number_arg(*n))),
        _ => None,
    }
}

/// xpcall's message handler: the error as Redis' table
/// `{err=…, source=…, line=…}`, with the script frame it came from.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) => t,
        // redis.call's error: Redis raises it as {err = "CODE message"}.
        Value::Error(e) if script_error(&e).is_some() => {
            let t = lua.create_table()?;
            t.raw_set("err", script_error(&e).unwrap_or_default())?;
            t
        }
        other => {
            let mut text = b"ERR ".to_vec();
            text.extend_from_slice(&value_bytes(&other));
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&text)?)?;
            t
        }
    };
    for level in 1..12 {
        let Some(frame) = lua.inspect_stack(level) else {
            break;
        };
        let source = frame.source();
        if source.what == "C" || source.source.as_deref() == Some(SANDBOX_CHUNK) {
            continue;
        }
        if let Some(src) = source.source.as_deref() {
            table.raw_set("source", src)?;
            table.raw_set("line", frame.curr_line())?;
        }
        break;
    }
    Ok(table)
}

/// An error a script raises with a Redis error text of its own (a failed
/// `redis.call`, SCRIPT KILL, the load timeout), where Redis raises an
/// `{err = …}` table.
#[derive(Debug)]
struct ScriptError(String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    fn raise(msg: impl Into<String>) -> mlua::Error {
        mlua::Error::external(ScriptError(msg.into()))
    }
}

/// The text of a [`ScriptError`] at the root of `e`.
fn script_error(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => script_error(cause),
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<ScriptError>().map(|s| s.0.clone())
        }
        _ => None,
    }
}

/// `tostring` of an error value, as bytes; an error raised from Rust (the
/// hook, a library) as its message, without mlua's traceback.
fn value_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Error(e) => root_message(e).into_bytes(),
        Value::Nil => b"nil".to_vec(),
        Value::Boolean(b) => b.to_string().into_bytes(),
        Value::Integer(i) => i.to_string().into_bytes(),
        Value::Number(n) => convert::number_arg(*n).into_bytes(),
        other => format!("{}: {:p}", other.type_name(), other.to_pointer()).into_bytes(),
    }
}

fn value_text(v: &Value) -> String {
    String::from_utf8_lossy(&value_bytes(v)).into_owned()
}

/// The message at the root of an mlua error (a callback's cause, Lua's
/// own text for a syntax or runtime error).
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(msg) => msg.clone(),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn lua_message(e: &mlua::Error) -> String {
    root_message(e).trim_end_matches(['\r', '\n']).to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_seti(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// EVAL's and FCALL's `numkeys`, checked against the arguments.
fn parse_numkeys(a: &[Bytes]) -> Result<usize, Reply> {
    let n = std::str::from_utf8(&a[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(redynamo_layers::reply::errors::NOT_INTEGER)?;
    if n > (a.len() - 3) as i64 {
        return Err(Reply::static_error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Reply::static_error("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// What the script's flags forbid before it runs (Redis'
/// `scriptPrepareForRun`).
fn check_flags(flags: ScriptFlags, read_only_command: bool) -> Result<(), Reply> {
    if flags.declared && !flags.no_writes && read_only_command {
        return Err(Reply::static_error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(())
}

/// SCRIPT FLUSH's and FUNCTION FLUSH's optional ASYNC / SYNC.
fn flush_mode(args: &[Bytes]) -> Result<(), ()> {
    match args {
        [] => Ok(()),
        [m] if m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync") => Ok(()),
        _ => Err(()),
    }
}

/// The flags of a `#!lua` first line and the code after it (the line
/// break stays, so line numbers do not move).
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, &[u8]), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), body));
    }
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = &body[..end];
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or(b"");
    if engine != b"#!lua" {
        return Err(Reply::error(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        )));
    }
    let mut flags = ScriptFlags {
        declared: true,
        ..ScriptFlags::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(Reply::error(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            )));
        };
        for flag in list.split(|&b| b == b',').filter(|f| !f.is_empty()) {
            if !flags.set(flag) {
                return Err(Reply::error(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(flag)
                )));
            }
        }
    }
    Ok((flags, &body[end..]))
}

/// The reply of the DynamoDB backend to a scripting command.
pub fn not_on_dynamodb(name: &str) -> Reply {
    Reply::error(format!(
        "ERR '{}' is not supported by the DynamoDB backend: scripts and functions run on the memory backend only (docs/scripting.md)",
        name.to_ascii_uppercase().replace('|', " ")
    ))
}

/// Hex SHA1, lowercase, as Redis names scripts.
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `7.2.4` as Redis' REDIS_VERSION_NUM, 0x00070204.
fn version_num(v: &str) -> i64 {
    let mut n = 0i64;
    for part in v.split('.').take(3) {
        n = (n << 8) | part.parse::<i64>().unwrap_or(0);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_as_redis_reads_them() {
        let (flags, code) = parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(flags.declared && flags.no_writes && flags.allow_oom && !flags.allow_stale);
        assert_eq!(code, b"\nreturn 1");
        assert_eq!(
            parse_shebang(b"#!python\n").unwrap_err(),
            Reply::static_error("ERR Unexpected engine in script shebang: #!python")
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
            Reply::static_error("ERR Unexpected flag in script shebang: bad")
        );
        assert_eq!(
            parse_shebang(b"#!lua name=x\n").unwrap_err(),
            Reply::static_error("ERR Unknown lua shebang option: name=x")
        );
        assert_eq!(
            parse_shebang(b"return 1").unwrap().0,
            ScriptFlags::default()
        );
    }

    #[test]
    fn sha1_and_version() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(version_num("7.2.4"), 0x070204);
    }
}
