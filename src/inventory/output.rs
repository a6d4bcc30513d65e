//! Text that `ansible-inventory` prints, byte for byte where we can: Python's
//! `json.dumps(sort_keys=True, indent=4)` (ASCII-escaped, Python float repr) and PyYAML's
//! `yaml.dump(default_flow_style=False)` for `--yaml`. Pure formatting; no inventory logic.

use super::pyliteral::py_float_repr;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

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
    /// A value, its object id, and the paths inside it that hold YAML timestamps (written
    /// unquoted, as PyYAML writes dates).
    Value(Value, Option<u64>, Vec<Vec<String>>),
}

/// PyYAML's `yaml.dump(value, default_flow_style=False, allow_unicode=True)` (keys sorted),
/// for the shapes inventories hold.
pub fn python_yaml(value: &Value) -> String {
    python_yaml_doc(&YamlNode::Value(value.clone(), None, Vec::new()))
}

/// Like [`python_yaml`], for a document with shared values.
pub fn python_yaml_doc(doc: &YamlNode) -> String {
    let mut counts = HashMap::new();
    count_ids(doc, &mut counts);
    let mut w = YamlWriter {
        out: String::new(),
        col: 0,
        counts,
        anchors: HashMap::new(),
        timestamps: Vec::new(),
        path: Vec::new(),
    };
    match doc {
        YamlNode::Map(m) if !m.is_empty() => w.map_entries(m, 0),
        YamlNode::Value(Value::Object(m), _, _) if !m.is_empty() => w.value_map(m, 0, false),
        YamlNode::Value(Value::Array(a), _, _) if !a.is_empty() => w.seq(a, 0, false),
        YamlNode::Map(_) => w.write("{}\n"),
        YamlNode::Value(v, _, _) => {
            w.scalar(v, 0, false);
            w.write("\n");
            if !matches!(v, Value::Object(_) | Value::Array(_)) {
                w.write("...\n");
            }
        }
    }
    w.out
}

fn count_ids(n: &YamlNode, counts: &mut HashMap<u64, usize>) {
    match n {
        YamlNode::Map(m) => m.iter().for_each(|(_, v)| count_ids(v, counts)),
        // Only lists and mappings can be aliased; PyYAML never aliases scalars.
        YamlNode::Value(Value::Array(_) | Value::Object(_), Some(id), _) => {
            *counts.entry(*id).or_insert(0) += 1
        }
        YamlNode::Value(..) => {}
    }
}

/// PyYAML's line width (`best_width`).
const BEST_WIDTH: usize = 80;

struct YamlWriter {
    out: String,
    /// Current column, in characters, as PyYAML counts it.
    col: usize,
    counts: HashMap<u64, usize>,
    anchors: HashMap<u64, String>,
    /// Timestamp paths inside the variable being written, and the current path in it.
    timestamps: Vec<Vec<String>>,
    path: Vec<String>,
}

