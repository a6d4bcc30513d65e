//! The safe firewall transaction on one host: validate the rendered files on the host, back up
//! what will change, arm a dead-man switch that restores the backup by itself, load, prove the
//! new rules from the controller with a fresh knocked connection, and only then disarm and keep
//! them. A failed proof rolls back at once over the still-open session. Never prints.

use super::profile::{KnockMode, KnockProfile};
use super::render::RenderedFiles;
use crate::facts::state::{FIREWALL_HASH_SH, FIREWALL_RECORD};
use crate::runner::{Event, KnockStage};
use crate::transport::{Cmd, Connector, Transport, TransportError};
use base64::Engine as _;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// Where backups live on the host; the newest `BACKUPS_KEPT` transactions are kept.
pub const BACKUP_DIR: &str = "/var/backups/sesame";
pub const BACKUPS_KEPT: usize = 10;

/// Stage, validate, back up, arm and load in one command.
/// `$1` id, `$2` rollback seconds, `$3` knockd (1/0), `$4` manager, `$5` ipv6 rules (1/0),
/// `$6` door chain, then (path, mode) pairs; stdin: one base64 line per file.
const STAGE: &str = r#"set -u
id=$1; T=$2; kd=$3; mgr=$4; v6=$5; v=$6; shift 6
B=@BACKUP@/$id; S=$B/new
# Debian's knockd init script has no `status`: ask the process table too.
kd_up() { service knockd status >/dev/null 2>&1 || pgrep -x knockd >/dev/null 2>&1; }
umask 077
mkdir -p "$S" "$B/old" || { echo "cannot create $B" >&2; exit 60; }
n=0
while [ $# -ge 2 ]; do
  n=$((n+1))
  IFS= read -r line || { echo "short input" >&2; exit 61; }
  printf '%s' "$line" | base64 -d > "$S/$n" || exit 61
  chmod "$2" "$S/$n"; printf '%s\n' "$1" > "$S/$n.path"; shift 2
done
for f in "$S"/*.path; do i=${f%.path}; read -r p < "$f"
  case "$p" in
  */rules.v4) iptables-restore --test < "$i" >/dev/null 2>"$B/err" || { echo "iptables-restore --test rejects $p:" >&2; cat "$B/err" >&2; exit 62; } ;;
  */rules.v6) if [ "$v6" = 1 ]; then ip6tables-restore --test < "$i" >/dev/null 2>"$B/err" || { echo "ip6tables-restore --test rejects $p:" >&2; cat "$B/err" >&2; exit 62; }; fi ;;
  */knockd.conf) out=$(knockd -D -c "$i" -i sesame-none0 2>&1 </dev/null); case "$out" in *usage:*|*"config file"*|*"error"*) echo "knockd rejects $p:" >&2; printf '%s\n' "$out" | head -n 5 >&2; exit 63 ;; esac ;;
  esac
done
echo "STAGE validated"
# Only sesame's own part of the firewall is saved, replaced and, on failure, put back: every
# other chain, rule, policy and table stays as its owners (fail2ban, Docker...) have it, even
# if they change it during the transaction (see knock/own.rs).
cat > "$B/own.sh" <<'OWN'
@OWN@
OWN
. "$B/own.sh"
mine() { grep -qs '^# managed by sesame' "$1" && echo "$1"; return 0; }
own_save iptables "$(mine /etc/iptables/rules.v4)" > "$B/own.v4" || exit 64
own_docker_state iptables > "$B/docker.v4"
if [ "$v6" = 1 ]; then
  own_save ip6tables "$(mine /etc/iptables/rules.v6)" > "$B/own.v6" || exit 64
  own_docker_state ip6tables > "$B/docker.v6"
