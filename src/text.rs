//! Text from hosts made safe for the operator's terminal: one escaping function the reporter
//! applies at its boundary to every line it writes (and the CLI to its last-words errors).
//! Host output, file diffs, banners and error messages carry bytes chosen by whoever controls
//! the host; a raw ESC/CSI/OSC could retitle, recolour or rewrite the operator's terminal. It
//! never changes data: `--json` keeps the exact content, JSON-escaped.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal raw: C0 controls but `\n` and `\t`, DEL, C1 controls.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
}

/// `s` with every control character but `\n` and `\t` escaped: `\r`, `\x1b`, `\x7f`, `\u{9b}`.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Bytes as terminal-safe text: valid UTF-8 as `for_terminal`, every invalid byte as `\xNN`.
pub fn bytes_for_terminal(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&for_terminal(chunk.valid()));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// A JSON text whose strings may hold DEL or C1 characters (serde_json writes them raw) with
/// those written as `\u00XX` escapes: the same JSON value, nothing a terminal acts on.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_csi_c1_and_c0_are_escaped_newline_and_tab_kept() {
        let osc = "a\u{1b}]0;pwned\u{7}b";
        assert_eq!(for_terminal(osc), "a\\x1b]0;pwned\\x07b");
        let csi = "\u{1b}[2J\u{1b}[31mred";
        assert_eq!(for_terminal(csi), "\\x1b[2J\\x1b[31mred");
        assert_eq!(
            for_terminal("c1 \u{9b}31m \u{9d}0;t\u{9c}"),
            "c1 \\u{9b}31m \\u{9d}0;t\\u{9c}"
        );
        assert_eq!(
            for_terminal("del\u{7f} cr\r bs\u{8}"),
            "del\\x7f cr\\r bs\\x08"
        );
        assert_eq!(for_terminal("line\n\tindented ü ✓"), "line\n\tindented ü ✓");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_utf8_is_shown_escaped() {
        assert_eq!(
            bytes_for_terminal(b"ok \xff\xfe \x1b[1m \xc3\xa9 \xc2\x9b"),
            "ok \\xff\\xfe \\x1b[1m \u{e9} \\u{9b}"
        );
    }

    #[test]
    fn json_keeps_its_value_without_raw_c1_or_del() {
        let v = serde_json::json!({"stdout": "x\u{1b}]0;t\u{7}\u{9b}1m\u{7f}"});
        let line = v.to_string();
        let safe = json_for_terminal(&line);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v, "same content after escaping");
    }
}
