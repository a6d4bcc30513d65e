//! Ansible's YAML inventory format (`plugins/inventory/yaml.py`): top-level keys are groups,
//! each with optional `hosts`, `vars` and `children` (nested to any depth); a host's value is
//! null or a mapping of variables; host keys may hold ranges and a `:port`. JSON files in the
//! same shape are read too. Structure errors point at the line of the offending key.

use super::data::Data;
use super::error::InventoryError;
use super::hostrange::{expand_hostpattern, RangeError};
use super::yamlvalue::{Entry, Node};
use std::path::{Path, PathBuf};

/// Parse a loaded YAML/JSON document into `data`.
pub fn parse(data: &mut Data, path: &Path, doc: &Node) -> Result<(), InventoryError> {
    let p = YamlParser {
        path: path.to_path_buf(),
    };
    if doc.is_falsy() {
        return Err(p.type_err(1, "parsed empty YAML file: expected a mapping of groups"));
    }
    let Node::Map(top) = doc else {
        return Err(p.type_err(
            1,
            &format!(
                "YAML inventory has invalid structure: expected a mapping of groups, got {}",
                doc.type_name()
            ),
        ));
    };
    if let Some(e) = top.iter().find(|e| e.key.as_str() == Some("plugin")) {
        if !e.value.is_falsy() {
            return Err(InventoryError::Unsupported {
                path: p.path.clone(),
                line: e.line.unwrap_or(1),
                what: "inventory plugin configuration (`plugin:`); only static INI/YAML inventories are read".into(),
            });
        }
    }
    for e in top {
        p.group(data, e, e.line.unwrap_or(1))?;
    }
    Ok(())
}

struct YamlParser {
    path: PathBuf,
}

impl YamlParser {
    fn type_err(&self, line: usize, message: &str) -> InventoryError {
        InventoryError::YamlType {
            path: self.path.clone(),
            line,
            message: message.to_string(),
        }
    }

    /// `_parse_group`: returns the group's name, or None when the entry was skipped.
    fn group(
        &self,
        data: &mut Data,
        entry: &Entry,
        parent_line: usize,
    ) -> Result<Option<String>, InventoryError> {
        let line = entry.line.unwrap_or(parent_line);
        let name = match &entry.key {
            Node::Str(s) if !s.is_empty() => s.clone(),
            other => {
                return Err(self.type_err(
                    line,
                    &format!(
                        "group name must be a non-empty string, got {} (quote it)",
                        other.type_name()
                    ),
                ))
            }
        };
        let sections = match &entry.value {
            Node::Null => {
                data.add_group(&name);
                return Ok(Some(name));
            }
            Node::Map(m) => m,
            other => {
                tracing::warn!(
                    "{}:{line}: skipping '{name}' as this is not a valid group definition (found {})",
                    self.path.display(),
                    other.type_name()
                );
                return Ok(None);
            }
        };
        let g = data.add_group(&name);
        for e in sections {
            let key = e.key.as_str().unwrap_or("");
            let kline = e.line.unwrap_or(line);
            let is_section = matches!(key, "vars" | "children" | "hosts");
            // A section given as a single string means one entry with no value.
            let owned;
            let value = match (&e.value, is_section) {
                (Node::Str(s), true) => {
                    owned = Node::Map(vec![Entry {
                        key: Node::Str(s.clone()),
                        line: e.line,
                        value: Node::Null,
                    }]);
                    &owned
                }
                (v, _) => v,
            };
            let entries = match value {
                Node::Null => continue,
                Node::Map(m) => m,
                other if is_section => {
                    return Err(self.type_err(
                        kline,
                        &format!(
                            "invalid \"{key}\" entry for group \"{name}\": requires a mapping, found {} instead",
                            other.type_name()
                        ),
                    ))
                }
                other => {
                    tracing::warn!(
                        "{}:{kline}: skipping key ({}) in group ({name}) as it is not a mapping, it is {}",
                        self.path.display(),
                        e.key.key_string(),
                        other.type_name()
                    );
                    continue;
                }
            };
            match key {
                "vars" => {
                    for v in entries {
                        let vline = v.line.unwrap_or(kline);
                        let id = data
                            .set_group_var(g, &v.key.key_string(), v.value.to_json())
                            .map_err(|value| InventoryError::BadPriority {
                                path: self.path.clone(),
                                line: vline,
                                group: name.clone(),
                                value,
                            })?;
                        data.note_timestamps(id, v.value.timestamp_paths());
                    }
                }
                "children" => {
                    for c in entries {
                        let cline = c.line.unwrap_or(kline);
                        let child = self.group(data, c, kline)?;
                        let child_name = child.unwrap_or_else(|| c.key.key_string());
                        let Some(ci) = data.group(&child_name) else {
                            return Err(self.type_err(
                                cline,
                                &format!("child group `{child_name}` of `{name}` is not a known group: give it a mapping or null"),
                            ));
                        };
                        data.add_child_group(g, ci)
                            .map_err(|cy| InventoryError::GroupCycle {
                                path: self.path.clone(),
                                line: cline,
                                cycle: cy.describe(),
                            })?;
                    }
                }
                "hosts" => {
                    for h in entries {
                        self.hosts(data, g, h, kline)?;
                    }
                }
                other => {
                    tracing::warn!(
                        "{}:{kline}: skipping unexpected key ({other}) in group ({name}), only \"vars\", \"children\" and \"hosts\" are valid",
                        self.path.display()
                    );
                }
            }
        }
        Ok(Some(name))
    }

    fn hosts(
        &self,
        data: &mut Data,
        g: usize,
        h: &Entry,
        parent_line: usize,
    ) -> Result<(), InventoryError> {
        let line = h.line.unwrap_or(parent_line);
        let Node::Str(pattern) = &h.key else {
            return Err(self.type_err(
                line,
                &format!(
                    "host pattern must be a string, got {}: enclose integers/floats in quotation marks",
                    h.key.type_name()
                ),
            ));
        };
        let (names, port) = expand_hostpattern(pattern).map_err(|e| match e {
            RangeError::Unclosed => InventoryError::UnclosedRange {
                path: self.path.clone(),
                line,
                pattern: pattern.clone(),
            },
            RangeError::Bad(reason) => InventoryError::BadRange {
                path: self.path.clone(),
                line,
                pattern: pattern.clone(),
                reason,
            },
        })?;
        let vars: &[Entry] = match &h.value {
            Node::Map(m) => m,
            v if v.is_falsy() => &[],
            other => {
                return Err(self.type_err(
                    line,
                    &format!(
                        "host `{pattern}` must have a mapping of variables or nothing, found {}",
                        other.type_name()
                    ),
                ))
            }
        };
        for name in names {
            if name.is_empty() {
                return Err(self.type_err(line, "empty host name"));
            }
            let hi = data.add_host(&name, Some(g), port);
            for v in vars {
                let id = data.set_host_var(hi, &v.key.key_string(), v.value.to_json());
                data.note_timestamps(id, v.value.timestamp_paths());
            }
        }
        Ok(())
    }
}
