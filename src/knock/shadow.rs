//! Other users' rules that accept a protected port before sesame's chain (iptables backend).
//!
//! sesame appends its one jump to INPUT and leaves every other rule alone, so the host's own
//! INPUT rules before that jump are evaluated first: one that accepts new connections to a
//! protected port from anywhere (`-A INPUT -p tcp --dport 22 -j ACCEPT`, a provider's "allow
//! SSH", `-A INPUT -j ACCEPT`) leaves the port open whatever sesame loads. Such a rule is found
//! from the facts (the INPUT rules as `iptables-save` prints them) and the host is refused
//! before anything touches it, the rule named: it is not sesame's to remove.
//!
//! Only what is certain is flagged: a rule with a negation, a source, destination or interface
//! restriction, a source port, or a match this reader does not know is left to the proof's
//! closed-before probe, which catches any open port after the load and rolls back. (The
//! nftables backend needs no such check: its drop is final whatever another table accepts.)

use super::{KnockPort, Proto};

/// A foreign INPUT rule that accepts `port` before sesame's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// 4 or 6.
    pub family: u8,
    pub port: KnockPort,
    /// The rule as iptables-save printed it (host output: shown only through the reporter).
    pub rule: String,
}

impl std::fmt::Display for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 300;
        let rule = match self.rule.char_indices().nth(MAX) {
            Some((at, _)) => format!("{}...", &self.rule[..at]),
            None => self.rule.clone(),
        };
        write!(
            f,
            "port {} is accepted before sesame's rules by a rule of the host's firewall that is \
not sesame's (IPv{}): `{rule}`",
            self.port, self.family
        )
    }
}

/// The rules of `input` (the `-A INPUT` lines of both families in order, each with its family,
/// as the facts hold them) that accept one of `ports` from anywhere before sesame's jump in
/// their family (the first rule that jumps to a `SESAME-` chain; on a host sesame is not on
/// yet, every rule: its jump will be appended).
pub fn shadowing(input: &[(u8, String)], ports: &[KnockPort]) -> Vec<Shadow> {
    let mut found = Vec::new();
    let mut past_sesame = Vec::new();
    for (family, rule) in input {
        if past_sesame.contains(family) {
            continue;
        }
        let Some(m) = Match::parse(rule) else {
            continue;
        };
        if m.sesame_jump {
            past_sesame.push(*family);
            continue;
        }
        if !m.accepts {
            continue;
        }
        for &port in ports {
            if m.covers(port) {
                found.push(Shadow {
                    family: *family,
                    port,
                    rule: rule.clone(),
                });
            }
        }
    }
    found
}

/// What one rule matches, when every part of it is understood and unrestricted by source.
#[derive(Debug, Default)]
struct Match {
    /// `None`: every protocol.
    proto: Option<Proto>,
    /// `None`: every port. Inclusive ranges.
    dports: Option<Vec<(u16, u16)>>,
    accepts: bool,
    sesame_jump: bool,
}

impl Match {
    /// `None` when the rule has something this reader cannot judge (it is then not flagged).
    fn parse(rule: &str) -> Option<Match> {
        let toks = shlex::split(rule)?;
        let mut m = Match::default();
        let mut it = toks.iter().map(String::as_str);
        while let Some(t) = it.next() {
            match t {
                "-A" | "--append" => {
                    it.next()?;
                }
                "-p" | "--protocol" => match it.next()? {
                    "tcp" | "6" => m.proto = Some(Proto::Tcp),
                    "udp" | "17" => m.proto = Some(Proto::Udp),
                    "all" | "0" => m.proto = None,
                    _ => return None,
                },
                "-m" | "--match" => match it.next()? {
                    "tcp" | "udp" | "multiport" | "conntrack" | "state" | "comment" => {}
                    _ => return None,
                },
                "--dport" | "--destination-port" => {
                    m.dports = Some(vec![range(it.next()?)?]);
                }
                "--dports" | "--destination-ports" => {
                    let list = it.next()?;
                    m.dports = Some(list.split(',').map(range).collect::<Option<Vec<_>>>()?);
                }
                "--ctstate" | "--state" => {
                    if !it.next()?.split(',').any(|s| s == "NEW") {
                        return None;
                    }
                }
                "--comment" => {
                    it.next()?;
                }
                "--syn" => {}
                "--tcp-flags" => {
                    let (mask, set) = (it.next()?, it.next()?);
                    // A new connection's SYN passes (what --syn prints as).
                    if !(mask == "FIN,SYN,RST,ACK" && set == "SYN") {
                        return None;
                    }
                }
                "-s" | "--source" | "-d" | "--destination" => {
                    if !matches!(it.next()?, "0.0.0.0/0" | "::/0") {
                        return None;
                    }
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    let target = it.next()?;
                    m.sesame_jump = target.starts_with("SESAME-");
                    m.accepts = matches!(t, "-j" | "--jump") && target == "ACCEPT";
                }
                _ => return None,
            }
        }
        if m.dports.is_some() && m.proto.is_none() {
            return None;
        }
        Some(m)
    }

