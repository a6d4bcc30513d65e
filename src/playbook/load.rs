//! Reading playbooks and roles from disk into the model. Every error names the file, the line
//! (found in the source for the task or key at fault) and what was expected.

use super::model::*;
use crate::modules;
use crate::vars::{as_bool, yaml_to_json, Vars};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a playbook or role could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: YAML syntax error: {msg}\n{snippet}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        msg: String,
        snippet: String,
    },
    #[error("{origin}: {msg}")]
    Invalid { origin: String, msg: String },
    #[error("role `{role}` not found (looked in {looked})")]
    RoleNotFound { role: String, looked: String },
}

/// Source text of a file, kept to point errors at lines.
struct Src {
    path: String,
    text: String,
}

impl Src {
    fn read(path: &Path) -> Result<Src, PlaybookError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlaybookError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        let text = crate::vars::decrypt_file_text(text).map_err(|e| PlaybookError::Invalid {
            origin: format!("{}:1", path.display()),
            msg: format!("cannot decrypt vault data: {e}"),
        })?;
        Ok(Src {
            path: path.display().to_string(),
            text,
        })
    }

    fn parse(&self) -> Result<Value, PlaybookError> {
        let y: yaml_serde::Value = yaml_serde::from_str(&self.text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let snippet = self
                .text
                .lines()
                .enumerate()
                .skip(line.saturating_sub(2))
                .take(3)
                .map(|(i, l)| format!("{:>5} | {l}", i + 1))
                .collect::<Vec<_>>()
                .join("\n");
            PlaybookError::Syntax {
                path: self.path.clone(),
                line,
                column,
                msg: e.to_string(),
                snippet,
            }
        })?;
        let mut y = y;
        crate::vars::decrypt_yaml_vaults(&mut y)
            .map_err(|e| self.invalid("!vault", format!("cannot decrypt vault data: {e}")))?;
        Ok(yaml_to_json(&y))
    }

    /// `file:line` of the first line containing `needle` (1 when not found).
    fn origin(&self, needle: &str) -> String {
        let line = if needle.is_empty() {
            None
        } else {
            self.text.lines().position(|l| l.contains(needle))
        };
        format!("{}:{}", self.path, line.map(|l| l + 1).unwrap_or(1))
    }

    fn invalid(&self, needle: &str, msg: impl Into<String>) -> PlaybookError {
        PlaybookError::Invalid {
            origin: self.origin(needle),
            msg: msg.into(),
        }
    }
}

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "become",
    "become_user",
    "gather_facts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "tags",
    "remote_user",
    "become_method",
    "strategy",
];

const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "loop_control",
    "register",
    "notify",
    "listen",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "tags",
    "become",
    "become_user",
    "no_log",
    "check_mode",
    "vars",
    "args",
    "block",
    "rescue",
    "always",
    "become_method",
];

/// Load a playbook and its roles. `roles_path` are extra role directories searched after the
/// playbook's own `roles/` (the repository's top-level `roles/` by default).
pub fn load_playbook(path: &Path, roles_path: &[PathBuf]) -> Result<Playbook, PlaybookError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let src = Src::read(&path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let doc = src.parse()?;
    let Value::Array(items) = doc else {
        return Err(src.invalid("", "a playbook is a list of plays"));
    };
    let mut search = vec![dir.join("roles")];
    if let Some(parent) = dir.parent() {
        search.push(parent.join("roles"));
    }
    search.extend(roles_path.iter().cloned());
    let mut plays = Vec::new();
    for item in items {
        let Value::Object(m) = item else {
            return Err(src.invalid("", "each play must be a mapping"));
        };
        if m.contains_key("import_playbook") {
            return Err(src.invalid("import_playbook", "import_playbook is not supported yet"));
        }
        plays.push(load_play(&src, &dir, &search, m)?);
    }
    Ok(Playbook { path, dir, plays })
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::Array(a)) => a.iter().map(crate::vars::text).collect(),
        Some(o) => vec![o.to_string()],
    }
}

