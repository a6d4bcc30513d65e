//! Typed access to a module's (already templated) arguments, with errors that name the module,
//! the argument and the bad value, and a check that refuses arguments the module does not know.

use super::{ModuleDef, ModuleError};
use crate::vars::{as_bool, Vars};
use serde_json::Value;

/// A module's arguments.
pub struct Args {
    pub module: &'static str,
    pub map: Vars,
    accepted: &'static [(&'static str, &'static str)],
    free_form: bool,
}

impl Args {
    pub fn new(def: &ModuleDef, map: Vars) -> Args {
        Args {
            module: def.name,
            map,
            accepted: def.args,
            free_form: def.free_form,
        }
    }

    /// Refuse arguments the module does not document.
    pub fn check_known(&self) -> Result<(), ModuleError> {
        for k in self.map.keys() {
            let known =
                self.accepted.iter().any(|(a, _)| a == k) || (self.free_form && k == "_raw_params");
            if !known {
                return Err(ModuleError::UnknownArg {
                    module: self.module,
                    arg: k.clone(),
                    accepted: self
                        .accepted
                        .iter()
                        .map(|(a, _)| *a)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }

    fn bad(&self, arg: &str, msg: impl Into<String>) -> ModuleError {
        ModuleError::BadArg {
            module: self.module,
            arg: arg.to_string(),
            msg: msg.into(),
        }
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, k: &str) -> Result<Option<String>, ModuleError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.bad(k, format!("expected a string, got {other}"))),
        }
    }

    pub fn str(&self, k: &str) -> Result<String, ModuleError> {
        self.opt_str(k)?.ok_or_else(|| ModuleError::MissingArg {
            module: self.module,
            arg: k.to_string(),
        })
    }

    pub fn opt_bool(&self, k: &str) -> Result<Option<bool>, ModuleError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => as_bool(v).map(Some).ok_or_else(|| {
                self.bad(
                    k,
                    format!("expected a boolean (yes/no/true/false), got {v}"),
                )
            }),
        }
    }

    pub fn bool_or(&self, k: &str, default: bool) -> Result<bool, ModuleError> {
        Ok(self.opt_bool(k)?.unwrap_or(default))
    }

    pub fn opt_u64(&self, k: &str) -> Result<Option<u64>, ModuleError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.bad(k, format!("expected a whole number, got {n}"))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad(k, format!("expected a whole number, got `{s}`"))),
            Some(other) => Err(self.bad(k, format!("expected a whole number, got {other}"))),
        }
    }

    /// A list of strings; a comma-separated string is accepted as Ansible does for `name:`.
    pub fn str_list(&self, k: &str) -> Result<Vec<String>, ModuleError> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(self.bad(k, format!("expected strings in the list, got {other}"))),
                })
                .collect(),
            Some(other) => Err(self.bad(k, format!("expected a list, got {other}"))),
        }
    }

    /// An octal file mode given as `"0644"`, `"644"`, `0644` (YAML int 644 read as octal text).
    pub fn opt_mode(&self, k: &str) -> Result<Option<u32>, ModuleError> {
        let text = match self.get(k) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(self.bad(k, format!("expected an octal mode, got {other}"))),
        };
        let t = text.trim().trim_start_matches("0o");
        u32::from_str_radix(t, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Some)
            .ok_or_else(|| {
                self.bad(
                    k,
                    format!("expected an octal mode like \"0644\", got `{text}`"),
                )
            })
    }

    /// One of the given words.
    pub fn choice(&self, k: &str, choices: &[&str], default: &str) -> Result<String, ModuleError> {
        let v = self.opt_str(k)?.unwrap_or_else(|| default.to_string());
        if choices.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(self.bad(k, format!("`{v}` is not one of {}", choices.join(", "))))
        }
    }
}

impl Args {
    /// A list of strings without comma splitting (conditions, command lines).
    pub fn str_list_raw(&self, k: &str) -> Result<Vec<String>, ModuleError> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Bool(b) => Ok(b.to_string()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(self.bad(k, format!("expected strings in the list, got {other}"))),
                })
                .collect(),
            Some(other) => Err(self.bad(k, format!("expected a list, got {other}"))),
        }
    }
}
