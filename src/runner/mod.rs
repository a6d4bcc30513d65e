//! Running work on many hosts at once: a rayon pool sized by `--forks`, one worker per host
//! that never prints but sends `Event`s to the single `Reporter`, which owns the terminal
//! (live lines, progress bar, `--json`), counts the PLAY RECAP and decides the exit code.

pub mod event;

pub use event::{Event, KnockStage, Status, TaskResult};
