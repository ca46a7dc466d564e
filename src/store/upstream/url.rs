//! `redis://[user:password@]host:port[/db]`: where the upstream is and how
//! the proxy logs in to it.

use std::fmt;

/// A parsed `--upstream` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `host:port`, as `TcpStream::connect` takes it.
    pub addr: String,
    /// The user for `HELLO … AUTH` (`default` when only a password is
    /// given, as Redis' AUTH with one argument means).
    pub user: Option<String>,
    pub password: Option<String>,
    /// The upstream db the proxy's db 0 maps to.
    pub db: u32,
}

/// Why an `--upstream` URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid --upstream URL {url:?}: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: &'static str,
}

impl UpstreamUrl {
    pub fn parse(url: &str) -> Result<UpstreamUrl, UrlError> {
        let fail = |reason| UrlError {
            url: redact(url),
            reason,
        };
        let rest = if let Some(rest) = url.strip_prefix("redis://") {
            rest
        } else if url.starts_with("rediss://") {
            return Err(fail("TLS to the upstream (rediss://) is not supported yet"));
        } else {
            return Err(fail("expected redis://[user:password@]host:port[/db]"));
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (
                    (!u.is_empty()).then(|| percent_decode(u)),
                    Some(percent_decode(p)),
                ),
                None => (Some(percent_decode(c)), None),
            },
        };
        if host_port.is_empty() {
            return Err(fail("no host"));
        }
        let addr = if host_port.starts_with('[') || host_port.rsplit_once(':').is_some() {
            let (_, port) = host_port.rsplit_once(':').ok_or_else(|| fail("no port"))?;
            port.parse::<u16>().map_err(|_| fail("bad port"))?;
            host_port.to_string()
        } else {
            format!("{host_port}:6379")
        };
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>().map_err(|_| fail("bad db number"))?
        };
        Ok(UpstreamUrl {
            addr,
            user,
            password,
            db,
        })
    }
}

/// The URL without its password, for errors and INFO.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `%XX` escapes in a user or password (a password with `@` or `:`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Shown without the password (INFO, logs).
impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.user, &self.password) {
            (Some(u), Some(_)) => write!(f, "redis://{u}:***@{}/{}", self.addr, self.db),
            (None, Some(_)) => write!(f, "redis://:***@{}/{}", self.addr, self.db),
            (Some(u), None) => write!(f, "redis://{u}@{}/{}", self.addr, self.db),
            (None, None) => write!(f, "redis://{}/{}", self.addr, self.db),
        }
    }
}

impl fmt::Debug for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_credentials_and_db() {
        let u = UpstreamUrl::parse("redis://127.0.0.1:6380").expect("valid");
        assert_eq!(
            (u.addr.as_str(), u.user, u.password, u.db),
            ("127.0.0.1:6380", None, None, 0)
        );
        let u = UpstreamUrl::parse("redis://app:s%40cret@cache.internal:6379/3").expect("valid");
        assert_eq!(u.addr, "cache.internal:6379");
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.db, 3);
        assert_eq!(u.to_string(), "redis://app:***@cache.internal:6379/3");
        let u = UpstreamUrl::parse("redis://:pw@h:1/").expect("valid");
        assert_eq!((u.user, u.password.as_deref()), (None, Some("pw")));
        assert_eq!(
            UpstreamUrl::parse("redis://h").expect("valid").addr,
            "h:6379"
        );
        assert_eq!(
            UpstreamUrl::parse("redis://[::1]:7000")
                .expect("valid")
                .addr,
            "[::1]:7000"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for bad in [
            "http://h:1",
            "redis://",
            "redis://h:x",
            "redis://h:1/x",
            "rediss://h:1",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
        let e = UpstreamUrl::parse("redis://u:secret@h:1/x").expect_err("bad db");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
