//! Test-only SSH client for lab hosts, straight on the `ssh2` crate (not sesame's transport), so
//! lab tests can check hosts independently of the code under test. Host keys are always
//! verified strictly against the fleet's known_hosts.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ssh2::{CheckResult, KnownHostFileKind, Session};

/// What a remote command gave back.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Connects to `ip`:22, verifies the host key against `known_hosts` (keyed by `ip`), and logs in
/// as `user` with the private key `key`. Panics with the reason on any failure.
pub fn connect(ip: &str, user: &str, key: &Path, known_hosts: &Path) -> Session {
    let sess = handshake(ip, known_hosts);
    sess.userauth_pubkey_file(user, None, key, None)
        .unwrap_or_else(|e| panic!("pubkey auth as {user} on {ip}: {e}"));
    assert!(sess.authenticated(), "{user}@{ip} not authenticated");
    sess
}

/// Like [`connect`], with password authentication (the lab's `ops` user has one).
pub fn connect_password(ip: &str, user: &str, password: &str, known_hosts: &Path) -> Session {
    let sess = handshake(ip, known_hosts);
    sess.userauth_password(user, password)
        .unwrap_or_else(|e| panic!("password auth as {user} on {ip}: {e}"));
    assert!(sess.authenticated(), "{user}@{ip} not authenticated");
    sess
}

/// TCP connect and SSH handshake with a verified host key, not yet authenticated.
pub fn handshake(ip: &str, known_hosts: &Path) -> Session {
    let addr: SocketAddr = format!("{}:22", bracket(ip))
        .parse()
        .unwrap_or_else(|e| panic!("bad lab address {ip}: {e}"));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("tcp connect {addr}: {e}"));
    let mut sess = Session::new().expect("ssh2 session");
    sess.set_timeout(30_000);
    sess.set_tcp_stream(tcp);
    sess.handshake()
        .unwrap_or_else(|e| panic!("ssh handshake with {ip}: {e}"));
    verify_host_key(&sess, ip, known_hosts);
    sess
}

fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Panics unless the server's host key is the one recorded for `ip` in `known_hosts`.
pub fn verify_host_key(sess: &Session, ip: &str, known_hosts: &Path) {
    let mut kh = sess.known_hosts().expect("ssh2 known_hosts");
    kh.read_file(known_hosts, KnownHostFileKind::OpenSSH)
        .unwrap_or_else(|e| panic!("read {}: {e}", known_hosts.display()));
    let (key, _) = sess.host_key().expect("server sent no host key");
    match kh.check(ip, key) {
        CheckResult::Match => {}
        other => panic!(
            "host key of {ip} does not match {}: {other:?}",
            known_hosts.display()
        ),
    }
}

/// Runs a shell line on an authenticated session; a non-zero exit is data, not a panic.
pub fn run(sess: &Session, line: &str) -> Run {
    let mut ch = sess.channel_session().expect("open channel");
    ch.exec(line)
        .unwrap_or_else(|e| panic!("exec `{line}`: {e}"));
    let mut stdout = String::new();
    ch.read_to_string(&mut stdout).expect("read stdout");
    let mut stderr = String::new();
    ch.stderr()
        .read_to_string(&mut stderr)
        .expect("read stderr");
    ch.wait_close().expect("channel close");
    Run {
        status: ch.exit_status().expect("exit status"),
        stdout,
        stderr,
    }
}
