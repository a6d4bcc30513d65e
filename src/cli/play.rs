//! `sesame play`: run a playbook against an inventory, like `ansible-playbook`. Plays run in
//! order; inside a play every host goes through all tasks independently (Ansible's `free`
//! strategy) on one SSH session per host kept for the whole run, in `serial` batches.

use super::common;
use super::outputs;
use super::play_config::{Action, PlayConfig};
use crate::connect::{self, HostConn, TargetError};
use crate::inventory::Inventory;
use crate::knock::preflight::{aliases, check_host_name, check_knock, PreflightError};
use crate::playbook::embedded::Extracted;
use crate::playbook::exec::{HostMemory, HostPlay, PlayOutcome, RunOpts};
use crate::playbook::{load_playbook, Play};
use crate::runner::channel::EventSender;
use crate::runner::pool::{self, Cancel, HostOutcome};
use crate::runner::record;
use crate::runner::report::Reporter;
use crate::runner::rollout::{batches, failed_hosts, FailureLimits};
use crate::runner::{Event, Status, TaskResult};
use crate::transport::{Connector, Transport};
use crate::vars::Vars;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
    let ansible_cfg = crate::config::installed();
    let cfg = PlayConfig::resolve(&args, ansible_cfg)?;
    let books = load_books(playbooks, extra_roles, embedded, cfg.json)?;
    if cfg.action == Action::SyntaxCheck {
        for b in &books {
            println!("\nplaybook: {}", b.path.display());
        }
        return Ok(0);
    }
    let inv = common::load_inventory(&args.inventory)?;
    if let Action::List { hosts, tasks } = cfg.action {
        list(&books, &inv, cfg.limit.as_deref(), hosts, tasks)?;
        return Ok(0);
    }
    let overrides = args.conn.activate(ansible_cfg, cfg.conn.clone())?;
    let become_password = common::ask_become_pass(cfg.ask_become_pass)?;
    let (events, handle) =
        record::start(Reporter::stdio(cfg.report_options()), args.files.wanted());
    let cancel = Cancel::ctrl_c().unwrap_or_default();
    let mut run = PlayRun {
        cfg: &cfg,
        inv: &inv,
        opts: cfg.run_opts(become_password),
        events: &events,
        cancel: &cancel,
        resolver: connect::Resolver::new(&inv, &cfg.extra_vars, &overrides),
        sessions: Mutex::new(HashMap::new()),
        memories: Mutex::new(HashMap::new()),
        dead: Vec::new(),
        conns: HashMap::new(),
        all_vars: HashMap::new(),
        host_keys_warned: false,
    };
    run.books(&books)?;
    let PlayRun {
        sessions,
        conns,
        all_vars,
        ..
    } = run;
    drop(sessions);
    let (summary, record) = handle.finish(cancel.is_cancelled());
    if let Some(path) = &cfg.retry_file {
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
        cfg.fail_on_change,
    )?;
    Ok(outputs::exit_code(&summary, cfg.fail_on_change))
}

