//! Taking sesame off a host (`knock_state: absent`), as one safe transaction like any change:
//! back up sesame's part of the firewall, its files and knockd's state, arm the dead-man switch
//! (which puts the hardened state back), remove sesame's part of the firewall only (its
//! SESAME-* chains and the jumps to them, see `own`, and with the nftables backend its one
//! table `table inet sesame`; everything else stays as its owners have it, so the firewall is
//! as it was before sesame's first transaction), disable the sesame-knock boot unit (or init
//! script) that loads that table, put back the files it replaced (from the first transaction's
//! backup) or remove the ones it wrote, stop and disable knockd, then prove from the controller
//! that a plain SSH connection with NO knock works; only then disarm, purge the packages sesame
//! installed (recorded at install time in `PACKAGES_RECORD`) and forget sesame's records.
//! Backups are kept. Never prints. The host says which backend's part is live: one removal
//! takes either off (and both, on a host where an older run left both).

use super::apply::{Outcome, BACKUP_DIR};
use super::render::{
    KNOCKD_CONF, KNOCKD_DEFAULT, KNOCKD_OVERRIDE, KNOCK_NFT, KNOCK_NFT_INIT, KNOCK_NFT_UNIT,
    NETFILTER_DEFAULT, NETFILTER_OVERRIDE, RULES_V4, RULES_V6, XT_RECENT_CONF,
};
use super::KnockVarError;
use crate::facts::state::FIREWALL_RECORD;
use crate::facts::{Query, State};
use crate::runner::{Event, KnockStage};
use crate::transport::{Become, Cmd, Connector, Transport, TransportError};
use serde_json::{Map, Value};
use std::time::Duration;

/// Which packages sesame installed on the host (one name a line), so that removing sesame
/// purges them and only them.
pub const PACKAGES_RECORD: &str = "/var/lib/sesame/installed-packages";

/// The files sesame writes on a host (either backend): every path `render` may write.
pub const FILES: [&str; 11] = [
    RULES_V4,
    RULES_V6,
    NETFILTER_DEFAULT,
    NETFILTER_OVERRIDE,
    KNOCKD_CONF,
    KNOCKD_DEFAULT,
    KNOCKD_OVERRIDE,
    XT_RECENT_CONF,
    KNOCK_NFT,
    KNOCK_NFT_UNIT,
    KNOCK_NFT_INIT,
];

/// The packages the role installs with the iptables backend (and sesame may therefore have
/// installed). The nftables backend installs `nftables` too, but it is never recorded nor
/// purged: it is the distribution's firewall tool (Debian 13's default), other tables depend
/// on it, and purging it stops nftables.service, whose stop flushes the whole ruleset.
pub const PACKAGES: [&str; 3] = ["knockd", "iptables-persistent", "netfilter-persistent"];

/// `knock_state`: whether sesame should be on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnockState {
    Present,
    Absent,
}

/// The host's `knock_state` (default `present`).
pub fn wanted(host: &str, vars: &Map<String, Value>) -> Result<KnockState, KnockVarError> {
    match vars.get("knock_state") {
        None | Some(Value::Null) => Ok(KnockState::Present),
        Some(Value::String(s)) if s.trim() == "present" => Ok(KnockState::Present),
        Some(Value::String(s)) if s.trim() == "absent" => Ok(KnockState::Absent),
        Some(other) => Err(KnockVarError {
            host: host.to_string(),
            variable: "knock_state".into(),
            value: other.to_string(),
            problem: "expected present or absent".into(),
        }),
    }
}

/// A file sesame wrote (its header says so).
pub fn is_sesame_file(content: &[u8]) -> bool {
    String::from_utf8_lossy(content).contains("managed by sesame")
}

