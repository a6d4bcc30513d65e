#!/bin/sh
# Written by sesame: puts back the firewall, files and knockd as they were before this
# transaction (the directory this file is in). $1 why (`switch`: the dead-man switch fired),
# $2 `locked` when the caller already holds the host lock. Does nothing once the transaction
# is disarmed or already rolled back: the host lock makes that check and the restore one step.
B=$(cd "$(dirname "$0")" && pwd) || exit 75
R=${B%/*}
why=${1:-switch}
if [ "${2:-}" != locked ]; then
  exec 9>>"$R/.lock" || exit 75
  flock -w 600 9 || exit 75
fi
[ -e "$B/disarmed" ] && exit 0
[ -e "$B/rolled-back" ] && exit 0
read -r kw ke mgr kd v6 < "$B/knockd.state" || exit 76
for f in "$B"/new/*.path; do read -r p < "$f"
  if [ -e "$B/old$p" ]; then cp -p "$B/old$p" "$p"; else rm -f "$p"; fi
done
. "$B/own.sh"
be=iptables; [ -f "$B/backend" ] && read -r be < "$B/backend"
if [ "$be" = nftables ]; then
  # Only sesame's table: the saved one back in one nft transaction, or none if there was none.
  if [ -f "$B/nft.old" ]; then { echo 'table inet sesame {}'; echo 'delete table inet sesame'; cat "$B/nft.old"; } | nft -f -
  else nft delete table inet sesame 2>/dev/null; fi
else
own_unload iptables; own_restore iptables "$B/own.v4"; own_docker_undo iptables "$B/docker.v4"
fi
if [ "$be" != nftables ] && [ "$v6" = 1 ] && [ -f "$B/own.v6" ]; then
  own_unload ip6tables; own_restore ip6tables "$B/own.v6"; own_docker_undo ip6tables "$B/docker.v6"
fi
if [ "$kd" = 1 ]; then
  if [ "$mgr" = systemd ]; then
    systemctl daemon-reload
    [ "$ke" = enabled ] || systemctl disable knockd
    if [ "$kw" = active ]; then systemctl restart knockd; else systemctl stop knockd; fi
  else
    [ "$ke" = enabled ] || update-rc.d knockd disable
    if [ "$kw" = active ]; then service knockd restart 9>&-; else service knockd stop; fi
  fi
fi >/dev/null 2>&1
# The marker is STAGE's `undecided` file renamed (no new inode or block: a full disk cannot
# stop it); FINALIZE renames the same file to `disarmed`, so only one of them can happen.
mv -f "$B/undecided" "$B/rolled-back" 2>/dev/null || : > "$B/rolled-back"
echo "$(date +%s) $why" > "$B/rolled-back" 2>/dev/null
# end of rollback.sh
