//! Test-only access to the lab (`tests/lab/lab.sh`): real Debian hosts in network namespaces.
//! `Lab::up` starts a fleet named after the test and `Drop` tears it down, on panic too. This
//! module never skips a test: without root it panics with the command to run instead.

// Each integration test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod docker;
pub mod sesame;
pub mod ssh;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One host of a fleet, as written in the fleet's inventory.
#[derive(Debug, Clone)]
pub struct LabHost {
    /// Inventory name, `h1`..`hN`.
    pub name: String,
    /// IPv4 address, 198.19.K.(10+i).
    pub ip: String,
    /// IPv6 address, fd5e:5a3e:0:K::(10+i).
    pub ip6: String,
}

/// Debian release of lab hosts (`lab.sh up --os`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Debian 12.
    Bookworm,
    /// Debian 13.
    Trixie,
}

/// PID 1 of lab hosts (`lab.sh up --init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// The lab's sysvinit emulation (rcS + rc2 scripts).
    Sysv,
    /// systemd, booted with systemd-nspawn.
    Systemd,
}

/// What a provider's image ships (`lab.sh up --flavour`); all but `Default` boot systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// iptables installed, no firewall service.
    Default,
    /// No iptables at all (Debian's cloud images).
    Bare,
    /// nftables.service enabled with Debian's /etc/nftables.conf (`flush ruleset`).
    Nftables,
    /// ufw installed and enabled, SSH allowed.
    Ufw,
}

/// The kind of hosts a fleet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavour {
    pub os: Os,
    pub init: Init,
    pub provider: Provider,
}

impl Flavour {
    /// The flavour `Lab::up` uses: Debian 12 with the sysvinit emulation unless
    /// `SESAME_LAB_OS` (bookworm | trixie) or `SESAME_LAB_INIT` (sysv | systemd) say otherwise,
    /// so a whole suite runs on another kind of host without a line changed. A bad value panics.
    pub fn from_env() -> Flavour {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let os = match var("SESAME_LAB_OS").as_deref() {
            None | Some("bookworm") => Os::Bookworm,
            Some("trixie") => Os::Trixie,
            Some(v) => panic!("SESAME_LAB_OS={v}: use bookworm or trixie"),
        };
        let init = match var("SESAME_LAB_INIT").as_deref() {
            None | Some("sysv") => Init::Sysv,
            Some("systemd") => Init::Systemd,
            Some(v) => panic!("SESAME_LAB_INIT={v}: use sysv or systemd"),
        };
        Flavour {
            os,
            init,
            provider: Provider::Default,
        }
    }

    /// Debian 12 with the sysvinit emulation: what the lab ran before it had flavours.
    pub fn classic() -> Flavour {
        Flavour {
            os: Os::Bookworm,
            init: Init::Sysv,
            provider: Provider::Default,
        }
    }

    /// A provider's image of `os`: systemd as PID 1.
    pub fn provider(os: Os, provider: Provider) -> Flavour {
        Flavour {
            os,
            init: Init::Systemd,
            provider,
        }
    }

    /// The `lab.sh up` flags for this flavour.
    pub fn args(&self) -> [&'static str; 6] {
        [
            "--os",
            match self.os {
                Os::Bookworm => "bookworm",
                Os::Trixie => "trixie",
            },
            "--init",
            match self.init {
                Init::Sysv => "sysv",
                Init::Systemd => "systemd",
            },
            "--flavour",
            match self.provider {
                Provider::Default => "default",
                Provider::Bare => "bare",
                Provider::Nftables => "nftables",
                Provider::Ufw => "ufw",
            },
        ]
    }

    /// `bookworm-sysv`, `trixie-systemd-bare`, ...: what fleet names and messages show.
    pub fn tag(&self) -> String {
        let a = self.args();
        if a[5] == "default" {
            format!("{}-{}", a[1], a[3])
        } else {
            format!("{}-{}-{}", a[1], a[3], a[5])
        }
    }
}

/// A running fleet of lab hosts; `Drop` runs `lab.sh down` for it.
#[derive(Debug)]
pub struct Lab {
    /// Fleet name (derived from the test name and the flavour).
    pub fleet: String,
    /// The kind of hosts the fleet runs.
    pub flavour: Flavour,
    /// Fleet index K: the fleet owns 198.19.K.0/24.
    pub index: u8,
    /// Ansible INI inventory of the fleet.
    pub inventory: PathBuf,
    pub hosts: Vec<LabHost>,
    /// The controller's address on the fleet's bridge (where knocks and SSH come from).
    pub controller_ip: String,
    /// The stranger namespace's address: a client that never knocked.
    pub stranger_ip: String,
    /// The lab's private key (ed25519, no passphrase), accepted by root, deploy and ops.
    pub key: PathBuf,
    /// known_hosts with every host key of the fleet, keyed by IPv4 and IPv6 address.
    pub known_hosts: PathBuf,
    down_done: bool,
}

