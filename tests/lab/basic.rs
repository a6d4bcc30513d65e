//! The lab itself, proven on real hosts before anything of sesame runs on it: SSH with strict
//! host keys, exit statuses, isolation between hosts, sudo, the local apt repository, the boot
//! emulation (saved firewall and knockd come back after a reboot) and a clean `down`.

use std::process::Command;

use crate::common::ssh::{connect, connect_password, run};
use crate::common::{Flavour, Init, Lab};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ssh_exit_status_isolation_and_sudo() {
    let lab = Lab::up("lab_basic_ssh", 3);
    assert_eq!(lab.hosts.len(), 3);
    for (i, h) in lab.hosts.iter().enumerate() {
        assert_eq!(h.name, format!("h{}", i + 1));
        assert_eq!(h.ip, format!("198.19.{}.{}", lab.index, 11 + i));
        assert_eq!(h.ip6, format!("fd5e:5a3e:0:{}::{}", lab.index, 11 + i));
    }

    for h in &lab.hosts {
        let sess = connect(&h.ip, "root", &lab.key, &lab.known_hosts);
        let r = run(&sess, "hostname; id -u");
        assert_eq!(r.status, 0, "{}: {r:?}", h.name);
        assert_eq!(r.stdout, format!("{}\n0\n", h.name), "{}", h.name);

        let r = run(&sess, "echo oops >&2; exit 3");
        assert_eq!(r.status, 3, "{}: {r:?}", h.name);
        assert_eq!(r.stderr, "oops\n");

        // IPv6 reaches the same host, and its key is known under that address too.
        let sess6 = connect(&h.ip6, "root", &lab.key, &lab.known_hosts);
        assert_eq!(run(&sess6, "hostname").stdout, format!("{}\n", h.name));
    }

    // A host key of another host must not verify: the known_hosts check is real.
    {
        let sess = crate::common::ssh::handshake(&lab.hosts[1].ip, &lab.known_hosts);
        let mut kh = sess.known_hosts().expect("known_hosts");
        kh.read_file(&lab.known_hosts, ssh2::KnownHostFileKind::OpenSSH)
            .expect("read known_hosts");
        let (key, _) = sess.host_key().expect("host key");
        assert!(
            matches!(kh.check(&lab.hosts[0].ip, key), ssh2::CheckResult::Mismatch),
            "h2's key accepted for h1's address"
        );
    }

    // Isolation: files and firewalls are per host.
    let h1 = connect(&lab.hosts[0].ip, "root", &lab.key, &lab.known_hosts);
    let h2 = connect(&lab.hosts[1].ip, "root", &lab.key, &lab.known_hosts);
    assert_eq!(run(&h1, "echo mine > /root/only-on-h1").status, 0);
    assert_eq!(run(&h1, "cat /root/only-on-h1").stdout, "mine\n");
    assert_ne!(run(&h2, "test -e /root/only-on-h1").status, 0);

    let rule = "-A INPUT -p tcp -m tcp --dport 4444 -j DROP";
    assert_eq!(
        run(&h1, "iptables -A INPUT -p tcp --dport 4444 -j DROP").status,
        0
    );
    assert!(run(&h1, "iptables -S INPUT").stdout.contains(rule));
    let on_h2 = run(&h2, "iptables -S INPUT");
    assert_eq!(on_h2.status, 0, "{on_h2:?}");
    assert!(!on_h2.stdout.contains("4444"), "h1's rule on h2: {on_h2:?}");
    let controller = Command::new("iptables")
        .args(["-S", "INPUT"])
        .output()
        .expect("iptables on the controller");
    assert!(controller.status.success());
    assert!(
        !stdout(&controller).contains("4444"),
        "h1's rule on the controller"
    );

    // deploy: key login, passwordless sudo.
    for h in &lab.hosts {
        let sess = connect(&h.ip, "deploy", &lab.key, &lab.known_hosts);
        let r = run(&sess, "id -un; sudo -n id -u");
        assert_eq!(r.status, 0, "{}: {r:?}", h.name);
        assert_eq!(r.stdout, "deploy\n0\n", "{}", h.name);
    }
    // ops: key login, sudo only with a password.
    let ops = connect(&lab.hosts[2].ip, "ops", &lab.key, &lab.known_hosts);
    let r = run(&ops, "sudo -n id -u");
    assert_ne!(r.status, 0, "ops must need a password for sudo: {r:?}");
    let r = run(&ops, "echo ops-lab-pw | sudo -S -p '' id -u");
    assert_eq!((r.status, r.stdout.as_str()), (0, "0\n"), "{r:?}");
    // ops also logs in with its password (for password-auth tests).
    let ops_pw = connect_password(&lab.hosts[2].ip, "ops", "ops-lab-pw", &lab.known_hosts);
    assert_eq!(run(&ops_pw, "id -un").stdout, "ops\n");
}

