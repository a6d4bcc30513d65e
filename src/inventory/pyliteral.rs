//! Python semantics that Ansible's INI inventory relies on: `shlex.split(line, comments=True)`
//! for host lines, `ast.literal_eval` for variable values, and Python's `repr` of floats for
//! output. Pure functions; nothing here reads files or knows about inventories.

use serde_json::{Map, Number, Value};

/// Why `shlex_split` gave up, in Python's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShlexError {
    /// A `'` or `"` was opened and never closed.
    NoClosingQuotation,
    /// The line ends with a lone backslash.
    NoEscapedCharacter,
}

impl std::fmt::Display for ShlexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShlexError::NoClosingQuotation => f.write_str("No closing quotation"),
            ShlexError::NoEscapedCharacter => f.write_str("No escaped character"),
        }
    }
}

/// `shlex.split(s, comments=True)` in POSIX mode, as Ansible's INI plugin calls it: a `#`
/// outside quotes ends the line even in the middle of a word.
pub fn shlex_split(s: &str) -> Result<Vec<String>, ShlexError> {
    #[derive(PartialEq, Clone, Copy)]
    enum St {
        Space,
        Word,
        Single,
        Double,
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = St::Space;
    let mut chars = s.chars().peekable();
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    while let Some(c) = chars.next() {
        match state {
            St::Space | St::Word => {
                if is_ws(c) {
                    if state == St::Word {
                        tokens.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    state = St::Space;
                } else if c == '#' {
                    // Comment: the rest of the (single) line is dropped.
                    break;
                } else if c == '\'' {
                    state = St::Single;
                    quoted = true;
                } else if c == '"' {
                    state = St::Double;
                    quoted = true;
                } else if c == '\\' {
                    match chars.next() {
                        Some(n) => token.push(n),
                        None => return Err(ShlexError::NoEscapedCharacter),
                    }
                    state = St::Word;
                } else {
                    token.push(c);
                    state = St::Word;
                }
            }
            St::Single => {
                if c == '\'' {
                    state = St::Word;
                } else {
                    token.push(c);
                }
            }
            St::Double => {
                if c == '"' {
                    state = St::Word;
                } else if c == '\\' {
                    match chars.next() {
                        // Inside double quotes only `\"` and `\\` are escapes; any other
                        // backslash is kept, as POSIX shells (and Python's shlex) do.
                        Some(n) if n == '"' || n == '\\' => token.push(n),
                        Some(n) => {
                            token.push('\\');
                            token.push(n);
                        }
                        None => return Err(ShlexError::NoEscapedCharacter),
                    }
                } else {
                    token.push(c);
                }
            }
        }
    }
    match state {
        St::Single | St::Double => return Err(ShlexError::NoClosingQuotation),
        St::Word => tokens.push(token),
        St::Space => {
            if quoted {
                tokens.push(token);
            }
        }
    }
    Ok(tokens)
}

/// Ansible's INI `_parse_value`: `ast.literal_eval` when the text is a Python literal, the text
/// itself otherwise. Tuples and sets become lists, complex numbers and `...` become strings.
pub fn parse_ini_value(v: &str) -> Value {
    literal_eval(v).unwrap_or_else(|| Value::String(v.to_string()))
}

/// A Python literal as `ast.literal_eval` sees it. `None` when Python would raise
/// `ValueError`/`SyntaxError` (the caller then keeps the raw text, as Ansible does).
pub fn literal_eval(src: &str) -> Option<Value> {
    if src.contains('\0') {
        return None;
    }
    let src = src.trim_start_matches([' ', '\t']);
    let toks = tokenize(src)?;
    let mut p = Parser { toks, pos: 0 };
    let lit = p.expr()?;
    if p.pos != p.toks.len() {
        return None;
    }
    Some(lit.into_value())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    Imag(f64),
    Str(String),
    Bytes(String),
    Name(String),
    Ellipsis,
    Op(char),
}

#[derive(Debug, Clone)]
enum Lit {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
    Ellipsis,
}

impl Lit {
    fn into_value(self) -> Value {
        match self {
            Lit::None => Value::Null,
            Lit::Bool(b) => Value::Bool(b),
            Lit::Int(i) => int_value(i),
            Lit::Float(f) => float_value(f),
            Lit::Complex(re, im) => Value::String(complex_repr(re, im)),
            Lit::Str(s) => Value::String(s),
            Lit::Ellipsis => Value::String("...".to_string()),
            Lit::List(items) => Value::Array(items.into_iter().map(Lit::into_value).collect()),
            Lit::Dict(pairs) => {
                let mut m = Map::new();
                for (k, v) in pairs {
                    m.insert(k.key_string(), v.into_value());
                }
                Value::Object(m)
            }
        }
    }

    /// How `json.dumps` writes a non-string dict key.
    fn key_string(&self) -> String {
        match self {
            Lit::Str(s) => s.clone(),
            Lit::None => "null".into(),
            Lit::Bool(b) => b.to_string(),
            Lit::Int(i) => i.to_string(),
            Lit::Float(f) => py_float_repr(*f),
            other => match other.clone().into_value() {
                Value::String(s) => s,
                v => v.to_string(),
            },
        }
    }
}

/// A JSON number for a Python int; ints beyond 64 bits degrade to a float (Python would keep
/// them exact; serde_json cannot).
pub fn int_value(i: i128) -> Value {
    if let Ok(v) = i64::try_from(i) {
        Value::Number(v.into())
    } else if let Ok(v) = u64::try_from(i) {
        Value::Number(v.into())
    } else {
        float_value(i as f64)
    }
}

/// A JSON number for a float; NaN and infinities (which JSON cannot hold) become strings.
pub fn float_value(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => Value::String(py_float_repr(f)),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits as d.ddd e N.
    let e = format!("{f:e}");
    let (mant, exp) = match e.split_once('e') {
        Some(p) => p,
        None => return e,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = (exp + 1) as usize;
    if digits.len() <= point {
        let zeros = "0".repeat(point - digits.len());
        format!("{sign}{digits}{zeros}.0")
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Python's `repr(complex)`.
fn complex_repr(re: f64, im: f64) -> String {
    let part = |f: f64| {
        let r = py_float_repr(f);
        r.strip_suffix(".0").map(str::to_string).unwrap_or(r)
    };
    if re == 0.0 && re.is_sign_positive() {
        format!("{}j", part(im))
    } else {
        let sign = if im < 0.0 || (im == 0.0 && im.is_sign_negative()) {
            "-"
        } else {
            "+"
        };
        format!("({}{}{}j)", part(re), sign, part(im.abs()))
    }
}

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            i += 1;
        } else if c == '#' {
            break;
        } else if c == '.' && b.get(i + 1) == Some(&'.') && b.get(i + 2) == Some(&'.') {
            out.push(Tok::Ellipsis);
            i += 3;
        } else if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (tok, n) = number(&b[i..])?;
            out.push(tok);
            i += n;
        } else if c == '_' || c.is_alphabetic() {
            let start = i;
            while i < b.len() && (b[i] == '_' || b[i].is_alphanumeric()) {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            if i < b.len() && (b[i] == '\'' || b[i] == '"') && word.len() <= 2 {
                let lower = word.to_ascii_lowercase();
                let (raw, bytes) = match lower.as_str() {
                    "r" => (true, false),
                    "u" => (false, false),
                    "b" => (false, true),
                    "br" | "rb" => (true, true),
                    // f-strings are not literals for literal_eval.
                    _ => return None,
                };
                let (s, n) = string(&b[i..], raw)?;
                i += n;
                if bytes {
                    if !s.is_ascii() {
                        return None;
                    }
                    out.push(Tok::Bytes(s));
                } else {
                    out.push(Tok::Str(s));
                }
            } else {
                out.push(Tok::Name(word));
            }
        } else if c == '\'' || c == '"' {
            let (s, n) = string(&b[i..], false)?;
            out.push(Tok::Str(s));
            i += n;
        } else if "[](){},:+-".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// Digits with single underscores between them, as Python's grammar allows.
fn digits_with_underscores(b: &[char], i: &mut usize, radix: u32) -> Option<String> {
    let mut s = String::new();
    let mut last_us = true;
    let start = *i;
    while *i < b.len() {
        let c = b[*i];
        if c == '_' {
            if last_us {
                return None;
            }
            last_us = true;
        } else if c.is_digit(radix) {
            s.push(c);
            last_us = false;
        } else {
            break;
        }
        *i += 1;
    }
    if *i == start {
        return Some(s);
    }
    if last_us {
        return None;
    }
    Some(s)
}

fn number(b: &[char]) -> Option<(Tok, usize)> {
    let mut i = 0;
    if b[0] == '0' && b.len() > 1 && "xXoObB".contains(b[1]) {
        let radix = match b[1] {
            'x' | 'X' => 16,
            'o' | 'O' => 8,
            _ => 2,
        };
        i = 2;
        if b.get(i) == Some(&'_') {
            i += 1;
        }
        let d = digits_with_underscores(b, &mut i, radix)?;
        if d.is_empty() || b.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '.') {
            return None;
        }
        return Some((Tok::Int(i128::from_str_radix(&d, radix).ok()?), i));
    }
    let int_part = digits_with_underscores(b, &mut i, 10)?;
    let mut is_float = false;
    let mut text = int_part.clone();
    if b.get(i) == Some(&'.') {
        is_float = true;
        i += 1;
        text.push('.');
        if b.get(i).is_some_and(char::is_ascii_digit) {
            text.push_str(&digits_with_underscores(b, &mut i, 10)?);
        }
    }
    if matches!(b.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        let mut exp = String::from("e");
        if matches!(b.get(j), Some('+') | Some('-')) {
            exp.push(b[j]);
            j += 1;
        }
        if !b.get(j).is_some_and(char::is_ascii_digit) {
            return None;
        }
        exp.push_str(&digits_with_underscores(b, &mut j, 10)?);
        text.push_str(&exp);
        i = j;
        is_float = true;
    }
    if matches!(b.get(i), Some('j') | Some('J')) {
        i += 1;
        if b.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            return None;
        }
        return Some((Tok::Imag(text.parse().ok()?), i));
    }
    if b.get(i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    {
        return None;
    }
    if is_float {
        return Some((Tok::Float(text.parse().ok()?), i));
    }
    // Python 3 rejects decimal literals with leading zeros, except for zero itself.
    if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
        return None;
    }
    Some((Tok::Int(int_part.parse().ok()?), i))
}

/// A quoted Python string starting at `b[0]` (the quote). Returns the value and chars used.
fn string(b: &[char], raw: bool) -> Option<(String, usize)> {
    let q = b[0];
    let triple = b.len() >= 3 && b[1] == q && b[2] == q;
    let mut i = if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let c = *b.get(i)?;
        if c == q {
            if !triple {
                return Some((out, i + 1));
            }
            if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                return Some((out, i + 3));
            }
            out.push(c);
            i += 1;
        } else if c == '\n' && !triple {
            return None;
        } else if c == '\\' {
            let n = *b.get(i + 1)?;
            if raw {
                out.push('\\');
                out.push(n);
                i += 2;
                continue;
            }
            i += 2;
            match n {
                '\n' => {}
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '0'..='7' => {
                    let mut v = n.to_digit(8)?;
                    for _ in 0..2 {
                        match b.get(i).and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(v)?);
                }
                'x' | 'u' | 'U' => {
                    let len = match n {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = b.get(i..i + len)?.iter().collect();
                    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        return None;
                    }
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    i += len;
                }
                // \N{NAME} needs Unicode's name table: not supported, treated as not a literal.
                'N' => return None,
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat_op(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Op(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `expr := signed_num ((+|-) imag)? | atom`
    fn expr(&mut self) -> Option<Lit> {
        let left = self.unary()?;
        if let Some(Tok::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            // Only `real +/- imaginary` is a literal (a complex number).
            let (re, is_num) = match &left {
                Lit::Int(i) => (*i as f64, true),
                Lit::Float(f) => (*f, true),
                _ => (0.0, false),
            };
            if !is_num {
                return None;
            }
            self.pos += 1;
            let right = self.unary_no_sign()?;
            let im = match right {
                Lit::Complex(0.0, im) => im,
                _ => return None,
            };
            let im = if op == '-' { -im } else { im };
            return Some(Lit::Complex(re, im));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Lit> {
        if let Some(Tok::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            let v = self.unary_no_sign()?;
            let neg = op == '-';
            return match v {
                Lit::Int(i) => Some(Lit::Int(if neg { -i } else { i })),
                Lit::Float(f) => Some(Lit::Float(if neg { -f } else { f })),
                Lit::Complex(r, im) => Some(if neg {
                    Lit::Complex(-r, -im)
                } else {
                    Lit::Complex(r, im)
                }),
                _ => None,
            };
        }
        self.unary_no_sign()
    }

    fn unary_no_sign(&mut self) -> Option<Lit> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        match tok {
            Tok::Int(i) => Some(Lit::Int(i)),
            Tok::Float(f) => Some(Lit::Float(f)),
            Tok::Imag(f) => Some(Lit::Complex(0.0, f)),
            Tok::Ellipsis => Some(Lit::Ellipsis),
            Tok::Str(s) => {
                let mut s = s;
                while let Some(Tok::Str(n)) = self.peek().cloned() {
                    s.push_str(&n);
                    self.pos += 1;
                }
                if matches!(self.peek(), Some(Tok::Bytes(_))) {
                    return None;
                }
                Some(Lit::Str(s))
            }
            Tok::Bytes(s) => {
                let mut s = s;
                while let Some(Tok::Bytes(n)) = self.peek().cloned() {
                    s.push_str(&n);
                    self.pos += 1;
                }
                if matches!(self.peek(), Some(Tok::Str(_))) {
                    return None;
                }
                Some(Lit::Str(s))
            }
            Tok::Name(n) => match n.as_str() {
                "True" => Some(Lit::Bool(true)),
                "False" => Some(Lit::Bool(false)),
                "None" => Some(Lit::None),
                _ => None,
            },
            Tok::Op('(') => {
                if self.eat_op(')') {
                    return Some(Lit::List(vec![]));
                }
                let first = self.expr()?;
                if self.eat_op(')') {
                    return Some(first);
                }
                if !self.eat_op(',') {
                    return None;
                }
                let mut items = vec![first];
                items.extend(self.items(')')?);
                Some(Lit::List(items))
            }
            Tok::Op('[') => Some(Lit::List(self.items(']')?)),
            Tok::Op('{') => {
                if self.eat_op('}') {
                    return Some(Lit::Dict(vec![]));
                }
                let first = self.expr()?;
                if self.eat_op(':') {
                    let v = self.expr()?;
                    if !hashable(&first) {
                        return None;
                    }
                    let mut pairs = vec![(first, v)];
                    loop {
                        if self.eat_op('}') {
                            return Some(Lit::Dict(pairs));
                        }
                        if !self.eat_op(',') {
                            return None;
                        }
                        if self.eat_op('}') {
                            return Some(Lit::Dict(pairs));
                        }
                        let k = self.expr()?;
                        if !self.eat_op(':') || !hashable(&k) {
                            return None;
                        }
                        let v = self.expr()?;
                        pairs.push((k, v));
                    }
                }
                // A set: becomes a list, first occurrence of each item kept.
                let mut items = vec![first];
                if !self.eat_op('}') {
                    if !self.eat_op(',') {
                        return None;
                    }
                    items.extend(self.items('}')?);
                }
                if !items.iter().all(hashable) {
                    return None;
                }
                let mut seen: Vec<String> = Vec::new();
                let mut uniq = Vec::new();
                for it in items {
                    let key = format!("{it:?}");
                    if !seen.contains(&key) {
                        seen.push(key);
                        uniq.push(it);
                    }
                }
                Some(Lit::List(python_set_order(uniq)))
            }
            _ => None,
        }
    }

    /// Comma-separated items up to `close` (a trailing comma allowed).
    fn items(&mut self, close: char) -> Option<Vec<Lit>> {
        let mut items = Vec::new();
        loop {
            if self.eat_op(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if self.eat_op(close) {
                return Some(items);
            }
            if !self.eat_op(',') {
                return None;
            }
        }
    }
}

/// The iteration order of a Python set. For non-negative ints (hash = value) CPython's table
/// order is emulated; other sets keep source order (string hashes are randomised per process,
/// so Ansible's own order for them is not reproducible either).
fn python_set_order(items: Vec<Lit>) -> Vec<Lit> {
    let ints: Option<Vec<i128>> = items
        .iter()
        .map(|l| match l {
            Lit::Int(i) if *i >= 0 => Some(*i),
            _ => None,
        })
        .collect();
    let Some(ints) = ints else {
        return items;
    };
    let mut size = 8usize;
    let mut table: Vec<Option<i128>> = vec![None; size];
    let mut used = 0usize;
    for v in ints {
        insert_slot(&mut table, v);
        used += 1;
        // CPython grows the table when fill*5 >= mask*3, to used*4 rounded up.
        if used * 5 >= (size - 1) * 3 {
            let mut new_size = 8;
            while new_size <= used * 4 {
                new_size <<= 1;
            }
            size = new_size;
            let old: Vec<i128> = table.iter().flatten().copied().collect();
            table = vec![None; size];
            for o in old {
                insert_slot(&mut table, o);
            }
        }
    }
    table.into_iter().flatten().map(Lit::Int).collect()
}

/// CPython's set probing: up to 9 linear probes when they fit, then perturbation.
fn insert_slot(table: &mut [Option<i128>], v: i128) {
    let mask = table.len() - 1;
    let mut perturb = v as usize;
    let mut i = perturb & mask;
    loop {
        if table[i].is_none() {
            table[i] = Some(v);
            return;
        }
        if i + 9 <= mask {
            for j in 1..=9 {
                if table[i + j].is_none() {
                    table[i + j] = Some(v);
                    return;
                }
            }
        }
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

/// Lists and dicts cannot be dict keys or set members in Python (`TypeError`, which we treat
/// like any other non-literal).
fn hashable(l: &Lit) -> bool {
    !matches!(l, Lit::Dict(_)) && !matches!(l, Lit::List(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shlex_matches_python() {
        assert_eq!(
            shlex_split("h1 a=1 b='x y' c=\"q\\\"z\" # tail").unwrap(),
            vec!["h1", "a=1", "b=x y", "c=q\"z"]
        );
        assert_eq!(
            shlex_split("h pass=ab#c d=1").unwrap(),
            vec!["h", "pass=ab"]
        );
        assert_eq!(
            shlex_split("h e=\"'quoted'\"").unwrap(),
            vec!["h", "e='quoted'"]
        );
        assert_eq!(shlex_split("h a=''").unwrap(), vec!["h", "a="]);
        assert_eq!(shlex_split("h a=\"x\\ny\"").unwrap(), vec!["h", "a=x\\ny"]);
        assert_eq!(shlex_split("h a\\ b").unwrap(), vec!["h", "a b"]);
        assert_eq!(
            shlex_split("h a='x").unwrap_err(),
            ShlexError::NoClosingQuotation
        );
        assert_eq!(
            shlex_split("h a\\").unwrap_err(),
            ShlexError::NoEscapedCharacter
        );
    }

    #[test]
    fn literal_eval_types_like_python() {
        let cases: Vec<(&str, Value)> = vec![
            ("1", json!(1)),
            ("-5", json!(-5)),
            ("+5", json!(5)),
            ("1_000", json!(1000)),
            ("0x10", json!(16)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("00", json!(0)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("5.", json!(5.0)),
            ("True", json!(true)),
            ("False", json!(false)),
            ("None", Value::Null),
            ("'quoted'", json!("quoted")),
            ("\"dq\"", json!("dq")),
            ("'a' 'b'", json!("ab")),
            ("'\\x41\\n'", json!("A\n")),
            ("r'\\n'", json!("\\n")),
            ("b'bytes'", json!("bytes")),
            ("[1, 'a', [2]]", json!([1, "a", [2]])),
            ("(1, 2)", json!([1, 2])),
            ("(1,)", json!([1])),
            ("()", json!([])),
            ("(1)", json!(1)),
            ("{'x': 1, 2: [3]}", json!({"x": 1, "2": [3]})),
            ("{1, 2, 1}", json!([1, 2])),
            ("{3, 1, 3}", json!([1, 3])),
            ("{9, 1}", json!([9, 1])),
            ("{10,2,18,7,33,1}", json!([33, 2, 1, 7, 10, 18])),
            (
                "{100, 5, 37, 64, 3, 12, 99, 1000, 8}",
                json!([64, 3, 100, 37, 5, 99, 1000, 8, 12]),
            ),
            ("1 # comment", json!(1)),
            ("  7", json!(7)),
            ("1+2j", json!("(1+2j)")),
            ("2j", json!("2j")),
            ("...", json!("...")),
            ("-(1)", json!(-1)),
        ];
        for (src, want) in cases {
            assert_eq!(literal_eval(src), Some(want), "literal_eval({src:?})");
        }
    }

    #[test]
    fn non_literals_stay_strings() {
        for src in [
            "007",
            "yes",
            "false",
            "true",
            "hello world",
            "{x:1}",
            "1+1",
            "--5",
            "-True",
            "f'x'",
            "[1, foo]",
            "'unclosed",
            "1_",
            "1__0",
            "0x",
            "1e",
            "a=b",
            "",
            "{[1]: 2}",
            "spaced value  # comment?",
        ] {
            assert_eq!(literal_eval(src), None, "literal_eval({src:?})");
            assert_eq!(parse_ini_value(src), json!(src));
        }
    }

    #[test]
    fn float_repr_like_python() {
        for (f, want) in [
            (1000.0, "1000.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(py_float_repr(f), want);
        }
    }
}
