//! `sesame knock`: send a host's knock from this machine, or (`--proxy`) knock and then relay
//! the connection for OpenSSH's `ProxyCommand`. Reads the inventory; never prints to stdout in
//! proxy mode (stdout is the SSH stream there).

use super::common;
use crate::connect::{self, knock_target};
use crate::knock::client;
use std::net::IpAddr;
use std::path::PathBuf;

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

/// The inventory host OpenSSH means by `%h`: an inventory name, or a host whose address is it.
fn proxy_host(inv: &crate::inventory::Inventory, h: &str) -> crate::Result<String> {
    match connect::target::inventory_host_at(inv, h) {
        Ok(Some(host)) => Ok(host),
        Ok(None) => Err(crate::Error::Usage(format!(
            "--proxy: `{h}` is neither an inventory host nor any host's ansible_host"
        ))),
        Err(e) => Err(crate::Error::Usage(format!("--proxy: {e}"))),
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
        let mut t = knock_target(&inv, &host, &extra, &overrides)?;
        if let Some(d) = &args.door {
            t.choose_door(d)?;
        }
        if t.profile.is_some() {
            t.knock(args.source, args.close)?;
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
    let hosts = connect::select(&inv, pattern, None)?;
    if hosts.is_empty() {
        return Err(crate::Error::Usage(format!(
            "no inventory host matches `{pattern}`"
        )));
    }
    for host in hosts {
        let mut t = knock_target(&inv, &host, &extra, &overrides)?;
        if let Some(d) = &args.door {
            t.choose_door(d)?;
        }
        t.knock(args.source, args.close)?;
        if let Some(p) = &t.profile {
            let what = if args.close { "closed" } else { "knocked" };
            let host = crate::text::for_terminal(&host);
            eprintln!("{host}: {what} ({})", p.mode.as_str());
        }
    }
    Ok(0)
}
