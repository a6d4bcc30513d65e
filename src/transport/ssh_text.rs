//! OpenSSH's text conventions, shared by the connection settings (`spec`, `ssh_args`), the
//! ssh_config reader and the proxy: `~` expansion, `%x` token expansion, shell-like word
//! splitting, known_hosts file lists. A leaf: pure text, it uses no other transport module (only
//! `HOME`/`USER` from the environment).

use std::path::{Path, PathBuf};

/// A `UserKnownHostsFile`/`GlobalKnownHostsFile` value: space-separated paths (quotes allowed),
/// `none` or `/dev/null` meaning no file.
pub fn known_hosts_files(value: &str) -> Vec<PathBuf> {
    split_words(value)
        .unwrap_or_default()
        .iter()
        .filter(|w| !w.eq_ignore_ascii_case("none"))
        .map(|w| expand_tilde(w))
        .filter(|p| p != Path::new("/dev/null"))
        .collect()
}

pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expand a leading `~` or `~/` to `$HOME` (as ssh and Ansible do for key paths).
pub fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix('~'), home()) {
        (Some(""), Some(h)) => h,
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(&rest[1..]),
        _ => PathBuf::from(p),
    }
}

/// Expand OpenSSH's `%x` tokens: `token` gives a letter's text (`None` keeps `%x` as written);
/// `%%` is a percent sign.
pub fn expand_percent(template: &str, mut token: impl FnMut(char) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match token(t) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// ssh_config tokens sesame can know before connecting: `%h` the destination, `%d` the home
/// folder, `%u` the local user, `%%`.
pub fn expand_config_tokens(value: &str, destination: &str) -> String {
    expand_percent(value, |t| match t {
        'h' => Some(destination.to_string()),
        'd' => Some(home().map(|h| h.display().to_string()).unwrap_or_default()),
        'u' => Some(local_user()),
        _ => None,
    })
}

/// The local user name, ssh's default login name.
pub fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "root".to_string())
}

/// Split `text` into words like a POSIX shell: whitespace separates, single quotes keep
/// everything, double quotes keep everything but `\"`, `\\`, `\$`, `` \` ``, and a backslash
/// outside quotes escapes the next character. `None` for an unclosed quote.
pub fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            '\n' => {}
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => word.push('\\'),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_like_a_shell() {
        assert_eq!(
            split_words(r#"-o 'UserKnownHostsFile=/a b' -o"Port 2222" a\ b "x\"y" '' -"#).unwrap(),
            vec![
                "-o",
                "UserKnownHostsFile=/a b",
                "-oPort 2222",
                "a b",
                "x\"y",
                "",
                "-"
            ]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert!(split_words("-o 'open").is_none());
        assert!(split_words("-o \"open").is_none());
    }

    #[test]
    fn percent_tokens_and_tilde() {
        let out = expand_percent("%h:%p %% %x%", |t| match t {
            'h' => Some("web1".into()),
            'p' => Some("22".into()),
            _ => None,
        });
        assert_eq!(out, "web1:22 % %x%");
        let home = home().expect("tests run with a HOME");
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("~/k"), home.join("k"));
        assert_eq!(expand_tilde("~other/k"), PathBuf::from("~other/k"));
        assert_eq!(
            expand_config_tokens("%d/x %h", "gw"),
            format!("{}/x gw", home.display())
        );
        assert_eq!(
            known_hosts_files("~/kh1 '/tmp/a b' none /dev/null"),
            vec![home.join("kh1"), PathBuf::from("/tmp/a b")]
        );
    }
}
