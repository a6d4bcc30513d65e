//! Port knocking: the variable contract and its validation (`profile`), rule and knockd config
//! rendering from the role's templates (`render`), and the knock client (`client`). The safe
//! apply on a host lives beside them (`apply`, owned by the playbook side). Nothing here prints.

pub mod cidr;
pub mod client;
pub mod doors;
pub mod preflight;
pub mod profile;
pub mod removal;
pub mod removed;
pub mod render;
pub mod rotation;
pub mod send;
pub mod shadow;
pub mod state_file;

pub use profile::{
    Backend, IptablesStyle, KnockMode, KnockPort, KnockProfile, KnockVarError, KnockVarErrors,
    KnockWarning, NetFacts, Proto,
};
pub use render::{render, RenderedFile, RenderedFiles};
pub use send::Which;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Failures of rendering and of the knock client.
#[derive(Debug, thiserror::Error)]
pub enum KnockError {
    #[error("cannot read template {path}: {source}")]
    TemplateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {template} (host {host}): {message}")]
    Template {
        template: String,
        host: String,
        /// tera's error with its whole cause chain flattened (tera hides the useful part in
        /// the source chain).
        message: String,
    },
    // Messages name the host's address, never the knock port: it is part of the secret.
    #[error("cannot open a {proto} socket to knock on {}: {source}", addr.ip())]
    Socket {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bind the knock socket to {source_addr}: {source}")]
    Bind {
        source_addr: std::net::IpAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("knock to {} ({proto}) failed: {source}", addr.ip())]
    Send {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {addr} after knocking: {source}")]
    ProxyConnect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The profile has no knock of the kind asked for.
    #[error("nothing to knock: {0}")]
    NothingToSend(&'static str),
    #[error("relaying {addr} <-> stdio failed: {source}")]
    Relay {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
pub mod apply;
pub mod own;

#[cfg(test)]
mod tests {
    use super::KnockError;

    #[test]
    fn knock_failures_name_the_address_not_the_knock_port() {
        let addr: std::net::SocketAddr = "198.19.1.11:47101".parse().unwrap();
        for e in [
            KnockError::Send {
                proto: "tcp",
                addr,
                source: std::io::Error::other("network is unreachable"),
            },
            KnockError::Socket {
                proto: "udp",
                addr,
                source: std::io::Error::other("no buffer space"),
            },
        ] {
            let text = e.to_string();
            assert!(
                text.contains("198.19.1.11") && !text.contains("47101"),
                "{text}"
            );
        }
    }
}
