//! Port knocking proven on the lab's real hosts: rules rendered from the role's templates and
//! loaded with iptables-restore (no playbook engine), real knockd from the lab's apt repository,
//! knocks from the controller with sesame's client and with knockd's `knock`, probes from the
//! controller and from the stranger namespace. Needs root (see tests/lab/README.md).

use crate::common::sesame::{knockd_client, sesame};
use crate::common::{assert_all_filtered, Lab};
use serde_json::{json, Map, Value};
use sesame::knock::{client, render, KnockMode, KnockPort, KnockProfile, NetFacts, RenderedFiles};
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn role_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("roles/port_knocking")
}

/// A validated profile for a lab host (interface ens3, IPv6 on).
fn profile(host: &str, vars: Value) -> KnockProfile {
    let Value::Object(map) = vars else {
        panic!("vars must be an object")
    };
    let facts = NetFacts {
        default_interface: Some("ens3".into()),
        has_ipv6: true,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    };
    KnockProfile::from_vars(host, &map, &facts).unwrap_or_else(|e| panic!("{e}"))
}

fn files(p: &KnockProfile) -> RenderedFiles {
    render(p, &role_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `content` to `path` inside `host` (through argv: `lab.exec` has no stdin).
fn put_file(lab: &Lab, host: &str, path: &str, content: &str, mode: u32) {
    let out = lab.exec(
        host,
        &[
            "sh",
            "-c",
            r#"mkdir -p "$(dirname "$2")" && printf %s "$1" > "$2" && chmod "$3" "$2""#,
            "sh",
            content,
            path,
            &format!("{mode:o}"),
        ],
    );
    assert!(out.status.success(), "write {path} on {host}: {out:?}");
}

/// Writes the rules files and loads them, as netfilter-persistent would at boot.
fn load_rules(lab: &Lab, host: &str, files: &RenderedFiles) {
    for path in ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"] {
        let f = &files[path];
        put_file(lab, host, path, &f.content, f.mode);
    }
    lab.sh(
        host,
        "iptables-restore /etc/iptables/rules.v4 && ip6tables-restore /etc/iptables/rules.v6",
    );
}

/// Installs knockd from the lab's repository, writes its files and starts it.
fn start_knockd(lab: &Lab, host: &str, files: &RenderedFiles) {
    lab.sh(
        host,
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq knockd >/dev/null",
    );
    for path in ["/etc/knockd.conf", "/etc/default/knockd"] {
        let f = &files[path];
        put_file(lab, host, path, &f.content, f.mode);
    }
    lab.sh(host, "/etc/init.d/knockd restart >/dev/null");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lab.exec(host, &["pgrep", "-x", "knockd"]).status.success() {
        assert!(Instant::now() < deadline, "knockd did not start on {host}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // knockd opens its capture right after forking; give it a moment before the first knock.
    std::thread::sleep(Duration::from_millis(500));
}

#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// sshd answered with its banner.
    Open,
    /// No answer at all: the silent drop.
    Silent,
    /// Refused or reset (a closed port's normal answer): not what a protected port may give.
    Refused,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("bad address {s}: {e}"))
}

/// Connects from the controller (this process) and reads the SSH banner.
fn probe_controller(addr: IpAddr, port: u16) -> Probe {
    match TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_millis(1500)) {
        Ok(mut s) => {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut banner = [0u8; 7];
            s.read_exact(&mut banner).unwrap();
            assert_eq!(&banner, b"SSH-2.0", "not sshd at {addr}:{port}");
            Probe::Open
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Probe::Silent,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Probe::Silent,
        Err(_) => Probe::Refused,
    }
}

/// Polls from the controller until the port opens (knockd opens its door asynchronously).
fn wait_open_controller(addr: IpAddr, port: u16, within: Duration) -> Probe {
    let deadline = Instant::now() + within;
    loop {
        let p = probe_controller(addr, port);
        if p == Probe::Open || Instant::now() >= deadline {
            return p;
        }
    }
}

/// Connects from the stranger namespace with bash's /dev/tcp.
fn probe_stranger(lab: &Lab, addr: &str, port: u16) -> Probe {
    let script = format!("exec 3<>/dev/tcp/{addr}/{port} && head -c 7 <&3");
    let out = lab.stranger(&["timeout", "2", "bash", "-c", &script]);
    match out.status.code() {
        Some(0) if out.stdout == b"SSH-2.0" => Probe::Open,
        Some(124) => Probe::Silent,
        _ => Probe::Refused,
    }
}

fn knock(addr: IpAddr, seq: &[KnockPort], gap_ms: u64) {
    client::send(addr, seq, Duration::from_millis(gap_ms)).unwrap_or_else(|e| panic!("{e}"));
}

/// knockd's own client, from the controller.
fn knock_with_knockd_client(addr: &str, seq: &[KnockPort], gap_ms: u64) {
    let mut args = vec!["-d".to_string(), gap_ms.to_string(), addr.to_string()];
    args.extend(
        seq.iter()
            .map(|k| format!("{}:{}", k.port, k.proto.as_str())),
    );
    knockd_client(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Loads `files` on `h` (and starts knockd with them if `knockd`) while an SSH session is open:
/// the session survives the load, and the protected port is then closed everywhere. Returns
/// the session, still up.
fn load_closing_under_a_session(
    lab: &Lab,
    h: &crate::common::LabHost,
    files: &RenderedFiles,
    knockd: bool,
) -> ssh2::Session {
    let sess = crate::common::ssh::connect(&h.ip, "root", &lab.key, &lab.known_hosts);
    load_rules(lab, &h.name, files);
    if knockd {
        start_knockd(lab, &h.name, files);
    }
    assert_eq!(
        crate::common::ssh::run(&sess, "echo still-here")
            .stdout
            .trim(),
        "still-here"
    );
    assert_closed_everywhere(lab, h);
    sess
}

/// The protected port answers nobody: controller and stranger, IPv4 and IPv6.
fn assert_closed_everywhere(lab: &Lab, h: &crate::common::LabHost) {
    assert_eq!(
        probe_controller(ip(&h.ip), 22),
        Probe::Silent,
        "controller v4"
    );
    assert_eq!(
        probe_controller(ip(&h.ip6), 22),
        Probe::Silent,
        "controller v6"
    );
    assert_eq!(probe_stranger(lab, &h.ip, 22), Probe::Silent, "stranger v4");
    assert_eq!(
        probe_stranger(lab, &h.ip6, 22),
        Probe::Silent,
        "stranger v6"
    );
}

fn door_rules(lab: &Lab, host: &str, cmd: &str) -> usize {
    lab.sh(host, &format!("{cmd} -S SESAME-DOOR"))
        .lines()
        .filter(|l| l.starts_with("-A SESAME-DOOR"))
        .count()
}

#[test]
fn every_golden_rules_file_loads_on_a_lab_host() {
    let lab = Lab::up("knock::golden", 1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/knock");
    let mut checked = 0;
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        for (file, tool) in [
            ("etc_iptables_rules.v4", "iptables"),
            ("etc_iptables_rules.v6", "ip6tables"),
        ] {
            let path = case.join(file);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            put_file(&lab, "h1", "/tmp/rules", &text, 0o600);
            // --test parses; the real load also runs the kernel's checks of every match.
            let line = format!(
                "{tool}-restore --test /tmp/rules && {tool}-restore /tmp/rules && {tool}-save"
            );
            let out = lab.exec("h1", &["sh", "-c", &line]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let saved = String::from_utf8_lossy(&out.stdout);
            let rules_in_file = text
                .lines()
                .filter(|l| l.starts_with("-A ") || l.starts_with("-I "))
                .count();
            let rules_loaded = saved.lines().filter(|l| l.starts_with("-A ")).count();
            assert_eq!(
                rules_in_file,
                rules_loaded,
                "{}: rule count",
                path.display()
            );
            checked += 1;
        }
    }
    lab.sh("h1", "iptables -F; iptables -X; ip6tables -F; ip6tables -X");
    assert!(checked >= 26, "only {checked} golden rules files checked");
}

#[test]
fn knockd_mode_opens_for_the_knocker_only_and_closes_again() {
    let lab = Lab::up("knock::knockd", 1);
    let h = lab.host("h1").clone();
    let p = profile(
        "h1",
        json!({"knock_sequence": [7101, "7202:udp", 7303], "knock_step_seconds": 3,
               "knock_open_seconds": 4}),
    );
    // A session opened before the rules load survives the load (ESTABLISHED first).
    let sess = load_closing_under_a_session(&lab, &h, &files(&p), true);

    // sesame's client opens it for the controller, not for the stranger.
    knock(ip(&h.ip), &p.sequence, 200);
    assert_eq!(
        wait_open_controller(ip(&h.ip), 22, Duration::from_secs(2)),
        Probe::Open
    );
    assert_eq!(probe_stranger(&lab, &h.ip, 22), Probe::Silent);
    // ...and knockd's stop_command closes it after knock_open_seconds.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(door_rules(&lab, "h1", "iptables"), 0);
    assert_eq!(probe_controller(ip(&h.ip), 22), Probe::Silent);

    // knockd's own client works the same.
    knock_with_knockd_client(&h.ip, &p.sequence, 200);
    assert_eq!(
        wait_open_controller(ip(&h.ip), 22, Duration::from_secs(2)),
        Probe::Open
    );
    drop(sess);
}

#[test]
fn knockd_mode_refuses_wrong_order_slow_knocks_and_scans() {
    let lab = Lab::up("knock::knockd_wrong", 1);
    let h = lab.host("h1").clone();
    // A repeated port: no nmap scan of these ports, whatever its order, sends a b a c.
    let p = profile(
        "h1",
        json!({"knock_sequence": [7101, 7202, 7101, 7303], "knock_step_seconds": 2,
               "knock_open_seconds": 10}),
    );
    let f = files(&p);
    load_rules(&lab, "h1", &f);
    start_knockd(&lab, "h1", &f);
    let addr = ip(&h.ip);

    let mut wrong = p.sequence.clone();
    wrong.swap(1, 3);
    knock(addr, &wrong, 100);
    assert_eq!(
        wait_open_controller(addr, 22, Duration::from_secs(1)),
        Probe::Silent,
        "wrong order"
    );

    // knockd has one timeout for the whole sequence: 4 knocks 1 s apart exceed its 2 s.
    knock(addr, &p.sequence, 1000);
    assert_eq!(
        wait_open_controller(addr, 22, Duration::from_secs(1)),
        Probe::Silent,
        "too slow"
    );

    assert_all_filtered(&lab, &h.ip, &[22, 7101, 7202, 7303]);
    assert_eq!(
        probe_stranger(&lab, &h.ip, 22),
        Probe::Silent,
        "after the scan"
    );
    assert_eq!(
        door_rules(&lab, "h1", "iptables"),
        0,
        "a door opened during the scan"
    );

    // And a right knock right after all that still opens.
    knock(addr, &p.sequence, 100);
    assert_eq!(
        wait_open_controller(addr, 22, Duration::from_secs(2)),
        Probe::Open
    );
}

#[test]
fn knockd_close_sequence_and_ipv6() {
    let lab = Lab::up("knock::knockd_close_v6", 1);
    let h = lab.host("h1").clone();
    let p = profile(
        "h1",
        json!({"knock_sequence": [7101, 7202, 7303], "knock_close_sequence": [7404, 7505, 7606],
               "knock_step_seconds": 3, "knock_open_seconds": 4}),
    );
    let f = files(&p);
    load_rules(&lab, "h1", &f);
    start_knockd(&lab, "h1", &f);
    assert_closed_everywhere(&lab, &h);

    let v4 = ip(&h.ip);
    knock(v4, &p.sequence, 100);
    assert_eq!(
        wait_open_controller(v4, 22, Duration::from_secs(2)),
        Probe::Open
    );
    // No cmd_timeout with a close sequence: still open after knock_open_seconds.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(probe_controller(v4, 22), Probe::Open);
    knock(v4, &p.close_sequence, 100);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(door_rules(&lab, "h1", "iptables"), 0);
    assert_eq!(probe_controller(v4, 22), Probe::Silent);

    // IPv6: knockd runs the ip6tables command; the host must still do neighbour discovery
    // through the drop-unlisted INPUT to answer, so forget its neighbours first.
    let v6 = ip(&h.ip6);
    lab.sh("h1", "ip -6 neigh flush dev ens3");
    knock(v6, &p.sequence, 100);
    assert_eq!(
        wait_open_controller(v6, 22, Duration::from_secs(2)),
        Probe::Open
    );
    assert_eq!(door_rules(&lab, "h1", "ip6tables"), 1);
    assert_eq!(probe_stranger(&lab, &h.ip6, 22), Probe::Silent);
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Silent,
        "an IPv6 knock opens IPv6 only"
    );
    knock(v6, &p.close_sequence, 100);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(door_rules(&lab, "h1", "ip6tables"), 0);
}

/// The iptables-mode checks shared by both styles.
fn iptables_mode(test: &str, style: &str) {
    let lab = Lab::up(test, 1);
    let h = lab.host("h1").clone();
    let p = profile(
        "h1",
        json!({"knock_mode": "iptables", "knock_iptables_style": style,
               "knock_sequence": [7101, "7202:udp", 7101, 7303],
               "knock_step_seconds": 2, "knock_open_seconds": 3}),
    );
    assert_eq!(p.mode, KnockMode::Iptables);
    let sess = load_closing_under_a_session(&lab, &h, &files(&p), false);
    let v4 = ip(&h.ip);

    // Right knock: the next new connection gets through, once.
    knock(v4, &p.sequence, 100);
    assert_eq!(probe_controller(v4, 22), Probe::Open);
    assert_eq!(probe_stranger(&lab, &h.ip, 22), Probe::Silent);
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Silent,
        "the flag is used up"
    );

    // knockd's client speaks the same knocks.
    knock_with_knockd_client(&h.ip, &p.sequence, 100);
    assert_eq!(probe_controller(v4, 22), Probe::Open);

    // Wrong order, a gap longer than the step, a wrong port in between.
    let mut wrong = p.sequence.clone();
    wrong.swap(1, 3);
    knock(v4, &wrong, 100);
    assert_eq!(probe_controller(v4, 22), Probe::Silent, "wrong order");
    knock(v4, &p.sequence, 2500);
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Silent,
        "gap longer than the step"
    );
    let mut noisy = p.sequence.clone();
    noisy.insert(
        2,
        KnockPort {
            port: 7999,
            proto: sesame::knock::Proto::Tcp,
        },
    );
    knock(v4, &noisy, 100);
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Silent,
        "wrong port in between"
    );
    // A repeated first knock restarts the sequence instead of breaking it.
    let mut restart = vec![p.sequence[0]];
    restart.extend(p.sequence.iter().copied());
    knock(v4, &restart, 100);
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Open,
        "repeated first knock"
    );

    // Past knock_open_seconds the door is shut again.
    knock(v4, &p.sequence, 100);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        probe_controller(v4, 22),
        Probe::Silent,
        "open window expired"
    );

    // A scan of every knock port from the stranger: uniform silence, nothing opens.
    assert_all_filtered(&lab, &h.ip, &[22, 7101, 7202, 7303, 7999]);
    assert_eq!(
        probe_stranger(&lab, &h.ip, 22),
        Probe::Silent,
        "after the scan"
    );

    // IPv6: closed, and the same knock over IPv6 opens IPv6 (with neighbour discovery).
    let v6 = ip(&h.ip6);
    lab.sh("h1", "ip -6 neigh flush dev ens3");
    assert_eq!(probe_controller(v6, 22), Probe::Silent);
    knock(v6, &p.sequence, 100);
    assert_eq!(probe_controller(v6, 22), Probe::Open);
    assert_eq!(probe_stranger(&lab, &h.ip6, 22), Probe::Silent);
    drop(sess);
}

