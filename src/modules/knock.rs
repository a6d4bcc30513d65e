//! The port-knocking modules: `knock_validate` (the host's knock settings, checked on the
//! controller before anything touches the host), `knock_apply` (the firewall and knockd as one
//! safe transaction, see `knock::apply`) and `knock` (send a sequence from the controller).

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Stale, Step};
use crate::facts::{Query, State};
use crate::knock::apply::{Transaction, Vantage};
use crate::knock::removal::{self, KnockState};
use crate::knock::{self, KnockMode, KnockProfile, NetFacts, RenderedFiles};
use crate::transport::Transport;
use std::net::IpAddr;
use std::path::PathBuf;

pub static VALIDATE: ModuleDef = ModuleDef {
    name: "knock_validate",
    summary: "Check the host's knock_* variables on the controller",
    args: &[],
    free_form: false,
    prepare: prepare_validate,
};

pub static APPLY: ModuleDef = ModuleDef {
    name: "knock_apply",
    summary: "Install the knock firewall (and knockd) as one proven, self-rolling-back transaction",
    args: &[(
        "templates",
        "role directory holding templates/ (default: the task's role)",
    )],
    free_form: false,
    prepare: prepare_apply,
};

pub static KNOCK: ModuleDef = ModuleDef {
    name: "knock",
    summary: "Send the host's knock sequence (or the close sequence) from the controller",
    args: &[
        ("close", "send knock_close_sequence instead (knockd)"),
        ("host", "address to knock (default: ansible_host)"),
    ],
    free_form: false,
    prepare: prepare_knock,
};

/// The host's validated profile, from its variables and facts.
pub fn profile(ctx: &Ctx) -> Result<KnockProfile, ModuleError> {
    let facts = NetFacts {
        default_interface: ctx.facts.default_interface.clone(),
        has_ipv6: ctx.facts.has_ipv6(),
        controller_ip: ctx
            .facts
            .controller_ip
            .as_deref()
            .and_then(|s| s.parse().ok()),
        forwarded_ports: ctx
            .facts
            .forwarded_ports
            .iter()
            .map(|&(proto, port)| knock::KnockPort {
                port,
                proto: if proto == "udp" {
                    knock::Proto::Udp
                } else {
                    knock::Proto::Tcp
                },
            })
            .collect(),
    };
    let vars = match ctx.endpoint {
        Some((_, port)) => knock::profile::with_session_port(ctx.vars, port),
        None => std::borrow::Cow::Borrowed(ctx.vars),
    };
    // Every invalid variable at once, the earlier sequences' included.
    let earlier = knock::rotation::previous(ctx.host, &vars);
    let profile = knock::doors::profile_from_vars(ctx.host, &vars, &facts);
    let errors = match (profile, earlier) {
        (Ok(p), Ok(_)) => return Ok(p),
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        (Err(mut e), Err(more)) => {
            e.errors.extend(more.errors);
            e
        }
    };
    Err(ModuleError::Failed {
        module: "knock_validate",
        msg: errors.to_string(),
    })
}

/// Refuses a host whose own INPUT rules accept a protected port from anywhere before sesame's
/// jump (iptables backend, facts gathered): knocking could not close that port, and the rule is
/// not sesame's to remove (`knock::shadow`). Checked before anything touches the host, and on
/// every re-run, where a rule added since would otherwise pass as a converged host.
fn refuse_shadowed(
    ctx: &Ctx,
    profile: &KnockProfile,
    module: &'static str,
) -> Result<(), ModuleError> {
    if profile.backend != knock::Backend::Iptables {
        return Ok(());
    }
    let found = knock::shadow::shadowing(&ctx.facts.input_rules, &profile.protected_ports);
    if found.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    Err(ModuleError::Failed {
        module,
        msg: format!(
            "{}. sesame adds its chain after the host's own INPUT rules and never changes them, \
so knocking cannot close that port: remove the rule from the live firewall and from whatever \
restores it at boot, or use knock_backend: nftables (its drop holds whatever another table \
accepts), then run sesame again. The firewall was not touched",
            list.join("; ")
        ),
    })
}

/// The address sesame reaches the host on: the one its sessions connect to (after ssh_config's
/// HostName), else `ansible_host`, else the inventory name; names are resolved.
pub fn host_addr(ctx: &Ctx) -> Result<IpAddr, ModuleError> {
    let h = match ctx.endpoint {
        Some((a, _)) => a,
        None => ctx
            .vars
            .get("ansible_host")
            .and_then(|v| v.as_str())
            .unwrap_or(ctx.host),
    };
    crate::transport::spec::resolve_ip(h, ssh_port(ctx))
        .ok_or_else(|| ModuleError::failed("knock", format!("cannot resolve {h}")))
}

