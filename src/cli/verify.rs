//! `sesame verify`: prove every host's port knocking from this controller, read-only — the
//! protected port is silent before a knock, a knock opens it for a fresh SSH session, and a
//! close sequence closes it again (`knock::apply::Proof::prove`), and the other doors open and
//! the removed ones stay shut (`connect::doors`); a host marked `knock_state: absent` answers a
//! plain SSH session and has nothing of sesame's left (`knock::removed`). Meant for CI
//! schedules; changes nothing on any host.

use super::common;
use crate::connect::{self, HostConn};
use crate::knock::apply::{Proof, Vantage};
use crate::runner::pool::{self, Cancel, HostOutcome};
use crate::runner::record;
use crate::runner::report::{Format, ReportOptions, Reporter, Style};
use crate::runner::{Event, Status, TaskResult};
use crate::transport::Connector;
use std::collections::HashMap;
use std::path::PathBuf;

/// Arguments of `sesame verify`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A host whose inventory says `knock_state: absent` is proven the other way \
round: a new SSH session with no knock opens and authenticates, and its one command finds none \
of sesame's parts left (SESAME chains, table inet sesame, the sesame-knock boot unit, the files \
and records sesame writes; read as root, with sudo unless ansible_become is false; -K asks \
for sudo's password where the inventory has no ansible_become_password). \
Its result says `knocking removed: plain SSH answers`.\n\n\
Exit codes (for scheduled checks): 0 every host proven; 2 a host is not: \
it answers without a knock, the knock does not open it (also a host that is down: a dead host \
and a closed port look alike), the close sequence does not close it, or its knock settings are \
missing or invalid; for a `knock_state: absent` host, no plain SSH session opens without a \
knock (knocking still on, or the host down), sesame's parts are still there, or they could not \
be checked (not root and no sudo); 1 bad input \
before any host (inventory, flags); 99 interrupted."
)]
pub struct Args {
    /// Inventory file or directory (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Only hosts matching this pattern.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Hosts checked at once (default: `forks` of ansible.cfg, else 20).
    #[arg(short = 'f', long = "forks", value_parser = crate::cli::run::parse_forks)]
    pub forks: Option<usize>,
    /// Extra variables (as `sesame play -e`): `k=v`, YAML/JSON or `@file` (repeatable; they
    /// win over the inventory). Secrets (a knock_sequence, a password) go in an `@file` or a
    /// vault, never inline: a command line is visible to every local user in /proc.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Ask for the become (sudo) password on the terminal: the leftover check of a
    /// `knock_state: absent` host runs as root (hosts without `ansible_become_password`).
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        visible_alias = "ask-become-password"
    )]
    pub ask_become_pass: bool,
    /// One JSON event per line.
    #[arg(long = "json")]
    pub json: bool,
    #[command(flatten)]
    pub conn: common::ConnArgs,
    #[command(flatten)]
    pub files: super::outputs::ReportFiles,
}

const TASK: &str = "verify port knocking";

