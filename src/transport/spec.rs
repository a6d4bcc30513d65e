//! Connection settings for one host, read from Ansible's connection variables
//! (`ansible_host`, `ansible_port`, `ansible_user`, `ansible_ssh_common_args`, …) and the CLI,
//! and the become settings (`ansible_become*`). Not pure: besides the values it is given it
//! reads ssh_config files, `HOME`/`USER` and the documented `SESAME_*` secrets from the process
//! environment, and `resolve_ip` asks the system resolver. It never connects and never logs a
//! secret.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

pub use super::conn_error::ConnSpecError;
use super::proxy::{Proxy, ProxyTarget};
use super::ssh_args::SshArgs;
use super::ssh_text::{expand_config_tokens, expand_tilde, home, local_user};
use super::Become;

/// Default TCP connect + handshake timeout, as Ansible's `timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval of SSH keepalives while waiting for a command.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
/// Longest a remote command may run when nothing sets a timeout (`sesame_command_timeout`,
/// 0 for none): a hung host must not hold the run forever.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Most bytes kept of one command's stdout or of its stderr (`sesame_output_limit`): a host
/// that streams without end fails its task instead of filling the controller's memory.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;
/// Knock again once when a knocked port stays silent (a knock is one packet, and one can be lost).
pub const DEFAULT_KNOCK_RETRIES: u32 = 1;
const MAX_KNOCK_RETRIES: u32 = 5;

/// What to do with a host key that is not in known_hosts (OpenSSH's `StrictHostKeyChecking`).
/// A key that CHANGED is refused under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts.
    #[default]
    Yes,
    /// Append unknown hosts' keys to the first known_hosts file and go on.
    AcceptNew,
    /// Accept unknown hosts without recording them.
    No,
}

impl HostKeyPolicy {
    /// OpenSSH's spellings: `yes`/`ask` (no one to ask: refuse), `accept-new`, `no`/`off`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "ask" | "true" => Some(HostKeyPolicy::Yes),
            "accept-new" => Some(HostKeyPolicy::AcceptNew),
            "no" | "off" | "false" => Some(HostKeyPolicy::No),
            _ => None,
        }
    }
}

/// Command-line settings and process-level secrets. Like Ansible, the CLI's `-u`,
/// `--private-key` and `--timeout` are defaults that a host's own variables beat; sesame's own
/// `--known-hosts` and `--ssh-strict` beat the inventory (they are a choice about trust made by
/// the person running sesame).
#[derive(Clone, Default)]
pub struct ConnOverrides {
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub known_hosts: Vec<PathBuf>,
    pub ssh_strict: Option<HostKeyPolicy>,
    /// Login password (env `SESAME_PASSWORD`). Never logged.
    pub password: Option<String>,
    /// Passphrase of the private keys (env `SESAME_KEY_PASSPHRASE`). Never logged.
    pub key_passphrase: Option<String>,
    /// ssh-agent socket (env `SSH_AUTH_SOCK`).
    pub agent_socket: Option<PathBuf>,
    /// Per-command timeout; `None` waits as long as the command runs.
    pub command_timeout: Option<Duration>,
    /// `host_key_checking` from ansible.cfg / `$ANSIBLE_HOST_KEY_CHECKING` (a host's
    /// `ansible_host_key_checking` wins). `Some(false)`: unknown keys accepted, as Ansible's
    /// `-o StrictHostKeyChecking=no`, placed before the inventory's ssh args.
    pub host_key_checking: Option<bool>,
    /// `ssh_common_args`/`ssh_extra_args` from ansible.cfg or the environment, for hosts whose
    /// variables set none.
    pub ssh_common_args: Option<String>,
    pub ssh_extra_args: Option<String>,
}

impl fmt::Debug for ConnOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnOverrides")
            .field("user", &self.user)
            .field("private_key", &self.private_key)
            .field("timeout", &self.timeout)
            .field("known_hosts", &self.known_hosts)
            .field("ssh_strict", &self.ssh_strict)
            .field("password", &mask(&self.password))
            .field("key_passphrase", &mask(&self.key_passphrase))
            .field("agent_socket", &self.agent_socket)
            .field("command_timeout", &self.command_timeout)
            .field("host_key_checking", &self.host_key_checking)
            .field("ssh_common_args", &self.ssh_common_args)
            .field("ssh_extra_args", &self.ssh_extra_args)
            .finish()
    }
}

impl ConnOverrides {
    /// The secrets sesame takes from its environment (read once, on the main thread):
    /// `SESAME_PASSWORD`, `SESAME_KEY_PASSPHRASE`, and `SSH_AUTH_SOCK`.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ConnOverrides {
            password: env("SESAME_PASSWORD"),
            key_passphrase: env("SESAME_KEY_PASSPHRASE"),
            agent_socket: env("SSH_AUTH_SOCK").map(PathBuf::from),
            ..Default::default()
        }
    }
}

fn mask(s: &Option<String>) -> Option<&'static str> {
    s.as_ref().map(|_| "********")
}

