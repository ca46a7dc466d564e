//! ACL rules: Redis 7.2's grammar (`ACLSetUser`/`ACLSetSelector` in
//! `src/acl.c`), applied to a [`UserRules`], and described back the way
//! ACL LIST, ACL GETUSER and the ACL file show them.
//!
//! A rule never panics whatever its bytes (the fuzz target
//! `fuzz/fuzz_targets/acl_rules.rs` holds this to it). Redis itself
//! panics on one input, `%` with no `R`/`W` and no `~` (an empty key
//! pattern with no permission, which its describer refuses to print);
//! here that rule is a syntax error.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use foldhash::HashMap;
use sha2::{Digest, Sha256};

use crate::command::{self, CommandSpec, REDIS_COMMANDS};

/// ACL categories in Redis' order (`ACLCommandCategories`): ACL CAT lists
/// them so, and the command table's category bits index this list.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Why a rule was refused; `Display` is Redis' `ACLSetUserStringError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownCommand,
    Syntax,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        })
    }
}

/// Every Redis command's place in the command bitmaps.
struct Index {
    by_name: HashMap<&'static str, usize>,
    /// The subcommands of each container.
    subs: Vec<Vec<usize>>,
    is_sub: Vec<bool>,
    /// `CommandId as usize` → bit, for the commands redynamo implements.
    by_id: Vec<usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name = HashMap::default();
        let mut subs = vec![Vec::new(); REDIS_COMMANDS.len()];
        let mut is_sub = vec![false; REDIS_COMMANDS.len()];
        for (i, (name, _)) in REDIS_COMMANDS.iter().enumerate() {
            by_name.insert(*name, i);
            if let Some((parent, _)) = name.split_once('|') {
                is_sub[i] = true;
                if let Some(&p) = by_name.get(parent) {
                    subs[p].push(i);
                }
            }
        }
        let mut by_id = Vec::new();
        for spec in command::all_specs() {
            let id = spec.id as usize;
            if by_id.len() <= id {
                by_id.resize(id + 1, usize::MAX);
            }
            by_id[id] = by_name.get(spec.name).copied().unwrap_or(usize::MAX);
        }
        Index {
            by_name,
            subs,
            is_sub,
            by_id,
        }
    })
}

/// The bit of an implemented command (None for one Redis does not know,
/// which cannot happen for a generated table).
pub(crate) fn bit_of(spec: &CommandSpec) -> Option<usize> {
    index()
        .by_id
        .get(spec.id as usize)
        .copied()
        .filter(|b| *b != usize::MAX)
}

/// Look a command up as `ACLLookupCommand` does: `name` or
/// `container|sub`, case-insensitively.
fn lookup(name: &[u8]) -> Option<usize> {
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    if lower.matches('|').count() > 1 {
        return None;
    }
    index().by_name.get(lower.as_str()).copied()
}

/// The future-commands bit (set by `+@all` only): past every command.
fn future_bit() -> usize {
    REDIS_COMMANDS.len()
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn none() -> Bits {
        Bits(vec![0; future_bit() / 64 + 1])
    }
    fn all() -> Bits {
        Bits(vec![u64::MAX; future_bit() / 64 + 1])
    }
    fn get(&self, bit: usize) -> bool {
        self.0
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }
    fn set(&mut self, bit: usize, on: bool) {
        if let Some(w) = self.0.get_mut(bit / 64) {
            if on {
                *w |= 1 << (bit % 64);
            } else {
                *w &= !(1 << (bit % 64));
            }
        }
    }
}

/// Key permissions of a pattern (`ACL_READ_PERMISSION`, `ACL_WRITE_…`).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
const ALL: u8 = READ | WRITE;

/// One selector: the root one (rules outside parentheses) or one added
/// with `(…)`. A command runs when any selector allows it.
#[derive(Clone, Debug)]
pub struct Selector {
    pub(crate) allcommands: bool,
    pub(crate) allkeys: bool,
    pub(crate) allchannels: bool,
    commands: Bits,
    /// `+select|0`: first arguments allowed of an otherwise denied command.
    firstargs: BTreeMap<usize, Vec<Bytes>>,
    /// Key patterns with their permissions, in the order added.
    pub(crate) keys: Vec<(Bytes, u8)>,
    pub(crate) channels: Vec<Bytes>,
    /// The command rules as applied, for ACL LIST (Redis 7.2 keeps their
    /// order: `-@all +set +get` stays so).
    command_rules: Vec<String>,
}

impl Selector {
    fn new() -> Selector {
        Selector {
            allcommands: false,
            allkeys: false,
            // acl-pubsub-default is resetchannels since Redis 7.0.
            allchannels: false,
            commands: Bits::none(),
            firstargs: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
            command_rules: Vec::new(),
        }
    }

