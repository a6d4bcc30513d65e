//! The per-host executor: runs one play on one host over one transport. It gathers facts and
//! the state every task will ask about in one probe, then plans each task, applies only
//! non-empty plans (never in check mode), registers results, notifies handlers and flushes
//! them. It decides check mode, "changed" and failure; modules only plan and apply. It never
//! prints: everything goes out as `Event`s, with secrets masked.

mod ahead;
mod cost;

use super::model::{Play, Task, TaskBody};
use crate::facts::{self, HostFacts, Query, State};
use crate::modules::{self, Args, Ctx, ModuleError, Plan, Stale, Step};
use crate::runner::{Event, Status, TaskResult};
use crate::transport::{Become, Connector, Transport, TransportError};
use crate::vars::mask::Masker;
use crate::vars::{merge_into, Templater, Vars};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Run-wide options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub check: bool,
    pub diff: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: Vars,
    pub cli_become: bool,
    pub cli_become_user: Option<String>,
    /// `-K`: the become password for hosts whose variables set none.
    pub cli_become_password: Option<crate::vars::mask::Hidden>,
    /// `--start-at-task`: skip every task before the first whose name matches (fnmatch
    /// wildcards, with or without the `role : ` prefix).
    pub start_at_task: Option<String>,
    pub show_secrets: bool,
}

/// How a host ended a play.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayOutcome {
    pub failed: bool,
    pub unreachable: bool,
}

/// What a host carries from play to play: set_fact/register results and facts.
#[derive(Debug, Clone, Default)]
pub struct HostMemory {
    pub facts: Option<HostFacts>,
    pub vars: Vars,
    /// `--start-at-task` found its task on this host (later plays then run from the start).
    pub reached_start: bool,
}

/// Why a task stopped the host.
enum Stop {
    Failed,
    Unreachable,
}

/// Executes one play on one host.
pub struct HostPlay<'a> {
    pub host: &'a str,
    pub play: &'a Play,
    pub playbook_dir: &'a Path,
    /// Inventory vars of the host plus magic vars (`inventory_hostname`, `groups`, ...).
    pub inventory_vars: Vars,
    pub opts: &'a RunOpts,
    pub sink: &'a (dyn Fn(Event) + Sync),
    pub memory: &'a mut HostMemory,
    /// Opens a fresh session to the host (for proofs); `None` in unit tests.
    pub connector: Option<&'a Connector<'a>>,
    /// The proxy the host's sessions go through (`ProxyJump=...`), if any.
    pub proxy: Option<String>,
    /// The address and port the host's sessions connect to (after ssh_config's HostName and
    /// Port); `None` in unit tests (modules then read `ansible_host`/`ansible_port`).
    pub endpoint: Option<(String, u16)>,
    /// Secrets that are in no variable (the knocks the state file remembers), masked too.
    pub extra_secrets: Vec<String>,
    state: State,
    facts: HostFacts,
    masker: Masker,
    notified: Vec<String>,
    /// Running notified handlers now (their banners say `RUNNING HANDLER`).
    in_handlers: bool,
    precollected: Vec<Query>,
    /// Where the executor is (for running later steps in the same remote command).
    cursor: ahead::Cursor<'a>,
    /// Step results that ran ahead in a batch, waiting for their task.
    ahead: Vec<ahead::Ahead>,
    /// The probe that rode along a batch's last step.
    ride: Option<ahead::Ride>,
    /// Round trips of this play on this host, and the connector that counts them.
    cost: cost::Cost,
    counted: Option<Box<Connector<'a>>>,
}

/// Longest the one probe exec of a host may take (facts and the state of every file queried).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Secrets of a host: knock sequences, passwords and decrypted `!vault` values, as words to mask.
pub fn secret_words(vars: &Vars) -> Vec<String> {
    let mut words = Vec::new();
    for k in ["knock_sequence", "knock_close_sequence"] {
        match vars.get(k) {
            Some(Value::Array(a)) => {
                for v in a {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        // `{port: 7000, proto: udp}`: the port is the secret.
                        Value::Object(m) => match m.get("port") {
                            Some(Value::String(p)) => p.clone(),
                            Some(p) => p.to_string(),
                            None => continue,
                        },
                        o => o.to_string(),
                    };
                    words.push(s.split(':').next().unwrap_or("").trim().to_string());
                }
            }
            // A list written as one string (`"7000,8000"`, or `"[7000, 8000]"` as a `!vault`
            // value decrypts): the ports without brackets or quotes.
            Some(Value::String(s)) => words.extend(s.split([',', ' ']).map(|p| {
                p.trim_matches(|c: char| "[]\"' ".contains(c))
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })),
            Some(Value::Number(n)) => words.push(n.to_string()),
            _ => {}
        }
    }
    words.extend(crate::knock::rotation::secret_words(vars));
    words.extend(crate::knock::doors::secret_words(vars));
    for k in [
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_become_password",
        "ansible_become_pass",
    ] {
        if let Some(Value::String(s)) = vars.get(k) {
            words.push(s.clone());
        }
    }
    // Whatever came out of a `!vault` value is a secret too.
    words.extend(crate::vault::decrypted_secrets());
    words.retain(|w| !w.is_empty());
    words
}

/// A task's become (`None` for the play-level probe): the one resolver
/// (`transport::become_for`), fed with the task's keywords, else the play's, then the command
/// line. The error names the host and the variable.
pub fn become_for(
    host: &str,
    vars: &Vars,
    task_become: Option<bool>,
    task_user: Option<&str>,
    play: &Play,
    opts: &RunOpts,
) -> Result<Option<Become>, String> {
    let asked = crate::transport::BecomeAsked {
        keyword: task_become.or(play.become_),
        keyword_user: task_user.or(play.become_user.as_deref()),
        cli: opts.cli_become,
        cli_user: opts.cli_become_user.as_deref(),
    };
    let cli_password = opts.cli_become_password.as_ref().map(|h| h.0.clone());
    crate::transport::become_for(host, vars, &asked, cli_password).map_err(|e| e.to_string())
}

impl<'a> HostPlay<'a> {
    pub fn new(
        host: &'a str,
        play: &'a Play,
        playbook_dir: &'a Path,
        inventory_vars: Vars,
        opts: &'a RunOpts,
        sink: &'a (dyn Fn(Event) + Sync),
        memory: &'a mut HostMemory,
    ) -> Self {
        HostPlay {
            host,
            play,
            playbook_dir,
            inventory_vars,
            opts,
            sink,
            memory,
            connector: None,
            proxy: None,
            endpoint: None,
            extra_secrets: Vec::new(),
            state: State::default(),
            facts: HostFacts::default(),
            masker: Masker::default(),
            notified: Vec::new(),
            in_handlers: false,
            precollected: Vec::new(),
            cursor: ahead::Cursor::default(),
            ahead: Vec::new(),
            ride: None,
            cost: cost::Cost::default(),
            counted: None,
        }
    }

