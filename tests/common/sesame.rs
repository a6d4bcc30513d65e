//! The sesame binary under test, run as a controller would run it: one builder for the binary,
//! its working directory, its state home and its environment (none of the caller's `ANSIBLE_*`
//! settings leak in), and what the lab suites share around a run: an inventory with group and
//! host vars, a run's text without colours, a run stopped once it loaded a host's rules, a
//! copy of the playbook to break, and the SSH round trips of a `-vv` run.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Instant;

use super::Lab;

/// The binary under test: this build's, or `SESAME_TEST_BIN` (to show a regression test fails
/// on an older build).
pub fn sesame_bin() -> String {
    std::env::var("SESAME_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sesame").to_string())
}

/// This checkout: where `playbooks/` and `roles/` are.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How to run sesame: binary, working directory and the environment added to the caller's
/// (minus its `ANSIBLE_*` variables). `Sesame::new()` runs this build's binary (or
/// `SESAME_TEST_BIN`) in this checkout with `NO_COLOR=1`.
#[derive(Debug, Clone)]
pub struct Sesame {
    bin: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Default for Sesame {
    fn default() -> Self {
        Sesame::new()
    }
}

impl Sesame {
    pub fn new() -> Sesame {
        Sesame {
            bin: sesame_bin(),
            dir: repo(),
            env: vec![("NO_COLOR".into(), "1".into())],
        }
    }

    /// Another binary (a copy, an installed one).
    pub fn bin(mut self, bin: &str) -> Sesame {
        self.bin = bin.to_string();
        self
    }

    /// Runs in `dir` instead of this checkout.
    pub fn dir(mut self, dir: &Path) -> Sesame {
        self.dir = dir.to_path_buf();
        self
    }

