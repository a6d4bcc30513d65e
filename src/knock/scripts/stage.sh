# stage.sh: validate, back up, arm the dead-man switch and load, all under the host lock.
# $1 rollback seconds, $2 knockd (1/0), $3 manager (systemd|sysv), $4 door chain, $5 xt_recent
# lists to make private (1/0), $6 backend (iptables|nftables), then (path, mode) pairs; stdin:
# one base64 line per file.
# Prints `STAGE <step> ...` lines. Until `STAGE armed` nothing live has changed, and a failure
# removes the transaction's directory; after it, a failure rolls back before exiting.
set -u
T=$1; kd=$2; mgr=$3; v=$4; xr=$5; be=$6; shift 6
umask 077
B=
kd_up() { service knockd status >/dev/null 2>&1 || pgrep -x knockd >/dev/null 2>&1; }
# kd_listens: a knockd process of this host holds a packet (capture) socket of this network
# namespace (/proc/net/packet), so a knock sent now is seen.
kd_listens() {
  for p in $(pgrep -x knockd 2>/dev/null); do
    for f in /proc/"$p"/fd/*; do
      l=$(readlink "$f" 2>/dev/null) || continue
      case $l in "socket:["*"]") l=${l#socket:\[}; l=${l%\]}; grep -Eq "[[:space:]]$l[[:space:]]*\$" /proc/net/packet 2>/dev/null && return 0 ;; esac
    done
  done
  return 1
}
# refuse MESSAGE CODE: stop before anything live changed.
refuse() { echo "$1" >&2; [ -n "$B" ] && rm -rf -- "$B"; exit "$2"; }
mkdir -p "$R" || refuse "cannot create $R" 60
take_lock 30 || refuse "cannot take the host lock $R/.lock (another transaction holds it, or the disk is full)" 59
# One transaction at a time: another run's switch still armed means its proof is in flight.
now=$(date +%s)
for a in "$R"/*/armed; do
  [ -f "$a" ] || continue
  d=${a%/armed}
  { [ -e "$d/disarmed" ] || [ -e "$d/rolled-back" ]; } && continue
  read -r _k _w dl < "$a" 2>/dev/null || dl=0
  case "$dl" in "" | *[!0-9]*) dl=0 ;; esac
  # A deadline long past: the switch was lost (a reboot); that transaction is over.
  [ "$now" -le $((dl + 30)) ] && refuse "another sesame transaction (${d##*/}) is in progress on this host; its switch fires within $((dl - now)) s" 59
done
# The IPv6 decision is made here, after the role installed iptables: a fact gathered before
# would be stale on a host that had no iptables.
# The nftables backend's one inet table covers IPv6 itself: no ip6tables part.
if [ "$be" = nftables ]; then v6=0
elif command -v ip6tables-restore >/dev/null 2>&1 && ip6tables -w -n -L INPUT >/dev/null 2>&1; then v6=1
elif ip -6 addr show scope global 2>/dev/null | grep -q inet6; then
  refuse "the host has a global IPv6 address but ip6tables cannot be used: IPv6 would stay open" 62
else v6=0; fi
# (`inet`: the nftables table gates IPv4 and IPv6 itself.)
if [ "$be" = nftables ]; then echo "STAGE ipv6 inet"; else echo "STAGE ipv6 $v6"; fi
# Make room first: keep the newest @KEEP@ - 1 old transactions (never one whose switch is armed).
ls -1d "$R"/[0-9]* 2>/dev/null | sort | head -n -$((@KEEP@ - 1)) | while IFS= read -r x; do
  if [ -f "$x/armed" ] && ! [ -e "$x/disarmed" ] && ! [ -e "$x/rolled-back" ]; then continue; fi
  rm -rf -- "$x"
done
B=$(mktemp -d "$R/$(date -u +%Y%m%dT%H%M%SZ)-XXXXXX") || refuse "cannot create a transaction directory under $R" 60
id=${B##*/}; S=$B/new
mkdir "$S" "$B/old" || refuse "cannot write under $B" 60
n=0
while [ $# -ge 2 ]; do
  n=$((n+1))
  IFS= read -r line || refuse "short input" 61
  printf '%s' "$line" | base64 -d > "$S/$n" && [ -s "$S/$n" ] && chmod "$2" "$S/$n" && put "$S/$n.path" "$1" \
    || refuse "cannot write the new $1 under $B (disk full?)" 61
  shift 2
done
for f in "$S"/*.path; do i=${f%.path}; read -r p < "$f"
  case "$p" in
  */rules.v4) out=$(iptables-restore --test < "$i" 2>&1 >/dev/null) || refuse "iptables-restore --test rejects $p: $out" 62 ;;
  */rules.v6) if [ "$v6" = 1 ]; then out=$(ip6tables-restore --test < "$i" 2>&1 >/dev/null) || refuse "ip6tables-restore --test rejects $p: $out" 62; fi ;;
  */knock.nft) out=$(nft -c -f "$i" 2>&1 >/dev/null) || refuse "nft -c -f rejects $p: $out" 62 ;;
  */knockd.conf) out=$(knockd -D -c "$i" -i sesame-none0 2>&1 </dev/null); case "$out" in *usage:*|*"config file"*|*"error"*) refuse "knockd rejects $p: $(printf '%s\n' "$out" | head -n 5)" 63 ;; esac ;;
  esac
