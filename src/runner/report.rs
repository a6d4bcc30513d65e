//! The reporter: the only code that writes to the terminal during a run. It reads `Event`s from
//! the channel (on its own thread, see `start`) and draws Ansible-like lines, a progress bar on a
//! terminal, or `--json` lines, then the PLAY RECAP. It decides nothing about the run itself:
//! counters and the exit code come from the shared `Stats`.

use super::channel::{EventReceiver, EventSender, Msg};
use super::event::{Event, KnockStage, Status, TaskResult};
use super::stats::{banner, sgr, RecapColor, Stats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for people (Ansible's default callback).
    Human,
    /// One JSON object per line, nothing else on stdout.
    Json,
}

/// Which Ansible program the human lines imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `ansible-playbook`: PLAY/TASK banners and `ok: [h1]` lines.
    Playbook,
    /// `ansible` ad-hoc: `h1 | CHANGED | rc=0 >>` blocks, no banners.
    AdHoc,
}

/// How the reporter draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    pub format: Format,
    pub style: Style,
    /// ANSI colors (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// A progress bar on stderr (only on a terminal, never with `--json`).
    pub progress: bool,
    /// Print `--diff` output under changed host lines.
    pub diff: bool,
    /// `-v` count: 1 and more also lists a task's changes under its host line.
    pub verbose: u8,
}

impl ReportOptions {
    /// Plain options for tests and pipes: no color, no bar.
    pub fn plain(format: Format, style: Style) -> Self {
        ReportOptions {
            format,
            style,
            color: false,
            progress: false,
            diff: false,
            verbose: 0,
        }
    }

    /// Options for this process's stdout/stderr: colors when stdout is a terminal and
    /// `NO_COLOR` is unset or empty, a progress bar when stderr is a terminal (human format).
    pub fn for_terminal(format: Format, style: Style) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let human = format == Format::Human;
        ReportOptions {
            color: human && !no_color && io::stdout().is_terminal(),
            progress: human && io::stderr().is_terminal() && io::stdout().is_terminal(),
            ..ReportOptions::plain(format, style)
        }
    }
}

