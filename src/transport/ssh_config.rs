//! The OpenSSH client configuration (`~/.ssh/config`, then `/etc/ssh/ssh_config`, or only the
//! `-F` file), read as `ssh` reads it, because Ansible connects with `ssh` and many fleets keep
//! their users, keys, ports, aliases and jump hosts there rather than in the inventory.
//!
//! `Host` blocks (patterns, `!negation`), `Match all`/`Match host`/`Match originalhost`, and
//! `Include` (globs; relative to `~/.ssh` or `/etc/ssh`) are understood; for each keyword the
//! first value obtained wins, `IdentityFile` accumulates. A `Match` with other criteria (`exec`,
//! `user`, ...) cannot be evaluated without running things: its block is skipped, with a
//! warning. Values only fill in what the inventory's variables and ssh arguments leave unset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::memo::Memo;

/// One setting as written: keyword (lower case), value, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: String,
}

/// Which hosts a block applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applies {
    /// Before any `Host`/`Match`, or `Host *`-like `Match all`.
    All,
    /// `Host` patterns (or `Match host`): any positive match and no negated match.
    Patterns(Vec<String>),
    /// A `Match` sesame cannot evaluate.
    Never,
}

#[derive(Debug, Clone)]
struct Block {
    applies: Applies,
    settings: Vec<Setting>,
}

/// A parsed configuration: its blocks in file order, `Include`s spliced in.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
}

impl SshConfig {
    /// Parse `text` (read from `path`); `base` is where relative `Include`s are looked up.
    pub fn parse(path: &Path, text: &str, base: &Path, depth: usize) -> SshConfig {
        let mut blocks = vec![Block {
            applies: Applies::All,
            settings: Vec::new(),
        }];
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let origin = format!("{}:{}", path.display(), i + 1);
            let (key, value) = split_keyword(line);
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "host" => blocks.push(Block {
                    applies: Applies::Patterns(words(&value)),
                    settings: Vec::new(),
                }),
                "match" => blocks.push(Block {
                    applies: parse_match(&value, &origin),
                    settings: Vec::new(),
                }),
                "include" => {
                    // An Include inside a Host block applies under that block's condition.
                    let applies = blocks
                        .last()
                        .map(|b| b.applies.clone())
                        .unwrap_or(Applies::All);
                    for file in include_files(&value, base) {
                        if depth >= 16 {
                            tracing::warn!("{origin}: Include nested too deep, ignored");
                            break;
                        }
                        if let Ok(t) = std::fs::read_to_string(&file) {
                            let inner = SshConfig::parse(&file, &t, base, depth + 1);
                            for mut b in inner.blocks {
                                if applies != Applies::All && b.applies == Applies::All {
                                    b.applies = applies.clone();
                                }
                                blocks.push(b);
                            }
                        }
                    }
                    blocks.push(Block {
                        applies,
                        settings: Vec::new(),
                    });
                }
                _ => {
                    if let Some(b) = blocks.last_mut() {
                        b.settings.push(Setting {
                            key,
                            value: unquote(&value),
                            origin,
                        });
                    }
                }
            }
        }
        SshConfig { blocks }
    }

    /// The settings that apply to `host` (as given to ssh), first value per keyword (all
    /// `IdentityFile`s), in the order ssh would obtain them.
    pub fn lookup(&self, host: &str) -> Vec<Setting> {
        let host = host.to_ascii_lowercase();
        let mut out: Vec<Setting> = Vec::new();
        for b in &self.blocks {
            let applies = match &b.applies {
                Applies::All => true,
                Applies::Never => false,
                Applies::Patterns(p) => patterns_match(p, &host),
            };
            if !applies {
                continue;
            }
            for s in &b.settings {
                let multi = s.key == "identityfile";
                if multi || !out.iter().any(|o| o.key == s.key) {
                    out.push(s.clone());
                }
            }
        }
        out
    }
}

/// The settings of the configuration files for `host`: the `-F` file alone when given, else
/// `~/.ssh/config` then `/etc/ssh/ssh_config` (first value wins across both).
pub fn settings_for(host: &str, config_file: Option<&Path>) -> Vec<Setting> {
    let files: Vec<(PathBuf, PathBuf)> = match config_file {
        Some(f) => vec![(f.to_path_buf(), home_ssh())],
        None => vec![
            (home_ssh().join("config"), home_ssh()),
            (
                PathBuf::from("/etc/ssh/ssh_config"),
                PathBuf::from("/etc/ssh"),
            ),
        ],
    };
    let mut out: Vec<Setting> = Vec::new();
    for (file, base) in files {
        let Some(cfg) = load_shared(&file, &base) else {
            continue;
        };
        for s in cfg.lookup(host) {
            if s.key == "identityfile" || !out.iter().any(|o| o.key == s.key) {
                out.push(s);
            }
        }
    }
    out
}

