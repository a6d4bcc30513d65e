//! What several subcommands share: finding the inventory, turning a host's variables into a
//! connection (knocking first when the host has a knock profile), and the magic variables.

use crate::inventory::Inventory;
use crate::knock::rotation::{self, Fallback};
use crate::knock::{self, KnockMode, KnockProfile, NetFacts};
use crate::transport::spec::{ConnOverrides, ConnSpec};
use crate::transport::ssh::SshTransport;
use crate::transport::{Transport, TransportError};
use crate::vars::Vars;
use serde_json::json;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Inventory sources: `-i` values, else `inventory` of ansible.cfg or `$ANSIBLE_INVENTORY`
/// (comma-separated), else `/etc/ansible/hosts`.
pub fn inventory_sources(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let configured = crate::config::installed().paths(crate::config::INVENTORY);
    if !configured.is_empty() {
        return configured;
    }
    vec![PathBuf::from("/etc/ansible/hosts")]
}

/// `-f`: the flag, else `forks` of ansible.cfg / `$ANSIBLE_FORKS`, else 20.
pub fn forks(flag: Option<usize>) -> crate::Result<usize> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match crate::config::installed().number(crate::config::FORKS)? {
        None => Ok(crate::runner::pool::DEFAULT_FORKS),
        Some(n) if (1..=1000).contains(&n) => Ok(n as usize),
        Some(n) => Err(crate::Error::Usage(format!(
            "forks = {n} in the configuration: expected 1 to 1000"
        ))),
    }
}

/// `-b` and `--become-user` with `become`/`become_user` of ansible.cfg (or `$ANSIBLE_BECOME*`)
/// under them.
pub fn become_defaults(flag: bool, user: Option<String>) -> crate::Result<(bool, Option<String>)> {
    let cfg = crate::config::installed();
    let on = flag || cfg.boolean(crate::config::BECOME)?.unwrap_or(false);
    let user = user.or_else(|| cfg.string(crate::config::BECOME_USER));
    Ok((on, user))
}

/// `-K`, or `become_ask_pass` of ansible.cfg.
pub fn ask_become(flag: bool) -> crate::Result<bool> {
    Ok(flag
        || crate::config::installed()
            .boolean(crate::config::BECOME_ASK_PASS)?
            .unwrap_or(false))
}

/// Load the inventory named on the command line.
pub fn load_inventory(given: &[PathBuf]) -> crate::Result<Inventory> {
    Ok(Inventory::load(&inventory_sources(given))?)
}

/// Hosts of `pattern`, narrowed by `--limit`.
pub fn select(inv: &Inventory, pattern: &str, limit: Option<&str>) -> crate::Result<Vec<String>> {
    let hosts = inv
        .select(pattern)
        .map_err(|e| crate::Error::Usage(e.to_string()))?;
    match limit {
        None => Ok(hosts),
        Some(l) => {
            let keep = inv
                .select(l)
                .map_err(|e| crate::Error::Usage(e.to_string()))?;
            Ok(hosts.into_iter().filter(|h| keep.contains(h)).collect())
        }
    }
}

/// A host's variables plus Ansible's magic variables and the `-e` extra vars (which win),
/// `!vault` values decrypted (after `-e`, so a value given there needs no vault password).
pub fn host_vars(inv: &Inventory, host: &str, extra: &Vars) -> crate::Result<Vars> {
    let mut v = inv.host_vars(host);
    crate::vars::merge_into(&mut v, extra);
    v.insert("inventory_hostname".into(), json!(host));
    v.insert(
        "inventory_hostname_short".into(),
        json!(host.split('.').next().unwrap_or(host)),
    );
    v.insert("group_names".into(), json!(inv.group_names(host)));
    crate::vault::decrypt_vars(&mut v).map_err(|(variable, source)| crate::Error::VaultVar {
        host: host.to_string(),
        variable,
        source,
    })?;
    Ok(v)
}

/// The knock profile sesame knocks with before connecting (none when the host has no
/// `knock_sequence` or its settings are invalid: then it connects without knocking and the
/// play's validation reports the problem).
pub fn preconnect_profile(host: &str, vars: &Vars) -> Option<KnockProfile> {
    let single = vars.get("knock_mode").and_then(|m| m.as_str()) == Some("single_port");
    if !single && vars.get("knock_doors").is_none_or(|d| d.is_null()) {
        vars.get("knock_sequence")?;
    }
    let facts = NetFacts {
        default_interface: Some("unknown0".into()),
        has_ipv6: false,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    };
    knock::doors::profile_from_vars(host, vars, &facts).ok()
}

