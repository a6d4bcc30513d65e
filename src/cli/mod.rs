//! The command line: one file per subcommand, each with its clap `Args` (whose doc comments are
//! the `--help` text) and its `run`. This module only dispatches and maps errors to exit codes.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod common;
pub mod completions;
pub mod harden;
pub mod init;
pub mod inventory;
pub mod knock;
mod log;
pub mod man;
pub mod outputs;
pub mod play;
pub mod play_config;
pub mod run;
pub mod ssh;
pub mod verify;

/// sesame hardens fleets of Debian/Ubuntu servers with port knocking, Ansible-style.
#[derive(Debug, Parser)]
#[command(
    name = "sesame",
    version = crate::playbook::embedded::VERSION,
    about,
    long_about = None
)]
pub struct Cli {
    /// More output (-v, -vv, -vvv), as Ansible.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Harden hosts with port knocking: the playbook and role built into sesame (or yours).
    Harden(harden::Args),
    /// Run a playbook against an inventory (like ansible-playbook).
    Play(play::Args),
    /// Show an inventory as Ansible does (like ansible-inventory).
    Inventory(inventory::Args),
    /// Send a host's knock sequence (or relay a connection after knocking, for ProxyCommand).
    Knock(knock::Args),
    /// Knock, then open an interactive OpenSSH session to the host.
    Ssh(ssh::Args),
    /// Prove every host's port knocking from this controller (read-only audit).
    Verify(verify::Args),
    /// Run one ad-hoc command on every matching host (like ansible -m command).
    Run(run::Args),
    /// Write the harden playbook, the port_knocking role and inventory.example to customise.
    Init(init::Args),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::Args),
    /// Print the man page, or write one per subcommand with --dir.
    Man(man::Args),
}

/// Vault passwords, as Ansible takes them (any subcommand; also `vault_password_file` and
/// `vault_identity_list` of ansible.cfg or their `ANSIBLE_VAULT_*` variables).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VaultArgs {
    /// Vault password file (repeatable); an executable file is run and its output used.
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        global = true
    )]
    pub password_files: Vec<std::path::PathBuf>,
    /// Vault identity `[label@]FILE` or `label@prompt` (repeatable).
    #[arg(long = "vault-id", global = true)]
    pub ids: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password",
        global = true
    )]
    pub ask: bool,
}

impl VaultArgs {
    /// Read every password given (files, scripts, prompts), in Ansible's order: vault ids,
    /// then password files, then the environment's.
    pub fn load(&self) -> crate::Result<crate::vault::Vault> {
        use crate::vault::Secret;
        let cfg = crate::config::installed();
        let mut ids: Vec<String> = self.ids.clone();
        if let Some(list) = cfg.string(crate::config::VAULT_IDENTITY_LIST) {
            ids.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        let mut files = self.password_files.clone();
        files.extend(cfg.paths(crate::config::VAULT_PASSWORD_FILE));
        let mut secrets = Vec::new();
        for id in &ids {
            let (label, source) = match id.split_once('@') {
                Some((l, s)) => (Some(l.to_string()), s),
                None => (None, id.as_str()),
            };
            if source == "prompt" {
                secrets.push(Secret::new(label.clone(), prompt(label.as_deref())?));
            } else {
                secrets.push(Secret::from_file(label, std::path::Path::new(source))?);
            }
        }
        for f in &files {
            secrets.push(Secret::from_file(None, f)?);
        }
        if self.ask {
            secrets.push(Secret::new(None, prompt(None)?));
        }
        Ok(crate::vault::Vault::new(secrets))
    }
}

/// Ask for a vault password on the terminal, without echo.
fn prompt(label: Option<&str>) -> crate::Result<String> {
    common::prompt_secret(&match label {
        Some(l) => format!("Vault password ({l}): "),
        None => "Vault password: ".to_string(),
    })
}

/// Run the parsed command line and return the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    crate::runner::memory::tune();
    log::init(cli.verbose);
    // Secrets from the environment are masked from the first line on.
    crate::vars::mask::register(
        [
            "SESAME_BECOME_PASSWORD",
            "SESAME_PASSWORD",
            "SESAME_KEY_PASSPHRASE",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok()),
    );
    match &cli.command {
        Command::Play(a) => crate::vars::mask::show_secrets(a.flags.show_secrets),
        Command::Harden(a) => crate::vars::mask::show_secrets(a.flags.show_secrets),
        _ => {}
    }
    match crate::config::AnsibleConfig::find() {
        Ok(cfg) => {
            if let Some(p) = &cfg.path {
                tracing::info!(config = %p.display(), "using ansible.cfg");
            }
            crate::config::install(cfg);
        }
        Err(e) => {
            eprintln!("ERROR! {}", last_words(&e));
            return ExitCode::from(1);
        }
    }
    match cli.vault.load() {
        Ok(v) => crate::vault::install(v),
        Err(e) => {
            eprintln!("ERROR! {}", last_words(&e));
            return ExitCode::from(e.exit_code());
        }
    }
    let outcome = match cli.command {
        Command::Harden(a) => harden::run(a),
        Command::Play(a) => play::run(a),
        Command::Inventory(a) => inventory::run(a),
        Command::Knock(a) => knock::run(a),
        Command::Ssh(a) => ssh::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Run(a) => run::run(a),
        Command::Init(a) => init::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ERROR! {}", last_words(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// An error as the last line sesame prints: secrets masked, control characters escaped.
fn last_words(e: &dyn std::fmt::Display) -> String {
    crate::text::for_terminal(&crate::vars::mask::mask_run(&e.to_string())).into_owned()
}
