//! `PlayConfig`: the flags of `sesame play` (and `harden`) resolved once, before anything runs:
//! a flag beats ansible.cfg (or its `ANSIBLE_*` variable), which beats sesame's default. Pure
//! but for the environment the configuration reads; prompts and process-wide switches happen
//! later, in `ConnArgs::activate` and the become prompt, once the run is sure to start.

use super::common;
use super::play::Flags;
use crate::config::AnsibleConfig;
use crate::playbook::exec::RunOpts;
use crate::runner::report::{Format, ReportOptions, Style};
use crate::transport::spec::ConnOverrides;
use crate::vars::mask::Hidden;
use crate::vars::{merge_into, parse_extra_vars, Vars};
use std::path::PathBuf;

/// What `sesame play` does with its playbooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `--syntax-check`: load them, and stop.
    SyntaxCheck,
    /// `--list-hosts` and/or `--list-tasks`: list, and stop.
    List { hosts: bool, tasks: bool },
    /// Run them.
    Run,
}

/// Every setting of one `sesame play`, resolved.
#[derive(Debug, Clone)]
pub struct PlayConfig {
    pub action: Action,
    /// `-e`, merged in order (later ones win).
    pub extra_vars: Vars,
    /// `-l`: Ansible has no configuration setting for it.
    pub limit: Option<String>,
    /// `-f`, else `forks`, else 20.
    pub forks: usize,
    /// `-C` and `-D` (flags only, as sesame reads no `[diff]` section).
    pub check: bool,
    pub diff: bool,
    /// `-b` or `become`; `--become-user` else `become_user`.
    pub become_: bool,
    pub become_user: Option<String>,
    /// `-K` or `become_ask_pass`: the become password is asked before the run.
    pub ask_become_pass: bool,
    /// The connection flags over ansible.cfg's `remote_user`, `private_key_file`, `timeout`,
    /// `host_key_checking`, `ssh_common_args`, `ssh_extra_args` (no prompt yet).
    pub conn: ConnOverrides,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub start_at_task: Option<String>,
    pub show_secrets: bool,
    pub json: bool,
    pub retry_file: Option<PathBuf>,
    pub fail_on_change: bool,
}

impl PlayConfig {
    /// Resolve `flags` over `cfg`. Errors name the bad value (an `-e` file, a setting's line).
    pub fn resolve(flags: &Flags, cfg: &AnsibleConfig) -> crate::Result<PlayConfig> {
        let mut extra_vars = Vars::new();
        for e in &flags.extra_vars {
            merge_into(&mut extra_vars, &parse_extra_vars(e)?);
        }
        let action = if flags.syntax_check {
            Action::SyntaxCheck
        } else if flags.list_hosts || flags.list_tasks {
            Action::List {
                hosts: flags.list_hosts,
                tasks: flags.list_tasks,
            }
        } else {
            Action::Run
        };
        let (become_, become_user) =
            common::become_defaults(cfg, flags.become_, flags.become_user.clone())?;
        Ok(PlayConfig {
            action,
            extra_vars,
            limit: flags.limit.clone(),
            forks: common::forks(cfg, flags.forks)?,
            check: flags.check,
            diff: flags.diff,
            become_,
            become_user,
            ask_become_pass: common::ask_become(cfg, flags.ask_become_pass)?,
            conn: flags.conn.settings(cfg)?,
            tags: flags.tags.clone(),
            skip_tags: flags.skip_tags.clone(),
            start_at_task: flags.start_at_task.clone(),
            show_secrets: flags.show_secrets,
            json: flags.json,
            retry_file: flags.retry_file.clone(),
            fail_on_change: flags.fail_on_change,
        })
    }

    /// What every host's play run is told; `become_password` is `-K`'s answer.
    pub fn run_opts(&self, become_password: Option<Hidden>) -> RunOpts {
        RunOpts {
            check: self.check,
            diff: self.diff,
            tags: self.tags.clone(),
            skip_tags: self.skip_tags.clone(),
            extra_vars: self.extra_vars.clone(),
            cli_become: self.become_,
            cli_become_user: self.become_user.clone(),
            cli_become_password: become_password,
            start_at_task: self.start_at_task.clone(),
            show_secrets: self.show_secrets,
        }
    }

    /// The reporter's options: `--json` or Ansible's playbook lines, `-D` diffs.
    pub fn report_options(&self) -> ReportOptions {
        let format = if self.json {
            Format::Json
        } else {
            Format::Human
        };
        let mut ropts = ReportOptions::for_terminal(format, Style::Playbook);
        ropts.diff = self.diff;
        ropts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: Flags,
    }

