//! Reaching a host through a jump host, as OpenSSH does: `ProxyCommand` (a command whose stdin
//! and stdout carry the SSH stream) and `ProxyJump`/`-J` (turned into `ssh -W host:port` to the
//! last hop, earlier hops passed on with `-J`, exactly how OpenSSH runs it). The jump hosts are
//! reached by the OpenSSH client with the user's own `~/.ssh/config`, keys and agent, as Ansible
//! does; the target's host key is still checked by sesame against its known_hosts.
//!
//! The command gets one end of a socket pair as stdin and stdout; libssh2 gets the other end,
//! so no thread copies bytes. The child is killed when the session ends.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TransportError;

/// What a proxy needs of the connection it carries (`ConnSpec::proxy_target` gives it): its
/// own type, so the proxy does not depend on the connection settings that hold it.
#[derive(Debug, Clone)]
pub struct ProxyTarget {
    /// The inventory name (`%n`, and errors).
    pub name: String,
    /// The host address (`%h`) and port (`%p`) the stream goes to.
    pub address: String,
    pub port: u16,
    /// The login user (`%r`).
    pub user: String,
    pub connect_timeout: Duration,
    /// `-F`: the jump's ssh reads the same client configuration.
    pub ssh_config: Option<PathBuf>,
}

/// How to reach a host other than by a direct TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// `ProxyCommand`: a command line with OpenSSH's `%h %p %r %n %%` tokens, run by `/bin/sh`.
    Command(String),
    /// `ProxyJump`/`-J`: comma-separated hops, each `[user@]host[:port]` or `ssh://...`.
    Jump(String),
}

impl Proxy {
    /// Parse `ProxyCommand`'s value; `None` for `none`. Unknown `%` tokens are errors (the
    /// `Err` is the reason).
    pub fn command(value: &str) -> Result<Option<Proxy>, String> {
        let v = value.trim();
        if v.is_empty() {
            return Err("ProxyCommand needs a command".into());
        }
        if v.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('h' | 'p' | 'r' | 'n' | '%') => {}
                    Some(t) => {
                        return Err(format!(
                            "unsupported token %{t} (sesame knows %h %p %r %n %%)"
                        ))
                    }
                    None => return Err("a lone % at the end".into()),
                }
            }
        }
        Ok(Some(Proxy::Command(v.to_string())))
    }

    /// Parse `ProxyJump`'s (or `-J`'s) value; `None` for `none`.
    pub fn jump(value: &str) -> Result<Option<Proxy>, String> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        if v.is_empty() {
            return Err("ProxyJump needs a host".into());
        }
        for hop in v.split(',') {
            check_hop(hop)?;
        }
        Ok(Some(Proxy::Jump(v.to_string())))
    }

    /// The host the last `ProxyJump` hop names (what ssh connects to before `-W`).
    pub fn last_hop_host(&self) -> Option<&str> {
        match self {
            Proxy::Jump(hops) => split_hop(hops.split(',').next_back()?.trim())
                .ok()
                .map(|(host, _)| host),
            Proxy::Command(_) => None,
        }
    }

    /// The proxy as OpenSSH options for `sesame ssh` (ssh expands the tokens itself).
    pub fn ssh_option(&self) -> String {
        match self {
            Proxy::Command(c) => format!("ProxyCommand={c}"),
            Proxy::Jump(j) => format!("ProxyJump={j}"),
        }
    }

    /// The program and arguments that carry the SSH stream to `spec`'s host. `Err` (the
    /// reason) when a `ProxyCommand` token would paste shell syntax into `/bin/sh -c`.
    pub fn argv(&self, spec: &ProxyTarget, ssh: &str) -> Result<Vec<String>, String> {
        Ok(match self {
            Proxy::Command(c) => vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("exec {}", expand_tokens(c, spec)?),
            ],
            Proxy::Jump(j) => {
                let hops: Vec<&str> = j.split(',').map(str::trim).collect();
                let (last, earlier) = hops.split_last().unwrap_or((&"", &[]));
                let target = if spec.address.contains(':') {
                    format!("[{}]:{}", spec.address, spec.port)
                } else {
                    format!("{}:{}", spec.address, spec.port)
                };
                let mut a: Vec<String> = vec![
                    ssh.into(),
                    "-o".into(),
                    "BatchMode=yes".into(),
                    "-o".into(),
                    format!("ConnectTimeout={}", spec.connect_timeout.as_secs().max(1)),
                ];
                if let Some(f) = &spec.ssh_config {
                    a.push("-F".into());
                    a.push(f.display().to_string());
                }
                if !earlier.is_empty() {
                    a.push("-J".into());
                    a.push(earlier.join(","));
                }
                a.push("-W".into());
                a.push(target);
                a.push(hop_uri(last));
                a
            }
        })
    }

    /// Start the proxy for `spec`: the socket libssh2 talks over, and the child to keep alive.
    pub fn spawn(&self, spec: &ProxyTarget) -> Result<(UnixStream, ProxyChild), TransportError> {
        let fail = |message: String| TransportError::Proxy {
            host: spec.name.clone(),
            proxy: self.to_string(),
            message,
        };
        let ssh = match self {
            Proxy::Jump(_) => which::which("ssh")
                .map_err(|_| {
                    fail("ProxyJump runs the OpenSSH client, and `ssh` is not in PATH".into())
                })?
                .display()
                .to_string(),
            Proxy::Command(_) => String::new(),
        };
        let argv = self.argv(spec, &ssh).map_err(fail)?;
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| fail(format!("cannot make a socket pair: {e}")))?;
        let stdin = theirs
            .try_clone()
            .map_err(|e| fail(format!("cannot duplicate the socket: {e}")))?;
        tracing::debug!(host = %spec.name, argv = ?argv, "starting proxy");
        // Its own process group: a Ctrl-C at the terminal lets sesame finish its hosts
        // gracefully, so it must not kill the proxies their sessions run through.
        let mut child = Command::new(&argv[0])
            .process_group(0)
            .args(&argv[1..])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(stdin)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot start `{}`: {e}", argv[0])))?;
        // Keep the proxy's complaints (its stderr) for the error message, bounded.
        let said = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let said = Arc::clone(&said);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = said.lock() {
                        if s.len() < 4096 {
                            s.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                }
            });
        }
        Ok((ours, ProxyChild { child, said }))
    }
}

impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ssh_option())
    }
}

/// A running proxy command; killed (and reaped) when dropped.
pub struct ProxyChild {
    child: Child,
    said: Arc<Mutex<String>>,
}

impl ProxyChild {
    /// Why the proxy failed, when it has exited: its exit status and what it printed. Waits a
    /// moment for a proxy that is just dying (its socket closed first).
    pub fn failure(&mut self) -> Option<String> {
        let end = Instant::now() + Duration::from_millis(500);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Let the stderr reader catch the last words.
                    std::thread::sleep(Duration::from_millis(50));
                    let said = self
                        .said
                        .lock()
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default();
                    return Some(if said.is_empty() {
                        format!("the proxy exited ({status})")
                    } else {
                        format!("the proxy exited ({status}): {said}")
                    });
                }
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }
}

impl Drop for ProxyChild {
    fn drop(&mut self) {
        // The session closed its end: a well-behaved proxy exits by itself.
        let end = Instant::now() + Duration::from_millis(300);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `%h` address, `%p` port, `%r` user, `%n` inventory name, `%%` a percent sign. The text goes
/// to `/bin/sh -c`, so a value used by the template that holds shell syntax is refused, as
/// OpenSSH 9.6 refuses such host and user names (CVE-2023-51385): `Err` names it.
fn expand_tokens(template: &str, spec: &ProxyTarget) -> Result<String, String> {
    let value = |t: char| match t {
        'h' => Some(("%h (the host address)", spec.address.clone())),
        'p' => Some(("%p", spec.port.to_string())),
        'r' => Some(("%r (the user)", spec.user.clone())),
        'n' => Some(("%n (the inventory name)", spec.name.clone())),
        _ => None,
    };
    let mut refused = None;
    let out = super::ssh_text::expand_percent(template, |t| {
        let (what, v) = value(t)?;
        if refused.is_none() && !shell_safe_token(&v) {
            refused = Some(format!(
                "{what} is {v:?}, which holds shell syntax or control characters; \
                 refused before running the ProxyCommand"
            ));
        }
        Some(v)
    });
    refused.map_or(Ok(out), Err)
}

/// Whether a token's value may be pasted into a shell line: OpenSSH's `valid_hostname` rule
/// (no quote, `$`, `` ` ``, `\`, `;`, `&`, `<`, `>`, `|`, braces or parentheses, no whitespace or
/// control character, no leading `-`), which user names and inventory names follow here too.
pub(crate) fn shell_safe_token(v: &str) -> bool {
    !v.starts_with('-')
        && !v
            .chars()
            .any(|c| "'`\"$\\;&<>|(){}".contains(c) || c.is_whitespace() || c.is_control())
}

/// One `ProxyJump` hop: `[user@]host[:port]` (IPv6 in brackets) or an `ssh://` URI.
fn check_hop(hop: &str) -> Result<(), String> {
    let h = hop.trim();
    let (host, port) = split_hop(h)?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{h}` is not [user@]host[:port]"));
    }
    if let Some(p) = port {
        if !matches!(p.parse::<u16>(), Ok(n) if n > 0) {
            return Err(format!("`{h}`: `{p}` is not a port"));
        }
    }
    Ok(())
}

/// A hop's host and port text: `[user@]host[:port]`, `[v6]:port`, or an `ssh://` URI.
fn split_hop(hop: &str) -> Result<(&str, Option<&str>), String> {
    let rest = hop.strip_prefix("ssh://").unwrap_or(hop);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
    if let Some(b) = host_port.strip_prefix('[') {
        return match b.split_once(']') {
            Some((host, tail)) => Ok((host, tail.strip_prefix(':'))),
            None => Err(format!("`{hop}`: unclosed [")),
        };
    }
    Ok(match host_port.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (host_port, None),
    })
}

/// The last hop as an ssh destination: `ssh://` form, so `user@host:port` keeps its port.
fn hop_uri(hop: &str) -> String {
    if hop.starts_with("ssh://") {
        hop.to_string()
    } else {
        format!("ssh://{hop}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProxyTarget {
        ProxyTarget {
            name: "web1".into(),
            address: "198.19.4.12".into(),
            port: 2222,
            user: "deploy".into(),
            connect_timeout: Duration::from_secs(10),
            ssh_config: None,
        }
    }

    #[test]
    fn command_tokens_are_expanded_and_checked() {
        let p = Proxy::command("nc -q0 %h %p # %r@%n 100%%")
            .unwrap()
            .unwrap();
        assert_eq!(
            p.argv(&spec(), "ssh").unwrap(),
            vec![
                "/bin/sh",
                "-c",
                "exec nc -q0 198.19.4.12 2222 # deploy@web1 100%"
            ]
        );
        assert_eq!(Proxy::command("none").unwrap(), None);
        assert!(Proxy::command("nc %C").unwrap_err().contains("%C"));
        assert!(Proxy::command("nc %").is_err());
        assert!(Proxy::command(" ").is_err());
    }

    #[test]
    fn proxy_command_refuses_shell_syntax_in_expanded_values() {
        let p = Proxy::command("nc %h %p").unwrap().unwrap();
        for bad in [
            "x;touch /tmp/p",
            "x$(id)",
            "x`id`",
            "a b",
            "x\nid",
            "-oProxyCommand=id",
            "x|id",
            "x&",
            "x>f",
            "'x'",
        ] {
            let mut s = spec();
            s.address = bad.into();
            let e = p.argv(&s, "ssh").unwrap_err();
            assert!(e.contains("%h") && e.contains(&format!("{bad:?}")), "{e}");
        }
        // %r and %n are checked when the template uses them, and only then.
        let mut s = spec();
        s.user = "u;id".into();
        s.name = "web 1".into();
        assert!(p.argv(&s, "ssh").is_ok());
        let pr = Proxy::command("ssh -l %r gw nc %h %p").unwrap().unwrap();
        assert!(pr.argv(&s, "ssh").unwrap_err().contains("%r"));
        let pn = Proxy::command("sesame knock --proxy %n %p")
            .unwrap()
            .unwrap();
        assert!(pn.argv(&s, "ssh").unwrap_err().contains("%n"));
        // Ordinary names, IPv6 addresses and user names pass.
        let mut ok = spec();
        ok.address = "fd5e:5a3e:0:4::12".into();
        ok.name = "web-1.example_org".into();
        ok.user = "deploy@corp".into();
        assert!(pn.argv(&ok, "ssh").is_ok());
        assert!(pr.argv(&ok, "ssh").is_ok());
    }

    #[test]
    fn jump_becomes_ssh_w_to_the_last_hop() {
        let p = Proxy::jump("ops@gw1:2200,bastion").unwrap().unwrap();
        assert_eq!(
            p.argv(&spec(), "/usr/bin/ssh").unwrap(),
            vec![
                "/usr/bin/ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-J",
                "ops@gw1:2200",
                "-W",
                "198.19.4.12:2222",
                "ssh://bastion"
            ]
        );
        let mut with_config = spec();
        with_config.ssh_config = Some("/etc/fleet/ssh_config".into());
        let a = Proxy::jump("gw")
            .unwrap()
            .unwrap()
            .argv(&with_config, "ssh")
            .unwrap();
        assert!(
            a.windows(2).any(|w| w == ["-F", "/etc/fleet/ssh_config"]),
            "the jump ssh reads the same config: {a:?}"
        );
        let mut s6 = spec();
        s6.address = "fd5e:5a3e:0:4::12".into();
        let p = Proxy::jump("ssh://root@[fd5e:5a3e:0:4::11]:22")
            .unwrap()
            .unwrap();
        let a = p.argv(&s6, "ssh").unwrap();
        assert_eq!(
            &a[5..],
            [
                "-W",
                "[fd5e:5a3e:0:4::12]:2222",
                "ssh://root@[fd5e:5a3e:0:4::11]:22"
            ]
        );
        assert_eq!(Proxy::jump("none").unwrap(), None);
        let hops = Proxy::jump("ops@gw1:2200,root@[fd5e::11]:22")
            .unwrap()
            .unwrap();
        assert_eq!(hops.last_hop_host(), Some("fd5e::11"));
        let one = Proxy::jump("ssh://ops@bastion.lab:2222").unwrap().unwrap();
        assert_eq!(one.last_hop_host(), Some("bastion.lab"));
        for bad in ["", "gw:ssh", "gw:0", "[::1", "a b", "gw1,"] {
            assert!(Proxy::jump(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            p.ssh_option(),
            "ProxyJump=ssh://root@[fd5e:5a3e:0:4::11]:22"
        );
    }
}
