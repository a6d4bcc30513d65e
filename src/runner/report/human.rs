//! The human writer: Ansible-like lines for each event (`ok: [h1]`, `fatal: ...`, ad-hoc
//! `h1 | SUCCESS => {...}`, knock stages, diffs). It formats only: where a playbook line goes
//! is `order`'s decision, the writing and escaping are `Reporter::emit`'s.

use super::order::TaskOrder;
use super::{Reporter, Style};
use crate::runner::event::{Event, KnockStage, Status, TaskResult};
use crate::runner::stats::{banner, sgr};

impl Reporter {
    pub(super) fn human(&mut self, event: &Event) {
        match event {
            Event::PlaybookStart { .. } | Event::HostCost { .. } => {}
            Event::PlayStart { name, .. } => {
                self.in_order(TaskOrder::new_play);
                if self.opts.style == Style::Playbook {
                    let name = name.trim();
                    let title = if name.is_empty() {
                        "PLAY".to_string()
                    } else {
                        format!("PLAY [{name}]")
                    };
                    self.emit(false, &format!("\n{}", banner(&title)), None);
                }
            }
            Event::TaskStart {
                host,
                task,
                handler,
            } => {
                let key = self.order.start_task(host, task);
                if self.opts.style == Style::Playbook {
                    self.in_order(|o| o.enter(host, key, *handler));
                }
            }
            Event::TaskResult(r) => {
                if self.opts.style == Style::Playbook {
                    let b = self.in_order(|o| o.locate(&r.host, &r.task));
                    self.routed(b, &r.task, |me, note| me.task_result(r, note));
                } else {
                    self.task_result(r, None);
                }
            }
            Event::LoopDone { host, task, status } => {
                if *status == Status::Ignored {
                    let b = self.in_order(|o| o.locate(host, task));
                    self.routed(b, task, |me, _| {
                        me.emit(false, "...ignoring", Some(sgr::CYAN))
                    });
                }
            }
            Event::Unreachable { host, task, msg } => match self.opts.style {
                Style::AdHoc => {
                    let body = serde_json::json!({
                        "changed": false,
                        "msg": msg,
                        "unreachable": true,
                    });
                    let text = format!("{host} | UNREACHABLE! => {}", ansible_json(&body));
                    self.emit(false, &text, Some(sgr::BRIGHT_RED));
                }
                Style::Playbook => {
                    let print = |me: &mut Self, note: Option<&str>| {
                        let text = format!("fatal: {}: UNREACHABLE! => {msg}", label(host, note));
                        me.emit(false, &text, Some(sgr::BRIGHT_RED));
                    };
                    if task.is_empty() {
                        print(self, None);
                    } else {
                        let b = self.in_order(|o| o.locate(host, task));
                        self.routed(b, task, print);
                    }
                }
            },
            Event::Command {
                host,
                status,
                rc,
                stdout,
                stderr,
                stdout_raw,
                stderr_raw,
                msg,
            } => {
                let (text, color) = command_text(
                    host,
                    *status,
                    *rc,
                    [(stdout, stdout_raw), (stderr, stderr_raw)],
                    msg.as_deref(),
                );
                self.emit(false, &text, Some(color));
            }
            Event::Knock {
                host,
                stage,
                ok,
                detail,
            } => self.knock(host, *stage, *ok, detail),
            Event::Warning { host, msg } => {
                let text = match host {
                    Some(h) => format!("[WARNING]: {h}: {msg}"),
                    None => format!("[WARNING]: {msg}"),
                };
                self.emit(true, &text, Some(sgr::BRIGHT_PURPLE));
            }
            // A host with a fork holds the task being printed until it reaches its first task
            // (hosts start their first tasks at slightly different times).
            Event::HostStart { host } => {
                if self.opts.style == Style::Playbook {
                    self.order.host_start(host);
                }
            }
            Event::HostDone { host } => self.in_order(|o| o.host_done(host)),
        }
    }

    /// A task's result line(s); `note` names the task when the line is not under its banner.
    fn task_result(&mut self, r: &TaskResult, note: Option<&str>) {
        if self.opts.style == Style::AdHoc {
            self.adhoc_result(r);
            return;
        }
        let host = label(&r.host, note);
        let item = r.item.as_deref();
        let msg = r.msg.as_deref();
        let (text, color) = match r.status {
            Status::Ok | Status::Changed => {
                let (word, color) = if r.status == Status::Ok {
                    ("ok", sgr::GREEN)
                } else {
                    ("changed", sgr::YELLOW)
                };
                let mut t = format!("{word}: {host}");
                if let Some(i) = item {
                    t.push_str(&format!(" => (item={i})"));
                }
                if let Some(m) = msg {
                    t.push_str(&format!(" => {m}"));
                }
                (t, color)
            }
            Status::Skipped => {
                let mut t = format!("skipping: {host}");
                if let Some(i) = item {
                    t.push_str(&format!(" => (item={i})"));
                }
                (t, sgr::CYAN)
            }
            Status::Failed | Status::Ignored | Status::Rescued => {
                let m = msg.unwrap_or("failed");
                let t = match item {
                    Some(i) => format!("failed: {host} (item={i}) => {m}"),
                    None => format!("fatal: {host}: FAILED! => {m}"),
                };
                (t, sgr::RED)
            }
            Status::Unreachable => (
                format!("fatal: {host}: UNREACHABLE! => {}", msg.unwrap_or("")),
                sgr::BRIGHT_RED,
            ),
        };
        self.emit(false, &text, Some(color));
        if r.status == Status::Ignored && item.is_none() {
            self.emit(false, "...ignoring", Some(sgr::CYAN));
        }
        let show_changes = r.status == Status::Changed && (r.check_mode || self.opts.verbose > 0);
        if show_changes {
            for c in &r.changes {
                self.emit(false, &format!("  - {c}"), Some(sgr::YELLOW));
            }
        }
        if self.opts.diff {
            if let Some(diff) = &r.diff {
                self.diff(diff);
            }
        }
    }

