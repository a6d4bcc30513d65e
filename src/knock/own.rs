//! sesame's part of a host's firewall, and only that: the shell functions the firewall
//! transaction (`apply`) uses to save, remove, load and put back the rules sesame owns, leaving
//! every other chain, rule, policy and table (fail2ban, Docker, libvirt, the distribution's
//! own) as it is. Text only; runs nothing itself.
//!
//! What sesame owns in the filter table (IPv4 and IPv6 alike):
//! * its chains, all named `SESAME-*` (`SESAME-INPUT` holds every rule it has for INPUT, its
//!   final DROP included when `knock_drop_unlisted` is on: the INPUT policy is never touched);
//! * the rules in other chains that jump (`-j`/`-g`) to one of them: one appended to INPUT, and,
//!   when forwarded ports are gated, one at the top of `DOCKER-USER`;
//! * on a host last hardened by a sesame that wrote straight into INPUT (before `SESAME-INPUT`
//!   existed), the INPUT/FORWARD/OUTPUT rules of its old rules file (`legacy`), so that upgrading
//!   removes them, and a rollback of that upgrade puts them back.
//!
//! `DOCKER-USER` and its jump from FORWARD are created when absent (Docker keeps both when it
//! starts), and removed again by a rollback only if this transaction created them and they are
//! still empty.

/// POSIX shell functions; `$1` is `iptables` or `ip6tables`.
pub const OWN_SH: &str = r##"# Written by sesame: how it saves, removes, loads and restores its own part of the firewall.
# Builtin-chain rules of an earlier sesame rules file ($2) that are not jumps to SESAME-*, as
# iptables-save prints them (`--syn` becomes `--tcp-flags ...`): loaded into scratch chains and
# read back, so they compare equal to the live ones; as written if they do not load.
own_legacy() {
  [ -n "${2:-}" ] && [ -f "$2" ] || return 0
  raw=$(grep -E '^-A (INPUT|FORWARD|OUTPUT) ' "$2" | grep -v -E ' -[jg] SESAME-')
  [ -n "$raw" ] || return 0
  sc='SESAME-OLD-INPUT SESAME-OLD-FORWARD SESAME-OLD-OUTPUT'
  if { echo '*filter'; for c in $sc; do echo ":$c - [0:0]"; done
       printf '%s\n' "$raw" | sed 's/^-A /-A SESAME-OLD-/'; echo COMMIT; } | "$1-restore" --noflush 2>/dev/null; then
    "$1-save" -t filter 2>/dev/null | sed -n 's/^-A SESAME-OLD-\([A-Z]*\) /-A \1 /p'
    { echo '*filter'; for c in $sc; do echo "-F $c"; done; for c in $sc; do echo "-X $c"; done; echo COMMIT; } |
      "$1-restore" --noflush 2>/dev/null
  else printf '%s\n' "$raw"; fi
  return 0
}
# sesame's live part as `iptables-restore --noflush` input that recreates it: the SESAME-*
# chains and their rules, then sesame's rules in other chains as `-I CHAIN POSITION ...`, each
# after a `#after K` line: K other users' rules followed it in that chain. own_restore places
# it by K, counted from the end: fail2ban and libvirt insert at the top of INPUT, so rules
# added there during a transaction stay before sesame's jump, as they were. knockd's per-knocker door rules are left out: the knockd that would close them again is
# restarted by a rollback, so a restored one would stay open for good.
own_save() {
  { own_legacy "$1" "${2:-}"; echo '@@live'; "$1-save" -t filter 2>/dev/null; } | awk '
    !live && $0 == "@@live" { live = 1; next }
    !live { legacy[$0]++; next }
    /^:SESAME-/ { print $1 " - [0:0]"; next }
    /^-A / { n[$2]++
      if ($2 ~ /^SESAME-DOOR(-FWD)?$/ && $3 == "-s") next
      if ($2 ~ /^SESAME-/) own[++k] = $0
      else if ($0 ~ / -[jg] SESAME-/ || legacy[$0]-- > 0) { jump[++m] = "-I " $2 " " n[$2] substr($0, length($2) + 4); jc[m] = $2; jo[m] = o[$2] + 0 }
      else o[$2]++ }
    END { for (i = 1; i <= k; i++) print own[i]
      for (i = 1; i <= m; i++) { print "#after " (o[jc[i]] - jo[i]); print jump[i] } }'
}
# Remove sesame's live part in one atomic restore: its rules in other chains, then its chains.
own_unload() {
  { own_legacy "$1" "${2:-}"; echo '@@live'; "$1-save" -t filter 2>/dev/null; } | awk '
    !live && $0 == "@@live" { live = 1; print "*filter"; next }
    !live { legacy[$0]++; next }
    /^:SESAME-/ { c[++n] = substr($1, 2); next }
    /^-A / && $2 !~ /^SESAME-/ && ($0 ~ / -[jg] SESAME-/ || legacy[$0]-- > 0) { sub(/^-A /, "-D "); print }
    END { for (i = 1; i <= n; i++) print "-F " c[i]; for (i = 1; i <= n; i++) print "-X " c[i]; print "COMMIT" }' |
    "$1-restore" --noflush
}
# Put back a part saved by own_save ($2), each rule in another chain with as many of the
# others' rules after it as it had (`#after K`), clamped to the chain.
own_restore() {
  [ -f "$2" ] || return 0
  { "$1-save" -t filter 2>/dev/null; echo '@@own'; cat "$2"; } | awk '
    $0 == "@@own" { own = 1; print "*filter"; next }
    !own { if ($0 ~ /^-A /) len[$2]++; next }
    /^#after / { after = $2 + 0; has = 1; next }
    /^-I / { p = has ? len[$2] + 1 - after : $3 + 0; if (p < 1) p = 1; if (p > len[$2] + 1) p = len[$2] + 1
      len[$2]++; $3 = p; has = 0 }
    { print }
    END { print "COMMIT" }' | "$1-restore" --noflush
}
# Whether DOCKER-USER exists and FORWARD jumps to it (two words, 1 or 0), before a load.
own_docker_state() {
  _oa=0; _ob=0
  "$1" -w -n -L DOCKER-USER >/dev/null 2>&1 && _oa=1
  "$1" -w -C FORWARD -j DOCKER-USER >/dev/null 2>&1 && _ob=1
  echo "$_oa $_ob"
}
# Replace sesame's live part by the rules file $2 ($3: the previous sesame file, for legacy
# rules). DOCKER-USER is declared in the file for boot, when Docker has not made it yet: an
# existing one is kept as it is (declaring it again would flush Docker's and the admin's rules).
own_load() {
  own_unload "$1" "${3:-}" || return 1
  set -- "$1" "$2" $(own_docker_state "$1")
  awk -v du="$3" -v fj="$4" '(du == 1 && /^:DOCKER-USER /) || (fj == 1 && /^-I FORWARD 1 -j DOCKER-USER$/) { next } { print }' "$2" |
    "$1-restore" --noflush
}
# After a rollback: remove DOCKER-USER and its jump if this transaction made them ($2 holds
# own_docker_state from before the load) and nothing else has put a rule in it since.
own_docker_undo() {
  [ -f "$2" ] && read -r _oa _ob < "$2" || return 0
  [ "$_oa" = 0 ] && [ "$("$1" -w -S DOCKER-USER 2>/dev/null | wc -l)" = 1 ] || return 0
  [ "$_ob" = 1 ] || "$1" -w -D FORWARD -j DOCKER-USER 2>/dev/null
  "$1" -w -X DOCKER-USER 2>/dev/null
  return 0
}
"##;

