//! `set_fact`: set host variables for the rest of the run (above play and inventory vars).

use super::{Action, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::State;
use crate::vars::Vars;

pub static DEF: ModuleDef = ModuleDef {
    name: "set_fact",
    summary: "Set variables for this host",
    args: &[],
    free_form: false,
    prepare,
};

struct SetFact(Vars);

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    // Every key is a variable name: no unknown-argument check here.
    let mut v = args.map.clone();
    v.remove("cacheable");
    Ok(Box::new(SetFact(v)))
}

impl Action for SetFact {
    fn plan(&self, _s: &State, _c: &Ctx) -> Result<Plan, ModuleError> {
        Ok(Plan {
            facts: self.0.clone(),
            ..Plan::default()
        })
    }
}
