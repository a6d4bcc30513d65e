//! Lab tests of the nftables backend (`knock_backend: nftables`, issue 15) end to end: sesame's
//! one table `table inet sesame` closes SSH for everyone over IPv4 and IPv6, knockd mode and
//! iptables (gates) mode open it for the knocker only, a wrong order stays shut, another
//! table's `accept` for port 22 does not open the gate, a re-run changes nothing with one
//! session and one exec, the table survives reboots on a host whose nftables.service flushes
//! the ruleset at boot, and a failed proof puts back only sesame's table. Also: the fault tests
//! (rules rejected, proof fails, SIGKILL after load, link cut), slow knocks and scans,
//! `knock_state: absent`, and coexistence with Docker's iptables-nft chains, another nftables
//! table and an active ufw through load, rollback and reboot, on sysvinit and systemd.

use crate::backend::Backend;
use crate::common::docker::{answers, install_stand_in, PUBLISHED};
use crate::common::sesame::{
    assert_rerun_unchanged, inventory, knockd_client, play, playbook_copy, repo, said, sesame,
    spawn_until_loaded, Sesame,
};
use crate::common::{
    open_from_controller, open_from_stranger, recap, wait_until, Flavour, Lab, Os, Provider,
};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The Debian release of the provider-image tests: SESAME_LAB_OS (bookworm by default).
fn os() -> Os {
    Flavour::from_env().os
}

/// Closed over IPv4 and IPv6, for the controller and the stranger.
fn assert_closed(lab: &Lab, host: &str, when: &str) {
    let h = lab.host(host);
    for ip in [&h.ip, &h.ip6] {
        assert!(
            !open_from_controller(ip),
            "{host} {ip} answers the controller {when}"
        );
        assert!(
            !open_from_stranger(lab, ip),
            "{host} {ip} answers the stranger {when}"
        );
    }
}

/// Open over IPv4 and IPv6, for the controller and the stranger (no knock).
fn assert_open(lab: &Lab, host: &str, when: &str) {
    let h = lab.host(host);
    for ip in [&h.ip, &h.ip6] {
        assert!(
            wait_until(5, || open_from_controller(ip)),
            "{host} {ip} shut for the controller {when}"
        );
        assert!(
            open_from_stranger(lab, ip),
            "{host} {ip} shut for the stranger {when}"
        );
    }
}

/// What sesame has on a host with the nftables backend: its table (without set elements), its
/// files, whether its boot unit is enabled (either init) and whether knockd runs.
fn sesame_part(lab: &Lab, host: &str) -> String {
    lab.sh(
        host,
        "nft -t list table inet sesame 2>&1; ls -d /etc/sesame/knock.nft /etc/systemd/system/sesame-knock.service \
         /etc/init.d/sesame-knock /etc/knockd.conf /etc/rc?.d/[SK]??sesame-knock 2>/dev/null; \
         if [ -d /run/systemd/system ]; then systemctl is-enabled sesame-knock.service 2>&1; fi; \
         pgrep -x knockd >/dev/null && echo knockd runs; true",
    )
}

/// Nothing of sesame's is left on the host: no table, no file, no boot unit, no knockd.
fn assert_sesame_gone(lab: &Lab, host: &str, when: &str) {
    let tables = lab.sh(host, "nft list tables");
    assert!(
        !tables.contains("table inet sesame"),
        "{host} {when}: {tables}"
    );
    let left = lab.sh(
        host,
        "ls -d /etc/sesame /etc/systemd/system/sesame-knock.service /etc/init.d/sesame-knock \
         /etc/rc?.d/[SK]??sesame-knock /etc/knockd.conf /etc/systemd/system/knockd.service.d \
         /var/lib/sesame/firewall.sha256 /var/lib/sesame/installed-packages 2>/dev/null; true",
    );
    assert_eq!(left.trim(), "", "{host} {when}: sesame's files left");
    if lab.systemd() {
        assert!(
            !lab.exec(
                host,
                &["systemctl", "is-enabled", "--quiet", "sesame-knock.service"]
            )
            .status
            .success(),
            "{host} {when}: sesame-knock.service still enabled"
        );
    }
    assert!(
        !lab.exec(host, &["pgrep", "-x", "knockd"]).status.success(),
        "{host} {when}: knockd runs"
    );
}

/// Another user's nftables table that accepts SSH: an accept ends only its own base chain.
const OTHER_TABLE: &str =
    "nft add table inet other && nft add chain inet other input '{ type filter hook input priority -10; policy accept; }' && nft add rule inet other input tcp dport 22 accept";

const GROUP: &str = "knock_backend: nftables\nknock_rollback_seconds: 60\nknock_step_seconds: 5\nknock_open_seconds: 5\n";
const KNOCKD: &str = "knock_sequence: [7101, 7202, 7101, 7303]\n";
const GATES: &str = "knock_mode: iptables\nknock_sequence: [7101, \"7202:udp\", 7101, 7303]\n";