    /// Whether this selector allows every command, key and channel (the
    /// ACL layer's fast path).
    pub(crate) fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    pub(crate) fn allows_command(&self, bit: usize, args: &[Bytes], sub: bool) -> bool {
        if self.allcommands || self.commands.get(bit) {
            return true;
        }
        let Some(allowed) = self.firstargs.get(&bit) else {
            return false;
        };
        let idx = if sub { 2 } else { 1 };
        args.get(idx)
            .is_some_and(|a| allowed.iter().any(|f| f.eq_ignore_ascii_case(a)))
    }

    pub(crate) fn allows_key(&self, key: &[u8], need: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|(p, flags)| flags & need == need && crate::glob::matches(p, key))
    }

    pub(crate) fn allows_channel(&self, channel: &[u8], literal: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if literal {
                    p[..] == channel[..]
                } else {
                    crate::glob::matches(p, channel)
                }
            })
    }

    fn change(&mut self, bit: usize, allow: bool) {
        self.set_bit(bit, allow);
        self.firstargs.remove(&bit);
        for &sub in &index().subs[bit] {
            self.set_bit(sub, allow);
        }
    }

    fn set_bit(&mut self, bit: usize, allow: bool) {
        self.commands.set(bit, allow);
        if !allow {
            self.allcommands = false;
        }
    }

    /// `ACLUpdateCommandRules`: drop the same rule (and, for a whole
    /// command, its subcommands' rules), then append.
    fn update_rules(&mut self, rule: &str, allow: bool) {
        let rule = rule.to_ascii_lowercase();
        self.command_rules.retain(|existing| {
            let name = &existing[1..];
            !(name == rule
                || (name.len() > rule.len()
                    && name.starts_with(rule.as_str())
                    && name.as_bytes()[rule.len()] == b'|'))
        });
        self.command_rules
            .push(format!("{}{rule}", if allow { '+' } else { '-' }));
    }

    /// `ACLSetSelector`: one rule that changes commands, keys or channels.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        let at = |i: usize| op.get(i).copied().unwrap_or(0);
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.commands = Bits::all();
            self.allcommands = true;
            self.command_rules.clear();
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.commands = Bits::none();
            self.allcommands = false;
            self.command_rules.clear();
            self.firstargs.clear();
        } else if at(0) == b'~' || at(0) == b'%' {
            if self.allkeys {
                return Err(RuleError::KeyAfterAll);
            }
            let (flags, offset) = key_permissions(op)?;
            let pattern = &op[offset..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|(p, _)| p[..] == pattern[..]) {
                Some((_, f)) => *f |= flags,
                None => self.keys.push((Bytes::copy_from_slice(pattern), flags)),
            }
        } else if at(0) == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|p| p[..] == pattern[..]) {
                self.channels.push(Bytes::copy_from_slice(pattern));
            }
        } else if (at(0) == b'+' || at(0) == b'-') && at(1) == b'@' {
            let allow = at(0) == b'+';
            let name = std::str::from_utf8(&op[2..]).map_err(|_| RuleError::UnknownCommand)?;
            let cat = CATEGORIES
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
                .ok_or(RuleError::UnknownCommand)?;
            self.update_rules(&format!("@{name}"), allow);
            for (bit, (_, cats)) in REDIS_COMMANDS.iter().enumerate() {
                if cats & (1 << cat) != 0 {
                    self.change(bit, allow);
                }
            }
        } else if at(0) == b'+' {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let bit = lookup(name).ok_or(RuleError::UnknownCommand)?;
                    self.change(bit, true);
                    self.update_rules(REDIS_COMMANDS[bit].0, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let parent = lookup(base).ok_or(RuleError::UnknownCommand)?;
                    if index().is_sub[parent] {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !index().subs[parent].is_empty() {
                        let bit = lookup(name).ok_or(RuleError::UnknownCommand)?;
                        self.change(bit, true);
                    } else {
                        let allowed = self.firstargs.entry(parent).or_default();
                        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            allowed.push(Bytes::copy_from_slice(sub));
                        }
                    }
                    self.update_rules(&String::from_utf8_lossy(name), true);
                }
            }
        } else if at(0) == b'-' {
            let bit = lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(bit, false);
            self.update_rules(REDIS_COMMANDS[bit].0, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules as ACL GETUSER's `commands` shows them.
    pub fn describe_commands(&self) -> String {
        let mut out = String::from(if self.commands.get(future_bit()) {
            "+@all"
        } else {
            "-@all"
        });
        for rule in &self.command_rules {
            out.push(' ');
            out.push_str(rule);
        }
        out
    }

    /// The key patterns as ACL GETUSER's `keys` shows them.
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, (pattern, flags)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            push_pattern(&mut out, pattern, *flags);
        }
        out
    }

    /// The channel patterns as ACL GETUSER's `channels` shows them.
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, pattern) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(pattern);
        }
        out
    }

    /// `ACLDescribeSelector`: keys, channels, commands, as ACL LIST shows.
    fn describe(&self, out: &mut Vec<u8>) {
        if self.allkeys {
            out.extend_from_slice(b"~* ");
        } else {
            for (pattern, flags) in &self.keys {
                push_pattern(out, pattern, *flags);
                out.push(b' ');
            }
        }
        if self.allchannels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for pattern in &self.channels {
                out.push(b'&');
                out.extend_from_slice(pattern);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
    }
}

