//! Lab test of `playbooks/harden.yml` on a host that other firewall users share: a fail2ban-like
//! chain with its jump at the top of INPUT and a banned address, Docker-like chains (DOCKER-USER
//! jumped from FORWARD, FORWARD policy DROP, a published port DNAT-ed in nat to a "container"
//! in a network namespace of its own). A small boot service stands in for the daemons and
//! re-adds their rules at boot, after netfilter-persistent, as they do. sesame must own only
//! its part: the others' rules stay as they were after the load, after a forced rollback and
//! after a reboot, and keep working (the ban rejects, the DNAT forwards after a knock); the
//! published port is gated like SSH; a re-run changes nothing; drift is judged on sesame's part.

use crate::common::docker::{answers, from_stranger, install_stand_in, PUBLISHED};
use crate::common::sesame::{
    assert_rerun_unchanged, inventory, knockd_client, knockd_never_opens, play, playbook_copy,
    repo, said, sesame, Sesame,
};
use crate::common::{recap, wait_until, Lab};
use std::path::Path;
use std::time::Duration;
const VARS: &str = "knock_sequence: [7101, 7202, 7101, 7303]\nknock_step_seconds: 5\n\
                    knock_open_seconds: 5\nknock_rollback_seconds: 60\n\
                    knock_protected_ports: [22, 8080]\n";

/// Everything in the host's firewall that is not sesame's: every table (nat included), v4 and
/// v6, each chain's rules in order and its policy unless ACCEPT (an empty table and a missing
/// one are the same firewall), sorted by family, table and chain, counters left out.
fn others(lab: &Lab) -> String {
    firewall(lab, "/SESAME/ { next }")
}

/// The whole firewall, normalized as `others` does, after the awk filter `skip`.
fn firewall(lab: &Lab, skip: &str) -> String {
    const AWK: &str = r#"/^\*/ { t = substr($0, 2); next }
/^:/ { c = substr($1, 2); if ($2 != "ACCEPT") printf "%s %s %s 0000 %s\n", f, t, c, $1 " " $2; next }
/^-A / { n[f t $2]++; printf "%s %s %s %04d %s\n", f, t, $2, n[f t $2], $0 }"#;
    lab.sh(
        "h1",
        &format!(
            "{{ iptables-save | awk -v f=v4 '{skip}\n{AWK}'; ip6tables-save | awk -v f=v6 '{skip}\n{AWK}'; }} | sort"
        ),
    )
}

/// sesame's part: its chains, their rules and its jumps, without knockd's per-knocker rules.
fn own(lab: &Lab) -> String {
    lab.sh(
        "h1",
        "{ iptables-save -t filter; ip6tables-save -t filter; } | grep SESAME | grep -v -e '^-A SESAME-DOOR -s' -e '^-A SESAME-DOOR-FWD -s' | sed -e 's/ \\[[0-9]*:[0-9]*\\]$//'",
    )
}

/// Position (1-based) of the first rule of `chain` containing `what`.
fn position(lab: &Lab, chain: &str, what: &str) -> Option<usize> {
    lab.sh("h1", &format!("iptables -S {chain}"))
        .lines()
        .filter(|l| l.starts_with("-A "))
        .position(|l| l.contains(what))
        .map(|i| i + 1)
}

/// The stranger gets a second address, 198.19.K.253, which the fail2ban stand-in bans; the
/// stand-in's rules and container are installed on h1 and its port published. Returns the
/// banned address and h1's IPv4 address.
fn stand_in_with_a_ban(lab: &Lab) -> (String, String) {
    let banned = format!("198.19.{}.253", lab.index);
    let out = lab.stranger(&["ip", "addr", "add", &format!("{banned}/24"), "dev", "ens3"]);
    assert!(out.status.success(), "{}", crate::common::printed(&out));
    install_stand_in(lab, &banned);
    let ip = lab.hosts[0].ip.clone();
    assert!(
        wait_until(10, || answers(&ip, PUBLISHED)),
        "the stand-in container is not published"
    );
    (banned, ip)
}

/// In h1's `chain`, a rule with `first` comes before a rule with `second` (both there); else
/// panics with `why()` and both positions.
fn assert_before(lab: &Lab, chain: &str, (first, second): (&str, &str), why: impl Fn() -> String) {
    let at = (position(lab, chain, first), position(lab, chain, second));
    assert!(
        matches!(at, (Some(a), Some(b)) if a < b),
        "{}: {at:?}",
        why()
    );
}

