//! The ssh2 transport: one session per host for the whole run, owned by one worker thread.
//! Connect (TCP with timeout, handshake), verify the host key BEFORE authenticating, then run
//! each command on its own channel with stdout and stderr pumped together in non-blocking mode
//! (no deadlock on a chatty stderr), a command timeout and keepalives. Uploads stream over a
//! command's stdin into a temp file moved into place. It never prints and never logs secrets:
//! commands are logged with `Cmd::display` only.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode, MethodType, Session};

use super::command::BecomeTokens;
use super::known_hosts::{self, HostKeyStatus, KnownHostsFile};
use super::proxy::ProxyChild;
use super::spec::{ConnSpec, HostKeyPolicy};
use super::sudo::{GateStep, SudoGate};
use super::{auth, Become, Cmd, Output, Transport, TransportError, Upload};

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const LIBSSH2_ERROR_EAGAIN: i32 = -37;
/// libssh2's blocking-call timeout (`LIBSSH2_ERROR_TIMEOUT`).
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
/// Longest we wait for the server to open a channel or start a command before calling the
/// session dead (the command's own run time is bounded by its timeout, not this).
const CHANNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a polite close or disconnect may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer for the stdout/stderr pump. Every host in a command holds one (100 hosts in
/// `apt-get` at once held 6.4 MB of 64 KB buffers); libssh2 hands out at most one packet
/// (<= 32 KB) a read anyway.
const READ_CHUNK: usize = 16 * 1024;

/// Writes `stdin` to a temp file beside `$1`, gives it the mode/owner/group in `$2..$4` (or
/// the existing file's, or 0644), and renames it over `$1`. Data only ever arrives as
/// positional parameters, never inside the script text.
const UPLOAD_SCRIPT: &str = r#"set -eu
path=$1 mode=$2 owner=$3 group=$4
dir=$(dirname -- "$path")
tmp=$(mktemp -- "$dir/.sesame.XXXXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
if [ -n "$mode" ]; then chmod -- "$mode" "$tmp"
elif [ -e "$path" ]; then chmod --reference="$path" -- "$tmp"
else chmod 0644 -- "$tmp"; fi
if [ -n "$owner" ]; then chown -- "$owner" "$tmp"
elif [ -e "$path" ]; then chown --reference="$path" -- "$tmp"; fi
if [ -n "$group" ]; then chgrp -- "$group" "$tmp"
elif [ -e "$path" ]; then chgrp --reference="$path" -- "$tmp"; fi
mv -f -- "$tmp" "$path"
trap - EXIT
"#;

/// A live SSH session to one host.
pub struct SshTransport {
    name: String,
    addr: String,
    session: Session,
    /// The session's socket, polled while libssh2 would block. Owned by `session`.
    fd: RawFd,
    command_timeout: Option<Duration>,
    /// Most bytes kept of each stream of one command.
    output_limit: usize,
    keepalive: bool,
    execs: usize,
    /// Logged in as root: becoming root needs no sudo (saves a PAM session per command).
    is_root: bool,
    /// This session's sudo prompt and success marker (`sudo -S` is answered only when asked).
    tokens: BecomeTokens,
    /// The proxy command carrying the session, if any; dropped (killed) after the session.
    _proxy: Option<ProxyChild>,
}

/// Why a non-blocking step stopped.
enum Stop {
    Deadline,
    Ssh(ssh2::Error),
    Io(io::Error),
}

impl SshTransport {
    /// Connect, verify the host key, authenticate. Nothing runs on the host before the key is
    /// verified.
    pub fn connect(spec: &ConnSpec) -> Result<Self, TransportError> {
        let addr = spec.addr();
        let started = Instant::now();
        let files = load_known_hosts(spec)?;
        let handshake_err = |e: ssh2::Error| {
            if e.code() == ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) {
                TransportError::ConnectTimeout {
                    addr: addr.clone(),
                    timeout: spec.connect_timeout,
                }
            } else {
                TransportError::Handshake {
                    addr: addr.clone(),
                    message: e.message().to_string(),
                }
            }
        };
        let mut session = Session::new().map_err(handshake_err)?;
        let (fd, mut proxy) = match &spec.proxy {
            None => {
                let tcp = tcp_connect(spec)?;
                let _ = tcp.set_nodelay(true);
                if let Some(ka) = spec.keepalive {
                    // The kernel notices a dead peer even while libssh2 only waits: our SSH
                    // keepalives go unacknowledged and the socket errors out after a few
                    // intervals.
                    let sock = socket2::SockRef::from(&tcp);
                    let _ = sock.set_tcp_keepalive(
                        &socket2::TcpKeepalive::new()
                            .with_time(ka)
                            .with_interval(ka)
                            .with_retries(4),
                    );
                    let _ = sock.set_tcp_user_timeout(Some(ka * 4));
                }
                let fd = tcp.as_raw_fd();
                session.set_tcp_stream(tcp);
                (fd, None)
            }
            Some(p) => {
                let (sock, child) = p.spawn(&spec.proxy_target())?;
                let fd = sock.as_raw_fd();
                session.set_tcp_stream(sock);
                (fd, Some(child))
            }
        };
        // A handshake that fails because the proxy gave up says what the proxy said.
        let handshake_err = |e: ssh2::Error, proxy: &mut Option<ProxyChild>| match (
            spec.proxy.as_ref(),
            proxy.as_mut().and_then(ProxyChild::failure),
        ) {
            (Some(p), Some(why)) => TransportError::Proxy {
                host: spec.name.clone(),
                proxy: p.to_string(),
                message: why,
            },
            _ => handshake_err(e),
        };
        session.set_blocking(true);
        session.set_timeout(millis(spec.connect_timeout));
        prefer_known_key_types(&session, &files, spec);
        session
            .handshake()
            .map_err(|e| handshake_err(e, &mut proxy))?;

        verify_host_key(&session, spec, &files)?;
        auth::authenticate(&session, spec).map_err(|e| match e {
            // A timeout while authenticating is a dead or stalled server, not bad credentials.
            TransportError::Auth { ref tried, .. } if tried.contains("Timed out") => {
                TransportError::ConnectTimeout {
                    addr: addr.clone(),
                    timeout: spec.connect_timeout,
                }
            }
            other => other,
        })?;

        session.set_timeout(0);
        if let Some(ka) = spec.keepalive {
            session.set_keepalive(false, ka.as_secs().clamp(2, u64::from(u32::MAX)) as u32);
        }
        session.set_blocking(false);
        tracing::debug!(
            host = %spec.name,
            addr = %addr,
            user = %spec.user,
            via = %spec.proxy.as_ref().map(ToString::to_string).unwrap_or_default(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ssh session established"
        );
        Ok(SshTransport {
            name: spec.name.clone(),
            addr,
            session,
            fd,
            command_timeout: spec.command_timeout,
            output_limit: spec.output_limit,
            keepalive: spec.keepalive.is_some(),
            execs: 0,
            is_root: spec.user == "root",
            tokens: BecomeTokens::random(),
            _proxy: proxy,
        })
    }

    fn session_err(&self, what: &str, stop: Stop) -> TransportError {
        let message = match stop {
            Stop::Deadline => format!("{what}: no answer within {CHANNEL_OPEN_TIMEOUT:?}"),
            Stop::Ssh(e) => format!("{what}: {}", e.message()),
            Stop::Io(e) => format!("{what}: {e}"),
        };
        TransportError::Session {
            host: self.name.clone(),
            message,
        }
    }

    /// Call `f` until libssh2 stops saying "would block", waiting on the socket in between.
    fn retry<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, Stop> {
        loop {
            match f() {
                Err(e) if e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) => {
                    self.wait_socket(deadline)?
                }
                other => return other.map_err(Stop::Ssh),
            }
        }
    }

    /// Sleep until the socket is ready in the direction libssh2 needs, the deadline passes, or
    /// a keepalive is due (at most a second, so keepalives and deadlines are honoured).
    fn wait_socket(&self, deadline: Option<Instant>) -> Result<(), Stop> {
        let now = Instant::now();
        let mut wait = Duration::from_secs(1);
        if let Some(d) = deadline {
            if now >= d {
                return Err(Stop::Deadline);
            }
            wait = wait.min(d - now);
        }
        if self.keepalive {
            match self.session.keepalive_send() {
                Ok(secs) => wait = wait.min(Duration::from_secs(u64::from(secs.max(1)))),
                Err(e) if e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) => {}
                Err(e) => return Err(Stop::Ssh(e)),
            }
        }
        let events = match self.session.block_directions() {
            BlockDirections::Inbound => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            // Nothing blocked: libssh2 has buffered work; come straight back, briefly.
            BlockDirections::None => {
                wait = wait.min(Duration::from_millis(1));
                libc::POLLIN
            }
        };
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; the fd is owned by the live
        // session, which outlives this call.
        let rc = unsafe { libc::poll(&mut pfd, 1, millis(wait).max(1) as libc::c_int) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Stop::Io(e));
            }
        }
        Ok(())
    }

    /// Open a channel, start `cmd`, feed its stdin, collect stdout/stderr, get its status.
    fn run(&mut self, cmd: &Cmd) -> Result<Output, TransportError> {
        let direct;
        let cmd = if self.is_root && cmd.get_become().is_some_and(Become::is_root) {
            direct = cmd.clone().escalate(None);
            &direct
        } else {
            cmd
        };
        tracing::debug!(host = %self.name, cmd = %cmd.display(), "exec");
        let timeout = cmd.get_timeout().or(self.command_timeout);
        let line = remote_line(cmd.render_with(&self.tokens), cmd, timeout);
        let mut feed = Feed::new(cmd, &self.tokens);
        let started = Instant::now();
        // A timeout too large to add to the clock is no timeout.
        let deadline = timeout.and_then(|t| started.checked_add(t));
        let open_deadline = Some(deadline.map_or(started + CHANNEL_OPEN_TIMEOUT, |d| {
            d.min(started + CHANNEL_OPEN_TIMEOUT)
        }));
        let timed_out = |cmd: &Cmd| TransportError::CommandTimeout {
            host: self.name.clone(),
            timeout: timeout.unwrap_or_default(),
            command: cmd.display(),
        };

        let mut ch = match self.retry(open_deadline, || self.session.channel_session()) {
            Ok(ch) => ch,
            Err(Stop::Deadline) if deadline.is_some_and(|d| Instant::now() >= d) => {
                return Err(timed_out(cmd))
            }
            Err(e) => return Err(self.session_err("opening a channel", e)),
        };
        match self.retry(open_deadline, || ch.exec(&line)) {
            Ok(()) => {}
            Err(Stop::Deadline) if deadline.is_some_and(|d| Instant::now() >= d) => {
                return Err(timed_out(cmd))
            }
            Err(e) => return Err(self.session_err("starting the command", e)),
        }
        // The line (a transaction script is tens of KB) is not needed while the command runs.
        drop(line);
        self.execs += 1;

        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let mut progress = feed.pump(&mut ch);
            let limit = self.output_limit;
            progress |= drain(&mut ch, 0, &mut buf, &mut out, limit)
                .map_err(|e| self.session_err("reading stdout", Stop::Io(e)))?;
            progress |= drain(&mut ch, 1, &mut buf, &mut err, limit)
                .map_err(|e| self.session_err("reading stderr", Stop::Io(e)))?;
            if out.len() > limit || err.len() > limit {
                // Closing the channel closes the command's pipes: a writer dies of SIGPIPE.
                let close_by = Some(Instant::now() + CLOSE_TIMEOUT);
                let _ = self.retry(close_by, || ch.close());
                return Err(TransportError::OutputLimit {
                    host: self.name.clone(),
                    stream: if out.len() > limit {
                        "stdout"
                    } else {
                        "stderr"
                    },
                    limit,
                    command: cmd.display(),
                });
            }
            progress |= feed.after_stderr(&mut err);
            if ch.eof() {
                break;
            }
            if !progress {
                match self.wait_socket(deadline) {
                    Ok(()) => {}
                    Err(Stop::Deadline) => {
                        let close_by = Some(Instant::now() + CLOSE_TIMEOUT);
                        let _ = self.retry(close_by, || ch.close());
                        tracing::debug!(host = %self.name, cmd = %cmd.display(), "command timed out");
                        return Err(timed_out(cmd));
                    }
                    Err(e) => return Err(self.session_err("waiting for output", e)),
                }
            }
        }

        // Close our side and wait for the server's close, which comes after the exit status.
        let close = self
            .retry(deadline, || ch.close())
            .and_then(|()| self.retry(deadline, || ch.wait_close()));
        match close {
            Ok(()) => {}
            Err(Stop::Deadline) => return Err(timed_out(cmd)),
            Err(e) => return Err(self.session_err("closing the channel", e)),
        }
        let signal = ch.exit_signal().ok().and_then(|s| s.exit_signal);
        let status = match signal {
            Some(_) => -1,
            None => ch
                .exit_status()
                .map_err(|e| self.session_err("reading the exit status", Stop::Ssh(e)))?,
        };
        feed.clean(&mut err);
        let output = Output {
            status,
            stdout: out,
            stderr: err,
        };
        tracing::debug!(
            host = %self.name,
            cmd = %cmd.display(),
            status,
            signal = signal.as_deref().unwrap_or(""),
            stdout_bytes = output.stdout.len(),
            stderr_bytes = output.stderr.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "exec done"
        );
        if let Some(b) = cmd.get_become() {
            if let Some(message) = become_failure(&output, b) {
                return Err(TransportError::Become {
                    host: self.name.clone(),
                    message,
                });
            }
        }
        Ok(output)
    }

    /// `host:port` this session is connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.name
    }

    fn exec(&mut self, cmd: &Cmd) -> Result<Output, TransportError> {
        self.run(cmd)
    }

    fn upload(
        &mut self,
        file: &Upload<'_>,
        escalate: Option<&Become>,
    ) -> Result<(), TransportError> {
        let cmd = upload_cmd(file, escalate);
        tracing::debug!(
            host = %self.name,
            path = file.path,
            bytes = file.content.len(),
            mode = ?file.mode.map(|m| format!("{m:04o}")),
            "upload"
        );
        let out = self.run(&cmd)?;
        if out.ok() {
            Ok(())
        } else {
            Err(TransportError::Upload {
                host: self.name.clone(),
                path: file.path.to_string(),
                message: format!("status {}: {}", out.status, out.stderr_str().trim()),
            })
        }
    }

    fn exec_count(&self) -> usize {
        self.execs
    }

    fn round_trip(&self) -> Option<super::RoundTrip> {
        tcp_round_trip(self.fd)
    }
}

