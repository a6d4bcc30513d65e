//! `group_vars/` and `host_vars/` next to an inventory source, as Ansible's `host_group_vars`
//! plugin finds them: for an entity NAME the first of `NAME`, `NAME.yml`, `NAME.yaml`,
//! `NAME.json` that exists; if it is a directory, every file in it (recursively, sorted,
//! skipping hidden files and `*~`, only extensionless/.yml/.yaml/.json), merged in order.

use super::error::InventoryError;
use super::yamlvalue;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXTS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Files that hold the variables of `name` under `dir` (a `group_vars` or `host_vars` folder).
pub fn find_vars_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>, InventoryError> {
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = dir.join(format!("{name}{ext}"));
        if p.exists() {
            if p.is_dir() {
                let mut out = Vec::new();
                dir_vars_files(&p, &mut out)?;
                return Ok(out);
            }
            return Ok(vec![p]);
        }
    }
    Ok(Vec::new())
}

fn dir_vars_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    let rd = std::fs::read_dir(dir).map_err(|source| InventoryError::Unreadable {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| InventoryError::Unreadable {
            path: dir.to_path_buf(),
            source,
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for n in names {
        if n.starts_with('.') || n.ends_with('~') {
            continue;
        }
        let ext = Path::new(&n)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let full = dir.join(&n);
        if full.is_dir() && ext.is_empty() {
            dir_vars_files(&full, out)?;
        } else if full.is_file() && (ext.is_empty() || EXTS.contains(&ext.as_str())) {
            out.push(full);
        }
    }
    Ok(())
}

/// A file's text, decrypted first when the whole file is vault-encrypted.
pub fn decrypt_whole_file(path: &Path, text: String) -> Result<String, InventoryError> {
    crate::vars::decrypt_file_text(text).map_err(|source| InventoryError::Vault {
        path: path.to_path_buf(),
        line: 1,
        source,
    })
}

/// One variable from a vars file: name, value, and the paths of YAML timestamps inside it.
pub type VarEntry = (String, Value, Vec<Vec<String>>);

/// Read one vars file: its variables in order (merged shallowly by the caller), or nothing if
/// empty.
pub fn load_vars_file(path: &Path) -> Result<Option<Vec<VarEntry>>, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let text = decrypt_whole_file(path, text)?;
    let node = yamlvalue::load(&text).map_err(|e| InventoryError::YamlSyntax {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    // `!vault` values stay encrypted until a run uses them, as in Ansible.
    if node.is_falsy() {
        return Ok(None);
    }
    match &node {
        yamlvalue::Node::Map(entries) => Ok(Some(
            entries
                .iter()
                .map(|e| {
                    let ts = e.value.timestamp_paths();
                    (e.key.key_string(), e.value.to_json(), ts)
                })
                .collect(),
        )),
        _ => Err(InventoryError::VarsFileNotMapping {
            path: path.to_path_buf(),
            line: first_content_line(&text),
            found: node.type_name().to_string(),
        }),
    }
}

/// The first line that is not blank, a comment or a document marker.
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "---"
        })
        .map_or(1, |i| i + 1)
}

/// A vars file and the variables it holds.
pub type LoadedVarsFile = (PathBuf, Vec<VarEntry>);

/// The variables files for `name` under `dir/<sub>/`, each loaded, in merge order.
pub fn vars_files_for(
    dir: &Path,
    sub: &str,
    name: &str,
) -> Result<Vec<LoadedVarsFile>, InventoryError> {
    let mut out = Vec::new();
    // Ansible skips 'chroot'-like names such as /path/to/chroot.
    if name.starts_with('/') {
        return Ok(out);
    }
    let d = dir.join(sub);
    if !d.is_dir() {
        return Ok(out);
    }
    for f in find_vars_files(&d, name)? {
        if let Some(m) = load_vars_file(&f)? {
            out.push((f, m));
        }
    }
    Ok(out)
}