#[test]
fn apt_installs_from_the_local_repo_and_boot_restores_firewall_and_knockd() {
    let lab = Lab::up("lab_basic_apt", 1);
    // A fresh host has no package lists, like a stale real server.
    assert_eq!(
        lab.sh("h1", "ls /var/lib/apt/lists | grep -c Packages || true"),
        "0\n"
    );
    lab.sh(
        "h1",
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree",
    );
    assert!(lab.sh("h1", "tree --version").starts_with("tree v"));

    lab.sh(
        "h1",
        "printf 'iptables-persistent iptables-persistent/autosave_v4 boolean false\\n\
         iptables-persistent iptables-persistent/autosave_v6 boolean false\\n' \
         | debconf-set-selections && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q knockd iptables-persistent",
    );
    // knockd's default interface is eth0; the lab's is ens3, as on modern servers.
    lab.sh(
        "h1",
        "sed -i 's/^START_KNOCKD=.*/START_KNOCKD=1/' /etc/default/knockd && \
         echo 'KNOCKD_OPTS=\"-i ens3\"' >> /etc/default/knockd && service knockd start",
    );
    assert!(lab.sh("h1", "pgrep -a knockd").contains("-i ens3"));
    lab.sh(
        "h1",
        "iptables -A INPUT -p tcp --dport 4444 -j DROP && netfilter-persistent save",
    );

    let before = lab.sh("h1", "cat /proc/1/stat | cut -d' ' -f22");
    lab.reboot("h1");
    let after = lab.sh("h1", "cat /proc/1/stat | cut -d' ' -f22");
    assert_ne!(
        before, after,
        "PID 1 start time unchanged: no reboot happened"
    );
    // Saved rules and knockd come back through the boot scripts; the disk kept the package.
    assert!(lab
        .sh("h1", "iptables -S INPUT")
        .contains("--dport 4444 -j DROP"));
    assert!(lab.sh("h1", "pgrep -a knockd").contains("-i ens3"));
    assert!(lab.sh("h1", "tree --version").starts_with("tree v"));
}

#[test]
fn down_leaves_no_namespace_link_process_or_mount() {
    down_leaves_nothing(Lab::up("lab_basic_down", 2));
}

/// systemd hosts too: no systemd-nspawn or unshare left, and their own cgroups removed.
#[test]
fn down_of_systemd_hosts_leaves_no_nspawn_process_or_cgroup() {
    let flavour = Flavour {
        init: Init::Systemd,
        ..Flavour::from_env()
    };
    down_leaves_nothing(Lab::up_with("lab_basic_down_sd", 2, flavour));
}

