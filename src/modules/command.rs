//! `command` and `shell`: run a program (arguments quoted one by one) or a shell script. Not
//! idempotent unless told: `creates`/`removes` skip the run when the path says it is done.

use super::{output_data, Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Stale, Step};
use crate::facts::{Query, State};
use crate::transport::{Cmd, Output};
use crate::vars::shell_words;

const ARGS: &[(&str, &str)] = &[
    ("cmd", "the command line (also accepted as free form)"),
    ("argv", "the command as a list of arguments (command only)"),
    ("creates", "skip when this path exists"),
    ("removes", "skip unless this path exists"),
    ("chdir", "run in this directory"),
    ("stdin", "text fed to the command's standard input"),
    ("executable", "shell to use (shell only; default /bin/sh)"),
];

pub static COMMAND: ModuleDef = ModuleDef {
    name: "command",
    summary: "Run a program with arguments, no shell",
    args: ARGS,
    free_form: true,
    prepare: prepare_command,
};

pub static SHELL: ModuleDef = ModuleDef {
    name: "shell",
    summary: "Run a shell script",
    args: ARGS,
    free_form: true,
    prepare: prepare_shell,
};

struct Command {
    argv: Vec<String>,
    shell: Option<(String, String)>,
    creates: Option<String>,
    removes: Option<String>,
    chdir: Option<String>,
    stdin: Option<String>,
    module: &'static str,
}

/// Split the free form: Ansible lets `creates=... chdir=...` ride in the free-form text.
fn free_form(args: &Args) -> Result<(Option<String>, Vars2), ModuleError> {
    let mut extra = Vars2::default();
    let raw = match args.opt_str("_raw_params")? {
        None => return Ok((args.opt_str("cmd")?, extra)),
        Some(r) => r,
    };
    let mut kept = Vec::new();
    for w in raw.split(' ') {
        let mut taken = false;
        for key in ["creates", "removes", "chdir"] {
            if let Some(v) = w.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                extra.0.push((key, v.to_string()));
                taken = true;
            }
        }
        if !taken {
            kept.push(w);
        }
    }
    Ok((Some(kept.join(" ").trim().to_string()), extra))
}

