//! Templating with tera: strings in tasks (`"{{ var }}"`), `when:` conditions, and `*.tera`
//! files. Undefined variables are errors naming the variable, the template and the line; a
//! string that is one bare `{{ path }}` keeps the variable's native type (lists stay lists).

use super::{as_bool, Vars};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

/// A templating failure, with where it happened.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("undefined variable `{var}` in {origin}{}", line_suffix(*.line))]
    Undefined {
        var: String,
        origin: String,
        line: Option<usize>,
    },
    #[error("template error in {origin}{}: {msg}", line_suffix(*.line))]
    Render {
        origin: String,
        line: Option<usize>,
        msg: String,
    },
    #[error("condition `{expr}` in {origin} is not a boolean (got `{got}`)")]
    NotBool {
        expr: String,
        origin: String,
        got: String,
    },
    #[error("cannot read template {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// Renders strings, values, conditions and files against a set of variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct Templater;

fn bare_path_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+|\[\d+\])*)\s*\}\}$")
            .expect("static regex")
    })
}

fn undefined_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"Variable `([^`]+)` not found").expect("static regex"))
}

/// Whether a string contains template syntax at all.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Look up `a.b[0].c` in vars.
pub fn lookup<'a>(vars: &'a Vars, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let (name, idx) = split_index(first);
    let mut cur = vars.get(name)?;
    for i in idx {
        cur = cur.get(i)?;
    }
    for p in parts {
        let (name, idx) = split_index(p);
        cur = cur.get(name)?;
        for i in idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn split_index(s: &str) -> (&str, Vec<usize>) {
    match s.find('[') {
        None => (s, Vec::new()),
        Some(pos) => {
            let idx = s[pos..]
                .split(['[', ']'])
                .filter(|x| !x.is_empty())
                .filter_map(|x| x.parse().ok())
                .collect();
            (&s[..pos], idx)
        }
    }
}

fn new_tera() -> tera::Tera {
    let mut t = tera::Tera::default();
    t.autoescape_on(vec![]);
    t.register_filter(
        "bool",
        |v: &Value, _: &std::collections::HashMap<String, Value>| {
            Ok(Value::Bool(as_bool(v).unwrap_or(false)))
        },
    );
    t.register_filter(
        "to_json",
        |v: &Value, _: &std::collections::HashMap<String, Value>| Ok(Value::String(v.to_string())),
    );
    t
}

/// The whole error chain of a tera error, as one line.
fn chain(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The first line of `text` mentioning `needle` inside a tag, 1-based.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    let word = regex::Regex::new(&format!(r"\b{}\b", regex::escape(needle))).ok()?;
    text.lines()
        .position(|l| (l.contains("{{") || l.contains("{%")) && word.is_match(l))
        .map(|i| i + 1)
}

impl Templater {
    fn render_raw(&self, text: &str, vars: &Vars, origin: &str) -> Result<String, TemplateError> {
        let ctx = tera::Context::from_value(Value::Object(vars.clone())).map_err(|e| {
            TemplateError::Render {
                origin: origin.to_string(),
                line: None,
                msg: chain(&e),
            }
        })?;
        new_tera().render_str(text, &ctx).map_err(|e| {
            let msg = chain(&e);
            if let Some(c) = undefined_re().captures(&msg) {
                let var = c[1].to_string();
                let root = var.split(['.', '[']).next().unwrap_or(&var).to_string();
                TemplateError::Undefined {
                    line: find_line(text, &root),
                    var,
                    origin: origin.to_string(),
                }
            } else {
                TemplateError::Render {
                    origin: origin.to_string(),
                    line: None,
                    msg: msg.replace("'__tera_one_off'", origin),
                }
            }
        })
    }

    /// Render a string. Strings without template syntax come back unchanged.
    pub fn render_str(&self, s: &str, vars: &Vars, origin: &str) -> Result<String, TemplateError> {
        if !is_template(s) {
            return Ok(s.to_string());
        }
        self.render_raw(s, vars, origin)
    }

    /// Render every string inside a value. A string that is exactly `{{ path }}` yields the
    /// variable's own value (a list stays a list).
    pub fn render_value(
        &self,
        v: &Value,
        vars: &Vars,
        origin: &str,
    ) -> Result<Value, TemplateError> {
        match v {
            Value::String(s) if is_template(s) => {
                // Only a string that is exactly `{{ path }}` keeps the native value: surrounding
                // text, even a newline, makes it a string template.
                if let Some(c) = bare_path_re().captures(s) {
                    let path = &c[1];
                    return match lookup(vars, path) {
                        Some(val) => {
                            // The value itself may hold templates (vars referring to vars).
                            if val.as_str().is_some_and(is_template) {
                                self.render_value(val, vars, origin)
                            } else {
                                Ok(val.clone())
                            }
                        }
                        None => Err(TemplateError::Undefined {
                            var: path.to_string(),
                            origin: origin.to_string(),
                            line: None,
                        }),
                    };
                }
                Ok(Value::String(self.render_raw(s, vars, origin)?))
            }
            Value::Array(a) => a
                .iter()
                .map(|x| self.render_value(x, vars, origin))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.render_value(x, vars, origin)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// Evaluate a `when:`/`changed_when:`/`failed_when:` expression (tera expression syntax,
    /// without braces). Ansible booleans are accepted as results.
    pub fn eval_bool(&self, expr: &str, vars: &Vars, origin: &str) -> Result<bool, TemplateError> {
        let e = expr.trim();
        let text = format!("{{% if {e} %}}true{{% else %}}false{{% endif %}}");
        let out = self.render_raw(&text, vars, origin)?;
        match out.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            got => Err(TemplateError::NotBool {
                expr: e.to_string(),
                origin: origin.to_string(),
                got: got.to_string(),
            }),
        }
    }

    /// Render a `*.tera` file.
    pub fn render_file(&self, path: &Path, vars: &Vars) -> Result<String, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        // A vault-encrypted template is rendered decrypted, as Ansible's template does.
        let text = super::decrypt_file_text(text).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("cannot decrypt vault data: {e}"),
            ),
        })?;
        self.render_raw(&text, vars, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        json!({"seq": [7000, 8000], "mode": "knockd", "n": 3, "nested": {"a": [1, {"b": "x"}]},
               "ref": "{{ mode }}-x", "flag": "yes"})
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn bare_variable_keeps_type() {
        let t = Templater;
        assert_eq!(
            t.render_value(&json!("{{ seq }}"), &vars(), "t").unwrap(),
            json!([7000, 8000])
        );
        assert_eq!(
            t.render_value(&json!("{{ nested.a[1].b }}"), &vars(), "t")
                .unwrap(),
            json!("x")
        );
        assert_eq!(
            t.render_value(&json!("{{ ref }}"), &vars(), "t").unwrap(),
            json!("knockd-x")
        );
        assert_eq!(
            t.render_value(&json!("m={{ mode }}"), &vars(), "t")
                .unwrap(),
            json!("m=knockd")
        );
        // Regression (lab::engine): text around the braces, even a newline, is kept.
        assert_eq!(
            t.render_value(&json!("{{ mode }}\n"), &vars(), "t")
                .unwrap(),
            json!("knockd\n")
        );
    }

    #[test]
    fn undefined_variable_names_variable_origin_and_line() {
        let t = Templater;
        let err = t
            .render_str(
                "line one\nport {{ missing_port }}\n",
                &vars(),
                "knockd.conf.tera",
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`missing_port`"), "{msg}");
        assert!(msg.contains("knockd.conf.tera"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let err = t
            .render_value(&json!("{{ nope }}"), &vars(), "task X")
            .unwrap_err();
        assert!(err.to_string().contains("`nope`"));
    }

    #[test]
    fn conditions() {
        let t = Templater;
        assert!(t.eval_bool("mode == 'knockd'", &vars(), "w").unwrap());
        assert!(!t.eval_bool("n > 5", &vars(), "w").unwrap());
        assert!(t.eval_bool("flag | bool", &vars(), "w").unwrap());
        assert!(t
            .eval_bool("undefined_thing is not defined", &vars(), "w")
            .unwrap());
        assert!(t.eval_bool("7000 in seq", &vars(), "w").unwrap());
        assert!(t.eval_bool("missing == 1", &vars(), "w").is_err());
    }
}
