//! Which hosts a run works on and what each needs before anything connects: its variables
//! (magic variables, `-e`, vault values decrypted), its connection and knock (`HostConn`),
//! its jump host's knock. Resolved once, on the main thread; one host's bad settings are that
//! host's error and never stop the others.

use super::host::HostConn;
use super::jump::JumpKnocks;
use crate::inventory::Inventory;
use crate::knock::{self, KnockMode, KnockProfile, NetFacts, Which};
use crate::transport::spec::{ConnOverrides, ConnSpec};
use crate::vars::Vars;
use serde_json::{json, Value};
use std::net::IpAddr;

/// Hosts of `pattern`, narrowed by `--limit`.
pub fn select(inv: &Inventory, pattern: &str, limit: Option<&str>) -> crate::Result<Vec<String>> {
    let hosts = inv
        .select(pattern)
        .map_err(|e| crate::Error::Usage(e.to_string()))?;
    match limit {
        None => Ok(hosts),
        Some(l) => {
            let keep = inv
                .select(l)
                .map_err(|e| crate::Error::Usage(e.to_string()))?;
            Ok(hosts.into_iter().filter(|h| keep.contains(h)).collect())
        }
    }
}

/// A host's variables plus Ansible's magic variables and the `-e` extra vars (which win),
/// `!vault` values decrypted (after `-e`, so a value given there needs no vault password).
pub fn host_vars(inv: &Inventory, host: &str, extra: &Vars) -> crate::Result<Vars> {
    let mut v = inv.host_vars(host);
    crate::vars::merge_into(&mut v, extra);
    v.insert("inventory_hostname".into(), json!(host));
    v.insert(
        "inventory_hostname_short".into(),
        json!(host.split('.').next().unwrap_or(host)),
    );
    v.insert("group_names".into(), json!(inv.group_names(host)));
    crate::vault::decrypt_vars(&mut v).map_err(|(variable, source)| crate::Error::VaultVar {
        host: host.to_string(),
        variable,
        source,
    })?;
    Ok(v)
}

/// The knock profile sesame knocks with before connecting (none when the host has no
/// `knock_sequence` or its settings are invalid: then it connects without knocking and the
/// play's validation reports the problem).
pub fn preconnect_profile(host: &str, vars: &Vars) -> Option<KnockProfile> {
    let single = vars.get("knock_mode").and_then(|m| m.as_str()) == Some("single_port");
    if !single && vars.get("knock_doors").is_none_or(|d| d.is_null()) {
        vars.get("knock_sequence")?;
    }
    let facts = NetFacts {
        default_interface: Some("unknown0".into()),
        has_ipv6: false,
        controller_ip: None,
        forwarded_ports: Vec::new(),
    };
    knock::doors::profile_from_vars(host, vars, &facts).ok()
}

/// One host, ready to connect to: its variables and `HostConn` (connection settings, knock
/// profile, earlier knocks, the jump host's knock).
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub vars: Vars,
    pub conn: HostConn,
}

/// Why a host cannot be connected to; its message is the cause's, as before the move.
#[derive(Debug)]
pub enum TargetError {
    /// Its variables do not load (a `!vault` value that does not decrypt).
    Vars(crate::Error),
    /// Its variables load but give no connection (`ansible_port` not a number, ...).
    Conn {
        vars: Box<Vars>,
        error: crate::Error,
    },
}

impl TargetError {
    /// The host's variables, when they loaded.
    pub fn vars(&self) -> Option<&Vars> {
        match self {
            TargetError::Vars(_) => None,
            TargetError::Conn { vars, .. } => Some(vars),
        }
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::Vars(e) | TargetError::Conn { error: e, .. } => e.fmt(f),
        }
    }
}

/// One result per host, in the order the hosts were given.
pub type Resolved = Vec<(String, Result<Target, TargetError>)>;

/// Resolves hosts into `Target`s, remembering the jump hosts it has worked out (a fleet behind
/// one bastion resolves it once). Kept across the plays of a run.
pub struct Resolver<'a> {
    inv: &'a Inventory,
    extra: &'a Vars,
    overrides: &'a ConnOverrides,
    jumps: JumpKnocks<'a>,
}

impl<'a> Resolver<'a> {
    pub fn new(inv: &'a Inventory, extra: &'a Vars, overrides: &'a ConnOverrides) -> Self {
        Resolver {
            inv,
            extra,
            overrides,
            jumps: JumpKnocks::new(inv, extra, overrides),
        }
    }

    /// One host: its variables, then its connection and its jump host's knock.
    pub fn resolve(&mut self, host: &str) -> Result<Target, TargetError> {
        let vars = host_vars(self.inv, host, self.extra).map_err(TargetError::Vars)?;
        match HostConn::from_vars(host, &vars, self.overrides) {
            Ok(mut conn) => {
                conn.jump_knock = self.jumps.for_spec(&conn.spec);
                Ok(Target {
                    host: host.to_string(),
                    vars,
                    conn,
                })
            }
            Err(error) => Err(TargetError::Conn {
                vars: Box::new(vars),
                error,
            }),
        }
    }

