//! What the subcommands share on the command line: finding the inventory, `-f`/`-b`/`-K`/`-e`,
//! the connection flags and ansible.cfg's connection settings, prompts. How a host is reached
//! (variables, knocks, retries) lives below, in `connect/`.

use crate::config::AnsibleConfig;
use crate::inventory::Inventory;
use crate::knock;
use crate::transport::spec::{ConnOverrides, ConnSpec};
use crate::vars::Vars;
use std::path::PathBuf;
use std::time::Duration;

/// Inventory sources: `-i` values, else `inventory` of ansible.cfg or `$ANSIBLE_INVENTORY`
/// (comma-separated), else `/etc/ansible/hosts`.
pub fn inventory_sources(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let configured = crate::config::installed().paths(crate::config::INVENTORY);
    if !configured.is_empty() {
        return configured;
    }
    vec![PathBuf::from("/etc/ansible/hosts")]
}

/// `-f`: the flag, else `forks` of ansible.cfg / `$ANSIBLE_FORKS`, else 20.
pub fn forks(cfg: &AnsibleConfig, flag: Option<usize>) -> crate::Result<usize> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match cfg.number(crate::config::FORKS)? {
        None => Ok(crate::runner::pool::DEFAULT_FORKS),
        Some(n) if (1..=1000).contains(&n) => Ok(n as usize),
        Some(n) => Err(crate::Error::Usage(format!(
            "forks = {n} in the configuration: expected 1 to 1000"
        ))),
    }
}

/// `-b` and `--become-user` with `become`/`become_user` of ansible.cfg (or `$ANSIBLE_BECOME*`)
/// under them.
pub fn become_defaults(
    cfg: &AnsibleConfig,
    flag: bool,
    user: Option<String>,
) -> crate::Result<(bool, Option<String>)> {
    let on = flag || cfg.boolean(crate::config::BECOME)?.unwrap_or(false);
    let user = user.or_else(|| cfg.string(crate::config::BECOME_USER));
    Ok((on, user))
}

/// `-K`, or `become_ask_pass` of ansible.cfg.
pub fn ask_become(cfg: &AnsibleConfig, flag: bool) -> crate::Result<bool> {
    Ok(flag
        || cfg
            .boolean(crate::config::BECOME_ASK_PASS)?
            .unwrap_or(false))
}

/// Load the inventory named on the command line.
pub fn load_inventory(given: &[PathBuf]) -> crate::Result<Inventory> {
    Ok(Inventory::load(&inventory_sources(given))?)
}

/// Ask for a secret on the terminal (not stdin), without echo; empty answers are refused.
pub fn prompt_secret(question: &str) -> crate::Result<String> {
    let answer = rpassword::prompt_password(question).map_err(|e| {
        crate::Error::Usage(format!(
            "cannot read `{}` from the terminal: {e}",
            question.trim_end_matches([':', ' '])
        ))
    })?;
    if answer.is_empty() {
        return Err(crate::Error::Usage(format!(
            "`{}`: nothing was typed",
            question.trim_end_matches([':', ' '])
        )));
    }
    crate::vars::mask::register([&answer]);
    Ok(answer)
}

/// The password for `-K`/`--ask-become-pass`, asked once before any host is touched.
pub fn ask_become_pass(ask: bool) -> crate::Result<Option<crate::vars::mask::Hidden>> {
    Ok(if ask {
        Some(crate::vars::mask::Hidden(prompt_secret(
            "BECOME password: ",
        )?))
    } else {
        None
    })
}

/// One warning per run naming the hosts whose unknown host keys are accepted unchecked
/// (`host_key_checking = False`, `StrictHostKeyChecking=no`), as Ansible's users are told once,
/// not once per host. `warned` is the run's flag: later calls only warn if it is still false.
pub fn warn_unchecked_host_keys<'a>(
    specs: impl IntoIterator<Item = &'a ConnSpec>,
    warned: &mut bool,
    events: &crate::runner::EventSender,
) {
    use crate::transport::spec::HostKeyPolicy;
    if *warned {
        return;
    }
    let names: Vec<&str> = specs
        .into_iter()
        .filter(|s| s.host_key_policy == HostKeyPolicy::No)
        .map(|s| s.name.as_str())
        .collect();
    if names.is_empty() {
        return;
    }
    *warned = true;
    let shown = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    let more = match names.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    events.send(crate::runner::Event::Warning {
        host: None,
        msg: format!(
            "host key checking is off (host_key_checking = False or StrictHostKeyChecking=no) \
             for {shown}{more}: an unknown host key is accepted without check, so whoever sits \
             on the path gets the session and the passwords sent over it; record the keys in \
             known_hosts and turn checking back on"
        ),
    });
}

