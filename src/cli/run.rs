//! `sesame run`: one ad-hoc command on every matching host, like `ansible PATTERN -m command -a`.
//! Hosts are resolved up front on the main thread (inventory, variables, connection settings);
//! the pool then connects (knocking first when the host has a knock profile) and runs the command on each host, and the reporter prints
//! Ansible's ad-hoc lines, the recap and the exit code. Nothing here builds a shell line by hand:
//! each argument is one quoted word (`transport::Cmd`).

use super::common;
use crate::connect::{self, HostConn};
use crate::runner::pool::{self, Cancel, HostOutcome, HostRun, PoolError};
use crate::runner::report::{self, Format, ReportOptions, Reporter, Style};
use crate::runner::{Event, EventSender, Status, TaskResult};
use crate::transport::{become_from_vars, Become, Cmd, Output, Transport, TransportError, Upload};
use std::path::PathBuf;

/// Arguments of `sesame run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub conn: common::ConnArgs,
    /// Inventory file or directory (repeatable). Default: $ANSIBLE_INVENTORY, /etc/ansible/hosts.
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Extra variables (as `sesame play -e`): `k=v`, YAML/JSON or `@file` (repeatable; they
    /// win over the inventory). Secrets (a knock_sequence, a password) go in an `@file` or a
    /// vault, never inline: a command line is visible to every local user in /proc.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Host pattern: a host, a group, `all`, `web:&prod`, `!h3`, `~regex`...
    pub pattern: String,
    /// How many hosts at once (default: `forks` of ansible.cfg, else 20).
    #[arg(short = 'f', long = "forks", value_parser = crate::cli::run::parse_forks)]
    pub forks: Option<usize>,
    /// Run the command with sudo (as `--become-user`, default root).
    #[arg(short = 'b', long = "become")]
    pub escalate: bool,
    /// User to become with `-b`.
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    /// Ask for the become (sudo) password on the terminal (hosts without
    /// `ansible_become_password`).
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        visible_alias = "ask-become-password"
    )]
    pub ask_become_pass: bool,
    /// Further limit the hosts: a pattern, or `@FILE` with one host per line (a retry file).
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write failed and unreachable hosts to this file (for `-l @FILE`).
    #[arg(long = "retry-file")]
    pub retry_file: Option<PathBuf>,
    /// The command and its arguments, after `--`. Each is passed as one word; no shell.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// `--forks`: a whole number of at least 1 (each fork is a thread holding one SSH session).
pub fn parse_forks(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a number of forks from 1 to 1000")),
    }
}

/// Task name of ad-hoc results in events and `--json`.
pub const TASK: &str = "command";

/// One host to run on, resolved on the main thread: how to connect (`P`: a `ConnSpec` for
/// SSH, anything for tests) and whether to become.
#[derive(Debug, Clone)]
pub struct CommandTarget<P> {
    pub host: String,
    pub conn: P,
    pub escalate: Option<Become>,
}

/// Run `argv` on every target, at most `forks` at once; each host's result becomes an event.
/// `connect` opens a transport from a target's connection settings (its warnings go to the
/// events it is given).
pub fn run_command<P, T, C>(
    targets: &[CommandTarget<P>],
    argv: &[String],
    forks: usize,
    cancel: &Cancel,
    events: &EventSender,
    connect: C,
) -> Result<Vec<HostRun>, PoolError>
where
    P: Sync,
    T: Transport,
    C: Fn(&P, &EventSender) -> Result<T, TransportError> + Sync,
{
    let names: Vec<String> = targets.iter().map(|t| t.host.clone()).collect();
    let by_name: std::collections::HashMap<&str, &CommandTarget<P>> =
        targets.iter().map(|t| (t.host.as_str(), t)).collect();
    pool::run_hosts(&names, forks, cancel, events, |host, ev| {
        let Some(target) = by_name.get(host) else {
            // Cannot happen: the names come from the targets.
            return HostOutcome::Failed;
        };
        let Some((program, args)) = argv.split_first() else {
            return HostOutcome::Failed;
        };
        let cmd = Cmd::new(program.as_str())
            .args(args.iter().map(String::as_str))
            .escalate(target.escalate.clone())
            .kill_on_timeout();
        let result = connect(&target.conn, ev).and_then(|mut t| t.exec(&cmd));
        match result {
            Ok(out) => {
                let ok = out.ok();
                ev.send(Event::Command {
                    host: host.to_string(),
                    status: if ok { Status::Changed } else { Status::Failed },
                    rc: out.status,
                    stdout: out.stdout_str(),
                    stderr: out.stderr_str(),
                    stdout_raw: crate::runner::event::raw_unless_utf8(&out.stdout),
                    stderr_raw: crate::runner::event::raw_unless_utf8(&out.stderr),
                    msg: (!ok).then(|| "non-zero return code".to_string()),
                });
                if ok {
                    HostOutcome::Ok
                } else {
                    HostOutcome::Failed
                }
            }
            Err(e) => transport_failure(host, &e, ev),
        }
    })
}