/// The package names of a record (anything that is not a plain Debian package name is dropped:
/// the file comes from the host).
pub fn recorded_packages(content: &[u8]) -> Vec<String> {
    let ok = |n: &str| {
        n.len() >= 2
            && n.len() <= 64
            && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    };
    let mut out: Vec<String> = String::from_utf8_lossy(content)
        .lines()
        .map(str::trim)
        .filter(|n| ok(n))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The record after this run: what it listed, plus the packages the role installs that the host
/// did not have when the play started (`installed_at_start`, from the facts; `None` when facts
/// were not gathered, then nothing new is claimed). `nft`: the nftables backend, which installs
/// no iptables-persistent (only knockd of these can be sesame's then).
pub fn record_after(
    existing: &[u8],
    installed_at_start: Option<&std::collections::BTreeMap<String, String>>,
    knockd: bool,
    nft: bool,
) -> String {
    let mut names = recorded_packages(existing);
    if let Some(have) = installed_at_start {
        for p in PACKAGES {
            let installs = if p == "knockd" { knockd } else { !nft };
            if installs && !have.contains_key(p) {
                names.push(p.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// What the host tells the plan of a removal.
pub fn queries() -> Vec<Query> {
    let mut q: Vec<Query> = FILES.iter().map(|p| Query::File(p.to_string())).collect();
    q.push(Query::File(PACKAGES_RECORD.into()));
    q.push(Query::Firewall(DOOR_CHAIN.into()));
    q.push(Query::Service("knockd".into()));
    q.extend(PACKAGES.iter().map(|p| Query::Package(p.to_string())));
    q
}

/// knockd's door chain (left out of the firewall fingerprint).
const DOOR_CHAIN: &str = "SESAME-DOOR";

/// The removal's plan: its changes (empty when sesame is not on the host), whether knockd is
/// sesame's to stop, and the packages to purge once the removal is proven.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemovalPlan {
    pub changes: Vec<String>,
    pub stop_knockd: bool,
    pub purge: Vec<String>,
}

impl RemovalPlan {
    pub fn from_state(state: &State) -> RemovalPlan {
        let mut p = RemovalPlan::default();
        let sesame_file = |path: &str| matches!(state.file(path), Some(Some(f)) if f.content.as_deref().is_some_and(is_sesame_file));
        for path in FILES {
            if sesame_file(path) {
                p.changes.push(format!(
                    "remove sesame's {path} (its original comes back when a backup has it)"
                ));
            }
        }
        if matches!(state.firewall(DOOR_CHAIN), Some((_, rec)) if !rec.is_empty()) {
            p.changes.push(
                "remove sesame's part of the firewall (its chains and the jumps to them, or its table inet sesame)".into(),
            );
        }
        if sesame_file(KNOCK_NFT_UNIT) || sesame_file(KNOCK_NFT_INIT) {
            p.changes
                .push("disable sesame-knock (the boot unit that loads table inet sesame)".into());
        }
        let record = match state.file(PACKAGES_RECORD) {
            Some(Some(f)) => f.content.clone().unwrap_or_default(),
            _ => Vec::new(),
        };
        let recorded = recorded_packages(&record);
        let knockd_is_ours = sesame_file(KNOCKD_CONF)
            || sesame_file(KNOCKD_OVERRIDE)
            || recorded.iter().any(|n| n == "knockd");
        if knockd_is_ours {
            if let Some(s) = state.service("knockd").filter(|s| s.exists) {
                p.stop_knockd = true;
                if s.active || s.enabled {
                    p.changes.push("stop and disable knockd".into());
                }
            }
        }
        p.purge = recorded
            .into_iter()
            .filter(|n| matches!(state.package(n), Some(Some(_))))
            .collect();
        if !p.purge.is_empty() {
            p.changes.push(format!(
                "purge {} (installed by sesame)",
                p.purge.join(", ")
            ));
        }
        if !p.changes.is_empty() {
            p.changes
                .push("prove a plain SSH connection without a knock, then keep it".into());
        }
        p
    }
}

/// Back up, arm, remove. `$1` id, `$2` rollback seconds, `$3` manager, `$4` ipv6 (1/0), `$5`
/// stop knockd (1/0).
const REMOVE: &str = r##"set -u
id=$1; T=$2; mgr=$3; v6=$4; kd=$5
check_id "$id" || exit 60
B=$R/$id; S=$B/new
kd_up() { service knockd status >/dev/null 2>&1 || pgrep -x knockd >/dev/null 2>&1; }
umask 077
mkdir -p "$R" || { echo "cannot create $R" >&2; exit 60; }
# The host lock and the disarm/rollback protocol are apply's (scripts/lib.sh).
take_lock 30 || { echo "cannot take the host lock $R/.lock (another transaction holds it, or the disk is full)" >&2; exit 59; }
mkdir -p "$S" "$B/old" || { echo "cannot create $B" >&2; exit 60; }
# The host from before sesame: the first transaction's backup, else the oldest kept one in
# which sesame had nothing live yet. Its old/ holds the files sesame replaced then.
pre=
for d in @BACKUP@/first $(ls -1d @BACKUP@/[0-9]* 2>/dev/null | sort); do
  # An nftables transaction's backup: sesame had nothing live when it had no table to save
  # (its stage refuses to run while sesame's iptables chains are live).
  [ -f "$d/nft.old" ] && continue
  if [ -f "$d/backend" ] && [ "$(cat "$d/backend")" = nftables ]; then pre=$d; break; fi
  for f in "$d/own.v4" "$d/live.v4"; do
    if [ -f "$f" ] && ! grep -q SESAME "$f"; then pre=$d; break 2; fi
  done
done
echo "STAGE validated ${pre:-none}"
# Only sesame's own part of the firewall is saved, removed and, on failure, put back (see
# knock/own.rs): other users' chains, rules, policies and tables stay as they are. Which parts
# are live: its iptables chains (the iptables backend), its table inet sesame (the nftables
# backend; a host of that backend may have no iptables at all), and the sesame-knock unit.
cat > "$B/own.sh" <<'OWN'
@OWN@
OWN
. "$B/own.sh"
mine() { grep -qs '^# managed by sesame' "$1" && echo "$1"; return 0; }
ipt=0; nt=0; sk=disabled
if command -v iptables-save >/dev/null 2>&1; then
  if { iptables-save -t filter; [ "$v6" = 1 ] && ip6tables-save -t filter; } 2>/dev/null | grep -q SESAME || [ -n "$(mine @RULES4@)" ]; then ipt=1; fi
fi
if [ "$ipt" = 1 ]; then
own_save iptables "$(mine @RULES4@)" > "$B/own.v4" || exit 64
own_docker_state iptables > "$B/docker.v4"
if [ "$v6" = 1 ]; then
  own_save ip6tables "$(mine @RULES6@)" > "$B/own.v6" || exit 64
  own_docker_state ip6tables > "$B/docker.v6"
fi
fi
if command -v nft >/dev/null 2>&1 && nft list table inet sesame >/dev/null 2>&1; then
  nt=1
  # Saved whole (set elements too), and it must load as the rollback would load it.
  { nft list table inet sesame > "$B/nft.old" && { echo 'table inet sesame {}'; echo 'delete table inet sesame'; cat "$B/nft.old"; } | nft -c -f - >/dev/null 2>"$B/err"; } \
    || { echo "cannot back up table inet sesame to $B/nft.old: $(cat "$B/err" 2>/dev/null)" >&2; exit 64; }
fi
if [ "$mgr" = systemd ]; then systemctl is-enabled --quiet sesame-knock.service 2>/dev/null && sk=enabled
else ls /etc/rcS.d/S??sesame-knock /etc/rc2.d/S??sesame-knock >/dev/null 2>&1 && sk=enabled; fi
put "$B/parts" "$ipt $nt $sk" || { echo "cannot write $B/parts (disk full?)" >&2; exit 64; }
: > "$B/created"
n=0
for p in @FILES@; do
  n=$((n+1)); printf '%s\n' "$p" > "$S/$n.path"
  if [ -e "$p" ]; then mkdir -p "$B/old${p%/*}/" && cp -p "$p" "$B/old$p" || exit 64; fi
done
kw=inactive; ke=disabled
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then systemctl is-active --quiet knockd && kw=active; systemctl is-enabled --quiet knockd 2>/dev/null && ke=enabled
  else kd_up && kw=active; ls /etc/rc2.d/S??knockd >/dev/null 2>&1 && ke=enabled; fi
fi
put "$B/knockd.state" "$kw $ke $mgr $kd $v6" || { echo "cannot write $B/knockd.state (disk full?)" >&2; exit 64; }
: > "$B/undecided" && [ -e "$B/undecided" ] || { echo "cannot write $B/undecided (disk full?)" >&2; exit 64; }
cat > "$B/rollback.sh" <<'RB'
#!/bin/sh
# Written by sesame: puts back sesame's firewall part, files and knockd as they were before
# removal $B. $1 why, $2 `locked` when the caller holds the host lock; does nothing once the
# removal is disarmed or rolled back (see apply's rollback.sh).
B=$(cd "$(dirname "$0")" && pwd) || exit 75
R=${B%/*}
why=${1:-switch}
if [ "${2:-}" != locked ]; then
  exec 9>>"$R/.lock" || exit 75
  flock -w 600 9 || exit 75
fi
[ -e "$B/disarmed" ] && exit 0
[ -e "$B/rolled-back" ] && exit 0
read kw ke mgr kd v6 < "$B/knockd.state" || exit 76
read ipt nt sk < "$B/parts" || { ipt=1; nt=0; sk=disabled; }
for f in "$B"/new/*.path; do read -r p < "$f"
  if [ -e "$B/old$p" ]; then mkdir -p "${p%/*}"; cp -p "$B/old$p" "$p"; else rm -f "$p"; fi
done
. "$B/own.sh"
if [ "$ipt" = 1 ]; then
  own_unload iptables; own_restore iptables "$B/own.v4"
  if [ "$v6" = 1 ] && [ -f "$B/own.v6" ]; then own_unload ip6tables; own_restore ip6tables "$B/own.v6"; fi
fi
if [ "$sk" = enabled ]; then
  if [ "$mgr" = systemd ]; then systemctl daemon-reload; systemctl enable sesame-knock.service; systemctl start sesame-knock.service
  else update-rc.d sesame-knock defaults; update-rc.d sesame-knock enable; fi
fi >/dev/null 2>&1
# sesame's table exactly as it was (after the unit's start, which loads the file without the
# knockers' set elements), in one nft transaction.
if [ "$nt" = 1 ]; then { echo 'table inet sesame {}'; echo 'delete table inet sesame'; cat "$B/nft.old"; } | nft -f -; fi
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then
    systemctl daemon-reload
    [ "$ke" = enabled ] && systemctl enable knockd >/dev/null 2>&1
    if [ "$kw" = active ]; then systemctl restart knockd; else systemctl stop knockd; fi
  else
    [ "$ke" = enabled ] && update-rc.d knockd enable >/dev/null 2>&1
    if [ "$kw" = active ]; then service knockd restart 9>&-; else service knockd stop; fi
  fi
fi >/dev/null 2>&1
mv -f "$B/undecided" "$B/rolled-back" 2>/dev/null || : > "$B/rolled-back"
echo "$(date +%s) $why" > "$B/rolled-back" 2>/dev/null
# end of rollback.sh
RB
{ [ "$(tail -n 1 "$B/rollback.sh")" = "# end of rollback.sh" ] && sh -n "$B/rollback.sh"; } || { echo "cannot write $B/rollback.sh (disk full?)" >&2; exit 64; }
echo "STAGE backed_up $B"
dl=$(( $(date +%s) + T ))
if [ "$mgr" = systemd ]; then
  put "$B/armed" "timer sesame-rollback-$id $dl" || { echo "cannot write $B/armed (disk full?)" >&2; exit 64; }
  systemd-run --quiet --unit="sesame-rollback-$id" --on-active="$T" --timer-property=AccuracySec=1s /bin/sh "$B/rollback.sh" switch || { echo "cannot arm the rollback timer" >&2; exit 65; }
else
  arm_sleeper "$T" "$dl" || { echo "cannot write $B/armed (disk full?)" >&2; exit 64; }
fi
echo "STAGE armed $T"
fail() { echo "$1" >&2; sh "$B/rollback.sh" "$1" locked; stop_switch; exit "$2"; }
# The firewall: sesame's part out (its SESAME-* chains, the jumps to them, and the rules an
# older sesame wrote into INPUT itself, as its rules file lists them); DOCKER-USER too when
# sesame made it and it is empty.
if [ "$ipt" = 1 ]; then
own_unload iptables "$(mine @RULES4@)" 2>"$B/err" || fail "removing sesame's IPv4 rules failed: $(cat "$B/err")" 67
[ -z "$pre" ] || own_docker_undo iptables "$pre/docker.v4"
if [ "$v6" = 1 ]; then
  own_unload ip6tables "$(mine @RULES6@)" 2>"$B/err" || fail "removing sesame's IPv6 rules failed: $(cat "$B/err")" 67
  [ -z "$pre" ] || own_docker_undo ip6tables "$pre/docker.v6"
fi
fi
if { iptables-save -t filter; [ "$v6" = 1 ] && ip6tables-save -t filter; } 2>/dev/null | grep -q SESAME; then fail "sesame's chains are still live" 68; fi
# The nftables backend: the boot unit (or init script) disabled first, so no boot can bring
# the table back, then sesame's one table deleted; no other table is touched.
if [ "$sk" = enabled ] || [ -e @NFTUNIT@ ] || [ -e @NFTINIT@ ]; then
  [ "$mgr" = systemd ] && { systemctl disable sesame-knock.service; systemctl stop sesame-knock.service; }
  # systemctl enable made rc links for the init script of the same name too.
  command -v update-rc.d && update-rc.d -f sesame-knock remove
fi >/dev/null 2>&1
if [ "$nt" = 1 ]; then nft delete table inet sesame 2>"$B/err" || fail "deleting table inet sesame failed: $(cat "$B/err")" 67; fi
if command -v nft >/dev/null 2>&1 && nft list table inet sesame >/dev/null 2>&1; then fail "table inet sesame is still live" 68; fi
# Files: the original from before sesame when a backup has one, else removed when sesame
# wrote it; a file sesame did not write stays.
for p in @FILES@; do
  if [ -n "$pre" ] && [ -e "$pre/old$p" ] && ! grep -qs 'managed by sesame' "$pre/old$p"; then
    cp -p "$pre/old$p" "$p" || fail "cannot restore $p" 66
  elif grep -qs 'managed by sesame' "$p"; then
    rm -f "$p" || fail "cannot remove $p" 66
  fi
done
rmdir "${KOVR%/*}" "${NOVR%/*}" "${KNFT%/*}" 2>/dev/null
if [ "$mgr" = systemd ]; then
  { systemctl daemon-reload; systemctl reset-failed sesame-knock.service; } >/dev/null 2>&1
  ! systemctl is-enabled --quiet sesame-knock.service 2>/dev/null || fail "sesame-knock.service is still enabled" 68
fi
! ls /etc/rc?.d/[SK]??sesame-knock >/dev/null 2>&1 || fail "sesame-knock is still in the boot sequence (/etc/rc?.d)" 68
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then systemctl daemon-reload; systemctl disable knockd; systemctl stop knockd
  else update-rc.d knockd disable; service knockd stop 9>&-; fi
fi >/dev/null 2>&1
if [ "$kd" = 1 ] && pgrep -x knockd >/dev/null 2>&1; then pkill -x knockd; sleep 0.3; fi
echo "STAGE loaded"
"##;

/// Disarm, forget sesame's records, purge the packages it installed (`$2...`). `$1` id.
const FINALIZE: &str = r#"check_id "$1" || exit 72
B=$R/$1; shift
[ -f "$B/armed" ] || { echo "removal not armed on this host" >&2; exit 72; }
take_lock 120 || { echo "cannot take the host lock $R/.lock" >&2; exit 72; }
if [ -e "$B/rolled-back" ]; then
  echo "STAGE rolled_back"
  echo "the rollback already ran (the proof took longer than knock_rollback_seconds)" >&2
  exit 70
fi
mv "$B/undecided" "$B/disarmed" || { echo "cannot record the disarm in $B (disk full?): the switch will restore sesame's rules" >&2; exit 73; }
stop_switch
rm -f @FWRECORD@
echo "STAGE disarmed"
if [ $# -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$@" >"$B/purge.log" 2>&1 || { echo "apt-get purge $* failed: $(tail -n 3 "$B/purge.log")" >&2; exit 72; }
fi
rm -f @PKGRECORD@
echo "STAGE purged"
"#;

/// Roll back now (the proof failed). `$1` id.
const ROLLBACK_NOW: &str = r#"check_id "$1" || exit 72
B=$R/$1
[ -f "$B/rollback.sh" ] || exit 71
sh "$B/rollback.sh" "the proof failed" || exit 71
[ -e "$B/rolled-back" ] || { echo "the removal was disarmed: nothing rolled back" >&2; exit 71; }
stop_switch
echo "STAGE rolled_back"
"#;

/// `s` after apply's shell library (host lock, dead-man switch by token, the `undecided` ->
/// `disarmed` | `rolled-back` decision), placeholders filled in.
fn script(s: &str) -> String {
    let files = FILES.join(" ");
    let s = format!("{}{s}", super::apply::LIB);
    s.replace("@OWN@", super::own::OWN_SH)
        .replace("@BACKUP@", BACKUP_DIR)
        .replace("@RULES4@", RULES_V4)
        .replace("@RULES6@", RULES_V6)
        .replace("@FILES@", &files)
        .replace(
            "${KOVR%/*}",
            KNOCKD_OVERRIDE.rsplit_once('/').map_or("", |x| x.0),
        )
        .replace(
            "${NOVR%/*}",
            NETFILTER_OVERRIDE.rsplit_once('/').map_or("", |x| x.0),
        )
        .replace("${KNFT%/*}", KNOCK_NFT.rsplit_once('/').map_or("", |x| x.0))
        .replace("@NFTUNIT@", KNOCK_NFT_UNIT)
        .replace("@NFTINIT@", KNOCK_NFT_INIT)
        .replace("@FWRECORD@", FIREWALL_RECORD)
        .replace("@PKGRECORD@", PACKAGES_RECORD)
}

/// One removal on one host.
pub struct Removal<'a> {
    pub host: &'a str,
    pub plan: &'a RemovalPlan,
    pub rollback_seconds: u32,
    pub systemd: bool,
    pub ipv6_rules: bool,
    pub events: Option<&'a (dyn Fn(Event) + Sync)>,
}

impl Removal<'_> {
    fn event(&self, stage: KnockStage, ok: bool, detail: impl Into<String>) {
        super::apply::knock_event(self.events, self.host, stage, ok, detail);
    }

    /// Run it over `conn`; `connect(true)` opens a new session the way the host must let
    /// sesame in afterwards (for a host whose `knock_state` is absent: without a knock),
    /// `connect(false)` the way the run first got in (the hardened rules, after a rollback).
    pub fn run(
        &self,
        conn: &mut dyn Transport,
        connect: Option<&Connector<'_>>,
        escalate: Option<Become>,
    ) -> Result<Outcome, TransportError> {
        let id = format!(
            "{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            std::process::id()
        );
        let cmd = Cmd::sh(script(REMOVE))
            .arg("sesame-remove")
            .arg(&id)
            .arg(self.rollback_seconds.to_string())
            .arg(if self.systemd { "systemd" } else { "sysv" })
            .arg(if self.ipv6_rules { "1" } else { "0" })
            .arg(if self.plan.stop_knockd { "1" } else { "0" })
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
            match (w.next(), w.next()) {
                (Some("validated"), Some("none")) => self.event(
                    KnockStage::Validated,
                    true,
                    "no backup from before sesame: its part of the firewall and its files are removed",
                ),
                (Some("validated"), Some(pre)) => self.event(
                    KnockStage::Validated,
                    true,
                    format!("the host from before sesame is in {pre}: its part of the firewall is removed, its files put back"),
                ),
                (Some("backed_up"), b) => {
                    outcome.backup = b.map(str::to_string);
                    self.event(KnockStage::BackedUp, true, b.unwrap_or_default().to_string())
                }
                (Some("armed"), _) => self.event(
                    KnockStage::Armed,
                    true,
                    format!("rollback in {}s unless disarmed", self.rollback_seconds),
                ),
                (Some("loaded"), _) => self.event(
                    KnockStage::Loaded,
                    true,
                    "sesame's rules, files and knockd removed",
                ),
                _ => {}
            }
        }
        if !out.ok() {
            let rolled = text.contains("STAGE armed");
            if rolled {
                self.event(
                    KnockStage::RolledBack,
                    true,
                    "removal failed; sesame's rules restored",
                );
            }
            outcome.rolled_back = rolled;
            outcome.failure = Some(format!(
                "removal stopped (exit {}): {}",
                out.status,
                out.stderr_str().trim()
            ));
            return Ok(outcome);
        }
        match self.prove(connect) {
            Ok(()) => self.finalize(conn, &id, escalate, &mut outcome)?,
            Err(why) => {
                let rb = Cmd::sh(script(ROLLBACK_NOW))
                    .arg("sesame-rollback")
                    .arg(&id)
                    .escalate(escalate);
                let ok = matches!(conn.exec(&rb), Ok(o) if o.ok());
                self.event(
                    KnockStage::RolledBack,
                    ok,
                    if ok {
                        "sesame's rules restored over the open session".to_string()
                    } else {
                        format!(
                            "the dead-man switch will restore the host within {}s",
                            self.rollback_seconds
                        )
                    },
                );
                outcome.rolled_back = true;
                outcome.failure = Some(format!("proof failed, rolled back: {why}"));
            }
        }
        Ok(outcome)
    }

    /// A new SSH session without any knock runs a command.
    fn prove(&self, connect: Option<&Connector<'_>>) -> Result<(), String> {
        let Some(connect) = connect else {
            return Err("no way to open a new session to prove the removal".into());
        };
        match connect(true).and_then(|mut t| t.exec(&Cmd::new("true"))) {
            Ok(o) if o.ok() => {
                self.event(
                    KnockStage::PlainSession,
                    true,
                    "SSH, with sesame's rules gone",
                );
                Ok(())
            }
            Ok(o) => {
                self.event(
                    KnockStage::PlainSession,
                    false,
                    format!("exit {}", o.status),
                );
                Err(format!(
                    "the new session could not run a command (exit {})",
                    o.status
                ))
            }
            Err(e) => {
                self.event(KnockStage::PlainSession, false, e.to_string());
                Err(format!("no plain SSH session without a knock: {e}"))
            }
        }
    }

    fn finalize(
        &self,
        conn: &mut dyn Transport,
        id: &str,
        escalate: Option<Become>,
        outcome: &mut Outcome,
    ) -> Result<(), TransportError> {
        let mut fin = Cmd::sh(script(FINALIZE)).arg("sesame-finalize").arg(id);
        for p in &self.plan.purge {
            fin = fin.arg(p.clone());
        }
        let out = conn.exec(&fin.escalate(escalate).timeout(Duration::from_secs(300)))?;
        let text = out.stdout_str();
        if text.contains("STAGE disarmed") {
            self.event(KnockStage::Disarmed, true, "rollback disarmed");
        }
        if out.ok() {
            self.event(
                KnockStage::Persisted,
                true,
                if self.plan.purge.is_empty() {
                    "sesame is off the host; backups kept in /var/backups/sesame".to_string()
                } else {
                    format!(
                        "sesame is off the host, {} purged; backups kept in /var/backups/sesame",
                        self.plan.purge.join(", ")
                    )
                },
            );
        } else if text.contains("STAGE disarmed") {
            outcome.failure = Some(format!(
                "removed and proven, but: {}",
                out.stderr_str().trim()
            ));
        } else {
            outcome.rolled_back = true;
            outcome.failure = Some(format!(
                "could not keep the removal: {}",
                out.stderr_str().trim()
            ));
            self.event(
                KnockStage::RolledBack,
                true,
                "the dead-man switch already restored sesame's rules",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn knock_state_values() {
        let v = |x: Value| match json!({ "knock_state": x }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        assert_eq!(
            wanted("h", &v(json!("absent"))).unwrap(),
            KnockState::Absent
        );
        assert_eq!(
            wanted("h", &v(json!("present"))).unwrap(),
            KnockState::Present
        );
        assert_eq!(wanted("h", &Map::new()).unwrap(), KnockState::Present);
        let e = wanted("h", &v(json!("gone"))).unwrap_err();
        assert_eq!(e.variable, "knock_state");
    }

    #[test]
    fn package_record_keeps_what_sesame_installed() {
        let mut have = std::collections::BTreeMap::new();
        have.insert("iptables-persistent".to_string(), "1.0.20".to_string());
        // First run: netfilter-persistent and knockd were missing, so sesame installs them.
        let rec = record_after(b"", Some(&have), true, false);
        assert_eq!(rec, "knockd\nnetfilter-persistent\n");
        // Later runs (everything installed) keep the record as it is.
        have.insert("knockd".into(), "0.8".into());
        have.insert("netfilter-persistent".into(), "1.0.20".into());
        assert_eq!(record_after(rec.as_bytes(), Some(&have), true, false), rec);
        // No facts: nothing new is claimed. Hostile lines are dropped.
        assert_eq!(
            record_after(b"knockd\n$(reboot)\n-rf\n", None, true, false),
            "knockd\n"
        );
        // iptables mode does not install knockd.
        assert_eq!(
            record_after(b"", Some(&Default::default()), false, false),
            "iptables-persistent\nnetfilter-persistent\n"
        );
        // The nftables backend installs no iptables-persistent, and nftables is never claimed.
        assert_eq!(
            record_after(b"", Some(&Default::default()), true, true),
            "knockd\n"
        );
        assert_eq!(
            record_after(b"", Some(&Default::default()), false, true),
            ""
        );
    }

    #[test]
    fn scripts_have_every_placeholder_filled() {
        for s in [REMOVE, FINALIZE, ROLLBACK_NOW] {
            let t = script(s);
            for p in [
                "@BACKUP@",
                "@DISARM@",
                "@FILES@",
                "@FWRECORD@",
                "@PKGRECORD@",
                "KOVR",
                "NOVR",
                "KNFT",
                "@NFTUNIT@",
                "@NFTINIT@",
            ] {
                assert!(!t.contains(p), "{p} left in a script");
            }
        }
        assert!(script(REMOVE).contains("rmdir \"/etc/systemd/system/knockd.service.d\" "));
        assert!(script(REMOVE)
            .contains("\"/etc/systemd/system/netfilter-persistent.service.d\" \"/etc/sesame\""));
        // Every file the role renders, in any mode or backend, is one the removal takes off.
        for f in [
            NETFILTER_OVERRIDE,
            XT_RECENT_CONF,
            KNOCKD_OVERRIDE,
            KNOCK_NFT_INIT,
        ] {
            assert!(FILES.contains(&f), "{f}");
        }
        for s in [REMOVE, FINALIZE, ROLLBACK_NOW] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &script(s)])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
