//! Host patterns as Ansible's `InventoryManager` evaluates them (`hosts:` of a play, `--limit`):
//! split on `,` (or `:` when the whole is not an address), regular patterns first, then `&`
//! intersections, then `!` exclusions; each pattern is a host name, a group name, a glob
//! (fnmatch) or `~regex`, optionally subscripted `[i]`/`[a:b]`; `@file` reads patterns from a
//! file, one per line. Results keep Ansible's order. Reads nothing but `@file`s.

use super::data::Data;
use super::error::PatternError;
use super::hostrange::parse_address;
use regex::Regex;
use std::path::PathBuf;

/// Ansible's `split_host_pattern` for one string.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern, true).is_some() {
        vec![pattern.to_string()]
    } else {
        // (?:[^\s:\[\]]|\[[^\]]*\])+ — colon-separated, keeping bracketed parts whole.
        let mut out = Vec::new();
        let mut cur = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '[' {
                if let Some(close) = chars[i + 1..].iter().position(|x| *x == ']') {
                    cur.extend(&chars[i..=i + 1 + close]);
                    i += close + 2;
                    continue;
                }
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            } else if c == ':' || c == ']' || c.is_whitespace() {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            } else {
                cur.push(c);
            }
            i += 1;
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Expand `@file` entries into the file's lines (Ansible's `--limit @retry_file`).
pub fn expand_limit_files(patterns: Vec<String>) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    for p in patterns {
        if let Some(file) = p.strip_prefix('@') {
            let path = PathBuf::from(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| PatternError::LimitFile { path, source })?;
            out.extend(text.split('\n').map(|l| l.trim().to_string()));
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// Regular patterns, then `&` ones, then `!` ones; `all` if there is no regular one.
fn order_patterns(patterns: &[String]) -> Vec<String> {
    let mut regular = Vec::new();
    let mut inter = Vec::new();
    let mut excl = Vec::new();
    for p in patterns.iter().filter(|p| !p.is_empty()) {
        if p.starts_with('!') {
            excl.push(p.clone());
        } else if p.starts_with('&') {
            inter.push(p.clone());
        } else {
            regular.push(p.clone());
        }
    }
    if regular.is_empty() {
        regular.push("all".into());
    }
    regular.into_iter().chain(inter).chain(excl).collect()
}

/// Evaluate already-split patterns to host indices, in Ansible's order, without duplicates.
pub fn evaluate(data: &Data, patterns: &[String]) -> Result<Vec<usize>, PatternError> {
    let mut hosts: Vec<usize> = Vec::new();
    for p in order_patterns(patterns) {
        if let Some(h) = data.host(&p) {
            hosts.push(h);
            continue;
        }
        let that = match_one(data, &p)?;
        let mut in_that = vec![false; data.hosts.len()];
        for h in &that {
            in_that[*h] = true;
        }
        if p.starts_with('!') {
            hosts.retain(|h| !in_that[*h]);
        } else if p.starts_with('&') {
            hosts.retain(|h| in_that[*h]);
        } else {
            let mut existing = vec![false; data.hosts.len()];
            for h in &hosts {
                existing[*h] = true;
            }
            hosts.extend(that.into_iter().filter(|h| !existing[*h]));
        }
    }
    let mut seen = vec![false; data.hosts.len()];
    hosts.retain(|h| !std::mem::replace(&mut seen[*h], true));
    Ok(hosts)
}

/// `_match_one_pattern`: one pattern (its `&`/`!` prefix ignored) with its subscript.
fn match_one(data: &Data, pattern: &str) -> Result<Vec<usize>, PatternError> {
    let pattern = pattern
        .strip_prefix('&')
        .or_else(|| pattern.strip_prefix('!'))
        .unwrap_or(pattern);
    let (expr, sub) = split_subscript(pattern);
    let hosts = enumerate_matches(data, &expr)?;
    apply_subscript(hosts, sub).ok_or_else(|| PatternError::SubscriptOutOfRange {
        pattern: pattern.to_string(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Subscript {
    Index(i64),
    Range(i64, i64),
}

/// `PATTERN_WITH_SUBSCRIPT`: `(.+)\[(-?[0-9]+|[0-9]+[:-][0-9]*)\]$`, not for `~regex`.
fn split_subscript(pattern: &str) -> (String, Option<Subscript>) {
    if pattern.starts_with('~') || !pattern.ends_with(']') {
        return (pattern.to_string(), None);
    }
    let Some(open) = pattern.rfind('[') else {
        return (pattern.to_string(), None);
    };
    if open == 0 {
        return (pattern.to_string(), None);
    }
    let inner = &pattern[open + 1..pattern.len() - 1];
    let base = pattern[..open].to_string();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let single = inner.strip_prefix('-').unwrap_or(inner);
    if digits(single) {
        if let Ok(i) = inner.parse::<i64>() {
            return (base, Some(Subscript::Index(i)));
        }
    }
    if let Some(pos) = inner.find([':', '-']) {
        let (a, b) = (&inner[..pos], &inner[pos + 1..]);
        if digits(a) && (b.is_empty() || digits(b)) {
            if inner.as_bytes()[pos] == b'-' {
                tracing::warn!(
                    "use [x:y] inclusive subscripts instead of [x-y] which has been removed"
                );
            }
            let start = a.parse().unwrap_or(0);
            let end = if b.is_empty() {
                -1
            } else {
                b.parse().unwrap_or(0)
            };
            return (base, Some(Subscript::Range(start, end)));
        }
    }
    (pattern.to_string(), None)
}

/// `_apply_subscript` with Python's indexing and slicing; None when an index is out of range.
fn apply_subscript(hosts: Vec<usize>, sub: Option<Subscript>) -> Option<Vec<usize>> {
    let Some(sub) = sub else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    let index = |i: i64| -> Option<usize> {
        let j = if i < 0 { len + i } else { i };
        (0..len).contains(&j).then_some(j as usize)
    };
    match sub {
        Subscript::Index(i) | Subscript::Range(i, 0) => Some(vec![hosts[index(i)?]]),
        Subscript::Range(start, end) => {
            let end = if end == -1 { len - 1 } else { end };
            let s = start.clamp(0, len) as usize;
            let e = (end + 1).clamp(0, len) as usize;
            Some(if s < e {
                hosts[s..e].to_vec()
            } else {
                Vec::new()
            })
        }
    }
}

/// Python's `fnmatch.translate`, anchored, for Rust's regex.
pub fn fnmatch_regex(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let mut body: Vec<char> = chars[i..j].to_vec();
                    i = j + 1;
                    let negate = body.first() == Some(&'!');
                    if negate {
                        body.remove(0);
                    }
                    let mut class = String::new();
                    for (k, ch) in body.iter().enumerate() {
                        match ch {
                            '-' if k > 0 && k + 1 < body.len() => class.push('-'),
                            '\\' | '[' | ']' | '^' | '&' | '~' | '-' => {
                                class.push('\\');
                                class.push(*ch);
                            }
                            _ => class.push(*ch),
                        }
                    }
                    if class.is_empty() {
                        // `[!]` matches any character; `[]` cannot occur (`]` would be literal).
                        out.push_str(if negate { "." } else { "[^\\s\\S]" });
                    } else if negate {
                        out.push_str(&format!("[^{class}]"));
                    } else {
                        out.push_str(&format!("[{class}]"));
                    }
                }
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    out
}

/// `_match_list`: names matching a glob (or `~regex`, anchored at the start only).
fn match_list<'a>(
    names: impl Iterator<Item = &'a String>,
    pattern: &str,
) -> Result<Vec<String>, PatternError> {
    let re = match pattern.strip_prefix('~') {
        Some(r) => Regex::new(&format!("^(?:{r})")),
        None => Regex::new(&fnmatch_regex(pattern)),
    }
    .map_err(|e| PatternError::BadRegex {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })?;
    Ok(names.filter(|n| re.is_match(n)).cloned().collect())
}

/// `_enumerate_matches`: hosts of matching groups, and matching hosts when no group matched
/// or the pattern is a glob/regex.
fn enumerate_matches(data: &Data, pattern: &str) -> Result<Vec<usize>, PatternError> {
    let mut results = Vec::new();
    let groups = match_list(data.group_index.keys(), pattern)?;
    for g in &groups {
        if let Some(gi) = data.group(g) {
            results.extend(data.group_hosts(gi));
        }
    }
    let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
    if groups.is_empty() || special {
        for h in match_list(data.host_index.keys(), pattern)? {
            if let Some(hi) = data.host(&h) {
                results.push(hi);
            }
        }
    }
    if results.is_empty() && groups.is_empty() && pattern != "all" {
        tracing::debug!("could not match supplied host pattern, ignoring: {pattern}");
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_like_ansible() {
        assert_eq!(split_host_pattern("web:db"), vec!["web", "db"]);
        assert_eq!(
            split_host_pattern("web:&prod:!db01"),
            vec!["web", "&prod", "!db01"]
        );
        assert_eq!(split_host_pattern("a, b ,c"), vec!["a", "b", "c"]);
        assert_eq!(split_host_pattern("g[1:3]"), vec!["g[1:3]"]);
        assert_eq!(split_host_pattern("web[0:1]:db"), vec!["web[0:1]", "db"]);
        assert_eq!(split_host_pattern("*.example.com"), vec!["*.example.com"]);
        assert_eq!(split_host_pattern("fe80::1"), vec!["fe80::1"]);
        assert_eq!(split_host_pattern("db01:2222"), vec!["db01:2222"]);
        assert_eq!(split_host_pattern("web,db:&prod"), vec!["web", "db:&prod"]);
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("g[0]"),
            ("g".into(), Some(Subscript::Index(0)))
        );
        assert_eq!(
            split_subscript("g[-1]"),
            ("g".into(), Some(Subscript::Index(-1)))
        );
        assert_eq!(
            split_subscript("g[1:3]"),
            ("g".into(), Some(Subscript::Range(1, 3)))
        );
        assert_eq!(
            split_subscript("g[2:]"),
            ("g".into(), Some(Subscript::Range(2, -1)))
        );
        assert_eq!(split_subscript("~g[0]"), ("~g[0]".into(), None));
        assert_eq!(split_subscript("g[:3]"), ("g[:3]".into(), None));
        let h = vec![10, 11, 12, 13];
        assert_eq!(
            apply_subscript(h.clone(), Some(Subscript::Index(-1))),
            Some(vec![13])
        );
        assert_eq!(apply_subscript(h.clone(), Some(Subscript::Index(4))), None);
        assert_eq!(
            apply_subscript(h.clone(), Some(Subscript::Range(1, 2))),
            Some(vec![11, 12])
        );
        assert_eq!(
            apply_subscript(h.clone(), Some(Subscript::Range(1, 9))),
            Some(vec![11, 12, 13])
        );
        assert_eq!(
            apply_subscript(h, Some(Subscript::Range(2, 0))),
            Some(vec![12])
        );
    }

    #[test]
    fn fnmatch_translation() {
        let m = |p: &str, s: &str| Regex::new(&fnmatch_regex(p)).unwrap().is_match(s);
        assert!(m("web*", "web01"));
        assert!(!m("web*", "xweb01"));
        assert!(m("*.example.com", "a.example.com"));
        assert!(!m("*.example.com", "a.exampleXcom"));
        assert!(m("web0[1-3]", "web02"));
        assert!(!m("web0[!1-3]", "web02"));
        assert!(m("w?b", "web"));
        assert!(m("a[", "a["));
        assert!(m("g[:3]", "g3"));
    }
}