    /// Every host of `hosts`, in order, each with its own result.
    pub fn resolve_all(&mut self, hosts: &[String]) -> Resolved {
        hosts.iter().map(|h| (h.clone(), self.resolve(h))).collect()
    }

    /// One warning per jump host whose knock could not be worked out since the last call.
    pub fn warn_unresolved(&mut self, events: &crate::runner::EventSender) {
        self.jumps.warn_unresolved(events);
    }
}

/// Every host of `hosts` resolved, one result per host (in order), and the warnings about
/// jump hosts whose knock could not be worked out, sent to `events`.
pub fn resolve_targets(
    inv: &Inventory,
    hosts: &[String],
    extra: &Vars,
    overrides: &ConnOverrides,
    events: &crate::runner::EventSender,
) -> Resolved {
    let mut r = Resolver::new(inv, extra, overrides);
    let out = r.resolve_all(hosts);
    r.warn_unresolved(events);
    out
}

/// The inventory host `name` means: an inventory name, or the one host whose `ansible_host`
/// it is (OpenSSH's `%h`, a `ProxyJump` hop). `Ok(None)`: neither.
pub fn inventory_host_at(inv: &Inventory, name: &str) -> Result<Option<String>, String> {
    if inv.has_host(name) {
        return Ok(Some(name.to_string()));
    }
    let mut found: Vec<String> = inv
        .host_names()
        .into_iter()
        .filter(|h| inv.host_vars(h).get("ansible_host").and_then(Value::as_str) == Some(name))
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(format!(
            "`{name}` is the ansible_host of several hosts: {}",
            found.join(", ")
        )),
    }
}

/// One host for `sesame knock` and `sesame ssh`: where to knock and with what.
pub struct KnockTarget {
    pub host: String,
    pub spec: ConnSpec,
    pub addr: IpAddr,
    /// `None`: the host has no knock settings at all.
    pub profile: Option<KnockProfile>,
}

/// Whether a host's variables ask for knocking at all.
fn has_knock_settings(vars: &Vars) -> bool {
    ["knock_mode", "knock_sequence", "knock_doors"]
        .iter()
        .any(|k| vars.get(*k).is_some_and(|v| !v.is_null()))
}

/// Resolve `host`'s address and knock profile, connection settings as `overrides`
/// (ansible.cfg's) give them. Invalid knock settings are an error here: the user asked to knock.
pub fn knock_target(
    inv: &Inventory,
    host: &str,
    extra: &Vars,
    overrides: &ConnOverrides,
) -> crate::Result<KnockTarget> {
    let vars = host_vars(inv, host, extra)?;
    let spec = ConnSpec::from_vars(host, &vars, overrides)
        .map_err(|e| crate::Error::Usage(e.to_string()))?;
    let addr = crate::transport::spec::resolve_ip(&spec.address, spec.port).ok_or_else(|| {
        crate::Error::Usage(format!("cannot resolve host address `{}`", spec.address))
    })?;
    let profile = if has_knock_settings(&vars) {
        // The controller does not know the host's interfaces; the interface only matters to
        // knockd on the host, so any valid name does here.
        let facts = NetFacts {
            default_interface: Some("any".into()),
            has_ipv6: addr.is_ipv6(),
            controller_ip: None,
            forwarded_ports: Vec::new(),
        };
        Some(
            knock::doors::profile_from_vars(host, &vars, &facts)
                .map_err(|e| crate::Error::Usage(e.to_string()))?,
        )
    } else {
        None
    };
    Ok(KnockTarget {
        host: host.to_string(),
        spec,
        addr,
        profile,
    })
}

impl KnockTarget {
    /// Knock door `name` of the host's knock_doors instead of the door sesame uses.
    pub fn choose_door(&mut self, name: &str) -> crate::Result<()> {
        let host = self.host.clone();
        let Some(p) = self.profile.as_mut() else {
            return Err(crate::Error::Usage(format!(
                "host {host} has no knock settings"
            )));
        };
        let main = p
            .door
            .clone()
            .unwrap_or_else(|| knock::doors::MAIN_DOOR.into());
        if name == main {
            return Ok(());
        }
        let Some(d) = p.doors.iter().find(|d| d.name == name).cloned() else {
            let mut names = vec![main];
            names.extend(p.doors.iter().map(|d| d.name.clone()));
            return Err(crate::Error::Usage(format!(
                "host {host} has no door `{name}` (its doors: {})",
                names.join(", ")
            )));
        };
        p.sequence = d.sequence;
        p.close_sequence = d.close_sequence;
        Ok(())
    }

