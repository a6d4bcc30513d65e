//! Modules: each file owns one module (its documented arguments, how it reads state, plans and
//! applies), and `REGISTRY` below is the only list of them. A module never decides check mode,
//! "changed" or handlers: it returns a `Plan` (empty = nothing to do) carrying the steps that
//! make it; the executor runs them (or the module's own transaction) and decides the rest.

mod apt;
pub mod args;
mod assert;
mod command;
mod copy;
mod debconf;
mod debug;
mod fail;
mod file;
mod knock;
mod lineinfile;
mod service;
mod set_fact;
mod template;
mod wait_for;

pub use args::Args;
pub use copy::FileWant;

use crate::facts::{HostFacts, Query, State};
use crate::runner::Event;
use crate::transport::{Become, Cmd, Connector, Output, Transport, TransportError};
use crate::vars::mask::Masker;
use crate::vars::{TemplateError, Templater, Vars};
use std::path::PathBuf;

/// What a module sees while it prepares and plans.
pub struct Ctx<'a> {
    pub host: &'a str,
    /// All variables of the host at this point of the play.
    pub vars: &'a Vars,
    pub facts: &'a HostFacts,
    pub escalate: Option<Become>,
    pub diff: bool,
    /// Where `src:` files and templates are looked up, in order (role dir, playbook dir).
    pub search_dirs: &'a [PathBuf],
    pub templater: Templater,
    pub masker: &'a Masker,
    /// Opens a new session to this host (proofs of a new firewall).
    pub connector: Option<&'a Connector<'a>>,
    /// The proxy the host's sessions go through (`ProxyJump=...`), if any.
    pub proxy: Option<&'a str>,
    /// The address and port the host's sessions connect to, when known.
    pub endpoint: Option<(&'a str, u16)>,
    /// Progress of multi-step modules (the firewall transaction).
    pub events: Option<&'a (dyn Fn(Event) + Sync)>,
    /// Show secrets in messages (`--show-secrets`).
    pub show_secrets: bool,
}

impl Ctx<'_> {
    /// A command with this task's become applied.
    pub fn cmd(&self, c: Cmd) -> Cmd {
        c.escalate(self.escalate.clone())
    }

    /// Find `rel` under `sub` (`templates`, `files`) of each search dir, then as given.
    pub fn find_file(&self, sub: &str, rel: &str) -> Option<PathBuf> {
        let p = std::path::Path::new(rel);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        for d in self.search_dirs {
            for cand in [d.join(sub).join(rel), d.join(rel)] {
                if cand.exists() {
                    return Some(cand);
                }
            }
        }
        None
    }
}

/// One thing the executor does to make a plan true, in order. The executor applies the task's
/// become to `Run` and `Upload`, may run consecutive ones of several tasks as one remote
/// command, and hands their outputs to `Action::finish`.
#[derive(Debug, Clone)]
pub enum Step {
    /// A remote command; a non-zero exit fails the task (the later steps do not run).
    Run(Cmd),
    /// File content put at a path atomically (a temp file beside it, then a rename), the old
    /// file backed up: `copy`, `template`, `lineinfile`.
    Upload(Box<copy::FileWant>),
    /// The module's own multi-phase work (`Action::apply`): the firewall transaction, the
    /// removal, sending knocks, waiting for a port. Never batched with other steps.
    Transaction,
}

impl Step {
    /// The remote command of a `Run` or `Upload` step (`None` for a transaction).
    pub fn command(&self) -> Option<Cmd> {
        match self {
            Step::Run(c) => Some(c.clone()),
            Step::Upload(f) => Some(f.write_cmd()),
            Step::Transaction => None,
        }
    }
}

/// The computed change of one task on one host.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// Human-readable changes; empty means "ok, nothing to do".
    pub changes: Vec<String>,
    /// What makes the changes true, in order. Steps of a plan without changes are actions
    /// that change nothing on the host (`wait_for`, `knock`): skipped in check mode.
    pub steps: Vec<Step>,
    /// Unified diff of files (unmasked; the executor masks it).
    pub diff: Option<String>,
    /// A message to show (`debug`, `assert`'s success message).
    pub msg: Option<String>,
    /// The task fails without applying anything (`fail`, `assert`, invalid state).
    pub fail: Option<String>,
    /// Result data for `register` when nothing is applied.
    pub data: Vars,
    /// Variables to set on the host (`set_fact`).
    pub facts: Vars,
    /// Answers that hold once the steps succeeded (what they write): the executor records
    /// them after forgetting what `stale` names, so the next task (or loop item) plans without
    /// a probe.
    pub learned: Vec<(Query, crate::facts::QueryAnswer)>,
}

