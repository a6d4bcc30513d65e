//! `sesame completions SHELL`: the shell completion script, generated from the clap
//! definitions (clap_complete), on stdout.

use clap::CommandFactory;

/// Arguments of `sesame completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh or fish (also elvish, powershell).
    pub shell: clap_complete::Shell,
}

/// Run `sesame completions`.
pub fn run(args: Args) -> crate::Result<u8> {
    let mut cmd = super::Cli::command();
    // Into memory first: clap_complete panics on a write error (`| head` closing the pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "sesame", &mut script);
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(&script);
    Ok(0)
}
