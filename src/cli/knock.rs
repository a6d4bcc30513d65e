//! `sesame knock`: send a host's knock from this machine, or (`--proxy`) knock and then relay
//! the connection for OpenSSH's `ProxyCommand`. Reads the inventory; never prints to stdout in
//! proxy mode (stdout is the SSH stream there).

use super::common;
use crate::knock::{client, KnockMode, KnockProfile, NetFacts};
use crate::transport::spec::{ConnOverrides, ConnSpec};
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `sesame knock`.
///
/// Examples: `sesame knock web1 -i hosts.ini`, then `ssh web1` within the open window; or in
/// `~/.ssh/config`: `ProxyCommand sesame knock -i /path/hosts.ini --proxy %h %p`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inventory host (or pattern) to knock on. Not needed with --proxy.
    pub host: Option<String>,
    /// Inventory file or directory (repeatable), as ansible's -i.
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Extra variables (as `sesame play -e`): `k=v`, YAML/JSON or `@file` (repeatable; they
    /// win over the inventory). Secrets (a knock_sequence, a password) go in an `@file` or a
    /// vault, never inline: a command line is visible to every local user in /proc.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Send knock_close_sequence instead (knockd mode with a close sequence).
    #[arg(long)]
    pub close: bool,
    /// Knock, then relay stdin/stdout to HOST:PORT (HOST is an inventory name or its
    /// ansible_host address, as OpenSSH's %h gives it).
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"])]
    pub proxy: Option<Vec<String>>,
    /// Bind the knocks to this local address.
    #[arg(long = "source")]
    pub source: Option<IpAddr>,
    /// Knock this door of knock_doors (default: the door sesame uses, knock_door).
    #[arg(long = "door", value_name = "NAME")]
    pub door: Option<String>,
}

/// One host, ready to knock on.
pub struct KnockTarget {
    pub host: String,
    pub spec: ConnSpec,
    pub addr: IpAddr,
    /// `None`: the host has no knock settings at all.
    pub profile: Option<KnockProfile>,
}

/// Whether a host's variables ask for knocking at all.
fn has_knock_settings(vars: &Map<String, Value>) -> bool {
    ["knock_mode", "knock_sequence", "knock_doors"]
        .iter()
        .any(|k| vars.get(*k).is_some_and(|v| !v.is_null()))
}

