//! Variables: the value type (`Vars`, JSON values as tera wants them), Ansible's booleans, the
//! precedence order sesame applies, and templating (`template.rs`). Nothing here talks to hosts.
//!
//! Precedence, lowest first (Ansible's documented order restricted to the sources sesame has):
//! 1. role defaults (`roles/X/defaults/main.yml`)
//! 2. inventory vars: `all` < parent group < child group < host, `group_vars/`, `host_vars/`
//! 3. facts gathered from the host (`ansible_*`, `sesame_*`)
//! 4. play `vars`, then play `vars_files`
//! 5. role `vars/main.yml`, then role parameters (`roles: [{role: x, param: ...}]`)
//! 6. `set_fact` and `register`ed results
//! 7. extra vars (`-e`), always win
//!
//! Facts sit below play vars here, as in Ansible, where host facts rank below play vars.

pub mod mask;
pub mod template;

pub use template::{TemplateError, Templater};

use serde_json::{Map, Value};

/// A set of variables: names to JSON values.
pub type Vars = Map<String, Value>;

/// Merge `over` into `base`, `over` winning (Ansible's default `hash_behaviour=replace`: no deep
/// merge of dictionaries).
pub fn merge_into(base: &mut Vars, over: &Vars) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

/// The one reading of a boolean in sesame (variables, module arguments, play keywords,
/// ansible.cfg, knock settings), with Ansible's strict rule (`boolean(value, strict=True)`, what
/// keywords and `type=bool` module options use): a real boolean; the numbers 1 and 0; the words
/// `yes/y/true/t/on/1` and `no/n/false/f/off/0` in any case, spaces trimmed. Anything else —
/// `2`, `""`, `maybe`, a list — is `None`, and the caller reports it naming the value: a typo
/// never silently turns a safety switch on or off. `null` is `false`, as an empty YAML value.
/// Only the template filter `| bool` is lenient (Ansible's filter: other values are false).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => str_bool(s),
        Value::Null => Some(false),
        _ => None,
    }
}

/// Ansible's boolean words (see `as_bool`); `None` for anything else, the empty string too.
pub fn str_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A value as text: a string as itself, anything else as JSON (`7000`, `true`, `[1,2]`), the
/// one way sesame shows a value in a message, a label or a list of names.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The SSH port a host's variables give: `ansible_port`, else `ansible_ssh_port` (`null` is
/// unset), a number or a numeric string from 1 to 65535. The one reader of these variables
/// (connection, knock profile, knock module): `Some((variable, Err(value)))` when it is not a
/// port, for the caller to report.
pub fn ansible_port(vars: &Vars) -> Option<(&'static str, Result<u16, String>)> {
    ["ansible_port", "ansible_ssh_port"]
        .into_iter()
        .find_map(|k| {
            let v = vars.get(k).filter(|v| !v.is_null())?;
            let port = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0);
            Some((k, port.ok_or_else(|| text(v))))
        })
}

/// Convert a YAML value into a JSON value (YAML keys that are not strings become strings).
pub fn yaml_to_json(y: &yaml_serde::Value) -> Value {
    match y {
        yaml_serde::Value::Null => Value::Null,
        yaml_serde::Value::Bool(b) => Value::Bool(*b),
        yaml_serde::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        yaml_serde::Value::String(s) => Value::String(s.clone()),
        yaml_serde::Value::Sequence(s) => Value::Array(s.iter().map(yaml_to_json).collect()),
        yaml_serde::Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(yaml_key(k), yaml_to_json(v));
            }
            Value::Object(out)
        }
        yaml_serde::Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// Decrypt the `!vault` values inside a YAML document in place (each becomes its string) with
/// this run's vault passwords; a document that is a whole encrypted file is decrypted by the
/// caller before parsing (`decrypt_file_text`).
pub fn decrypt_yaml_vaults(y: &mut yaml_serde::Value) -> Result<(), crate::vault::VaultError> {
    match y {
        yaml_serde::Value::Tagged(t) if t.tag == "vault" => {
            let envelope = match &t.value {
                yaml_serde::Value::String(s) => s.clone(),
                _ => {
                    return Err(crate::vault::VaultError::Format(
                        "a !vault value must be the encrypted text".into(),
                    ))
                }
            };
            *y = yaml_serde::Value::String(crate::vault::installed().decrypt_value(&envelope)?);
            Ok(())
        }
        yaml_serde::Value::Tagged(t) => decrypt_yaml_vaults(&mut t.value),
        yaml_serde::Value::Sequence(items) => items.iter_mut().try_for_each(decrypt_yaml_vaults),
        yaml_serde::Value::Mapping(m) => m.values_mut().try_for_each(decrypt_yaml_vaults),
        _ => Ok(()),
    }
}

/// A file's text, decrypted first when the whole file is vault-encrypted.
pub fn decrypt_file_text(text: String) -> Result<String, crate::vault::VaultError> {
    if crate::vault::is_vault(&text) {
        crate::vault::installed().decrypt_text(&text)
    } else {
        Ok(text)
    }
}