/// The kernel's round-trip estimate of a TCP socket (`TCP_INFO`); None for anything else (the
/// socket pair of a proxy command) or before any round trip was measured.
#[cfg(target_os = "linux")]
fn tcp_round_trip(fd: RawFd) -> Option<super::RoundTrip> {
    // SAFETY: tcp_info is plain data (all-zero is valid); getsockopt writes at most `len`
    // bytes into it and only reads `fd`, which the session owns and keeps open.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (rc == 0 && info.tcpi_rtt > 0).then(|| super::RoundTrip {
        smoothed: Duration::from_micros(u64::from(info.tcpi_rtt)),
        variation: Duration::from_micros(u64::from(info.tcpi_rttvar)),
    })
}

#[cfg(not(target_os = "linux"))]
fn tcp_round_trip(_fd: RawFd) -> Option<super::RoundTrip> {
    None
}

impl Drop for SshTransport {
    fn drop(&mut self) {
        self.session.set_blocking(true);
        self.session.set_timeout(millis(CLOSE_TIMEOUT));
        let _ = self.session.disconnect(None, "sesame: done", None);
    }
}

/// The one command an upload is: the script, its positional data, the content on stdin.
fn upload_cmd(file: &Upload<'_>, escalate: Option<&Become>) -> Cmd {
    Cmd::sh(UPLOAD_SCRIPT)
        .arg("sh")
        .arg(file.path)
        .arg(file.mode.map(|m| format!("{m:04o}")).unwrap_or_default())
        .arg(file.owner.unwrap_or_default())
        .arg(file.group.unwrap_or_default())
        .stdin(file.content.to_vec())
        .escalate(escalate.cloned())
}

