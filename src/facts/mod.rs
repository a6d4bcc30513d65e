//! Facts: one remote probe script per host that reports the host's facts *and* the state of
//! every resource the play's tasks will ask about, so a no-change run costs one exec. The
//! script is built here; its output is parsed by pure functions tested on captured output.

pub mod host;
pub mod state;

pub use host::HostFacts;
pub use state::{Query, QueryAnswer, State};

use crate::transport::Cmd;

/// Marker that starts each section of the probe output.
pub const MARK: &str = "@@sesame@@";

/// The probe script. `$1` is the SSH_CONNECTION seen before any sudo; `$2` = "1" to gather host
/// facts; the rest are queries (`f:PATH`, `p:PKG`, `s:SERVICE`, `d:PKG`, `a:` apt lists age).
const PROBE: &str = r#"
M='@@sesame@@'
sshc=$1; gather=$2; shift 2
if [ "$gather" = 1 ]; then
echo "$M os"; cat /etc/os-release 2>/dev/null
echo "$M pid1"; cat /proc/1/comm 2>/dev/null
echo "$M route"; cat /proc/net/route 2>/dev/null
echo "$M iptables"; iptables -V 2>&1
echo "$M ip6tables"; ip6tables -w -n -L INPUT >/dev/null 2>&1; echo $?
echo "$M inet6"; cat /proc/net/if_inet6 2>/dev/null
echo "$M sshconn"; echo "$sshc"
echo "$M ufw"; cat /etc/ufw/ufw.conf 2>/dev/null
echo "$M pkgs"; dpkg-query -W -f='${binary:Package}\t${db:Status-Abbrev}\t${Version}\n' knockd iptables-persistent netfilter-persistent ufw iptables systemd 2>/dev/null
echo "$M now"; date +%s
echo "$M dnat"; { iptables-save -t nat; ip6tables-save -t nat; nft -t list ruleset; } 2>/dev/null | grep -e ' -j DNAT' -e ' dnat '
echo "$M input"; for t in iptables ip6tables; do echo "family $t"; "$t-save" -t filter 2>/dev/null | grep -E -e '^-A INPUT .*-j ACCEPT( |$)' -e '^-A INPUT .*-[jg] SESAME-'; done
fi
# Every package query in one dpkg-query call (each call parses the whole status file).
pk=; tab='	'
for q in "$@"; do case "$q" in p:*[*?[]*) ;; p:*) pk="$pk ${q#p:}" ;; esac; done
if [ -n "$pk" ]; then
  set -f; pq=$(dpkg-query -W -f='${binary:Package}\t${db:Status-Abbrev}\t${Version}\n' -- $pk 2>/dev/null); set +f
fi
i=0
for q in "$@"; do
  i=$((i+1)); v=${q#?:}
  echo "$M q $i"
  case "$q" in
  f:*) if [ -e "$v" ] || [ -L "$v" ]; then
         stat -c '%a %U %G %s %F' -- "$v"
         if [ -f "$v" ] && [ "$(stat -c %s -- "$v")" -le 262144 ]; then base64 -w0 -- "$v"; fi
         echo
       else echo absent; fi ;;
  p:*[*?[]*) dpkg-query -W -f='${db:Status-Abbrev}\t${Version}\n' -- "$v" 2>/dev/null || echo 'un' ;;
  p:*) found=
       while IFS="$tab" read -r n st ver; do
         case "$n" in "$v"|"$v":*) printf '%s\t%s\n' "$st" "$ver"; found=1; break ;; esac
       done <<EOF
$pq
EOF
       [ -n "$found" ] || echo 'un' ;;
  s:*) if [ -d /run/systemd/system ]; then
         echo "systemd $(systemctl is-active -- "$v" 2>/dev/null) $(systemctl is-enabled -- "$v" 2>/dev/null)"
       else
         if [ -x "/etc/init.d/$v" ]; then
           if service "$v" status >/dev/null 2>&1 || pgrep -x -- "$v" >/dev/null 2>&1; then a=active; else a=inactive; fi
           if ls /etc/rc2.d/S??"$v" >/dev/null 2>&1; then e=enabled; else e=disabled; fi
           echo "sysv $a $e"
         else echo "sysv missing missing"; fi
       fi ;;
  d:*) # debconf-show is Perl (~40 ms of CPU a call): read the default file database directly
       # when debconf is configured the stock way, and ask debconf-show otherwise.
       db=/var/cache/debconf/config.dat
       if [ -z "${DEBCONF_DB_OVERRIDE:-}${DEBCONF_DB_FALLBACK:-}${DEBCONF_DB_REPLACE:-}${DEBCONF_SYSTEMRC:-}" ] && [ -r "$db" ] &&
          [ ! -e "$HOME/.debconfrc" ] && grep -qsx "Filename: $db" /etc/debconf.conf; then
         awk -v p="$v" 'BEGIN { RS = ""; FS = "\n" }
           { n = ""; val = ""; own = 0
             for (i = 1; i <= NF; i++) {
               if ($i ~ /^Name: /) n = substr($i, 7)
               else if ($i ~ /^Value: /) val = substr($i, 8)
               else if ($i ~ /^Owners: /) { c = split(substr($i, 9), o, /, */); for (k = 1; k <= c; k++) if (o[k] == p) own = 1 }
             }
             if (own && n != "") print "  " n ":" (val == "" ? "" : " " val) }' "$db"
       else debconf-show -- "$v" 2>/dev/null; fi ;;
  w:*) echo "live $(@FWHASH@)"; echo "saved $(cat @FWRECORD@ 2>/dev/null)" ;;
  a:*) find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1; echo "now $(date +%s)" ;;
  esac
done
echo "$M end"
"#;

/// Build the probe command: host facts (when `gather`) plus the given queries.
pub fn probe_command(gather: bool, queries: &[Query]) -> Cmd {
    // The outer shell expands $SSH_CONNECTION before any sudo wrapper can drop it; the inner
    // script receives it as $1.
    let script = PROBE
        .replace("@FWHASH@", state::FIREWALL_HASH_SH)
        .replace("@FWRECORD@", state::FIREWALL_RECORD);
    Cmd::sh(script)
        .arg("sesame-probe")
        .ssh_connection_arg()
        .arg(if gather { "1" } else { "0" })
        .args(queries.iter().map(Query::encode))
}

/// The probe of `queries` alone (no facts, so no `$SSH_CONNECTION`): it can ride in a batch of
/// commands under the batch's become.
pub fn requery_command(queries: &[Query]) -> Cmd {
    let script = PROBE
        .replace("@FWHASH@", state::FIREWALL_HASH_SH)
        .replace("@FWRECORD@", state::FIREWALL_RECORD);
    Cmd::sh(script)
        .arg("sesame-probe")
        .arg("")
        .arg("0")
        .args(queries.iter().map(Query::encode))
}

/// Split probe output into (section header, body) pairs.
pub fn sections(out: &str) -> Vec<(&str, &str)> {
    let mut res = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in out.split_inclusive('\n') {
        if line.starts_with(MARK) {
            starts.push(pos);
        }
        pos += line.len();
    }
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(out.len());
        let chunk = &out[s..end];
        let (head, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        res.push((head[MARK.len()..].trim(), body));
    }
    res
}