#[test]
fn nft_backend_closes_opens_for_the_knocker_reruns_unchanged_and_survives_three_reboots() {
    let lab = Lab::up_with(
        "nft_backend",
        2,
        Flavour::provider(os(), Provider::Nftables),
    );
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", KNOCKD), ("h2", GATES)]);
    let invs = inv.to_str().unwrap();
    lab.sh("h2", OTHER_TABLE);
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    for h in ["h1", "h2"] {
        assert!(recap(&first, h, "changed") >= 1);
        let tables = lab.sh(h, "nft list tables");
        assert!(tables.contains("table inet sesame"), "{h}: {tables}");
        assert!(
            !lab.sh(h, "iptables-save 2>/dev/null || true")
                .contains("SESAME"),
            "{h}: the nftables backend wrote iptables rules"
        );
        assert!(
            !lab.exec(h, &["dpkg", "-s", "iptables-persistent"])
                .status
                .success(),
            "{h}: iptables-persistent installed"
        );
        assert_eq!(
            lab.sh(h, "systemctl is-enabled sesame-knock.service"),
            "enabled\n"
        );
    }
    assert!(lab.sh("h2", "nft list tables").contains("table inet other"));

    // The proof's door has closed (5 s): closed for everyone, v4 and v6.
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(&lab, "h1", "without a knock");
    assert_closed(&lab, "h2", "without a knock (another table accepts 22)");
    for h in ["h1", "h2"] {
        let ip = lab.host(h).ip.clone();
        let k = sesame(&["knock", h, "-i", invs]);
        assert!(k.status.success());
        assert!(
            wait_until(3, || open_from_controller(&ip)),
            "knock did not open {h}"
        );
        assert!(
            !open_from_stranger(&lab, &ip),
            "the controller's knock opened {h} for the stranger"
        );
    }
    // A wrong order stays shut.
    std::thread::sleep(Duration::from_secs(6));
    for h in ["h1", "h2"] {
        let wrong = sesame(&[
            "verify",
            "-i",
            invs,
            "-l",
            h,
            "-T",
            "3",
            "-e",
            r#"{"knock_sequence": [7101, 7101, 7202, 7303]}"#,
        ]);
        assert_ne!(wrong.status.code(), Some(0), "{h} opened for a wrong order");
    }

    // Every golden nftables file passes nft -c -f on a lab host.
    let dir = repo().join("tests/data/knock");
    let mut checked = 0;
    for case in std::fs::read_dir(&dir).unwrap() {
        let path = case.unwrap().path().join("etc_sesame_knock.nft");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let out = lab.exec(
            "h1",
            &[
                "sh",
                "-c",
                &format!("cat > /tmp/g.nft <<'EOF'\n{text}EOF\nnft -c -f /tmp/g.nft"),
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} nft goldens checked");

    // Re-run: nothing changes, one session and one exec per host.
    std::thread::sleep(Duration::from_secs(6));
    let second = play(&inv, &["-vv"]);
    assert_rerun_unchanged(&second, ["h1", "h2"]);

    // nftables.service flushes the ruleset at boot; sesame-knock loads the table after it.
    for round in 1..=3 {
        lab.reboot("h1");
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            wait_until(20, || lab
                .sh("h1", "nft list tables 2>/dev/null")
                .contains("table inet sesame")),
            "reboot {round}: no table inet sesame"
        );
        assert_closed(&lab, "h1", &format!("after reboot {round}"));
        assert_eq!(
            lab.sh(
                "h1",
                "systemctl is-active nftables.service sesame-knock.service knockd"
            ),
            "active\nactive\nactive\n",
            "reboot {round}"
        );
        assert_eq!(
            sesame(&["verify", "-i", invs, "-l", "h1"]).status.code(),
            Some(0),
            "reboot {round}: verify"
        );
        std::thread::sleep(Duration::from_secs(6));
    }
    let third = play(&inv, &["-l", "h1"]);
    assert_eq!(third.status.code(), Some(0));
    assert_eq!(recap(&third, "h1", "changed"), 0, "drift after reboots");
}

#[test]
fn nft_backend_failed_proof_restores_only_the_sesame_table() {
    let lab = Lab::up_with("nft_proof", 1, Flavour::provider(os(), Provider::Nftables));
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", KNOCKD)]);
    lab.sh("h1", OTHER_TABLE);
    let before = lab.sh("h1", "nft list table inet other");
    // A role whose knockd never opens the door.
    let pb = tmp.path().join("pb");
    let playbook = playbook_copy(&pb);
    // First a table nft rejects: refused by nft -c -f on the host, nothing changed.
    let nt = pb.join("roles/port_knocking/templates/knock.nft.tera");
    let good_nft = std::fs::read_to_string(&nt).unwrap();
    let bad_nft = good_nft.replace("\tchain input {", "\tchain input {\n\t\tno such statement");
    assert_ne!(bad_nft, good_nft);
    std::fs::write(&nt, &bad_nft).unwrap();
    let out = Sesame::new().play(&inv, &playbook, &[]);
    assert_eq!(out.status.code(), Some(2));
    let said = said(&out);
    assert!(said.contains("nft -c -f rejects"), "{said}");
    assert!(!lab
        .sh("h1", "nft list tables")
        .contains("table inet sesame"));
    assert_eq!(lab.sh("h1", "nft list table inet other"), before);
    assert!(!lab
        .exec("h1", &["test", "-e", "/etc/sesame/knock.nft"])
        .status
        .success());
    assert!(open_from_controller(&lab.host("h1").ip));
    std::fs::write(&nt, &good_nft).unwrap();

    let t = pb.join("roles/port_knocking/templates/knockd.conf.tera");
    let text = std::fs::read_to_string(&t).unwrap();
    let broken = text.replace(
        "start_command   = {{ self::nft(",
        "start_command   = /bin/true {{ self::nft(",
    );
    assert_ne!(broken, text);
    std::fs::write(&t, broken).unwrap();
    let run = |path: &Path| Sesame::new().play(&inv, path, &["--json"]);
    let out = run(&playbook);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("proof failed"), "{text}");
    assert!(
        open_from_controller(&lab.host("h1").ip),
        "closed after the rollback"
    );
    assert!(
        !lab.sh("h1", "nft list tables")
            .contains("table inet sesame"),
        "the rollback left sesame's table (absent before)"
    );
    assert_eq!(lab.sh("h1", "nft list table inet other"), before);

    // Now a good run, then a failing one: the rollback puts back the good table.
    let good = play(&inv, &[]);
    assert_eq!(good.status.code(), Some(0));
    let kept = lab.sh("h1", "nft -t list table inet sesame");
    let inv2 = inventory(
        &lab,
        &tmp.path().join("second"),
        &format!("{GROUP}knock_nft_set_size: 4096\n"),
        &[("h1", KNOCKD)],
    );
    let out = sesame(&[
        "play",
        "-i",
        inv2.to_str().unwrap(),
        pb.join("harden.yml").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lab.sh("h1", "nft -t list table inet sesame"), kept);
    assert_eq!(lab.sh("h1", "nft list table inet other"), before);
}

#[test]
fn nft_backend_on_sysvinit_keeps_the_table_at_boot_and_absent_takes_it_off() {
    let lab = Lab::up_with("nft_sysv", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", GATES)]);
    let invs = inv.to_str().unwrap();
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(&lab, "h1", "without a knock");
    lab.reboot("h1");
    std::thread::sleep(Duration::from_secs(1));
    assert!(lab
        .sh("h1", "nft list tables")
        .contains("table inet sesame"));
    assert_closed(&lab, "h1", "after a reboot");
    assert_eq!(
        sesame(&["verify", "-i", invs, "-l", "h1"]).status.code(),
        Some(0)
    );
    let again = play(&inv, &[]);
    assert_eq!(recap(&again, "h1", "changed"), 0);

    // knock_state: absent: the table and the init script (and its rc links) go, nothing comes
    // back at boot, a re-run changes nothing.
    let off_inv = inventory(
        &lab,
        &tmp.path().join("off"),
        &format!("{GROUP}knock_state: absent\n"),
        &[("h1", GATES)],
    );
    let before = sesame_part(&lab, "h1");
    let preview = play(&off_inv, &["--check"]);
    assert_eq!(preview.status.code(), Some(0));
    assert!(recap(&preview, "h1", "changed") >= 1);
    assert_eq!(sesame_part(&lab, "h1"), before, "--check touched h1");
    let off = play(&off_inv, &[]);
    assert_eq!(off.status.code(), Some(0));
    assert_sesame_gone(&lab, "h1", "after absent");
    assert_open(&lab, "h1", "after absent");
    lab.reboot("h1");
    std::thread::sleep(Duration::from_secs(1));
    assert_sesame_gone(&lab, "h1", "after absent and a reboot");
    assert_open(&lab, "h1", "after absent and a reboot");
    // verify proves the removal; a boot link of sesame-knock left behind is found and named.
    let offs = off_inv.to_str().unwrap();
    let v = sesame(&["verify", "-i", offs]);
    let vt = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(0), "{vt}");
    assert!(
        vt.contains("ok: [h1] => knocking removed: plain SSH answers"),
        "{vt}"
    );
    lab.sh(
        "h1",
        "ln -s ../init.d/sesame-knock /etc/rc2.d/S01sesame-knock",
    );
    let v = sesame(&["verify", "-i", offs]);
    let vt = String::from_utf8_lossy(&v.stdout).to_string();
    lab.sh("h1", "rm /etc/rc2.d/S01sesame-knock");
    assert_eq!(v.status.code(), Some(2), "{vt}");
    assert!(
        vt.contains("sesame is still on the host: sesame-knock in the boot sequence"),
        "{vt}"
    );
    let again = play(&off_inv, &[]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(recap(&again, "h1", "changed"), 0);
}

#[test]
fn nft_backend_keeps_ufw_installed_and_active_and_its_allow_does_not_open_the_gate() {
    let lab = Lab::up_with("nft_ufw", 1, Flavour::provider(os(), Provider::Ufw));
    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", GATES)]);
    let invs = inv.to_str().unwrap();
    assert!(lab.sh("h1", "ufw status").contains("Status: active"));
    // No knock_replace_ufw: with this backend nothing removes ufw, so nothing is refused.
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    assert!(
        lab.exec("h1", &["dpkg", "-s", "ufw"]).status.success(),
        "ufw removed"
    );
    let status = lab.sh("h1", "ufw status");
    assert!(
        status.contains("Status: active") && status.contains("22/tcp"),
        "{status}"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(&lab, "h1", "although ufw allows 22/tcp");
    let ip = lab.host("h1").ip.clone();
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || open_from_controller(&ip)),
        "knock did not open h1"
    );
    assert!(!open_from_stranger(&lab, &ip), "opened for the stranger");
    std::thread::sleep(Duration::from_secs(6));
    let again = play(&inv, &[]);
    assert_eq!(recap(&again, "h1", "changed"), 0);
}

/// One SYN to `ip`:`port` from the controller (a knock; nobody answers it).
fn syn(ip: &str, port: u16) {
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
}

#[test]
fn nft_backend_a_flood_of_1000_sources_does_not_evict_a_knocker_mid_sequence() {
    let lab = Lab::up_with("nft_flood", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let group = "knock_backend: nftables\nknock_rollback_seconds: 60\nknock_step_seconds: 10\nknock_open_seconds: 10\n";
    let vars = "knock_mode: iptables\nknock_sequence: [7101, 7202, 7101, 7303]\n";
    let inv = inventory(&lab, tmp.path(), group, &[("h1", vars)]);
    assert_eq!(play(&inv, &[]).status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(11));
    let h6 = lab.host("h1").ip6.clone();
    assert!(!open_from_controller(&h6));
    // The controller is halfway through the sequence (over IPv6)...
    syn(&h6, 7101);
    syn(&h6, 7202);
    // ...when 1000 other sources of the lab's prefix knock the first port (bounded: one SYN
    // each, from the stranger's namespace, its addresses bound without being assigned).
    let prefix = h6.rsplit_once("::").unwrap().0.to_string();
    let flood = format!(
        "import socket\nss=[]\nfor i in range(1000):\n s=socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n s.setblocking(False)\n s.bind(('{prefix}::1:%x' % i, 0))\n s.connect_ex(('{h6}', 7101))\n ss.append(s)\nimport time\ntime.sleep(0.5)\n"
    );
    let out = lab.stranger(&[
        "sh",
        "-c",
        "sysctl -qw net.ipv6.ip_nonlocal_bind=1 && python3 -c \"$0\"",
        &flood,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = lab.sh("h1", "nft list set inet sesame auth1_v6");
    let flooders = listed.matches(&format!("{prefix}::1:")).count();
    assert!(
        flooders >= 1000,
        "only {flooders} flood sources in the first stage set"
    );
    // The knocker finishes its sequence and gets in.
    syn(&h6, 7101);
    syn(&h6, 7303);
    assert!(
        wait_until(3, || open_from_controller(&h6)),
        "the flood evicted the knocker"
    );
    assert!(!open_from_stranger(&lab, &h6), "opened for the stranger");
}

#[test]
fn nft_backend_close_sequence_closes_the_door_for_the_knocker() {
    let lab = Lab::up_with("nft_close", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let vars = format!("{KNOCKD}knock_close_sequence: [7404, 7505, 7606]\n");
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", &vars)]);
    let invs = inv.to_str().unwrap();
    // The proof itself knocks the close sequence and checks the door shut again.
    let first = play(&inv, &["--json"]);
    assert_eq!(first.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&first.stdout).contains("closed_after"));
    let ip = lab.host("h1").ip.clone();
    assert!(!open_from_controller(&ip));
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || open_from_controller(&ip)),
        "knock did not open h1"
    );
    // No cmd_timeout: still open after knock_open_seconds, until the close sequence.
    std::thread::sleep(Duration::from_secs(7));
    assert!(open_from_controller(&ip), "the door closed by itself");
    knockd_client(&[&ip, "7404", "7505", "7606"]);
    assert!(
        wait_until(5, || !open_from_controller(&ip)),
        "the close sequence did not close the door"
    );
    // Drift: a rule added inside sesame's table is seen and replaced by the next run; a
    // knocker's address in a set is not drift.
    lab.sh(
        "h1",
        "nft add element inet sesame clients_v4 '{ 198.19.0.99 }'",
    );
    let same = play(&inv, &[]);
    assert_eq!(
        recap(&same, "h1", "changed"),
        0,
        "a set element counted as drift"
    );
    lab.sh(
        "h1",
        "nft insert rule inet sesame input tcp dport 22 accept",
    );
    let fixed = play(&inv, &[]);
    assert_eq!(fixed.status.code(), Some(0));
    assert!(recap(&fixed, "h1", "changed") >= 1, "drift not seen");
    let chain = lab.sh("h1", "nft list chain inet sesame input");
    assert!(
        !chain.lines().any(|l| l.trim() == "tcp dport 22 accept"),
        "the added rule survived the run: {chain}"
    );
}

/// The network cable of the host is cut between the load and the proof, for longer than
/// knock_rollback_seconds: the host's own switch deletes the new table on its own, and when the
/// link comes back SSH is open again; sesame reports the host failed or unreachable, not ok.
#[test]
fn nft_backend_link_cut_between_load_and_proof_the_switch_restores_the_host() {
    let lab = Lab::up_with("nft_link", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let group = GROUP.replace("knock_rollback_seconds: 60", "knock_rollback_seconds: 21");
    let inv = inventory(&lab, tmp.path(), &group, &[("h1", KNOCKD)]);
    let (mut child, lines) = spawn_until_loaded(&inv, &["-T", "3"]);
    lab.link("h1", false);
    std::thread::sleep(Duration::from_secs(26));
    lab.link("h1", true);
    let ip = lab.host("h1").ip.clone();
    assert!(
        wait_until(20, || open_from_controller(&ip)),
        "the dead-man switch did not restore the host while its link was down"
    );
    assert!(
        !lab.sh("h1", "nft list tables")
            .contains("table inet sesame"),
        "the switch left sesame's table (there was none before)"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(
        matches!(status.code(), Some(2) | Some(4)),
        "exit {status:?}; output: {rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.contains("\"stage\":\"persisted\"")),
        "reported persisted: {rest:?}"
    );
}

#[test]
fn nft_backend_sigkill_after_load_the_switch_restores_the_host() {
    let lab = Lab::up_with("nft_kill", 1, Flavour::provider(os(), Provider::Nftables));
    let tmp = tempfile::tempdir().unwrap();
    let group = GROUP.replace("knock_rollback_seconds: 60", "knock_rollback_seconds: 21");
    let inv = inventory(&lab, tmp.path(), &group, &[("h1", KNOCKD)]);
    lab.sh("h1", OTHER_TABLE);
    let before = lab.sh("h1", "nft list table inet other");
    let (mut child, _rest) = spawn_until_loaded(&inv, &["-T", "3"]);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(
        !open_from_controller(&lab.host("h1").ip),
        "the new table was not live"
    );
    assert!(
        wait_until(36, || open_from_controller(&lab.host("h1").ip)),
        "the host did not restore itself within T + 15 s"
    );
    assert!(!lab
        .sh("h1", "nft list tables")
        .contains("table inet sesame"));
    assert_eq!(lab.sh("h1", "nft list table inet other"), before);
}

#[test]
fn nft_backend_single_port_opens_for_spaced_hits_only_and_reruns_unchanged() {
    let lab = Lab::up_with("nft_single", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let vars = "knock_mode: single_port\nknock_hitcount: 2\nknock_hit_min_seconds: 2\nknock_hit_max_seconds: 5\n";
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", vars)]);
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(&lab, "h1", "without hits");
    // A flood of attempts (faster than knock_hit_min_seconds) never opens the port.
    let ip = lab.host("h1").ip.clone();
    let flood = (0..6).any(|_| {
        let open = open_from_stranger(&lab, &ip);
        std::thread::sleep(Duration::from_millis(200));
        open
    });
    assert!(!flood, "a flood of attempts opened the port");
    // sesame's own connection makes two spaced attempts: the second gets through.
    std::thread::sleep(Duration::from_secs(6));
    let second = play(&inv, &["-vv"]);
    assert_rerun_unchanged(&second, ["h1"]);
    assert!(!open_from_stranger(&lab, &ip), "open for the stranger");
}

// knock_doors, the compact style and forwarded (published) ports on the nftables backend
// (refused by it before).

/// One door per person on the nftables backend, in knockd mode and both iptables styles
/// (compact renders the gates table): closed for the controller and the stranger over IPv4
/// and IPv6; each door opens for its owner's knock and for the knocker only; verify proves
/// every door; a removed door stays shut (verify proves it too) while the other still opens;
/// re-run unchanged.
#[test]
fn nft_backend_doors_open_for_their_owner_only_and_a_removed_door_stays_shut() {
    let lab = Lab::up_with("nft_doors", 3, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    // sesame with its own state home (the state file keeps the removed doors verify checks).
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let ctl = Sesame::new().state(&state);
    let alice = "{name: alice, sequence: [7811, 7822, 7811, 7833]}";
    let bob = "{name: bob, sequence: [7911, 7922, 7911, 7933]}";
    let modes = [
        ("h1", "knock_mode: knockd\n"),
        ("h2", "knock_mode: iptables\n"),
        (
            "h3",
            "knock_mode: iptables\nknock_iptables_style: compact\n",
        ),
    ];
    let inv_with = |name: &str, doors: &str| {
        let vars: Vec<(&str, String)> = modes
            .iter()
            .map(|(h, m)| (*h, format!("{m}knock_doors: [{doors}]\n")))
            .collect();
        let refs: Vec<(&str, &str)> = vars.iter().map(|(h, v)| (*h, v.as_str())).collect();
        inventory(&lab, &tmp.path().join(name), GROUP, &refs)
    };
    let inv = inv_with("both", &format!("{alice}, {bob}"));
    let invs = inv.to_str().unwrap();
    let first = ctl.harden(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(6));
    for (h, _) in modes {
        assert_closed(&lab, h, "without a knock");
        assert!(lab.sh(h, "nft list tables").contains("table inet sesame"));
    }
    let door_opens = |inv: &str, h: &str, door: &str| {
        let ip = lab.host(h).ip.clone();
        assert!(
            wait_until(20, || !open_from_controller(&ip)),
            "{h} stays open"
        );
        let k = ctl.run(&["knock", h, "-i", inv, "--door", door]);
        assert!(k.status.success());
        let open = wait_until(3, || open_from_controller(&ip));
        assert!(
            !open_from_stranger(&lab, &ip),
            "{door}'s knock opened {h} for the stranger"
        );
        open
    };
    for (h, _) in modes {
        assert!(
            door_opens(invs, h, "alice"),
            "alice's door does not open {h}"
        );
        assert!(door_opens(invs, h, "bob"), "bob's door does not open {h}");
    }
    let v = ctl.run(&["verify", "-i", invs]);
    let text = crate::common::printed(&v);
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(
        text.matches("door bob: new SSH session after its knock")
            .count(),
        3,
        "verify did not prove bob's door on every host"
    );

    // Bob leaves: his door is shut, alice's still opens.
    let inv = inv_with("alice", alice);
    let invs = inv.to_str().unwrap();
    let revoke = ctl.harden(&inv, &[]);
    assert_eq!(revoke.status.code(), Some(0));
    let bob_seq = r#"{"knock_sequence": [7911, 7922, 7911, 7933]}"#;
    for (h, _) in modes {
        assert!(recap(&revoke, h, "changed") >= 1, "{h}");
        let ip = lab.host(h).ip.clone();
        assert!(
            wait_until(20, || !open_from_controller(&ip)),
            "{h} stays open"
        );
        let k = ctl.run(&["knock", h, "-i", invs, "-e", bob_seq]);
        assert!(k.status.success());
        assert!(
            !wait_until(3, || open_from_controller(&ip)),
            "bob's removed door still opens {h}"
        );
        assert!(
            door_opens(invs, h, "alice"),
            "alice's door no longer opens {h}"
        );
    }
    let v = ctl.run(&["verify", "-i", invs]);
    let text = crate::common::printed(&v);
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(
        text.matches("removed door bob: still shut after its knock")
            .count(),
        3,
        "verify did not prove bob's door shut on every host"
    );
    std::thread::sleep(Duration::from_secs(6));
    let again = ctl.harden(&inv, &[]);
    for (h, _) in modes {
        assert_eq!(recap(&again, h, "changed"), 0, "{h}");
    }
}

/// A published container port next to Docker's iptables-nft chains (the coexistence tests'
/// stand-in: DOCKER-USER, FORWARD policy DROP, the port DNAT-ed in nat, a "container" in a
/// namespace of its own), hardened with the nftables backend in `mode`: the fact probe finds
/// the DNAT, sesame's forward chain keeps the port silent for the controller and the stranger
/// over IPv4 and IPv6 until a knock, then forwards the knocker's connection (the container's
/// greeting) and never the stranger's; Docker's and fail2ban's rules stay as they were;
/// re-run unchanged.
/// With `native`, after the first run (which installs nftables) a second protected port (8081,
/// IPv4) is DNAT-ed to the container by a native nftables table: it answers past the input
/// gate until the next run, whose probe finds it in `nft -t list ruleset` and gates it.
fn published_port_is_gated(fleet: &str, mode_vars: &str, native: bool) {
    use crate::common::docker::{answers, from_stranger, install_stand_in, PUBLISHED};
    let lab = Lab::up_with(fleet, 1, Flavour::from_env());
    let banned = format!("198.19.{}.253", lab.index);
    let out = lab.stranger(&["ip", "addr", "add", &format!("{banned}/24"), "dev", "ens3"]);
    assert!(out.status.success(), "{}", crate::common::printed(&out));
    assert!(
        lab.sh("h1", "iptables -V").contains("nf_tables"),
        "the stand-in's iptables is not iptables-nft"
    );
    install_stand_in(&lab, &banned);
    let (ip, ip6) = (lab.host("h1").ip.clone(), lab.host("h1").ip6.clone());
    assert!(
        wait_until(10, || answers(&ip, PUBLISHED) && answers(&ip6, PUBLISHED)),
        "the stand-in container is not published"
    );
    const NATIVE: u16 = 8081;
    let theirs =
        "{ iptables-save; ip6tables-save; } | grep -v '^#' | sed -e 's/\\[[0-9]*:[0-9]*\\]//'";
    let before = lab.sh("h1", theirs);
    let tmp = tempfile::tempdir().unwrap();
    let vars = if native {
        format!("{mode_vars}knock_protected_ports: [22, {PUBLISHED}, {NATIVE}]\n")
    } else {
        format!("{mode_vars}knock_protected_ports: [22, {PUBLISHED}]\n")
    };
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", &vars)]);
    let invs = inv.to_str().unwrap();
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    if native {
        lab.sh(
            "h1",
            &format!(
                "nft add table ip labnat && nft add chain ip labnat pre '{{ type nat hook prerouting priority dstnat; }}' && \
                 nft add rule ip labnat pre fib daddr type local tcp dport {NATIVE} dnat to 198.19.{}.242:80",
                lab.index
            ),
        );
        assert!(
            wait_until(5, || answers(&ip, NATIVE)),
            "the native nftables DNAT does not forward"
        );
        let second = play(&inv, &[]);
        assert_eq!(second.status.code(), Some(0));
        assert!(
            recap(&second, "h1", "changed") >= 1,
            "the new DNAT changed nothing"
        );
    }
    let table = lab.sh("h1", "nft list chain inet sesame forward");
    assert!(
        table.contains(&format!("ct original proto-dst {PUBLISHED}")),
        "the probe did not find the published port: {table}"
    );
    assert_eq!(
        lab.sh("h1", theirs),
        before,
        "harden changed Docker's rules"
    );
    if native {
        assert!(
            table.contains(&format!("ct original proto-dst {NATIVE}")),
            "the probe did not find the native nftables DNAT: {table}"
        );
    }
    std::thread::sleep(Duration::from_secs(6));
    if native {
        assert!(
            !answers(&ip, NATIVE),
            "the native DNAT answers without a knock"
        );
    }
    for addr in [&ip, &ip6] {
        assert!(
            !answers(addr, PUBLISHED),
            "{addr}: the published port answers the controller without a knock"
        );
        assert_eq!(
            from_stranger(
                &lab,
                if addr.contains(':') { "::" } else { "0.0.0.0" },
                addr,
                PUBLISHED
            ),
            "silent",
            "{addr}"
        );
    }
    assert_ne!(
        from_stranger(&lab, &banned, &ip, 22),
        "open",
        "the ban let SSH in"
    );
    // IPv4: sesame knock, then the container answers the knocker, not the stranger.
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || answers(&ip, PUBLISHED)),
        "the knock did not open the published port"
    );
    if native {
        let open = wait_until(3, || answers(&ip, NATIVE));
        assert!(
            open,
            "the knock did not open the native DNAT's port: {}",
            lab.sh(
                "h1",
                "nft list set inet sesame clients_v4; nft list table ip labnat; nft list chain inet sesame forward; conntrack -L 2>&1 | grep 8081 || true"
            )
        );
        assert_eq!(from_stranger(&lab, "0.0.0.0", &ip, NATIVE), "silent");
    }
    assert_eq!(from_stranger(&lab, "0.0.0.0", &ip, PUBLISHED), "silent");
    // IPv6: the same sequence knocked on the host's IPv6 address.
    std::thread::sleep(Duration::from_secs(6));
    assert!(!answers(&ip6, PUBLISHED), "open over IPv6 before its knock");
    for port in [7101, 7202, 7101, 7303] {
        syn(&ip6, port);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(
        wait_until(3, || answers(&ip6, PUBLISHED)),
        "the IPv6 knock did not open the published port"
    );
    assert_eq!(from_stranger(&lab, "::", &ip6, PUBLISHED), "silent");
    std::thread::sleep(Duration::from_secs(6));
    let again = play(&inv, &[]);
    assert_eq!(recap(&again, "h1", "changed"), 0);
    assert_eq!(
        lab.sh("h1", theirs),
        before,
        "a re-run changed Docker's rules"
    );
}

#[test]
fn nft_backend_knockd_gates_a_published_port_next_to_docker_iptables_nft() {
    published_port_is_gated("nft_fwd_knockd", KNOCKD, true);
}

#[test]
fn nft_backend_gates_mode_gates_a_published_port_next_to_docker_iptables_nft() {
    published_port_is_gated(
        "nft_fwd_gates",
        "knock_mode: iptables\nknock_sequence: [7101, 7202, 7101, 7303]\n",
        false,
    );
}
/// `knock_state: absent` on the nftables backend (knockd and gates modes, a systemd host whose
/// nftables.service flushes the ruleset at boot): --check changes nothing; the run deletes only
/// table inet sesame, disables and removes sesame-knock, removes sesame's files, stops and
/// purges knockd, and proves a plain SSH session; then SSH is open for the controller and the
/// stranger over v4 and v6, another table is byte-identical, a reboot brings nothing back, and
/// a re-run changes nothing with one session and one exec per host.
#[test]
fn nft_backend_absent_takes_off_only_the_sesame_table_and_its_boot_unit() {
    let lab = Lab::up_with("nft_absent", 2, Flavour::provider(os(), Provider::Nftables));
    let tmp = tempfile::tempdir().unwrap();
    let hosts = [("h1", KNOCKD), ("h2", GATES)];
    let inv = inventory(&lab, tmp.path(), GROUP, &hosts);
    for (h, _) in hosts {
        lab.sh(h, OTHER_TABLE);
    }
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(6));
    let other: Vec<String> = hosts
        .iter()
        .map(|(h, _)| lab.sh(h, "nft list table inet other"))
        .collect();
    let before: Vec<String> = hosts.iter().map(|(h, _)| sesame_part(&lab, h)).collect();
    for (i, (h, _)) in hosts.iter().enumerate() {
        assert!(
            before[i].contains("table inet sesame"),
            "{h}: {}",
            before[i]
        );
        assert!(before[i].contains("enabled"), "{h}: {}", before[i]);
        assert_closed(&lab, h, "when hardened");
    }
    assert!(before[0].contains("knockd runs"), "{}", before[0]);

    let off_inv = inventory(
        &lab,
        &tmp.path().join("off"),
        &format!("{GROUP}knock_state: absent\n"),
        &hosts,
    );
    let preview = play(&off_inv, &["--check"]);
    assert_eq!(preview.status.code(), Some(0));
    // --check got in with a knock: its door closes after knock_open_seconds (5 s).
    std::thread::sleep(Duration::from_secs(6));
    for (i, (h, _)) in hosts.iter().enumerate() {
        assert!(
            recap(&preview, h, "changed") >= 1,
            "{h}: nothing to preview"
        );
        assert_eq!(sesame_part(&lab, h), before[i], "--check touched {h}");
        assert_closed(&lab, h, "after --check");
    }

    let off = play(&off_inv, &[]);
    let said = String::from_utf8_lossy(&off.stdout).to_string();
    assert_eq!(off.status.code(), Some(0), "{said}");
    for (i, (h, _)) in hosts.iter().enumerate() {
        assert!(recap(&off, h, "changed") >= 1, "{h}");
        assert_sesame_gone(&lab, h, "after absent");
        assert_eq!(
            lab.sh(h, "nft list table inet other"),
            other[i],
            "{h}: another table changed"
        );
        assert_open(&lab, h, "after absent");
        assert!(
            !lab.sh(h, "ls /var/backups/sesame").trim().is_empty(),
            "{h}: backups not kept"
        );
    }
    assert!(
        !lab.sh(
            "h1",
            "dpkg-query -W -f '${Status}' knockd 2>/dev/null; true"
        )
        .contains("ok installed"),
        "knockd left installed (sesame installed it)"
    );
    assert!(
        lab.exec("h1", &["dpkg", "-s", "nftables"]).status.success(),
        "nftables purged: it is never sesame's to remove"
    );

    // nftables.service runs at boot again; nothing brings sesame's table back.
    lab.reboot("h1");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        lab.sh("h1", "systemctl is-active nftables.service"),
        "active\n"
    );
    assert_sesame_gone(&lab, "h1", "after a reboot");
    assert_open(&lab, "h1", "after a reboot");

    // verify proves the removal on both; a table inet sesame left behind is found and named.
    let offs = off_inv.to_str().unwrap();
    let v = sesame(&["verify", "-i", offs]);
    let vt = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(0), "{vt}");
    for (h, _) in hosts {
        assert!(
            vt.contains(&format!("ok: [{h}] => knocking removed: plain SSH answers")),
            "{h}: {vt}"
        );
    }
    lab.sh("h2", "nft add table inet sesame");
    let v = sesame(&["verify", "-i", offs, "-l", "h2"]);
    let vt = String::from_utf8_lossy(&v.stdout).to_string();
    lab.sh("h2", "nft delete table inet sesame");
    assert_eq!(v.status.code(), Some(2), "{vt}");
    assert!(
        vt.contains("sesame is still on the host: table inet sesame"),
        "{vt}"
    );

    let again = play(&off_inv, &["-vv"]);
    assert_rerun_unchanged(&again, hosts.map(|(h, _)| h));
}

