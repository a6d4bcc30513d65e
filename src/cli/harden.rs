//! `sesame harden`: run the `harden` playbook with the `port_knocking` role from any
//! directory. The binary carries both; files on disk win (`./playbooks/harden.yml`, a role in
//! `./roles`, `roles_path` or `/usr/share/sesame/roles`), and the output names what ran.

use super::play::{self, Flags};
use crate::playbook::embedded::{Extracted, HARDEN_PLAYBOOK, VERSION};
use std::path::{Path, PathBuf};

/// Arguments of `sesame harden`: every flag of `sesame play`, no playbook.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use this playbook instead of ./playbooks/harden.yml or the embedded one.
    #[arg(long = "playbook", value_name = "FILE")]
    pub playbook: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
}

/// Run `sesame harden`.
pub fn run(args: Args) -> crate::Result<u8> {
    let embedded = Extracted::new()?;
    let local = Path::new(HARDEN_PLAYBOOK);
    let (book, extra_roles) = match &args.playbook {
        Some(p) => (p.clone(), Vec::new()),
        None if local.is_file() => (local.to_path_buf(), Vec::new()),
        // The embedded playbook: a project's own roles (./roles, as `sesame init` writes
        // them) come before roles_path and the embedded role.
        None => (embedded.playbook(), vec![PathBuf::from("roles")]),
    };
    let line = if embedded.contains(&book) {
        format!("playbook {HARDEN_PLAYBOOK}: embedded in sesame {VERSION}")
    } else {
        format!("playbook {}", book.display())
    };
    if args.flags.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    let extra_roles: Vec<PathBuf> = extra_roles
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    play::run_books(&[book], args.flags, &extra_roles, Some(&embedded))
}