/// `--list-hosts` / `--list-tasks`: each play's hosts and tasks, as `ansible-playbook` lists them.
fn list(
    books: &[crate::playbook::Playbook],
    inv: &Inventory,
    limit: Option<&str>,
    list_hosts: bool,
    list_tasks: bool,
) -> crate::Result<()> {
    for b in books {
        println!("\nplaybook: {}", b.path.display());
        for (i, play) in b.plays.iter().enumerate() {
            let hosts = connect::select(inv, &play.hosts, limit)?;
            println!("\n  play #{} ({}): {}", i + 1, play.hosts, play.name);
            if list_hosts {
                println!(
                    "    pattern: ['{}']\n    hosts ({}):",
                    play.hosts,
                    hosts.len()
                );
                for h in &hosts {
                    println!("      {h}");
                }
            }
            if list_tasks {
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
    Ok(())
}

/// One run across its plays: hosts resolved once (when a play first names them), one session
/// and one memory per host handed from play to play, and the hosts that failed (left out of
/// the later plays).
struct PlayRun<'a> {
    cfg: &'a PlayConfig,
    inv: &'a Inventory,
    opts: RunOpts,
    events: &'a EventSender,
    cancel: &'a Cancel,
    resolver: connect::Resolver<'a>,
    sessions: Mutex<HashMap<String, Box<dyn Transport>>>,
    memories: Mutex<HashMap<String, HostMemory>>,
    dead: Vec<String>,
    conns: HashMap<String, HostConn>,
    all_vars: HashMap<String, Vars>,
    host_keys_warned: bool,
}

impl PlayRun<'_> {
    fn books(&mut self, books: &[crate::playbook::Playbook]) -> crate::Result<()> {
        let total_plays: usize = books.iter().map(|b| b.plays.len()).sum();
        let mut play_no = 0;
        // A stop (a failure limit, a whole batch failed) ends the run: no later play of this
        // playbook nor of the next ones runs, as in ansible-playbook.
        'books: for b in books {
            self.events.send(Event::PlaybookStart {
                path: b.path.display().to_string(),
                check: self.cfg.check,
            });
            for play in &b.plays {
                play_no += 1;
                // After the last play a host's session is closed at once: memory stays bounded
                // by --forks, not by the fleet size.
                let keep = play_no < total_plays;
                if self.play(&b.dir, play, keep)? {
                    break 'books;
                }
            }
        }
        Ok(())
    }

    /// One play on its hosts that have not failed yet. `true`: a failure limit or a batch
    /// whose every host failed stopped it, and the later plays do not run.
    fn play(&mut self, dir: &Path, play: &Play, keep: bool) -> crate::Result<bool> {
        let hosts: Vec<String> = connect::select(self.inv, &play.hosts, self.cfg.limit.as_deref())?
            .into_iter()
            .filter(|h| !self.dead.contains(h))
            .collect();
        self.events.send(Event::PlayStart {
            name: play.name.clone(),
            hosts: hosts.clone(),
        });
        if hosts.is_empty() {
            self.events.send(Event::Warning {
                host: None,
                msg: format!("no hosts matched `{}`; skipping play", play.hosts),
            });
            return Ok(false);
        }
        self.resolve_new(&hosts);
        self.refuse_before_connecting(&hosts);
        // Hosts that failed here (unusable settings, refused) are still this play's: they
        // count as failed in their batch, as they would in Ansible's.
        let refused: Vec<String> = hosts
            .iter()
            .filter(|h| self.dead.contains(h))
            .cloned()
            .collect();
        self.resolver.warn_unresolved(self.events);
        common::warn_unchecked_host_keys(
            hosts
                .iter()
                .filter(|h| !refused.contains(h))
                .filter_map(|h| self.conns.get(h).map(|c| &c.spec)),
            &mut self.host_keys_warned,
            self.events,
        );
        self.rollout(dir, play, &hosts, &refused, keep)
    }

    /// Resolve the hosts a play names for the first time.
    fn resolve_new(&mut self, hosts: &[String]) {
        // Each host is resolved once, on the main thread, when a play first names it; a
        // host whose settings are unusable fails alone, before anything touches it.
        let new: Vec<String> = hosts
            .iter()
            .filter(|h| !self.conns.contains_key(*h))
            .cloned()
            .collect();
        for (h, resolved) in self.resolver.resolve_all(&new) {
            match resolved {
                Ok(t) => {
                    self.all_vars.insert(h.clone(), t.vars);
                    self.conns.insert(h, t.conn);
                }
                Err(TargetError::Vars(e)) => {
                    // A `!vault` value that does not decrypt.
                    self.events.send(Event::TaskResult(TaskResult {
                        msg: Some(e.to_string()),
                        ..TaskResult::new(h.as_str(), "load variables", Status::Failed)
                    }));
                    self.events.send(Event::HostDone { host: h.clone() });
                    self.dead.push(h);
                }
                Err(TargetError::Conn { vars, error }) => {
                    self.all_vars.insert(h.clone(), *vars);
                    self.events.send(Event::Unreachable {
                        host: h.clone(),
                        task: "connect".into(),
                        msg: error.to_string(),
                    });
                    self.events.send(Event::HostDone { host: h.clone() });
                    self.dead.push(h);
                }
            }
        }
    }

    /// The controller's checks (`preflight`): a refused host fails alone, before anything
    /// connects.
    fn refuse_before_connecting(&mut self, hosts: &[String]) {
        for (h, e) in preflight(hosts, &self.dead, &self.all_vars, &self.conns) {
            // Refused before anything connects: the host fails alone.
            self.events.send(Event::TaskResult(TaskResult {
                msg: Some(e.to_string()),
                ..TaskResult::new(
                    h.as_str(),
                    "check the host's name and settings",
                    Status::Failed,
                )
            }));
            self.events.send(Event::HostDone { host: h.clone() });
            self.dead.push(h);
        }
    }

    /// The play's hosts in `serial` batches (`runner::rollout`), until a failure limit stops
    /// them or a whole batch fails. `refused`: hosts that failed before anything connected
    /// (they take their place in a batch, as failed). `true`: stopped.
    fn rollout(
        &mut self,
        dir: &Path,
        play: &Play,
        hosts: &[String],
        refused: &[String],
        keep: bool,
    ) -> crate::Result<bool> {
        let limits = FailureLimits::of(play);
        let all = batches(hosts, &play.serial);
        for (i, batch) in all.iter().enumerate() {
            if self.cancel.is_cancelled() {
                break;
            }
            let live: Vec<String> = batch
                .iter()
                .filter(|h| !refused.contains(h))
                .cloned()
                .collect();
            let runs = pool::run_hosts(
                &live,
                self.cfg.forks,
                self.cancel,
                self.events,
                |host, ev| {
                    run_host(
                        host,
                        play,
                        dir,
                        &self.all_vars,
                        &self.conns,
                        &self.sessions,
                        &self.memories,
                        &self.opts,
                        ev,
                        keep,
                    )
                },
            )?;
            let failed = failed_hosts(&runs);
            let failed_here = failed.len() + (batch.len() - live.len());
            let verdict = limits.after_batch(i + 1, all.len(), batch.len(), failed_here);
            self.dead.extend(failed);
            if let Some(msg) = verdict.warning {
                self.events.send(Event::Warning { host: None, msg });
            }
            if verdict.stop {
                return Ok(true);
            }
        }
        Ok(false)
    }
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
