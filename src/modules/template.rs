//! `template`: render a local `*.tera` file (tera syntax, not Jinja2) with the host's variables
//! and write it like `copy` does (compare, atomic write, backup, validate).

use super::copy::FileWant;
use super::{Action, Args, Ctx, ModuleDef, ModuleError};

pub static DEF: ModuleDef = ModuleDef {
    name: "template",
    summary: "Render a *.tera template to a file",
    args: &[
        (
            "src",
            "template file, *.tera (looked up in the role's templates/, then beside the playbook)",
        ),
        ("dest", "path on the host"),
        ("mode", "octal mode, e.g. \"0644\""),
        ("owner", "owner name"),
        ("group", "group name"),
        (
            "backup",
            "keep the replaced file under /var/backups/sesame/files (default yes)",
        ),
        (
            "validate",
            "command run on the new file before it replaces the old (%s = its path)",
        ),
    ],
    free_form: false,
    prepare,
};

fn prepare(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let src = args.str("src")?;
    if !src.ends_with(".tera") {
        return Err(ModuleError::BadArg {
            module: "template",
            arg: "src".into(),
            msg: format!(
                "`{src}`: templates are tera files named *.tera (tera syntax, not Jinja2)"
            ),
        });
    }
    let path = ctx
        .find_file("templates", &src)
        .ok_or_else(|| ModuleError::BadArg {
            module: "template",
            arg: "src".into(),
            msg: format!("`{src}` not found in {:?}", ctx.search_dirs),
        })?;
    let text = ctx.templater.render_file(&path, ctx.vars)?;
    Ok(Box::new(FileWant::from_args(args, text.into_bytes())?))
}
