//! Masking of secrets (knock sequences, passwords, `no_log` values) in everything shown to
//! humans or logs. Whole-word replacement, so `7000` is masked but `17000` is not.

use crate::memo::Memo;
use std::sync::Arc;

/// One compiled regex per distinct secret set, shared by every host that has that set (a fleet
/// usually shares one knock sequence): a hundred hosts would otherwise hold a hundred copies.
fn shared_regex(pattern: &str) -> Option<Arc<regex::Regex>> {
    static SHARED: Memo<String, (), regex::Regex> = Memo::new();
    SHARED
        .get_or_try_build(pattern.to_string(), (), || regex::Regex::new(pattern))
        .ok()
}

/// The text shown in place of a secret.
pub const MASK: &str = "********";

/// A secret string whose `Debug` shows only the mask (passwords typed at a prompt).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// A set of secret words to hide.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    re: Option<Arc<regex::Regex>>,
}

impl Masker {
    /// Build from secret words (empty words are ignored).
    pub fn new<I, S>(words: I) -> Masker
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ws: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        if ws.is_empty() {
            return Masker::default();
        }
        // Longest first so a longer secret is not half-masked by a shorter one.
        ws.sort_by_key(|w| std::cmp::Reverse(w.len()));
        ws.dedup();
        let alt = ws
            .iter()
            .map(|w| regex::escape(w))
            .collect::<Vec<_>>()
            .join("|");
        Masker {
            re: shared_regex(&format!(r"(^|[^0-9A-Za-z])({alt})($|[^0-9A-Za-z])")),
        }
    }

    /// Hide every secret word in `text`.
    pub fn mask(&self, text: &str) -> String {
        let Some(re) = &self.re else {
            return text.to_string();
        };
        // Run twice: adjacent secrets share a separator that one pass consumes.
        let once = re.replace_all(text, |c: &regex::Captures| {
            format!("{}{MASK}{}", &c[1], &c[3])
        });
        re.replace_all(&once, |c: &regex::Captures| {
            format!("{}{MASK}{}", &c[1], &c[3])
        })
        .into_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.re.is_none()
    }
}

/// The run's secrets, from every host's parsed settings and from what hosts revealed (an old
/// knock sequence read from a host's old file), applied by every writer at its boundary: the
/// reporter (human and `--json`), the `-v` log and the last-words error. Words are only ever
/// added; the compiled masker is rebuilt when the set grew.
struct RunSecrets {
    words: Vec<String>,
    masker: Masker,
}

fn run_secrets() -> &'static std::sync::RwLock<RunSecrets> {
    static RUN: std::sync::OnceLock<std::sync::RwLock<RunSecrets>> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        std::sync::RwLock::new(RunSecrets {
            words: Vec::new(),
            masker: Masker::default(),
        })
    })
}

/// Add secret words to the run's masker (before anything that may show them is sent).
pub fn register<I, S>(words: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let new: Vec<String> = words
        .into_iter()
        .map(|w| w.as_ref().trim().to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let Ok(mut run) = run_secrets().write() else {
        return;
    };
    let before = run.words.len();
    for w in new {
        if !run.words.contains(&w) {
            run.words.push(w);
        }
    }
    if run.words.len() != before {
        run.masker = Masker::new(&run.words);
    }
}

static SHOW_SECRETS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--show-secrets`: the run's masker shows everything (set once, before any host is touched).
pub fn show_secrets(on: bool) {
    SHOW_SECRETS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `text` with every secret of the run masked.
pub fn mask_run(text: &str) -> std::borrow::Cow<'_, str> {
    if SHOW_SECRETS.load(std::sync::atomic::Ordering::Relaxed) {
        return std::borrow::Cow::Borrowed(text);
    }
    match run_secrets().read() {
        Ok(run) if !run.masker.is_empty() => std::borrow::Cow::Owned(run.masker.mask(text)),
        _ => std::borrow::Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_secrets_grow_and_mask_everywhere() {
        register(["61234", "", "s3cret-Run-Pw"]);
        register(["61234"]);
        assert_eq!(
            mask_run("knock 61234 then login with s3cret-Run-Pw; port 161234"),
            "knock ******** then login with ********; port 161234"
        );
    }

    #[test]
    fn masks_whole_words_only() {
        let m = Masker::new(["7000", "8000", "9000"]);
        assert_eq!(
            m.mask("sequence = 7000,8000:udp,9000\nport 17000"),
            "sequence = ********,********:udp,********\nport 17000"
        );
        assert_eq!(m.mask("--dport 7000 -j"), "--dport ******** -j");
        assert_eq!(Masker::new(Vec::<String>::new()).mask("7000"), "7000");
    }
}
