//! Running a task's steps, and the steps of the loop items and tasks right after it, as one
//! remote command. The executor plans ahead against the state the earlier steps leave (what
//! they make stale forgotten, what they write learned), runs the batch, and keeps the later
//! results until it reaches their task, which then plans again and reports exactly as if it
//! had run alone. A batch ending with a change that makes everything stale (apt) carries the
//! probe the next tasks need. Planning ahead is read-only: it never sends an event.

use super::HostPlay;
use crate::facts::{self, Query, State};
use crate::modules::{Action, Plan, Stale, Step};
use crate::playbook::model::{Task, TaskBody};
use crate::transport::{batch, Become, Cmd, Output, Transport, TransportError};
use crate::vars::{Templater, Vars};
use serde_json::Value;

/// One run of one task: the task (by address: tasks stay in the play for the whole run) and
/// the loop item's index.
pub(super) type Key = (usize, usize);

pub(super) fn key(task: &Task, item: usize) -> Key {
    (task as *const Task as usize, item)
}

/// Step results of a task run that ran ahead in a batch.
pub(super) struct Ahead {
    key: Key,
    cmds: Vec<Cmd>,
    outs: Vec<Output>,
}

/// The answers of a probe that rode along a batch's last step, for that step's task to record
/// once it has forgotten what its change made stale.
pub(super) struct Ride {
    pub key: Key,
    pub queries: Vec<Query>,
    pub text: String,
}

/// Where the executor is: the tasks after the current one in its list, and the current
/// task's loop items.
#[derive(Default)]
pub(super) struct Cursor<'a> {
    pub next: &'a [Task],
    pub tags: Vec<String>,
    pub force: bool,
    pub task: Option<&'a Task>,
    pub items: Vec<Option<Value>>,
    pub index: usize,
}

/// The probe to ride at the end of a batch: after the run `Key`, for these queries.
type RidePlan = (Key, Vec<Query>, Cmd);

/// A task run planned ahead into the batch.
struct Member {
    key: Key,
    cmds: Vec<Cmd>,
}

/// What planning one task run ahead found.
enum Next {
    /// It does nothing (no change, or skipped): look further.
    Nothing,
    /// Its steps join the batch; `true` when they make everything stale (the batch ends).
    Join(Member, bool),
    /// It cannot be planned now (needs a probe, a register, a transaction...): the batch ends.
    Stop,
}

impl<'a> HostPlay<'a> {
    /// The outputs of `plan`'s steps for the current run of `task`: from a batch that ran
    /// ahead, else run now (with the runs that can follow them, as one remote command).
    pub(super) fn run_steps(
        &mut self,
        conn: &mut dyn Transport,
        task: &'a Task,
        action: &dyn Action,
        plan: &Plan,
        escalate: Option<Become>,
    ) -> Result<Vec<Output>, TransportError> {
        let k = key(task, self.cursor.index);
        let cmds: Vec<Cmd> = plan.steps.iter().filter_map(Step::command).collect();
        if let Some(pos) = self.ahead.iter().position(|a| a.key == k) {
            let a = self.ahead.remove(pos);
            if a.cmds == cmds {
                return Ok(a.outs);
            }
            // Planning ahead and now disagree: a defect. Say so instead of guessing.
            return Ok(vec![Output {
                status: batch::NOT_REACHED,
                stdout: Vec::new(),
                stderr: b"internal error: the steps run ahead for this task differ from its plan"
                    .to_vec(),
            }]);
        }
        let mut members = vec![Member { key: k, cmds }];
        let mut ride = None;
        if !self.opts.check && members[0].cmds.iter().all(Cmd::batchable) {
            let (more, r) = self.plan_ahead(task, action, plan, &escalate, &members[0].cmds);
            members.extend(more);
            ride = r;
        }
        let mut all: Vec<Cmd> = members.iter().flat_map(|m| m.cmds.clone()).collect();
        if let Some((_, _, c)) = &ride {
            all.push(c.clone());
        }
        if all.len() == 1 {
            let one = all.remove(0).escalate(escalate);
            return Ok(vec![conn.exec(&one)?]);
        }
        let n = all.len();
        let out = conn.exec(&Cmd::batch(all).escalate(escalate))?;
        let mut outs = batch::split(&out, n).into_iter();
        let mut mine = Vec::new();
        for (i, m) in members.into_iter().enumerate() {
            let got: Vec<Output> = outs.by_ref().take(m.cmds.len()).collect();
            if i == 0 {
                mine = got;
            } else if !got.is_empty() {
                self.ahead.push(Ahead {
                    key: m.key,
                    cmds: m.cmds,
                    outs: got,
                });
            }
        }
        if let Some((rk, queries, _)) = ride {
            if let Some(o) = outs.next().filter(Output::ok) {
                self.ride = Some(Ride {
                    key: rk,
                    queries,
                    text: o.stdout_str(),
                });
            }
        }
        Ok(mine)
    }

