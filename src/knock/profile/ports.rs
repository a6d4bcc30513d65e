//! Ports: the protected ports (`knock_protected_ports`, else 22, plus the port sesame's own
//! sessions use unless it is public) and the public ports, each once, never both.

use super::values::{show, Collector, PortList};
use super::{KnockPort, Proto};

impl Collector<'_> {
    /// The protected and the public ports, deduplicated, with the conflicts reported.
    pub(super) fn ports(
        &mut self,
        protected_given: PortList,
        public: Vec<KnockPort>,
    ) -> (Vec<KnockPort>, Vec<KnockPort>) {
        let ansible_port = crate::vars::ansible_port(self.vars);
        // Protected ports: the given list (or 22), plus the port sesame itself uses over SSH,
        // unless that one is public: leaving it dropped would lock sesame out.
        let protected_bad = matches!(protected_given, Some(None));
        let mut protected = protected_given.flatten().unwrap_or_else(|| {
            if protected_bad {
                Vec::new()
            } else {
                vec![KnockPort {
                    port: 22,
                    proto: Proto::Tcp,
                }]
            }
        });
        match ansible_port {
            Some((_, Ok(port))) => {
                let p = KnockPort {
                    port,
                    proto: Proto::Tcp,
                };
                if !protected.contains(&p) && !public.contains(&p) {
                    protected.push(p);
                }
            }
            Some((var, Err(_))) => {
                let shown = self.get(var).map(show).unwrap_or_default();
                self.err(var, shown, "not a port number (1-65535)")
            }
            None => {}
        }
        dedup(&mut protected);
        let mut public = public;
        dedup(&mut public);
        if protected.is_empty() && !protected_bad {
            self.err(
                "knock_protected_ports",
                "[]",
                "nothing to protect: give at least one port",
            );
        }
        for p in &protected {
            if public.contains(p) {
                self.err(
                    "knock_public_ports",
                    p.to_string(),
                    "also in knock_protected_ports: a port cannot be both open to all and knock-protected",
                );
            }
        }
        (protected, public)
    }
}

/// Keeps the first of each port, in order.
pub(super) fn dedup(ports: &mut Vec<KnockPort>) {
    let mut seen = Vec::with_capacity(ports.len());
    ports.retain(|p| {
        if seen.contains(p) {
            false
        } else {
            seen.push(*p);
            true
        }
    });
}