/// Parsed once per process per file (re-read if it changes), shared by every host.
fn load_shared(path: &Path, base: &Path) -> Option<Arc<SshConfig>> {
    static SHARED: Memo<PathBuf, Option<(SystemTime, u64)>, SshConfig> = Memo::new();
    let meta = std::fs::metadata(path).ok()?;
    let stamp = Some((
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        meta.len(),
    ));
    SHARED
        .get_or_try_build(path.to_path_buf(), stamp, || {
            std::fs::read_to_string(path).map(|t| SshConfig::parse(path, &t, base, 0))
        })
        .ok()
}

fn home_ssh() -> PathBuf {
    super::ssh_text::expand_tilde("~/.ssh")
}

/// `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> (String, String) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = line[..end].to_string();
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (key, rest.to_string())
}

fn words(value: &str) -> Vec<String> {
    super::ssh_text::split_words(value)
        .unwrap_or_else(|| value.split_whitespace().map(str::to_string).collect())
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains('"') {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `Match all`, `Match host P,Q`, `Match originalhost P`; anything else cannot be evaluated.
fn parse_match(value: &str, origin: &str) -> Applies {
    let w = words(value);
    match w.as_slice() {
        [all] if all.eq_ignore_ascii_case("all") => Applies::All,
        [kind, pats]
            if kind.eq_ignore_ascii_case("host") || kind.eq_ignore_ascii_case("originalhost") =>
        {
            Applies::Patterns(pats.split(',').map(str::to_string).collect())
        }
        _ => {
            tracing::warn!(
                "{origin}: `Match {value}` is not evaluated by sesame (only all, host, originalhost): its block is skipped"
            );
            Applies::Never
        }
    }
}

/// Host patterns: a negated match excludes; otherwise any positive match includes.
fn patterns_match(patterns: &[String], host: &str) -> bool {
    let mut positive = false;
    for p in patterns.iter().flat_map(|p| p.split(',')) {
        let p = p.to_ascii_lowercase();
        if let Some(neg) = p.strip_prefix('!') {
            if super::known_hosts::wildcard_match(neg, host) {
                return false;
            }
        } else if super::known_hosts::wildcard_match(&p, host) {
            positive = true;
        }
    }
    positive
}

/// The files an `Include` names: `~` expanded, relative to `base`, `*`/`?` in the file name
/// matched against the folder's entries (sorted, as glob(3) returns them).
fn include_files(value: &str, base: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for w in words(value) {
        let p = super::ssh_text::expand_tilde(&w);
        let p = if p.is_relative() { base.join(p) } else { p };
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        match (name, p.parent()) {
            (Some(n), Some(dir)) if n.contains(['*', '?']) => {
                let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|f| {
                        f.file_name().is_some_and(|fname| {
                            super::known_hosts::wildcard_match(&n, &fname.to_string_lossy())
                        })
                    })
                    .collect();
                found.sort();
                out.extend(found);
            }
            _ => out.push(p),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SshConfig {
        SshConfig::parse(
            Path::new("/home/u/.ssh/config"),
            text,
            Path::new("/nonexistent"),
            0,
        )
    }

    fn get<'a>(s: &'a [Setting], key: &str) -> Vec<&'a str> {
        s.iter()
            .filter(|x| x.key == key)
            .map(|x| x.value.as_str())
            .collect()
    }

    #[test]
    fn first_value_wins_identity_files_add_up_negation_excludes() {
        let c = cfg("\
# fleet
Host web* !web-legacy
    HostName %h.prod.example
    User deploy
    Port=2222
    IdentityFile ~/.ssh/fleet

Host web1
    User ignored-already-set
    IdentityFile \"/keys/with space\"

Match host db*,cache?
    User dba

Match exec \"test -f /tmp/x\"
    User never

Host *
    User fallback
    ProxyJump ops@gw
");
        let w = c.lookup("WEB1");
        assert_eq!(get(&w, "user"), ["deploy"]);
        assert_eq!(get(&w, "hostname"), ["%h.prod.example"]);
        assert_eq!(get(&w, "port"), ["2222"]);
        assert_eq!(
            get(&w, "identityfile"),
            ["~/.ssh/fleet", "/keys/with space"]
        );
        assert_eq!(get(&w, "proxyjump"), ["ops@gw"]);
        assert_eq!(w[0].origin, "/home/u/.ssh/config:3");
        assert_eq!(get(&c.lookup("web-legacy"), "user"), ["fallback"]);
        assert_eq!(get(&c.lookup("db7"), "user"), ["dba"]);
        assert_eq!(get(&c.lookup("cache1"), "user"), ["dba"]);
        assert_eq!(get(&c.lookup("other"), "user"), ["fallback"]);
    }

    #[test]
    fn includes_are_spliced_in_place_and_globbed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/10-a.conf"),
            "Host a1\n  User from-a\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/20-b.conf"), "User from-b\n").unwrap();
        let main = dir.path().join("config");
        let text = "Include conf.d/*.conf\nHost *\n  User last\n";
        std::fs::write(&main, text).unwrap();
        let c = SshConfig::parse(&main, text, dir.path(), 0);
        assert_eq!(get(&c.lookup("a1"), "user"), ["from-a"]);
        // 20-b.conf has a global User: it comes before `Host *` and wins for everyone else.
        assert_eq!(get(&c.lookup("zz"), "user"), ["from-b"]);
    }
}