/// Another user's nftables table (`accept` for port 22 in its own input chain), loaded at boot
/// by a service of its own, on either init.
fn install_other_table(lab: &Lab) {
    lab.sh(
        "h1",
        "printf '%s\\n' 'table inet other {' ' chain input {' \
         '  type filter hook input priority -10; policy accept;' '  tcp dport 22 accept' ' }' '}' \
         > /etc/lab-other.nft && \
         if [ -d /run/systemd/system ]; then \
           printf '%s\\n' '[Unit]' 'Description=another user table' 'After=nftables.service' \
             '[Service]' 'Type=oneshot' 'RemainAfterExit=yes' 'ExecStart=/usr/sbin/nft -f /etc/lab-other.nft' \
             '[Install]' 'WantedBy=multi-user.target' > /etc/systemd/system/lab-other.service && \
           systemctl daemon-reload && systemctl enable --now lab-other.service >/dev/null 2>&1; \
         else \
           printf '%s\\n' '#!/bin/sh' '### BEGIN INIT INFO' '# Provides: lab-other' \
             '# Required-Start: $remote_fs' '# Required-Stop:' '# Default-Start: 2 3 4 5' \
             '# Default-Stop:' '# Short-Description: another user table' '### END INIT INFO' \
             '[ \"${1:-start}\" = start ] || exit 0' 'exec /usr/sbin/nft -f /etc/lab-other.nft' \
             > /etc/init.d/lab-other && chmod 755 /etc/init.d/lab-other && \
           update-rc.d lab-other defaults >/dev/null 2>&1 && /etc/init.d/lab-other start; fi",
    );
}

