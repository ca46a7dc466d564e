//! The README's supported-command list is generated from the command table;
//! this test fails when they differ. To regenerate it:
//!
//! ```text
//! REDYNAMO_BLESS=1 cargo test --test readme
//! ```

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::NOT_ANSWERED_YET;
use redynamo::layers::command::{all_specs, COMMANDS};

const START: &str = "<!-- commands:start -->";
const END: &str = "<!-- commands:end -->";

/// The section between the markers, generated from the table.
fn command_list() -> String {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mark = |name: &str| {
        if NOT_ANSWERED_YET.contains(&name.split('|').next().unwrap_or_default()) {
            "†"
        } else {
            ""
        }
    };
    for spec in COMMANDS {
        let entries = groups.entry(spec.group).or_default();
        // A container such as CLIENT is listed by its subcommands, unless
        // it also works alone (COMMAND).
        if spec.subcommands.is_empty() || spec.arity_ok(1) {
            entries.push(format!(
                "`{}`{}",
                spec.name.to_ascii_uppercase(),
                mark(spec.name)
            ));
        }
        for sub in spec.subcommands {
            let name = sub.name.replace('|', " ").to_ascii_uppercase();
            entries.push(format!("`{name}`{}", mark(sub.name)));
        }
    }
    let subcommands = all_specs().count() - COMMANDS.len();
    let mut out = format!(
        "\n{} commands and {subcommands} subcommands, by group, generated from the command \
         table (`layers/src/command/table.rs`) by `tests/readme.rs`.\n\n\
         | Group | Commands |\n|---|---|\n",
        COMMANDS.len()
    );
    for (group, names) in &groups {
        out.push_str(&format!("| {group} | {} |\n", names.join(", ")));
    }
    if !NOT_ANSWERED_YET.is_empty() {
        out.push_str(
            "\n† In the command table (so `COMMAND` lists it) but not answered yet: \
             it replies with an error.\n",
        );
    }
    out.push('\n');
    out
}

#[test]
fn readme_command_list_matches_the_command_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md lacks the {START} … {END} markers");
    };
    let current = &readme[start + START.len()..end];
    let wanted = command_list();
    if current == wanted {
        return;
    }
    if std::env::var("REDYNAMO_BLESS").is_ok_and(|v| v == "1") {
        let updated = format!(
            "{}{wanted}{}",
            &readme[..start + START.len()],
            &readme[end..]
        );
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's command list is out of date with the command table.\n\
         Regenerate it with:\n\n    REDYNAMO_BLESS=1 cargo test --test readme\n\n\
         Expected:\n{wanted}\nFound:\n{current}"
    );
}