/// The ban rejects (refused, fast), the stranger is met with silence on both protected ports,
/// the controller too until it knocks; after a knock SSH and the published port answer it.
fn check_working(lab: &Lab, inv: &Path, banned: &str, when: &str) {
    let ip = lab.hosts[0].ip.clone();
    assert_eq!(
        from_stranger(lab, banned, &ip, 22),
        "refused",
        "{when}: the banned address is not rejected by fail2ban's chain"
    );
    // Let the door of the last knock (the play's or the proof's) close.
    assert!(
        wait_until(15, || !answers(&ip, 22) && !answers(&ip, PUBLISHED)),
        "{when}: SSH or the published port answers without a knock"
    );
    for port in [22, PUBLISHED] {
        assert_eq!(
            from_stranger(lab, &lab.stranger_ip, &ip, port),
            "silent",
            "{when}: port {port} does not ignore the stranger"
        );
    }
    let k = sesame(&["knock", "h1", "-i", inv.to_str().unwrap()]);
    assert!(k.status.success(), "{when}: {}", said(&k));
    assert!(
        wait_until(3, || answers(&ip, PUBLISHED)),
        "{when}: the knock did not open the published port (DNAT to the container)"
    );
    assert!(answers(&ip, 22), "{when}: the knock did not open SSH");
    assert_eq!(
        from_stranger(lab, &lab.stranger_ip, &ip, PUBLISHED),
        "silent",
        "{when}: the controller's knock opened the published port for the stranger"
    );
    assert_before(lab, "INPUT", ("f2b-sshd", "SESAME-INPUT"), || {
        format!("{when}: fail2ban's jump must come before sesame's in INPUT")
    });
    assert_before(lab, "DOCKER-USER", ("SESAME-FORWARD", "-j RETURN"), || {
        format!("{when}: sesame's gate must come before DOCKER-USER's RETURN")
    });
}

/// The published port over IPv6: silent until a knock over IPv6 (knockd's own client), then
/// forwarded to the container.
fn check_ipv6(lab: &Lab, when: &str) {
    let ip6 = lab.hosts[0].ip6.clone();
    assert!(
        wait_until(15, || !answers(&ip6, PUBLISHED)),
        "{when}: the published port answers over IPv6 without a knock"
    );
    knockd_client(&["-6", &ip6, "7101", "7202", "7101", "7303"]);
    assert!(
        wait_until(3, || answers(&ip6, PUBLISHED)),
        "{when}: a knock over IPv6 did not open the published port over IPv6"
    );
}

