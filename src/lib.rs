//! sesame: an Ansible-style provisioning agent that hardens fleets of Debian/Ubuntu servers with
//! port knocking. The library holds everything; `main.rs` only dispatches.
//!
//! Layout: `inventory/` (Ansible inventories and host patterns), `playbook/` (plays, roles,
//! tasks as data), `vars/` (precedence and templating), `modules/` (one file per module and one
//! registry), `facts/` (remote commands plus pure parsers), `transport/` (ssh, fake transport,
//! the command builder), `runner/` (parallel hosts, events, reporter), `knock/` (sequence
//! model, rule rendering, knock client, safe apply), `connect/` (which hosts, how to reach each: knock, retries, fallbacks, jump hosts), `cli/` (one file per subcommand), `memo`
//! (values built once and shared by all hosts), `vault` (Ansible Vault decryption), `config`
//! (ansible.cfg).

pub mod cli;
pub mod config;
pub mod connect;
pub mod error;
pub mod facts;
pub mod inventory;
pub mod knock;
pub mod memo;
pub mod modules;
pub mod playbook;
pub mod runner;
pub mod text;
pub mod transport;
pub mod vars;
pub mod vault;

pub use error::{Error, Result};
