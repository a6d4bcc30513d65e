//! The knock variable contract: reads a host's `knock_*` variables (as an Ansible inventory gives
//! them, strings included), validates them all at once and builds the normalized `KnockProfile`
//! that the rule templates render from. Pure: no I/O, no logging, never panics on bad input.
//!
//! # xt_recent limits (the `iptables` and `single_port` modes)
//! * `--hitcount` must be below the kernel's `XT_RECENT_MAX_NSTAMPS`: 256 until kernel commit
//!   f4ebd03496f6 (mid-2024, Linux 6.11) raised it to 65536. Debian 12 (6.1) and Ubuntu 24.04
//!   (6.8) have 256, so the real limit is 255 and sesame checks it. The old `ip_pkt_list_tot`
//!   limit (default 20) no longer applies: since commit abc86d0f9924 ("relax ip_pkt_list_tot
//!   restrictions", Linux 4.x) the parameter defaults to 0, meaning "size the list from the
//!   rules' hitcount", and a set value only grows the list. (The lab runs the build machine's
//!   newer kernel, where hitcount 300 loads: the 255 limit comes from the source, not the lab.)
//! * Each recent list remembers at most `ip_list_tot` = 100 source addresses (a module parameter,
//!   read-only once the module is loaded). The 101st address evicts the oldest one: a flood of
//!   (possibly spoofed) sources can push a knocker out of a list mid-sequence. That is a denial
//!   of the knock (knock again), never an opening. Raise it with
//!   `options xt_recent ip_list_tot=1000` in `/etc/modprobe.d/` and a reboot.
//!
//! # single_port timing
//! `knock_hitcount` counts connection attempts (SYNs) to the protected port *including* the one
//! let through, so it is at least 2 (the defaults 2 / 3 / 5 read: one attempt, then connect 3 to
//! 5 s later). Attempts must be at least `knock_hit_min_seconds` apart and all fall within
//! `knock_hit_max_seconds`; a faster one sends its source to a penalty list until it has been
//! quiet for `knock_hit_max_seconds`, so a flood never opens the port. `knock_hit_min_seconds` is
//! at least 2 because a client retransmits an unanswered SYN after 1 s. A plain client that
//! just retries is therefore never let in; one whose retry gaps happen to fall inside the window
//!
//! # Layout
//! `types` (the data), `values` (reading raw variables), `ports`, `sequences`, `timing`,
//! `network` (interface and allow list), `backend` (design, and every refusal of the nftables
//! backend and of single_port mode), `warnings`, `names`; `build` below puts them together in
//! the order their errors are reported.

mod backend;
mod names;
mod network;
mod ports;
mod sequences;
#[cfg(test)]
mod tests;
mod timing;
mod types;
mod values;
mod warnings;

pub use crate::knock::cidr::parse_cidr;
pub use names::gate_steps;
pub use sequences::sequence_problems;
pub use types::*;
pub use values::{parse_bool, parse_port, parse_port_list, split_list_string, ParsedPorts};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use values::{shown_host, Collector};

