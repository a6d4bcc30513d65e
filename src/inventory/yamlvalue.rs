//! Reading YAML and JSON files as Ansible's loader does: JSON first, then YAML with PyYAML's
//! YAML 1.1 typing of plain scalars (`yes`/`on` are booleans, `010` is octal, `1_000` is an
//! int), `<<` merge keys, `!unsafe` kept as text, and the line of every mapping key so that
//! structural errors can point at a line. It returns a tree; it knows nothing of inventories.
//!
//! yaml_serde resolves plain scalars by YAML 1.2 rules and does not say whether a string was
//! quoted. Strings it borrows from the input do tell: the byte before a quoted scalar is its
//! quote. That is how PyYAML's extra rules are applied to plain scalars only.

use serde::de::{DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A loaded YAML/JSON node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// A plain YAML 1.1 timestamp, held as Python's `isoformat()` of the date/datetime
    /// (what ansible-inventory prints in JSON).
    Timestamp(String),
    /// A `!vault` value, still encrypted: the envelope text (`decrypt_vaults` opens it).
    Vault(String),
}

/// One mapping entry, with the 1-based line of its key when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub line: Option<usize>,
    pub value: Node,
}

/// Why a file did not load.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Node {
    /// Python truthiness, as `if not data` checks it.
    pub fn is_falsy(&self) -> bool {
        match self {
            Node::Null => true,
            Node::Bool(b) => !b,
            Node::Int(i) => *i == 0,
            Node::Float(f) => *f == 0.0,
            Node::Str(s) => s.is_empty(),
            Node::Seq(v) => v.is_empty(),
            Node::Map(m) => m.is_empty(),
            Node::Timestamp(_) | Node::Vault(_) => false,
        }
    }

    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
            Node::Timestamp(_) => "a timestamp",
            Node::Vault(_) => "a vault-encrypted value",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Paths (mapping keys / list indices) of the YAML timestamps inside this node; `[]` when
    /// the node itself is one.
    pub fn timestamp_paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        fn walk(n: &Node, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            match n {
                Node::Timestamp(_) => out.push(path.clone()),
                Node::Seq(items) => {
                    for (i, it) in items.iter().enumerate() {
                        path.push(i.to_string());
                        walk(it, path, out);
                        path.pop();
                    }
                }
                Node::Map(entries) => {
                    for e in entries {
                        path.push(e.key.key_string());
                        walk(&e.value, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    /// The JSON value Ansible would print for this node.
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => super::pyliteral::int_value(*i),
            Node::Float(f) => super::pyliteral::float_value(*f),
            Node::Str(s) | Node::Timestamp(s) => Value::String(s.clone()),
            Node::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Node::Map(m) => {
                let mut out = Map::new();
                for e in m {
                    out.insert(e.key.key_string(), e.value.to_json());
                }
                Value::Object(out)
            }
            Node::Vault(envelope) => {
                let mut m = Map::new();
                m.insert(
                    crate::vault::JSON_KEY.into(),
                    Value::String(envelope.clone()),
                );
                Value::Object(m)
            }
        }
    }

    /// How `json.dumps` turns a mapping key into a string.
    pub fn key_string(&self) -> String {
        match self {
            Node::Str(s) => s.clone(),
            Node::Null => "null".into(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => super::pyliteral::py_float_repr(*f),
            other => other.to_json().to_string(),
        }
    }
}

/// Load a file's text as Ansible's `DataLoader` does: JSON if it is JSON, YAML otherwise.
/// An empty document is `Node::Null`.
pub fn load(text: &str) -> Result<Node, LoadError> {
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(node) = (NodeSeed {
        input: text,
        yaml: false,
    })
    .deserialize(&mut de)
    {
        if de.end().is_ok() {
            return Ok(node);
        }
    }
    let de = yaml_serde::Deserializer::from_str(text);
    (NodeSeed {
        input: text,
        yaml: true,
    })
    .deserialize(de)
    .map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        LoadError {
            line,
            column,
            message: e.to_string(),
        }
    })
}

#[derive(Clone, Copy)]
struct NodeSeed<'a> {
    input: &'a str,
    yaml: bool,
}

