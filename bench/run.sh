#!/bin/bash
# The benchmark of issues 7 and 16: sesame vs ansible-playbook vs the floor (one `ssh -n` per
# host), on fresh lab fleets. See bench/README.md. Run as root from anywhere:
#   BENCH_SIZES="20 100" BENCH_RUNS=3 bench/run.sh
#   BENCH_TOOLS="sesame floor" BENCH_BACKENDS="iptables nftables" bench/run.sh
#   BENCH_TOOLS=sesame BENCH_SIZES=200 BENCH_RUNS=1 BENCH_FORKS=100 bench/run.sh
# Writes bench/out/raw.tsv (every measurement), bench/out/results.md (medians) and prints it.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}        # raw.tsv, results.md, logs; one per concurrent benchmark
sizes=${BENCH_SIZES:-"20 100"}
runs=${BENCH_RUNS:-3}
tools=${BENCH_TOOLS:-"sesame ansible floor"}
backends=${BENCH_BACKENDS:-iptables}
forks_opt=${BENCH_FORKS:-}           # sesame's -f; empty: N (every host at once)
prefix=${SESAME_LAB_FLEET_PREFIX:-}  # in front of every fleet name (several benchmarks, tests)
seq_ports=(7101 7202 7303)
seq_json='{"knock_sequence":[7101,7202,7303]}'
# sesame's debug lines for SSH sessions and remote commands only (one line each): the log the
# remote command count is read from, without the cost of a full -vv.
sesame_log='warn,sesame::transport::ssh=debug'
lab=(bash "$repo/tests/lab/lab.sh")
files=(etc/iptables/rules.v4 etc/iptables/rules.v6 etc/knockd.conf etc/default/knockd
       etc/systemd/system/knockd.service.d/sesame.conf)
nft_files=(etc/sesame/knock.nft etc/knockd.conf etc/default/knockd)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; } # LIST WORD
[ "$(id -u)" = 0 ] || die "needs root (the lab does)"
for t in $tools; do case $t in sesame|ansible|floor) ;; *) die "BENCH_TOOLS: unknown tool '$t' (sesame ansible floor)" ;; esac; done
for b in $backends; do case $b in iptables|nftables) ;; *) die "BENCH_BACKENDS: unknown backend '$b' (iptables nftables)" ;; esac; done
for n in $sizes; do case $n in ''|*[!0-9]*) die "BENCH_SIZES: '$n' is not a number" ;; esac
  [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "BENCH_SIZES: $n is not in 1..200 (the lab's bound)"; done
case $runs in ''|*[!0-9]*|0) die "BENCH_RUNS: '$runs' is not a positive number" ;; esac
case $forks_opt in *[!0-9]*) die "BENCH_FORKS: '$forks_opt' is not a number" ;; esac
case $out in /*) ;; *) die "BENCH_OUT: '$out' is not an absolute path" ;; esac
case $prefix in *[!A-Za-z0-9_.-]*) die "SESAME_LAB_FLEET_PREFIX: '$prefix' (use A-Z a-z 0-9 _ . -)" ;; esac
# Ansible and the floor write the bytes sesame rendered on its iptables fleet of run 1.
if has "$tools" ansible || has "$tools" floor; then
  has "$tools" sesame && has "$backends" iptables ||
    die "ansible and floor need sesame with the iptables backend in the same run (they write the files it rendered)"
fi
mkdir -p "$out/time" "$out/logs"

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
ansible_version="ansible-playbook not run"
if has "$tools" ansible; then
  if [ ! -x "$out/venv/bin/ansible-playbook" ]; then
    python3 -m venv "$out/venv" && "$out/venv/bin/pip" install -q ansible-core || die "venv/ansible-core failed"
  fi
  export ANSIBLE_CONFIG=$here/ansible/ansible.cfg
  ansible_version=$("$out/venv/bin/ansible-playbook" --version | head -1)
fi

# CPU time of everything a run starts, daemons included (ansible's ControlPersist masters
# leave the process tree that /usr/bin/time waits for): a cpuacct cgroup when there is one.
if mkdir -p "$cg" 2>/dev/null && [ -f "$cg/cpuacct.usage" ]; then :; else cg=; fi

cols='size\trun\tscenario\tbackend\tforks\twall_s\tcpu_s\ttime_cpu_s\tmaxrss_kb\trc\tmachine_cpu_s\tload1'
cols+='\tcmds_min\tcmds_med\tcmds_max\tsess_min\tsess_med\tsess_max\n'
printf "$cols" > "$out/raw.tsv"
# Busy CPU seconds of the whole machine: the controller *and* the lab hosts' sshd, dpkg, shells.
busy() { awk '/^cpu /{printf "%.2f", ($2+$3+$4+$7+$8) / 100}' /proc/stat; }
load1() { cut -d' ' -f1 /proc/loadavg; }

hosts_of() { grep -E '^h[0-9]+ ' "$1" | awk '{print $1}'; }
ip_of() { sed -n "s/^$2 .*ansible_host=\([^ ]*\).*/\1/p" "$1"; }

