//! Lab tests of day-two work on hardened hosts: rotating the knock (from the same controller
//! through the state file, from another one through knock_previous_sequences, previewed with
//! --check), in every knock mode; sequences never printed. Each test has its own state
//! directory (XDG_STATE_HOME and HOME), so nothing is shared with the caller's controller.

use crate::backend::{nft_table, Backend};
use crate::common::sesame::{assert_rerun_unchanged, inventory, round_trips, Sesame};
use crate::common::{open_from_controller, open_from_stranger, recap, wait_until, Lab};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A test's controller: its inventory directory and its own state home.
struct Controller {
    dir: PathBuf,
    state: PathBuf,
    sesame: Sesame,
}

impl Controller {
    fn new(root: &Path, name: &str) -> Controller {
        let dir = root.join(name);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let sesame = Sesame::new().state(&state);
        Controller { dir, state, sesame }
    }

    /// The fleet's inventory with `group` as all hosts' vars and per-host vars.
    fn inventory(&self, lab: &Lab, group: &str, hosts: &[(&str, &str)]) -> PathBuf {
        inventory(lab, &self.dir, group, hosts)
    }

    fn sesame(&self, args: &[&str]) -> Output {
        self.sesame.run(args)
    }

    fn play(&self, inv: &Path, extra: &[&str]) -> Output {
        self.sesame.harden(inv, extra)
    }

    fn state_file(&self) -> PathBuf {
        self.state.join("sesame/knocks.json")
    }
}

/// The live filter rules without counters and without the door rules knockd inserts for a
/// knocker (what a change by sesame would alter).
fn live_rules(lab: &Lab, host: &str) -> String {
    lab.sh(host, "iptables-save -t filter; ip6tables-save -t filter")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("-A SESAME-DOOR "))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Panics if any of `ports` shows in `text` (as a number of its own: see `shows_secret`).
fn assert_no_ports(text: &str, ports: &[&str]) {
    for p in ports {
        assert!(
            !crate::common::shows_secret(text, p),
            "sequence port {p} leaked:
{text}"
        );
    }
}

/// Whether `knock` (sent with `sesame knock -e`) opens `host` for the controller; waits for
/// any door left open by an earlier knock to close first. A knock that opens the host must
/// not open it for the stranger.
fn knock_opens(c: &Controller, lab: &Lab, inv: &Path, host: &str, vars: &str) -> bool {
    let ip = lab.host(host).ip.clone();
    assert!(
        wait_until(20, || !open_from_controller(&ip)),
        "{host} stays open without a knock"
    );
    let k = c.sesame(&["knock", host, "-i", inv.to_str().unwrap(), "-e", vars]);
    assert!(k.status.success(), "{}", crate::common::printed(&k));
    let opened = wait_until(3, || open_from_controller(&ip));
    if opened {
        assert!(
            !open_from_stranger(lab, &ip),
            "{host}: the controller's knock opened it for the stranger"
        );
    }
    opened
}

/// The `new` (name, sequence) knock opens each of `hosts` (for the knocker only) and the `old`
/// one opens none. Every host's new knock is sent before any old one, so a host's door closes
/// while the others are knocked, and the old knocks go to every host (each shut first) before
/// one 3 s wait for any of them to open (not one wait per knock).
fn assert_rotated(
    c: &Controller,
    lab: &Lab,
    inv: &Path,
    hosts: &[&str],
    new: (&str, &str),
    old: (&str, &str),
) {
    let knock = |seq: &str| format!("{{\"knock_sequence\": {seq}}}");
    for h in hosts {
        assert!(
            knock_opens(c, lab, inv, h, &knock(new.1)),
            "{} does not open {h}",
            new.0
        );
    }
    let ips: Vec<String> = hosts.iter().map(|h| lab.host(h).ip.clone()).collect();
    for (h, ip) in hosts.iter().zip(&ips) {
        assert!(
            wait_until(20, || !open_from_controller(ip)),
            "{h} stays open without a knock"
        );
    }
    for h in hosts {
        let k = c.sesame(&["knock", h, "-i", inv.to_str().unwrap(), "-e", &knock(old.1)]);
        assert!(k.status.success(), "{}", crate::common::printed(&k));
    }
    assert!(
        !wait_until(3, || ips.iter().any(|ip| open_from_controller(ip))),
        "{} still opens one of {hosts:?}",
        old.0
    );
}