impl<'a> NodeSeed<'a> {
    /// Byte offset of a borrowed slice inside the input, if it lies inside.
    fn offset(&self, s: &str) -> Option<usize> {
        let base = self.input.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        (p >= base && p <= base + self.input.len()).then(|| p - base)
    }

    fn line_of(&self, off: usize) -> usize {
        self.input.as_bytes()[..off]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// True if the borrowed scalar was written plain (not quoted).
    fn is_plain(&self, s: &str) -> bool {
        match self.offset(s) {
            Some(0) => true,
            Some(off) => !matches!(self.input.as_bytes()[off - 1], b'\'' | b'"'),
            None => false,
        }
    }
}

impl<'de, 'a> DeserializeSeed<'de> for NodeSeed<'a> {
    type Value = Node;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor(self))
    }
}

/// Key seed: a node plus the line of the key.
struct KeySeed<'a>(NodeSeed<'a>);

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = (Node, Option<usize>, bool);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(KeyVisitor(self.0))
    }
}

struct KeyVisitor<'a>(NodeSeed<'a>);

impl<'de, 'a> Visitor<'de> for KeyVisitor<'a> {
    type Value = (Node, Option<usize>, bool);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        let line = self.0.offset(s).map(|o| self.0.line_of(o));
        let plain = self.0.yaml && self.0.is_plain(s);
        let node = NodeVisitor(self.0).visit_borrowed_str::<E>(s)?;
        Ok((node, line, plain))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok((Node::Str(s.to_string()), None, false))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok((Node::Str(s), None, false))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok((Node::Bool(v), None, false))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok((Node::Int(v.into()), None, false))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok((Node::Int(v.into()), None, false))
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Self::Value, E> {
        Ok((Node::Int(v), None, false))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Self::Value, E> {
        Ok((Node::Int(v as i128), None, false))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok((Node::Float(v), None, false))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok((Node::Null, None, false))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok((Node::Null, None, false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        Ok((NodeVisitor(self.0).visit_seq(a)?, None, false))
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        Ok((NodeVisitor(self.0).visit_map(a)?, None, false))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        Ok((NodeVisitor(self.0).visit_enum(a)?, None, false))
    }
}

struct NodeVisitor<'a>(NodeSeed<'a>);

impl<'de, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Node, E> {
        if self.0.yaml && self.0.is_plain(s) {
            return Ok(resolve_yaml11_plain(s));
        }
        Ok(Node::Str(s.to_string()))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(s.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Node, E> {
        Ok(Node::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = a.next_element_seed(self.0)? {
            out.push(n);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut own: Vec<Entry> = Vec::new();
        let mut merges: Vec<Node> = Vec::new();
        while let Some((key, line, plain)) = a.next_key_seed(KeySeed(self.0))? {
            let value = a.next_value_seed(self.0)?;
            if plain && key == Node::Str("<<".into()) {
                merges.push(value);
                continue;
            }
            own.push(Entry { key, line, value });
        }
        // PyYAML: merged entries first (earlier merge sources win), then the mapping's own
        // entries; for a repeated key the last value wins and the first position stays.
        let mut merged: Vec<Entry> = Vec::new();
        for m in merges {
            let sources = match m {
                Node::Seq(items) => items,
                other => vec![other],
            };
            for src in sources {
                if let Node::Map(entries) = src {
                    for e in entries {
                        if !merged.iter().any(|x| x.key == e.key) {
                            merged.push(e);
                        }
                    }
                }
            }
        }
        for e in own {
            match merged.iter_mut().find(|x| x.key == e.key) {
                Some(slot) => {
                    slot.value = e.value;
                    slot.line = e.line.or(slot.line);
                }
                None => merged.push(e),
            }
        }
        Ok(Node::Map(merged))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, a: A) -> Result<Node, A::Error> {
        // A tagged node: `!vault` keeps its envelope; `!unsafe` and unknown tags keep the value.
        let (tag, va): (String, _) = a.variant()?;
        let inner: Node = va.newtype_variant_seed(self.0)?;
        if tag.trim_start_matches('!') == "vault" {
            return Ok(Node::Vault(match inner {
                Node::Str(s) => s,
                _ => String::new(),
            }));
        }
        Ok(inner)
    }
}

/// PyYAML (YAML 1.1) typing of a plain scalar that YAML 1.2 left as a string.
fn resolve_yaml11_plain(s: &str) -> Node {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Node::Bool(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Node::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        _ => {}
    }
    if let Some(i) = yaml11_int(s) {
        return Node::Int(i);
    }
    if let Some(f) = yaml11_float(s) {
        return Node::Float(f);
    }
    if let Some(t) = yaml11_timestamp(s) {
        return Node::Timestamp(t);
    }
    Node::Str(s.to_string())
}

/// PyYAML's `construct_yaml_timestamp`, returned as Python's `isoformat()`. None when the text
/// is not a timestamp (or not a valid date, where PyYAML would fail).
fn yaml11_timestamp(s: &str) -> Option<String> {
    static TS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        // A constant pattern, exercised by the unit tests.
        regex::Regex::new(
            r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$",
        )
        .expect("static regex")
    });
    let c = TS.captures(s)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (y, mo, d) = (num(1)?, num(2)?, num(3)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d == 0 || d > days[(mo - 1) as usize] || y == 0 {
        return None;
    }
    let date = format!("{y:04}-{mo:02}-{d:02}");
    let Some(h) = num(4) else {
        return Some(date);
    };
    let (mi, sec) = (num(5)?, num(6)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut out = format!("{date}T{h:02}:{mi:02}:{sec:02}");
    if let Some(f) = c.get(7) {
        let mut frac: String = f.as_str().chars().take(6).collect();
        while frac.len() < 6 {
            frac.push('0');
        }
        if frac != "000000" {
            out.push('.');
            out.push_str(&frac);
        }
    }
    if let Some(tz) = c.get(8) {
        if tz.as_str() == "Z" {
            out.push_str("+00:00");
        } else {
            let sign = c.get(9).map_or("+", |m| m.as_str());
            let th = num(10)?;
            let tm = num(11).unwrap_or(0);
            if th == 0 && tm == 0 {
                out.push_str("+00:00");
            } else {
                out.push_str(&format!("{sign}{th:02}:{tm:02}"));
            }
        }
    }
    Some(out)
}

fn split_sign(s: &str) -> (i128, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    }
}

fn yaml11_int(s: &str) -> Option<i128> {
    let (sign, body) = split_sign(s);
    if body.is_empty() {
        return None;
    }
    let all = |t: &str, f: fn(char) -> bool| !t.is_empty() && t.chars().all(f);
    let clean = |t: &str| t.replace('_', "");
    if let Some(b) = body.strip_prefix("0b") {
        if all(b, |c| c == '0' || c == '1' || c == '_') {
            return i128::from_str_radix(&clean(b), 2).ok().map(|v| sign * v);
        }
        return None;
    }
    if let Some(x) = body.strip_prefix("0x") {
        if all(x, |c| c.is_ascii_hexdigit() || c == '_') {
            return i128::from_str_radix(&clean(x), 16).ok().map(|v| sign * v);
        }
        return None;
    }
    if body == "0" {
        return Some(0);
    }
    if let Some(rest) = body.strip_prefix('0') {
        if all(rest, |c| ('0'..='7').contains(&c) || c == '_') {
            let c = clean(body);
            return i128::from_str_radix(&c, 8).ok().map(|v| sign * v);
        }
        return None;
    }
    if !body.starts_with(|c: char| ('1'..='9').contains(&c)) {
        return None;
    }
    if body.contains(':') {
        // Sexagesimal: 1:30 == 90.
        let mut parts = body.split(':');
        let first = parts.next()?;
        if !all(first, |c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let mut v: i128 = clean(first).parse().ok()?;
        for p in parts {
            if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let d: i128 = p.parse().ok()?;
            if p.len() == 2 && d > 59 {
                return None;
            }
            v = v * 60 + d;
        }
        return Some(sign * v);
    }
    if all(body, |c| c.is_ascii_digit() || c == '_') {
        return clean(body).parse::<i128>().ok().map(|v| sign * v);
    }
    None
}

fn yaml11_float(s: &str) -> Option<f64> {
    let (sign, body) = split_sign(s);
    let sign = sign as f64;
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return Some(sign * f64::INFINITY);
    }
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    if body.contains(':') {
        let (int_part, frac) = body.split_once('.')?;
        let mut parts = int_part.split(':');
        let first = parts.next()?;
        if first.is_empty() || !first.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let mut v: f64 = first.replace('_', "").parse().ok()?;
        for p in parts {
            if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            v = v * 60.0 + p.parse::<f64>().ok()?;
        }
        let frac: f64 = format!("0.{}", frac.replace('_', "")).parse().ok()?;
        return Some(sign * (v + frac));
    }
    // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  or  \.[0-9_]+([eE][-+][0-9]+)?
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (ip, fp) = mant.split_once('.')?;
    let ok_ip = ip.is_empty()
        || (ip.starts_with(|c: char| c.is_ascii_digit())
            && ip.chars().all(|c| c.is_ascii_digit() || c == '_'));
    let ok_fp = fp.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !ok_ip || !ok_fp || (ip.is_empty() && (fp.is_empty() || s.starts_with(['+', '-']))) {
        return None;
    }
    if let Some(e) = exp {
        let digits = e.strip_prefix(['+', '-'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let text = format!(
        "{}.{}e{}",
        ip.replace('_', ""),
        fp.replace('_', ""),
        exp.unwrap_or("0")
    );
    let text = if text.starts_with('.') {
        format!("0{text}")
    } else {
        text
    };
    text.parse::<f64>().ok().map(|v| sign * v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn j(text: &str) -> Value {
        load(text).unwrap().to_json()
    }

    #[test]
    fn yaml11_plain_scalars() {
        let v = j("a: yes\nb: 'yes'\nc: \"on\"\nd: 010\ne: 1_000\nf: 1:30\ng: off\nh: 0x1F\ni: 1_0.5\nj: 08\nk: ~\nl: 3.5\nm: [on, 'no']\n");
        assert_eq!(
            v,
            json!({"a": true, "b": "yes", "c": "on", "d": 8, "e": 1000, "f": 90, "g": false,
                   "h": 31, "i": 10.5, "j": "08", "k": null, "l": 3.5, "m": [true, "no"]})
        );
    }

    #[test]
    fn timestamps_like_pyyaml() {
        let v = j("d: 2002-12-14\nt1: 2001-12-14t21:59:43.10-05:00\nt2: 2001-12-14 21:59:43.10\nt3: 2001-12-15T02:59:43.1Z\nq: '2002-12-14'\nbad: 2002-13-01\n");
        assert_eq!(
            v,
            json!({"d": "2002-12-14", "t1": "2001-12-14T21:59:43.100000-05:00",
                   "t2": "2001-12-14T21:59:43.100000", "t3": "2001-12-15T02:59:43.100000+00:00",
                   "q": "2002-12-14", "bad": "2002-13-01"})
        );
    }

    #[test]
    fn json_first_and_keys_have_lines() {
        assert_eq!(
            j("{\"a\": \"yes\", \"b\": 1e3}"),
            json!({"a": "yes", "b": 1000.0})
        );
        let n = load("top:\n  x: 1\n  'y': 2\n").unwrap();
        let Node::Map(m) = n else { panic!() };
        assert_eq!(m[0].line, Some(1));
        let Node::Map(inner) = &m[0].value else {
            panic!()
        };
        assert_eq!(inner[0].line, Some(2));
        assert_eq!(inner[1].line, Some(3));
    }

    #[test]
    fn merge_keys_unsafe_and_vault() {
        let v = j("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\nu: !unsafe '{{ x }}'\n");
        assert_eq!(v["d"], json!({"x": 1, "y": 3}));
        assert_eq!(v["u"], json!("{{ x }}"));
        let n = load("a: 1\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3031\n").unwrap();
        let Node::Map(entries) = &n else { panic!() };
        assert_eq!(
            entries[1].value,
            Node::Vault("$ANSIBLE_VAULT;1.1;AES256\n3031\n".into())
        );
        // As ansible-inventory prints it: still encrypted.
        assert_eq!(
            n.to_json()["secret"],
            serde_json::json!({"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n3031\n"})
        );
    }

    #[test]
    fn syntax_error_has_location() {
        let e = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line >= 1);
        assert!(e.message.contains("line"), "{}", e.message);
    }
}
