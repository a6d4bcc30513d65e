#!/usr/bin/env bash
# selftest-down-all.sh — proves `lab.sh down --all` leaves nothing behind, including after a
# crashed `up` and a fleet whose directory vanished. It runs in its own network and mount
# namespace (own /run/netns, /sys and lab state dir), so other fleets on this machine, e.g. of
# tests running in parallel, are neither seen nor touched. Needs root and the lab image.
set -euo pipefail
shopt -s inherit_errexit

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
if [[ ${1:-} != --inside ]]; then
    # Built out here: inside, there is no network to reach the mirror.
    "$here/lab.sh" image >/dev/null
    exec unshare --net --mount --propagation private bash "$here/selftest-down-all.sh" --inside
fi

state=$(mktemp -d /tmp/sesame-lab-selftest.XXXXXX)
trap 'rm -rf "$state" "$state.before" "$state.after"' EXIT
export SESAME_LAB_STATE=$state
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
mount -t sysfs sysfs /sys
ip link set lo up
lab=$here/lab.sh

snapshot() {
    echo "## netns"
    ip netns
    echo "## links"
    ip -o link | awk -F': ' '{print $2}'
    echo "## mounts"
    findmnt -rn -o TARGET,FSTYPE | grep -v '^/proc' || true
    echo "## host processes"
    ps -eo args | grep -F "__boot $state/" | grep -v grep || true
    echo "## fleets"
    ls -A "$state/fleets" 2>/dev/null || true
}

snapshot >"$state.before"
"$lab" up 3 --fleet a >/dev/null 2>&1
"$lab" up 2 --fleet b >/dev/null 2>&1
# A crashed `up`: killed while starting its hosts.
"$lab" up 5 --fleet c >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
# A fleet whose directory vanished (its hosts died with it): only namespaces and links remain.
k=$(cat "$state/fleets/b/index")
# shellcheck disable=SC2046 # one PID per word
kill -9 $(ip netns pids "sl$k-h1") $(ip netns pids "sl$k-h2")
sleep 0.3
rm -rf "$state/fleets/b"

during=$(snapshot)
# The checks below are not vacuous: the fleets are visible before `down --all`.
grep -q "^sl$k-stranger\( \|$\)" <<<"$during" || { echo "FAIL: fleet b's stranger netns not seen"; exit 1; }
grep -q -- "__boot $state/fleets/a/" <<<"$during" || { echo "FAIL: fleet a's hosts not seen"; exit 1; }

"$lab" down --all
snapshot >"$state.after"
if diff -u "$state.before" "$state.after"; then
    echo "down --all: machine as found"
else
    echo "FAIL: down --all left the differences above"
    exit 1
fi
