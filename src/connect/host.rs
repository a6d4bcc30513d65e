//! `HostConn`: how to reach one host — its connection settings, its current knock, the earlier
//! knocks it may still expect (rotation), its jump host's knock — and the ways a run opens a
//! session with it (first session, proof, after a rollback). The knock-and-retry loop itself
//! is `dial`'s; this file decides which knocks a connection may use.

use super::dial::{self, Knocks, SshDialer, Warn};
use super::target::preconnect_profile;
use crate::knock::rotation::{self, Fallback};
use crate::knock::{self, KnockProfile};
use crate::transport::spec::{ConnOverrides, ConnSpec};
use crate::transport::{Transport, TransportError};
use crate::vars::Vars;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How to reach one host: its connection settings and (maybe) its knock.
#[derive(Clone)]
pub struct HostConn {
    pub spec: ConnSpec,
    pub knock: Option<KnockProfile>,
    /// The knock of the jump host this host is reached through, when that jump host is an
    /// inventory host with knock settings (a hardened bastion): sent before each connection.
    pub jump_knock: Option<(KnockProfile, IpAddr)>,
    /// Earlier knocks the host may still expect (`knock_previous_sequences`, then the state
    /// file's entry), tried in order only when `knock` does not open it.
    pub fallbacks: Vec<Fallback>,
    /// Which knock opened the first session: 0 the current one, `i + 1` `fallbacks[i]`.
    pub(super) opened_with: Arc<AtomicUsize>,
    /// `knock_state: absent`: the host should end up reachable without a knock, so the
    /// current "knock" is none and the host's knock settings are earlier knocks.
    pub absent: bool,
}

impl HostConn {
    /// A host's connection and knock, its secrets (every form of its sequences, its passwords)
    /// added to the run's masker first, so no message about it shows them.
    pub fn from_vars(host: &str, vars: &Vars, o: &ConnOverrides) -> crate::Result<HostConn> {
        crate::vars::mask::register(crate::playbook::exec::secret_words(vars));
        let spec =
            ConnSpec::from_vars(host, vars, o).map_err(|e| crate::Error::Usage(e.to_string()))?;
        let vars = knock::profile::with_session_port(vars, spec.port);
        let absent = knock::removal::wanted(host, &vars) == Ok(knock::removal::KnockState::Absent);
        let profile = preconnect_profile(host, &vars);
        let mut fallbacks = Vec::new();
        if spec.proxy.is_none() {
            // Earlier knocks are built on the host's profile; with no valid one (settings
            // dropped along with sesame) on a stand-in that is never knocked itself.
            let base = profile.clone().or_else(|| {
                let mut v = vars.clone().into_owned();
                v.insert("knock_sequence".into(), serde_json::json!([1, 2]));
                preconnect_profile(host, &v)
            });
            if let (true, Some(p)) = (absent, &profile) {
                fallbacks.push(Fallback {
                    label: rotation::current_label(p).to_string(),
                    profile: p.clone(),
                });
            }
            if let Some(base) = &base {
                fallbacks.extend(earlier_knocks(host, &vars, base, profile.as_ref(), &spec));
            }
        }
        // Every knock this host may be sent (current and earlier ones) is a secret of the run.
        for p in profile.iter().chain(fallbacks.iter().map(|f| &f.profile)) {
            crate::vars::mask::register(p.knock_ports.iter().map(|k| k.port.to_string()));
        }
        Ok(HostConn {
            spec,
            knock: if absent { None } else { profile },
            jump_knock: None,
            fallbacks,
            opened_with: Arc::new(AtomicUsize::new(0)),
            absent,
        })
    }

    /// Open a session; knock first when asked and the host has a profile, with its CURRENT
    /// knock only (as a proof must). A knocked port that stays silent is knocked again
    /// (`knock_retries` times): a knock is a few unacknowledged packets, and losing one of
    /// them must not fail a run. Every attempt but the last waits only `KNOCK_ANSWER_WAIT` for
    /// the TCP connect, since an opened port answers at once.
    pub fn connect(
        &self,
        knock_first: bool,
        warn: Warn<'_>,
    ) -> Result<Box<dyn Transport>, TransportError> {
        let knocks = if knock_first {
            Knocks::Current
        } else {
            Knocks::None
        };
        dial::connect_with(self, &SshDialer::new(&self.spec), knocks, warn)
    }