#[test]
fn harden_keeps_fail2ban_and_docker_rules_through_load_rollback_and_reboot() {
    let lab = Lab::up("coexist", 1);
    let k = lab.index;
    let (banned, ip) = stand_in_with_a_ban(&lab);
    assert_eq!(from_stranger(&lab, &banned, &ip, 22), "refused");
    let ip6 = lab.hosts[0].ip6.clone();
    assert!(
        wait_until(10, || answers(&ip6, PUBLISHED)),
        "the stand-in container is not published on IPv6"
    );
    let before = others(&lab);
    assert!(
        before.contains(":FORWARD DROP") && before.contains("-j DNAT"),
        "{before}"
    );

    assert!(before.contains("v6 nat DOCKER 0001"), "{before}");
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), VARS, &[]);
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", said(&first));
    assert!(recap(&first, "h1", "changed") >= 1);
    assert_eq!(others(&lab), before, "harden changed other users' rules");
    check_working(&lab, &inv, &banned, "after harden");
    check_ipv6(&lab, "after harden");
    let rules = lab.sh("h1", "cat /etc/iptables/rules.v4 /etc/iptables/rules.v6");
    for theirs in [
        "f2b-sshd",
        "DOCKER-ISOLATION",
        "-j DNAT",
        ":FORWARD",
        ":INPUT",
    ] {
        assert!(!rules.contains(theirs), "rules.v4/v6 hold `{theirs}`");
    }

    // Re-run: nothing to change, one session and one command.
    std::thread::sleep(Duration::from_secs(6));
    let again = play(&inv, &["-vv"]);
    assert_rerun_unchanged(&again, ["h1"]);

    // Other users change their rules: not sesame's drift.
    lab.sh(
        "h1",
        &format!(
            "iptables -I f2b-sshd 1 -s 198.19.{k}.252/32 -j REJECT && \
             iptables -I DOCKER-USER 2 -s 198.19.{k}.251/32 -j DROP && \
             iptables -N f2b-recidive && iptables -I INPUT 1 -j f2b-recidive && \
             iptables -t nat -A DOCKER -p tcp --dport 9090 -j DNAT --to-destination 198.19.{k}.242:80"
        ),
    );
    let theirs = others(&lab);
    let check = play(&inv, &["--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", said(&check));
    assert_eq!(
        recap(&check, "h1", "changed"),
        0,
        "other users' rules reported as drift"
    );
    // A change in sesame's own chain is drift.
    lab.sh(
        "h1",
        "iptables -I SESAME-INPUT 1 -p tcp --dport 22 -j ACCEPT",
    );
    let check = play(&inv, &["--check"]);
    assert_eq!(
        recap(&check, "h1", "changed"),
        1,
        "drift in sesame's chain not found: {}",
        said(&check)
    );
    std::thread::sleep(Duration::from_secs(6));
    let repair = play(&inv, &[]);
    assert_eq!(repair.status.code(), Some(0), "{}", said(&repair));
    assert!(recap(&repair, "h1", "changed") >= 1);
    assert!(!lab
        .sh("h1", "iptables -S SESAME-INPUT")
        .contains("--dport 22 -j ACCEPT"));
    assert_eq!(
        others(&lab),
        theirs,
        "the repair changed other users' rules"
    );
    let good = own(&lab);

    // A forced rollback (the proof fails); fail2ban bans someone while it runs: the rollback
    // puts back sesame's part and leaves the new ban alone.
    let broken = playbook_copy(&tmp.path().join("broken"));
    knockd_never_opens(&broken);
    let (mut child, lines) = Sesame::new().spawn_until_loaded(&inv, &broken, &[]);
    // ... and another jail starts: its jump goes to the top of INPUT.
    lab.sh(
        "h1",
        &format!(
            "iptables -I f2b-sshd 1 -s 198.19.{k}.250/32 -j REJECT && \
             iptables -N f2b-nginx && iptables -I INPUT 1 -j f2b-nginx"
        ),
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let rest = rest.join("\n");
    assert_eq!(status.code(), Some(2), "{rest}");
    assert!(
        rest.contains("\"rolled_back\"") && rest.contains("proof failed"),
        "{rest}"
    );
    let after = others(&lab);
    assert!(
        after.contains(&format!("-A f2b-sshd -s 198.19.{k}.250/32 -j REJECT")),
        "the rollback reverted the ban made during the transaction:\n{after}"
    );
    assert_before(&lab, "INPUT", ("f2b-nginx", "SESAME-INPUT"), || {
        "the rollback put sesame's jump before a jump inserted at the top meanwhile".into()
    });
    lab.sh(
        "h1",
        &format!(
            "iptables -D f2b-sshd -s 198.19.{k}.250/32 -j REJECT && \
             iptables -D INPUT -j f2b-nginx && iptables -X f2b-nginx"
        ),
    );
    assert_eq!(
        others(&lab),
        theirs,
        "the rollback changed other users' rules"
    );
    assert_eq!(
        own(&lab),
        good,
        "the rollback did not put sesame's part back"
    );
    check_working(&lab, &inv, &banned, "after the rollback");

    // Reboot: netfilter-persistent loads sesame's part, then the stand-in adds the others'
    // rules again, as fail2ban and Docker would.
    lab.reboot("h1");
    // A lab host comes back with a new MAC address (a real one would not): the stranger must
    // not keep sending to the old one.
    let out = lab.stranger(&["ip", "neigh", "flush", "all"]);
    assert!(out.status.success(), "{}", crate::common::printed(&out));
    assert!(
        wait_until(20, || lab
            .sh("h1", "iptables -S FORWARD")
            .contains("-P FORWARD DROP")),
        "the stand-in did not run at boot"
    );
    assert_eq!(
        others(&lab),
        before,
        "after a reboot, other users' rules differ"
    );
    assert_eq!(own(&lab), good, "after a reboot, sesame's part differs");
    check_working(&lab, &inv, &banned, "after a reboot");
    check_ipv6(&lab, "after a reboot");
    std::thread::sleep(Duration::from_secs(6));
    let after_boot = play(&inv, &[]);
    assert_eq!(after_boot.status.code(), Some(0), "{}", said(&after_boot));
    assert_eq!(
        recap(&after_boot, "h1", "changed"),
        0,
        "{}",
        said(&after_boot)
    );
}

/// A host hardened by an earlier sesame, which wrote its rules straight into INPUT (the old
/// layout, here with the controller as an allowed source; iptables-persistent installed, as it
/// left it), and fail2ban's jump inserted above them. A first run of this sesame whose proof fails rolls back to exactly that firewall; a
/// good run replaces the old rules by sesame's chain and leaves fail2ban's alone.
#[test]
fn harden_migrates_rules_of_the_old_layout_and_its_rollback_restores_them() {
    let lab = Lab::up("coexist_migrate", 1);
    let data = repo().join("tests/data/coexist");
    let allow = format!(
        "-A INPUT -s {}/32 -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j SESAME-DOOR\n",
        lab.controller_ip
    );
    let v4 = std::fs::read_to_string(data.join("old-layout-rules.v4"))
        .unwrap()
        .replace("-A INPUT -j SESAME-DOOR\n", &allow);
    let v6 = std::fs::read_to_string(data.join("old-layout-rules.v6")).unwrap();
    use base64::Engine as _;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    lab.sh(
        "h1",
        &format!(
            "export DEBIAN_FRONTEND=noninteractive && apt-get update -q >/dev/null && \
             echo 'iptables-persistent iptables-persistent/autosave_v4 boolean false' | debconf-set-selections && \
             echo 'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections && \
             apt-get install -y -q iptables-persistent >/dev/null && \
             mkdir -p /etc/iptables && echo {} | base64 -d > /etc/iptables/rules.v4 && \
             echo {} | base64 -d > /etc/iptables/rules.v6 && chmod 600 /etc/iptables/rules.v* && \
             iptables-restore /etc/iptables/rules.v4 && ip6tables-restore /etc/iptables/rules.v6 && \
             iptables -N f2b-sshd && iptables -A f2b-sshd -j RETURN && \
             iptables -I INPUT 1 -p tcp -m multiport --dports 22 -j f2b-sshd",
            b64(&v4),
            b64(&v6)
        ),
    );
    let old = firewall(&lab, "");
    assert!(
        old.contains("v4 filter INPUT 0009 -A INPUT -j DROP"),
        "{old}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), VARS, &[]);
    let broken = playbook_copy(&tmp.path().join("broken"));
    knockd_never_opens(&broken);
    let out = Sesame::new().play(&inv, &broken, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("proof failed"), "{}", said(&out));
    // knockd restarted by the transaction is not part of the firewall: compare rules only.
    assert_eq!(
        firewall(&lab, "/^-A SESAME-DOOR -s/ { next }"),
        old,
        "the rollback did not restore the old layout exactly"
    );

    let out = play(&inv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let input = lab.sh("h1", "iptables -S INPUT; ip6tables -S INPUT");
    assert_eq!(
        input,
        "-P INPUT ACCEPT\n-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd\n\
         -A INPUT -j SESAME-INPUT\n-P INPUT ACCEPT\n-A INPUT -j SESAME-INPUT\n",
        "the old rules were not all replaced by sesame's chain"
    );
    let again = play(&inv, &[]);
    assert_eq!(recap(&again, "h1", "changed"), 0, "{}", said(&again));
}

/// The iptables (xt_recent) mode gates a published port too: the last knock's flag lets the
/// knocker's next new connection through DOCKER-USER once; fail2ban's ban still rejects.
#[test]
fn harden_iptables_mode_gates_a_published_port() {
    let lab = Lab::up("coexist_ipt", 1);
    let (banned, ip) = stand_in_with_a_ban(&lab);
    let before = others(&lab);
    let tmp = tempfile::tempdir().unwrap();
    let vars =
        format!("{VARS}knock_mode: iptables\nknock_sequence: [7101, \"7202:udp\", 7101, 7303]\n");
    let inv = inventory(&lab, tmp.path(), &vars, &[]);
    let out = play(&inv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(others(&lab), before, "harden changed other users' rules");
    assert_eq!(from_stranger(&lab, &banned, &ip, 22), "refused");
    assert!(
        wait_until(15, || !answers(&ip, PUBLISHED)),
        "the published port answers without a knock"
    );
    let k = sesame(&["knock", "h1", "-i", inv.to_str().unwrap()]);
    assert!(k.status.success(), "{}", said(&k));
    assert!(
        answers(&ip, PUBLISHED),
        "the knock did not open the published port"
    );
    // The flag is used up: without a new knock the next connection is dropped.
    assert!(!answers(&ip, PUBLISHED), "the knock opened the port twice");
    assert_eq!(
        from_stranger(&lab, &lab.stranger_ip, &ip, PUBLISHED),
        "silent"
    );
}
