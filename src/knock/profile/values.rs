//! Raw values: reading one `knock_*` variable as an inventory gives it (numbers, booleans and
//! lists as strings from INI files, `null` as unset) into a typed value, each problem recorded
//! in the `Collector` with the variable and the offending value (escaped, secrets masked).

use super::timing::Timing;
use super::{KnockPort, KnockVarError, KnockWarning, NetFacts, Proto};
use serde_json::{Map, Value};

/// A list of ports as read: `None` unset, `Some(None)` invalid (already reported item by item).
pub(super) type PortList = Option<Option<Vec<KnockPort>>>;

/// Every variable but the design ones (see `backend`), read once with its default.
pub(super) struct Raw {
    pub sequence: PortList,
    pub close: PortList,
    pub protected: PortList,
    pub public: Vec<KnockPort>,
    pub allow_v4: Vec<String>,
    pub allow_v6: Vec<String>,
    pub timing: Timing,
    pub ipv6: bool,
    pub replace_ufw: bool,
    pub drop_unlisted: bool,
    pub protect_forwarded: bool,
    pub interface: Option<String>,
}

/// A host name as errors show it: quoted and escaped when it holds control characters, so an
/// error about a hostile name cannot itself carry the line break or escape sequence.
pub(super) fn shown_host(host: &str) -> String {
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
pub(super) struct Collector<'a> {
    pub host: &'a str,
    pub vars: &'a Map<String, Value>,
    pub errors: Vec<KnockVarError>,
    pub warnings: Vec<KnockWarning>,
}

/// A value as it appears in an error: strings quoted, the rest as JSON.
pub(super) fn show(v: &Value) -> String {
    v.to_string()
}

impl Collector<'_> {
    /// The name is written into comments of knockd.conf and the rules files: a line break in
    /// it would start a line of its own there (a knockd command, an iptables rule).
    pub(super) fn check_host_name(&mut self) {
        if self.host.chars().any(char::is_control) {
            self.err(
                "inventory_hostname",
                format!("{:?}", self.host),
                "contains control characters: refused, it would break out of the comment lines it is written into",
            );
        }
    }

    /// Every variable of `Raw`, in the order their errors are reported.
    pub(super) fn raw(&mut self, facts: &NetFacts) -> Raw {
        let sequence = self.port_list("knock_sequence", true);
        let close = self.port_list("knock_close_sequence", true);
        let protected = self.port_list("knock_protected_ports", false);
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
        Raw {
            sequence,
            close,
            protected,
            public,
            allow_v4,
            allow_v6,
            timing: Timing {
                step,
                open,
                hitcount,
                hit_min,
                hit_max,
                rollback,
            },
            ipv6,
            replace_ufw,
            drop_unlisted,
            protect_forwarded,
            interface,
        }
    }

    pub(super) fn err(
        &mut self,
        variable: &str,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) {
        self.errors.push(KnockVarError {
            host: shown_host(self.host),
            variable: variable.to_string(),
            value: escape_controls(&value.into()),
            problem: problem.into(),
        });
    }

    pub(super) fn warn(&mut self, variable: &'static str, message: impl Into<String>) {
        self.warnings.push(KnockWarning {
            host: self.host.to_string(),
            variable,
            message: message.into(),
        });
    }

    /// The variable's value; an explicit `null` (`knock_x:` with nothing after it) counts as
    /// unset, as in Ansible's `default()` filter with its second argument.
    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name).filter(|v| !v.is_null())
    }

    pub(super) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An unsigned integer, from a number or a numeric string (INI inventories give strings).
    pub(super) fn uint(&mut self, name: &str, default: u32) -> u32 {
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

    pub(super) fn boolean(&mut self, name: &str, default: bool) -> bool {
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

    pub(super) fn string(&mut self, name: &str) -> Option<String> {
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
    pub(super) fn port_list(&mut self, name: &str, secret: bool) -> PortList {
        let v = self.get(name)?.clone();
        let Some(parsed) = parse_port_list(&v) else {
            let shown = if secret { "***".into() } else { show(&v) };
            self.err(
                name,
                shown,
                "expected a list of ports such as [7000, \"8000:udp\"]",
            );
            return Some(None);
        };
        let bad = !parsed.bad.is_empty();
        for (i, item, problem) in parsed.bad {
            self.err(&format!("{name}[{i}]"), show(&item), problem);
        }
        Some((!bad).then_some(parsed.ports))
    }
}

/// A port list read item by item: the good ports, and each bad item with its index and problem.
#[derive(Debug, Default)]
pub struct ParsedPorts {
    pub ports: Vec<KnockPort>,
    pub bad: Vec<(usize, Value, String)>,
}

/// A list of port specs as inventories give it: a YAML list, one number, or a list string (INI
/// inventories, vault strings). `None` for any other shape. Shared by the profile, the doors
/// and the past sequences of a rotation.
pub fn parse_port_list(v: &Value) -> Option<ParsedPorts> {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::Number(_) => vec![v.clone()],
        Value::String(s) => split_list_string(s),
        _ => return None,
    };
    let mut out = ParsedPorts::default();
    for (i, item) in items.into_iter().enumerate() {
        match parse_port(&item) {
            Ok(p) => out.ports.push(p),
            Err(problem) => out.bad.push((i, item, problem)),
        }
    }
    Some(out)
}

/// A knock setting's boolean: `crate::vars::as_bool`'s rule, except that `null` is not a value.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        v => crate::vars::as_bool(v),
    }
}

/// A non-negative whole number from a number or a numeric string.
pub(super) fn parse_uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
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
