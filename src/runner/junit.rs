//! `--junit FILE`: a JUnit XML report rendered from a run's `Record`, shaped like Ansible's
//! junit callback (one test case per host and task named `[host] play: task`), plus one case
//! per host for the knock proof. Messages are masked again with each host's secrets before they
//! are written, and everything host-controlled is escaped for XML 1.0. Each of a host's cases
//! carries the host's knock mode and backend as `<properties>` (`knock_mode`, `knock_backend`),
//! like the `--summary` table's columns, so CI can group results by backend.

use super::event::Status;
use super::record::{stage_name, HostRecord, Record};
use crate::vars::mask::Masker;
use std::collections::HashMap;
use std::fmt::Write as _;

/// How the report reads.
#[derive(Debug, Clone, Default)]
pub struct JunitOptions {
    /// The test suite's name (the playbook's, or `verify`).
    pub suite: String,
    /// A changed task is a failure (`--fail-on-change`).
    pub fail_on_change: bool,
    /// Per host: the properties written on each of its cases, e.g. `knock_backend` ->
    /// `nftables` (hosts without a knock profile have none).
    pub properties: HashMap<String, Vec<(String, String)>>,
}

/// The name of the knock proof's test case, after the play's name.
pub const PROOF_CASE: &str = "knock proof";

/// What happened to one test case.
enum Verdict {
    Pass,
    Failure(String, String),
    Skipped(String),
}

struct Case {
    name: String,
    time: f64,
    verdict: Verdict,
    properties: Vec<(String, String)>,
}

/// Render the report. `masks` holds each host's secrets (knock sequences, passwords).
pub fn render(record: &Record, masks: &HashMap<String, Masker>, opts: &JunitOptions) -> String {
    let none = Masker::default();
    let mut cases = Vec::new();
    for (host, h) in &record.hosts {
        let mask = masks.get(host).unwrap_or(&none);
        host_cases(host, h, mask, opts, &mut cases);
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failure(..)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Skipped(_)))
        .count();
    let time = record.time().as_secs_f64();
    let counts = format!(
        "disabled=\"0\" errors=\"0\" failures=\"{failures}\" skipped=\"{skipped}\" tests=\"{}\" time=\"{time:.3}\"",
        cases.len()
    );
    let suite = xml(&opts.suite);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(out, "<testsuites {counts} name=\"{suite}\">");
    let _ = writeln!(out, "  <testsuite {counts} name=\"{suite}\">");
    for c in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.3}\"",
            xml(&c.name),
            c.time
        );
        if matches!(c.verdict, Verdict::Pass) && c.properties.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if !c.properties.is_empty() {
            out.push_str("      <properties>\n");
            for (k, v) in &c.properties {
                let _ = writeln!(
                    out,
                    "        <property name=\"{}\" value=\"{}\"/>",
                    xml(k),
                    xml(v)
                );
            }
            out.push_str("      </properties>\n");
        }
        match &c.verdict {
            Verdict::Pass => {}
            Verdict::Skipped(msg) => {
                let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml(msg));
            }
            Verdict::Failure(msg, body) => {
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"failure\">{}</failure>",
                    xml(msg),
                    xml(body)
                );
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn host_cases(host: &str, h: &HostRecord, mask: &Masker, opts: &JunitOptions, out: &mut Vec<Case>) {
    let properties = opts.properties.get(host).cloned().unwrap_or_default();
    for t in &h.tasks {
        let msg = t.msg.as_deref().map(|m| mask.mask(m));
        let changes = mask.mask(&t.changes.join("\n"));
        let verdict = match t.status {
            Status::Failed | Status::Unreachable => {
                let m = msg.unwrap_or_else(|| format!("{:?}", t.status).to_lowercase());
                let kind = if t.status == Status::Unreachable {
                    "unreachable: "
                } else {
                    ""
                };
                Verdict::Failure(format!("{kind}{m}"), changes)
            }
            Status::Changed if opts.fail_on_change => Verdict::Failure(
                "changed, and --fail-on-change makes a change a failure".into(),
                changes,
            ),
            Status::Skipped => Verdict::Skipped(msg.unwrap_or_else(|| "skipped".into())),
            _ => Verdict::Pass,
        };
        out.push(Case {
            name: format!("[{host}] {}: {}", t.play, t.task),
            time: t.time.as_secs_f64(),
            verdict,
            properties: properties.clone(),
        });
    }
    let play = h.knock_play.as_deref().unwrap_or(&h.last_play);
    let verdict = match h.proof() {
        Ok(steps) if steps.is_empty() => Verdict::Skipped(
            "no knock proof in this run (rules unchanged, check mode, or no knock_apply task): \
             `sesame verify` proves them"
                .into(),
        ),
        Ok(_) => Verdict::Pass,
        Err(why) => {
            let steps: Vec<String> = h
                .knock
                .iter()
                .map(|k| {
                    let mark = if k.ok { "ok" } else { "FAILED" };
                    format!("{} {mark}: {}", stage_name(k.stage), k.detail)
                })
                .collect();
            Verdict::Failure(mask.mask(&why), mask.mask(&steps.join("\n")))
        }
    };
    out.push(Case {
        name: format!("[{host}] {play}: {PROOF_CASE}"),
        time: h.knock_time().as_secs_f64(),
        verdict,
        properties,
    });
}

