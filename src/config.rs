//! `ansible.cfg`, found and read as Ansible does, so a project's existing configuration (its
//! inventory, remote user, key, host key checking, forks, vault password file, become and ssh
//! arguments) applies to sesame unchanged.
//!
//! The first file found is the only one read: `$ANSIBLE_CONFIG`, `./ansible.cfg` (skipped, with a
//! warning, when the current directory is world-writable), `~/.ansible.cfg`,
//! `/etc/ansible/ansible.cfg`. Each setting sesame knows has Ansible's environment variable,
//! which wins over the file; command-line flags and host variables win over both (the callers
//! apply them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{origin}: `{value}` is not a boolean (yes/no, true/false, on/off, 1/0)")]
    NotBool { origin: String, value: String },
    #[error("{origin}: `{value}` is not a whole number")]
    NotNumber { origin: String, value: String },
}

/// One `ansible.cfg` (or none): its sections and keys, lower-cased as configparser does.
#[derive(Debug, Clone, Default)]
pub struct AnsibleConfig {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    sections: HashMap<String, HashMap<String, (String, usize)>>,
}

/// A setting sesame reads: its `[section] key` and environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub section: &'static str,
    pub key: &'static str,
    pub env: &'static str,
}

macro_rules! settings {
    ($($name:ident = [$section:literal, $key:literal, $env:literal];)*) => {
        $(pub const $name: Setting = Setting { section: $section, key: $key, env: $env };)*
    };
}

settings! {
    INVENTORY = ["defaults", "inventory", "ANSIBLE_INVENTORY"];
    ROLES_PATH = ["defaults", "roles_path", "ANSIBLE_ROLES_PATH"];
    REMOTE_USER = ["defaults", "remote_user", "ANSIBLE_REMOTE_USER"];
    PRIVATE_KEY_FILE = ["defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE"];
    HOST_KEY_CHECKING = ["defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING"];
    FORKS = ["defaults", "forks", "ANSIBLE_FORKS"];
    TIMEOUT = ["defaults", "timeout", "ANSIBLE_TIMEOUT"];
    VAULT_PASSWORD_FILE = ["defaults", "vault_password_file", "ANSIBLE_VAULT_PASSWORD_FILE"];
    VAULT_IDENTITY_LIST = ["defaults", "vault_identity_list", "ANSIBLE_VAULT_IDENTITY_LIST"];
    ASK_PASS = ["defaults", "ask_pass", "ANSIBLE_ASK_PASS"];
    BECOME = ["privilege_escalation", "become", "ANSIBLE_BECOME"];
    BECOME_USER = ["privilege_escalation", "become_user", "ANSIBLE_BECOME_USER"];
    BECOME_ASK_PASS = ["privilege_escalation", "become_ask_pass", "ANSIBLE_BECOME_ASK_PASS"];
    SSH_COMMON_ARGS = ["ssh_connection", "ssh_common_args", "ANSIBLE_SSH_COMMON_ARGS"];
    SSH_EXTRA_ARGS = ["ssh_connection", "ssh_extra_args", "ANSIBLE_SSH_EXTRA_ARGS"];
}

impl AnsibleConfig {
    /// Find and read the configuration file, in Ansible's order. No file is not an error.
    pub fn find() -> Result<AnsibleConfig, ConfigError> {
        match search_path() {
            Some(path) => Self::load(&path),
            None => Ok(AnsibleConfig::default()),
        }
    }