/// A YAML mapping key as a string, the way Ansible sees it.
pub fn yaml_key(k: &yaml_serde::Value) -> String {
    match k {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        yaml_serde::Value::Null => "None".to_string(),
        other => text(&yaml_to_json(other)),
    }
}

/// Parse one `-e` argument: `key=value key2=value2`, `@file.yml`, or inline YAML/JSON.
pub fn parse_extra_vars(arg: &str) -> Result<Vars, ExtraVarsError> {
    if let Some(path) = arg.strip_prefix('@') {
        let text = std::fs::read_to_string(path).map_err(|e| ExtraVarsError::Read {
            path: path.to_string(),
            source: e,
        })?;
        let text = decrypt_file_text(text).map_err(|e| ExtraVarsError::Parse {
            arg: arg.to_string(),
            msg: e.to_string(),
        })?;
        return yaml_mapping(&text).map_err(|msg| ExtraVarsError::Parse {
            arg: arg.to_string(),
            msg,
        });
    }
    let t = arg.trim_start();
    if t.starts_with('{') {
        return yaml_mapping(arg).map_err(|msg| ExtraVarsError::Parse {
            arg: arg.to_string(),
            msg,
        });
    }
    let mut out = Vars::new();
    for word in shell_words(arg) {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ExtraVarsError::Parse {
                arg: arg.to_string(),
                msg: format!("`{word}` is not key=value"),
            });
        };
        // Ansible keeps key=value extra vars as strings.
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(out)
}

fn yaml_mapping(text: &str) -> Result<Vars, String> {
    let mut y: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
    decrypt_yaml_vaults(&mut y).map_err(|e| format!("a !vault value: {e}"))?;
    match yaml_to_json(&y) {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Vars::new()),
        other => Err(format!("expected a mapping, found {other}")),
    }
}

/// Split on whitespace, honouring single and double quotes (enough for `-e 'a="x y" b=1'`).
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// A bad `-e` argument.
#[derive(Debug, thiserror::Error)]
pub enum ExtraVarsError {
    #[error("cannot read extra vars file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad extra vars `{arg}`: {msg}")]
    Parse { arg: String, msg: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_port_is_read_in_one_place() {
        use serde_json::json;
        let vars = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(ansible_port(&vars(json!({}))), None);
        assert_eq!(ansible_port(&vars(json!({"ansible_port": null}))), None);
        assert_eq!(
            ansible_port(&vars(json!({"ansible_port": " 2222 "}))),
            Some(("ansible_port", Ok(2222)))
        );
        assert_eq!(
            ansible_port(&vars(json!({"ansible_ssh_port": 2200}))),
            Some(("ansible_ssh_port", Ok(2200)))
        );
        assert_eq!(
            ansible_port(&vars(
                json!({"ansible_port": 2222, "ansible_ssh_port": 2200})
            )),
            Some(("ansible_port", Ok(2222)))
        );
        for bad in [
            json!(0),
            json!(65536),
            json!("ssh"),
            json!(true),
            json!([22]),
        ] {
            let want = Some(("ansible_port", Err(text(&bad))));
            assert_eq!(ansible_port(&vars(json!({"ansible_port": bad}))), want);
        }
    }

    /// Issue 16: four parsers disagreed (`2` was true in one, an error in another).
    #[test]
    fn ansible_booleans() {
        use serde_json::json;
        let table = [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!(1), Some(true)),
            (json!(0), Some(false)),
            (json!(1.0), Some(true)),
            (json!(2), None),
            (json!(-1), None),
            (json!("yes"), Some(true)),
            (json!("Yes"), Some(true)),
            (json!(" TRUE "), Some(true)),
            (json!("on"), Some(true)),
            (json!("1"), Some(true)),
            (json!("y"), Some(true)),
            (json!("t"), Some(true)),
            (json!("no"), Some(false)),
            (json!("False"), Some(false)),
            (json!("OFF"), Some(false)),
            (json!("0"), Some(false)),
            (json!("n"), Some(false)),
            (json!("f"), Some(false)),
            (json!("2"), None),
            (json!(""), None),
            (json!("maybe"), None),
            (json!([true]), None),
            (json!(null), Some(false)),
        ];
        for (v, want) in table {
            assert_eq!(as_bool(&v), want, "{v}");
            if let Value::String(s) = &v {
                assert_eq!(str_bool(s), want, "{v}");
            }
        }
    }

    #[test]
    fn extra_vars_forms() {
        let v = parse_extra_vars("a=1 b='x y'").unwrap();
        assert_eq!(v["a"], "1");
        assert_eq!(v["b"], "x y");
        let v = parse_extra_vars("{\"seq\": [1, 2]}").unwrap();
        assert_eq!(v["seq"], serde_json::json!([1, 2]));
        assert!(parse_extra_vars("novalue").is_err());
    }
}
