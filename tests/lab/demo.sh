#!/usr/bin/env bash
# demo.sh — sesame end to end on the built-in default, the lab fleet (run as root):
# installs what the lab needs, builds sesame, brings up 3 real Debian hosts in network
# namespaces, hardens them with playbooks/harden.yml (knockd mode, a fresh random sequence),
# then shows that SSH is closed, that a knock opens it for this machine only, and that a
# re-run changes nothing. `bash tests/lab/lab.sh down --fleet demo` removes the hosts.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) == 0 ]] || { echo "demo.sh: run as root (the lab makes network namespaces)" >&2; exit 1; }
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
need=()
for p in debootstrap dpkg-dev iproute2 openssh-client iptables knockd libssl-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" </dev/null
fi

say "building sesame"
cargo build --release -q
S=target/release/sesame

say "bringing up 3 lab hosts (first time: builds a Debian image, ~1-2 min)"
INV=$(bash tests/lab/lab.sh up 3 --fleet demo | tail -n 1)
cat "$INV"

# A random sequence, one port repeated (not in a row) so that no port scan can replay it.
a=$((RANDOM % 20000 + 20000)); b=$((a + 1 + RANDOM % 1000)); c=$((b + 1 + RANDOM % 1000))
VARS=$(mktemp --suffix=.yml)
trap 'rm -f "$VARS"' EXIT
printf 'knock_sequence: [%s, %s, %s, %s]\nknock_open_seconds: 10\nknock_step_seconds: 10\n' "$a" "$b" "$a" "$c" >"$VARS"

say "sesame play -i $INV playbooks/harden.yml -e @VARS (sequence masked in all output)"
"$S" play -i "$INV" playbooks/harden.yml -e "@$VARS"

ip=$(awk '/^h1 /{for(i=1;i<=NF;i++) if ($i ~ /^ansible_host=/) {sub("ansible_host=","",$i); print $i}}' "$INV")
say "waiting for the proof's door to close ($((10 + 1)) s), then: is SSH on h1 ($ip) open?"
sleep 11
if timeout 2 bash -c ": </dev/tcp/$ip/22" 2>/dev/null; then echo "OPEN (unexpected)"; exit 1; else echo "closed: no answer at all"; fi

say "sesame ssh h1 -- hostname   (knocks, then runs OpenSSH)"
"$S" ssh h1 -i "$INV" -e "@$VARS" -- hostname

say "a stranger (198.19.K.254) still gets no answer"
if bash tests/lab/lab.sh stranger demo -- timeout 2 bash -c ": </dev/tcp/$ip/22" 2>/dev/null; then echo "OPEN for the stranger (unexpected)"; exit 1; else echo "closed for the stranger"; fi

say "re-run (as CI would): knocks first, changes nothing"
"$S" play -i "$INV" playbooks/harden.yml -e "@$VARS"

say "sesame verify: closed before, opened by a knock, for every host"
sleep 11
"$S" verify -i "$INV" -e "@$VARS"

say "done. Remove the hosts with: bash tests/lab/lab.sh down --fleet demo"
