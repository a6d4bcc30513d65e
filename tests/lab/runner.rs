//! The parallel runner on real lab hosts: the pool, the reporter and `sesame run` over real SSH
//! (lab fleets from `tests/lab/lab.sh`, torn down on drop). Needs root, like every lab test.

use crate::common::sesame::{sesame, Sesame};
use crate::common::{wait_until, Lab};
use sesame::cli::run::{run_command, CommandTarget};
use sesame::runner::report::{self, Capture, Format, ReportOptions, Reporter, Style};
use sesame::runner::{Cancel, HostOutcome};
use sesame::transport::{ConnOverrides, ConnSpec, SshTransport};

/// Connection settings of every host of a fleet, built from the same variables the fleet's
/// inventory sets.
fn targets(lab: &Lab) -> Vec<CommandTarget<ConnSpec>> {
    lab.hosts
        .iter()
        .map(|h| {
            let vars = serde_json::json!({
                "ansible_host": h.ip,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": lab.key,
                "ansible_ssh_common_args": format!(
                    "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
                    lab.known_hosts.display()
                ),
            });
            let vars = vars.as_object().expect("object");
            CommandTarget {
                host: h.name.clone(),
                conn: ConnSpec::from_vars(&h.name, vars, &ConnOverrides::default())
                    .expect("lab vars are valid"),
                escalate: None,
            }
        })
        .collect()
}