/// Every other user's firewall, as their tools print it: iptables-nft's tables (ufw's chains,
/// the Docker and fail2ban stand-in's) for v4 and v6, without the `#` lines (a timestamp) and
/// the packet counters, then the other nftables table.
fn theirs(lab: &Lab) -> String {
    lab.sh(
        "h1",
        "{ iptables-save; ip6tables-save; } | grep -v '^#' | sed -e 's/ \\[[0-9]*:[0-9]*\\]$//'; nft list table inet other",
    )
}

/// The nftables backend next to Docker's iptables-nft chains (FORWARD policy DROP, DOCKER,
/// DOCKER-USER, DOCKER-ISOLATION-*, a DNAT to a "container" namespace), another nftables table
/// accepting port 22, and an active ufw allowing 22/tcp: the gate stays shut for controller and
/// stranger over v4 and v6 until a knock, and the others' rules are the same after the load,
/// after a forced rollback (SIGKILL after load: the dead-man switch) and after a reboot.
fn coexists_with_docker_ufw_and_another_table(lab: &Lab) {
    let k = lab.index;
    // ufw (already active on the ufw provider's image) and the nft tool for the other table.
    lab.sh(
        "h1",
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && \
         apt-get install -y -q ufw nftables >/dev/null && ufw allow 22/tcp >/dev/null && \
         ufw --force enable >/dev/null",
    );
    let iptables = lab.sh("h1", "iptables -V");
    assert!(
        iptables.contains("nf_tables"),
        "not iptables-nft: {iptables}"
    );
    let banned = format!("198.19.{k}.253");
    let out = lab.stranger(&["ip", "addr", "add", &format!("{banned}/24"), "dev", "ens3"]);
    assert!(out.status.success(), "{}", crate::common::printed(&out));
    install_stand_in(lab, &banned);
    install_other_table(lab);
    let ip = lab.host("h1").ip.clone();
    assert!(
        wait_until(10, || answers(&ip, PUBLISHED)),
        "the stand-in container is not published"
    );
    let before = theirs(lab);
    for theirs in [
        ":FORWARD DROP",
        ":DOCKER-USER",
        ":DOCKER-ISOLATION-STAGE-1",
        "-j DNAT",
        "ufw-user-input",
        "--dport 22 -j ACCEPT",
        "tcp dport 22 accept",
    ] {
        assert!(before.contains(theirs), "no `{theirs}` in {before}");
    }
    let status = lab.sh("h1", "ufw status");
    assert!(
        status.contains("Status: active") && status.contains("22/tcp"),
        "{status}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let inv = inventory(lab, tmp.path(), GROUP, &[("h1", GATES)]);
    let invs = inv.to_str().unwrap();
    let first = play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(theirs(lab), before, "the load changed other users' rules");
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(
        lab,
        "h1",
        "next to ufw, Docker and another table accepting 22",
    );
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || open_from_controller(&ip)),
        "knock did not open h1"
    );
    assert!(!open_from_stranger(lab, &ip), "opened for the stranger");
    assert!(
        answers(&ip, PUBLISHED),
        "the container's published port stopped answering"
    );
    let kept = lab.sh("h1", "nft -t list table inet sesame");

    // A forced rollback: a change loaded, then sesame killed; the switch restores the table.
    std::thread::sleep(Duration::from_secs(6));
    let group = GROUP.replace("knock_rollback_seconds: 60", "knock_rollback_seconds: 21");
    let inv2 = inventory(
        lab,
        &tmp.path().join("second"),
        &format!("{group}knock_nft_set_size: 4096\n"),
        &[("h1", GATES)],
    );
    let (mut child, _rest) = spawn_until_loaded(&inv2, &["-T", "3"]);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert_ne!(
        lab.sh("h1", "nft -t list table inet sesame"),
        kept,
        "the change was not loaded"
    );
    assert!(
        wait_until(40, || lab.sh("h1", "nft -t list table inet sesame") == kept),
        "the switch did not restore sesame's table"
    );
    assert_eq!(
        theirs(lab),
        before,
        "the rollback changed other users' rules"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(lab, "h1", "after the rollback");

    // A reboot: ufw, the stand-in and the other table's service come back as they were.
    lab.reboot("h1");
    assert!(
        wait_until(20, || lab
            .sh("h1", "nft list tables 2>/dev/null")
            .contains("table inet sesame")),
        "no table inet sesame after the reboot"
    );
    assert!(
        wait_until(20, || theirs(lab) == before),
        "other users' rules differ after the reboot:\n{}\nbefore:\n{before}",
        theirs(lab)
    );
    assert_closed(lab, "h1", "after a reboot");
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || open_from_controller(&ip)),
        "knock did not open h1 after the reboot"
    );
    assert!(
        !open_from_stranger(lab, &ip),
        "opened for the stranger after the reboot"
    );
}