/// The SSH port the host's sessions connect to.
fn ssh_port(ctx: &Ctx) -> u16 {
    if let Some((_, port)) = ctx.endpoint {
        return port;
    }
    match crate::vars::ansible_port(ctx.vars) {
        Some((_, Ok(p))) => p,
        _ => 22,
    }
}

struct Validate {
    warnings: Vec<String>,
}

/// `knock_state` of the host, an invalid value being a validation failure.
fn wanted(ctx: &Ctx) -> Result<KnockState, ModuleError> {
    removal::wanted(ctx.host, ctx.vars).map_err(|e| ModuleError::Failed {
        module: "knock_validate",
        msg: e.to_string(),
    })
}

fn prepare_validate(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    if wanted(ctx)? == KnockState::Absent {
        // Taking sesame off needs no valid knock profile; the earlier knocks must be readable.
        knock::rotation::previous(ctx.host, ctx.vars).map_err(|e| ModuleError::Failed {
            module: "knock_validate",
            msg: e.to_string(),
        })?;
        return Ok(Box::new(Validate {
            warnings: Vec::new(),
        }));
    }
    let p = profile(ctx)?;
    refuse_shadowed(ctx, &p, "knock_validate")?;
    Ok(Box::new(Validate {
        warnings: p.warnings.iter().map(|w| w.to_string()).collect(),
    }))
}

impl Action for Validate {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        let mut p = Plan::ok();
        if !self.warnings.is_empty() {
            p.msg = Some(self.warnings.join("; "));
        }
        Ok(p)
    }
}

struct Apply {
    profile: KnockProfile,
    files: RenderedFiles,
}

fn templates_dir(args: &Args, ctx: &Ctx) -> Result<PathBuf, ModuleError> {
    if let Some(t) = args.opt_str("templates")? {
        return Ok(PathBuf::from(t));
    }
    ctx.search_dirs
        .iter()
        .find(|d| d.join("templates").join("rules.v4.tera").exists())
        .cloned()
        .or_else(|| {
            ctx.search_dirs
                .iter()
                .map(|d| d.join("roles").join("port_knocking"))
                .find(|d| d.join("templates").exists())
        })
        .ok_or_else(|| {
            ModuleError::failed(
                "knock_apply",
                "no port_knocking templates found (run it from the port_knocking role)",
            )
        })
}

fn prepare_apply(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    if wanted(ctx)? == KnockState::Absent {
        let rollback = ctx
            .vars
            .get("knock_rollback_seconds")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (10..=knock::profile::MAX_SECONDS).contains(n))
            .unwrap_or(60);
        return Ok(Box::new(Remove { rollback }));
    }
    let profile = profile(ctx)?;
    refuse_shadowed(ctx, &profile, "knock_apply")?;
    let files = knock::render(&profile, &templates_dir(args, ctx)?)
        .map_err(|e| ModuleError::failed("knock_apply", e.to_string()))?;
    Ok(Box::new(Apply { profile, files }))
}

impl Apply {
    fn knockd(&self) -> bool {
        self.profile.mode == KnockMode::Knockd
    }

    /// The new content of the record of packages sesame installed, when it changes: the
    /// packages the role installs that the host lacked when the play started (facts).
    fn package_record(&self, state: &State, ctx: &Ctx) -> Option<String> {
        let existing = match state.file(removal::PACKAGES_RECORD) {
            Some(Some(f)) => f.content.clone().unwrap_or_default(),
            _ => Vec::new(),
        };
        let gathered = (!ctx.facts.os_id.is_empty()).then_some(&ctx.facts.packages);
        let nft = self.profile.backend == knock::Backend::Nftables;
        let record = removal::record_after(&existing, gathered, self.knockd(), nft);
        (record.as_bytes() != existing.as_slice() && !record.is_empty()).then_some(record)
    }
}

/// `knock_state: absent`: sesame's rules, files, knockd and packages off the host, proven with
/// a plain SSH session (see `knock::removal`).
struct Remove {
    rollback: u32,
}

impl Action for Remove {
    fn queries(&self) -> Vec<Query> {
        removal::queries()
    }

    fn plan(&self, state: &State, _ctx: &Ctx) -> Result<Plan, ModuleError> {
        let mut p = Plan::ok();
        p.changes = removal::RemovalPlan::from_state(state).changes;
        if p.is_change() {
            p.steps.push(Step::Transaction);
        }
        Ok(p)
    }