fn opt_bool(src: &Src, key: &str, v: Option<&Value>) -> Result<Option<bool>, PlaybookError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if crate::vars::template::is_template(s) => Err(src.invalid(
            key,
            format!("`{key}` must be a literal boolean here, not a template"),
        )),
        Some(x) => as_bool(x).map(Some).ok_or_else(|| {
            src.invalid(
                key,
                format!("`{key}` must be a boolean (yes/no/true/false), got {x}"),
            )
        }),
    }
}

fn mapping(src: &Src, key: &str, v: Option<&Value>) -> Result<Vars, PlaybookError> {
    match v {
        None | Some(Value::Null) => Ok(Vars::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(o) => Err(src.invalid(key, format!("`{key}` must be a mapping, got {o}"))),
    }
}

fn load_play(
    src: &Src,
    dir: &Path,
    search: &[PathBuf],
    m: Map<String, Value>,
) -> Result<Play, PlaybookError> {
    for k in m.keys() {
        if !PLAY_KEYS.contains(&k.as_str()) {
            return Err(src.invalid(&format!("{k}:"), format!("unknown play keyword `{k}`")));
        }
    }
    refuse_unsupported(src, &m)?;
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let hosts = match m.get("hosts") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(":"),
        _ => return Err(src.invalid("hosts", format!("play `{name}` has no `hosts:`"))),
    };
    let mut vars_files = Vars::new();
    for f in str_list(m.get("vars_files")) {
        let p = dir.join(&f);
        let vsrc = Src::read(&p)?;
        match vsrc.parse()? {
            Value::Object(o) => crate::vars::merge_into(&mut vars_files, &o),
            Value::Null => {}
            _ => return Err(vsrc.invalid("", "a vars file must be a mapping")),
        }
    }
    let mut roles = Vec::new();
    let mut role_tasks = Vec::new();
    let mut handlers = Vec::new();
    let role_items = match m.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(src.invalid("roles:", "`roles` must be a list")),
    };
    for r in role_items {
        let (rname, params) = match r {
            Value::String(s) => (s, Vars::new()),
            Value::Object(mut o) => {
                let n = o
                    .remove("role")
                    .or_else(|| o.remove("name"))
                    .and_then(|v| v.as_str().map(str::to_string))
                    .ok_or_else(|| src.invalid("role", "a role entry needs `role: NAME`"))?;
                if let Some(Value::Object(v)) = o.remove("vars") {
                    o.extend(v);
                }
                (n, o)
            }
            other => return Err(src.invalid("roles:", format!("bad role entry {other}"))),
        };
        let (role, tasks, hs) = load_role(search, &rname, params)?;
        role_tasks.extend(tasks);
        handlers.extend(hs);
        roles.push(role);
    }
    let tasks_of = |key: &str| -> Result<Vec<Task>, PlaybookError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => parse_tasks(src, a, None),
            Some(_) => Err(src.invalid(
                &format!("{key}:"),
                format!("`{key}` must be a list of tasks"),
            )),
        }
    };
    let mut tasks = role_tasks;
    tasks.extend(tasks_of("tasks")?);
    let mut play_handlers = tasks_of("handlers")?;
    play_handlers.extend(handlers);
    let serial = match m.get("serial") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| parse_serial(src, v))
            .collect::<Result<_, _>>()?,
        Some(v) => vec![parse_serial(src, v)?],
    };
    let max_fail_percentage = match m.get("max_fail_percentage") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .or_else(|| {
                    v.as_str()
                        .and_then(|s| s.trim_end_matches('%').parse().ok())
                })
                .ok_or_else(|| {
                    src.invalid(
                        "max_fail_percentage",
                        "max_fail_percentage must be a number",
                    )
                })?,
        ),
    };
    Ok(Play {
        name,
        hosts,
        become_: opt_bool(src, "become", m.get("become"))?,
        become_user: m
            .get("become_user")
            .and_then(Value::as_str)
            .map(str::to_string),
        gather_facts: opt_bool(src, "gather_facts", m.get("gather_facts"))?.unwrap_or(true),
        vars: mapping(src, "vars", m.get("vars"))?,
        vars_files,
        roles,
        pre_tasks: tasks_of("pre_tasks")?,
        tasks,
        post_tasks: tasks_of("post_tasks")?,
        handlers: play_handlers,
        serial,
        max_fail_percentage,
        any_errors_fatal: opt_bool(src, "any_errors_fatal", m.get("any_errors_fatal"))?
            .unwrap_or(false),
        tags: str_list(m.get("tags")),
    })
}