#[test]
fn iptables_gates_mode() {
    iptables_mode("knock::gates", "gates");
}

#[test]
fn iptables_compact_mode() {
    iptables_mode("knock::compact", "compact");
}

#[test]
fn single_port_mode_opens_on_spaced_hits_never_on_a_flood() {
    let lab = Lab::up("knock::single_port", 1);
    let h = lab.host("h1").clone();
    let p = profile(
        "h1",
        json!({"knock_mode": "single_port", "knock_hitcount": 2, "knock_hit_min_seconds": 2,
               "knock_hit_max_seconds": 4}),
    );
    let f = files(&p);
    load_rules(&lab, "h1", &f);
    let (v4, v6) = (ip(&h.ip), ip(&h.ip6));
    let port = p.protected_ports[0];
    let spacing = client::single_port_spacing(p.prior_hits, 2, 4);
    assert_eq!(spacing, Duration::from_secs(3));

    // A plain client that keeps retrying (SYNs at 0, 1, 3 and 7 s) never gets in: its first
    // retransmission comes too soon and puts it in the penalty box.
    let out = lab.stranger(&[
        "timeout",
        "9",
        "bash",
        "-c",
        &format!(": <>/dev/tcp/{}/22", h.ip),
    ]);
    assert_eq!(
        out.status.code(),
        Some(124),
        "plain retrying client: {out:?}"
    );

    // The knock: one hit, then the connection 3 s later.
    client::send_single_port(None, v4, port, p.prior_hits, spacing).unwrap();
    assert_eq!(probe_controller(v4, 22), Probe::Open);
    assert_eq!(probe_stranger(&lab, &h.ip, 22), Probe::Silent);

    // A flood (20 hits in 1 s), then a connection at the "right" time: still closed.
    for _ in 0..20 {
        client::knock_once(None, SocketAddr::new(v6, 22), port.proto).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(spacing);
    assert_eq!(
        probe_controller(v6, 22),
        Probe::Silent,
        "flood opened the port"
    );

    // Too slow: the hit is older than hit_max when the connection comes.
    client::send_single_port(None, v4, port, 1, Duration::from_millis(4500)).unwrap();
    assert_eq!(probe_controller(v4, 22), Probe::Silent, "too slow");

    // Once the flooder has been quiet for hit_max seconds, the knock works for it (on IPv6).
    std::thread::sleep(Duration::from_secs(5));
    client::send_single_port(None, v6, port, p.prior_hits, spacing).unwrap();
    assert_eq!(probe_controller(v6, 22), Probe::Open);
    assert_eq!(probe_stranger(&lab, &h.ip6, 22), Probe::Silent);
}

#[test]
fn knock_ipv6_off_keeps_the_port_closed_on_ipv6() {
    let lab = Lab::up("knock::v6_off", 1);
    let h = lab.host("h1").clone();
    let mut vars = Map::new();
    vars.insert("knock_mode".into(), json!("iptables"));
    vars.insert("knock_sequence".into(), json!([7101, 7202, 7303]));
    vars.insert("knock_ipv6".into(), json!(false));
    let p = profile("h1", Value::Object(vars));
    load_rules(&lab, "h1", &files(&p));
    knock(ip(&h.ip6), &p.sequence, 100);
    assert_eq!(probe_controller(ip(&h.ip6), 22), Probe::Silent);
    knock(ip(&h.ip), &p.sequence, 100);
    assert_eq!(probe_controller(ip(&h.ip), 22), Probe::Open);
}

/// An inventory of the fleet's hosts with knock settings per host, INI strings and all.
fn knock_inventory(lab: &Lab, dir: &Path, per_host: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("[lab]\n");
    for (name, vars) in per_host {
        let h = lab.host(name);
        text.push_str(&format!("{name} ansible_host={} {vars}\n", h.ip));
    }
    text.push_str(&format!(
        "\n[lab:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n\
         ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n\
         knock_step_seconds=3\nknock_open_seconds=10\n",
        lab.key.display(),
        lab.known_hosts.display()
    ));
    let path = dir.join("hosts.ini");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn cli_knock_ssh_and_proxy_command() {
    let lab = Lab::up("knock::cli", 3);
    let tmp = tempfile::tempdir().unwrap();
    let inv_path = knock_inventory(
        &lab,
        tmp.path(),
        &[
            ("h1", "knock_mode=iptables knock_sequence=7101,7202:udp,7303"),
            (
                "h2",
                "knock_mode=knockd knock_sequence=\"7101, 7202, 7303\" knock_close_sequence=7404,7505,7606",
            ),
            ("h3", "knock_mode=single_port knock_hit_min_seconds=2 knock_hit_max_seconds=4"),
        ],
    );
    let inv_s = inv_path.to_str().unwrap();
    // The hosts' side, rendered from the same inventory through the variable contract.
    let inv = sesame::inventory::Inventory::load(std::slice::from_ref(&inv_path)).unwrap();
    let facts = NetFacts {
        default_interface: Some("ens3".into()),
        has_ipv6: true,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    };
    for name in ["h1", "h2", "h3"] {
        let p = KnockProfile::from_vars(name, &inv.host_vars(name), &facts)
            .unwrap_or_else(|e| panic!("{e}"));
        let f = files(&p);
        load_rules(&lab, name, &f);
        if p.mode == KnockMode::Knockd {
            start_knockd(&lab, name, &f);
        }
        assert_eq!(
            probe_controller(ip(&lab.host(name).ip), 22),
            Probe::Silent,
            "{name}"
        );
    }

    // sesame ssh: knock, then OpenSSH with the inventory's user, key and known_hosts.
    for name in ["h1", "h2", "h3"] {
        if name == "h3" {
            // The closed-port probe above was a plain attempt: its retransmission put the
            // controller in h3's penalty box until it has been quiet for hit_max seconds.
            std::thread::sleep(Duration::from_secs(5));
        }
        let out = sesame(&[
            "ssh",
            name,
            "-i",
            inv_s,
            "--",
            "echo",
            "hello-from",
            "$(hostname)",
        ]);
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("hello-from {name}")
        );
    }

    // ProxyCommand: OpenSSH runs `sesame knock --proxy %h %p`, %h being the address.
    let h1 = lab.host("h1").ip.clone();
    let proxy = format!(
        "ProxyCommand={} knock -i {inv_s} --proxy %h %p",
        env!("CARGO_BIN_EXE_sesame")
    );
    let kh = format!("UserKnownHostsFile={}", lab.known_hosts.display());
    let out = Command::new("ssh")
        .args([
            "-o",
            &proxy,
            "-o",
            &kh,
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ])
        .args([
            "-i",
            lab.key.to_str().unwrap(),
            &format!("root@{h1}"),
            "echo",
            "proxied",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "proxied");
    assert_eq!(
        probe_controller(ip(&h1), 22),
        Probe::Silent,
        "the proxy's knock is used up"
    );

    // sesame knock, then any client; --close shuts knockd's door.
    let h2 = ip(&lab.host("h2").ip);
    let out = sesame(&["knock", "h2", "-i", inv_s]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        wait_open_controller(h2, 22, Duration::from_secs(2)),
        Probe::Open
    );
    let out = sesame(&["knock", "h2", "-i", inv_s, "--close"]);
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(probe_controller(h2, 22), Probe::Silent);
    let out = sesame(&["knock", "h1", "-i", inv_s, "--close"]);
    assert!(
        !out.status.success(),
        "--close without a close sequence must fail"
    );
}

/// Packet counters of the INPUT rules that carry `tag` in their comment.
fn counter(lab: &Lab, host: &str, tag: &str) -> u64 {
    let out = lab.sh(host, "iptables -vnxL INPUT");
    let line = out
        .lines()
        .find(|l| l.contains(&format!("/* {tag} */")))
        .unwrap_or_else(|| panic!("no rule {tag} in\n{out}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn client_knock_is_exactly_one_syn_or_one_datagram() {
    let lab = Lab::up("knock::one_syn", 1);
    let h = lab.host("h1").clone();
    let c = &lab.controller_ip;
    let rules = format!(
        "*filter\n\
         -A INPUT -s {c} -p tcp --dport 7101 -m comment --comment tcp-any\n\
         -A INPUT -s {c} -p tcp --dport 7101 --tcp-flags ALL SYN -m comment --comment tcp-syn\n\
         -A INPUT -s {c} -p udp --dport 7202 -m comment --comment udp-any\n\
         -A INPUT -p tcp --dport 7101 -j DROP\n\
         -A INPUT -p udp --dport 7202 -j DROP\n\
         COMMIT\n"
    );
    put_file(&lab, "h1", "/tmp/count.rules", &rules, 0o600);
    lab.sh("h1", "iptables-restore /tmp/count.rules");
    let seq = [
        KnockPort {
            port: 7101,
            proto: sesame::knock::Proto::Tcp,
        },
        KnockPort {
            port: 7202,
            proto: sesame::knock::Proto::Udp,
        },
    ];
    knock(ip(&h.ip), &seq, 0);
    // Linux would retransmit an unanswered SYN after 1 s; wait past that.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        counter(&lab, "h1", "tcp-any"),
        1,
        "TCP packets of one knock"
    );
    assert_eq!(counter(&lab, "h1", "tcp-syn"), 1, "and it is a bare SYN");
    assert_eq!(
        counter(&lab, "h1", "udp-any"),
        1,
        "UDP datagrams of one knock"
    );
}

/// Pins the weakness behind the "every port is different" warning: knockd sees only its knock
/// ports, so a scan that happens to hit them in order opens the door for the scanner.
#[test]
fn knockd_opens_for_an_in_order_scan_of_distinct_ports_hence_the_warning() {
    let lab = Lab::up("knock::knockd_scan", 1);
    let h = lab.host("h1").clone();
    let p = profile(
        "h1",
        json!({"knock_sequence": [7101, 7202, 7303], "knock_step_seconds": 5,
               "knock_open_seconds": 10}),
    );
    assert!(p.warnings.iter().any(|w| w.message.contains("port scan")));
    let f = files(&p);
    load_rules(&lab, "h1", &f);
    start_knockd(&lab, "h1", &f);
    // nmap -r: ports in ascending order, one probe each.
    let out = lab.stranger(&[
        "nmap",
        "-n",
        "-Pn",
        "-sS",
        "-r",
        "--max-retries",
        "0",
        "-p",
        "7101,7202,7303",
        &h.ip,
    ]);
    assert!(out.status.success(), "nmap: {out:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        probe_stranger(&lab, &h.ip, 22),
        Probe::Open,
        "the scan knocked"
    );
}
