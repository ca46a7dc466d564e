//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT
//! TRACKINGINFO: parsed and checked as Redis' `clientCommand` does, applied
//! to the server's [`crate::server::tracking::Tracking`]; and which reads
//! a tracking client has remembered ([`Session::track_read`]).

use bytes::Bytes;
use redynamo_layers::command::{CommandId, CommandSpec};
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::Session;
use crate::server::tracking::Options;

/// CLIENT CACHING's state for the next command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Caching {
    #[default]
    Unset,
    /// CLIENT CACHING yes/no was the previous command.
    Given,
}

impl Session {
    /// Run CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO.
    pub fn tracking_command(&mut self, spec: &CommandSpec, a: &[Bytes]) -> Reply {
        match spec.id {
            CommandId::ClientTracking => self.client_tracking(a),
            CommandId::ClientCaching => self.client_caching(a),
            CommandId::ClientGetredir => match self.tracking_options() {
                None => Reply::Integer(-1),
                Some((o, _)) => Reply::Integer(o.redirect as i64),
            },
            _ => self.tracking_info(),
        }
    }

    fn tracking_options(&self) -> Option<(Options, bool)> {
        if !self.tracking {
            return None;
        }
        self.state.tracking.options(self.entry.id())
    }

    fn client_tracking(&mut self, a: &[Bytes]) -> Reply {
        let on = if a[2].eq_ignore_ascii_case(b"on") {
            true
        } else if a[2].eq_ignore_ascii_case(b"off") {
            false
        } else {
            return errors::SYNTAX;
        };
        let mut o = Options::default();
        let mut j = 3;
        while j < a.len() {
            let more = j + 1 < a.len();
            let opt = a[j].to_ascii_lowercase();
            match opt.as_slice() {
                b"redirect" if more => {
                    j += 1;
                    if o.redirect != 0 {
                        return Reply::static_error(
                            "ERR A client can only redirect to a single other client",
                        );
                    }
                    let id = match crate::commands::int_arg(&a[j]) {
                        Ok(id) => id,
                        Err(e) => return e,
                    };
                    // Redis checks the client exists only for non-zero ids.
                    if id != 0 && self.state.clients.get(id as u64).is_none() {
                        return Reply::static_error(
                            "ERR The client ID you want redirect to does not exist",
                        );
                    }
                    o.redirect = id as u64;
                }
                b"bcast" => o.bcast = true,
                b"optin" => o.optin = true,
                b"optout" => o.optout = true,
                b"noloop" => o.noloop = true,
                b"prefix" if more => {
                    j += 1;
                    o.prefixes.push(a[j].clone());
                }
                _ => return errors::SYNTAX,
            }
            j += 1;
        }
        let id = self.entry.id();
        if !on {
            self.tracking_off();
            return Reply::ok();
        }
        if !o.bcast && !o.prefixes.is_empty() {
            return Reply::static_error("ERR PREFIX option requires BCAST mode to be enabled");
        }
        let current = self.tracking_options();
        if let Some((old, _)) = &current {
            if old.bcast != o.bcast {
                return Reply::static_error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
            }
        }
        if o.bcast && (o.optin || o.optout) {
            return Reply::static_error("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if o.optin && o.optout {
            return Reply::static_error("ERR You can't use both OPTIN and OPTOUT");
        }
        if let Some((old, _)) = &current {
            if (o.optin && old.optout) || (o.optout && old.optin) {
                return Reply::static_error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
            }
        }
        if o.bcast {
            let existing = current.map(|(old, _)| old.prefixes).unwrap_or_default();
            if let Err(e) = check_prefixes(&existing, &o.prefixes) {
                return e;
            }
        }
        self.state.tracking.enable(id, o);
        self.tracking = true;
        Reply::ok()
    }

    /// CLIENT TRACKING OFF, RESET and the end of the connection.
    pub(crate) fn tracking_off(&mut self) {
        if std::mem::take(&mut self.tracking) {
            self.state.tracking.disable(self.entry.id());
        }
        self.caching = Caching::Unset;
    }

    fn client_caching(&mut self, a: &[Bytes]) -> Reply {
        let Some((o, _)) = self.tracking_options() else {
            return Reply::static_error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        };
        if a[2].eq_ignore_ascii_case(b"yes") {
            if !o.optin {
                return Reply::static_error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
            }
        } else if a[2].eq_ignore_ascii_case(b"no") {
            if !o.optout {
                return Reply::static_error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
            }
        } else {
            return errors::SYNTAX;
        }
        self.caching = Caching::Given;
        Reply::ok()
    }

    fn tracking_info(&self) -> Reply {
        let current = self.tracking_options();
        let mut flags = Vec::new();
        let flag = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
        match &current {
            None => flags.push(flag("off")),
            Some((o, broken)) => {
                flags.push(flag("on"));
                if o.bcast {
                    flags.push(flag("bcast"));
                }
                let caching = self.caching == Caching::Given;
                if o.optin {
                    flags.push(flag("optin"));
                    if caching {
                        flags.push(flag("caching-yes"));
                    }
                }
                if o.optout {
                    flags.push(flag("optout"));
                    if caching {
                        flags.push(flag("caching-no"));
                    }
                }
                if o.noloop {
                    flags.push(flag("noloop"));
                }
                if *broken {
                    flags.push(flag("broken_redirect"));
                }
            }
        }
        let (redirect, prefixes) = match current {
            None => (-1, Vec::new()),
            Some((o, _)) => {
                // In byte order, as Redis' radix tree lists them.
                let mut prefixes = o.prefixes;
                prefixes.sort();
                (o.redirect as i64, prefixes)
            }
        };
        Reply::Map(vec![
            (flag("flags"), Reply::Set(flags)),
            (flag("redirect"), Reply::Integer(redirect)),
            (
                flag("prefixes"),
                Reply::Array(prefixes.into_iter().map(Reply::Bulk).collect()),
            ),
        ])
    }

    /// Before a command runs: a tracking client's read in default mode
    /// remembers its keys (module docs of `server::tracking`), honouring
    /// OPTIN/OPTOUT and CLIENT CACHING; and CLIENT CACHING lasts for one
    /// command (any but CLIENT's own subcommands, as in Redis).
    pub fn track_read(&mut self, spec: &CommandSpec, args: &[Bytes]) {
        if !self.tracking {
            return;
        }
        let caching = self.caching == Caching::Given;
        if !spec.name.starts_with("client") {
            self.caching = Caching::Unset;
        }
        if !spec.is_readonly() || spec.group == "pubsub" {
            return;
        }
        let Some((o, _)) = self.tracking_options() else {
            return;
        };
        if o.bcast || (o.optin && !caching) || (o.optout && caching) {
            return;
        }
        let keys = spec.key_indexes(args.len()).map(|i| &args[i][..]);
        self.state.tracking.remember(self.entry.id(), keys);
    }
}

/// Redis' `checkPrefixCollisionsOrReply`.
fn check_prefixes(existing: &[Bytes], new: &[Bytes]) -> Result<(), Reply> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    for (i, p) in new.iter().enumerate() {
        for e in existing {
            if overlap(e, p) {
                return Err(Reply::error(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(e)
                )));
            }
        }
        for q in &new[i + 1..] {
            if overlap(p, q) {
                return Err(Reply::error(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
    }
    Ok(())
}