    /// The runs that can join the current one's batch, and the probe that rides at its end.
    fn plan_ahead(
        &self,
        task: &'a Task,
        action: &dyn Action,
        plan: &Plan,
        escalate: &Option<Become>,
        first: &[Cmd],
    ) -> (Vec<Member>, Option<RidePlan>) {
        let kill = first.iter().any(Cmd::get_kill_on_timeout);
        let mut spec = self.state.clone();
        let mut out: Vec<Member> = Vec::new();
        let here = key(task, self.cursor.index);
        // The last run that made everything stale (a command, apt): nothing that plans from
        // state can follow it without a probe, but runs that need none (more commands) can;
        // the probe then rides at the end of the batch, after that run if it is the last.
        let mut stale = None;
        if after(&mut spec, action.stale(), plan) {
            spec.forget_all();
            stale = Some(here);
        }
        // A task whose `failed_when` may fail it after its steps succeeded ends the batch.
        if task.failed_when.is_none() {
            self.join_later(task, &mut spec, escalate, kill, &mut out, &mut stale);
        }
        let last = out.last().map_or(here, |m| m.key);
        let ride = stale
            .filter(|k| *k == last)
            .and_then(|k| self.ride_plan(k, escalate));
        (out, ride)
    }

    /// Plans the runs after the current one into `out` until one cannot join; `stale` becomes
    /// the last joined run that made everything stale.
    fn join_later(
        &self,
        task: &'a Task,
        spec: &mut State,
        escalate: &Option<Become>,
        kill: bool,
        out: &mut Vec<Member>,
        stale: &mut Option<Key>,
    ) {
        let mut regs: Vec<String> = Vec::new();
        let mut list: Vec<&'a Task> = vec![task];
        list.extend(self.cursor.next.iter());
        for (n, t) in list.into_iter().enumerate() {
            let (from, items) = if n == 0 {
                (self.cursor.index + 1, self.cursor.items.clone())
            } else {
                match self.items_ahead(t, &regs) {
                    Some(i) => (0, i),
                    None => return,
                }
            };
            if n > 0 && t.failed_when.is_some() && !items.is_empty() {
                return;
            }
            for (j, item) in items.iter().enumerate().skip(from) {
                match self.plan_run(t, item, j, spec, escalate, kill) {
                    Next::Nothing => {}
                    Next::Stop => return,
                    Next::Join(m, stale_all) => {
                        if stale_all {
                            spec.forget_all();
                            *stale = Some(m.key);
                        }
                        out.push(m);
                    }
                }
            }
            regs.extend(t.register.iter().cloned());
        }
    }

    /// The loop items of a later task `t` if it would run now (`[None]` without a loop, none
    /// when it is skipped), or `None` when it cannot be told ahead: a block, a `when` or loop
    /// that reads a result registered since, or one that fails to evaluate.
    fn items_ahead(&self, t: &Task, regs: &[String]) -> Option<Vec<Option<Value>>> {
        if !matches!(t.body, TaskBody::Module { .. }) || self.in_handlers {
            return None;
        }
        let mut tags: Vec<String> = self.play.tags.clone();
        tags.extend(self.cursor.tags.iter().cloned());
        tags.extend(t.tags.iter().cloned());
        if !self.cursor.force && !self.tag_selected(&tags) {
            return Some(Vec::new());
        }
        if self.opts.start_at_task.is_some() && !self.memory.reached_start {
            return None;
        }
        if t.check_mode.unwrap_or(self.opts.check) || depends(t, regs) {
            return None;
        }
        let vars = self.task_vars(&self.base_vars(), t);
        for cond in &t.when {
            match Templater.eval_bool(cond, &vars, "") {
                Ok(true) => {}
                Ok(false) => return Some(Vec::new()),
                Err(_) => return None,
            }
        }
        match &t.loop_items {
            None => Some(vec![None]),
            Some(l) => match Templater.render_value(l, &vars, "") {
                Ok(Value::Array(a)) => Some(a.into_iter().map(Some).collect()),
                Ok(Value::Null) => Some(Vec::new()),
                _ => None,
            },
        }
    }