    pub fn load(path: &Path) -> Result<AnsibleConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parse configparser's INI: `[section]`, `key = value` or `key: value`, `#`/`;` comment
    /// lines, indented continuation lines; keys are case-insensitive.
    pub fn parse(path: &Path, text: &str) -> Result<AnsibleConfig, ConfigError> {
        let mut sections: HashMap<String, HashMap<String, (String, usize)>> = HashMap::new();
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end();
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let syntax = |message: &str| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: line_no,
                message: message.into(),
            };
            if line.starts_with([' ', '\t']) {
                // A continuation of the previous value.
                let (Some(s), Some(k)) = (&current, &last_key) else {
                    return Err(syntax("an indented line that continues nothing"));
                };
                if let Some((v, _)) = sections.get_mut(s).and_then(|m| m.get_mut(k)) {
                    v.push('\n');
                    v.push_str(t);
                }
                continue;
            }
            if let Some(name) = t.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| syntax("a section header must end with ]"))?;
                current = Some(name.trim().to_string());
                sections.entry(name.trim().to_string()).or_default();
                last_key = None;
                continue;
            }
            let Some(section) = &current else {
                return Err(syntax("a setting before any [section]"));
            };
            let split = t
                .find(['=', ':'])
                .ok_or_else(|| syntax("expected `key = value`"))?;
            let key = t[..split].trim().to_ascii_lowercase();
            let mut value = t[split + 1..].trim().to_string();
            // configparser's inline comments need whitespace before `;` or `#` (Ansible's
            // loader strips those).
            for marker in [" ;", " #", "\t;", "\t#"] {
                if let Some(at) = value.find(marker) {
                    value.truncate(at);
                    value = value.trim_end().to_string();
                }
            }
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.clone(), (value, line_no));
            last_key = Some(key);
        }
        Ok(AnsibleConfig {
            path: Some(path.to_path_buf()),
            sections,
        })
    }

    /// The raw text of a setting: its environment variable, else the file. Empty is unset.
    pub fn text(&self, s: Setting) -> Option<(String, String)> {
        if let Ok(v) = std::env::var(s.env) {
            if !v.trim().is_empty() {
                return Some((v, format!("${}", s.env)));
            }
        }
        let (v, line) = self.sections.get(s.section)?.get(s.key)?;
        if v.trim().is_empty() {
            return None;
        }
        let origin = match &self.path {
            Some(p) => format!("{}:{line} ({} in [{}])", p.display(), s.key, s.section),
            None => s.key.to_string(),
        };
        Some((v.clone(), origin))
    }

    /// A string setting.
    pub fn string(&self, s: Setting) -> Option<String> {
        self.text(s).map(|(v, _)| v.trim().to_string())
    }

    /// A boolean setting, as Ansible's `boolean()` reads it.
    pub fn boolean(&self, s: Setting) -> Result<Option<bool>, ConfigError> {
        let Some((v, origin)) = self.text(s) else {
            return Ok(None);
        };
        match crate::vars::str_bool(&v) {
            Some(b) => Ok(Some(b)),
            None => Err(ConfigError::NotBool { origin, value: v }),
        }
    }

    /// A whole-number setting.
    pub fn number(&self, s: Setting) -> Result<Option<u64>, ConfigError> {
        let Some((v, origin)) = self.text(s) else {
            return Ok(None);
        };
        v.trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::NotNumber { origin, value: v })
    }

    /// A path list setting (comma-separated, `~` expanded; relative paths are relative to the
    /// configuration file's folder, as Ansible resolves them).
    pub fn paths(&self, s: Setting) -> Vec<PathBuf> {
        self.path_list(s, ',')
    }

    /// A `pathspec` setting such as `roles_path`: `:`-separated, otherwise as `paths`.
    pub fn pathspec(&self, s: Setting) -> Vec<PathBuf> {
        self.path_list(s, ':')
    }

    fn path_list(&self, s: Setting, sep: char) -> Vec<PathBuf> {
        let Some((v, origin)) = self.text(s) else {
            return Vec::new();
        };
        let from_file = !origin.starts_with('$');
        let base = self
            .path
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf);
        v.split(sep)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let p = crate::transport::ssh_text::expand_tilde(p);
                match (&base, from_file && p.is_relative()) {
                    (Some(b), true) => b.join(p),
                    _ => p,
                }
            })
            .collect()
    }
}

