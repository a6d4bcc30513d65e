//! `sesame ssh`: knock on an inventory host, then replace this process with OpenSSH's `ssh`
//! using the host's address, port, user, keys and known_hosts settings. Only builds arguments
//! and execs; the knocking itself is `connect::KnockTarget::knock`'s.

use super::common;
use crate::connect::knock_target;
use crate::transport::spec::{ConnSpec, HostKeyPolicy};
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

/// Arguments of `sesame ssh`.
///
/// Example: `sesame ssh web1 -i hosts.ini -- -L 8080:localhost:80` or `... -- uptime`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inventory host to log in to.
    pub host: String,
    /// Inventory file or directory (repeatable), as ansible's -i.
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Extra variables (as `sesame play -e`): `k=v`, YAML/JSON or `@file` (repeatable; they
    /// win over the inventory). Secrets (a knock_sequence, a password) go in an `@file` or a
    /// vault, never inline: a command line is visible to every local user in /proc.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Bind the knocks to this local address.
    #[arg(long = "source")]
    pub source: Option<IpAddr>,
    /// Do not knock (the door is already open, or the host has no knocking).
    #[arg(long = "no-knock")]
    pub no_knock: bool,
    /// Arguments for ssh after `--`: options and/or a remote command.
    #[arg(last = true, allow_hyphen_values = true)]
    pub ssh_args: Vec<String>,
}

/// OpenSSH's arguments for a host, destination included, before the user's own.
pub fn ssh_argv(spec: &ConnSpec, addr: IpAddr) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    if let Some(f) = &spec.ssh_config {
        a.push("-F".into());
        a.push(f.clone().into());
    }
    let mut opt = |s: String| {
        a.push("-o".into());
        a.push(s.into());
    };
    opt(format!("Port={}", spec.port));
    opt(format!("User={}", spec.user));
    opt(format!(
        "ConnectTimeout={}",
        spec.connect_timeout.as_secs().max(1)
    ));
    // The same files sesame checked, so ssh trusts exactly what sesame trusted. ssh_config
    // splits these lists on spaces: quote each path; no file is /dev/null (ssh's own default
    // would otherwise come back).
    let files = |list: &[std::path::PathBuf]| -> String {
        if list.is_empty() {
            "/dev/null".into()
        } else {
            list.iter()
                .map(|p| format!("\"{}\"", p.display()))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    opt(format!("UserKnownHostsFile={}", files(&spec.known_hosts)));
    opt(format!(
        "GlobalKnownHostsFile={}",
        files(&spec.global_known_hosts)
    ));
    opt(format!(
        "StrictHostKeyChecking={}",
        match spec.host_key_policy {
            HostKeyPolicy::Yes => "yes",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::No => "no",
        }
    ));
    if let Some(alias) = &spec.host_key_alias {
        opt(format!("HostKeyAlias={alias}"));
    }
    if !spec.password_auth {
        opt("PasswordAuthentication=no".into());
    }
    if let Some(p) = &spec.proxy {
        opt(p.ssh_option());
    }
    for k in &spec.key_files {
        a.push("-i".into());
        a.push(k.clone().into());
    }
    a.push(addr.to_string().into());
    a
}

/// Run `sesame ssh`: on success this never returns (the process becomes ssh).
pub fn run(args: Args) -> crate::Result<u8> {
    let inv = common::load_inventory(&args.inventory)?;
    if !inv.has_host(&args.host) {
        return Err(crate::Error::Usage(format!(
            "`{}` is not an inventory host",
            args.host
        )));
    }
    let extra = common::extra_vars(&args.extra_vars)?;
    let t = knock_target(&inv, &args.host, &extra, &common::cfg_overrides()?)?;
    let ssh = which::which("ssh")
        .map_err(|e| crate::Error::Usage(format!("cannot find OpenSSH's `ssh` in PATH: {e}")))?;
    if let Some(p) = &t.spec.proxy {
        // ssh expands the tokens itself; an OpenSSH older than 9.6 would paste them as they are.
        p.argv(&t.spec.proxy_target(), "ssh")
            .map_err(|m| crate::Error::Usage(format!("{}: {m}", args.host)))?;
    }
    let mut argv = ssh_argv(&t.spec, t.addr);
    argv.extend(args.ssh_args.iter().map(OsString::from));
    // Through a proxy the host is reached from the jump host, which sesame cannot knock from.
    if t.profile.is_some() && !args.no_knock && t.spec.proxy.is_none() {
        t.knock(args.source, false)?;
    }
    // exec only returns on failure.
    let err =
        std::os::unix::process::CommandExt::exec(std::process::Command::new(&ssh).args(&argv));
    Err(crate::Error::Usage(format!(
        "cannot run {}: {err}",
        ssh.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ssh_argv_carries_the_hosts_connection_settings() {
        let vars = json!({
            "ansible_host": "198.19.1.11", "ansible_port": 2222, "ansible_user": "deploy",
            "ansible_ssh_private_key_file": "/keys/lab key",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes -F /etc/fleet/ssh_config -J ops@gw",
        });
        let spec = ConnSpec::from_vars(
            "h1",
            vars.as_object().unwrap(),
            &crate::transport::spec::ConnOverrides::default(),
        )
        .unwrap();
        let argv: Vec<String> = ssh_argv(&spec, "198.19.1.11".parse().unwrap())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let joined = argv.join(" ");
        for want in [
            "-o Port=2222",
            "-o User=deploy",
            "-o UserKnownHostsFile=\"/tmp/kh\"",
            "-o GlobalKnownHostsFile=\"/etc/ssh/ssh_known_hosts\" \"/etc/ssh/ssh_known_hosts2\"",
            "-o StrictHostKeyChecking=yes",
            "-o ProxyJump=ops@gw",
            "-F /etc/fleet/ssh_config",
        ] {
            assert!(joined.contains(want), "{want} missing in {joined}");
        }
        // No file at all is /dev/null for ssh, not its defaults.
        let mut none = spec.clone();
        none.known_hosts.clear();
        none.global_known_hosts.clear();
        let joined: Vec<String> = ssh_argv(&none, "198.19.1.11".parse().unwrap())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let joined = joined.join(" ");
        assert!(
            joined.contains("-o UserKnownHostsFile=/dev/null")
                && joined.contains("-o GlobalKnownHostsFile=/dev/null"),
            "{joined}"
        );
        // The key path stays one argument, spaces and all; the destination comes last.
        assert!(argv
            .windows(2)
            .any(|w| w[0] == "-i" && w[1] == "/keys/lab key"));
        assert_eq!(argv.last().unwrap(), "198.19.1.11");
    }
}