fn adhoc_reporter() -> (Capture, Reporter) {
    let out = Capture::new();
    let r = Reporter::new(
        ReportOptions::plain(Format::Human, Style::AdHoc),
        Box::new(out.clone()),
        Box::new(Capture::new()),
    );
    (out, r)
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn run_command_over_ssh_ok_failed_and_unreachable() {
    let lab = Lab::up("runner_api", 4);
    let t = targets(&lab);

    // Every host reachable: each prints its own hostname; exit 0.
    let (out, r) = adhoc_reporter();
    let (events, handle) = report::start(r);
    let runs = run_command(
        &t,
        &argv(&["cat", "/etc/hostname"]),
        4,
        &Cancel::new(),
        &events,
        |s: &ConnSpec, _: &sesame::runner::EventSender| SshTransport::connect(s),
    )
    .expect("pool");
    assert!(
        runs.iter().all(|r| r.outcome == Some(HostOutcome::Ok)),
        "{runs:?}"
    );
    let summary = handle.finish(false);
    assert_eq!(summary.exit_code, 0, "{}", out.text());
    for h in &lab.hosts {
        assert_eq!(summary.stats.host(&h.name).changed, 1);
        assert!(
            out.text()
                .contains(&format!("{} | CHANGED | rc=0 >>\n", h.name)),
            "{}",
            out.text()
        );
    }

    // h2's sshd stopped, h3's command fails: h2 unreachable, h3 failed, exit 4.
    lab.stop_sshd("h2");
    lab.sh("h3", "touch /tmp/fail-here");
    let (out, r) = adhoc_reporter();
    let (events, handle) = report::start(r);
    run_command(
        &t,
        &argv(&["sh", "-c", "test ! -e /tmp/fail-here"]),
        4,
        &Cancel::new(),
        &events,
        |s: &ConnSpec, _: &sesame::runner::EventSender| SshTransport::connect(s),
    )
    .expect("pool");
    let summary = handle.finish(false);
    let text = out.text();
    assert_eq!(summary.exit_code, 4, "{text}");
    assert_eq!(summary.stats.host("h2").unreachable, 1, "{text}");
    assert_eq!(summary.stats.host("h3").failed, 1, "{text}");
    assert_eq!(summary.stats.host("h1").ok, 1, "{text}");
    assert!(text.contains("h2 | UNREACHABLE! => {"), "{text}");
    assert!(
        text.contains("h3 | FAILED | rc=1 >>\nnon-zero return code\n"),
        "{text}"
    );
    lab.down();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The PLAY RECAP block Ansible prints for these (host, counters) rows, already sorted.
fn recap(rows: &[(String, [u32; 7])]) -> String {
    let mut s = format!("\nPLAY RECAP {}\n", "*".repeat(69));
    for (h, [ok, ch, un, fa, sk, re, ig]) in rows {
        s.push_str(&format!(
            "{h:<26} : ok={ok:<4} changed={ch:<4} unreachable={un:<4} failed={fa:<4} \
             skipped={sk:<4} rescued={re:<4} ignored={ig:<4}\n"
        ));
    }
    s.push('\n');
    s
}

/// Recap rows for `names`, each with `counters` but `odd.0`, which has `odd.1`.
fn rows_but(
    names: &[String],
    counters: [u32; 7],
    odd: (&str, [u32; 7]),
) -> Vec<(String, [u32; 7])> {
    names
        .iter()
        .map(|h| (h.clone(), if h == odd.0 { odd.1 } else { counters }))
        .collect()
}

fn sorted_names(lab: &Lab) -> Vec<String> {
    let mut names: Vec<String> = lab.hosts.iter().map(|h| h.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn sesame_run_cli_on_ten_hosts_exit_codes_recap_json_and_retry_file() {
    let lab = Lab::up("runner_cli", 10);
    let inv = lab.inventory.to_str().expect("utf-8 path").to_string();
    let names = sorted_names(&lab);
    const OK: [u32; 7] = [1, 1, 0, 0, 0, 0, 0];

    // 1. All reachable: each host prints its own name; exit 0; exact recap.
    let out = sesame(&[
        "run",
        "-i",
        &inv,
        "all",
        "-f",
        "10",
        "--",
        "cat",
        "/etc/hostname",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for h in &names {
        assert!(
            stdout.contains(&format!("{h} | CHANGED | rc=0 >>\n{h}\n")),
            "{stdout}"
        );
    }
    let rows: Vec<_> = names.iter().map(|h| (h.clone(), OK)).collect();
    assert!(stdout.ends_with(&recap(&rows)), "{stdout}");

    // 2. One failing command (on h7 only): exit 2, h7 failed=1.
    let out = sesame(&[
        "run",
        "-i",
        &inv,
        "all",
        "--",
        "sh",
        "-c",
        r#"test "$(cat /etc/hostname)" != h7"#,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("h7 | FAILED | rc=1 >>\nnon-zero return code\n"),
        "{stdout}"
    );
    let rows = rows_but(&names, OK, ("h7", [0, 0, 0, 1, 0, 0, 0]));
    assert!(stdout.ends_with(&recap(&rows)), "{stdout}");

    // 3. --json: every stdout line is a JSON object; the last is the recap.
    let out = sesame(&["run", "-i", &inv, "h1:h2", "--json", "--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let commands = lines.iter().filter(|v| v["event"] == "command").count();
    assert_eq!(commands, 2);
    let last = lines.last().expect("lines");
    assert_eq!(last["event"], "recap");
    assert_eq!(last["hosts"]["h2"]["changed"], 1);
    assert_eq!(last["hosts"].as_object().expect("map").len(), 2);

    // 4. h3's sshd stopped: h3 unreachable=1, others ok, exit 4, retry file lists h3.
    lab.stop_sshd("h3");
    let dir = tempfile::tempdir().expect("tempdir");
    let retry = dir.path().join("run.retry");
    let retry_s = retry.to_str().expect("utf-8").to_string();
    let out = sesame(&[
        "run",
        "-i",
        &inv,
        "all",
        "--retry-file",
        &retry_s,
        "--",
        "true",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("h3 | UNREACHABLE! => {"), "{stdout}");
    let rows = rows_but(&names, OK, ("h3", [0, 0, 1, 0, 0, 0, 0]));
    assert!(stdout.ends_with(&recap(&rows)), "{stdout}");
    assert_eq!(std::fs::read_to_string(&retry).expect("retry file"), "h3\n");

    // 5. The retry file as a limit: only h3 is tried again.
    let limit = format!("@{retry_s}");
    let out = sesame(&["run", "-i", &inv, "all", "-l", &limit, "--", "true"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.ends_with(&recap(&[("h3".to_string(), [0, 0, 1, 0, 0, 0, 0])])),
        "{stdout}"
    );
    assert_eq!(stdout.matches(" | ").count(), 1, "{stdout}");

    // 6. -b --become-user: the command runs through sudo as that user.
    let out = sesame(&[
        "run",
        "-i",
        &inv,
        "h1",
        "-b",
        "--become-user",
        "nobody",
        "--",
        "id",
        "-un",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("h1 | CHANGED | rc=0 >>\nnobody\n"),
        "{stdout}"
    );

    // 7. Ctrl-C: with 2 forks, h1 and h2 are sleeping when SIGINT comes; they finish, no
    //    other host starts, exit 99.
    let child = Sesame::new()
        .command(&["run", "-i", &inv, "all", "-f", "2", "--", "sleep", "2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sesame");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("wait");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(99), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.ends_with(&recap(&[("h1".to_string(), OK), ("h2".to_string(), OK)])),
        "in-flight hosts finished, nobody else started:\n{stdout}"
    );
    assert!(
        text(&out.stderr).contains("User interrupted execution"),
        "{}",
        text(&out.stderr)
    );
    lab.down();
}

/// Not a pass/fail test: prints how long `sesame run -f 20 all -- true` takes on 20 lab hosts
/// next to 20 parallel `ssh -n HOST true` (OpenSSH), alternating, 5 rounds each.
/// Run with `cargo test --release --test lab -- --ignored --nocapture runner::bench_`.
/// A project's ansible.cfg drives the connection as it drives Ansible's: an inventory with only
/// addresses, `remote_user`, `private_key_file`, `host_key_checking = False` and `become` from
/// the file. Without `host_key_checking = False` the unknown host keys are refused, so the
/// setting is what let the first run in.
#[test]
fn sesame_run_takes_its_defaults_from_ansible_cfg() {
    let lab = Lab::up("runner_cfg", 2);
    let dir = tempfile::tempdir().unwrap();
    let hosts: String = lab
        .hosts
        .iter()
        .map(|h| format!("{} ansible_host={}\n", h.name, h.ip))
        .collect();
    std::fs::write(dir.path().join("hosts"), format!("[lab]\n{hosts}")).unwrap();
    let cfg = |checking: &str| {
        format!(
            "[defaults]\ninventory = hosts\nremote_user = deploy\nprivate_key_file = {}\nhost_key_checking = {checking}\n\n[privilege_escalation]\nbecome = True\n",
            lab.key.display()
        )
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = || {
        Sesame::new()
            .dir(dir.path())
            .env("HOME", home.path().to_str().unwrap())
            .command(&[
                "run",
                "all",
                "--",
                "sh",
                "-c",
                "echo $(id -un) via $SUDO_USER",
            ])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    std::fs::write(dir.path().join("ansible.cfg"), cfg("False")).unwrap();
    let out = run();
    let t = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{t}");
    // Unchecked host keys are said once per run, naming the hosts, not once per host.
    assert_eq!(t.matches("host key checking is off").count(), 1, "{t}");
    let warning = t
        .lines()
        .find(|l| l.contains("host key checking is off"))
        .unwrap_or_default();
    for h in &lab.hosts {
        assert!(warning.contains(&h.name), "{warning}");
    }
    for h in &lab.hosts {
        assert!(
            t.contains(&format!("{} | CHANGED | rc=0 >>\nroot via deploy", h.name)),
            "{t}"
        );
    }
    std::fs::write(dir.path().join("ansible.cfg"), cfg("True")).unwrap();
    let out = run();
    let t = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // Refused and reported unreachable, as Ansible does (exit 4), not failed under a task.
    assert_eq!(
        out.status.code(),
        Some(4),
        "unknown host keys must be refused as unreachable: {t}"
    );
    assert!(t.contains("not in known_hosts"), "{t}");
    for h in &lab.hosts {
        assert!(t.contains(&format!("{} | UNREACHABLE!", h.name)), "{t}");
    }
    assert!(!t.contains("host key checking is off"), "{t}");
}

/// The ssh client configuration fills in what the inventory leaves unset, as for Ansible's ssh:
/// an inventory of bare aliases reaches the lab hosts through `~/.ssh/config` (HostName, User,
/// IdentityFile, UserKnownHostsFile), and the inventory's own variables still win over it.
#[test]
fn sesame_run_reads_the_users_ssh_config() {
    let lab = Lab::up("runner_sshcfg", 2);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let (h1, h2) = (&lab.hosts[0].ip, &lab.hosts[1].ip);
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host alpha\n    HostName {h1}\nHost beta\n    HostName {h2}\n\
             Host alpha beta\n    User deploy\n    IdentityFile {}\n    \
             UserKnownHostsFile {}\n    StrictHostKeyChecking yes\n",
            lab.key.display(),
            lab.known_hosts.display()
        ),
    )
    .unwrap();
    let inv = dir.path().join("hosts");
    std::fs::write(&inv, "[fleet]\nalpha\nbeta ansible_user=root\n").unwrap();
    let out = Sesame::new()
        .env("HOME", home.to_str().unwrap())
        .command(&["run", "-i", inv.to_str().unwrap(), "all", "--"])
        .args(["sh", "-c", "echo $(id -un)@$(hostname)"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let t = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("alpha | CHANGED | rc=0 >>\ndeploy@h1"), "{t}");
    assert!(
        t.contains("beta | CHANGED | rc=0 >>\nroot@h2"),
        "the inventory wins: {t}"
    );
}

/// `-k` and `-K` ask on the terminal (not stdin), as Ansible does: the ops user logs in by
/// password and sudo takes its password; the passwords typed never appear in the output. Run
/// under `script` for a terminal; each answer is typed after its prompt has had time to appear.
#[test]
fn sesame_run_asks_for_ssh_and_become_passwords_on_the_terminal() {
    const SESAME: &str = env!("CARGO_BIN_EXE_sesame");
    let lab = Lab::up("runner_prompt", 1);
    let inv = lab.inventory.to_str().unwrap().to_string();
    let run = |answers: &[&str], flags: &str| {
        let typed: String = answers
            .iter()
            .map(|a| format!("sleep 1; echo '{a}'; "))
            .collect();
        let cmd = format!(
            "{SESAME} run -i {inv} h1 -e ansible_user=ops -e ansible_ssh_private_key_file=/nonexistent/key {flags} -- id -un"
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "({typed}sleep 2) | script -qec \"{cmd}\" /dev/null"
            ))
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("SESAME_PASSWORD")
            .env_remove("SESAME_BECOME_PASSWORD")
            .output()
            .expect("run script");
        let t = format!("{}{}", text(&out.stdout), text(&out.stderr));
        eprintln!("{t}");
        t
    };
    let t = run(&["ops-lab-pw", "ops-lab-pw"], "-k -b -K");
    assert!(
        t.contains("SSH password:") && t.contains("BECOME password:"),
        "{t}"
    );
    assert!(
        t.contains("h1 | CHANGED | rc=0 >>") && t.contains("\nroot"),
        "{t}"
    );
    assert!(!t.contains("ops-lab-pw"), "a typed password was shown: {t}");
    // The login really is by that password: a wrong one is refused.
    let t = run(&["bad-ssh-pw-2"], "-k");
    assert!(
        t.contains("UNREACHABLE") && t.contains("authentication"),
        "{t}"
    );
    assert!(!t.contains("bad-ssh-pw-2"), "{t}");
    // A wrong become password: the host fails, the password is not shown.
    let t = run(&["ops-lab-pw", "wrong-pw-1"], "-k -b -K");
    assert!(t.contains("h1 | FAILED"), "{t}");
    assert!(
        !t.contains("wrong-pw-1") && !t.contains("ops-lab-pw"),
        "{t}"
    );
}

#[test]
#[ignore]
fn bench_run_true_on_20_hosts_vs_openssh() {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let lab = Lab::up("runner_bench", 20);
    let inv = lab.inventory.to_str().expect("utf-8").to_string();
    let kh = format!("UserKnownHostsFile={}", lab.known_hosts.display());
    let key = lab.key.to_str().expect("utf-8").to_string();
    let mut ours = Vec::new();
    let mut openssh = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = sesame(&["run", "-i", &inv, "all", "-f", "20", "--", "true"]);
        ours.push(t.elapsed().as_secs_f64());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

        let t = Instant::now();
        let children: Vec<_> = lab
            .hosts
            .iter()
            .map(|h| {
                Command::new("ssh")
                    .args(["-n", "-o", "BatchMode=yes", "-o", &kh, "-o"])
                    .args(["StrictHostKeyChecking=yes", "-i", &key])
                    .arg(format!("root@{}", h.ip))
                    .arg("true")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn ssh")
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().expect("ssh");
            assert!(o.status.success(), "ssh: {}", text(&o.stderr));
        }
        openssh.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut ours), median(&mut openssh));
    eprintln!(
        "20 hosts, `true`: sesame run -f 20 median {a:.3}s {ours:?}; \
         20 parallel OpenSSH median {b:.3}s {openssh:?}; ratio {:.2}",
        a / b
    );
    lab.down();
}

/// Host output reaches the operator's terminal escaped: an OSC (window title), CSI (screen
/// clear, colour), a C1 CSI and bytes that are not UTF-8 are shown as `\x1b`, `\u{9b}`, `\xff`;
/// `--json` carries the exact content, JSON-escaped (base64 when it is not UTF-8).
#[test]
fn sesame_run_escapes_control_characters_from_hosts() {
    let lab = Lab::up("runner_escape", 1);
    let inv = lab.inventory.to_str().unwrap();
    let script = r"printf '\033]0;pwned-title\007 \033[31mred \302\233 bad\377\n'; printf '\033[2J\302\2351;t\302\234\n' >&2";
    let run = |json: bool| {
        let mut a = vec!["run", "-i", inv, "h1"];
        if json {
            a.push("--json");
        }
        a.extend(["--", "sh", "-c", script]);
        sesame(&a)
    };
    let human = run(false);
    let mut all = human.stdout.clone();
    all.extend_from_slice(&human.stderr);
    let t = text(&all);
    assert_eq!(human.status.code(), Some(0), "{t}");
    for raw in [&b"\x1b"[..], b"\x07", b"\xc2\x9b", b"\xc2\x9d", b"\xff"] {
        assert!(
            !all.windows(raw.len()).any(|w| w == raw),
            "raw {raw:?} reached the terminal: {t:?}"
        );
    }
    for shown in [
        r"\x1b]0;pwned-title\x07",
        r"\x1b[31mred",
        r"\u{9b}",
        r"bad\xff",
        r"\x1b[2J\u{9d}1;t\u{9c}",
    ] {
        assert!(t.contains(shown), "{shown} not shown in {t}");
    }

    let json = run(true);
    let raw_json = json.stdout.clone();
    for raw in [&b"\x1b"[..], b"\xc2\x9b", b"\xff"] {
        assert!(
            !raw_json.windows(raw.len()).any(|w| w == raw),
            "{raw:?} raw in --json"
        );
    }
    let ev: serde_json::Value = text(&raw_json)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "command")
        .expect("a command event");
    use base64::Engine;
    let exact = base64::engine::general_purpose::STANDARD
        .decode(
            ev["stdout_base64"]
                .as_str()
                .expect("stdout_base64 for non-UTF-8 output"),
        )
        .unwrap();
    assert_eq!(
        exact,
        b"\x1b]0;pwned-title\x07 \x1b[31mred \xc2\x9b bad\xff\n"
    );
    assert_eq!(
        ev["stderr"], "\u{1b}[2J\u{9d}1;t\u{9c}\n",
        "exact text in --json"
    );
    assert!(ev.get("stderr_base64").is_none(), "{ev}");
}

/// Peak RSS (VmHWM, KiB) of a running process, read until it exits; the child's exit status.
fn run_measuring_peak(args: &[&str], limit: std::time::Duration) -> (Option<i32>, u64, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Sesame::new()
        .command(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + limit;
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (
        status,
        peak,
        std::fs::read_to_string(log.path()).unwrap_or_default(),
    )
}

/// A host that streams without end fails its task once it wrote 16 MiB (the controller's
/// memory stays bounded, the other host goes on); a command that never exits fails at its
/// timeout and the host kills it.
#[test]
fn sesame_run_bounds_endless_output_and_hung_commands() {
    let lab = Lab::up("runner_bounds", 2);
    let inv = lab.inventory.to_str().unwrap();
    lab.sh("h1", "touch /tmp/endless");
    let (code, peak_kb, t) = run_measuring_peak(
        &[
            "run",
            "-i",
            inv,
            "all",
            "--",
            "sh",
            "-c",
            "if [ -e /tmp/endless ]; then yes; else echo fine; fi",
        ],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(
        code,
        Some(2),
        "the endless stream must fail h1, and end: {t}"
    );
    assert!(
        t.contains("wrote more than 16777216 bytes on stdout"),
        "{}",
        &t[..t.len().min(4000)]
    );
    assert!(t.contains("h2 | CHANGED | rc=0 >>\nfine"), "{t}");
    assert!(
        peak_kb < 120 * 1024,
        "controller peak RSS {peak_kb} KiB for a 16 MiB limit"
    );
    eprintln!("endless stream: failed at the limit, controller peak RSS {peak_kb} KiB");
    assert!(
        wait_until(20, || lab.exec("h1", &["pgrep", "-x", "yes"]).status.code()
            == Some(1)),
        "`yes` still runs on h1"
    );

    let started = std::time::Instant::now();
    let out = sesame(&[
        "run",
        "-i",
        inv,
        "h1",
        "-e",
        "sesame_command_timeout=3",
        "--",
        "sleep",
        "100000",
    ]);
    let t = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("timed out after 3s"), "{t}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{t}"
    );
    assert!(
        wait_until(20, || {
            lab.exec("h1", &["pgrep", "-f", "^sleep 100000"])
                .status
                .code()
                == Some(1)
        }),
        "the timed-out `sleep 100000` still runs on h1"
    );
}
