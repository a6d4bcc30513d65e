//! Shipping without a checkout: the embedded playbook and role (`sesame harden`, `sesame init`),
//! files on disk winning over them, completions, man pages, `--version`, and the JUnit report
//! read by a real JUnit parser (the `junit-parser` crate). No lab needed.

use crate::common::{printed, sesame_in};
use sesame::runner::event::{Event, KnockStage, Status, TaskResult};
use sesame::runner::junit::{self, JunitOptions};
use sesame::runner::record::Record;
use sesame::vars::mask::Masker;
use std::collections::HashMap;
use std::path::Path;

const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

/// An inventory the play only lists (nothing connects).
fn inventory(dir: &Path) -> String {
    let inv = dir.join("inv.ini");
    std::fs::write(
        &inv,
        "h1 ansible_host=198.19.250.11 knock_sequence=[7101,7202,7101,7303]\n",
    )
    .unwrap();
    inv.to_str().unwrap().to_string()
}

/// A HOME with nothing in it, so `~/.ansible/roles` is not searched from the tester's home.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    sesame_in(SESAME, dir, args, &[("HOME", home.to_str().unwrap())])
}

#[test]
fn harden_from_an_empty_directory_uses_the_embedded_playbook_and_role() {
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path());
    let out = run(d.path(), &["harden", "-i", &inv, "--list-tasks"]);
    let text = printed(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("playbook playbooks/harden.yml: embedded in sesame")
            && text.contains("role port_knocking: embedded in sesame"),
        "{text}"
    );
    assert!(
        text.contains("port_knocking : Apply the firewall safely"),
        "{text}"
    );
}

#[test]
fn a_role_on_disk_wins_over_the_embedded_one_and_is_named() {
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path());
    let project = d.path().join("project");
    let out = run(d.path(), &["init", project.to_str().unwrap()]);
    assert!(out.status.success(), "{}", printed(&out));
    let tasks = project.join("roles/port_knocking/tasks/main.yml");
    let mine = "- name: My own first task\n  debug:\n    msg: hi\n";
    let text = std::fs::read_to_string(&tasks).unwrap();
    std::fs::write(&tasks, format!("{mine}{text}")).unwrap();
    // ./roles beside the embedded playbook: `sesame harden` in the project directory, with the
    // project's playbook moved away so the embedded one runs.
    std::fs::remove_file(project.join("playbooks/harden.yml")).unwrap();
    let out = run(&project, &["harden", "-i", &inv, "--list-tasks"]);
    let said = printed(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("playbook playbooks/harden.yml: embedded"),
        "{said}"
    );
    let role_dir = std::fs::canonicalize(project.join("roles/port_knocking")).unwrap();
    assert!(
        said.contains(&format!("role port_knocking: {}", role_dir.display()))
            || said.contains(&format!(
                "role port_knocking: {}",
                project.join("roles/port_knocking").display()
            )),
        "{said}"
    );
    assert!(said.contains("My own first task"), "{said}");
    // Through roles_path, from anywhere.
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let home = d.path().join("home");
    let roles = project.join("roles");
    let out = sesame_in(
        SESAME,
        &elsewhere,
        &["harden", "-i", &inv, "--list-tasks"],
        &[
            ("HOME", home.to_str().unwrap()),
            ("ANSIBLE_ROLES_PATH", roles.to_str().unwrap()),
        ],
    );
    let said = printed(&out);
    assert!(said.contains("My own first task"), "{said}");
    assert!(!said.contains("role port_knocking: embedded"), "{said}");
}

#[test]
fn init_names_what_it_skipped_and_force_overwrites() {
    let d = tempfile::tempdir().unwrap();
    let out = run(d.path(), &["init", "p"]);
    let said = printed(&out);
    assert!(out.status.success(), "{said}");
    for f in [
        "p/playbooks/harden.yml",
        "p/roles/port_knocking/tasks/main.yml",
        "p/roles/port_knocking/templates/rules.tera",
        "p/inventory.example",
    ] {
        assert!(d.path().join(f).is_file(), "{f} not written: {said}");
    }
    std::fs::write(d.path().join("p/inventory.example"), "mine\n").unwrap();
    let out = run(d.path(), &["init", "p"]);
    let said = printed(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("skipped p/inventory.example (exists; --force overwrites)"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("p/inventory.example")).unwrap(),
        "mine\n"
    );
    let out = run(d.path(), &["init", "p", "--force"]);
    assert!(printed(&out).contains("wrote   p/inventory.example"));
    assert_ne!(
        std::fs::read_to_string(d.path().join("p/inventory.example")).unwrap(),
        "mine\n"
    );
}

