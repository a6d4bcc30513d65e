//! Ansible Vault through the command line, on files written by ansible-vault itself
//! (`tests/data/vault/`, ansible-core 2.19; passwords in `password` and `password-prod`):
//! a wholly encrypted host_vars file, `!vault` values (format 1.1, and 1.2 with vault id
//! `prod`), a vault-encrypted vars_files entry of a playbook. Nothing here connects or sends a
//! packet; runs that use decrypted values are lab-tested (`harden_lab.rs`).

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Output;

const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vault")
}

fn sesame(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::common::sesame_in(SESAME, &data(), args, env)
}

fn text(o: &Output) -> String {
    crate::common::printed(o)
}

/// Run sesame, expect exit 1 and every needle in what it printed.
fn fails_with(args: &[&str], needles: &[&str]) {
    let out = sesame(args, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for n in needles {
        assert!(t.contains(n), "`{n}` missing: {t}");
    }
}

fn host_json(host: &str, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = vec!["inventory", "-i", "hosts.ini", "--host", host];
    args.extend_from_slice(extra);
    let out = sesame(&args, env);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `sesame inventory --host` prints what `ansible-inventory --host` printed for these files
/// (recorded with `--vault-id default@password --vault-id prod@password-prod`): whole
/// encrypted files decrypted, `!vault` values left as `{"__ansible_vault": ...}`.
#[test]
fn inventory_output_matches_ansible_inventory() {
    let ids = [
        "--vault-id",
        "default@password",
        "--vault-id",
        "prod@password-prod",
    ];
    let h1 = host_json("h1", &ids, &[]);
    assert_eq!(h1["knock_sequence"], json!([7101, 7202, 7101, 7303]));
    assert_eq!(h1["vault_note"], json!("whole file secret"));
    assert_eq!(h1["plain_var"], json!("visible"));
    let envelope = h1["db_password"]["__ansible_vault"].as_str().unwrap();
    assert!(
        envelope.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{envelope}"
    );
    let h2 = host_json("h2", &ids, &[]);
    assert!(h2["knock_sequence"]["__ansible_vault"]
        .as_str()
        .unwrap()
        .starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
}

#[test]
fn password_sources_and_their_errors() {
    // No password: the wholly encrypted host_vars file cannot be read; the error names it and
    // the flags that give a password.
    let list = ["inventory", "-i", "hosts.ini", "--list"];
    fails_with(&list, &["host_vars/h1.yml:1", "--vault-password-file"]);
    // A wrong password: refused by the HMAC, file named.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-it\n").unwrap();
    fn with<'a>(list: &[&'a str], pw: &'a str) -> Vec<&'a str> {
        [list, &["--vault-password-file", pw]].concat()
    }
    fails_with(
        &with(&list, wrong.to_str().unwrap()),
        &["host_vars/h1.yml:1", "HMAC"],
    );
    // A missing password file is named.
    fails_with(&with(&list, "/nonexistent/pw"), &["/nonexistent/pw"]);
    // ANSIBLE_VAULT_PASSWORD_FILE naming an executable script: its output is the password.
    let script = dir.path().join("pw.sh");
    let cat = format!("#!/bin/sh\ncat {}\n", data().join("password").display());
    std::fs::write(&script, cat).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let env = [("ANSIBLE_VAULT_PASSWORD_FILE", script.to_str().unwrap())];
    let h1 = host_json("h1", &[], &env);
    assert_eq!(h1["knock_sequence"], json!([7101, 7202, 7101, 7303]));
}

/// Playbooks: a wholly encrypted vars_files entry and a `!vault` play variable.
#[test]
fn playbook_vars_files_and_vault_values() {
    let dir = tempfile::tempdir().unwrap();
    let vars_file = data().join("vars_file.yml");
    let inline = std::fs::read_to_string(data().join("host_vars/h2.yml")).unwrap();
    let indented: String = inline
        .replace("knock_sequence:", "play_knock:")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    let pb = dir.path().join("pb.yml");
    let head = format!(
        "- hosts: lab\n  vars_files:\n    - {}\n",
        vars_file.display()
    );
    let tasks = "  tasks:\n    - debug: msg=hi\n";
    std::fs::write(&pb, format!("{head}  vars:\n{indented}{tasks}")).unwrap();
    let only_file = dir.path().join("only_file.yml");
    std::fs::write(&only_file, format!("{head}{tasks}")).unwrap();
    let check = |pb: &PathBuf, pw: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "play",
            "-i",
            "hosts.ini",
            pb.to_str().unwrap(),
            "--syntax-check",
        ]
        .map(String::from)
        .to_vec();
        if let Some(p) = pw.first() {
            a.extend(["--vault-password-file".to_string(), p.to_string()]);
        }
        a
    };
    let args = check(&pb, &["password"]);
    let out = sesame(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    // Without a password: the `!vault` play variable is named by file and line.
    let args = check(&pb, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, &["pb.yml:5", "--vault-password-file"]);
    // A wrong password: the encrypted vars file is named.
    let args = check(&only_file, &["password-prod"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, &["vars_file.yml:1", "HMAC"]);
}