    fn apply(
        &self,
        _p: &Plan,
        state: &State,
        conn: &mut dyn Transport,
        ctx: &Ctx,
    ) -> Result<Applied, ModuleError> {
        let plan = removal::RemovalPlan::from_state(state);
        let r = removal::Removal {
            host: ctx.host,
            plan: &plan,
            rollback_seconds: self.rollback,
            systemd: ctx.facts.service_mgr == "systemd",
            ipv6_rules: ctx.facts.ip6tables_usable,
            events: ctx.events,
        };
        let out = r.run(conn, ctx.connector, ctx.escalate.clone())?;
        let mut a = Applied::default();
        a.data.insert("rolled_back".into(), out.rolled_back.into());
        if let Some(b) = out.backup {
            a.data.insert("backup".into(), b.into());
        }
        a.failed = out.failure.map(|f| ctx.masker.mask(&f));
        Ok(a)
    }

    fn stale(&self) -> Stale {
        Stale::All
    }
}

/// The knock ports an old sesame file names: knockd.conf's `sequence = 7000:tcp,8000:udp`
/// lines, and the knock gates of rules files (`--dport N ... --set ... -j DROP`).
pub fn old_knock_ports(text: &str) -> Vec<String> {
    let mut ports = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("sequence") {
            if let Some(value) = rest.trim_start().strip_prefix('=') {
                ports.extend(value.split(',').filter_map(|k| {
                    let p = k.trim().split(':').next()?.trim();
                    p.parse::<u16>().ok().map(|n| n.to_string())
                }));
            }
        } else if l.contains(" --set ") && l.ends_with("-j DROP") {
            let mut words = l.split_whitespace();
            while let Some(w) = words.next() {
                if w == "--dport" {
                    if let Some(n) = words.next().and_then(|p| p.parse::<u16>().ok()) {
                        ports.push(n.to_string());
                    }
                }
            }
        }
    }
    ports
}

impl Action for Apply {
    fn queries(&self) -> Vec<Query> {
        let mut q: Vec<Query> = self.files.keys().map(|p| Query::File(p.clone())).collect();
        q.push(Query::File(removal::PACKAGES_RECORD.into()));
        q.push(Query::Firewall(self.profile.names.door_chain.clone()));
        if self.knockd() {
            q.push(Query::Service("knockd".into()));
        }
        q
    }

    fn plan(&self, state: &State, ctx: &Ctx) -> Result<Plan, ModuleError> {
        let mut p = Plan::ok();
        let mut diffs = String::new();
        if self.package_record(state, ctx).is_some() {
            p.changes.push(format!(
                "record the packages sesame installed in {}",
                removal::PACKAGES_RECORD
            ));
        }
        for (path, f) in &self.files {
            // The host's old files name its old sequence (a `-C -D` of a sequence change shows
            // it): the run's masker learns it before anything can show it.
            if let Some(Some(cur)) = state.file(path) {
                if let Some(old) = &cur.content {
                    crate::vars::mask::register(old_knock_ports(&String::from_utf8_lossy(old)));
                }
            }
            match state.file(path) {
                Some(Some(cur))
                    if cur.content.as_deref() == Some(f.content.as_bytes())
                        && cur.mode == f.mode => {}
                Some(Some(cur)) => {
                    p.changes.push(format!("update {path}"));
                    if ctx.diff {
                        let before = cur
                            .content
                            .as_ref()
                            .map(|c| String::from_utf8_lossy(c).into_owned())
                            .unwrap_or_default();
                        diffs.push_str(&super::unified_diff(path, &before, &f.content));
                    }
                }
                _ => {
                    p.changes.push(format!("create {path}"));
                    if ctx.diff {
                        diffs.push_str(&super::unified_diff(path, "", &f.content));
                    }
                }
            }
        }
        match state.firewall(&self.profile.names.door_chain) {
            Some((live, recorded)) if !recorded.is_empty() && live == recorded => {}
            _ => p.changes.push("load and prove the firewall rules".into()),
        }
        if self.knockd() {
            match state.service("knockd") {
                Some(s) if s.active && s.enabled => {}
                _ => p.changes.push("enable and start knockd".into()),
            }
        }
        if !p.changes.is_empty() && !p.changes.iter().any(|c| c.starts_with("load")) {
            p.changes.push("load and prove the firewall rules".into());
        }
        if !diffs.is_empty() {
            p.diff = Some(diffs);
        }
        p.msg = Some(ctx.masker.mask(&self.profile.masked()));
        if p.is_change() {
            p.steps.push(Step::Transaction);
        }
        Ok(p)
    }

