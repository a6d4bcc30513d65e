//! Host facts: OS, init system, default-route interface, iptables backend, IPv6, packages of
//! interest, ufw, and the controller's address as the host sees it. Parsed from the probe
//! script's sections by pure functions; exposed to plays as Ansible-named variables.

use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What sesame knows about a host after gathering.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HostFacts {
    /// `debian`, `ubuntu`, ... (os-release `ID`).
    pub os_id: String,
    /// `Debian`, `Ubuntu` (os-release `NAME` first word, as Ansible's `ansible_distribution`).
    pub distribution: String,
    pub version: String,
    pub codename: String,
    /// `systemd` when PID 1 is systemd, else `sysvinit`.
    pub service_mgr: String,
    pub default_interface: Option<String>,
    /// `nft` or `legacy` (from `iptables -V`), `None` when iptables is missing.
    pub iptables_backend: Option<String>,
    pub ip6tables_usable: bool,
    /// Global IPv6 addresses on the host (link-local and loopback left out).
    pub ipv6_addresses: Vec<String>,
    /// Installed packages of interest: name -> version.
    pub packages: BTreeMap<String, String>,
    pub ufw_installed: bool,
    pub ufw_active: bool,
    /// The controller's address as the host sees it (first field of `SSH_CONNECTION`).
    pub controller_ip: Option<String>,
    /// The host's address the session arrived on (third field of `SSH_CONNECTION`).
    pub host_ip: Option<String>,
    /// Host clock (seconds since the epoch) at probe time.
    pub now: Option<u64>,
    /// (protocol, port) of every destination port the nat tables (v4 and v6) DNAT: published
    /// container ports and other port forwards, whose traffic crosses FORWARD, not INPUT.
    pub forwarded_ports: Vec<(&'static str, u16)>,
    /// The filter table's INPUT rules that accept or jump to a sesame chain, in order, as
    /// iptables-save prints them, with their family (4 or 6): the host's own rules that run
    /// before sesame's jump (see `knock::shadow`).
    pub input_rules: Vec<(u8, String)>,
}

impl HostFacts {
    /// Plausible facts for preparing tasks before the real ones are gathered (to learn which
    /// state they will ask about): a systemd host with an interface and IPv6.
    pub fn stand_in() -> HostFacts {
        HostFacts {
            os_id: "debian".into(),
            distribution: "Debian".into(),
            service_mgr: "systemd".into(),
            default_interface: Some("eth0".into()),
            iptables_backend: Some("nft".into()),
            ip6tables_usable: true,
            ipv6_addresses: vec!["fd00::1".into()],
            ..HostFacts::default()
        }
    }

    /// Parse the gathered sections (header word -> body).
    pub fn parse(sections: &[(&str, &str)]) -> HostFacts {
        let mut f = HostFacts::default();
        for (head, body) in sections {
            match *head {
                "os" => parse_os_release(body, &mut f),
                "pid1" => {
                    f.service_mgr = if body.trim() == "systemd" {
                        "systemd".into()
                    } else {
                        "sysvinit".into()
                    }
                }
                "route" => f.default_interface = default_route_iface(body),
                "iptables" => f.iptables_backend = iptables_backend(body),
                "ip6tables" => f.ip6tables_usable = body.trim() == "0",
                "inet6" => f.ipv6_addresses = global_ipv6(body),
                "sshconn" => {
                    let mut it = body.split_whitespace();
                    f.controller_ip = it.next().map(str::to_string);
                    f.host_ip = it.nth(1).map(str::to_string);
                }
                "ufw" => f.ufw_active = body.lines().any(|l| l.trim() == "ENABLED=yes"),
                "pkgs" => {
                    for line in body.lines() {
                        let cols: Vec<&str> = line.split('\t').collect();
                        if cols.len() == 3 && cols[1].starts_with("ii") {
                            let name = cols[0].split(':').next().unwrap_or(cols[0]);
                            f.packages.insert(name.to_string(), cols[2].to_string());
                        }
                    }
                    f.ufw_installed = f.packages.contains_key("ufw");
                }
                "now" => f.now = body.trim().parse().ok(),
                "dnat" => f.forwarded_ports = dnat_ports(body),
                "input" => f.input_rules = input_rules(body),
                _ => {}
            }
        }
        if !f.ufw_installed {
            f.ufw_active = false;
        }
        f
    }

    /// Whether the host has IPv6 to protect (a global address). Not whether ip6tables works
    /// now: on a host without iptables that is false until the role installs it, so the
    /// firewall transaction decides that on the host at load time.
    pub fn has_ipv6(&self) -> bool {
        !self.ipv6_addresses.is_empty()
    }

    /// The facts as variables: Ansible's names where Ansible has one (`ansible_distribution`,
    /// `ansible_service_mgr`, `ansible_default_ipv4.interface`...), `sesame_*` otherwise, and
    /// all of them again under `ansible_facts` without the prefix.
    pub fn to_vars(&self) -> Map<String, Value> {
        let mut v = Map::new();
        v.insert("ansible_os_family".into(), json!("Debian"));
        v.insert("ansible_distribution".into(), json!(self.distribution));
        v.insert("ansible_distribution_version".into(), json!(self.version));
        v.insert("ansible_distribution_release".into(), json!(self.codename));
        v.insert("ansible_service_mgr".into(), json!(self.service_mgr));
        v.insert(
            "ansible_default_ipv4".into(),
            json!({ "interface": self.default_interface, "address": self.host_ip }),
        );
        v.insert(
            "ansible_all_ipv6_addresses".into(),
            json!(self.ipv6_addresses),
        );
        v.insert("sesame_os_id".into(), json!(self.os_id));
        v.insert(
            "sesame_iptables_backend".into(),
            json!(self.iptables_backend),
        );
        v.insert(
            "sesame_ip6tables_usable".into(),
            json!(self.ip6tables_usable),
        );
        v.insert("sesame_ipv6".into(), json!(self.has_ipv6()));
        v.insert("sesame_packages".into(), json!(self.packages));
        v.insert("sesame_ufw_installed".into(), json!(self.ufw_installed));
        v.insert("sesame_ufw_active".into(), json!(self.ufw_active));
        v.insert("sesame_controller_ip".into(), json!(self.controller_ip));
        let mut facts = Map::new();
        for (k, val) in &v {
            let short = k
                .strip_prefix("ansible_")
                .or_else(|| k.strip_prefix("sesame_"))
                .unwrap_or(k);
            facts.insert(short.to_string(), val.clone());
        }
        v.insert("ansible_facts".into(), Value::Object(facts));
        v
    }
}

fn parse_os_release(body: &str, f: &mut HostFacts) {
    for line in body.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "ID" => f.os_id = v,
            "NAME" => f.distribution = v.split_whitespace().next().unwrap_or("").to_string(),
            "VERSION_ID" => f.version = v,
            "VERSION_CODENAME" => f.codename = v,
            _ => {}
        }
    }
}