/// What one command's stdin gets, and when. Without a become password: its data, then EOF.
/// With one, nothing until sudo asks (then the password, once) or lets the command run (then
/// its data and EOF); a second prompt closes stdin so sudo gives up. See `sudo::SudoGate`.
struct Feed<'a> {
    cmd: &'a Cmd,
    gate: Option<SudoGate>,
    /// Bytes to write so far (grows as the gate opens) and how many are written; borrowed
    /// from the command when there is no gate.
    bytes: Cow<'a, [u8]>,
    written: usize,
    may_close: bool,
    closed: bool,
}

impl<'a> Feed<'a> {
    fn new(cmd: &'a Cmd, tokens: &BecomeTokens) -> Self {
        let gate = cmd.become_password().map(|_| SudoGate::new(tokens.clone()));
        let bytes = match gate {
            Some(_) => Cow::Owned(Vec::new()),
            None => Cow::Borrowed(cmd.stdin_slice().unwrap_or_default()),
        };
        Feed {
            cmd,
            may_close: gate.is_none(),
            gate,
            bytes,
            written: 0,
            closed: false,
        }
    }

    /// Write what may be written now, then EOF when allowed. `true` if anything moved.
    fn pump(&mut self, ch: &mut ssh2::Channel) -> bool {
        if self.closed {
            return false;
        }
        let mut progress = false;
        if self.written < self.bytes.len() {
            match ch.write(&self.bytes[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    progress |= n > 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The command closed its stdin or exited: stop feeding, keep reading.
                Err(_) => self.written = self.bytes.len(),
            }
        }
        if self.written >= self.bytes.len() && self.may_close {
            match ch.send_eof() {
                Ok(()) => {
                    self.closed = true;
                    progress = true;
                }
                Err(e) if e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) => {}
                Err(_) => self.closed = true,
            }
        }
        progress
    }

