//! `debug`: show a message or a variable. Runs on the controller; never changes anything.

use super::{Action, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::State;
use crate::vars::template::lookup;

pub static DEF: ModuleDef = ModuleDef {
    name: "debug",
    summary: "Print a message or a variable's value",
    args: &[
        ("msg", "message to print (templated)"),
        ("var", "name of a variable to print"),
    ],
    free_form: false,
    prepare,
};

struct Debug {
    msg: String,
}

fn prepare(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let msg = if let Some(var) = args.opt_str("var")? {
        match lookup(ctx.vars, &var) {
            Some(v) => format!(
                "{var}: {}",
                serde_json::to_string_pretty(v).unwrap_or_default()
            ),
            None => format!("{var}: VARIABLE IS NOT DEFINED!"),
        }
    } else {
        args.opt_str("msg")?
            .unwrap_or_else(|| "Hello world!".into())
    };
    Ok(Box::new(Debug { msg }))
}

impl Action for Debug {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        let mut p = Plan::ok();
        p.msg = Some(self.msg.clone());
        p.data.insert("msg".into(), self.msg.clone().into());
        Ok(p)
    }
}
