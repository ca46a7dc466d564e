//! Merging a redis.conf and the command line into a [`Config`].
//!
//! Every line of the file (and every `--name value…` on the command line
//! that is a Redis directive rather than one of redynamo's options, as
//! redis-server accepts `--save "" --appendonly no`) is looked up in
//! [`directives::DIRECTIVES`]:
//!
//! - applied: it becomes the command-line option it stands for, checked on
//!   its own so that a bad value is reported with its file and line;
//! - ignored: its value is recorded (CONFIG GET shows it, CONFIG REWRITE
//!   keeps its line) and it is listed in the one start-up warning
//!   ([`RedisConf::warning`]);
//! - unknown to Redis, or known but refused (`user`, `rename-command`,
//!   `loadmodule` …, which would leave the server open or incomplete if
//!   ignored): a one-line error naming the file and line.
//!
//! Options on the command line override the file, as in redis-server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use super::directives::{self, Arg, Effect, Why};
use super::redis_conf::{self, Line};
use super::{Config, ConfigError};

/// What the config file (and Redis directives on the command line) said
/// beyond redynamo's options.
#[derive(Clone, Debug, Default)]
pub struct RedisConf {
    /// The config file, as an absolute path (CONFIG REWRITE writes it).
    pub file: Option<PathBuf>,
    /// Values of the ignored directives, by name (arguments joined by
    /// spaces), for CONFIG GET and CONFIG REWRITE.
    pub recorded: BTreeMap<&'static str, String>,
    /// The ignored directives in order of appearance, and why.
    pub ignored: Vec<(String, Why)>,
    /// What else the warning must say (`bind`'s other addresses).
    pub notes: Vec<String>,
    /// The `user` lines: each user's name and rules (selectors merged),
    /// checked when read, applied at start-up as Redis'
    /// `ACLLoadConfiguredUsers` does.
    pub users: Vec<(String, Vec<bytes::Bytes>)>,
    /// The values so far of the directives whose lines add up
    /// ([`Arg::Words`]).
    words: BTreeMap<String, Vec<String>>,
}

impl RedisConf {
    /// The one start-up warning: every ignored directive, grouped by why;
    /// None when nothing was ignored.
    pub fn warning(&self) -> Option<String> {
        if self.ignored.is_empty() && self.notes.is_empty() {
            return None;
        }
        let mut by_why: BTreeMap<Why, Vec<&str>> = BTreeMap::new();
        for (name, why) in &self.ignored {
            let names = by_why.entry(*why).or_default();
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let count: usize = by_why.values().map(Vec::len).sum();
        let mut parts: Vec<String> = by_why
            .iter()
            .map(|(why, names)| format!("{}: {}", why.text(), names.join(", ")))
            .collect();
        parts.extend(self.notes.iter().cloned());
        Some(format!(
            "config: {count} Redis directive{} accepted but ignored: {}",
            if count == 1 { "" } else { "s" },
            parts.join("; ")
        ))
    }
}

/// Options for which an empty value means unset (their type has no empty
/// value).
const EMPTY_IS_UNSET: &[&str] = &["aclfile", "upstream", "metrics-addr"];

/// Where command-line directives are said to come from in errors.
const COMMAND_LINE: &str = "(command line)";

pub(super) fn load(args: Vec<String>) -> Result<Config, ConfigError> {
    let prog = args.first().cloned().unwrap_or_default();
    let (clap_args, cli_lines) = split_command_line(&args);
    let cli = Config::try_parse_from(&clap_args)?;
    if cli.version {
        return Ok(cli);
    }
    let mut lines = match &cli.config_file {
        Some(path) => redis_conf::read(path)?,
        None => Vec::new(),
    };
    lines.extend(cli_lines);
    if lines.is_empty() {
        return Ok(cli);
    }
    let mut conf = RedisConf {
        file: cli
            .config_file
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        ..RedisConf::default()
    };
    let mut merged = vec![prog.clone()];
    for line in &lines {
        merged.extend(apply(&prog, line, &mut conf)?);
    }
    merged.extend(clap_args.into_iter().skip(1));
    let mut config = Config::try_parse_from(merged)?;
    if config.aclfile.is_some() && !conf.users.is_empty() {
        // Redis' ACLLoadUsersAtStartup refuses the mix.
        let line = lines.iter().find(|l| l.args[0] == "user");
        let why = "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.";
        if let Some(line) = line {
            return Err(line.error(why));
        }
    }
    config.redis_conf = conf;
    Ok(config)
}

/// The arguments clap parses, and the Redis directives among them
/// (`--daemonize no`, `--save ""`, `--save 900 1`) as config lines.
fn split_command_line(args: &[String]) -> (Vec<String>, Vec<Line>) {
    let command = Config::command();
    let is_option =
        |name: &str| name == "help" || command.get_arguments().any(|a| a.get_long() == Some(name));
    let mut clap_args = Vec::new();
    let mut lines = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if let Some(option) = arg.strip_prefix("--").filter(|_| i > 1) {
            let (name, inline) = match option.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (option, None),
            };
            // A directive of several words (`--client-output-buffer-limit
            // pubsub 32mb 8mb 60`) is read as a line even though it is an
            // option too.
            let words = directives::find(name).is_some_and(|d| {
                matches!(
                    d.effect,
                    Effect::Applied {
                        arg: Arg::Words,
                        ..
                    }
                )
            });
            if !name.is_empty() && (words || !is_option(name)) && is_redis_directive(name) {
                let mut words = vec![name.to_ascii_lowercase()];
                match inline {
                    Some(v) => words.push(v),
                    None => {
                        while i < args.len() && !args[i].starts_with("--") {
                            words.push(args[i].clone());
                            i += 1;
                        }
                    }
                }
                lines.push(Line {
                    path: PathBuf::from(COMMAND_LINE),
                    number: lines.len() + 1,
                    text: words.join(" "),
                    args: words,
                });
                continue;
            }
        }
        clap_args.push(arg.clone());
    }
    (clap_args, lines)
}

