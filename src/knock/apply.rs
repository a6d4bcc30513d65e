//! The safe firewall transaction on one host: validate the rendered files on the host, back up
//! what will change, arm a dead-man switch that restores the backup by itself, load, prove the
//! new rules from the controller with a fresh knocked connection, and only then disarm and keep
//! them. A failed proof rolls back at once over the still-open session. Never prints.

use super::profile::{KnockMode, KnockProfile};
use super::render::RenderedFiles;
use super::send::Which;
use crate::facts::state::{FIREWALL_HASH_SH, FIREWALL_RECORD};
use crate::runner::{Event, KnockStage};
use crate::transport::{Cmd, Connector, RoundTrip, Transport, TransportError};
use base64::Engine as _;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

/// Where backups live on the host; the newest `BACKUPS_KEPT` transactions are kept.
pub const BACKUP_DIR: &str = "/var/backups/sesame";
pub const BACKUPS_KEPT: usize = 10;

/// The transaction's shell scripts, kept as files so they read (and `sh -n` check) as shell.
/// `lib.sh` is prepended to each; `rollback.sh` is written on the host by `stage.sh`.
pub(super) const LIB: &str = include_str!("scripts/lib.sh");
const STAGE: &str = include_str!("scripts/stage.sh");
const ROLLBACK: &str = include_str!("scripts/rollback.sh");
const FINALIZE: &str = include_str!("scripts/finalize.sh");
const ROLLBACK_NOW: &str = include_str!("scripts/rollback_now.sh");

/// `body` with `lib.sh` in front and the placeholders filled in, for backups under `root`.
fn script_in(body: &str, root: &str) -> String {
    let mut s = String::with_capacity(LIB.len() + body.len() + ROLLBACK.len());
    s.push_str(LIB);
    s.push_str(body);
    s.replace("@ROLLBACK@", ROLLBACK.trim_end())
        .replace("@BACKUP@", root)
        .replace("@KEEP@", &BACKUPS_KEPT.to_string())
        .replace("@RECORD@", FIREWALL_RECORD)
        .replace("@FWHASH@", FIREWALL_HASH_SH)
        .replace("@OWN@", super::own::OWN_SH)
}

fn script(body: &str) -> String {
    script_in(body, BACKUP_DIR)
}

/// The scripts as sent, built once per process: every host's command borrows them (at -f 100,
/// a copy per running host was a few MB of the controller's peak memory).
static STAGE_SH: LazyLock<String> = LazyLock::new(|| script(STAGE));
static FINALIZE_SH: LazyLock<String> = LazyLock::new(|| script(FINALIZE));
static ROLLBACK_NOW_SH: LazyLock<String> = LazyLock::new(|| script(ROLLBACK_NOW));

/// The result of one transaction.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `None` when the new rules were proven and kept; the reason otherwise.
    pub failure: Option<String>,
    pub rolled_back: bool,
    pub backup: Option<String>,
    /// Whether IPv6 rules were loaded (decided on the host at load time); `None` when the
    /// transaction stopped before deciding.
    pub ipv6: Option<bool>,
}

/// Everything the transaction needs besides the session.
pub struct Transaction<'a> {
    pub host: &'a str,
    pub addr: IpAddr,
    pub ssh_port: u16,
    pub profile: &'a KnockProfile,
    pub files: &'a RenderedFiles,
    pub systemd: bool,
    /// Where the proof is made from.
    pub vantage: Vantage,
    pub events: Option<&'a (dyn Fn(Event) + Sync)>,
}

/// Where the controller stands when it proves a host's knocking.
#[derive(Debug, Clone, Default)]
pub struct Vantage {
    /// The controller's address as the host sees it (to tell whether it is allow-listed).
    pub controller_ip: Option<IpAddr>,
    /// The proxy (`ProxyJump=...`) the host is reached through: then the host sees the jump
    /// host, not the controller, and the knock cannot be proven from here.
    pub proxy: Option<String>,
    /// The host's other addresses (its global IPv6 ones): the protected port must be silent
    /// on each of them too, where the controller can reach them.
    pub other_addrs: Vec<IpAddr>,
    /// The round trip to the host measured on the session in use (how long the closed-before
    /// probe must wait for an answer); None: the longest wait.
    pub round_trip: Option<RoundTrip>,
}

/// A transaction id as `stage.sh` makes them (mktemp under the backups root), checked before
/// it goes back into a command: it comes from the host's output.
fn transaction_id(backup: &str) -> Option<String> {
    let id = backup.strip_prefix(BACKUP_DIR)?.strip_prefix('/')?;
    let ok = !id.is_empty()
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| id.to_string())
}

/// Sends a knock event about `host` to `events`, if there is a receiver.
pub(super) fn knock_event(
    events: Option<&(dyn Fn(Event) + Sync)>,
    host: &str,
    stage: KnockStage,
    ok: bool,
    detail: impl Into<String>,
) {
    if let Some(e) = events {
        e(Event::Knock {
            host: host.to_string(),
            stage,
            ok,
            detail: detail.into(),
        });
    }
}

