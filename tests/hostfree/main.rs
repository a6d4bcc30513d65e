//! Host-free integration tests: everything that needs no lab host and no root (configuration,
//! inventories against ansible-inventory's output, rendered rule goldens, the shipped binary's
//! subcommands, vault files). `cargo test --test hostfree`.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod inventory;
mod knock_render;
mod rollout;
mod ship;
mod vault;