/// Everything needed to open one SSH session to one host.
#[derive(Clone)]
pub struct ConnSpec {
    /// Inventory name (for messages).
    pub name: String,
    /// Address to connect to (`ansible_host`, else the inventory name).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private keys tried in order, before the agent.
    pub key_files: Vec<PathBuf>,
    pub key_passphrase: Option<String>,
    pub password: Option<String>,
    /// ssh-agent socket; `None` skips the agent.
    pub agent_socket: Option<PathBuf>,
    /// The user's files (`UserKnownHostsFile`); the first one receives `accept-new` keys.
    pub known_hosts: Vec<PathBuf>,
    /// System-wide files (`GlobalKnownHostsFile`), read after the user's, never written.
    /// Both empty: no host is known.
    pub global_known_hosts: Vec<PathBuf>,
    /// Name looked up in known_hosts (`HostKeyAlias`), default the address.
    pub host_key_alias: Option<String>,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    /// Default per-command timeout; a `Cmd`'s own timeout wins. `None` waits.
    pub command_timeout: Option<Duration>,
    /// Most bytes kept of each of a command's streams; more fails the command.
    pub output_limit: usize,
    /// SSH keepalive interval while waiting; `None` sends none.
    pub keepalive: Option<Duration>,
    /// `PasswordAuthentication no` in the ssh args turns password auth off.
    pub password_auth: bool,
    /// A shorter wait for the TCP connect alone (the SSH handshake keeps `connect_timeout`):
    /// right after a knock an opened port answers within a round trip.
    pub tcp_timeout: Option<Duration>,
    /// A jump host or proxy command to reach the host through (`ProxyJump`, `-J`,
    /// `ProxyCommand` in the ssh args); `None` connects directly.
    pub proxy: Option<Proxy>,
    /// `-F` in the ssh args: the OpenSSH config file for the jump hosts (and `sesame ssh`).
    pub ssh_config: Option<PathBuf>,
    /// How many times a connection that knocked and got no answer knocks again
    /// (`sesame_knock_retries`, default 1): knocks are single unacknowledged packets.
    pub knock_retries: u32,
}

impl fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSpec")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("key_files", &self.key_files)
            .field("key_passphrase", &mask(&self.key_passphrase))
            .field("password", &mask(&self.password))
            .field("agent_socket", &self.agent_socket)
            .field("known_hosts", &self.known_hosts)
            .field("global_known_hosts", &self.global_known_hosts)
            .field("host_key_alias", &self.host_key_alias)
            .field("host_key_policy", &self.host_key_policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("output_limit", &self.output_limit)
            .field("keepalive", &self.keepalive)
            .field("password_auth", &self.password_auth)
            .field("proxy", &self.proxy)
            .field("ssh_config", &self.ssh_config)
            .field("tcp_timeout", &self.tcp_timeout)
            .field("knock_retries", &self.knock_retries)
            .finish()
    }
}

impl ConnSpec {
    /// A spec with OpenSSH's defaults: port 22, `~/.ssh/known_hosts{,2}` then
    /// `/etc/ssh/ssh_known_hosts{,2}`, strict checking.
    pub fn new(name: &str, address: &str, user: &str) -> Self {
        ConnSpec {
            name: name.to_string(),
            address: address.to_string(),
            port: 22,
            user: user.to_string(),
            key_files: Vec::new(),
            key_passphrase: None,
            password: None,
            agent_socket: None,
            known_hosts: default_known_hosts(),
            global_known_hosts: default_global_known_hosts(),
            host_key_alias: None,
            host_key_policy: HostKeyPolicy::Yes,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: Some(DEFAULT_COMMAND_TIMEOUT),
            output_limit: DEFAULT_OUTPUT_LIMIT,
            keepalive: Some(DEFAULT_KEEPALIVE),
            password_auth: true,
            proxy: None,
            ssh_config: None,
            tcp_timeout: None,
            knock_retries: DEFAULT_KNOCK_RETRIES,
        }
    }