#[cfg(test)]
mod tests {
    use super::OWN_SH;
    use std::path::Path;

    /// A live filter table as iptables-save prints it: fail2ban's and Docker's rules around
    /// sesame's, a knocker's door rule, and one rule of an old sesame rules file.
    const LIVE: &str = "*filter
:INPUT DROP [10:600]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:SESAME-DOOR - [0:0]
:SESAME-INPUT - [0:0]
:f2b-sshd - [0:0]
-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -j SESAME-INPUT
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j SESAME-FORWARD
-A DOCKER-USER -j RETURN
-A SESAME-DOOR -s 198.19.1.1/32 -p tcp -m tcp --dport 22 -j ACCEPT
-A SESAME-INPUT -i lo -j ACCEPT
-A SESAME-INPUT -j SESAME-DOOR
-A SESAME-INPUT -j DROP
-A f2b-sshd -s 198.19.1.253/32 -j REJECT --reject-with icmp-port-unreachable
-A f2b-sshd -j RETURN
COMMIT
";

    /// Runs `script` after OWN_SH with fake iptables-save (prints `live`) and iptables-restore
    /// (appends its arguments and input to `restored`) first in PATH.
    fn run(dir: &Path, live: &str, script: &str) -> (String, String) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(dir.join("live"), live).unwrap();
        let save = format!("#!/bin/sh\ncat '{}'\n", dir.join("live").display());
        let restore = format!(
            "#!/bin/sh\nin=$(cat)\ncase \"$in\" in *SESAME-OLD*) exit 1 ;; esac\n\
             echo \"args $*\" >> '{0}'; printf '%s\\n' \"$in\" >> '{0}'\n",
            dir.join("restored").display()
        );
        for (name, text) in [("iptables-save", save), ("iptables-restore", restore)] {
            std::fs::write(bin.join(name), text).unwrap();
            let st = std::process::Command::new("chmod")
                .arg("755")
                .arg(bin.join(name))
                .status()
                .unwrap();
            assert!(st.success());
        }
        let _ = std::fs::remove_file(dir.join("restored"));
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{OWN_SH}\n{script}")])
            .env("PATH", path)
            .current_dir(dir)
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(dir.join("restored")).unwrap_or_default(),
        )
    }

    #[test]
    fn functions_parse_in_posix_sh() {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", OWN_SH])
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn save_keeps_only_sesames_part_with_jump_positions_and_without_knockers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("old.v4"),
            "# managed by sesame\n*filter\n-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT\n-A INPUT -j SESAME-DOOR\nCOMMIT\n",
        )
        .unwrap();
        let (saved, _) = run(dir.path(), LIVE, "own_save iptables");
        assert_eq!(
            saved,
            ":SESAME-DOOR - [0:0]\n:SESAME-INPUT - [0:0]\n-A SESAME-INPUT -i lo -j ACCEPT\n\
             -A SESAME-INPUT -j SESAME-DOOR\n-A SESAME-INPUT -j DROP\n#after 0\n-I INPUT 3 -j SESAME-INPUT\n\
             #after 1\n-I DOCKER-USER 1 -j SESAME-FORWARD\n"
        );
        // With the old layout's file, its INPUT rules found live count as sesame's.
        let (saved, _) = run(dir.path(), LIVE, "own_save iptables old.v4");
        assert!(
            saved.contains("#after 0\n-I INPUT 2 -p icmp -m icmp --icmp-type 8 -j ACCEPT\n"),
            "{saved}"
        );
        assert!(!saved.contains("f2b") && !saved.contains("RETURN") && !saved.contains("198.19"));
    }

    #[test]
    fn unload_removes_only_sesames_rules_and_chains_in_one_noflush_restore() {
        let dir = tempfile::tempdir().unwrap();
        let (_, restored) = run(dir.path(), LIVE, "own_unload iptables");
        assert_eq!(
            restored,
            "args --noflush\n*filter\n-D INPUT -j SESAME-INPUT\n-D DOCKER-USER -j SESAME-FORWARD\n\
             -F SESAME-DOOR\n-F SESAME-INPUT\n-X SESAME-DOOR\n-X SESAME-INPUT\nCOMMIT\n"
        );
    }

    #[test]
    fn restore_counts_from_the_end_so_rules_inserted_at_the_top_stay_first() {
        let dir = tempfile::tempdir().unwrap();
        // INPUT was [f2b, sesame, late]; during the transaction recidive was inserted at the top.
        let live = "*filter\n-A INPUT -j f2b-recidive\n-A INPUT -j f2b-sshd\n-A INPUT -j late\n\
                    -A DOCKER-USER -j RETURN\nCOMMIT\n";
        std::fs::write(
            dir.path().join("own.v4"),
            "#after 1\n-I INPUT 2 -j SESAME-INPUT\n#after 1\n-I DOCKER-USER 1 -j SESAME-FORWARD\n",
        )
        .unwrap();
        let (_, restored) = run(dir.path(), live, "own_restore iptables own.v4");
        assert_eq!(
            restored,
            "args --noflush\n*filter\n-I INPUT 3 -j SESAME-INPUT\n-I DOCKER-USER 1 -j SESAME-FORWARD\nCOMMIT\n"
        );
    }

    #[test]
    fn restore_puts_jumps_back_at_their_positions_clamped_to_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        // After the unload, with a rule of fail2ban's removed meanwhile: INPUT has one rule.
        let live = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd\nCOMMIT\n";
        std::fs::write(
            dir.path().join("own.v4"),
            ":SESAME-INPUT - [0:0]\n-A SESAME-INPUT -j DROP\n#after 0\n-I INPUT 3 -j SESAME-INPUT\n",
        )
        .unwrap();
        let (_, restored) = run(dir.path(), live, "own_restore iptables own.v4");
        assert_eq!(
            restored,
            "args --noflush\n*filter\n:SESAME-INPUT - [0:0]\n-A SESAME-INPUT -j DROP\n\
             -I INPUT 2 -j SESAME-INPUT\nCOMMIT\n"
        );
    }
}
