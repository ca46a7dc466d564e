//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP over the table of every
//! setting ([`crate::config::directives`]): what redynamo applies, and the
//! Redis directives it accepts and ignores.
//!
//! - GET takes several patterns (7.0+) and lists each setting once, under
//!   the name (or alias) that matched; hidden settings need their exact
//!   name, as in Redis.
//! - SET of several settings is atomic: all are checked first, then set;
//!   if one fails, those already set get their old values back (Redis'
//!   `restoreBackupConfig`). A setting Redis cannot change at run time
//!   answers `can't set immutable config`; one redynamo ignores answers
//!   that it is not supported — unless the new value is the one it already
//!   has, which changes nothing and is `+OK` (`CONFIG SET save ""`).
//! - REWRITE writes the config file back ([`crate::config::rewrite`]).

use bytes::Bytes;
use redynamo_layers::{Command, Reply};

use crate::config::directives::{Directive, Effect, Mutability, DIRECTIVES};
use crate::server::state::ServerState;
use crate::server::tls::TlsFile;
use crate::util::glob;

pub(super) fn execute(state: &ServerState, cmd: &Command) -> Reply {
    let a = &cmd.args;
    match cmd.spec.name {
        "config|get" => get(state, &a[2..]),
        "config|set" => set(state, &a[2..]),
        "config|resetstat" => {
            state.stats.reset();
            state.command_stats.reset();
            Reply::ok()
        }
        "config|rewrite" => rewrite(state),
        _ => help(),
    }
}

fn get(state: &ServerState, patterns: &[Bytes]) -> Reply {
    // As in Redis, a name and its alias are two entries: `*` lists both.
    let mut matched: Vec<(&'static str, &'static Directive)> = Vec::new();
    for pattern in patterns {
        let pattern = pattern.to_ascii_lowercase();
        let is_glob = pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        for d in DIRECTIVES {
            for name in std::iter::once(d.name).chain(d.alias) {
                let hit = if is_glob {
                    !d.hidden && glob::matches(&pattern, name.as_bytes())
                } else {
                    pattern == name.as_bytes()
                };
                if hit && !matched.iter().any(|(n, _)| *n == name) {
                    matched.push((name, d));
                }
            }
        }
    }
    let pairs = matched
        .into_iter()
        .map(|(name, d)| (Reply::bulk(name), Reply::Bulk(Bytes::from(d.value(state)))))
        .collect();
    Reply::Map(pairs)
}

fn set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

fn set(state: &ServerState, args: &[Bytes]) -> Reply {
    if args.is_empty() || args.len() % 2 != 0 {
        return Reply::static_error("ERR wrong number of arguments for 'config|set' command");
    }
    // Check every pair before changing anything.
    let mut changes: Vec<(&'static Directive, String)> = Vec::new();
    for pair in args.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let Some(d) = crate::config::directives::find(&name) else {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match d.effect {
            Effect::Applied { set: None, .. } => {
                return set_failed(&name, "can't set immutable config")
            }
            Effect::Applied { .. } => {}
            Effect::Ignored(_, Mutability::Immutable) => {
                return set_failed(&name, "can't set immutable config")
            }
            Effect::Ignored(_, Mutability::Protected) => {
                return set_failed(&name, "can't set protected config")
            }
            Effect::Ignored(why, Mutability::Mutable) => {
                if value != d.value(state) {
                    return set_failed(
                        &name,
                        &format!("not supported by redynamo ({})", why.text()),
                    );
                }
            }
        }
        if changes.iter().any(|(c, _)| std::ptr::eq(*c, d)) {
            return set_failed(&name, "duplicate parameter");
        }
        changes.push((d, value));
    }
    // The TLS files change together, in one reload: a new certificate
    // and its key set in one CONFIG SET must not be tried one at a time.
    let (tls, changes): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|(d, _)| tls_which(d.name).is_some());
    if let Some((first, _)) = tls.first() {
        let files: Vec<_> = tls
            .iter()
            .filter_map(|(d, v)| Some((tls_which(d.name)?, v.as_str())))
            .collect();
        let result = match &state.tls {
            None => Err("TLS is not enabled (--tls-port)"),
            Some(t) => t.set_files(&files).map_err(|e| {
                tracing::warn!(error = %e, "CONFIG SET of TLS files failed");
                "Unable to update TLS configuration. Check server logs."
            }),
        };
        if let Err(why) = result {
            return set_failed(first.name, why);
        }
    }
    // Set them in order; on a failure, put back the ones already set.
    let mut done: Vec<(&'static Directive, String)> = Vec::new();
    for (d, value) in &changes {
        let Effect::Applied {
            set: Some(setter), ..
        } = d.effect
        else {
            continue;
        };
        let old = d.value(state);
        if let Err(why) = setter(state, value) {
            for (d, old) in done.into_iter().rev() {
                if let Effect::Applied {
                    set: Some(setter), ..
                } = d.effect
                {
                    let _ = setter(state, &old);
                }
            }
            return set_failed(d.name, &why);
        }
        done.push((d, old));
    }
    Reply::ok()
}

/// The TLS file a setting names.
fn tls_which(name: &str) -> Option<TlsFile> {
    Some(match name {
        "tls-cert-file" => TlsFile::Cert,
        "tls-key-file" => TlsFile::Key,
        "tls-ca-cert-file" => TlsFile::CaFile,
        "tls-ca-cert-dir" => TlsFile::CaDir,
        _ => return None,
    })
}

/// CONFIG REWRITE: the file the server was started with, or Redis' error
/// when there is none.
fn rewrite(state: &ServerState) -> Reply {
    let Some(path) = &state.config.redis_conf.file else {
        return Reply::static_error("ERR The server is running without a config file");
    };
    match crate::config::rewrite::rewrite(path, state) {
        Ok(()) => {
            tracing::warn!("CONFIG REWRITE executed with success.");
            Reply::ok()
        }
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            Reply::error(format!("ERR Rewriting config file: {text}"))
        }
    }
}

fn help() -> Reply {
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
