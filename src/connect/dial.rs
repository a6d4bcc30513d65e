//! Knock, then connect, with retries and fallbacks: a knocked port that stays silent is
//! knocked again (`sesame_knock_retries`), earlier knocks are tried in order when the current
//! one does not open the host (rotation), a hardened jump host is knocked before connecting
//! through it. Written against a `Dialer` ("open a session", "send this knock", "wait"), so
//! the whole loop is tested with a fake one; `SshDialer` is the real thing. Warnings go to the
//! caller's `Warn` sink (the reporter), never to `tracing` from a worker thread.

use super::host::HostConn;
use crate::knock::client::KNOCK_ANSWER_WAIT;
use crate::knock::rotation;
use crate::knock::{KnockError, KnockMode, KnockProfile, Which};
use crate::runner::{Event, EventSender};
use crate::transport::spec::ConnSpec;
use crate::transport::ssh::SshTransport;
use crate::transport::{Transport, TransportError};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Where a connection's warnings go (a silent port knocked again, an earlier knock used).
pub type Warn<'a> = &'a dyn Fn(String);

/// A `Warn` that sends each warning to the reporter as `[WARNING]: HOST: ...`.
pub fn warn_to<'a>(events: &'a EventSender, host: &'a str) -> impl Fn(String) + 'a {
    move |msg| {
        events.send(Event::Warning {
            host: Some(host.to_string()),
            msg,
        })
    }
}

/// What a connection needs from the world.
pub trait Dialer {
    type Session;
    /// Open a session. `quick`: give up on the TCP connect after `KNOCK_ANSWER_WAIT` (a port
    /// a knock opened answers at once); otherwise wait the host's whole connect timeout.
    fn open(&self, quick: bool) -> Result<Self::Session, TransportError>;
    /// Send `profile`'s knock to `ip`.
    fn knock(&self, profile: &KnockProfile, ip: IpAddr) -> Result<(), KnockError>;
    /// Wait: unanswered single_port hits must leave their window before the next knock.
    fn pause(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// SSH sessions to one host (`ConnSpec`), knocks through `KnockProfile::send`.
pub struct SshDialer<'a> {
    spec: &'a ConnSpec,
}

impl<'a> SshDialer<'a> {
    pub fn new(spec: &'a ConnSpec) -> Self {
        SshDialer { spec }
    }
}

impl Dialer for SshDialer<'_> {
    type Session = Box<dyn Transport>;
    fn open(&self, quick: bool) -> Result<Box<dyn Transport>, TransportError> {
        let t = if quick {
            let mut spec = self.spec.clone();
            spec.tcp_timeout = Some(KNOCK_ANSWER_WAIT);
            SshTransport::connect(&spec)?
        } else {
            SshTransport::connect(self.spec)?
        };
        Ok(Box::new(t))
    }
    fn knock(&self, profile: &KnockProfile, ip: IpAddr) -> Result<(), KnockError> {
        profile.send(None, ip, Which::Open)
    }
}

/// Which knocks a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Knocks {
    None,
    /// The current knock only (proofs: the new rules must open to it).
    Current,
    /// The current knock, then the earlier ones (the first session of a run).
    Any,
    /// The knock that opened the first session (the old rules, after a rollback).
    AsBefore,
}

/// Connect to `conn`'s host with the knocks `knocks` allows.
pub(super) fn connect_with<D: Dialer>(
    conn: &HostConn,
    d: &D,
    knocks: Knocks,
    warn: Warn<'_>,
) -> Result<D::Session, TransportError> {
    if let (Some((profile, ip)), true) = (&conn.jump_knock, knocks != Knocks::None) {
        return through_knocked_jump(conn, d, profile, *ip, warn);
    }
    // Through a proxy the knock would have to come from the jump host, which sesame does not
    // drive: such hosts allow their jump host (knock_allow_sources) and are not knocked.
    let knocking = knocks != Knocks::None
        && conn.spec.proxy.is_none()
        && (conn.knock.is_some() || !conn.fallbacks.is_empty());
    let ip = match knocking {
        true => crate::transport::spec::resolve_ip(&conn.spec.address, conn.spec.port),
        false => None,
    };
    let Some(ip) = ip else {
        if knocking {
            warn(format!(
                "cannot resolve the address `{}` to knock; connecting without a knock",
                conn.spec.address
            ));
        }
        return d.open(false);
    };
    // 0: the current knock (none for a host sesame is taken off); then the earlier ones.
    let current_label = conn
        .knock
        .as_ref()
        .map_or("a plain connection", rotation::current_label);
    let all: Vec<(&str, Option<&KnockProfile>)> =
        std::iter::once((current_label, conn.knock.as_ref()))
            .chain(
                conn.fallbacks
                    .iter()
                    .map(|f| (f.label.as_str(), Some(&f.profile))),
            )
            .collect();
    let candidates: Vec<usize> = match knocks {
        Knocks::Any => (0..all.len()).collect(),
        Knocks::AsBefore => vec![conn.opened_with.load(Ordering::SeqCst).min(all.len() - 1)],
        _ => vec![0],
    };
    let mut tried: Vec<&str> = Vec::new();
    let mut knocks_sent = 0;
    for (n, &i) in candidates.iter().enumerate() {
        let (label, profile) = all[i];
        let last = n + 1 == candidates.len();
        if n > 0 {
            warn(format!(
                "{} did not get in; trying {label}",
                tried.join(", ")
            ));
            let prev = all[candidates[n - 1]].1;
            let wait = single_port_window(prev).max(single_port_window(profile));
            if wait > 0 {
                // The unanswered hits still count: let them leave both windows first.
                d.pause(Duration::from_secs(u64::from(wait) + 1));
            }
        }
        match knock_and_connect(conn, d, profile, ip, last, warn) {
            Ok(t) => {
                if knocks == Knocks::Any {
                    conn.opened_with.store(i, Ordering::SeqCst);
                    if i > 0 && conn.absent {
                        warn(format!(
                            "opened with {label}: sesame's rules are still on the host"
                        ));
                    } else if i > 0 {
                        warn(format!(
                            "opened with {label}: the host still has rules from before {current_label}"
                        ));
                    }
                }
                return Ok(t);
            }
            Err(TransportError::KnockedButSilent {
                addr,
                timeout,
                knocks,
                ..
            }) => {
                knocks_sent += knocks;
                tried.push(label);
                if last {
                    return Err(TransportError::KnockedButSilent {
                        addr,
                        timeout,
                        knocks: knocks_sent,
                        tried: tried.join(", "),
                    });
                }
            }
            Err(e) => return Err(e),
        }
    }
    // The candidate list is never empty; should that change, say so instead of panicking.
    Err(TransportError::Session {
        host: conn.spec.name.clone(),
        message: "no knock to try (internal error)".into(),
    })
}