/// A name a redis.conf may hold (so that `--name` on the command line is
/// read as a directive, with Redis' messages, rather than refused by
/// clap).
fn is_redis_directive(name: &str) -> bool {
    directives::find(name).is_some() || special(name).is_some() || name == "include"
}

/// Directives outside Redis' config table: silently obsolete ones, and
/// those redynamo refuses.
fn special(name: &str) -> Option<Result<Why, &'static str>> {
    Some(match name {
        "list-max-ziplist-entries" | "list-max-ziplist-value" | "lua-replicate-commands" => {
            Ok(Why::Deprecated)
        }
        "rename-command" => {
            Err("rename-command is not supported (the command would stay available)")
        }
        "loadmodule" => Err("modules are not supported"),
        "sentinel" => Err("sentinel mode is not supported"),
        n if n.contains('.') => Err("module configs are not supported"),
        _ => return None,
    })
}

/// One line: the command-line arguments it stands for (none for an
/// ignored directive), or why it is refused.
fn apply(prog: &str, line: &Line, conf: &mut RedisConf) -> Result<Vec<String>, ConfigError> {
    let name = line.args[0].as_str();
    let values = &line.args[1..];
    if name == "user" && !values.is_empty() {
        let user = user_rules(values).map_err(|e| line.error(e))?;
        if conf.users.iter().any(|(n, _)| *n == user.0) {
            return Err(line.error(format!(
                "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                user.0
            )));
        }
        conf.users.push(user);
        return Ok(Vec::new());
    }
    let Some(d) = directives::find(name) else {
        return match special(name) {
            Some(Ok(why)) if values.len() == 1 => {
                conf.ignored.push((name.to_string(), why));
                Ok(Vec::new())
            }
            Some(Err(refused)) => Err(line.error(refused)),
            _ => Err(line.error("Bad directive or wrong number of arguments")),
        };
    };
    let switch = matches!(
        d.effect,
        Effect::Applied {
            arg: Arg::Switch,
            ..
        }
    );
    let counted = values.len() == 1 || (switch && values.is_empty());
    if !(d.multi_arg() || counted) {
        return Err(line.error("wrong number of arguments"));
    }
    match d.effect {
        Effect::Applied { option, arg, .. } => {
            let (args, _) = to_option(option, arg, values, conf).map_err(|e| line.error(e))?;
            // Checked alone, so that clap's complaint comes with the line.
            let alone = std::iter::once(prog.to_string()).chain(args.iter().cloned());
            if let Err(e) = Config::try_parse_from(alone) {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                return Err(line.error(first.strip_prefix("error: ").unwrap_or(first)));
            }
            Ok(args)
        }
        Effect::Ignored(why, _) => {
            let value = values.join(" ");
            let refused = directives::REFUSED_UNLESS_DEFAULT
                .iter()
                .find(|(n, _)| *n == d.name);
            let default_value = value == d.default
                || (d.name == "replicaof" && value.eq_ignore_ascii_case("no one"));
            if let Some((_, why)) = refused.filter(|_| !default_value) {
                return Err(line.error(why));
            }
            conf.recorded.insert(d.name, value);
            conf.ignored.push((d.name.to_string(), why));
            Ok(Vec::new())
        }
    }
}

