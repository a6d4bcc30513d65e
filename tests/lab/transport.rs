//! Lab tests of the SSH transport against real sshd on real Debian hosts (`tests/lab/lab.sh`):
//! authentication (keys of every type, agent, password), become, host key policies, unreachable
//! hosts, exec semantics (quoting, large output, status, timeouts) and uploads. Each test owns
//! its fleet; results are checked on the host without SSH (`Lab::exec`). Needs root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Lab;
use serde_json::{json, Map, Value};
use sesame::transport::proxy::Proxy;
use sesame::transport::{Become, Cmd};
use sesame::transport::{
    ConnOverrides, ConnSpec, HostKeyPolicy, SshTransport, Transport, TransportError, Upload,
};
use sha2::{Digest, Sha256};

const OPS_PASSWORD: &str = "ops-lab-pw";

/// A spec built the way the runner builds it: from the host's Ansible variables.
fn spec(lab: &Lab, host: &str, user: &str) -> ConnSpec {
    let ip = &lab.host(host).ip;
    let vars = json!({
        "ansible_host": ip,
        "ansible_user": user,
        "ansible_ssh_private_key_file": lab.key.to_str().unwrap(),
        "ansible_ssh_common_args": format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
            lab.known_hosts.display()
        ),
        "ansible_timeout": 10,
    });
    let Value::Object(vars) = vars else {
        unreachable!()
    };
    ConnSpec::from_vars(host, &vars, &ConnOverrides::default()).unwrap()
}

/// A spec with no key, agent or password: tests add exactly the credential they test.
fn bare_spec(lab: &Lab, host: &str, user: &str) -> ConnSpec {
    let mut s = spec(lab, host, user);
    s.key_files.clear();
    s
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-C", name, "-f"])
        .arg(&path)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen {args:?}");
    path
}

/// Append a public key to `user`'s authorized_keys on the host (no SSH involved).
fn authorize(lab: &Lab, host: &str, user: &str, pubkey: &Path) {
    let key = fs::read_to_string(pubkey).unwrap();
    let home = if user == "root" {
        "/root".to_string()
    } else {
        format!("/home/{user}")
    };
    let out = lab.exec(
        host,
        &[
            "sh",
            "-c",
            "printf '%s\\n' \"$1\" >> \"$2/.ssh/authorized_keys\"",
            "sh",
            key.trim(),
            &home,
        ],
    );
    assert!(out.status.success(), "{out:?}");
}

