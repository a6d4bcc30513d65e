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
//! (an initial RTO of 3 s with the defaults) can be: single_port hides a port, it is no secret.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::IpAddr;

/// Longest knock gap, open window, hit window and rollback sesame accepts, in seconds.
pub const MAX_SECONDS: u32 = 3600;
/// `XT_RECENT_MAX_NSTAMPS - 1` on the kernels sesame targets (see the module doc).
pub const MAX_HITCOUNT: u32 = 255;

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

/// A host name as errors show it: quoted and escaped when it holds control characters, so an
/// error about a hostile name cannot itself carry the line break or escape sequence.
fn shown_host(host: &str) -> String {
    if host.chars().any(char::is_control) {
        format!("{host:?}")
    } else {
        host.to_string()
    }
}

/// A value as errors show it: control characters escaped (`\n`, `\u{1b}`), so a hostile value
/// cannot break the error's lines or reach the terminal as an escape sequence.
fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Gathers errors and warnings while reading variables.
struct Collector<'a> {
    host: &'a str,
    vars: &'a Map<String, Value>,
    errors: Vec<KnockVarError>,
    warnings: Vec<KnockWarning>,
}

/// A value as it appears in an error: strings quoted, the rest as JSON.
fn show(v: &Value) -> String {
    v.to_string()
}

