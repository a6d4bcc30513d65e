//! `sesame play`: run a playbook against an inventory, like `ansible-playbook`. Plays run in
//! order; inside a play every host goes through all tasks independently (Ansible's `free`
//! strategy) on one SSH session per host kept for the whole run, in `serial` batches.

use super::common;
use super::outputs;
use crate::connect::{self, HostConn, TargetError};
use crate::knock::preflight::{aliases, check_host_name, check_knock, PreflightError};
use crate::playbook::embedded::Extracted;
use crate::playbook::exec::{HostMemory, HostPlay, PlayOutcome, RunOpts};
use crate::playbook::{load_playbook, Play};
use crate::runner::pool::{self, Cancel, HostOutcome};
use crate::runner::record;
use crate::runner::report::{Format, ReportOptions, Reporter, Style};
use crate::runner::rollout::{batches, failed_hosts, FailureLimits};
use crate::runner::{Event, Status, TaskResult};
use crate::transport::{Connector, Transport};
use crate::vars::{merge_into, parse_extra_vars, Vars};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Arguments of `sesame play`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Playbook file(s) to run, in order.
    #[arg(required = true)]
    pub playbooks: Vec<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
}

/// Every flag of `sesame play` but the playbooks (shared with `sesame harden`).
#[derive(Debug, clap::Args)]
pub struct Flags {
    #[command(flatten)]
    pub conn: common::ConnArgs,
    /// Inventory file or directory (repeatable). Default: $ANSIBLE_INVENTORY, /etc/ansible/hosts.
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Limit to hosts matching this pattern (`@file` reads a retry file).
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Hosts worked on at once (default: `forks` of ansible.cfg, else 20).
    #[arg(short = 'f', long = "forks", value_parser = crate::cli::run::parse_forks)]
    pub forks: Option<usize>,
    /// Change nothing; report what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show unified diffs of changed files (secrets masked).
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Extra variables (as `ansible-playbook -e`): `k=v`, YAML/JSON or `@file` (repeatable; they
    /// win over the inventory). Secrets (a knock_sequence, a password) go in an `@file` or a
    /// vault, never inline: a command line is visible to every local user in /proc.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Become root (sudo) on the hosts.
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// User to become.
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
    /// Only run tasks with these tags (comma separated, repeatable).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// List the hosts each play would run on, and stop.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List the tasks of each play, and stop.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// Check the playbook's syntax, and stop.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// One JSON event per line on stdout.
    #[arg(long = "json")]
    pub json: bool,
    /// Start at the first task whose name matches (wildcards allowed), skipping those before.
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Write failed and unreachable hosts here (use with `-l @FILE`).
    #[arg(long = "retry-file")]
    pub retry_file: Option<PathBuf>,
    /// Show knock sequences and other secrets in the output (never in --junit/--summary
    /// files: the two do not go together).
    #[arg(long = "show-secrets", conflicts_with_all = ["junit", "summary"])]
    pub show_secrets: bool,
    /// Any changed task is a failure (exit 2; a failure in --junit), as Ansible's
    /// JUNIT_FAIL_ON_CHANGE: for idempotence checks in CI.
    #[arg(long = "fail-on-change")]
    pub fail_on_change: bool,
    #[command(flatten)]
    pub files: outputs::ReportFiles,
}

/// Run `sesame play`.
pub fn run(args: Args) -> crate::Result<u8> {
    // The embedded roles are only a fallback here: a playbook whose roles are all on disk
    // must not fail because the temporary directory cannot be written.
    let embedded = match Extracted::new() {
        Ok(x) => Some(x),
        Err(e) => {
            tracing::warn!("the roles embedded in sesame are not available: {e}");
            None
        }
    };
    run_books(&args.playbooks, args.flags, &[], embedded.as_ref())
}

/// Run playbooks. Roles are searched beside each playbook, then in `extra_roles`, then in
/// `roles_path` (ansible.cfg / $ANSIBLE_ROLES_PATH, else the default path), and last among
/// the roles embedded in the binary; the output names the one each play uses.
pub fn run_books(
    playbooks: &[PathBuf],
    args: Flags,
    extra_roles: &[PathBuf],
    embedded: Option<&Extracted>,
) -> crate::Result<u8> {
    let mut extra = Vars::new();
    for e in &args.extra_vars {
        merge_into(&mut extra, &parse_extra_vars(e)?);
    }
    let books = load_books(playbooks, extra_roles, embedded, args.json)?;
    if args.syntax_check {
        for b in &books {
            println!("\nplaybook: {}", b.path.display());
        }
        return Ok(0);
    }
    let inv = common::load_inventory(&args.inventory)?;
    if args.list_hosts || args.list_tasks {
        for b in &books {
            println!("\nplaybook: {}", b.path.display());
            for (i, play) in b.plays.iter().enumerate() {
                let hosts = connect::select(&inv, &play.hosts, args.limit.as_deref())?;
                println!("\n  play #{} ({}): {}", i + 1, play.hosts, play.name);
                if args.list_hosts {
                    println!(
                        "    pattern: ['{}']\n    hosts ({}):",
                        play.hosts,
                        hosts.len()
                    );
                    for h in &hosts {
                        println!("      {h}");
                    }
                }
                if args.list_tasks {
                    println!("    tasks:");
                    for t in play
                        .pre_tasks
                        .iter()
                        .chain(&play.tasks)
                        .chain(&play.post_tasks)
                    {
                        println!("      {}\tTAGS: [{}]", t.display_name(), t.tags.join(", "));
                    }
                }
            }
        }
        return Ok(0);
    }
    let overrides = args.conn.overrides()?;
    let mut resolver = connect::Resolver::new(&inv, &extra, &overrides);
    let forks = common::forks(args.forks)?;
    let (cli_become, cli_become_user) =
        common::become_defaults(args.become_, args.become_user.clone())?;
    let opts = RunOpts {
        check: args.check,
        diff: args.diff,
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        extra_vars: extra.clone(),
        cli_become,
        cli_become_user,
        cli_become_password: common::ask_become_pass(common::ask_become(args.ask_become_pass)?)?,
        start_at_task: args.start_at_task.clone(),
        show_secrets: args.show_secrets,
    };
    let format = if args.json {
        Format::Json
    } else {
        Format::Human
    };
    let mut ropts = ReportOptions::for_terminal(format, Style::Playbook);
    ropts.diff = args.diff;
    let (events, handle) = record::start(Reporter::stdio(ropts), args.files.wanted());
    let cancel = Cancel::ctrl_c().unwrap_or_default();
    // One session per host for the whole run, handed from play to play.
    let sessions: Mutex<HashMap<String, Box<dyn Transport>>> = Mutex::new(HashMap::new());
    let memories: Mutex<HashMap<String, HostMemory>> = Mutex::new(HashMap::new());
    let mut dead: Vec<String> = Vec::new();
    let mut conns: HashMap<String, HostConn> = HashMap::new();
    let mut all_vars: HashMap<String, Vars> = HashMap::new();
    let total_plays: usize = books.iter().map(|b| b.plays.len()).sum();
    let mut play_no = 0;
    let mut host_keys_warned = false;
    for b in &books {
        events.send(Event::PlaybookStart {
            path: b.path.display().to_string(),
            check: args.check,
        });
        for play in &b.plays {
            play_no += 1;
            // After the last play a host's session is closed at once: memory stays bounded by
            // --forks, not by the fleet size.
            let keep = play_no < total_plays;
            let hosts: Vec<String> = connect::select(&inv, &play.hosts, args.limit.as_deref())?
                .into_iter()
                .filter(|h| !dead.contains(h))
                .collect();
            events.send(Event::PlayStart {
                name: play.name.clone(),
                hosts: hosts.clone(),
            });
            if hosts.is_empty() {
                events.send(Event::Warning {
                    host: None,
                    msg: format!("no hosts matched `{}`; skipping play", play.hosts),
                });
                continue;
            }
            // Each host is resolved once, on the main thread, when a play first names it; a
            // host whose settings are unusable fails alone, before anything touches it.
            let new: Vec<String> = hosts
                .iter()
                .filter(|h| !conns.contains_key(*h))
                .cloned()
                .collect();
            for (h, resolved) in resolver.resolve_all(&new) {
                match resolved {
                    Ok(t) => {
                        all_vars.insert(h.clone(), t.vars);
                        conns.insert(h, t.conn);
                    }
                    Err(TargetError::Vars(e)) => {
                        // A `!vault` value that does not decrypt.
                        events.send(Event::TaskResult(TaskResult {
                            msg: Some(e.to_string()),
                            ..TaskResult::new(h.as_str(), "load variables", Status::Failed)
                        }));
                        events.send(Event::HostDone { host: h.clone() });
                        dead.push(h);
                    }
                    Err(TargetError::Conn { vars, error }) => {
                        all_vars.insert(h.clone(), *vars);
                        events.send(Event::Unreachable {
                            host: h.clone(),
                            task: "connect".into(),
                            msg: error.to_string(),
                        });
                        events.send(Event::HostDone { host: h.clone() });
                        dead.push(h);
                    }
                }
            }
            for (h, e) in preflight(&hosts, &dead, &all_vars, &conns) {
                // Refused before anything connects: the host fails alone.
                events.send(Event::TaskResult(TaskResult {
                    msg: Some(e.to_string()),
                    ..TaskResult::new(
                        h.as_str(),
                        "check the host's name and settings",
                        Status::Failed,
                    )
                }));
                events.send(Event::HostDone { host: h.clone() });
                dead.push(h);
            }
            let hosts: Vec<String> = hosts.into_iter().filter(|h| !dead.contains(h)).collect();
            resolver.warn_unresolved(&events);
            common::warn_unchecked_host_keys(
                hosts.iter().filter_map(|h| conns.get(h).map(|c| &c.spec)),
                &mut host_keys_warned,
                &events,
            );
            let limits = FailureLimits::of(play);
            let mut stop = false;
            for batch in batches(&hosts, &play.serial) {
                if stop || cancel.is_cancelled() {
                    break;
                }
                let runs = pool::run_hosts(&batch, forks, &cancel, &events, |host, ev| {
                    run_host(
                        host, play, &b.dir, &all_vars, &conns, &sessions, &memories, &opts, ev,
                        keep,
                    )
                })?;
                let failed = failed_hosts(&runs);
                let verdict = limits.after_batch(batch.len(), failed.len());
                dead.extend(failed);
                if let Some(msg) = verdict.warning {
                    events.send(Event::Warning { host: None, msg });
                }
                stop = verdict.stop;
            }
            if stop {
                break;
            }
        }
    }
    drop(sessions);
    let (summary, record) = handle.finish(cancel.is_cancelled());
    if let Some(path) = &args.retry_file {
        summary.stats.write_retry_file(path)?;
    }
    let info = all_vars
        .iter()
        .map(|(h, v)| (h.clone(), outputs::host_info(v, conns.get(h))))
        .collect();
    args.files.write(
        record.as_ref(),
        &outputs::suite_name(playbooks),
        &info,
        args.fail_on_change,
    )?;
    Ok(outputs::exit_code(&summary, args.fail_on_change))
}

/// Load the playbooks with their roles, and say where each role came from (stderr with
/// `--json`, whose stdout holds only events).
fn load_books(
    playbooks: &[PathBuf],
    extra_roles: &[PathBuf],
    embedded: Option<&Extracted>,
    json: bool,
) -> crate::Result<Vec<crate::playbook::Playbook>> {
    let mut roles_path = extra_roles.to_vec();
    let configured = crate::config::installed().pathspec(crate::config::ROLES_PATH);
    if configured.is_empty() {
        roles_path.extend(crate::playbook::embedded::default_roles_path());
    } else {
        roles_path.extend(configured);
    }
    roles_path.extend(embedded.map(Extracted::roles_dir));
    let mut books = Vec::new();
    for p in playbooks {
        books.push(load_playbook(p, &roles_path)?);
    }
    for line in outputs::role_sources(&books, embedded) {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(books)
}

/// The controller's checks of a play's hosts before any of them is touched
/// (`knock::preflight`): names, knock settings and rollback window, and two inventory names
/// for one machine. Hosts already failed are left out.
fn preflight(
    hosts: &[String],
    dead: &[String],
    all_vars: &HashMap<String, Vars>,
    conns: &HashMap<String, HostConn>,
) -> Vec<(String, PreflightError)> {
    let mut refused = Vec::new();
    let mut knocking = Vec::new();
    for h in hosts.iter().filter(|h| !dead.contains(h)) {
        let (Some(vars), Some(c)) = (all_vars.get(h), conns.get(h)) else {
            continue;
        };
        let checked = check_host_name(h).and_then(|()| {
            let vars = crate::knock::profile::with_session_port(vars, c.spec.port);
            check_knock(h, &vars, c.spec.connect_timeout, c.spec.knock_retries)
        });
        match checked {
            Ok(Some(_)) => {
                let ip = crate::transport::spec::resolve_ip(&c.spec.address, c.spec.port);
                let endpoint = match ip {
                    Some(ip) => std::net::SocketAddr::new(ip, c.spec.port).to_string(),
                    None => c.spec.addr().to_lowercase(),
                };
                knocking.push((h.as_str(), endpoint));
            }
            Ok(None) => {}
            Err(e) => refused.push((h.clone(), e)),
        }
    }
    refused.extend(aliases(knocking));
    refused
}

#[allow(clippy::too_many_arguments)]
fn run_host(
    host: &str,
    play: &Play,
    dir: &std::path::Path,
    all_vars: &HashMap<String, Vars>,
    conns: &HashMap<String, HostConn>,
    sessions: &Mutex<HashMap<String, Box<dyn Transport>>>,
    memories: &Mutex<HashMap<String, HostMemory>>,
    opts: &RunOpts,
    ev: &crate::runner::channel::EventSender,
    keep_session: bool,
) -> HostOutcome {
    let Some(hc) = conns.get(host) else {
        return HostOutcome::Unreachable;
    };
    let warn = connect::dial::warn_to(ev, host);
    let existing = sessions.lock().ok().and_then(|mut s| s.remove(host));
    let mut conn = match existing {
        Some(c) => c,
        None => match hc.connect_first(&warn) {
            Ok(c) => c,
            Err(e) => return crate::cli::run::transport_failure(host, &e, ev),
        },
    };
    let mut memory = memories
        .lock()
        .ok()
        .and_then(|mut m| m.remove(host))
        .unwrap_or_default();
    // `true`: the current knock (proofs); `false`: the way the first session got in (the old
    // rules, after a rollback).
    let connector = |knock: bool| {
        if knock {
            hc.connect(true, &warn)
        } else {
            hc.reconnect_as_before(&warn)
        }
    };
    let connector_ref: &Connector<'_> = &connector;
    let sink = |e: Event| {
        let warning = hc.note_knock_event(&e);
        ev.send(e);
        if let Some(msg) = warning {
            ev.send(Event::Warning {
                host: Some(host.to_string()),
                msg,
            });
        }
    };
    let vars = all_vars.get(host).cloned().unwrap_or_default();
    let outcome: PlayOutcome = {
        let mut run = HostPlay::new(host, play, dir, vars, opts, &sink, &mut memory);
        run.extra_secrets = crate::knock::rotation::fallback_words(&hc.fallbacks);
        run.connector = Some(connector_ref);
        run.proxy = hc.spec.proxy.as_ref().map(ToString::to_string);
        run.endpoint = Some((hc.spec.address.clone(), hc.spec.port));
        run.run(conn.as_mut())
    };
    if let Ok(mut m) = memories.lock() {
        m.insert(host.to_string(), memory);
    }
    if keep_session && !outcome.unreachable {
        if let Ok(mut s) = sessions.lock() {
            s.insert(host.to_string(), conn);
        }
    }
    if outcome.unreachable {
        HostOutcome::Unreachable
    } else if outcome.failed {
        HostOutcome::Failed
    } else {
        HostOutcome::Ok
    }
}