/// `ssh-keygen -l` fingerprint of a public key text.
fn keygen_fingerprint(dir: &Path, pubkey_text: &str) -> String {
    let f = dir.join("fp.pub");
    fs::write(&f, pubkey_text).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn uid(t: &mut SshTransport, b: Option<Become>) -> String {
    let out = t.exec(&Cmd::new("id").arg("-un").escalate(b)).unwrap();
    assert!(out.ok(), "id failed: {}", out.stderr_str());
    out.stdout_str().trim().to_string()
}

/// An ssh-agent on its own socket, killed (by pid) when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while !sock.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "ssh-agent socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent { child, sock }
    }

    fn add(&self, key: &Path) {
        let st = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "ssh-add {}", key.display());
    }

    fn list(&self) -> String {
        let out = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &self.sock)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lab_authentication_methods() {
    let lab = Lab::up("transport_auth", 1);
    let tmp = tempfile::tempdir().unwrap();

    // The inventory the lab writes, read through the same variables the runner uses.
    let ini = fs::read_to_string(&lab.inventory).unwrap();
    let mut vars = Map::new();
    for line in ini.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("ansible_") && !k.contains(' ') {
                vars.insert(k.into(), Value::String(v.trim_matches('\'').into()));
            }
        }
    }
    vars.insert(
        "ansible_host".into(),
        Value::String(lab.host("h1").ip.clone()),
    );
    let s = ConnSpec::from_vars("h1", &vars, &ConnOverrides::default()).unwrap();
    assert_eq!(s.known_hosts, vec![lab.known_hosts.clone()]);
    assert_eq!(s.host_key_policy, HostKeyPolicy::Yes);
    let mut t = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(t);

    // ed25519 key as root and as deploy.
    let mut root = SshTransport::connect(&spec(&lab, "h1", "root")).unwrap();
    assert_eq!(uid(&mut root, None), "root");
    let mut deploy = SshTransport::connect(&spec(&lab, "h1", "deploy")).unwrap();
    assert_eq!(uid(&mut deploy, None), "deploy");

    // RSA: OpenSSH 9 refuses ssh-rsa (SHA-1) signatures, so this passes only with rsa-sha2.
    let sshd_algs = lab.sh("h1", "sshd -T | grep -i '^pubkeyacceptedalgorithms'");
    assert!(
        !sshd_algs.split([' ', ',']).any(|a| a.trim() == "ssh-rsa"),
        "{sshd_algs}"
    );
    let rsa = keygen(tmp.path(), "rsa", &["-t", "rsa", "-b", "3072", "-N", ""]);
    let ecdsa = keygen(tmp.path(), "ecdsa", &["-t", "ecdsa", "-N", ""]);
    let locked = keygen(tmp.path(), "locked", &["-t", "ed25519", "-N", "key-pass-1"]);
    for k in [&rsa, &ecdsa, &locked] {
        authorize(&lab, "h1", "deploy", &k.with_extension("pub"));
    }
    for k in [&rsa, &ecdsa] {
        let mut s = bare_spec(&lab, "h1", "deploy");
        s.key_files = vec![k.clone()];
        let mut t = SshTransport::connect(&s).unwrap_or_else(|e| panic!("{}: {e}", k.display()));
        assert_eq!(uid(&mut t, None), "deploy");
    }
    // Passphrase-protected key: without the passphrase it fails and says which key.
    let mut s = bare_spec(&lab, "h1", "deploy");
    s.key_files = vec![locked.clone()];
    s.password_auth = false;
    let e = SshTransport::connect(&s).err().unwrap();
    assert!(
        matches!(&e, TransportError::Auth { tried, .. } if tried.contains("locked")),
        "{e}"
    );
    s.key_passphrase = Some("key-pass-1".into());
    let mut t = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut t, None), "deploy");

    // Password as ops; a wrong one is an Auth error listing the password attempt.
    let mut s = bare_spec(&lab, "h1", "ops");
    s.password = Some(OPS_PASSWORD.into());
    let mut ops = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut ops, None), "ops");
    s.password = Some("not-the-password".into());
    let e = SshTransport::connect(&s).err().unwrap();
    match &e {
        TransportError::Auth { user, tried, .. } => {
            assert_eq!(user, "ops");
            assert!(tried.contains("password"), "{tried}");
            assert!(
                !tried.contains("not-the-password"),
                "secret leaked: {tried}"
            );
        }
        other => panic!("expected Auth, got {other}"),
    }

    // Agent with two identities where only the SECOND is authorized: every identity is tried.
    let stranger = keygen(tmp.path(), "stranger", &["-t", "ed25519", "-N", ""]);
    let agent = Agent::start(tmp.path());
    agent.add(&stranger);
    agent.add(&lab.key);
    let listed = agent.list();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].contains("stranger"), "first identity: {listed}");
    let mut s = bare_spec(&lab, "h1", "root");
    s.agent_socket = Some(agent.sock.clone());
    let mut t = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    // An agent holding only unauthorized keys fails with the agent in the list.
    let agent2_dir = tempfile::tempdir().unwrap();
    let agent2 = Agent::start(agent2_dir.path());
    agent2.add(&stranger);
    s.agent_socket = Some(agent2.sock.clone());
    s.password_auth = false;
    let e = SshTransport::connect(&s).err().unwrap();
    assert!(
        matches!(&e, TransportError::Auth { tried, .. } if tried.contains("agent") && tried.contains("1 identities refused")),
        "{e}"
    );

    // Explicit key first, then agent: a missing key file is reported and skipped.
    s.key_files = vec![tmp.path().join("no-such-key")];
    s.agent_socket = Some(agent.sock.clone());
    let mut t = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(lab);
}

