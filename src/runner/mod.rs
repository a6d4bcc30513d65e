//! Running work on many hosts at once: a rayon pool sized by `--forks`, one worker per host
//! that never prints but sends `Event`s to the single `Reporter`, which owns the terminal
//! (live lines, progress bar, `--json`) and prints the PLAY RECAP; `Stats` counts as Ansible
//! and decides the exit code.
//!
//! Typical use:
//! ```no_run
//! use sesame::runner::{pool, report, Event};
//! let opts = report::ReportOptions::for_terminal(report::Format::Human, report::Style::Playbook);
//! let (events, reporter) = report::start(report::Reporter::stdio(opts));
//! let cancel = pool::Cancel::ctrl_c().expect("handler");
//! let hosts = vec!["h1".to_string()];
//! let _runs = pool::run_hosts(&hosts, pool::DEFAULT_FORKS, &cancel, &events, |host, ev| {
//!     ev.send(Event::Warning { host: Some(host.into()), msg: "hello".into() });
//!     pool::HostOutcome::Ok
//! });
//! let summary = reporter.finish(cancel.is_cancelled());
//! std::process::exit(summary.exit_code.into());
//! ```

pub mod channel;
pub mod event;
pub mod junit;
pub mod memory;
pub mod pool;
pub mod record;
pub mod report;
pub mod rollout;
pub mod stats;
pub mod summary;

pub use channel::{EventReceiver, EventSender};
pub use event::{Event, KnockStage, Status, TaskResult};
pub use pool::{run_hosts, Cancel, HostOutcome, HostRun, DEFAULT_FORKS};
pub use report::{Format, ReportOptions, Reporter, ReporterHandle, Style, Summary};
pub use stats::{HostStats, Stats};
