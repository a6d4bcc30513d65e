//! Build script: writes the table of files embedded in the binary (the `harden` playbook, the
//! `port_knocking` role, `inventory.example`) and names the commit the binary is built from.
//! It reads only this crate's files and git; it must not fail where there is no git (a crate
//! tarball): the commit is then "unknown".

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files and trees embedded in the binary, relative to the crate root.
const EMBED: &[&str] = &[
    "playbooks/harden.yml",
    "roles/port_knocking",
    "inventory.example",
];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let mut files = Vec::new();
    for e in EMBED {
        println!("cargo:rerun-if-changed={e}");
        collect(&root, Path::new(e), &mut files);
    }
    files.sort();
    let mut table = String::from("&[\n");
    for rel in &files {
        let abs = root.join(rel);
        let _ = writeln!(
            table,
            "    ({:?}, include_bytes!({:?})),",
            rel.to_string_lossy().replace('\\', "/"),
            abs.to_string_lossy()
        );
    }
    table.push(']');
    if let Err(e) = std::fs::write(out.join("embedded.rs"), table) {
        panic!("cannot write the embedded file table: {e}");
    }
    println!("cargo:rustc-env=SESAME_COMMIT={}", commit(&root));
    println!("cargo:rerun-if-env-changed=SESAME_COMMIT");
}

/// Every regular file under `rel` (or `rel` itself), as paths relative to `root`.
fn collect(root: &Path, rel: &Path, files: &mut Vec<PathBuf>) {
    let abs = root.join(rel);
    if abs.is_file() {
        files.push(rel.to_path_buf());
    } else if let Ok(dir) = std::fs::read_dir(&abs) {
        for entry in dir.flatten() {
            collect(root, &rel.join(entry.file_name()), files);
        }
    }
}

/// The commit: `$SESAME_COMMIT` when set (a packager building from a tarball), else git's
/// short hash of HEAD, else "unknown".
fn commit(root: &Path) -> String {
    if let Ok(c) = std::env::var("SESAME_COMMIT") {
        if !c.trim().is_empty() {
            return c.trim().to_string();
        }
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Only a checkout of this crate counts, not a repository the tarball was unpacked into.
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let ours = match (top, root.canonicalize()) {
        (Some(t), Ok(r)) => t.canonicalize().is_ok_and(|t| t == r),
        _ => false,
    };
    if !ours {
        return "unknown".into();
    }
    // Rebuild when HEAD moves (a commit, a checkout). Only existing files: a missing one
    // would make cargo rerun this script on every build. No `-dirty` mark: edits to the work
    // tree do not rerun this script, so the mark would go stale.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for p in &watch {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            let path = root.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
}