#[test]
fn lab_become_and_upload() {
    let lab = Lab::up("transport_become", 1);

    // sudo -n as deploy (NOPASSWD).
    let mut deploy = SshTransport::connect(&spec(&lab, "h1", "deploy")).unwrap();
    assert_eq!(uid(&mut deploy, Some(Become::default())), "root");
    let to_ops = Become {
        user: "ops".into(),
        password: None,
    };
    assert_eq!(uid(&mut deploy, Some(to_ops)), "ops");

    // sudo -S with the password as ops; stdin after the password reaches the command.
    let mut s = bare_spec(&lab, "h1", "ops");
    s.password = Some(OPS_PASSWORD.into());
    let mut ops = SshTransport::connect(&s).unwrap();
    let pw = Become {
        user: String::new(),
        password: Some(OPS_PASSWORD.into()),
    };
    assert_eq!(uid(&mut ops, Some(pw.clone())), "root");
    let out = ops
        .exec(
            &Cmd::new("cat")
                .stdin(b"line1\nline2\n".to_vec())
                .escalate(Some(pw.clone())),
        )
        .unwrap();
    assert_eq!(out.stdout, b"line1\nline2\n");

    // A wrong password is a Become error, fast (sudo gets EOF instead of waiting for input).
    let wrong = Become {
        user: String::new(),
        password: Some("wrong-pw".into()),
    };
    let t = Instant::now();
    let e = ops
        .exec(&Cmd::new("id").escalate(Some(wrong.clone())))
        .err()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(matches!(e, TransportError::Become { .. }), "{e}");
    assert!(!e.to_string().contains("wrong-pw"), "{e}");
    // sudo -n for a user who needs a password: Become error too, not a hang.
    let e = ops
        .exec(&Cmd::new("id").escalate(Some(Become::default())))
        .err()
        .unwrap();
    assert!(
        matches!(&e, TransportError::Become { message, .. } if message.contains("password is required")),
        "{e}"
    );
    // The session survives a failed become.
    assert_eq!(uid(&mut ops, None), "ops");

    // Upload as root: a new file gets 0644 root:root, content byte-exact.
    let mut root = SshTransport::connect(&spec(&lab, "h1", "root")).unwrap();
    let big: Vec<u8> = (0..(1 << 20) + 17).map(|i| (i * 7 % 251) as u8).collect();
    root.upload(
        &Upload {
            path: "/srv/new.bin",
            content: &big,
            mode: None,
            owner: None,
            group: None,
        },
        None,
    )
    .unwrap();
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%a %U %G %s' /srv/new.bin; sha256sum < /srv/new.bin"
        ),
        format!("644 root root {}\n{}  -\n", big.len(), sha256_hex(&big))
    );

    // Atomic replace of an existing file: mode/owner/group kept, new inode, no temp left over.
    lab.sh(
        "h1",
        "printf old > /srv/keep.conf; chown deploy:ops /srv/keep.conf; chmod 0640 /srv/keep.conf",
    );
    let inode_before = lab.sh("h1", "stat -c %i /srv/keep.conf");
    root.upload(
        &Upload {
            path: "/srv/keep.conf",
            content: b"new content\n",
            mode: None,
            owner: None,
            group: None,
        },
        None,
    )
    .unwrap();
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%a %U %G' /srv/keep.conf; cat /srv/keep.conf"
        ),
        "640 deploy ops\nnew content\n"
    );
    assert_ne!(lab.sh("h1", "stat -c %i /srv/keep.conf"), inode_before);
    // Explicit mode and owner win.
    root.upload(
        &Upload {
            path: "/srv/keep.conf",
            content: b"v3\n",
            mode: Some(0o600),
            owner: Some("ops"),
            group: Some("deploy"),
        },
        None,
    )
    .unwrap();
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%a %U %G' /srv/keep.conf; cat /srv/keep.conf"
        ),
        "600 ops deploy\nv3\n"
    );

    // Under become: deploy with sudo -n writes a root file in /etc.
    let content = b"# managed by sesame\nkey = 'value; $(id)'\n";
    deploy
        .upload(
            &Upload {
                path: "/etc/sesame-test.conf",
                content,
                mode: Some(0o600),
                owner: Some("root"),
                group: None,
            },
            Some(&Become::default()),
        )
        .unwrap();
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%a %U %G' /etc/sesame-test.conf; sha256sum < /etc/sesame-test.conf"
        ),
        format!("600 root root\n{}  -\n", sha256_hex(content))
    );
    // ops with a sudo password: the password line is consumed by sudo, the content is intact.
    let lines: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    ops.upload(
        &Upload {
            path: "/etc/sesame-ops.conf",
            content: &lines,
            mode: None,
            owner: None,
            group: None,
        },
        Some(&pw),
    )
    .unwrap();
    assert_eq!(
        lab.sh(
            "h1",
            "stat -c '%a %U' /etc/sesame-ops.conf; sha256sum < /etc/sesame-ops.conf"
        ),
        format!("644 root\n{}  -\n", sha256_hex(&lines))
    );
    // A wrong become password on upload: Become error and the target is untouched.
    let e = ops
        .upload(
            &Upload {
                path: "/etc/sesame-ops.conf",
                content: b"evil\n",
                mode: None,
                owner: None,
                group: None,
            },
            Some(&wrong),
        )
        .err()
        .unwrap();
    assert!(matches!(e, TransportError::Become { .. }), "{e}");
    // Without become, ops cannot write /etc: an Upload error with the reason.
    let e = ops
        .upload(
            &Upload {
                path: "/etc/sesame-ops.conf",
                content: b"evil\n",
                mode: None,
                owner: None,
                group: None,
            },
            None,
        )
        .err()
        .unwrap();
    assert!(
        matches!(&e, TransportError::Upload { message, .. } if message.contains("Permission denied")),
        "{e}"
    );
    assert_eq!(
        lab.sh("h1", "sha256sum < /etc/sesame-ops.conf"),
        format!("{}  -\n", sha256_hex(&lines))
    );
    // No temp file is ever left beside the targets.
    assert_eq!(
        lab.sh("h1", "find /srv /etc -maxdepth 1 -name '.sesame.*' | wc -l"),
        "0\n"
    );
    // A hostile path stays one argument.
    let e = root
        .upload(
            &Upload {
                path: "/nonexistent dir/x; touch /tmp/pwned",
                content: b"x",
                mode: None,
                owner: None,
                group: None,
            },
            None,
        )
        .err()
        .unwrap();
    assert!(matches!(e, TransportError::Upload { .. }), "{e}");
    assert!(!lab
        .exec("h1", &["test", "-e", "/tmp/pwned"])
        .status
        .success());
    drop(lab);
}