# Remote commands and SSH sessions per host, from sesame's debug log (the lines harden_lab
# counts too): "min med max" of commands, then of sessions, over every host of INV (a host the
# log never names counts 0).
counts() { # LOG INV
  awk 'FNR == NR { c[$1] = 0; s[$1] = 0; next }
       / host=/ && (/: exec host=/ || /ssh session established/) {
         if (!match($0, / host=[^ ]+/)) next
         h = substr($0, RSTART + 6, RLENGTH - 6)
         if (!(h in c)) next
         if (/: exec host=/) c[h]++; else s[h]++
       }
       END { for (h in c) print c[h], s[h] }' <(hosts_of "$2") "$1" |
    awk '{ c[NR] = $1; s[NR] = $2 }
         function stats(a, n,   i, j, t) {
           for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
           return a[1] " " (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) " " a[n]
         }
         END { if (NR == 0) { print "- - - - - -"; exit } print stats(c, NR), stats(s, NR) }'
}

# measure SIZE RUN SCENARIO BACKEND FORKS INV CMD... : one timed run, appended to raw.tsv;
# returns CMD's status. sesame's runs log their sessions and remote commands (counted here).
measure() {
  local n=$1 r=$2 s=$3 b=$4 f=$5 inv=$6; shift 6
  local tf=$out/time/$s-$b-$n-$r.txt lf=$out/logs/$s-$b-$n-$r.log c0=0 c1=0 rc
  local ld; ld=$(load1)
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
  local cn="- - - - - -"
  case $s in
    sesame-*) cn=$(counts "$lf" "$inv") ;;
    floor-*) cn="1 1 1 1 1 1" ;; # one ssh -n per host, by construction (a lost knock: 2)
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.2f\t%s\t%s\n' "$n" "$r" "$s" "$b" "$f" \
    "$(echo "$t1 - $t0" | bc)" "$cpu" "$tcpu" "$rss" "$rc" "$(echo "$b1 - $b0" | bc)" "$ld" \
    "$(tr ' ' '\t' <<<"$cn")" >> "$out/raw.tsv"
  log "$s $b N=$n run $r: rc=$rc wall=$(echo "$t1 - $t0" | bc)s cmds/sessions per host (min med max) $cn load $ld (log $lf)"
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

# The door knockd opened for a run's own knock stays open knock_open_seconds (30 s): close it
# out of band (untimed) so the next run has to knock for real, as it would the next day.
close_doors() { # FLEET INV [BACKEND]
  local h cmd='iptables -w -F SESAME-DOOR; ip6tables -w -F SESAME-DOOR'
  [ "${3:-iptables}" = nftables ] && cmd='nft flush set inet sesame clients_v4; nft flush set inet sesame clients_v6'
  for h in $(hosts_of "$2"); do
    "${lab[@]}" exec "$1" "$h" -- sh -c "$cmd" >/dev/null 2>&1 &
  done
  wait
}

