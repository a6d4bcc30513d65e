//! The events workers send to the reporter. Field names are stable: `--json` prints them as
//! they are, one JSON object per line. Nothing secret may be put in an event.

use serde::Serialize;

/// The outcome of one task on one host, with Ansible's recap categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
    Rescued,
    Ignored,
}

/// One task's result on one host.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub host: String,
    /// Task name as shown (`role : name` for role tasks).
    pub task: String,
    pub status: Status,
    /// Loop item label, when the task loops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Why it failed / was skipped, or a module message (`debug`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// Human-readable changes made (or that would be made in check mode).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Unified diff for `--diff` (secrets already masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Whether this result is from check mode.
    pub check_mode: bool,
}

/// Steps of the safe firewall transaction on one host (see `knock::apply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnockStage {
    Validated,
    BackedUp,
    Armed,
    Loaded,
    ClosedBefore,
    NotProvenClosed,
    Opened,
    /// Reached through a jump host: a new session over the same path works with the new rules
    /// (the knock itself cannot be proven from the controller).
    ProxySession,
    /// Taking sesame off (`knock_state: absent`): a new session without any knock works.
    PlainSession,
    ClosedAfter,
    Disarmed,
    RolledBack,
    Persisted,
}

/// Everything a worker or the engine can tell the reporter.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        path: String,
        check: bool,
    },
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    /// A host starts a task (progress display only).
    TaskStart {
        host: String,
        task: String,
        /// A notified handler (shown under `RUNNING HANDLER`, as Ansible does).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        handler: bool,
    },
    TaskResult(TaskResult),
    /// A host could not be reached or talked to; counts as `unreachable`.
    Unreachable {
        host: String,
        task: String,
        msg: String,
    },
    /// A step of the safe firewall transaction.
    Knock {
        host: String,
        stage: KnockStage,
        ok: bool,
        detail: String,
    },
    Warning {
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        msg: String,
    },
    /// The overall result of a looped task on one host. Its items were sent as `TaskResult`s
    /// with `item` set; those are printed but not counted, because Ansible's recap counts a
    /// looped task once. This one is counted and not printed (except `...ignoring`).
    LoopDone {
        host: String,
        task: String,
        status: Status,
    },
    /// An ad-hoc command's result (`sesame run`), printed as Ansible's ad-hoc output
    /// (`h1 | CHANGED | rc=0 >>`). `status` is `Changed` when it ran with rc 0, `Failed`
    /// otherwise; an unreachable host is an `Unreachable` event instead.
    Command {
        host: String,
        status: Status,
        rc: i32,
        /// The output as text (a lossy reading when it is not UTF-8: see `stdout_raw`).
        stdout: String,
        stderr: String,
        /// The exact bytes, only when they are not valid UTF-8: `--json` carries them as
        /// `stdout_base64`, the terminal shows each invalid byte as `\xNN`.
        #[serde(
            rename = "stdout_base64",
            skip_serializing_if = "Option::is_none",
            serialize_with = "base64_bytes"
        )]
        stdout_raw: Option<Vec<u8>>,
        #[serde(
            rename = "stderr_base64",
            skip_serializing_if = "Option::is_none",
            serialize_with = "base64_bytes"
        )]
        stderr_raw: Option<Vec<u8>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
    },
    /// What a play cost on one host, in round trips: the remote commands it ran over every
    /// session, and the SSH sessions it used (the host's own, plus each one opened to prove a
    /// new firewall). `--json` only; benchmarks read it.
    HostCost {
        host: String,
        remote_commands: usize,
        sessions: usize,
    },
    /// A host's work on the play begins (it has a fork). Sent by `pool::run_hosts`; the work
    /// itself must not send it.
    HostStart {
        host: String,
    },
    /// A host finished the play (or stopped after a failure). Sent by `pool::run_hosts` when a
    /// host's work returns (or panics); the work itself must not send it.
    HostDone {
        host: String,
    },
}

/// Bytes as a base64 JSON string (only called for `Some`).
fn base64_bytes<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    let bytes = b.as_deref().unwrap_or_default();
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `Some(bytes)` when `bytes` are not UTF-8 (a command event's `*_raw` fields).
pub fn raw_unless_utf8(bytes: &[u8]) -> Option<Vec<u8>> {
    std::str::from_utf8(bytes).is_err().then(|| bytes.to_vec())
}

impl Event {
    /// The host this event is about, if any.
    pub fn host(&self) -> Option<&str> {
        match self {
            Event::PlaybookStart { .. } | Event::PlayStart { .. } => None,
            Event::TaskStart { host, .. }
            | Event::Unreachable { host, .. }
            | Event::Knock { host, .. }
            | Event::LoopDone { host, .. }
            | Event::Command { host, .. }
            | Event::HostStart { host }
            | Event::HostCost { host, .. }
            | Event::HostDone { host } => Some(host),
            Event::TaskResult(r) => Some(&r.host),
            Event::Warning { host, .. } => host.as_deref(),
        }
    }
}

impl TaskResult {
    /// A result with no item, message, changes or diff: fill in the rest with struct update.
    pub fn new(host: impl Into<String>, task: impl Into<String>, status: Status) -> Self {
        TaskResult {
            host: host.into(),
            task: task.into(),
            status,
            item: None,
            msg: None,
            changes: Vec::new(),
            diff: None,
            check_mode: false,
        }
    }
}
