//! The `-v` log (tracing): every line goes through the run's masker and the terminal escaping
//! before it reaches stderr, as the reporter's lines do, so a debug log shows neither secrets
//! nor a host's control characters.

use std::io::Write;

/// Start the log at the level `-v` asks for (`SESAME_LOG` overrides).
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESAME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours would be escaped as control characters: the log is plain text.
        .with_ansi(false)
        .with_writer(|| SafeStderr(Vec::new()))
        .try_init();
}

/// One log event's text, held until the event is complete, then masked, escaped and written.
struct SafeStderr(Vec<u8>);

impl Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = safe_line(&std::mem::take(&mut self.0));
        let mut err = std::io::stderr().lock();
        err.write_all(text.as_bytes())?;
        err.flush()
    }
}

impl Drop for SafeStderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A log line as it may be shown: secrets masked, control characters (but `\n`, `\t`) and
/// bytes that are not UTF-8 escaped.
fn safe_line(raw: &[u8]) -> String {
    let text = crate::text::bytes_for_terminal(raw);
    crate::vars::mask::mask_run(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_masked_and_escaped() {
        crate::vars::mask::register(["47123"]);
        let line = safe_line(b"DEBUG exec cmd=knock 47123 \x1b]0;t\x07 \xff\n");
        assert_eq!(line, "DEBUG exec cmd=knock ******** \\x1b]0;t\\x07 \\xff\n");
    }
}