fn parse_serial(src: &Src, v: &Value) -> Result<Serial, PlaybookError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| Serial::Count(n as usize))
            .ok_or_else(|| {
                src.invalid(
                    "serial",
                    format!("serial must be a positive number, got {n}"),
                )
            }),
        Value::String(s) => {
            let t = s.trim();
            if let Some(p) = t.strip_suffix('%') {
                p.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .map(Serial::Percent)
                    .ok_or_else(|| src.invalid("serial", format!("bad serial percentage `{s}`")))
            } else {
                t.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Serial::Count)
                    .ok_or_else(|| src.invalid("serial", format!("bad serial `{s}`")))
            }
        }
        o => Err(src.invalid("serial", format!("bad serial {o}"))),
    }
}

fn read_vars_file(path: &Path) -> Result<Vars, PlaybookError> {
    if !path.exists() {
        return Ok(Vars::new());
    }
    let s = Src::read(path)?;
    match s.parse()? {
        Value::Object(o) => Ok(o),
        Value::Null => Ok(Vars::new()),
        _ => Err(s.invalid("", "expected a mapping of variables")),
    }
}

/// A role with its tasks and handlers.
type LoadedRole = (Arc<Role>, Vec<Task>, Vec<Task>);

fn find_main(dir: &Path) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn load_role(search: &[PathBuf], name: &str, params: Vars) -> Result<LoadedRole, PlaybookError> {
    let path = search
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_dir())
        .ok_or_else(|| PlaybookError::RoleNotFound {
            role: name.to_string(),
            looked: search
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let path = std::path::absolute(&path).unwrap_or(path);
    let defaults = match find_main(&path.join("defaults")) {
        Some(p) => read_vars_file(&p)?,
        None => Vars::new(),
    };
    let vars = match find_main(&path.join("vars")) {
        Some(p) => read_vars_file(&p)?,
        None => Vars::new(),
    };
    let role = Arc::new(Role {
        name: name.to_string(),
        path: path.clone(),
        defaults,
        vars,
        params,
    });
    let list = |sub: &str| -> Result<Vec<Task>, PlaybookError> {
        match find_main(&path.join(sub)) {
            None => Ok(Vec::new()),
            Some(p) => {
                let s = Src::read(&p)?;
                match s.parse()? {
                    Value::Array(a) => parse_tasks(&s, &a, Some(&role)),
                    Value::Null => Ok(Vec::new()),
                    _ => Err(s.invalid("", "expected a list of tasks")),
                }
            }
        }
    };
    let tasks = list("tasks")?;
    let handlers = list("handlers")?;
    Ok((role.clone(), tasks, handlers))
}

fn parse_tasks(
    src: &Src,
    items: &[Value],
    role: Option<&Arc<Role>>,
) -> Result<Vec<Task>, PlaybookError> {
    items.iter().map(|t| parse_task(src, t, role)).collect()
}

/// Ansible's `k=v k2=v2` free-form arguments for modules that are not free-form.
fn kv_args(s: &str) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    for w in crate::vars::shell_words(s) {
        let (k, v) = w.split_once('=')?;
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Some(m)
}

/// Keywords sesame parses but cannot honour are refused with their file and line, never
/// silently ignored: `become_method` other than sudo (sesame would run it with sudo),
/// `strategy` other than linear, and a play's `remote_user` (connections are opened from the
/// inventory's `ansible_user` / `-u` / ansible.cfg's `remote_user` before any play).
fn refuse_unsupported(src: &Src, m: &Map<String, Value>) -> Result<(), PlaybookError> {
    let literal = |k: &str| {
        m.get(k)
            .map(|v| v.as_str().unwrap_or_default().trim().to_string())
    };
    if let Some(method) = literal("become_method") {
        if method != "sudo" {
            return Err(src.invalid(
                "become_method:",
                format!("become_method `{method}` is not supported: sesame becomes with sudo only"),
            ));
        }
    }
    if let Some(strategy) = literal("strategy") {
        if strategy != "linear" {
            return Err(src.invalid(
                "strategy:",
                format!("strategy `{strategy}` is not supported: sesame runs plays linear only"),
            ));
        }
    }
    if m.contains_key("remote_user") {
        return Err(src.invalid(
            "remote_user:",
            "a play's `remote_user` is not supported: set ansible_user in the inventory, \
             remote_user in ansible.cfg, or pass -u",
        ));
    }
    Ok(())
}

fn parse_task(src: &Src, t: &Value, role: Option<&Arc<Role>>) -> Result<Task, PlaybookError> {
    let Value::Object(m) = t else {
        return Err(src.invalid("", format!("a task must be a mapping, got {t}")));
    };
    refuse_unsupported(src, m)?;
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let needle = if name.is_empty() {
        m.keys().next().cloned().unwrap_or_default()
    } else {
        name.clone()
    };
    let origin = src.origin(&needle);
    let err = |msg: String| PlaybookError::Invalid {
        origin: origin.clone(),
        msg: if name.is_empty() {
            msg
        } else {
            format!("task `{name}`: {msg}")
        },
    };
    let body = if let Some(b) = m.get("block") {
        let list = |k: &str| -> Result<Vec<Task>, PlaybookError> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => parse_tasks(src, a, role),
                Some(_) => Err(err(format!("`{k}` must be a list of tasks"))),
            }
        };
        let Value::Array(ba) = b else {
            return Err(err("`block` must be a list of tasks".into()));
        };
        TaskBody::Block(Box::new(Block {
            block: parse_tasks(src, ba, role)?,
            rescue: list("rescue")?,
            always: list("always")?,
        }))
    } else {
        let mods: Vec<&String> = m
            .keys()
            .filter(|k| !TASK_KEYS.contains(&k.as_str()))
            .collect();
        let mname = match mods.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(err("no module given (e.g. `apt:`, `template:`)".into())),
            many => {
                return Err(err(format!(
                    "more than one module or unknown keyword: {}",
                    many.iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let def = modules::lookup(&mname).ok_or_else(|| {
            err(format!(
                "unknown module `{mname}` (sesame has: {})",
                modules::REGISTRY
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let mut args = match m.get(&mname) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(v @ (Value::Bool(_) | Value::Number(_))) if def.free_form => {
                let mut o = Map::new();
                o.insert("_raw_params".into(), Value::String(v.to_string()));
                o
            }
            Some(Value::String(s)) if def.free_form => {
                let mut o = Map::new();
                o.insert("_raw_params".into(), Value::String(s.clone()));
                o
            }
            Some(Value::String(s)) => kv_args(s).ok_or_else(|| {
                err(format!(
                    "module `{mname}`: cannot read `{s}` as key=value arguments"
                ))
            })?,
            Some(o) => {
                return Err(err(format!(
                    "module `{mname}`: arguments must be a mapping, got {o}"
                )))
            }
        };
        if let Some(Value::Object(extra)) = m.get("args") {
            for (k, v) in extra {
                args.insert(k.clone(), v.clone());
            }
        }
        TaskBody::Module {
            name: def.name.to_string(),
            args: Value::Object(args),
        }
    };
    let cond_list = |k: &str| -> Vec<String> {
        match m.get(k) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().map(crate::vars::text).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(o) => vec![o.to_string()],
        }
    };
    let loop_items = m.get("loop").or_else(|| m.get("with_items")).cloned();
    let lc = m.get("loop_control").and_then(Value::as_object);
    let bool_key = |k: &str| -> Result<Option<bool>, PlaybookError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => as_bool(v).map(Some).ok_or_else(|| {
                err(format!(
                    "`{k}` must be a boolean (yes/no/true/false), got {v}"
                ))
            }),
        }
    };
    let vars = match m.get("vars") {
        None | Some(Value::Null) => Vars::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(err("`vars` must be a mapping".into())),
    };
    Ok(Task {
        name: name.clone(),
        body,
        origin: origin.clone(),
        when: cond_list("when"),
        loop_items,
        loop_var: lc
            .and_then(|c| c.get("loop_var"))
            .and_then(Value::as_str)
            .unwrap_or("item")
            .to_string(),
        loop_label: lc
            .and_then(|c| c.get("label"))
            .and_then(Value::as_str)
            .map(str::to_string),
        register: m
            .get("register")
            .and_then(Value::as_str)
            .map(str::to_string),
        notify: str_list(m.get("notify")),
        listen: str_list(m.get("listen")),
        changed_when: m.get("changed_when").cloned(),
        failed_when: m.get("failed_when").cloned(),
        ignore_errors: bool_key("ignore_errors")?.unwrap_or(false),
        tags: str_list(m.get("tags")),
        become_: bool_key("become")?,
        become_user: m
            .get("become_user")
            .and_then(Value::as_str)
            .map(str::to_string),
        no_log: bool_key("no_log")?.unwrap_or(false),
        check_mode: bool_key("check_mode")?,
        vars,
        role: role.cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn loads_play_with_role_params_and_blocks() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "roles/r1/tasks/main.yml",
            "- name: role task\n  debug: msg=hi\n",
        );
        write(d.path(), "roles/r1/defaults/main.yml", "x: 1\n");
        let pb = write(
            d.path(),
            "pb.yml",
            "- hosts: all\n  become: yes\n  serial: [1, '50%']\n  roles:\n    - {role: r1, y: 2}\n  tasks:\n    - name: b\n      block:\n        - command: echo hi\n      rescue:\n        - ansible.builtin.debug: {msg: x}\n",
        );
        let p = load_playbook(&pb, &[]).unwrap();
        let play = &p.plays[0];
        assert_eq!(play.become_, Some(true));
        assert_eq!(play.serial, vec![Serial::Count(1), Serial::Percent(50.0)]);
        assert_eq!(play.tasks.len(), 2);
        assert_eq!(play.tasks[0].display_name(), "r1 : role task");
        assert_eq!(play.roles[0].params["y"], 2);
        assert!(matches!(play.tasks[1].body, TaskBody::Block(_)));
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let d = tempfile::tempdir().unwrap();
        let pb = write(d.path(), "pb.yml", "- hosts: all\n  tasks:\n    - name: first\n      debug: msg=x\n    - name: typo here\n      aptt: name=x\n");
        let e = load_playbook(&pb, &[]).unwrap_err().to_string();
        assert!(e.contains("pb.yml:5"), "{e}");
        assert!(
            e.contains("unknown module `aptt`") || e.contains("`aptt`"),
            "{e}"
        );
        let pb = write(d.path(), "bad.yml", "- hosts: all\n  tasks: [\n");
        let e = load_playbook(&pb, &[]).unwrap_err().to_string();
        assert!(
            e.contains("bad.yml:") && e.contains("YAML syntax error"),
            "{e}"
        );
        let pb = write(d.path(), "nr.yml", "- hosts: all\n  roles: [nope]\n");
        assert!(load_playbook(&pb, &[])
            .unwrap_err()
            .to_string()
            .contains("role `nope` not found"));
    }

    /// Issue 16: `remote_user`, `become_method` and `strategy` were accepted and ignored
    /// (`become_method: su` ran with sudo). Each is refused with its file and line, or works.
    #[test]
    fn ignored_play_keys_are_refused_with_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("- hosts: all\n  become_method: su\n  tasks: []\n", "pb.yml:2", "become_method `su`"),
            (
                "- hosts: all\n  tasks:\n    - name: t\n      become_method: su\n      debug: msg=x\n",
                "pb.yml:4",
                "become_method `su`",
            ),
            ("- hosts: all\n  strategy: free\n  tasks: []\n", "pb.yml:2", "strategy `free`"),
            ("- hosts: all\n  remote_user: root\n  tasks: []\n", "pb.yml:2", "remote_user"),
        ];
        for (text, at, what) in cases {
            let pb = write(d.path(), "pb.yml", text);
            let e = load_playbook(&pb, &[]).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(what), "{text}: {e}");
        }
        // What sesame does anyway is accepted.
        let pb = write(
            d.path(),
            "pb.yml",
            "- hosts: all\n  become_method: sudo\n  strategy: linear\n  tasks:\n    - debug: msg=x\n      become_method: sudo\n",
        );
        load_playbook(&pb, &[]).unwrap();
    }
}
