//! The binary as an operator meets it: a start-up failure is one line on
//! stderr and a non-zero exit, never a backtrace (even with
//! `RUST_BACKTRACE=1`); `-v` prints the version as `redis-server -v`
//! does; logs written to a pipe carry no colour codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use common::{free_port, PATIENCE};

/// The binary with `args`, as a user's shell would run it, but with
/// backtraces asked for: they must not appear anyway.
fn redynamo(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redynamo"));
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    cmd
}

/// Run to completion; stdout and stderr as text.
fn run(args: &[&str]) -> (Output, String, String) {
    let out = redynamo(args).output().expect("run redynamo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// A start-up failure: exactly `line` (and its newline) on stderr, and
/// exit code `code`.
fn assert_fails(args: &[&str], line: &str, code: i32) {
    let (out, _, stderr) = run(args);
    assert_eq!(stderr, format!("{line}\n"), "{args:?}");
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = taken.local_addr().expect("its address").port().to_string();
    assert_fails(
        &["--port", &port],
        &format!("redynamo: cannot listen on 127.0.0.1:{port}: Address already in use"),
        1,
    );
    assert_fails(
        &[
            "--port",
            "0",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &format!("redynamo: cannot listen for metrics on 127.0.0.1:{port}: Address already in use"),
        1,
    );
}

#[test]
fn an_address_not_of_this_host_is_one_line() {
    // TEST-NET-2 (RFC 5737): never assigned to a local interface.
    assert_fails(
        &["--bind", "198.51.100.7", "--port", "0"],
        "redynamo: cannot listen on 198.51.100.7:0: Cannot assign requested address",
        1,
    );
}

#[test]
fn a_bad_command_line_is_one_line_and_exit_2() {
    assert_fails(
        &["--frob"],
        "redynamo: unexpected argument '--frob' found (redynamo --help lists the options)",
        2,
    );
    assert_fails(
        &["--port", "99999"],
        "redynamo: invalid value '99999' for '--port <PORT>': 99999 is not in 0..=65535 \
         (redynamo --help lists the options)",
        2,
    );
    assert_fails(
        &["--log-level", "a[="],
        "redynamo: invalid --log-level \"a[=\": invalid filter directive",
        1,
    );
}

#[test]
fn an_unreadable_config_file_is_one_line() {
    let path = std::env::temp_dir().join(format!("redynamo-no-such-{}.conf", std::process::id()));
    let path = path.to_string_lossy().into_owned();
    assert_fails(
        &[&path],
        &format!("redynamo: cannot read config file {path}: No such file or directory"),
        1,
    );
}

/// A bad config file is one line too, naming the file, the line and what
/// is wrong (Redis' `*** FATAL CONFIG FILE ERROR ***` block, folded).
#[test]
fn a_bad_config_file_is_one_line_naming_file_and_line() {
    let path = std::env::temp_dir().join(format!("redynamo-bad-{}.conf", std::process::id()));
    for (text, error) in [
        ("# ok\nport 7000\nfrobnicate yes\n", "line 3: >>> 'frobnicate yes': Bad directive or wrong number of arguments"),
        ("maxclients lots\n", "line 1: >>> 'maxclients lots': invalid value 'lots' for '--maxclients <MAXCLIENTS>': invalid digit found in string"),
        ("user bob on >pw +@nosuch\n", "line 1: >>> 'user bob on >pw +@nosuch': Error in user declaration '+@nosuch': Unknown command or category name in ACL"),
    ] {
        std::fs::write(&path, text).expect("write the file");
        let p = path.to_string_lossy().into_owned();
        assert_fails(&[&p], &format!("redynamo: config file {p}, {error}"), 1);
    }
    let _ = std::fs::remove_file(&path);
}

/// `redis-server -v` prints `Redis server v=7.2.4 sha=00000000:0
/// malloc=jemalloc-5.3.0 bits=64 build=…` and exits 0; so does this, with
/// the fields it has.
#[test]
fn dash_v_prints_the_version_like_redis_server() {
    for flag in ["-v", "--version"] {
        let (out, stdout, stderr) = run(&[flag]);
        assert!(out.status.success(), "{flag}: {stderr}");
        assert_eq!(stderr, "", "{flag}");
        let expected_start = format!(
            "redynamo v={} redis=7.2.4 malloc=mimalloc-",
            env!("CARGO_PKG_VERSION")
        );
        assert!(stdout.starts_with(&expected_start), "{flag}: {stdout:?}");
        assert!(stdout.ends_with(" bits=64\n"), "{flag}: {stdout:?}");
        assert_eq!(stdout.lines().count(), 1, "{flag}: {stdout:?}");
    }
}

/// Logs go to stdout; to a pipe (a file, journald, a container's log
/// driver) they go without ANSI colour codes, in both formats.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    for format in ["text", "json"] {
        let port = free_port().to_string();
        let mut child = redynamo(&["--port", &port, "--log-format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redynamo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        let ready = loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let ready = line.contains("ready to accept connections");
                    seen.push(line);
                    if ready {
                        break true;
                    }
                }
                Err(_) => break false,
            }
        };
        // Stop it (by PID) before asserting, so a failure leaves nothing
        // behind.
        let _ = child.kill();
        let _ = child.wait();
        assert!(ready, "{format}: no ready line; got {seen:#?}");
        for line in &seen {
            assert!(!line.contains("\x1b["), "{format}: colour code in {line:?}");
        }
    }
}

/// The binary's INFO memory comes from mimalloc's own figures: `used_memory`
/// is what the allocator has committed, not the RSS copied (which an
/// in-process test server, on the system allocator, reports instead).
#[test]
fn info_memory_reads_the_allocator() {
    use std::io::{Read, Write};
    let port = free_port();
    let mut child = redynamo(&["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redynamo");
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() > deadline => panic!("not serving: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
        .expect("send INFO");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("mem_allocator") {
        let n = stream.read(&mut buf).expect("read INFO");
        assert!(n > 0, "closed: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    let used: u64 = field("used_memory").parse().expect("a number");
    let peak: u64 = field("used_memory_peak").parse().expect("a number");
    let rss: u64 = field("used_memory_rss").parse().expect("a number");
    assert!(used > 0 && peak >= used, "{text}");
    assert_ne!(used, rss, "{text}");
    assert!(field("mem_allocator").starts_with("mimalloc-"), "{text}");
}