/// A transport error is `unreachable` or a failure, as `TransportError::is_unreachable` says.
pub fn transport_failure(host: &str, e: &TransportError, ev: &EventSender) -> HostOutcome {
    if e.is_unreachable() {
        ev.send(Event::Unreachable {
            host: host.to_string(),
            task: TASK.to_string(),
            msg: e.to_string(),
        });
        HostOutcome::Unreachable
    } else {
        ev.send(Event::TaskResult(TaskResult {
            msg: Some(e.to_string()),
            ..TaskResult::new(host, TASK, Status::Failed)
        }));
        HostOutcome::Failed
    }
}

/// Run `sesame run`.
pub fn run(args: Args) -> crate::Result<u8> {
    let inv = common::load_inventory(&args.inventory)?;
    let extra = common::extra_vars(&args.extra_vars)?;
    let hosts = connect::select(&inv, &args.pattern, args.limit.as_deref())?;
    let overrides = args.conn.overrides()?;
    let forks = common::forks(crate::config::installed(), args.forks)?;
    let (escalate_flag, become_user) = common::become_defaults(
        crate::config::installed(),
        args.escalate,
        args.become_user.clone(),
    )?;
    let become_password = common::ask_become_pass(common::ask_become(
        crate::config::installed(),
        args.ask_become_pass,
    )?)?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Human
    };
    let opts = ReportOptions::for_terminal(format, Style::AdHoc);
    let (events, handle) = report::start(Reporter::stdio(opts));
    let cancel = Cancel::ctrl_c().unwrap_or_default();
    events.send(Event::PlayStart {
        name: format!("ad-hoc: {}", args.command.join(" ")),
        hosts: hosts.clone(),
    });
    if hosts.is_empty() {
        events.send(Event::Warning {
            host: None,
            msg: format!("no hosts matched `{}`, nothing to do", args.pattern),
        });
    }
    // Everything per host is resolved here, on the main thread; a host whose settings are
    // wrong fails alone with the reason.
    let mut targets = Vec::new();
    for (host, resolved) in connect::resolve_targets(&inv, &hosts, &extra, &overrides, &events) {
        let target = resolved.map_err(|e| e.to_string()).and_then(|t| {
            let escalate = become_from_vars(
                &host,
                &t.vars,
                escalate_flag,
                become_user.as_deref(),
                become_password.as_ref().map(|h| h.0.clone()),
            )
            .map_err(|e| e.to_string())?;
            Ok(CommandTarget {
                host: host.clone(),
                conn: t.conn,
                escalate,
            })
        });
        match target {
            Ok(t) => targets.push(t),
            Err(msg) => {
                events.send(Event::TaskResult(TaskResult {
                    msg: Some(msg),
                    ..TaskResult::new(host.as_str(), TASK, Status::Failed)
                }));
                events.send(Event::HostDone { host });
            }
        }
    }
    common::warn_unchecked_host_keys(targets.iter().map(|t| &t.conn.spec), &mut false, &events);
    run_command(
        &targets,
        &args.command,
        forks,
        &cancel,
        &events,
        |c: &HostConn, ev: &EventSender| {
            c.connect_first(&connect::dial::warn_to(ev, &c.spec.name))
                .map(Boxed)
        },
    )?;
    let summary = handle.finish(cancel.is_cancelled());
    if let Some(path) = &args.retry_file {
        summary.stats.write_retry_file(path)?;
    }
    Ok(summary.exit_code)
}

/// A boxed transport (what `HostConn::connect` gives) as a `Transport` for `run_command`.
struct Boxed(Box<dyn Transport>);

impl Transport for Boxed {
    fn host(&self) -> &str {
        self.0.host()
    }
    fn exec(&mut self, cmd: &Cmd) -> Result<Output, TransportError> {
        self.0.exec(cmd)
    }
    fn upload(
        &mut self,
        file: &Upload<'_>,
        escalate: Option<&Become>,
    ) -> Result<(), TransportError> {
        self.0.upload(file, escalate)
    }
    fn exec_count(&self) -> usize {
        self.0.exec_count()
    }
    fn round_trip(&self) -> Option<crate::transport::RoundTrip> {
        self.0.round_trip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::{self, Capture, Format, ReportOptions, Reporter, Style};
    use crate::transport::fake::FakeTransport;
    use std::time::Duration;

    const NAMES: [&str; 5] = ["h1", "h2", "h3", "h4", "h5"];

    fn targets(n: usize) -> Vec<CommandTarget<&'static str>> {
        NAMES[..n]
            .iter()
            .map(|&name| CommandTarget {
                host: name.to_string(),
                conn: name,
                escalate: None,
            })
            .collect()
    }