# Copy the five files sesame wrote on each host of FLEET into DIR/HOST/ (iptables), or the
# nftables backend's files under their paths into DIR/HOST/.
collect() { # FLEET INV DIR BACKEND
  for h in $(hosts_of "$2"); do
    if [ "$4" = nftables ]; then
      (mkdir -p "$3/$h" && "${lab[@]}" exec "$1" "$h" -- tar -C / -cf - "${nft_files[@]}" | tar -xf - -C "$3/$h") &
      continue
    fi
    (mkdir -p "$3/$h/x" && "${lab[@]}" exec "$1" "$h" -- tar -C / -cf - "${files[@]}" | tar -xf - -C "$3/$h/x" &&
     cd "$3/$h" && mv x/etc/iptables/rules.v4 x/etc/iptables/rules.v6 x/etc/knockd.conf . &&
     mv x/etc/default/knockd default-knockd && mv x/etc/systemd/system/knockd.service.d/sesame.conf . && rm -rf x) &
  done
  wait
}

# Did the tool do the work? Same bytes as sesame's files for that host, port 22 closed
# without a knock, open after one. Prints "ok" or what failed; untimed.
check() { # FLEET INV RENDERED [BACKEND]
  local h ip d=$out/check b=${4:-iptables}
  rm -rf "$d"; mkdir -p "$d"
  close_doors "$1" "$2" "$b"
  for h in $(hosts_of "$2"); do
    ip=$(ip_of "$2" "$h")
    (
      if [ "$b" = nftables ]; then
        got=$("${lab[@]}" exec "$1" "$h" -- sh -c "cd / && sha256sum ${nft_files[*]}" | awk '{print $1}' | tr '\n' ' ')
        want=$(cd "$3/$h" && sha256sum "${nft_files[@]}" | awk '{print $1}' | tr '\n' ' ')
      else
        got=$("${lab[@]}" exec "$1" "$h" -- sh -c 'cd / && sha256sum etc/iptables/rules.v4 etc/iptables/rules.v6 etc/knockd.conf etc/default/knockd etc/systemd/system/knockd.service.d/sesame.conf' | awk '{print $1}' | tr '\n' ' ')
        want=$(cd "$3/$h" && sha256sum rules.v4 rules.v6 knockd.conf default-knockd sesame.conf | awk '{print $1}' | tr '\n' ' ')
      fi
      [ -n "$want" ] && [ "$got" = "$want" ] || { echo "$h: files differ from sesame's" > "$d/$h"; exit; }
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

# Did every host converge in a sesame run? Its recap: failed=0 unreachable=0 on every host of
# INV, changed>0 on a first run, changed=0 on a re-run. Prints "" or what failed.
converged() { # LOG INV KIND(first|rerun)
  awk -v kind="$3" 'FNR == NR { want[$1] = 1; next }
    ($1 in want) && / changed=/ && / failed=/ {
      seen[$1] = 1
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      if (v["failed"] != 0 || v["unreachable"] != 0) bad = bad " " $1 "(failed/unreachable)"
      else if (kind == "first" && v["changed"] == 0) bad = bad " " $1 "(changed=0 on a first run)"
      else if (kind == "rerun" && v["changed"] != 0) bad = bad " " $1 "(changed=" v["changed"] " on a re-run)"
    }
    END { for (h in want) if (!(h in seen)) bad = bad " " h "(no recap)"; if (bad != "") print " " kind ":" substr(bad, 1, 200) }' \
    <(hosts_of "$2") "$1"
}

declare -A checks
# sesame on a fresh fleet: first run, no-change re-run, verify; then the work check.
sesame_fleet() { # N RUN BACKEND
  local n=$1 r=$2 b=$3 f inv fk=${forks_opt:-$1} ex=$seq_json tag=bs rendered bad=""
  [ "$b" = nftables ] && { tag=bn; ex='{"knock_sequence":[7101,7202,7303],"knock_backend":"nftables"}'; }
  rendered=$out/rendered/$n; [ "$b" = nftables ] && rendered=$out/rendered-nft/$n
  f=$prefix$tag$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
  export SESAME_LOG=$sesame_log
  # A controller of its own: the knock state file (knocks.json, rewritten after each host's
  # transaction) holds this fleet's hosts only, not every host this machine's root ever hardened.
  export XDG_STATE_HOME=$out/state/$f; rm -rf "$XDG_STATE_HOME"; mkdir -p "$XDG_STATE_HOME"
  measure "$n" "$r" sesame-first "$b" "$fk" "$inv" "$sesame" play -i "$inv" "$repo/playbooks/harden.yml" -e "$ex" -f "$fk"
  bad+=$(converged "$out/logs/sesame-first-$b-$n-$r.log" "$inv" first)
  close_doors "$f" "$inv" "$b"
  measure "$n" "$r" sesame-rerun "$b" "$fk" "$inv" "$sesame" play -i "$inv" "$repo/playbooks/harden.yml" -e "$ex" -f "$fk"
  bad+=$(converged "$out/logs/sesame-rerun-$b-$n-$r.log" "$inv" rerun)
  close_doors "$f" "$inv" "$b"
  measure "$n" "$r" sesame-verify "$b" "$fk" "$inv" "$sesame" verify -i "$inv" -e "$ex" -f "$fk" || bad+=" verify failed"
  unset SESAME_LOG XDG_STATE_HOME
  if [ ! -d "$rendered" ]; then collect "$f" "$inv" "$rendered" "$b"; fi
  checks[sesame-$b-$n-$r]="$(check "$f" "$inv" "$rendered" "$b")${bad:+; NOT CONVERGED: $bad}"
  down "$f"
}

# ansible-playbook: first run and re-run on its own fresh fleet.
ansible_fleet() { # N RUN
  local n=$1 r=$2 f inv s
  f=${prefix}ba$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
  for s in first rerun; do
    [ "$s" = rerun ] && close_doors "$f" "$inv"
    ANSIBLE_SSH_CONTROL_PATH_DIR=$out/cp measure "$n" "$r" ansible-$s iptables "$n" "$inv" "$out/venv/bin/ansible-playbook" \
      -i "$inv" "$here/ansible/harden.yml" -f "$n" -e "rendered_dir=$out/rendered/$n" -e "$seq_json"
  done
  checks[ansible-iptables-$n-$r]=$(check "$f" "$inv" "$out/rendered/$n")
  down "$f"
}

# The floor: one ssh -n per host, in parallel.
floor_fleet() { # N RUN
  local n=$1 r=$2 f inv s
  f=${prefix}bf$n-$r; fleets+=("$f"); inv=$(up "$f" "$n") || die "lab up $f failed"
  for s in first rerun; do
    [ "$s" = rerun ] && close_doors "$f" "$inv"
    measure "$n" "$r" floor-$s iptables "$n" "$inv" "$here/floor/floor.sh" "$inv" "$out/rendered/$n" "${seq_ports[@]}"
  done
  checks[floor-iptables-$n-$r]=$(check "$f" "$inv" "$out/rendered/$n")
  down "$f"
}

# The reference files of every size and backend come from this benchmark's first sesame fleet.
rm -rf "$out/rendered" "$out/rendered-nft"
started_load=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $sizes; do
  for r in $(seq 1 "$runs"); do
    if has "$tools" sesame; then for b in $backends; do sesame_fleet "$n" "$r" "$b"; done; fi
    has "$tools" ansible && ansible_fleet "$n" "$r"
    has "$tools" floor && floor_fleet "$n" "$r"
  done
done
ended_load=$(cut -d' ' -f1-3 /proc/loadavg)

# --- medians and the table ---
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rows() { # SIZE SCENARIO BACKEND COLUMN -> that column of every run
  awk -F'\t' -v n="$1" -v s="$2" -v b="$3" -v c="$4" 'NR>1 && $1==n && $3==s && $4==b {print $c}' "$out/raw.tsv"
}
col() { rows "$@" | median; } # SIZE SCENARIO BACKEND COLUMN -> median
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a / b }'; }
# min over runs of the hosts' minimum / median of the hosts' medians / max of the maxima.
spread() { # SIZE SCENARIO BACKEND FIRSTCOL
  local lo med hi
  lo=$(rows "$1" "$2" "$3" "$4" | grep -v -- - | sort -g | head -1)
  med=$(rows "$1" "$2" "$3" $(($4 + 1)) | grep -v -- - | median)
  hi=$(rows "$1" "$2" "$3" $(($4 + 2)) | grep -v -- - | sort -g | tail -1)
  if [ -z "$lo" ]; then echo -; else echo "$lo / $med / $hi"; fi
}
{
  echo "# sesame benchmark ($(date -u +%F), $(nproc) cores, BENCH_RUNS=$runs, medians)"
  echo
  echo "sesame $(git -C "$repo" rev-parse --short HEAD), $ansible_version, OpenSSH $(ssh -V 2>&1 | cut -d' ' -f1)."
  echo "BENCH_TOOLS=\"$tools\" BENCH_BACKENDS=\"$backends\" BENCH_SIZES=\"$sizes\" forks: ${forks_opt:-N}."
  echo "Load average (1/5/15 min) at the start: $started_load; at the end: $ended_load; column load = 1-min load average at the start of each run (median)."
  echo "CPU = user+sys of every process the run started (cpuacct cgroup: $([ -n "$cg" ] && echo yes || echo 'no, /usr/bin/time only'))."
  echo "Peak RSS = the largest single process (/usr/bin/time -v). Wall/CPU in seconds, RSS in MB."
  echo "Machine CPU = busy CPU seconds of the whole machine during the run (/proc/stat): controller, lab hosts and whatever else runs."
  echo "cmds, sessions = remote commands and SSH sessions per host, min / median / max over the hosts (sesame: counted in its"
  echo "debug log, SESAME_LOG=$sesame_log; floor: one ssh -n by construction; ansible: not counted)."
  echo "Ratios: sesame (either backend) over the iptables floor / ansible-playbook, medians."
  echo "sesame's knock state file: a fresh one per fleet (XDG_STATE_HOME=bench/out/state/FLEET), shared by its first run, re-run and verify."
  echo
  echo "| N | backend | forks | scenario | wall s | CPU s | machine CPU s | peak RSS MB | cmds/host | sessions/host | load | failed runs | wall /floor | wall /ansible | CPU /floor | CPU /ansible |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for n in $sizes; do
    for s in sesame-first sesame-rerun sesame-verify ansible-first ansible-rerun floor-first floor-rerun; do
      for b in iptables nftables; do
        [ -n "$(rows "$n" "$s" "$b" 6)" ] || continue
        w=$(col "$n" "$s" "$b" 6); c=$(col "$n" "$s" "$b" 7); m=$(col "$n" "$s" "$b" 9); mc=$(col "$n" "$s" "$b" 11)
        ld=$(col "$n" "$s" "$b" 12); fk=$(rows "$n" "$s" "$b" 5 | head -1)
        fails=$(awk -F'\t' -v n="$n" -v s="$s" -v b="$b" 'NR>1 && $1==n && $3==s && $4==b && $10!=0' "$out/raw.tsv" | wc -l)
        ra=- rf=- ca=- cf=-
        case $s in sesame-first|sesame-rerun)
          k=${s#sesame-}
          rf=$(ratio "$w" "$(col "$n" floor-$k iptables 6)"); ra=$(ratio "$w" "$(col "$n" ansible-$k iptables 6)")
          cf=$(ratio "$c" "$(col "$n" floor-$k iptables 7)"); ca=$(ratio "$c" "$(col "$n" ansible-$k iptables 7)") ;;
        esac
        printf '| %s | %s | %s | %s | %.2f | %.2f | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$b" "$fk" "$s" \
          "$w" "$c" "$mc" "$(echo "$m / 1024" | bc -l)" "$(spread "$n" "$s" "$b" 13)" "$(spread "$n" "$s" "$b" 16)" "$ld" \
          "$fails" "$rf" "$ra" "$cf" "$ca"
      done
    done
  done
  echo
  echo "Did each run do the work (sesame: every host's recap failed=0 unreachable=0, changed>0 on the first run and"
  echo "changed=0 on the re-run, verify rc 0; every tool: same file hashes as sesame's first fleet of that size and backend,"
  echo "port 22 closed without a knock, open after)?"
  echo
  for k in $(printf '%s\n' "${!checks[@]}" | sort); do echo "- $k: ${checks[$k]}" | tr '\n' ' '; echo; done
} > "$out/results.md"
cat "$out/results.md"
