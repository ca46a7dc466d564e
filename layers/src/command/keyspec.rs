//! Key specs, as Redis 7 declares them in its command JSON: where a
//! command's keys start (`begin_search`), how many follow (`find_keys`),
//! and what the command does to them (`flags`). The ACL layer walks them
//! the way Redis' `getKeysUsingKeySpecs` does, so `%R~` and `%W~` patterns
//! see the same keys, with the same read/write meaning, as in Redis.

use bytes::Bytes;

/// Key spec flags (Redis' `CMD_KEY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KeyFlags(pub u16);

impl KeyFlags {
    pub const NONE: u16 = 0;
    pub const RO: u16 = 1 << 0;
    pub const RW: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }
}

/// Where a spec's keys begin.
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the
    /// end, backwards).
    Keyword(&'static str, i32),
    Unknown,
}

/// How many keys follow the beginning.
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// Up to `lastkey` (relative; negative counts from the end), every
    /// `step`; `limit` divides the rest when `lastkey` is -1.
    Range {
        lastkey: i32,
        step: i32,
        limit: i32,
    },
    /// The number of keys is the argument at `keynumidx` (relative), the
    /// first key `firstkey` after it.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        step: i32,
    },
    Unknown,
}

/// One key spec of a command.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub flags: KeyFlags,
    pub begin: Begin,
    pub find: Find,
}

/// A key a command line names: its argument index and the flags of the
/// spec that found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: KeyFlags,
}

/// The keys of `args` (the whole line, name first; for a subcommand the
/// line from the container's name) by `specs`, as Redis'
/// `getKeysUsingKeySpecs` finds them with default search flags: a spec
/// whose keys fall outside the line makes the answer empty, as Redis
/// then lets the command itself report the syntax error.
pub fn key_refs(specs: &[KeySpec], args: &[Bytes]) -> Vec<KeyRef> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.flags.has(KeyFlags::NOT_KEY) {
            continue;
        }
        let first = match spec.begin {
            // An incomplete spec (SORT's BY/GET/STORE): see `command_keys`.
            Begin::Unknown => continue,
            Begin::Index(pos) => pos as i64,
            Begin::Keyword(keyword, startfrom) => {
                let startfrom = startfrom as i64;
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 0 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                step,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit == 0 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (first, last, step as i64)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                let idx = first + keynumidx as i64;
                if idx >= argc {
                    return Vec::new();
                }
                let numkeys = std::str::from_utf8(&args[idx as usize])
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok());
                let Some(numkeys) = numkeys.filter(|n| *n >= 0) else {
                    return Vec::new();
                };
                let first = first + firstkey as i64;
                (first, first + numkeys - 1, step as i64)
            }
            Find::Unknown => return Vec::new(),
        };
        if last - first + 1 == 0 {
            // No keys (a keynum of 0): nothing to add.
            continue;
        }
        if last >= argc || last < first || first >= argc {
            return Vec::new();
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef {
                pos: i as usize,
                flags: spec.flags,
            });
            i += step.max(1);
        }
    }
    out
}

/// The keys of a command line with their flags, as Redis' ACL check finds
/// them (`getKeysFromCommandWithSpecs`): by the key specs, except where
/// Redis trusts a command's own key finder instead — a spec with
/// `VARIABLE_FLAGS` (SET, whose key is read only with GET; BITFIELD, which
/// writes only with SET/INCRBY) and SORT's incomplete STORE spec.
pub fn command_keys(spec: &super::CommandSpec, args: &[Bytes]) -> Vec<KeyRef> {
    use super::CommandId;
    let flag = |f: u16| KeyFlags(f);
    let has =
        |word: &[u8], from: usize| args.iter().skip(from).any(|a| a.eq_ignore_ascii_case(word));
    match spec.id {
        CommandId::Set if args.len() > 1 => {
            let flags = if has(b"get", 3) {
                KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::UPDATE
            } else {
                KeyFlags::OW | KeyFlags::UPDATE
            };
            vec![KeyRef {
                pos: 1,
                flags: flag(flags),
            }]
        }
        CommandId::Bitfield if args.len() > 1 => {
            let writes = has(b"set", 2) || has(b"incrby", 2);
            let flags = if writes {
                KeyFlags::RW | KeyFlags::UPDATE
            } else {
                KeyFlags::RO | KeyFlags::ACCESS
            };
            vec![KeyRef {
                pos: 1,
                flags: flag(flags),
            }]
        }
        CommandId::Sort | CommandId::SortRo if args.len() > 1 => {
            let mut keys = vec![KeyRef {
                pos: 1,
                flags: flag(KeyFlags::RO | KeyFlags::ACCESS),
            }];
            // sortGetKeys: the last STORE's argument, skipping the
            // arguments of LIMIT, GET and BY.
            let mut i = 2;
            let mut store = None;
            while i < args.len() {
                let a = &args[i];
                if a.eq_ignore_ascii_case(b"limit") {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                    i += 1;
                } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            if let Some(pos) = store {
                keys.push(KeyRef {
                    pos,
                    flags: flag(KeyFlags::OW | KeyFlags::UPDATE),
                });
            }
            keys
        }
        _ => key_refs(spec.key_specs, args),
    }
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

    fn positions(parts: &[&str]) -> Vec<usize> {
        let args = line(parts);
        let spec = lookup(parts[0].as_bytes()).expect("known command");
        key_refs(spec.key_specs, &args)
            .iter()
            .map(|k| k.pos)
            .collect()
    }

    #[test]
    fn keys_by_spec() {
        assert_eq!(positions(&["get", "k"]), vec![1]);
        assert_eq!(positions(&["mset", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(positions(&["del", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(positions(&["blpop", "a", "b", "0"]), vec![1, 2]);
        assert_eq!(
            positions(&["zunionstore", "d", "2", "a", "b"]),
            vec![1, 3, 4]
        );
        assert_eq!(positions(&["lmpop", "2", "a", "b", "LEFT"]), vec![2, 3]);
        let sort = line(&["sort", "k", "STORE", "dst"]);
        let spec = lookup(b"sort").expect("known command");
        let keys: Vec<_> = command_keys(spec, &sort).iter().map(|k| k.pos).collect();
        assert_eq!(keys, vec![1, 3], "SORT … STORE names its destination");
        let set = line(&["set", "k", "v"]);
        let spec = lookup(b"set").expect("known command");
        assert!(!command_keys(spec, &set)[0].flags.has(KeyFlags::ACCESS));
        let set = line(&["set", "k", "v", "get"]);
        assert!(command_keys(spec, &set)[0].flags.has(KeyFlags::ACCESS));
        // A keynum past the line: Redis finds no keys and lets the
        // command report the error.
        assert_eq!(
            positions(&["zunionstore", "d", "5", "a"]),
            Vec::<usize>::new()
        );
    }
}
