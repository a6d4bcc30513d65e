# rollback_now.sh: the proof failed: roll back over the open session at once (rollback.sh takes
# the host lock), then stop the switch. $1 transaction id, $2 why.
set -u
check_id "$1" || exit 72
B=$R/$1
[ -f "$B/rollback.sh" ] || exit 71
sh "$B/rollback.sh" "$2" || exit 71
[ -e "$B/rolled-back" ] || { echo "the transaction was disarmed: nothing rolled back" >&2; exit 71; }
stop_switch
echo "STAGE rolled_back"
