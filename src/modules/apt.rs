//! `apt`: packages present or absent, never prompting. The cache is refreshed only when a
//! package must be installed and the lists are missing or older than `cache_valid_time`, so a
//! re-run with everything installed does nothing. Install and update go in one command.

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Stale, Step};
use crate::facts::{Query, State};
use crate::transport::{Cmd, Output};
use std::time::Duration;

pub static DEF: ModuleDef = ModuleDef {
    name: "apt",
    summary: "Install or remove Debian packages",
    args: &[
        ("name", "package or list of packages (alias: pkg)"),
        ("pkg", "alias of name"),
        ("state", "present | absent (default present)"),
        (
            "update_cache",
            "run apt-get update before installing when needed",
        ),
        (
            "cache_valid_time",
            "seconds the package lists stay fresh (default 0 = always update when installing)",
        ),
        (
            "install_recommends",
            "install recommended packages (default: apt's setting)",
        ),
        ("purge", "purge configuration when removing"),
    ],
    free_form: false,
    prepare,
};

/// How long an install may take before the command times out.
const APT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Apt {
    names: Vec<String>,
    present: bool,
    update_cache: bool,
    cache_valid_time: u64,
    recommends: Option<bool>,
    purge: bool,
}

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let mut names = args.str_list("name")?;
    names.extend(args.str_list("pkg")?);
    for n in &names {
        let ok = !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.:=_~".contains(c))
            && !n.starts_with('-');
        if !ok {
            return Err(ModuleError::BadArg {
                module: "apt",
                arg: "name".into(),
                msg: format!("`{n}` is not a package name"),
            });
        }
    }
    let update_cache = args.bool_or("update_cache", false)?;
    if names.is_empty() && !update_cache {
        return Err(ModuleError::MissingArg {
            module: "apt",
            arg: "name".into(),
        });
    }
    Ok(Box::new(Apt {
        names,
        present: args
            .choice(
                "state",
                &["present", "absent", "installed", "removed"],
                "present",
            )?
            .starts_with(['p', 'i']),
        update_cache,
        cache_valid_time: args.opt_u64("cache_valid_time")?.unwrap_or(0),
        recommends: args.opt_bool("install_recommends")?,
        purge: args.bool_or("purge", false)?,
    }))
}

/// `$1` = "1" to update first; `$2` = install|remove|purge; `$3` = recommends flag; the rest
/// are packages.
const SCRIPT: &str = r#"export DEBIAN_FRONTEND=noninteractive
upd=$1; op=$2; rec=$3; shift 3
o="-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
if [ "$upd" = 1 ]; then apt-get -q -o DPkg::Lock::Timeout=300 update >&2 || exit 90; fi
[ $# -gt 0 ] || exit 0
case "$op" in
install) apt-get $o $rec install -- "$@" ;;
remove) apt-get $o remove -- "$@" ;;
purge) apt-get $o purge -- "$@" ;;
esac"#;

impl Apt {
    fn op(&self) -> &'static str {
        match (self.present, self.purge) {
            (true, _) => "install",
            (false, true) => "purge",
            (false, false) => "remove",
        }
    }

    fn package_key(n: &str) -> &str {
        n.split('=').next().unwrap_or(n)
    }

    fn work(&self, state: &State) -> (Vec<String>, bool) {
        let todo: Vec<String> = self
            .names
            .iter()
            .filter(|n| {
                let installed = state
                    .package(Self::package_key(n))
                    .is_some_and(|v| v.is_some());
                installed != self.present
            })
            .cloned()
            .collect();
        let stale = match state.apt_lists() {
            Some((Some(newest), now)) => now.saturating_sub(newest) > self.cache_valid_time,
            _ => true,
        };
        let need_update = self.update_cache
            && stale
            && (self.names.is_empty() || (self.present && !todo.is_empty()));
        (todo, need_update)
    }
}

impl Action for Apt {
    fn queries(&self) -> Vec<Query> {
        let mut q: Vec<Query> = self
            .names
            .iter()
            .map(|n| Query::Package(Self::package_key(n).to_string()))
            .collect();
        if self.update_cache {
            q.push(Query::AptLists);
        }
        q
    }

    fn plan(&self, state: &State, _ctx: &Ctx) -> Result<Plan, ModuleError> {
        let (todo, update) = self.work(state);
        let mut p = Plan::ok();
        if update {
            p.changes.push("update package lists".into());
        }
        if !todo.is_empty() {
            p.changes.push(format!(
                "{} {}",
                if self.present { "install" } else { "remove" },
                todo.join(", ")
            ));
        }
        if p.is_change() {
            let rec = match self.recommends {
                Some(true) => "--install-recommends",
                Some(false) => "--no-install-recommends",
                None => "",
            };
            let cmd = Cmd::sh(SCRIPT)
                .arg("sesame-apt")
                .arg(if update { "1" } else { "0" })
                .arg(self.op())
                .arg(rec)
                .args(todo)
                .timeout(APT_TIMEOUT);
            p.steps.push(Step::Run(cmd));
        }
        Ok(p)
    }

    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        let mut a = Applied::default();
        let Some(out) = outs.last() else { return a };
        a.data = super::output_data(out);
        if !out.ok() {
            let what = format!(
                "apt-get {}",
                if out.status == 90 {
                    "update"
                } else {
                    self.op()
                }
            );
            a.failed = Some(super::step_failure(&what, out));
        }
        a
    }

    fn stale(&self) -> Stale {
        Stale::All
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{prepare, TestCtx};
    use crate::facts::{Query, QueryAnswer, State};
    use serde_json::json;

    #[test]
    fn installed_packages_plan_nothing_even_with_stale_cache() {
        let t = TestCtx::new();
        let a = prepare(
            "apt",
            json!({"name": ["knockd", "iptables-persistent"], "update_cache": true, "cache_valid_time": 3600}),
            &t,
        );
        let mut s = State::default();
        s.insert(
            Query::Package("knockd".into()),
            QueryAnswer::Package(Some("0.8".into())),
        );
        s.insert(
            Query::Package("iptables-persistent".into()),
            QueryAnswer::Package(Some("1.0".into())),
        );
        s.insert(
            Query::AptLists,
            QueryAnswer::AptLists {
                newest: None,
                now: 100,
            },
        );
        assert!(!a.plan(&s, &t.ctx()).unwrap().is_change());
        s.insert(Query::Package("knockd".into()), QueryAnswer::Package(None));
        let p = a.plan(&s, &t.ctx()).unwrap();
        assert_eq!(p.changes, vec!["update package lists", "install knockd"]);
        s.insert(
            Query::AptLists,
            QueryAnswer::AptLists {
                newest: Some(90),
                now: 100,
            },
        );
        assert_eq!(
            a.plan(&s, &t.ctx()).unwrap().changes,
            vec!["install knockd"]
        );
    }
}