done
# One backend at a time: the other one's live part would gate the same ports.
if [ "$be" = nftables ]; then
  iptables-save -t filter 2>/dev/null | grep -q '^:SESAME-' && refuse "sesame's iptables part (SESAME-* chains) is live on this host: take it off first (knock_state: absent with knock_backend: iptables), then set knock_backend: nftables" 62
else
  command -v nft >/dev/null 2>&1 && nft list table inet sesame >/dev/null 2>&1 && refuse "sesame's nftables table (table inet sesame) is live on this host: take it off first (knock_state: absent with knock_backend: nftables), then set knock_backend: iptables" 62
fi
echo "STAGE validated"
# Only sesame's own part of the firewall is saved, replaced and, on failure, put back: every
# other chain, rule, policy and table stays as its owners (fail2ban, Docker...) have it, even
# if they change it during the transaction (see knock/own.rs). Each backup is read back, and
# must load (`--noflush --test`).
cat > "$B/own.sh" <<'OWN'
@OWN@
OWN
{ sh -n "$B/own.sh" && . "$B/own.sh" && command -v own_docker_undo >/dev/null; } || refuse "cannot write $B/own.sh (disk full?)" 64
mine() { grep -qs '^# managed by sesame' "$1" && echo "$1"; return 0; }
backup_own() { # iptables|ip6tables FAMILY-SUFFIX
  o=$(own_save "$1" "$(mine "/etc/iptables/rules.$2")") || return 1
  if [ -n "$o" ]; then put "$B/own.$2" "$o" || return 1; else : > "$B/own.$2" && [ -e "$B/own.$2" ] || return 1; fi
  out=$({ echo '*filter'; cat "$B/own.$2"; echo COMMIT; } | "$1-restore" --noflush --test 2>&1) || return 1
  d=$(own_docker_state "$1") && put "$B/docker.$2" "$d"
}
put "$B/backend" "$be" || refuse "cannot write $B/backend (disk full?)" 64
if [ "$be" = nftables ]; then
  # Only sesame's table is saved (absent: the rollback deletes it), and must load.
  if o=$(nft list table inet sesame 2>/dev/null); then
    { put "$B/nft.old" "$o" && out=$({ echo 'table inet sesame {}'; echo 'delete table inet sesame'; cat "$B/nft.old"; } | nft -c -f - 2>&1); } \
      || refuse "cannot back up sesame's live table to $B/nft.old (disk full?): ${out:-}" 64
  fi
else
backup_own iptables v4 || refuse "cannot back up sesame's live IPv4 rules to $B/own.v4 (disk full?): ${out:-}" 64
fi
if [ "$v6" = 1 ]; then
  backup_own ip6tables v6 || refuse "cannot back up sesame's live IPv6 rules to $B/own.v6 (disk full?): ${out:-}" 64
