//! Tests of the reporter as a whole: golden human output, JSON lines, colours, task-by-task
//! order across hosts and threads.

use super::*;
use crate::runner::event::{KnockStage, Status, TaskResult};

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
    let golden = include_str!("../../../tests/data/runner/playbook-human.txt");
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
    let golden = include_str!("../../../tests/data/runner/adhoc-human.txt");
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
