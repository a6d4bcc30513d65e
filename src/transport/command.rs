//! Commands as values: every argument is quoted for the remote POSIX shell, secrets are masked
//! in every rendering meant for humans, and privilege escalation is added in exactly one place
//! (`Cmd::render`). Never build a shell line by formatting user data into it.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// One piece of a command line.
#[derive(Clone, PartialEq, Eq)]
enum Part {
    /// A literal argument, quoted when rendered. Borrowed for sesame's own static scripts, so
    /// the (large) transaction scripts are not copied per host and per clone.
    Arg(Cow<'static, str>),
    /// A literal argument that is secret: quoted when rendered, `********` when displayed.
    Secret(String),
    /// Shell syntax written by sesame itself (a pipe, `&&`, a redirection). Never user data.
    Syntax(&'static str),
    /// The login session's `$SSH_CONNECTION`, expanded before any sudo (which drops it).
    SshConnection,
    /// Commands run one after the other by one script (`Cmd::batch`), quoted as one word.
    Batch(Vec<Cmd>),
}

/// How to become another user on the host.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Become {
    /// Target user (`root` when empty).
    pub user: String,
    /// Password for `sudo -S`; `None` means `sudo -n` (passwordless or fail at once).
    pub password: Option<String>,
}

impl Become {
    /// Whether the target user is root (`root` or unset).
    pub fn is_root(&self) -> bool {
        self.user.is_empty() || self.user == "root"
    }
}

impl fmt::Debug for Become {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Become")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

/// A remote command: parts joined with spaces, optional become, optional stdin and timeout.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Cmd {
    parts: Vec<Part>,
    escalate: Option<Become>,
    /// Shared, so cloning a command (run directly when already root) copies no data.
    stdin: Option<std::sync::Arc<[u8]>>,
    stdin_secret: bool,
    timeout: Option<Duration>,
    kill_on_timeout: bool,
}

/// Quote one word for a POSIX shell: safe words stay bare, everything else goes in single quotes.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

impl Cmd {
    /// A command running `program` (quoted like any argument).
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            parts: vec![Part::Arg(Cow::Owned(program.into()))],
            ..Default::default()
        }
    }

    /// `sh -c SCRIPT` where SCRIPT is sesame's own shell code (its data passed as `$1`…).
    pub fn sh(script: impl Into<String>) -> Self {
        Cmd::new("sh").arg("-c").arg(script)
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.parts.push(Part::Arg(Cow::Owned(a.into())));
        self
    }

    /// `sh -c SCRIPT` for a script that lives for the whole process (built once): every host's
    /// command shares it instead of holding a copy while the command runs.
    pub fn sh_static(script: &'static str) -> Self {
        let mut c = Cmd::new("sh").arg("-c");
        c.parts.push(Part::Arg(Cow::Borrowed(script)));
        c
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.parts
            .extend(args.into_iter().map(|a| Part::Arg(Cow::Owned(a.into()))));
        self
    }

    /// An argument whose value must never be shown (passwords, knock sequences).
    pub fn secret(mut self, a: impl Into<String>) -> Self {
        self.parts.push(Part::Secret(a.into()));
        self
    }

    /// Shell syntax between parts (`|`, `&&`, `>`). Only constant strings from sesame's code.
    pub fn syntax(mut self, s: &'static str) -> Self {
        self.parts.push(Part::Syntax(s));
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into().into());
        self
    }

    /// An argument holding `$SSH_CONNECTION` as the host's login shell sees it (how the host
    /// sees the controller's address), preserved across become.
    pub fn ssh_connection_arg(mut self) -> Self {
        self.parts.push(Part::SshConnection);
        self
    }

    /// Stdin that must never be logged.
    pub fn secret_stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into().into());
        self.stdin_secret = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// A command of the user's (ad-hoc, `command`/`shell`): when it times out, the host kills
    /// it too (its process group), instead of leaving it running. sesame's own scripts are not
    /// marked: a transaction's dead-man switch must outlive a timeout.
    pub fn kill_on_timeout(mut self) -> Self {
        self.kill_on_timeout = true;
        self
    }

    pub fn get_kill_on_timeout(&self) -> bool {
        self.kill_on_timeout
    }

    pub fn escalate(mut self, b: Option<Become>) -> Self {
        self.escalate = b;
        self
    }

    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub fn get_become(&self) -> Option<&Become> {
        self.escalate.as_ref()
    }

    /// The command's own stdin data. The become password is never part of it: a transport
    /// sends the password only when sudo shows its prompt (`become_password`, `BecomeTokens`).
    pub fn stdin_bytes(&self) -> Option<Vec<u8>> {
        self.stdin.as_deref().map(<[u8]>::to_vec)
    }

    /// The command's own stdin data, borrowed.
    pub fn stdin_slice(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// The commands of a batch (`None` for any other command).
    pub fn batch_steps(&self) -> Option<&[Cmd]> {
        self.parts.iter().find_map(|p| match p {
            Part::Batch(steps) => Some(steps.as_slice()),
            _ => None,
        })
    }

    /// Whether this command can run inside a batch: no become of its own (the batch has one)
    /// and no `$SSH_CONNECTION` (sudo drops it).
    pub fn batchable(&self) -> bool {
        self.escalate.is_none() && !self.parts.contains(&Part::SshConnection)
    }

    /// Several commands as one remote command (see `transport::batch`): each runs with its
    /// own stdin, stdout and stderr, in order, and the batch stops after the first that fails
    /// (`batch::split` reads the results back). The batch's stdin is the commands' stdin one
    /// after the other (secret if any is); its timeout the sum of those given (the transport's
    /// default when none is: apt's long one covers the short steps batched with it); the host
    /// kills it on a timeout if any command asks so. Become is the caller's,
    /// for the whole batch: only `batchable` commands go in.
    pub fn batch(steps: Vec<Cmd>) -> Cmd {
        let mut stdin = Vec::new();
        let mut timeout: Option<Duration> = None;
        for s in &steps {
            stdin.extend_from_slice(s.stdin.as_deref().unwrap_or_default());
            if let Some(t) = s.timeout {
                timeout = Some(timeout.unwrap_or_default().saturating_add(t));
            }
        }
        Cmd {
            stdin_secret: steps.iter().any(|s| s.stdin_secret),
            kill_on_timeout: steps.iter().any(|s| s.kill_on_timeout),
            parts: vec![
                Part::Arg("sh".into()),
                Part::Arg("-c".into()),
                Part::Batch(steps),
                Part::Arg("sesame-batch".into()),
            ],
            escalate: None,
            stdin: (!stdin.is_empty()).then(|| stdin.into()),
            timeout,
        }
    }

    /// The password sudo asks for, when become uses one (`sudo -S`).
    pub fn become_password(&self) -> Option<&str> {
        self.escalate.as_ref().and_then(|b| b.password.as_deref())
    }

    fn join(&self, masked: bool) -> String {
        let mut out = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match p {
                Part::Arg(a) => out.push_str(&quote(a)),
                Part::Secret(s) if masked => {
                    let _ = s;
                    out.push_str("'********'")
                }
                Part::Secret(s) => out.push_str(&quote(s)),
                Part::Syntax(s) => out.push_str(s),
                Part::Batch(steps) => {
                    let lines: Vec<(String, usize)> = steps
                        .iter()
                        .map(|c| (c.join(masked), c.stdin.as_ref().map_or(0, |d| d.len())))
                        .collect();
                    out.push_str(&quote(&super::batch::script(&lines)));
                }
                Part::SshConnection if self.escalate.is_some() => out.push_str("\"$1\""),
                Part::SshConnection => out.push_str("\"$SSH_CONNECTION\""),
            }
        }
        out
    }

    /// The exact line sent to the remote shell, with become applied (the fixed test tokens when
    /// sudo asks a password). Contains secrets: never log.
    pub fn render(&self) -> String {
        self.wrap(false, &BecomeTokens::fixed())
    }

    /// The exact line for a session whose sudo prompt and success marker are `tokens`.
    pub fn render_with(&self, tokens: &BecomeTokens) -> String {
        self.wrap(false, tokens)
    }

    /// The line as shown to humans and logs: secrets masked.
    pub fn display(&self) -> String {
        self.wrap(true, &BecomeTokens::fixed())
    }

    fn wrap(&self, masked: bool, tokens: &BecomeTokens) -> String {
        let mut line = wrap_become(&self.join(masked), self.escalate.as_ref(), tokens);
        if self.escalate.is_some() && self.parts.contains(&Part::SshConnection) {
            line.push_str(" sesame \"$SSH_CONNECTION\"");
        }
        line
    }

    /// Whether stdin carries a secret (become password or secret data).
    pub fn stdin_is_secret(&self) -> bool {
        self.stdin_secret || self.escalate.as_ref().is_some_and(|b| b.password.is_some())
    }
}