/// The interface of the default route in `/proc/net/route` (destination and mask all zero),
/// lowest metric first.
/// The `input` section: `family iptables` then IPv4's INPUT rules, `family ip6tables` then
/// IPv6's.
fn input_rules(body: &str) -> Vec<(u8, String)> {
    let mut family = 0;
    let mut rules = Vec::new();
    for line in body.lines() {
        match line.trim_end() {
            "family iptables" => family = 4,
            "family ip6tables" => family = 6,
            l if family != 0 && l.starts_with("-A INPUT ") => rules.push((family, l.to_string())),
            _ => {}
        }
    }
    rules
}

/// The destination ports of DNAT rules: `-j DNAT` rules in `iptables-save -t nat` output (`-p
/// tcp ... --dport N` or `--dports a,b:c`) and `dnat` statements of `nft -t list ruleset`
/// (`tcp dport N` or `tcp dport { a, b }`); ranges are left out. Other lines are ignored.
pub fn dnat_ports(body: &str) -> Vec<(&'static str, u16)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        if line.starts_with("-A ") {
            if line.contains(" -j DNAT") {
                iptables_dnat(line, &mut out);
            }
        } else {
            nft_dnat(line, &mut out);
        }
    }
    out
}

/// A `dnat` statement of an nftables rule (`... tcp dport { 80, 443 } dnat ip to 10.0.0.2`):
/// its `tcp`/`udp` destination ports. Lines with `dnat` in another role (`ct status dnat`) are
/// not statements and are ignored.
fn nft_dnat(line: &str, out: &mut Vec<(&'static str, u16)>) {
    let w: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let statement = w.windows(2).any(|p| p[0] == "dnat" && p[1] == "to")
        || w.windows(3)
            .any(|p| p[0] == "dnat" && (p[1] == "ip" || p[1] == "ip6") && p[2] == "to");
    if !statement {
        return;
    }
    for (i, pair) in w.windows(2).enumerate() {
        let proto = match pair {
            ["tcp", "dport"] => "tcp",
            ["udp", "dport"] => "udp",
            _ => continue,
        };
        let rest = &w[i + 2..];
        let ports: &[&str] = match rest.first() {
            Some(&"{") => {
                let end = rest.iter().position(|t| *t == "}").unwrap_or(rest.len());
                &rest[1..end]
            }
            Some(_) => &rest[..1],
            None => &[],
        };
        for item in ports {
            if let Ok(p) = item.parse::<u16>() {
                if !out.contains(&(proto, p)) {
                    out.push((proto, p));
                }
            }
        }
    }
}

/// One `-j DNAT` rule of `iptables-save -t nat`: its destination ports.
fn iptables_dnat(line: &str, out: &mut Vec<(&'static str, u16)>) {
    let w: Vec<&str> = line.split_whitespace().collect();
    let proto = match w.windows(2).find(|p| p[0] == "-p").map(|p| p[1]) {
        Some("udp") => "udp",
        Some("tcp") => "tcp",
        _ => return,
    };
    for pair in w.windows(2) {
        if pair[0] == "--dport" || pair[0] == "--dports" || pair[0] == "--destination-port" {
            for item in pair[1].split(',') {
                if let Ok(p) = item.parse::<u16>() {
                    if !out.contains(&(proto, p)) {
                        out.push((proto, p));
                    }
                }
            }
        }
    }
}

pub fn default_route_iface(body: &str) -> Option<String> {
    body.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() >= 8 && c[1] == "00000000" && c[7] == "00000000")
                .then(|| (c[6].parse::<u32>().unwrap_or(u32::MAX), c[0].to_string()))
        })
        .min()
        .map(|(_, i)| i)
}