impl Plan {
    pub fn ok() -> Plan {
        Plan::default()
    }
    pub fn change(c: impl Into<String>) -> Plan {
        Plan {
            changes: vec![c.into()],
            ..Plan::default()
        }
    }
    /// A change made by one remote command.
    pub fn run(c: impl Into<String>, cmd: Cmd) -> Plan {
        Plan {
            changes: vec![c.into()],
            steps: vec![Step::Run(cmd)],
            ..Plan::default()
        }
    }
    /// Work the module does itself (`Action::apply`) without changing the host.
    pub fn transaction() -> Plan {
        Plan {
            steps: vec![Step::Transaction],
            ..Plan::default()
        }
    }
    pub fn is_change(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// What applying a plan did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Result data for `register` (`rc`, `stdout`, `stderr`, ...).
    pub data: Vars,
    /// The apply ran but failed (non-zero exit of the module's command, ...).
    pub failed: Option<String>,
    /// A message to show (`knock`'s "knocked ADDR").
    pub msg: Option<String>,
    /// Answers the transaction knows for certain afterwards (see `Plan::learned`).
    pub learned: Vec<(Query, crate::facts::QueryAnswer)>,
}

impl Applied {
    /// Failed with `what: STDERR` when the last step failed; no data.
    pub fn failed_unless_ok(outs: &[Output], what: &str) -> Applied {
        Applied {
            failed: outs
                .last()
                .filter(|o| !o.ok())
                .map(|o| format!("{what}: {}", o.stderr_str().trim())),
            ..Applied::default()
        }
    }
}

/// How a step's failure reads when the module says nothing more: the exit status and the last
/// lines of stderr.
pub fn step_failure(what: &str, out: &Output) -> String {
    let err = out.stderr_str();
    let last: Vec<&str> = err
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    let last: Vec<&str> = last.into_iter().rev().collect();
    if last.is_empty() {
        format!("{what} failed (exit {})", out.status)
    } else {
        format!("{what} failed (exit {}): {}", out.status, last.join(" | "))
    }
}

/// Which cached answers a change may have made stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Only these queries.
    Queries(Vec<Query>),
    /// Anything (package installs create files and services).
    All,
}

/// One prepared task action on one host (arguments parsed and rendered).
pub trait Action: Send {
    /// State this action needs to plan; the executor answers them (batched) before `plan`.
    fn queries(&self) -> Vec<Query> {
        Vec::new()
    }
    /// Compute the change and the steps that make it from the answered state. Must not touch
    /// the host nor anything else (no packets, no waiting).
    fn plan(&self, state: &State, ctx: &Ctx) -> Result<Plan, ModuleError>;
    /// Read the outputs of the plan's `Run`/`Upload` steps, in order (the last one may have
    /// failed; the steps after it did not run): result data and the failure message.
    fn finish(&self, _plan: &Plan, outs: &[Output]) -> Applied {
        let mut a = Applied::default();
        if let Some(out) = outs.last() {
            a.data = output_data(out);
            if !out.ok() {
                a.failed = Some(step_failure("the command", out));
            }
        }
        a
    }
    /// Run a `Step::Transaction` of the plan (multi-phase work that reads its own outputs).
    fn apply(
        &self,
        _plan: &Plan,
        _state: &State,
        _conn: &mut dyn Transport,
        _ctx: &Ctx,
    ) -> Result<Applied, ModuleError> {
        Ok(Applied {
            failed: Some("this module has no transaction".into()),
            ..Applied::default()
        })
    }
    /// What the change may have made stale (default: this action's own queries).
    fn stale(&self) -> Stale {
        Stale::Queries(self.queries())
    }
}

/// A module's entry in the registry.
pub struct ModuleDef {
    pub name: &'static str,
    /// One line for `--help` listings.
    pub summary: &'static str,
    /// Accepted arguments with their documentation. Unknown arguments are errors.
    pub args: &'static [(&'static str, &'static str)],
    /// Whether `module: free form text` is accepted (as `_raw_params`).
    pub free_form: bool,
    pub prepare: PrepareFn,
}

