//! Functions (Redis 7): FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP /
//! RESTORE / STATS / HELP, and the registry FCALL looks functions up in.
//!
//! A library is Lua code with a `#!lua name=<library>` first line; loading
//! it runs the code once in the load-time sandbox (only
//! `redis.register_function`, `redis.log` and the version are there), and
//! the functions it registers then run like EVAL scripts, with their
//! flags. Libraries live in the store's Lua VM, so they last as long as
//! the store: the memory store keeps them until it stops, as Redis keeps
//! them until a restart without persistence.

use std::collections::BTreeMap;

use bytes::Bytes;
use mlua::{Function, Table, Value};
use redynamo_layers::command::CommandId;
use redynamo_layers::{Command, Reply};

use super::{flush_mode, lua_message, Engine, ScriptFlags};
use crate::util::glob;

/// Longest a library's top-level code may run while it loads (Redis'
/// 500 ms FUNCTION LOAD timeout).
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// One registered function.
#[derive(Clone)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: ScriptFlags,
    func: Function,
}

/// One library: its code and the functions it registered.
#[derive(Clone)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// Every loaded library, and which library each function name belongs to.
#[derive(Default)]
pub struct Libraries {
    libraries: BTreeMap<String, Library>,
    owner: BTreeMap<String, String>,
}

impl Libraries {
    /// The function FCALL names: the Lua function, its flags, its name.
    pub fn function(&self, name: &[u8]) -> Option<(Function, ScriptFlags, String)> {
        let name = std::str::from_utf8(name).ok()?;
        let lib = self.libraries.get(self.owner.get(name)?)?;
        let f = lib.functions.iter().find(|f| f.name == name)?;
        Some((f.func.clone(), f.flags, f.name.clone()))
    }

    fn remove(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.owner.remove(&f.name);
        }
        Some(lib)
    }

    /// Add `lib`, replacing a library of the same name when `replace`.
    /// Fails, changing nothing, on a name taken by another library.
    fn add(&mut self, lib: Library, replace: bool) -> Result<(), Reply> {
        if self.libraries.contains_key(&lib.name) && !replace {
            return Err(Reply::error(format!(
                "ERR Library '{}' already exists",
                lib.name
            )));
        }
        for f in &lib.functions {
            if let Some(owner) = self.owner.get(&f.name) {
                if *owner != lib.name {
                    return Err(Reply::error(format!(
                        "ERR Function {} already exists",
                        f.name
                    )));
                }
            }
        }
        self.remove(&lib.name);
        for f in &lib.functions {
            self.owner.insert(f.name.clone(), lib.name.clone());
        }
        self.libraries.insert(lib.name.clone(), lib);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    pub fn function_count(&self) -> usize {
        self.owner.len()
    }
}

/// FUNCTION … (all but KILL, which never waits for the store).
pub(super) fn command(engine: &mut Engine, cmd: &Command) -> Reply {
    use CommandId as Id;
    let a = &cmd.args[..];
    match cmd.spec.id {
        Id::FunctionLoad => load_command(engine, &a[2..]),
        Id::FunctionDelete => {
            let name = String::from_utf8_lossy(&a[2]).into_owned();
            match engine.libraries.remove(&name) {
                Some(_) => Reply::ok(),
                None => Reply::static_error("ERR Library not found"),
            }
        }
        Id::FunctionFlush => match flush_mode(&a[2..]) {
            Ok(()) => {
                engine.libraries = Libraries::default();
                Reply::ok()
            }
            Err(()) => Reply::static_error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
        },
        Id::FunctionList => list(engine, &a[2..]),
        Id::FunctionDump => Reply::Bulk(dump(&engine.libraries)),
        Id::FunctionRestore => restore(engine, &a[2..]),
        Id::FunctionStats => stats(engine),
        Id::FunctionHelp => help(FUNCTION_HELP),
        Id::ScriptHelp => help(SCRIPT_HELP),
        _ => crate::commands::unsupported(cmd.spec.name, "scripting"),
    }
}

/// FUNCTION LOAD [REPLACE] code.
fn load_command(engine: &mut Engine, args: &[Bytes]) -> Reply {
    let mut replace = false;
    let (code, options) = match args.split_last() {
        Some(split) => split,
        None => return Reply::static_error("ERR Function code is missing"),
    };
    for option in options {
        if option.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Reply::error(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(option)
            ));
        }
    }
    match load(engine, code, replace) {
        Ok(name) => Reply::Bulk(Bytes::from(name)),
        Err(e) => e,
    }
}

