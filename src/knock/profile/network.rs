//! Interface and allow-list: `knock_interface` (knockd's `-i`, else the default route's) and
//! `knock_allow_sources` (CIDRs that never need to knock), with the checks that keep an allow
//! list from opening the protected ports to everyone.

use super::values::{show, split_list_string, Collector};
use super::{KnockMode, NetFacts};
use crate::knock::cidr::{allow_listed, covers_everything, parse_cidr};
use serde_json::Value;
use std::net::IpAddr;

impl Collector<'_> {
    /// CIDRs (or bare addresses) split by family, normalized as `addr/prefix`.
    pub(super) fn cidrs(&mut self, name: &str) -> (Vec<String>, Vec<String>) {
        let Some(v) = self.get(name).cloned() else {
            return (Vec::new(), Vec::new());
        };
        let items: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::String(s) => split_list_string(&s),
            other => {
                self.err(name, show(&other), "expected a list of CIDRs");
                return (Vec::new(), Vec::new());
            }
        };
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (i, item) in items.iter().enumerate() {
            let parsed = match item {
                Value::String(s) => parse_cidr(s.trim()),
                _ => None,
            };
            match parsed {
                Some((_, 0)) => self.err(
                    &format!("{name}[{i}]"),
                    show(item),
                    "allows every address (prefix length 0): the protected ports would be open to \
                     anyone without knocking",
                ),
                Some((IpAddr::V4(a), len)) => v4.push(format!("{a}/{len}")),
                Some((IpAddr::V6(a), len)) => v6.push(format!("{a}/{len}")),
                None => self.err(
                    &format!("{name}[{i}]"),
                    show(item),
                    "not a CIDR (expected e.g. 203.0.113.0/24, 2001:db8::/32 or a single address)",
                ),
            }
        }
        for (family, list) in [("IPv4", &v4), ("IPv6", &v6)] {
            if list.len() > 1 && covers_everything(list) {
                self.err(
                    name,
                    list.join(", "),
                    format!(
                        "together these allow every {family} address: the protected ports would be \
                         open to anyone without knocking"
                    ),
                );
            }
        }
        (v4, v6)
    }

    /// knockd needs an interface to listen on; the other modes do not use it, but a given one
    /// must still be a name (it reaches knockd's command line).
    pub(super) fn interface(
        &mut self,
        given: Option<String>,
        mode: KnockMode,
        facts: &NetFacts,
    ) -> Option<String> {
        let interface = given.or_else(|| facts.default_interface.clone());
        match (&interface, mode) {
            (None, KnockMode::Knockd) => self.err(
                "knock_interface",
                "(unset)",
                "knockd needs an interface and the host has no default route: set knock_interface",
            ),
            (Some(i), _) if !valid_ifname(i) => self.err(
                "knock_interface",
                format!("\"{i}\""),
                "not an interface name (1-15 characters: letters, digits, . _ -)",
            ),
            _ => {}
        }
        interface
    }

    /// A controller inside the allow list never knocks, so its test knock proves nothing.
    pub(super) fn warn_controller_allowed(
        &mut self,
        facts: &NetFacts,
        v4: &[String],
        v6: &[String],
    ) {
        if let Some(ip) = facts.controller_ip {
            if allow_listed(v4.iter().chain(v6), Some(ip)) {
                self.warn(
                    "knock_allow_sources",
                    format!(
                        "the controller ({ip}) is an allowed source: it never needs to knock, so a test knock from it proves nothing"
                    ),
                );
            }
        }
    }
}

/// Linux interface names: at most 15 bytes, and they go into knockd's command line.
fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