fi
for f in "$S"/*.path; do read -r p < "$f"
  if [ -e "$p" ]; then
    { mkdir -p "$B/old${p%/*}/" && cp -p "$p" "$B/old$p" && cmp -s "$p" "$B/old$p"; } || refuse "cannot back up $p under $B (disk full?)" 64
  fi
done
kw=inactive; ke=disabled
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then systemctl is-active --quiet knockd && kw=active; systemctl is-enabled --quiet knockd 2>/dev/null && ke=enabled
  else kd_up && kw=active; ls /etc/rc2.d/S??knockd >/dev/null 2>&1 && ke=enabled; fi
fi
put "$B/knockd.state" "$kw $ke $mgr $kd $v6" || refuse "cannot write $B/knockd.state (disk full?)" 64
# Made now, renamed later to `disarmed` or `rolled-back`: deciding needs no space.
: > "$B/undecided" && [ -e "$B/undecided" ] || refuse "cannot write $B/undecided (disk full?)" 64
cat > "$B/rollback.sh" <<'RB'
@ROLLBACK@
RB
{ [ "$(tail -n 1 "$B/rollback.sh")" = "# end of rollback.sh" ] && sh -n "$B/rollback.sh"; } || refuse "cannot write $B/rollback.sh (disk full?)" 64
# The first transaction's backup is the host as it was before sesame (knock_state: absent
# puts that back): kept apart from the pruned ones, and whole or not at all.
if ! [ -e "$R/first" ]; then
  { cp -a "$B" "$R/first.new" && mv "$R/first.new" "$R/first"; } || { rm -rf -- "$R/first.new"; refuse "cannot keep the first backup in $R/first (disk full?)" 64; }
fi
echo "STAGE backed_up $B"
dl=$(( $(date +%s) + T ))
if [ "$mgr" = systemd ]; then
  put "$B/armed" "timer sesame-rollback-$id $dl" || refuse "cannot write $B/armed (disk full?)" 64
  systemd-run --quiet --unit="sesame-rollback-$id" --on-active="$T" --timer-property=AccuracySec=1s /bin/sh "$B/rollback.sh" switch || refuse "cannot arm the rollback timer" 65
else
  arm_sleeper "$T" "$dl" || refuse "cannot write $B/armed (disk full?)" 64
fi
echo "STAGE armed $T"
fail() { echo "$1" >&2; sh "$B/rollback.sh" "$1" locked; stop_switch; exit "$2"; }
for f in "$S"/*.path; do i=${f%.path}; read -r p < "$f"
  { [ -d "${p%/*}/" ] || mkdir -p "${p%/*}/"; } && cp -p "$i" "$p.sesame-new" && chown root:root "$p.sesame-new" && mv -f "$p.sesame-new" "$p" || fail "cannot install $p" 66
done
if [ "$be" = nftables ]; then
  # One nft transaction: declare, delete and define table inet sesame anew.
  out=$(nft -f /etc/sesame/knock.nft 2>&1) || fail "nft -f failed: $out" 67
  [ "$kd" = 0 ] || nft list set inet sesame clients_v4 >/dev/null 2>&1 || fail "the loaded table has no set clients_v4" 68
else
out=$(own_load iptables /etc/iptables/rules.v4 "$(mine "$B/old/etc/iptables/rules.v4")" 2>&1) || fail "iptables-restore --noflush failed: $out" 67
if [ "$v6" = 1 ]; then out=$(own_load ip6tables /etc/iptables/rules.v6 "$(mine "$B/old/etc/iptables/rules.v6")" 2>&1) || fail "ip6tables-restore --noflush failed: $out" 67; fi
iptables -w -n -L "$v" >/dev/null 2>&1 || [ "$kd" = 0 ] || fail "the loaded rules have no chain $v" 68
fi
if [ "$xr" = 1 ]; then
  # xt_recent creates its lists world-readable (ip_list_perms, 0644 by default), and they name
  # every knocker's address: sesame's own lists become root-only.
  for f in /proc/net/xt_recent/SESAME*; do
    [ -e "$f" ] || continue
    chmod 0600 "$f" || fail "cannot make $f private" 68
  done
fi
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then
    { systemctl daemon-reload && systemctl enable knockd && systemctl restart knockd; } >/dev/null 2>&1
    i=0; while ! systemctl is-active --quiet knockd; do i=$((i+1)); [ $i -gt 10 ] && fail "knockd does not start: $(systemctl status --no-pager knockd 2>&1 | tail -n 3)" 69; sleep 0.3; done
  else
    { update-rc.d knockd defaults && update-rc.d knockd enable; } >/dev/null 2>&1
    # Not `restart`: Debian's init script sleeps a fixed second between its stop and its start.
    # Stop, wait (50 ms steps, at most 3 s) for the old knockd to be gone, start.
    service knockd stop >/dev/null 2>&1 9>&-
    i=0; while pgrep -x knockd >/dev/null 2>&1 && [ $i -lt 60 ]; do i=$((i+1)); sleep 0.05; done
    service knockd start >/dev/null 2>&1 9>&-
    i=0; while ! kd_up; do i=$((i+1)); [ $i -gt 10 ] && fail "knockd does not start (see /var/log/syslog or run knockd -D -i IFACE)" 69; sleep 0.3; done
  fi
  # Listening, not only started: a knock sent before knockd holds its capture socket is lost.
  i=0; while ! kd_listens; do i=$((i+1)); [ $i -gt 60 ] && fail "knockd started but does not listen (no capture socket after 3 s; see /var/log/syslog or run knockd -D -i IFACE)" 69; sleep 0.05; done
fi
echo "STAGE loaded"