/// Resolve `host`'s address and knock profile from the inventory, connection settings as
/// `overrides` (ansible.cfg's: `common::cfg_overrides`) give them.
pub fn target(
    inv: &crate::inventory::Inventory,
    host: &str,
    extra: &crate::vars::Vars,
    overrides: &ConnOverrides,
) -> crate::Result<KnockTarget> {
    let vars = common::host_vars(inv, host, extra)?;
    let spec = ConnSpec::from_vars(host, &vars, overrides)
        .map_err(|e| crate::Error::Usage(e.to_string()))?;
    let addr = resolve(&spec.address, spec.port)?;
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
            crate::knock::doors::profile_from_vars(host, &vars, &facts)
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

fn resolve(address: &str, port: u16) -> crate::Result<IpAddr> {
    crate::transport::spec::resolve_ip(address, port)
        .ok_or_else(|| crate::Error::Usage(format!("cannot resolve host address `{address}`")))
}

/// Send the host's knock so that the next connection to a protected port gets through. In
/// single_port mode this returns when that connection is due.
pub fn knock(t: &KnockTarget, source: Option<IpAddr>, close: bool) -> crate::Result<()> {
    let Some(p) = &t.profile else {
        return Err(crate::Error::Usage(format!(
            "host {} has no knock_mode or knock_sequence: nothing to knock",
            t.host
        )));
    };
    let fail = |e: crate::knock::KnockError| crate::Error::Usage(format!("host {}: {e}", t.host));
    if close {
        if p.mode != KnockMode::Knockd || p.close_sequence.is_empty() {
            return Err(crate::Error::Usage(format!(
                "host {}: --close needs knock_mode knockd and a knock_close_sequence",
                t.host
            )));
        }
        return client::send_from(source, t.addr, &p.close_sequence, KNOCK_GAP).map_err(fail);
    }
    match p.mode {
        KnockMode::SinglePort => {
            let port = *p.protected_ports.first().ok_or_else(|| {
                crate::Error::Usage(format!("host {}: no protected port", t.host))
            })?;
            let spacing =
                client::single_port_spacing(p.prior_hits, p.hit_min_seconds, p.hit_max_seconds);
            client::send_single_port(source, t.addr, port, p.prior_hits, spacing).map_err(fail)
        }
        KnockMode::Iptables => {
            client::send_from(source, t.addr, &p.sequence, KNOCK_GAP).map_err(fail)
        }
        KnockMode::Knockd => {
            client::send_from(source, t.addr, &p.sequence, KNOCK_GAP).map_err(fail)?;
            // knockd runs its door command in a child after the last knock; a SYN sent before
            // the rule is in would wait for a 1 s retransmission.
            std::thread::sleep(KNOCKD_SETTLE);
            Ok(())
        }
    }
}

/// Make `t` knock door `name` of its knock_doors instead of the door sesame uses.
fn choose_door(t: &mut KnockTarget, name: &str) -> crate::Result<()> {
    let host = t.host.clone();
    let Some(p) = t.profile.as_mut() else {
        return Err(crate::Error::Usage(format!(
            "host {host} has no knock settings"
        )));
    };
    let main = p
        .door
        .clone()
        .unwrap_or_else(|| crate::knock::doors::MAIN_DOOR.into());
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

/// Gap between knocks: keeps their order on the wire, far below any step timeout.
const KNOCK_GAP: Duration = Duration::from_millis(50);
const KNOCKD_SETTLE: Duration = Duration::from_millis(200);

/// The inventory host OpenSSH means by `%h`: an inventory name, or a host whose address is it.
fn proxy_host(inv: &crate::inventory::Inventory, h: &str) -> crate::Result<String> {
    if inv.has_host(h) {
        return Ok(h.to_string());
    }
    let mut found = Vec::new();
    for name in inv.host_names() {
        let vars = inv.host_vars(&name);
        if vars.get("ansible_host").and_then(Value::as_str) == Some(h) {
            found.push(name);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(crate::Error::Usage(format!(
            "--proxy: `{h}` is neither an inventory host nor any host's ansible_host"
        ))),
        _ => Err(crate::Error::Usage(format!(
            "--proxy: `{h}` is the ansible_host of several hosts: {}",
            found.join(", ")
        ))),
    }
}

/// Run `sesame knock`.
pub fn run(args: Args) -> crate::Result<u8> {
    let inv = common::load_inventory(&args.inventory)?;
    let extra = common::extra_vars(&args.extra_vars)?;
    let overrides = common::cfg_overrides()?;
    if let Some(p) = &args.proxy {
        let (h, port) = (&p[0], &p[1]);
        let port: u16 = port
            .parse()
            .map_err(|_| crate::Error::Usage(format!("--proxy: bad port `{port}`")))?;
        let host = proxy_host(&inv, h)?;
        let mut t = target(&inv, &host, &extra, &overrides)?;
        if let Some(d) = &args.door {
            choose_door(&mut t, d)?;
        }
        if t.profile.is_some() {
            knock(&t, args.source, args.close)?;
        }
        client::proxy(t.addr, port, t.spec.connect_timeout)
            .map_err(|e| crate::Error::Usage(format!("host {host}: {e}")))?;
        return Ok(0);
    }
    let Some(pattern) = &args.host else {
        return Err(crate::Error::Usage(
            "sesame knock: give a HOST (or --proxy HOST PORT)".into(),
        ));
    };
    let hosts = common::select(&inv, pattern, None)?;
    if hosts.is_empty() {
        return Err(crate::Error::Usage(format!(
            "no inventory host matches `{pattern}`"
        )));
    }
    for host in hosts {
        let mut t = target(&inv, &host, &extra, &overrides)?;
        if let Some(d) = &args.door {
            choose_door(&mut t, d)?;
        }
        knock(&t, args.source, args.close)?;
        if let Some(p) = &t.profile {
            let what = if args.close { "closed" } else { "knocked" };
            let host = crate::text::for_terminal(&host);
            eprintln!("{host}: {what} ({})", p.mode.as_str());
        }
    }
    Ok(0)
}
