//! Errors of the inventory boundary: every variant names the file and the line (1-based) and
//! says what was expected. Host-pattern errors are separate: they have no file.

use std::path::PathBuf;

/// Loading an inventory failed. Displayed as `FILE:LINE: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A source, or a group_vars/host_vars file, could not be read.
    #[error("cannot read inventory source {}: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A host range with a `[` and no `]`.
    #[error("{}:{line}: unclosed host range in `{pattern}`: expected `]` (as in `web[01:50]`)", .path.display())]
    UnclosedRange {
        path: PathBuf,
        line: usize,
        pattern: String,
    },
    /// A host range that is malformed or empty.
    #[error("{}:{line}: bad host range in `{pattern}`: {reason}", .path.display())]
    BadRange {
        path: PathBuf,
        line: usize,
        pattern: String,
        reason: String,
    },
    /// `[group:suffix]` with a suffix other than `vars` or `children`.
    #[error("{}:{line}: section [{group}:{suffix}] has unknown type `{suffix}`: expected `[{group}]`, `[{group}:vars]` or `[{group}:children]`", .path.display())]
    UnknownSection {
        path: PathBuf,
        line: usize,
        group: String,
        suffix: String,
    },
    /// A `[...]` line that is not a valid section header.
    #[error("{}:{line}: invalid section entry `{text}`: expected `[group]`, `[group:vars]` or `[group:children]` with no spaces", .path.display())]
    BadSection {
        path: PathBuf,
        line: usize,
        text: String,
    },
    /// A host line that cannot be read.
    #[error("{}:{line}: cannot parse host line `{text}`: {reason}", .path.display())]
    BadHostLine {
        path: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    /// A line in a `[group:vars]` section without `=`.
    #[error("{}:{line}: expected `key=value` in section [{group}:vars], got `{text}`", .path.display())]
    VarsLineWithoutEquals {
        path: PathBuf,
        line: usize,
        group: String,
        text: String,
    },
    /// A line in a `[group:children]` section that is not a group name.
    #[error("{}:{line}: expected a group name in section [{group}:children], got `{text}`", .path.display())]
    BadChildLine {
        path: PathBuf,
        line: usize,
        group: String,
        text: String,
    },
    /// `[parent:children]` names a group that the file never defines (Ansible refuses it too).
    #[error("{}:{line}: section [{parent}:children] includes undefined group `{group}`: define it with a `[{group}]` section", .path.display())]
    UndefinedChild {
        path: PathBuf,
        line: usize,
        parent: String,
        group: String,
    },
    /// `[group:vars]` for a group that is never defined.
    #[error("{}:{line}: section [{group}:vars] is for undefined group `{group}`: define it with a `[{group}]` section", .path.display())]
    VarsForUndefinedGroup {
        path: PathBuf,
        line: usize,
        group: String,
    },
    /// Making a group a child of another would create a loop.
    #[error("{}:{line}: group cycle {cycle}: a group cannot be its own ancestor", .path.display())]
    GroupCycle {
        path: PathBuf,
        line: usize,
        cycle: String,
    },
    /// `ansible_group_priority` that is not a number.
    #[error("{}:{line}: ansible_group_priority of group `{group}` must be an integer, got `{value}`", .path.display())]
    BadPriority {
        path: PathBuf,
        line: usize,
        group: String,
        value: String,
    },
    /// A YAML or JSON file that does not parse.
    #[error("{}:{line}:{column}: YAML syntax error: {message}", .path.display())]
    YamlSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A YAML inventory whose structure is not Ansible's (`hosts:` given a list, ...).
    #[error("{}:{line}: {message}", .path.display())]
    YamlType {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A group_vars/host_vars file whose top level is not a mapping.
    #[error("{}:{line}: variables file must be a mapping of names to values, found {found}", .path.display())]
    VarsFileNotMapping {
        path: PathBuf,
        line: usize,
        found: String,
    },
    /// Vault-encrypted content that does not decrypt (no password given, wrong password, or
    /// a format sesame does not read).
    #[error("{}:{line}: cannot decrypt vault data: {source}", .path.display())]
    Vault {
        path: PathBuf,
        line: usize,
        #[source]
        source: crate::vault::VaultError,
    },
    /// A source sesame does not read (TOML inventory, inventory plugin configuration).
    #[error("{}:{line}: unsupported inventory source: {what}", .path.display())]
    Unsupported {
        path: PathBuf,
        line: usize,
        what: String,
    },
    /// A host pattern (e.g. a `--limit`) that is invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// A host pattern that cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// `~regex` that does not compile.
    #[error("invalid host pattern `{pattern}`: bad regular expression: {reason}")]
    BadRegex { pattern: String, reason: String },
    /// `g[5]` on a group with fewer hosts.
    #[error("no hosts matched the subscripted pattern `{pattern}`: index out of range")]
    SubscriptOutOfRange { pattern: String },
    /// `@file` that cannot be read.
    #[error("cannot read limit file {}: {source}", .path.display())]
    LimitFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