/// Run the sesame binary `bin` in `dir` with `args`, stdin closed, no colours, and none of the
/// `ANSIBLE_*` settings of the caller's environment (only those given in `env`).
pub fn sesame_in(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    env.iter()
        .fold(sesame::Sesame::new().bin(bin).dir(dir), |s, (k, v)| {
            s.env(k, v)
        })
        .command(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sesame")
}

/// Everything a command printed: stdout, then stderr.
pub fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether `secret` shows in `text`. A secret of digits only (a knock port) counts only as a
/// number of its own: inside a longer run of digits, such as the microseconds of a `-vv`
/// timestamp or a `--json` time, it is part of another number, not a leak.
pub fn shows_secret(text: &str, secret: &str) -> bool {
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_digit()) {
        return text.contains(secret);
    }
    text.match_indices(secret).any(|(i, _)| {
        let before = text[..i].bytes().next_back();
        let after = text[i + secret.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// Path of the lab script in this checkout.
pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// Panics (never skips) when not root: the lab needs namespaces, mounts and bridges.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "lab tests need root: run `sudo -E cargo test` (effective uid is {euid})"
    );
}

/// Turns a test name (`module::test_name`) into a valid fleet name.
/// `SESAME_LAB_FLEET_PREFIX` (letters, digits, `_-.`) is put in front, so that several
/// checkouts can run the same tests on one machine at once without sharing fleets.
pub fn fleet_name(test: &str) -> String {
    let prefix = std::env::var("SESAME_LAB_FLEET_PREFIX").unwrap_or_default();
    let mut name: String = prefix
        .chars()
        .chain(test.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(64);
    name
}

/// Runs `lab.sh ARGS`, capturing everything; panics with the script's stderr on failure.
fn lab(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(lab_script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", lab_script().display()));
    assert!(
        out.status.success(),
        "lab.sh {} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    /// Starts `n` fresh hosts of the flavour given by the environment (`Flavour::from_env`)
    /// in a fleet named after `test` (any leftover fleet of that name from an earlier, crashed
    /// run is removed first). Builds the image on first use.
    pub fn up(test: &str, n: usize) -> Lab {
        Lab::up_with(test, n, Flavour::from_env())
    }

    /// `up` with hosts of `flavour`. Fleets of other flavours than Debian 12 + sysv have the
    /// flavour in their name, so the same test run on several flavours at once never collides.
    pub fn up_with(test: &str, n: usize, flavour: Flavour) -> Lab {
        require_root();
        let fleet = if flavour == Flavour::classic() {
            fleet_name(test)
        } else {
            let tag = format!(".{}", flavour.tag());
            let mut base = fleet_name(test);
            base.truncate(64 - tag.len());
            base + &tag
        };
        lab(&["down", "--fleet", &fleet]);
        let mut args = vec![
            "up".to_string(),
            n.to_string(),
            "--fleet".into(),
            fleet.clone(),
        ];
        args.extend(flavour.args().iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let inventory = PathBuf::from(
            stdout
                .lines()
                .last()
                .unwrap_or_else(|| panic!("lab.sh up printed no inventory path"))
                .trim(),
        );
        let mut lab = Lab::parse_inventory(&fleet, &inventory, flavour);
        lab.fleet = fleet;
        assert_eq!(
            lab.hosts.len(),
            n,
            "inventory {} host count",
            inventory.display()
        );
        lab
    }

    fn parse_inventory(fleet: &str, inventory: &Path, flavour: Flavour) -> Lab {
        let text = std::fs::read_to_string(inventory)
            .unwrap_or_else(|e| panic!("read {}: {e}", inventory.display()));
        let mut hosts = Vec::new();
        let mut vars = std::collections::HashMap::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(s) = line.strip_prefix('[') {
                section = s.trim_end_matches(']').to_string();
            } else if section == "lab" {
                let mut words = line.split_whitespace();
                let name = words.next().expect("host name").to_string();
                let mut host = LabHost {
                    name,
                    ip: String::new(),
                    ip6: String::new(),
                };
                for w in words {
                    match w.split_once('=') {
                        Some(("ansible_host", v)) => host.ip = v.to_string(),
                        Some(("lab_ipv6", v)) => host.ip6 = v.to_string(),
                        _ => {}
                    }
                }
                hosts.push(host);
            } else if section == "lab:vars" {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.to_string(), v.to_string());
                }
            }
        }
        let var = |k: &str| -> String {
            vars.get(k)
                .unwrap_or_else(|| panic!("{} has no {k}", inventory.display()))
                .clone()
        };
        let controller_ip = var("lab_controller");
        let index = controller_ip
            .split('.')
            .nth(2)
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("bad lab_controller {controller_ip}"));
        let fleet_dir = inventory.parent().expect("inventory has a parent dir");
        assert_eq!(
            format!("{}-{}", var("lab_os"), var("lab_init")),
            format!("{}-{}", flavour.args()[1], flavour.args()[3]),
            "{} runs another kind of host",
            inventory.display()
        );
        Lab {
            fleet: fleet.to_string(),
            flavour,
            index,
            inventory: inventory.to_path_buf(),
            hosts,
            controller_ip,
            stranger_ip: var("lab_stranger"),
            key: PathBuf::from(var("ansible_ssh_private_key_file")),
            known_hosts: fleet_dir.join("known_hosts"),
            down_done: false,
        }
    }

    /// Whether the hosts run systemd as PID 1.
    pub fn systemd(&self) -> bool {
        self.flavour.init == Init::Systemd
    }

    /// The host called `name` (`h1`...).
    pub fn host(&self, name: &str) -> &LabHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("fleet {} has no host {name}", self.fleet))
    }

    /// Runs `cmd` as root inside `host` without SSH (nsenter). A non-zero exit is returned,
    /// not a panic.
    pub fn exec(&self, host: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", &self.fleet, host, "--"];
        args.extend_from_slice(cmd);
        Command::new("bash")
            .arg(lab_script())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run lab.sh exec: {e}"))
    }

    /// Runs a shell line as root inside `host` and returns its stdout; panics if it fails.
    pub fn sh(&self, host: &str, line: &str) -> String {
        let out = self.exec(host, &["sh", "-c", line]);
        assert!(
            out.status.success(),
            "on {host}: `{line}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cmd` in the stranger namespace (198.19.K.254), a client that never knocked.
    pub fn stranger(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["stranger", &self.fleet, "--"];
        args.extend_from_slice(cmd);
        Command::new("bash")
            .arg(lab_script())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run lab.sh stranger: {e}"))
    }

    /// Power-cycles `host`: firewall and xt_recent state are lost, the disk stays; returns when
    /// its sshd accepts connections again.
    pub fn reboot(&self, host: &str) {
        lab(&["reboot", &self.fleet, host]);
    }

    /// Stops `host`'s sshd (open sessions survive, as with `service ssh stop`).
    pub fn stop_sshd(&self, host: &str) {
        lab(&["stop-sshd", &self.fleet, host]);
    }

    /// Waits (up to 10 s) until `host` accepts TCP connections on `port` from the controller.
    /// A daemonizing sshd forks before it binds, so "the start command returned" is not
    /// "the port is open"; tests that start one wait here instead of sleeping.
    pub fn wait_listening(&self, host: &str, port: u16) {
        let ip: std::net::IpAddr = self.host(host).ip.parse().expect("lab IPv4 address");
        let addr = std::net::SocketAddr::new(ip, port);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)) {
                Ok(_) => return,
                Err(e) if std::time::Instant::now() >= deadline => {
                    panic!("{host} ({addr}) not listening after 10 s: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    /// Cuts (`up == false`) or restores `host`'s network cable.
    pub fn link(&self, host: &str, up: bool) {
        lab(&["link", &self.fleet, host, if up { "up" } else { "down" }]);
    }

    /// Tears the fleet down now (Drop would do it too) and panics if that fails.
    pub fn down(mut self) {
        self.down_done = true;
        lab(&["down", "--fleet", &self.fleet]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.down_done {
            return;
        }
        // No panic here: a panic while unwinding aborts the test binary.
        match Command::new("bash")
            .arg(lab_script())
            .args(["down", "--fleet", &self.fleet])
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "lab.sh down --fleet {} failed: {}",
                self.fleet,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run lab.sh down --fleet {}: {e}", self.fleet),
        }
    }
}

// Shared by the lab test binaries: reachability from either side, polling, the recap.

pub fn open_from_controller(ip: &str) -> bool {
    let addr: SocketAddr = if ip.contains(':') {
        format!("[{ip}]:22")
    } else {
        format!("{ip}:22")
    }
    .parse()
    .unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_millis(1500)).is_ok()
}

pub fn open_from_stranger(lab: &Lab, ip: &str) -> bool {
    lab.stranger(&[
        "timeout",
        "2",
        "bash",
        "-c",
        &format!("echo > /dev/tcp/{ip}/22"),
    ])
    .status
    .success()
}

/// nmap SYN scan of `ports` from the stranger; returns nmap's port table.
pub fn nmap_from_stranger(lab: &Lab, addr: &str, ports: &str) -> String {
    let mut args = vec![
        "nmap",
        "-n",
        "-Pn",
        "-sS",
        "-T4",
        "--max-retries",
        "1",
        "-p",
        ports,
    ];
    if addr.contains(':') {
        args.push("-6");
    }
    args.push(addr);
    let out = lab.stranger(&args);
    assert!(out.status.success(), "nmap: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An nmap scan of `ports` (TCP port numbers) from the stranger sees every one of them the
/// same way, `filtered`: the protected port, knock ports and unused ports alike (no scan tells
/// them apart). Panics with nmap's table otherwise.
pub fn assert_all_filtered(lab: &Lab, addr: &str, ports: &[u16]) {
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let table = nmap_from_stranger(lab, addr, &list);
    for port in ports {
        let name = format!("{port}/tcp");
        let line = table
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap_or_else(|| panic!("{addr}: no line for {name} in nmap's table:\n{table}"));
        assert!(line.contains("filtered"), "{addr}: not uniform: {line}");
    }
}

pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    f()
}

/// `changed=N` of `host` in the PLAY RECAP.
pub fn recap(out: &Output, host: &str, key: &str) -> u32 {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{host} ")) && l.contains("changed="))
        .unwrap_or_else(|| panic!("no recap line for {host} in:\n{text}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}
