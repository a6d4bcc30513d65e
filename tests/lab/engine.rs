//! Lab tests of the playbook engine on real hosts: every host module converges and a re-run
//! changes nothing, `--check` reports without touching, handlers run once, a failing host does
//! not stop the others, `serial` + `max_fail_percentage` stop later batches, extra vars, tags
//! and `--syntax-check`. Playbooks live under `tests/data/engine/`.

use crate::common::sesame::{repo, Sesame};
use crate::common::{recap, Lab};
use std::path::PathBuf;
use std::process::Output;
use std::time::Instant;

fn book(name: &str) -> PathBuf {
    repo().join("tests/data/engine").join(name)
}

/// `sesame play -i <fleet inventory> tests/data/engine/<name> EXTRA...`
fn play(lab: &Lab, name: &str, extra: &[&str]) -> Output {
    Sesame::new().play(&lab.inventory, &book(name), extra)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the recap has a line for `host` at all.
fn in_recap(out: &Output, host: &str) -> bool {
    stdout(out)
        .lines()
        .any(|l| l.starts_with(&format!("{host} ")) && l.contains("changed="))
}

/// Every per-host result line as (task, status, host): `changed: [h1]` belongs to the task of
/// the banner above it, unless annotated `changed: [h2] (task: Other)` (hosts run independently;
/// the output is grouped task by task, and a line printed out of its group names its task).
fn events(out: &Output) -> Vec<(String, String, String)> {
    let text = stdout(out);
    let mut banner = String::new();
    let mut ev = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l
            .strip_prefix("TASK [")
            .or_else(|| l.strip_prefix("RUNNING HANDLER ["))
        {
            banner = rest.split("] ").next().unwrap_or(rest).to_string();
            continue;
        }
        let Some((status, rest)) = l.split_once(": [") else {
            continue;
        };
        if !["ok", "changed", "skipping", "fatal", "failed"].contains(&status) {
            continue;
        }
        let Some((host, rest)) = rest.split_once(']') else {
            continue;
        };
        let task = match rest.strip_prefix(" (task: ") {
            Some(t) => t.split_once(')').map_or(t, |(t, _)| t).to_string(),
            None => banner.clone(),
        };
        ev.push((task, status.to_string(), host.to_string()));
    }
    ev
}

fn task_status(out: &Output, task: &str, status: &str, host: &str) -> bool {
    events(out)
        .iter()
        .any(|(t, s, h)| t == task && s == status && h == host)
}

/// Whether `task` printed any result at all (for any host).
fn task_ran(out: &Output, task: &str) -> bool {
    events(out)
        .iter()
        .any(|(t, s, _)| t == task && s != "skipping")
}

fn exists(lab: &Lab, host: &str, path: &str) -> bool {
    lab.exec(host, &["test", "-e", path]).status.success()
}

/// The probe reads debconf's database without Perl and asks dpkg-query once for all packages:
/// it must answer exactly as `debconf-show` and one `dpkg-query` per package do.
fn assert_probe_answers_as_the_slow_tools(lab: &Lab, host: &str) {
    use sesame::facts::{Query, QueryAnswer};
    let debconf = probe_matches_slow_tool(
        lab,
        host,
        &[
            "iptables-persistent",
            "tzdata",
            "debconf",
            "knockd",
            "no-such-package",
        ],
        |p| Query::Debconf(p.to_string()),
        |p| format!("debconf-show {p} || true"),
    );
    assert_eq!(
        debconf.debconf("tzdata").map(|m| m.len() > 5),
        Some(true),
        "{host}: tzdata's questions not read"
    );
    let packages = probe_matches_slow_tool(
        lab,
        host,
        &[
            "knockd",
            "libc6",
            "libc6:amd64",
            "no-such-package",
            "ufw",
            "iptables",
        ],
        |p| Query::Package(p.to_string()),
        |p| {
            format!("dpkg-query -W -f='${{db:Status-Abbrev}}\\t${{Version}}\\n' -- {p} 2>/dev/null || echo un")
        },
    );
    assert!(
        matches!(
            packages.get(&Query::Package("knockd".into())),
            Some(QueryAnswer::Package(Some(_)))
        ),
        "{host}: knockd not seen as installed"
    );
}