/// Parses a task's arguments into an action for one host.
pub type PrepareFn = fn(&Args, &Ctx) -> Result<Box<dyn Action>, ModuleError>;

/// Every module sesame has. Adding a module touches this list and its own file, nothing else.
pub static REGISTRY: &[&ModuleDef] = &[
    &apt::DEF,
    &debconf::DEF,
    &template::DEF,
    &copy::DEF,
    &file::DEF,
    &lineinfile::DEF,
    &service::DEF,
    &command::COMMAND,
    &command::SHELL,
    &wait_for::DEF,
    &assert::DEF,
    &debug::DEF,
    &fail::DEF,
    &set_fact::DEF,
    &knock::VALIDATE,
    &knock::APPLY,
    &knock::KNOCK,
];

/// Find a module by name (`apt` or `ansible.builtin.apt`).
pub fn lookup(name: &str) -> Option<&'static ModuleDef> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    REGISTRY.iter().copied().find(|m| m.name == short)
}

/// Failures of a module on one host.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("module `{module}`: argument `{arg}`: {msg}")]
    BadArg {
        module: &'static str,
        arg: String,
        msg: String,
    },
    #[error("module `{module}`: unknown argument `{arg}` (accepted: {accepted})")]
    UnknownArg {
        module: &'static str,
        arg: String,
        accepted: String,
    },
    #[error("module `{module}`: missing required argument `{arg}`")]
    MissingArg { module: &'static str, arg: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("module `{module}`: {msg}")]
    Failed { module: &'static str, msg: String },
}

impl ModuleError {
    pub fn failed(module: &'static str, msg: impl Into<String>) -> Self {
        ModuleError::Failed {
            module,
            msg: msg.into(),
        }
    }
}

/// A unified diff between two texts, labelled with the path.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("before: {path}"), &format!("after: {path}"))
        .to_string()
}

/// The data a command result registers, as Ansible's `command` module returns it.
pub fn output_data(out: &Output) -> Vars {
    let stdout = out.stdout_str();
    let stderr = out.stderr_str();
    let mut d = Vars::new();
    d.insert("rc".into(), out.status.into());
    d.insert(
        "stdout_lines".into(),
        stdout
            .lines()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .into(),
    );
    d.insert(
        "stderr_lines".into(),
        stderr
            .lines()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .into(),
    );
    d.insert("stdout".into(), stdout.trim_end_matches('\n').into());
    d.insert("stderr".into(), stderr.trim_end_matches('\n').into());
    d
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A context for module unit tests.
    use super::*;

    pub struct TestCtx {
        pub vars: Vars,
        pub facts: HostFacts,
        pub dirs: Vec<PathBuf>,
        pub masker: Masker,
    }

    impl TestCtx {
        pub fn new() -> Self {
            TestCtx {
                vars: Vars::new(),
                facts: HostFacts {
                    service_mgr: "sysvinit".into(),
                    ..HostFacts::default()
                },
                dirs: Vec::new(),
                masker: Masker::default(),
            }
        }
        pub fn ctx(&self) -> Ctx<'_> {
            Ctx {
                host: "h1",
                vars: &self.vars,
                facts: &self.facts,
                escalate: None,
                diff: true,
                search_dirs: &self.dirs,
                templater: Templater,
                masker: &self.masker,
                connector: None,
                proxy: None,
                endpoint: None,
                events: None,
                show_secrets: false,
            }
        }
    }

    /// Run a plan's `Run`/`Upload` steps one by one as the executor does alone (stopping at
    /// the first failure), then the module's `finish`.
    pub fn run_steps(a: &dyn Action, p: &Plan, conn: &mut dyn Transport) -> Applied {
        let mut outs = Vec::new();
        for c in p.steps.iter().filter_map(Step::command) {
            let o = conn.exec(&c).expect("fake exec");
            let ok = o.ok();
            outs.push(o);
            if !ok {
                break;
            }
        }
        a.finish(p, &outs)
    }

    /// Prepare a module from a JSON args object.
    pub fn prepare(name: &str, args: serde_json::Value, t: &TestCtx) -> Box<dyn Action> {
        let def = lookup(name).expect("module exists");
        let a = Args::new(def, args.as_object().cloned().unwrap_or_default());
        (def.prepare)(&a, &t.ctx()).expect("prepare")
    }
}
