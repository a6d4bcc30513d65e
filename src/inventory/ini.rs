//! Ansible's INI inventory format, line by line as `plugins/inventory/ini.py` reads it: hosts
//! before any section are `ungrouped`; `[g]`, `[g:children]`, `[g:vars]`; host lines split like
//! `shlex.split` with inline `k=v` typed by `ast.literal_eval` (`:vars` values too, as
//! ansible-core 2.19 does); children may be declared before their group; ranges and `:port`.

use super::data::{Data, UNGROUPED};
use super::error::InventoryError;
use super::hostrange::{expand_hostpattern, RangeError};
use super::pyliteral::{parse_ini_value, shlex_split};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

#[derive(PartialEq, Clone, Copy, Debug)]
enum State {
    Hosts,
    Children,
    Vars,
}

struct Pending {
    line: usize,
    state: State,
    parents: Vec<String>,
}

/// Parse INI inventory text into `data`. On error `data` may be partly filled; callers that
/// need all-or-nothing parse into a clone.
pub fn parse(data: &mut Data, path: &Path, text: &str) -> Result<(), InventoryError> {
    let mut p = IniParser {
        data,
        path: path.to_path_buf(),
        line: 0,
        pending: IndexMap::new(),
    };
    p.run(text)
}

struct IniParser<'a> {
    data: &'a mut Data,
    path: PathBuf,
    line: usize,
    pending: IndexMap<String, Pending>,
}

/// `^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$` without a regex: (group, optional suffix).
fn match_section(line: &str) -> Option<(String, Option<String>)> {
    let rest = line.strip_prefix('[')?;
    let end = rest.find(|c: char| c == ':' || c == ']' || c.is_whitespace())?;
    let name = &rest[..end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &rest[end..];
    let mut suffix = None;
    if let Some(r) = rest.strip_prefix(':') {
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        if n == 0 {
            return None;
        }
        suffix = Some(r[..n].to_string());
        rest = &r[n..];
    }
    let rest = rest.strip_prefix(']')?.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Some((name.to_string(), suffix))
    } else {
        None
    }
}

/// `^([^:\]\s]+)\s*(?:#.*)?$`: a group name in a `:children` section.
fn match_group_name(line: &str) -> Option<String> {
    let end = line
        .find(|c: char| c == ':' || c == ']' || c.is_whitespace())
        .unwrap_or(line.len());
    if end == 0 {
        return None;
    }
    let rest = line[end..].trim_start();
    (rest.is_empty() || rest.starts_with('#')).then(|| line[..end].to_string())
}

