# rollback_now.sh: the proof failed: roll back over the open session at once (rollback.sh takes
# the host lock), then stop the switch. $1 transaction id, $2 why. When FINALIZE disarmed
# first, nothing is rolled back and it says `STAGE disarmed_before`.
set -u
check_id "$1" || exit 72
B=$R/$1
[ -f "$B/rollback.sh" ] || exit 71
sh "$B/rollback.sh" "$2" || exit 71
if [ ! -e "$B/rolled-back" ]; then
  # FINALIZE won the host lock first (its session broke after it disarmed): the new rules stay.
  [ -e "$B/disarmed" ] && { echo "STAGE disarmed_before"; exit 0; }
  echo "the transaction is neither rolled back nor disarmed" >&2; exit 71
fi
stop_switch
echo "STAGE rolled_back"