    /// Let the sudo gate look at new stderr. `true` if there is something new to write.
    fn after_stderr(&mut self, err: &mut Vec<u8>) -> bool {
        let Some(g) = self.gate.as_mut().filter(|g| !g.is_open()) else {
            return false;
        };
        match g.step(err) {
            GateStep::Wait => false,
            GateStep::SendPassword => {
                let pw = self.cmd.become_password().unwrap_or_default();
                let bytes = self.bytes.to_mut();
                bytes.extend_from_slice(pw.as_bytes());
                bytes.push(b'\n');
                true
            }
            // The password was wrong: close stdin rather than let sudo read the command's
            // data as further attempts.
            GateStep::Refused => {
                self.may_close = true;
                true
            }
            GateStep::Open => {
                let data = self.cmd.stdin_slice().unwrap_or_default();
                self.bytes.to_mut().extend_from_slice(data);
                self.may_close = true;
                true
            }
        }
    }

    /// stderr without sudo's prompts.
    fn clean(&self, err: &mut Vec<u8>) {
        if let Some(g) = &self.gate {
            g.clean(err);
        }
    }
}

/// The line the host runs. A user's command with a timeout runs under `timeout`, a little
/// longer than ours: when we give up, the host kills its process group rather than leave it
/// running (sesame's own scripts are never wrapped, see `Cmd::kill_on_timeout`).
fn remote_line(line: String, cmd: &Cmd, timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) if cmd.get_kill_on_timeout() => format!(
            "timeout -k 5 {} sh -c {}",
            t.as_secs().saturating_add(2),
            super::command::quote(&line)
        ),
        _ => line,
    }
}

