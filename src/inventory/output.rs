//! Text that `ansible-inventory` prints, byte for byte where we can: Python's
//! `json.dumps(sort_keys=True, indent=4)` (ASCII-escaped, Python float repr) and PyYAML's
//! `yaml.dump(default_flow_style=False)` for `--yaml`. Pure formatting; no inventory logic.

use super::pyliteral::py_float_repr;
use serde_json::Value;

/// `json.dumps(value, sort_keys=True, indent=4)` as Python writes it.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, 0, &mut out);
    out
}

fn write_json(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                let r = py_float_repr(f);
                out.push_str(match r.as_str() {
                    "inf" => "Infinity",
                    "-inf" => "-Infinity",
                    "nan" => "NaN",
                    _ => &r,
                });
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(level + 1, out);
                write_json(item, level + 1, out);
            }
            newline_indent(level, out);
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(level + 1, out);
                write_json_str(k, out);
                out.push_str(": ");
                write_json(&m[k.as_str()], level + 1, out);
            }
            newline_indent(level, out);
            out.push('}');
        }
    }
}

fn newline_indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

/// A JSON string as ansible-inventory writes it (`ensure_ascii=False`: non-ASCII kept).
fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A document for the YAML writer: structural mappings, and values that may be one shared
/// object (same id) in several places, which PyYAML writes as `&idNNN` then `*idNNN`.
#[derive(Debug, Clone)]
pub enum YamlNode {
    Map(Vec<(String, YamlNode)>),
    Value(Value, Option<u64>),
}

/// PyYAML's `yaml.dump(value, default_flow_style=False, allow_unicode=True)` (keys sorted),
/// for the shapes inventories hold.
pub fn python_yaml(value: &Value) -> String {
    python_yaml_doc(&YamlNode::Value(value.clone(), None))
}

/// Like [`python_yaml`], for a document with shared values.
pub fn python_yaml_doc(doc: &YamlNode) -> String {
    let mut counts = std::collections::HashMap::new();
    count_ids(doc, &mut counts);
    let mut w = YamlWriter {
        out: String::new(),
        counts,
        anchors: std::collections::HashMap::new(),
    };
    match doc {
        YamlNode::Map(m) if !m.is_empty() => w.map_entries(m, 0),
        YamlNode::Value(Value::Object(m), _) if !m.is_empty() => w.value_map(m, 0),
        YamlNode::Value(Value::Array(a), _) if !a.is_empty() => w.seq(a, 0),
        YamlNode::Map(_) => w.out.push_str("{}\n"),
        YamlNode::Value(v, _) => {
            w.out.push_str(&yaml_scalar(v));
            w.out.push('\n');
            if !matches!(v, Value::Object(_) | Value::Array(_)) {
                w.out.push_str("...\n");
            }
        }
    }
    w.out
}

fn count_ids(n: &YamlNode, counts: &mut std::collections::HashMap<u64, usize>) {
    match n {
        YamlNode::Map(m) => m.iter().for_each(|(_, v)| count_ids(v, counts)),
        // Only lists and mappings can be aliased; PyYAML never aliases scalars.
        YamlNode::Value(Value::Array(_) | Value::Object(_), Some(id)) => {
            *counts.entry(*id).or_insert(0) += 1
        }
        YamlNode::Value(..) => {}
    }
}

struct YamlWriter {
    out: String,
    counts: std::collections::HashMap<u64, usize>,
    anchors: std::collections::HashMap<u64, String>,
}

impl YamlWriter {
    fn map_entries(&mut self, m: &[(String, YamlNode)], indent: usize) {
        let mut entries: Vec<&(String, YamlNode)> = m.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in entries {
            self.key(k, indent);
            match v {
                YamlNode::Map(inner) if inner.is_empty() => self.out.push_str(" {}\n"),
                YamlNode::Map(inner) => {
                    self.out.push('\n');
                    self.map_entries(inner, indent + 2);
                }
                YamlNode::Value(val, id) => self.value_after_key(val, *id, indent),
            }
        }
    }

    fn key(&mut self, k: &str, indent: usize) {
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(&yaml_str(k, true));
        self.out.push(':');
    }

