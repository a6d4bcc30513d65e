//! SSH user authentication in a fixed order: the explicit private keys, then EVERY identity of
//! the ssh-agent (libssh2's `userauth_agent` stops after the first), then the default
//! `~/.ssh/id_*` keys when no key was given, then the password (or keyboard-interactive with
//! the password). Failure lists what was tried; no secret ever appears in it.

use std::path::{Path, PathBuf};

use ssh2::{Prompt, Session};

use super::spec::ConnSpec;
use super::TransportError;

/// Authenticate `session` (blocking, with its timeout set) as `spec.user`.
pub(crate) fn authenticate(session: &Session, spec: &ConnSpec) -> Result<(), TransportError> {
    let user = spec.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let fail = |tried: Vec<String>| TransportError::Auth {
        user: user.to_string(),
        addr: spec.addr(),
        tried: if tried.is_empty() {
            "nothing: no key, agent or password available".to_string()
        } else {
            tried.join("; ")
        },
    };

    // Asking for the methods sends the `none` request, which some servers accept.
    let methods = match session.auth_methods(user) {
        Ok(m) => m.to_string(),
        Err(_) if session.authenticated() => return Ok(()),
        Err(e) => {
            tried.push(format!("listing methods failed: {}", e.message()));
            return Err(fail(tried));
        }
    };
    let offers = |m: &str| methods.split(',').any(|x| x == m);

    if offers("publickey") {
        for key in &spec.key_files {
            if try_key(session, user, key, spec, &mut tried) {
                return Ok(());
            }
        }
        if let Some(sock) = &spec.agent_socket {
            if try_agent(session, user, sock, &mut tried) {
                return Ok(());
            }
        }
        if spec.key_files.is_empty() {
            for key in default_keys() {
                if try_key(session, user, &key, spec, &mut tried) {
                    return Ok(());
                }
            }
        }
    } else if !spec.key_files.is_empty() || spec.agent_socket.is_some() {
        tried.push(format!("keys skipped: server offers only {methods}"));
    }

    match &spec.password {
        Some(_) if !spec.password_auth => {
            tried.push("password (PasswordAuthentication=no)".into());
        }
        Some(pw) if offers("password") => match session.userauth_password(user, pw) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("password (not accepted)".into()),
            Err(e) => tried.push(format!("password ({})", e.message())),
        },
        Some(pw) if offers("keyboard-interactive") => {
            let mut prompter = PasswordPrompter { password: pw };
            match session.userauth_keyboard_interactive(user, &mut prompter) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push("keyboard-interactive (not accepted)".into()),
                Err(e) => tried.push(format!("keyboard-interactive ({})", e.message())),
            }
        }
        Some(_) => tried.push(format!("password (server offers only {methods})")),
        None => {}
    }
    Err(fail(tried))
}

/// One private key file; records the outcome in `tried`.
fn try_key(
    session: &Session,
    user: &str,
    key: &Path,
    spec: &ConnSpec,
    tried: &mut Vec<String>,
) -> bool {
    if !key.is_file() {
        tried.push(format!("key {} (no such file)", key.display()));
        return false;
    }
    // libssh2 derives the public key from the private one; a stale `.pub` beside it cannot
    // mislead it that way.
    match session.userauth_pubkey_file(user, None, key, spec.key_passphrase.as_deref()) {
        Ok(()) if session.authenticated() => true,
        Ok(()) => {
            tried.push(format!("key {} (not accepted)", key.display()));
            false
        }
        Err(e) => {
            tried.push(format!("key {} ({})", key.display(), e.message()));
            false
        }
    }
}

/// Every identity the agent at `sock` holds, in its order.
fn try_agent(session: &Session, user: &str, sock: &Path, tried: &mut Vec<String>) -> bool {
    let label = format!("agent {}", sock.display());
    let mut agent = match session.agent() {
        Ok(a) => a,
        Err(e) => {
            tried.push(format!("{label} ({})", e.message()));
            return false;
        }
    };
    if let Err(e) = agent.set_identity_path(sock) {
        tried.push(format!("{label} ({})", e.message()));
        return false;
    }
    if let Err(e) = agent.connect() {
        tried.push(format!("{label} (cannot connect: {})", e.message()));
        return false;
    }
    let identities = match agent.list_identities().and_then(|()| agent.identities()) {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("{label} (cannot list identities: {})", e.message()));
            let _ = agent.disconnect();
            return false;
        }
    };
    let mut refused = Vec::new();
    for id in &identities {
        match agent.userauth(user, id) {
            Ok(()) if session.authenticated() => {
                let _ = agent.disconnect();
                return true;
            }
            Ok(()) => refused.push(id.comment().to_string()),
            Err(_) => refused.push(id.comment().to_string()),
        }
    }
    let _ = agent.disconnect();
    if identities.is_empty() {
        tried.push(format!("{label} (no identities)"));
    } else {
        tried.push(format!(
            "{label} ({} identities refused: {})",
            refused.len(),
            refused.join(", ")
        ));
    }
    false
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` that exist, as ssh tries them by default.
fn default_keys() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|k| PathBuf::from(&home).join(".ssh").join(k))
        .filter(|p| p.is_file())
        .collect()
}

/// Answers every keyboard-interactive prompt with the password (PAM asks `Password: `).
struct PasswordPrompter<'a> {
    password: &'a str,
}

impl ssh2::KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        prompts.iter().map(|_| self.password.to_string()).collect()
    }
}
