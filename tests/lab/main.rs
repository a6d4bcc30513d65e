//! Lab integration tests: real Debian hosts on this machine (tests/lab/lab.sh), each in its own
//! network namespace with its own sshd and firewall; needs root. One module per area:
//! `cargo test --test lab harden::` runs the harden suite alone. The lab's kind comes from
//! SESAME_LAB_OS (bookworm|trixie) and SESAME_LAB_INIT (sysv|systemd).

#[path = "../common/mod.rs"]
mod common;

mod backend;
mod basic;
mod coexist;
mod day2;
mod engine;
mod harden;
mod knock;
mod nft;
mod runner;
mod ship;
mod transport;