fi
: > "$B/created"
for f in "$S"/*.path; do read -r p < "$f"
  if [ -e "$p" ]; then mkdir -p "$B/old${p%/*}/" && cp -p "$p" "$B/old$p" || exit 64
  else printf '%s\n' "$p" >> "$B/created"; fi
done
kw=inactive; ke=disabled
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then systemctl is-active --quiet knockd && kw=active; systemctl is-enabled --quiet knockd 2>/dev/null && ke=enabled
  else kd_up && kw=active; ls /etc/rc2.d/S??knockd >/dev/null 2>&1 && ke=enabled; fi
fi
echo "$kw $ke $mgr $kd $v6" > "$B/knockd.state"
cat > "$B/rollback.sh" <<'RB'
#!/bin/sh
# Written by sesame: puts back the firewall, files and knockd as they were before transaction $B.
B=$(dirname "$0")
read kw ke mgr kd v6 < "$B/knockd.state"
for f in "$B"/new/*.path; do read -r p < "$f"
  if [ -e "$B/old$p" ]; then cp -p "$B/old$p" "$p"; else rm -f "$p"; fi
done
. "$B/own.sh"
own_unload iptables; own_restore iptables "$B/own.v4"; own_docker_undo iptables "$B/docker.v4"
if [ "$v6" = 1 ] && [ -f "$B/own.v6" ]; then
  own_unload ip6tables; own_restore ip6tables "$B/own.v6"; own_docker_undo ip6tables "$B/docker.v6"
fi
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then
    systemctl daemon-reload
    [ "$ke" = enabled ] || systemctl disable knockd >/dev/null 2>&1
    if [ "$kw" = active ]; then systemctl restart knockd; else systemctl stop knockd; fi
  else
    [ "$ke" = enabled ] || update-rc.d knockd disable >/dev/null 2>&1
    if [ "$kw" = active ]; then service knockd restart; else service knockd stop; fi
  fi
fi >/dev/null 2>&1
date +%s > "$B/rolled-back"
RB
# The first transaction's backup is the host as it was before sesame (knock_state: absent
# puts that back): kept apart from the pruned ones.
[ -e @BACKUP@/first ] || cp -a "$B" @BACKUP@/first 2>/dev/null
ls -1d @BACKUP@/[0-9]* 2>/dev/null | sort | head -n -@KEEP@ | while IFS= read -r x; do rm -rf -- "$x"; done
echo "STAGE backed_up $B"
if [ "$mgr" = systemd ]; then
  systemd-run --quiet --unit="sesame-rollback-$id" --on-active="$T" --timer-property=AccuracySec=1s /bin/sh "$B/rollback.sh" || { echo "cannot arm the rollback timer" >&2; exit 65; }
  echo "timer sesame-rollback-$id" > "$B/armed"
else
  setsid sh -c "sleep $T; exec sh '$B/rollback.sh'" </dev/null >/dev/null 2>&1 &
  echo "pid $!" > "$B/armed"
fi
echo "STAGE armed $T"
fail() { echo "$1" >&2; sh "$B/rollback.sh"; @DISARM@; exit "$2"; }
for f in "$S"/*.path; do i=${f%.path}; read -r p < "$f"
  { [ -d "${p%/*}/" ] || mkdir -p "${p%/*}/"; } && cp -p "$i" "$p.sesame-new" && chown root:root "$p.sesame-new" && mv -f "$p.sesame-new" "$p" || fail "cannot install $p" 66
done
own_load iptables /etc/iptables/rules.v4 "$(mine "$B/old/etc/iptables/rules.v4")" 2>"$B/err" || fail "iptables-restore --noflush failed: $(cat "$B/err")" 67
if [ "$v6" = 1 ]; then own_load ip6tables /etc/iptables/rules.v6 "$(mine "$B/old/etc/iptables/rules.v6")" 2>"$B/err" || fail "ip6tables-restore --noflush failed: $(cat "$B/err")" 67; fi
iptables -w -n -L "$v" >/dev/null 2>&1 || [ "$kd" = 0 ] || fail "the loaded rules have no chain $v" 68
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then
    { systemctl daemon-reload && systemctl enable knockd && systemctl restart knockd; } >/dev/null 2>&1
    i=0; while ! systemctl is-active --quiet knockd; do i=$((i+1)); [ $i -gt 10 ] && fail "knockd does not start: $(systemctl status --no-pager knockd 2>&1 | tail -n 3)" 69; sleep 0.3; done
  else
    { update-rc.d knockd defaults && update-rc.d knockd enable; } >/dev/null 2>&1
    service knockd restart >/dev/null 2>&1
    i=0; while ! kd_up; do i=$((i+1)); [ $i -gt 10 ] && fail "knockd does not start (see /var/log/syslog or run knockd -D -i IFACE)" 69; sleep 0.3; done
  fi
  sleep 0.5
  if [ "$mgr" = systemd ]; then systemctl is-active --quiet knockd; else kd_up; fi || fail "knockd exited right after starting" 69
fi
echo "STAGE loaded"
"#;

/// Stops the dead-man switch of transaction `$B` (a shell snippet).
const DISARM: &str = r#"{ read kind what < "$B/armed"; if [ "$kind" = timer ]; then systemctl stop "$what.timer" "$what.service" >/dev/null 2>&1; else kill -- "-$what" 2>/dev/null || kill "$what" 2>/dev/null; fi; rm -f "$B/armed"; }"#;

/// Disarm, keep the rules at boot, record the live fingerprint. `$1` id, `$2` door chain.
const FINALIZE: &str = r#"B=@BACKUP@/$1; v=$2
[ -f "$B/armed" ] || { echo "the rollback already ran (the proof took longer than knock_rollback_seconds)" >&2; exit 70; }
@DISARM@
read kw ke mgr kd v6 < "$B/knockd.state"
if [ "$mgr" = systemd ]; then systemctl enable netfilter-persistent >/dev/null 2>&1; else update-rc.d netfilter-persistent defaults >/dev/null 2>&1; update-rc.d netfilter-persistent enable >/dev/null 2>&1; fi
mkdir -p "$(dirname @RECORD@)" && echo "$(@FWHASH@)" > @RECORD@
echo "STAGE disarmed"
"#;

/// Roll back now (the proof failed). `$1` id.
const ROLLBACK_NOW: &str = r#"B=@BACKUP@/$1
[ -f "$B/rollback.sh" ] || exit 71
sh "$B/rollback.sh"
[ -f "$B/armed" ] && @DISARM@
echo "STAGE rolled_back"
"#;

fn script(s: &str) -> String {
    s.replace("@DISARM@", DISARM)
        .replace("@BACKUP@", BACKUP_DIR)
        .replace("@KEEP@", &BACKUPS_KEPT.to_string())
        .replace("@RECORD@", FIREWALL_RECORD)
        .replace("@FWHASH@", FIREWALL_HASH_SH)
        .replace("@OWN@", super::own::OWN_SH)
}

/// The result of one transaction.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `None` when the new rules were proven and kept; the reason otherwise.
    pub failure: Option<String>,
    pub rolled_back: bool,
    pub backup: Option<String>,
}

/// Everything the transaction needs besides the session.
pub struct Transaction<'a> {
    pub host: &'a str,
    pub addr: IpAddr,
    pub ssh_port: u16,
    pub profile: &'a KnockProfile,
    pub files: &'a RenderedFiles,
    pub systemd: bool,
    pub ipv6_rules: bool,
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
}

impl Transaction<'_> {
    fn event(&self, stage: KnockStage, ok: bool, detail: impl Into<String>) {
        if let Some(e) = self.events {
            e(Event::Knock {
                host: self.host.to_string(),
                stage,
                ok,
                detail: detail.into(),
            });
        }
    }

    /// Run the whole transaction over `conn` (the session in use), proving with `connect`.
    pub fn run(
        &self,
        conn: &mut dyn Transport,
        connect: Option<&Connector<'_>>,
        escalate: Option<crate::transport::Become>,
    ) -> Result<Outcome, TransportError> {
        let id = format!(
            "{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            std::process::id()
        );
        let knockd = self.profile.mode == KnockMode::Knockd;
        let mut cmd = Cmd::sh(script(STAGE))
            .arg("sesame-stage")
            .arg(&id)
            .arg(self.profile.rollback_seconds.to_string())
            .arg(if knockd { "1" } else { "0" })
            .arg(if self.systemd { "systemd" } else { "sysv" })
            .arg(if self.ipv6_rules { "1" } else { "0" })
            .arg(&self.profile.names.door_chain);
        let mut stdin = String::new();
        for (path, f) in self.files {
            cmd = cmd.arg(path.clone()).arg(format!("{:04o}", f.mode));
            stdin.push_str(&base64::engine::general_purpose::STANDARD.encode(f.content.as_bytes()));
            stdin.push('\n');
        }
        // The files name the knock ports: stdin is secret.
        let cmd = cmd
            .secret_stdin(stdin)
            .escalate(escalate.clone())
            .timeout(Duration::from_secs(180));
        let out = conn.exec(&cmd)?;
        let text = out.stdout_str();
        let mut outcome = Outcome::default();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("STAGE") {
                continue;
            }
            match w.next() {
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
                Some("loaded") => self.event(KnockStage::Loaded, true, "new rules live"),
                _ => {}
            }
        }
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
            outcome.failure = Some(format!(
                "firewall transaction stopped (exit {}): {err}",
                out.status
            ));
            return Ok(outcome);
        }
        // Prove from the controller with a new connection.
        let proof = self.prove(connect);
        match proof {
            Ok(_) => {
                let fin = Cmd::sh(script(FINALIZE))
                    .arg("sesame-finalize")
                    .arg(&id)
                    .arg(&self.profile.names.door_chain)
                    .escalate(escalate.clone());
                let out = conn.exec(&fin)?;
                if out.ok() {
                    self.event(KnockStage::Disarmed, true, "rollback disarmed");
                    self.event(KnockStage::Persisted, true, "rules kept at boot");
                } else {
                    outcome.failure = Some(format!(
                        "could not keep the rules: {}",
                        out.stderr_str().trim()
                    ));
                    outcome.rolled_back = true;
                    self.event(
                        KnockStage::RolledBack,
                        true,
                        "the dead-man switch already restored the old rules",
                    );
                }
            }
            Err(why) => {
                let rb = Cmd::sh(script(ROLLBACK_NOW))
                    .arg("sesame-rollback")
                    .arg(&id)
                    .escalate(escalate.clone());
                let res = conn.exec(&rb);
                let ok = matches!(&res, Ok(o) if o.ok());
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
                outcome.rolled_back = true;
                outcome.failure = Some(format!("proof failed, rolled back: {why}"));
                // Check the host answers again on the old rules.
                if ok {
                    if let Some(c) = connect {
                        if let Err(e) =
                            c(false).and_then(|mut t| t.exec(&Cmd::new("true")).map(|_| ()))
                        {
                            outcome.failure = Some(format!(
                                "proof failed, rolled back, but a new session still fails: {e}"
                            ));
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// The controller's view: closed before knocking, open after, closed again after the close
    /// sequence. Read-only on the host (used alone by `sesame verify`).
    pub fn prove(&self, connect: Option<&Connector<'_>>) -> Result<(), String> {
        prove(
            self.host,
            self.addr,
            self.ssh_port,
            self.profile,
            &self.vantage,
            connect,
            self.events,
        )
    }
}

fn port_answers(addr: IpAddr, port: u16, t: Duration) -> bool {
    TcpStream::connect_timeout(&SocketAddr::new(addr, port), t).is_ok()
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

fn allow_listed(profile: &KnockProfile, ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    profile
        .allow_sources_v4
        .iter()
        .chain(&profile.allow_sources_v6)
        .filter_map(|c| super::profile::parse_cidr(c))
        .any(|(net, len)| cidr_contains(net, len, ip))
}

fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Prove a host's knocking from this controller (see `Transaction::prove`).
pub fn prove(
    host: &str,
    addr: IpAddr,
    ssh_port: u16,
    profile: &KnockProfile,
    vantage: &Vantage,
    connect: Option<&Connector<'_>>,
    events: Option<&(dyn Fn(Event) + Sync)>,
) -> Result<(), String> {
    let ev = |stage, ok, detail: String| {
        if let Some(e) = events {
            e(Event::Knock {
                host: host.to_string(),
                stage,
                ok,
                detail,
            });
        }
    };
    let probe_t = Duration::from_millis(1500);
    if let Some(proxy) = &vantage.proxy {
        return prove_through_proxy(proxy, connect, &ev);
    }
    if allow_listed(profile, vantage.controller_ip) {
        ev(
            KnockStage::NotProvenClosed,
            true,
            "the controller is in knock_allow_sources: closed-before not proven".into(),
        );
    } else if port_answers(addr, ssh_port, probe_t) && !closes_within(addr, ssh_port, profile) {
        ev(
            KnockStage::ClosedBefore,
            false,
            format!("port {ssh_port} answers without a knock"),
        );
        return Err(format!(
            "port {ssh_port} answers before knocking: the rules do not protect it"
        ));
    } else {
        ev(
            KnockStage::ClosedBefore,
            true,
            format!("port {ssh_port} silent before the knock"),
        );
    }
    if profile.mode == KnockMode::SinglePort {
        // The closed-before probe counted as a hit: let it expire before knocking.
        std::thread::sleep(Duration::from_secs(u64::from(profile.hit_max_seconds) + 1));
    }
    let Some(connect) = connect else {
        return Err("no way to open a new session to prove the rules".into());
    };
    // `connect(true)` knocks exactly as every later run will, then opens a full SSH session.
    match connect(true).and_then(|mut t| t.exec(&Cmd::new("true"))) {
        Ok(o) if o.ok() => {
            ev(
                KnockStage::Opened,
                true,
                "new SSH session after knocking".into(),
            );
        }
        Ok(o) => {
            ev(
                KnockStage::Opened,
                false,
                format!("command failed with {}", o.status),
            );
            return Err(format!(
                "the knocked session could not run a command (exit {})",
                o.status
            ));
        }
        Err(e) => {
            ev(KnockStage::Opened, false, e.to_string());
            return Err(format!("no new SSH session after knocking: {e}"));
        }
    }
    if profile.mode == KnockMode::Knockd && !profile.close_sequence.is_empty() {
        super::client::send(addr, &profile.close_sequence, Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(500));
        let closed = !port_answers(addr, ssh_port, probe_t);
        ev(
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
    Ok(())
}

/// A host reached through a jump host: the packets that matter come from the jump host, so the
/// controller cannot show the port closed or the knock opening it. What it can and must show
/// is that a NEW session over the same path works with the new rules (else the caller rolls
/// back): sesame can never lose the way in it used. The knock itself is reported not proven.
fn prove_through_proxy(
    proxy: &str,
    connect: Option<&Connector<'_>>,
    ev: &dyn Fn(KnockStage, bool, String),
) -> Result<(), String> {
    ev(
        KnockStage::NotProvenClosed,
        true,
        format!(
            "reached through a proxy ({proxy}): closed-before and the knock itself are not proven \
             from here; run `sesame verify` from a machine that reaches the host directly"
        ),
    );
    let Some(connect) = connect else {
        return Err("no way to open a new session to prove the rules".into());
    };
    match connect(true).and_then(|mut t| t.exec(&Cmd::new("true"))) {
        Ok(o) if o.ok() => {
            ev(
                KnockStage::ProxySession,
                true,
                format!("{proxy}, with the new rules"),
            );
            Ok(())
        }
        Ok(o) => {
            ev(
                KnockStage::ProxySession,
                false,
                format!("command failed with {}", o.status),
            );
            Err(format!(
                "the new session through the proxy could not run a command (exit {})",
                o.status
            ))
        }
        Err(e) => {
            ev(KnockStage::ProxySession, false, e.to_string());
            Err(format!(
                "no new SSH session through the proxy ({proxy}) with the new rules: {e}. A host \
                 reached through a jump host must let the jump host in without knocking: put its \
                 address in knock_allow_sources"
            ))
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

    #[test]
    fn cidr_matching() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains(ip("198.19.3.0"), 24, ip("198.19.3.1")));
        assert!(!cidr_contains(ip("198.19.3.0"), 24, ip("198.19.4.1")));
        assert!(cidr_contains(ip("0.0.0.0"), 0, ip("1.2.3.4")));
        assert!(cidr_contains(ip("fd5e::"), 16, ip("fd5e:5a3e::1")));
        assert!(!cidr_contains(ip("fd5e::"), 16, ip("198.19.3.1")));
    }
}
