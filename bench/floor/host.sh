#!/bin/sh
# The floor's work on one host, as one shell script (bench/floor/floor.sh sends it with
# `ssh -n host "$script"` after putting the five files, base64, into F_* variables in front).
# Idempotent: installs only missing packages, writes only files that differ, restarts only what
# changed; prints `changed=1` or `changed=0` as its last line.
set -eu
export DEBIAN_FRONTEND=noninteractive
ch=0; fw=0; kd=0
n=$(dpkg-query -W -f='${Status}\n' iptables iptables-persistent netfilter-persistent knockd 2>/dev/null | grep -c 'install ok installed' || true)
if [ "$n" != 4 ]; then
  printf '%s\n' 'iptables-persistent iptables-persistent/autosave_v4 boolean false' \
    'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends iptables iptables-persistent netfilter-persistent knockd >/dev/null
  ch=1
fi
t=$(mktemp)
put() { # path mode base64 -> 0 when written
  printf '%s' "$3" | base64 -d > "$t"
  cmp -s "$t" "$1" && return 1
  mkdir -p "$(dirname "$1")"; install -m "$2" "$t" "$1"; ch=1; return 0
}
put /etc/iptables/rules.v4 600 "$F_RULES4" && fw=1 || true
put /etc/iptables/rules.v6 600 "$F_RULES6" && fw=1 || true
put /etc/knockd.conf 600 "$F_KNOCKD" && kd=1 || true
put /etc/default/knockd 644 "$F_DEFAULT" && kd=1 || true
[ -d /etc/systemd/system/knockd.service.d ] || mkdir -m 700 -p /etc/systemd/system/knockd.service.d
put /etc/systemd/system/knockd.service.d/sesame.conf 644 "$F_OVERRIDE" && kd=1 || true
rm -f "$t"
if [ "$fw" = 1 ]; then update-rc.d netfilter-persistent enable >/dev/null 2>&1; service netfilter-persistent restart >/dev/null 2>&1; fi
if [ "$kd" = 1 ]; then update-rc.d knockd enable >/dev/null 2>&1; service knockd restart >/dev/null 2>&1; fi
echo "changed=$ch"
