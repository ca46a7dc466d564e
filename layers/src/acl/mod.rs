//! ACL users, as Redis 7 defines them.
//!
//! [`Acl`] is the server's user registry: the `default` user (whose
//! password is `requirepass`, so a server configured the old way behaves
//! as before), the users ACL SETUSER, `--aclfile` and ACL LOAD add, the
//! ACL LOG and the counters of denied commands and failed AUTH. A
//! connection holds the [`User`] it authenticated as and stamps it on
//! every [`Request`](crate::Request); the auth layer
//! ([`crate::auth::Auth`]) checks it with [`check`] against the command
//! table's ACL categories and key specs, the connection does the same for
//! the commands it runs itself and for those MULTI queues, and the auth
//! layer checks an EXEC's queue again, as Redis does.
//!
//! Cost: a user allowed everything (the default user unless restricted)
//! is one atomic load per command; the others take a read lock on their
//! rules and walk the command's keys.
//!
//! Secrets: passwords are kept only as SHA-256 digests (`>pw` is hashed
//! on the way in), compared in constant time; nothing here logs a rule.
//! ACL SETUSER's and AUTH's arguments are redacted from SLOWLOG by the
//! metrics layer.

mod log;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use metrics::Counter;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

pub use self::log::{AclLog, Context, Reason};
pub use self::rules::{RuleError, UserRules, CATEGORIES};
use crate::command::keyspec::{command_keys, KeyFlags};
use crate::command::{CommandSpec, Flags};
use crate::metrics::Telemetry;
use crate::{ClientInfo, Reply};

/// Redis' default `acllog-max-len`.
pub const DEFAULT_LOG_MAX_LEN: usize = 128;

/// One ACL user. Shared: sessions authenticated as it see ACL SETUSER's
/// changes at once.
#[derive(Debug)]
pub struct User {
    name: Bytes,
    rules: RwLock<UserRules>,
    /// The root selector allows every command, key and channel: the
    /// permission check is skipped.
    unrestricted: AtomicBool,
}

impl User {
    fn new(name: Bytes, rules: UserRules) -> Arc<User> {
        let unrestricted = AtomicBool::new(rules.unrestricted());
        Arc::new(User {
            name,
            rules: RwLock::new(rules),
            unrestricted,
        })
    }

    pub fn name(&self) -> &Bytes {
        &self.name
    }

    pub fn rules(&self) -> RwLockReadGuard<'_, UserRules> {
        self.rules.read()
    }

    fn replace(&self, rules: UserRules) {
        let mut guard = self.rules.write();
        self.unrestricted
            .store(rules.unrestricted(), Ordering::Release);
        *guard = rules;
    }

    /// Allowed every command, key and channel.
    #[inline]
    pub fn is_unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Acquire)
    }
}

/// A refused command: why, and which argument (a key or channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denial {
    pub reason: Reason,
    pub pos: usize,
}

impl Denial {
    /// The `-NOPERM` reply (`getAclErrorMessage`, not verbose).
    pub fn reply(&self, user: &User, spec: &CommandSpec) -> Reply {
        Reply::error(format!("NOPERM {}", self.message(user, spec, &[], false)))
    }

    /// `getAclErrorMessage`; `verbose` names the key or channel (ACL
    /// DRYRUN).
    pub fn message(
        &self,
        user: &User,
        spec: &CommandSpec,
        args: &[Bytes],
        verbose: bool,
    ) -> String {
        let arg =
            || String::from_utf8_lossy(args.get(self.pos).map_or(&[][..], |a| a)).into_owned();
        let name = String::from_utf8_lossy(&user.name);
        match self.reason {
            Reason::Command | Reason::Auth => {
                format!(
                    "User {name} has no permissions to run the '{}' command",
                    spec.name
                )
            }
            Reason::Key if verbose => {
                format!(
                    "User {name} has no permissions to access the '{}' key",
                    arg()
                )
            }
            Reason::Key => "No permissions to access a key".to_string(),
            Reason::Channel if verbose => {
                format!(
                    "User {name} has no permissions to access the '{}' channel",
                    arg()
                )
            }
            Reason::Channel => "No permissions to access a channel".to_string(),
        }
    }
}

/// The channels a command names: (first index, count, whether patterns
/// are compared literally). Redis lists these five commands by hand
/// (`ACLDoesCommandHaveChannels`); none is implemented yet, so this is
/// where PUBLISH and SUBSCRIBE will be checked when they are.
fn channel_args(spec: &CommandSpec, argc: usize) -> Option<(usize, usize, bool)> {
    match spec.name {
        "publish" | "spublish" => Some((1, 1, false)),
        "subscribe" | "ssubscribe" => Some((1, argc.saturating_sub(1), false)),
        "psubscribe" => Some((1, argc.saturating_sub(1), true)),
        _ => None,
    }
}