fn push_pattern(out: &mut Vec<u8>, pattern: &[u8], flags: u8) {
    out.extend_from_slice(match flags {
        READ => b"%R~".as_slice(),
        WRITE => b"%W~".as_slice(),
        _ => b"~".as_slice(),
    });
    out.extend_from_slice(pattern);
}

/// The permissions of `~pattern` or `%RW~pattern`, and where the pattern
/// starts.
fn key_permissions(op: &[u8]) -> Result<(u8, usize), RuleError> {
    if op[0] == b'~' {
        return Ok((ALL, 1));
    }
    let mut flags = 0;
    let mut offset = 1;
    while offset < op.len() {
        match op[offset].to_ascii_uppercase() {
            b'R' if flags & READ == 0 => flags |= READ,
            b'W' if flags & WRITE == 0 => flags |= WRITE,
            b'~' if flags != 0 => {
                offset += 1;
                return Ok((flags, offset));
            }
            _ => return Err(RuleError::Syntax),
        }
        offset += 1;
    }
    // `%R` with no `~`: Redis takes an empty pattern. A bare `%` would
    // make an empty pattern with no permission, which Redis' describer
    // panics on: refused here.
    if flags == 0 {
        return Err(RuleError::Syntax);
    }
    Ok((flags, offset))
}

/// `ACLStringHasSpaces`: whitespace or NUL.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b == b' ' || (b'\t'..=b'\r').contains(&b))
}