/// Panics unless the controller's state file has an entry for each of `hosts`.
fn assert_state_names(c: &Controller, hosts: &[&str]) {
    let state = std::fs::read_to_string(c.state_file()).expect("no state file written");
    let v: serde_json::Value = serde_json::from_str(&state).expect("state file is JSON");
    let names: Vec<&str> = v["hosts"]
        .as_array()
        .expect("state file has hosts")
        .iter()
        .filter_map(|e| e["host"].as_str())
        .collect();
    for h in hosts {
        assert!(
            names.contains(h),
            "state file has no entry for {h}: {names:?}"
        );
    }
}

const COMMON_VARS: &str =
    "knock_step_seconds: 5\nknock_open_seconds: 5\nknock_rollback_seconds: 60\n";
/// Distinctive ports: the output is searched for them.
const SEQ_A: &str = "[7411, 7422, 7411, 7433]";
const SEQ_B: &str = "[7511, 7522, 7511, 7533]";
const SEQ_C: &str = "[7611, 7622, 7611, 7633]";
const ALL_PORTS: &[&str] = &[
    "7411", "7422", "7433", "7511", "7522", "7533", "7611", "7622", "7633",
];

fn host_vars(mode: &str, seq: &str) -> String {
    format!("knock_mode: {mode}\nknock_sequence: {seq}\n")
}

/// Rotate A→B from the same controller (the state file remembers A), then B→C from a
/// controller with no state but `knock_previous_sequences: [B]`, previewed first with
/// --check -D (live rules byte-identical, reported changed, diff masked); knockd and iptables
/// modes side by side. Old sequences stop opening, new ones open, re-runs change nothing with
/// one session and one command, no port is ever printed.
#[test]
fn rotate_knock_sequences_from_state_and_from_previous_sequences() {
    rotate_knock_sequences("day2_rotate", Backend::Iptables);
}

