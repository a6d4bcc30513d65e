//! Answering sudo's password prompt on one channel, as Ansible does: the password is written
//! only after sudo printed the session's prompt on stderr, the command's own stdin only after
//! the become shell printed its success marker. A NOPASSWD sudo never sees (nor passes on to
//! the command) the password; a wrong password is sent once, never again. Pure: the transport
//! feeds it stderr and does the writing.

use super::command::BecomeTokens;

/// Where the become handshake of one command stands.
#[derive(Debug)]
pub struct SudoGate {
    tokens: BecomeTokens,
    prompts_answered: usize,
    /// stderr's length when the password was sent: a prompt after it means "try again".
    answered_at: Option<usize>,
    opened: bool,
}

/// What the transport must do after new stderr arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum GateStep {
    /// Nothing yet: keep reading, write nothing.
    Wait,
    /// sudo asks for the password: write it (with a newline), once.
    SendPassword,
    /// sudo asked again, so the password was wrong: close stdin, sudo gives up.
    Refused,
    /// The command runs as the target user: its stdin may flow now.
    Open,
}

impl SudoGate {
    pub fn new(tokens: BecomeTokens) -> Self {
        SudoGate {
            tokens,
            prompts_answered: 0,
            answered_at: None,
            opened: false,
        }
    }

    /// Whether the marker was seen (the command's stdin may be sent).
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// Look at everything read from stderr so far; remove the marker line once it shows.
    pub fn step(&mut self, stderr: &mut Vec<u8>) -> GateStep {
        if self.opened {
            return GateStep::Wait;
        }
        if let Some(at) = find(stderr, self.tokens.marker.as_bytes()) {
            let mut end = at + self.tokens.marker.len();
            if stderr.get(end) == Some(&b'\n') {
                end += 1;
            }
            stderr.drain(at..end);
            self.opened = true;
            return GateStep::Open;
        }
        let prompts = count(stderr, self.tokens.prompt.as_bytes());
        // A sudoers `passprompt_override` replaces our prompt by its own: a stderr that ends
        // in "password:" is a prompt too, or sudo would wait for the password until timeout.
        let since = self.answered_at.unwrap_or(0);
        let own_prompt = prompts == 0 && ends_with_password_prompt(&stderr[since..]);
        if prompts > self.prompts_answered || own_prompt {
            self.prompts_answered = prompts.max(self.prompts_answered + 1);
            return if self.answered_at.is_none() {
                self.answered_at = Some(stderr.len());
                GateStep::SendPassword
            } else {
                self.answered_at = Some(stderr.len());
                GateStep::Refused
            };
        }
        GateStep::Wait
    }

    /// stderr without sudo's prompts (what the operator sees).
    pub fn clean(&self, stderr: &mut Vec<u8>) {
        let p = self.tokens.prompt.as_bytes();
        while let Some(at) = find(stderr, p) {
            stderr.drain(at..at + p.len());
        }
    }
}

/// Whether `text` ends with a password prompt sudo wrote in its own words (`Password:`,
/// `[sudo] password for ops: `).
fn ends_with_password_prompt(text: &[u8]) -> bool {
    let t = String::from_utf8_lossy(text);
    let last = t.rsplit('\n').next().unwrap_or("");
    let last = last.trim_end_matches(' ').to_ascii_lowercase();
    last.ends_with(':') && last.contains("password")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> (SudoGate, BecomeTokens) {
        let t = BecomeTokens::fixed();
        (SudoGate::new(t.clone()), t)
    }

    #[test]
    fn nopasswd_sudo_opens_without_the_password() {
        let (mut g, t) = gate();
        let mut err = b"sudo: unable to resolve host x\n".to_vec();
        assert_eq!(g.step(&mut err), GateStep::Wait);
        err.extend_from_slice(format!("{}\nwarning from the command\n", t.marker).as_bytes());
        assert_eq!(g.step(&mut err), GateStep::Open);
        assert_eq!(
            err,
            b"sudo: unable to resolve host x\nwarning from the command\n"
        );
        assert!(g.is_open());
        // Later output that looks like the prompt is the command's: never answered.
        err.extend_from_slice(t.prompt.as_bytes());
        assert_eq!(g.step(&mut err), GateStep::Wait);
    }

    #[test]
    fn a_prompt_in_sudos_own_words_is_answered_once_too() {
        let (mut g, t) = gate();
        let mut err = b"[sudo] password for ops: ".to_vec();
        assert_eq!(g.step(&mut err), GateStep::SendPassword);
        assert_eq!(g.step(&mut err), GateStep::Wait);
        err.extend_from_slice(b"\nSorry, try again.\n[sudo] password for ops: ");
        assert_eq!(g.step(&mut err), GateStep::Refused);
        let (mut g, _) = gate();
        let mut err = b"[sudo] password for ops: \n".to_vec();
        err.extend_from_slice(format!("{}\n", t.marker).as_bytes());
        assert_eq!(g.step(&mut err), GateStep::Open);
        // A command's own output after the marker is never a prompt.
        err.extend_from_slice(b"Password:");
        assert_eq!(g.step(&mut err), GateStep::Wait);
    }

    #[test]
    fn password_is_sent_once_when_asked_and_a_second_prompt_refuses() {
        let (mut g, t) = gate();
        let mut err = t.prompt.as_bytes()[..5].to_vec();
        assert_eq!(g.step(&mut err), GateStep::Wait, "half a prompt");
        err = t.prompt.as_bytes().to_vec();
        assert_eq!(g.step(&mut err), GateStep::SendPassword);
        assert_eq!(
            g.step(&mut err),
            GateStep::Wait,
            "asked once, answered once"
        );
        err.extend_from_slice(format!("Sorry, try again.\n{}", t.prompt).as_bytes());
        assert_eq!(g.step(&mut err), GateStep::Refused);
        g.clean(&mut err);
        assert_eq!(err, b"Sorry, try again.\n");
        // The right password: prompt, then marker.
        let (mut g, t) = gate();
        let mut err = t.prompt.as_bytes().to_vec();
        assert_eq!(g.step(&mut err), GateStep::SendPassword);
        err.extend_from_slice(format!("{}\n", t.marker).as_bytes());
        assert_eq!(g.step(&mut err), GateStep::Open);
        g.clean(&mut err);
        assert!(err.is_empty(), "{:?}", String::from_utf8_lossy(&err));
    }
}