    /// The value of a mapping key, with an anchor or as an alias when shared.
    fn value_after_key(&mut self, v: &Value, id: Option<u64>, indent: usize) {
        let shared = id.filter(|i| {
            matches!(v, Value::Array(_) | Value::Object(_))
                && self.counts.get(i).copied().unwrap_or(0) > 1
        });
        let mut anchor = String::new();
        if let Some(i) = shared {
            if let Some(name) = self.anchors.get(&i) {
                self.out.push_str(&format!(" *{name}\n"));
                return;
            }
            let name = format!("id{:03}", self.anchors.len() + 1);
            anchor = format!(" &{name}");
            self.anchors.insert(i, name);
        }
        self.out.push_str(&anchor);
        match v {
            Value::Object(o) if !o.is_empty() => {
                self.out.push('\n');
                self.value_map(o, indent + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                self.out.push('\n');
                // PyYAML does not indent a block sequence under a mapping key.
                self.seq(a, indent);
            }
            other => {
                self.out.push(' ');
                self.out.push_str(&yaml_scalar(other));
                self.out.push('\n');
            }
        }
    }

    fn value_map(&mut self, m: &serde_json::Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            self.key(k, indent);
            self.value_after_key(&m[k.as_str()], None, indent);
        }
    }

    fn seq(&mut self, a: &[Value], indent: usize) {
        for item in a {
            self.out.push_str(&" ".repeat(indent));
            self.out.push('-');
            match item {
                Value::Object(o) if !o.is_empty() => {
                    // The first key goes on the dash line.
                    let mut sub = YamlWriter {
                        out: String::new(),
                        counts: Default::default(),
                        anchors: Default::default(),
                    };
                    sub.value_map(o, indent + 2);
                    self.out.push(' ');
                    self.out.push_str(sub.out.trim_start_matches(' '));
                }
                Value::Array(x) if !x.is_empty() => {
                    let mut sub = YamlWriter {
                        out: String::new(),
                        counts: Default::default(),
                        anchors: Default::default(),
                    };
                    sub.seq(x, indent + 2);
                    self.out.push(' ');
                    self.out.push_str(sub.out.trim_start_matches(' '));
                }
                other => {
                    self.out.push(' ');
                    self.out.push_str(&yaml_scalar(other));
                    self.out.push('\n');
                }
            }
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                match py_float_repr(f).as_str() {
                    "inf" => ".inf".into(),
                    "-inf" => "-.inf".into(),
                    "nan" => ".nan".into(),
                    r => r.to_string(),
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => yaml_str(s, false),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Would PyYAML's resolver read this plain text as something other than a string?
fn resolves_to_non_string(s: &str) -> bool {
    use super::yamlvalue::load;
    if s.is_empty() {
        return true;
    }
    !matches!(load(&format!("k: {s}\n")), Ok(super::yamlvalue::Node::Map(ref m)) if m.len() == 1 && m[0].value == super::yamlvalue::Node::Str(s.to_string()))
}

/// A string scalar as PyYAML writes it: plain when safe, else single-quoted (double-quoted
/// when it holds characters that need escapes).
fn yaml_str(s: &str, _is_key: bool) -> String {
    let needs_double = s
        .chars()
        .any(|c| (c as u32) < 0x20 && c != '\n' || c == '\u{7f}' || c == '\u{feff}');
    if needs_double || s.contains('\n') {
        let mut o = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\t' => o.push_str("\\t"),
                '\r' => o.push_str("\\r"),
                '\0' => o.push_str("\\0"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02X}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        return o;
    }
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    let plain_ok = !s.is_empty()
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && first != ' '
        && last != ' '
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.contains(['{', '}', '[', ']', ','])
        && !resolves_to_non_string(s);
    let dash_ok = (first == '-' || first == '?' || first == ':')
        && s.len() > 1
        && !s[1..].starts_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['{', '}', '[', ']', ','])
        && !resolves_to_non_string(s);
    if plain_ok || dash_ok {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_like_python() {
        let v = json!({"b": [1, 2.5, {}], "a": {"x": null, "é": "ü\u{1F600}\u{1}"}, "c": []});
        assert_eq!(
            python_json(&v),
            "{\n    \"a\": {\n        \"x\": null,\n        \"é\": \"ü\u{1F600}\\u0001\"\n    },\n    \"b\": [\n        1,\n        2.5,\n        {}\n    ],\n    \"c\": []\n}"
        );
    }

    #[test]
    fn yaml_like_pyyaml() {
        let v = json!({"all": {"children": {"web": {"hosts": {"w1": {"p": 22, "s": "yes", "l": [1, "a b"]}}}}}});
        assert_eq!(
            python_yaml(&v),
            "all:\n  children:\n    web:\n      hosts:\n        w1:\n          l:\n          - 1\n          - a b\n          p: 22\n          s: 'yes'\n"
        );
    }
}