/// `ACLHashPassword`: lowercase hex SHA-256.
pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        hex.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    hex
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// User flags, in `ACLUserFlags` order (the order they are described in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserFlags {
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` / `sanitize-payload` (neither, at first).
    pub sanitize: Option<bool>,
}

/// Everything a user is: flags, password hashes and selectors (the first
/// is the root one).
#[derive(Clone, Debug)]
pub struct UserRules {
    pub flags: UserFlags,
    /// SHA-256 hex digests; never the passwords themselves.
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

impl Default for UserRules {
    fn default() -> Self {
        UserRules::new()
    }
}

impl UserRules {
    /// A new user: off, no password, no commands, keys or channels.
    pub fn new() -> UserRules {
        UserRules {
            flags: UserFlags::default(),
            passwords: Vec::new(),
            selectors: vec![Selector::new()],
        }
    }

    /// The `default` user as Redis creates it: `on nopass ~* &* +@all`.
    pub fn default_user() -> UserRules {
        let mut u = UserRules::new();
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            // Known-good rules.
            let _ = u.apply(op.as_bytes());
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Every command, key and channel allowed by the root selector.
    pub fn unrestricted(&self) -> bool {
        self.root().unrestricted()
    }

    /// `ACLSetUser`: apply one rule.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.flags.enabled = true;
        } else if is("off") {
            self.flags.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.flags.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.flags.sanitize = Some(true);
        } else if is("nopass") {
            self.flags.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.flags.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' && op.len() >= 2 {
            let mut selector = Selector::new();
            for part in op[1..op.len() - 1]
                .split(|b| b.is_ascii_whitespace())
                .filter(|p| !p.is_empty())
            {
                selector.apply(part)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "off",
                "sanitize-payload",
                "clearselectors",
                "-@all",
            ] {
                self.apply(op.as_bytes())?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// `ACLDescribeUser`: the rules after `user <name> ` in ACL LIST and
    /// the ACL file.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (on, name) in self.flag_names() {
            if on {
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
            }
        }
        for hash in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(hash.as_bytes());
            out.push(b' ');
        }
        for (i, selector) in self.selectors.iter().enumerate() {
            if i == 0 {
                selector.describe(&mut out);
            } else {
                out.extend_from_slice(b" (");
                selector.describe(&mut out);
                out.push(b')');
            }
        }
        out
    }

    /// The flags ACL GETUSER lists, in Redis' order.
    pub fn flag_names(&self) -> [(bool, &'static str); 5] {
        [
            (self.flags.enabled, "on"),
            (!self.flags.enabled, "off"),
            (self.flags.nopass, "nopass"),
            (self.flags.sanitize == Some(false), "skip-sanitize-payload"),
            (self.flags.sanitize == Some(true), "sanitize-payload"),
        ]
    }

    /// Whether `password` is one of this user's (or the user is nopass).
    /// Every stored hash is compared in constant time.
    pub fn password_matches(&self, password: &[u8]) -> bool {
        if self.flags.nopass {
            return true;
        }
        let hashed = hash_password(password);
        let mut found = false;
        for p in &self.passwords {
            found |= bool::from(subtle::ConstantTimeEq::ct_eq(
                p.as_bytes(),
                hashed.as_bytes(),
            ));
        }
        found
    }
}

/// `ACLMergeSelectorArguments`: rules of a selector spread over several
/// arguments (`(` `+get` `~k)`) joined into one. Err: the index of an
/// argument that opens a selector never closed.
pub fn merge_selectors(args: &[Bytes]) -> Result<Vec<Bytes>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((start, mut sel)) = open.take() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                out.push(Bytes::from(sel));
            } else {
                open = Some((start, sel));
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        out.push(op.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// The names of the commands in `category` (ACL CAT category), or None
/// for an unknown category.
pub fn category_commands(category: &[u8]) -> Option<Vec<&'static str>> {
    let cat = CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(category))?;
    Some(
        REDIS_COMMANDS
            .iter()
            .filter(|(_, cats)| cats & (1 << cat) != 0)
            .map(|(name, _)| *name)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> UserRules {
        let mut u = UserRules::new();
        for r in rules {
            u.apply(r.as_bytes()).expect("valid rule");
        }
        u
    }

    fn text(u: &UserRules) -> String {
        String::from_utf8(u.describe()).expect("utf-8")
    }

    #[test]
    fn describes_as_redis_7_2() {
        assert_eq!(text(&UserRules::new()), "off resetchannels -@all");
        assert_eq!(text(&UserRules::default_user()), "on nopass ~* &* +@all");
        let u = user(&[
            "on", ">pw", "+@read", "-@all", "+get", "+set", "~k*", "%R~r*", "&ch",
        ]);
        assert_eq!(
            text(&u),
            "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* %R~r* resetchannels &ch -@all +get +set"
        );
        let u = user(&["+@all", "-debug", "+config|get", "-config", "+select|0"]);
        assert_eq!(
            u.root().describe_commands(),
            "+@all -debug -config +select|0"
        );
        let u = user(&["%R~a", "%W~a", "(+get ~x)"]);
        assert_eq!(
            text(&u),
            "off ~a resetchannels -@all (~x resetchannels -@all +get)"
        );
        let u = user(&["reset"]);
        assert_eq!(text(&u), "off sanitize-payload resetchannels -@all");
    }

    #[test]
    fn rule_errors() {
        let mut u = UserRules::new();
        assert_eq!(u.apply(b"+nosuch"), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"-@nosuch"), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"bogus"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"#abc"), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope"), Err(RuleError::NoSuchPassword));
        assert_eq!(
            u.apply(b"+config|get|x"),
            Err(RuleError::FirstArgOfSubcommand)
        );
        assert_eq!(u.apply(b"+config|nosuch"), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"+select|"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"%"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"%X~k"), Err(RuleError::Syntax));
        u.apply(b"allkeys").expect("valid");
        assert_eq!(u.apply(b"~k"), Err(RuleError::KeyAfterAll));
        u.apply(b"allchannels").expect("valid");
        assert_eq!(u.apply(b"&c"), Err(RuleError::ChannelAfterAll));
        // Redis' own rule for the empty string: nothing.
        assert_eq!(u.apply(b""), Ok(()));
    }

    #[test]
    fn passwords_are_hashed_and_compared() {
        let u = user(&[">secret"]);
        assert!(u.password_matches(b"secret"));
        assert!(!u.password_matches(b"secreT"));
        assert!(!text(&u).contains("secret"));
        let u = user(&[">a", "<a"]);
        assert!(u.passwords.is_empty());
    }

    #[test]
    fn merges_selector_arguments() {
        let args: Vec<Bytes> = ["on", "(+get", "~k)", "(+set)"]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let merged = merge_selectors(&args).expect("balanced");
        assert_eq!(merged[1], Bytes::from_static(b"(+get ~k)"));
        assert_eq!(merged.len(), 3);
        assert_eq!(merge_selectors(&args[..2]), Err(1));
    }
}