/// How a transport tells, on one session, whether sudo asks for the password: sudo prints
/// `prompt` (unique to the session) on stderr when it wants it; the become shell prints
/// `marker` on stderr before the command runs, once sudo let it through. The password is sent
/// only after the prompt, the command's stdin only after the marker (as Ansible does), so a
/// NOPASSWD sudo never hands the password to the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BecomeTokens {
    pub prompt: String,
    pub marker: String,
}

impl BecomeTokens {
    /// Fresh random tokens for one session.
    pub fn random() -> Self {
        let mut bytes = [0u8; 12];
        // SAFETY: getrandom writes at most `len` bytes into the valid buffer.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        if n != bytes.len() as isize {
            // No kernel randomness: time and pid still make a prompt no command prints by chance.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let mix = t ^ (u128::from(std::process::id()) << 64);
            bytes.copy_from_slice(&mix.to_le_bytes()[..12]);
        }
        let id = hex::encode(bytes);
        BecomeTokens {
            prompt: format!("[sesame sudo via {id}] password:"),
            marker: format!("SESAME-BECOME-OK-{id}"),
        }
    }

    /// Constant tokens, for rendering in tests and logs.
    pub fn fixed() -> Self {
        BecomeTokens {
            prompt: "[sesame sudo] password:".into(),
            marker: "SESAME-BECOME-OK".into(),
        }
    }
}