#[test]
fn lab_exec_semantics_and_timings() {
    let lab = Lab::up("transport_exec", 1);
    let mut root = SshTransport::connect(&spec(&lab, "h1", "root")).unwrap();
    let mut deploy = SshTransport::connect(&spec(&lab, "h1", "deploy")).unwrap();

    // Hostile arguments arrive as one literal argument each, with and without become.
    let hostile = [
        "; touch /tmp/pwned",
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "a\nb; touch /tmp/pwned",
        "it's \"quoted\" \\ back",
        "",
        "*",
    ];
    let printf = Cmd::new("printf").arg("[%s]\n").args(hostile);
    let expected: String = hostile.iter().map(|h| format!("[{h}]\n")).collect();
    let out = root.exec(&printf).unwrap();
    assert_eq!(out.stdout_str(), expected);
    let out = deploy
        .exec(&printf.clone().escalate(Some(Become::default())))
        .unwrap();
    assert_eq!(out.stdout_str(), expected);
    assert!(!lab
        .exec("h1", &["test", "-e", "/tmp/pwned"])
        .status
        .success());

    // Exit status is data; a signal is -1.
    let out = root
        .exec(&Cmd::sh("echo out; echo err >&2; exit 3"))
        .unwrap();
    assert_eq!(
        (out.status, out.stdout_str(), out.stderr_str()),
        (3, "out\n".into(), "err\n".into())
    );
    let out = root.exec(&Cmd::sh("kill -9 $$")).unwrap();
    assert_eq!(out.status, -1);

    // 2 MiB on each stream, stderr first: a reader blocked on stdout would deadlock.
    let n = 2 * 1024 * 1024;
    let t = Instant::now();
    let out = root
        .exec(
            &Cmd::sh("yes e | head -c \"$1\" >&2; yes o | head -c \"$1\"; exit 3")
                .arg("sh")
                .arg(n.to_string()),
        )
        .unwrap();
    let elapsed = t.elapsed();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout.len(), n);
    assert_eq!(out.stderr.len(), n);
    assert!(out.stdout.chunks(2).all(|c| c[0] == b'o'));
    assert!(out.stderr.chunks(2).all(|c| c[0] == b'e'));
    eprintln!("2 MiB stdout + 2 MiB stderr: {elapsed:?}");
    // And interleaved, with 3 MiB of stdin fed while it writes.
    let stdin: Vec<u8> = (0..3 << 20).map(|i| (i % 253) as u8).collect();
    let out = root
        .exec(
            &Cmd::sh(
                "(yes e | head -c 2097152 >&2) & sha256sum; yes o | head -c 2097152 | wc -c; wait",
            )
            .stdin(stdin.clone()),
        )
        .unwrap();
    assert!(out.ok(), "{}", out.stderr_str());
    assert_eq!(
        out.stdout_str(),
        format!("{}  -\n2097152\n", sha256_hex(&stdin))
    );
    assert_eq!(out.stderr.len(), 2 * 1024 * 1024);
    // A command that ignores its stdin does not hang the feeder.
    let out = root
        .exec(&Cmd::new("true").stdin(vec![b'x'; 4 << 20]))
        .unwrap();
    assert!(out.ok());

    // Command timeout: fires in bounded time, and the session is still usable after it.
    let t = Instant::now();
    let e = root
        .exec(&Cmd::new("sleep").arg("30").timeout(Duration::from_secs(1)))
        .err()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "timeout took {:?}",
        t.elapsed()
    );
    assert!(
        matches!(&e, TransportError::CommandTimeout { timeout, command, .. }
            if *timeout == Duration::from_secs(1) && command == "sleep 30"),
        "{e}"
    );
    assert_eq!(uid(&mut root, None), "root");
    // The spec's default command timeout applies when the command has none.
    let mut s = spec(&lab, "h1", "root");
    s.command_timeout = Some(Duration::from_millis(800));
    let mut short = SshTransport::connect(&s).unwrap();
    let e = short.exec(&Cmd::new("sleep").arg("20")).err().unwrap();
    assert!(matches!(e, TransportError::CommandTimeout { .. }), "{e}");
    assert!(short.exec(&Cmd::new("true")).unwrap().ok());

    // A timeout too large for the clock means "wait", not a panic.
    assert!(root
        .exec(&Cmd::new("true").timeout(Duration::MAX))
        .unwrap()
        .ok());

    // exec_count counts commands on this session.
    let before = root.exec_count();
    root.exec(&Cmd::new("true")).unwrap();
    assert_eq!(root.exec_count(), before + 1);

    // Timings: connect + auth + one exec (median of 20), and per-exec latency (median of 100).
    let mut connects = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut c = SshTransport::connect(&spec(&lab, "h1", "root")).unwrap();
        assert!(c.exec(&Cmd::new("true")).unwrap().ok());
        connects.push(t.elapsed());
    }
    let mut execs = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        assert!(root.exec(&Cmd::new("true")).unwrap().ok());
        execs.push(t.elapsed());
    }
    connects.sort();
    execs.sort();
    eprintln!(
        "TIMING connect+auth+exec median {:?} (min {:?}, max {:?}); exec median {:?} (min {:?}, max {:?})",
        connects[10], connects[0], connects[19], execs[50], execs[0], execs[99]
    );
    // Loose sanity bounds: a local namespace host answering in seconds means something broke.
    assert!(connects[10] < Duration::from_secs(5));
    assert!(execs[50] < Duration::from_secs(2));
    drop(lab);
}