    /// The first session of a run: the current knock, then (only if it does not open the
    /// host) each earlier knock in turn, each with the usual retries. Remembers which one
    /// opened the host, for `reconnect_as_before`.
    pub fn connect_first(&self, warn: Warn<'_>) -> Result<Box<dyn Transport>, TransportError> {
        dial::connect_with(self, &SshDialer::new(&self.spec), Knocks::Any, warn)
    }

    /// A new session the way the first one got in: after a rollback the host has its old
    /// rules again, which the knock that opened the first session still opens.
    pub fn reconnect_as_before(
        &self,
        warn: Warn<'_>,
    ) -> Result<Box<dyn Transport>, TransportError> {
        dial::connect_with(self, &SshDialer::new(&self.spec), Knocks::AsBefore, warn)
    }

    /// Whether the first session needed an earlier knock (the host has rules from before).
    pub fn opened_with_earlier_knock(&self) -> Option<&str> {
        let i = self.opened_with.load(Ordering::SeqCst);
        (i > 0).then(|| self.fallbacks.get(i - 1).map(|f| f.label.as_str()))?
    }

    /// The same host, knocked with `profile` only (no earlier knocks): proving one door.
    pub fn with_knock(&self, profile: KnockProfile) -> HostConn {
        HostConn {
            knock: Some(profile),
            fallbacks: Vec::new(),
            opened_with: Arc::new(AtomicUsize::new(0)),
            absent: false,
            ..self.clone()
        }
    }

    /// Keep the state file in step with a transaction on this host: once its rules are
    /// persisted, record the knock they open to (or forget the host sesame took itself off).
    /// Returns a warning when the file cannot be written (the host itself is fine).
    pub fn note_knock_event(&self, e: &crate::runner::Event) -> Option<String> {
        use crate::runner::{Event, KnockStage};
        let Event::Knock {
            stage: KnockStage::Persisted,
            ok: true,
            ..
        } = e
        else {
            return None;
        };
        let key = knock::state_file::HostKey::for_spec(&self.spec);
        let done = if self.absent {
            // sesame took itself off: nothing of it is left to knock.
            knock::state_file::forget(&key)
        } else {
            let all = rotation::PastKnock::all_of(self.knock.as_ref()?);
            knock::state_file::record(&key, &self.spec.name, &all)
        };
        done.err().map(|err| {
            format!("{err}: the next rotation from this controller needs knock_previous_sequences")
        })
    }
}

/// The earlier knocks of a host, in the order they are tried: `knock_previous_sequences`,
/// then what the state file says sesame left there; knocks equal to the current one or to an
/// earlier candidate are left out. Invalid `knock_previous_sequences` are skipped here (the
/// play's validation reports them).
fn earlier_knocks(
    host: &str,
    vars: &Vars,
    base: &KnockProfile,
    current: Option<&KnockProfile>,
    spec: &ConnSpec,
) -> Vec<Fallback> {
    let mut out: Vec<Fallback> = Vec::new();
    let mut push = |label: String, p: KnockProfile| {
        let dup = current.is_some_and(|c| rotation::PastKnock::same_knock(&p, c))
            || out
                .iter()
                .any(|f| rotation::PastKnock::same_knock(&f.profile, &p));
        if !dup {
            out.push(Fallback { label, profile: p });
        }
    };
    for (i, past) in rotation::previous(host, vars)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        push(
            format!("{}[{i}]", rotation::PREVIOUS_VAR),
            past.profile(base),
        );
    }
    if let Some(entry) = knock::state_file::lookup(&knock::state_file::HostKey::for_spec(spec)) {
        for past in &entry.knocks {
            push(entry.label(), past.profile(base));
        }
    }
    out
}