/// Read everything available now from stream `id` (0 stdout, 1 stderr), stopping once `into`
/// holds more than `limit` bytes. `Ok(true)` if anything came.
fn drain(
    ch: &mut ssh2::Channel,
    id: i32,
    buf: &mut [u8],
    into: &mut Vec<u8>,
    limit: usize,
) -> io::Result<bool> {
    let mut stream = ch.stream(id);
    let mut any = false;
    loop {
        if into.len() > limit {
            return Ok(any);
        }
        match stream.read(buf) {
            Ok(0) => return Ok(any),
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                any = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
            Err(e) => return Err(e),
        }
    }
}

/// sudo's own complaints when it did not run the command. Only looked at when the command
/// used become and failed.
fn become_failure(out: &Output, b: &Become) -> Option<String> {
    if out.ok() {
        return None;
    }
    const SIGNS: [&str; 8] = [
        "a password is required",
        "incorrect password attempt",
        "sorry, try again",
        "no password was provided",
        "a terminal is required",
        "is not in the sudoers file",
        "is not allowed to execute",
        "unknown user",
    ];
    let stderr = out.stderr_str();
    let line = stderr.lines().find(|l| {
        let l = l.to_ascii_lowercase();
        (l.starts_with("sudo:") || l.starts_with("sorry")) && SIGNS.iter().any(|s| l.contains(s))
    })?;
    let user = if b.user.is_empty() { "root" } else { &b.user };
    let hint = if b.password.is_some() {
        "check the become password"
    } else {
        "sudo -n needs NOPASSWD, or give ansible_become_password, -K or SESAME_BECOME_PASSWORD"
    };
    Some(format!("sudo to {user}: {} ({hint})", line.trim()))
}

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u128::from(u32::MAX)) as u32
}