/// Longest knock gap, open window, hit window and rollback sesame accepts, in seconds.
pub const MAX_SECONDS: u32 = 3600;
/// `XT_RECENT_MAX_NSTAMPS - 1` on the kernels sesame targets (see the module doc).
pub const MAX_HITCOUNT: u32 = 255;
/// The validated, normalized knock settings of one host. Serialized, it is the template context
/// `knock`. Its `Debug` hides the sequences; use `masked()` for logs.
#[derive(Clone, Serialize)]
pub struct KnockProfile {
    pub host: String,
    /// Short id of the non-secret settings (the sequences are left out on purpose: a short hash
    /// of a short sequence shown in logs would let anyone with the logs brute-force it).
    pub id: String,
    pub mode: KnockMode,
    pub iptables_style: IptablesStyle,
    /// `knock_backend`: iptables (default) or nftables.
    pub backend: Backend,
    /// `knock_nft_set_size`: the most addresses each of the nftables backend's sets holds.
    pub nft_set_size: u32,
    /// The open sequence (empty in `single_port` mode, which knocks on the protected port).
    pub sequence: Vec<KnockPort>,
    /// knockd only: the close sequence, empty when the door closes by itself.
    pub close_sequence: Vec<KnockPort>,
    /// Every port of both sequences, once each, in first-seen order.
    pub knock_ports: Vec<KnockPort>,
    pub protected_ports: Vec<KnockPort>,
    pub public_ports: Vec<KnockPort>,
    pub allow_sources_v4: Vec<String>,
    pub allow_sources_v6: Vec<String>,
    /// Longest gap between two knocks (iptables mode); the whole-sequence timeout in knockd mode.
    pub step_seconds: u32,
    pub open_seconds: u32,
    /// single_port: number of connection attempts, the last of which gets through.
    pub hitcount: u32,
    /// single_port: `hitcount - 1`, the xt_recent `--hitcount` of the opening rule.
    pub prior_hits: u32,
    pub hit_min_seconds: u32,
    pub hit_max_seconds: u32,
    /// knockd's `-i`; `None` only outside knockd mode when the host has no default route.
    pub interface: Option<String>,
    /// Knocking over IPv6. When false, rules.v6 still closes the protected ports on IPv6.
    pub ipv6: bool,
    pub replace_ufw: bool,
    pub rollback_seconds: u32,
    pub drop_unlisted: bool,
    /// Protected ports also gated in FORWARD (in `DOCKER-USER`, by original destination port):
    /// those the host's nat table forwards, or all of them with `knock_protect_forwarded`.
    pub forwarded_ports: Vec<KnockPort>,
    pub names: Names,
    /// `knock_doors`: the name of the door sesame knocks (`None` without doors) and the other
    /// doors, rendered beside it (see `knock::doors`).
    pub door: Option<String>,
    pub doors: Vec<super::doors::Door>,
    #[serde(skip)]
    pub warnings: Vec<KnockWarning>,
}

impl fmt::Debug for KnockProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnockProfile")
            .field("host", &self.host)
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("iptables_style", &self.iptables_style)
            .field("backend", &self.backend)
            .field("nft_set_size", &self.nft_set_size)
            .field("sequence", &"***")
            .field(
                "close_sequence",
                &if self.close_sequence.is_empty() {
                    "none"
                } else {
                    "***"
                },
            )
            .field("protected_ports", &self.protected_ports)
            .field("public_ports", &self.public_ports)
            .field("allow_sources_v4", &self.allow_sources_v4)
            .field("allow_sources_v6", &self.allow_sources_v6)
            .field("step_seconds", &self.step_seconds)
            .field("open_seconds", &self.open_seconds)
            .field("hitcount", &self.hitcount)
            .field("hit_min_seconds", &self.hit_min_seconds)
            .field("hit_max_seconds", &self.hit_max_seconds)
            .field("interface", &self.interface)
            .field("ipv6", &self.ipv6)
            .field("replace_ufw", &self.replace_ufw)
            .field("rollback_seconds", &self.rollback_seconds)
            .field("drop_unlisted", &self.drop_unlisted)
            .field("forwarded_ports", &self.forwarded_ports)
            .field("door", &self.door)
            .field(
                "other_doors",
                &self
                    .doors
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("warnings", &self.warnings.len())
            .finish()
    }
}

