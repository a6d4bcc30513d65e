//! The read-only proof that sesame is off a host whose inventory says `knock_state: absent`
//! (for `sesame verify`): a new SSH session with NO knock opens and authenticates, and its one
//! command looks for what sesame leaves on a host it is on — the parts `removal` takes off and
//! checks gone (its SESAME-* chains, its table inet sesame, its sesame-knock boot unit, the files
//! it wrote, its records). Changes nothing on the host; never prints.

use super::removal::{FILES, PACKAGES_RECORD};
use crate::facts::state::FIREWALL_RECORD;
use crate::runner::{Event, KnockStage};
use crate::transport::{Become, Cmd, Connector, Output};
use std::time::Duration;

/// What the check looks at, as the verify message says it.
pub const CHECKED: &str = "no SESAME chains, no table inet sesame, no sesame-knock boot unit, \
none of sesame's files or records";

/// Prints `LEFT what` for each part of sesame still on the host (the conditions of the
/// removal's own last checks), `NOTROOT user` when it cannot read the firewall, then `END`.
/// `$@`: the files sesame writes.
const LEFTOVERS: &str = r#"set -u
if [ "$(id -u)" != 0 ]; then echo "NOTROOT $(id -un 2>/dev/null)"; echo END; exit 0; fi
if command -v iptables-save >/dev/null 2>&1; then
  { iptables-save -t filter; ip6tables-save -t filter; } 2>/dev/null | grep -q SESAME && echo "LEFT sesame's iptables chains (SESAME-*)"
fi
if command -v nft >/dev/null 2>&1 && nft list table inet sesame >/dev/null 2>&1; then echo "LEFT table inet sesame"; fi
if systemctl is-enabled --quiet sesame-knock.service 2>/dev/null; then echo "LEFT sesame-knock.service (enabled)"; fi
if ls /etc/rc?.d/[SK]??sesame-knock >/dev/null 2>&1; then echo "LEFT sesame-knock in the boot sequence (/etc/rc?.d)"; fi
for p in "$@"; do grep -qs 'managed by sesame' "$p" && echo "LEFT $p"; done
for p in @PKGRECORD@ @FWRECORD@; do [ -e "$p" ] && echo "LEFT $p"; done
echo END
"#;