#[derive(Default)]
struct Vars2(Vec<(&'static str, String)>);

impl Vars2 {
    fn get(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(a, _)| *a == k).map(|(_, v)| v.clone())
    }
}

fn common(args: &Args, module: &'static str, shell: bool) -> Result<Command, ModuleError> {
    args.check_known()?;
    let (line, extra) = free_form(args)?;
    let argv_list = args.str_list_raw("argv")?;
    let executable = args.opt_str("executable")?;
    let (argv, shell_script) = if shell {
        let script = line.ok_or(ModuleError::MissingArg {
            module,
            arg: "cmd".into(),
        })?;
        (
            Vec::new(),
            Some((executable.unwrap_or_else(|| "/bin/sh".into()), script)),
        )
    } else if !argv_list.is_empty() {
        (argv_list, None)
    } else {
        let l = line.ok_or(ModuleError::MissingArg {
            module,
            arg: "cmd".into(),
        })?;
        let w = shell_words(&l);
        if w.is_empty() {
            return Err(ModuleError::MissingArg {
                module,
                arg: "cmd".into(),
            });
        }
        (w, None)
    };
    Ok(Command {
        argv,
        shell: shell_script,
        creates: args.opt_str("creates")?.or(extra.get("creates")),
        removes: args.opt_str("removes")?.or(extra.get("removes")),
        chdir: args.opt_str("chdir")?.or(extra.get("chdir")),
        stdin: args.opt_str("stdin")?,
        module,
    })
}

fn prepare_command(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    Ok(Box::new(common(args, "command", false)?))
}

fn prepare_shell(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    Ok(Box::new(common(args, "shell", true)?))
}

impl Command {
    fn describe(&self) -> String {
        match &self.shell {
            Some((_, s)) => s.clone(),
            None => self.argv.join(" "),
        }
    }

    fn build(&self) -> Cmd {
        // chdir is passed as an argument to a fixed script, never spliced into one.
        let mut c = match (&self.chdir, &self.shell) {
            (None, None) => Cmd::new(&self.argv[0]).args(self.argv[1..].iter().cloned()),
            (None, Some((exe, script))) => Cmd::new(exe).arg("-c").arg(script),
            (Some(dir), None) => Cmd::sh("cd \"$1\" && shift && exec \"$@\"")
                .arg("sesame")
                .arg(dir)
                .args(self.argv.iter().cloned()),
            (Some(dir), Some((exe, script))) => Cmd::sh("cd \"$1\" && exec \"$2\" -c \"$3\"")
                .arg("sesame")
                .arg(dir)
                .arg(exe)
                .arg(script),
        };
        if let Some(s) = &self.stdin {
            c = c.stdin(format!("{s}\n"));
        }
        c.kill_on_timeout()
    }
}

impl Action for Command {
    fn queries(&self) -> Vec<Query> {
        self.creates
            .iter()
            .chain(self.removes.iter())
            .map(|p| Query::File(p.clone()))
            .collect()
    }

    fn plan(&self, state: &State, _ctx: &Ctx) -> Result<Plan, ModuleError> {
        let exists = |p: &String| state.file(p).is_some_and(|f| f.is_some());
        if let Some(c) = &self.creates {
            if exists(c) {
                let mut p = Plan::ok();
                p.msg = Some(format!("skipped, since {c} exists"));
                return Ok(p);
            }
        }
        if let Some(r) = &self.removes {
            if !exists(r) {
                let mut p = Plan::ok();
                p.msg = Some(format!("skipped, since {r} does not exist"));
                return Ok(p);
            }
        }
        let mut p = Plan::change(format!("run `{}`", self.describe()));
        p.steps.push(Step::Run(self.build()));
        Ok(p)
    }

    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        let Some(out) = outs.last() else {
            return Applied::default();
        };
        let failed = (!out.ok()).then(|| {
            let err = out.stderr_str();
            format!(
                "non-zero return code {}{}",
                out.status,
                if err.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", err.trim())
                }
            )
        });
        let _ = self.module;
        Applied {
            data: output_data(out),
            failed,
            ..Applied::default()
        }
    }

    fn stale(&self) -> Stale {
        // An arbitrary command may change anything.
        Stale::All
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{prepare, TestCtx};
    use crate::facts::{Query, QueryAnswer, State};
    use crate::transport::fake::FakeTransport;
    use serde_json::json;

    #[test]
    fn command_quotes_each_argument() {
        let t = TestCtx::new();
        let a = prepare(
            "command",
            json!({"argv": ["printf", "%s\n", "; touch /tmp/pwned"]}),
            &t,
        );
        let p = a.plan(&State::default(), &t.ctx()).unwrap();
        assert!(p.is_change());
        let mut fake = FakeTransport::new("h1").reply("printf", 0, "x\n");
        let r = super::super::testutil::run_steps(a.as_ref(), &p, &mut fake);
        assert_eq!(fake.commands, vec!["printf '%s\n' '; touch /tmp/pwned'"]);
        assert_eq!(r.data["stdout"], "x");
        assert!(r.failed.is_none());
    }

    #[test]
    fn creates_skips_when_path_exists() {
        let t = TestCtx::new();
        let a = prepare(
            "command",
            json!({"_raw_params": "touch /done creates=/done"}),
            &t,
        );
        assert_eq!(a.queries(), vec![Query::File("/done".into())]);
        let mut s = State::default();
        s.insert(Query::File("/done".into()), QueryAnswer::File(None));
        assert!(a.plan(&s, &t.ctx()).unwrap().is_change());
        let st = crate::facts::state::parse_answer(
            &Query::File("/done".into()),
            "644 root root 0 regular empty file\n",
        );
        s.insert(Query::File("/done".into()), st);
        assert!(!a.plan(&s, &t.ctx()).unwrap().is_change());
    }

    #[test]
    fn nonzero_exit_fails_with_stderr() {
        let t = TestCtx::new();
        let a = prepare("shell", json!({"cmd": "exit 3"}), &t);
        let mut fake = FakeTransport::new("h1");
        fake.replies.push((
            "exit 3".into(),
            crate::transport::Output {
                status: 3,
                stdout: vec![],
                stderr: b"boom".to_vec(),
            },
        ));
        let p = a.plan(&State::default(), &t.ctx()).unwrap();
        let r = super::super::testutil::run_steps(a.as_ref(), &p, &mut fake);
        assert_eq!(r.data["rc"], 3);
        assert!(r.failed.unwrap().contains("boom"));
    }
}
