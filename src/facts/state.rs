//! Resource state queries (files, packages, services, debconf, apt lists) answered in batches by
//! the probe script, and the per-host cache of answers that modules plan from. Pure parsing.

use base64::Engine as _;
use std::collections::{BTreeMap, HashMap};

/// One thing a module needs to know about the host before it can plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Query {
    File(String),
    Package(String),
    Service(String),
    Debconf(String),
    AptLists,
    /// The live firewall's fingerprint (door chain `String` left out: knockd edits it) and the
    /// one sesame recorded when it last loaded rules.
    Firewall(String),
}

/// Shell pipeline printing the sha256 of sesame's own part of the live filter tables, v4 and
/// v6: its `SESAME-*` chains and their rules, and its jumps to them from other chains (without
/// their positions: fail2ban inserting at the top of INPUT is not drift). Other users' chains,
/// rules and policies are left out, and so are the per-knocker rules knockd adds to the door
/// chains (`$v`, knockd's door chain, and `$v-FWD`, its forwarded-ports gate). Counters go too.
/// The nftables backend's table (`nft -j -t`: without set elements; handles and nft's version
/// left out) is added when it exists, so an iptables host's fingerprint is as before.
pub const FIREWALL_HASH_SH: &str = r#"{ { iptables-save -t filter; ip6tables-save -t filter; } 2>/dev/null | grep -E -e '^:SESAME-' -e '^-A [^ ]+ .*-[jg] SESAME-' -e '^-A SESAME-' | grep -v -e "^-A $v -s " -e "^-A $v-FWD -s " | sed -e 's/ \[[0-9]*:[0-9]*\]$//'; nft -j -t list table inet sesame 2>/dev/null | sed -e 's/{"metainfo": {[^}]*}}, //' -e 's/"handle": [0-9]*//g'; } | sha256sum | cut -d' ' -f1"#;

/// Where sesame records the fingerprint of the rules it loaded and proved.
pub const FIREWALL_RECORD: &str = "/var/lib/sesame/firewall.sha256";

impl Query {
    /// The probe script's argument for this query (passed quoted, never interpolated).
    pub fn encode(&self) -> String {
        match self {
            Query::File(p) => format!("f:{p}"),
            Query::Package(p) => format!("p:{p}"),
            Query::Service(s) => format!("s:{s}"),
            Query::Debconf(p) => format!("d:{p}"),
            Query::AptLists => "a:".to_string(),
            Query::Firewall(door) => format!("w:{door}"),
        }
    }
}

/// A file as the host has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// `regular file`, `directory`, `symbolic link`, ...
    pub kind: String,
    /// Content of regular files up to 256 KiB.
    pub content: Option<Vec<u8>>,
}

impl FileState {
    pub fn is_dir(&self) -> bool {
        self.kind == "directory"
    }
    pub fn is_file(&self) -> bool {
        self.kind.starts_with("regular")
    }
}

/// A service as the init system reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// `systemd` or `sysv`.
    pub manager: String,
    pub exists: bool,
    pub active: bool,
    pub enabled: bool,
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    File(Option<FileState>),
    /// Installed version, `None` when not installed.
    Package(Option<String>),
    Service(ServiceState),
    /// question -> value
    Debconf(BTreeMap<String, String>),
    /// Newest package list's mtime (None: never updated) and the host's clock.
    AptLists {
        newest: Option<u64>,
        now: u64,
    },
    /// Live firewall fingerprint and the recorded one (empty when none).
    Firewall {
        live: String,
        recorded: String,
    },
}