    /// A module result in ad-hoc style (`ansible`'s minimal callback): `h1 | SUCCESS => {...}`.
    fn adhoc_result(&mut self, r: &TaskResult) {
        let (caption, changed, color) = match r.status {
            Status::Ok => ("SUCCESS", false, sgr::GREEN),
            Status::Changed => ("CHANGED", true, sgr::YELLOW),
            Status::Skipped => ("SKIPPED", false, sgr::CYAN),
            Status::Unreachable => ("UNREACHABLE!", false, sgr::BRIGHT_RED),
            Status::Failed | Status::Ignored | Status::Rescued => ("FAILED!", false, sgr::RED),
        };
        let mut text = format!("{} | {caption}", r.host);
        if r.status != Status::Skipped {
            let mut body = serde_json::Map::new();
            body.insert("changed".into(), changed.into());
            if let Some(m) = &r.msg {
                body.insert("msg".into(), m.clone().into());
            }
            text.push_str(" => ");
            text.push_str(&ansible_json(&serde_json::Value::Object(body)));
        }
        self.emit(false, &text, Some(color));
    }

    fn diff(&mut self, diff: &str) {
        for line in diff.lines() {
            let color = if line.starts_with("+++") || line.starts_with("---") {
                None
            } else if line.starts_with('+') {
                Some(sgr::GREEN)
            } else if line.starts_with('-') {
                Some(sgr::RED)
            } else if line.starts_with("@@") {
                Some(sgr::CYAN)
            } else {
                None
            };
            self.emit(false, line, color);
        }
    }

    /// A knock stage, under the task the host is in (the safe apply, or verify's).
    fn knock(&mut self, host: &str, stage: KnockStage, ok: bool, detail: &str) {
        // Under the task the host is in (the safe apply, or verify's).
        let held = self.order.held_for(host);
        self.capture = held;
        let mut text = format!("knock: [{host}] {}", stage_words(stage));
        if !detail.is_empty() {
            text.push_str(": ");
            text.push_str(detail);
        }
        let color = if !ok || stage == KnockStage::RolledBack {
            sgr::RED
        } else if stage == KnockStage::NotProvenClosed {
            sgr::BRIGHT_PURPLE
        } else {
            sgr::GREEN
        };
        self.emit(false, &text, Some(color));
        self.capture = None;
    }
}

/// An ad-hoc command's result: `h1 | CHANGED | rc=0 >>` and its output. Ansible glues stdout,
/// stderr and msg together; a newline between them reads better and loses nothing. Bytes that
/// are not UTF-8 are shown as `\xNN`, not as replacement characters.
fn command_text(
    host: &str,
    status: Status,
    rc: i32,
    streams: [(&String, &Option<Vec<u8>>); 2],
    msg: Option<&str>,
) -> (String, &'static str) {
    let (caption, color) = match status {
        Status::Changed => ("CHANGED", sgr::YELLOW),
        Status::Ok => ("SUCCESS", sgr::GREEN),
        _ => ("FAILED", sgr::RED),
    };
    let mut text = format!("{host} | {caption} | rc={rc} >>");
    let shown = |text: &str, raw: &Option<Vec<u8>>| match raw {
        Some(b) => crate::text::bytes_for_terminal(b),
        None => text.to_string(),
    };
    let [(out, out_raw), (err, err_raw)] = streams;
    for part in [
        shown(out, out_raw),
        shown(err, err_raw),
        msg.unwrap_or_default().to_string(),
    ] {
        let part = part.strip_suffix('\n').unwrap_or(&part);
        if !part.is_empty() {
            text.push('\n');
            text.push_str(part);
        }
    }
    (text, color)
}

/// `[host]`, or `[host] (task: name)` when the line is not under its task's banner.
fn label(host: &str, task: Option<&str>) -> String {
    match task {
        Some(t) => format!("[{host}] (task: {})", t.trim()),
        None => format!("[{host}]"),
    }
}

fn stage_words(stage: KnockStage) -> &'static str {
    match stage {
        KnockStage::Validated => "validated",
        KnockStage::BackedUp => "backed up",
        KnockStage::Armed => "armed",
        KnockStage::Loaded => "loaded",
        KnockStage::ClosedBefore => "closed before knock",
        KnockStage::NotProvenClosed => "not proven closed",
        KnockStage::Opened => "opened by knock",
        KnockStage::ProxySession => "new session through the proxy",
        KnockStage::PlainSession => "new session without a knock",
        KnockStage::ClosedAfter => "closed after",
        KnockStage::Disarmed => "disarmed",
        KnockStage::RolledBack => "rolled back",
        KnockStage::Persisted => "persisted",
    }
}

/// JSON as Ansible's `_dump_results(indent=4)`: sorted keys (the `json!` map is built in
/// order), four-space indent.
fn ansible_json(value: &serde_json::Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8_lossy(&buf).into_owned()
}
