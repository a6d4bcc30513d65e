//! How sesame reaches a host, below the command line: which hosts a run works on and their
//! variables (`target`), how to connect to each (`host::HostConn`: settings, knock, earlier
//! knocks, the jump host's knock), and the knock-then-connect loop with its retries and
//! fallbacks (`dial`), written against a `Dialer` so it is tested without a network.
//! Nothing here prints: warnings go to the caller's sink, which hands them to the reporter.

pub mod dial;
pub mod doors;
mod host;
mod jump;
pub mod target;

pub use dial::{Dialer, Warn};
pub use host::HostConn;
pub use jump::JumpKnocks;
pub use target::{
    host_vars, knock_target, preconnect_profile, resolve_targets, select, KnockTarget, Resolved,
    Resolver, Target, TargetError,
};