impl Transaction<'_> {
    fn event(&self, stage: KnockStage, ok: bool, detail: impl Into<String>) {
        knock_event(self.events, self.host, stage, ok, detail);
    }

    /// The STAGE command: the files travel base64-encoded on stdin, which is secret (the
    /// files name the knock ports).
    fn stage_cmd(&self) -> Cmd {
        let knockd = self.profile.mode == KnockMode::Knockd;
        let nft = self.profile.backend == super::profile::Backend::Nftables;
        let mut cmd = Cmd::sh_static(STAGE_SH.as_str())
            .arg("sesame-stage")
            .arg(self.profile.rollback_seconds.to_string())
            .arg(if knockd { "1" } else { "0" })
            .arg(if self.systemd { "systemd" } else { "sysv" })
            .arg(&self.profile.names.door_chain)
            .arg(if knockd || nft { "0" } else { "1" })
            .arg(self.profile.backend.as_str());
        let mut stdin = String::new();
        for (path, f) in self.files {
            cmd = cmd.arg(path.clone()).arg(format!("{:04o}", f.mode));
            stdin.push_str(&base64::engine::general_purpose::STANDARD.encode(f.content.as_bytes()));
            stdin.push('\n');
        }
        cmd.secret_stdin(stdin).timeout(Duration::from_secs(180))
    }

    /// Report STAGE's progress lines; fills in the backup and the IPv6 decision.
    fn read_stage(&self, text: &str, outcome: &mut Outcome) {
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("STAGE") {
                continue;
            }
            match w.next() {
                Some("ipv6") => outcome.ipv6 = Some(matches!(w.next(), Some("1" | "inet"))),
                Some("validated") => self.event(
                    KnockStage::Validated,
                    true,
                    "rules and knockd.conf pass their checks on the host",
                ),
                Some("backed_up") => {
                    outcome.backup = w.next().map(str::to_string);
                    self.event(
                        KnockStage::BackedUp,
                        true,
                        outcome.backup.clone().unwrap_or_default(),
                    )
                }
                Some("armed") => self.event(
                    KnockStage::Armed,
                    true,
                    format!(
                        "rollback in {}s unless disarmed",
                        self.profile.rollback_seconds
                    ),
                ),
                Some("loaded") => self.event(
                    KnockStage::Loaded,
                    true,
                    match outcome.ipv6 {
                        _ if self.profile.backend == super::Backend::Nftables => {
                            "new table live (table inet sesame: IPv4 and IPv6)"
                        }
                        Some(true) => "new rules live (IPv4 and IPv6)",
                        _ => "new rules live (IPv4; no IPv6 on this host)",
                    },
                ),
                _ => {}
            }
        }
    }

    /// Run the whole transaction over `conn` (the session in use), proving with `connect`.
    pub fn run(
        &self,
        conn: &mut dyn Transport,
        connect: Option<&Connector<'_>>,
        escalate: Option<crate::transport::Become>,
    ) -> Result<Outcome, TransportError> {
        let out = conn.exec(&self.stage_cmd().escalate(escalate.clone()))?;
        let text = out.stdout_str();
        let mut outcome = Outcome::default();
        self.read_stage(&text, &mut outcome);
        if !out.ok() {
            let err = out.stderr_str().trim().to_string();
            let rolled = text.contains("STAGE armed");
            if rolled {
                self.event(
                    KnockStage::RolledBack,
                    true,
                    "load failed; old rules restored",
                );
            }
            outcome.rolled_back = rolled;
            outcome.failure = Some(if rolled {
                format!(
                    "firewall transaction stopped (exit {}), old rules restored: {err}",
                    out.status
                )
            } else {
                format!(
                    "firewall transaction refused before loading anything (exit {}): {err}",
                    out.status
                )
            });
            return Ok(outcome);
        }
        let Some(id) = outcome.backup.as_deref().and_then(transaction_id) else {
            outcome.failure = Some(format!(
                "the host did not name its transaction (STAGE said {:?}); the dead-man switch \
                 will restore the old rules within {}s",
                text.trim(),
                self.profile.rollback_seconds
            ));
            return Ok(outcome);
        };
        let vantage = Vantage {
            round_trip: conn.round_trip(),
            ..self.vantage.clone()
        };
        // Prove from the controller with a new knocked connection; its one exec is FINALIZE:
        // the command running at all over that session is the last proof step, and the same
        // exec disarms. Every other proof step (closed before, the close sequence) came first.
        match self.prove_session(&vantage, connect) {
            Ok(mut proof) => {
                let fin = self.finalize_cmd(&id, escalate.clone());
                // Unless the host disarmed or already rolled back, restore the old rules at
                // once over the first session (the switch still fires if that fails too).
                let undecided = match proof.exec(&fin) {
                    Ok(out) => self.read_finalize(&out, &mut outcome),
                    Err(e) => Some(format!("the knocked session could not run the disarm: {e}")),
                };
                if let Some(why) = undecided {
                    self.roll_back_now(conn, connect, &id, &why, escalate, &mut outcome);
                }
            }
            Err(why) => self.roll_back_now(conn, connect, &id, &why, escalate, &mut outcome),
        }
        Ok(outcome)
    }

    /// The FINALIZE command for transaction `id`.
    fn finalize_cmd(&self, id: &str, escalate: Option<crate::transport::Become>) -> Cmd {
        Cmd::sh_static(FINALIZE_SH.as_str())
            .arg("sesame-finalize")
            .arg(id)
            .arg(&self.profile.names.door_chain)
            .escalate(escalate)
            .timeout(Duration::from_secs(180))
    }

    /// What FINALIZE said: disarmed and kept, unless the switch already won (then the host runs
    /// its old rules and the run says so).
    /// Returns why the transaction is still undecided (armed, not disarmed), if it is.
    fn read_finalize(
        &self,
        out: &crate::transport::Output,
        outcome: &mut Outcome,
    ) -> Option<String> {
        let text = out.stdout_str();
        let said = |step: &str| text.lines().find_map(|l| l.strip_prefix(step));
        if let Some(why) = said("STAGE rolled_back") {
            let why = why.trim();
            let why = if why.is_empty() || why == "switch" {
                format!(
                    "the dead-man switch fired after knock_rollback_seconds ({}s) while the \
                     proof was still running",
                    self.profile.rollback_seconds
                )
            } else {
                why.to_string()
            };
            self.event(
                KnockStage::RolledBack,
                true,
                format!("the old rules were restored before the proof ended: {why}"),
            );
            outcome.rolled_back = true;
            outcome.failure = Some(format!(
                "the proof passed too late: the host already rolled back to its old rules ({why}); \
                 raise knock_rollback_seconds"
            ));
            return None;
        }
        let disarmed = said("STAGE disarmed").is_some();
        if disarmed {
            self.event(KnockStage::Disarmed, true, "rollback disarmed");
        }
        if out.ok() && said("STAGE persisted").is_some() {
            self.event(KnockStage::Persisted, true, "rules kept at boot");
            return None;
        }
        let err = out.stderr_str().trim().to_string();
        if disarmed {
            outcome.failure = Some(format!(
                "the new rules are proven and live but were not kept: {err}"
            ));
            return None;
        }
        Some(format!("could not disarm (exit {}): {err}", out.status))
    }

    /// The proof failed: roll back over the still-open session, then check a new session works.
    fn roll_back_now(
        &self,
        conn: &mut dyn Transport,
        connect: Option<&Connector<'_>>,
        id: &str,
        why: &str,
        escalate: Option<crate::transport::Become>,
        outcome: &mut Outcome,
    ) {
        let rb = Cmd::sh_static(ROLLBACK_NOW_SH.as_str())
            .arg("sesame-rollback")
            .arg(id)
            .arg(format!("the proof failed: {why}"))
            .escalate(escalate)
            .timeout(Duration::from_secs(180));
        let res = conn.exec(&rb);
        if matches!(&res, Ok(o) if o.ok() && o.stdout_str().contains("STAGE disarmed_before")) {
            // FINALIZE ran on the host and disarmed before its session broke: the new rules
            // are live and nothing was rolled back. Whether they are kept at boot is unknown.
            self.event(
                KnockStage::RolledBack,
                false,
                "nothing rolled back: the host had already disarmed".to_string(),
            );
            outcome.rolled_back = false;
            outcome.failure = Some(format!(
                "{why}; the host had already disarmed, so the new rules stay live, but whether \
                 they are kept at boot is not known: run sesame again to check and converge"
            ));
            return;
        }
        let ok = matches!(&res, Ok(o) if o.ok() && o.stdout_str().contains("STAGE rolled_back"));
        self.event(
            KnockStage::RolledBack,
            ok,
            if ok {
                "old rules restored over the open session".to_string()
            } else {
                format!(
                    "the dead-man switch will restore the host within {}s",
                    self.profile.rollback_seconds
                )
            },
        );
        outcome.rolled_back = ok;
        outcome.failure = Some(if ok {
            format!("proof failed, rolled back: {why}")
        } else {
            format!(
                "proof failed: {why}; the immediate rollback failed too, the dead-man switch \
                 restores the host within {}s",
                self.profile.rollback_seconds
            )
        });
        // Check the host answers again on the old rules.
        if ok {
            if let Some(c) = connect {
                if let Err(e) = c(false).and_then(|mut t| t.exec(&Cmd::new("true")).map(|_| ())) {
                    outcome.failure = Some(format!(
                        "proof failed, rolled back, but a new session still fails: {e}"
                    ));
                }
            }
        }
    }

    /// The controller's view up to the last step: closed before knocking, a new knocked
    /// session authenticated, closed again after the close sequence. Returns that session,
    /// whose one exec (FINALIZE) completes the proof.
    fn prove_session(
        &self,
        vantage: &Vantage,
        connect: Option<&Connector<'_>>,
    ) -> Result<Box<dyn Transport>, String> {
        Proof {
            host: self.host,
            addr: self.addr,
            ssh_port: self.ssh_port,
            profile: self.profile,
            vantage,
            events: self.events,
        }
        .session(connect)
    }
}

