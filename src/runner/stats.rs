//! Per-host counters of a run, counted as Ansible counts them, and what follows from them: the
//! PLAY RECAP lines (byte-for-byte Ansible's when uncolored), the exit code and the retry file.
//! Counting happens when an event is sent (see `channel::EventSender`), so the engine can read
//! failed/unreachable hosts so far (for `max_fail_percentage`) while the run goes on.

use super::event::{Event, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Ansible's per-host recap counters (`stats.summarize(host)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl HostStats {
    /// Count one task's outcome the way Ansible's strategy plugin does: a changed result is
    /// also ok, a failure that `ignore_errors` swallowed is ok and ignored, a failure caught
    /// by `rescue` is rescued only.
    fn count(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Changed => {
                self.ok += 1;
                self.changed += 1;
            }
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Rescued => self.rescued += 1,
            Status::Ignored => {
                self.ok += 1;
                self.ignored += 1;
            }
        }
    }
}

/// Counters of every host that did something, sorted by name as Ansible's recap is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    hosts: BTreeMap<String, HostStats>,
}

/// How the recap is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecapColor {
    /// Plain text: exactly Ansible's log line.
    Plain,
    /// ANSI colors as Ansible's screen line.
    Ansi,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    /// Count one event. An `Ignored` result with `changes` also counts `changed`. Loop items (`TaskResult` with `item`) are not counted: the looped task
    /// is counted once by its `LoopDone`.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::TaskResult(r) if r.item.is_none() => {
                let counters = self.entry(&r.host);
                counters.count(r.status);
                // Ansible counts an ignored failure that changed something as changed too.
                if r.status == Status::Ignored && !r.changes.is_empty() {
                    counters.changed += 1;
                }
            }
            Event::TaskResult(r) => {
                self.entry(&r.host);
            }
            Event::LoopDone { host, status, .. } | Event::Command { host, status, .. } => {
                self.entry(host).count(*status)
            }
            Event::Unreachable { host, .. } => self.entry(host).count(Status::Unreachable),
            Event::TaskStart { host, .. }
            | Event::HostStart { host }
            | Event::HostDone { host } => {
                self.entry(host);
            }
            Event::PlaybookStart { .. }
            | Event::PlayStart { .. }
            | Event::Knock { .. }
            | Event::HostCost { .. }
            | Event::Warning { .. } => {}
        }
    }

    fn entry(&mut self, host: &str) -> &mut HostStats {
        self.hosts.entry(host.to_string()).or_default()
    }

    /// Counters of one host (zeros if it did nothing).
    pub fn host(&self, host: &str) -> HostStats {
        self.hosts.get(host).copied().unwrap_or_default()
    }

    /// Every host that did something, sorted by name.
    pub fn hosts(&self) -> &BTreeMap<String, HostStats> {
        &self.hosts
    }

    /// Hosts with at least one failed task (not ignored, not rescued).
    pub fn failed_hosts(&self) -> BTreeSet<&str> {
        self.hosts
            .iter()
            .filter(|(_, s)| s.failed > 0)
            .map(|(h, _)| h.as_str())
            .collect()
    }

    /// Hosts that could not be reached at least once.
    pub fn unreachable_hosts(&self) -> BTreeSet<&str> {
        self.hosts
            .iter()
            .filter(|(_, s)| s.unreachable > 0)
            .map(|(h, _)| h.as_str())
            .collect()
    }

    /// Failed or unreachable hosts, sorted: what `max_fail_percentage` and the retry file use.
    pub fn failed_or_unreachable(&self) -> BTreeSet<&str> {
        let mut all = self.failed_hosts();
        all.extend(self.unreachable_hosts());
        all
    }

    /// `ansible-playbook`'s exit code once hosts ran: 99 when interrupted, 4 when a host was
    /// unreachable (wins over failures, as Ansible's strategy base returns), 2 when a host
    /// failed, 0 otherwise.
    pub fn exit_code(&self, cancelled: bool) -> u8 {
        if cancelled {
            99
        } else if !self.unreachable_hosts().is_empty() {
            4
        } else if !self.failed_hosts().is_empty() {
            2
        } else {
            0
        }
    }

    /// The PLAY RECAP block as Ansible's default callback prints it: an empty line, the banner,
    /// one line per host, an empty line. Each line ends with `\n`.
    pub fn recap(&self, color: RecapColor) -> String {
        let mut out = String::from("\n");
        out.push_str(&banner("PLAY RECAP"));
        out.push('\n');
        for (host, s) in &self.hosts {
            out.push_str(&recap_line(host, s, color));
            out.push('\n');
        }
        out.push('\n');
        out
    }

    /// Write failed and unreachable hosts, one per line, for `-l @PATH`.
    pub fn write_retry_file(&self, path: &Path) -> Result<(), RetryFileError> {
        let mut body = String::new();
        for host in self.failed_or_unreachable() {
            body.push_str(host);
            body.push('\n');
        }
        let err = |source| RetryFileError {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::create(path).map_err(err)?;
        f.write_all(body.as_bytes()).map_err(err)?;
        Ok(())
    }
}

