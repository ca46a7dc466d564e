//! `redynamo --check ADDR`: does a server answer at ADDR? Exit 0 if so, 1
//! if not.
//!
//! The container image has no shell, curl or redis-cli (a distroless
//! runtime), so its `HEALTHCHECK` runs the binary itself:
//!
//! ```text
//! HEALTHCHECK CMD ["/usr/local/bin/redynamo", "--check", "127.0.0.1:6379"]
//! ```
//!
//! The check connects, sends `PING` and reads one reply line. `+PONG` is
//! healthy, and so is `-NOAUTH …`: a server that has a password still
//! parsed the command and answered, which is all a liveness check asks, and
//! the check then needs no secret. Anything else (refused, closed, another
//! error, no reply within [`TIMEOUT`]) is unhealthy. A draining server has
//! closed its listener, so it reads as unhealthy too.
//!
//! Blocking std I/O on purpose: the check runs before (instead of) the async
//! runtime, and one connection needs none.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bound of each step (connect, write, read): a server that does not answer
/// within it is unhealthy. Docker's default health-check timeout is 30 s.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Why a server was found unhealthy.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr}: unexpected reply {reply:?}")]
    Reply { addr: String, reply: String },
}

/// PING the server at `addr` (`host:port`).
pub fn check(addr: &str) -> Result<(), CheckError> {
    let io = |source| CheckError::Io {
        addr: addr.to_owned(),
        source,
    };
    let target = addr
        .to_socket_addrs()
        .map_err(|_| CheckError::Resolve(addr.to_owned()))?
        .next()
        .ok_or_else(|| CheckError::Resolve(addr.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").map_err(io)?;
    // One line is enough; a server never sends an endless one before the
    // timeout, and `take` bounds what a stranger on the port could send.
    let mut line = String::new();
    BufReader::new(stream.take(512))
        .read_line(&mut line)
        .map_err(io)?;
    let reply = line.trim_end();
    if reply == "+PONG" || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        Err(CheckError::Reply {
            addr: addr.to_owned(),
            reply: reply.to_owned(),
        })
    }
}

/// The `--check` mode of the binary: the process exit code, with one line on
/// stdout (healthy) or stderr (not).
pub fn run(addr: &str) -> i32 {
    match check(addr) {
        Ok(()) => {
            println!("{addr}: ok");
            0
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server that reads the PING and answers `reply`.
    fn fake(reply: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 14];
                let _ = s.read_exact(&mut buf);
                assert_eq!(&buf, b"*1\r\n$4\r\nPING\r\n");
                let _ = s.write_all(reply);
            }
        });
        addr
    }

    #[test]
    fn pong_and_noauth_are_healthy() {
        assert!(check(&fake(b"+PONG\r\n")).is_ok());
        assert!(check(&fake(b"-NOAUTH Authentication required.\r\n")).is_ok());
    }

    #[test]
    fn anything_else_is_unhealthy() {
        assert!(matches!(
            check(&fake(b"-ERR nope\r\n")),
            Err(CheckError::Reply { .. })
        ));
        // Closed without a reply.
        assert!(matches!(check(&fake(b"")), Err(CheckError::Reply { .. })));
        assert!(matches!(
            check("not an address"),
            Err(CheckError::Resolve(_))
        ));
        // Nothing listening: a port that was free a moment ago.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        assert!(matches!(
            check(&format!("127.0.0.1:{port}")),
            Err(CheckError::Io { .. })
        ));
        assert_eq!(run(&format!("127.0.0.1:{port}")), 1);
    }
}
