//! `--summary FILE`: a Markdown table rendered from a run's `Record`, one row per host (mode,
//! backend, result, proof stages, time), for CI job summaries. Every cell is escaped: host
//! names and messages are host-controlled and must not break the table or inject markup.

use super::event::Status;
use super::record::{stage_name, Record};
use crate::vars::mask::Masker;
use std::collections::HashMap;
use std::fmt::Write as _;

/// What the run knows about each host that the events do not carry.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    /// knock_mode as resolved (knockd, iptables, single_port), when the host has a profile.
    pub mode: Option<String>,
    /// knock_backend as resolved (iptables, nftables), when the host has a profile.
    pub backend: Option<String>,
    pub mask: Masker,
}

/// Render the table. `title` heads it (the playbook, or `sesame verify`).
pub fn render(
    record: &Record,
    info: &HashMap<String, HostInfo>,
    title: &str,
    fail_on_change: bool,
) -> String {
    let mut out = format!("### {}\n\n", cell(title));
    out.push_str("| host | mode | backend | result | proof stages | time |\n");
    out.push_str("| --- | --- | --- | --- | --- | ---: |\n");
    let none = HostInfo::default();
    for (host, h) in &record.hosts {
        let hi = info.get(host).unwrap_or(&none);
        let mode = hi.mode.as_deref().unwrap_or("-");
        let backend = hi.backend.as_deref().unwrap_or("-");
        let status = h.result();
        let mut result = format!("{status:?}").to_lowercase();
        if status == Status::Changed && fail_on_change {
            result.push_str(" (failure: --fail-on-change)");
        }
        let proof = match h.proof() {
            Ok(steps) if steps.is_empty() => "none in this run".to_string(),
            Ok(steps) => steps
                .iter()
                .map(|k| stage_name(k.stage))
                .collect::<Vec<_>>()
                .join(" → "),
            Err(why) => {
                let done: Vec<String> = h
                    .knock
                    .iter()
                    .filter(|k| k.ok)
                    .map(|k| stage_name(k.stage))
                    .collect();
                let mut s = done.join(" → ");
                if !s.is_empty() {
                    s.push_str(" → ");
                }
                s.push_str("FAILED: ");
                s.push_str(&hi.mask.mask(&why));
                s
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} s |",
            cell(host),
            cell(mode),
            cell(backend),
            cell(&result),
            cell(&proof),
            h.time().as_secs_f64()
        );
    }
    out
}

/// Escape text for one Markdown table cell: ASCII punctuation with a Markdown or HTML meaning
/// gets a backslash (so `|` cannot end the cell and `<` cannot open a tag), line breaks become
/// spaces, and control and bidi-override characters are written as visible `U+NNNN`.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '#' | '!' | '~' | '('
            | ')' | '{' | '}' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "U+{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::event::{Event, KnockStage, TaskResult};

    #[test]
    fn one_row_per_host_with_hostile_text_escaped_and_secrets_masked() {
        let mut r = Record::new();
        let evil = "h|2\n| x | y |<img src=x>\u{1b}[31m\u{202e}";
        r.observe(&Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into(), evil.into()],
        });
        for st in [
            KnockStage::Loaded,
            KnockStage::ClosedBefore,
            KnockStage::Opened,
        ] {
            r.observe(&Event::Knock {
                host: "h1".into(),
                stage: st,
                ok: true,
                detail: String::new(),
            });
        }
        r.observe(&Event::TaskResult(TaskResult::new(
            "h1",
            "t",
            Status::Changed,
        )));
        r.observe(&Event::Knock {
            host: evil.into(),
            stage: KnockStage::Opened,
            ok: false,
            detail: "knock 7000|8000 failed".into(),
        });
        let info = HashMap::from([
            (
                "h1".to_string(),
                HostInfo {
                    mode: Some("knockd".into()),
                    backend: Some("nftables".into()),
                    mask: Masker::default(),
                },
            ),
            (
                evil.to_string(),
                HostInfo {
                    mode: None,
                    backend: None,
                    mask: Masker::new(["7000", "8000"]),
                },
            ),
        ]);
        let md = render(&r, &info, "harden", true);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 6, "title, blank, header, rule, two rows: {md}");
        assert!(lines[4].starts_with("| h1 | knockd | nftables | changed \\(failure: --fail-on-change\\) | loaded → closed\\_before → opened |"), "{md}");
        // Unescaped pipes delimit cells: a row has exactly 7, whatever the host name holds.
        for row in &lines[2..] {
            let bare = row.replace("\\|", "");
            assert_eq!(bare.matches('|').count(), 7, "{row}");
        }
        assert!(!md.contains("7000") && !md.contains('\u{1b}') && !md.contains('\u{202e}'));
        assert!(md.contains("\\<img src=x\\>U+001B\\[31mU+202E"), "{md}");
    }
}
