//! Playbooks as data: plays, roles and tasks parsed from Ansible-style YAML (`model.rs`,
//! `load.rs`), and the per-host executor that runs them (`exec.rs`). Parsing never touches a
//! host; the executor never prints (it sends events).

pub mod embedded;
pub mod exec;
pub mod load;
pub mod model;

pub use load::{load_playbook, PlaybookError};
pub use model::{Block, Play, Playbook, Role, Serial, Task, TaskBody};
