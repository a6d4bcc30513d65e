# lib.sh: shell functions shared by sesame's transaction scripts (prepended to them).
# R is the backups root; B the transaction's directory once known. The host lock is $R/.lock,
# taken on fd 9 by STAGE, FINALIZE, ROLLBACK_NOW and rollback.sh: disarming and rolling back
# never interleave, and two transactions never run on one host at once. Children that may
# outlive the script (the sleeper, daemons started by init scripts) get fd 9 closed (`9>&-`),
# or they would hold the lock after the script ends.
R=@BACKUP@

# take_lock SECONDS: hold the host lock on fd 9, or fail.
take_lock() {
  exec 9>>"$R/.lock" || return 1
  flock -w "$1" 9
}

# put FILE TEXT: write TEXT and a newline to FILE and read it back (a full disk truncates
# silently on some shells' builtins).
put() {
  printf '%s\n' "$2" > "$1" && [ "$(cat "$1" 2>/dev/null)" = "$2" ]
}

# stop_switch: clean up the dead-man switch of $B once the transaction is decided (`disarmed`
# or `rolled-back` exists): any rollback it still starts finds that under the lock and does
# nothing, so stopping it can cut no restore. The sleeper is found by its token, never by a
# PID.
stop_switch() {
  read -r kind what _dl < "$B/armed" 2>/dev/null || return 0
  case "$kind" in
  timer) systemctl stop "$what.timer" "$what.service" >/dev/null 2>&1 ;;
  sleeper) pkill -f -- "sesame-sleep-$what" >/dev/null 2>&1 ;;
  esac
  return 0
}

# arm_sleeper SECONDS DEADLINE: the sysvinit dead-man switch of $B (id $id): a detached shell
# that sleeps, then runs rollback.sh. It is known by its token (its $0, `sesame-sleep-$id`),
# never by a PID, which another process may hold by the time the switch is stopped.
arm_sleeper() {
  put "$B/armed" "sleeper $id $2" || return 1
  setsid sh -c 'sleep "$1"; exec sh "$2" switch' "sesame-sleep-$id" "$1" "$B/rollback.sh" </dev/null >/dev/null 2>&1 9>&- &
}

# check_id ID: a transaction id as STAGE makes them (mktemp's letters and digits, a dash).
check_id() {
  case "$1" in
  "" | .* | *[!A-Za-z0-9-]*) echo "not a sesame transaction id: $1" >&2; return 1 ;;
  esac
}
