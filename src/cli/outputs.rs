//! What `play`, `harden` and `verify` share beyond the terminal: the report files (`--junit`,
//! `--summary`) written after the run from the reporter's record, `--fail-on-change`, and the
//! lines naming where each role came from (a directory, or the copy embedded in the binary).

use crate::connect::HostConn;
use crate::playbook::embedded::{Extracted, VERSION};
use crate::playbook::Playbook;
use crate::runner::junit::{self, JunitOptions};
use crate::runner::record::Record;
use crate::runner::summary::{self, HostInfo};
use crate::runner::Summary;
use crate::vars::mask::Masker;
use crate::vars::Vars;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Report files for CI (the flags of play, harden and verify).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportFiles {
    /// Write a JUnit XML report here: one test case per host and task (`[host] play: task`)
    /// and one per host for the knock proof, as Ansible's junit callback. Secrets are masked.
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown table here, one row per host (mode, backend, result, proof stages,
    /// time), e.g. for a CI job summary.
    #[arg(long = "summary", value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

impl ReportFiles {
    /// Whether the run must be recorded.
    pub fn wanted(&self) -> bool {
        self.junit.is_some() || self.summary.is_some()
    }

    /// Write the files asked for. `suite` names the run (playbook or `verify`).
    pub fn write(
        &self,
        record: Option<&Record>,
        suite: &str,
        info: &HashMap<String, HostInfo>,
        fail_on_change: bool,
    ) -> crate::Result<()> {
        if !self.wanted() {
            return Ok(());
        }
        let lost = |path: &Path| crate::Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other("the reporter stopped before the end of the run"),
        };
        if let Some(path) = &self.junit {
            let record = record.ok_or_else(|| lost(path))?;
            let masks: HashMap<String, Masker> = info
                .iter()
                .map(|(h, i)| (h.clone(), i.mask.clone()))
                .collect();
            let opts = JunitOptions {
                suite: suite.to_string(),
                fail_on_change,
                properties: info
                    .iter()
                    .map(|(h, i)| (h.clone(), junit_properties(i)))
                    .collect(),
            };
            write(path, &junit::render(record, &masks, &opts))?;
        }
        if let Some(path) = &self.summary {
            let record = record.ok_or_else(|| lost(path))?;
            write(path, &summary::render(record, info, suite, fail_on_change))?;
        }
        Ok(())
    }
}

/// The test suite's name: the playbook's file stem, or `sesame play` for several.
pub fn suite_name(playbooks: &[PathBuf]) -> String {
    match playbooks {
        [one] => one
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => "sesame play".into(),
    }
}

/// A host's JUnit properties: its knock mode and backend, as the summary's columns.
fn junit_properties(i: &HostInfo) -> Vec<(String, String)> {
    [("knock_mode", &i.mode), ("knock_backend", &i.backend)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn write(path: &Path, text: &str) -> crate::Result<()> {
    std::fs::write(path, text).map_err(|e| crate::Error::Write {
        path: path.to_path_buf(),
        source: e,
    })
}

/// What the report files need to know about a host: its knock mode and its secrets.
pub fn host_info(vars: &Vars, conn: Option<&HostConn>) -> HostInfo {
    HostInfo {
        mode: conn
            .and_then(|c| c.knock.as_ref())
            .map(|p| p.mode.as_str().to_string()),
        backend: conn
            .and_then(|c| c.knock.as_ref())
            .map(|p| p.backend.as_str().to_string()),
        mask: Masker::new(crate::playbook::exec::secret_words(vars)),
    }
}

/// The exit code with `--fail-on-change`: a run that would exit 0 exits 2 when any task
/// changed something, and says which hosts on stderr.
pub fn exit_code(summary: &Summary, fail_on_change: bool) -> u8 {
    if !fail_on_change || summary.exit_code != 0 {
        return summary.exit_code;
    }
    let mut changed: Vec<&String> = summary
        .stats
        .hosts()
        .iter()
        .filter(|(_, s)| s.changed > 0)
        .map(|(h, _)| h)
        .collect();
    if changed.is_empty() {
        return 0;
    }
    changed.sort();
    // Host names come from the inventory: control characters are shown, not sent.
    let names: Vec<String> = changed
        .iter()
        .map(|h| h.escape_debug().to_string())
        .collect();
    eprintln!(
        "[ERROR]: --fail-on-change: tasks changed on {}",
        names.join(", ")
    );
    2
}

/// One line per role the playbooks use: the directory it was loaded from, or the copy
/// embedded in this binary.
pub fn role_sources(books: &[Playbook], embedded: Option<&Extracted>) -> Vec<String> {
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    for play in books.iter().flat_map(|b| &b.plays) {
        for role in &play.roles {
            if !seen.iter().any(|(n, p)| *n == role.name && *p == role.path) {
                seen.push((role.name.clone(), role.path.clone()));
            }
        }
    }
    seen.into_iter()
        .map(|(name, path)| {
            if embedded.is_some_and(|x| x.contains(&path)) {
                format!("role {name}: embedded in sesame {VERSION}")
            } else {
                format!("role {name}: {}", path.display())
            }
        })
        .collect()
}
