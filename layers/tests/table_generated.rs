//! The committed command table (`layers/src/command/table.rs`) is exactly
//! what `scripts/gen-command-table.py` makes of Redis 7.2's command JSON and
//! `layers/src/command/commands.txt`: nobody edits it by hand, and nobody
//! edits the inputs without regenerating it.

use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "regenerate it with `python3 scripts/gen-command-table.py` \
     (from the repository root) and commit the result";

/// A file in the system temp dir, removed when the test ends either way.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn committed_table_is_the_generators_output() {
    let layers = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = layers.parent().expect("layers/ sits in the workspace root");
    let out = TempFile(
        std::env::temp_dir().join(format!("redynamo-command-table-{}.rs", std::process::id())),
    );
    // python3 is on every machine the project builds on, CI included; a
    // missing interpreter fails the test rather than skipping the check.
    let run = Command::new("python3")
        .arg(root.join("scripts/gen-command-table.py"))
        .arg("--out")
        .arg(&out.0)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to check the generated command table: {e}"));
    assert!(
        run.status.success(),
        "the generator failed ({}):\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let generated = std::fs::read_to_string(&out.0).expect("the generator wrote its output");
    let committed = std::fs::read_to_string(layers.join("src/command/table.rs"))
        .expect("layers/src/command/table.rs is readable");
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(g, c)| g != c)
            // Equal as far as both go: one is longer.
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "layers/src/command/table.rs differs from the generator's output from line {}:\n\
             committed: {:?}\ngenerated: {:?}\n{REGENERATE}",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}
