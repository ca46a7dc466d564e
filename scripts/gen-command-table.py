#!/usr/bin/env python3
"""Generate redynamo's command table (layers/src/command/table.rs).

Inputs:
  scripts/redis-7.2-commands/*.json   Redis 7.2's command definitions (BSD)
  layers/src/command/commands.txt     the commands redynamo implements and
                                      redynamo's routing facts for each

Everything Redis defines comes from the JSON, computed the way Redis 7.2
computes it at start-up: the legacy first/last/step key range
(populateCommandLegacyRangeSpec), `movablekeys`, and the implicit ACL
categories (setImplicitACLCategories).

Usage:
  python3 scripts/gen-command-table.py            rewrite table.rs
  python3 scripts/gen-command-table.py --out F    write F instead (the
                                                  layers test compares)

Python 3 standard library only, so every machine and CI can run it without
installing anything.
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JSON_DIR = os.path.join(ROOT, "scripts", "redis-7.2-commands")
LIST = os.path.join(ROOT, "layers", "src", "command", "commands.txt")
TABLE = os.path.join(ROOT, "layers", "src", "command", "table.rs")

# Redis command flags → redynamo's `Flags` constants. SENTINEL and
# ONLY_SENTINEL say whether a command exists in sentinel mode, which
# redynamo does not have.
FLAGS = {
    "WRITE": "WRITE",
    "READONLY": "READONLY",
    "DENYOOM": "DENYOOM",
    "ADMIN": "ADMIN",
    "PUBSUB": "PUBSUB",
    "NOSCRIPT": "NOSCRIPT",
    "BLOCKING": "BLOCKING",
    "LOADING": "LOADING",
    "STALE": "STALE",
    "SKIP_MONITOR": "SKIP_MONITOR",
    "SKIP_SLOWLOG": "SKIP_SLOWLOG",
    "ASKING": "ASKING",
    "FAST": "FAST",
    "NO_AUTH": "NO_AUTH",
    "MAY_REPLICATE": "MAY_REPLICATE",
    "NO_MANDATORY_KEYS": "NO_MANDATORY_KEYS",
    "PROTECTED": "PROTECTED",
    "NO_ASYNC_LOADING": "NO_ASYNC_LOADING",
    "NO_MULTI": "NO_MULTI",
    "ALLOW_BUSY": "ALLOW_BUSY",
    "TOUCHES_ARBITRARY_KEYS": "TOUCHES_ARBITRARY_KEYS",
}
IGNORED_FLAGS = {"SENTINEL", "ONLY_SENTINEL"}
# The order the Rust code lists flags in (any fixed order does; this is
# Redis' own, so the generated text reads like COMMAND INFO).
FLAG_ORDER = [
    "WRITE", "READONLY", "DENYOOM", "ADMIN", "PUBSUB", "NOSCRIPT", "BLOCKING",
    "LOADING", "STALE", "SKIP_MONITOR", "SKIP_SLOWLOG", "ASKING", "FAST",
    "NO_AUTH", "MAY_REPLICATE", "NO_MANDATORY_KEYS", "PROTECTED",
    "NO_ASYNC_LOADING", "NO_MULTI", "MOVABLEKEYS", "ALLOW_BUSY",
    "TOUCHES_ARBITRARY_KEYS",
]

# ACL categories in the order Redis lists them (ACLCommandCategories in
# acl.c), which is the order COMMAND INFO prints them in.
ACL_ORDER = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
    "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
    "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
]

ARG_KINDS = {
    "string": "String",
    "integer": "Integer",
    "double": "Double",
    "key": "Key",
    "pattern": "Pattern",
    "unix-time": "UnixTime",
    "pure-token": "PureToken",
    "oneof": "Oneof",
    "block": "Block",
}

CACHED_READS = {
    "get": "Get",
    "strlen": "Strlen",
    "type": "Type",
    "exists": "Exists",
    "mget": "Mget",
}
MULTI = {"queue": "Queue", "run": "Run", "refuse": "Refuse"}
DBS = {"named": "Named", "several": "Several"}

INT_MAX = 2**31 - 1


class GenError(Exception):
    pass


def load_json(json_dir):
    """Every command and subcommand Redis 7.2 defines, by lowercase name."""
    commands = {}
    for file in sorted(os.listdir(json_dir)):
        if not file.endswith(".json"):
            continue
        with open(os.path.join(json_dir, file), encoding="utf-8") as f:
            doc = json.load(f)
        for name, desc in doc.items():
            full = name.lower()
            if "container" in desc:
                full = desc["container"].lower() + "|" + full
            if full in commands:
                raise GenError(f"{file}: {full} defined twice")
            commands[full] = desc
    return commands


def load_list(path):
    """The implemented commands and their routing facts, in file order."""
    entries = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            name, facts = line[0], line[1:]
            where = f"{path}:{lineno}"
            if name != name.lower():
                raise GenError(f"{where}: write {name} in lowercase")
            if name in entries:
                raise GenError(f"{where}: {name} listed twice")
            parsed = {}
            for fact in facts:
                key, _, value = fact.partition("=")
                if key in parsed:
                    raise GenError(f"{where}: {key} given twice")
                if key in ("session", "blocking") and not value:
                    parsed[key] = True
                elif key == "multi" and value in MULTI:
                    parsed[key] = value
                elif key == "dbs" and value in DBS:
                    parsed[key] = value
                elif key == "cache" and value in CACHED_READS:
                    parsed[key] = value
                else:
                    raise GenError(f"{where}: unknown fact {fact!r}")
            entries[name] = parsed
    return entries


def legacy_range(desc):
    """(first, last, step, movable): populateCommandLegacyRangeSpec.

    Redis derives COMMAND's first/last/step from the key specs: one plain
    index+range spec is used as it is; otherwise consecutive step-1 range
    specs are merged, and anything else only sets `movablekeys`.
    """
    specs = desc.get("key_specs", [])
    movable = False

    def plain(spec):
        return "index" in spec["begin_search"] and "range" in spec["find_keys"]

    if not specs:
        return 0, 0, 0, False
    if len(specs) == 1 and plain(specs[0]):
        spec = specs[0]
        pos = spec["begin_search"]["index"]["pos"]
        rng = spec["find_keys"]["range"]
        last = rng["lastkey"]
        if last >= 0:
            last += pos
        movable = "INCOMPLETE" in spec.get("flags", [])
        return pos, last, rng["step"], movable

    first, lastkey, prev_lastkey = INT_MAX, 0, 0
    for spec in specs:
        if not plain(spec):
            movable = True
            continue
        pos = spec["begin_search"]["index"]["pos"]
        rng = spec["find_keys"]["range"]
        if rng["step"] != 1 or (prev_lastkey and prev_lastkey != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in spec.get("flags", []):
            movable = True
        first = min(first, pos)
        abs_last = rng["lastkey"]
        if abs_last >= 0:
            abs_last += pos
        # Redis compares as unsigned, so a negative (count from the end)
        # last key wins over any positive one.
        lastkey = max(lastkey, abs_last, key=lambda v: v & 0xFFFFFFFF)
        prev_lastkey = lastkey
    if first == INT_MAX:
        return 0, 0, 0, True
    # Redis stores the merged range relative to `first` and COMMAND adds
    # `first` back to a non-negative last key: the absolute index.
    return first, lastkey, 1, movable


def acl_categories(desc, flags):
    """The command's categories plus the implicit ones
    (setImplicitACLCategories), in Redis' order."""
    cats = {c.lower() for c in desc.get("acl_categories", [])}
    unknown = cats - set(ACL_ORDER)
    if unknown:
        raise GenError(f"unknown ACL categories {sorted(unknown)}")
    if "WRITE" in flags:
        cats.add("write")
    if "READONLY" in flags and "scripting" not in cats:
        cats.add("read")
    if "ADMIN" in flags:
        cats.update(("admin", "dangerous"))
    if "PUBSUB" in flags:
        cats.add("pubsub")
    if "FAST" in flags:
        cats.add("fast")
    if "BLOCKING" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return [c for c in ACL_ORDER if c in cats]