impl Collector<'_> {
    fn err(&mut self, variable: &str, value: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(KnockVarError {
            host: shown_host(self.host),
            variable: variable.to_string(),
            value: escape_controls(&value.into()),
            problem: problem.into(),
        });
    }

    fn warn(&mut self, variable: &'static str, message: impl Into<String>) {
        self.warnings.push(KnockWarning {
            host: self.host.to_string(),
            variable,
            message: message.into(),
        });
    }

    /// The variable's value; an explicit `null` (`knock_x:` with nothing after it) counts as
    /// unset, as in Ansible's `default()` filter with its second argument.
    fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name).filter(|v| !v.is_null())
    }

    fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An unsigned integer, from a number or a numeric string (INI inventories give strings).
    fn uint(&mut self, name: &str, default: u32) -> u32 {
        let Some(v) = self.get(name).cloned() else {
            return default;
        };
        match parse_uint(&v) {
            Some(n) if n <= u64::from(u32::MAX) => n as u32,
            _ => {
                self.err(
                    name,
                    show(&v),
                    "expected a whole number of seconds or a count",
                );
                default
            }
        }
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        let Some(v) = self.get(name).cloned() else {
            return default;
        };
        match parse_bool(&v) {
            Some(b) => b,
            None => {
                self.err(
                    name,
                    show(&v),
                    "expected a boolean (yes/no, true/false, on/off, 1/0)",
                );
                default
            }
        }
    }

    fn string(&mut self, name: &str) -> Option<String> {
        let v = self.get(name)?.clone();
        match v {
            Value::String(s) => Some(s.trim().to_string()),
            other => {
                self.err(name, show(&other), "expected a string");
                None
            }
        }
    }

    /// A list of port specs: a YAML list, or a comma-separated string (INI inventories).
    /// `None`: unset. `Some(None)`: invalid, already reported item by item (so the list-level
    /// checks do not pile more errors on the same mistake).
    fn port_list(&mut self, name: &str, secret: bool) -> Option<Option<Vec<KnockPort>>> {
        let v = self.get(name)?.clone();
        let items: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::Number(_) => vec![v],
            Value::String(s) => split_list_string(&s),
            other => {
                let shown = if secret { "***".into() } else { show(&other) };
                self.err(
                    name,
                    shown,
                    "expected a list of ports such as [7000, \"8000:udp\"]",
                );
                return Some(None);
            }
        };
        let mut out = Vec::new();
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            match parse_port(item) {
                Ok(p) => out.push(p),
                Err(problem) => {
                    bad = true;
                    self.err(&format!("{name}[{i}]"), show(item), problem);
                }
            }
        }
        Some((!bad).then_some(out))
    }

    /// CIDRs (or bare addresses) split by family, normalized as `addr/prefix`.
    fn cidrs(&mut self, name: &str) -> (Vec<String>, Vec<String>) {
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

    fn build(&mut self, facts: &NetFacts) -> Option<KnockProfile> {
        // The name is written into comments of knockd.conf and the rules files: a line break
        // in it would start a line of its own there (a knockd command, an iptables rule).
        if self.host.chars().any(char::is_control) {
            self.err(
                "inventory_hostname",
                format!("{:?}", self.host),
                "contains control characters: refused, it would break out of the comment lines it is written into",
            );
        }
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
        let sequence = self.port_list("knock_sequence", true);
        let close = self.port_list("knock_close_sequence", true);
        let protected_given = self.port_list("knock_protected_ports", false);
        let public = self
            .port_list("knock_public_ports", false)
            .flatten()
            .unwrap_or_default();
        let (allow_v4, allow_v6) = self.cidrs("knock_allow_sources");
        let step = self.uint("knock_step_seconds", 10);
        let open = self.uint("knock_open_seconds", 30);
        let hitcount = self.uint("knock_hitcount", 2);
        let hit_min = self.uint("knock_hit_min_seconds", 3);
        let hit_max = self.uint("knock_hit_max_seconds", 5);
        let ipv6 = self.boolean("knock_ipv6", facts.has_ipv6);
        let replace_ufw = self.boolean("knock_replace_ufw", false);
        let rollback = self.uint("knock_rollback_seconds", 60);
        let drop_unlisted = self.boolean("knock_drop_unlisted", true);
        let protect_forwarded = self.boolean("knock_protect_forwarded", false);
        let interface = self.string("knock_interface");
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

        let mode = mode?;
        let uses_sequence = mode != KnockMode::SinglePort;
        let sequence = if uses_sequence {
            match sequence {
                None => {
                    self.err(
                        "knock_sequence",
                        "(unset)",
                        format!(
                            "required in {} mode; choose your own secret ports, e.g. in host_vars with ansible-vault",
                            mode.as_str()
                        ),
                    );
                    Vec::new()
                }
                Some(None) => Vec::new(),
                Some(Some(s)) => {
                    self.check_sequence("knock_sequence", &s, &protected, &public);
                    s
                }
            }
        } else {
            if sequence.is_some() {
                self.warn(
                    "knock_sequence",
                    "ignored in single_port mode, which knocks on the protected port itself",
                );
            }
            Vec::new()
        };
        let close = match (mode, close) {
            (KnockMode::Knockd, Some(None)) => Vec::new(),
            (KnockMode::Knockd, Some(Some(c))) => {
                self.check_sequence("knock_close_sequence", &c, &protected, &public);
                if !c.is_empty() && !sequence.is_empty() {
                    if c == sequence {
                        self.err(
                            "knock_close_sequence",
                            "***",
                            "same as knock_sequence: knockd could not tell opening from closing",
                        );
                    } else if c[0] == sequence[0] {
                        self.err(
                            "knock_close_sequence[0]",
                            c[0].to_string(),
                            "starts with the first port of knock_sequence: knockd would follow both doors at once",
                        );
                    }
                }
                c
            }
            (_, Some(_)) => {
                self.warn(
                    "knock_close_sequence",
                    format!(
                        "ignored in {} mode: the door closes after knock_open_seconds",
                        mode.as_str()
                    ),
                );
                Vec::new()
            }
            (_, None) => Vec::new(),
        };
        if uses_sequence && sequence.len() == 2 {
            self.warn(
                "knock_sequence",
                "only 2 knocks: a sequence of 3 or more is much harder to guess",
            );
        }
        // knockd (and the iptables mode when other ports never reach it) only sees packets to
        // the knock ports, so any port scan is, to it, those ports in the scan's order: a random
        // order is the right one with chance 1/n!. One pass of a scan hits each port once, so
        // a port repeated (not in a row) is a sequence no single pass can send.
        let sees_only_knock_ports =
            mode == KnockMode::Knockd || (mode == KnockMode::Iptables && !drop_unlisted);
        if uses_sequence && sees_only_knock_ports && sequence.len() >= 2 {
            let mut distinct = sequence.clone();
            dedup(&mut distinct);
            if distinct.len() == sequence.len() {
                self.warn(
                    "knock_sequence",
                    format!(
                        "every port is different: a port scan that hits them in the right order opens the door (a random order does with chance 1/{}); repeat one port, not in a row, e.g. a,b,a,c",
                        factorial(sequence.len())
                    ),
                );
            }
        }

        if mode != KnockMode::Iptables && self.is_set("knock_iptables_style") {
            self.warn(
                "knock_iptables_style",
                format!("ignored in {} mode", mode.as_str()),
            );
        }
        if mode != KnockMode::SinglePort {
            for v in [
                "knock_hitcount",
                "knock_hit_min_seconds",
                "knock_hit_max_seconds",
            ] {
                if self.is_set(v) {
                    self.warn(v, format!("ignored in {} mode", mode.as_str()));
                }
            }
        }

        // Timeouts.
        if uses_sequence {
            if step == 0 {
                self.err(
                    "knock_step_seconds",
                    step.to_string(),
                    "must be at least 1 second",
                );
            }
            if open == 0 {
                self.err(
                    "knock_open_seconds",
                    open.to_string(),
                    "must be at least 1 second",
                );
            } else if open > MAX_SECONDS {
                self.err(
                    "knock_open_seconds",
                    open.to_string(),
                    format!("must be at most {MAX_SECONDS} seconds"),
                );
            }
            if step > open {
                self.err(
                    "knock_step_seconds",
                    step.to_string(),
                    format!("longer than knock_open_seconds ({open}): the open window must be at least one step"),
                );
            }
        } else {
            self.check_single_port(hitcount, hit_min, hit_max);
        }
        if !(10..=MAX_SECONDS).contains(&rollback) {
            self.err(
                "knock_rollback_seconds",
                rollback.to_string(),
                format!("must be between 10 and {MAX_SECONDS} seconds"),
            );
        }

        // Interface: knockd needs one to listen on; the other modes do not use it.
        let interface = interface.or_else(|| facts.default_interface.clone());
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

        if let Some(ip) = facts.controller_ip {
            let inside = allow_v4
                .iter()
                .chain(&allow_v6)
                .any(|c| cidr_contains(c, ip));
            if inside {
                self.warn(
                    "knock_allow_sources",
                    format!(
                        "the controller ({ip}) is an allowed source: it never needs to knock, so a test knock from it proves nothing"
                    ),
                );
            }
        }
        if backend == Backend::Nftables {
            self.check_nftables(mode, style, nft_set_size);
        } else if self.is_set("knock_nft_set_size") {
            self.warn(
                "knock_nft_set_size",
                "ignored: only the nftables backend (knock_backend: nftables) has sets",
            );
        }
        if mode != KnockMode::Knockd && backend == Backend::Iptables {
            self.warn(
                "knock_mode",
                "xt_recent remembers at most 100 addresses per list (module parameter ip_list_tot): a flood from many sources can evict a knocker mid-sequence; knock again, or raise ip_list_tot",
            );
        }

        if !self.errors.is_empty() {
            return None;
        }

        let mut knock_ports = sequence.clone();
        knock_ports.extend(close.iter().copied());
        dedup(&mut knock_ports);

        let names = Names {
            input_chain: "SESAME-INPUT".into(),
            forward_chain: "SESAME-FORWARD".into(),
            forward_gate_chain: "SESAME-DOOR-FWD".into(),
            door_chain: "SESAME-DOOR".into(),
            knocking_chain: "SESAME-KNOCKING".into(),
            passed_chain: "SESAME-PASSED".into(),
            compact_chain: "SESAME-KNOCK".into(),
            steps: sequence
                .iter()
                .enumerate()
                .map(|(i, k)| GateStep {
                    index: i + 1,
                    port: k.port,
                    proto: k.proto,
                    chain: format!("SESAME-GATE{}", i + 1),
                    list: format!("SESAME_AUTH{}", i + 1),
                    prev_list: (i > 0).then(|| format!("SESAME_AUTH{i}")),
                })
                .collect(),
            single_port: protected
                .iter()
                .map(|p| {
                    let tag = match p.proto {
                        Proto::Tcp => format!("{}", p.port),
                        Proto::Udp => format!("{}U", p.port),
                    };
                    SinglePortNames {
                        port: p.port,
                        proto: p.proto,
                        chain: format!("SESAME-SP{tag}"),
                        hits_list: format!("SESAME_SP{tag}_HITS"),
                        penalty_list: format!("SESAME_SP{tag}_PENALTY"),
                    }
                })
                .collect(),
        };

        let forwarded: Vec<KnockPort> = protected
            .iter()
            .filter(|p| protect_forwarded || facts.forwarded_ports.contains(p))
            .copied()
            .collect();
        if backend == Backend::Nftables && !forwarded.is_empty() {
            self.err(
                if protect_forwarded { "knock_protect_forwarded" } else { "knock_protected_ports" },
                join_ports(&forwarded),
                "forwarded (destination-NATed) ports are not gated by the nftables backend yet (knock_backend: nftables): use knock_backend: iptables for them",
            );
            return None;
        }
        if mode == KnockMode::SinglePort && !forwarded.is_empty() {
            self.err(
                if protect_forwarded { "knock_protect_forwarded" } else { "knock_protected_ports" },
                join_ports(&forwarded),
                "forwarded (destination-NATed) ports cannot be gated in single_port mode: its knocks are the connection attempts, which cross FORWARD where the hit lists are not kept; use knockd or iptables mode",
            );
            return None;
        }

        let mut profile = KnockProfile {
            host: self.host.to_string(),
            id: String::new(),
            mode,
            iptables_style: style,
            backend,
            nft_set_size,
            sequence,
            close_sequence: close,
            knock_ports,
            protected_ports: protected,
            public_ports: public,
            allow_sources_v4: allow_v4,
            allow_sources_v6: allow_v6,
            step_seconds: step,
            open_seconds: open,
            hitcount,
            prior_hits: hitcount.saturating_sub(1),
            hit_min_seconds: hit_min,
            hit_max_seconds: hit_max,
            interface,
            ipv6,
            replace_ufw,
            rollback_seconds: rollback,
            drop_unlisted,
            forwarded_ports: forwarded,
            names,
            door: None,
            doors: Vec::new(),
            warnings: Vec::new(),
        };
        profile.id = profile_id(&profile);
        Some(profile)
    }

    /// What the nftables backend does not do (yet): refused by name, never rendered half-way.
    fn check_nftables(&mut self, mode: KnockMode, style: IptablesStyle, size: u32) {
        if mode == KnockMode::Iptables && style == IptablesStyle::Compact {
            self.err(
                "knock_iptables_style",
                "\"compact\"",
                "not supported with knock_backend: nftables (its knock_mode iptables uses one set per stage, the gates style)",
            );
        }
        if self.is_set("knock_doors") {
            self.err(
                "knock_doors",
                "(set)",
                "not supported with knock_backend: nftables yet: use knock_backend: iptables for several doors",
            );
        }
        if !(16..=16_777_216).contains(&size) {
            self.err(
                "knock_nft_set_size",
                size.to_string(),
                "must be between 16 and 16777216 addresses",
            );
        }
    }

    fn check_sequence(
        &mut self,
        name: &str,
        seq: &[KnockPort],
        protected: &[KnockPort],
        public: &[KnockPort],
    ) {
        if seq.len() < 2 {
            self.err(
                name,
                format!(
                    "{} port{}",
                    seq.len(),
                    if seq.len() == 1 { "" } else { "s" }
                ),
                "a knock sequence needs at least 2 ports (3 or more recommended)",
            );
        }
        for (i, k) in seq.iter().enumerate() {
            if i > 0 && seq[i - 1] == *k {
                self.err(
                    &format!("{name}[{i}]"),
                    k.to_string(),
                    "same port twice in a row: a retransmitted knock could not be told from the next one",
                );
            }
            if protected.contains(k) {
                self.err(
                    &format!("{name}[{i}]"),
                    k.to_string(),
                    "is a protected port: knock ports must differ from knock_protected_ports",
                );
            }
            if public.contains(k) {
                self.err(
                    &format!("{name}[{i}]"),
                    k.to_string(),
                    "is a public port: anyone's ordinary traffic to it would disturb the sequence",
                );
            }
        }
    }

    fn check_single_port(&mut self, hitcount: u32, hit_min: u32, hit_max: u32) {
        if !(2..=MAX_HITCOUNT).contains(&hitcount) {
            self.err(
                "knock_hitcount",
                hitcount.to_string(),
                format!(
                    "must be between 2 and {MAX_HITCOUNT}: it counts the attempts including the one let through, so 1 would open the port to any first connection"
                ),
            );
        }
        if hit_min < 2 {
            // Linux retransmits an unanswered SYN after 1 s: with a 1 s minimum, any plain
            // client's own retransmission would count as the next knock.
            self.err(
                "knock_hit_min_seconds",
                hit_min.to_string(),
                "must be at least 2 seconds: a client retransmits an unanswered SYN after 1 s, which would count as a knock",
            );
        }
        if hit_max > MAX_SECONDS {
            self.err(
                "knock_hit_max_seconds",
                hit_max.to_string(),
                format!("must be at most {MAX_SECONDS} seconds"),
            );
        }
        if hit_min >= hit_max {
            self.err(
                "knock_hit_min_seconds",
                hit_min.to_string(),
                format!("must be less than knock_hit_max_seconds ({hit_max})"),
            );
        } else if (2..=MAX_HITCOUNT).contains(&hitcount)
            && u64::from(hitcount - 1) * u64::from(hit_min) >= u64::from(hit_max)
        {
            self.err(
                "knock_hit_max_seconds",
                hit_max.to_string(),
                format!(
                    "too short for {hitcount} hits at least {hit_min}s apart: must exceed (knock_hitcount - 1) x knock_hit_min_seconds = {}",
                    (hitcount - 1) * hit_min
                ),
            );
        }
    }
}