/// Escape text for an XML 1.0 attribute or text node. Characters XML 1.0 cannot hold at all
/// (most control characters, U+FFFE/U+FFFF) are written as visible `\xNN` / `\u{NNNN}` text, so
/// a hostile host name or message can neither break the document nor vanish silently.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
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

    fn run() -> Record {
        let mut r = Record::new();
        r.observe(&Event::PlayStart {
            name: "Close SSH".into(),
            hosts: vec!["h1".into(), "h<2>\u{1b}[31m".into()],
        });
        r.observe(&Event::TaskResult(TaskResult::new(
            "h1",
            "port_knocking : Install",
            Status::Changed,
        )));
        for (stage, ok) in [(KnockStage::ClosedBefore, true), (KnockStage::Opened, true)] {
            r.observe(&Event::Knock {
                host: "h1".into(),
                stage,
                ok,
                detail: "fine".into(),
            });
        }
        r.observe(&Event::TaskResult(TaskResult {
            msg: Some("knock 7000 8000 9000 refused & \"quoted\" ]]> \u{1b}[0m".into()),
            ..TaskResult::new("h<2>\u{1b}[31m", "port_knocking : Apply", Status::Failed)
        }));
        r
    }

    #[test]
    fn every_host_has_its_tasks_and_a_proof_case_and_secrets_are_masked() {
        let masks = HashMap::from([(
            "h<2>\u{1b}[31m".to_string(),
            Masker::new(["7000", "8000", "9000"]),
        )]);
        let x = render(
            &run(),
            &masks,
            &JunitOptions {
                suite: "harden".into(),
                fail_on_change: false,
                properties: HashMap::new(),
            },
        );
        assert!(
            x.contains("name=\"[h1] Close SSH: port_knocking : Install\""),
            "{x}"
        );
        let proof = x
            .lines()
            .find(|l| l.contains("name=\"[h1] Close SSH: knock proof\""))
            .unwrap_or_else(|| panic!("{x}"));
        assert!(proof.ends_with("\"/>"), "a passed case: {proof}");
        assert!(
            x.contains("[h&lt;2&gt;\\x1b[31m] Close SSH: knock proof"),
            "{x}"
        );
        assert!(
            x.contains("failures=\"2\""),
            "the task and the unproven knock: {x}"
        );
        assert!(!x.contains("7000") && !x.contains('\u{1b}'), "{x}");
        assert!(x.contains("&quot;quoted&quot; ]]&gt;"), "{x}");
    }

    #[test]
    fn fail_on_change_turns_a_changed_task_into_a_failure() {
        let opts = JunitOptions {
            suite: "harden".into(),
            fail_on_change: true,
            properties: HashMap::new(),
        };
        let x = render(&run(), &HashMap::new(), &opts);
        assert!(x.contains("failures=\"3\""), "{x}");
        assert!(x.contains("--fail-on-change"), "{x}");
    }
}