    /// Send the host's knock (`close`: its close sequence) from `source`, through
    /// `KnockProfile::send`. In single_port mode this returns when the connection is due.
    pub fn knock(&self, source: Option<IpAddr>, close: bool) -> crate::Result<()> {
        let Some(p) = &self.profile else {
            return Err(crate::Error::Usage(format!(
                "host {} has no knock_mode or knock_sequence: nothing to knock",
                self.host
            )));
        };
        if close && (p.mode != KnockMode::Knockd || p.close_sequence.is_empty()) {
            return Err(crate::Error::Usage(format!(
                "host {}: --close needs knock_mode knockd and a knock_close_sequence",
                self.host
            )));
        }
        if p.mode == KnockMode::SinglePort && p.protected_ports.is_empty() {
            return Err(crate::Error::Usage(format!(
                "host {}: no protected port",
                self.host
            )));
        }
        let which = if close { Which::Close } else { Which::Open };
        p.send(source, self.addr, which)
            .map_err(|e| crate::Error::Usage(format!("host {}: {e}", self.host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> (tempfile::TempDir, Inventory) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hosts");
        std::fs::write(&p, text).unwrap();
        let inv = Inventory::load(&[p]).unwrap();
        (d, inv)
    }

    /// `resolve_targets` over `hosts`, and the warnings it sent to the reporter.
    fn resolve(inv: &Inventory, hosts: &[&str]) -> (Resolved, Vec<String>) {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let (events, rx) = crate::runner::EventSender::channel();
        let out = resolve_targets(
            inv,
            &hosts,
            &Vars::new(),
            &ConnOverrides::default(),
            &events,
        );
        let warnings = rx
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                crate::runner::Event::Warning { msg, .. } => Some(msg),
                _ => None,
            })
            .collect();
        (out, warnings)
    }

    /// One host's bad settings are its own error, with the message it had before the move;
    /// the hosts after it still resolve, each with its knock.
    #[test]
    fn one_hosts_bad_vars_never_stop_the_others() {
        let (_d, inv) = inventory(
            "[all]\nbad ansible_host=198.19.250.1 ansible_port=notaport\n\
             good ansible_host=198.19.250.2 knock_sequence=[7000,8000,7000,9000]\n\
             plain ansible_host=198.19.250.3\n",
        );
        let (out, warnings) = resolve(&inv, &["bad", "good", "plain"]);
        let names: Vec<&str> = out.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["bad", "good", "plain"]);
        let err = out[0].1.as_ref().err().expect("bad fails");
        assert!(
            matches!(err, TargetError::Conn { .. }) && err.vars().is_some(),
            "{err}"
        );
        assert!(
            err.to_string().contains("ansible_port=\"notaport\""),
            "{err}"
        );
        let good = out[1].1.as_ref().expect("good resolves");
        assert_eq!(good.conn.spec.address, "198.19.250.2");
        let seq: Vec<u16> = good
            .conn
            .knock
            .as_ref()
            .unwrap()
            .sequence
            .iter()
            .map(|k| k.port)
            .collect();
        assert_eq!(seq, [7000, 8000, 7000, 9000]);
        assert_eq!(good.vars["inventory_hostname"], "good");
        let plain = out[2].1.as_ref().expect("plain resolves");
        assert!(plain.conn.knock.is_none() && plain.conn.jump_knock.is_none());
        assert!(
            warnings.is_empty(),
            "no jump host, no warning: {warnings:?}"
        );
    }

    /// A host behind an inventory bastion with a knock gets the bastion's knock; a bastion
    /// whose settings are broken is warned about through the events, once.
    #[test]
    fn jump_knock_is_resolved_and_a_broken_bastion_is_an_event() {
        let (_d, inv) = inventory(
            "[all]\nbastion ansible_host=198.19.250.9 knock_sequence=[7000,8000,7000]\n\
             web1 ansible_host=10.0.0.1 ansible_ssh_common_args=\"-o ProxyJump=bastion\"\n\
             broken ansible_host=198.19.250.8 ansible_port=x knock_sequence=[7100,7200,7100]\n\
             web2 ansible_host=10.0.0.2 ansible_ssh_common_args=\"-o ProxyJump=198.19.250.8\"\n\
             web3 ansible_host=10.0.0.3 ansible_ssh_common_args=\"-o ProxyJump=198.19.250.8\"\n",
        );
        let (out, warnings) = resolve(&inv, &["web1", "web2", "web3"]);
        let web1 = out[0].1.as_ref().ok().unwrap();
        let (p, ip) = web1.conn.jump_knock.as_ref().expect("bastion's knock");
        assert_eq!(ip.to_string(), "198.19.250.9");
        assert_eq!(p.sequence.len(), 3);
        assert!(out[1].1.as_ref().ok().unwrap().conn.jump_knock.is_none());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("jump host 198.19.250.8: cannot work out its knock (host broken"),
            "{warnings:?}"
        );
    }

    #[test]
    fn inventory_host_at_finds_a_name_or_one_address() {
        let (_d, inv) = inventory(
            "[all]\na ansible_host=198.19.250.1\nb ansible_host=198.19.250.2\nc ansible_host=198.19.250.2\n",
        );
        assert_eq!(inventory_host_at(&inv, "a").unwrap().as_deref(), Some("a"));
        assert_eq!(
            inventory_host_at(&inv, "198.19.250.1").unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(inventory_host_at(&inv, "198.19.250.7").unwrap(), None);
        let e = inventory_host_at(&inv, "198.19.250.2").unwrap_err();
        assert!(e.contains("several hosts: b, c"), "{e}");
    }
}
