#!/bin/bash
# The floor of the benchmark: per host, in parallel, knock, one `ssh -n` running
# bench/floor/host.sh with the host's five files inlined, and when it changed something a test
# knock plus a TCP check of port 22 from the controller. No tool, no Python, no Rust.
# Usage: floor.sh INVENTORY RENDERED_DIR PORT...   (exit 1 when any host failed)
set -u
inv=$1 rendered=$2; shift 2
seq=("$@")
here=$(cd "$(dirname "$0")" && pwd)
body=$(cat "$here/host.sh")
key=$(sed -n 's/^ansible_ssh_private_key_file=//p' "$inv")
kh=$(sed -n "s/^ansible_ssh_common_args=.*UserKnownHostsFile=\([^ ']*\).*/\1/p" "$inv")
b64() { base64 -w0 < "$1"; }
one() { # name ip
  local d=$rendered/$1 out rc
  local try
  # A knock is three bare SYNs: under load one can be lost. ssh exits 255 when it cannot
  # connect (door still closed): knock again, once.
  for try in 1 2; do
    knock "$2" "${seq[@]}" || return 1
    out=$(ssh -n -i "$key" -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o BatchMode=yes \
        -o ConnectTimeout=10 "root@$2" \
      "F_RULES4='$(b64 "$d/rules.v4")' F_RULES6='$(b64 "$d/rules.v6")' F_KNOCKD='$(b64 "$d/knockd.conf")' F_DEFAULT='$(b64 "$d/default-knockd")' F_OVERRIDE='$(b64 "$d/sesame.conf")'
$body"); rc=$?
    [ "$rc" = 255 ] && [ "$try" = 1 ] && continue
    [ "$rc" = 0 ] || { echo "floor: $1: ssh work failed ($rc)" >&2; return 1; }
    break
  done
  case "$out" in *changed=1*) ;; *) return 0 ;; esac
  knock "$2" "${seq[@]}" || return 1
  timeout 10 bash -c "until exec 3<>/dev/tcp/$2/22; do sleep 0.2; done" 2>/dev/null \
    || { echo "floor: $1: port 22 closed after the knock" >&2; return 1; }
}
pids=()
while read -r name rest; do
  ip=$(sed -n 's/.*ansible_host=\([^ ]*\).*/\1/p' <<<"$rest")
  [ -n "$ip" ] || continue
  one "$name" "$ip" & pids+=($!)
done < <(grep -E '^h[0-9]+ ' "$inv")
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