/// Merge every `-e` argument, later ones winning.
pub fn extra_vars(args: &[String]) -> crate::Result<Vars> {
    let mut out = Vars::new();
    for a in args {
        crate::vars::merge_into(&mut out, &crate::vars::parse_extra_vars(a)?);
    }
    Ok(out)
}

/// Connection flags shared by the commands that log in to hosts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// Connect as this user (unless the inventory sets `ansible_user`).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Private key file.
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<PathBuf>,
    /// SSH connect timeout in seconds.
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// known_hosts file to check host keys against (repeatable).
    #[arg(long = "known-hosts")]
    pub known_hosts: Vec<PathBuf>,
    /// Host key policy: yes | accept-new | no (like StrictHostKeyChecking).
    #[arg(long = "ssh-strict")]
    pub ssh_strict: Option<String>,
    /// Ask for the SSH login password on the terminal (hosts without `ansible_password`).
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Neither read nor write the knock state file (what sesame applied on each host, tried
    /// after the current knock; see the README's "Day two").
    #[arg(long = "no-state")]
    pub no_state: bool,
}

/// ansible.cfg's connection settings (`remote_user`, `private_key_file`, `timeout`,
/// `host_key_checking`, `ssh_common_args`, `ssh_extra_args`, and their `ANSIBLE_*` variables)
/// over the environment's: what `sesame knock` and `sesame ssh`, which have no connection
/// flags, use, so they reach a host as `play` and `run` do. Never prompts.
pub fn cfg_overrides() -> crate::Result<ConnOverrides> {
    ConnArgs::default().settings(crate::config::installed())
}

impl ConnArgs {
    /// The flags on top of ansible.cfg (and its `ANSIBLE_*` variables) and the environment's
    /// secrets (`ConnOverrides::from_env`).
    pub fn overrides(&self) -> crate::Result<ConnOverrides> {
        let cfg = crate::config::installed();
        let o = self.settings(cfg)?;
        self.activate(cfg, o)
    }

    /// The side effects of these flags, once per run on the main thread before any host is
    /// worked on: the state-file switch (process-wide) and the SSH password prompt.
    pub fn activate(
        &self,
        cfg: &AnsibleConfig,
        mut o: ConnOverrides,
    ) -> crate::Result<ConnOverrides> {
        knock::state_file::configure(!self.no_state);
        let ask_pass = cfg.boolean(crate::config::ASK_PASS)?;
        if self.ask_pass || ask_pass.unwrap_or(false) {
            o.password = Some(prompt_secret("SSH password: ")?);
        }
        Ok(o)
    }

    /// The flags on top of `cfg` and the environment, without side effects (no state file
    /// switch, no password prompt).
    pub fn settings(&self, cfg: &AnsibleConfig) -> crate::Result<ConnOverrides> {
        use crate::config as cfg_keys;
        let mut o = ConnOverrides::from_env();
        o.user = self
            .user
            .clone()
            .or_else(|| cfg.string(cfg_keys::REMOTE_USER));
        o.private_key = self
            .private_key
            .clone()
            .or_else(|| cfg.paths(cfg_keys::PRIVATE_KEY_FILE).into_iter().next());
        o.timeout = match self.timeout {
            Some(t) => Some(Duration::from_secs(t)),
            None => cfg.number(cfg_keys::TIMEOUT)?.map(Duration::from_secs),
        };
        o.known_hosts = self.known_hosts.clone();
        o.host_key_checking = cfg.boolean(cfg_keys::HOST_KEY_CHECKING)?;
        o.ssh_common_args = cfg.string(cfg_keys::SSH_COMMON_ARGS);
        o.ssh_extra_args = cfg.string(cfg_keys::SSH_EXTRA_ARGS);
        o.ssh_strict = match &self.ssh_strict {
            None => None,
            Some(s) => Some(
                crate::transport::spec::HostKeyPolicy::parse(s).ok_or_else(|| {
                    crate::Error::Usage(format!("--ssh-strict: `{s}` is not yes, accept-new or no"))
                })?,
            ),
        };
        Ok(o)
    }
}
