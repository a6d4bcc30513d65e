//! Several commands as one remote command (`Cmd::batch`): the script that runs them in order,
//! each with its own stdin, stdout and stderr, stopping after the first that fails, and the
//! parser that splits its output back into one `Output` per command. Never runs anything.

use super::Output;
use base64::Engine as _;

/// The line before each command's result in a batch's stdout.
const MARK: &str = "@@sesame-step@@";

/// Exit status reported for a command the batch never reached although the one before it
/// succeeded (the batch itself died: no temp dir, killed, cut off).
pub const NOT_REACHED: i32 = 125;

/// The batch's shell script. `steps` are the commands' rendered lines with the byte length of
/// their stdin (0: none; they read `/dev/null`). Each runs in a subshell (an `exit` in it ends
/// only that command); its stdin is exactly its own bytes of the batch's stdin (what it leaves
/// unread is drained, so the next command's input starts where it should); its stdout and
/// stderr go to files printed base64-encoded after a `MARK i status` line.
pub fn script(steps: &[(String, usize)]) -> String {
    let mut s = String::from(
        "d=$(mktemp -d) || exit 125\ntrap 'rm -rf -- \"$d\"' EXIT\n\
         r() { printf '%s %s %s\\n' '@@sesame-step@@' \"$1\" \"$2\"; base64 -w0 -- \"$d/o\"; echo; \
         base64 -w0 -- \"$d/e\"; echo; [ \"$2\" = 0 ]; }\n",
    );
    for (i, (line, stdin)) in steps.iter().enumerate() {
        if *stdin == 0 {
            s.push_str(&format!(
                "( {line}\n) </dev/null >\"$d/o\" 2>\"$d/e\"; r {i} $? || exit 0\n"
            ));
        } else {
            s.push_str(&format!(
                "head -c {stdin} | {{ ( {line}\n) >\"$d/o\" 2>\"$d/e\"; s=$?; cat >/dev/null; exit $s; }}; r {i} $? || exit 0\n"
            ));
        }
    }
    s
}

/// One `Output` per command the batch ran, in order; the last may have failed (the batch
/// stopped there). When the batch died before a command although the one before succeeded, a
/// last `Output` with status `NOT_REACHED` (or the batch's own) and its stderr says so.
pub fn split(out: &Output, n: usize) -> Vec<Output> {
    let text = out.stdout_str();
    let b64 = |l: Option<&str>| {
        base64::engine::general_purpose::STANDARD
            .decode(l.unwrap_or("").trim())
            .ok()
    };
    let mut outs: Vec<Output> = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix(MARK) else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(i), Some(rc)) = (
            w.next().and_then(|x| x.parse::<usize>().ok()),
            w.next().and_then(|x| x.parse::<i32>().ok()),
        ) else {
            break;
        };
        let (Some(stdout), Some(stderr)) = (b64(lines.next()), b64(lines.next())) else {
            break;
        };
        if i != outs.len() || i >= n {
            break;
        }
        outs.push(Output {
            status: rc,
            stdout,
            stderr,
        });
    }
    if outs.len() < n && outs.last().is_none_or(Output::ok) {
        let mut stderr = out.stderr.clone();
        stderr.extend_from_slice(b"\nthe batch of commands stopped before this one");
        outs.push(Output {
            status: if out.status == 0 {
                NOT_REACHED
            } else {
                out.status
            },
            stdout: Vec::new(),
            stderr,
        });
    }
    outs
}

/// What a batch prints for command `i` that gave `out` (the fake transport's batches).
pub fn frame(i: usize, out: &Output) -> String {
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    format!(
        "{MARK} {i} {}\n{}\n{}\n",
        out.status,
        enc(&out.stdout),
        enc(&out.stderr)
    )
}

/// The stdout a batch prints for commands that gave these results.
#[cfg(test)]
pub fn reply(results: &[(i32, &str)]) -> String {
    results
        .iter()
        .enumerate()
        .map(|(i, (rc, out))| {
            frame(
                i,
                &Output {
                    status: *rc,
                    stdout: out.as_bytes().to_vec(),
                    stderr: Vec::new(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Cmd;
    use std::process::Command;

    fn run_local(cmd: &Cmd) -> Output {
        use std::io::Write;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd.render())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let input = cmd.stdin_bytes().unwrap_or_default();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        Output {
            status: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }

    /// Each command gets exactly its own stdin (the first leaves part of it unread), keeps its
    /// output apart, an `exit` ends only its own command, and hostile values stay values.
    #[test]
    fn commands_keep_their_stdin_output_and_status_apart() {
        let b = Cmd::batch(vec![
            Cmd::new("head").arg("-c").arg("2").stdin("abcdef"),
            Cmd::new("cat").stdin("second $(id) 'q'\n"),
            Cmd::sh("echo out; echo err >&2; exit 3"),
            Cmd::new("touch").arg("/nonexistent/never-run"),
        ]);
        let outs = split(&run_local(&b), 4);
        assert_eq!(outs.len(), 3, "{outs:?}");
        assert_eq!(outs[0].stdout, b"ab");
        assert!(outs[0].ok());
        assert_eq!(outs[1].stdout_str(), "second $(id) 'q'\n");
        assert_eq!(outs[2].status, 3);
        assert_eq!(outs[2].stdout_str(), "out\n");
        assert_eq!(outs[2].stderr_str(), "err\n");
    }

    #[test]
    fn a_batch_that_dies_early_fails_the_next_command() {
        let dead = Output {
            status: 255,
            stdout: reply(&[(0, "x")]).into_bytes(),
            stderr: b"killed".to_vec(),
        };
        let outs = split(&dead, 3);
        assert_eq!(outs.len(), 2);
        assert_eq!(outs[0].stdout, b"x");
        assert_eq!(outs[1].status, 255);
        assert!(outs[1].stderr_str().contains("killed"));
    }

    #[test]
    fn secrets_in_a_batch_are_masked_in_display() {
        let b = Cmd::batch(vec![Cmd::new("knock").secret("7101"), Cmd::new("true")]);
        assert!(!b.display().contains("7101"));
        assert!(b.render().contains("7101"));
    }
}