#[test]
fn completions_man_pages_and_version() {
    let d = tempfile::tempdir().unwrap();
    for (shell, needle) in [
        ("bash", "_sesame()"),
        ("zsh", "#compdef sesame"),
        ("fish", "complete -c sesame"),
    ] {
        let out = run(d.path(), &["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(needle),
            "{shell}: {text}"
        );
        assert!(
            text.contains("harden") && text.contains("fail-on-change"),
            "{shell}"
        );
    }
    let out = run(d.path(), &["man", "--dir", "man"]);
    assert!(out.status.success(), "{}", printed(&out));
    for page in [
        "sesame.1",
        "sesame-harden.1",
        "sesame-verify.1",
        "sesame-init.1",
    ] {
        let text = std::fs::read_to_string(d.path().join("man").join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let harden = std::fs::read_to_string(d.path().join("man/sesame-harden.1")).unwrap();
    assert!(
        harden.contains("junit") && harden.contains("fail\\-on\\-change"),
        "{harden}"
    );
    let out = run(d.path(), &["--version"]);
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        v.starts_with(&format!("sesame {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    // In a checkout the commit is git's HEAD.
    let head = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .unwrap();
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(
            v.contains(&head) || std::env::var_os("SESAME_COMMIT").is_some(),
            "{v} vs {head}"
        );
    }
}

#[test]
fn show_secrets_cannot_go_into_report_files() {
    let d = tempfile::tempdir().unwrap();
    let inv = inventory(d.path());
    let out = run(
        d.path(),
        &["harden", "-i", &inv, "--show-secrets", "--junit", "j.xml"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(
        printed(&out).contains("cannot be used with"),
        "{}",
        printed(&out)
    );
}

/// A run with hostile names and messages, rendered and read back by a real JUnit parser.
#[test]
fn the_junit_report_parses_with_a_real_parser_and_lists_every_host() {
    let evil = "h<3>&\"'\u{1b}[31m]]>";
    let mut r = Record::new();
    r.observe(&Event::PlayStart {
        name: "Close SSH behind a knock".into(),
        hosts: vec!["h1".into(), "h2".into(), evil.into()],
    });
    r.observe(&Event::TaskResult(TaskResult::new(
        "h1",
        "port_knocking : Install",
        Status::Changed,
    )));
    for st in [KnockStage::ClosedBefore, KnockStage::Opened] {
        r.observe(&Event::Knock {
            host: "h1".into(),
            stage: st,
            ok: true,
            detail: "ok".into(),
        });
    }
    r.observe(&Event::Unreachable {
        host: "h2".into(),
        task: "connect".into(),
        msg: "no route to 198.19.250.12".into(),
    });
    r.observe(&Event::TaskResult(TaskResult {
        msg: Some(format!("knock 7101 7202 failed on {evil} \u{0}\u{7}")),
        ..TaskResult::new(evil, "port_knocking : Apply", Status::Failed)
    }));
    let masks = HashMap::from([(evil.to_string(), Masker::new(["7101", "7202"]))]);
    let xml = junit::render(
        &r,
        &masks,
        &JunitOptions {
            suite: "harden".into(),
            fail_on_change: false,
            properties: HashMap::from([
                (
                    "h1".to_string(),
                    vec![
                        ("knock_mode".to_string(), "knockd".to_string()),
                        ("knock_backend".to_string(), "nftables".to_string()),
                    ],
                ),
                (
                    evil.to_string(),
                    vec![("knock_backend".to_string(), "iptables".to_string())],
                ),
            ]),
        },
    );
    let parsed = junit_parser::from_reader(std::io::Cursor::new(xml.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let suite = &parsed.suites[0];
    assert_eq!(suite.name, "harden");
    let names: Vec<&str> = suite
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    for host in ["h1", "h2", evil] {
        let proof = format!("[{host}] Close SSH behind a knock: knock proof");
        let clean = proof.replace('\u{1b}', "\\x1b");
        assert!(
            names.contains(&proof.as_str()) || names.contains(&clean.as_str()),
            "{host}: {names:?}"
        );
    }
    let case = |n: &str| suite.cases.iter().find(|c| c.original_name == n).unwrap();
    assert!(case("[h1] Close SSH behind a knock: knock proof")
        .status
        .is_success());
    assert!(
        case("[h1] Close SSH behind a knock: port_knocking : Install")
            .status
            .is_success()
    );
    assert!(case("[h2] Close SSH behind a knock: connect")
        .status
        .is_failure());
    assert!(case("[h2] Close SSH behind a knock: knock proof")
        .status
        .is_failure());
    let bad = suite
        .cases
        .iter()
        .find(|c| c.name.contains("Apply"))
        .unwrap();
    let msg = &bad.status.failure_as_ref().message;
    assert!(
        msg.contains("******** ******** failed on h<3>&\"'\\x1b[31m]]>"),
        "{msg}"
    );
    assert_eq!(suite.failures, 4, "{xml}");
    // Each host's cases carry its backend (and mode) as properties, as --summary's columns.
    for c in &suite.cases {
        let props = &c.properties.hashmap;
        let want = if c.original_name.starts_with("[h1]") {
            Some("nftables")
        } else if c.original_name.starts_with("[h2]") {
            None
        } else {
            Some("iptables")
        };
        assert_eq!(
            props.get("knock_backend").map(String::as_str),
            want,
            "{}: {xml}",
            c.original_name
        );
    }
    assert_eq!(
        case("[h1] Close SSH behind a knock: knock proof")
            .properties
            .hashmap["knock_mode"],
        "knockd"
    );
    assert!(
        !crate::common::shows_secret(&xml, "7101") && !crate::common::shows_secret(&xml, "7202"),
        "{xml}"
    );
}

#[test]
fn completions_into_a_closed_pipe_exit_cleanly_instead_of_panicking() {
    let mut child = std::process::Command::new(SESAME)
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before sesame writes (`sesame completions bash | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