/// The proof's longest probe wait for one address (`prove`): a silent port is called closed
/// after it. With no measured round trip it is the wait; it outlasts the kernel's first SYN
/// retransmission (1 s), so one lost SYN or SYN-ACK cannot make an open port look closed.
const PROBE_WAIT: Duration = Duration::from_millis(1500);
/// The shortest: with a measured round trip the wait is four times (RTT + 4 x its variation),
/// never less than this, and three connects start a fifth of the wait apart (`answers_within`).
const PROBE_WAIT_MIN: Duration = Duration::from_millis(500);
/// Allowances, measured generously on the lab's 2-core machine: from `STAGE armed` to the
/// proof's start (install, load, knockd's start until it listens, the round trip back), the
/// proof's `true` over the new session, and FINALIZE reaching the host's lock.
const LOAD_ALLOWANCE: Duration = Duration::from_secs(5);
const EXEC_ALLOWANCE: Duration = Duration::from_secs(2);
/// The SSH handshake and authentication once TCP is connected (each libssh2 step may wait up
/// to the connection timeout, but a host that answered the connect answers these in
/// milliseconds; a slower one makes FINALIZE report the rollback instead).
const HANDSHAKE_ALLOWANCE: Duration = Duration::from_secs(3);
const FINALIZE_ALLOWANCE: Duration = Duration::from_secs(2);