/// Send a host's knock (sequence, or single-port hits) to `addr`.
pub fn send_knock(profile: &KnockProfile, addr: IpAddr) -> Result<(), knock::KnockError> {
    match profile.mode {
        KnockMode::SinglePort => match profile.protected_ports.first() {
            Some(p) => knock::client::send_single_port(
                None,
                addr,
                *p,
                profile.prior_hits,
                knock::client::single_port_spacing(
                    profile.prior_hits,
                    profile.hit_min_seconds,
                    profile.hit_max_seconds,
                ),
            ),
            None => Ok(()),
        },
        _ => {
            knock::client::send(addr, &profile.sequence, Duration::from_millis(50))?;
            if profile.mode == KnockMode::Knockd {
                // knockd runs its door command after seeing the last knock.
                std::thread::sleep(Duration::from_millis(150));
            }
            Ok(())
        }
    }
}

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
    opened_with: Arc<AtomicUsize>,
    /// `knock_state: absent`: the host should end up reachable without a knock, so the
    /// current "knock" is none and the host's knock settings are earlier knocks.
    pub absent: bool,
}

/// Which knocks a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Knocks {
    None,
    /// The current knock only (proofs: the new rules must open to it).
    Current,
    /// The current knock, then the earlier ones (the first session of a run).
    Any,
    /// The knock that opened the first session (the old rules, after a rollback).
    AsBefore,
}

/// The knocks of jump hosts that are inventory hosts with knock settings (hardened bastions),
/// found once per jump host: a fleet behind one bastion resolves it once, not once per host.
pub struct JumpKnocks<'a> {
    inv: &'a Inventory,
    extra: &'a Vars,
    overrides: &'a ConnOverrides,
    /// Inventory host by its `ansible_host`, built on first use.
    by_address: Option<std::collections::HashMap<String, String>>,
    found: std::collections::HashMap<String, Option<(KnockProfile, IpAddr)>>,
    /// Jump hosts whose knock could not be worked out, not yet warned about.
    unresolved: Vec<String>,
}

impl<'a> JumpKnocks<'a> {
    pub fn new(inv: &'a Inventory, extra: &'a Vars, overrides: &'a ConnOverrides) -> Self {
        JumpKnocks {
            inv,
            extra,
            overrides,
            by_address: None,
            found: std::collections::HashMap::new(),
            unresolved: Vec::new(),
        }
    }

    /// The knock to send before connecting with `spec`: that of the inventory host its
    /// `ProxyJump`'s last hop names (by inventory name or address), if it has one.
    pub fn for_spec(&mut self, spec: &ConnSpec) -> Option<(KnockProfile, IpAddr)> {
        let name = spec.proxy.as_ref()?.last_hop_host()?;
        if !self.found.contains_key(name) {
            // A bastion whose vars or settings are broken is connected through unknocked: if it
            // is knock-protected the hosts behind it time out, so say why (`warn_unresolved`).
            let knock = self.resolve(name).unwrap_or_else(|e| {
                self.unresolved.push(format!(
                    "jump host {name}: cannot work out its knock ({e}); hosts behind it are \
                     reached without knocking it and time out if it is knock-protected"
                ));
                None
            });
            self.found.insert(name.to_string(), knock);
        }
        let knock = self.found.get(name)?.clone();
        if knock.is_some() {
            tracing::debug!(host = %spec.name, jump = %name, "the jump host is knocked before each connection");
        }
        knock
    }

    /// Send one warning per jump host `for_spec` could not resolve since the last call.
    pub fn warn_unresolved(&mut self, events: &crate::runner::EventSender) {
        for msg in self.unresolved.drain(..) {
            events.send(crate::runner::Event::Warning { host: None, msg });
        }
    }