/// Where Ansible looks, in order; the first that exists.
fn search_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ANSIBLE_CONFIG") {
        if !p.is_empty() {
            let p = crate::transport::ssh_text::expand_tilde(&p);
            // A directory means its ansible.cfg.
            let p = if p.is_dir() { p.join("ansible.cfg") } else { p };
            if p.exists() {
                return Some(p);
            }
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        let here = cwd.join("ansible.cfg");
        if here.exists() {
            if world_writable(&cwd) {
                tracing::warn!(
                    "Ansible is being run in a world writable directory ({}), ignoring it as an ansible.cfg source",
                    cwd.display()
                );
            } else {
                return Some(here);
            }
        }
    }
    let home = crate::transport::ssh_text::expand_tilde("~/.ansible.cfg");
    if home.is_absolute() && home.exists() {
        return Some(home);
    }
    let etc = PathBuf::from("/etc/ansible/ansible.cfg");
    etc.exists().then_some(etc)
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

static INSTALLED: OnceLock<AnsibleConfig> = OnceLock::new();

/// Install the configuration of this run (once, at start-up).
pub fn install(cfg: AnsibleConfig) {
    let _ = INSTALLED.set(cfg);
}

/// This run's configuration (empty when none was found or installed).
pub fn installed() -> &'static AnsibleConfig {
    static EMPTY: OnceLock<AnsibleConfig> = OnceLock::new();
    INSTALLED
        .get()
        .unwrap_or_else(|| EMPTY.get_or_init(AnsibleConfig::default))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "\
# a project's ansible.cfg
[defaults]
inventory = ./inventories/prod, ~/extra.ini
roles_path = roles:/etc/ansible/roles
remote_user=deploy
host_key_checking = False   ; the lab re-keys often
Forks: 7
vault_password_file = .vault_pass
private_key_file = /keys/fleet

[privilege_escalation]
become = yes

[ssh_connection]
ssh_common_args = -o ProxyJump=ops@gw
  -o ServerAliveInterval=5
pipelining = True
";

    fn cfg() -> AnsibleConfig {
        AnsibleConfig::parse(Path::new("/srv/project/ansible.cfg"), CFG).unwrap()
    }

    #[test]
    fn reads_what_ansible_reads() {
        let c = cfg();
        // Unique names: no test sets these variables, so the file's values are seen.
        assert_eq!(c.string(REMOTE_USER).as_deref(), Some("deploy"));
        assert_eq!(c.boolean(HOST_KEY_CHECKING).unwrap(), Some(false));
        assert_eq!(c.number(FORKS).unwrap(), Some(7));
        assert_eq!(c.boolean(BECOME).unwrap(), Some(true));
        let inv = c.paths(INVENTORY);
        assert_eq!(inv[0], PathBuf::from("/srv/project/./inventories/prod"));
        assert!(
            inv[1].ends_with("extra.ini") && inv[1].is_absolute(),
            "{inv:?}"
        );
        assert_eq!(
            c.paths(VAULT_PASSWORD_FILE),
            vec![PathBuf::from("/srv/project/.vault_pass")]
        );
        assert_eq!(
            c.string(SSH_COMMON_ARGS).as_deref(),
            Some("-o ProxyJump=ops@gw\n-o ServerAliveInterval=5")
        );
        assert_eq!(c.string(TIMEOUT), None);
        assert_eq!(
            c.pathspec(ROLES_PATH),
            vec![
                PathBuf::from("/srv/project/roles"),
                PathBuf::from("/etc/ansible/roles")
            ]
        );
    }

    #[test]
    fn bad_values_and_syntax_name_file_and_line() {
        let c = AnsibleConfig::parse(
            Path::new("/p/ansible.cfg"),
            "[defaults]\nforks = many\nhost_key_checking = perhaps\n",
        )
        .unwrap();
        let e = c.number(FORKS).unwrap_err().to_string();
        assert!(e.contains("/p/ansible.cfg:2") && e.contains("many"), "{e}");
        let e = c.boolean(HOST_KEY_CHECKING).unwrap_err().to_string();
        assert!(
            e.contains("/p/ansible.cfg:3") && e.contains("perhaps"),
            "{e}"
        );
        for (bad, line) in [
            ("forks = 3\n", 1),
            ("[defaults\n", 1),
            ("[defaults]\njust words\n", 2),
            ("  indented first\n", 1),
        ] {
            let e = AnsibleConfig::parse(Path::new("/p/ansible.cfg"), bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("/p/ansible.cfg:{line}:")),
                "{bad:?}: {e}"
            );
        }
    }
}
