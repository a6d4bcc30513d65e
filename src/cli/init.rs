//! `sesame init [DIR]`: write the embedded `harden` playbook, `port_knocking` role and
//! `inventory.example` into DIR to customise them. Never overwrites a file without `--force`.

use crate::playbook::embedded;
use std::path::PathBuf;

/// Arguments of `sesame init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that exist (never a directory or a symlink).
    #[arg(long = "force")]
    pub force: bool,
}

/// Run `sesame init`.
pub fn run(args: Args) -> crate::Result<u8> {
    let report = embedded::init(&args.dir, args.force)?;
    for p in &report.written {
        println!("wrote   {}", args.dir.join(p).display());
    }
    for p in &report.skipped {
        println!(
            "skipped {} (exists; --force overwrites)",
            args.dir.join(p).display()
        );
    }
    if report.written.is_empty() {
        println!("nothing written");
    } else {
        println!(
            "next: edit {} and run `sesame harden -i {}`",
            args.dir.join("inventory.example").display(),
            args.dir.join("inventory.example").display()
        );
    }
    Ok(0)
}