fn down_leaves_nothing(lab: Lab) {
    let k = lab.index;
    let fleet_dir = lab.inventory.parent().expect("fleet dir").to_path_buf();
    let prefix = format!("sl{k}-");
    let bridge = format!("slbr{k}");

    // Names of network namespaces and of links in the root namespace.
    let netns = || {
        let out = stdout(&Command::new("ip").arg("netns").output().expect("ip netns"));
        out.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let links = || {
        let out = stdout(
            &Command::new("ip")
                .args(["-o", "link"])
                .output()
                .expect("ip link"),
        );
        out.lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect::<Vec<_>>()
    };
    let ours = |names: Vec<String>| {
        names
            .into_iter()
            .filter(|n| n.starts_with(&prefix) || *n == bridge)
            .collect::<Vec<_>>()
    };
    let procs = || {
        // Processes whose root or cwd is inside the fleet dir (the hosts' overlay roots).
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            for what in ["root", "cwd"] {
                if let Ok(target) = std::fs::read_link(entry.path().join(what)) {
                    if target.starts_with(&fleet_dir) {
                        found.push(format!("{name} {what} {}", target.display()));
                    }
                }
            }
        }
        found
    };
    let booters = || {
        // Processes that boot systemd hosts (in this machine's netns): named by their netns.
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.iter().any(|a| {
                a.strip_prefix("--machine=")
                    .unwrap_or(a)
                    .starts_with(&prefix)
                    && a.contains("-h")
            }) && args.iter().any(|a| a.contains("nspawn"))
            {
                found.push(args.join(" "));
            }
        }
        found
    };
    let cgroups = || {
        let mut found = Vec::new();
        for tree in [
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ] {
            if let Ok(dir) = std::fs::read_dir(format!("{tree}/sesame-lab")) {
                for e in dir.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.starts_with(&prefix) {
                        found.push(format!("{tree}/sesame-lab/{n}"));
                    }
                }
            }
        }
        found
    };
    let mounts = || {
        let all = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        all.lines()
            .filter(|l| {
                l.contains(fleet_dir.to_string_lossy().as_ref())
                    || l.contains(&format!("/run/netns/{prefix}"))
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    // While up, every probe sees the fleet: the checks below are not vacuous.
    let ns_up = ours(netns());
    assert!(ns_up.contains(&format!("{prefix}h1")), "{ns_up:?}");
    assert!(ns_up.contains(&format!("{prefix}stranger")), "{ns_up:?}");
    let links_up = ours(links());
    assert!(links_up.contains(&bridge), "{links_up:?}");
    assert!(links_up.contains(&format!("{prefix}h2")), "{links_up:?}");
    if !lab.systemd() {
        // (nspawn pivots into the root: its processes' root reads as `/` from here.)
        assert!(!procs().is_empty(), "no host process found while up");
    } else {
        assert!(!booters().is_empty(), "no systemd-nspawn found while up");
        assert!(!cgroups().is_empty(), "no host cgroup found while up");
    }
    assert!(
        mounts()
            .iter()
            .any(|l| l.contains(&format!("/run/netns/{prefix}h1"))),
        "netns mount of h1 not seen while up"
    );

    lab.down();
    assert_eq!(ours(netns()), Vec::<String>::new(), "namespaces left");
    assert_eq!(ours(links()), Vec::<String>::new(), "links left");
    assert_eq!(procs(), Vec::<String>::new(), "processes left");
    assert_eq!(
        booters(),
        Vec::<String>::new(),
        "systemd-nspawn/unshare left"
    );
    assert_eq!(cgroups(), Vec::<String>::new(), "cgroups left");
    assert_eq!(mounts(), Vec::<String>::new(), "mounts left");
    assert!(!fleet_dir.exists(), "{} left", fleet_dir.display());
}

#[test]
fn down_all_clears_every_fleet_and_crash_leftovers() {
    crate::common::require_root();
    // Runs in its own network and mount namespace with its own state dir, so fleets of tests
    // running in parallel are untouched; see the script.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/selftest-down-all.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run selftest-down-all.sh");
    assert!(
        out.status.success() && stdout(&out).contains("down --all: machine as found"),
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}