#[test]
fn lab_host_keys_and_unreachable() {
    let lab = Lab::up("transport_hostkeys", 1);
    let tmp = tempfile::tempdir().unwrap();
    let ip = lab.host("h1").ip.clone();
    let host_fps: Vec<String> = lab
        .sh("h1", "cat /etc/ssh/ssh_host_*_key.pub")
        .lines()
        .map(|l| keygen_fingerprint(tmp.path(), l))
        .collect();
    let old_ed = keygen_fingerprint(
        tmp.path(),
        &lab.sh("h1", "cat /etc/ssh/ssh_host_ed25519_key.pub"),
    );

    // Unknown host, policy yes: refused, naming the key's fingerprint; nothing written.
    let empty = tmp.path().join("empty_known_hosts");
    fs::write(&empty, "").unwrap();
    let mut s = spec(&lab, "h1", "root");
    s.known_hosts = vec![empty.clone()];
    let e = SshTransport::connect(&s).err().unwrap();
    match &e {
        TransportError::UnknownHostKey { fingerprint, .. } => {
            assert!(
                host_fps.contains(fingerprint),
                "{fingerprint} not in {host_fps:?}"
            )
        }
        other => panic!("expected UnknownHostKey, got {other}"),
    }
    assert!(e.to_string().contains("SHA256:"), "{e}");
    assert!(
        e.is_unreachable(),
        "an unknown key is unreachable, as in Ansible"
    );
    assert_eq!(fs::read_to_string(&empty).unwrap(), "");

    // A system-wide file (GlobalKnownHostsFile) vouches for the host: known, and accept-new
    // writes nothing to the user's file. Built from a GlobalKnownHostsFile option, as an
    // inventory would set it.
    let global = tmp.path().join("global_known_hosts");
    fs::copy(&lab.known_hosts, &global).unwrap();
    let mut sg = spec(&lab, "h1", "root");
    sg.known_hosts = vec![empty.clone()];
    sg.global_known_hosts = vec![global.clone()];
    let mut t = SshTransport::connect(&sg).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(t);
    sg.host_key_policy = HostKeyPolicy::AcceptNew;
    SshTransport::connect(&sg).unwrap();
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "already known");

    // Only a @cert-authority line covers the host: libssh2 cannot check host certificates, so
    // the error names the CA line and the host's plain key instead of a bare "unknown".
    keygen(tmp.path(), "ca", &["-t", "ed25519", "-N", ""]);
    let ca_pub = tmp.path().join("ca.pub");
    let ca_line = format!(
        "# fleet CA\n@cert-authority 198.19.*,fd5e:* {}",
        fs::read_to_string(&ca_pub).unwrap()
    );
    fs::write(&global, ca_line).unwrap();
    sg.host_key_policy = HostKeyPolicy::Yes;
    let e = SshTransport::connect(&sg).err().unwrap();
    match &e {
        TransportError::HostCertificateUnsupported {
            ca, fingerprint, ..
        } => {
            assert_eq!(ca, &format!("{}:2", global.display()));
            assert!(host_fps.contains(fingerprint), "{fingerprint}");
        }
        other => panic!("expected HostCertificateUnsupported, got {other}"),
    }
    assert!(!e.is_unreachable());
    assert_eq!(fs::read_to_string(&empty).unwrap(), "");

    // Policy no: accepted, nothing written.
    s.host_key_policy = HostKeyPolicy::No;
    SshTransport::connect(&s).unwrap();
    assert_eq!(fs::read_to_string(&empty).unwrap(), "");

    // accept-new: written to the first file (created 0600), then known under policy yes.
    let fresh = tmp.path().join("sub/known_hosts");
    s.known_hosts = vec![fresh.clone(), empty.clone()];
    s.host_key_policy = HostKeyPolicy::AcceptNew;
    SshTransport::connect(&s).unwrap();
    assert_eq!(
        fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let found = Command::new("ssh-keygen")
        .args(["-F", &ip, "-f"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(found.status.success(), "ssh-keygen -F finds the new entry");
    s.host_key_policy = HostKeyPolicy::Yes;
    let mut t = SshTransport::connect(&s).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(t);

    // Hashed known_hosts (ssh-keygen -H) work.
    let hashed = tmp.path().join("hashed");
    fs::copy(&lab.known_hosts, &hashed).unwrap();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&hashed)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    s.known_hosts = vec![hashed];
    SshTransport::connect(&s).unwrap();

    // Known only by its RSA key: the RSA key is asked for first, so the host is known.
    let rsa_only = tmp.path().join("rsa_only");
    let lines: String = fs::read_to_string(&lab.known_hosts)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(&format!("{ip} ssh-rsa ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(lines.lines().count(), 1);
    fs::write(&rsa_only, &lines).unwrap();
    s.known_hosts = vec![rsa_only];
    SshTransport::connect(&s).unwrap();

    // IPv6 address, known by its IPv6 entry.
    let mut s6 = spec(&lab, "h1", "root");
    s6.address = lab.host("h1").ip6.clone();
    let mut t = SshTransport::connect(&s6).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(t);

    // A second sshd on port 2222, logging to a file: `[ip]:2222` entries are another host.
    lab.sh(
        "h1",
        "/usr/sbin/sshd -p 2222 -o PidFile=/run/sshd2222.pid -E /var/log/sshd2222.log",
    );
    lab.wait_listening("h1", 2222);
    let ported = tmp.path().join("ported");
    let kh = fs::read_to_string(&lab.known_hosts).unwrap();
    let with_port: String = kh
        .lines()
        .filter(|l| l.starts_with(&format!("{ip} ")))
        .map(|l| format!("[{ip}]:2222{}\n", &l[ip.len()..]))
        .collect();
    fs::write(&ported, &with_port).unwrap();
    let mut sp = spec(&lab, "h1", "root");
    sp.port = 2222;
    sp.known_hosts = vec![ported.clone()];
    let mut t = SshTransport::connect(&sp).unwrap();
    assert_eq!(uid(&mut t, None), "root");
    drop(t);
    sp.known_hosts = vec![lab.known_hosts.clone()];
    let e = SshTransport::connect(&sp).err().unwrap();
    assert!(
        matches!(e, TransportError::UnknownHostKey { port: 2222, .. }),
        "port-22 entries must not vouch for port 2222: {e}"
    );

    // CHANGED key: replace the ed25519 host key, reload both sshds.
    lab.sh(
        "h1",
        "rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub && \
         ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && \
         p=$(cat /run/sshd2222.pid) && kill $p && \
         while kill -0 $p 2>/dev/null; do sleep 0.05; done && : > /var/log/sshd2222.log && \
         /usr/sbin/sshd -p 2222 -o PidFile=/run/sshd2222.pid -E /var/log/sshd2222.log && \
         kill -HUP $(cat /run/sshd.pid) && sleep 1",
    );
    lab.wait_listening("h1", 2222);
    lab.wait_listening("h1", 22);
    let new_ed = keygen_fingerprint(
        tmp.path(),
        &lab.sh("h1", "cat /etc/ssh/ssh_host_ed25519_key.pub"),
    );
    assert_ne!(old_ed, new_ed);
    for policy in [
        HostKeyPolicy::Yes,
        HostKeyPolicy::AcceptNew,
        HostKeyPolicy::No,
    ] {
        for (port, kh) in [(22, lab.known_hosts.clone()), (2222, ported.clone())] {
            let kh_before = fs::read(&kh).unwrap();
            let mut sc = spec(&lab, "h1", "root");
            sc.port = port;
            sc.known_hosts = vec![kh.clone()];
            sc.host_key_policy = policy;
            let e = SshTransport::connect(&sc).err().unwrap();
            match &e {
                TransportError::HostKeyChanged {
                    expected, actual, ..
                } => {
                    assert!(expected.contains(&old_ed), "{expected}");
                    assert_eq!(actual, &new_ed);
                }
                other => panic!("{policy:?} port {port}: expected HostKeyChanged, got {other}"),
            }
            assert!(!e.is_unreachable());
            let msg = e.to_string();
            assert!(msg.contains(&old_ed) && msg.contains(&new_ed), "{msg}");
            assert_eq!(fs::read(&kh).unwrap(), kh_before, "known_hosts untouched");
        }
    }
    // sshd saw connections but no authentication at all: nothing could have run.
    let log = lab.sh("h1", "cat /var/log/sshd2222.log");
    assert!(!log.contains("Accepted"), "{log}");
    assert!(
        !log.contains("Failed") && !log.contains("Postponed"),
        "no auth attempt: {log}"
    );

    // The host vanishes during a command with no timeout: keepalives go unanswered and the
    // exec fails in bounded time instead of waiting forever.
    let mut s = spec(&lab, "h1", "root");
    s.known_hosts = Vec::new();
    s.host_key_policy = HostKeyPolicy::No;
    s.keepalive = Some(Duration::from_secs(2));
    let mut t = SshTransport::connect(&s).unwrap();
    let (result, took) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            lab.link("h1", false);
        });
        let started = Instant::now();
        let r = t.exec(&Cmd::new("sleep").arg("120"));
        (r, started.elapsed())
    });
    lab.link("h1", true);
    let e = result.err().unwrap();
    eprintln!("host vanished mid-command: {e} after {took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(
        matches!(e, TransportError::Session { .. }) && e.is_unreachable(),
        "{e}"
    );
    drop(t);

    // sshd stopped: refused at once, an unreachable error.
    lab.stop_sshd("h1");
    let mut s = spec(&lab, "h1", "root");
    s.connect_timeout = Duration::from_secs(3);
    let t = Instant::now();
    let e = SshTransport::connect(&s).err().unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(e.is_unreachable(), "{e}");
    assert!(matches!(e, TransportError::Connect { .. }), "{e}");

    // Cable cut: no answer at all, the connect timeout bounds the wait.
    lab.link("h1", false);
    let t = Instant::now();
    let e = SshTransport::connect(&s).err().unwrap();
    let took = t.elapsed();
    lab.link("h1", true);
    // Either the SYN times out or ARP gives up (EHOSTUNREACH); both within the timeout.
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(
        matches!(
            e,
            TransportError::ConnectTimeout { .. } | TransportError::Connect { .. }
        ),
        "{e}"
    );
    eprintln!("cable cut: {e} after {took:?}");
    assert!(e.is_unreachable());
    drop(lab);
}