    /// `Ok(None)`: not an inventory host, or one without a knock.
    fn resolve(&mut self, name: &str) -> Result<Option<(KnockProfile, IpAddr)>, String> {
        let jump = if self.inv.has_host(name) {
            name.to_string()
        } else {
            let inv = self.inv;
            let index = self.by_address.get_or_insert_with(|| {
                inv.select("all")
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|h| {
                        let addr = inv.host_vars(&h).get("ansible_host")?.as_str()?.to_string();
                        Some((addr, h))
                    })
                    .collect()
            });
            match index.get(name) {
                Some(h) => h.clone(),
                None => return Ok(None),
            }
        };
        let vars = host_vars(self.inv, &jump, self.extra).map_err(|e| e.to_string())?;
        let conn = HostConn::from_vars(&jump, &vars, self.overrides).map_err(|e| e.to_string())?;
        let Some(profile) = conn.knock else {
            return Ok(None);
        };
        let ip = crate::transport::spec::resolve_ip(&conn.spec.address, conn.spec.port)
            .ok_or_else(|| format!("cannot resolve its address `{}`", conn.spec.address))?;
        Ok(Some((profile, ip)))
    }
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
    pub fn connect(&self, knock_first: bool) -> Result<Box<dyn Transport>, TransportError> {
        self.connect_with(if knock_first {
            Knocks::Current
        } else {
            Knocks::None
        })
    }

    /// The first session of a run: the current knock, then (only if it does not open the
    /// host) each earlier knock in turn, each with the usual retries. Remembers which one
    /// opened the host, for `reconnect_as_before`.
    pub fn connect_first(&self) -> Result<Box<dyn Transport>, TransportError> {
        self.connect_with(Knocks::Any)
    }

    /// A new session the way the first one got in: after a rollback the host has its old
    /// rules again, which the knock that opened the first session still opens.
    pub fn reconnect_as_before(&self) -> Result<Box<dyn Transport>, TransportError> {
        self.connect_with(Knocks::AsBefore)
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
    /// persisted, record the knock they open to (or forget the host sesame took itself off). Returns a warning when the file cannot be
    /// written (the host itself is fine).
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

    fn connect_with(&self, knocks: Knocks) -> Result<Box<dyn Transport>, TransportError> {
        if let (Some((profile, ip)), true) = (&self.jump_knock, knocks != Knocks::None) {
            return self.connect_through_knocked_jump(profile, *ip);
        }
        // Through a proxy the knock would have to come from the jump host, which sesame does not
        // drive: such hosts allow their jump host (knock_allow_sources) and are not knocked.
        let knocking = knocks != Knocks::None
            && self.spec.proxy.is_none()
            && (self.knock.is_some() || !self.fallbacks.is_empty());
        let ip = match knocking {
            true => crate::transport::spec::resolve_ip(&self.spec.address, self.spec.port),
            false => None,
        };
        let Some(ip) = ip else {
            if knocking {
                tracing::warn!(host = %self.spec.name, address = %self.spec.address, "cannot resolve the address to knock; connecting without a knock");
            }
            return SshTransport::connect(&self.spec).map(|t| Box::new(t) as Box<dyn Transport>);
        };
        // 0: the current knock (none for a host sesame is taken off); then the earlier ones.
        let current_label = self
            .knock
            .as_ref()
            .map_or("a plain connection", rotation::current_label);
        let all: Vec<(&str, Option<&KnockProfile>)> =
            std::iter::once((current_label, self.knock.as_ref()))
                .chain(
                    self.fallbacks
                        .iter()
                        .map(|f| (f.label.as_str(), Some(&f.profile))),
                )
                .collect();
        let candidates: Vec<usize> = match knocks {
            Knocks::Any => (0..all.len()).collect(),
            Knocks::AsBefore => vec![self.opened_with.load(Ordering::SeqCst).min(all.len() - 1)],
            _ => vec![0],
        };
        let mut tried: Vec<&str> = Vec::new();
        let mut knocks_sent = 0;
        for (n, &i) in candidates.iter().enumerate() {
            let (label, profile) = all[i];
            let last = n + 1 == candidates.len();
            if n > 0 {
                tracing::warn!(host = %self.spec.name, "{} did not get in; trying {label}", tried.join(", "));
                let prev = all[candidates[n - 1]].1;
                let single = |p: Option<&KnockProfile>| {
                    p.filter(|p| p.mode == KnockMode::SinglePort)
                        .map_or(0, |p| p.hit_max_seconds)
                };
                let wait = single(prev).max(single(profile));
                if wait > 0 {
                    // The unanswered hits still count: let them leave both windows first.
                    std::thread::sleep(Duration::from_secs(u64::from(wait) + 1));
                }
            }
            match self.knock_and_connect(profile, ip, last) {
                Ok(t) => {
                    if knocks == Knocks::Any {
                        self.opened_with.store(i, Ordering::SeqCst);
                        if i > 0 && self.absent {
                            tracing::warn!(host = %self.spec.name, "opened with {label}: sesame's rules are still on the host");
                        } else if i > 0 {
                            tracing::warn!(host = %self.spec.name, "opened with {label}: the host still has rules from before {current_label}");
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
        unreachable_knock()
    }

    /// Knock with `profile` (none: just connect) and connect, knocking again `knock_retries`
    /// times while the port stays silent. `last`: this is the last knock to try, whose last
    /// attempt waits the whole connect timeout (the others give up after `KNOCK_ANSWER_WAIT`).
    fn knock_and_connect(
        &self,
        profile: Option<&KnockProfile>,
        ip: IpAddr,
        last: bool,
    ) -> Result<Box<dyn Transport>, TransportError> {
        let Some(profile) = profile else {
            let mut spec = self.spec.clone();
            if !last {
                spec.tcp_timeout = Some(KNOCK_ANSWER_WAIT);
            }
            return match SshTransport::connect(&spec) {
                Ok(t) => Ok(Box::new(t)),
                Err(TransportError::ConnectTimeout { addr, timeout }) if !last => {
                    Err(TransportError::KnockedButSilent {
                        addr,
                        timeout,
                        knocks: 0,
                        tried: String::new(),
                    })
                }
                Err(e) => Err(e),
            };
        };
        let attempts = 1 + self.spec.knock_retries;
        let mut knocks = 0;
        let mut attempt = 1;
        loop {
            // A failed knock is not fatal: the connection attempt says what happened.
            match send_knock(profile, ip) {
                Ok(()) => knocks += 1,
                Err(e) => tracing::warn!(host = %self.spec.name, "knock failed: {e}"),
            }
            let final_attempt = attempt == attempts;
            let result = if final_attempt && last {
                SshTransport::connect(&self.spec)
            } else {
                let mut quick = self.spec.clone();
                quick.tcp_timeout = Some(KNOCK_ANSWER_WAIT);
                SshTransport::connect(&quick)
            };
            match result {
                Ok(t) => return Ok(Box::new(t)),
                Err(TransportError::ConnectTimeout { .. }) if knocks > 0 && !final_attempt => {
                    attempt += 1;
                    tracing::warn!(
                        host = %self.spec.name,
                        "no answer {}s after knocking; knocking again ({attempt}/{attempts})",
                        KNOCK_ANSWER_WAIT.as_secs(),
                    );
                    if profile.mode == KnockMode::SinglePort {
                        // The unanswered hits still count: let them leave the window first.
                        std::thread::sleep(Duration::from_secs(
                            u64::from(profile.hit_max_seconds) + 1,
                        ));
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
}

/// The candidate list is never empty; should that change, say so instead of panicking.
fn unreachable_knock() -> Result<Box<dyn Transport>, TransportError> {
    Err(TransportError::Session {
        host: String::new(),
        message: "no knock to try (internal error)".into(),
    })
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

impl HostConn {
    /// Knock the (hardened) jump host, then connect through it; a proxy that cannot get
    /// through is given one more knock per `knock_retries`, as a direct connection is.
    fn connect_through_knocked_jump(
        &self,
        profile: &KnockProfile,
        ip: IpAddr,
    ) -> Result<Box<dyn Transport>, TransportError> {
        let attempts = 1 + self.spec.knock_retries;
        let mut attempt = 1;
        loop {
            if let Err(e) = send_knock(profile, ip) {
                tracing::warn!(host = %self.spec.name, "knock on the jump host failed: {e}");
            }
            match SshTransport::connect(&self.spec) {
                Ok(t) => return Ok(Box::new(t)),
                Err(TransportError::Proxy { .. } | TransportError::ConnectTimeout { .. })
                    if attempt < attempts =>
                {
                    attempt += 1;
                    tracing::warn!(
                        host = %self.spec.name,
                        "no way through the knocked jump host; knocking it again ({attempt}/{attempts})"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
}

use crate::knock::client::KNOCK_ANSWER_WAIT;

/// Ask for a secret on the terminal (not stdin), without echo; empty answers are refused.
pub fn prompt_secret(question: &str) -> crate::Result<String> {
    let answer = rpassword::prompt_password(question).map_err(|e| {
        crate::Error::Usage(format!(
            "cannot read `{}` from the terminal: {e}",
            question.trim_end_matches([':', ' '])
        ))
    })?;
    if answer.is_empty() {
        return Err(crate::Error::Usage(format!(
            "`{}`: nothing was typed",
            question.trim_end_matches([':', ' '])
        )));
    }
    crate::vars::mask::register([&answer]);
    Ok(answer)
}

/// The password for `-K`/`--ask-become-pass`, asked once before any host is touched.
pub fn ask_become_pass(ask: bool) -> crate::Result<Option<crate::vars::mask::Hidden>> {
    Ok(if ask {
        Some(crate::vars::mask::Hidden(prompt_secret(
            "BECOME password: ",
        )?))
    } else {
        None
    })
}

/// One warning per run naming the hosts whose unknown host keys are accepted unchecked
/// (`host_key_checking = False`, `StrictHostKeyChecking=no`), as Ansible's users are told once,
/// not once per host. `warned` is the run's flag: later calls only warn if it is still false.
pub fn warn_unchecked_host_keys<'a>(
    specs: impl IntoIterator<Item = &'a ConnSpec>,
    warned: &mut bool,
    events: &crate::runner::EventSender,
) {
    use crate::transport::spec::HostKeyPolicy;
    if *warned {
        return;
    }
    let names: Vec<&str> = specs
        .into_iter()
        .filter(|s| s.host_key_policy == HostKeyPolicy::No)
        .map(|s| s.name.as_str())
        .collect();
    if names.is_empty() {
        return;
    }
    *warned = true;
    let shown = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    let more = match names.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    events.send(crate::runner::Event::Warning {
        host: None,
        msg: format!(
            "host key checking is off (host_key_checking = False or StrictHostKeyChecking=no) \
             for {shown}{more}: an unknown host key is accepted without check, so whoever sits \
             on the path gets the session and the passwords sent over it; record the keys in \
             known_hosts and turn checking back on"
        ),
    });
}

/// Merge every `-e` argument, later ones winning.
pub fn extra_vars(args: &[String]) -> crate::Result<Vars> {
    let mut out = Vars::new();
    for a in args {
        crate::vars::merge_into(&mut out, &crate::vars::parse_extra_vars(a)?);
    }
    Ok(out)
}

/// Connection flags shared by the commands that log in to hosts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// Connect as this user (unless the inventory sets `ansible_user`).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Private key file.
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<PathBuf>,
    /// SSH connect timeout in seconds.
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// known_hosts file to check host keys against (repeatable).
    #[arg(long = "known-hosts")]
    pub known_hosts: Vec<PathBuf>,
    /// Host key policy: yes | accept-new | no (like StrictHostKeyChecking).
    #[arg(long = "ssh-strict")]
    pub ssh_strict: Option<String>,
    /// Ask for the SSH login password on the terminal (hosts without `ansible_password`).
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Neither read nor write the knock state file (what sesame applied on each host, tried
    /// after the current knock; see the README's "Day two").
    #[arg(long = "no-state")]
    pub no_state: bool,
}

/// ansible.cfg's connection settings (`remote_user`, `private_key_file`, `timeout`,
/// `host_key_checking`, `ssh_common_args`, `ssh_extra_args`, and their `ANSIBLE_*` variables)
/// over the environment's: what `sesame knock` and `sesame ssh`, which have no connection
/// flags, use, so they reach a host as `play` and `run` do. Never prompts.
pub fn cfg_overrides() -> crate::Result<ConnOverrides> {
    ConnArgs::default().settings()
}

impl ConnArgs {
    /// The flags on top of ansible.cfg (and its `ANSIBLE_*` variables) and the environment's
    /// secrets (`ConnOverrides::from_env`).
    pub fn overrides(&self) -> crate::Result<ConnOverrides> {
        // Process-wide, set here once on the main thread before any host is worked on.
        knock::state_file::configure(!self.no_state);
        let mut o = self.settings()?;
        let ask_pass = crate::config::installed().boolean(crate::config::ASK_PASS)?;
        if self.ask_pass || ask_pass.unwrap_or(false) {
            o.password = Some(prompt_secret("SSH password: ")?);
        }
        Ok(o)
    }

    /// The flags on top of ansible.cfg and the environment, without side effects (no state
    /// file switch, no password prompt).
    fn settings(&self) -> crate::Result<ConnOverrides> {
        use crate::config::{self as cfg_keys, installed};
        let cfg = installed();
        let mut o = ConnOverrides::from_env();
        o.user = self
            .user
            .clone()
            .or_else(|| cfg.string(cfg_keys::REMOTE_USER));
        o.private_key = self
            .private_key
            .clone()
            .or_else(|| cfg.paths(cfg_keys::PRIVATE_KEY_FILE).into_iter().next());
        o.timeout = match self.timeout {
            Some(t) => Some(Duration::from_secs(t)),
            None => cfg.number(cfg_keys::TIMEOUT)?.map(Duration::from_secs),
        };
        o.known_hosts = self.known_hosts.clone();
        o.host_key_checking = cfg.boolean(cfg_keys::HOST_KEY_CHECKING)?;
        o.ssh_common_args = cfg.string(cfg_keys::SSH_COMMON_ARGS);
        o.ssh_extra_args = cfg.string(cfg_keys::SSH_EXTRA_ARGS);
        o.ssh_strict = match &self.ssh_strict {
            None => None,
            Some(s) => Some(
                crate::transport::spec::HostKeyPolicy::parse(s).ok_or_else(|| {
                    crate::Error::Usage(format!("--ssh-strict: `{s}` is not yes, accept-new or no"))
                })?,
            ),
        };
        Ok(o)
    }
}