    fn flags(args: &[&str]) -> Flags {
        Cli::try_parse_from(std::iter::once("sesame").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .flags
    }

    fn cfg(text: &str) -> AnsibleConfig {
        AnsibleConfig::parse(Path::new("/etc/ansible/ansible.cfg"), text).unwrap()
    }

    const CFG: &str = "[defaults]\nforks = 7\ntimeout = 42\nremote_user = cfguser\n\
                       [privilege_escalation]\nbecome = True\nbecome_user = cfgroot\n\
                       become_ask_pass = yes\n";

    /// These tests read `ANSIBLE_*` variables through the configuration: skip when the
    /// environment sets one (it would beat the file, as it does in Ansible).
    fn env_clean() -> bool {
        let vars = [
            "ANSIBLE_FORKS",
            "ANSIBLE_TIMEOUT",
            "ANSIBLE_BECOME",
            "ANSIBLE_BECOME_USER",
        ];
        let set: Vec<_> = vars
            .iter()
            .filter(|v| std::env::var_os(v).is_some())
            .collect();
        if !set.is_empty() {
            eprintln!("skipped: {set:?} set in the environment");
        }
        set.is_empty()
    }

    #[test]
    fn defaults_without_flags_or_configuration() {
        if !env_clean() {
            return;
        }
        let c = PlayConfig::resolve(&flags(&[]), &AnsibleConfig::default()).unwrap();
        assert_eq!(c.action, Action::Run);
        assert_eq!(c.forks, crate::runner::pool::DEFAULT_FORKS);
        assert!(!c.check && !c.diff && !c.become_ && !c.ask_become_pass);
        assert_eq!((c.become_user, c.limit), (None, None));
        assert_eq!(c.conn.timeout, None);
    }

    #[test]
    fn ansible_cfg_beats_the_defaults() {
        if !env_clean() {
            return;
        }
        let c = PlayConfig::resolve(&flags(&[]), &cfg(CFG)).unwrap();
        assert_eq!(c.forks, 7);
        assert!(c.become_ && c.ask_become_pass);
        assert_eq!(c.become_user.as_deref(), Some("cfgroot"));
        assert_eq!(c.conn.timeout, Some(Duration::from_secs(42)));
        assert_eq!(c.conn.user.as_deref(), Some("cfguser"));
    }

    #[test]
    fn flags_beat_ansible_cfg() {
        if !env_clean() {
            return;
        }
        let f = flags(&[
            "-f",
            "3",
            "--become-user",
            "ops",
            "-T",
            "5",
            "-u",
            "me",
            "-C",
            "-D",
            "-l",
            "web*",
        ]);
        let c = PlayConfig::resolve(&f, &cfg(CFG)).unwrap();
        assert_eq!(c.forks, 3);
        assert_eq!(c.become_user.as_deref(), Some("ops"));
        assert_eq!(c.conn.timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.conn.user.as_deref(), Some("me"));
        assert!(c.check && c.diff);
        assert_eq!(c.limit.as_deref(), Some("web*"));
        // -b cannot be switched off by a flag, as in Ansible: `become = True` stays on.
        assert!(c.become_);
        let o = c.run_opts(None);
        assert!(o.check && o.diff && o.cli_become);
        assert_eq!(o.cli_become_user.as_deref(), Some("ops"));
        assert!(c.report_options().diff);
    }

    #[test]
    fn bad_settings_and_extra_vars_are_errors_naming_them() {
        if !env_clean() {
            return;
        }
        let e = PlayConfig::resolve(&flags(&[]), &cfg("[defaults]\nforks = 5000\n")).unwrap_err();
        assert!(e.to_string().contains("forks = 5000"), "{e}");
        let e = PlayConfig::resolve(
            &flags(&[]),
            &cfg("[privilege_escalation]\nbecome = maybe\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ansible.cfg:2"), "{e}");
        let c = PlayConfig::resolve(&flags(&["-e", "a=1", "-e", "a=2 b=3"]), &cfg("")).unwrap();
        assert_eq!(c.extra_vars.get("a"), Some(&serde_json::json!("2")));
        assert_eq!(c.extra_vars.get("b"), Some(&serde_json::json!("3")));
    }

    #[test]
    fn syntax_check_and_lists_stop_before_running() {
        let none = AnsibleConfig::default();
        let action = |a: &[&str]| PlayConfig::resolve(&flags(a), &none).unwrap().action;
        assert_eq!(
            action(&["--syntax-check", "--list-hosts"]),
            Action::SyntaxCheck
        );
        assert_eq!(
            action(&["--list-tasks"]),
            Action::List {
                hosts: false,
                tasks: true
            }
        );
    }
}
