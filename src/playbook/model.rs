//! The playbook data model: what a play, a role and a task are once parsed. Plain data, no
//! behaviour beyond small helpers.

use crate::vars::Vars;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// A parsed playbook file.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// One `serial:` batch size.
#[derive(Debug, Clone, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    pub hosts: String,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub gather_facts: bool,
    pub vars: Vars,
    /// vars_files, already read (in order).
    pub vars_files: Vars,
    pub roles: Vec<Arc<Role>>,
    pub pre_tasks: Vec<Task>,
    /// Role tasks followed by the play's own tasks.
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    /// Play handlers and role handlers.
    pub handlers: Vec<Task>,
    pub serial: Vec<Serial>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub tags: Vec<String>,
}

/// A role as loaded from `roles/NAME/`.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    pub defaults: Vars,
    pub vars: Vars,
    /// Parameters given where the play lists the role.
    pub params: Vars,
}

/// A block with its rescue and always sections.
#[derive(Debug, Clone)]
pub struct Block {
    pub block: Vec<Task>,
    pub rescue: Vec<Task>,
    pub always: Vec<Task>,
}

/// What a task does: call a module, or group tasks.
#[derive(Debug, Clone)]
pub enum TaskBody {
    Module { name: String, args: Value },
    Block(Box<Block>),
}

/// One task (or handler, or block).
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub body: TaskBody,
    /// Where it was written: `file:line`.
    pub origin: String,
    pub when: Vec<String>,
    pub loop_items: Option<Value>,
    pub loop_var: String,
    pub loop_label: Option<String>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub ignore_errors: bool,
    pub tags: Vec<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub no_log: bool,
    pub check_mode: Option<bool>,
    pub vars: Vars,
    pub role: Option<Arc<Role>>,
}

impl Task {
    /// The name shown in output: `role : name` inside roles, else the name or module.
    pub fn display_name(&self) -> String {
        let base = if self.name.is_empty() {
            match &self.body {
                TaskBody::Module { name, .. } => name.clone(),
                TaskBody::Block(_) => "block".into(),
            }
        } else {
            self.name.clone()
        };
        match &self.role {
            Some(r) => format!("{} : {base}", r.name),
            None => base,
        }
    }
}
