//! Ansible's whole-batch rule on a real `sesame play`: when every host of a play's batch failed
//! or was unreachable, no later batch and no later play runs (not even a play on other hosts),
//! the run says so, and the recap and exit code stay Ansible's. Nothing answers: the hosts'
//! settings are refused before connecting, or their address in the lab range is silent.

use crate::common::{printed, sesame_in};
use std::path::Path;

const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

const BOOK: &str = "\
- name: First play
  hosts: web
  gather_facts: false
  tasks:
    - name: First task
      command: /bin/true
- name: Second play
  hosts: db
  gather_facts: false
  tasks:
    - name: Second task
      command: /bin/true
";

fn play(dir: &Path, inventory: &str) -> (Option<i32>, String) {
    std::fs::write(dir.join("inv.ini"), inventory).unwrap();
    std::fs::write(dir.join("book.yml"), BOOK).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = sesame_in(
        SESAME,
        dir,
        &["play", "-i", "inv.ini", "book.yml"],
        &[
            ("HOME", home.to_str().unwrap()),
            ("XDG_STATE_HOME", home.to_str().unwrap()),
        ],
    );
    (out.status.code(), printed(&out))
}

/// w1's settings are refused before connecting, w2 (a silent lab address) is unreachable:
/// the first play's one batch failed whole, so the second play (d1) never starts. Before the
/// rule the second play ran and reported d1 too.
#[test]
fn a_play_whose_every_host_failed_stops_the_later_plays() {
    let d = tempfile::tempdir().unwrap();
    let (code, text) = play(
        d.path(),
        "[web]\n\
         w1 ansible_host=198.19.250.31 ansible_port=ssh\n\
         w2 ansible_host=198.19.250.32 ansible_timeout=1\n\
         [db]\n\
         d1 ansible_host=198.19.250.33 ansible_port=ssh\n",
    );
    assert!(text.contains("PLAY [First play]"), "{text}");
    assert!(!text.contains("PLAY [Second play]"), "{text}");
    assert!(
        !text.contains("d1"),
        "the second play's host was touched: {text}"
    );
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("NO MORE HOSTS LEFT: every host of this play (2 hosts) failed"),
        "{text}"
    );
    let recap = text.split("PLAY RECAP").nth(1).expect("a recap");
    assert!(recap.contains("w1 ") && recap.contains("w2 "), "{recap}");
    assert!(recap.contains("unreachable=1"), "{recap}");
}

/// Only refused hosts (nothing ever connects): the rule holds for them too, since they are the
/// play's hosts that failed.
#[test]
fn a_play_whose_every_host_was_refused_before_connecting_stops_the_later_plays() {
    let d = tempfile::tempdir().unwrap();
    let (code, text) = play(
        d.path(),
        "[web]\nw1 ansible_host=198.19.250.41 ansible_port=ssh\n\
         [db]\nd1 ansible_host=198.19.250.43 ansible_port=ssh\n",
    );
    assert!(!text.contains("PLAY [Second play]"), "{text}");
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("NO MORE HOSTS LEFT"), "{text}");
}