    /// `address:port`, for messages.
    pub fn addr(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// What a `ProxyCommand` or `ProxyJump` needs to carry this connection.
    pub fn proxy_target(&self) -> ProxyTarget {
        ProxyTarget {
            name: self.name.clone(),
            address: self.address.clone(),
            port: self.port,
            user: self.user.clone(),
            connect_timeout: self.connect_timeout,
            ssh_config: self.ssh_config.clone(),
        }
    }

    /// The name looked up and written in known_hosts.
    pub fn known_hosts_name(&self) -> &str {
        self.host_key_alias.as_deref().unwrap_or(&self.address)
    }

    /// Build the spec for inventory host `host` from its merged variables and the CLI.
    ///
    /// Precedence, as Ansible builds its ssh command line (where OpenSSH keeps the first value
    /// of an option): the host's variables, then the CLI defaults, then options found in
    /// `ansible_ssh_common_args` and `ansible_ssh_extra_args`, then OpenSSH's defaults.
    /// `--known-hosts` and `--ssh-strict` win over everything.
    pub fn from_vars(
        host: &str,
        vars: &Map<String, Value>,
        overrides: &ConnOverrides,
    ) -> Result<Self, ConnSpecError> {
        let v = VarReader { host, vars };
        let mut args = ssh_args(&v, overrides)?;
        let (address, port) = endpoint(&v, &mut args)?;
        let login = Login::read(&v, overrides, &args)?;
        let limits = Limits::read(&v, overrides, &args)?;
        let (known_hosts, global_known_hosts, host_key_policy) = host_keys(&v, overrides, &args)?;
        let agent_socket = match &args.identity_agent {
            Some(a) if a.eq_ignore_ascii_case("none") => None,
            Some(a) if a == "SSH_AUTH_SOCK" => overrides.agent_socket.clone(),
            Some(a) => Some(expand_tilde(a)),
            None if args.identities_only => None,
            None => overrides.agent_socket.clone(),
        };
        Ok(ConnSpec {
            name: host.to_string(),
            address,
            port,
            user: login.user,
            key_files: login.key_files,
            key_passphrase: overrides.key_passphrase.clone(),
            password: login.password,
            agent_socket,
            known_hosts,
            global_known_hosts,
            host_key_alias: args.host_key_alias,
            host_key_policy,
            connect_timeout: limits.connect_timeout,
            command_timeout: limits.command_timeout,
            output_limit: limits.output_limit,
            keepalive: limits.keepalive,
            password_auth: args.password_auth.unwrap_or(true),
            proxy: args.proxy.flatten(),
            ssh_config: args.config_file.map(|f| expand_tilde(&f)),
            tcp_timeout: None,
            knock_retries: limits.knock_retries,
        })
    }
}

/// The options of `ansible_ssh_common_args` and `ansible_ssh_extra_args` (else ansible.cfg's).
fn ssh_args(v: &VarReader, overrides: &ConnOverrides) -> Result<SshArgs, ConnSpecError> {
    let host = v.host;
    let mut args = SshArgs::default();
    for (var, default) in [
        ("ansible_ssh_common_args", &overrides.ssh_common_args),
        ("ansible_ssh_extra_args", &overrides.ssh_extra_args),
    ] {
        match (v.string(var)?, default) {
            (Some(text), _) => args.parse(host, var, &text)?,
            (None, Some(text)) => args.parse(host, &format!("{var} (ansible.cfg)"), text)?,
            (None, None) => {}
        }
    }
    Ok(args)
}

/// The address and port to dial: the inventory's, with the ssh client configuration filling
/// in what it leaves unset (its settings are added to `args`).
fn endpoint(v: &VarReader, args: &mut SshArgs) -> Result<(String, u16), ConnSpecError> {
    let host = v.host;
    // What ssh is given as destination; the client configuration (~/.ssh/config, or the
    // `-F` file) fills in what the inventory leaves unset, as it does for Ansible's ssh.
    let destination = v
        .string_any(&["ansible_host", "ansible_ssh_host"])?
        .unwrap_or_else(|| host.to_string());
    let config_file = args.config_file.as_deref().map(expand_tilde);
    for s in super::ssh_config::settings_for(&destination, config_file.as_deref()) {
        args.apply_config_setting(host, &destination, &s)?;
    }
    let address = match &args.host_name {
        Some(name) => expand_config_tokens(name, &destination),
        None => destination,
    };
    let port = match crate::vars::ansible_port(v.vars) {
        Some((_, Ok(p))) => p,
        Some((var, Err(value))) => {
            return Err(ConnSpecError::BadValue {
                host: host.into(),
                variable: var.into(),
                value,
                reason: "a port is a number from 1 to 65535".into(),
            })
        }
        None => match &args.port {
            Some((var, value)) => parse_port(host, var, value)?,
            None => 22,
        },
    };
    Ok((address, port))
}

/// Who logs in and with what: user, key files in the order tried, password.
struct Login {
    user: String,
    key_files: Vec<PathBuf>,
    password: Option<String>,
}

impl Login {
    fn read(
        v: &VarReader,
        overrides: &ConnOverrides,
        args: &SshArgs,
    ) -> Result<Self, ConnSpecError> {
        let user = v
            .string_any(&["ansible_user", "ansible_ssh_user"])?
            .or_else(|| overrides.user.clone())
            .or_else(|| args.user.clone())
            .unwrap_or_else(local_user);
        let mut key_files = Vec::new();
        if let Some(k) =
            v.string_any(&["ansible_ssh_private_key_file", "ansible_private_key_file"])?
        {
            key_files.push(expand_tilde(&k));
        } else if let Some(k) = &overrides.private_key {
            key_files.push(k.clone());
        }
        for k in &args.identity_files {
            let p = expand_tilde(k);
            if !key_files.contains(&p) {
                key_files.push(p);
            }
        }
        let password = v
            .string_any(&[
                "ansible_password",
                "ansible_ssh_pass",
                "ansible_ssh_password",
            ])?
            .filter(|p| !p.is_empty())
            .or_else(|| overrides.password.clone());
        Ok(Login {
            user,
            key_files,
            password,
        })
    }
}

/// Timeouts, keepalive, output cap and knock retries.
struct Limits {
    connect_timeout: Duration,
    command_timeout: Option<Duration>,
    output_limit: usize,
    keepalive: Option<Duration>,
    knock_retries: u32,
}

impl Limits {
    fn read(
        v: &VarReader,
        overrides: &ConnOverrides,
        args: &SshArgs,
    ) -> Result<Self, ConnSpecError> {
        let host = v.host;
        let connect_timeout = match v.seconds("ansible_timeout")? {
            Some(t) => t,
            None => match (overrides.timeout, &args.connect_timeout) {
                (Some(t), _) => t,
                (None, Some((var, value))) => parse_seconds(host, var, value)?,
                (None, None) => DEFAULT_CONNECT_TIMEOUT,
            },
        };
        let knock_retries = match v.string("sesame_knock_retries")? {
            None => DEFAULT_KNOCK_RETRIES,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if n <= MAX_KNOCK_RETRIES => n,
                _ => {
                    return Err(ConnSpecError::BadValue {
                        host: host.into(),
                        variable: "sesame_knock_retries".into(),
                        value: text,
                        reason: format!("expected a count from 0 to {MAX_KNOCK_RETRIES}"),
                    })
                }
            },
        };
        let command_timeout = match v.seconds("sesame_command_timeout")? {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => Some(overrides.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT)),
        };
        let output_limit = match v.string("sesame_output_limit")? {
            None => DEFAULT_OUTPUT_LIMIT,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if n >= 1024 => n,
                _ => {
                    return Err(ConnSpecError::BadValue {
                        host: host.into(),
                        variable: "sesame_output_limit".into(),
                        value: text,
                        reason: "expected a number of bytes, at least 1024".into(),
                    })
                }
            },
        };
        let keepalive = match &args.server_alive {
            Some((var, value)) => match parse_seconds(host, var, value)? {
                d if d.is_zero() => None,
                d => Some(d),
            },
            None => Some(DEFAULT_KEEPALIVE),
        };
        Ok(Limits {
            connect_timeout,
            command_timeout,
            output_limit,
            keepalive,
            knock_retries,
        })
    }
}

