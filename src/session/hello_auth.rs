//! AUTH, HELLO, SELECT and RESET: who the client is and how it is spoken
//! to. Each parses its arguments into a struct, then applies it to the
//! [`Session`]; the errors are Redis'.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::client::check_name;
use super::Session;
use crate::admin::REDIS_VERSION_FOR_HELLO;
use crate::commands::int_arg;
use crate::protocol::ProtocolVersion;

/// `AUTH [username] password`.
pub struct Auth<'a> {
    user: Option<&'a [u8]>,
    pass: &'a Bytes,
}

impl<'a> Auth<'a> {
    pub fn parse(a: &'a [Bytes]) -> Result<Auth<'a>, Reply> {
        match a.len() {
            2 => Ok(Auth {
                user: None,
                pass: &a[1],
            }),
            3 => Ok(Auth {
                user: Some(a[1].as_ref()),
                pass: &a[2],
            }),
            _ => Err(errors::SYNTAX),
        }
    }

    /// `command` is the name as typed (ACL LOG's object for a failure).
    pub fn apply(self, session: &mut Session, command: &[u8]) -> Reply {
        match session.authenticate(self.user, self.pass, command) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        }
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub struct Hello {
    version: Option<ProtocolVersion>,
    credentials: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

impl Hello {
    pub fn parse(a: &[Bytes]) -> Result<Hello, Reply> {
        let mut version = None;
        if let Some(v) = a.get(1) {
            match int_arg(v) {
                Ok(2) => version = Some(ProtocolVersion::Resp2),
                Ok(3) => version = Some(ProtocolVersion::Resp3),
                Ok(_) => return Err(Reply::static_error("NOPROTO unsupported protocol version")),
                Err(_) => {
                    return Err(Reply::static_error(
                        "ERR Protocol version is not an integer or out of range",
                    ))
                }
            }
        }
        let mut i = 2;
        let mut name = None;
        let mut credentials = None;
        while i < a.len() {
            let more = a.len() - i - 1;
            if a[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
                credentials = Some((a[i + 1].clone(), a[i + 2].clone()));
                i += 3;
            } else if a[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
                name = Some(a[i + 1].clone());
                i += 2;
            } else {
                return Err(Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&a[i])
                )));
            }
        }
        Ok(Hello {
            version,
            credentials,
            name,
        })
    }

    pub fn apply(self, session: &mut Session, command: &[u8]) -> Reply {
        if let Some((user, pass)) = &self.credentials {
            if let Err(e) = session.authenticate(Some(user), pass, command) {
                return e;
            }
        }
        if !session.authenticated() && session.state.credentials.required() {
            return Reply::static_error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = self.name {
            if let Err(e) = check_name(&name, "Client names") {
                return e;
            }
            session
                .entry
                .info
                .set_name((!name.is_empty()).then_some(name));
        }
        if let Some(v) = self.version {
            session.set_version(v);
        }
        let proto = if session.version() == ProtocolVersion::Resp3 {
            3
        } else {
            2
        };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(REDIS_VERSION_FOR_HELLO)),
            (Reply::bulk("proto"), Reply::Integer(proto)),
            (Reply::bulk("id"), Reply::Integer(session.entry.id() as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk("master")),
            (Reply::bulk("modules"), Reply::Array(Vec::new())),
        ])
    }
}

/// `SELECT index`.
pub struct Select(i64);

impl Select {
    pub fn parse(a: &[Bytes]) -> Result<Select, Reply> {
        int_arg(&a[1]).map(Select)
    }

    pub fn apply(self, session: &mut Session) -> Reply {
        let n = self.0;
        if n >= 0 && n < session.state.config.databases as i64 {
            session.set_db(n as u32);
            Reply::ok()
        } else {
            errors::DB_INDEX
        }
    }
}

impl Session {
    /// Check the credentials and, when right, run as that user.
    fn authenticate(
        &mut self,
        user: Option<&[u8]>,
        pass: &[u8],
        command: &[u8],
    ) -> Result<(), Reply> {
        let context = if self.in_multi() {
            redynamo_layers::acl::Context::Multi
        } else {
            redynamo_layers::acl::Context::Toplevel
        };
        let user =
            self.state
                .credentials
                .authenticate(user, pass, command, &self.entry.info, context)?;
        self.set_user(user);
        self.set_authenticated(true);
        Ok(())
    }

    /// RESET's part after MULTI and WATCH are gone (the connection sends
    /// the UNWATCH first, [`Session::unwatch`]): back to db 0, RESP2, no
    /// name, the default user, and not authenticated if it needs a password.
    pub fn reset(&mut self) -> Reply {
        self.leave_pubsub();
        self.tracking_off();
        self.set_db(0);
        self.set_version(ProtocolVersion::Resp2);
        self.entry.info.set_name(None);
        let required = self.state.credentials.required();
        self.set_authenticated(!required);
        let default = self.state.credentials.default_user().clone();
        self.set_user(default);
        Reply::status("RESET")
    }
}
