//! Backend and design: `knock_mode`, `knock_iptables_style`, `knock_backend` and
//! `knock_nft_set_size`, and what a backend or mode refuses. Every refusal of the nftables
//! backend and of single_port mode is here, by name, so it is never rendered half-way.

use super::values::Collector;
use super::{join_ports, Backend, IptablesStyle, KnockMode, KnockPort, NetFacts};

/// The design the variables choose. `mode` is `None` when `knock_mode` is unknown (already
/// reported): the other checks still run, the profile is not built.
pub(super) struct Design {
    pub mode: Option<KnockMode>,
    pub style: IptablesStyle,
    pub backend: Backend,
    pub nft_set_size: u32,
}

impl Collector<'_> {
    /// Mode and style first: they decide which other variables matter.
    pub(super) fn design(&mut self) -> Design {
        // Mode and style first: they decide which other variables matter.
        let mode = match self.string("knock_mode").as_deref() {
            None => Some(KnockMode::Knockd),
            Some("knockd") => Some(KnockMode::Knockd),
            Some("iptables") => Some(KnockMode::Iptables),
            Some("single_port") => Some(KnockMode::SinglePort),
            Some(other) => {
                self.err(
                    "knock_mode",
                    format!("\"{other}\""),
                    "unknown mode (expected knockd, iptables or single_port)",
                );
                None
            }
        };
        let style = match self.string("knock_iptables_style").as_deref() {
            None | Some("gates") => IptablesStyle::Gates,
            Some("compact") => IptablesStyle::Compact,
            Some(other) => {
                self.err(
                    "knock_iptables_style",
                    format!("\"{other}\""),
                    "unknown style (expected gates or compact)",
                );
                IptablesStyle::Gates
            }
        };

        let backend = match self.string("knock_backend").as_deref() {
            None | Some("iptables") => Backend::Iptables,
            Some("nftables") => Backend::Nftables,
            Some(other) => {
                self.err(
                    "knock_backend",
                    format!("\"{other}\""),
                    "unknown backend (expected iptables or nftables)",
                );
                Backend::Iptables
            }
        };
        let nft_set_size = self.uint("knock_nft_set_size", 65535);
        Design {
            mode,
            style,
            backend,
            nft_set_size,
        }
    }

    /// The backend's checks and the warnings that depend on it.
    pub(super) fn check_backend(&mut self, mode: KnockMode, d: &Design) {
        if d.backend == Backend::Nftables {
            self.check_nftables(d.nft_set_size);
        } else if self.is_set("knock_nft_set_size") {
            self.warn(
                "knock_nft_set_size",
                "ignored: only the nftables backend (knock_backend: nftables) has sets",
            );
        }
        if mode != KnockMode::Knockd && d.backend == Backend::Iptables {
            self.warn(
                "knock_mode",
                "xt_recent remembers at most 100 addresses per list (module parameter ip_list_tot): a flood from many sources can evict a knocker mid-sequence; knock again, or raise ip_list_tot",
            );
        }
    }

    /// The nftables backend's own bound: its sets' size. (Both iptables styles, doors and
    /// forwarded ports are rendered natively; `compact` maps to the same table as `gates`.)
    fn check_nftables(&mut self, size: u32) {
        if !(16..=16_777_216).contains(&size) {
            self.err(
                "knock_nft_set_size",
                size.to_string(),
                "must be between 16 and 16777216 addresses",
            );
        }
    }

    /// Protected ports also gated on the forward path (both backends): those the host's nat
    /// table forwards, or all of them with `knock_protect_forwarded`. `None` (reported) where
    /// the design cannot gate them.
    pub(super) fn forwarded(
        &mut self,
        protected: &[KnockPort],
        protect_forwarded: bool,
        mode: KnockMode,
        facts: &NetFacts,
    ) -> Option<Vec<KnockPort>> {
        let forwarded: Vec<KnockPort> = protected
            .iter()
            .filter(|p| protect_forwarded || facts.forwarded_ports.contains(p))
            .copied()
            .collect();
        if mode == KnockMode::SinglePort && !forwarded.is_empty() {
            self.err(
                if protect_forwarded { "knock_protect_forwarded" } else { "knock_protected_ports" },
                join_ports(&forwarded),
                "forwarded (destination-NATed) ports cannot be gated in single_port mode: its knocks are the connection attempts, which cross the forward path where the hit lists (sets) are not kept; use knockd or iptables mode",
            );
            return None;
        }

        Some(forwarded)
    }
}