/// A `user <name> <rules…>` line as Redis' `ACLAppendUserForLoading`
/// checks it: a name without spaces, balanced selectors, rules that
/// apply.
fn user_rules(values: &[String]) -> Result<(String, Vec<bytes::Bytes>), String> {
    use redynamo_layers::acl::{rules, UserRules};
    let name = &values[0];
    if rules::has_spaces(name.as_bytes()) {
        return Err(format!(
            "Error in user declaration '{name}': Usernames can't contain spaces or null characters"
        ));
    }
    let ops: Vec<bytes::Bytes> = values[1..]
        .iter()
        .map(|v| bytes::Bytes::copy_from_slice(v.as_bytes()))
        .collect();
    let merged = rules::merge_selectors(&ops).map_err(|i| {
        format!(
            "Error in user declaration '{}': Unmatched parenthesis in acl selector starting at '{}'.",
            values[1 + i], values[1 + i]
        )
    })?;
    let mut check = UserRules::new();
    for op in &merged {
        check.apply(op).map_err(|e| {
            format!(
                "Error in user declaration '{}': {e}",
                String::from_utf8_lossy(op)
            )
        })?;
    }
    Ok((name.clone(), merged))
}

/// The option's arguments for a directive's values, and the value as
/// CONFIG GET will print it.
pub(super) fn to_option(
    option: &str,
    arg: Arg,
    values: &[String],
    conf: &mut RedisConf,
) -> Result<(Vec<String>, String), String> {
    let long = format!("--{option}");
    let first = values.first().cloned().unwrap_or_default();
    Ok(match arg {
        // An empty path or address is no value, as in Redis (`aclfile ""`).
        Arg::Text if first.is_empty() && EMPTY_IS_UNSET.contains(&option) => (Vec::new(), first),
        Arg::Plain | Arg::Text => (vec![long, first.clone()], first),
        Arg::Bytes => {
            let n = redis_conf::parse_memory(&first)
                .ok_or_else(|| "argument must be a memory value".to_string())?;
            (vec![long, n.to_string()], n.to_string())
        }
        Arg::Switch => match first.to_ascii_lowercase().as_str() {
            "" | "yes" => (vec![long], "yes".into()),
            "no" => (Vec::new(), "no".into()),
            _ => return Err("argument must be 'yes' or 'no'".into()),
        },
        Arg::LogLevel => {
            let filter = directives::log_filter(&first).ok_or_else(|| {
                "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
                    .to_string()
            })?;
            (
                vec![long, filter.into()],
                directives::redis_loglevel(filter).into(),
            )
        }
        Arg::Words => {
            let so_far = conf.words.entry(option.to_string()).or_default();
            so_far.push(values.join(" "));
            let all = so_far.join(" ");
            (vec![long, all.clone()], all)
        }
        Arg::Bind => {
            let addrs: Vec<String> = values
                .iter()
                .filter(|a| !a.is_empty())
                .map(|a| {
                    match a.trim_start_matches('-') {
                        "*" => "0.0.0.0",
                        "::*" => "::",
                        other => other,
                    }
                    .to_string()
                })
                .collect();
            let Some(served) = addrs.first().cloned() else {
                return Err("bind needs an address".into());
            };
            if addrs.len() > 1 {
                conf.notes.push(format!(
                    "bind: listening on {served} only, not on {}",
                    addrs[1..].join(" ")
                ));
            }
            (vec![long, served.clone()], served)
        }
    })
}