/// The check's command (read-only), as `escalate` (it needs root to read the firewall).
pub fn leftovers_command(escalate: Option<Become>) -> Cmd {
    Cmd::sh(
        LEFTOVERS
            .replace("@PKGRECORD@", PACKAGES_RECORD)
            .replace("@FWRECORD@", FIREWALL_RECORD),
    )
    .arg("sesame-leftovers")
    .args(FILES)
    .escalate(escalate)
    .timeout(Duration::from_secs(60))
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftovers {
    /// Nothing of sesame's is on the host.
    None,
    /// These parts of sesame are still there.
    Left(Vec<String>),
    /// The check could not be made (why).
    NotChecked(String),
}

/// Read the check's output. Anything but a complete, successful run is `NotChecked`: a check
/// that did not finish proves nothing.
pub fn parse(out: &Output) -> Leftovers {
    let text = out.stdout_str();
    if !out.ok() {
        let err = out.stderr_str();
        let err = err.trim();
        return Leftovers::NotChecked(format!(
            "the check exited {}{}",
            out.status,
            if err.is_empty() {
                String::new()
            } else {
                format!(": {err}")
            }
        ));
    }
    if text.lines().last().map(str::trim) != Some("END") {
        return Leftovers::NotChecked("the check's output ended early".into());
    }
    let mut left = Vec::new();
    for line in text.lines() {
        if let Some(user) = line.strip_prefix("NOTROOT ") {
            return Leftovers::NotChecked(format!(
                "it runs as `{}`, not root, and cannot read the firewall (set ansible_become)",
                user.trim()
            ));
        }
        if let Some(what) = line.strip_prefix("LEFT ") {
            left.push(what.trim().to_string());
        }
    }
    if left.is_empty() {
        Leftovers::None
    } else {
        Leftovers::Left(left)
    }
}

/// How the proof of a removal on `host` ended: `Ok(message)` (the plain session and the
/// leftover check both proven) or `Err(reason)` (also when the check could not be made). The
/// session's proof goes to `events` as the removal's own does (`PlainSession`), so report files
/// show it as they show a knocked host's stages.
pub fn prove(
    host: &str,
    connect: &Connector<'_>,
    escalate: Option<Become>,
    events: Option<&(dyn Fn(Event) + Sync)>,
) -> Result<String, String> {
    let stage = |ok: bool, detail: String| {
        super::apply::knock_event(events, host, KnockStage::PlainSession, ok, detail);
    };
    let mut session = connect(true).map_err(|e| {
        stage(false, e.to_string());
        format!(
            "knock_state is absent, but no plain SSH session opens without a knock: {e} \
(sesame's knocking is still on the host, or the host is down: `sesame play` with \
knock_state: absent takes sesame off)"
        )
    })?;
    stage(true, "SSH authenticated, no knock sent".into());
    let found = match session.exec(&leftovers_command(escalate)) {
        Ok(out) => parse(&out),
        Err(e) => Leftovers::NotChecked(e.to_string()),
    };
    match found {
        Leftovers::None => Ok(format!(
            "knocking removed: plain SSH answers (a session without a knock authenticated; \
checked: {CHECKED})"
        )),
        // Half a proof is no proof: the inventory says sesame is off the host, and only the
        // plain session was shown.
        Leftovers::NotChecked(why) => Err(format!(
            "knock_state is absent and plain SSH answers (a session without a knock \
authenticated), but sesame's leftovers could NOT be checked: {why}"
        )),
        Leftovers::Left(parts) => Err(format!(
            "knock_state is absent and plain SSH answers, but sesame is still on the host: {} \
(`sesame play` with knock_state: absent takes it off)",
            parts.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::fake::FakeTransport;
    use crate::transport::{Transport, TransportError};

    fn out(status: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn leftovers_are_read_and_an_unfinished_check_proves_nothing() {
        assert_eq!(parse(&out(0, "END\n", "")), Leftovers::None);
        assert_eq!(
            parse(&out(
                0,
                "LEFT table inet sesame\nLEFT /etc/knockd.conf\nEND\n",
                ""
            )),
            Leftovers::Left(vec!["table inet sesame".into(), "/etc/knockd.conf".into()])
        );
        for o in [
            out(0, "", ""),
            out(0, "LEFT x\n", ""),
            out(1, "END\n", "sudo: a password is required"),
            out(0, "NOTROOT deploy\nEND\n", ""),
        ] {
            assert!(matches!(parse(&o), Leftovers::NotChecked(_)), "{o:?}");
        }
    }

    #[test]
    fn the_check_is_valid_shell_and_names_every_file_sesame_writes() {
        let cmd = leftovers_command(None).render();
        for f in FILES {
            assert!(cmd.contains(f), "{f} not checked");
        }
        assert!(!cmd.contains("@PKGRECORD@") && !cmd.contains("@FWRECORD@"));
        let s = std::process::Command::new("sh")
            .args(["-n", "-c", LEFTOVERS])
            .output()
            .unwrap();
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    }

    #[test]
    fn one_plain_session_one_command_and_clear_verdicts() {
        use std::sync::Mutex;
        let run = |reply: Option<(i32, &str)>| {
            let asked = Mutex::new(Vec::new());
            let connect = |knock: bool| -> Result<Box<dyn Transport>, TransportError> {
                asked.lock().unwrap().push(knock);
                match reply {
                    None => Err(TransportError::ConnectTimeout {
                        addr: "198.19.0.2:22".into(),
                        timeout: std::time::Duration::from_secs(5),
                    }),
                    Some((st, o)) => Ok(Box::new(FakeTransport::new("h").reply(
                        "sesame-leftovers",
                        st,
                        o,
                    ))),
                }
            };
            let seen = Mutex::new(Vec::new());
            let sink = |e: Event| seen.lock().unwrap().push(e);
            let r = prove("h", &connect, None, Some(&sink));
            let stages: Vec<bool> = seen
                .into_inner()
                .unwrap()
                .into_iter()
                .map(|e| match e {
                    Event::Knock {
                        stage: KnockStage::PlainSession,
                        ok,
                        ..
                    } => ok,
                    other => panic!("{other:?}"),
                })
                .collect();
            (r, asked.into_inner().unwrap(), stages)
        };
        let (r, asked, stages) = run(Some((0, "END\n")));
        assert_eq!(stages, [true]);
        let msg = r.unwrap();
        assert!(
            msg.starts_with("knocking removed: plain SSH answers"),
            "{msg}"
        );
        assert!(msg.contains(CHECKED), "{msg}");
        // One session, opened with no knock of the host's own (`connect(true)` knocks only a
        // knocked jump host, as the removal's own proof does).
        assert_eq!(asked, vec![true]);
        let err = run(Some((0, "LEFT sesame's iptables chains (SESAME-*)\nEND\n")))
            .0
            .unwrap_err();
        assert!(err.contains("sesame is still on the host: sesame's iptables chains"));
        let (err, _, stages) = run(None);
        assert_eq!(stages, [false]);
        let err = err.unwrap_err();
        assert!(
            err.contains("no plain SSH session opens without a knock: "),
            "{err}"
        );
        let msg = run(Some((0, "NOTROOT deploy\nEND\n"))).0.unwrap_err();
        assert!(
            msg.contains("could NOT be checked") && msg.contains("`deploy`"),
            "{msg}"
        );
        let msg = run(Some((1, ""))).0.unwrap_err();
        assert!(msg.contains("could NOT be checked"), "{msg}");
    }
}