impl YamlWriter {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.col = s[i + 1..].chars().count(),
            None => self.col += s.chars().count(),
        }
    }

    fn pad_to(&mut self, indent: usize) {
        if self.col < indent {
            let pad = " ".repeat(indent - self.col);
            self.write(&pad);
        }
    }

    /// PyYAML's `write_indent` inside a scalar: break the line if past the indent, then pad.
    fn fold(&mut self, indent: usize) {
        // Only called in the middle of a line, where PyYAML always breaks.
        self.write("\n");
        self.pad_to(indent);
    }

    fn map_entries(&mut self, m: &[(String, YamlNode)], indent: usize) {
        let mut entries: Vec<&(String, YamlNode)> = m.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in entries {
            self.pad_to(indent);
            self.key(k, indent);
            match v {
                YamlNode::Map(inner) if inner.is_empty() => self.write(" {}\n"),
                YamlNode::Map(inner) => {
                    self.write("\n");
                    self.map_entries(inner, indent + 2);
                }
                YamlNode::Value(val, id, ts) => {
                    self.timestamps = ts.clone();
                    self.path.clear();
                    self.value_after_key(val, *id, indent);
                    self.timestamps.clear();
                }
            }
        }
    }

    fn key(&mut self, k: &str, indent: usize) {
        self.string(k, indent, true);
        self.write(":");
    }

    /// The value of a mapping key, with an anchor or as an alias when shared.
    fn value_after_key(&mut self, v: &Value, id: Option<u64>, indent: usize) {
        let shared = id.filter(|i| {
            matches!(v, Value::Array(_) | Value::Object(_))
                && self.counts.get(i).copied().unwrap_or(0) > 1
        });
        if let Some(i) = shared {
            if let Some(name) = self.anchors.get(&i).cloned() {
                self.write(&format!(" *{name}\n"));
                return;
            }
            let name = format!("id{:03}", self.anchors.len() + 1);
            self.write(&format!(" &{name}"));
            self.anchors.insert(i, name);
        }
        match v {
            Value::Object(o) if !o.is_empty() => {
                self.write("\n");
                self.value_map(o, indent + 2, false);
            }
            Value::Array(a) if !a.is_empty() => {
                self.write("\n");
                // PyYAML does not indent a block sequence under a mapping key.
                self.seq(a, indent, false);
            }
            other => {
                self.write(" ");
                self.scalar(other, indent + 2, false);
                self.write("\n");
            }
        }
    }

    /// A mapping value; `inline` when its first key follows a `- ` on the current line.
    fn value_map(&mut self, m: &serde_json::Map<String, Value>, indent: usize, inline: bool) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for (i, k) in keys.into_iter().enumerate() {
            if !(inline && i == 0) {
                self.pad_to(indent);
            }
            self.key(k, indent);
            self.path.push(k.clone());
            self.value_after_key(&m[k.as_str()], None, indent);
            self.path.pop();
        }
    }

    fn seq(&mut self, a: &[Value], indent: usize, inline: bool) {
        for (i, item) in a.iter().enumerate() {
            if !(inline && i == 0) {
                self.pad_to(indent);
            }
            self.path.push(i.to_string());
            self.item(item, indent);
            self.path.pop();
        }
    }

    fn item(&mut self, item: &Value, indent: usize) {
        {
            self.write("-");
            match item {
                Value::Object(o) if !o.is_empty() => {
                    self.write(" ");
                    self.value_map(o, indent + 2, true);
                }
                Value::Array(x) if !x.is_empty() => {
                    self.write(" ");
                    self.seq(x, indent + 2, true);
                }
                other => {
                    self.write(" ");
                    self.scalar(other, indent + 2, false);
                    self.write("\n");
                }
            }
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize, is_key: bool) {
        match v {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = if n.is_f64() {
                    yaml_float(n.as_f64().unwrap_or(0.0))
                } else {
                    n.to_string()
                };
                self.write(&text);
            }
            // PyYAML writes a date/datetime unquoted, as isoformat(' ').
            Value::String(s) if !is_key && self.timestamps.contains(&self.path) => {
                self.write(&s.replacen('T', " ", 1))
            }
            Value::String(s) => self.string(s, indent, is_key),
            Value::Array(_) => self.write("[]"),
            Value::Object(_) => self.write("{}"),
        }
    }

    /// A string in the style PyYAML's emitter chooses (plain, single- or double-quoted).
    fn string(&mut self, s: &str, indent: usize, is_key: bool) {
        let a = analyze_scalar(s);
        let implicit = !pyyaml_resolves_non_str(s);
        let split = !is_key;
        if implicit && !(is_key && (a.empty || a.multiline)) && a.allow_block_plain {
            self.plain(s, indent, split);
        } else if a.allow_single_quoted && !(is_key && a.multiline) {
            self.single_quoted(s, indent, split);
        } else {
            self.double_quoted(s, indent, split);
        }
    }

    fn plain(&mut self, text: &str, indent: usize, split: bool) {
        let chars: Vec<char> = text.chars().collect();
        let (mut start, mut spaces) = (0, false);
        for end in 0..=chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.col > BEST_WIDTH && split {
                        self.fold(indent);
                    } else {
                        let s: String = chars[start..end].iter().collect();
                        self.write(&s);
                    }
                    start = end;
                }
            } else if ch.is_none() || ch == Some(' ') {
                let s: String = chars[start..end].iter().collect();
                self.write(&s);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
            }
        }
    }

    fn single_quoted(&mut self, text: &str, indent: usize, split: bool) {
        self.write("'");
        let chars: Vec<char> = text.chars().collect();
        let is_break = |c: char| matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
        let (mut start, mut spaces, mut breaks) = (0, false, false);
        for end in 0..=chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.col > BEST_WIDTH
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.fold(indent);
                    } else {
                        let s: String = chars[start..end].iter().collect();
                        self.write(&s);
                    }
                    start = end;
                }
            } else if breaks {
                if ch.is_none_or(|c| !is_break(c)) {
                    if chars[start] == '\n' {
                        self.write("\n");
                    }
                    for br in &chars[start..end] {
                        if *br == '\n' {
                            self.write("\n");
                        } else {
                            self.write(&br.to_string());
                        }
                    }
                    self.pad_to(indent);
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c) || c == '\'') && start < end {
                let s: String = chars[start..end].iter().collect();
                self.write(&s);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
        }
        self.write("'");
    }

    fn double_quoted(&mut self, text: &str, indent: usize, split: bool) {
        self.write("\"");
        let chars: Vec<char> = text.chars().collect();
        let mut start = 0;
        for end in 0..=chars.len() {
            let ch = chars.get(end).copied();
            let escape = match ch {
                None => true,
                Some(c) => {
                    matches!(
                        c,
                        '"' | '\\' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                    ) || !(('\x20'..='\x7e').contains(&c)
                        || ('\u{a0}'..='\u{d7ff}').contains(&c)
                        || ('\u{e000}'..='\u{fffd}').contains(&c))
                }
            };
            if escape {
                if start < end {
                    let s: String = chars[start..end].iter().collect();
                    self.write(&s);
                    start = end;
                }
                if let Some(c) = ch {
                    let data = match c {
                        '\0' => "\\0".to_string(),
                        '\x07' => "\\a".into(),
                        '\x08' => "\\b".into(),
                        '\t' => "\\t".into(),
                        '\n' => "\\n".into(),
                        '\x0b' => "\\v".into(),
                        '\x0c' => "\\f".into(),
                        '\r' => "\\r".into(),
                        '\x1b' => "\\e".into(),
                        '"' => "\\\"".into(),
                        '\\' => "\\\\".into(),
                        '\u{85}' => "\\N".into(),
                        '\u{a0}' => "\\_".into(),
                        '\u{2028}' => "\\L".into(),
                        '\u{2029}' => "\\P".into(),
                        c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                        c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                        c => format!("\\U{:08X}", c as u32),
                    };
                    self.write(&data);
                    start = end + 1;
                }
            }
            if 0 < end
                && end + 1 < chars.len()
                && (ch == Some(' ') || start >= end)
                && self.col + (end.saturating_sub(start)) > BEST_WIDTH
                && split
            {
                let mut data: String = chars[start.min(end)..end].iter().collect();
                data.push('\\');
                if start < end {
                    start = end;
                }
                self.write(&data);
                self.fold(indent);
                if chars.get(start) == Some(&' ') {
                    self.write("\\");
                }
            }
        }
        self.write("\"");
    }
}

