//! `debconf`: preseed a package's debconf answer (e.g. iptables-persistent's autosave) before it
//! is installed, so installs never prompt and never overwrite rules sesame wrote.

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Step};
use crate::facts::{Query, QueryAnswer, State};
use crate::transport::{Cmd, Output};

pub static DEF: ModuleDef = ModuleDef {
    name: "debconf",
    summary: "Set a debconf selection",
    args: &[
        ("name", "package owning the question"),
        (
            "question",
            "debconf question, e.g. iptables-persistent/autosave_v4",
        ),
        ("value", "the answer"),
        ("vtype", "boolean | string | select | note | password | ..."),
        ("unseen", "do not mark the question as seen (default no)"),
    ],
    free_form: false,
    prepare,
};

struct Debconf {
    name: String,
    question: String,
    value: String,
    vtype: String,
    unseen: bool,
}

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let vtype = args.choice(
        "vtype",
        &[
            "boolean",
            "string",
            "select",
            "multiselect",
            "note",
            "password",
            "text",
            "title",
            "error",
            "seen",
        ],
        "string",
    )?;
    let mut value = args.str("value")?;
    if vtype == "boolean" {
        value = match crate::vars::str_bool(&value) {
            Some(true) => "true".into(),
            Some(false) => "false".into(),
            None => {
                return Err(ModuleError::BadArg {
                    module: "debconf",
                    arg: "value".into(),
                    msg: format!("`{value}` is not a boolean"),
                })
            }
        };
    }
    let question = args.str("question")?;
    for (k, v) in [("name", args.str("name")?), ("question", question.clone())] {
        if v.chars().any(char::is_whitespace) {
            return Err(ModuleError::BadArg {
                module: "debconf",
                arg: k.into(),
                msg: format!("`{v}` contains white space"),
            });
        }
    }
    Ok(Box::new(Debconf {
        name: args.str("name")?,
        question,
        value,
        vtype,
        unseen: args.bool_or("unseen", false)?,
    }))
}

impl Action for Debconf {
    fn queries(&self) -> Vec<Query> {
        vec![Query::Debconf(self.name.clone())]
    }

    fn plan(&self, state: &State, _ctx: &Ctx) -> Result<Plan, ModuleError> {
        let cur = state
            .debconf(&self.name)
            .and_then(|m| m.get(&self.question));
        if cur == Some(&self.value) {
            return Ok(Plan::ok());
        }
        let shown = if self.vtype == "password" {
            "********"
        } else {
            &self.value
        };
        let mut p = Plan::change(format!(
            "{} = {shown} (was {})",
            self.question,
            match (cur, self.vtype.as_str()) {
                (None, _) => "unset".to_string(),
                (Some(_), "password") => "********".to_string(),
                (Some(c), _) => c.clone(),
            }
        ));
        let line = format!(
            "{} {} {} {}\n",
            self.name, self.question, self.vtype, self.value
        );
        let mut cmd = Cmd::new("debconf-set-selections");
        if self.unseen {
            cmd = cmd.arg("-u");
        }
        p.steps.push(Step::Run(if self.vtype == "password" {
            cmd.secret_stdin(line)
        } else {
            cmd.stdin(line)
        }));
        // The next question of the same package (a loop over questions) plans from what is
        // set now instead of probing again.
        let mut now = state.debconf(&self.name).cloned().unwrap_or_default();
        now.insert(self.question.clone(), self.value.clone());
        p.learned
            .push((Query::Debconf(self.name.clone()), QueryAnswer::Debconf(now)));
        Ok(p)
    }

    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        Applied::failed_unless_ok(outs, "debconf-set-selections")
    }
}
