//! Host names as Ansible reads them: `parse_address` (split off a `:port`, recognise IPv4, IPv6
//! and host names, all possibly with `[x:y]` ranges) and `expand_hostname_range` (`web[01:50]`,
//! `web[01:50:2]`, `db-[a:f]`). Pure string functions with typed errors; no file context here.

use regex::Regex;
use std::sync::LazyLock;

/// Why a host range could not be expanded. The caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// `web[01:` — a `[` with no `]`.
    Unclosed,
    /// Any other malformed or empty range, with the reason.
    Bad(String),
}

const NUM_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

// These regexes are constants of this file; a failure to compile is a bug caught by the
// unit tests below, so `expect` cannot fire on user input.
static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("static regex"));
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("static regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUM_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!(r"(?i)^(?:{})$", alts.join("|"))).expect("static regex")
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    // Ansible's label is `(\w|R)([\w-]|R)*` with a look-behind forbidding a final `_` or `-`;
    // Rust's regex has no look-behind, so the last character is spelled out instead.
    let r = ALNUM_RANGE;
    let label = format!(r"(?:(?:\w|{r})(?:[\w-]|{r})*)?(?:[^\W_]|{r})");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).expect("static regex")
});

/// Ansible's `parse_address(address, allow_ranges)`: the host part and an optional port, or
/// `None` when the text is not a recognisable address (callers then keep it verbatim).
pub fn parse_address(address: &str, allow_ranges: bool) -> Option<(String, Option<i64>)> {
    let mut address = address.to_string();
    let mut port = None;
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&address) {
            let p: i64 = c[2].parse().ok()?;
            let a = c[1].to_string();
            address = a;
            port = Some(p);
        }
    }
    let ok = IPV4.is_match(&address) || IPV6.is_match(&address) || HOSTNAME.is_match(&address);
    if !ok || (!allow_ranges && address.contains('[')) {
        return None;
    }
    Some((address, port))
}

/// The base plugin's `_expand_hostpattern`: host names (ranges expanded) and the port.
pub fn expand_hostpattern(pattern: &str) -> Result<(Vec<String>, Option<i64>), RangeError> {
    let (name, port) = match parse_address(pattern, true) {
        Some((h, p)) => (h, p),
        None => (pattern.to_string(), None),
    };
    if name.contains('[') {
        Ok((expand_hostname_range(&name)?, port))
    } else {
        Ok((vec![name], port))
    }
}

/// Python's `int()` on a range bound: optional sign, digits with single underscores.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Expand every `[beg:end(:step)]` in `line`, left to right, as Ansible's
/// `expand_hostname_range`. Ansible silently yields no host for an empty numeric range
/// (`[5:1]`); sesame reports it, since it is always a typo.
pub fn expand_hostname_range(line: &str) -> Result<Vec<String>, RangeError> {
    if !line.contains('[') {
        return Err(RangeError::Unclosed);
    }
    // Ansible replaces the first '[' and the first ']' by '|' and splits on '|'.
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    if parts.len() < 3 {
        return Err(RangeError::Unclosed);
    }
    if parts.len() > 3 {
        return Err(RangeError::Bad(
            "a host name cannot contain '|' next to a range".into(),
        ));
    }
    let (head, nrange, tail) = (parts[0], parts[1], parts[2]);
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(RangeError::Bad(format!(
            "[{nrange}]: host range must be begin:end or begin:end:step"
        )));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(RangeError::Bad(format!(
            "[{nrange}]: host range must specify end value"
        )));
    }
    let step = match bounds.get(2) {
        Some(s) => py_int(s)
            .ok_or_else(|| RangeError::Bad(format!("[{nrange}]: step `{s}` is not a number")))?,
        None => 1,
    };
    if step <= 0 {
        return Err(RangeError::Bad(format!(
            "[{nrange}]: step must be a positive number"
        )));
    }
    let pad = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err(RangeError::Bad(format!(
                "[{nrange}]: host range must specify equal-length begin and end formats"
            )));
        }
        beg.len()
    } else {
        0
    };
    let seq: Vec<String> = match (ASCII_LETTERS.find(beg), ASCII_LETTERS.find(end)) {
        (Some(ib), Some(ie)) => {
            if ib > ie {
                return Err(RangeError::Bad(format!(
                    "[{nrange}]: host range must have begin <= end"
                )));
            }
            ASCII_LETTERS[ib..=ie]
                .chars()
                .step_by(step as usize)
                .map(|c| format!("{c:0>pad$}"))
                .collect()
        }
        _ => {
            let (b, e) = match (py_int(beg), py_int(end)) {
                (Some(b), Some(e)) => (b, e),
                _ => {
                    return Err(RangeError::Bad(format!(
                        "[{nrange}]: bounds must be both numbers or both single letters"
                    )))
                }
            };
            if b > e {
                return Err(RangeError::Bad(format!(
                    "[{nrange}]: begin is greater than end, the range is empty"
                )));
            }
            (b..=e)
                .step_by(step as usize)
                .map(|n| {
                    if n < 0 {
                        format!("-{:0>w$}", -n, w = pad.saturating_sub(1))
                    } else {
                        format!("{n:0>pad$}")
                    }
                })
                .collect()
        }
    };
    let mut out = Vec::new();
    for item in seq {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            out.extend(expand_hostname_range(&name)?);
        } else {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand_hostname_range("web[01:03]").unwrap(),
            vec!["web01", "web02", "web03"]
        );
        assert_eq!(
            expand_hostname_range("web[01:07:3]").unwrap(),
            vec!["web01", "web04", "web07"]
        );
        assert_eq!(
            expand_hostname_range("web[8:10]").unwrap(),
            vec!["web8", "web9", "web10"]
        );
        assert_eq!(
            expand_hostname_range("db-[a:c].x").unwrap(),
            vec!["db-a.x", "db-b.x", "db-c.x"]
        );
        assert_eq!(
            expand_hostname_range("r[1:2]n[a:b]").unwrap(),
            vec!["r1na", "r1nb", "r2na", "r2nb"]
        );
        assert_eq!(
            expand_hostname_range("h[:2]").unwrap(),
            vec!["h0", "h1", "h2"]
        );
        assert_eq!(
            expand_hostname_range("h[y:B]").unwrap(),
            vec!["hy", "hz", "hA", "hB"]
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert_eq!(expand_hostname_range("web[01:"), Err(RangeError::Unclosed));
        for bad in [
            "web[5:1]",
            "web[a:5]",
            "web[01:5]",
            "web[1:5:0]",
            "web[f:a]",
            "w[1]",
        ] {
            assert!(
                matches!(expand_hostname_range(bad), Err(RangeError::Bad(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(
            parse_address("db01:2222", true),
            Some(("db01".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("web[01:10]:22", true),
            Some(("web[01:10]".into(), Some(22)))
        );
        assert_eq!(
            parse_address("[fe80::1]:22", true),
            Some(("fe80::1".into(), Some(22)))
        );
        assert_eq!(
            parse_address("fe80::1", true),
            Some(("fe80::1".into(), None))
        );
        assert_eq!(
            parse_address("192.0.2.1:80", true),
            Some(("192.0.2.1".into(), Some(80)))
        );
        assert_eq!(parse_address("web:db", true), None);
        assert_eq!(parse_address("web_", true), None);
        assert_eq!(parse_address("_web", true), Some(("_web".into(), None)));
        assert_eq!(parse_address("web*", true), None);
        assert_eq!(parse_address("g[1:3]", false), None);
        assert_eq!(
            expand_hostpattern("x$y:22").unwrap(),
            (vec!["x$y:22".to_string()], None)
        );
    }
}
