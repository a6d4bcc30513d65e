//! The `harden` playbook, the `port_knocking` role and `inventory.example`, embedded in the
//! binary (table written by `build.rs`), so the product's main job needs no checkout. Files on
//! disk always win: the embedded role is searched last. It writes only into a private temporary
//! directory (a run) or the directory `sesame init` is given, never over a file without `force`.

use std::path::{Path, PathBuf};

/// Every embedded file: path relative to the crate root, and its bytes.
pub const FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The commit the binary was built from (git short hash, `$SESAME_COMMIT`, or "unknown").
pub const COMMIT: &str = env!("SESAME_COMMIT");

/// `--version`: the crate version and the commit.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SESAME_COMMIT"),
    ")"
);

/// The embedded playbook, relative to the crate root.
pub const HARDEN_PLAYBOOK: &str = "playbooks/harden.yml";

/// Where the package installs the playbook and the role (also on the default roles path).
pub const SHARE_DIR: &str = "/usr/share/sesame";

/// Why the embedded files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} exists and is not a regular file; not touching it")]
    NotAFile { path: PathBuf },
}

/// The embedded files unpacked for one run into a private temporary directory (mode 0700,
/// removed when dropped). The role lies outside the playbook's `roles/` so that a role on disk
/// (roles_path, the current directory's `roles/`) is found before it.
#[derive(Debug)]
pub struct Extracted {
    dir: tempfile::TempDir,
}

impl Extracted {
    /// Unpack every embedded file.
    pub fn new() -> Result<Extracted, EmbeddedError> {
        let dir = tempfile::Builder::new()
            .prefix("sesame-embedded-")
            .tempdir()
            .map_err(|e| EmbeddedError::Write {
                path: std::env::temp_dir(),
                source: e,
            })?;
        for (rel, bytes) in FILES {
            let target = match rel.strip_prefix("roles/") {
                Some(role_rel) => dir.path().join("embedded-roles").join(role_rel),
                None => dir.path().join(rel),
            };
            write_file(&target, bytes)?;
        }
        Ok(Extracted { dir })
    }

    /// The unpacked `harden` playbook.
    pub fn playbook(&self) -> PathBuf {
        self.dir.path().join(HARDEN_PLAYBOOK)
    }

    /// The directory holding the unpacked roles (the last entry of a roles search).
    pub fn roles_dir(&self) -> PathBuf {
        self.dir.path().join("embedded-roles")
    }

    /// Whether `path` lies in this unpacked copy.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(self.dir.path())
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), EmbeddedError> {
    let err = |source| EmbeddedError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}

/// What `init` did, file by file (paths relative to the target directory).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InitReport {
    pub written: Vec<PathBuf>,
    /// Files that existed and were left as they were (no `force`).
    pub skipped: Vec<PathBuf>,
}

/// Write every embedded file under `dir` (created if missing). An existing file is kept unless
/// `force`; something that is not a regular file (a directory, a symlink) is never replaced.
pub fn init(dir: &Path, force: bool) -> Result<InitReport, EmbeddedError> {
    let mut report = InitReport::default();
    for (rel, bytes) in FILES {
        let target = dir.join(rel);
        match std::fs::symlink_metadata(&target) {
            Ok(m) if !m.file_type().is_file() => {
                return Err(EmbeddedError::NotAFile { path: target });
            }
            Ok(_) if !force => {
                report.skipped.push(PathBuf::from(rel));
                continue;
            }
            _ => {}
        }
        write_file(&target, bytes)?;
        report.written.push(PathBuf::from(rel));
    }
    Ok(report)
}

/// Roles searched when `roles_path` is not set: Ansible's default
/// (`~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles`) and the package's
/// `/usr/share/sesame/roles`.
pub fn default_roles_path() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        v.push(PathBuf::from(home).join(".ansible/roles"));
    }
    v.push(PathBuf::from("/usr/share/ansible/roles"));
    v.push(PathBuf::from("/etc/ansible/roles"));
    v.push(Path::new(SHARE_DIR).join("roles"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_playbook_the_whole_role_and_the_inventory_example() {
        let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        for want in [
            HARDEN_PLAYBOOK,
            "inventory.example",
            "roles/port_knocking/tasks/main.yml",
            "roles/port_knocking/defaults/main.yml",
            "roles/port_knocking/templates/rules.tera",
            "roles/port_knocking/templates/knockd.conf.tera",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        // Byte for byte the files of the checkout this binary was built from.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (rel, bytes) in FILES {
            assert_eq!(std::fs::read(root.join(rel)).unwrap(), *bytes, "{rel}");
        }
    }

    #[test]
    fn the_unpacked_playbook_loads_with_the_embedded_role_and_is_removed_after() {
        let x = Extracted::new().unwrap();
        let pb = crate::playbook::load_playbook(&x.playbook(), &[x.roles_dir()]).unwrap();
        let role = &pb.plays[0].roles[0];
        assert_eq!(role.name, "port_knocking");
        assert!(x.contains(&role.path), "{}", role.path.display());
        let dir = x.dir.path().to_path_buf();
        drop(x);
        assert!(!dir.exists());
    }

    #[test]
    fn init_never_overwrites_without_force_and_names_what_it_skipped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("playbooks")).unwrap();
        std::fs::write(d.path().join("playbooks/harden.yml"), "# mine\n").unwrap();
        let r = init(d.path(), false).unwrap();
        assert_eq!(r.skipped, vec![PathBuf::from(HARDEN_PLAYBOOK)]);
        assert_eq!(r.written.len(), FILES.len() - 1);
        assert_eq!(
            std::fs::read_to_string(d.path().join("playbooks/harden.yml")).unwrap(),
            "# mine\n"
        );
        let again = init(d.path(), false).unwrap();
        assert!(again.written.is_empty());
        assert_eq!(again.skipped.len(), FILES.len());
        let forced = init(d.path(), true).unwrap();
        assert_eq!(forced.written.len(), FILES.len());
        assert_ne!(
            std::fs::read_to_string(d.path().join("playbooks/harden.yml")).unwrap(),
            "# mine\n"
        );
    }

    #[test]
    fn init_refuses_to_replace_a_symlink_even_with_force() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("playbooks")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("playbooks/harden.yml")).unwrap();
        let e = init(d.path(), true).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