/// Run `sesame verify`.
pub fn run(args: Args) -> crate::Result<u8> {
    let inv = common::load_inventory(&args.inventory)?;
    let hosts = connect::select(&inv, "all", args.limit.as_deref())?;
    let overrides = args.conn.overrides()?;
    let forks = common::forks(crate::config::installed(), args.forks)?;
    let extra = common::extra_vars(&args.extra_vars)?;
    let become_password = common::ask_become_pass(common::ask_become(
        crate::config::installed(),
        args.ask_become_pass,
    )?)?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Human
    };
    let (events, handle) = record::start(
        Reporter::stdio(ReportOptions::for_terminal(format, Style::Playbook)),
        args.files.wanted(),
    );
    let cancel = Cancel::ctrl_c().unwrap_or_default();
    events.send(Event::PlayStart {
        name: "verify".into(),
        hosts: hosts.clone(),
    });
    // A host whose settings are wrong fails alone, with the reason, when its turn comes.
    let conns: HashMap<String, (Result<HostConn, String>, crate::vars::Vars)> =
        connect::resolve_targets(&inv, &hosts, &extra, &overrides, &events)
            .into_iter()
            .map(|(h, r)| {
                let entry = match r {
                    Ok(t) => (Ok(t.conn), t.vars),
                    Err(e) => (Err(e.to_string()), e.vars().cloned().unwrap_or_default()),
                };
                (h, entry)
            })
            .collect();
    common::warn_unchecked_host_keys(
        conns
            .values()
            .filter_map(|(c, _)| c.as_ref().ok().map(|c| &c.spec)),
        &mut false,
        &events,
    );
    pool::run_hosts(&hosts, forks, &cancel, &events, |host, ev| {
        ev.send(Event::TaskStart {
            host: host.to_string(),
            task: TASK.into(),
            handler: false,
        });
        let fail = |msg: String| {
            let mut r = TaskResult::new(host, TASK, Status::Failed);
            r.msg = Some(msg);
            ev.send(Event::TaskResult(r));
            HostOutcome::Failed
        };
        let Some((conn, vars)) = conns.get(host) else {
            return HostOutcome::Failed;
        };
        let hc = match conn {
            Ok(c) => c,
            Err(e) => return fail(e.clone()),
        };
        if hc.absent {
            let password = become_password.as_ref().map(|h| h.0.clone());
            return prove_removed(host, hc, vars, password, ev);
        }
        let Some(profile) = &hc.knock else {
            if !vars.contains_key("knock_sequence")
                && vars.get("knock_mode").and_then(|m| m.as_str()) != Some("single_port")
            {
                return fail("no knock_sequence for this host: nothing to verify".into());
            }
            let facts = crate::knock::NetFacts {
                default_interface: Some("unknown0".into()),
                ..Default::default()
            };
            return fail(
                match crate::knock::KnockProfile::from_vars(host, vars, &facts) {
                    Err(e) => e.to_string(),
                    Ok(_) => "invalid knock settings".into(),
                },
            );
        };
        let Some(addr) = crate::transport::spec::resolve_ip(&hc.spec.address, hc.spec.port) else {
            return fail(format!("cannot resolve the address `{}`", hc.spec.address));
        };
        let warn = connect::dial::warn_to(ev, host);
        let connector = |k: bool| hc.connect(k, &warn);
        let c: &Connector<'_> = &connector;
        let sink = |e: Event| ev.send(e);
        let vantage = Vantage {
            controller_ip: None,
            proxy: hc.spec.proxy.as_ref().map(ToString::to_string),
            // verify knows only the address it connects to (no facts gathered).
            other_addrs: Vec::new(),
            // No session before the knocked one: the longest probe wait.
            round_trip: None,
        };
        let proof = Proof {
            host,
            addr,
            ssh_port: hc.spec.port,
            profile,
            vantage: &vantage,
            events: Some(&sink),
        };
        match proof.prove(Some(c)) {
            Ok(_) => match connect::doors::prove_doors(host, hc, profile, addr, &sink, &warn) {
                Ok(()) => {
                    ev.send(Event::TaskResult(TaskResult::new(host, TASK, Status::Ok)));
                    HostOutcome::Ok
                }
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        }
    })?;
    let (summary, record) = handle.finish(cancel.is_cancelled());
    let info = conns
        .iter()
        .map(|(h, (c, v))| (h.clone(), super::outputs::host_info(v, c.as_ref().ok())))
        .collect();
    args.files.write(record.as_ref(), "verify", &info, false)?;
    Ok(summary.exit_code)
}

/// A host whose inventory says `knock_state: absent`: proven as the inventory says it, with
/// one plain session and one read-only command (`knock::removed`).
fn prove_removed(
    host: &str,
    hc: &HostConn,
    vars: &crate::vars::Vars,
    become_password: Option<String>,
    ev: &crate::runner::EventSender,
) -> HostOutcome {
    let warn = connect::dial::warn_to(ev, host);
    let connector = |k: bool| hc.connect(k, &warn);
    // As harden.yml (`become: true`) unless the host's ansible_become says otherwise; when
    // sesame already runs as root no sudo is used. sudo's password: the inventory's, else -K's.
    let escalate = crate::transport::become_for(
        host,
        vars,
        &crate::transport::BecomeAsked {
            keyword: Some(true),
            ..Default::default()
        },
        become_password,
    );
    let sink = |e: Event| ev.send(e);
    let result = match escalate {
        Ok(b) => crate::knock::removed::prove(host, &connector, b, Some(&sink)),
        Err(e) => Err(e.to_string()),
    };
    let mut r = match &result {
        Ok(_) => TaskResult::new(host, TASK, Status::Ok),
        Err(_) => TaskResult::new(host, TASK, Status::Failed),
    };
    r.msg = Some(match result {
        Ok(m) | Err(m) => m,
    });
    let outcome = match r.status {
        Status::Ok => HostOutcome::Ok,
        _ => HostOutcome::Failed,
    };
    ev.send(Event::TaskResult(r));
    outcome
}
