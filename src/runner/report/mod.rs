//! The reporter: the only code that writes to the terminal during a run. It reads `Event`s from
//! the channel (on its own thread, see `start`) and draws Ansible-like lines, a progress bar on a
//! terminal, or `--json` lines, then the PLAY RECAP. It decides nothing about the run itself:
//! counters and the exit code come from the shared `Stats`.
//!
//! Layout: `order` decides when a playbook line is written (task by task, pure), `human` and
//! `json` turn events into text, this file owns the streams, the bar and the recap.

mod human;
mod json;
pub mod order;

use super::channel::{EventReceiver, EventSender, Msg};
use super::event::Event;
use super::stats::{banner, sgr, RecapColor, Stats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use order::{Out, Route, TaskOrder};
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
    /// Playbook output is printed task by task (see `order`).
    order: TaskOrder<Line>,
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
            order: TaskOrder::new(),
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
            Format::Json => {
                let t = self.started.elapsed().as_millis() as f64 / 1000.0;
                match json::event_line(event, t) {
                    Ok(line) => self.emit(false, &line, None),
                    Err(e) => self.emit(true, &format!("[ERROR]: cannot encode event: {e}"), None),
                }
            }
            Format::Human => self.human(event),
        }
    }

    /// End of run: clear the bar, say so if interrupted, print the recap.
    pub fn finish(&mut self, stats: &Stats, cancelled: bool) {
        self.in_order(TaskOrder::flush);
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if cancelled {
            self.emit(true, "[ERROR]: User interrupted execution", Some(sgr::RED));
        }
        match self.opts.format {
            Format::Json => {
                self.emit(false, &json::recap_line(stats), None);
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

    /// Run one step of the ordering, then write what it made ready, in order.
    fn in_order<T>(&mut self, step: impl FnOnce(&mut TaskOrder<Line>) -> T) -> T {
        let result = step(&mut self.order);
        for out in self.order.take_ready() {
            match out {
                Out::Banner { task, handler } => self.print_banner(&task, handler),
                Out::Line(l) => self.emit(l.to_err, &l.text, l.color),
            }
        }
        result
    }

    /// Print (or hold back) lines for block `b` (see `order::Route`); a line about an earlier
    /// task names it.
    fn routed(&mut self, b: usize, task: &str, print: impl FnOnce(&mut Self, Option<&str>)) {
        match self.order.route(b) {
            Route::Held(b) => {
                self.capture = Some(b);
                print(self, None);
                self.capture = None;
            }
            Route::Late => print(self, Some(task)),
            Route::Now => print(self, None),
        }
    }

    fn print_banner(&mut self, task: &str, handler: bool) {
        if self.opts.style != Style::Playbook {
            return;
        }
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        let text = format!("\n{}", banner(&format!("{kind} [{}]", task.trim())));
        self.emit(false, &text, None);
    }

    /// Write one line (or block) and its newline, through the progress bar if there is one.
    fn emit(&mut self, to_err: bool, text: &str, color: Option<&'static str>) {
        if let Some(b) = self.capture {
            let line = Line {
                to_err,
                text: text.to_string(),
                color,
            };
            self.order.hold(b, line);
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
mod tests;
