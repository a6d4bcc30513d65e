# finalize.sh: the proof passed. Under the host lock: if the switch already rolled back, say so
# (`STAGE rolled_back WHY`, exit 70) and change nothing; else mark the transaction disarmed (a
# switch firing later then does nothing), stop the switch, keep the rules at boot and record
# the live fingerprint (0600). $1 transaction id, $2 door chain.
set -u
check_id "$1" || exit 72
B=$R/$1; v=$2
[ -f "$B/armed" ] || { echo "transaction $1 is not armed on this host" >&2; exit 72; }
take_lock 120 || { echo "cannot take the host lock $R/.lock" >&2; exit 72; }
if [ -e "$B/rolled-back" ]; then
  read -r _t why < "$B/rolled-back" || why=
  echo "STAGE rolled_back ${why:-}"
  exit 70
fi
mv "$B/undecided" "$B/disarmed" || { echo "cannot record the disarm in $B (disk full?): the switch stays armed and will restore the old rules" >&2; exit 73; }
stop_switch
echo "STAGE disarmed"
read -r kw ke mgr kd v6 < "$B/knockd.state"
be=iptables; [ -f "$B/backend" ] && read -r be < "$B/backend"
if [ "$be" = nftables ]; then
  # sesame's own unit (or init script) loads table inet sesame at boot.
  if [ "$mgr" = systemd ]; then { systemctl daemon-reload && systemctl enable sesame-knock.service && { systemctl is-active --quiet sesame-knock.service || systemctl start sesame-knock.service; }; } >/dev/null 2>&1
  else { update-rc.d sesame-knock defaults && update-rc.d sesame-knock enable; } >/dev/null 2>&1; fi \
    || { echo "the rules are proven and live, but sesame-knock cannot be enabled: they would not come back at boot" >&2; exit 74; }
elif [ "$mgr" = systemd ]; then systemctl enable netfilter-persistent >/dev/null 2>&1; else update-rc.d netfilter-persistent defaults >/dev/null 2>&1; update-rc.d netfilter-persistent enable >/dev/null 2>&1; fi
umask 077
h=$(@FWHASH@) && mkdir -p "$(dirname @RECORD@)" && put @RECORD@.new "$h" && chmod 0600 @RECORD@.new && mv -f @RECORD@.new @RECORD@ \
  || { echo "the rules are proven and live, but the record @RECORD@ cannot be written (disk full?)" >&2; exit 74; }
echo "STAGE persisted"
