//! A scripted transport for unit tests of plans and parsers: replies are matched by a substring
//! of the rendered command, every command and upload is recorded. Never a stand-in for the lab.

use super::{Become, Cmd, Output, Transport, TransportError, Upload};

/// Scripted replies and a record of what was asked.
#[derive(Debug, Default)]
pub struct FakeTransport {
    pub name: String,
    /// (substring of the rendered command, reply). First match wins; no match → status 0, empty.
    pub replies: Vec<(String, Output)>,
    /// Rendered commands, in order.
    pub commands: Vec<String>,
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
        Ok(self
            .replies
            .iter()
            .find(|(needle, _)| line.contains(needle.as_str()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default())
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
