//! `service`: started/stopped/restarted/reloaded and enabled, through systemd when PID 1 is
//! systemd and through sysvinit's `service`/`update-rc.d` otherwise. A start is checked: a
//! daemon that exits right after `start` fails the task instead of passing silently.

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Step};
use crate::facts::{Query, State};
use crate::transport::{Cmd, Output};

pub static DEF: ModuleDef = ModuleDef {
    name: "service",
    summary: "Start, stop, restart, reload and enable services (systemd or sysvinit)",
    args: &[
        ("name", "service name"),
        ("state", "started | stopped | restarted | reloaded"),
        ("enabled", "start at boot"),
        ("daemon_reload", "systemctl daemon-reload first (systemd)"),
        (
            "use",
            "auto | systemd | sysvinit (default auto: from PID 1)",
        ),
    ],
    free_form: false,
    prepare,
};

struct Service {
    name: String,
    state: Option<String>,
    enabled: Option<bool>,
    daemon_reload: bool,
    force_use: Option<String>,
}

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let name = args.str("name")?;
    if name.starts_with('-') || name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(ModuleError::BadArg {
            module: "service",
            arg: "name".into(),
            msg: format!("`{name}` is not a service name"),
        });
    }
    let state = match args.get("state") {
        None => None,
        Some(_) => Some(args.choice(
            "state",
            &["started", "stopped", "restarted", "reloaded"],
            "started",
        )?),
    };
    let enabled = args.opt_bool("enabled")?;
    if state.is_none() && enabled.is_none() {
        return Err(ModuleError::MissingArg {
            module: "service",
            arg: "state or enabled".into(),
        });
    }
    let u = args.choice("use", &["auto", "systemd", "sysvinit"], "auto")?;
    Ok(Box::new(Service {
        name,
        state,
        enabled,
        daemon_reload: args.bool_or("daemon_reload", false)?,
        force_use: (u != "auto").then_some(u),
    }))
}

/// `$1` manager, `$2` name, `$3` daemon-reload, `$4` enable|disable|"", `$5` action|"".
const SCRIPT: &str = r#"m=$1; n=$2
if [ "$m" = systemd ]; then
  [ "$3" = 1 ] && { systemctl daemon-reload || exit 81; }
  [ -n "$4" ] && { systemctl "$4" -- "$n" >&2 || exit 82; }
  [ -n "$5" ] && { systemctl "$5" -- "$n" || exit 83; }
  case "$5" in start|restart|reload)
    i=0; while [ $i -lt 10 ]; do systemctl is-active --quiet -- "$n" && exit 0; sleep 0.3; i=$((i+1)); done
    echo "$n is not running after $5" >&2; systemctl status --no-pager -- "$n" >&2; exit 84 ;;
  esac
else
  if [ "$4" = enable ]; then update-rc.d "$n" defaults >&2 && update-rc.d "$n" enable >&2 || exit 82; fi
  if [ "$4" = disable ]; then update-rc.d "$n" disable >&2 || exit 82; fi
  [ -n "$5" ] && { service "$n" "$5" || exit 83; }
  case "$5" in start|restart|reload)
    i=0; while [ $i -lt 10 ]; do { service "$n" status >/dev/null 2>&1 || pgrep -x "$n" >/dev/null 2>&1; } && exit 0; sleep 0.3; i=$((i+1)); done
    echo "$n is not running after $5" >&2; exit 84 ;;
  esac
fi
exit 0"#;

impl Service {
    fn manager(&self, state: &State, ctx: &Ctx) -> String {
        match self.force_use.as_deref() {
            Some("systemd") => "systemd".into(),
            Some(_) => "sysv".into(),
            None => state
                .service(&self.name)
                .map(|s| s.manager.clone())
                .unwrap_or_else(|| {
                    if ctx.facts.service_mgr == "systemd" {
                        "systemd"
                    } else {
                        "sysv"
                    }
                    .into()
                }),
        }
    }

    fn work(&self, state: &State) -> (Option<&'static str>, Option<&'static str>) {
        let cur = state.service(&self.name);
        let active = cur.is_some_and(|s| s.active);
        let enabled = cur.is_some_and(|s| s.enabled);
        let action = match self.state.as_deref() {
            Some("started") if !active => Some("start"),
            Some("stopped") if active => Some("stop"),
            Some("restarted") => Some("restart"),
            Some("reloaded") => Some(if active { "reload" } else { "start" }),
            _ => None,
        };
        let en = match self.enabled {
            Some(true) if !enabled => Some("enable"),
            Some(false) if enabled => Some("disable"),
            _ => None,
        };
        (en, action)
    }
}

impl Action for Service {
    fn queries(&self) -> Vec<Query> {
        vec![Query::Service(self.name.clone())]
    }

    fn plan(&self, state: &State, ctx: &Ctx) -> Result<Plan, ModuleError> {
        if let Some(s) = state.service(&self.name) {
            if !s.exists {
                return Ok(Plan {
                    fail: Some(format!(
                        "service {} is not installed on this host",
                        self.name
                    )),
                    ..Plan::default()
                });
            }
        }
        let (en, action) = self.work(state);
        let mut p = Plan::ok();
        if let Some(e) = en {
            p.changes.push(format!("{e} {}", self.name));
        }
        if let Some(a) = action {
            p.changes.push(format!("{a} {}", self.name));
        }
        if p.is_change() {
            p.steps.push(Step::Run(
                Cmd::sh(SCRIPT)
                    .arg("sesame-service")
                    .arg(self.manager(state, ctx))
                    .arg(&self.name)
                    .arg(if self.daemon_reload { "1" } else { "0" })
                    .arg(en.unwrap_or(""))
                    .arg(action.unwrap_or("")),
            ));
        }
        Ok(p)
    }

    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        let mut a = Applied::default();
        if let Some(out) = outs.last() {
            a.data = super::output_data(out);
            a.failed =
                (!out.ok()).then(|| format!("service {}: {}", self.name, out.stderr_str().trim()));
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{prepare, TestCtx};
    use crate::facts::{state::parse_answer, Query, State};
    use crate::transport::fake::FakeTransport;
    use serde_json::json;

    #[test]
    fn sysvinit_and_systemd_paths() {
        let t = TestCtx::new();
        let a = prepare(
            "service",
            json!({"name": "knockd", "state": "started", "enabled": true}),
            &t,
        );
        let mut s = State::default();
        let q = Query::Service("knockd".into());
        s.insert(q.clone(), parse_answer(&q, "sysv inactive disabled\n"));
        let p = a.plan(&s, &t.ctx()).unwrap();
        assert_eq!(p.changes, vec!["enable knockd", "start knockd"]);
        let mut fake = FakeTransport::new("h1");
        super::super::testutil::run_steps(a.as_ref(), &p, &mut fake);
        assert!(
            fake.commands[0].ends_with("sesame-service sysv knockd 0 enable start"),
            "{}",
            fake.commands[0]
        );
        s.insert(q.clone(), parse_answer(&q, "systemd active enabled\n"));
        assert!(!a.plan(&s, &t.ctx()).unwrap().is_change());
        s.insert(q.clone(), parse_answer(&q, "systemd inactive enabled\n"));
        let p = a.plan(&s, &t.ctx()).unwrap();
        let mut fake = FakeTransport::new("h1");
        super::super::testutil::run_steps(a.as_ref(), &p, &mut fake);
        assert!(
            fake.commands[0].ends_with("sesame-service systemd knockd 0 '' start"),
            "{}",
            fake.commands[0]
        );
    }
}