/// `iptables v1.8.9 (nf_tables)` -> `nft`; `(legacy)` -> `legacy`.
pub fn iptables_backend(body: &str) -> Option<String> {
    let l = body.lines().next()?;
    if !l.starts_with("iptables v") {
        return None;
    }
    Some(
        if l.contains("nf_tables") {
            "nft"
        } else {
            "legacy"
        }
        .to_string(),
    )
}

/// Global addresses from `/proc/net/if_inet6` (scope 00), formatted as usual.
pub fn global_ipv6(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            if c.len() < 6 || c[3] != "00" || c[5] == "lo" {
                return None;
            }
            let hex = c[0];
            if hex.len() != 32 {
                return None;
            }
            let mut seg = [0u16; 8];
            for (i, s) in seg.iter_mut().enumerate() {
                *s = u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).ok()?;
            }
            Some(std::net::Ipv6Addr::from(seg).to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_rules_keep_their_family_and_order() {
        let body = "family iptables\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
                    -A INPUT -j SESAME-INPUT\nfamily ip6tables\n-A INPUT -j ACCEPT\n\
                    # Warning: iptables-legacy tables present\n";
        assert_eq!(
            input_rules(body),
            vec![
                (4, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT".to_string()),
                (4, "-A INPUT -j SESAME-INPUT".to_string()),
                (6, "-A INPUT -j ACCEPT".to_string()),
            ]
        );
        assert!(input_rules("-A INPUT -j ACCEPT\n").is_empty());
    }

    #[test]
    fn dnat_ports_of_published_and_forwarded_ports() {
        let nat = "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
                   -A DOCKER -i docker0 -j RETURN\n\
                   -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n\
                   -A PREROUTING -p udp -m multiport --dports 5353,6000:6010 -j DNAT --to-destination 10.0.0.2\n\
                   -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00::2]:80\n\
                   -A POSTROUTING -p tcp -m tcp --dport 25 -j MASQUERADE\n";
        assert_eq!(dnat_ports(nat), vec![("tcp", 8080), ("udp", 5353)]);
        assert!(dnat_ports("").is_empty());
    }

    /// `nft -t list ruleset`: DNAT written natively (and iptables-nft's rules as nft shows
    /// them); sesame's own `ct status dnat` matches are not DNAT statements.
    #[test]
    fn dnat_ports_of_native_nftables_rules() {
        let nft = "\t\ttcp dport 8081 dnat ip to 10.0.0.2:80\n\
                   \t\tiifname \"eth0\" udp dport { 5353, 6000-6010, 7000 } dnat to 10.0.0.3\n\
                   \t\tmeta l4proto tcp tcp dport 8080 counter packets 0 bytes 0 dnat to 172.17.0.2:80\n\
                   \t\ttcp dport 8443 dnat ip6 to [fd00::2]:443\n\
                   \t\tct status dnat meta l4proto tcp ct original proto-dst 9090 goto forward_gate\n\
                   \t\ttcp dport 2222 redirect to :22\n";
        assert_eq!(
            dnat_ports(nft),
            vec![
                ("tcp", 8081),
                ("udp", 5353),
                ("udp", 7000),
                ("tcp", 8080),
                ("tcp", 8443)
            ]
        );
    }

    #[test]
    fn route_and_inet6() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
ens3\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n\
ens3\t0013C600\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_iface(route).as_deref(), Some("ens3"));
        let inet6 = "fd5e5a3e00000003000000000000000b 02 40 00 80     ens3\n\
fe80000000000000a8d1fffffe9b1c2d 02 40 20 80     ens3\n\
00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(global_ipv6(inet6), vec!["fd5e:5a3e:0:3::b".to_string()]);
        assert_eq!(
            iptables_backend("iptables v1.8.9 (nf_tables)\n").as_deref(),
            Some("nft")
        );
        assert_eq!(
            iptables_backend("iptables v1.8.7 (legacy)\n").as_deref(),
            Some("legacy")
        );
        assert_eq!(iptables_backend("sh: 1: iptables: not found\n"), None);
    }
}