    fn apply(
        &self,
        _p: &Plan,
        state: &State,
        conn: &mut dyn Transport,
        ctx: &Ctx,
    ) -> Result<Applied, ModuleError> {
        // The package record rides along with the transaction (and is rolled back with it).
        let mut files = self.files.clone();
        if let Some(record) = self.package_record(state, ctx) {
            files.insert(
                removal::PACKAGES_RECORD.into(),
                knock::RenderedFile {
                    content: record,
                    mode: 0o644,
                },
            );
        }
        let tx = Transaction {
            host: ctx.host,
            addr: host_addr(ctx)?,
            ssh_port: ssh_port(ctx),
            profile: &self.profile,
            files: &files,
            systemd: ctx.facts.service_mgr == "systemd",
            vantage: Vantage {
                controller_ip: ctx
                    .facts
                    .controller_ip
                    .as_deref()
                    .and_then(|s| s.parse().ok()),
                proxy: ctx.proxy.map(str::to_string),
                other_addrs: ctx
                    .facts
                    .ipv6_addresses
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect(),
                // Measured on the session in use when the transaction runs.
                round_trip: None,
            },
            events: ctx.events,
        };
        let out = tx.run(conn, ctx.connector, ctx.escalate.clone())?;
        let mut a = Applied::default();
        a.data.insert("rolled_back".into(), out.rolled_back.into());
        if let Some(v6) = out.ipv6 {
            a.data.insert("ipv6".into(), v6.into());
        }
        if let Some(b) = out.backup {
            a.data.insert("backup".into(), b.into());
        }
        a.failed = out.failure.map(|f| ctx.masker.mask(&f));
        Ok(a)
    }

    fn stale(&self) -> Stale {
        Stale::All
    }
}

struct Knock {
    addr: IpAddr,
    profile: KnockProfile,
    close: bool,
}

fn prepare_knock(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let addr = match args.opt_str("host")? {
        Some(h) => h.parse().map_err(|_| ModuleError::BadArg {
            module: "knock",
            arg: "host".into(),
            msg: format!("`{h}` is not an IP address"),
        })?,
        None => host_addr(ctx)?,
    };
    Ok(Box::new(Knock {
        addr,
        profile: profile(ctx)?,
        close: args.bool_or("close", false)?,
    }))
}

impl Action for Knock {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        let seq = if self.close {
            &self.profile.close_sequence
        } else {
            &self.profile.sequence
        };
        let fail = if self.profile.mode == KnockMode::SinglePort {
            self.profile
                .protected_ports
                .is_empty()
                .then_some("no protected port")
        } else {
            seq.is_empty()
                .then_some("no close sequence (knock_close_sequence) for this host")
        };
        // The packets go in the step: planning (and --check) sends nothing.
        Ok(Plan {
            fail: fail.map(str::to_string),
            ..Plan::transaction()
        })
    }

    fn apply(
        &self,
        _p: &Plan,
        _s: &State,
        _conn: &mut dyn Transport,
        _c: &Ctx,
    ) -> Result<Applied, ModuleError> {
        // single_port knocks on its protected port whatever `close` says (plan checked it).
        let which = if self.close && self.profile.mode != KnockMode::SinglePort {
            knock::Which::Close
        } else {
            knock::Which::Open
        };
        let res = self.profile.send(None, self.addr, which);
        Ok(match res {
            Ok(()) => Applied {
                msg: Some(format!("knocked {}", self.addr)),
                ..Applied::default()
            },
            Err(e) => Applied {
                failed: Some(e.to_string()),
                ..Applied::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::old_knock_ports;

    /// The golden files of every mode: the old ports found are exactly the sequences'.
    #[test]
    fn old_files_reveal_their_knock_ports_and_nothing_else() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/knock");
        let read = |case: &str, file: &str| {
            std::fs::read_to_string(format!("{data}/{case}/{file}")).unwrap()
        };
        let mut knockd = old_knock_ports(&read("knockd_close_udp", "etc_knockd.conf"));
        knockd.sort();
        assert_eq!(knockd, ["7000", "7100", "8000", "8100", "9000", "9100"]);
        assert!(old_knock_ports(&read("knockd_close_udp", "etc_iptables_rules.v4")).is_empty());
        for case in ["iptables_gates", "iptables_compact"] {
            let mut found = old_knock_ports(&read(case, "etc_iptables_rules.v4"));
            found.sort();
            found.dedup();
            assert_eq!(found, ["7000", "8000", "9000"], "{case}");
        }
        let sp = old_knock_ports(&read("single_port", "etc_iptables_rules.v4"));
        assert!(
            sp.is_empty(),
            "single_port knocks on the protected port: {sp:?}"
        );
    }
}