/// The one place privilege escalation is written: `sudo -n` without a password; with one,
/// `sudo -S` with the session's prompt, and the success marker printed on stderr before the
/// command. The inner line runs under `sh -c`.
fn wrap_become(inner: &str, escalate: Option<&Become>, tokens: &BecomeTokens) -> String {
    let Some(b) = escalate else {
        return inner.to_string();
    };
    let user = if b.user.is_empty() { "root" } else { &b.user };
    if b.password.is_some() {
        let inner = format!("echo {} >&2; {inner}", quote(&tokens.marker));
        format!(
            "sudo -S -p {} -H -u {} -- sh -c {}",
            quote(&tokens.prompt),
            quote(user),
            quote(&inner)
        )
    } else {
        format!("sudo -n -H -u {} -- sh -c {}", quote(user), quote(inner))
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_one_word() {
        let c = Cmd::new("echo")
            .arg("; touch /tmp/pwned")
            .arg("$(id)")
            .arg("a\nb")
            .arg("it's");
        assert_eq!(
            c.render(),
            "echo '; touch /tmp/pwned' '$(id)' 'a\nb' 'it'\\''s'"
        );
    }

    #[test]
    fn secrets_are_masked_in_display_only() {
        let c = Cmd::new("knock").arg("h").secret("7000,8000,9000");
        assert_eq!(c.display(), "knock h '********'");
        assert_eq!(c.render(), "knock h 7000,8000,9000");
    }

    #[test]
    fn become_wraps_once_and_masks_password() {
        let b = Become {
            user: String::new(),
            password: Some("pw".into()),
        };
        let c = Cmd::new("id").arg("-u").escalate(Some(b));
        assert_eq!(
            c.render(),
            "sudo -S -p '[sesame sudo] password:' -H -u root -- sh -c 'echo SESAME-BECOME-OK >&2; id -u'"
        );
        // The password is not stdin data: the transport sends it only when sudo asks.
        assert_eq!(c.stdin_bytes(), None);
        assert_eq!(c.become_password(), Some("pw"));
        let t = BecomeTokens::random();
        assert_ne!(t, BecomeTokens::random());
        assert!(c.render_with(&t).contains(&quote(&t.prompt)));
        assert!(c.stdin_is_secret());
        assert!(!format!("{:?}", c.get_become()).contains("pw\""));
    }

    #[test]
    fn ssh_connection_survives_become() {
        let c = Cmd::new("echo").ssh_connection_arg();
        assert_eq!(c.render(), "echo \"$SSH_CONNECTION\"");
        let c = c.escalate(Some(Become::default()));
        assert_eq!(
            c.render(),
            "sudo -n -H -u root -- sh -c 'echo \"$1\"' sesame \"$SSH_CONNECTION\""
        );
    }

    #[test]
    fn empty_argument_is_quoted() {
        assert_eq!(quote(""), "''");
    }
}