    fn covers(&self, port: KnockPort) -> bool {
        self.proto.is_none_or(|p| p == port.proto)
            && self
                .dports
                .as_ref()
                .is_none_or(|rs| rs.iter().any(|&(lo, hi)| (lo..=hi).contains(&port.port)))
    }
}

/// `22`, `1000:2000` (iptables-save's range), `:1024` or `1024:`.
fn range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        None => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
        Some((lo, hi)) => {
            let lo = if lo.is_empty() { 0 } else { lo.parse().ok()? };
            let hi = if hi.is_empty() {
                u16::MAX
            } else {
                hi.parse().ok()?
            };
            (lo <= hi).then_some((lo, hi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH: KnockPort = KnockPort {
        port: 22,
        proto: Proto::Tcp,
    };
    const DNS: KnockPort = KnockPort {
        port: 53,
        proto: Proto::Udp,
    };

    fn flagged(rules: &[&str]) -> Vec<String> {
        let rules: Vec<(u8, String)> = rules.iter().map(|r| (4, r.to_string())).collect();
        shadowing(&rules, &[SSH, DNS])
            .into_iter()
            .map(|s| format!("{} {}", s.port, s.rule))
            .collect()
    }

    #[test]
    fn rules_that_accept_a_protected_port_from_anywhere_are_found() {
        for rule in [
            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -j ACCEPT",
            "-A INPUT -s 0.0.0.0/0 -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m state --state NEW,ESTABLISHED -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m multiport --dports 80,443,20:30 -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 1:1024 --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT",
            "-A INPUT -p 6 -m tcp --dport 22 -m comment --comment \"allow ssh (provider)\" -j ACCEPT",
        ] {
            assert_eq!(flagged(&[rule]), vec![format!("22/tcp {rule}")], "{rule}");
        }
        // Every protected port a rule accepts, each named.
        assert_eq!(
            flagged(&["-A INPUT -j ACCEPT"]),
            vec!["22/tcp -A INPUT -j ACCEPT", "53/udp -A INPUT -j ACCEPT"]
        );
        assert_eq!(
            flagged(&["-A INPUT -p udp -m udp --dport 53 -j ACCEPT"]),
            vec!["53/udp -A INPUT -p udp -m udp --dport 53 -j ACCEPT"]
        );
    }

    #[test]
    fn restricted_unknown_and_unrelated_rules_are_left_to_the_probe() {
        assert!(flagged(&[
            "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -s 10.9.0.0/16 -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -d 198.19.1.2/32 -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -i wg0 -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT ! -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 5/sec -j ACCEPT",
            "-A INPUT -p tcp -m tcp --sport 1024:65535 --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT",
            "-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 22 -j f2b-sshd",
            "-A INPUT -p tcp -m tcp --dport 22 -j LOG",
            "-A INPUT -p tcp -m tcp --dport 22 -g accept-chain",
            "-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK ACK --dport 22 -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 22 -m comment --comment \"unterminated -j ACCEPT",
            "garbage",
        ])
        .is_empty());
    }

    #[test]
    fn only_rules_before_sesames_jump_count() {
        let rules = [
            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -j SESAME-INPUT",
            "-A INPUT -j ACCEPT",
        ];
        assert_eq!(
            flagged(&rules),
            vec!["22/tcp -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]
        );
        assert!(flagged(&rules[1..]).is_empty());
    }

    #[test]
    fn each_family_stops_at_its_own_sesame_jump() {
        let rules = [
            (4, "-A INPUT -j SESAME-INPUT"),
            (4, "-A INPUT -j ACCEPT"),
            (6, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
            (6, "-A INPUT -j SESAME-INPUT"),
        ]
        .map(|(f, r)| (f, r.to_string()));
        let found = shadowing(&rules, &[SSH]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].family, 6);
    }

    #[test]
    fn the_message_names_port_family_and_rule_and_cuts_a_long_rule() {
        let s = Shadow {
            family: 6,
            port: SSH,
            rule: "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT".into(),
        };
        let m = s.to_string();
        assert!(
            m.starts_with("port 22/tcp is accepted before sesame's rules"),
            "{m}"
        );
        assert!(
            m.contains("(IPv6): `-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT`"),
            "{m}"
        );
        let long = Shadow {
            rule: format!(
                "-A INPUT -m comment --comment \"{}\" -j ACCEPT",
                "é".repeat(400)
            ),
            ..s
        };
        let m = long.to_string();
        assert!(m.contains("...`") && m.chars().count() < 450, "{m}");
    }
}
