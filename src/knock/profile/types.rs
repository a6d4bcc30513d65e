//! The types of the knock variable contract: modes, backends, ports, rule names, warnings and
//! errors. Data only: the reading and the checks live in the sibling files.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// What sesame needs to know about a host's network to fill in defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetFacts {
    /// Interface of the default route (`ip route show default`), knockd's default `-i`.
    pub default_interface: Option<String>,
    /// Whether the host has a global IPv6 address: the default of `knock_ipv6`.
    pub has_ipv6: bool,
    /// The controller's address as the host sees it (`$SSH_CLIENT`), used only for warnings.
    pub controller_ip: Option<IpAddr>,
    /// Ports the host's nat table destination-NATs (`-j DNAT ... --dport N`): published
    /// container ports and other port forwards. Their traffic crosses FORWARD, not INPUT.
    pub forwarded_ports: Vec<KnockPort>,
}

/// The three designs of `playbooks/harden.yml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnockMode {
    /// knockd sniffs the knocks and inserts a per-address ACCEPT into a dedicated chain.
    Knockd,
    /// The kernel alone: an xt_recent state machine, no daemon.
    Iptables,
    /// Knocking on the protected port itself (for a host behind a NAT forwarding one port).
    SinglePort,
}

impl KnockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KnockMode::Knockd => "knockd",
            KnockMode::Iptables => "iptables",
            KnockMode::SinglePort => "single_port",
        }
    }
}

/// Which firewall sesame writes its part into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// SESAME-* chains in iptables' filter table, kept at boot by netfilter-persistent.
    Iptables,
    /// One table, `table inet sesame`, kept at boot by sesame's own unit (`sesame-knock`).
    Nftables,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Iptables => "iptables",
            Backend::Nftables => "nftables",
        }
    }
}

/// How the `iptables` mode lays out its state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IptablesStyle {
    /// A KNOCKING dispatcher, one chain per knock (GATE1..GATEn) and a PASSED chain.
    Gates,
    /// One chain, one `--rcheck --seconds` rule per step.
    Compact,
}

/// Transport protocol of a knock or of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One port with its protocol: a knock, a protected port or a public port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct KnockPort {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for KnockPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

/// One step of the `iptables` mode's state machine: the knock and the names it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateStep {
    /// 1-based position in the sequence.
    pub index: usize,
    pub port: u16,
    pub proto: Proto,
    /// The gate chain that expects this knock (`SESAME-GATE<index>`).
    pub chain: String,
    /// The recent list set when this knock arrives in time (`SESAME_AUTH<index>`).
    pub list: String,
    /// The list of the previous knock (`None` for the first).
    pub prev_list: Option<String>,
}

/// Names for one protected port in `single_port` mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinglePortNames {
    pub port: u16,
    pub proto: Proto,
    /// Chain that judges NEW connections to this port.
    pub chain: String,
    /// Recent list of accepted-as-knock hits.
    pub hits_list: String,
    /// Recent list of sources caught hitting too fast.
    pub penalty_list: String,
}

/// Every chain and recent-list name the templates use, all prefixed `SESAME` so they never
/// collide with a user's own rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    /// The one chain INPUT jumps to: every rule sesame has for INPUT lives in it.
    pub input_chain: String,
    /// The chain `DOCKER-USER` jumps to when forwarded ports are gated.
    pub forward_chain: String,
    /// Reached (by goto) for a new forwarded connection to a protected port: lets knocked and
    /// allowed sources return to `DOCKER-USER`, drops the rest.
    pub forward_gate_chain: String,
    /// knockd mode: the chain knockd's door commands insert into.
    pub door_chain: String,
    /// iptables/gates: the dispatcher chain.
    pub knocking_chain: String,
    /// iptables/gates: the chain reached after the last knock.
    pub passed_chain: String,
    /// iptables/compact: the single chain.
    pub compact_chain: String,
    /// iptables (both styles): one entry per knock.
    pub steps: Vec<GateStep>,
    /// single_port: one entry per protected port.
    pub single_port: Vec<SinglePortNames>,
}

/// A warning: valid, but the user should know. Collected, never printed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnockWarning {
    pub host: String,
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for KnockWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host {}: {}: {}", self.host, self.variable, self.message)
    }
}

/// One invalid variable. `value` is the offending item only: for a sequence, the one bad port,
/// never the whole secret sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host {host}: {variable} = {value}: {problem}")]
pub struct KnockVarError {
    pub host: String,
    pub variable: String,
    pub value: String,
    pub problem: String,
}

/// All the invalid knock variables of one host, found in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KnockVarErrors {
    pub host: String,
    pub errors: Vec<KnockVarError>,
}

impl fmt::Display for KnockVarErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host {}: {} invalid port-knocking variable{}",
            self.host,
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}