    /// Variables in precedence order (see `crate::vars`), without task-level layers.
    fn base_vars(&self) -> Vars {
        let mut v = Vars::new();
        for r in &self.play.roles {
            merge_into(&mut v, &r.defaults);
        }
        merge_into(&mut v, &self.inventory_vars);
        merge_into(&mut v, &self.facts.to_vars());
        merge_into(&mut v, &self.play.vars);
        merge_into(&mut v, &self.play.vars_files);
        for r in &self.play.roles {
            merge_into(&mut v, &r.vars);
        }
        v.insert(
            "playbook_dir".into(),
            json!(self.playbook_dir.display().to_string()),
        );
        v.insert("ansible_check_mode".into(), json!(self.opts.check));
        v
    }

    fn task_vars(&self, base: &Vars, task: &Task) -> Vars {
        let mut v = base.clone();
        if let Some(r) = &task.role {
            merge_into(&mut v, &r.params);
            v.insert("role_path".into(), json!(r.path.display().to_string()));
            v.insert("role_name".into(), json!(r.name));
        }
        merge_into(&mut v, &task.vars);
        merge_into(&mut v, &self.memory.vars);
        merge_into(&mut v, &self.opts.extra_vars);
        v
    }

    fn search_dirs(&self, task: &Task) -> Vec<PathBuf> {
        let mut d = Vec::new();
        if let Some(r) = &task.role {
            d.push(r.path.clone());
        }
        d.push(self.playbook_dir.to_path_buf());
        d
    }

    fn send(&self, e: Event) {
        (self.sink)(e)
    }

    fn mask(&self, s: &str) -> String {
        if self.opts.show_secrets {
            s.to_string()
        } else {
            self.masker.mask(s)
        }
    }

    /// Run the play on this host. `conn` is the host's one session. Ends with a `HostCost`
    /// event: the remote commands and sessions the play used on this host.
    pub fn run(&mut self, conn: &mut dyn Transport) -> PlayOutcome {
        let before = conn.exec_count();
        if let Some(c) = self.connector {
            self.counted = Some(cost::counting(c, &self.cost));
        }
        let out = self.run_play(conn);
        self.send(Event::HostCost {
            host: self.host.to_string(),
            remote_commands: conn.exec_count().saturating_sub(before) + self.cost.execs(),
            sessions: 1 + self.cost.sessions(),
        });
        out
    }