/// Parse the answer section of one query.
pub fn parse_answer(q: &Query, body: &str) -> QueryAnswer {
    match q {
        Query::File(_) => QueryAnswer::File(parse_file(body)),
        Query::Package(_) => {
            let line = body.lines().next().unwrap_or("");
            let mut c = line.split('\t');
            let status = c.next().unwrap_or("");
            let version = c.next().unwrap_or("").trim();
            QueryAnswer::Package(
                (status.starts_with("ii") && !version.is_empty()).then(|| version.to_string()),
            )
        }
        Query::Service(_) => {
            let w: Vec<&str> = body.split_whitespace().collect();
            let manager = w.first().copied().unwrap_or("sysv").to_string();
            let active = w.get(1).copied().unwrap_or("");
            let enabled = w.get(2).copied().unwrap_or("");
            let exists = !(active == "missing"
                || (manager == "systemd" && enabled.is_empty())
                || (manager == "systemd" && enabled == "not-found"));
            QueryAnswer::Service(ServiceState {
                manager,
                exists,
                active: active == "active",
                enabled: matches!(enabled, "enabled" | "enabled-runtime" | "alias"),
            })
        }
        Query::Debconf(_) => {
            let mut m = BTreeMap::new();
            for line in body.lines() {
                let l = line.trim_start_matches(['*', ' ']);
                if let Some((k, v)) = l.split_once(':') {
                    m.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            QueryAnswer::Debconf(m)
        }
        Query::AptLists => {
            let mut newest = None;
            let mut now = 0;
            for line in body.lines() {
                if let Some(n) = line.strip_prefix("now ") {
                    now = n.trim().parse().unwrap_or(0);
                } else if let Ok(f) = line.trim().parse::<f64>() {
                    newest = Some(f as u64);
                }
            }
            QueryAnswer::AptLists { newest, now }
        }
        Query::Firewall(_) => {
            let mut live = String::new();
            let mut recorded = String::new();
            for line in body.lines() {
                if let Some(h) = line.strip_prefix("live ") {
                    live = h.trim().to_string();
                } else if let Some(h) = line.strip_prefix("saved ") {
                    recorded = h.trim().to_string();
                }
            }
            QueryAnswer::Firewall { live, recorded }
        }
    }
}

fn parse_file(body: &str) -> Option<FileState> {
    let mut lines = body.lines();
    let head = lines.next()?.trim();
    if head == "absent" || head.is_empty() {
        return None;
    }
    let mut w = head.splitn(5, ' ');
    let mode = u32::from_str_radix(w.next()?, 8).ok()?;
    let owner = w.next()?.to_string();
    let group = w.next()?.to_string();
    let size = w.next()?.parse().ok()?;
    let kind = w.next().unwrap_or("").to_string();
    let content = if kind.starts_with("regular") {
        let b64 = lines.next().unwrap_or("").trim();
        if size == 0 {
            Some(Vec::new())
        } else if b64.is_empty() {
            None
        } else {
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        }
    } else {
        None
    };
    Some(FileState {
        mode,
        owner,
        group,
        size,
        kind,
        content,
    })
}

/// The answers known for one host. Modules plan from it; the executor refills what is missing
/// in one batch and drops what a change may have made stale.
#[derive(Debug, Default, Clone)]
pub struct State {
    answers: HashMap<Query, QueryAnswer>,
}

impl State {
    pub fn get(&self, q: &Query) -> Option<&QueryAnswer> {
        self.answers.get(q)
    }
    pub fn insert(&mut self, q: Query, a: QueryAnswer) {
        self.answers.insert(q, a);
    }
    pub fn has(&self, q: &Query) -> bool {
        self.answers.contains_key(q)
    }
    pub fn forget(&mut self, q: &Query) {
        self.answers.remove(q);
    }
    pub fn forget_all(&mut self) {
        self.answers.clear();
    }
    /// Record the answers of a probe run for `queries` (sections `q 1`, `q 2`, ...).
    pub fn absorb(&mut self, queries: &[Query], sections: &[(&str, &str)]) {
        for (head, body) in sections {
            if let Some(n) = head.strip_prefix("q ") {
                if let Some(q) = n
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| queries.get(i - 1))
                {
                    self.answers.insert(q.clone(), parse_answer(q, body));
                }
            }
        }
    }

    pub fn file(&self, path: &str) -> Option<&Option<FileState>> {
        match self.answers.get(&Query::File(path.to_string())) {
            Some(QueryAnswer::File(f)) => Some(f),
            _ => None,
        }
    }
    pub fn package(&self, name: &str) -> Option<&Option<String>> {
        match self.answers.get(&Query::Package(name.to_string())) {
            Some(QueryAnswer::Package(p)) => Some(p),
            _ => None,
        }
    }
    pub fn service(&self, name: &str) -> Option<&ServiceState> {
        match self.answers.get(&Query::Service(name.to_string())) {
            Some(QueryAnswer::Service(s)) => Some(s),
            _ => None,
        }
    }
    pub fn debconf(&self, pkg: &str) -> Option<&BTreeMap<String, String>> {
        match self.answers.get(&Query::Debconf(pkg.to_string())) {
            Some(QueryAnswer::Debconf(d)) => Some(d),
            _ => None,
        }
    }
    pub fn firewall(&self, door: &str) -> Option<(&str, &str)> {
        match self.answers.get(&Query::Firewall(door.to_string())) {
            Some(QueryAnswer::Firewall { live, recorded }) => Some((live, recorded)),
            _ => None,
        }
    }
    pub fn apt_lists(&self) -> Option<(Option<u64>, u64)> {
        match self.answers.get(&Query::AptLists) {
            Some(QueryAnswer::AptLists { newest, now }) => Some((*newest, *now)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_answers() {
        let f = parse_answer(
            &Query::File("/etc/default/knockd".into()),
            "644 root root 12 regular file\naGVsbG8gd29ybGQK\n",
        );
        let QueryAnswer::File(Some(fs)) = f else {
            panic!("{f:?}")
        };
        assert_eq!(fs.mode, 0o644);
        assert_eq!(fs.content.as_deref(), Some(&b"hello world\n"[..]));
        assert_eq!(
            parse_answer(&Query::File("/x".into()), "absent\n"),
            QueryAnswer::File(None)
        );
        let d = parse_answer(
            &Query::File("/etc".into()),
            "755 root root 4096 directory\n\n",
        );
        assert!(matches!(d, QueryAnswer::File(Some(ref s)) if s.is_dir()));
        assert_eq!(
            parse_answer(&Query::Package("knockd".into()), "ii \t0.8-2+b1\n"),
            QueryAnswer::Package(Some("0.8-2+b1".into()))
        );
        assert_eq!(
            parse_answer(&Query::Package("knockd".into()), "un\n"),
            QueryAnswer::Package(None)
        );
        let s = parse_answer(&Query::Service("knockd".into()), "sysv active enabled\n");
        assert!(matches!(
            s,
            QueryAnswer::Service(ServiceState {
                active: true,
                enabled: true,
                exists: true,
                ..
            })
        ));
        let s = parse_answer(&Query::Service("nope".into()), "sysv missing missing\n");
        assert!(matches!(
            s,
            QueryAnswer::Service(ServiceState { exists: false, .. })
        ));
        let dc = parse_answer(
            &Query::Debconf("iptables-persistent".into()),
            "* iptables-persistent/autosave_v4: false\n  iptables-persistent/autosave_v6: true\n",
        );
        let QueryAnswer::Debconf(m) = dc else {
            panic!()
        };
        assert_eq!(m["iptables-persistent/autosave_v4"], "false");
        assert_eq!(m["iptables-persistent/autosave_v6"], "true");
        assert_eq!(
            parse_answer(&Query::AptLists, "now 1700000100\n"),
            QueryAnswer::AptLists {
                newest: None,
                now: 1700000100
            }
        );
        assert_eq!(
            parse_answer(&Query::AptLists, "1700000000.1234\nnow 1700000100\n"),
            QueryAnswer::AptLists {
                newest: Some(1700000000),
                now: 1700000100
            }
        );
    }
}
