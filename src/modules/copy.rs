//! `copy`: put content (inline or a local file) at a path; compared by content, written
//! atomically (temp file beside the target, then `mv -f`), the old file backed up. The shared
//! "desired file" logic (`FileWant`) also serves `template`.

use super::{Action, Applied, Args, Ctx, ModuleDef, ModuleError, Plan, Step};
use crate::facts::{Query, State};
use crate::transport::{Cmd, Output};
use sha2::{Digest, Sha256};

pub static DEF: ModuleDef = ModuleDef {
    name: "copy",
    summary: "Write a file from inline content or a local file",
    args: &[
        ("dest", "path on the host"),
        ("content", "the file's content"),
        (
            "src",
            "local file (looked up in the role's files/, then beside the playbook)",
        ),
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

/// How many backups of one file are kept.
pub const BACKUPS_KEPT: usize = 5;

/// A file as a task wants it on the host.
#[derive(Debug, Clone)]
pub struct FileWant {
    pub dest: String,
    pub content: Vec<u8>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub backup: bool,
    pub validate: Option<String>,
}

/// Write script: `$1` path, `$2` mode, `$3` owner, `$4` group, `$5` backup, `$6` validate;
/// content on stdin. Prints `backup=PATH` when it kept one. `validate`'s `%s` becomes `"$1"` of
/// its own shell, the temp path passed as that argument: the path (any folder name) is never
/// pasted into shell text.
const WRITE: &str = r##"p=$1; d=$(dirname -- "$p")
[ -d "$d" ] || { echo "directory $d does not exist" >&2; exit 70; }
t=$(mktemp -- "$d/.sesame.XXXXXX") || exit 71
trap 'rm -f -- "$t"' EXIT
cat > "$t" || exit 72
if [ -n "$2" ]; then chmod -- "$2" "$t"; elif [ -e "$p" ]; then chmod --reference="$p" -- "$t"; else chmod 0644 -- "$t"; fi || exit 73
if [ -n "$3" ] || [ -n "$4" ]; then
  chown -- "${3:-$(stat -c %U -- "${p}" 2>/dev/null || id -un)}:${4:-$(stat -c %G -- "${p}" 2>/dev/null || id -gn)}" "$t" || exit 74
elif [ -e "$p" ]; then chown --reference="$p" -- "$t" || exit 74; fi
if [ -n "$6" ]; then v=$(printf '%s' "$6" | sed 's#%s#"$1"#g'); sh -c "$v" sesame-validate "$t" >&2 || { echo "validation failed: $6" >&2; exit 75; }; fi
if [ "$5" = 1 ] && [ -f "$p" ]; then
  b="/var/backups/sesame/files$p.$(date +%Y%m%dT%H%M%S)"
  mkdir -p -- "$(dirname -- "$b")" && cp -p -- "$p" "$b" || exit 76
  ls -1d -- "/var/backups/sesame/files$p".* 2>/dev/null | sort | head -n -KEEP | while IFS= read -r x; do rm -f -- "$x"; done
  echo "backup=$b"
fi
mv -f -- "$t" "$p" || exit 77
trap - EXIT
"##;

/// The mode/owner/group changes that turn `f` into what is wanted (`None` = leave as is).
pub fn attr_changes(
    f: &crate::facts::state::FileState,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
) -> Vec<String> {
    let mut c = Vec::new();
    if let Some(m) = mode.filter(|m| *m != f.mode) {
        c.push(format!("mode {:04o} -> {m:04o}", f.mode));
    }
    if let Some(o) = owner.filter(|o| *o != f.owner) {
        c.push(format!("owner {} -> {o}", f.owner));
    }
    if let Some(g) = group.filter(|g| *g != f.group) {
        c.push(format!("group {} -> {g}", f.group));
    }
    c
}

impl FileWant {
    pub fn query(&self) -> Query {
        Query::File(self.dest.clone())
    }

    /// Compare with the host's file.
    pub fn plan(&self, state: &State, ctx: &Ctx) -> Plan {
        let mut p = Plan::ok();
        let Some(cur) = state.file(&self.dest) else {
            // Not probed (should not happen): plan a write, which is always safe.
            p.changes.push(format!("write {}", self.dest));
            p.steps.push(Step::Upload(Box::new(self.clone())));
            return p;
        };
        match cur {
            None => {
                p.changes.push(format!("create {}", self.dest));
                if ctx.diff {
                    p.diff = Some(super::unified_diff(
                        &self.dest,
                        "",
                        &String::from_utf8_lossy(&self.content),
                    ));
                }
            }
            Some(f) if f.is_dir() => {
                p.fail = Some(format!("{} is a directory", self.dest));
            }
            Some(f) => {
                let same = match &f.content {
                    Some(c) => Sha256::digest(c) == Sha256::digest(&self.content),
                    None => false,
                };
                if !same {
                    p.changes.push(format!("update content of {}", self.dest));
                    if ctx.diff {
                        let before = f
                            .content
                            .as_ref()
                            .map(|c| String::from_utf8_lossy(c).into_owned())
                            .unwrap_or_else(|| "(file too large to show)\n".into());
                        p.diff = Some(super::unified_diff(
                            &self.dest,
                            &before,
                            &String::from_utf8_lossy(&self.content),
                        ));
                    }
                }
                p.changes.extend(attr_changes(
                    f,
                    self.mode,
                    self.owner.as_deref(),
                    self.group.as_deref(),
                ));
            }
        }
        if p.is_change() {
            p.steps.push(Step::Upload(Box::new(self.clone())));
        }
        p
    }

    /// The single command that writes the file (atomic, with backup and validation).
    pub fn write_cmd(&self) -> Cmd {
        let script = WRITE.replace("KEEP", &BACKUPS_KEPT.to_string());
        Cmd::sh(script)
            .arg("sesame-write")
            .arg(&self.dest)
            .arg(self.mode.map(|m| format!("{m:04o}")).unwrap_or_default())
            .arg(self.owner.clone().unwrap_or_default())
            .arg(self.group.clone().unwrap_or_default())
            .arg(if self.backup { "1" } else { "0" })
            .arg(self.validate.clone().unwrap_or_default())
            .stdin(self.content.clone())
    }

    /// What the write step said: the backup it kept, or why it failed.
    pub fn finish(&self, outs: &[Output]) -> Applied {
        let mut a = Applied::default();
        a.data.insert("dest".into(), self.dest.clone().into());
        let Some(out) = outs.last() else { return a };
        if let Some(b) = out
            .stdout_str()
            .lines()
            .find_map(|l| l.strip_prefix("backup="))
        {
            a.data.insert("backup_file".into(), b.to_string().into());
        }
        if !out.ok() {
            a.failed = Some(format!(
                "writing {} failed (exit {}): {}",
                self.dest,
                out.status,
                out.stderr_str().trim()
            ));
        }
        a
    }

    pub fn from_args(args: &Args, content: Vec<u8>) -> Result<FileWant, ModuleError> {
        Ok(FileWant {
            dest: args.str("dest")?,
            content,
            mode: args.opt_mode("mode")?,
            owner: args.opt_str("owner")?,
            group: args.opt_str("group")?,
            backup: args.bool_or("backup", true)?,
            validate: args.opt_str("validate")?,
        })
    }
}

impl Action for FileWant {
    fn queries(&self) -> Vec<Query> {
        vec![self.query()]
    }
    fn plan(&self, state: &State, ctx: &Ctx) -> Result<Plan, ModuleError> {
        Ok(FileWant::plan(self, state, ctx))
    }
    fn finish(&self, _p: &Plan, outs: &[Output]) -> Applied {
        FileWant::finish(self, outs)
    }
}

fn prepare(args: &Args, ctx: &Ctx) -> Result<Box<dyn Action>, ModuleError> {
    args.check_known()?;
    let content = match (args.opt_str("content")?, args.opt_str("src")?) {
        (Some(c), None) => c.into_bytes(),
        (None, Some(src)) => {
            let path = ctx
                .find_file("files", &src)
                .ok_or_else(|| ModuleError::BadArg {
                    module: "copy",
                    arg: "src".into(),
                    msg: format!("`{src}` not found in {:?}", ctx.search_dirs),
                })?;
            let bytes = std::fs::read(&path).map_err(|e| ModuleError::BadArg {
                module: "copy",
                arg: "src".into(),
                msg: format!("cannot read {}: {e}", path.display()),
            })?;
            // A vault-encrypted source is copied decrypted, as Ansible's copy does.
            if bytes.starts_with(crate::vault::HEADER.as_bytes()) {
                let text = String::from_utf8_lossy(&bytes);
                crate::vault::installed()
                    .decrypt(&text)
                    .map_err(|e| ModuleError::BadArg {
                        module: "copy",
                        arg: "src".into(),
                        msg: format!("{}: cannot decrypt vault data: {e}", path.display()),
                    })?
            } else {
                bytes
            }
        }
        (Some(_), Some(_)) => {
            return Err(ModuleError::BadArg {
                module: "copy",
                arg: "src".into(),
                msg: "give either `content` or `src`, not both".into(),
            })
        }
        (None, None) => {
            return Err(ModuleError::MissingArg {
                module: "copy",
                arg: "content or src".into(),
            })
        }
    };
    Ok(Box::new(FileWant::from_args(args, content)?))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{prepare, TestCtx};
    use crate::facts::{state::parse_answer, Query, State};
    use crate::transport::fake::FakeTransport;
    use serde_json::json;

    fn state_with(path: &str, answer: &str) -> State {
        let mut s = State::default();
        let q = Query::File(path.into());
        s.insert(q.clone(), parse_answer(&q, answer));
        s
    }

    /// The write script run by the local `sh` on a temp folder named like an attack.
    #[test]
    fn validate_gets_the_temp_path_quoted_whatever_the_folder_name() {
        let top = tempfile::tempdir().unwrap();
        let mark = top.path().join("pwned");
        // Run from `top`: a `touch pwned` pasted into a shell line lands there.
        let dir = top.path().join("d $(touch pwned) x;y");
        std::fs::create_dir(&dir).unwrap();
        let dest = dir.join("f.conf");
        let want = super::FileWant {
            dest: dest.display().to_string(),
            content: b"hello\n".to_vec(),
            mode: Some(0o600),
            owner: None,
            group: None,
            backup: false,
            validate: Some("grep -q hello %s && test -s %s".into()),
        };
        let cmd = want.write_cmd();
        let run = |cmd: &crate::transport::Cmd| {
            use std::io::Write;
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd.render())
                .current_dir(top.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&cmd.stdin_bytes().unwrap()).unwrap();
            drop(stdin);
            child.wait_with_output().unwrap()
        };
        let out = run(&cmd);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{said}");
        assert!(!mark.exists(), "the folder name ran as shell code: {said}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello\n");
        // A validation that fails still stops the write.
        let bad = super::FileWant {
            content: b"bye\n".to_vec(),
            ..want
        };
        let out = run(&bad.write_cmd());
        assert_eq!(out.status.code(), Some(75));
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello\n");
    }

    #[test]
    fn same_content_same_mode_is_ok() {
        let t = TestCtx::new();
        let a = prepare(
            "copy",
            json!({"dest": "/etc/x", "content": "hello world\n", "mode": "0644"}),
            &t,
        );
        let s = state_with(
            "/etc/x",
            "644 root root 12 regular file\naGVsbG8gd29ybGQK\n",
        );
        assert!(!a.plan(&s, &t.ctx()).unwrap().is_change());
    }

    #[test]
    fn changed_content_plans_diff_and_one_write() {
        let t = TestCtx::new();
        let a = prepare(
            "copy",
            json!({"dest": "/etc/x", "content": "bye\n", "mode": "0600"}),
            &t,
        );
        let s = state_with(
            "/etc/x",
            "644 root root 12 regular file\naGVsbG8gd29ybGQK\n",
        );
        let p = a.plan(&s, &t.ctx()).unwrap();
        assert_eq!(
            p.changes,
            vec!["update content of /etc/x", "mode 0644 -> 0600"]
        );
        assert!(p.diff.as_ref().unwrap().contains("-hello world\n+bye\n"));
        let mut fake = FakeTransport::new("h1");
        let r = super::super::testutil::run_steps(a.as_ref(), &p, &mut fake);
        assert!(r.failed.is_none());
        assert_eq!(fake.commands.len(), 1);
        assert!(fake.commands[0].contains("sesame-write /etc/x 0600 '' '' 1 ''"));
    }

    #[test]
    fn unknown_argument_is_an_error() {
        let t = TestCtx::new();
        let def = super::super::lookup("copy").unwrap();
        let a = super::super::Args::new(
            def,
            json!({"dest": "/x", "content": "", "mdoe": "0644"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let err = (def.prepare)(&a, &t.ctx()).err().unwrap().to_string();
        assert!(err.contains("unknown argument `mdoe`"), "{err}");
    }
}