/// The known_hosts files (user's, global) and the host key policy.
fn host_keys(
    v: &VarReader,
    overrides: &ConnOverrides,
    args: &SshArgs,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>, HostKeyPolicy), ConnSpecError> {
    let host = v.host;
    let known_hosts = if !overrides.known_hosts.is_empty() {
        overrides.known_hosts.clone()
    } else if let Some(files) = &args.known_hosts {
        files.clone()
    } else {
        default_known_hosts()
    };
    let global_known_hosts = args
        .global_known_hosts
        .clone()
        .unwrap_or_else(default_global_known_hosts);

    // As Ansible builds ssh's command line: host_key_checking off puts
    // `-o StrictHostKeyChecking=no` before the inventory's ssh args, and ssh keeps the first.
    let host_key_checking = v
        .boolean("ansible_host_key_checking")?
        .or(v.boolean("ansible_ssh_host_key_checking")?)
        .or(overrides.host_key_checking);
    let host_key_policy = if let Some(p) = overrides.ssh_strict {
        p
    } else if host_key_checking == Some(false) {
        HostKeyPolicy::No
    } else if let Some((var, value)) = &args.strict {
        HostKeyPolicy::parse(value).ok_or_else(|| ConnSpecError::BadValue {
            host: host.into(),
            variable: var.clone(),
            value: value.clone(),
            reason: "StrictHostKeyChecking must be yes, accept-new or no".into(),
        })?
    } else {
        HostKeyPolicy::Yes
    };
    Ok((known_hosts, global_known_hosts, host_key_policy))
}

/// Become settings for a host outside a play (`sesame run`): `become_for` with no keywords.
pub fn become_from_vars(
    host: &str,
    vars: &Map<String, Value>,
    cli_become: bool,
    cli_become_user: Option<&str>,
    cli_password: Option<String>,
) -> Result<Option<Become>, ConnSpecError> {
    let fallback = cli_password.or_else(|| std::env::var("SESAME_BECOME_PASSWORD").ok());
    let asked = BecomeAsked {
        cli: cli_become,
        cli_user: cli_become_user,
        ..BecomeAsked::default()
    };
    become_with_env(host, vars, &asked, fallback)
}

/// Where `become` is asked for besides the host's variables: the task's (else the play's)
/// `become`/`become_user` keywords, then the command line (`-b`, `--become-user`, with
/// ansible.cfg's `become`/`become_user` under them).
#[derive(Debug, Default, Clone)]
pub struct BecomeAsked<'a> {
    pub keyword: Option<bool>,
    pub keyword_user: Option<&'a str>,
    pub cli: bool,
    pub cli_user: Option<&'a str>,
}

/// The one become resolver, with Ansible's precedence (connection variables beat keywords,
/// which beat the command line): `ansible_become`, else the keyword, else `-b`;
/// `ansible_become_user`, else the keyword's `become_user`, else `--become-user`, else root;
/// `ansible_become_password`/`ansible_become_pass`, else `cli_password` (`-K`), else env
/// `SESAME_BECOME_PASSWORD`. `None` when become is off. Only sudo is supported: another
/// `ansible_become_method` is an error, never a silent sudo (play keywords are checked when the
/// playbook loads).
pub fn become_for(
    host: &str,
    vars: &Map<String, Value>,
    asked: &BecomeAsked,
    cli_password: Option<String>,
) -> Result<Option<Become>, ConnSpecError> {
    let fallback = cli_password.or_else(|| std::env::var("SESAME_BECOME_PASSWORD").ok());
    become_with_env(host, vars, asked, fallback)
}

fn become_with_env(
    host: &str,
    vars: &Map<String, Value>,
    asked: &BecomeAsked,
    env_password: Option<String>,
) -> Result<Option<Become>, ConnSpecError> {
    let v = VarReader { host, vars };
    let on = v.boolean("ansible_become")?.or(asked.keyword);
    if !on.unwrap_or(asked.cli) {
        return Ok(None);
    }
    if let Some(method) = v.string("ansible_become_method")? {
        if method.trim() != "sudo" {
            return Err(ConnSpecError::Unsupported {
                host: host.into(),
                variable: "ansible_become_method".into(),
                option: method,
                reason: "only sudo is supported".into(),
            });
        }
    }
    let user = v
        .string("ansible_become_user")?
        .filter(|u| !u.is_empty())
        .or_else(|| asked.keyword_user.map(str::to_string))
        .or_else(|| asked.cli_user.map(str::to_string))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string());
    let password = v
        .string_any(&["ansible_become_password", "ansible_become_pass"])?
        .or(env_password)
        .filter(|p| !p.is_empty());
    Ok(Some(Become { user, password }))
}

struct VarReader<'a> {
    host: &'a str,
    vars: &'a Map<String, Value>,
}