/// Whether `user` may run `args` (the whole line) as `spec`
/// (`ACLCheckAllUserCommandPerm`): allowed when any selector allows it;
/// otherwise the denial Redis picks (a key or channel over the command,
/// the last argument over earlier ones).
pub fn check(user: &User, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Denial> {
    if user.is_unrestricted() {
        return Ok(());
    }
    let rules = user.rules();
    let bit = rules::bit_of(spec);
    let sub = spec.name.contains('|');
    let mut keys = None;
    let mut worst = Denial {
        reason: Reason::Command,
        pos: 0,
    };
    for selector in &rules.selectors {
        let denial = (|| {
            if !spec.flags.contains(Flags::NO_AUTH) {
                let allowed = bit.is_some_and(|b| selector.allows_command(b, args, sub));
                if !allowed {
                    return Err(Denial {
                        reason: Reason::Command,
                        pos: 0,
                    });
                }
            }
            if !selector.allkeys && !spec.key_specs.is_empty() {
                let keys = keys.get_or_insert_with(|| command_keys(spec, args));
                for key in keys.iter() {
                    let mut need = 0;
                    let f = key.flags;
                    if f.has(KeyFlags::ACCESS) {
                        need |= rules::READ;
                    }
                    if f.has(KeyFlags::INSERT) || f.has(KeyFlags::DELETE) || f.has(KeyFlags::UPDATE)
                    {
                        need |= rules::WRITE;
                    }
                    if !selector.allows_key(&args[key.pos], need) {
                        return Err(Denial {
                            reason: Reason::Key,
                            pos: key.pos,
                        });
                    }
                }
            }
            if !selector.allchannels {
                if let Some((first, count, literal)) = channel_args(spec, args.len()) {
                    let end = (first + count).min(args.len());
                    for (pos, channel) in args.iter().enumerate().take(end).skip(first) {
                        if !selector.allows_channel(channel, literal) {
                            return Err(Denial {
                                reason: Reason::Channel,
                                pos,
                            });
                        }
                    }
                }
            }
            Ok(())
        })();
        match denial {
            Ok(()) => return Ok(()),
            Err(d) => {
                let rank = |r: Reason| match r {
                    Reason::Command => 1,
                    Reason::Key => 2,
                    Reason::Auth => 3,
                    Reason::Channel => 4,
                };
                if rank(d.reason) > rank(worst.reason)
                    || (d.reason == worst.reason && d.pos > worst.pos)
                {
                    worst = d;
                }
            }
        }
    }
    Err(worst)
}

/// Formats a client as CLIENT LIST does, for ACL LOG's `client-info`.
pub type ClientInfoFormatter = Arc<dyn Fn(&ClientInfo) -> String + Send + Sync>;

struct Inner {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    /// The same object for the life of the server, as Redis' DefaultUser:
    /// ACL LOAD copies new rules into it.
    default: Arc<User>,
    /// The default user needs a password (not `nopass`, or `off`), so new
    /// connections start unauthenticated. Kept in step with its rules.
    auth_required: AtomicBool,
    /// `requirepass` as configured (CONFIG GET shows it, as Redis does).
    requirepass: RwLock<Option<String>>,
    log: Mutex<AclLog>,
    log_max_len: AtomicUsize,
    formatter: RwLock<Option<ClientInfoFormatter>>,
    denied: [Counter; 3],
    auth_failures: Counter,
}

/// The user registry (see the module docs). Cheap to clone; shared.
#[derive(Clone)]
pub struct Acl {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl").finish_non_exhaustive()
    }
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new(None)
    }
}

/// What AUTH and HELLO … AUTH check against; the registry itself.
pub type Credentials = Acl;

impl Acl {
    /// The registry with only the default user, whose password is
    /// `requirepass` (none: `nopass`). Metrics go nowhere; see
    /// [`Acl::with_telemetry`].
    pub fn new(requirepass: Option<String>) -> Acl {
        Acl::with_telemetry(requirepass, &Telemetry::noop())
    }