/// A writer into a shared buffer, to capture what the reporter prints (tests, embedding).
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn new() -> Self {
        Capture::default()
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Identifies the n-th task of a given name a host reached, so a task name used twice in a
/// play gets its own banner both times.
type TaskKey = (String, usize);

/// One task of a play and the lines held back for it.
struct Block {
    key: TaskKey,
    handler: bool,
    lines: Vec<Line>,
}

/// A line held back: where it goes and its colour.
struct Line {
    to_err: bool,
    text: String,
    color: Option<&'static str>,
}

/// Turns events into text. Feed it with `handle`, end with `finish`.
pub struct Reporter {
    opts: ReportOptions,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    bar: Option<ProgressBar>,
    /// The task each host is in now.
    current: HashMap<String, TaskKey>,
    /// How many times each host started a task of each name: (host, task) → count.
    starts: HashMap<(String, String), usize>,
    /// Playbook output is printed task by task, as `ansible-playbook` prints it, although hosts
    /// run ahead of each other: the tasks of this play in the order first reached, each with
    /// the lines held back until it is the task being printed (`head`).
    blocks: Vec<Block>,
    block_of: HashMap<(usize, TaskKey), usize>,
    /// Hosts that start after the first tasks were printed (a later fork) form a new wave whose
    /// tasks are printed again after the earlier ones, as `ansible-playbook` prints batches.
    wave: usize,
    wave_of: HashMap<String, usize>,
    /// The block being printed: its lines go out as they come.
    head: usize,
    /// The block each host that started and has not finished is in.
    pos: HashMap<String, usize>,
    /// While set, `emit` holds lines back in this block instead of writing them.
    capture: Option<usize>,
    /// When the reporter was made: `--json` lines carry `t`, seconds since then, so a run can
    /// be profiled per host and step from its own output.
    started: std::time::Instant,
}

impl Reporter {
    /// A reporter writing to the given streams (stdout-like, stderr-like).
    pub fn new(
        opts: ReportOptions,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Self {
        let bar = opts.progress.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} hosts")
            {
                bar.set_style(style);
            }
            bar
        });
        Reporter {
            opts,
            out,
            err,
            bar,
            current: HashMap::new(),
            starts: HashMap::new(),
            blocks: Vec::new(),
            block_of: HashMap::new(),
            wave: 0,
            wave_of: HashMap::new(),
            head: 0,
            pos: HashMap::new(),
            capture: None,
            started: std::time::Instant::now(),
        }
    }

    /// A reporter on this process's stdout and stderr.
    pub fn stdio(opts: ReportOptions) -> Self {
        Reporter::new(opts, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    /// Draw one event. Write errors (a closed pipe) are ignored: the run goes on.
    pub fn handle(&mut self, event: &Event) {
        if let Event::HostDone { .. } = event {
            if let Some(bar) = &self.bar {
                bar.inc(1);
            }
        }
        if let Event::PlayStart { hosts, .. } = event {
            if let Some(bar) = &self.bar {
                bar.set_length(hosts.len() as u64);
                bar.set_position(0);
            }
        }
        match self.opts.format {
            Format::Json => match serde_json::to_value(event) {
                Ok(mut line) => {
                    // Masked inside the strings, so the line stays valid JSON.
                    mask_json_strings(&mut line);
                    if let Some(map) = line.as_object_mut() {
                        let t = self.started.elapsed().as_millis() as f64 / 1000.0;
                        map.insert("t".into(), serde_json::json!(t));
                    }
                    self.emit(false, &line.to_string(), None)
                }
                Err(e) => self.emit(true, &format!("[ERROR]: cannot encode event: {e}"), None),
            },
            Format::Human => self.human(event),
        }
    }

    /// End of run: clear the bar, say so if interrupted, print the recap.
    pub fn finish(&mut self, stats: &Stats, cancelled: bool) {
        self.flush_blocks();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if cancelled {
            self.emit(true, "[ERROR]: User interrupted execution", Some(sgr::RED));
        }
        match self.opts.format {
            Format::Json => {
                let recap = serde_json::json!({ "event": "recap", "hosts": stats.hosts() });
                self.emit(false, &recap.to_string(), None);
            }
            Format::Human => {
                let color = if self.opts.color {
                    RecapColor::Ansi
                } else {
                    RecapColor::Plain
                };
                let recap = stats.recap(color);
                // `emit` adds the last newline.
                self.emit(false, recap.strip_suffix('\n').unwrap_or(&recap), None);
            }
        }
    }

    fn human(&mut self, event: &Event) {
        match event {
            Event::PlaybookStart { .. } => {}
            Event::PlayStart { name, .. } => {
                self.flush_blocks();
                self.current.clear();
                self.starts.clear();
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
                let key = self.start_task(host, task);
                if self.opts.style == Style::Playbook {
                    let b = self.block(host, key, *handler);
                    self.pos.insert(host.clone(), b);
                    self.advance();
                }
            }
            Event::TaskResult(r) => {
                if self.opts.style == Style::Playbook {
                    let b = self.locate(&r.host, &r.task);
                    self.routed(b, &r.task, |me, note| me.task_result(r, note));
                } else {
                    self.task_result(r, None);
                }
            }
            Event::LoopDone { host, task, status } => {
                if *status == Status::Ignored {
                    let b = self.locate(host, task);
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
                        let b = self.locate(host, task);
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
                let (caption, color) = match status {
                    Status::Changed => ("CHANGED", sgr::YELLOW),
                    Status::Ok => ("SUCCESS", sgr::GREEN),
                    _ => ("FAILED", sgr::RED),
                };
                let mut text = format!("{host} | {caption} | rc={rc} >>");
                // Ansible glues stdout, stderr and msg together; a newline between them reads
                // better and loses nothing.
                // Bytes that are not UTF-8 are shown as `\xNN`, not as replacement characters.
                let shown = |text: &str, raw: &Option<Vec<u8>>| match raw {
                    Some(b) => crate::text::bytes_for_terminal(b),
                    None => text.to_string(),
                };
                for part in [
                    shown(stdout, stdout_raw),
                    shown(stderr, stderr_raw),
                    msg.clone().unwrap_or_default(),
                ] {
                    let part = part.strip_suffix('\n').unwrap_or(&part);
                    if !part.is_empty() {
                        text.push('\n');
                        text.push_str(part);
                    }
                }
                self.emit(false, &text, Some(color));
            }
            Event::Knock {
                host,
                stage,
                ok,
                detail,
            } => {
                // Under the task the host is in (the safe apply, or verify's).
                let held = self.pos.get(host).copied().filter(|b| *b > self.head);
                self.capture = held;
                let mut text = format!("knock: [{host}] {}", stage_words(*stage));
                if !detail.is_empty() {
                    text.push_str(": ");
                    text.push_str(detail);
                }
                let color = if !*ok || *stage == KnockStage::RolledBack {
                    sgr::RED
                } else if *stage == KnockStage::NotProvenClosed {
                    sgr::BRIGHT_PURPLE
                } else {
                    sgr::GREEN
                };
                self.emit(false, &text, Some(color));
                self.capture = None;
            }
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
                    self.pos.entry(host.clone()).or_insert(self.head);
                }
            }
            Event::HostDone { host } => {
                if self.pos.remove(host).is_some() {
                    self.advance();
                }
            }
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

    /// A host starts its next task named `task`.
    fn start_task(&mut self, host: &str, task: &str) -> TaskKey {
        let n = self
            .starts
            .entry((host.to_string(), task.to_string()))
            .or_insert(0);
        *n += 1;
        let key = (task.to_string(), *n);
        self.current.insert(host.to_string(), key.clone());
        key
    }

    /// The key of the task a result belongs to: the host's current task if the name matches
    /// (several results per task: loop items), else a start the engine did not announce.
    fn key_for(&mut self, host: &str, task: &str) -> TaskKey {
        match self.current.get(host) {
            Some(key) if key.0 == task => key.clone(),
            _ => self.start_task(host, task),
        }
    }

    /// The block of a task in `host`'s wave, made (last) when first reached; a block made as
    /// the one being printed gets its banner at once. A host's first task decides its wave:
    /// the newest one, unless that task was already printed for it.
    fn block(&mut self, host: &str, key: TaskKey, handler: bool) -> usize {
        let wave = match self.wave_of.get(host) {
            Some(w) => *w,
            None => {
                let passed = self
                    .block_of
                    .get(&(self.wave, key.clone()))
                    .is_some_and(|b| *b < self.head);
                if passed {
                    self.wave += 1;
                }
                self.wave_of.insert(host.to_string(), self.wave);
                self.wave
            }
        };
        if let Some(b) = self.block_of.get(&(wave, key.clone())) {
            return *b;
        }
        self.blocks.push(Block {
            key: key.clone(),
            handler,
            lines: Vec::new(),
        });
        let b = self.blocks.len() - 1;
        self.block_of.insert((wave, key), b);
        if b == self.head {
            self.print_banner(b);
        }
        b
    }

    /// The block a host's line about `task` belongs to (its current task, or one the engine
    /// did not announce, which the host is then in).
    fn locate(&mut self, host: &str, task: &str) -> usize {
        let announced = self.current.get(host).is_some_and(|k| k.0 == task);
        let key = self.key_for(host, task);
        let b = self.block(host, key, false);
        if !announced {
            self.pos.insert(host.to_string(), b);
            self.advance();
        }
        b
    }

    /// Print (or hold back) lines for block `b`: the block being printed takes them at once,
    /// a later one holds them, an earlier one (a host that started late) prints them at once
    /// naming their task.
    fn routed(&mut self, b: usize, task: &str, print: impl FnOnce(&mut Self, Option<&str>)) {
        if b > self.head {
            self.capture = Some(b);
            print(self, None);
            self.capture = None;
        } else if b < self.head {
            print(self, Some(task));
        } else {
            print(self, None);
        }
    }

    /// Move on to the next blocks while no running host is still in the one being printed (or
    /// behind it): their banners and held lines go out in task order.
    fn advance(&mut self) {
        while self.head < self.blocks.len() && !self.pos.values().any(|b| *b <= self.head) {
            self.head += 1;
            self.release(self.head);
        }
    }

    /// Block `b` becomes the one being printed: its banner, then its held lines.
    fn release(&mut self, b: usize) {
        if b >= self.blocks.len() {
            return;
        }
        self.print_banner(b);
        let lines = std::mem::take(&mut self.blocks[b].lines);
        for l in lines {
            self.emit(l.to_err, &l.text, l.color);
        }
    }

    /// End of a play (or of the run): everything held back, in task order.
    fn flush_blocks(&mut self) {
        while self.head < self.blocks.len() {
            self.head += 1;
            self.release(self.head);
        }
        self.blocks.clear();
        self.block_of.clear();
        self.wave = 0;
        self.wave_of.clear();
        self.pos.clear();
        self.head = 0;
    }

    fn print_banner(&mut self, b: usize) {
        if self.opts.style != Style::Playbook {
            return;
        }
        let block = &self.blocks[b];
        let kind = if block.handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        let text = format!("\n{}", banner(&format!("{kind} [{}]", block.key.0.trim())));
        self.emit(false, &text, None);
    }

    /// Write one line (or block) and its newline, through the progress bar if there is one.
    fn emit(&mut self, to_err: bool, text: &str, color: Option<&'static str>) {
        if let Some(b) = self.capture {
            self.blocks[b].lines.push(Line {
                to_err,
                text: text.to_string(),
                color,
            });
            return;
        }
        // The one boundary to the terminal: whatever a host put in the text (its output, a
        // diff of its files, its banner inside an error) is escaped here, after capture and
        // before colouring; JSON lines keep their value.
        // The run's secrets are masked here too, on every path (human, JSON, errors).
        let safe = match self.opts.format {
            // JSON events had their strings masked (`mask_json_strings`).
            Format::Json => crate::text::json_for_terminal(text).into_owned(),
            Format::Human => {
                crate::text::for_terminal(&crate::vars::mask::mask_run(text)).into_owned()
            }
        };
        let text = safe.as_ref();
        let painted;
        let text = match color {
            Some(code) if self.opts.color => {
                painted = sgr::paint(text, code);
                painted.as_str()
            }
            _ => text,
        };
        let stream = if to_err { &mut self.err } else { &mut self.out };
        let mut write = || {
            let _ = writeln!(stream, "{text}");
            let _ = stream.flush();
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// Every string in `v` with the run's secrets masked (numbers stay numbers: JSON stays valid).
fn mask_json_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(m) = crate::vars::mask::mask_run(s) {
                *s = m;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json_strings),
        serde_json::Value::Object(o) => o.values_mut().for_each(mask_json_strings),
        _ => {}
    }
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

/// Handle on the reporter thread.
pub struct ReporterHandle {
    events: EventSender,
    thread: Option<JoinHandle<()>>,
}

/// What a finished run amounts to.
#[derive(Debug, Clone)]
pub struct Summary {
    pub stats: Stats,
    pub cancelled: bool,
    /// `ansible-playbook`'s exit code (0, 2, 4 or 99).
    pub exit_code: u8,
}

/// Start the reporter on its own thread. Workers get clones of the returned sender; when the
/// run is over, `ReporterHandle::finish` prints the recap and returns the summary.
pub fn start(reporter: Reporter) -> (EventSender, ReporterHandle) {
    let (events, rx) = EventSender::channel();
    let thread = std::thread::Builder::new()
        .name("sesame-reporter".into())
        .spawn(move || report_loop(reporter, rx));
    let handle = ReporterHandle {
        events: events.clone(),
        // Without a thread the events are still counted; only the printing is lost.
        thread: thread.ok(),
    };
    (events, handle)
}

fn report_loop(mut reporter: Reporter, rx: EventReceiver) {
    while let Some(msg) = rx.recv_msg() {
        match msg {
            Msg::Event(e) => reporter.handle(&e),
            Msg::Finish { cancelled } => {
                reporter.finish(&rx.stats(), cancelled);
                return;
            }
        }
    }
}

impl ReporterHandle {
    /// Everything was sent: print the recap, wait for the reporter, return the outcome.
    pub fn finish(mut self, cancelled: bool) -> Summary {
        self.events.finish(cancelled);
        if let Some(t) = self.thread.take() {
            // A reporter that panicked only lost output; the counters are intact.
            let _ = t.join();
        }
        let stats = self.events.stats();
        Summary {
            exit_code: stats.exit_code(cancelled),
            stats,
            cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(opts: ReportOptions, events: &[Event]) -> (String, String) {
        let (out, err) = (Capture::new(), Capture::new());
        let mut r = Reporter::new(opts, Box::new(out.clone()), Box::new(err.clone()));
        let (tx, rx) = EventSender::channel();
        for e in events {
            tx.send(e.clone());
        }
        for e in rx.drain() {
            r.handle(&e);
        }
        r.finish(&tx.stats(), false);
        (out.text(), err.text())
    }

    fn res(host: &str, task: &str, status: Status) -> Event {
        Event::TaskResult(TaskResult::new(host, task, status))
    }

    fn start(host: &str, task: &str) -> Event {
        Event::TaskStart {
            host: host.into(),
            task: task.into(),
            handler: false,
        }
    }

    #[test]
    fn handlers_run_under_their_own_banner() {
        let events = vec![
            Event::PlayStart {
                name: "p".into(),
                hosts: vec!["h1".into()],
            },
            start("h1", "write config"),
            res("h1", "write config", Status::Changed),
            Event::TaskStart {
                host: "h1".into(),
                task: "restart knockd".into(),
                handler: true,
            },
            res("h1", "restart knockd", Status::Changed),
            start("h1", "after"),
            res("h1", "after", Status::Ok),
        ];
        let (out, _) = run(
            ReportOptions::plain(Format::Human, Style::Playbook),
            &events,
        );
        let banners: Vec<&str> = out
            .lines()
            .filter(|l| l.ends_with('*'))
            .map(|l| l.trim_end_matches(['*', ' ']))
            .collect();
        assert_eq!(
            banners,
            [
                "PLAY [p]",
                "TASK [write config]",
                "RUNNING HANDLER [restart knockd]",
                "TASK [after]",
                "PLAY RECAP"
            ],
            "{out}"
        );
        let (json, _) = run(ReportOptions::plain(Format::Json, Style::Playbook), &events);
        assert!(
            json.contains(r#""task":"restart knockd","handler":true"#),
            "{json}"
        );
        assert!(
            !json.contains(r#""task":"write config","handler""#),
            "{json}"
        );
    }

    fn playbook_events() -> Vec<Event> {
        vec![
            Event::PlayStart {
                name: "harden".into(),
                hosts: vec!["h1".into(), "h2".into(), "h3".into(), "h4".into()],
            },
            start("h1", "install knockd"),
            start("h2", "install knockd"),
            res("h1", "install knockd", Status::Ok),
            Event::TaskResult(TaskResult {
                diff: Some("--- before\n+++ after\n@@ -1 +1 @@\n-a\n+b\n".into()),
                ..res_tr("h2", "install knockd", Status::Changed)
            }),
            start("h3", "install knockd"),
            Event::Unreachable {
                host: "h4".into(),
                task: "install knockd".into(),
                msg: "cannot connect to 198.19.0.4:22: Connection refused".into(),
            },
            Event::TaskResult(TaskResult {
                msg: Some("Conditional result was False".into()),
                ..res_tr("h3", "install knockd", Status::Skipped)
            }),
            start("h1", "open ports"),
            start("h2", "open ports"),
            Event::TaskResult(TaskResult {
                item: Some("22".into()),
                ..res_tr("h1", "open ports", Status::Changed)
            }),
            Event::TaskResult(TaskResult {
                item: Some("80".into()),
                ..res_tr("h1", "open ports", Status::Ok)
            }),
            Event::LoopDone {
                host: "h1".into(),
                task: "open ports".into(),
                status: Status::Changed,
            },
            // h3 reaches a third task while h2 is still on the second one: h3's lines wait,
            // so the output reads task by task as ansible-playbook's does.
            start("h3", "check config"),
            Event::TaskResult(TaskResult {
                msg: Some("knockd.conf: no sequence".into()),
                ..res_tr("h3", "check config", Status::Ignored)
            }),
            Event::TaskResult(TaskResult {
                msg: Some("iptables-restore: line 3 failed".into()),
                ..res_tr("h2", "open ports", Status::Failed)
            }),
            Event::Knock {
                host: "h1".into(),
                stage: KnockStage::Armed,
                ok: true,
                detail: "rollback in 120s".into(),
            },
            Event::Knock {
                host: "h1".into(),
                stage: KnockStage::RolledBack,
                ok: false,
                detail: "port 22 closed after knock".into(),
            },
            Event::Warning {
                host: Some("h3".into()),
                msg: "no knock sequence set".into(),
            },
            Event::HostDone { host: "h1".into() },
        ]
    }

    fn res_tr(host: &str, task: &str, status: Status) -> TaskResult {
        TaskResult::new(host, task, status)
    }

    #[test]
    fn human_playbook_output_golden() {
        let opts = ReportOptions {
            diff: true,
            ..ReportOptions::plain(Format::Human, Style::Playbook)
        };
        let (out, err) = run(opts, &playbook_events());
        let golden = include_str!("../../tests/data/runner/playbook-human.txt");
        assert_eq!(out, golden, "stdout differs:\n{out}");
        assert_eq!(err, "[WARNING]: h3: no knock sequence set\n");
    }

    #[test]
    fn json_masks_secrets_inside_strings_and_stays_valid() {
        crate::vars::mask::register(["91357"]);
        let ev = Event::Command {
            host: "h1".into(),
            status: Status::Changed,
            rc: 91357,
            stdout: "knock 91357\u{1b}[2J\n".into(),
            stderr: String::new(),
            stdout_raw: None,
            stderr_raw: None,
            msg: None,
        };
        let (out, _) = run(ReportOptions::plain(Format::Json, Style::AdHoc), &[ev]);
        let first = out.lines().next().unwrap();
        let v: serde_json::Value = serde_json::from_str(first).expect("valid JSON");
        assert_eq!(v["stdout"], "knock ********\u{1b}[2J\n");
        assert_eq!(v["rc"], 91357, "a number is not a string to mask");
        assert!(!first.contains('\u{1b}'), "{first}");
    }

    #[test]
    fn json_lines_parse_and_end_with_recap() {
        let (out, err) = run(
            ReportOptions::plain(Format::Json, Style::Playbook),
            &playbook_events(),
        );
        assert_eq!(err, "", "--json keeps stderr for errors only");
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), playbook_events().len() + 1);
        assert_eq!(lines[0]["event"], "play_start");
        assert_eq!(lines[3]["event"], "task_result");
        assert_eq!(lines[3]["status"], "ok");
        assert_eq!(lines[3]["host"], "h1");
        let t: Vec<f64> = lines[..lines.len() - 1]
            .iter()
            .map(|l| {
                l["t"]
                    .as_f64()
                    .expect("every event has t, seconds since the start")
            })
            .collect();
        assert!(
            t.windows(2).all(|w| w[0] <= w[1]),
            "t never goes back: {t:?}"
        );
        let recap = &lines[lines.len() - 1];
        assert_eq!(recap["event"], "recap");
        assert_eq!(recap["hosts"]["h1"]["ok"], 2);
        assert_eq!(recap["hosts"]["h1"]["changed"], 1);
        assert_eq!(recap["hosts"]["h2"]["failed"], 1);
        assert_eq!(recap["hosts"]["h3"]["ignored"], 1);
        assert_eq!(recap["hosts"]["h4"]["unreachable"], 1);
        let keys: Vec<_> = recap["hosts"]["h1"]
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "ok",
                "changed",
                "unreachable",
                "failed",
                "skipped",
                "rescued",
                "ignored"
            ]
        );
    }

    #[test]
    fn adhoc_output_golden() {
        let events = vec![
            Event::PlayStart {
                name: "ad-hoc".into(),
                hosts: vec!["h1".into(), "h2".into(), "h3".into()],
            },
            Event::Command {
                host: "h1".into(),
                status: Status::Changed,
                rc: 0,
                stdout: "Linux\n".into(),
                stderr: String::new(),
                stdout_raw: None,
                stderr_raw: None,
                msg: None,
            },
            Event::Command {
                host: "h2".into(),
                status: Status::Failed,
                rc: 2,
                stdout: String::new(),
                stderr: "ls: cannot access '/nope': No such file or directory\n".into(),
                stdout_raw: None,
                stderr_raw: None,
                msg: Some("non-zero return code".into()),
            },
            Event::TaskResult(TaskResult {
                msg: Some("h4: ansible_port: not a port number: \"ssh\"".into()),
                ..res_tr("h4", "command", Status::Failed)
            }),
            Event::Unreachable {
                host: "h3".into(),
                task: "command".into(),
                msg: "cannot connect to 198.19.0.3:22: Connection refused".into(),
            },
        ];
        let (out, _) = run(ReportOptions::plain(Format::Human, Style::AdHoc), &events);
        let golden = include_str!("../../tests/data/runner/adhoc-human.txt");
        assert_eq!(out, golden, "stdout differs:\n{out}");
    }

    #[test]
    fn colors_only_when_asked() {
        let events = vec![res("h1", "t", Status::Changed)];
        let opts = ReportOptions {
            color: true,
            ..ReportOptions::plain(Format::Human, Style::Playbook)
        };
        let (out, _) = run(opts, &events);
        assert!(out.contains("\x1b[0;33mchanged: [h1]\x1b[0m\n"), "{out:?}");
        let (plain, _) = run(
            ReportOptions::plain(Format::Human, Style::Playbook),
            &events,
        );
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }

    /// Hosts that run ahead (h1 finishes the play before h2 reports, as on a no-change re-run)
    /// still read task by task; a host that gets its fork later forms a second batch whose
    /// tasks are printed again after the first batch's, as ansible-playbook prints batches.
    #[test]
    fn output_reads_task_by_task_however_far_apart_the_hosts_are() {
        let mut events = vec![Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into(), "h2".into(), "h3".into(), "h4".into()],
        }];
        let host_run = |h: &str| {
            let mut ev = Vec::new();
            for t in ["one", "two", "three"] {
                ev.push(start(h, t));
                ev.push(res(h, t, Status::Ok));
            }
            ev.push(Event::Knock {
                host: h.into(),
                stage: KnockStage::Disarmed,
                ok: true,
                detail: "rollback disarmed".into(),
            });
            ev.push(Event::HostDone { host: h.into() });
            ev
        };
        let host_start = |h: &str| Event::HostStart { host: h.into() };
        // Two forks: h1 and h2 start together; h1 runs the whole play before h2 reports.
        events.push(host_start("h1"));
        events.push(host_start("h2"));
        events.push(start("h2", "one"));
        events.extend(host_run("h1"));
        // h3 gets h1's fork while h2 is still on its first task: it joins the same batch.
        events.push(host_start("h3"));
        events.push(res("h2", "one", Status::Ok));
        events.extend(host_run("h2").into_iter().skip(2));
        events.extend(host_run("h3"));
        // h4 gets a fork only after the first three finished: a second batch.
        events.push(host_start("h4"));
        events.extend(host_run("h4"));
        let (out, _) = run(
            ReportOptions::plain(Format::Human, Style::Playbook),
            &events,
        );
        let body = out.split("PLAY RECAP").next().unwrap();
        let expected = "
PLAY [p] ***********************************************************************

TASK [one] *********************************************************************
ok: [h1]
ok: [h2]
ok: [h3]

TASK [two] *********************************************************************
ok: [h1]
ok: [h2]
ok: [h3]

TASK [three] *******************************************************************
ok: [h1]
knock: [h1] disarmed: rollback disarmed
ok: [h2]
knock: [h2] disarmed: rollback disarmed
ok: [h3]
knock: [h3] disarmed: rollback disarmed

TASK [one] *********************************************************************
ok: [h4]

TASK [two] *********************************************************************
ok: [h4]

TASK [three] *******************************************************************
ok: [h4]
knock: [h4] disarmed: rollback disarmed

";
        assert_eq!(body, expected, "{out}");
    }

    #[test]
    fn a_repeated_task_name_gets_its_own_banner() {
        let events = vec![
            start("h1", "restart"),
            res("h1", "restart", Status::Changed),
            start("h1", "other"),
            res("h1", "other", Status::Ok),
            start("h1", "restart"),
            res("h1", "restart", Status::Ok),
        ];
        let (out, _) = run(
            ReportOptions::plain(Format::Human, Style::Playbook),
            &events,
        );
        assert_eq!(out.matches("TASK [restart]").count(), 2, "{out}");
        assert!(!out.contains("(task:"), "{out}");
    }

    #[test]
    fn threaded_reporter_prints_everything_before_the_recap() {
        let (out, err) = (Capture::new(), Capture::new());
        let reporter = Reporter::new(
            ReportOptions::plain(Format::Human, Style::Playbook),
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        let (tx, handle) = super::start(reporter);
        std::thread::scope(|s| {
            for i in 0..8 {
                let tx = tx.clone();
                s.spawn(move || {
                    for _ in 0..50 {
                        tx.send(res(&format!("h{i}"), "t", Status::Ok));
                    }
                });
            }
        });
        let summary = handle.finish(true);
        assert_eq!(summary.exit_code, 99);
        assert_eq!(summary.stats.host("h3").ok, 50);
        let text = out.text();
        assert_eq!(text.matches("ok: [h").count(), 400);
        let recap_at = text.find("PLAY RECAP").expect("recap");
        assert!(text.rfind("ok: [h").expect("lines") < recap_at);
        assert!(text.ends_with("ignored=0   \n\n"), "{text:?}");
        assert_eq!(err.text(), "[ERROR]: User interrupted execution\n");
    }
}
