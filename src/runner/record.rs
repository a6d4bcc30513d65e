//! A record of a run, built from the same events the reporter draws, on the reporter's thread:
//! per host, each task's final result and time, the knock transaction's steps, and when the
//! host started and finished. Report files (`junit.rs`, `summary.rs`) are rendered from it after
//! the run; workers never write them. It holds what the events hold (masked), nothing more.

use super::channel::{EventReceiver, EventSender, Msg};
use super::event::{Event, KnockStage, Status};
use super::report::{Reporter, Summary};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One task's final result on one host (a looped task once, as Ansible's junit callback).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCase {
    pub play: String,
    pub task: String,
    pub status: Status,
    /// Why it failed or was skipped (as the event said it: masked).
    pub msg: Option<String>,
    /// What it changed (or would change).
    pub changes: Vec<String>,
    pub time: Duration,
}

/// One step of the knock transaction or proof.
#[derive(Debug, Clone, PartialEq)]
pub struct KnockStep {
    pub stage: KnockStage,
    pub ok: bool,
    pub detail: String,
    /// When the reporter got it, since the record started.
    pub at: Duration,
}

/// Everything recorded about one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRecord {
    pub tasks: Vec<TaskCase>,
    pub knock: Vec<KnockStep>,
    /// The play the knock steps were sent in (else the host's last play).
    pub knock_play: Option<String>,
    pub last_play: String,
    first: Option<Duration>,
    last: Option<Duration>,
}

impl HostRecord {
    /// Wall time from the host's first to its last event.
    pub fn time(&self) -> Duration {
        match (self.first, self.last) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        }
    }

    /// Wall time from the first to the last step of the knock transaction or proof.
    pub fn knock_time(&self) -> Duration {
        match (self.knock.first(), self.knock.last()) {
            (Some(a), Some(b)) => b.at.saturating_sub(a.at),
            _ => Duration::ZERO,
        }
    }

    /// The worst status among its tasks: unreachable, failed, changed, ok (or skipped when
    /// every task was skipped, or none ran).
    pub fn result(&self) -> Status {
        let has = |s: Status| self.tasks.iter().any(|t| t.status == s);
        if has(Status::Unreachable) {
            Status::Unreachable
        } else if has(Status::Failed) {
            Status::Failed
        } else if has(Status::Changed) {
            Status::Changed
        } else if self.tasks.iter().all(|t| t.status == Status::Skipped) {
            Status::Skipped
        } else {
            Status::Ok
        }
    }

    /// The knock proof of this run: `Ok(steps)` when a fresh knocked session was proven and no
    /// step failed or was rolled back; `Err(why)` when the proof failed or the host failed
    /// before it; `Ok` with an empty list when nothing was to prove (unchanged rules, check
    /// mode, a playbook without knock_apply).
    pub fn proof(&self) -> Result<Vec<&KnockStep>, String> {
        if let Some(bad) = self.knock.iter().find(|k| !k.ok) {
            return Err(format!("{}: {}", stage_name(bad.stage), bad.detail));
        }
        if let Some(rb) = self
            .knock
            .iter()
            .find(|k| k.stage == KnockStage::RolledBack)
        {
            return Err(format!("rolled back: {}", rb.detail));
        }
        let opened = self.knock.iter().any(|k| {
            matches!(
                k.stage,
                KnockStage::Opened | KnockStage::ProxySession | KnockStage::PlainSession
            )
        });
        if opened {
            return Ok(self.knock.iter().collect());
        }
        if let Some(t) = self
            .tasks
            .iter()
            .find(|t| matches!(t.status, Status::Failed | Status::Unreachable))
        {
            return Err(format!(
                "not proven: the host failed before the knock proof (task `{}`)",
                t.task
            ));
        }
        if !self.knock.is_empty() {
            return Err("not proven: no knocked session was opened".into());
        }
        Ok(Vec::new())
    }
}