impl VarReader<'_> {
    fn bad(&self, var: &str, value: &Value, reason: &str) -> ConnSpecError {
        ConnSpecError::BadValue {
            host: self.host.into(),
            variable: var.into(),
            value: crate::vars::text(value),
            reason: reason.into(),
        }
    }

    /// A string variable; numbers are accepted as their text. Null counts as unset.
    fn string(&self, var: &str) -> Result<Option<String>, ConnSpecError> {
        match self.vars.get(var) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.bad(var, other, "expected a string")),
        }
    }

    fn string_any(&self, vars: &[&str]) -> Result<Option<String>, ConnSpecError> {
        for var in vars {
            if let Some(s) = self.string(var)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    fn seconds(&self, var: &str) -> Result<Option<Duration>, ConnSpecError> {
        match self.string(var)? {
            Some(s) => parse_seconds(self.host, var, &s).map(Some),
            None => Ok(None),
        }
    }

    fn boolean(&self, var: &str) -> Result<Option<bool>, ConnSpecError> {
        match self.vars.get(var) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => crate::vars::as_bool(v)
                .map(Some)
                .ok_or_else(|| self.bad(var, v, "expected a boolean")),
        }
    }
}

fn parse_port(host: &str, var: &str, value: &str) -> Result<u16, ConnSpecError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ConnSpecError::BadValue {
            host: host.into(),
            variable: var.into(),
            value: value.into(),
            reason: "a port is a number from 1 to 65535".into(),
        }),
    }
}

fn parse_seconds(host: &str, var: &str, value: &str) -> Result<Duration, ConnSpecError> {
    match value.trim().parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(ConnSpecError::BadValue {
            host: host.into(),
            variable: var.into(),
            value: value.into(),
            reason: "expected a number of seconds".into(),
        }),
    }
}

/// OpenSSH's default `UserKnownHostsFile`: `~/.ssh/known_hosts ~/.ssh/known_hosts2`, when
/// there is a home.
fn default_known_hosts() -> Vec<PathBuf> {
    home()
        .map(|h| vec![h.join(".ssh/known_hosts"), h.join(".ssh/known_hosts2")])
        .unwrap_or_default()
}

/// OpenSSH's default `GlobalKnownHostsFile`.
fn default_global_known_hosts() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/ssh/ssh_known_hosts"),
        PathBuf::from("/etc/ssh/ssh_known_hosts2"),
    ]
}