/// The body of `rotate_knock_sequences_from_state_and_from_previous_sequences` on `backend`
/// (lab::nft runs it on nftables): the --check preview compares that backend's live rules, and
/// the gates host's live rules name the new sequence's ports and not the old one's; each knock
/// that opens a host opens it for the knocker only; the state files record the hosts.
pub(crate) fn rotate_knock_sequences(fleet: &str, backend: Backend) {
    let lab = Lab::up(fleet, 2);
    let live = |h: &str| match backend {
        Backend::Iptables => live_rules(&lab, h),
        Backend::Nftables => nft_table(&lab, h),
    };
    let common = format!("{COMMON_VARS}{}", backend.vars());
    let tmp = tempfile::tempdir().unwrap();
    let ctl = Controller::new(tmp.path(), "ctl");
    let modes = [("h1", "knockd"), ("h2", "iptables")];
    let inv_with = |c: &Controller, seq: &str, extra: &str| {
        let vars: Vec<(String, String)> = modes
            .iter()
            .map(|(h, m)| (h.to_string(), host_vars(m, seq) + extra))
            .collect();
        let refs: Vec<(&str, &str)> = vars.iter().map(|(h, v)| (h.as_str(), v.as_str())).collect();
        c.inventory(&lab, &common, &refs)
    };
    let mut printed = String::new();

    // Harden with A: the state file records it, mode 0600.
    let inv = inv_with(&ctl, SEQ_A, "");
    let first = ctl.play(&inv, &[]);
    printed += &crate::common::printed(&first);
    assert_eq!(first.status.code(), Some(0));
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(ctl.state_file()).expect("no state file written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_state_names(&ctl, &["h1", "h2"]);
    for (h, _) in modes {
        backend.assert_only_its_own(&lab, h, "after the first run");
    }

    // A→B: edit the inventory, run again; nothing else.
    let inv = inv_with(&ctl, SEQ_B, "");
    let rotate = ctl.play(&inv, &[]);
    let text = crate::common::printed(&rotate);
    printed += &text;
    assert_eq!(rotate.status.code(), Some(0), "{text}");
    for (h, _) in modes {
        assert!(recap(&rotate, h, "changed") >= 1, "{h} not rotated");
        assert_eq!(recap(&rotate, h, "unreachable"), 0);
    }
    assert_rotated(
        &ctl,
        &lab,
        &inv,
        &modes.map(|(h, _)| h),
        ("B", SEQ_B),
        ("A", SEQ_A),
    );
    // The gates host's live rules gate B's ports, no longer A's.
    let gates = live("h2");
    assert!(gates.contains("7511") && !gates.contains("7411"), "{gates}");
    // Re-run: the current knock opens at once; one session, one command per host.
    let again = ctl.play(&inv, &["-vv"]);
    printed += &crate::common::printed(&again);
    assert_rerun_unchanged(&again, modes.map(|(h, _)| h));

    // B→C from a controller without state: knock_previous_sequences names B.
    let ci = Controller::new(tmp.path(), "ci");
    let prev = format!("knock_previous_sequences: [{SEQ_B}]\n");
    let inv = inv_with(&ci, SEQ_C, &prev);
    // Without it, the host is unreachable and the error names what was tried, not the ports.
    let lost = ci.play(
        &inv,
        &["-l", "h2", "-T", "3", "-e", "knock_previous_sequences=[]"],
    );
    let text = crate::common::printed(&lost);
    printed += &text;
    assert_eq!(recap(&lost, "h2", "unreachable"), 1, "{text}");
    assert!(text.contains("tried knock_sequence"), "{text}");
    assert!(text.contains("knock_previous_sequences"), "{text}");
    // The preview: reached with B, reported changed, masked diff, nothing touched.
    let before: Vec<String> = modes.iter().map(|(h, _)| live(h)).collect();
    let preview = ci.play(&inv, &["--check", "-D"]);
    let text = crate::common::printed(&preview);
    printed += &text;
    assert_eq!(preview.status.code(), Some(0), "{text}");
    for (i, (h, _)) in modes.iter().enumerate() {
        assert!(recap(&preview, h, "changed") >= 1, "{h}: {text}");
        assert_eq!(before[i], live(h), "--check changed {h}'s rules");
    }
    assert!(
        text.contains("+++ ") && text.contains("********"),
        "no masked diff: {text}"
    );
    assert!(!ci.state_file().exists(), "--check wrote the state file");
    let rotate = ci.play(&inv, &[]);
    let text = crate::common::printed(&rotate);
    printed += &text;
    assert_eq!(rotate.status.code(), Some(0), "{text}");
    for (h, _) in modes {
        assert!(recap(&rotate, h, "changed") >= 1);
    }
    assert_rotated(
        &ci,
        &lab,
        &inv,
        &modes.map(|(h, _)| h),
        ("C", SEQ_C),
        ("B", SEQ_B),
    );
    assert_state_names(&ci, &["h1", "h2"]);
    let gates = live("h2");
    assert!(gates.contains("7611") && !gates.contains("7511"), "{gates}");
    let again = ci.play(&inv, &[]);
    printed += &crate::common::printed(&again);
    for (h, _) in modes {
        assert_eq!(recap(&again, h, "changed"), 0, "{h}");
        backend.assert_only_its_own(&lab, h, "after the rotations");
    }

    // The first controller still remembers A→B only: nothing opens, and it says what it tried.
    let inv = inv_with(&ctl, "[7711, 7722, 7711, 7733]", "");
    // (The last run's proof left knockd's door open for a few seconds.)
    assert!(wait_until(20, || !open_from_controller(&lab.hosts[0].ip)));
    let lost = ctl.play(&inv, &["-l", "h1", "-T", "3"]);
    let text = crate::common::printed(&lost);
    printed += &text;
    assert_eq!(recap(&lost, "h1", "unreachable"), 1, "{text}");
    assert!(
        text.contains("tried knock_sequence, state file entry of 20"),
        "{text}"
    );
    assert!(text.contains("knock_previous_sequences"), "{text}");
    assert_no_ports(&printed, ALL_PORTS);
    assert_no_ports(&printed, &["7722", "7733"]);
}

/// single_port rotates its timing: hardened with hitcount 2 within 5 s, then 3 within 9 s from
/// the same controller; the old timing no longer opens, a re-run changes nothing.
#[test]
fn rotate_single_port_hit_timing() {
    let lab = Lab::up("day2_rotate_sp", 1);
    let tmp = tempfile::tempdir().unwrap();
    let ctl = Controller::new(tmp.path(), "ctl");
    let old = "knock_mode: single_port\nknock_hitcount: 2\nknock_hit_min_seconds: 2\nknock_hit_max_seconds: 5\n";
    let new = "knock_mode: single_port\nknock_hitcount: 3\nknock_hit_min_seconds: 2\nknock_hit_max_seconds: 9\n";
    let inv = ctl.inventory(&lab, COMMON_VARS, &[("h1", old)]);
    assert_eq!(ctl.play(&inv, &[]).status.code(), Some(0));
    let inv = ctl.inventory(&lab, COMMON_VARS, &[("h1", new)]);
    let rotate = ctl.play(&inv, &[]);
    let text = crate::common::printed(&rotate);
    assert_eq!(rotate.status.code(), Some(0), "{text}");
    assert!(recap(&rotate, "h1", "changed") >= 1);
    assert!(text.contains("state file entry of"), "{text}");
    let rules = lab.sh("h1", "iptables -S");
    assert!(rules.contains("--hitcount 2 "), "{rules}");
    // The old timing (one prior hit) no longer opens the port; `sesame run` with it fails.
    let run = ctl.sesame(&[
        "run",
        "-i",
        inv.to_str().unwrap(),
        "h1",
        "--no-state",
        "-T",
        "3",
        "-e",
        "{\"knock_hitcount\": 2, \"knock_hit_max_seconds\": 5}",
        "--",
        "true",
    ]);
    assert_eq!(
        run.status.code(),
        Some(4),
        "{}",
        crate::common::printed(&run)
    );
    let again = ctl.play(&inv, &[]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(recap(&again, "h1", "changed"), 0);
}

/// `knock_state: absent` in every knock mode: hardened hosts get sesame taken off in one proven
/// transaction (previewed first with --check: nothing touched), after which a plain SSH
/// connection works for anyone, no sesame chain is live (another user's rule stays), knockd is
/// stopped and purged with the packages sesame installed, its files are gone, its backups kept,
/// the state file forgets the hosts; the dead-man switch is gone (systemd timer or sysvinit
/// sleeper) and a reboot brings nothing back (no chain, no knockd, no boot entry of sesame's
/// packages or units; on systemd no failed unit); a re-run changes nothing with one session and
/// one command per host.
#[test]
fn knock_state_absent_takes_sesame_off_every_mode() {
    let lab = Lab::up("day2_absent", 3);
    let tmp = tempfile::tempdir().unwrap();
    let ctl = Controller::new(tmp.path(), "ctl");
    let hosts = [
        ("h1", host_vars("knockd", SEQ_A)),
        ("h2", host_vars("iptables", SEQ_B)),
        (
            "h3",
            "knock_mode: single_port\nknock_hitcount: 2\nknock_hit_min_seconds: 2\nknock_hit_max_seconds: 5\n"
                .to_string(),
        ),
    ];
    let with = |extra: &str| -> Vec<(&str, String)> {
        hosts
            .iter()
            .map(|(h, v)| (*h, format!("{v}{extra}")))
            .collect()
    };
    let inventory = |vars: &[(&str, String)]| {
        let refs: Vec<(&str, &str)> = vars.iter().map(|(h, v)| (*h, v.as_str())).collect();
        ctl.inventory(&lab, COMMON_VARS, &refs)
    };
    let inv = inventory(&with(""));
    let first = ctl.play(&inv, &[]);
    assert_eq!(first.status.code(), Some(0));
    for h in &lab.hosts {
        assert!(
            wait_until(20, || !open_from_controller(&h.ip)),
            "{} answers without a knock",
            h.name
        );
    }
    // The iptables backend's drop-in for netfilter-persistent and (iptables mode) xt_recent's
    // options: written by sesame, so the removal must take them off too.
    lab.sh(
        "h2",
        "grep -q 'managed by sesame' /etc/systemd/system/netfilter-persistent.service.d/sesame.conf \
         /etc/modprobe.d/sesame-xt_recent.conf",
    );
    // Another user's rule (a fail2ban-like ban) added after sesame: it must survive.
    let ban = "-A INPUT -s 203.0.113.7/32 -j DROP";
    for h in &lab.hosts {
        lab.sh(&h.name, "iptables -I INPUT 1 -s 203.0.113.7/32 -j DROP");
    }
    let inv = inventory(&with("knock_state: absent\n"));
    let before: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| live_rules(&lab, &h.name))
        .collect();
    let preview = ctl.play(&inv, &["--check"]);
    assert_eq!(
        preview.status.code(),
        Some(0),
        "{}",
        crate::common::printed(&preview)
    );
    for (i, h) in lab.hosts.iter().enumerate() {
        assert!(recap(&preview, &h.name, "changed") >= 1);
        assert_eq!(
            before[i],
            live_rules(&lab, &h.name),
            "--check touched {}",
            h.name
        );
    }
    // `sesame verify` proves what the inventory says: these hosts are still hardened, so no
    // plain session opens without a knock and verify fails them, naming why (h3's single
    // port is left out: its knock is SSH's own SYNs, which a plain connection sends too).
    let invs = inv.to_str().unwrap();
    let v = ctl.sesame(&["verify", "-i", invs, "-l", "h1:h2", "-T", "3"]);
    let vt = crate::common::printed(&v);
    assert_eq!(v.status.code(), Some(2), "{vt}");
    for h in ["h1", "h2"] {
        assert!(
            vt.contains(&format!(
                "fatal: [{h}]: FAILED! => knock_state is absent, but no plain SSH session opens without a knock"
            )),
            "{h}: {vt}"
        );
    }
    assert_no_ports(&vt, ALL_PORTS);
    let off = ctl.play(&inv, &[]);
    let text = crate::common::printed(&off);
    assert_eq!(off.status.code(), Some(0), "{text}");
    assert!(text.contains("new session without a knock"), "{text}");
    assert_no_ports(&text, ALL_PORTS);
    for h in &lab.hosts {
        assert!(recap(&off, &h.name, "changed") >= 1, "{}", h.name);
        let rules = lab.sh(&h.name, "iptables-save; ip6tables-save");
        assert!(!rules.contains("SESAME"), "{}: {rules}", h.name);
        assert!(
            rules.contains(ban),
            "{}: another user's rule is gone: {rules}",
            h.name
        );
        assert!(
            open_from_controller(&h.ip),
            "{} closed after absent",
            h.name
        );
        assert!(
            open_from_stranger(&lab, &h.ip),
            "{} closed to the stranger",
            h.name
        );
        assert!(
            !lab.exec(&h.name, &["pgrep", "-x", "knockd"])
                .status
                .success(),
            "knockd runs on {}",
            h.name
        );
        for pkg in ["knockd", "iptables-persistent", "netfilter-persistent"] {
            assert!(
                !lab.sh(
                    &h.name,
                    &format!("dpkg-query -W -f '${{Status}}' {pkg} 2>/dev/null; true")
                )
                .contains("ok installed"),
                "{pkg} left on {} (sesame installed it)",
                h.name
            );
        }
        let left = lab.sh(
            &h.name,
            "ls -d /etc/knockd.conf /etc/default/knockd /etc/iptables/rules.v4 \
             /etc/default/netfilter-persistent \
             /etc/systemd/system/knockd.service.d /var/lib/sesame/firewall.sha256 \
             /etc/systemd/system/netfilter-persistent.service.d \
             /etc/modprobe.d/sesame-xt_recent.conf \
             /var/lib/sesame/installed-packages 2>/dev/null; true",
        );
        assert_eq!(left.trim(), "", "{}: sesame's files left", h.name);
        assert!(
            !lab.sh(&h.name, "ls /var/backups/sesame").trim().is_empty(),
            "{}: backups not kept",
            h.name
        );
    }
    let state = std::fs::read_to_string(ctl.state_file()).unwrap();
    for h in &lab.hosts {
        assert!(!state.contains(&format!("\"{}:22\"", h.ip)), "{state}");
    }
    // Now verify proves the removal, with one plain session and one command per host, and
    // JUnit lists every host as passed.
    let junit = ctl.dir.join("verify.xml");
    let v = ctl.sesame(&[
        "verify",
        "-i",
        invs,
        "-vv",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let vt = crate::common::printed(&v);
    assert_eq!(v.status.code(), Some(0), "{vt}");
    for h in &lab.hosts {
        assert!(
            vt.contains(&format!(
                "ok: [{}] => knocking removed: plain SSH answers (a session without a knock \
                 authenticated; checked: no SESAME chains, no table inet sesame",
                h.name
            )),
            "{}: {vt}",
            h.name
        );
        assert_eq!(
            round_trips(&v, &h.name),
            (1, 1),
            "{}: sessions and remote commands",
            h.name
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.contains("<failure"), "{xml}");
    for h in &lab.hosts {
        assert!(
            vt.contains(&format!(
                "knock: [{}] new session without a knock: SSH authenticated, no knock sent",
                h.name
            )),
            "{}: {vt}",
            h.name
        );
        assert!(
            xml.contains(&format!("[{}] verify: knock proof", h.name)),
            "{}: {xml}",
            h.name
        );
    }
    // A part of sesame left behind (a knockd.conf it wrote) is found and named: exit 2.
    lab.sh("h1", "printf '# managed by sesame\\n' > /etc/knockd.conf");
    let v = ctl.sesame(&["verify", "-i", invs, "-l", "h1"]);
    let vt = crate::common::printed(&v);
    assert_eq!(v.status.code(), Some(2), "{vt}");
    assert!(
        vt.contains("plain SSH answers, but sesame is still on the host: /etc/knockd.conf"),
        "{vt}"
    );
    lab.sh("h1", "rm /etc/knockd.conf");
    absent_after_reboot(&lab);
    // A re-run: nothing to take off, one plain session and one command per host.
    let again = ctl.play(&inv, &["-vv"]);
    assert_rerun_unchanged(&again, lab.hosts.iter().map(|h| h.name.as_str()));
}

/// After `knock_state: absent`: the removal's dead-man switch is gone (a systemd timer or a
/// sysvinit sleeper), then each host is power-cycled and, once its boot is over, nothing of
/// sesame came back: no SESAME chain, no knockd, both SSH clients get in, no boot entry of
/// knockd, netfilter-persistent or sesame's units is left (systemd: `*.wants` links and no
/// failed unit, the system `running`; sysvinit: `/etc/rc?.d` links).
fn absent_after_reboot(lab: &Lab) {
    for h in &lab.hosts {
        let switch = if lab.systemd() {
            lab.sh(
                &h.name,
                "systemctl list-units --all --no-legend --plain 'sesame-rollback-*'",
            )
        } else {
            lab.sh(&h.name, "pgrep -af 'sesame-slee[p]-'; true")
        };
        assert_eq!(
            switch.trim(),
            "",
            "{}: the dead-man switch is armed",
            h.name
        );
        lab.reboot(&h.name);
    }
    let ours = "grep -E 'knockd|netfilter-persistent|sesame'";
    for h in &lab.hosts {
        let boot = if lab.systemd() {
            let state = lab.sh(
                &h.name,
                "timeout 60 systemctl is-system-running --wait; true",
            );
            let failed = lab.sh(&h.name, "systemctl --failed --no-legend --plain");
            assert_eq!(
                state.trim(),
                "running",
                "{}: failed units: {failed}",
                h.name
            );
            lab.sh(
                &h.name,
                &format!("ls /etc/systemd/system/*.wants/ | {ours}; true"),
            )
        } else {
            assert!(
                wait_until(60, || lab.sh(&h.name, "runlevel; true").contains("N 2")),
                "{}: the boot never ended",
                h.name
            );
            lab.sh(&h.name, &format!("ls /etc/rc?.d/ | {ours}; true"))
        };
        assert_eq!(boot.trim(), "", "{}: boot entries left", h.name);
        let rules = lab.sh(&h.name, "iptables-save; ip6tables-save");
        assert!(
            !rules.contains("SESAME"),
            "{}: after a reboot: {rules}",
            h.name
        );
        assert!(
            !lab.exec(&h.name, &["pgrep", "-x", "knockd"])
                .status
                .success(),
            "knockd runs on {} after a reboot",
            h.name
        );
        assert!(
            open_from_controller(&h.ip) && open_from_stranger(lab, &h.ip),
            "{} closed after a reboot",
            h.name
        );
    }
}

/// One door per person (`knock_doors`) in knockd and both iptables styles: each door opens
/// with its owner's sequence (`sesame knock --door`), sesame uses the first; removing a door
/// revokes it while the other still opens; sequences never printed; re-run unchanged.
#[test]
fn knock_doors_each_open_and_a_removed_door_is_revoked() {
    let lab = Lab::up("day2_doors", 3);
    let tmp = tempfile::tempdir().unwrap();
    let ctl = Controller::new(tmp.path(), "ctl");
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
    let inv_with = |doors: &str| {
        let vars: Vec<(&str, String)> = modes
            .iter()
            .map(|(h, m)| (*h, format!("{m}knock_doors: [{doors}]\n")))
            .collect();
        let refs: Vec<(&str, &str)> = vars.iter().map(|(h, v)| (*h, v.as_str())).collect();
        ctl.inventory(&lab, COMMON_VARS, &refs)
    };
    let secret = ["7822", "7833", "7922", "7933"];
    let mut printed = String::new();
    let inv = inv_with(&format!("{alice}, {bob}"));
    let first = ctl.play(&inv, &[]);
    printed += &crate::common::printed(&first);
    assert_eq!(first.status.code(), Some(0), "{printed}");
    let invs = inv.to_str().unwrap();
    let door_opens = |h: &str, door: &str| {
        let ip = lab.host(h).ip.clone();
        assert!(
            wait_until(20, || !open_from_controller(&ip)),
            "{h} stays open"
        );
        let k = ctl.sesame(&["knock", h, "-i", invs, "--door", door]);
        assert!(k.status.success(), "{}", crate::common::printed(&k));
        wait_until(3, || open_from_controller(&ip))
    };
    for (h, _) in modes {
        assert!(door_opens(h, "alice"), "alice's door does not open {h}");
        assert!(door_opens(h, "bob"), "bob's door does not open {h}");
    }
    // verify proves each door opens for its owner.
    let v = ctl.sesame(&["verify", "-i", invs]);
    let text = crate::common::printed(&v);
    printed += &text;
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("door bob: new SSH session after its knock")
            .count(),
        3,
        "{text}"
    );
    let nodoor = ctl.sesame(&["knock", "h1", "-i", invs, "--door", "carol"]);
    assert!(!nodoor.status.success());
    assert!(crate::common::printed(&nodoor).contains("its doors: alice, bob"));

    // Bob leaves: his door is revoked, alice's still opens.
    let inv = inv_with(alice);
    let revoke = ctl.play(&inv, &[]);
    printed += &crate::common::printed(&revoke);
    assert_eq!(revoke.status.code(), Some(0), "{printed}");
    for (h, _) in modes {
        assert!(recap(&revoke, h, "changed") >= 1, "{h}");
        let bob_seq = "{\"knock_sequence\": [7911, 7922, 7911, 7933]}";
        assert!(
            !knock_opens(&ctl, &lab, &inv, h, bob_seq),
            "bob's removed door still opens {h}"
        );
        assert!(door_opens(h, "alice"), "alice's door no longer opens {h}");
    }
    let again = ctl.play(&inv, &[]);
    printed += &crate::common::printed(&again);
    for (h, _) in modes {
        assert_eq!(recap(&again, h, "changed"), 0, "{h}");
    }
    // verify proves the removed door stays shut (the state file remembers it was there).
    let v = ctl.sesame(&["verify", "-i", inv.to_str().unwrap()]);
    let text = crate::common::printed(&v);
    printed += &text;
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("removed door bob: still shut after its knock")
            .count(),
        3,
        "{text}"
    );
    // The check can fail: a state file that calls alice's live door removed makes verify fail.
    let file = ctl.state_file();
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let h1 = format!("{}:22", lab.host("h1").ip);
    for e in state["hosts"].as_array_mut().unwrap() {
        if e["address"] == h1.as_str() {
            e["revoked"] = e["knocks"].clone();
        }
    }
    std::fs::write(&file, state.to_string()).unwrap();
    let v = ctl.sesame(&["verify", "-i", inv.to_str().unwrap(), "-l", "h1"]);
    let text = crate::common::printed(&v);
    printed += &text;
    assert_ne!(v.status.code(), Some(0), "{text}");
    assert!(text.contains("removed door alice still opens"), "{text}");
    assert_no_ports(&printed, &secret);
}

/// `sesame verify` of a `knock_state: absent` host as an ops user whose sudo wants a password:
/// without `-K` the leftover check cannot run as root and verify FAILS saying so (half a proof
/// is no proof) and how to fix it; with `-K` it asks on the terminal, the check runs as root (a
/// leftover SESAME chain, readable only by root, is found) and a clean host passes; a wrong
/// password fails. Typed passwords never appear in the output. Run under `script` for a
/// terminal, each answer typed after its prompt had time to show.
#[test]
fn verify_of_an_absent_host_checks_as_root_with_the_sudo_password_from_k() {
    const SESAME: &str = env!("CARGO_BIN_EXE_sesame");
    let lab = Lab::up("day2_verify_k", 1);
    let state = tempfile::tempdir().unwrap();
    let inv = lab.inventory.to_str().unwrap().to_string();
    let verify = |answers: &[&str], flags: &str| -> (Option<i32>, String) {
        let typed: String = answers
            .iter()
            .map(|a| format!("sleep 1; echo '{a}'; "))
            .collect();
        let cmd = format!(
            "{SESAME} verify -i {inv} -l h1 -e knock_state=absent -e ansible_user=ops \
             -e ansible_ssh_private_key_file=/nonexistent/key {flags}"
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "({typed}sleep 2) | script -qec \"{cmd}\" /dev/null"
            ))
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", state.path())
            .env("HOME", state.path())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("SESAME_PASSWORD")
            .env_remove("SESAME_BECOME_PASSWORD")
            .output()
            .expect("run script");
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{t}");
        assert!(!t.contains("ops-lab-pw"), "a typed password was shown: {t}");
        (out.status.code(), t)
    };
    // No -K: sudo -n is refused, so nothing was checked as root: a failure naming the fix.
    let (code, t) = verify(&["ops-lab-pw"], "-k");
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("fatal: [h1]: FAILED! => knock_state is absent and plain SSH answers")
            && t.contains("could NOT be checked")
            && t.contains("sudo: a password is required")
            && t.contains("-K"),
        "{t}"
    );

    // -K: asked on the terminal; the clean host passes, checked as root.
    let (code, t) = verify(&["ops-lab-pw", "ops-lab-pw"], "-k -K");
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("BECOME password:"), "{t}");
    assert!(
        t.contains("ok: [h1] => knocking removed: plain SSH answers")
            && t.contains("checked: no SESAME chains"),
        "{t}"
    );

    // The check really runs as root: a SESAME chain (only root can list it) is found.
    lab.sh("h1", "iptables -N SESAME-LEFTOVER");
    let (code, t) = verify(&["ops-lab-pw", "ops-lab-pw"], "-k -K");
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("sesame is still on the host: sesame's iptables chains (SESAME-*)"),
        "{t}"
    );
    lab.sh("h1", "iptables -X SESAME-LEFTOVER");

    // A wrong sudo password: not checked, so not proven.
    let (code, t) = verify(&["ops-lab-pw", "wrong-pw-7"], "-k -K");
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("could NOT be checked"), "{t}");
    assert!(!t.contains("wrong-pw-7"), "{t}");
}