/// The `snake_case` name of a stage, as `--json` spells it.
pub fn stage_name(stage: KnockStage) -> String {
    serde_json::to_value(stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{stage:?}"))
}

/// The record of a whole run: hosts in the order they were first named.
#[derive(Debug, Clone)]
pub struct Record {
    started: Instant,
    play: String,
    pub playbooks: Vec<String>,
    pub hosts: IndexMap<String, HostRecord>,
    /// The task each host is in, and since when.
    current: HashMap<String, (String, Duration)>,
    /// A looped task's last failing item message, for its final result.
    loop_msg: HashMap<String, String>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            started: Instant::now(),
            play: String::new(),
            playbooks: Vec::new(),
            hosts: IndexMap::new(),
            current: HashMap::new(),
            loop_msg: HashMap::new(),
        }
    }
}

impl Record {
    pub fn new() -> Self {
        Record::default()
    }

    /// Total wall time from the record's start to the last host event.
    pub fn time(&self) -> Duration {
        self.hosts
            .values()
            .filter_map(|h| h.last)
            .max()
            .unwrap_or_default()
    }

    fn host(&mut self, host: &str, now: Duration) -> &mut HostRecord {
        let play = self.play.clone();
        let h = self.hosts.entry(host.to_string()).or_default();
        h.first.get_or_insert(now);
        h.last = Some(now);
        h.last_play = play;
        h
    }

    fn case(&mut self, host: &str, task: &str, status: Status, msg: Option<String>) -> TaskCase {
        let now = self.started.elapsed();
        let since = match self.current.get(host) {
            Some((t, at)) if t == task => *at,
            _ => now,
        };
        TaskCase {
            play: self.play.clone(),
            task: task.to_string(),
            status,
            msg,
            changes: Vec::new(),
            time: now.saturating_sub(since),
        }
    }

    /// Take in one event (the reporter's thread calls this for every event it draws).
    pub fn observe(&mut self, event: &Event) {
        let now = self.started.elapsed();
        match event {
            Event::PlaybookStart { path, .. } => self.playbooks.push(path.clone()),
            Event::PlayStart { name, hosts } => {
                self.play = name.clone();
                for h in hosts {
                    self.hosts.entry(h.clone()).or_default().last_play = name.clone();
                }
            }
            Event::TaskStart { host, task, .. } => {
                self.current.insert(host.clone(), (task.clone(), now));
                self.host(host, now);
            }
            Event::TaskResult(r) if r.item.is_some() => {
                // Items of a loop: the loop's own result (LoopDone) is the test case.
                if matches!(r.status, Status::Failed | Status::Unreachable) {
                    if let Some(m) = &r.msg {
                        self.loop_msg.insert(r.host.clone(), m.clone());
                    }
                }
                self.host(&r.host, now);
            }
            Event::TaskResult(r) => {
                let mut case = self.case(&r.host, &r.task, r.status, r.msg.clone());
                case.changes = r.changes.clone();
                self.host(&r.host, now).tasks.push(case);
            }
            Event::LoopDone { host, task, status } => {
                let msg = self.loop_msg.remove(host);
                let case = self.case(host, task, *status, msg);
                self.host(host, now).tasks.push(case);
            }
            Event::Unreachable { host, task, msg } => {
                let case = self.case(host, task, Status::Unreachable, Some(msg.clone()));
                self.host(host, now).tasks.push(case);
            }
            Event::Knock {
                host,
                stage,
                ok,
                detail,
            } => {
                let play = self.play.clone();
                let h = self.host(host, now);
                h.knock_play.get_or_insert(play);
                h.knock.push(KnockStep {
                    stage: *stage,
                    ok: *ok,
                    detail: detail.clone(),
                    at: now,
                });
            }
            Event::HostStart { host } | Event::HostDone { host } => {
                self.host(host, now);
            }
            Event::Warning { .. } | Event::Command { .. } | Event::HostCost { .. } => {}
        }
    }
}

/// The reporter's thread, with a `Record` kept beside it when asked for.
pub struct RecordingHandle {
    events: EventSender,
    thread: Option<JoinHandle<Option<Record>>>,
}

/// Start the reporter on its own thread, as `report::start`, also feeding every event to a
/// `Record` when `record` is set.
pub fn start(mut reporter: Reporter, record: bool) -> (EventSender, RecordingHandle) {
    let (events, rx) = EventSender::channel();
    let thread = std::thread::Builder::new()
        .name("sesame-reporter".into())
        .spawn(move || {
            let mut rec = record.then(Record::new);
            run_loop(&mut reporter, &rx, rec.as_mut());
            rec
        });
    let handle = RecordingHandle {
        events: events.clone(),
        thread: thread.ok(),
    };
    (events, handle)
}

