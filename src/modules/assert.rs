//! `assert`: check conditions (tera expressions) on the controller; fail the host when one is
//! false, naming it.

use super::{Action, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::State;

pub static DEF: ModuleDef = ModuleDef {
    name: "assert",
    summary: "Fail unless every condition holds",
    args: &[
        ("that", "a condition or list of conditions"),
        ("fail_msg", "message when a condition is false"),
        ("msg", "alias of fail_msg"),
        ("success_msg", "message when all hold"),
        ("quiet", "no success message"),
    ],
    free_form: false,
    prepare,
};

struct Assert {
    failed: Option<String>,
    success: String,
}

fn prepare(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let conds = match args.get("that") {
        Some(serde_json::Value::Array(_)) | Some(serde_json::Value::String(_)) => {
            args.str_list_raw("that")?
        }
        Some(serde_json::Value::Bool(b)) => vec![b.to_string()],
        _ => {
            return Err(ModuleError::MissingArg {
                module: "assert",
                arg: "that".into(),
            })
        }
    };
    let mut failed = None;
    for c in &conds {
        let ok = ctx
            .templater
            .eval_bool(c, ctx.vars, &format!("assert `{c}`"))?;
        if !ok {
            let custom = args.opt_str("fail_msg")?.or(args.opt_str("msg")?);
            failed = Some(custom.unwrap_or_else(|| format!("Assertion failed: {c}")));
            break;
        }
    }
    let success = args
        .opt_str("success_msg")?
        .unwrap_or_else(|| "All assertions passed".into());
    Ok(Box::new(Assert { failed, success }))
}

impl Action for Assert {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        Ok(Plan {
            fail: self.failed.clone(),
            msg: self.failed.is_none().then(|| self.success.clone()),
            ..Plan::default()
        })
    }
}