/// Ask the probe about every name in one run, then each name alone with the tool the probe
/// replaces; the parsed answers must be equal. Returns the probe's answers.
fn probe_matches_slow_tool(
    lab: &Lab,
    host: &str,
    names: &[&str],
    query: impl Fn(&str) -> sesame::facts::Query,
    slow: impl Fn(&str) -> String,
) -> sesame::facts::State {
    use sesame::facts::{probe_command, sections, State, MARK};
    let queries: Vec<_> = names.iter().map(|n| query(n)).collect();
    let out = lab.sh(host, &probe_command(false, &queries).render());
    let mut fast = State::default();
    fast.absorb(&queries, &sections(&out));
    for (n, q) in names.iter().zip(&queries) {
        let alone = lab.sh(host, &slow(n));
        let mut want = State::default();
        want.absorb(
            std::slice::from_ref(q),
            &sections(&format!("{MARK} q 1\n{alone}")),
        );
        assert_eq!(
            fast.get(q),
            want.get(q),
            "{host}: the probe's answer for {n} differs from `{}`",
            slow(n)
        );
    }
    fast
}

#[test]
fn every_module_converges_and_a_rerun_changes_nothing_nor_runs_the_handler() {
    let t = Instant::now();
    let lab = Lab::up("engine_all_modules", 2);
    let first = play(&lab, "all_modules.yml", &[]);
    assert_eq!(first.status.code(), Some(0), "first run failed");
    let files = "/etc/engine/x.conf /etc/engine/notes.txt /etc/default/knockd /etc/knockd.conf \
                 /etc/engine/stamp /var/lib/engine-handler.log";
    let mut before = Vec::new();
    for h in &lab.hosts {
        assert!(
            recap(&first, &h.name, "changed") > 0,
            "{} changed nothing",
            h.name
        );
        assert_eq!(recap(&first, &h.name, "failed"), 0);
        assert!(task_status(&first, "Show the count", "ok", &h.name));
        assert_eq!(
            lab.sh(&h.name, "cat /etc/engine/x.conf"),
            format!(
                "# Managed by sesame (engine lab test).\nname = engine-lab\nhost = {}\nport = 8123\n",
                h.name
            )
        );
        assert_eq!(
            lab.sh(&h.name, "cat /etc/engine/notes.txt"),
            "first line\nmanaged = yes\n"
        );
        assert_eq!(lab.sh(&h.name, "stat -c %a /etc/engine/notes.txt"), "600\n");
        assert_eq!(lab.sh(&h.name, "stat -c %a /etc/engine"), "755\n");
        assert_eq!(
            lab.sh(&h.name, "cat /var/lib/engine-handler.log"),
            "restarted\n"
        );
        lab.sh(&h.name, "command -v tree && pidof knockd");
        assert!(
            lab.sh(&h.name, "debconf-show iptables-persistent")
                .contains("iptables-persistent/autosave_v4: false"),
            "debconf answer not set on {}",
            h.name
        );
        assert_probe_answers_as_the_slow_tools(&lab, &h.name);
        before.push(lab.sh(&h.name, &format!("stat -c '%n %Y %s' {files}")));
    }
    // Whole-second mtimes: make sure a rewrite would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = play(&lab, "all_modules.yml", &[]);
    assert_eq!(second.status.code(), Some(0), "second run failed");
    for h in &lab.hosts {
        assert!(task_status(&first, "count restarts", "changed", &h.name));
    }
    assert!(
        !task_ran(&second, "count restarts"),
        "the handler ran on the re-run"
    );
    for (h, b) in lab.hosts.iter().zip(&before) {
        assert_eq!(recap(&second, &h.name, "changed"), 0, "{} changed", h.name);
        assert_eq!(recap(&second, &h.name, "failed"), 0);
        assert_eq!(
            &lab.sh(&h.name, &format!("stat -c '%n %Y %s' {files}")),
            b,
            "files rewritten on {}",
            h.name
        );
        assert_eq!(
            lab.sh(&h.name, "cat /var/lib/engine-handler.log"),
            "restarted\n"
        );
    }
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn check_reports_a_hand_edit_without_fixing_it_and_a_real_run_fixes_it() {
    let t = Instant::now();
    let lab = Lab::up("engine_check_fix", 2);
    let first = play(&lab, "check_fix.yml", &[]);
    assert_eq!(first.status.code(), Some(0));
    lab.sh("h1", "echo 'edited by hand' > /etc/engine-motd");
    let stamp = lab.sh(
        "h1",
        "stat -c '%Y %s' /etc/engine-motd; md5sum /etc/engine-motd",
    );

    let check = play(&lab, "check_fix.yml", &["--check"]);
    assert_eq!(check.status.code(), Some(0));
    assert!(task_status(&check, "Manage the motd", "changed", "h1"));
    assert!(task_status(&check, "Manage the motd", "ok", "h2"));
    assert_eq!(recap(&check, "h1", "changed"), 1);
    assert_eq!(recap(&check, "h2", "changed"), 0);
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%Y %s' /etc/engine-motd; md5sum /etc/engine-motd"
        ),
        stamp,
        "--check modified the file"
    );
    assert_eq!(lab.sh("h1", "cat /etc/engine-motd"), "edited by hand\n");

    let fix = play(&lab, "check_fix.yml", &[]);
    assert_eq!(fix.status.code(), Some(0));
    assert!(task_status(&fix, "Manage the motd", "changed", "h1"));
    assert_eq!(recap(&fix, "h1", "changed"), 1);
    assert_eq!(recap(&fix, "h2", "changed"), 0);
    assert_eq!(lab.sh("h1", "cat /etc/engine-motd"), "managed by sesame\n");
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn a_handler_notified_twice_runs_once_and_not_at_all_when_nothing_changed() {
    let t = Instant::now();
    let lab = Lab::up("engine_handlers", 2);
    let first = play(&lab, "handlers.yml", &[]);
    assert_eq!(first.status.code(), Some(0));
    for h in &lab.hosts {
        assert_eq!(recap(&first, &h.name, "changed"), 3, "2 files + 1 handler");
        assert_eq!(lab.sh(&h.name, "cat /var/lib/engine-bump.log"), "bump\n");
        assert!(task_status(&first, "bump", "changed", &h.name));
    }
    assert!(
        stdout(&first).contains("RUNNING HANDLER [bump]"),
        "handlers are announced as Ansible does"
    );
    assert!(!stdout(&first).contains("TASK [bump]"));
    // Only h1's second file drifts: the handler runs there once, not on h2.
    lab.sh("h1", "echo drift > /etc/engine-b");
    let second = play(&lab, "handlers.yml", &[]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(recap(&second, "h1", "changed"), 2);
    assert_eq!(recap(&second, "h2", "changed"), 0);
    assert_eq!(lab.sh("h1", "cat /var/lib/engine-bump.log"), "bump\nbump\n");
    assert_eq!(lab.sh("h2", "cat /var/lib/engine-bump.log"), "bump\n");
    let third = play(&lab, "handlers.yml", &[]);
    assert_eq!(third.status.code(), Some(0));
    for h in &lab.hosts {
        assert_eq!(recap(&third, &h.name, "changed"), 0);
    }
    assert_eq!(lab.sh("h1", "wc -l < /var/lib/engine-bump.log").trim(), "2");
    assert_eq!(lab.sh("h2", "wc -l < /var/lib/engine-bump.log").trim(), "1");
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn a_host_failing_stops_only_that_host_and_exits_2() {
    let t = Instant::now();
    let lab = Lab::up("engine_one_fails", 3);
    let out = play(&lab, "one_fails.yml", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(recap(&out, "h2", "failed"), 1);
    assert!(task_status(&out, "Fail on h2", "fatal", "h2"));
    for h in ["h1", "h3"] {
        assert_eq!(recap(&out, h, "failed"), 0);
        assert!(task_status(&out, "Fail on h2", "skipping", h));
        assert!(task_status(&out, "After", "changed", h));
        assert_eq!(lab.sh(h, "cat /etc/engine-after"), "after\n");
    }
    assert!(exists(&lab, "h2", "/etc/engine-before"));
    assert!(
        !exists(&lab, "h2", "/etc/engine-after"),
        "h2 ran a task after its failure"
    );
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn serial_with_zero_failure_tolerance_never_starts_the_second_batch() {
    let t = Instant::now();
    let lab = Lab::up("engine_serial", 4);
    let out = play(&lab, "serial.yml", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(recap(&out, "h1", "failed"), 1);
    for h in ["h1", "h2"] {
        assert!(exists(&lab, h, "/etc/engine-started"), "{h} did not start");
    }
    assert!(!exists(&lab, "h1", "/etc/engine-done"));
    for h in ["h3", "h4"] {
        assert!(
            !exists(&lab, h, "/etc/engine-started"),
            "second batch host {h} started"
        );
        if in_recap(&out, h) {
            assert_eq!(recap(&out, h, "ok"), 0);
            assert_eq!(recap(&out, h, "changed"), 0);
        }
    }
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn extra_vars_beat_play_vars_tags_select_tasks_and_syntax_check_names_the_line() {
    let t = Instant::now();
    // --syntax-check needs no host.
    let inv = repo().join("tests/data/runner/recap-source.inventory.ini");
    let sc = Sesame::new().play(&inv, &book("typo.yml"), &["--syntax-check"]);
    assert_eq!(sc.status.code(), Some(1));
    let err = String::from_utf8_lossy(&sc.stderr).into_owned() + &stdout(&sc);
    assert!(err.contains("copyy"), "module name missing: {err}");
    assert!(
        err.contains("typo.yml:9") || err.contains("typo.yml:10"),
        "file:line missing: {err}"
    );
    for ok in ["vars_tags.yml", "all_modules.yml"] {
        let out = Sesame::new().play(&inv, &book(ok), &["--syntax-check"]);
        assert_eq!(out.status.code(), Some(0), "{ok} fails its syntax check");
    }

    let lab = Lab::up("engine_vars_tags", 2);
    let tagged = play(
        &lab,
        "vars_tags.yml",
        &["--tags", "greet,alpha", "-e", "greeting=from-cli"],
    );
    assert_eq!(tagged.status.code(), Some(0));
    for h in &lab.hosts {
        assert_eq!(recap(&tagged, &h.name, "changed"), 2);
        assert_eq!(
            lab.sh(&h.name, "cat /etc/engine-greeting"),
            "greeting=from-cli\n"
        );
        assert_eq!(lab.sh(&h.name, "cat /etc/engine-alpha"), "alpha\n");
        assert!(!exists(&lab, &h.name, "/etc/engine-beta"), "beta ran");
        assert!(
            !exists(&lab, &h.name, "/etc/engine-untagged"),
            "untagged ran"
        );
    }
    assert!(!stdout(&tagged).contains("TASK [Tagged beta]"));

    // Without -e the play's own value comes back; without --tags every task runs.
    let all = play(&lab, "vars_tags.yml", &[]);
    assert_eq!(all.status.code(), Some(0));
    for h in &lab.hosts {
        // greeting (back to the play's value), beta, untagged, bare.
        assert_eq!(recap(&all, &h.name, "changed"), 4);
        assert_eq!(
            lab.sh(&h.name, "cat /etc/engine-greeting"),
            "greeting=from-play\n"
        );
        assert!(exists(&lab, &h.name, "/etc/engine-beta"));
        assert!(exists(&lab, &h.name, "/etc/engine-untagged"));
    }
    eprintln!("took {:.1}s", t.elapsed().as_secs_f64());
}

#[test]
fn a_bare_variable_followed_by_a_newline_keeps_the_newline() {
    let lab = Lab::up("engine_bare_newline", 1);
    let out = play(&lab, "vars_tags.yml", &["--tags", "bare"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lab.sh("h1", "cat /etc/engine-bare"), "from-play\n");
}

/// copy and template take vault-encrypted sources and write them decrypted (as Ansible's do);
/// without the password the task fails naming the file, and nothing is written.
#[test]
fn vaulted_copy_and_template_sources_are_written_decrypted() {
    let lab = Lab::up("engine_vault", 1);
    let pw = repo().join("tests/data/vault/password");
    let pw = pw.to_str().unwrap();
    let out = play(&lab, "vaulted/vaulted.yml", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("secret.txt: cannot decrypt vault data"),
        "{}",
        stdout(&out)
    );
    assert!(!exists(&lab, "h1", "/etc/sesame-secret.txt"));
    let out = play(&lab, "vaulted/vaulted.yml", &["--vault-password-file", pw]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        lab.sh("h1", "cat /etc/sesame-secret.txt"),
        "top secret file\n"
    );
    assert_eq!(
        lab.sh("h1", "cat /etc/sesame-secret.conf"),
        "user=h1 secret=vaulted-template\n"
    );
    let again = play(&lab, "vaulted/vaulted.yml", &["--vault-password-file", pw]);
    assert_eq!(recap(&again, "h1", "changed"), 0);
}

/// `--start-at-task` skips, silently, every task before the first whose name matches
/// (wildcards as Ansible's fnmatch); an unmatched name runs nothing.
#[test]
fn start_at_task_skips_what_comes_before() {
    let lab = Lab::up("engine_start_at", 1);
    let out = play(&lab, "vars_tags.yml", &["--start-at-task", "Tagged b*"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !task_ran(&out, "Greet") && !task_ran(&out, "Tagged alpha"),
        "{}",
        stdout(&out)
    );
    assert!(!exists(&lab, "h1", "/etc/engine-greeting"));
    assert!(!exists(&lab, "h1", "/etc/engine-alpha"));
    for f in [
        "/etc/engine-beta",
        "/etc/engine-untagged",
        "/etc/engine-bare",
    ] {
        assert!(exists(&lab, "h1", f), "{f} missing");
    }
    let none = play(&lab, "vars_tags.yml", &["--start-at-task", "No such task"]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(recap(&none, "h1", "changed"), 0);
    assert!(!exists(&lab, "h1", "/etc/engine-greeting"));
}

/// Consecutive command/shell tasks share one remote command; each task gets its own rc and
/// output, a failing (ignored) one ends its batch, and a task reading their registers runs after
/// them: probe; First + Second (fails); Third + Fourth; the last = 4 remote commands over one
/// session, where each task was one (6).
#[test]
fn consecutive_commands_share_one_remote_command_each_with_its_own_result() {
    let lab = Lab::up("engine_commands", 1);
    let out = play(&lab, "commands.yml", &["-vv"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::common::printed(&out)
    );
    assert!(
        task_status(&out, "Second fails, ignored", "fatal", "h1")
            || stdout(&out).contains("...ignoring")
    );
    assert_eq!(recap(&out, "h1", "ignored"), 1);
    assert_eq!(
        lab.sh("h1", "cat /etc/engine-cmds"),
        "h1|second-root|3|third\n"
    );
    assert_eq!(
        crate::common::sesame::round_trips(&out, "h1"),
        (1, 4),
        "sessions and remote commands"
    );
}