    /// The same, counting denials and failed AUTH in `telemetry`:
    /// `redynamo_acl_denied_total{reason}` and
    /// `redynamo_auth_failures_total`.
    pub fn with_telemetry(requirepass: Option<String>, telemetry: &Telemetry) -> Acl {
        telemetry.describe_counter(
            "redynamo_acl_denied_total",
            "Commands refused by ACL rules, by reason (command, key, channel).",
        );
        telemetry.describe_counter(
            "redynamo_auth_failures_total",
            "AUTH and HELLO AUTH attempts with a wrong user or password (brute force shows here).",
        );
        let denied = ["command", "key", "channel"]
            .map(|r| telemetry.counter("redynamo_acl_denied_total", &[("reason", r)]));
        let default = User::new(Bytes::from_static(b"default"), UserRules::default_user());
        let mut users = BTreeMap::new();
        users.insert(default.name.clone(), default.clone());
        let acl = Acl {
            inner: Arc::new(Inner {
                users: RwLock::new(users),
                default,
                auth_required: AtomicBool::new(false),
                requirepass: RwLock::new(None),
                log: Mutex::new(AclLog::default()),
                log_max_len: AtomicUsize::new(DEFAULT_LOG_MAX_LEN),
                formatter: RwLock::new(None),
                denied,
                auth_failures: telemetry.counter("redynamo_auth_failures_total", &[]),
            }),
        };
        acl.set_password(requirepass);
        acl
    }

    /// How ACL LOG describes a client (the server's CLIENT LIST line).
    pub fn set_client_formatter(&self, f: ClientInfoFormatter) {
        *self.inner.formatter.write() = Some(f);
    }

    pub fn default_user(&self) -> &Arc<User> {
        &self.inner.default
    }

    /// Whether new connections must authenticate.
    #[inline]
    pub fn required(&self) -> bool {
        self.inner.auth_required.load(Ordering::Acquire)
    }

    fn refresh_required(&self) {
        let rules = self.inner.default.rules();
        let required = !rules.flags.nopass || !rules.flags.enabled;
        self.inner.auth_required.store(required, Ordering::Release);
    }