fn join_ports(ports: &[KnockPort]) -> String {
    if ports.is_empty() {
        return "none".into();
    }
    ports
        .iter()
        .map(KnockPort::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl KnockProfile {
    /// One line for logs: everything but the sequences, which show as `***`.
    pub fn masked(&self) -> String {
        let mode = match self.mode {
            KnockMode::Iptables => match self.iptables_style {
                IptablesStyle::Gates => "iptables/gates",
                IptablesStyle::Compact => "iptables/compact",
            },
            m => m.as_str(),
        };
        let knocks = match self.mode {
            KnockMode::SinglePort => format!(
                "hits={} every {}s..within {}s",
                self.hitcount, self.hit_min_seconds, self.hit_max_seconds
            ),
            _ => format!(
                "sequence=*** close={} step={}s open={}s",
                if self.close_sequence.is_empty() {
                    "none"
                } else {
                    "***"
                },
                self.step_seconds,
                self.open_seconds
            ),
        };
        format!(
            "host={} profile={} backend={} mode={} {} protected={} public={} allow={} ipv6={} drop_unlisted={}",
            self.host,
            self.id,
            self.backend.as_str(),
            mode,
            knocks,
            join_ports(&self.protected_ports),
            join_ports(&self.public_ports),
            self.allow_sources_v4.len() + self.allow_sources_v6.len(),
            self.ipv6,
            self.drop_unlisted
        )
    }

    /// Build and validate a host's profile from its variables. Every problem is reported at
    /// once; missing optional variables take the defaults of `roles/port_knocking/defaults`.
    pub fn from_vars(
        host: &str,
        vars: &Map<String, Value>,
        facts: &NetFacts,
    ) -> Result<KnockProfile, KnockVarErrors> {
        let mut c = Collector {
            host,
            vars,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let profile = c.build(facts);
        if c.errors.is_empty() {
            if let Some(mut p) = profile {
                p.warnings = c.warnings;
                return Ok(p);
            }
        }
        Err(KnockVarErrors {
            host: shown_host(host),
            errors: c.errors,
        })
    }
}

impl Collector<'_> {
    fn build(&mut self, facts: &NetFacts) -> Option<KnockProfile> {
        self.check_host_name();
        let design = self.design();
        let raw = self.raw(facts);
        let (protected, public) = self.ports(raw.protected, raw.public);
        let mode = design.mode?;
        let (sequence, close) = self.sequences(mode, raw.sequence, raw.close, &protected, &public);
        self.warn_weak_sequence(mode, &sequence, raw.drop_unlisted);
        self.warn_ignored(mode);
        self.check_timing(&raw.timing, mode != KnockMode::SinglePort);
        let interface = self.interface(raw.interface, mode, facts);
        self.warn_controller_allowed(facts, &raw.allow_v4, &raw.allow_v6);
        self.check_backend(mode, &design);
        if !self.errors.is_empty() {
            return None;
        }

        let mut knock_ports = sequence.clone();
        knock_ports.extend(close.iter().copied());
        ports::dedup(&mut knock_ports);
        let names = Names::new(&sequence, &protected);
        let forwarded = self.forwarded(&protected, raw.protect_forwarded, mode, facts)?;
        let t = raw.timing;
        let mut profile = KnockProfile {
            host: self.host.to_string(),
            id: String::new(),
            mode,
            iptables_style: design.style,
            backend: design.backend,
            nft_set_size: design.nft_set_size,
            sequence,
            close_sequence: close,
            knock_ports,
            protected_ports: protected,
            public_ports: public,
            allow_sources_v4: raw.allow_v4,
            allow_sources_v6: raw.allow_v6,
            step_seconds: t.step,
            open_seconds: t.open,
            hitcount: t.hitcount,
            prior_hits: t.hitcount.saturating_sub(1),
            hit_min_seconds: t.hit_min,
            hit_max_seconds: t.hit_max,
            interface,
            ipv6: raw.ipv6,
            replace_ufw: raw.replace_ufw,
            rollback_seconds: t.rollback,
            drop_unlisted: raw.drop_unlisted,
            forwarded_ports: forwarded,
            names,
            door: None,
            doors: Vec::new(),
            warnings: Vec::new(),
        };
        profile.id = profile_id(&profile);
        Some(profile)
    }
}

/// Short stable id of the non-secret settings.
fn profile_id(p: &KnockProfile) -> String {
    let mut h = Sha256::new();
    let parts = [
        p.host.clone(),
        p.mode.as_str().to_string(),
        format!("{:?}", p.iptables_style),
        join_ports(&p.protected_ports),
        join_ports(&p.public_ports),
        p.allow_sources_v4.join(","),
        p.allow_sources_v6.join(","),
        format!(
            "{} {} {} {} {} {}",
            p.step_seconds,
            p.open_seconds,
            p.hitcount,
            p.hit_min_seconds,
            p.hit_max_seconds,
            p.drop_unlisted
        ),
        p.interface.clone().unwrap_or_default(),
        p.ipv6.to_string(),
        join_ports(&p.forwarded_ports),
    ];
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // Only for nftables, so the ids (and files) of iptables hosts stay as they were.
    if p.backend == Backend::Nftables {
        h.update(format!("nftables {}", p.nft_set_size).as_bytes());
    }
    hex::encode(&h.finalize()[..4])
}

/// A host's variables with the port its sessions really use (an ssh_config `Port`) standing in
/// for an unset `ansible_port`, so that port is protected (and knocked in single_port mode).
pub fn with_session_port(
    vars: &Map<String, Value>,
    port: u16,
) -> std::borrow::Cow<'_, Map<String, Value>> {
    if port != 22 && !vars.contains_key("ansible_port") {
        let mut v = vars.clone();
        v.insert("ansible_port".into(), port.into());
        std::borrow::Cow::Owned(v)
    } else {
        std::borrow::Cow::Borrowed(vars)
    }
}
