//! How sesame talks to a host: the `Transport` trait (one exec or upload at a time, owned by one
//! worker thread), the command builder (`Cmd`: quoting, become, masking), the ssh2
//! implementation and a scripted fake for unit tests. Nothing here prints or decides policy.

mod auth;
pub mod batch;
pub mod command;
mod conn_error;
pub mod fake;
pub mod known_hosts;
pub mod proxy;
pub mod spec;
pub mod ssh;
mod ssh_args;
pub mod ssh_config;
pub mod ssh_text;
pub mod sudo;

pub use command::{Become, Cmd};
pub use spec::{
    become_for, become_from_vars, BecomeAsked, ConnOverrides, ConnSpec, ConnSpecError,
    HostKeyPolicy,
};
pub use ssh::SshTransport;

use std::time::Duration;

/// What one remote command returned. A non-zero `status` is data, not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status of the remote command (`-1` when it died on a signal).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A file to write on the host: uploaded beside `path` and moved into place atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    /// Octal mode, e.g. `0o644`; `None` keeps the existing file's mode (or 0644 for new files).
    pub mode: Option<u32>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// Failures to reach or talk to a host. A command that ran and failed is an `Output`, not this.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connection to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    /// A connection that timed out although sesame knocked first: the likeliest causes are a
    /// host hardened with another sequence or a network that drops the knock packets. `tried`
    /// names the knocks tried (variables, state file entries), never their ports.
    #[error(
        "connection to {addr} timed out after {timeout:?} although sesame knocked first \
         ({knocks} knock(s); tried {tried}): if the host was hardened with another sequence, \
         list that one in knock_previous_sequences (in a vars file or vault; sesame tries it \
         after knock_sequence and rotates the host); check that nothing between here and the \
         host drops the knock packets, and that the host is up"
    )]
    KnockedButSilent {
        addr: String,
        timeout: Duration,
        knocks: u32,
        tried: String,
    },
    #[error("cannot reach {host} through its proxy ({proxy}): {message}")]
    Proxy {
        host: String,
        proxy: String,
        message: String,
    },
    #[error("SSH handshake with {addr} failed: {message}")]
    Handshake { addr: String, message: String },
    #[error("authentication as {user}@{addr} failed (tried: {tried})")]
    Auth {
        user: String,
        addr: String,
        tried: String,
    },
    #[error(
        "host {host} is not in known_hosts ({files}); its key is {fingerprint}. \
         Accept it with `ssh-keyscan -p {port} {addr} >> ~/.ssh/known_hosts` after checking the \
         fingerprint, or set StrictHostKeyChecking=accept-new"
    )]
    UnknownHostKey {
        host: String,
        addr: String,
        port: u16,
        fingerprint: String,
        files: String,
    },
    #[error(
        "host {host} is vouched for only by a certificate authority ({ca}), and sesame's SSH \
         library (libssh2) cannot check host certificates; its plain key is {fingerprint}. Add \
         that key after checking it: `ssh-keyscan -p {port} {addr} >> ~/.ssh/known_hosts`"
    )]
    HostCertificateUnsupported {
        host: String,
        addr: String,
        port: u16,
        fingerprint: String,
        ca: String,
    },
    #[error(
        "REMOTE HOST IDENTIFICATION HAS CHANGED for {host} ({addr}): known_hosts has {expected}, \
         the host now offers {actual}; nothing was run on it"
    )]
    HostKeyChanged {
        host: String,
        addr: String,
        expected: String,
        actual: String,
    },
    #[error(
        "host key of {host} ({addr}) is {fingerprint}, which {file}:{line} marks @revoked; \
         nothing was run on it"
    )]
    HostKeyRevoked {
        host: String,
        addr: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("cannot use known_hosts file {path}: {source}")]
    KnownHosts {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "command on {host} timed out after {timeout:?} (sesame_command_timeout sets the limit, \
         0 for none): {command}"
    )]
    CommandTimeout {
        host: String,
        timeout: Duration,
        command: String,
    },
    #[error(
        "command on {host} wrote more than {limit} bytes on {stream}; stopped it \
         (sesame_output_limit sets the limit): {command}"
    )]
    OutputLimit {
        host: String,
        stream: &'static str,
        limit: usize,
        command: String,
    },
    #[error("SSH session to {host} failed: {message}")]
    Session { host: String, message: String },
    #[error("become failed on {host}: {message}")]
    Become { host: String, message: String },
    #[error("upload of {path} to {host} failed: {message}")]
    Upload {
        host: String,
        path: String,
        message: String,
    },
}

impl TransportError {
    /// Whether the host counts as unreachable (Ansible's `unreachable=`) rather than failed.
    /// An unknown host key is unreachable, as Ansible reports ssh's "Host key verification
    /// failed"; a changed or revoked key, or a certificate sesame cannot check, stays a
    /// failure (the louder of the two: something is wrong with what the host presents).
    pub fn is_unreachable(&self) -> bool {
        !matches!(
            self,
            TransportError::HostKeyChanged { .. }
                | TransportError::HostKeyRevoked { .. }
                | TransportError::KnownHosts { .. }
                | TransportError::HostCertificateUnsupported { .. }
                | TransportError::Upload { .. }
                | TransportError::Become { .. }
                | TransportError::CommandTimeout { .. }
                | TransportError::OutputLimit { .. }
        )
    }
}

/// Opens a fresh session to the host a worker is on; `true` knocks first when the host has a
/// knock profile. Used to prove a new firewall with a new connection.
pub type Connector<'a> = dyn Fn(bool) -> Result<Box<dyn Transport>, TransportError> + Sync + 'a;

/// One live connection to one host. Implementations are owned by a single worker thread.
pub trait Transport: Send {
    /// The inventory name of the host this transport talks to.
    fn host(&self) -> &str;
    /// Run one command (wrapped in become by the command itself) and collect its output.
    fn exec(&mut self, cmd: &Cmd) -> Result<Output, TransportError>;
    /// Write a file atomically (temp file beside the target, mode/owner, `mv -f`), with become
    /// when `escalate` is given.
    fn upload(
        &mut self,
        file: &Upload<'_>,
        escalate: Option<&Become>,
    ) -> Result<(), TransportError>;
    /// How many commands this transport has executed (for tests and benchmarks).
    fn exec_count(&self) -> usize;
    /// The measured round trip to the host over this session's own TCP connection: the
    /// kernel's smoothed RTT and its variation. None when unknown (a proxy command carries
    /// the session, or a fake).
    fn round_trip(&self) -> Option<RoundTrip> {
        None
    }
}

/// A TCP connection's round trip as the kernel measured it (`TCP_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    /// Smoothed round-trip time.
    pub smoothed: std::time::Duration,
    /// Its mean deviation.
    pub variation: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_host_key_is_unreachable_as_in_ansible() {
        let unknown = TransportError::UnknownHostKey {
            host: "web1".into(),
            addr: "198.19.1.11".into(),
            port: 22,
            fingerprint: "SHA256:x".into(),
            files: "~/.ssh/known_hosts".into(),
        };
        assert!(unknown.is_unreachable(), "{unknown}");
        let changed = TransportError::HostKeyChanged {
            host: "web1".into(),
            addr: "198.19.1.11:22".into(),
            expected: "SHA256:a".into(),
            actual: "SHA256:b".into(),
        };
        assert!(!changed.is_unreachable(), "{changed}");
    }
}