/// Compile, run and register the library `code`; its name.
pub fn load(engine: &mut Engine, code: &Bytes, replace: bool) -> Result<String, Reply> {
    let (engine_name, name) = metadata(code)?;
    if !engine_name.eq_ignore_ascii_case("lua") {
        return Err(Reply::error(format!(
            "ERR Engine '{engine_name}' not found"
        )));
    }
    if !valid_name(&name) {
        return Err(Reply::static_error(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    if engine.libraries.libraries.contains_key(&name) && !replace {
        return Err(Reply::error(format!("ERR Library '{name}' already exists")));
    }
    // The code after the `#!` line, its line break kept (line numbers).
    let body = memchr::memchr(b'\n', code).map_or(&code[..0], |end| &code[end..]);
    let chunk = engine
        .lua
        .load(body)
        .set_name("@user_function")
        .set_mode(mlua::ChunkMode::Text)
        .set_environment(engine.function_globals.clone())
        .into_function()
        .map_err(|e| Reply::error(format!("ERR Error compiling function: {}", lua_message(&e))))?;
    engine.status.begin_load(LOAD_TIMEOUT_MS);
    let loaded: mlua::Result<(bool, Value, Option<Table>)> = engine.load_library.call(chunk);
    engine.status.end_load();
    let (ok, err, registered) = loaded.map_err(|e| {
        Reply::error(format!(
            "ERR Error registering functions: ERR {}",
            lua_message(&e)
        ))
    })?;
    if !ok {
        let msg = match err {
            Value::String(m) => m.to_string_lossy(),
            Value::Error(e) => super::script_error(&e)
                .unwrap_or_else(|| format!("ERR {}", super::root_message(&e))),
            other => format!("ERR {}", super::value_text(&other)),
        };
        return Err(Reply::error(format!(
            "ERR Error registering functions: {msg}"
        )));
    }
    let mut functions = Vec::new();
    if let Some(registered) = registered {
        for entry in registered.sequence_values::<Table>().flatten() {
            let Ok(fname) = entry.raw_get::<mlua::String>("name") else {
                continue;
            };
            let Ok(func) = entry.raw_get::<Function>("callback") else {
                continue;
            };
            let mut flags = ScriptFlags {
                declared: true,
                ..ScriptFlags::default()
            };
            if let Ok(list) = entry.raw_get::<Table>("flags") {
                for flag in list.sequence_values::<mlua::String>().flatten() {
                    flags.set(&flag.as_bytes());
                }
            }
            let description = entry
                .raw_get::<Option<mlua::String>>("description")
                .ok()
                .flatten()
                .map(|d| Bytes::copy_from_slice(&d.as_bytes()));
            functions.push(FunctionInfo {
                name: fname.to_string_lossy(),
                description,
                flags,
                func,
            });
        }
    }
    if functions.is_empty() {
        return Err(Reply::static_error("ERR No functions registered"));
    }
    engine.libraries.add(
        Library {
            name: name.clone(),
            code: code.clone(),
            functions,
        },
        replace,
    )?;
    Ok(name)
}

/// The engine and the library name of a library's `#!` first line
/// (Redis' `functionExtractLibMetaData`).
fn metadata(code: &[u8]) -> Result<(String, String), Reply> {
    if !code.starts_with(b"#!") {
        return Err(Reply::static_error("ERR Missing library metadata"));
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err(Reply::static_error("ERR Invalid library metadata"));
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(first) = parts.next() else {
        return Err(Reply::static_error("ERR Invalid library metadata"));
    };
    let engine = first[2..].to_string();
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(Reply::static_error(
                    "ERR Invalid metadata value, name argument was given multiple times",
                ));
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(Reply::error(format!(
            "ERR Invalid metadata value given: {part}"
        )));
    }
    let Some(name) = name else {
        return Err(Reply::static_error("ERR Library name was not given"));
    };
    Ok((engine, name))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list(engine: &Engine, args: &[Bytes]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if !with_code && arg.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && arg.eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= args.len() {
                return Reply::static_error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Reply::error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(arg)
            ));
        }
        i += 1;
    }
    let mut out = Vec::new();
    for lib in engine.libraries.libraries.values() {
        if let Some(p) = pattern {
            if !glob::matches(
                &p.to_ascii_lowercase(),
                &lib.name.to_ascii_lowercase().into_bytes(),
            ) {
                continue;
            }
        }
        let functions = lib
            .functions
            .iter()
            .map(|f| {
                Reply::Map(vec![
                    (Reply::bulk("name"), Reply::bulk(&f.name)),
                    (
                        Reply::bulk("description"),
                        f.description
                            .clone()
                            .map(Reply::Bulk)
                            .unwrap_or(Reply::Null),
                    ),
                    (
                        Reply::bulk("flags"),
                        Reply::Set(
                            f.flags
                                .names()
                                .into_iter()
                                .map(|n| Reply::Simple(Bytes::from_static(n.as_bytes())))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut entry = vec![
            (Reply::bulk("library_name"), Reply::bulk(&lib.name)),
            (Reply::bulk("engine"), Reply::bulk("LUA")),
            (Reply::bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            entry.push((Reply::bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(entry));
    }
    Reply::Array(out)
}

fn stats(engine: &Engine) -> Reply {
    // FUNCTION STATS runs under the store's lock, so no function runs
    // while it answers.
    Reply::Map(vec![
        (Reply::bulk("running_script"), Reply::Null),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk("libraries_count"),
                        Reply::Integer(engine.libraries.len() as i64),
                    ),
                    (
                        Reply::bulk("functions_count"),
                        Reply::Integer(engine.libraries.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ])
}

/// The payload's first bytes and format version (redynamo's own format:
/// the libraries' code, length-prefixed, then a checksum; Redis' DUMP
/// payload is an RDB fragment that only Redis reads).
const DUMP_MAGIC: &[u8] = b"RDYNFUNC1";

fn dump(libraries: &Libraries) -> Bytes {
    let mut out = DUMP_MAGIC.to_vec();
    for lib in libraries.libraries.values() {
        out.extend_from_slice(&(lib.code.len() as u64).to_le_bytes());
        out.extend_from_slice(&lib.code);
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Bytes::from(out)
}

/// FNV-1a over the payload.
fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The libraries' code in a DUMP payload; None when it is not one.
fn parse_dump(payload: &[u8]) -> Option<Vec<Bytes>> {
    let body_len = payload.len().checked_sub(8)?;
    let (body, sum) = payload.split_at(body_len);
    if !body.starts_with(DUMP_MAGIC) || checksum(body).to_le_bytes() != sum {
        return None;
    }
    let mut rest = &body[DUMP_MAGIC.len()..];
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
        let code = rest.get(8..8usize.checked_add(len)?)?;
        codes.push(Bytes::copy_from_slice(code));
        rest = &rest[8 + len..];
    }
    Some(codes)
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all or nothing.
fn restore(engine: &mut Engine, args: &[Bytes]) -> Reply {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy =
        match args.get(1) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(_) => return Reply::static_error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    if args.len() > 2 {
        return redynamo_layers::reply::errors::SYNTAX;
    }
    let Some(codes) = parse_dump(&args[0]) else {
        return Reply::static_error("ERR DUMP payload version or checksum are wrong");
    };
    let before_libs = std::mem::take(&mut engine.libraries);
    if policy != Policy::Flush {
        engine.libraries.libraries = before_libs.libraries.clone();
        engine.libraries.owner = before_libs.owner.clone();
    }
    for code in &codes {
        if let Err(e) = load(engine, code, policy == Policy::Replace) {
            engine.libraries = before_libs;
            return e;
        }
    }
    Reply::ok()
}

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_as_redis_reads_it() {
        assert_eq!(
            metadata(b"#!lua name=lib\ncode").unwrap(),
            ("lua".to_string(), "lib".to_string())
        );
        assert_eq!(
            metadata(b"return 1").unwrap_err(),
            Reply::static_error("ERR Missing library metadata")
        );
        assert_eq!(
            metadata(b"#!lua").unwrap_err(),
            Reply::static_error("ERR Invalid library metadata")
        );
        assert_eq!(
            metadata(b"#!lua foo=bar\n").unwrap_err(),
            Reply::static_error("ERR Invalid metadata value given: foo=bar")
        );
        assert_eq!(
            metadata(b"#!lua\n").unwrap_err(),
            Reply::static_error("ERR Library name was not given")
        );
    }

    #[test]
    fn a_dump_reads_back_and_a_damaged_one_does_not() {
        let mut libs = Libraries::default();
        let payload = dump(&libs);
        assert_eq!(parse_dump(&payload), Some(vec![]));
        libs.libraries.insert(
            "a".into(),
            Library {
                name: "a".into(),
                code: Bytes::from_static(b"#!lua name=a\n"),
                functions: vec![],
            },
        );
        let payload = dump(&libs);
        assert_eq!(
            parse_dump(&payload),
            Some(vec![Bytes::from_static(b"#!lua name=a\n")])
        );
        let mut bad = payload.to_vec();
        bad[12] ^= 1;
        assert_eq!(parse_dump(&bad), None);
        assert_eq!(parse_dump(b"x"), None);
    }
}
