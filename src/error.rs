//! The top-level error type: every boundary error (inventory, playbook, transport, module) wraps
//! into it with its own context, and it maps to Ansible's exit codes. It must not print.

use std::path::PathBuf;

/// Result alias used across the crate's command layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a command before or instead of a normal run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line usage found after clap's own parsing.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Playbook(#[from] crate::playbook::PlaybookError),
    #[error(transparent)]
    ExtraVars(#[from] crate::vars::ExtraVarsError),
    /// Loading the inventory (or evaluating a host pattern against it) failed.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    /// ansible.cfg (or an `ANSIBLE_*` variable) has a bad value.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A vault password could not be read.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// A host's `!vault` variable does not decrypt.
    #[error("host {host}: variable {variable}: cannot decrypt vault data: {source}")]
    VaultVar {
        host: String,
        variable: String,
        #[source]
        source: crate::vault::VaultError,
    },
    /// The embedded playbook and role could not be unpacked or written (`sesame init`).
    #[error(transparent)]
    Embedded(#[from] crate::playbook::embedded::EmbeddedError),
    /// A report file (`--junit`, `--summary`, completions, man pages) could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The retry file (`--retry-file`) could not be written.
    #[error(transparent)]
    RetryFile(#[from] crate::runner::stats::RetryFileError),
    /// The worker threads could not be started (a resource limit, not a usage error).
    #[error(transparent)]
    Pool(#[from] crate::runner::pool::PoolError),
    /// Reading a local file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Exit code as `ansible-playbook` uses it for errors before any host ran: 1 for parse and
    /// usage errors.
    pub fn exit_code(&self) -> u8 {
        1
    }
}