impl IniParser<'_> {
    fn run(&mut self, text: &str) -> Result<(), InventoryError> {
        let mut group = "ungrouped".to_string();
        let mut state = State::Hosts;
        for raw in split_lines(text) {
            self.line += 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((name, suffix)) = match_section(line) {
                state = match suffix.as_deref() {
                    None | Some("hosts") => State::Hosts,
                    Some("children") => State::Children,
                    Some("vars") => State::Vars,
                    Some(other) => {
                        return Err(InventoryError::UnknownSection {
                            path: self.path.clone(),
                            line: self.line,
                            group: name,
                            suffix: other.to_string(),
                        })
                    }
                };
                group = name;
                if self.data.group(&group).is_none() {
                    // [g:vars] alone does not declare g; remember it and check at the end.
                    if state == State::Vars && !self.pending.contains_key(&group) {
                        self.pending.insert(
                            group.clone(),
                            Pending {
                                line: self.line,
                                state,
                                parents: Vec::new(),
                            },
                        );
                    }
                    self.data.add_group(&group);
                }
                if state != State::Vars {
                    if let Some(p) = self.pending.get(&group) {
                        match p.state {
                            State::Children => self.add_pending_children(&group)?,
                            _ => {
                                self.pending.shift_remove(&group);
                            }
                        }
                    }
                }
                continue;
            } else if line.starts_with('[') && line.ends_with(']') {
                return Err(InventoryError::BadSection {
                    path: self.path.clone(),
                    line: self.line,
                    text: line.to_string(),
                });
            }
            match state {
                State::Hosts => self.host_line(line, &group)?,
                State::Vars => self.vars_line(line, &group)?,
                State::Children => self.child_line(line, &group)?,
            }
        }
        if let Some((name, p)) = self.pending.first() {
            return Err(match p.state {
                State::Vars => InventoryError::VarsForUndefinedGroup {
                    path: self.path.clone(),
                    line: p.line,
                    group: name.clone(),
                },
                _ => InventoryError::UndefinedChild {
                    path: self.path.clone(),
                    line: p.line,
                    parent: p.parents.last().cloned().unwrap_or_default(),
                    group: name.clone(),
                },
            });
        }
        Ok(())
    }

    fn add_child(&mut self, parent: &str, child: &str) -> Result<(), InventoryError> {
        let p = self.data.add_group(parent);
        let c = self.data.add_group(child);
        self.data
            .add_child_group(p, c)
            .map_err(|cy| InventoryError::GroupCycle {
                path: self.path.clone(),
                line: self.line,
                cycle: cy.describe(),
            })
    }

    fn add_pending_children(&mut self, group: &str) -> Result<(), InventoryError> {
        let Some(p) = self.pending.shift_remove(group) else {
            return Ok(());
        };
        for parent in p.parents {
            self.add_child(&parent, group)?;
            if self
                .pending
                .get(&parent)
                .is_some_and(|pp| pp.state == State::Children)
            {
                self.add_pending_children(&parent)?;
            }
        }
        Ok(())
    }

    fn host_line(&mut self, line: &str, group: &str) -> Result<(), InventoryError> {
        let bad = |reason: String| InventoryError::BadHostLine {
            path: self.path.clone(),
            line: self.line,
            text: line.to_string(),
            reason,
        };
        let tokens = shlex_split(line).map_err(|e| bad(e.to_string()))?;
        let Some(pattern) = tokens.first() else {
            return Err(bad("expected a host name".into()));
        };
        let (hosts, port) = expand_hostpattern(pattern).map_err(|e| match e {
            RangeError::Unclosed => InventoryError::UnclosedRange {
                path: self.path.clone(),
                line: self.line,
                pattern: pattern.clone(),
            },
            RangeError::Bad(reason) => InventoryError::BadRange {
                path: self.path.clone(),
                line: self.line,
                pattern: pattern.clone(),
                reason,
            },
        })?;
        if pattern.trim().ends_with(':') && port.is_none() {
            return Err(bad(format!(
                "host pattern `{pattern}` ends in ':', which is reserved for a port"
            )));
        }
        if hosts.iter().any(|h| h.trim() == "---") {
            return Err(bad(
                "`---` is normally a sign this is a YAML file (name it .yml)".into(),
            ));
        }
        if hosts.iter().any(String::is_empty) {
            return Err(bad("empty host name".into()));
        }
        let mut vars = Vec::new();
        for t in &tokens[1..] {
            let Some((k, v)) = t.split_once('=') else {
                return Err(bad(format!(
                    "expected key=value host variable assignment, got `{t}`"
                )));
            };
            vars.push((k.to_string(), parse_ini_value(v)));
        }
        let g = self.data.group(group).unwrap_or(UNGROUPED);
        for h in hosts {
            let hi = self.data.add_host(&h, Some(g), port);
            for (k, v) in &vars {
                self.data.set_host_var(hi, k, v.clone());
            }
        }
        Ok(())
    }

    fn vars_line(&mut self, line: &str, group: &str) -> Result<(), InventoryError> {
        let Some((k, v)) = line.split_once('=') else {
            return Err(InventoryError::VarsLineWithoutEquals {
                path: self.path.clone(),
                line: self.line,
                group: group.to_string(),
                text: line.to_string(),
            });
        };
        let g = self.data.add_group(group);
        let value = parse_ini_value(v.trim());
        self.data
            .set_group_var(g, k.trim(), value)
            .map(|_| ())
            .map_err(|value| InventoryError::BadPriority {
                path: self.path.clone(),
                line: self.line,
                group: group.to_string(),
                value,
            })
    }

    fn child_line(&mut self, line: &str, group: &str) -> Result<(), InventoryError> {
        let Some(child) = match_group_name(line) else {
            return Err(InventoryError::BadChildLine {
                path: self.path.clone(),
                line: self.line,
                group: group.to_string(),
                text: line.to_string(),
            });
        };
        if self.data.group(&child).is_none() {
            match self.pending.get_mut(&child) {
                Some(p) => p.parents.push(group.to_string()),
                None => {
                    self.pending.insert(
                        child,
                        Pending {
                            line: self.line,
                            state: State::Children,
                            parents: vec![group.to_string()],
                        },
                    );
                }
            }
            Ok(())
        } else {
            self.add_child(group, &child)
        }
    }
}

/// Python's `str.splitlines()` for the separators that occur in text files.
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' | b'\x0b' | b'\x0c' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_match_ansible_regex() {
        assert_eq!(match_section("[web]"), Some(("web".into(), None)));
        assert_eq!(
            match_section("[web:vars]  # c"),
            Some(("web".into(), Some("vars".into())))
        );
        assert_eq!(match_section("[web] ; c"), None);
        assert_eq!(match_section("[we b]"), None);
        assert_eq!(match_group_name("child # c"), Some("child".into()));
        assert_eq!(match_group_name("a b"), None);
    }
}