/// The IP address of `address` (an IP, `[v6]`, or a name resolved as ssh resolves it).
pub fn resolve_ip(address: &str, port: u16) -> Option<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = address.trim_matches(|c| c == '[' || c == ']').parse() {
        return Some(ip);
    }
    (address, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("object expected"),
        }
    }

    #[test]
    fn from_vars_reads_every_variable() {
        let home = home().expect("tests run with a HOME");
        let v = vars(json!({
            "ansible_host": "198.19.1.10",
            "ansible_port": "2222",
            "ansible_user": "deploy",
            "ansible_ssh_private_key_file": "~/.ssh/lab_ed25519",
            "ansible_password": "pw1",
            "ansible_timeout": 7,
            "sesame_command_timeout": "90",
            "sesame_knock_retries": 3,
            "ansible_ssh_common_args":
                "-o UserKnownHostsFile=\"~/kh1 /tmp/kh\" -o StrictHostKeyChecking=accept-new -o ConnectTimeout=3 -i /keys/second -o ServerAliveInterval=5",
            "ansible_ssh_extra_args": "-o Port=2200 -o StrictHostKeyChecking=no -o HostKeyAlias=web1",
        }));
        let o = ConnOverrides {
            user: Some("cli-user".into()),
            private_key: Some("/cli/key".into()),
            timeout: Some(Duration::from_secs(99)),
            key_passphrase: Some("kp".into()),
            agent_socket: Some("/run/agent.sock".into()),
            ..Default::default()
        };
        let s = ConnSpec::from_vars("web1", &v, &o).unwrap();
        assert_eq!(s.name, "web1");
        assert_eq!(s.address, "198.19.1.10");
        assert_eq!(s.port, 2222, "ansible_port beats -o Port");
        assert_eq!(s.user, "deploy", "ansible_user beats -u");
        assert_eq!(
            s.key_files,
            vec![home.join(".ssh/lab_ed25519"), PathBuf::from("/keys/second")]
        );
        assert_eq!(s.password.as_deref(), Some("pw1"));
        assert_eq!(s.key_passphrase.as_deref(), Some("kp"));
        assert_eq!(s.connect_timeout, Duration::from_secs(7));
        assert_eq!(s.command_timeout, Some(Duration::from_secs(90)));
        assert_eq!(s.knock_retries, 3);
        assert_eq!(s.keepalive, Some(Duration::from_secs(5)));
        assert_eq!(
            s.known_hosts,
            vec![home.join("kh1"), PathBuf::from("/tmp/kh")]
        );
        assert_eq!(
            s.host_key_policy,
            HostKeyPolicy::AcceptNew,
            "first StrictHostKeyChecking wins"
        );
        assert_eq!(s.host_key_alias.as_deref(), Some("web1"));
        assert_eq!(s.known_hosts_name(), "web1");
        assert_eq!(s.agent_socket, Some(PathBuf::from("/run/agent.sock")));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("pw1") && !dbg.contains("kp\""), "{dbg}");
    }

    #[test]
    fn host_key_alias_with_whitespace_or_patterns_is_refused() {
        for alias in ["web 1", "web1\tx", "a,*", "*", "web\n1", "|1|x"] {
            let v = vars(json!({
                "ansible_ssh_extra_args": format!("-o 'HostKeyAlias={alias}'"),
            }));
            let e = ConnSpec::from_vars("web1", &v, &ConnOverrides::default())
                .err()
                .unwrap_or_else(|| panic!("{alias:?} accepted"))
                .to_string();
            assert!(
                e.contains("web1")
                    && e.contains("ansible_ssh_extra_args")
                    && e.contains("HostKeyAlias"),
                "{e}"
            );
        }
        let v = vars(json!({"ansible_ssh_extra_args": "-o HostKeyAlias=web1.lab-2_x"}));
        assert!(ConnSpec::from_vars("web1", &v, &ConnOverrides::default()).is_ok());
    }

    #[test]
    fn from_vars_falls_back_to_cli_then_args_then_defaults() {
        let o = ConnOverrides {
            user: Some("cli-user".into()),
            private_key: Some("/cli/key".into()),
            password: Some("envpw".into()),
            ..Default::default()
        };
        let v = vars(json!({
            "ansible_ssh_common_args": "-p 2022 -l argsuser -o ConnectTimeout=4 -o PasswordAuthentication=no -o IdentitiesOnly=yes",
        }));
        let s = ConnSpec::from_vars("db1", &v, &o).unwrap();
        assert_eq!(s.address, "db1");
        assert_eq!(s.port, 2022);
        assert_eq!(s.user, "cli-user");
        assert_eq!(s.key_files, vec![PathBuf::from("/cli/key")]);
        assert_eq!(s.password.as_deref(), Some("envpw"));
        assert_eq!(s.connect_timeout, Duration::from_secs(4));
        assert!(!s.password_auth);
        assert_eq!(s.agent_socket, None, "IdentitiesOnly turns the agent off");
        assert_eq!(s.host_key_policy, HostKeyPolicy::Yes);

        let s = ConnSpec::from_vars("db1", &Map::new(), &ConnOverrides::default()).unwrap();
        assert_eq!(s.port, 22);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(
            s.command_timeout,
            Some(DEFAULT_COMMAND_TIMEOUT),
            "a hung host must not hold the run forever"
        );
        assert_eq!(s.output_limit, DEFAULT_OUTPUT_LIMIT);
        let v = vars(json!({"sesame_command_timeout": 0, "sesame_output_limit": "2048"}));
        let s0 = ConnSpec::from_vars("db1", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(s0.command_timeout, None, "0 waits as long as it takes");
        assert_eq!(s0.output_limit, 2048);
        let v = vars(json!({"sesame_output_limit": "lots"}));
        let e = ConnSpec::from_vars("db1", &v, &ConnOverrides::default()).unwrap_err();
        assert!(e.to_string().contains("sesame_output_limit"), "{e}");
        assert_eq!(s.keepalive, Some(DEFAULT_KEEPALIVE));
        assert_eq!(s.knock_retries, DEFAULT_KNOCK_RETRIES);
        assert!(s.password_auth);
        assert_eq!(s.known_hosts, default_known_hosts());
        assert_eq!(
            s.global_known_hosts,
            vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
    }

    #[test]
    fn cli_trust_choices_beat_the_inventory() {
        let v = vars(json!({
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(s.host_key_policy, HostKeyPolicy::No);
        assert!(s.known_hosts.is_empty(), "/dev/null means no file");
        let o = ConnOverrides {
            ssh_strict: Some(HostKeyPolicy::Yes),
            known_hosts: vec!["/k".into()],
            ..Default::default()
        };
        let s = ConnSpec::from_vars("h", &v, &o).unwrap();
        assert_eq!(s.host_key_policy, HostKeyPolicy::Yes);
        assert_eq!(s.known_hosts, vec![PathBuf::from("/k")]);
        let v = vars(json!({"ansible_host_key_checking": "False"}));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(s.host_key_policy, HostKeyPolicy::No);
    }

    #[test]
    fn global_known_hosts_files_from_ssh_args() {
        let v = vars(json!({
            "ansible_ssh_common_args": "-o 'GlobalKnownHostsFile=/etc/fleet/kh \"/srv/with space/kh\"'",
            "ansible_ssh_extra_args": "-o GlobalKnownHostsFile=/ignored",
        }));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(
            s.global_known_hosts,
            vec![
                PathBuf::from("/etc/fleet/kh"),
                PathBuf::from("/srv/with space/kh")
            ],
            "the first GlobalKnownHostsFile wins, its paths split like ssh_config's"
        );
        // The CLI's --known-hosts replaces the user's files only, as UserKnownHostsFile does.
        let o = ConnOverrides {
            known_hosts: vec!["/k".into()],
            ..Default::default()
        };
        let s = ConnSpec::from_vars("h", &v, &o).unwrap();
        assert_eq!(s.known_hosts, vec![PathBuf::from("/k")]);
        assert_eq!(s.global_known_hosts.len(), 2);
        let v = vars(json!({"ansible_ssh_common_args": "-o GlobalKnownHostsFile=none"}));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert!(s.global_known_hosts.is_empty());
    }

    #[test]
    fn bad_values_are_errors_naming_host_and_variable() {
        for (var, val) in [
            ("ansible_port", json!("ssh")),
            ("ansible_port", json!(70000)),
            ("ansible_timeout", json!("soon")),
            ("ansible_user", json!(["a"])),
            ("ansible_ssh_common_args", json!("-o 'unclosed")),
            (
                "ansible_ssh_common_args",
                json!("-o StrictHostKeyChecking=maybe"),
            ),
            ("ansible_ssh_common_args", json!("-o Port=abc")),
            ("ansible_ssh_common_args", json!("-i")),
            ("ansible_host_key_checking", json!("perhaps")),
            ("sesame_knock_retries", json!(6)),
            ("sesame_knock_retries", json!("twice")),
        ] {
            let v = vars(json!({ var: val }));
            let e = ConnSpec::from_vars("web9", &v, &ConnOverrides::default()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("web9") && msg.contains(var), "{msg}");
        }
        for args in ["-J gw:port", "-o ProxyJump=", "-o 'ProxyCommand=nc %C'"] {
            let v = vars(json!({ "ansible_ssh_extra_args": args }));
            let e = ConnSpec::from_vars("web9", &v, &ConnOverrides::default()).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, ConnSpecError::BadValue { .. })
                    && msg.contains("web9")
                    && msg.contains("ansible_ssh_extra_args"),
                "{msg}"
            );
        }
    }

    #[test]
    fn the_ssh_client_configuration_fills_in_below_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("ssh_config");
        std::fs::write(
            &cfg,
            "Host web*\n  HostName %h.lab.internal\n  User deploy\n  Port 2200\n  \
             IdentityFile %d/.ssh/fleet_%u\n  ProxyJump ops@gw\n  ConnectTimeout 4\n\
             Host *\n  User everyone\n  StrictHostKeyChecking accept-new\n",
        )
        .unwrap();
        let common = format!("-F {}", cfg.display());
        let s = ConnSpec::from_vars(
            "web1",
            &vars(json!({ "ansible_ssh_common_args": common })),
            &ConnOverrides::default(),
        )
        .unwrap();
        assert_eq!(s.address, "web1.lab.internal");
        assert_eq!((s.user.as_str(), s.port), ("deploy", 2200));
        assert_eq!(s.connect_timeout, Duration::from_secs(4));
        assert_eq!(s.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(s.proxy, Some(Proxy::Jump("ops@gw".into())));
        assert!(
            s.key_files[0].to_string_lossy().contains("/.ssh/fleet_"),
            "{:?}",
            s.key_files
        );
        // The inventory's variables and ssh arguments win over the file.
        let s = ConnSpec::from_vars(
            "web1",
            &vars(json!({
                "ansible_ssh_common_args": format!("{common} -o Port=2022"),
                "ansible_user": "admin",
                "ansible_host": "198.19.4.7",
            })),
            &ConnOverrides::default(),
        )
        .unwrap();
        assert_eq!((s.user.as_str(), s.port), ("admin", 2022));
        // `Host web*` matches the destination ssh is given (ansible_host), not the name.
        assert_eq!(s.address, "198.19.4.7");
        // A bad value in the file is an error naming the file and line.
        std::fs::write(&cfg, "Host *\n  Port ssh\n").unwrap();
        let e = ConnSpec::from_vars(
            "db1",
            &vars(json!({ "ansible_ssh_common_args": common })),
            &ConnOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("{}:2", cfg.display())), "{e}");
    }

    #[test]
    fn proxies_as_ansible_inventories_write_them() {
        let proxy = |common: &str, extra: &str| {
            let v = vars(json!({
                "ansible_ssh_common_args": common,
                "ansible_ssh_extra_args": extra,
            }));
            let s = ConnSpec::from_vars("web9", &v, &ConnOverrides::default()).unwrap();
            s.proxy
        };
        assert_eq!(
            proxy("-o ProxyCommand=\"ssh -W %h:%p -q ops@bastion\"", ""),
            Some(Proxy::Command("ssh -W %h:%p -q ops@bastion".into()))
        );
        assert_eq!(
            proxy("-J ops@gw:2200", "-o ProxyCommand='nc %h %p'"),
            Some(Proxy::Jump("ops@gw:2200".into())),
            "the first proxy option wins"
        );
        assert_eq!(
            proxy("-oProxyJump=bastion", ""),
            Some(Proxy::Jump("bastion".into()))
        );
        assert_eq!(proxy("-o ProxyCommand=none -vC", "-J later"), None);
        assert_eq!(proxy("", ""), None);
    }

    #[test]
    fn args_options_first_wins_and_spellings() {
        let v = vars(json!({
            "ansible_ssh_common_args": "-oPort=2201 -o 'port 2202' -p2203 -o stricthostkeychecking=off -o 'UserKnownHostsFile = /x/kh' -i~/k1 -o IdentityFile=/k2 -o IdentityAgent=/a.sock",
        }));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(s.port, 2203, "-p is set directly and last wins");
        assert_eq!(s.host_key_policy, HostKeyPolicy::No);
        assert_eq!(s.known_hosts, vec![PathBuf::from("/x/kh")]);
        assert_eq!(s.key_files.len(), 2);
        assert_eq!(s.key_files[1], PathBuf::from("/k2"));
        assert_eq!(s.agent_socket, Some(PathBuf::from("/a.sock")));
        let v = vars(json!({ "ansible_ssh_common_args": "-o Port=2201 -o Port=2202" }));
        let s = ConnSpec::from_vars("h", &v, &ConnOverrides::default()).unwrap();
        assert_eq!(s.port, 2201);
    }

    fn cli(on: bool, user: Option<&str>) -> BecomeAsked<'_> {
        BecomeAsked {
            cli: on,
            cli_user: user,
            ..BecomeAsked::default()
        }
    }

    /// Issue 16: the play's resolver let `-b` and keywords beat `ansible_become` and ran
    /// `ansible_become_method: su` with sudo; `run`'s did the reverse. One resolver now, with
    /// Ansible's precedence: variables > task keyword > play keyword > command line.
    #[test]
    fn become_precedence_table() {
        let v = |j: Value| j.as_object().cloned().unwrap_or_default();
        let ask = |keyword, keyword_user, cli, cli_user| BecomeAsked {
            keyword,
            keyword_user,
            cli,
            cli_user,
        };
        // (vars, keyword, keyword_user, -b, --become-user) -> user, or None when off.
        type Row = (
            Value,
            Option<bool>,
            Option<&'static str>,
            bool,
            Option<&'static str>,
            Option<&'static str>,
        );
        let table: Vec<Row> = vec![
            (json!({}), None, None, false, None, None),
            (json!({}), None, None, true, None, Some("root")),
            (json!({}), Some(false), None, true, None, None),
            (json!({}), Some(true), None, false, None, Some("root")),
            (
                json!({"ansible_become": false}),
                Some(true),
                None,
                true,
                None,
                None,
            ),
            (
                json!({"ansible_become": "no"}),
                None,
                None,
                true,
                None,
                None,
            ),
            (
                json!({"ansible_become": true}),
                Some(false),
                None,
                false,
                None,
                Some("root"),
            ),
            (
                json!({}),
                Some(true),
                Some("app"),
                true,
                Some("cli"),
                Some("app"),
            ),
            (json!({}), None, None, true, Some("cli"), Some("cli")),
            (
                json!({"ansible_become_user": "pg"}),
                Some(true),
                Some("app"),
                false,
                Some("cli"),
                Some("pg"),
            ),
        ];
        for (vars, kw, kw_user, on, cli_user, want) in table {
            let got = become_with_env("h", &v(vars.clone()), &ask(kw, kw_user, on, cli_user), None)
                .unwrap()
                .map(|b| b.user);
            assert_eq!(
                got.as_deref(),
                want,
                "{vars} {kw:?} {kw_user:?} {on} {cli_user:?}"
            );
        }
        // su is refused whichever way become was asked for, never run as sudo.
        let su = v(json!({"ansible_become_method": "su"}));
        for asked in [
            ask(Some(true), None, false, None),
            ask(None, None, true, None),
        ] {
            assert!(matches!(
                become_with_env("h", &su, &asked, None),
                Err(ConnSpecError::Unsupported { .. })
            ));
        }
        // ... and a bad ansible_become is an error, not "off".
        let bad = v(json!({"ansible_become": 2}));
        assert!(become_with_env("h", &bad, &ask(Some(true), None, true, None), None).is_err());
    }

    #[test]
    fn become_vars_and_booleans() {
        let none = Map::new();
        assert_eq!(
            become_with_env("h", &none, &cli(false, None), None).unwrap(),
            None
        );
        let b = become_with_env("h", &none, &cli(true, Some("app")), None)
            .unwrap()
            .unwrap();
        assert_eq!((b.user.as_str(), b.password.clone()), ("app", None));
        for yes in [
            json!("yes"),
            json!("True"),
            json!("on"),
            json!(1),
            json!(true),
            json!("y"),
        ] {
            let v = vars(json!({ "ansible_become": yes }));
            let b = become_with_env("h", &v, &cli(false, None), Some("envpw".into()))
                .unwrap()
                .unwrap();
            assert_eq!(b.user, "root");
            assert_eq!(b.password.as_deref(), Some("envpw"));
        }
        // The host's `ansible_become: no` beats `--become`, as in Ansible.
        for no in [
            json!("no"),
            json!("false"),
            json!("off"),
            json!(0),
            json!(false),
        ] {
            let v = vars(json!({ "ansible_become": no }));
            assert_eq!(
                become_with_env("h", &v, &cli(true, None), None).unwrap(),
                None
            );
        }
        let v = vars(json!({
            "ansible_become": "yes",
            "ansible_become_user": "postgres",
            "ansible_become_pass": "s3cret",
        }));
        let b = become_with_env("h", &v, &cli(false, Some("cli")), Some("envpw".into()))
            .unwrap()
            .unwrap();
        assert_eq!(b.user, "postgres");
        assert_eq!(b.password.as_deref(), Some("s3cret"));
        let v = vars(json!({"ansible_become": true, "ansible_become_password": "p2"}));
        let b = become_with_env("h", &v, &cli(false, None), None)
            .unwrap()
            .unwrap();
        assert_eq!(b.password.as_deref(), Some("p2"));
        let v = vars(json!({"ansible_become": "maybe"}));
        assert!(become_with_env("h", &v, &cli(false, None), None).is_err());
        let v = vars(json!({"ansible_become": true, "ansible_become_method": "su"}));
        assert!(matches!(
            become_with_env("h", &v, &cli(false, None), None),
            Err(ConnSpecError::Unsupported { .. })
        ));
    }

    #[test]
    fn policy_spellings() {
        assert_eq!(HostKeyPolicy::parse("ask"), Some(HostKeyPolicy::Yes));
        assert_eq!(
            HostKeyPolicy::parse("Accept-New"),
            Some(HostKeyPolicy::AcceptNew)
        );
        assert_eq!(HostKeyPolicy::parse("off"), Some(HostKeyPolicy::No));
        assert_eq!(HostKeyPolicy::parse("sometimes"), None);
    }
}