    /// Fake fleet: h2 is unreachable, h3's command fails, h4's host key changed.
    fn connect(name: &&'static str, _: &EventSender) -> Result<FakeTransport, TransportError> {
        match *name {
            "h2" => Err(TransportError::ConnectTimeout {
                addr: "198.19.9.12:22".into(),
                timeout: Duration::from_secs(10),
            }),
            "h3" => Ok(FakeTransport::new(name).reply("uname", 3, "")),
            "h4" => Err(TransportError::HostKeyChanged {
                host: "h4".into(),
                addr: "198.19.9.14:22".into(),
                expected: "SHA256:a".into(),
                actual: "SHA256:b".into(),
            }),
            _ => Ok(FakeTransport::new(name).reply("uname", 0, "Linux\n")),
        }
    }

    #[test]
    fn ok_failed_and_unreachable_hosts_give_ansible_counts_and_exit_4() {
        let out = Capture::new();
        let reporter = Reporter::new(
            ReportOptions::plain(Format::Human, Style::AdHoc),
            Box::new(out.clone()),
            Box::new(Capture::new()),
        );
        let (events, handle) = report::start(reporter);
        let argv = vec!["uname".to_string(), "-s".to_string()];
        let runs =
            run_command(&targets(5), &argv, 3, &Cancel::new(), &events, connect).expect("pool");
        let outcomes: Vec<_> = runs.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Some(HostOutcome::Ok),
                Some(HostOutcome::Unreachable),
                Some(HostOutcome::Failed),
                Some(HostOutcome::Failed),
                Some(HostOutcome::Ok),
            ]
        );
        let summary = handle.finish(false);
        assert_eq!(summary.exit_code, 4);
        let s = &summary.stats;
        assert_eq!((s.host("h1").ok, s.host("h1").changed), (1, 1));
        assert_eq!(s.host("h2").unreachable, 1);
        assert_eq!(s.host("h3").failed, 1);
        assert_eq!(
            s.host("h4").failed,
            1,
            "a changed host key is a failure, not unreachable"
        );
        let text = out.text();
        assert!(text.contains("h1 | CHANGED | rc=0 >>\nLinux\n"), "{text}");
        assert!(
            text.contains("h3 | FAILED | rc=3 >>\nnon-zero return code\n"),
            "{text}"
        );
        assert!(text.contains("h2 | UNREACHABLE! => {"), "{text}");
        assert!(
            text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{text}"
        );
    }

    #[test]
    fn arguments_are_quoted_one_word_each_and_become_wraps_them() {
        let argv: Vec<String> = ["echo", "a b", "$(reboot)", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let render = |escalate: Option<Become>| {
            let (events, _rx) = EventSender::channel();
            let seen = std::sync::Mutex::new(Vec::new());
            let t = vec![CommandTarget {
                host: "h1".to_string(),
                conn: (),
                escalate,
            }];
            run_command(
                &t,
                &argv,
                1,
                &Cancel::new(),
                &events,
                |_: &(), _: &EventSender| Ok(Recorder(&seen)),
            )
            .expect("pool");
            seen.into_inner().expect("lock")
        };
        assert_eq!(render(None), [r"echo 'a b' '$(reboot)' 'it'\''s'"]);
        let root = Become {
            user: "root".into(),
            password: None,
        };
        let plain = Cmd::new("echo").args(["a b", "$(reboot)", "it's"]);
        assert_eq!(
            render(Some(root.clone())),
            [plain.escalate(Some(root)).render()],
            "become goes through Cmd's single wrapping point"
        );
    }

    /// A transport that records rendered commands into a shared list.
    struct Recorder<'a>(&'a std::sync::Mutex<Vec<String>>);

    impl Transport for Recorder<'_> {
        fn host(&self) -> &str {
            "h1"
        }
        fn exec(&mut self, cmd: &Cmd) -> Result<crate::transport::Output, TransportError> {
            self.0.lock().expect("lock").push(cmd.render());
            Ok(Default::default())
        }
        fn upload(
            &mut self,
            _: &crate::transport::Upload<'_>,
            _: Option<&Become>,
        ) -> Result<(), TransportError> {
            Ok(())
        }
        fn exec_count(&self) -> usize {
            0
        }
    }
}
