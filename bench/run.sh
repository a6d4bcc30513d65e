#!/bin/bash
# The benchmark of issue 7: sesame vs ansible-playbook vs the floor (one `ssh -n` per host), on
# fresh lab fleets. See bench/README.md. Run as root from anywhere:
#   BENCH_SIZES="20 100" BENCH_RUNS=3 bench/run.sh
# Writes bench/out/raw.tsv (every measurement), bench/out/results.md (medians) and prints it.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out
sizes=${BENCH_SIZES:-"20 100"}
runs=${BENCH_RUNS:-3}
seq_ports=(7101 7202 7303)
seq_json='{"knock_sequence":[7101,7202,7303]}'
lab=(bash "$repo/tests/lab/lab.sh")
files=(etc/iptables/rules.v4 etc/iptables/rules.v6 etc/knockd.conf etc/default/knockd
       etc/systemd/system/knockd.service.d/sesame.conf)
mkdir -p "$out/time" "$out/logs"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (the lab does)"

# --- every fleet this run started is torn down on exit, also on failure or Ctrl-C ---
fleets=()
cg=/sys/fs/cgroup/cpuacct/sesame-bench-$$
cleanup() {
  for f in "${fleets[@]}"; do "${lab[@]}" down --fleet "$f" >/dev/null 2>&1 || log "down $f failed"; done
  [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ---
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null || die "cannot install time"; }
command -v knock >/dev/null || { apt-get install -y -qq knockd >/dev/null || die "cannot install knock"; }
if [ -z "${SESAME_BIN:-}" ]; then
  (cd "$repo" && cargo build --release -q) || die "cargo build --release failed"
  SESAME_BIN=$repo/target/release/sesame
fi
# A private copy: others rebuild target/ while the benchmark runs.
[ "$SESAME_BIN" -ef "$out/sesame" ] || cp "$SESAME_BIN" "$out/sesame" || die "no sesame binary at $SESAME_BIN"
sesame=$out/sesame
if [ ! -x "$out/venv/bin/ansible-playbook" ]; then
  python3 -m venv "$out/venv" && "$out/venv/bin/pip" install -q ansible-core || die "venv/ansible-core failed"
fi
export ANSIBLE_CONFIG=$here/ansible/ansible.cfg
ansible_version=$("$out/venv/bin/ansible-playbook" --version | head -1)

# CPU time of everything a run starts, daemons included (ansible's ControlPersist masters
# leave the process tree that /usr/bin/time waits for): a cpuacct cgroup when there is one.
if mkdir -p "$cg" 2>/dev/null && [ -f "$cg/cpuacct.usage" ]; then :; else cg=; fi

printf 'size\trun\tscenario\twall_s\tcpu_s\ttime_cpu_s\tmaxrss_kb\trc\tmachine_cpu_s\n' > "$out/raw.tsv"
# Busy CPU seconds of the whole machine: the controller *and* the lab hosts' sshd, dpkg, shells.
busy() { awk '/^cpu /{printf "%.2f", ($2+$3+$4+$7+$8) / 100}' /proc/stat; }

# measure SIZE RUN SCENARIO CMD... : one timed run, appended to raw.tsv; returns CMD's status.
measure() {
  local n=$1 r=$2 s=$3; shift 3
  local tf=$out/time/$s-$n-$r.txt lf=$out/logs/$s-$n-$r.log c0=0 c1=0 rc
  [ -n "$cg" ] && c0=$(cat "$cg/cpuacct.usage")
  local b0; b0=$(busy)
  local t0; t0=$(date +%s.%N)
  if [ -n "$cg" ]; then
    /usr/bin/time -v -o "$tf" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@" > "$lf" 2>&1
  else
    /usr/bin/time -v -o "$tf" "$@" > "$lf" 2>&1
  fi
  rc=$?
  local t1; t1=$(date +%s.%N)
  local b1; b1=$(busy)
  # ansible's ControlPersist masters: close them, still inside the cgroup, before reading it.
  for sock in "$out"/cp/*; do [ -S "$sock" ] && ssh -O exit -o ControlPath="$sock" x >/dev/null 2>&1; done
  rm -rf "$out/cp"
  [ -n "$cg" ] && c1=$(cat "$cg/cpuacct.usage")
  local user sys rss
  user=$(sed -n 's/.*User time (seconds): //p' "$tf"); sys=$(sed -n 's/.*System time (seconds): //p' "$tf")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tf")
  local tcpu; tcpu=$(echo "$user + $sys" | bc)
  local cpu=$tcpu; [ -n "$cg" ] && cpu=$(echo "scale=3; ($c1 - $c0) / 1000000000" | bc)
  printf '%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.2f\n' "$n" "$r" "$s" "$(echo "$t1 - $t0" | bc)" "$cpu" "$tcpu" "$rss" "$rc" "$(echo "$b1 - $b0" | bc)" >> "$out/raw.tsv"
  log "$s N=$n run $r: rc=$rc wall=$(echo "$t1 - $t0" | bc)s (log $lf)"
  return $rc
}

up() { # FLEET N -> inventory path (the caller adds FLEET to fleets: this runs in $(...))
  local try
  for try in 1 2 3; do
    "${lab[@]}" up "$2" --fleet "$1" 2>>"$out/logs/lab.log" | tail -1 | grep . && return 0
    log "lab up $1 failed (try $try), again"
    "${lab[@]}" down --fleet "$1" >/dev/null 2>&1
  done
  return 1
}
down() { "${lab[@]}" down --fleet "$1" >/dev/null 2>&1; }

hosts_of() { grep -E '^h[0-9]+ ' "$1" | awk '{print $1}'; }
ip_of() { sed -n "s/^$2 .*ansible_host=\([^ ]*\).*/\1/p" "$1"; }

# The door knockd opened for a run's own knock stays open knock_open_seconds (30 s): close it
# out of band (untimed) so the next run has to knock for real, as it would the next day.
close_doors() { # FLEET INV
  for h in $(hosts_of "$2"); do
    "${lab[@]}" exec "$1" "$h" -- sh -c 'iptables -w -F SESAME-DOOR; ip6tables -w -F SESAME-DOOR' >/dev/null 2>&1 &
  done
  wait
}

# Copy the five files sesame wrote on each host of FLEET into DIR/HOST/.
collect() { # FLEET INV DIR
  for h in $(hosts_of "$2"); do
    (mkdir -p "$3/$h/x" && "${lab[@]}" exec "$1" "$h" -- tar -C / -cf - "${files[@]}" | tar -xf - -C "$3/$h/x" &&
     cd "$3/$h" && mv x/etc/iptables/rules.v4 x/etc/iptables/rules.v6 x/etc/knockd.conf . &&
     mv x/etc/default/knockd default-knockd && mv x/etc/systemd/system/knockd.service.d/sesame.conf . && rm -rf x) &
  done
  wait
}

# Step 4: did the tool do the work? Same bytes as sesame's files for that host, port 22 closed
# without a knock, open after one. Prints "ok" or what failed; untimed.
check() { # FLEET INV RENDERED
  local h ip d=$out/check
  rm -rf "$d"; mkdir -p "$d"
  close_doors "$1" "$2"
  for h in $(hosts_of "$2"); do
    ip=$(ip_of "$2" "$h")
    (
      got=$("${lab[@]}" exec "$1" "$h" -- sh -c 'cd / && sha256sum etc/iptables/rules.v4 etc/iptables/rules.v6 etc/knockd.conf etc/default/knockd etc/systemd/system/knockd.service.d/sesame.conf' | awk '{print $1}' | tr '\n' ' ')
      want=$(cd "$3/$h" && sha256sum rules.v4 rules.v6 knockd.conf default-knockd sesame.conf | awk '{print $1}' | tr '\n' ' ')
      [ "$got" = "$want" ] || { echo "$h: files differ from sesame's" > "$d/$h"; exit; }
      if timeout 2 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null; then echo "$h: port 22 open without a knock" > "$d/$h"; exit; fi
      # A knock is three bare SYNs: under load one can be lost, so try three times.
      for try in 1 2 3; do
        knock "$ip" "${seq_ports[@]}"
        timeout 3 bash -c "until exec 3<>/dev/tcp/$ip/22; do sleep 0.2; done" 2>/dev/null && exit
      done
      echo "$h: port 22 closed after three knocks" > "$d/$h"
    ) &
  done
  wait
  local bad; bad=$(ls "$d" | wc -l)
  if [ "$bad" = 0 ]; then echo "ok ($(hosts_of "$2" | wc -l) hosts)"; else echo "FAILED on $bad hosts: $(cat "$d"/* | head -3 | tr '\n' ';')"; fi
}

declare -A checks
for n in $sizes; do
  rendered=$out/rendered/$n
  for r in $(seq 1 "$runs"); do
    # --- sesame: first run, no-change re-run, verify ---
    f=bs$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
    measure "$n" "$r" sesame-first "$sesame" play -i "$inv" "$repo/playbooks/harden.yml" -e "$seq_json" -f "$n"
    close_doors "$f" "$inv"
    measure "$n" "$r" sesame-rerun "$sesame" play -i "$inv" "$repo/playbooks/harden.yml" -e "$seq_json" -f "$n"
    close_doors "$f" "$inv"
    measure "$n" "$r" sesame-verify "$sesame" verify -i "$inv" -e "$seq_json" -f "$n"
    if [ "$r" = 1 ]; then rm -rf "$rendered"; collect "$f" "$inv" "$rendered"; fi
    checks[sesame-$n-$r]=$(check "$f" "$inv" "$rendered")
    down "$f"

    # --- ansible-playbook: first run and re-run on its own fresh fleet ---
    f=ba$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
    for s in first rerun; do
      [ "$s" = rerun ] && close_doors "$f" "$inv"
      ANSIBLE_SSH_CONTROL_PATH_DIR=$out/cp measure "$n" "$r" ansible-$s "$out/venv/bin/ansible-playbook" \
        -i "$inv" "$here/ansible/harden.yml" -f "$n" -e "rendered_dir=$rendered" -e "$seq_json"
    done
    checks[ansible-$n-$r]=$(check "$f" "$inv" "$rendered")
    down "$f"

    # --- the floor: one ssh -n per host, in parallel ---
    f=bf$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
    for s in first rerun; do
      [ "$s" = rerun ] && close_doors "$f" "$inv"
      measure "$n" "$r" floor-$s "$here/floor/floor.sh" "$inv" "$rendered" "${seq_ports[@]}"
    done
    checks[floor-$n-$r]=$(check "$f" "$inv" "$rendered")
    down "$f"
  done
done

# --- medians and the table ---
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { # SIZE SCENARIO COLUMN -> median
  awk -F'\t' -v n="$1" -v s="$2" -v c="$3" 'NR>1 && $1==n && $3==s {print $c}' "$out/raw.tsv" | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a / b }'; }
{
  echo "# sesame benchmark ($(date -u +%F), $(nproc) cores, BENCH_RUNS=$runs, medians)"
  echo
  echo "sesame $(git -C "$repo" rev-parse --short HEAD), $ansible_version, OpenSSH $(ssh -V 2>&1 | cut -d' ' -f1)."
  echo "CPU = user+sys of every process the run started (cpuacct cgroup: $([ -n "$cg" ] && echo yes || echo 'no, /usr/bin/time only'))."
  echo "Peak RSS = the largest single process (/usr/bin/time -v). Wall/CPU in seconds, RSS in MB."
  echo
  echo "Machine CPU = busy CPU seconds of the whole machine during the run (/proc/stat): controller and lab hosts."
  echo
  echo "| N | scenario | wall s | CPU s | machine CPU s | peak RSS MB | failed runs | wall sesame/ansible | wall sesame/floor | CPU sesame/ansible | CPU sesame/floor |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for n in $sizes; do
    for s in sesame-first sesame-rerun sesame-verify ansible-first ansible-rerun floor-first floor-rerun; do
      w=$(col "$n" "$s" 4); c=$(col "$n" "$s" 5); m=$(col "$n" "$s" 7); mc=$(col "$n" "$s" 9)
      fails=$(awk -F'\t' -v n="$n" -v s="$s" 'NR>1 && $1==n && $3==s && $8!=0' "$out/raw.tsv" | wc -l)
      ra=- rf=- ca=- cf=-
      case $s in sesame-first|sesame-rerun)
        k=${s#sesame-}
        ra=$(ratio "$w" "$(col "$n" ansible-$k 4)"); rf=$(ratio "$w" "$(col "$n" floor-$k 4)")
        ca=$(ratio "$c" "$(col "$n" ansible-$k 5)"); cf=$(ratio "$c" "$(col "$n" floor-$k 5)") ;;
      esac
      printf '| %s | %s | %.2f | %.2f | %.1f | %.1f | %s | %s | %s | %s | %s |\n' "$n" "$s" "$w" "$c" "$mc" "$(echo "$m / 1024" | bc -l)" "$fails" "$ra" "$rf" "$ca" "$cf"
    done
  done
  echo
  echo "Did each tool do the work (same file hashes as sesame's, port 22 closed without a knock, open after)?"
  echo
  for k in $(printf '%s\n' "${!checks[@]}" | sort); do echo "- $k: ${checks[$k]}" | tr '\n' ' '; echo; done
} > "$out/results.md"
cat "$out/results.md"
