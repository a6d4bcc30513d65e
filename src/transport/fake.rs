//! A scripted transport for unit tests of plans and parsers: replies are matched by a substring
//! of the rendered command, every command and upload is recorded. Never a stand-in for the lab.

use super::{Become, Cmd, Output, Transport, TransportError, Upload};

/// Scripted replies and a record of what was asked.
#[derive(Debug, Default)]
pub struct FakeTransport {
    pub name: String,
    /// (substring of the rendered command, reply). First match wins; no match → status 0, empty.
    pub replies: Vec<(String, Output)>,
    /// Rendered commands, in order (one per exec: a batch is one).
    pub commands: Vec<String>,
    /// Rendered commands with each command of a batch on its own, in order (what ran).
    pub steps: Vec<String>,
    /// Uploaded files: (path, content, mode).
    pub uploads: Vec<(String, Vec<u8>, Option<u32>)>,
}

impl FakeTransport {
    pub fn new(name: &str) -> Self {
        FakeTransport {
            name: name.into(),
            ..Default::default()
        }
    }

    fn answer(&self, line: &str) -> Output {
        self.replies
            .iter()
            .find(|(needle, _)| line.contains(needle.as_str()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    }

    /// Reply to commands containing `needle` with `stdout` and `status`.
    pub fn reply(mut self, needle: &str, status: i32, stdout: &str) -> Self {
        self.replies.push((
            needle.into(),
            Output {
                status,
                stdout: stdout.as_bytes().to_vec(),
                stderr: Vec::new(),
            },
        ));
        self
    }
}

impl Transport for FakeTransport {
    fn host(&self) -> &str {
        &self.name
    }

    fn exec(&mut self, cmd: &Cmd) -> Result<Output, TransportError> {
        let line = cmd.render();
        self.commands.push(line.clone());
        let Some(steps) = cmd.batch_steps() else {
            self.steps.push(line.clone());
            return Ok(self.answer(&line));
        };
        // A batch: each command answered on its own, framed as the batch script does,
        // stopping after the first that fails.
        let mut stdout = String::new();
        for (i, c) in steps.iter().enumerate() {
            let l = c.render();
            self.steps.push(l.clone());
            let o = self.answer(&l);
            stdout.push_str(&super::batch::frame(i, &o));
            if !o.ok() {
                break;
            }
        }
        Ok(Output {
            status: 0,
            stdout: stdout.into_bytes(),
            stderr: Vec::new(),
        })
    }

    fn upload(&mut self, f: &Upload<'_>, _become: Option<&Become>) -> Result<(), TransportError> {
        self.uploads
            .push((f.path.to_string(), f.content.to_vec(), f.mode));
        Ok(())
    }

    fn exec_count(&self) -> usize {
        self.commands.len()
    }
}