    /// Plan run `j` (loop item `item`) of `t` against `spec`, the state the batch leaves.
    fn plan_run(
        &self,
        t: &Task,
        item: &Option<Value>,
        j: usize,
        spec: &mut State,
        escalate: &Option<Become>,
        kill: bool,
    ) -> Next {
        let TaskBody::Module { name, args } = &t.body else {
            return Next::Stop;
        };
        let mut v: Vars = self.task_vars(&self.base_vars(), t);
        if let Some(i) = item {
            v.insert(t.loop_var.clone(), i.clone());
        }
        let Ok(action) = self.prepare(t, name, args, &v) else {
            return Next::Stop;
        };
        if !action.queries().iter().all(|q| spec.has(q)) {
            return Next::Stop;
        }
        let dirs = self.search_dirs(t);
        let Ok(ctx) = self.ctx(t, &v, &dirs) else {
            return Next::Stop;
        };
        if ctx.escalate != *escalate {
            return Next::Stop;
        }
        let Ok(plan) = action.plan(spec, &ctx) else {
            return Next::Stop;
        };
        if plan.fail.is_some() || !plan.facts.is_empty() {
            return Next::Stop;
        }
        if !plan.is_change() {
            return if plan.steps.is_empty() {
                Next::Nothing
            } else {
                Next::Stop
            };
        }
        let cmds: Vec<Cmd> = plan.steps.iter().filter_map(Step::command).collect();
        let fits = |c: &Cmd| c.batchable() && c.get_kill_on_timeout() == kill;
        if cmds.is_empty() || cmds.len() != plan.steps.len() || !cmds.iter().all(fits) {
            return Next::Stop;
        }
        let stale_all = after(spec, action.stale(), &plan);
        Next::Join(
            Member {
                key: key(t, j),
                cmds,
            },
            stale_all,
        )
    }

    /// The probe of every query the run asks about, to ride at the end of a batch whose last
    /// run makes everything stale, when the batch's become is the probe's.
    fn ride_plan(&self, last: Key, escalate: &Option<Become>) -> Option<RidePlan> {
        if self.precollected.is_empty() {
            return None;
        }
        let vars = self.base_vars();
        let probe_become =
            super::become_for(self.host, &vars, None, None, self.play, self.opts).ok()?;
        if probe_become != *escalate {
            return None;
        }
        let q = self.precollected.clone();
        let cmd = facts::requery_command(&q).timeout(super::PROBE_TIMEOUT);
        Some((last, q, cmd))
    }
}

/// Turn `spec` into the state after `plan`'s steps succeed; `true` when they make everything
/// stale (nothing can be planned after them without a probe).
fn after(spec: &mut State, stale: Stale, plan: &Plan) -> bool {
    match stale {
        Stale::All => return true,
        Stale::Queries(qs) => qs.iter().for_each(|q| spec.forget(q)),
    }
    for (q, a) in &plan.learned {
        spec.insert(q.clone(), a.clone());
    }
    false
}

/// Whether what `t` plans from (`when`, arguments, loop, variables, become user) names a
/// variable registered since the batch began (by name: a false alarm only ends the batch).
fn depends(t: &Task, regs: &[String]) -> bool {
    if regs.is_empty() {
        return false;
    }
    let mut text = serde_json::to_string(&t.when).unwrap_or_default();
    if let TaskBody::Module { args, .. } = &t.body {
        text.push_str(&args.to_string());
    }
    if let Some(l) = &t.loop_items {
        text.push_str(&l.to_string());
    }
    text.push_str(&serde_json::to_string(&t.vars).unwrap_or_default());
    text.push_str(t.become_user.as_deref().unwrap_or_default());
    regs.iter().any(|r| names(&text, r))
}

/// Whether `text` holds `name` as a whole identifier (not inside a longer one, as `ra` is in
/// the `_raw_params` every command's arguments have).
fn names(text: &str, name: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(name).any(|(at, _)| {
        !ident(text[..at].chars().next_back()) && !ident(text[at + name.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_register_is_named_only_as_a_whole_identifier() {
        assert!(names("{{ ra.stdout }}", "ra"));
        assert!(names("[\"ra\"]", "ra"));
        assert!(names("ra", "ra"));
        assert!(!names("{\"_raw_params\":\"echo\"}", "ra"));
        assert!(!names("{{ extra }}", "ra"));
        assert!(!names("{{ ra2 }}", "ra"));
        assert!(names("{{ x }} {{ ra_x }} {{ ra }}", "ra"));
    }
}