fn run_loop(reporter: &mut Reporter, rx: &EventReceiver, mut rec: Option<&mut Record>) {
    while let Some(msg) = rx.recv_msg() {
        match msg {
            Msg::Event(e) => {
                reporter.handle(&e);
                if let Some(r) = rec.as_deref_mut() {
                    r.observe(&e);
                }
            }
            Msg::Finish { cancelled } => {
                reporter.finish(&rx.stats(), cancelled);
                return;
            }
        }
    }
}

impl RecordingHandle {
    /// Everything was sent: print the recap, wait for the reporter, return the outcome and the
    /// record (`None` when none was asked for, or the reporter's thread did not run).
    pub fn finish(mut self, cancelled: bool) -> (Summary, Option<Record>) {
        self.events.finish(cancelled);
        let record = self.thread.take().and_then(|t| t.join().ok()).flatten();
        let stats = self.events.stats();
        let summary = Summary {
            exit_code: stats.exit_code(cancelled),
            stats,
            cancelled,
        };
        (summary, record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::event::TaskResult;

    pub(crate) fn knock(host: &str, stage: KnockStage, ok: bool) -> Event {
        Event::Knock {
            host: host.into(),
            stage,
            ok,
            detail: format!("{stage:?} detail"),
        }
    }

    #[test]
    fn a_looped_task_is_one_case_with_its_failing_items_message() {
        let mut r = Record::new();
        r.observe(&Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into(), "h2".into()],
        });
        r.observe(&Event::TaskStart {
            host: "h1".into(),
            task: "loop".into(),
            handler: false,
        });
        for (i, st) in [Status::Ok, Status::Failed].into_iter().enumerate() {
            r.observe(&Event::TaskResult(TaskResult {
                item: Some(format!("i{i}")),
                msg: Some(format!("item {i} said so")),
                ..TaskResult::new("h1", "loop", st)
            }));
        }
        r.observe(&Event::LoopDone {
            host: "h1".into(),
            task: "loop".into(),
            status: Status::Failed,
        });
        let h1 = &r.hosts["h1"];
        assert_eq!(h1.tasks.len(), 1);
        assert_eq!(h1.tasks[0].msg.as_deref(), Some("item 1 said so"));
        assert_eq!(h1.result(), Status::Failed);
        assert!(
            r.hosts.contains_key("h2"),
            "every host of the play is listed"
        );
        assert_eq!(r.hosts["h2"].result(), Status::Skipped);
    }

    #[test]
    fn the_proof_needs_an_opened_session_and_no_failed_or_rolled_back_step() {
        let mut r = Record::new();
        for e in [
            knock("a", KnockStage::ClosedBefore, true),
            knock("a", KnockStage::Opened, true),
            knock("b", KnockStage::ClosedBefore, true),
            knock("b", KnockStage::Opened, true),
            knock("b", KnockStage::ClosedAfter, false),
            knock("c", KnockStage::Loaded, true),
            knock("c", KnockStage::RolledBack, true),
            knock("d", KnockStage::Loaded, true),
        ] {
            r.observe(&e);
        }
        r.observe(&Event::TaskResult(TaskResult::new(
            "e",
            "x",
            Status::Failed,
        )));
        r.observe(&Event::TaskResult(TaskResult::new("f", "x", Status::Ok)));
        assert_eq!(r.hosts["a"].proof().unwrap().len(), 2);
        assert!(r.hosts["b"]
            .proof()
            .unwrap_err()
            .starts_with("closed_after"));
        assert!(r.hosts["c"].proof().unwrap_err().starts_with("rolled back"));
        assert!(r.hosts["d"]
            .proof()
            .unwrap_err()
            .contains("no knocked session"));
        assert!(r.hosts["e"].proof().unwrap_err().contains("failed before"));
        assert!(r.hosts["f"].proof().unwrap().is_empty(), "nothing to prove");
    }
}
