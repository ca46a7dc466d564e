//! Feed arbitrary ACL rules to the rule parser (`ACL SETUSER`'s and the ACL
//! file's grammar), then describe the user and parse the description back.
//!
//! Input: rules separated by NUL bytes (a rule may hold any other byte),
//! applied in order to a fresh user; and, separately, the whole input as
//! an ACL file.
//!
//! Checked, besides "no panic" (Redis itself panics on one rule, `%`):
//! - whatever applied, the user's description (ACL LIST's text) parses
//!   back, rule by rule, into a user with the same description, so ACL
//!   SAVE followed by ACL LOAD never loses or changes a user (except where
//!   a pattern holds a parenthesis, which Redis' format cannot tell from a
//!   selector either);
//! - a refused rule leaves the user unchanged, as ACL SETUSER stores
//!   nothing unless every rule applied;
//! - the permission check runs on the result for a few command lines.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use redynamo_layers::acl::{self, rules, UserRules};

fuzz_target!(|data: &[u8]| {
    let ops: Vec<Bytes> = data
        .split(|&b| b == 0)
        .map(Bytes::copy_from_slice)
        .collect();
    let mut user = UserRules::new();
    if let Ok(merged) = rules::merge_selectors(&ops) {
        for op in &merged {
            let before = user.describe();
            let mut attempt = user.clone();
            if attempt.apply(op).is_ok() {
                user = attempt;
            } else {
                assert_eq!(user.describe(), before);
            }
        }
    }
    // The description reads back as the same user (ACL SAVE → LOAD).
    // Not when a pattern or first argument holds a parenthesis: Redis'
    // format cannot tell `(~a) +get)` from a selector there either.
    let text = user.describe();
    let line = format!("user fuzz {}", String::from_utf8_lossy(&text));
    let parens = user.selectors.iter().any(|s| {
        [s.describe_keys(), s.describe_channels(), s.describe_commands().into_bytes()]
            .iter()
            .any(|d| d.contains(&b'(') || d.contains(&b')'))
    });
    if std::str::from_utf8(&text).is_ok() && !parens {
        let loaded = acl::parse_acl_file(&line, "fuzz.acl")
            .unwrap_or_else(|e| panic!("{line:?} does not load back: {e}"));
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].1.describe(), text, "{line:?}");
    }
    // The check never panics, whatever the rules.
    let registry = acl::Acl::new(None);
    if registry.set_user(b"fuzz", &ops).is_ok() {
        let u = registry.user(b"fuzz").expect("just set");
        for line in [
            &["get", "k"][..],
            &["set", "k", "v", "get"],
            &["mset", "a", "1", "b", "2"],
            &["zunionstore", "d", "2", "a", "b"],
            &["select", "0"],
            &["sort", "k", "store", "d"],
        ] {
            let args: Vec<Bytes> = line.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
            if let Ok(spec) = redynamo_layers::command::resolve(&args) {
                let _ = acl::check(&u, spec, &args);
            }
        }
    }
    // And the whole input as an ACL file.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = acl::parse_acl_file(text, "fuzz.acl");
    }
});