/// n!, saturating (only shown in a warning).
fn factorial(n: usize) -> u64 {
    (1..=n as u64).fold(1u64, |acc, k| acc.saturating_mul(k))
}

fn dedup(ports: &mut Vec<KnockPort>) {
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

/// A knock setting's boolean: `crate::vars::as_bool`'s rule, except that `null` is not a value.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        v => crate::vars::as_bool(v),
    }
}

/// A non-negative whole number from a number or a numeric string.
fn parse_uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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

/// Split an INI-style list string: `7000,8000:udp`, `[7000, "8000:udp"]` or `a b c`.
pub fn split_list_string(s: &str) -> Vec<Value> {
    let t = s.trim();
    if t.starts_with('[') {
        if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(t) {
            return a;
        }
    }
    let t = t.trim_start_matches('[').trim_end_matches(']');
    t.split(|c: char| c == ',' || c.is_whitespace())
        .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_string()))
        .collect()
}

/// One port spec: `7000`, `"7000"`, `"7000:udp"`, `"7000:tcp"` or `{port: 7000, proto: udp}`.
pub fn parse_port(v: &Value) -> Result<KnockPort, String> {
    const RANGE: &str = "not a port: expected 1-65535, optionally followed by :tcp or :udp";
    let (num, proto) = match v {
        Value::Number(n) => (n.as_u64(), Proto::Tcp),
        Value::String(s) => {
            let s = s.trim();
            let (p, proto) = match s.split_once(':') {
                None => (s, Proto::Tcp),
                Some((p, pr)) => match pr.trim().to_ascii_lowercase().as_str() {
                    "tcp" => (p, Proto::Tcp),
                    "udp" => (p, Proto::Udp),
                    _ => return Err("unknown protocol: expected :tcp or :udp".into()),
                },
            };
            (p.trim().parse::<u64>().ok(), proto)
        }
        Value::Object(o) => {
            let proto = match o.get("proto").and_then(Value::as_str) {
                None => Proto::Tcp,
                Some(p) if p.eq_ignore_ascii_case("tcp") => Proto::Tcp,
                Some(p) if p.eq_ignore_ascii_case("udp") => Proto::Udp,
                Some(_) => return Err("unknown protocol: expected tcp or udp".into()),
            };
            (o.get("port").and_then(parse_uint), proto)
        }
        _ => (None, Proto::Tcp),
    };
    match num {
        Some(n) if (1..=65535).contains(&n) => Ok(KnockPort {
            port: n as u16,
            proto,
        }),
        _ => Err(RANGE.into()),
    }
}