/// The longest a successful proof keeps the switch waiting, from `STAGE armed` until FINALIZE
/// takes the host lock, following `prove` and the connector (`HostConn::connect`) step by
/// step: the closed-before probe, single_port's pause for that probe's hit to expire, each
/// knock attempt (`KnockProfile::send`: the sequence's gaps and knockd's settling, or
/// single_port's spaced hits), the short wait for
/// an answer before knocking again (plus single_port's pause), the last attempt's TCP connect
/// (up to the connection timeout) and SSH handshake, knockd's close sequence and its check. Not counted: the wait for a door our own knock left open, since the session's own
/// connection uses that door up.
pub fn worst_case_proof(
    profile: &KnockProfile,
    connect_timeout: Duration,
    knock_retries: u32,
) -> Duration {
    let attempts = 1 + knock_retries;
    let single = profile.mode == KnockMode::SinglePort;
    let hit_pause = Duration::from_secs(u64::from(profile.hit_max_seconds) + 1);
    let knock = if single {
        super::client::single_port_spacing(
            profile.prior_hits,
            profile.hit_min_seconds,
            profile.hit_max_seconds,
        ) * profile.prior_hits
    } else {
        // `KnockProfile::send`'s gaps, and knockd's time to open the door.
        sending(profile, Which::Open)
    };
    let mut t = LOAD_ALLOWANCE + PROBE_WAIT + knock * attempts;
    t += super::client::KNOCK_ANSWER_WAIT * knock_retries;
    if single {
        t += hit_pause * attempts;
    }
    t += connect_timeout + HANDSHAKE_ALLOWANCE + EXEC_ALLOWANCE;
    if profile.mode == KnockMode::Knockd && !profile.close_sequence.is_empty() {
        t += sending(profile, Which::Close) + CLOSE_WAIT + PROBE_WAIT;
    }
    t + FINALIZE_ALLOWANCE
}

/// How long `KnockProfile::send` takes for this knock (nothing to send: nothing).
fn sending(profile: &KnockProfile, which: Which) -> Duration {
    profile
        .schedule(which)
        .map(|s| s.duration())
        .unwrap_or_default()
}

/// After the close sequence (and knockd's settling, part of `send`), the wait before checking
/// that the port is shut again.
const CLOSE_WAIT: Duration = Duration::from_millis(350);

fn port_answers(addr: IpAddr, port: u16, t: Duration) -> bool {
    TcpStream::connect_timeout(&SocketAddr::new(addr, port), t).is_ok()
}

/// How long the proof waits for a port to answer before calling it silent: a port that lets
/// the controller in answers a SYN within one round trip, so four round trips (with their
/// variation) are plenty; at least `PROBE_WAIT_MIN`, at most `PROBE_WAIT` (also when the
/// round trip is unknown). single_port always waits the longest: its single probe is a hit.
fn probe_wait(profile: &KnockProfile, rtt: Option<RoundTrip>) -> Duration {
    match rtt {
        Some(r) if profile.mode != KnockMode::SinglePort => {
            ((r.smoothed + r.variation * 4) * 4).clamp(PROBE_WAIT_MIN, PROBE_WAIT)
        }
        _ => PROBE_WAIT,
    }
}

/// Whether `addr:port` answers a TCP connect within `wait`. A wait shorter than the kernel's
/// first SYN retransmission (1 s) would let one lost SYN or SYN-ACK pass an open port as
/// silent: then three connects start `wait / 5` apart (each its own SYN) and any answer counts.
fn answers_within(addr: IpAddr, port: u16, wait: Duration) -> bool {
    if wait >= Duration::from_secs(1) {
        return port_answers(addr, port, wait);
    }
    let step = wait / 5;
    std::thread::scope(|s| {
        let probes: Vec<_> = (0..3u32)
            .map(|i| {
                s.spawn(move || {
                    std::thread::sleep(step * i);
                    port_answers(addr, port, wait - step * i)
                })
            })
            .collect();
        // A probe that could not report counts as an answer: never call a port closed unproven.
        probes.into_iter().any(|p| p.join().unwrap_or(true))
    })
}

/// A door opened by a recent knock (ours, at connect time) stays open for the open window:
/// wait that long for the port to go silent before calling it unprotected.
fn closes_within(addr: IpAddr, port: u16, profile: &KnockProfile) -> bool {
    let start = std::time::Instant::now();
    let window = Duration::from_secs(u64::from(profile.open_seconds) + 2);
    for at in probe_times(window) {
        std::thread::sleep(at.saturating_sub(start.elapsed()));
        if !port_answers(addr, port, Duration::from_millis(1000)) {
            return true;
        }
    }
    false
}

