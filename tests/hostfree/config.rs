//! ansible.cfg through the command line: found where Ansible finds it, its settings used as
//! defaults under the flags, bad values named by file and line. Nothing here reaches a host
//! (the runs that must fail to connect dial 127.0.0.1 port 1, refused at once): runs that use
//! the connection settings are lab-tested (`runner.rs`).

use std::path::Path;
use std::process::Output;

const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

fn sesame(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::common::sesame_in(SESAME, dir, args, env)
}

fn text(o: &Output) -> String {
    crate::common::printed(o)
}

/// A project folder (0755) with an inventory and an ansible.cfg naming it.
fn project(cfg: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("inv")).unwrap();
    std::fs::write(
        d.path().join("inv/hosts.ini"),
        "[web]\nweb1 ansible_host=198.19.200.11\n",
    )
    .unwrap();
    std::fs::write(d.path().join("ansible.cfg"), cfg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

#[test]
fn inventory_comes_from_the_project_ansible_cfg() {
    let d = project("[defaults]\ninventory = inv/hosts.ini\n");
    let out = sesame(d.path(), &["inventory", "--list"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("198.19.200.11"), "{}", text(&out));
    // -i wins over the file.
    let other = d.path().join("other.ini");
    std::fs::write(&other, "[db]\ndb1\n").unwrap();
    let out = sesame(d.path(), &["inventory", "--list", "-i", "other.ini"], &[]);
    assert!(text(&out).contains("db1") && !text(&out).contains("web1"));
    // ANSIBLE_CONFIG names a file elsewhere; its relative paths are relative to it.
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = d.path().join("ansible.cfg");
    let out = sesame(
        elsewhere.path(),
        &["inventory", "--list"],
        &[("ANSIBLE_CONFIG", cfg.to_str().unwrap())],
    );
    assert!(text(&out).contains("198.19.200.11"), "{}", text(&out));
    // $ANSIBLE_INVENTORY wins over the file.
    let out = sesame(
        d.path(),
        &["inventory", "--list"],
        &[("ANSIBLE_INVENTORY", other.to_str().unwrap())],
    );
    assert!(text(&out).contains("db1") && !text(&out).contains("web1"));
}

#[test]
fn a_world_writable_folder_is_not_trusted() {
    let d = project("[defaults]\ninventory = inv/hosts.ini\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sesame(d.path(), &["inventory", "--list"], &[]);
    let t = text(&out);
    assert!(!t.contains("198.19.200.11"), "{t}");
    assert!(t.contains("world writable"), "{t}");
}

#[test]
fn bad_settings_are_named_by_file_and_line() {
    // A pattern that matches nothing: nothing would connect, but the settings are read first.
    let run = ["run", "nomatch", "--", "true"];
    let d = project("[defaults]\ninventory = inv/hosts.ini\nforks = many\n");
    let out = sesame(d.path(), &run, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ansible.cfg:3") && text(&out).contains("many"));
    let d = project("[defaults]\ninventory = inv/hosts.ini\nhost_key_checking = maybe\n");
    let out = sesame(d.path(), &run, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("ansible.cfg:3 (host_key_checking in [defaults])"),
        "{}",
        text(&out)
    );
    let d = project("inventory = inv/hosts.ini\n");
    let out = sesame(d.path(), &["inventory", "--list"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("ansible.cfg:1: a setting before any [section]"),
        "{}",
        text(&out)
    );
    // The environment's value is named as such.
    let d = project("[defaults]\ninventory = inv/hosts.ini\n");
    let out = sesame(d.path(), &run, &[("ANSIBLE_FORKS", "0")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("forks = 0"), "{}", text(&out));
}

#[test]
fn roles_are_found_on_roles_path() {
    let d = project("[defaults]\ninventory = inv/hosts.ini\nroles_path = shared/roles\n");
    let role = d.path().join("shared/roles/site_base/tasks");
    std::fs::create_dir_all(&role).unwrap();
    std::fs::write(role.join("main.yml"), "- debug: msg=base\n").unwrap();
    std::fs::create_dir_all(d.path().join("playbooks")).unwrap();
    std::fs::write(
        d.path().join("playbooks/site.yml"),
        "- hosts: web\n  roles:\n    - site_base\n",
    )
    .unwrap();
    let args = ["play", "playbooks/site.yml", "--list-tasks"];
    let out = sesame(d.path(), &args, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("site_base"), "{}", text(&out));
    // Without the setting the role is not found, and the error says so.
    std::fs::write(
        d.path().join("ansible.cfg"),
        "[defaults]\ninventory = inv/hosts.ini\n",
    )
    .unwrap();
    let out = sesame(d.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("site_base"), "{}", text(&out));
}

/// CVE-2023-51385's bug class: `%h`/`%n`/`%r` pasted into ProxyCommand's `/bin/sh -c`. A host
/// address holding shell syntax is refused with its host and value named, and nothing of it
/// runs on the controller.
#[test]
fn proxy_command_tokens_with_shell_syntax_run_nothing_on_the_controller() {
    let d = project("[defaults]\ninventory = inv/hosts.yml\n");
    let tag = format!("sesame-proxy-{}", std::process::id());
    let p1 = std::env::temp_dir().join(format!("{tag}-semicolon"));
    let p2 = std::env::temp_dir().join(format!("{tag}-subst"));
    let _ = std::fs::remove_file(&p1);
    let _ = std::fs::remove_file(&p2);
    std::fs::write(
        d.path().join("inv/hosts.yml"),
        format!(
            "all:\n  vars:\n    ansible_ssh_common_args: '-o ProxyCommand=\"nc -w1 %h %p\"'\n  \
             hosts:\n    semi:\n      ansible_host: 'x;touch {}'\n    \
             subst:\n      ansible_host: 'x$(touch {})'\n",
            p1.display(),
            p2.display()
        ),
    )
    .unwrap();
    let out = sesame(d.path(), &["run", "all", "-T", "2", "--", "true"], &[]);
    let t = text(&out);
    assert!(!p1.exists(), "the ProxyCommand ran `touch`: {t}");
    assert!(!p2.exists(), "the ProxyCommand ran `$(touch)`: {t}");
    assert_ne!(out.status.code(), Some(0), "{t}");
    for (host, value) in [
        ("semi", format!("x;touch {}", p1.display())),
        ("subst", format!("x$(touch {})", p2.display())),
    ] {
        assert!(
            t.lines()
                .any(|l| l.contains(host) && l.contains(&value) && l.contains("%h")),
            "no error naming {host} and {value}: {t}"
        );
    }
}

/// A secret on the command line is visible to every local user in /proc: no help text or hint
/// suggests passing a knock sequence or password with `-e key=value`; they point to an
/// `@file` or a vault instead.
#[test]
fn help_never_suggests_a_secret_on_the_command_line() {
    let d = project("");
    let inline_secret = |t: &str| {
        let t = t.to_ascii_lowercase();
        ["knock_sequence", "password", "become_pass"]
            .iter()
            .any(|k| {
                t.contains(&format!("-e {k}"))
                    || t.contains(&format!("-e '{k}"))
                    || t.contains(&format!("-e \"{k}"))
                    || t.contains(&format!("{k} kept out"))
            })
    };
    for sub in ["play", "harden", "run", "knock", "ssh", "verify"] {
        let out = sesame(d.path(), &[sub, "--help"], &[]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(
            !inline_secret(&t),
            "`{sub} --help` suggests an inline secret: {t}"
        );
        let e_help: String = t
            .split("--extra-vars")
            .nth(1)
            .unwrap_or_else(|| panic!("`{sub} --help` has no -e: {t}"))
            .chars()
            .take(400)
            .collect();
        assert!(
            e_help.contains("@file") && e_help.contains("vault") && e_help.contains("/proc"),
            "`{sub} --help` -e text does not point secrets to a file or vault: {e_help}"
        );
    }
    let hint = sesame::transport::TransportError::KnockedButSilent {
        addr: "198.19.200.11:22".into(),
        timeout: std::time::Duration::from_secs(5),
        knocks: 2,
        tried: "knock_sequence".into(),
    }
    .to_string();
    assert!(!inline_secret(&hint), "{hint}");
    assert!(hint.contains("vault"), "{hint}");
}

/// Issue 16: a retry file that cannot be written was reported as "cannot read". The host is
/// 127.0.0.1 port 1 (refused at once, nothing is sent anywhere), so it lands in the retry file.
#[test]
fn retry_file_write_failure_is_not_reported_as_cannot_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("hosts"),
        "[all]\nh1 ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    )
    .unwrap();
    let retry = d.path().join("no/such/dir/site.retry");
    let retry = retry.to_str().unwrap();
    for args in [
        vec![
            "run",
            "-i",
            "hosts",
            "all",
            "--retry-file",
            retry,
            "--",
            "true",
        ],
        vec!["play", "-i", "hosts", "site.yml", "--retry-file", retry],
    ] {
        let out = sesame(d.path(), &args, &[]);
        let printed = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {printed}");
        assert!(
            printed.contains(&format!("cannot write retry file {retry}")),
            "{args:?}: {printed}"
        );
        assert!(!printed.contains("cannot read"), "{args:?}: {printed}");
    }
}

/// Issue 16: a bastion whose vars or settings fail to resolve was used unknocked with no word
/// (`JumpKnocks::resolve` dropped the error), so hosts behind it just timed out. The jump is
/// 127.0.0.1 port 1 (refused at once); the bastion's bad `ansible_port` must be named.
#[test]
fn jump_host_knock_that_fails_to_resolve_is_warned() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("hosts"),
        "[all]\nbastion ansible_host=127.0.0.1 ansible_port=notaport knock_sequence=[7000,8000,9000]\n\
         web1 ansible_host=198.19.250.1 ansible_ssh_common_args=\"-o ProxyJump=127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = sesame(d.path(), &["run", "-i", "hosts", "web1", "--", "true"], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(4), "{printed}");
    assert!(
        printed.contains("[WARNING]: jump host 127.0.0.1: cannot work out its knock (host bastion: ansible_port=\"notaport\""),
        "{printed}"
    );
}

/// Issue 16: `sesame ssh` and `sesame knock` ignored ansible.cfg (they built their connection
/// from the environment only), so `remote_user`, `private_key_file`, `ssh_common_args` and
/// `host_key_checking` there were lost. A stand-in `ssh` on PATH prints the arguments it got.
#[test]
fn ssh_and_knock_read_ansible_cfg() {
    use std::os::unix::fs::PermissionsExt;
    let d = project(
        "[defaults]\ninventory = inv/hosts.ini\nremote_user = deploy\n\
         private_key_file = /keys/fleet_key\nhost_key_checking = False\n\
         [ssh_connection]\nssh_common_args = -o HostKeyAlias=web-alias\n",
    );
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("ssh"), "#!/bin/sh\nprintf 'ARG %s\\n' \"$@\"\n").unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = sesame(d.path(), &["ssh", "web1"], &[("PATH", &path)]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for want in [
        "ARG User=deploy",
        "ARG /keys/fleet_key",
        "ARG HostKeyAlias=web-alias",
        "ARG StrictHostKeyChecking=no",
        "ARG 198.19.200.11",
    ] {
        assert!(printed.contains(want), "{want}: {printed}");
    }
    // knock reads the same file: a bad value there is named, as for every other subcommand.
    let d = project("[defaults]\ninventory = inv/hosts.ini\nhost_key_checking = maybe\n");
    for args in [&["knock", "web1"][..], &["ssh", "web1"][..]] {
        let out = sesame(d.path(), args, &[("PATH", &path)]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("ansible.cfg:3 (host_key_checking in [defaults])"),
            "{args:?}: {}",
            text(&out)
        );
    }
}