/// `addr/len` or a bare address (a single host).
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
    };
    Some((addr, len))
}

/// Whether CIDRs of one family (as `cidrs` normalizes them) together cover the whole address
/// space, like `0.0.0.0/1` with `128.0.0.0/1`.
fn covers_everything(cidrs: &[String]) -> bool {
    let mut ranges: Vec<(u128, u128)> = cidrs
        .iter()
        .filter_map(|c| parse_cidr(c))
        .map(|(net, len)| {
            let (bits, n) = match net {
                IpAddr::V4(a) => (32u32, u128::from(u32::from(a))),
                IpAddr::V6(a) => (128u32, u128::from(a)),
            };
            let host_bits = bits - u32::from(len);
            let size = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let start = if host_bits >= 128 { 0 } else { n & !size };
            (start, start.saturating_add(size))
        })
        .collect();
    let Some(top) = cidrs
        .first()
        .and_then(|c| parse_cidr(c))
        .map(|(a, _)| match a {
            IpAddr::V4(_) => u128::from(u32::MAX),
            IpAddr::V6(_) => u128::MAX,
        })
    else {
        return false;
    };
    ranges.sort();
    let mut next = 0u128; // first address not yet covered
    for (start, end) in ranges {
        if start > next {
            return false;
        }
        if end >= top {
            return true;
        }
        next = next.max(end + 1);
    }
    false
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = parse_cidr(cidr) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Linux interface names: at most 15 bytes, and they go into knockd's command line.
fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> NetFacts {
        NetFacts {
            default_interface: Some("eth0".into()),
            has_ipv6: true,
            controller_ip: None,
            forwarded_ports: Vec::new(),
        }
    }

    #[test]
    fn forwarded_protected_ports_are_gated_and_refused_in_single_port_mode() {
        let tcp = |port| KnockPort {
            port,
            proto: Proto::Tcp,
        };
        let mut f = facts();
        f.forwarded_ports = vec![tcp(8080), tcp(443)];
        let seq =
            json!({"knock_sequence": [7000, 8000, 7000], "knock_protected_ports": [22, 8080]});
        let p = KnockProfile::from_vars("web1", &vars(seq.clone()), &f).unwrap();
        assert_eq!(p.forwarded_ports, vec![tcp(8080)]);
        let p = KnockProfile::from_vars("web1", &vars(seq), &facts()).unwrap();
        assert!(p.forwarded_ports.is_empty());
        let all = json!({"knock_sequence": [7000, 8000, 7000], "knock_protect_forwarded": "yes"});
        let p = KnockProfile::from_vars("web1", &vars(all), &facts()).unwrap();
        assert_eq!(p.forwarded_ports, vec![tcp(22)]);
        let single = json!({"knock_mode": "single_port", "knock_protected_ports": [8080]});
        let e = errs_with(single, &f);
        one(&e, "knock_protected_ports", "8080/tcp");
    }

    fn vars(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("vars must be an object"),
        }
    }

    fn ok(v: Value) -> KnockProfile {
        KnockProfile::from_vars("web1", &vars(v), &facts()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errs(v: Value) -> Vec<KnockVarError> {
        errs_with(v, &facts())
    }

    fn errs_with(v: Value, f: &NetFacts) -> Vec<KnockVarError> {
        match KnockProfile::from_vars("web1", &vars(v), f) {
            Ok(p) => panic!("expected errors, got {}", p.masked()),
            Err(e) => {
                assert_eq!(e.host, "web1");
                e.errors
            }
        }
    }

    /// The one error about `variable`, checking that its message names host, variable, value.
    fn one<'a>(errors: &'a [KnockVarError], variable: &str, value: &str) -> &'a KnockVarError {
        let found: Vec<_> = errors.iter().filter(|e| e.variable == variable).collect();
        assert_eq!(found.len(), 1, "errors about {variable}: {errors:#?}");
        let e = found[0];
        assert_eq!(e.value, value, "{e}");
        let msg = e.to_string();
        for part in ["web1", variable, value] {
            assert!(msg.contains(part), "message {msg:?} lacks {part:?}");
        }
        e
    }

    /// Issue 11 item 10: an allow-list that lets everyone in defeats knocking.
    #[test]
    fn allow_sources_that_cover_everything_are_refused() {
        for all in [
            json!(["0.0.0.0/0"]),
            json!(["::/0"]),
            json!(["0::0/0"]),
            json!(["10.1.2.3/0"]),
            json!(" 0.0.0.0/0 , 10.0.0.0/8"),
            json!(["0.0.0.0/1", "128.0.0.0/1"]),
            json!(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]),
            json!(["::/1", "8000::/1"]),
        ] {
            let e = KnockProfile::from_vars(
                "web1",
                &vars(json!({"knock_sequence": [7000, 7001, 7002], "knock_allow_sources": all})),
                &facts(),
            )
            .expect_err(&all.to_string())
            .to_string();
            assert!(e.contains("knock_allow_sources"), "{e}");
            assert!(e.contains("anyone without knocking"), "{e}");
        }
        for fine in [
            json!(["0.0.0.0/1"]),
            json!(["198.19.0.0/16", "fd5e::/16"]),
            json!(["0.0.0.0/1", "128.0.0.0/2"]),
            json!(["0.0.0.0/1", "::/1"]),
        ] {
            KnockProfile::from_vars(
                "web1",
                &vars(json!({"knock_sequence": [7000, 7001, 7002], "knock_allow_sources": fine})),
                &facts(),
            )
            .unwrap_or_else(|e| panic!("{fine}: {e}"));
        }
    }

    /// Issue 11 item 3: a host name with a line break would start a line of its own in the
    /// knockd.conf comment it is written into.
    #[test]
    fn host_names_with_control_characters_are_refused_escaped() {
        let e = KnockProfile::from_vars(
            "web1\n\tstart_command = /bin/sh",
            &vars(json!({"knock_sequence": [7000, 7001, 7002]})),
            &facts(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inventory_hostname"), "{e}");
        assert!(e.contains(r#""web1\n\tstart_command = /bin/sh""#), "{e}");
        assert!(!e.lines().any(|l| l.starts_with('\t')), "{e}");
    }

    #[test]
    fn defaults_fill_everything_but_the_sequence() {
        let p = ok(json!({"knock_sequence": [7000, "8000:udp", "9000:tcp"]}));
        assert_eq!(p.mode, KnockMode::Knockd);
        assert_eq!(p.iptables_style, IptablesStyle::Gates);
        assert_eq!(
            p.sequence,
            vec![
                KnockPort {
                    port: 7000,
                    proto: Proto::Tcp
                },
                KnockPort {
                    port: 8000,
                    proto: Proto::Udp
                },
                KnockPort {
                    port: 9000,
                    proto: Proto::Tcp
                },
            ]
        );
        assert_eq!(
            p.protected_ports,
            vec![KnockPort {
                port: 22,
                proto: Proto::Tcp
            }]
        );
        assert!(p.public_ports.is_empty() && p.close_sequence.is_empty());
        assert_eq!((p.step_seconds, p.open_seconds), (10, 30));
        assert_eq!(
            (p.hitcount, p.hit_min_seconds, p.hit_max_seconds),
            (2, 3, 5)
        );
        assert_eq!(p.interface.as_deref(), Some("eth0"));
        assert!(p.ipv6 && p.drop_unlisted && !p.replace_ufw);
        assert_eq!(p.rollback_seconds, 60);
        assert_eq!(p.id.len(), 8);
        // Three different ports under knockd: the scan-order warning, nothing else.
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].message.contains("1/6"), "{}", p.warnings[0]);
    }

    #[test]
    fn scan_order_warning_only_where_a_scan_is_seen_as_knocks() {
        let scan = |p: &KnockProfile| p.warnings.iter().any(|w| w.message.contains("port scan"));
        assert!(!scan(&ok(
            json!({"knock_sequence": [7000, 8000, 7000, 9000]})
        )));
        assert!(scan(&ok(
            json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000],
                                "knock_drop_unlisted": false})
        )));
        // Every other port resets the gates when unlisted ports are dropped too.
        assert!(!scan(&ok(
            json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000]})
        )));
    }

    #[test]
    fn missing_sequence_is_an_error_never_a_default() {
        let e = errs(json!({}));
        let e = one(&e, "knock_sequence", "(unset)");
        assert!(e.problem.contains("required"), "{e}");
        // null (`knock_sequence:` with no value) is the same as unset.
        let e = errs(json!({"knock_sequence": null}));
        one(&e, "knock_sequence", "(unset)");
    }

    #[test]
    fn ini_strings_booleans_and_numbers() {
        let p = ok(json!({
            "knock_mode": "iptables",
            "knock_sequence": "7000, 8000:udp,9000",
            "knock_drop_unlisted": "NO", "knock_ipv6": "On", "knock_replace_ufw": "yes",
            "knock_step_seconds": "5", "knock_open_seconds": " 20 ",
            "knock_public_ports": "80,443", "knock_allow_sources": "198.51.100.0/24, 2001:db8::1",
            "ansible_port": "2222",
        }));
        assert_eq!(p.sequence.len(), 3);
        assert_eq!(
            p.sequence[1],
            KnockPort {
                port: 8000,
                proto: Proto::Udp
            }
        );
        assert!(!p.drop_unlisted && p.ipv6 && p.replace_ufw);
        assert_eq!((p.step_seconds, p.open_seconds), (5, 20));
        assert_eq!(p.public_ports.len(), 2);
        assert_eq!(p.allow_sources_v4, vec!["198.51.100.0/24"]);
        assert_eq!(p.allow_sources_v6, vec!["2001:db8::1/128"]);
        assert_eq!(
            p.protected_ports,
            vec![
                KnockPort {
                    port: 22,
                    proto: Proto::Tcp
                },
                KnockPort {
                    port: 2222,
                    proto: Proto::Tcp
                }
            ]
        );
        // A bracketed list string, as some INI inventories carry it.
        let p = ok(json!({"knock_sequence": "[7000, \"8000:udp\", 9000]"}));
        assert_eq!(p.sequence[1].proto, Proto::Udp);
        for (text, want) in [("TRUE", true), ("off", false), ("y", true), ("0", false)] {
            let p = ok(json!({"knock_sequence": [1, 2, 3], "knock_ipv6": text}));
            assert_eq!(p.ipv6, want, "{text}");
        }
    }

    #[test]
    fn bad_boolean_and_number() {
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_ipv6": "maybe",
                            "knock_open_seconds": "soon", "knock_step_seconds": -1}));
        one(&e, "knock_ipv6", "\"maybe\"");
        one(&e, "knock_open_seconds", "\"soon\"");
        one(&e, "knock_step_seconds", "-1");
    }

    #[test]
    fn ansible_port_is_protected_unless_public() {
        let p = ok(json!({"knock_sequence": [1, 2, 3], "ansible_port": 22}));
        assert_eq!(p.protected_ports.len(), 1);
        let p = ok(
            json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": [2200],
                          "ansible_port": 2222}),
        );
        assert_eq!(
            p.protected_ports.iter().map(|p| p.port).collect::<Vec<_>>(),
            [2200, 2222]
        );
        let p = ok(
            json!({"knock_sequence": [1, 2, 3], "knock_public_ports": [2222],
                          "ansible_port": 2222}),
        );
        assert_eq!(
            p.protected_ports.iter().map(|p| p.port).collect::<Vec<_>>(),
            [22]
        );
        let e = errs(json!({"knock_sequence": [1, 2, 3], "ansible_port": "ssh"}));
        one(&e, "ansible_port", "\"ssh\"");
    }

    #[test]
    fn ports_out_of_range_or_malformed() {
        let e = errs(json!({"knock_sequence": [0, 70000, "8000:sctp", "x", 9000]}));
        one(&e, "knock_sequence[0]", "0");
        one(&e, "knock_sequence[1]", "70000");
        let sctp = one(&e, "knock_sequence[2]", "\"8000:sctp\"");
        assert!(sctp.problem.contains("protocol"), "{sctp}");
        one(&e, "knock_sequence[3]", "\"x\"");
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_public_ports": [65536]}));
        one(&e, "knock_public_ports[0]", "65536");
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": ["22:icmp"]}));
        one(&e, "knock_protected_ports[0]", "\"22:icmp\"");
        let e = errs(json!({"knock_sequence": true}));
        one(&e, "knock_sequence", "***");
    }

    #[test]
    fn sequence_too_short() {
        let e = errs(json!({"knock_sequence": [7000]}));
        one(&e, "knock_sequence", "1 port");
        let e = errs(json!({"knock_sequence": []}));
        one(&e, "knock_sequence", "0 ports");
    }

    #[test]
    fn short_sequence_warns() {
        let p = ok(json!({"knock_sequence": [7000, 8000]}));
        assert!(
            p.warnings.iter().any(|w| w.variable == "knock_sequence"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn same_port_twice_in_a_row() {
        let e = errs(json!({"knock_sequence": [7000, 7000, 8000]}));
        let e = one(&e, "knock_sequence[1]", "7000/tcp");
        assert!(e.problem.contains("twice in a row"), "{e}");
        // Not in a row is fine, and the same port with another protocol is another knock.
        ok(json!({"knock_sequence": [7000, 8000, 7000]}));
        ok(json!({"knock_sequence": [7000, "7000:udp", 8000]}));
    }

    #[test]
    fn knock_ports_must_not_be_protected_or_public() {
        let e = errs(json!({"knock_sequence": [7000, 22, 8000], "knock_public_ports": [8000]}));
        let p = one(&e, "knock_sequence[1]", "22/tcp");
        assert!(p.problem.contains("protected"), "{p}");
        let q = one(&e, "knock_sequence[2]", "8000/tcp");
        assert!(q.problem.contains("public"), "{q}");
        let e = errs(json!({"knock_sequence": [7000, 8000], "ansible_port": 8000}));
        one(&e, "knock_sequence[1]", "8000/tcp");
    }

    #[test]
    fn protected_and_public_overlap() {
        let e = errs(
            json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": [22, 80],
                            "knock_public_ports": [80]}),
        );
        one(&e, "knock_public_ports", "80/tcp");
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_protected_ports": []}));
        one(&e, "knock_protected_ports", "[]");
    }

    #[test]
    fn close_sequence_rules() {
        let p = ok(json!({"knock_sequence": [7000, 8000, 9000],
                          "knock_close_sequence": [9000, 8000, 7000]}));
        assert_eq!(p.close_sequence.len(), 3);
        assert_eq!(p.knock_ports.len(), 3);
        let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                            "knock_close_sequence": [7000, 8000, 9000]}));
        let same = one(&e, "knock_close_sequence", "***");
        assert!(same.problem.contains("same as knock_sequence"), "{same}");
        let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                            "knock_close_sequence": [7000, 9000, 8000]}));
        one(&e, "knock_close_sequence[0]", "7000/tcp");
        let e = errs(json!({"knock_sequence": [7000, 8000, 9000],
                            "knock_close_sequence": [6000, 22]}));
        one(&e, "knock_close_sequence[1]", "22/tcp");
        let e = errs(json!({"knock_sequence": [7000, 8000, 9000], "knock_close_sequence": [6000]}));
        one(&e, "knock_close_sequence", "1 port");
        // Outside knockd mode it is ignored, with a warning.
        let p = ok(
            json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000],
                          "knock_close_sequence": [7000, 8000, 9000]}),
        );
        assert!(p.close_sequence.is_empty());
        assert!(p
            .warnings
            .iter()
            .any(|w| w.variable == "knock_close_sequence"));
    }

    #[test]
    fn timeouts() {
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 0,
                            "knock_open_seconds": 0}));
        one(&e, "knock_step_seconds", "0");
        one(&e, "knock_open_seconds", "0");
        let e = errs(
            json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 40,
                            "knock_open_seconds": 30}),
        );
        let s = one(&e, "knock_step_seconds", "40");
        assert!(s.problem.contains("knock_open_seconds"), "{s}");
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_open_seconds": 3601}));
        one(&e, "knock_open_seconds", "3601");
        ok(
            json!({"knock_sequence": [1, 2, 3], "knock_step_seconds": 3600,
                  "knock_open_seconds": 3600}),
        );
    }

    #[test]
    fn rollback_range() {
        for bad in [9, 3601] {
            let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_rollback_seconds": bad}));
            one(&e, "knock_rollback_seconds", &bad.to_string());
        }
        for good in [10, 3600] {
            ok(json!({"knock_sequence": [1, 2, 3], "knock_rollback_seconds": good}));
        }
    }

    #[test]
    fn single_port_needs_no_sequence_and_checks_hits() {
        let p = ok(json!({"knock_mode": "single_port"}));
        assert!(p.sequence.is_empty());
        assert_eq!(p.prior_hits, 1);
        assert_eq!(p.names.single_port[0].chain, "SESAME-SP22");
        let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 1}));
        one(&e, "knock_hitcount", "1");
        let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 256,
                            "knock_hit_max_seconds": 3600}));
        one(&e, "knock_hitcount", "256");
        ok(json!({"knock_mode": "single_port", "knock_hitcount": 255,
                  "knock_hit_min_seconds": 2, "knock_hit_max_seconds": 600}));
        let e = errs(
            json!({"knock_mode": "single_port", "knock_hit_min_seconds": 5,
                            "knock_hit_max_seconds": 5}),
        );
        one(&e, "knock_hit_min_seconds", "5");
        for short in [0, 1] {
            let e = errs(json!({"knock_mode": "single_port", "knock_hit_min_seconds": short}));
            one(&e, "knock_hit_min_seconds", &short.to_string());
        }
        // 3 hits at least 3 s apart cannot fit in 6 s.
        let e = errs(json!({"knock_mode": "single_port", "knock_hitcount": 3,
                            "knock_hit_min_seconds": 3, "knock_hit_max_seconds": 6}));
        one(&e, "knock_hit_max_seconds", "6");
        let e = errs(json!({"knock_mode": "single_port", "knock_hit_max_seconds": 3601}));
        one(&e, "knock_hit_max_seconds", "3601");
    }

    #[test]
    fn hit_settings_are_not_checked_where_unused_but_warned() {
        let p = ok(json!({"knock_sequence": [1, 2, 3], "knock_hitcount": 1}));
        assert!(p.warnings.iter().any(|w| w.variable == "knock_hitcount"));
    }

    #[test]
    fn cidrs() {
        let p = ok(json!({"knock_sequence": [1, 2, 3],
            "knock_allow_sources": ["198.51.100.0/24", "2001:db8::/32", "203.0.113.9", "::1"]}));
        assert_eq!(
            p.allow_sources_v4,
            vec!["198.51.100.0/24", "203.0.113.9/32"]
        );
        assert_eq!(p.allow_sources_v6, vec!["2001:db8::/32", "::1/128"]);
        let e = errs(json!({"knock_sequence": [1, 2, 3],
            "knock_allow_sources": ["198.51.100.0/33", "2001:db8::/129", "example.org", 7]}));
        one(&e, "knock_allow_sources[0]", "\"198.51.100.0/33\"");
        one(&e, "knock_allow_sources[1]", "\"2001:db8::/129\"");
        one(&e, "knock_allow_sources[2]", "\"example.org\"");
        one(&e, "knock_allow_sources[3]", "7");
    }

    #[test]
    fn unknown_mode_and_style() {
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_mode": "spa"}));
        one(&e, "knock_mode", "\"spa\"");
        let e = errs(
            json!({"knock_sequence": [1, 2, 3], "knock_mode": "iptables",
                            "knock_iptables_style": "fancy"}),
        );
        one(&e, "knock_iptables_style", "\"fancy\"");
    }

    #[test]
    fn interface_from_facts_or_error_in_knockd_mode() {
        let none = NetFacts::default();
        let e = errs_with(json!({"knock_sequence": [1, 2, 3]}), &none);
        one(&e, "knock_interface", "(unset)");
        let p = KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [1, 2, 3], "knock_interface": "ens18"})),
            &none,
        )
        .unwrap();
        assert_eq!(p.interface.as_deref(), Some("ens18"));
        // The iptables modes do not need one.
        KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_mode": "iptables", "knock_sequence": [1, 2, 3]})),
            &none,
        )
        .unwrap();
        let e = errs(json!({"knock_sequence": [1, 2, 3], "knock_interface": "eth0; reboot"}));
        one(&e, "knock_interface", "\"eth0; reboot\"");
    }

    #[test]
    fn ipv6_defaults_from_facts() {
        let v4 = NetFacts {
            has_ipv6: false,
            ..facts()
        };
        let p = KnockProfile::from_vars("web1", &vars(json!({"knock_sequence": [1, 2, 3]})), &v4)
            .unwrap();
        assert!(!p.ipv6);
    }

    #[test]
    fn all_errors_are_collected_at_once() {
        let e = KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [0, 5], "knock_ipv6": "perhaps",
                         "knock_rollback_seconds": 1, "knock_allow_sources": ["nope"]})),
            &facts(),
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 4, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("host web1: 4 invalid port-knocking variables"),
            "{text}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_masked_and_errors() {
        let p = ok(json!({"knock_sequence": [7111, 8222, 9333],
                          "knock_close_sequence": [9444, 8555, 7666]}));
        for text in [format!("{p:?}"), p.masked()] {
            for port in ["7111", "8222", "9333", "9444", "8555", "7666"] {
                assert!(!text.contains(port), "{port} leaked in {text}");
            }
            assert!(text.contains("***"), "{text}");
        }
        // The id does not depend on the sequence.
        let q = ok(json!({"knock_sequence": [1111, 2222, 3333],
                          "knock_close_sequence": [4444, 5555, 6666]}));
        assert_eq!(p.id, q.id);
        // An error about one bad item does not echo the rest of the sequence.
        let e = KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [7111, 0, 9333]})),
            &facts(),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("7111") && !e.contains("9333"), "{e}");
    }

    #[test]
    fn serialized_context_has_normalized_ports_and_names() {
        let p = ok(
            json!({"knock_mode": "iptables", "knock_sequence": [7000, "8000:udp"],
                          "knock_allow_sources": ["2001:db8::/32"]}),
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["sequence"][1], json!({"port": 8000, "proto": "udp"}));
        assert_eq!(v["mode"], "iptables");
        assert_eq!(v["names"]["steps"][1]["chain"], "SESAME-GATE2");
        assert_eq!(v["names"]["steps"][1]["prev_list"], "SESAME_AUTH1");
        assert_eq!(v["allow_sources_v6"], json!(["2001:db8::/32"]));
        assert!(v.get("warnings").is_none());
    }

    #[test]
    fn controller_in_allow_sources_warns() {
        let f = NetFacts {
            controller_ip: Some("198.51.100.7".parse().unwrap()),
            ..facts()
        };
        let p = KnockProfile::from_vars(
            "web1",
            &vars(json!({"knock_sequence": [1, 2, 3], "knock_allow_sources": ["198.51.100.0/24"]})),
            &f,
        )
        .unwrap();
        assert!(p
            .warnings
            .iter()
            .any(|w| w.variable == "knock_allow_sources"));
    }

    #[test]
    fn xt_recent_modes_warn_about_the_list_size() {
        let p = ok(json!({"knock_mode": "iptables", "knock_sequence": [1, 2, 3]}));
        assert!(p
            .warnings
            .iter()
            .any(|w| w.message.contains("100 addresses")));
        let p = ok(json!({"knock_sequence": [1, 2, 3]}));
        assert!(!p
            .warnings
            .iter()
            .any(|w| w.message.contains("100 addresses")));
    }

    #[test]
    fn nftables_backend_refuses_what_it_does_not_do_by_name() {
        let p = ok(json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000]}));
        assert_eq!(p.backend, Backend::Nftables);
        assert_eq!(p.nft_set_size, 65535);
        assert!(p.masked().contains("backend=nftables"), "{}", p.masked());
        // No xt_recent there, so no 100-address warning.
        let p = ok(
            json!({"knock_backend": "nftables", "knock_mode": "iptables",
                          "knock_sequence": [7000, 8000, 9000], "knock_nft_set_size": "1000"}),
        );
        assert_eq!(p.nft_set_size, 1000);
        assert!(!p
            .warnings
            .iter()
            .any(|w| w.message.contains("100 addresses")));
        let p = ok(json!({"knock_backend": "nftables", "knock_mode": "single_port"}));
        assert!(!p
            .warnings
            .iter()
            .any(|w| w.message.contains("100 addresses")));
        let e = errs(
            json!({"knock_backend": "nftables", "knock_mode": "iptables",
                            "knock_iptables_style": "compact", "knock_sequence": [7000, 8000, 9000]}),
        );
        one(&e, "knock_iptables_style", "\"compact\"");
        let e = errs(
            json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000],
                            "knock_nft_set_size": 3}),
        );
        one(&e, "knock_nft_set_size", "3");
        let e = errs(json!({"knock_backend": "nft", "knock_sequence": [7000, 8000, 9000]}));
        one(&e, "knock_backend", "\"nft\"");
        let e = errs(
            json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000],
                            "knock_protect_forwarded": true}),
        );
        assert!(one(&e, "knock_protect_forwarded", "22/tcp")
            .problem
            .contains("knock_backend"));
        let e = errs(
            json!({"knock_backend": "nftables", "knock_sequence": [7000, 8000, 9000],
                            "knock_doors": [{"name": "bob", "sequence": [7100, 8100, 9100]}]}),
        );
        one(&e, "knock_doors", "(set)");
        // The default stays iptables, and its ids do not move.
        let p = ok(json!({"knock_sequence": [7000, 8000, 9000]}));
        assert_eq!(p.backend, Backend::Iptables);
    }
}