    /// `requirepass` (CONFIG SET): the default user's only password, or
    /// `nopass` when empty (`ACLUpdateDefaultUserPassword`).
    pub fn set_password(&self, password: Option<String>) {
        let password = password.filter(|p| !p.is_empty());
        let mut rules = self.inner.default.rules().clone();
        let _ = rules.apply(b"resetpass");
        match &password {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p.as_bytes());
                let _ = rules.apply(&op);
            }
            None => {
                let _ = rules.apply(b"nopass");
            }
        }
        self.inner.default.replace(rules);
        *self.inner.requirepass.write() = password;
        self.refresh_required();
    }

    /// `requirepass` as configured, for CONFIG GET.
    pub fn password(&self) -> Option<String> {
        self.inner.requirepass.read().clone()
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.inner.users.read().get(name).cloned()
    }

    /// Every user, by name (ACL LIST, ACL USERS, ACL SAVE).
    pub fn users(&self) -> Vec<Arc<User>> {
        self.inner.users.read().values().cloned().collect()
    }

    /// `ACLCheckUserCredentials`: the user if it exists, is on and the
    /// password is one of its own.
    pub fn check_credentials(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.user(name)?;
        let ok = {
            let rules = user.rules();
            rules.flags.enabled && rules.password_matches(password)
        };
        ok.then_some(user)
    }

    /// `AUTH [user] password` (and HELLO … AUTH): the user, or Redis'
    /// reply; a failure is logged (reason `auth`, the command as typed as
    /// object) and counted.
    pub fn authenticate(
        &self,
        user: Option<&[u8]>,
        password: &[u8],
        command: &[u8],
        client: &ClientInfo,
        context: Context,
    ) -> Result<Arc<User>, Reply> {
        if user.is_none() && !self.required() {
            return Err(Reply::static_error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        let name = user.unwrap_or(b"default");
        match self.check_credentials(name, password) {
            Some(u) => Ok(u),
            None => {
                self.inner.auth_failures.increment(1);
                self.log(Reason::Auth, context, command, name, client);
                Err(crate::reply::errors::WRONGPASS)
            }
        }
    }

    /// Check `user` against the command and, when refused, log it, count
    /// it and return the `-NOPERM` reply.
    pub fn enforce(
        &self,
        user: &User,
        spec: &CommandSpec,
        args: &[Bytes],
        client: &ClientInfo,
        context: Context,
    ) -> Result<(), Reply> {
        check(user, spec, args).map_err(|d| {
            self.record_denial(user, spec, args, d, client, context);
            d.reply(user, spec)
        })
    }

    /// Log and count a denial.
    pub fn record_denial(
        &self,
        user: &User,
        spec: &CommandSpec,
        args: &[Bytes],
        denial: Denial,
        client: &ClientInfo,
        context: Context,
    ) {
        let counter = match denial.reason {
            Reason::Key => 1,
            Reason::Channel => 2,
            _ => 0,
        };
        self.inner.denied[counter].increment(1);
        let object = match denial.reason {
            Reason::Command | Reason::Auth => spec.name.as_bytes(),
            _ => args.get(denial.pos).map_or(&[][..], |a| &a[..]),
        };
        self.log(denial.reason, context, object, &user.name, client);
    }

    fn log(
        &self,
        reason: Reason,
        context: Context,
        object: &[u8],
        username: &[u8],
        client: &ClientInfo,
    ) {
        let client_info = self
            .inner
            .formatter
            .read()
            .as_ref()
            .map(|f| f(client))
            .unwrap_or_default();
        let max = self.inner.log_max_len.load(Ordering::Relaxed);
        self.inner.log.lock().add(
            log::Event {
                reason,
                context,
                object,
                username,
                client_info,
                now_ms: now_ms(),
            },
            max,
        );
    }

    /// `acllog-max-len` (CONFIG SET).
    pub fn set_log_max_len(&self, n: usize) {
        self.inner.log_max_len.store(n, Ordering::Relaxed);
        self.inner.log.lock().trim(n);
    }

    pub fn log_max_len(&self) -> usize {
        self.inner.log_max_len.load(Ordering::Relaxed)
    }

    /// ACL LOG [count].
    pub fn log_reply(&self, count: usize) -> Reply {
        self.inner.log.lock().reply(count, now_ms())
    }

    /// ACL LOG RESET.
    pub fn log_reset(&self) {
        self.inner.log.lock().reset();
    }

    /// ACL SETUSER: apply `rules` to a copy of the user (a new one if it
    /// does not exist) and store it only if every rule applied. Err: the
    /// rule refused and why.
    pub fn set_user(&self, name: &[u8], ops: &[Bytes]) -> Result<(), (Bytes, RuleError)> {
        let mut users = self.inner.users.write();
        let existing = users.get(name).cloned();
        let mut rules = existing
            .as_ref()
            .map(|u| u.rules().clone())
            .unwrap_or_default();
        for op in ops {
            rules.apply(op).map_err(|e| (op.clone(), e))?;
        }
        match existing {
            Some(user) => user.replace(rules),
            None => {
                let name = Bytes::copy_from_slice(name);
                users.insert(name.clone(), User::new(name, rules));
            }
        }
        drop(users);
        self.refresh_required();
        Ok(())
    }

    /// ACL DELUSER: the users removed (their clients must be
    /// disconnected). `default` cannot be removed.
    pub fn delete_users(&self, names: &[Bytes]) -> Vec<Arc<User>> {
        let mut users = self.inner.users.write();
        names.iter().filter_map(|n| users.remove(n)).collect()
    }

    /// Replace every user with `loaded` (ACL LOAD, `--aclfile`): the
    /// default user keeps its identity and takes the loaded rules (Redis'
    /// own when the file has none). Returns the users that were replaced,
    /// whose clients must be disconnected.
    pub fn replace_all(&self, loaded: Vec<(Bytes, UserRules)>) -> Vec<Arc<User>> {
        let mut users = self.inner.users.write();
        let mut next = BTreeMap::new();
        let mut default_rules = UserRules::default_user();
        for (name, rules) in loaded {
            if name[..] == b"default"[..] {
                default_rules = rules;
            } else {
                next.insert(name.clone(), User::new(name, rules));
            }
        }
        self.inner.default.replace(default_rules);
        next.insert(self.inner.default.name.clone(), self.inner.default.clone());
        let old = std::mem::replace(&mut *users, next);
        drop(users);
        self.refresh_required();
        old.into_values()
            .filter(|u| !Arc::ptr_eq(u, &self.inner.default))
            .collect()
    }
}

/// Parse an ACL file (users.acl): every line `user <name> <rules…>`, blank
/// lines allowed. All or nothing: Err is Redis' message listing every
/// problem (`ACLLoadFromFile`), `filename` naming the file in it.
pub fn parse_acl_file(text: &str, filename: &str) -> Result<Vec<(Bytes, UserRules)>, String> {
    let mut errors = String::new();
    let mut users: Vec<(Bytes, UserRules)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let linenum = i + 1;
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').filter(|s| !s.is_empty()).collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{filename}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if rules::has_spaces(name.as_bytes()) {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{name}' contains invalid characters. "
            ));
            continue;
        }
        if users.iter().any(|(n, _)| n[..] == *name.as_bytes()) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {linenum}. "
            ));
            continue;
        }
        let ops: Vec<Bytes> = argv[2..]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let merged = match rules::merge_selectors(&ops) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                continue;
            }
        };
        let mut rules = UserRules::new();
        for op in &merged {
            if let Err(e) = rules.apply(op) {
                errors.push_str(&format!("{filename}:{linenum}: {e}. "));
            }
        }
        users.push((Bytes::copy_from_slice(name.as_bytes()), rules));
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// The ACL file's text for `users` (ACL SAVE), as `ACLSaveToFile` writes.
pub fn acl_file_text(users: &[Arc<User>]) -> Vec<u8> {
    let mut out = Vec::new();
    for u in users {
        out.extend_from_slice(b"user ");
        out.extend_from_slice(&u.name);
        out.push(b' ');
        out.extend_from_slice(&u.rules().describe());
        out.push(b'\n');
    }
    out
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::lookup;

    fn line(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    fn acl_with(rules: &[&str]) -> (Acl, Arc<User>) {
        let acl = Acl::new(None);
        acl.set_user(b"u", &line(rules)).expect("valid rules");
        let user = acl.user(b"u").expect("created");
        (acl, user)
    }

    fn denial(user: &User, parts: &[&str]) -> Option<Denial> {
        let args = line(parts);
        let spec = lookup(parts[0].as_bytes()).expect("known command");
        let spec = if spec.subcommands.is_empty() {
            spec
        } else {
            spec.subcommand(&args[1]).expect("known subcommand")
        };
        check(user, spec, &args).err()
    }

    #[test]
    fn commands_keys_and_read_write_patterns() {
        let (_acl, u) = acl_with(&["on", "nopass", "+@string", "-set", "%R~r*", "%W~w*", "~rw*"]);
        assert_eq!(
            denial(&u, &["set", "w1", "v"]).map(|d| d.reason),
            Some(Reason::Command)
        );
        assert_eq!(denial(&u, &["get", "r1"]), None);
        assert_eq!(
            denial(&u, &["get", "w1"]).map(|d| (d.reason, d.pos)),
            Some((Reason::Key, 1))
        );
        assert_eq!(denial(&u, &["append", "rw1", "x"]), None);
        assert_eq!(
            denial(&u, &["append", "r1", "x"]).map(|d| d.reason),
            Some(Reason::Key)
        );
        // MSET's second key is the one refused.
        assert_eq!(
            denial(&u, &["mset", "w1", "1", "zz", "2"]).map(|d| d.pos),
            Some(3)
        );
        assert_eq!(
            denial(&u, &["auth", "x"]),
            None,
            "no-auth commands always pass"
        );
    }

    #[test]
    fn selectors_and_first_args() {
        let (_acl, u) = acl_with(&["+get", "~a*", "(+set ~b*)", "+select|0"]);
        assert_eq!(denial(&u, &["get", "a1"]), None);
        assert_eq!(denial(&u, &["set", "b1", "v"]), None);
        // Neither selector: the key denial wins over the command one.
        assert_eq!(
            denial(&u, &["get", "b1"]).map(|d| d.reason),
            Some(Reason::Key)
        );
        assert_eq!(denial(&u, &["select", "0"]), None);
        assert_eq!(
            denial(&u, &["select", "1"]).map(|d| d.reason),
            Some(Reason::Command)
        );
    }

    #[test]
    fn requirepass_is_the_default_users_password() {
        let acl = Acl::new(Some("pw".into()));
        assert!(acl.required());
        assert!(acl.check_credentials(b"default", b"pw").is_some());
        assert!(acl.check_credentials(b"default", b"no").is_none());
        acl.set_password(None);
        assert!(!acl.required());
        let client = ClientInfo::new(1, None);
        let e = acl
            .authenticate(None, b"x", b"auth", &client, Context::Toplevel)
            .expect_err("no password configured");
        assert_eq!(e.error_code(), Some("ERR"));
    }

    #[test]
    fn acl_file_round_trip() {
        let (acl, _u) = acl_with(&["on", ">pw", "~k*", "+get", "(+set ~x)"]);
        let text = acl_file_text(&acl.users());
        let loaded = parse_acl_file(std::str::from_utf8(&text).expect("utf-8"), "users.acl")
            .expect("valid file");
        let other = Acl::new(None);
        other.replace_all(loaded);
        assert_eq!(acl_file_text(&other.users()), text);
        let err = parse_acl_file("user a on\nbogus\nuser b +nosuch\n", "f.acl").expect_err("bad");
        assert_eq!(
            err,
            "f.acl:2 should start with user keyword followed by the username. f.acl:3: Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        );
    }
}