/// TCP connect to the first address that answers within the connect timeout.
fn tcp_connect(spec: &ConnSpec) -> Result<TcpStream, TransportError> {
    let addr = spec.addr();
    let addrs: Vec<SocketAddr> = (spec.address.as_str(), spec.port)
        .to_socket_addrs()
        .map_err(|source| TransportError::Connect {
            addr: addr.clone(),
            source,
        })?
        .collect();
    let tcp_timeout = spec
        .tcp_timeout
        .map_or(spec.connect_timeout, |t| t.min(spec.connect_timeout));
    let mut last: Option<io::Error> = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, tcp_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
            Err(TransportError::ConnectTimeout {
                addr,
                timeout: tcp_timeout,
            })
        }
        Some(source) => Err(TransportError::Connect { addr, source }),
        None => Err(TransportError::Connect {
            addr,
            source: io::Error::new(io::ErrorKind::NotFound, "name resolves to no address"),
        }),
    }
}

/// The user's known_hosts files, then the system's (OpenSSH's order).
fn load_known_hosts(spec: &ConnSpec) -> Result<Vec<Arc<KnownHostsFile>>, TransportError> {
    spec.known_hosts
        .iter()
        .chain(&spec.global_known_hosts)
        .map(|p| {
            KnownHostsFile::load_shared(p).map_err(|source| TransportError::KnownHosts {
                path: p.clone(),
                source,
            })
        })
        .collect()
}

/// Ask first for a host key type we already know for this host, as OpenSSH orders its
/// HostKeyAlgorithms, so a host known by its RSA key is not reported unknown because it
/// also has an ed25519 key.
fn prefer_known_key_types(session: &Session, files: &[Arc<KnownHostsFile>], spec: &ConnSpec) {
    let known = known_hosts::known_key_types(files, spec.known_hosts_name(), spec.port);
    if known.is_empty() {
        return;
    }
    let Ok(supported) = session.supported_algs(MethodType::HostKey) else {
        return;
    };
    let mut prefs: Vec<&str> = Vec::new();
    for t in &known {
        let one = [t.as_str()];
        let algs: &[&str] = if t == "ssh-rsa" {
            &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            &one
        };
        for a in algs {
            if supported.contains(a) && !prefs.contains(a) {
                prefs.push(a);
            }
        }
    }
    for a in &supported {
        if !prefs.contains(a) {
            prefs.push(a);
        }
    }
    if let Err(e) = session.method_pref(MethodType::HostKey, &prefs.join(",")) {
        tracing::debug!(host = %spec.name, error = %e, "cannot set host key preference");
    }
}