/// When to probe an open door while waiting for it to close: 1 s, then three times as far out
/// each time, the last at the end of the window. Every probe that reaches sshd is a connection
/// without authentication, which OpenSSH 9.8+ (Debian 13) counts against the source
/// (PerSourcePenalties noauth:1, refused from 15 s on): a probe every half second locked the
/// controller out of a host it had just opened, and the knocked proof then failed. Nine probes
/// at most for the longest window.
fn probe_times(window: Duration) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut at = Duration::from_secs(1);
    while at < window {
        times.push(at);
        at = at * 3 + Duration::from_secs(1);
    }
    times.push(window);
    times
}

/// The protected port must be silent on every other address of the host the controller can
/// reach (its IPv6 ones: a host hardened on IPv4 only stays open over IPv6). Addresses are
/// probed at once, so the proof takes no longer with more of them. An address the controller
/// has no route to proves nothing either way and is left out; one whose source address from
/// here is allow-listed is left out too. Returns the first address that answers.
fn silent_elsewhere(
    others: &[IpAddr],
    main: IpAddr,
    port: u16,
    profile: &KnockProfile,
    wait: Duration,
) -> Result<(), IpAddr> {
    let probes: Vec<IpAddr> = others
        .iter()
        .copied()
        .filter(|a| *a != main && !a.is_loopback() && !a.is_unspecified())
        .filter(|a| !allow_listed(profile, source_towards(*a)))
        .collect();
    let answering: Vec<IpAddr> = std::thread::scope(|s| {
        let handles: Vec<_> = probes
            .iter()
            .map(|a| {
                let a = *a;
                s.spawn(move || {
                    (answers_within(a, port, wait) && !closes_within(a, port, profile)).then_some(a)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    match answering.first() {
        Some(a) => Err(*a),
        None => Ok(()),
    }
}

/// The controller's own address for packets to `dest` (what the host would see), if routable.
fn source_towards(dest: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match dest {
        IpAddr::V4(_) => "0.0.0.0:0".parse().ok()?,
        IpAddr::V6(_) => "[::]:0".parse().ok()?,
    };
    let sock = std::net::UdpSocket::bind(bind).ok()?;
    sock.connect(SocketAddr::new(dest, 9)).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

fn allow_listed(profile: &KnockProfile, ip: Option<IpAddr>) -> bool {
    super::cidr::allow_listed(
        profile
            .allow_sources_v4
            .iter()
            .chain(&profile.allow_sources_v6),
        ip,
    )
}

/// One host's proof from this controller: where the host is, its knock settings, where the
/// controller stands, and where the proof's events go.
#[derive(Clone, Copy)]
pub struct Proof<'a> {
    pub host: &'a str,
    pub addr: IpAddr,
    pub ssh_port: u16,
    pub profile: &'a KnockProfile,
    pub vantage: &'a Vantage,
    pub events: Option<&'a (dyn Fn(Event) + Sync)>,
}

impl Proof<'_> {
    fn event(&self, stage: KnockStage, ok: bool, detail: String) {
        knock_event(self.events, self.host, stage, ok, detail);
    }

    /// Prove the host's knocking, read-only (`sesame verify`): every step of `session`, then
    /// the knocked session must run a command.
    pub fn prove(&self, connect: Option<&Connector<'_>>) -> Result<(), String> {
        let mut session = self.session(connect)?;
        match session.exec(&Cmd::new("true")) {
            Ok(o) if o.ok() => Ok(()),
            Ok(o) => Err(format!(
                "the knocked session could not run a command (exit {})",
                o.status
            )),
            Err(e) => Err(format!("the knocked session could not run a command: {e}")),
        }
    }

    /// The proof up to its last step: closed before, a new knocked session authenticated,
    /// closed again after the close sequence (the session, already established, stays up).
    /// The caller runs one command over the returned session: that it runs is the last step.
    pub fn session(&self, connect: Option<&Connector<'_>>) -> Result<Box<dyn Transport>, String> {
        let Proof {
            addr,
            ssh_port,
            profile,
            vantage,
            ..
        } = *self;
        let probe_t = probe_wait(profile, vantage.round_trip);
        if let Some(proxy) = &vantage.proxy {
            return self.through_proxy(proxy, connect);
        }
        // The other addresses are probed while the main one is: the proof takes no longer.
        let (main_answers, elsewhere) = std::thread::scope(|s| {
            let others = s
                .spawn(|| silent_elsewhere(&vantage.other_addrs, addr, ssh_port, profile, probe_t));
            let main = !allow_listed(profile, vantage.controller_ip)
                && answers_within(addr, ssh_port, probe_t)
                && !closes_within(addr, ssh_port, profile);
            (main, others.join().unwrap_or(Ok(())))
        });
        if allow_listed(profile, vantage.controller_ip) {
            self.event(
                KnockStage::NotProvenClosed,
                true,
                "the controller is in knock_allow_sources: closed-before not proven".into(),
            );
        } else if main_answers {
            self.event(
                KnockStage::ClosedBefore,
                false,
                format!("port {ssh_port} answers without a knock"),
            );
            let hint = if profile.backend == super::Backend::Iptables {
                " (a rule of the host's own before sesame's chain may accept it: \
see `iptables -S INPUT`)"
            } else {
                ""
            };
            return Err(format!(
                "port {ssh_port} answers before knocking: the rules do not protect it{hint}"
            ));
        } else {
            self.event(
                KnockStage::ClosedBefore,
                true,
                format!(
                    "port {ssh_port} silent before the knock (no answer within {} ms)",
                    probe_t.as_millis()
                ),
            );
        }
        if let Err(open) = elsewhere {
            self.event(
                KnockStage::ClosedBefore,
                false,
                format!("port {ssh_port} answers on {open} without a knock"),
            );
            return Err(format!(
                "port {ssh_port} answers on {open} before knocking: the rules do not protect that address"
            ));
        }
        if profile.mode == KnockMode::SinglePort {
            // The closed-before probe counted as a hit: let it expire before knocking.
            std::thread::sleep(Duration::from_secs(u64::from(profile.hit_max_seconds) + 1));
        }
        let Some(connect) = connect else {
            return Err("no way to open a new session to prove the rules".into());
        };
        // `connect(true)` knocks exactly as every later run will, then opens a full SSH session
        // (handshake and authentication).
        let session = match connect(true) {
            Ok(t) => {
                self.event(
                    KnockStage::Opened,
                    true,
                    "new SSH session after knocking".into(),
                );
                t
            }
            Err(e) => {
                self.event(KnockStage::Opened, false, e.to_string());
                return Err(format!("no new SSH session after knocking: {e}"));
            }
        };
        if profile.mode == KnockMode::Knockd && !profile.close_sequence.is_empty() {
            profile
                .send(None, addr, Which::Close)
                .map_err(|e| e.to_string())?;
            std::thread::sleep(CLOSE_WAIT);
            let closed = !answers_within(addr, ssh_port, probe_t);
            self.event(
                KnockStage::ClosedAfter,
                closed,
                if closed {
                    "closed again by the close sequence".into()
                } else {
                    "still open after the close sequence".into()
                },
            );
            if !closed {
                return Err("the close sequence does not close the port".into());
            }
        }
        Ok(session)
    }

    /// A host reached through a jump host: the packets that matter come from the jump host, so
    /// the controller cannot show the port closed or the knock opening it. What it can and must
    /// show is that a NEW session over the same path works with the new rules (else the caller
    /// rolls back): sesame can never lose the way in it used. The knock itself is reported not
    /// proven.
    fn through_proxy(
        &self,
        proxy: &str,
        connect: Option<&Connector<'_>>,
    ) -> Result<Box<dyn Transport>, String> {
        self.event(
            KnockStage::NotProvenClosed,
            true,
            format!(
                "reached through a proxy ({proxy}): closed-before and the knock itself are not \
                 proven from here; run `sesame verify` from a machine that reaches the host \
                 directly"
            ),
        );
        let Some(connect) = connect else {
            return Err("no way to open a new session to prove the rules".into());
        };
        match connect(true) {
            Ok(t) => {
                self.event(
                    KnockStage::ProxySession,
                    true,
                    format!("{proxy}, with the new rules"),
                );
                Ok(t)
            }
            Err(e) => {
                self.event(KnockStage::ProxySession, false, e.to_string());
                Err(format!(
                    "no new SSH session through the proxy ({proxy}) with the new rules: {e}. \
                     A host reached through a jump host must let the jump host in without \
                     knocking: put its address in knock_allow_sources"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_open_door_is_probed_a_few_times_not_every_half_second() {
        let secs = |w: u64| -> Vec<u64> {
            super::probe_times(Duration::from_secs(w))
                .iter()
                .map(Duration::as_secs)
                .collect()
        };
        assert_eq!(secs(32), [1, 4, 13, 32]);
        assert_eq!(secs(1), [1]);
        let long = secs(3602);
        assert!(long.len() <= 9 && long.last() == Some(&3602), "{long:?}");
    }

    use super::*;
    use std::path::Path;
    use std::process::{Command, Output, Stdio};

    fn knock_profile(mode: &str) -> KnockProfile {
        let facts = crate::knock::NetFacts {
            default_interface: Some("eth0".into()),
            ..Default::default()
        };
        let vars =
            serde_json::json!({"knock_mode": mode, "knock_sequence": [7000, 8000, 7000, 9000]});
        KnockProfile::from_vars("h1", vars.as_object().unwrap(), &facts).unwrap()
    }

    fn rtt(ms: u64, var_ms: u64) -> Option<RoundTrip> {
        Some(RoundTrip {
            smoothed: Duration::from_millis(ms),
            variation: Duration::from_millis(var_ms),
        })
    }

    #[test]
    fn the_closed_before_wait_follows_the_measured_round_trip_within_its_bounds() {
        let knockd = knock_profile("knockd");
        let ms = |r| probe_wait(&knockd, r).as_millis();
        // Unknown round trip: the longest wait, which outlasts one SYN retransmission.
        assert_eq!(ms(None), 1500);
        // A LAN or the lab: the shortest wait.
        assert_eq!(ms(rtt(0, 0)), 500);
        assert_eq!(ms(rtt(30, 5)), 500);
        // Four round trips with their variation.
        assert_eq!(ms(rtt(150, 20)), 920);
        // A slow path: never longer than the longest wait.
        assert_eq!(ms(rtt(600, 50)), 1500);
        // single_port: the probe is a hit, one probe only, the longest wait.
        let single = KnockProfile {
            mode: KnockMode::SinglePort,
            ..knockd.clone()
        };
        assert_eq!(probe_wait(&single, rtt(0, 0)).as_millis(), 1500);
    }

    #[test]
    fn a_listening_port_answers_a_short_probe_and_a_refusing_one_does_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let t = std::time::Instant::now();
        assert!(answers_within(lo, port, PROBE_WAIT_MIN));
        drop(l);
        assert!(!answers_within(lo, port, PROBE_WAIT_MIN));
        assert!(!answers_within(lo, port, PROBE_WAIT));
        // A refused connect ends at once; only silence waits.
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "{:?}",
            t.elapsed()
        );
    }

    /// Run one of the transaction scripts locally with its backups under `root`. Only paths
    /// that stop before touching the firewall are exercised here (the lab runs the rest).
    fn run_script(body: &str, root: &Path, args: &[&str]) -> Output {
        Command::new("sh")
            .arg("-c")
            .arg(script_in(body, root.to_str().unwrap()))
            .arg("sesame-test")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn text(o: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    /// A transaction directory as STAGE leaves it once armed (sysvinit flavour).
    fn armed_transaction(root: &Path, id: &str, deadline: u64) -> std::path::PathBuf {
        let b = root.join(id);
        std::fs::create_dir_all(b.join("new")).unwrap();
        std::fs::write(b.join("armed"), format!("sleeper {id} {deadline}\n")).unwrap();
        std::fs::write(b.join("knockd.state"), "inactive disabled sysv 0 0\n").unwrap();
        std::fs::write(b.join("rollback.sh"), ROLLBACK).unwrap();
        std::fs::write(b.join("undecided"), "").unwrap();
        b
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn transaction_scripts_parse_as_shell() {
        for (name, body) in [
            ("stage", STAGE),
            ("finalize", FINALIZE),
            ("rollback_now", ROLLBACK_NOW),
            ("rollback", ROLLBACK),
        ] {
            let out = Command::new("sh")
                .args(["-n", "-c", &script(body)])
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: {}", text(&out));
        }
        // rollback.sh goes into a quoted here-document: it must not end it early, and it must
        // end with the line STAGE checks to know the file was written whole.
        assert!(!ROLLBACK.lines().any(|l| l == "RB"));
        assert_eq!(
            ROLLBACK.trim_end().lines().last(),
            Some("# end of rollback.sh")
        );
        assert!(script(STAGE).contains("# end of rollback.sh\nRB\n"));
    }

    /// Issue 11 item 2: the switch fired (rollback.sh wrote `rolled-back`) while the proof
    /// ran. FINALIZE must say so and change nothing; the old script only looked for `armed`,
    /// which the rollback never removed, and reported the transaction disarmed.
    #[test]
    fn finalize_after_the_switch_fired_reports_the_rollback_and_disarms_nothing() {
        let root = tempfile::tempdir().unwrap();
        let b = armed_transaction(root.path(), "20260101T000000Z-abc123", now() + 60);
        std::fs::write(b.join("rolled-back"), "1700000000 switch\n").unwrap();
        let out = run_script(
            FINALIZE,
            root.path(),
            &["20260101T000000Z-abc123", "SESAME-DOOR"],
        );
        assert_eq!(out.status.code(), Some(70), "{}", text(&out));
        assert!(
            text(&out).contains("STAGE rolled_back switch"),
            "{}",
            text(&out)
        );
        assert!(!text(&out).contains("STAGE disarmed"));
        assert!(!b.join("disarmed").exists());
    }

    /// The rollback holds the host lock while it restores; FINALIZE waits for it, then sees it
    /// won. Without the lock FINALIZE would disarm in the middle of a restore.
    #[test]
    fn finalize_waits_for_a_rollback_in_progress_under_the_host_lock() {
        let root = tempfile::tempdir().unwrap();
        let b = armed_transaction(root.path(), "20260101T000000Z-lock01", now() + 60);
        let lock = root.path().join(".lock");
        let mut rollback = Command::new("flock")
            .arg(&lock)
            .args([
                "sh",
                "-c",
                "sleep 1.5; echo \"$(date +%s) switch\" > \"$0/rolled-back\"",
            ])
            .arg(&b)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let out = run_script(
            FINALIZE,
            root.path(),
            &["20260101T000000Z-lock01", "SESAME-DOOR"],
        );
        rollback.wait().unwrap();
        assert_eq!(out.status.code(), Some(70), "{}", text(&out));
        assert!(!b.join("disarmed").exists());
    }

    /// Once disarmed, a switch firing late (its timer could not be stopped in time) does
    /// nothing: rollback.sh checks `disarmed` under the lock before touching anything.
    #[test]
    fn a_late_switch_after_the_disarm_restores_nothing() {
        let root = tempfile::tempdir().unwrap();
        let b = armed_transaction(root.path(), "20260101T000000Z-late01", now() + 60);
        std::fs::write(b.join("disarmed"), "").unwrap();
        let out = Command::new("sh")
            .arg(b.join("rollback.sh"))
            .arg("switch")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(!b.join("rolled-back").exists());
    }

    /// A FINALIZE whose session broke after it disarmed: the rollback over the first session
    /// rolls nothing back and says so (the run must not report a rollback that did not happen).
    #[test]
    fn rollback_now_after_the_disarm_rolls_nothing_back_and_says_so() {
        let root = tempfile::tempdir().unwrap();
        let id = "20260101T000000Z-fin001";
        let b = armed_transaction(root.path(), id, now() + 60);
        std::fs::rename(b.join("undecided"), b.join("disarmed")).unwrap();
        let out = run_script(ROLLBACK_NOW, root.path(), &[id, "the proof failed: broken"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("STAGE disarmed_before"),
            "{}",
            text(&out)
        );
        assert!(!text(&out).contains("STAGE rolled_back"), "{}", text(&out));
        assert!(!b.join("rolled-back").exists());
        // Neither decided: an error, not a success.
        let id2 = "20260101T000000Z-fin002";
        let b2 = armed_transaction(root.path(), id2, now() + 60);
        std::fs::remove_file(b2.join("undecided")).unwrap();
        std::fs::write(b2.join("rollback.sh"), "exit 0\n").unwrap();
        let out = run_script(ROLLBACK_NOW, root.path(), &[id2, "x"]);
        assert_eq!(out.status.code(), Some(71), "{}", text(&out));
    }

    /// Issue 11 item 8: one transaction at a time on a host. STAGE refuses while another
    /// transaction's switch is armed and undecided, and touches nothing.
    #[test]
    fn stage_refuses_while_another_transaction_is_in_flight() {
        let root = tempfile::tempdir().unwrap();
        armed_transaction(root.path(), "20260101T000000Z-other1", now() + 60);
        let out = run_script(
            STAGE,
            root.path(),
            &["60", "1", "sysv", "SESAME-DOOR", "0", "iptables"],
        );
        assert_eq!(out.status.code(), Some(59), "{}", text(&out));
        assert!(
            text(&out).contains("20260101T000000Z-other1"),
            "{}",
            text(&out)
        );
        let dirs = std::fs::read_dir(root.path()).unwrap().count();
        assert_eq!(dirs, 2, "only the other transaction and the lock file");
    }

    /// The sysvinit switch is stopped by its token: the sleeper goes, an unrelated process
    /// (whatever holds the PID a sleeper once had) stays.
    #[test]
    fn stop_switch_kills_the_sleeper_by_its_token_only() {
        let root = tempfile::tempdir().unwrap();
        let id = format!("20260101T000000Z-t{}", std::process::id());
        let b = armed_transaction(root.path(), &id, now() + 60);
        let mut sleeper = Command::new("sh")
            .args(["-c", "sleep 30; true", &format!("sesame-sleep-{id}")])
            .spawn()
            .unwrap();
        let mut bystander = Command::new("sleep").arg("30").spawn().unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}\nB='{}'; stop_switch",
                script_in("", "/nonexistent"),
                b.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while sleeper.try_wait().unwrap().is_none() && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            sleeper.try_wait().unwrap().is_some(),
            "the sleeper still runs"
        );
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "a bystander was killed"
        );
        bystander.kill().unwrap();
        let _ = bystander.wait();
    }

    /// Issue 11 item 10: the old sysvinit disarm killed the process group of the PID the
    /// sleeper had when armed. Once the sleeper is gone (the switch fired), that PID can belong
    /// to anything. Here, in a PID namespace of its own, the next process is given exactly the
    /// sleeper's old PID (ns_last_pid) and made a group leader; stopping the switch must leave
    /// it alone.
    #[test]
    fn stopping_the_sysvinit_switch_never_kills_a_process_that_reused_the_sleepers_pid() {
        let root = tempfile::tempdir().unwrap();
        let id = "20260101T000000Z-reuse1";
        let b = root.path().join(id);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("rollback.sh"), "exit 0\n").unwrap();
        let scenario = format!(
            r#"{lib}
B='{b}'; id='{id}'
arm_sleeper 0 0 || exit 10
pid=$!
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
echo $((pid - 1)) > /proc/sys/kernel/ns_last_pid || exit 11
setsid sleep 30 &
bystander=$!
[ "$bystander" = "$pid" ] || exit 12
sleep 0.2
stop_switch
sleep 0.2
kill -0 "$bystander" 2>/dev/null || {{ echo "the process holding the sleeper's old PID was killed"; exit 13; }}
kill "$bystander"
"#,
            lib = script_in("", root.path().to_str().unwrap()),
            b = b.display()
        );
        let out = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--mount-proc",
            ])
            .args(["sh", "-c", &scenario])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "exit {:?}: {}",
            out.status.code(),
            text(&out)
        );
    }

    #[test]
    fn transaction_ids_from_the_host_are_checked() {
        let ok = format!("{BACKUP_DIR}/20261202T063500Z-Ab3dEf");
        assert_eq!(
            transaction_id(&ok).as_deref(),
            Some("20261202T063500Z-Ab3dEf")
        );
        for bad in [
            format!("{BACKUP_DIR}/../etc"),
            format!("{BACKUP_DIR}/a b"),
            format!("{BACKUP_DIR}/"),
            format!("{BACKUP_DIR}/-rf"),
            "/tmp/x".to_string(),
            format!("{BACKUP_DIR}/x;reboot"),
        ] {
            assert_eq!(transaction_id(&bad), None, "{bad}");
        }
    }
}