/// PyYAML's `represent_float`.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let r = py_float_repr(f).to_lowercase();
    if !r.contains('.') && r.contains('e') {
        r.replacen('e', ".0e", 1)
    } else {
        r
    }
}

/// What PyYAML's emitter learns about a string before choosing its style.
struct ScalarAnalysis {
    empty: bool,
    multiline: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

/// PyYAML's `Emitter.analyze_scalar` (block context, `allow_unicode=True`).
fn analyze_scalar(s: &str) -> ScalarAnalysis {
    if s.is_empty() {
        return ScalarAnalysis {
            empty: true,
            multiline: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let ws = |c: char| {
        matches!(
            c,
            '\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    let brk = |c: char| matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let mut preceded_ws = true;
    let mut followed_ws = chars.len() == 1 || ws(chars[1]);
    let (mut prev_space, mut prev_break) = (false, false);
    let n = chars.len();
    for (i, &ch) in chars.iter().enumerate() {
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                block_ind = true;
            }
            if (ch == '?' || ch == ':') && followed_ws {
                block_ind = true;
            }
            if ch == '-' && followed_ws {
                block_ind = true;
            }
        } else if (ch == ':' && followed_ws) || (ch == '#' && preceded_ws) {
            block_ind = true;
        }
        if brk(ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || ('\x20'..='\x7e').contains(&ch)) {
            let unicode = (ch == '\u{85}'
                || ('\u{a0}'..='\u{d7ff}').contains(&ch)
                || ('\u{e000}'..='\u{fffd}').contains(&ch)
                || ('\u{10000}'..'\u{10ffff}').contains(&ch))
                && ch != '\u{feff}';
            if !unicode {
                special = true;
            }
        }
        if ch == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == n - 1;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if brk(ch) {
            leading_break |= i == 0;
            trailing_break |= i == n - 1;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = ws(ch);
        followed_ws = i + 2 >= n || ws(chars[i + 2]);
    }
    let mut allow_block_plain = true;
    let mut allow_single_quoted = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        allow_block_plain = false;
    }
    if break_space {
        allow_block_plain = false;
        allow_single_quoted = false;
    }
    if space_break || special {
        allow_block_plain = false;
        allow_single_quoted = false;
    }
    if line_breaks || block_ind {
        allow_block_plain = false;
    }
    ScalarAnalysis {
        empty: false,
        multiline: line_breaks,
        allow_block_plain,
        allow_single_quoted,
    }
}

/// Would PyYAML's resolver read this text, written plain, as something other than a string?
fn pyyaml_resolves_non_str(s: &str) -> bool {
    static IMPLICIT: LazyLock<Regex> = LazyLock::new(|| {
        let bool_ = r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF";
        let float = r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)";
        let int = r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+";
        let null = r"~|null|Null|NULL|";
        let ts = r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?";
        // A constant pattern: covered by the unit tests, cannot fail on input.
        Regex::new(&format!("^(?:{bool_}|{float}|{int}|{null}|{ts}|<<|=)$")).expect("static regex")
    });
    IMPLICIT.is_match(s)
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
        let long = "word ".repeat(20) + "end";
        let v = json!({"k": long, "m": "a\nb\n", "t": "tab\there", "d": "...", "e": "", "x": "1e3", "y": "2024-01-31", "z": [{"a": 1, "b": [[1, 2]]}]});
        assert_eq!(
            python_yaml(&v),
            "d: '...'\ne: ''\nk: word word word word word word word word word word word word word word word word\n  word word word word end\nm: 'a\n\n  b\n\n  '\nt: \"tab\\there\"\nx: 1e3\ny: '2024-01-31'\nz:\n- a: 1\n  b:\n  - - 1\n    - 2\n"
        );
        let v = json!({"f": 1e16, "g": 1.5e-7, "u": "caf\u{e9} \u{1F600}", "q": "a: b", "h": "#x",
                       "s": " lead", "c": "x #y", "dq": "it's", "long2": "x".repeat(90) + " y " + &"z".repeat(10)});
        assert_eq!(
            python_yaml(&v),
            format!("c: 'x #y'\ndq: it's\nf: 1.0e+16\ng: 1.5e-07\nh: '#x'\nlong2: {}\n  y zzzzzzzzzz\nq: 'a: b'\ns: ' lead'\nu: caf\u{e9} \u{1F600}\n", "x".repeat(90))
        );
    }
}
