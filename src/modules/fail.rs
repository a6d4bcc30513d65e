//! `fail`: fail the host with a message. Runs on the controller.

use super::{Action, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::State;

pub static DEF: ModuleDef = ModuleDef {
    name: "fail",
    summary: "Fail the host with a message",
    args: &[("msg", "why (templated)")],
    free_form: false,
    prepare,
};

struct Fail(String);

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    Ok(Box::new(Fail(args.opt_str("msg")?.unwrap_or_else(|| {
        "Failed as requested from task".into()
    }))))
}

impl Action for Fail {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        Ok(Plan {
            fail: Some(self.0.clone()),
            ..Plan::default()
        })
    }
}