#[test]
fn nft_backend_coexists_with_docker_ufw_and_another_table_on_systemd() {
    let lab = Lab::up_with("nft_coex", 1, Flavour::provider(os(), Provider::Ufw));
    coexists_with_docker_ufw_and_another_table(&lab);
}

#[test]
fn nft_backend_coexists_with_docker_ufw_and_another_table_on_the_default_init() {
    let lab = Lab::up_with("nft_coex_env", 1, Flavour::from_env());
    coexists_with_docker_ufw_and_another_table(&lab);
}

/// Scan resistance of the gates mode on nftables, as lab::knock checks it on iptables: knocks
/// slower than knock_step_seconds stay shut, an nmap SYN scan from the stranger sees the
/// protected port, the knock ports and a port nobody uses alike (filtered) over v4 and v6 and
/// opens nothing, and a right knock still opens afterwards.
#[test]
fn nft_backend_gates_refuse_slow_knocks_and_scans_and_every_port_looks_the_same() {
    let lab = Lab::up_with("nft_scan", 1, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let group = GROUP.replace("knock_step_seconds: 5", "knock_step_seconds: 2");
    let vars = "knock_mode: iptables\nknock_sequence: [7101, 7202, 7101, 7303]\n";
    let inv = inventory(&lab, tmp.path(), &group, &[("h1", vars)]);
    let invs = inv.to_str().unwrap();
    assert_eq!(play(&inv, &[]).status.code(), Some(0));
    std::thread::sleep(Duration::from_secs(6));
    let h = lab.host("h1").clone();
    assert_closed(&lab, "h1", "without a knock");

    // Too slow: each knock 3 s after the last, the step window is 2 s.
    for p in [7101, 7202, 7101, 7303] {
        syn(&h.ip, p);
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(
        !wait_until(2, || open_from_controller(&h.ip)),
        "opened for knocks slower than knock_step_seconds"
    );

    for ip in [&h.ip, &h.ip6] {
        crate::common::assert_all_filtered(&lab, ip, &[22, 7101, 7202, 7303, 7999]);
    }
    assert_closed(&lab, "h1", "after the scans");

    // A right knock right after all that still opens, for the knocker only.
    assert!(sesame(&["knock", "h1", "-i", invs]).status.success());
    assert!(
        wait_until(3, || open_from_controller(&h.ip)),
        "the knock did not open h1 after the scans"
    );
    assert!(!open_from_stranger(&lab, &h.ip), "opened for the stranger");
}

/// A fault of lab::harden's, on nftables: knockd cannot start (no such interface) after the
/// table is loaded, so the transaction rolls back: the host is reachable without a knock, no
/// sesame table is left (there was none) and knockd is not left running; the other host of the
/// play converges.
#[test]
fn nft_backend_knockd_that_cannot_start_rolls_back_and_other_hosts_converge() {
    let lab = Lab::up_with("nft_faults", 2, Flavour::from_env());
    let tmp = tempfile::tempdir().unwrap();
    let broken = format!("{KNOCKD}knock_interface: nosuchif0\n");
    let inv = inventory(&lab, tmp.path(), GROUP, &[("h1", &broken), ("h2", KNOCKD)]);
    let out = play(&inv, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(recap(&out, "h1", "failed"), 1);
    assert_eq!(recap(&out, "h2", "failed"), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("knockd"), "{text}");
    assert_open(&lab, "h1", "after knockd failed to start");
    assert!(
        !lab.sh("h1", "nft list tables")
            .contains("table inet sesame"),
        "the rollback left sesame's table on h1"
    );
    assert!(
        !lab.exec("h1", &["pgrep", "-x", "knockd"]).status.success(),
        "knockd runs on h1 after the rollback"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_closed(&lab, "h2", "after the play");
}

/// lab::day2's rotation on nftables: A→B from the same controller through the state file,
/// B→C from another controller through knock_previous_sequences, previewed with --check -D
/// (`table inet sesame` unchanged), knockd and gates modes side by side; old sequences stop
/// opening, new ones open for the knocker only, the gates table names only the new ports, no
/// iptables rule is written, no port is printed.
#[test]
fn nft_backend_rotates_knock_sequences_from_state_and_from_previous_sequences() {
    crate::day2::rotate_knock_sequences("nft_rotate", Backend::Nftables);
}

/// lab::harden's proof outlasting the dead-man switch on nftables: reported failed and rolled
/// back (never disarmed or kept), no sesame table is live (there was none), SSH open for the
/// controller and the stranger, no knock in the state file; the next run converges.
#[test]
fn nft_backend_proof_outlasting_the_switch_is_reported_rolled_back_and_the_next_run_converges() {
    crate::harden::proof_outlasting_the_switch("nft_slowproof", Backend::Nftables);
}

/// lab::harden's full backup disk on nftables: for every room of K inodes until the
/// transaction fits, a refusal before anything loads (no table, said so) or a complete backup;
/// then on the hardened host a full disk refuses the next transaction with the live table
/// unchanged and nothing left behind.
#[test]
fn nft_backend_with_a_full_backup_disk_is_refused_before_anything_loads() {
    crate::harden::full_backup_disk_refused("nft_fulldisk", Backend::Nftables);
}