    /// Sets `key=value` in sesame's environment.
    pub fn env(mut self, key: &str, value: &str) -> Sesame {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A controller of its own: `state` is its XDG_STATE_HOME and HOME (the knock state file
    /// lives there), so nothing is shared with the caller's controller or another test's.
    pub fn state(self, state: &Path) -> Sesame {
        let s = state.to_str().expect("state dir is UTF-8");
        self.env("XDG_STATE_HOME", s).env("HOME", s)
    }

    /// The command, not started: stdio is the caller's to set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).current_dir(&self.dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("ANSIBLE_") {
                c.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs sesame with stdin closed and returns what it did; the run (time, status, output)
    /// goes to the test's log.
    pub fn run(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sesame");
        eprintln!(
            "$ sesame {} ({:.1}s, {})\n{}",
            args.join(" "),
            t.elapsed().as_secs_f64(),
            out.status,
            super::printed(&out)
        );
        out
    }

    /// `sesame play -i INV playbooks/harden.yml EXTRA...`
    pub fn harden(&self, inv: &Path, extra: &[&str]) -> Output {
        self.play(inv, Path::new("playbooks/harden.yml"), extra)
    }

    /// `sesame play -i INV PLAYBOOK EXTRA...`
    pub fn play(&self, inv: &Path, playbook: &Path, extra: &[&str]) -> Output {
        let mut a = vec![
            "play",
            "-i",
            inv.to_str().unwrap(),
            playbook.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    /// Starts `sesame play --json -i INV PLAYBOOK EXTRA...` and reads its events until the
    /// rules are loaded on a host; returns the child and the rest of its events. Panics, with
    /// what it printed, if the run ends without loading.
    pub fn spawn_until_loaded(
        &self,
        inv: &Path,
        playbook: &Path,
        extra: &[&str],
    ) -> (Child, Lines<BufReader<ChildStdout>>) {
        let mut args = vec![
            "play",
            "-i",
            inv.to_str().unwrap(),
            playbook.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sesame");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = String::new();
        for line in lines.by_ref().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("\"stage\":\"loaded\"") {
                return (child, lines);
            }
        }
        let _ = child.wait();
        panic!("never saw the rules loaded:\n{seen}");
    }
}

/// `Sesame::new().run(args)`: this build in this checkout.
pub fn sesame(args: &[&str]) -> Output {
    Sesame::new().run(args)
}

/// A copy of the fleet's inventory in `dir` with `group` (YAML) as every host's vars and
/// per-host vars; group_vars and host_vars of an earlier call in `dir` are replaced.
pub fn inventory(lab: &Lab, dir: &Path, group: &str, hosts: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let inv = dir.join("inventory.ini");
    std::fs::copy(&lab.inventory, &inv).unwrap();
    for d in ["group_vars", "host_vars"] {
        let _ = std::fs::remove_dir_all(dir.join(d));
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("group_vars/lab.yml"), group).unwrap();
    for (h, v) in hosts {
        std::fs::write(dir.join(format!("host_vars/{h}.yml")), v).unwrap();
    }
    inv
}

/// Text without terminal colour sequences (the tracing log may have them).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Everything a run printed (stdout then stderr), without colours.
pub fn said(out: &Output) -> String {
    strip_ansi(&super::printed(out))
}

/// SSH sessions and remote commands for `host` in a `-vv` run's debug log.
pub fn round_trips(out: &Output, host: &str) -> (usize, usize) {
    let log = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    let of = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains(&format!(" host={host} ")))
            .count()
    };
    (of("ssh session established"), of(": exec host="))
}

/// A `-vv` re-run that had nothing to do: exit 0, and for each of `hosts` `changed=0` in the
/// recap, one SSH session and one remote command in the debug log.
pub fn assert_rerun_unchanged<'a>(out: &Output, hosts: impl IntoIterator<Item = &'a str>) {
    assert_eq!(out.status.code(), Some(0), "{}", said(out));
    for h in hosts {
        assert_eq!(super::recap(out, h, "changed"), 0, "{h}: changed");
        assert_eq!(
            round_trips(out, h),
            (1, 1),
            "{h}: SSH sessions and remote commands of a no-change run"
        );
    }
}

/// A copy of `playbooks/harden.yml` with its role in `dir`, to break on purpose; returns the
/// copy's playbook.
pub fn playbook_copy(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("roles")).unwrap();
    let st = Command::new("cp")
        .args([
            "-r",
            repo().join("roles/port_knocking").to_str().unwrap(),
            dir.join("roles/").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "cp -r roles/port_knocking");
    let pb = dir.join("harden.yml");
    std::fs::copy(repo().join("playbooks/harden.yml"), &pb).unwrap();
    pb
}

/// Makes the role of a `playbook_copy` render a knockd.conf that never opens the door: the
/// proof fails and the transaction rolls back.
pub fn knockd_never_opens(playbook: &Path) {
    let t = playbook
        .parent()
        .unwrap()
        .join("roles/port_knocking/templates/knockd.conf.tera");
    let text = std::fs::read_to_string(&t).unwrap();
    let broken: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("start_command ") {
                "\tstart_command   = /bin/true".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&t, broken.join("\n") + "\n").unwrap();
}

/// knockd's own `knock` client sends `args` (`[-6] ADDR PORT[:udp]...`); panics if it fails.
pub fn knockd_client(args: &[&str]) {
    let out = Command::new("knock")
        .args(args)
        .output()
        .expect("run knock");
    assert!(
        out.status.success(),
        "knock {}: {}",
        args.join(" "),
        super::printed(&out)
    );
}

/// `sesame play -i INV playbooks/harden.yml EXTRA...` with this build in this checkout.
pub fn play(inv: &Path, extra: &[&str]) -> Output {
    Sesame::new().harden(inv, extra)
}

/// `Sesame::spawn_until_loaded` of `playbooks/harden.yml` with this build in this checkout.
pub fn spawn_until_loaded(inv: &Path, extra: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    Sesame::new().spawn_until_loaded(inv, Path::new("playbooks/harden.yml"), extra)
}