/// single_port's `hit_max_seconds` (0 for other modes or no knock).
fn single_port_window(p: Option<&KnockProfile>) -> u32 {
    p.filter(|p| p.mode == KnockMode::SinglePort)
        .map_or(0, |p| p.hit_max_seconds)
}

/// Knock with `profile` (none: just connect) and connect, knocking again `knock_retries`
/// times while the port stays silent. `last`: this is the last knock to try, whose last
/// attempt waits the whole connect timeout (the others give up after `KNOCK_ANSWER_WAIT`).
fn knock_and_connect<D: Dialer>(
    conn: &HostConn,
    d: &D,
    profile: Option<&KnockProfile>,
    ip: IpAddr,
    last: bool,
    warn: Warn<'_>,
) -> Result<D::Session, TransportError> {
    let Some(profile) = profile else {
        return match d.open(!last) {
            Err(TransportError::ConnectTimeout { addr, timeout }) if !last => {
                Err(TransportError::KnockedButSilent {
                    addr,
                    timeout,
                    knocks: 0,
                    tried: String::new(),
                })
            }
            other => other,
        };
    };
    let attempts = 1 + conn.spec.knock_retries;
    let mut knocks = 0;
    let mut attempt = 1;
    loop {
        // A failed knock is not fatal: the connection attempt says what happened.
        match d.knock(profile, ip) {
            Ok(()) => knocks += 1,
            Err(e) => warn(format!("knock failed: {e}")),
        }
        let final_attempt = attempt == attempts;
        match d.open(!(final_attempt && last)) {
            Ok(t) => return Ok(t),
            Err(TransportError::ConnectTimeout { .. }) if knocks > 0 && !final_attempt => {
                attempt += 1;
                warn(format!(
                    "no answer {}s after knocking; knocking again ({attempt}/{attempts})",
                    KNOCK_ANSWER_WAIT.as_secs(),
                ));
                if profile.mode == KnockMode::SinglePort {
                    // The unanswered hits still count: let them leave the window first.
                    d.pause(Duration::from_secs(u64::from(profile.hit_max_seconds) + 1));
                }
            }
            Err(TransportError::ConnectTimeout { addr, timeout }) if knocks > 0 => {
                return Err(TransportError::KnockedButSilent {
                    addr,
                    timeout,
                    knocks,
                    tried: String::new(),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// Knock the (hardened) jump host, then connect through it; a proxy that cannot get through
/// is given one more knock per `knock_retries`, as a direct connection is.
fn through_knocked_jump<D: Dialer>(
    conn: &HostConn,
    d: &D,
    profile: &KnockProfile,
    ip: IpAddr,
    warn: Warn<'_>,
) -> Result<D::Session, TransportError> {
    let attempts = 1 + conn.spec.knock_retries;
    let mut attempt = 1;
    loop {
        if let Err(e) = d.knock(profile, ip) {
            warn(format!("knock on the jump host failed: {e}"));
        }
        match d.open(false) {
            Ok(t) => return Ok(t),
            Err(TransportError::Proxy { .. } | TransportError::ConnectTimeout { .. })
                if attempt < attempts =>
            {
                attempt += 1;
                warn(format!(
                    "no way through the knocked jump host; knocking it again ({attempt}/{attempts})"
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
#[path = "dial_tests.rs"]
mod tests;