/// The SSH stream through a jump host (ProxyCommand, as an Ansible inventory writes it): the
/// target sees the jump host as its client, its host key is still checked by sesame, a proxy
/// that fails is reported with what it said, and the proxy process ends with the session.
#[test]
fn lab_proxy_command_through_a_jump_host() {
    let lab = Lab::up("transport_proxy", 2);
    let jump = lab.host("h1").ip.clone();
    let target = lab.host("h2").ip.clone();
    let via = format!(
        "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes -W %h:%p root@{jump}",
        lab.key.display(),
        lab.known_hosts.display()
    );
    let mut s = spec(&lab, "h2", "root");
    s.proxy = Proxy::command(&via).unwrap();
    assert!(s.proxy.is_some());
    let mut t = SshTransport::connect(&s).unwrap();
    let out = t.exec(&Cmd::sh("echo $SSH_CONNECTION")).unwrap();
    let conn = out.stdout_str();
    let fields: Vec<&str> = conn.split_whitespace().collect();
    assert_eq!(
        fields.first(),
        Some(&jump.as_str()),
        "client seen by h2: {conn}"
    );
    assert_eq!(fields.get(2), Some(&target.as_str()), "{conn}");
    // The session works for more than one command (one session per host for a run).
    assert_eq!(uid(&mut t, None), "root");
    let running = || {
        Command::new("pgrep")
            .args(["-f", "--", &format!("-W {target}:22 root@{jump}")])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(running(), "the proxy runs while the session is open");
    // In its own process group: a Ctrl-C at the terminal must not cut the sessions sesame is
    // finishing gracefully.
    let pid = Command::new("pgrep")
        .args(["-f", "--", &format!("-W {target}:22 root@{jump}")])
        .output()
        .unwrap()
        .stdout;
    let pid = String::from_utf8_lossy(&pid).trim().to_string();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(
        pgrp,
        unsafe { libc::getpgrp() },
        "proxy shares our process group"
    );
    drop(t);
    let end = Instant::now() + Duration::from_secs(5);
    while running() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!running(), "the proxy outlived its session");

    // The target's host key is checked against sesame's known_hosts, not the proxy's.
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::write(&empty, "").unwrap();
    let mut unknown = s.clone();
    unknown.known_hosts = vec![empty];
    unknown.global_known_hosts.clear();
    let e = SshTransport::connect(&unknown).err().unwrap();
    assert!(
        matches!(e, TransportError::UnknownHostKey { .. }),
        "through a proxy too: {e}"
    );

    // A proxy that fails: the error is a Proxy error carrying what it printed, unreachable.
    let mut broken = spec(&lab, "h2", "root");
    broken.proxy = Proxy::command("sh -c 'echo bastion says no >&2; exit 3'").unwrap();
    let started = Instant::now();
    let e = SshTransport::connect(&broken).err().unwrap();
    let msg = e.to_string();
    assert!(
        matches!(e, TransportError::Proxy { .. }) && msg.contains("bastion says no"),
        "{msg}"
    );
    assert!(e.is_unreachable());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(lab);
}