/// Writing the retry file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write retry file {path}: {source}")]
pub struct RetryFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Ansible's banner: the message, a space, then `*` up to 80 columns (at least 3), as
/// `Display.banner` draws it when stdout is not a terminal (`columns = 79`).
pub fn banner(msg: &str) -> String {
    let msg = msg.trim();
    let stars = 79usize.saturating_sub(msg.chars().count()).max(3);
    format!("{msg} {}", "*".repeat(stars))
}

/// ANSI SGR codes of Ansible's default colors (`ansible.utils.color.codeCodes`).
pub(crate) mod sgr {
    pub const GREEN: &str = "0;32";
    pub const YELLOW: &str = "0;33";
    pub const RED: &str = "0;31";
    pub const BRIGHT_RED: &str = "1;31";
    pub const CYAN: &str = "0;36";
    pub const BRIGHT_PURPLE: &str = "1;35";

    /// `stringc`: wrap each line of `text` in the color.
    pub fn paint(text: &str, code: &str) -> String {
        text.split('\n')
            .map(|t| format!("\x1b[{code}m{t}\x1b[0m"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One recap line: `hostcolor` (`%-26s`, or `%-37s` around the colored name) then
/// `colorize(lead, n)` = `lead=%-4s`, colored only when `n != 0`, joined by single spaces.
fn recap_line(host: &str, s: &HostStats, color: RecapColor) -> String {
    let ansi = color == RecapColor::Ansi;
    let name = if ansi {
        let code = if s.failed != 0 || s.unreachable != 0 {
            sgr::RED
        } else if s.changed != 0 {
            sgr::YELLOW
        } else {
            sgr::GREEN
        };
        // Python pads the escaped string to 37: the escapes take 11 of those columns.
        format!("{:<37}", sgr::paint(host, code))
    } else {
        format!("{host:<26}")
    };
    let pair = |lead: &str, n: u32, code: &str| {
        let text = format!("{lead}={n:<4}");
        if ansi && n != 0 {
            sgr::paint(&text, code)
        } else {
            text
        }
    };
    format!(
        "{name} : {} {} {} {} {} {} {}",
        pair("ok", s.ok, sgr::GREEN),
        pair("changed", s.changed, sgr::YELLOW),
        pair("unreachable", s.unreachable, sgr::BRIGHT_RED),
        pair("failed", s.failed, sgr::RED),
        pair("skipped", s.skipped, sgr::CYAN),
        pair("rescued", s.rescued, sgr::GREEN),
        pair("ignored", s.ignored, sgr::BRIGHT_PURPLE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::event::TaskResult;

    fn result(host: &str, status: Status) -> Event {
        Event::TaskResult(TaskResult::new(host, "t", status))
    }

    #[test]
    fn counts_as_ansible() {
        let mut s = Stats::new();
        for e in [
            result("a", Status::Ok),
            result("a", Status::Changed),
            result("a", Status::Ignored),
            result("a", Status::Skipped),
            result("a", Status::Rescued),
            result("a", Status::Failed),
            result("a", Status::Failed),
        ] {
            s.record(&e);
        }
        assert_eq!(
            s.host("a"),
            HostStats {
                ok: 3,
                changed: 1,
                unreachable: 0,
                failed: 2,
                skipped: 1,
                rescued: 1,
                ignored: 1,
            }
        );
    }

    #[test]
    fn loop_items_count_once_through_loop_done() {
        let mut s = Stats::new();
        for item in ["x", "y", "z"] {
            s.record(&Event::TaskResult(TaskResult {
                item: Some(item.into()),
                ..TaskResult::new("a", "loop", Status::Changed)
            }));
        }
        assert_eq!(s.host("a"), HostStats::default());
        s.record(&Event::LoopDone {
            host: "a".into(),
            task: "loop".into(),
            status: Status::Changed,
        });
        assert_eq!(s.host("a").ok, 1);
        assert_eq!(s.host("a").changed, 1);
    }

    #[test]
    fn exit_code_unreachable_wins_over_failed_and_cancel_wins_over_all() {
        let mut s = Stats::new();
        s.record(&result("a", Status::Ok));
        assert_eq!(s.exit_code(false), 0);
        s.record(&result("b", Status::Ignored));
        s.record(&result("b", Status::Rescued));
        assert_eq!(
            s.exit_code(false),
            0,
            "ignored and rescued are not failures"
        );
        s.record(&result("b", Status::Failed));
        assert_eq!(s.exit_code(false), 2);
        s.record(&Event::Unreachable {
            host: "c".into(),
            task: "t".into(),
            msg: "no route".into(),
        });
        assert_eq!(s.exit_code(false), 4);
        assert_eq!(s.exit_code(true), 99);
        assert_eq!(
            s.failed_or_unreachable().into_iter().collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn banner_is_80_columns_with_at_least_3_stars() {
        assert_eq!(banner("PLAY RECAP").len(), 80);
        assert_eq!(
            banner("PLAY RECAP"),
            format!("PLAY RECAP {}", "*".repeat(69))
        );
        let long = "x".repeat(100);
        assert_eq!(banner(&long), format!("{long} ***"));
    }

    #[test]
    fn recap_matches_ansible_golden() {
        // tests/data/runner/recap.txt is real ansible-playbook output (see recap-source.*);
        // these events are what that run reported, in the order it ran.
        let mut s = Stats::new();
        s.record(&Event::Unreachable {
            host: "db1".into(),
            task: "reach".into(),
            msg: "ssh: connect to host 127.0.0.1 port 1: Connection refused".into(),
        });
        for _ in 0..6 {
            s.record(&result(
                "a-very-long-host-name.example.internal",
                Status::Skipped,
            ));
        }
        for _ in 0..4 {
            s.record(&result("web2", Status::Skipped));
        }
        s.record(&result("web2", Status::Changed));
        s.record(&result("web2", Status::Ok));
        for _ in 0..3 {
            s.record(&result("web1", Status::Skipped));
        }
        // `command: false` with ignore_errors: Ansible counts it ok, ignored and changed.
        s.record(&Event::TaskResult(TaskResult {
            changes: vec!["ran false".into()],
            ..TaskResult::new("web1", "ignored", Status::Ignored)
        }));
        s.record(&result("web1", Status::Rescued));
        s.record(&result("web1", Status::Ok)); // the rescue task
        s.record(&result("web1", Status::Failed));
        let golden = include_str!("../../tests/data/runner/recap.txt");
        assert_eq!(s.recap(RecapColor::Plain), golden);
    }

    #[test]
    fn colored_recap_pads_like_python_around_escapes() {
        let mut s = Stats::new();
        s.record(&result("h1", Status::Changed));
        let line = recap_line("h1", &s.host("h1"), RecapColor::Ansi);
        assert_eq!(
            line,
            format!(
                "\x1b[0;33mh1\x1b[0m{} : \x1b[0;32mok=1   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m \
                 unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ",
                " ".repeat(24)
            )
        );
    }

    #[test]
    fn retry_file_lists_failed_and_unreachable_sorted() {
        let mut s = Stats::new();
        s.record(&result("z", Status::Failed));
        s.record(&result("ok", Status::Ok));
        s.record(&Event::Unreachable {
            host: "m".into(),
            task: "t".into(),
            msg: "x".into(),
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("site.retry");
        s.write_retry_file(&path).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "m\nz\n");
        let missing = dir.path().join("no/such/dir/x.retry");
        let err = s.write_retry_file(&missing).expect_err("must fail");
        assert!(err.to_string().contains("no/such/dir/x.retry"), "{err}");
    }
}
