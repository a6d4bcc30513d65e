//! Shipping, proven on the lab: only the binary, from an empty directory, hardens lab hosts
//! (`sesame harden`), `--fail-on-change` and `sesame verify` give the exit codes CI relies on,
//! the JUnit file parses with a real parser (`junit-parser`) and lists every host; and the
//! Debian package (packaging/deb.sh, cargo-deb) installs on a lab host with dpkg, which then
//! hardens and verifies another host of its fleet as the controller.

use crate::common::{printed, sesame_in, Flavour, Init, Lab, Os, Provider};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SESAME: &str = env!("CARGO_BIN_EXE_sesame");
const SEQ: &str = "[7101,7202,7101,7303]";

fn show(what: &str, out: &Output) -> String {
    let text = printed(out);
    eprintln!("$ {what} -> {}\n{text}", out.status);
    text
}

/// Test cases of a JUnit file, read with the junit-parser crate: (name, status).
fn junit_cases(path: &Path) -> Vec<(String, junit_parser::TestStatus)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let suites = junit_parser::from_reader(std::io::BufReader::new(f))
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    suites
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .map(|c| (c.original_name.clone(), c.status.clone()))
        .collect()
}

#[test]
fn only_the_binary_in_an_empty_directory_hardens_and_ci_reports_hold() {
    let lab = Lab::up("ship::empty_dir", 2);
    let dir = tempfile::tempdir().unwrap();
    // Nothing but the binary and an inventory; HOME empty too (no ~/.ansible/roles).
    let bin = dir.path().join("sesame");
    std::fs::copy(SESAME, &bin).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut inv = std::fs::read_to_string(&lab.inventory).unwrap();
    inv = inv.replace(
        "[lab:vars]\n",
        &format!("[lab:vars]\nknock_sequence={SEQ}\n"),
    );
    std::fs::write(dir.path().join("inv"), inv).unwrap();
    let bin = bin.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = sesame_in(bin, dir.path(), args, &[("HOME", home.to_str().unwrap())]);
        let text = show(&format!("sesame {}", args.join(" ")), &out);
        (out.status.code(), text)
    };

    // First run with --fail-on-change: it hardens both hosts, and the changes make it exit 2.
    let (code, text) = run(&[
        "harden",
        "-i",
        "inv",
        "--fail-on-change",
        "--junit",
        "first.xml",
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("role port_knocking: embedded in sesame"),
        "{text}"
    );
    assert!(
        text.contains("--fail-on-change: tasks changed on h1, h2"),
        "{text}"
    );
    let cases = junit_cases(&dir.path().join("first.xml"));
    for h in ["h1", "h2"] {
        let proof = format!("[{h}] Close SSH behind a knock: knock proof");
        let (_, st) = cases.iter().find(|(n, _)| *n == proof).unwrap_or_else(|| {
            panic!("no {proof} in {cases:?}");
        });
        assert!(st.is_success(), "{proof}: {st:?}");
        let changed = format!(
            "[{h}] Close SSH behind a knock: port_knocking : Install the firewall packages"
        );
        let (_, st) = cases.iter().find(|(n, _)| *n == changed).unwrap();
        assert!(
            st.is_failure(),
            "a changed task fails with --fail-on-change: {st:?}"
        );
    }
    // The re-run changes nothing: exit 0 with --fail-on-change.
    let (code, text) = run(&[
        "harden",
        "-i",
        "inv",
        "--fail-on-change",
        "--junit",
        "again.xml",
        "--summary",
        "again.md",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let cases = junit_cases(&dir.path().join("again.xml"));
    for h in ["h1", "h2"] {
        assert!(
            cases
                .iter()
                .any(|(n, st)| n.starts_with(&format!("[{h}] ")) && st.is_success()),
            "{h} missing: {cases:?}"
        );
    }
    assert!(cases.iter().all(|(_, st)| !st.is_failure()), "{cases:?}");
    let md = std::fs::read_to_string(dir.path().join("again.md")).unwrap();
    assert!(
        md.contains("| h1 | knockd | iptables | ok | none in this run |"),
        "{md}"
    );
    assert!(md.contains("| h2 | knockd | iptables | ok |"), "{md}");
    // verify proves both: exit 0, a passing proof case per host.
    let (code, text) = run(&[
        "verify",
        "-i",
        "inv",
        "--junit",
        "verify.xml",
        "--summary",
        "v.md",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let cases = junit_cases(&dir.path().join("verify.xml"));
    for h in ["h1", "h2"] {
        let proof = format!("[{h}] verify: knock proof");
        assert!(
            cases.iter().any(|(n, st)| *n == proof && st.is_success()),
            "{cases:?}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("v.md")).unwrap();
    assert!(
        md.contains("| h1 | knockd | iptables | ok | closed\\_before → opened |"),
        "{md}"
    );
    // A host that answers without a knock fails verify (exit 2), named with the reason, in
    // the JUnit file too; the knock sequence never appears in it.
    lab.sh("h2", "iptables -I INPUT 1 -p tcp --dport 22 -j ACCEPT");
    let (code, text) = run(&["verify", "-i", "inv", "--junit", "broken.xml"]);
    assert_eq!(code, Some(2), "{text}");
    let cases = junit_cases(&dir.path().join("broken.xml"));
    let (_, st) = cases
        .iter()
        .find(|(n, _)| n == "[h2] verify: knock proof")
        .unwrap();
    assert!(st.is_failure(), "{st:?}");
    assert!(
        st.failure_as_ref()
            .message
            .contains("answers without a knock"),
        "{st:?}"
    );
    let xml = std::fs::read_to_string(dir.path().join("broken.xml")).unwrap();
    assert!(
        !crate::common::shows_secret(&xml, "7202") && !crate::common::shows_secret(&xml, "7303"),
        "{xml}"
    );
    assert!(
        cases
            .iter()
            .any(|(n, st)| n == "[h1] verify: knock proof" && st.is_success()),
        "{cases:?}"
    );
    // A knock that does not open the host (here: the wrong sequence) fails verify too.
    let (code, text) = run(&[
        "verify",
        "-i",
        "inv",
        "-l",
        "h1",
        "-e",
        "knock_sequence=[7901,7902,7901,7903]",
        "--junit",
        "wrong.xml",
    ]);
    assert_eq!(code, Some(2), "{text}");
    let cases = junit_cases(&dir.path().join("wrong.xml"));
    let (_, st) = cases
        .iter()
        .find(|(n, _)| n == "[h1] verify: knock proof")
        .unwrap_or_else(|| panic!("{cases:?}"));
    assert!(
        st.failure_as_ref().message.starts_with("opened: "),
        "the knock did not open it: {st:?}"
    );
    let xml = std::fs::read_to_string(dir.path().join("wrong.xml")).unwrap();
    assert!(
        !crate::common::shows_secret(&xml, "7901") && !crate::common::shows_secret(&xml, "7903"),
        "{xml}"
    );
    // A host that is down fails verify the same way (exit 2), not silently.
    lab.link("h1", false);
    let (code, text) = run(&["verify", "-i", "inv", "-l", "h1"]);
    lab.link("h1", true);
    assert_eq!(code, Some(2), "{text}");
}

/// Copy a local file onto a lab host over SSH (scp).
fn upload(lab: &Lab, host: &str, local: &Path, remote: &str, mode: i32) {
    let ip = &lab.host(host).ip;
    let sess = crate::common::ssh::connect(ip, "root", &lab.key, &lab.known_hosts);
    let data = std::fs::read(local).unwrap();
    let mut ch = sess
        .scp_send(Path::new(remote), mode, data.len() as u64, None)
        .unwrap_or_else(|e| panic!("scp {} to {host}: {e}", local.display()));
    ch.write_all(&data).unwrap();
    ch.send_eof().unwrap();
    ch.wait_eof().unwrap();
    ch.close().unwrap();
    ch.wait_close().unwrap();
}

/// The package, built once per test run (both package tests share it; deb.sh's work files
/// are not made for two builds at once).
fn deb() -> PathBuf {
    static DEB: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut d = DEB.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = d.as_ref() {
        return p.clone();
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ship-lab-deb");
    let _ = std::fs::remove_dir_all(&out);
    let p = build_deb(&out);
    *d = Some(p.clone());
    p
}

/// Build the package from the binary this test run built (same layout as a release package).
fn build_deb(out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb.sh");
    let o = Command::new("bash")
        .arg(&script)
        .args(["--dev", "--bin", SESAME, "-o"])
        .arg(out)
        .output()
        .expect("run packaging/deb.sh");
    let text = show("packaging/deb.sh --dev", &o);
    assert!(o.status.success(), "the package did not build:\n{text}");
    let deb = PathBuf::from(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or(""),
    );
    assert!(deb.is_file(), "no .deb at {}:\n{text}", deb.display());
    deb
}

#[test]
fn the_deb_installs_on_a_lab_host_which_then_hardens_and_verifies_another() {
    deb_controller(Lab::up("ship::deb", 2));
}

/// Debian 13 names the library libssl3t64 (it provides libssl3, which the package depends on),
/// and boots systemd here: the package from the Debian 12 build machine installs and works.
#[test]
fn the_deb_installs_and_works_on_debian_13_with_systemd() {
    let flavour = Flavour {
        os: Os::Trixie,
        init: Init::Systemd,
        provider: Provider::Default,
    };
    deb_controller(Lab::up_with("ship::deb13", 2, flavour));
}

/// Install the package on h1 with dpkg, then from h1 as the controller harden h2, re-run with
/// --fail-on-change, verify.
fn deb_controller(lab: Lab) {
    let work = tempfile::tempdir().unwrap();
    let deb = deb();
    upload(&lab, "h1", &deb, "/root/sesame.deb", 0o644);
    // dpkg -i, with the dependencies the lab host already has (Depends: libc6, libssl3, zlib1g).
    lab.sh("h1", "dpkg -i /root/sesame.deb && apt-get check");
    let files = lab.sh(
        "h1",
        "set -e; sesame --version; command -v sesame; \
         ls /usr/share/man/man1/sesame.1.gz /usr/share/man/man1/sesame-harden.1.gz \
            /usr/share/bash-completion/completions/sesame /usr/share/zsh/vendor-completions/_sesame \
            /usr/share/fish/vendor_completions.d/sesame.fish \
            /usr/share/doc/sesame/README.md /usr/share/doc/sesame/inventory.example; \
         cd /usr/share/sesame && find playbooks roles -type f | sort",
    );
    assert!(files.contains("sesame 0.1.0 (commit "), "{files}");
    // Every file of the embedded playbook and role is installed under /usr/share/sesame.
    for (rel, _) in sesame::playbook::embedded::FILES {
        if rel.starts_with("playbooks/") || rel.starts_with("roles/") {
            assert!(
                files.lines().any(|l| l == *rel),
                "{rel} not installed:\n{files}"
            );
        }
    }
    // h1 is the controller: the lab key and h2's host key, an inventory naming only h2.
    upload(&lab, "h1", &lab.key, "/root/lab_key", 0o600);
    upload(&lab, "h1", &lab.known_hosts, "/root/lab_known_hosts", 0o644);
    let h2 = &lab.host("h2").ip;
    let inv = format!(
        "h2 ansible_host={h2} ansible_user=root ansible_ssh_private_key_file=/root/lab_key \
         ansible_ssh_common_args='-o UserKnownHostsFile=/root/lab_known_hosts -o StrictHostKeyChecking=yes' \
         knock_sequence={SEQ}\n"
    );
    let inv_file = work.path().join("inv");
    std::fs::write(&inv_file, inv).unwrap();
    lab.sh("h1", "mkdir -p /root/run");
    upload(&lab, "h1", &inv_file, "/root/run/inv", 0o644);
    let on_h1 = |line: &str| {
        let out = lab.exec("h1", &["sh", "-c", &format!("cd /root/run && {line}")]);
        let text = show(&format!("on h1: {line}"), &out);
        (out.status.code(), text)
    };
    let (code, text) = on_h1("sesame harden -i inv --junit first.xml");
    assert_eq!(code, Some(0), "{text}");
    // The package's role (on the default roles path) wins over the embedded copy.
    assert!(
        text.contains("role port_knocking: /usr/share/sesame/roles/port_knocking"),
        "{text}"
    );
    assert!(text.contains("h2                         : ok="), "{text}");
    let (code, text) = on_h1("sesame harden -i inv --fail-on-change");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("changed=0"), "{text}");
    let (code, text) = on_h1("sesame verify -i inv");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("knock: [h2] opened by knock"), "{text}");
    // h2 really is closed to a client that did not knock (the controller's own view).
    let ssh_open = std::net::TcpStream::connect_timeout(
        &format!("{h2}:22").parse().unwrap(),
        std::time::Duration::from_millis(1500),
    )
    .is_ok();
    assert!(!ssh_open, "h2's SSH port answers without a knock");
}