def rust_str(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def str_slice(items):
    return "&[" + ", ".join(rust_str(i) for i in items) + "]"


def variant(name):
    """`client|no-evict` → `ClientNoEvict`."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^a-z0-9]+", name) if p)


ARG_KEYS = {
    "name", "type", "token", "display", "since", "optional", "multiple",
    "multiple_token", "key_spec_index", "arguments",
    # Not served: redynamo's COMMAND DOCS has no fields for these yet.
    "deprecated_since", "summary",
}


def arg_expr(arg, indent):
    """An `Arg` builder expression, nested arguments one per line."""
    unknown = set(arg) - ARG_KEYS
    if unknown:
        raise GenError(f"argument {arg.get('name')}: unknown fields {sorted(unknown)}")
    kind = arg["type"]
    if kind not in ARG_KINDS:
        raise GenError(f"argument {arg['name']}: unknown type {kind}")
    # Redis' generate-command-code.py lowercases names and uppercases
    # tokens (`force_uppercase=True`): CLIENT LIST's JSON says `normal`,
    # COMMAND DOCS says `NORMAL`.
    name = rust_str(arg["name"].lower())
    if kind == "key" and "key_spec_index" in arg:
        expr = f"Arg::key({name}, {arg['key_spec_index']})"
    else:
        expr = f"Arg::new({name}, ArgKind::{ARG_KINDS[kind]})"
        if "key_spec_index" in arg:
            # SORT's BY and GET patterns name keys too.
            expr += f".key_spec_index({arg['key_spec_index']})"
    if "token" in arg:
        expr += f".token({rust_str(arg['token'].upper())})"
    for field in ("display", "since"):
        if field in arg:
            expr += f".{field}({rust_str(arg[field])})"
    for field in ("optional", "multiple", "multiple_token"):
        if arg.get(field):
            expr += f".{field}()"
    subargs = arg.get("arguments", [])
    if subargs:
        inner = indent + "    "
        items = "".join(f"{inner}{arg_expr(a, inner)},\n" for a in subargs)
        expr += f".args(&[\n{items}{indent}])"
    return expr


def args_slice(args, indent):
    if not args:
        return "&[]"
    inner = indent + "    "
    items = "".join(f"{inner}{arg_expr(a, inner)},\n" for a in args)
    return f"&[\n{items}{indent}]"


def spec(name, desc, facts, subs, indent):
    """One `CommandSpec` literal."""
    flags = []
    for flag in desc.get("command_flags", []):
        if flag in IGNORED_FLAGS:
            continue
        if flag not in FLAGS:
            raise GenError(f"{name}: unknown command flag {flag}")
        flags.append(FLAGS[flag])
    first, last, step, movable = legacy_range(desc)
    if movable:
        flags.append("MOVABLEKEYS")
    flags = [f for f in FLAG_ORDER if f in flags]
    if flags:
        flags_expr = f"Flags::{flags[0]}" + "".join(f".union(Flags::{f})" for f in flags[1:])
    else:
        flags_expr = "Flags::NONE"
    cats = acl_categories(desc, {f for f in desc.get("command_flags", [])})
    tips = [t.lower() for t in desc.get("command_tips", [])]

    routing = routing_expr(name, desc, facts)
    i = indent + "    "
    out = [f"{indent}CommandSpec {{\n"]
    out.append(f"{i}id: CommandId::{variant(name)},\n")
    out.append(f"{i}name: {rust_str(name)},\n")
    out.append(f"{i}arity: {desc['arity']},\n")
    out.append(f"{i}flags: {flags_expr},\n")
    out.append(f"{i}first_key: {first},\n")
    out.append(f"{i}last_key: {last},\n")
    out.append(f"{i}step: {step},\n")
    out.append(f"{i}acl_categories: {str_slice(cats)},\n")
    out.append(f"{i}key_specs: {key_specs_expr(desc)},\n")
    out.append(f"{i}tips: {str_slice(tips)},\n")
    out.append(f"{i}group: {rust_str(desc['group'])},\n")
    out.append(f"{i}summary: {rust_str(desc['summary'])},\n")
    out.append(f"{i}since: {rust_str(desc['since'])},\n")
    out.append(f"{i}complexity: {rust_str(desc.get('complexity', ''))},\n")
    out.append(f"{i}arguments: {args_slice(desc.get('arguments', []), i)},\n")
    if subs:
        out.append(f"{i}subcommands: &[\n{''.join(subs)}{i}],\n")
    else:
        out.append(f"{i}subcommands: &[],\n")
    out.append(f"{i}routing: {routing},\n")
    out.append(f"{indent}}},\n")
    return "".join(out)


KEY_FLAGS = ["RO", "RW", "OW", "RM", "ACCESS", "UPDATE", "INSERT", "DELETE",
             "NOT_KEY", "INCOMPLETE", "VARIABLE_FLAGS"]


def key_specs_expr(desc):
    """The command's key specs (begin_search + find_keys + flags), which the
    ACL layer walks as Redis' getKeysUsingKeySpecs does."""
    specs = desc.get("key_specs", [])
    if not specs:
        return "&[]"
    items = []
    for spec in specs:
        flags = spec.get("flags", [])
        for f in flags:
            if f not in KEY_FLAGS:
                raise GenError(f"unknown key spec flag {f}")
        flags_expr = " | ".join(f"KeyFlags::{f}" for f in flags) or "KeyFlags::NONE"
        bs = spec["begin_search"]
        if "index" in bs:
            begin = f"Begin::Index({bs['index']['pos']})"
        elif "keyword" in bs:
            kw = bs["keyword"]
            begin = f"Begin::Keyword({rust_str(kw['keyword'])}, {kw['startfrom']})"
        else:
            begin = "Begin::Unknown"
        fk = spec["find_keys"]
        if "range" in fk:
            r = fk["range"]
            find = f"Find::Range {{ lastkey: {r['lastkey']}, step: {r['step']}, limit: {r['limit']} }}"
        elif "keynum" in fk:
            k = fk["keynum"]
            find = (f"Find::Keynum {{ keynumidx: {k['keynumidx']}, firstkey: {k['firstkey']}, "
                    f"step: {k['step']} }}")
        else:
            find = "Find::Unknown"
        items.append(f"KeySpec {{ flags: KeyFlags({flags_expr}), begin: {begin}, find: {find} }}")
    return "&[" + ", ".join(items) + "]"


def category_bits(cats):
    return " | ".join(f"1 << {ACL_ORDER.index(c)}" for c in cats) or "0"


def routing_expr(name, desc, facts):
    """The `Routing` literal for one command, checked against Redis' flags."""
    flags = set(desc.get("command_flags", []))
    session = facts.get("session", False)
    default_multi = "refuse" if session or "NO_MULTI" in flags else "queue"
    multi = facts.get("multi", default_multi)
    blocking = facts.get("blocking", False) or "BLOCKING" in flags
    cache = facts.get("cache")
    if cache and "READONLY" not in flags:
        raise GenError(f"{name}: cache={cache} on a command that is not readonly")
    if cache and session:
        raise GenError(f"{name}: a session command is never answered by the cache")
    fields = []
    if session:
        fields.append("session: true")
    if multi != "queue":
        fields.append(f"in_multi: InMulti::{MULTI[multi]}")
    if "dbs" in facts:
        fields.append(f"dbs: Dbs::{DBS[facts['dbs']]}")
    if cache:
        fields.append(f"cached_read: Some(CachedRead::{CACHED_READS[cache]})")
    if blocking:
        fields.append("blocking: true")
    if not fields:
        return "Routing::STACK"
    return "Routing { " + ", ".join(fields) + ", ..Routing::STACK }"


HEADER = """\
//! The command table. GENERATED by `scripts/gen-command-table.py`; do not
//! edit by hand.
//!
//! Inputs: Redis 7.2's command JSON (`scripts/redis-7.2-commands/`, Redis
//! 7.2.6 `src/commands/*.json`, BSD licence) and redynamo's list of the
//! commands it implements with their routing facts
//! (`layers/src/command/commands.txt`). ACL categories include the implicit
//! ones Redis adds in `setImplicitACLCategories`; key positions are the
//! legacy range Redis derives in `populateCommandLegacyRangeSpec`.
//!
//! To change it, edit `commands.txt` and run
//! `python3 scripts/gen-command-table.py`; the test
//! `layers/tests/table_generated.rs` fails while this file differs from the
//! generator's output.
//!
//! One file, over the ~600-line guide on purpose: it is data, written whole
//! by the generator and read through `lookup`/`resolve`; split by hand it
//! would only drift from its source. Readers want `commands.txt`.

use super::{Arg, ArgKind, CachedRead, CommandSpec, Dbs, Flags, InMulti, Routing};
use super::keyspec::{Begin, Find, KeyFlags, KeySpec};
"""


def generate(json_dir, list_path):
    redis = load_json(json_dir)
    wanted = load_list(list_path)
    for name in wanted:
        if name not in redis:
            raise GenError(f"{list_path}: {name} is not a Redis 7.2 command")
        parent = name.split("|")[0]
        if "|" in name and parent not in wanted:
            raise GenError(f"{list_path}: {name} listed without its container {parent}")
    top = sorted(n for n in wanted if "|" not in n)
    variants = {}
    for name in wanted:
        v = variant(name)
        if v in variants:
            raise GenError(f"{name} and {variants[v]} both make CommandId::{v}")
        variants[v] = name

    body = []
    ids = []
    for name in top:
        subs = sorted(n for n in wanted if n.startswith(name + "|"))
        container = any(n.startswith(name + "|") for n in redis)
        if container and not subs:
            raise GenError(f"{list_path}: container {name} listed without a subcommand")
        sub_specs = [spec(s, redis[s], wanted[s], [], "            ") for s in subs]
        body.append(spec(name, redis[name], wanted[name], sub_specs, "    "))
        ids.append(name)
        ids.extend(subs)

    out = [HEADER, "\n"]
    out.append("/// One variant per command and subcommand in the table, so that code\n")
    out.append("/// dispatching on [`CommandSpec::id`] with an exhaustive `match` stops\n")
    out.append("/// compiling when a command is added without a handler.\n")
    out.append("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\n")
    out.append("pub enum CommandId {\n")
    for name in ids:
        out.append(f"    /// `{name.upper().replace('|', ' ')}`\n")
        out.append(f"    {variant(name)},\n")
    out.append("}\n\n")
    out.append("pub static COMMANDS: &[CommandSpec] = &[\n")
    out.extend(body)
    out.append("];\n")
    out.append("\n/// Every command and subcommand Redis 7.2 defines, implemented here or\n")
    out.append("/// not, with its ACL categories as bits in `ACL_CATEGORIES` order: the\n")
    out.append("/// namespace of ACL rules (`+debug` is a valid rule even where DEBUG is\n")
    out.append("/// not implemented) and what ACL CAT lists. A container comes right\n")
    out.append("/// before its subcommands.\n")
    out.append("pub static REDIS_COMMANDS: &[(&str, u32)] = &[\n")
    for name in sorted(redis, key=lambda n: (n.split("|")[0], "|" in n, n)):
        desc = redis[name]
        cats = acl_categories(desc, set(desc.get("command_flags", [])))
        out.append(f"    ({rust_str(name)}, {category_bits(cats)}),\n")
    out.append("];\n")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=TABLE, help="where to write (default: %(default)s)")
    parser.add_argument("--json-dir", default=JSON_DIR)
    parser.add_argument("--list", default=LIST)
    args = parser.parse_args()
    try:
        text = generate(args.json_dir, args.list)
    except GenError as e:
        print(f"gen-command-table: {e}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
