//! `lineinfile`: make sure a line is present (replacing the last line matching `regexp`) or
//! absent — enough for `/etc/default/*` files. Planned from the probed content, written like
//! `copy` (atomic, backed up).

use super::copy::FileWant;
use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan};
use crate::facts::{Query, State};
use crate::transport::Output;

pub static DEF: ModuleDef = ModuleDef {
    name: "lineinfile",
    summary: "Ensure a line is in a file (or not)",
    args: &[
        ("path", "file on the host (alias: dest)"),
        ("dest", "alias of path"),
        ("line", "the line wanted"),
        (
            "regexp",
            "replace the last line matching this (Rust regex syntax)",
        ),
        ("state", "present | absent (default present)"),
        (
            "insertafter",
            "EOF (default) or a regex; the line goes after its last match",
        ),
        ("create", "create the file when missing (default no)"),
        ("mode", "octal mode"),
        ("owner", "owner"),
        ("group", "group"),
        ("backup", "keep the replaced file (default yes)"),
    ],
    free_form: false,
    prepare,
};

struct LineInFile {
    path: String,
    line: Option<String>,
    regexp: Option<regex::Regex>,
    present: bool,
    insertafter: Option<regex::Regex>,
    create: bool,
    want: FileWant,
}

fn prepare(args: &Args, _ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let path = args
        .opt_str("path")?
        .or(args.opt_str("dest")?)
        .ok_or(ModuleError::MissingArg {
            module: "lineinfile",
            arg: "path".into(),
        })?;
    let re = |k: &str| -> Result<Option<regex::Regex>, ModuleError> {
        match args.opt_str(k)? {
            None => Ok(None),
            Some(s) if k == "insertafter" && s == "EOF" => Ok(None),
            Some(s) => regex::Regex::new(&s)
                .map(Some)
                .map_err(|e| ModuleError::BadArg {
                    module: "lineinfile",
                    arg: k.into(),
                    msg: e.to_string(),
                }),
        }
    };
    let present = args.choice("state", &["present", "absent"], "present")? == "present";
    let line = args.opt_str("line")?;
    if present && line.is_none() {
        return Err(ModuleError::MissingArg {
            module: "lineinfile",
            arg: "line".into(),
        });
    }
    let want = FileWant {
        dest: path.clone(),
        content: Vec::new(),
        mode: args.opt_mode("mode")?,
        owner: args.opt_str("owner")?,
        group: args.opt_str("group")?,
        backup: args.bool_or("backup", true)?,
        validate: None,
    };
    Ok(Box::new(LineInFile {
        path,
        line,
        regexp: re("regexp")?,
        present,
        insertafter: re("insertafter")?,
        create: args.bool_or("create", false)?,
        want,
    }))
}

impl LineInFile {
    /// The new content, or None when the file must not be touched.
    fn edit(&self, cur: &str) -> String {
        let mut lines: Vec<String> = cur.lines().map(str::to_string).collect();
        let matches = |l: &str| match &self.regexp {
            Some(r) => r.is_match(l),
            None => Some(l) == self.line.as_deref(),
        };
        if self.present {
            let line = self.line.clone().unwrap_or_default();
            if let Some(i) = lines.iter().rposition(|l| matches(l)) {
                lines[i] = line;
            } else if !lines.contains(&line) {
                match self
                    .insertafter
                    .as_ref()
                    .and_then(|r| lines.iter().rposition(|l| r.is_match(l)))
                {
                    Some(i) => lines.insert(i + 1, line),
                    None => lines.push(line),
                }
            }
        } else {
            lines.retain(|l| !matches(l));
        }
        let mut out = lines.join("\n");
        if !lines.is_empty() {
            out.push('\n');
        }
        out
    }

    fn compute(&self, state: &State) -> Result<Option<FileWant>, String> {
        let cur = match state.file(&self.path).cloned().flatten() {
            None if !self.create && self.present => {
                return Err(format!(
                    "{} does not exist (set create: yes to create it)",
                    self.path
                ))
            }
            None if !self.present => return Ok(None),
            None => String::new(),
            Some(f) => match f.content {
                Some(c) => String::from_utf8_lossy(&c).into_owned(),
                None => return Err(format!("{} is too large or not a regular file", self.path)),
            },
        };
        let mut want = self.want.clone();
        want.content = self.edit(&cur).into_bytes();
        Ok(Some(want))
    }
}

impl Action for LineInFile {
    fn queries(&self) -> Vec<Query> {
        vec![Query::File(self.path.clone())]
    }

    fn plan(&self, state: &State, ctx: &Ctx) -> Result<Plan, ModuleError> {
        match self.compute(state) {
            Err(msg) => Ok(Plan {
                fail: Some(msg),
                ..Plan::default()
            }),
            Ok(None) => Ok(Plan::ok()),
            Ok(Some(w)) => Ok(w.plan(state, ctx)),
        }
    }

    fn finish(&self, p: &Plan, outs: &[Output]) -> Applied {
        match p.steps.first() {
            Some(super::Step::Upload(w)) => w.finish(outs),
            _ => Applied::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{prepare, TestCtx};
    use crate::facts::{state::parse_answer, Query, State};
    use serde_json::json;

    fn with_content(text: &str) -> State {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(text);
        let q = Query::File("/etc/default/knockd".into());
        let mut s = State::default();
        s.insert(
            q.clone(),
            parse_answer(
                &q,
                &format!("644 root root {} regular file\n{b}\n", text.len()),
            ),
        );
        s
    }

    #[test]
    fn replaces_matching_line_and_is_idempotent() {
        let t = TestCtx::new();
        let a = prepare(
            "lineinfile",
            json!({"path": "/etc/default/knockd", "regexp": "^START_KNOCKD=", "line": "START_KNOCKD=1"}),
            &t,
        );
        let p = a
            .plan(
                &with_content("# x\nSTART_KNOCKD=0\nKNOCKD_OPTS=\"\"\n"),
                &t.ctx(),
            )
            .unwrap();
        assert!(p.diff.unwrap().contains("+START_KNOCKD=1"));
        let p = a
            .plan(&with_content("# x\nSTART_KNOCKD=1\n"), &t.ctx())
            .unwrap();
        assert!(!p.is_change());
    }
}
