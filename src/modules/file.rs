//! `file`: a directory exists, a path is absent, a file's mode/owner/group are set, or a file is
//! touched. Compared against the probed state; one command applies the whole change.

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Step};
use crate::facts::{Query, State};
use crate::transport::{Cmd, Output};

pub static DEF: ModuleDef = ModuleDef {
    name: "file",
    summary: "Manage a directory, a file's attributes, or remove a path",
    args: &[
        ("path", "path on the host (alias: dest, name)"),
        ("dest", "alias of path"),
        ("name", "alias of path"),
        ("state", "file | directory | absent | touch (default file)"),
        ("mode", "octal mode"),
        ("owner", "owner name"),
        ("group", "group name"),
    ],
    free_form: false,
    prepare,
};

struct File {
    path: String,
    state: String,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
}

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let path = args
        .opt_str("path")?
        .or(args.opt_str("dest")?)
        .or(args.opt_str("name")?)
        .ok_or(ModuleError::MissingArg {
            module: "file",
            arg: "path".into(),
        })?;
    Ok(Box::new(File {
        path,
        state: args.choice("state", &["file", "directory", "absent", "touch"], "file")?,
        mode: args.opt_mode("mode")?,
        owner: args.opt_str("owner")?,
        group: args.opt_str("group")?,
    }))
}

/// `$1` path, `$2` state, `$3` mode, `$4` owner, `$5` group.
const APPLY: &str = r#"p=$1
case "$2" in
absent) rm -rf -- "$p" ;;
directory) mkdir -p -- "$p" ;;
touch) touch -- "$p" ;;
esac || exit 1
if [ "$2" != absent ]; then
  [ -z "$3" ] || chmod -- "$3" "$p" || exit 2
  [ -z "$4" ] || chown -- "$4" "$p" || exit 3
  [ -z "$5" ] || chgrp -- "$5" "$p" || exit 4
fi"#;

impl Action for File {
    fn queries(&self) -> Vec<Query> {
        vec![Query::File(self.path.clone())]
    }

    fn plan(&self, state: &State, _ctx: &Ctx) -> Result<Plan, ModuleError> {
        let cur = state.file(&self.path).cloned().flatten();
        let mut p = Plan::ok();
        match (self.state.as_str(), &cur) {
            ("absent", None) => return Ok(p),
            ("absent", Some(_)) => p.changes.push(format!("remove {}", self.path)),
            ("directory", None) => p.changes.push(format!("create directory {}", self.path)),
            ("directory", Some(f)) if !f.is_dir() => {
                p.fail = Some(format!("{} exists and is not a directory", self.path));
                return Ok(p);
            }
            ("file", None) => {
                p.fail = Some(format!(
                    "file {} does not exist (use state=touch to create it)",
                    self.path
                ));
                return Ok(p);
            }
            ("touch", None) => p.changes.push(format!("create {}", self.path)),
            ("touch", Some(_)) => p.changes.push(format!("touch {}", self.path)),
            _ => {}
        }
        if let Some(f) = &cur {
            p.changes.extend(super::copy::attr_changes(
                f,
                self.mode,
                self.owner.as_deref(),
                self.group.as_deref(),
            ));
        }
        if p.is_change() {
            p.steps.push(Step::Run(
                Cmd::sh(APPLY)
                    .arg("sesame-file")
                    .arg(&self.path)
                    .arg(&self.state)
                    .arg(self.mode.map(|m| format!("{m:04o}")).unwrap_or_default())
                    .arg(self.owner.clone().unwrap_or_default())
                    .arg(self.group.clone().unwrap_or_default()),
            ));
        }
        Ok(p)
    }

    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        Applied::failed_unless_ok(outs, &self.path)
    }
}