/// The host key check, before any authentication. A changed or revoked key always stops.
fn verify_host_key(
    session: &Session,
    spec: &ConnSpec,
    files: &[Arc<KnownHostsFile>],
) -> Result<(), TransportError> {
    let addr = spec.addr();
    let Some((blob, _)) = session.host_key() else {
        return Err(TransportError::Handshake {
            addr,
            message: "the server sent no host key".into(),
        });
    };
    let actual = known_hosts::fingerprint(blob);
    let name = spec.known_hosts_name();
    match known_hosts::check(files, name, spec.port, blob) {
        HostKeyStatus::Known { file, line } => {
            tracing::debug!(host = %spec.name, key = %actual, file = %file.display(), line, "host key known");
            Ok(())
        }
        HostKeyStatus::Changed {
            expected,
            file,
            line,
        } => Err(TransportError::HostKeyChanged {
            host: spec.name.clone(),
            addr,
            expected: format!("{} ({}:{line})", expected.join(", "), file.display()),
            actual,
        }),
        HostKeyStatus::Revoked { file, line } => Err(TransportError::HostKeyRevoked {
            host: spec.name.clone(),
            addr,
            fingerprint: actual,
            file: file.display().to_string(),
            line,
        }),
        HostKeyStatus::Unknown => match spec.host_key_policy {
            HostKeyPolicy::Yes => {
                if let Some((file, line)) = known_hosts::cert_authority_for(files, name, spec.port)
                {
                    return Err(TransportError::HostCertificateUnsupported {
                        host: spec.name.clone(),
                        addr: name.to_string(),
                        port: spec.port,
                        fingerprint: actual,
                        ca: format!("{}:{line}", file.display()),
                    });
                }
                let read: Vec<String> = spec
                    .known_hosts
                    .iter()
                    .chain(&spec.global_known_hosts)
                    .map(|p| p.display().to_string())
                    .collect();
                Err(TransportError::UnknownHostKey {
                    host: spec.name.clone(),
                    addr: name.to_string(),
                    port: spec.port,
                    fingerprint: actual,
                    files: if read.is_empty() {
                        "no known_hosts file".to_string()
                    } else {
                        read.join(", ")
                    },
                })
            }
            HostKeyPolicy::AcceptNew => {
                if let Some(first) = spec.known_hosts.first() {
                    known_hosts::append(first, name, spec.port, blob).map_err(|source| {
                        TransportError::KnownHosts {
                            path: first.clone(),
                            source,
                        }
                    })?;
                    tracing::info!(host = %spec.name, key = %actual, file = %first.display(), "new host key recorded");
                }
                Ok(())
            }
            HostKeyPolicy::No => {
                tracing::debug!(host = %spec.name, key = %actual, "unknown host key accepted (StrictHostKeyChecking=no)");
                Ok(())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_passes_data_as_arguments_only() {
        let f = Upload {
            path: "/etc/x; touch /tmp/pwned",
            content: b"data",
            mode: Some(0o640),
            owner: Some("$(id)"),
            group: None,
        };
        let c = upload_cmd(&f, None);
        let line = c.render();
        assert!(line.starts_with("sh -c 'set -eu"), "{line}");
        assert!(
            line.ends_with(" sh '/etc/x; touch /tmp/pwned' 0640 '$(id)' ''"),
            "{line}"
        );
        assert!(!UPLOAD_SCRIPT.contains("/etc/x"));
        assert_eq!(c.stdin_bytes().unwrap(), b"data");
        let b = Become {
            user: String::new(),
            password: Some("pw".into()),
        };
        let c = upload_cmd(&f, Some(&b));
        assert!(c
            .render()
            .starts_with("sudo -S -p '[sesame sudo] password:' -H -u root -- sh -c "));
        assert_eq!(c.stdin_bytes().unwrap(), b"data");
        assert!(!c.display().contains("pw\n"));
    }

    #[test]
    fn become_failures_are_recognised_only_on_failure() {
        let b = Become::default();
        let out = |status, stderr: &str| Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        let m = become_failure(&out(1, "sudo: a password is required\n"), &b).unwrap();
        assert!(
            m.contains("a password is required") && m.contains("NOPASSWD"),
            "{m}"
        );
        let pb = Become {
            user: "app".into(),
            password: Some("x".into()),
        };
        let m = become_failure(
            &out(1, "Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n"),
            &pb,
        )
        .unwrap();
        assert!(m.starts_with("sudo to app: Sorry, try again."), "{m}");
        assert_eq!(
            become_failure(&out(0, "sudo: a password is required"), &b),
            None
        );
        assert_eq!(become_failure(&out(1, "grep: no match"), &b), None);
        assert_eq!(
            become_failure(&out(2, "my tool: sorry, try again later"), &b),
            None
        );
    }

    #[test]
    fn unreachable_port_is_a_connect_error() {
        // Loopback only: a port nobody listens on is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut spec = ConnSpec::new("lo", "127.0.0.1", "root");
        spec.port = port;
        spec.known_hosts = Vec::new();
        let e = SshTransport::connect(&spec).err().unwrap();
        assert!(matches!(e, TransportError::Connect { .. }), "{e}");
        assert!(e.is_unreachable());
    }

    #[test]
    fn silent_server_times_out_the_handshake() {
        // A loopback listener that accepts and never speaks: the handshake must give up.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut spec = ConnSpec::new("lo", "127.0.0.1", "root");
        spec.port = port;
        spec.known_hosts = Vec::new();
        spec.connect_timeout = Duration::from_millis(500);
        let t = Instant::now();
        let e = SshTransport::connect(&spec).err().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(
            matches!(
                e,
                TransportError::ConnectTimeout { .. } | TransportError::Handshake { .. }
            ),
            "{e}"
        );
        assert!(e.is_unreachable());
        drop(listener);
    }
}