    fn run_play(&mut self, conn: &mut dyn Transport) -> PlayOutcome {
        let base = self.base_vars();
        let mut secrets = secret_words(&self.task_vars(&base, &dummy_task()));
        if let Some(pw) = &self.opts.cli_become_password {
            secrets.push(pw.0.clone());
        }
        secrets.extend(self.extra_secrets.iter().cloned());
        if let Ok(Value::Array(a)) = Templater.render_value(
            base.get("knock_sequence").unwrap_or(&Value::Null),
            &self.task_vars(&base, &dummy_task()),
            "knock_sequence",
        ) {
            secrets.extend(a.iter().map(|v| {
                crate::vars::text(v)
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string()
            }));
        }
        if !self.opts.show_secrets {
            // The run's masker (reporter, log, errors) knows them too.
            crate::vars::mask::register(&secrets);
        }
        self.masker = Masker::new(secrets);
        if let Some(f) = &self.memory.facts {
            self.facts = f.clone();
        }
        // One probe: facts (when gathered) and the state every task will ask about.
        // Facts come from the same probe: until then, tasks whose arguments need facts (the
        // knock profile needs an interface) are prepared against a stand-in, so their queries
        // ride along too. A query the stand-in gets wrong is only an extra answer; the real
        // one is fetched when the task asks.
        if self.memory.facts.is_none() {
            self.facts = HostFacts::stand_in();
            self.precollected = self.precollect(&base);
            self.facts = HostFacts::default();
        } else {
            self.precollected = self.precollect(&base);
        }
        let gather = self.play.gather_facts && self.memory.facts.is_none();
        if gather || !self.precollected.is_empty() {
            let q = self.precollected.clone();
            if let Err(stop) = self.probe(conn, gather, &q) {
                return self.outcome(Some(stop));
            }
        }
        let play: &'a Play = self.play;
        let sections: [&'a [Task]; 3] = [&play.pre_tasks, &play.tasks, &play.post_tasks];
        for section in sections {
            if let Err(stop) = self.run_list(conn, section) {
                return self.outcome(Some(stop));
            }
            if let Err(stop) = self.flush_handlers(conn) {
                return self.outcome(Some(stop));
            }
        }
        self.outcome(None)
    }

    fn outcome(&mut self, stop: Option<Stop>) -> PlayOutcome {
        // The pool reports HostDone once the host's work returns.
        match stop {
            None => PlayOutcome::default(),
            Some(Stop::Failed) => PlayOutcome {
                failed: true,
                unreachable: false,
            },
            Some(Stop::Unreachable) => PlayOutcome {
                failed: false,
                unreachable: true,
            },
        }
    }

    /// Queries of every task whose arguments can be rendered before the run (best effort).
    fn precollect(&self, base: &Vars) -> Vec<Query> {
        let mut out: Vec<Query> = Vec::new();
        let mut stack: Vec<&Task> = Vec::new();
        for list in [
            &self.play.pre_tasks,
            &self.play.tasks,
            &self.play.post_tasks,
            &self.play.handlers,
        ] {
            stack.extend(list.iter());
        }
        while let Some(t) = stack.pop() {
            match &t.body {
                TaskBody::Block(b) => {
                    stack.extend(b.block.iter().chain(&b.rescue).chain(&b.always));
                }
                TaskBody::Module { name, args } => {
                    let vars = self.task_vars(base, t);
                    let items = match &t.loop_items {
                        None => vec![None],
                        Some(l) => match Templater.render_value(l, &vars, "loop") {
                            Ok(Value::Array(a)) => a.into_iter().map(Some).collect(),
                            _ => continue,
                        },
                    };
                    for item in items {
                        let mut v = vars.clone();
                        if let Some(i) = item {
                            v.insert(t.loop_var.clone(), i);
                        }
                        if let Ok(action) = self.prepare(t, name, args, &v) {
                            for q in action.queries() {
                                if !out.contains(&q) {
                                    out.push(q);
                                }
                            }
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// The module's context; an error when the task's become settings are bad.
    fn ctx<'c>(
        &'c self,
        task: &Task,
        vars: &'c Vars,
        dirs: &'c [PathBuf],
    ) -> Result<Ctx<'c>, String> {
        let escalate = become_for(
            self.host,
            vars,
            task.become_,
            task.become_user.as_deref(),
            self.play,
            self.opts,
        )?;
        Ok(Ctx {
            host: self.host,
            vars,
            facts: &self.facts,
            escalate,
            diff: self.opts.diff,
            search_dirs: dirs,
            templater: Templater,
            masker: &self.masker,
            connector: self.counted.as_deref().or(self.connector),
            proxy: self.proxy.as_deref(),
            endpoint: self.endpoint.as_ref().map(|(a, p)| (a.as_str(), *p)),
            events: Some(self.sink),
            show_secrets: self.opts.show_secrets,
        })
    }

    fn prepare(
        &self,
        task: &Task,
        module: &str,
        args: &Value,
        vars: &Vars,
    ) -> Result<Box<dyn modules::Action>, ModuleError> {
        let def = modules::lookup(module)
            .ok_or_else(|| ModuleError::failed("sesame", format!("unknown module {module}")))?;
        let rendered = Templater.render_value(
            args,
            vars,
            &format!("{} ({})", task.display_name(), task.origin),
        )?;
        let map = match rendered {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        let dirs = self.search_dirs(task);
        let ctx = self
            .ctx(task, vars, &dirs)
            .map_err(|m| ModuleError::failed("sesame", m))?;
        (def.prepare)(&Args::new(def, map), &ctx)
    }

    fn probe(
        &mut self,
        conn: &mut dyn Transport,
        gather: bool,
        queries: &[Query],
    ) -> Result<(), Stop> {
        let vars = self.base_vars();
        let b = match become_for(self.host, &vars, None, None, self.play, self.opts) {
            Ok(b) => b,
            Err(m) => {
                self.send(Event::TaskResult(TaskResult {
                    host: self.host.to_string(),
                    task: "Gathering Facts".into(),
                    status: Status::Failed,
                    item: None,
                    msg: Some(self.mask(&m)),
                    changes: Vec::new(),
                    diff: None,
                    check_mode: self.opts.check,
                }));
                return Err(Stop::Failed);
            }
        };
        // Reading facts and files takes a second or two: a host still silent after two
        // minutes is hung, whatever the commands' own timeout.
        let cmd = facts::probe_command(gather, queries)
            .escalate(b)
            .timeout(PROBE_TIMEOUT);
        match conn.exec(&cmd) {
            Ok(out) if out.ok() => {
                let text = out.stdout_str();
                let secs = facts::sections(&text);
                if gather {
                    self.facts = HostFacts::parse(&secs);
                    self.memory.facts = Some(self.facts.clone());
                }
                self.state.absorb(queries, &secs);
                Ok(())
            }
            Ok(out) => {
                self.send(Event::TaskResult(TaskResult {
                    host: self.host.to_string(),
                    task: "Gathering Facts".into(),
                    status: Status::Failed,
                    item: None,
                    msg: Some(self.mask(&format!(
                        "probe failed (exit {}): {}",
                        out.status,
                        out.stderr_str().trim()
                    ))),
                    changes: Vec::new(),
                    diff: None,
                    check_mode: self.opts.check,
                }));
                Err(Stop::Failed)
            }
            Err(e) => Err(self.transport_failure("Gathering Facts", e)),
        }
    }

    fn transport_failure(&self, task: &str, e: TransportError) -> Stop {
        let msg = self.mask(&e.to_string());
        if e.is_unreachable() {
            self.send(Event::Unreachable {
                host: self.host.to_string(),
                task: task.to_string(),
                msg,
            });
            Stop::Unreachable
        } else {
            self.send(Event::TaskResult(TaskResult {
                host: self.host.to_string(),
                task: task.to_string(),
                status: Status::Failed,
                item: None,
                msg: Some(msg),
                changes: Vec::new(),
                diff: None,
                check_mode: self.opts.check,
            }));
            Stop::Failed
        }
    }

    fn run_list(&mut self, conn: &mut dyn Transport, tasks: &'a [Task]) -> Result<(), Stop> {
        self.run_seq(conn, tasks, &[], false)
    }

    /// Run `tasks` in order, telling the cursor what follows each.
    fn run_seq(
        &mut self,
        conn: &mut dyn Transport,
        tasks: &'a [Task],
        tags: &[String],
        force: bool,
    ) -> Result<(), Stop> {
        for (i, t) in tasks.iter().enumerate() {
            self.cursor.next = &tasks[i + 1..];
            self.cursor.tags = tags.to_vec();
            self.cursor.force = force;
            self.run_task(conn, t, tags, force)?;
        }
        self.cursor.next = &[];
        Ok(())
    }

    fn tag_selected(&self, tags: &[String]) -> bool {
        let has = |want: &str| tags.iter().any(|t| t == want);
        if self.opts.skip_tags.iter().any(|s| has(s) || (s == "all")) {
            return false;
        }
        if has("never") && !self.opts.tags.iter().any(|t| has(t)) {
            return false;
        }
        if self.opts.tags.is_empty() || self.opts.tags.iter().any(|t| t == "all") {
            return true;
        }
        has("always")
            || self.opts.tags.iter().any(|t| {
                has(t)
                    || (t == "tagged" && !tags.is_empty())
                    || (t == "untagged" && tags.is_empty())
            })
    }

    fn result(
        &self,
        task: &Task,
        status: Status,
        item: Option<String>,
        msg: Option<String>,
        plan: Option<&Plan>,
        check: bool,
    ) -> TaskResult {
        let (changes, diff) = match plan {
            Some(p) if !task.no_log => (
                p.changes.iter().map(|c| self.mask(c)).collect(),
                p.diff
                    .as_ref()
                    .filter(|_| self.opts.diff)
                    .map(|d| self.mask(d)),
            ),
            _ => (Vec::new(), None),
        };
        TaskResult {
            host: self.host.to_string(),
            task: task.display_name(),
            status,
            item: item.map(|i| {
                if task.no_log {
                    "(censored)".into()
                } else {
                    self.mask(&i)
                }
            }),
            msg: if task.no_log {
                msg.map(|_| {
                    "the output has been hidden due to the 'no_log: true' specified for this result"
                        .into()
                })
            } else {
                msg.map(|m| self.mask(&m))
            },
            changes,
            diff,
            check_mode: check,
        }
    }

    /// Report `task` failed on this host (before any module ran) and stop the host.
    fn fail_task(&self, task: &Task, msg: String) -> Stop {
        self.send(Event::TaskResult(self.result(
            task,
            Status::Failed,
            None,
            Some(msg),
            None,
            false,
        )));
        Stop::Failed
    }

    /// Whether `--start-at-task` lets this task run: it and everything after the first task
    /// whose name matches (as Ansible, silently skipping what comes before).
    fn reached_start(&mut self, task: &Task) -> bool {
        let Some(pattern) = &self.opts.start_at_task else {
            return true;
        };
        if self.memory.reached_start {
            return true;
        }
        let hit = match globset::Glob::new(pattern) {
            Ok(g) => {
                let m = g.compile_matcher();
                m.is_match(&task.name) || m.is_match(task.display_name())
            }
            Err(_) => task.name == *pattern || task.display_name() == *pattern,
        };
        if hit {
            self.memory.reached_start = true;
        }
        hit
    }

    /// Run one task (or block). `force` runs it whatever the tags (handlers).
    fn run_task(
        &mut self,
        conn: &mut dyn Transport,
        task: &'a Task,
        inherited_tags: &[String],
        force: bool,
    ) -> Result<(), Stop> {
        let mut tags: Vec<String> = self.play.tags.clone();
        tags.extend(inherited_tags.iter().cloned());
        tags.extend(task.tags.iter().cloned());
        let is_block = matches!(task.body, TaskBody::Block(_));
        if !force && !is_block && !self.tag_selected(&tags) {
            return Ok(());
        }
        if !force && !is_block && !self.reached_start(task) {
            return Ok(());
        }
        // The base layer is dropped at once: a hundred hosts each holding one more copy of all
        // their variables for the length of a task shows in the controller's RSS.
        let vars = self.task_vars(&self.base_vars(), task);
        let origin = format!("`when` of {} ({})", task.display_name(), task.origin);
        for cond in &task.when {
            match Templater.eval_bool(cond, &vars, &origin) {
                Ok(true) => {}
                Ok(false) => {
                    if !is_block {
                        self.send(Event::TaskResult(self.result(
                            task,
                            Status::Skipped,
                            None,
                            Some(format!("Conditional result was False: {cond}")),
                            None,
                            false,
                        )));
                    }
                    return Ok(());
                }
                Err(e) => {
                    return Err(self.fail_task(task, e.to_string()));
                }
            }
        }
        match &task.body {
            TaskBody::Block(b) => {
                let mut block_tags = inherited_tags.to_vec();
                block_tags.extend(task.tags.iter().cloned());
                let res = self.run_seq(conn, &b.block, &block_tags, force);
                let res = match res {
                    Err(Stop::Failed) if !b.rescue.is_empty() => {
                        let r = self.run_seq(conn, &b.rescue, &block_tags, force);
                        if r.is_ok() {
                            self.send(Event::TaskResult(self.result(
                                task,
                                Status::Rescued,
                                None,
                                None,
                                None,
                                false,
                            )));
                        }
                        r
                    }
                    other => other,
                };
                let always = self.run_seq(conn, &b.always, &block_tags, force);
                res.and(always)
            }
            TaskBody::Module { name, args } => self.run_module_task(conn, task, name, args, vars),
        }
    }

    fn run_module_task(
        &mut self,
        conn: &mut dyn Transport,
        task: &'a Task,
        module: &str,
        args: &Value,
        vars: Vars,
    ) -> Result<(), Stop> {
        self.send(Event::TaskStart {
            host: self.host.to_string(),
            task: task.display_name(),
            handler: self.in_handlers,
        });
        let items: Vec<Option<Value>> = match &task.loop_items {
            None => vec![None],
            Some(l) => {
                match Templater.render_value(l, &vars, &format!("`loop` of {}", task.origin)) {
                    Ok(Value::Array(a)) => a.into_iter().map(Some).collect(),
                    Ok(Value::Null) => Vec::new(),
                    Ok(other) => {
                        return Err(
                            self.fail_task(task, format!("loop must be a list, got {other}"))
                        );
                    }
                    Err(e) => {
                        return Err(self.fail_task(task, e.to_string()));
                    }
                }
            }
        };
        let looped = task.loop_items.is_some();
        let mut results = Vec::new();
        let mut any_changed = false;
        let mut any_failed = false;
        let mut vars = Some(vars);
        let n = items.len();
        self.cursor.task = Some(task);
        self.cursor.items = items.clone();
        for (i, item) in items.into_iter().enumerate() {
            self.cursor.index = i;
            // The last (or only) item takes the task's variables instead of a copy.
            let mut v = if i + 1 == n {
                vars.take().unwrap_or_default()
            } else {
                vars.clone().unwrap_or_default()
            };
            let label = item.as_ref().map(|i| {
                v.insert(task.loop_var.clone(), i.clone());
                task.loop_label
                    .as_ref()
                    .and_then(|l| Templater.render_str(l, &v, "loop label").ok())
                    .unwrap_or_else(|| crate::vars::text(i))
            });
            let (status, data) = self.run_one(conn, task, module, args, &v, label.clone())?;
            any_changed |= status == Status::Changed;
            any_failed |= status == Status::Failed;
            results.push(Value::Object(data));
        }
        if looped {
            let status = if any_failed {
                if task.ignore_errors {
                    Status::Ignored
                } else {
                    Status::Failed
                }
            } else if any_changed {
                Status::Changed
            } else if results.is_empty() {
                Status::Skipped
            } else {
                Status::Ok
            };
            self.send(Event::LoopDone {
                host: self.host.to_string(),
                task: task.display_name(),
                status,
            });
        }
        if let Some(reg) = &task.register {
            let value = if looped {
                json!({"results": results, "changed": any_changed, "failed": any_failed})
            } else {
                results.pop().unwrap_or(Value::Null)
            };
            self.memory.vars.insert(reg.clone(), value);
        }
        if any_changed {
            for n in &task.notify {
                if !self.notified.contains(n) {
                    self.notified.push(n.clone());
                }
            }
        }
        if any_failed && !task.ignore_errors {
            return Err(Stop::Failed);
        }
        Ok(())
    }

    /// Make sure the state holds answers to `queries`, in one probe for all that is missing
    /// (plus every precollected query made stale since, so later tasks need no probe).
    fn ensure_state(&mut self, conn: &mut dyn Transport, queries: &[Query]) -> Result<(), Stop> {
        if queries.iter().all(|q| self.state.has(q)) {
            return Ok(());
        }
        let mut need: Vec<Query> = queries
            .iter()
            .filter(|q| !self.state.has(q))
            .cloned()
            .collect();
        for q in &self.precollected {
            if !self.state.has(q) && !need.contains(q) {
                need.push(q.clone());
            }
        }
        self.probe(conn, false, &need)
    }

    /// One task (one loop item) on this host. Returns its status and registered data.
    fn run_one(
        &mut self,
        conn: &mut dyn Transport,
        task: &'a Task,
        module: &str,
        args: &Value,
        vars: &Vars,
        item: Option<String>,
    ) -> Result<(Status, Vars), Stop> {
        let dirs = self.search_dirs(task);
        let fail = |me: &Self, msg: String| {
            let mut d = Vars::new();
            d.insert("failed".into(), json!(true));
            d.insert("msg".into(), json!(me.mask(&msg)));
            let status = if task.ignore_errors {
                Status::Ignored
            } else {
                Status::Failed
            };
            me.send(Event::TaskResult(me.result(
                task,
                status,
                item.clone(),
                Some(msg),
                None,
                false,
            )));
            Ok((Status::Failed, d))
        };
        let action = match self.prepare(task, module, args, vars) {
            Ok(a) => a,
            Err(e) => return fail(self, e.to_string()),
        };
        let queries = action.queries();
        self.ensure_state(conn, &queries)?;
        let ctx = match self.ctx(task, vars, &dirs) {
            Ok(c) => c,
            Err(m) => return fail(self, m),
        };
        // The runner, not the module, decides check mode (a task's `check_mode` beats --check).
        let check = task.check_mode.unwrap_or(self.opts.check);
        let plan = match action.plan(&self.state, &ctx) {
            Ok(p) => p,
            Err(e) => return fail(self, e.to_string()),
        };
        if let Some(msg) = &plan.fail {
            return fail(self, msg.clone());
        }
        let mut data = plan.data.clone();
        let mut failed_msg = None;
        let mut changed = plan.is_change();
        let mut transport_err = None;
        let mut learned = Vec::new();
        let mut applied_msg = None;
        let acts = !plan.steps.is_empty();
        if acts && !changed && check {
            // Steps that change nothing on the host (wait_for, knock) do not run in check
            // mode, as Ansible skips modules without check mode support.
            drop(ctx);
            self.send(Event::TaskResult(self.result(
                task,
                Status::Skipped,
                item,
                Some("skipped in check mode".into()),
                None,
                check,
            )));
            return Ok((Status::Skipped, data));
        }
        if acts && !check {
            let escalate = ctx.escalate.clone();
            drop(ctx);
            match self.act(conn, task, vars, action.as_ref(), &plan, escalate) {
                Ok(applied) => {
                    merge_into(&mut data, &applied.data);
                    failed_msg = applied.failed;
                    applied_msg = applied.msg;
                    learned = applied.learned;
                    learned.extend(plan.learned.iter().cloned());
                }
                Err(ModuleError::Transport(e)) => transport_err = Some(e),
                Err(e) => failed_msg = Some(e.to_string()),
            }
        }
        merge_into(&mut self.memory.vars, &plan.facts);
        if changed && !check {
            match action.stale() {
                Stale::All => self.state.forget_all(),
                Stale::Queries(qs) => qs.iter().for_each(|q| self.state.forget(q)),
            }
            if failed_msg.is_none() {
                for (q, a) in learned {
                    self.state.insert(q, a);
                }
            }
        }
        // The probe that rode along this run's step answers what its change made stale.
        if let Some(r) = self.ride.take() {
            if r.key == ahead::key(task, self.cursor.index) {
                if failed_msg.is_none() && transport_err.is_none() {
                    self.state.absorb(&r.queries, &facts::sections(&r.text));
                }
            } else {
                self.ride = Some(r);
            }
        }
        if let Some(e) = transport_err {
            return Err(self.transport_failure(&task.display_name(), e));
        }
        data.insert("changed".into(), json!(changed));
        data.insert("failed".into(), json!(failed_msg.is_some()));
        if let Some(m) = &failed_msg {
            data.insert("msg".into(), json!(self.mask(m)));
        }
        // changed_when / failed_when see the result under the register name.
        if task.changed_when.is_some() || task.failed_when.is_some() {
            self.conditions(task, vars, &mut data, &mut changed, &mut failed_msg);
        }
        let status = match (&failed_msg, changed) {
            (Some(_), _) if task.ignore_errors => Status::Ignored,
            (Some(_), _) => Status::Failed,
            (None, true) => Status::Changed,
            (None, false) => Status::Ok,
        };
        let msg = failed_msg.clone().or(applied_msg).or(plan.msg.clone());
        self.send(Event::TaskResult(self.result(
            task,
            status,
            item,
            msg,
            Some(&plan),
            check,
        )));
        let reported = if failed_msg.is_some() {
            Status::Failed
        } else {
            status
        };
        Ok((reported, data))
    }

    /// Make `plan` true: its transaction, else its steps (possibly run ahead in a batch).
    fn act(
        &mut self,
        conn: &mut dyn Transport,
        task: &'a Task,
        vars: &Vars,
        action: &dyn modules::Action,
        plan: &Plan,
        escalate: Option<Become>,
    ) -> Result<modules::Applied, ModuleError> {
        if plan.steps.iter().any(|s| matches!(s, Step::Transaction)) {
            let dirs = self.search_dirs(task);
            let ctx = self
                .ctx(task, vars, &dirs)
                .map_err(|m| ModuleError::failed("sesame", m))?;
            return action.apply(plan, &self.state, conn, &ctx);
        }
        let outs = self.run_steps(conn, task, action, plan, escalate)?;
        Ok(action.finish(plan, &outs))
    }

    /// Apply `changed_when` / `failed_when`, which see the result under the register name.
    fn conditions(
        &self,
        task: &Task,
        vars: &Vars,
        data: &mut Vars,
        changed: &mut bool,
        failed_msg: &mut Option<String>,
    ) {
        let mut v = vars.clone();
        if let Some(reg) = &task.register {
            v.insert(reg.clone(), Value::Object(data.clone()));
        }
        let eval = |cond: &Value| -> Result<bool, String> {
            match cond {
                Value::Bool(b) => Ok(*b),
                Value::Array(a) => a.iter().try_fold(false, |acc, c| {
                    Templater
                        .eval_bool(&crate::vars::text(c), &v, &task.origin)
                        .map(|b| acc || b)
                        .map_err(|e| e.to_string())
                }),
                other => Templater
                    .eval_bool(&crate::vars::text(other), &v, &task.origin)
                    .map_err(|e| e.to_string()),
            }
        };
        if let Some(c) = &task.changed_when {
            match eval(c) {
                Ok(b) => *changed = b,
                Err(e) => *failed_msg = Some(e),
            }
        }
        if let Some(c) = &task.failed_when {
            match eval(c) {
                Ok(true) => {
                    *failed_msg = Some(format!(
                        "failed_when condition met: {}",
                        crate::vars::text(c)
                    ))
                }
                Ok(false) => *failed_msg = None,
                Err(e) => *failed_msg = Some(e),
            }
        }
        data.insert("changed".into(), json!(*changed));
        data.insert("failed".into(), json!(failed_msg.is_some()));
    }

    fn flush_handlers(&mut self, conn: &mut dyn Transport) -> Result<(), Stop> {
        if self.notified.is_empty() {
            return Ok(());
        }
        let notified = std::mem::take(&mut self.notified);
        let play: &'a Play = self.play;
        let handlers: Vec<&'a Task> = play
            .handlers
            .iter()
            .filter(|h| {
                notified
                    .iter()
                    .any(|n| *n == h.name || h.listen.contains(n) || *n == h.display_name())
            })
            .collect();
        self.in_handlers = true;
        self.cursor.next = &[];
        let ran = handlers
            .iter()
            .try_for_each(|h| self.run_task(conn, h, &[], true));
        self.in_handlers = false;
        ran
    }
}

fn dummy_task() -> Task {
    Task {
        name: String::new(),
        body: TaskBody::Module {
            name: "debug".into(),
            args: Value::Null,
        },
        origin: String::new(),
        when: Vec::new(),
        loop_items: None,
        loop_var: "item".into(),
        loop_label: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        ignore_errors: false,
        tags: Vec::new(),
        become_: None,
        become_user: None,
        no_log: false,
        check_mode: None,
        vars: Vars::new(),
        role: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_playbook;
    use crate::transport::fake::FakeTransport;
    use std::sync::Mutex;

    const FACTS: &str = "@@sesame@@ os\nID=debian\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n\
@@sesame@@ pid1\nsesame-lab-init\n@@sesame@@ route\nIface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nens3\t00000000\t00000000\t0001\t0\t0\t0\t00000000\n\
@@sesame@@ iptables\niptables v1.8.9 (nf_tables)\n@@sesame@@ ip6tables\n0\n@@sesame@@ inet6\n\
@@sesame@@ sshconn\n198.19.1.1 40000 198.19.1.11 22\n@@sesame@@ ufw\n@@sesame@@ pkgs\n@@sesame@@ now\n1700000000\n";

    fn play(text: &str) -> (tempfile::TempDir, crate::playbook::Playbook) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pb.yml");
        std::fs::write(&p, text).unwrap();
        let pb = load_playbook(&p, &[]).unwrap();
        (d, pb)
    }

    fn run(
        pb: &crate::playbook::Playbook,
        fake: &mut FakeTransport,
        opts: &RunOpts,
    ) -> (PlayOutcome, Vec<Event>) {
        let events = Mutex::new(Vec::new());
        let sink = |e: Event| events.lock().unwrap().push(e);
        let mut mem = HostMemory::default();
        let mut vars = Vars::new();
        vars.insert("inventory_hostname".into(), json!("h1"));
        let out = HostPlay::new("h1", &pb.plays[0], &pb.dir, vars, opts, &sink, &mut mem).run(fake);
        (out, events.into_inner().unwrap())
    }

    fn statuses(ev: &[Event]) -> Vec<(String, Status)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::TaskResult(r) => Some((r.task.clone(), r.status)),
                _ => None,
            })
            .collect()
    }

    /// Issue 16: in a play, `ansible_become_method: su` silently ran with sudo, and `-b` or a
    /// keyword beat the host's `ansible_become: false` (Ansible lets variables win).
    #[test]
    fn become_method_su_is_refused_and_ansible_become_beats_keywords() {
        let (_d, pb) = play(
            "- hosts: all\n  gather_facts: false\n  become: true\n  vars: {ansible_become_method: su}\n  tasks:\n    - name: t\n      command: echo hi\n",
        );
        let mut fake = FakeTransport::new("h1");
        let (_, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(statuses(&ev), vec![("t".to_string(), Status::Failed)]);
        let msg = ev
            .iter()
            .find_map(|e| match e {
                Event::TaskResult(r) => r.msg.clone(),
                _ => None,
            })
            .unwrap_or_default();
        assert!(msg.contains("ansible_become_method"), "{msg}");
        assert!(fake.commands.is_empty(), "{:?}", fake.commands);

        let (_d, pb) = play(
            "- hosts: all\n  gather_facts: false\n  become: true\n  vars: {ansible_become: false}\n  tasks:\n    - name: t\n      command: echo hi\n",
        );
        let mut fake = FakeTransport::new("h1");
        let opts = RunOpts {
            cli_become: true,
            ..RunOpts::default()
        };
        run(&pb, &mut fake, &opts);
        assert!(
            fake.commands.iter().all(|c| !c.contains("sudo")),
            "{:?}",
            fake.commands
        );
        assert!(!fake.commands.is_empty());
    }

    #[test]
    fn no_change_run_costs_one_exec() {
        let (_d, pb) = play(
            "- hosts: all\n  tasks:\n    - name: conf\n      copy: {dest: /etc/x, content: \"hello world\\n\", mode: \"0644\"}\n    - name: pkg\n      apt: {name: knockd}\n",
        );
        let reply = format!(
            "{FACTS}@@sesame@@ q 1\n644 root root 12 regular file\naGVsbG8gd29ybGQK\n@@sesame@@ q 2\nii \t0.8\n@@sesame@@ end\n"
        );
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, &reply);
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(out, PlayOutcome::default());
        assert_eq!(fake.commands.len(), 1, "{:#?}", fake.commands);
        assert_eq!(
            statuses(&ev),
            vec![("conf".into(), Status::Ok), ("pkg".into(), Status::Ok)]
        );
    }

    #[test]
    fn check_mode_reports_changes_without_applying_and_handlers_run_once() {
        let (_d, pb) = play(
            "- hosts: all\n  tasks:\n    - name: conf\n      copy: {dest: /etc/x, content: \"new\\n\"}\n      notify: h\n    - name: conf2\n      copy: {dest: /etc/y, content: \"new\\n\"}\n      notify: h\n  handlers:\n    - name: h\n      command: echo handled\n",
        );
        let reply =
            format!("{FACTS}@@sesame@@ q 1\nabsent\n@@sesame@@ q 2\nabsent\n@@sesame@@ end\n");
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, &reply);
        let opts = RunOpts {
            check: true,
            ..RunOpts::default()
        };
        let (_, ev) = run(&pb, &mut fake, &opts);
        assert_eq!(
            fake.commands.len(),
            1,
            "check mode applied something: {:#?}",
            fake.commands
        );
        assert_eq!(
            statuses(&ev),
            vec![
                ("conf".into(), Status::Changed),
                ("conf2".into(), Status::Changed),
                ("h".into(), Status::Changed)
            ]
        );
        // Real run: two writes (in one remote command), the handler once.
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, &reply);
        let (_, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(statuses(&ev).len(), 3);
        let handler_runs = fake
            .steps
            .iter()
            .filter(|c| c.contains("echo handled"))
            .count();
        assert_eq!(handler_runs, 1);
        let writes = fake
            .steps
            .iter()
            .filter(|c| c.contains("sesame-write"))
            .count();
        assert_eq!(writes, 2);
        assert_eq!(fake.commands.len(), 3, "{:#?}", fake.commands);
    }

    #[test]
    fn failing_task_stops_host_and_rescue_recovers() {
        let (_d, pb) = play(
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - block:\n        - name: boom\n          command: /bin/false\n      rescue:\n        - name: saved\n          debug: msg=ok\n    - name: after\n      command: /bin/fail-now\n    - name: never\n      debug: msg=x\n",
        );
        let mut fake = FakeTransport::new("h1")
            .reply("fail-now", 1, "")
            .reply("/bin/false", 1, "");
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert!(out.failed);
        let st = statuses(&ev);
        assert!(st.contains(&("boom".into(), Status::Failed)));
        assert!(st.contains(&("saved".into(), Status::Ok)));
        assert!(st.contains(&("after".into(), Status::Failed)));
        assert!(!st.iter().any(|(t, _)| t == "never"));
    }

    #[test]
    fn when_loop_register_and_secrets_masked() {
        let (_d, pb) = play(
            "- hosts: all\n  gather_facts: false\n  vars:\n    knock_sequence: [7101, 7202]\n  tasks:\n    - name: show\n      debug: msg=\"seq {{ knock_sequence | join(sep=',') }}\"\n    - name: loop\n      debug: msg=\"{{ item }}\"\n      loop: [a, b]\n      register: r\n    - name: skipped\n      debug: msg=x\n      when: r.results | length == 3\n",
        );
        let mut fake = FakeTransport::new("h1");
        let (_, ev) = run(&pb, &mut fake, &RunOpts::default());
        let text = serde_json::to_string(&ev).unwrap();
        assert!(!text.contains("7101"), "secret leaked: {text}");
        assert!(text.contains("seq ********,********"), "{text}");
        let st = statuses(&ev);
        assert_eq!(st.iter().filter(|(t, _)| t == "loop").count(), 2);
        assert!(st.contains(&("skipped".into(), Status::Skipped)));
    }

    /// Issue 16: a first run of the role's packages (a debconf loop of two, then apt) was four
    /// remote commands plus a re-probe after apt; now the two answers, the install and the
    /// probe the next task needs are one remote command, and the next task plans from it.
    #[test]
    fn debconf_loop_apt_and_the_reprobe_share_one_remote_command() {
        let (_d, pb) = play(
            "- hosts: all\n  tasks:\n    - name: answers\n      debconf: {name: iptables-persistent, question: \"{{ item }}\", vtype: boolean, value: \"true\"}\n      loop: [iptables-persistent/autosave_v4, iptables-persistent/autosave_v6]\n    - name: pkg\n      apt: {name: knockd}\n    - name: conf\n      copy: {dest: /etc/x, content: \"hi\\n\"}\n",
        );
        let reply = format!(
            "{FACTS}@@sesame@@ q 1\nabsent\n@@sesame@@ q 2\n\n@@sesame@@ q 3\n\n@@sesame@@ end\n"
        );
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, &reply);
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(out, PlayOutcome::default(), "{ev:#?}");
        assert_eq!(
            statuses(&ev),
            vec![
                ("answers".into(), Status::Changed),
                ("answers".into(), Status::Changed),
                ("pkg".into(), Status::Changed),
                ("conf".into(), Status::Changed)
            ]
        );
        // probe; both answers + apt + the re-probe; the write.
        assert_eq!(fake.commands.len(), 3, "{:#?}", fake.steps);
        let batch: Vec<&String> = fake.steps[1..5].iter().collect();
        assert!(batch[..2]
            .iter()
            .all(|c| c.contains("debconf-set-selections")));
        assert!(batch[2].contains("sesame-apt") && batch[3].contains("sesame-probe"));
        assert!(
            fake.steps[5].contains("sesame-write /etc/x"),
            "{:#?}",
            fake.steps
        );
        // The count the benchmark reads (`--json`).
        let cost = ev.iter().find_map(|e| match e {
            Event::HostCost {
                remote_commands,
                sessions,
                ..
            } => Some((*remote_commands, *sessions)),
            _ => None,
        });
        assert_eq!(cost, Some((3, 1)));
    }

    fn copies(extra: &str) -> String {
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: x\n      copy: {{dest: /etc/x, content: \"1\\n\"}}\n      register: r\n    - name: y\n      copy: {{dest: /etc/y, content: \"2\\n\"}}\n{extra}    - name: z\n      copy: {{dest: /etc/z, content: \"3\\n\"}}\n"
        )
    }

    const ABSENT3: &str =
        "@@sesame@@ q 1\nabsent\n@@sesame@@ q 2\nabsent\n@@sesame@@ q 3\nabsent\n@@sesame@@ end\n";

    #[test]
    fn consecutive_independent_tasks_are_one_remote_command() {
        let (_d, pb) = play(&copies(""));
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, ABSENT3);
        let (_, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(fake.commands.len(), 2, "{:#?}", fake.commands);
        assert_eq!(
            statuses(&ev),
            vec![
                ("x".into(), Status::Changed),
                ("y".into(), Status::Changed),
                ("z".into(), Status::Changed)
            ]
        );
        // Reported in order, each task's start before its result.
        let order: Vec<String> = ev
            .iter()
            .filter_map(|e| match e {
                Event::TaskStart { task, .. } => Some(format!("start {task}")),
                Event::TaskResult(r) => Some(format!("{} {:?}", r.task, r.status)),
                _ => None,
            })
            .collect();
        assert_eq!(
            order,
            [
                "start x",
                "x Changed",
                "start y",
                "y Changed",
                "start z",
                "z Changed"
            ]
        );
    }

    #[test]
    fn a_task_reading_an_earlier_register_is_not_batched_with_it() {
        let (_d, pb) = play(&copies("      when: r.changed\n"));
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, ABSENT3);
        let (_, ev) = run(&pb, &mut fake, &RunOpts::default());
        // probe; x alone; y and z together.
        assert_eq!(fake.commands.len(), 3, "{:#?}", fake.commands);
        assert!(fake.commands[1].contains("/etc/x") && !fake.commands[1].contains("/etc/y"));
        assert_eq!(statuses(&ev).len(), 3);
        assert!(statuses(&ev).iter().all(|(_, s)| *s == Status::Changed));
    }

    #[test]
    fn a_failing_step_stops_the_batch_and_the_later_tasks() {
        let (_d, pb) = play(&copies(""));
        let mut fake = FakeTransport::new("h1")
            .reply("sesame-probe", 0, ABSENT3)
            .reply("sesame-write /etc/y", 1, "");
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert!(out.failed);
        assert_eq!(fake.commands.len(), 2, "{:#?}", fake.commands);
        assert!(
            !fake.steps.iter().any(|c| c.contains("sesame-write /etc/z")),
            "a step after the failure ran: {:#?}",
            fake.steps
        );
        assert_eq!(
            statuses(&ev),
            vec![("x".into(), Status::Changed), ("y".into(), Status::Failed)]
        );
    }

    /// Commands change what no probe can tell, so nothing that plans from state follows one
    /// in a batch; more commands can: three are one remote command, each task reporting its
    /// own output, and a failing one (ignored) stops the batch, the next runs on its own.
    #[test]
    fn consecutive_commands_are_one_remote_command_and_a_failure_stops_the_batch() {
        let (_d, pb) = play(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: a\n      command: echo one\n      register: ra\n    - name: b\n      shell: echo two && false-b\n      ignore_errors: true\n      register: rb\n    - name: c\n      command: echo three\n      register: rc\n    - name: show\n      debug: msg=\"{{ ra.stdout }}|{{ rb.stdout }}|{{ rc.stdout }}\"\n",
        );
        // All three succeed: one remote command.
        let mut fake = FakeTransport::new("h1")
            .reply("echo one", 0, "one\n")
            .reply("false-b", 0, "two\n")
            .reply("echo three", 0, "three\n");
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(out, PlayOutcome::default(), "{ev:#?}");
        assert_eq!(fake.commands.len(), 1, "{:#?}", fake.commands);
        assert_eq!(fake.steps.len(), 3, "{:#?}", fake.steps);
        let shown = ev.iter().find_map(|e| match e {
            Event::TaskResult(r) if r.task == "show" => r.msg.clone(),
            _ => None,
        });
        assert_eq!(shown.as_deref(), Some("one|two|three"), "{ev:#?}");
        // b fails (ignored): a and b ran in the batch, c after it on its own.
        let mut fake = FakeTransport::new("h1")
            .reply("echo one", 0, "one\n")
            .reply("false-b", 1, "two\n")
            .reply("echo three", 0, "three\n");
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert!(!out.failed, "{ev:#?}");
        assert_eq!(fake.commands.len(), 2, "{:#?}", fake.commands);
        assert_eq!(
            fake.steps
                .iter()
                .filter(|s| s.contains("echo three"))
                .count(),
            1
        );
        assert_eq!(
            statuses(&ev),
            vec![
                ("a".into(), Status::Changed),
                ("b".into(), Status::Ignored),
                ("c".into(), Status::Changed),
                ("show".into(), Status::Ok)
            ]
        );
    }

    /// After commands, a task that plans from state gets the probe riding at the batch's end.
    #[test]
    fn a_file_task_after_commands_plans_from_the_probe_riding_their_batch() {
        let (_d, pb) = play(
            "- hosts: all\n  tasks:\n    - name: a\n      command: echo one\n    - name: b\n      command: echo two\n    - name: conf\n      copy: {dest: /etc/x, content: \"hi\\n\"}\n",
        );
        let reply = format!("{FACTS}@@sesame@@ q 1\nabsent\n@@sesame@@ end\n");
        let mut fake = FakeTransport::new("h1").reply("sesame-probe", 0, &reply);
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert_eq!(out, PlayOutcome::default(), "{ev:#?}");
        // probe; both commands + the re-probe; the write.
        assert_eq!(fake.commands.len(), 3, "{:#?}", fake.steps);
        assert!(fake.steps[1].contains("echo one") && fake.steps[2].contains("echo two"));
        assert!(fake.steps[3].contains("sesame-probe"), "{:#?}", fake.steps);
        assert!(
            fake.steps[4].contains("sesame-write /etc/x"),
            "{:#?}",
            fake.steps
        );
        assert_eq!(statuses(&ev).len(), 3);
    }

    /// Issue 16: `knock` sent its packets while planning, so `--check` knocked; `wait_for`
    /// polled while planning. Both are steps now: check mode skips them.
    #[test]
    fn check_mode_sends_no_knock_and_does_not_wait() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let sock2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port2 = sock2.local_addr().unwrap().port();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let text = format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n    ansible_host: 127.0.0.1\n    knock_mode: iptables\n    knock_sequence: [\"{port}:udp\", \"{port2}:udp\"]\n  tasks:\n    - name: knock\n      knock: {{}}\n    - name: wait\n      wait_for: {{port: {closed_port}, timeout: 3}}\n"
        );
        let (_d, pb) = play(&text);
        let opts = RunOpts {
            check: true,
            ..RunOpts::default()
        };
        let mut fake = FakeTransport::new("h1");
        let started = std::time::Instant::now();
        let (out, ev) = run(&pb, &mut fake, &opts);
        assert_eq!(out, PlayOutcome::default(), "{ev:#?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(
            statuses(&ev),
            vec![
                ("knock".into(), Status::Skipped),
                ("wait".into(), Status::Skipped)
            ]
        );
        let mut buf = [0u8; 16];
        assert!(sock.recv(&mut buf).is_err(), "check mode sent a knock");
        // A real run knocks (and waits, and times out on the closed port).
        let mut fake = FakeTransport::new("h1");
        let (out, ev) = run(&pb, &mut fake, &RunOpts::default());
        assert!(sock.recv(&mut buf).is_ok(), "no knock sent: {ev:#?}");
        assert!(out.failed);
        assert_eq!(statuses(&ev)[1], ("wait".into(), Status::Failed));
        assert!(fake.commands.is_empty());
    }
}
