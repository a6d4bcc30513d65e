//! OpenSSH `known_hosts` files: parsing (plain and hashed `|1|` names, `[host]:port`, wildcard
//! and negated patterns, `@revoked`), the host key check OpenSSH does, `ssh-keygen -l` style
//! SHA256 fingerprints, and appending a newly accepted key. Pure data work: it never connects,
//! and it reads or writes only the files it is given.

use std::borrow::Borrow;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::memo::Memo;
use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The fingerprint `ssh-keygen -l` prints: `SHA256:` and the unpadded base64 of the SHA-256 of
/// the public key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The key type named at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …).
pub fn blob_key_type(blob: &[u8]) -> Option<&str> {
    let len_bytes: [u8; 4] = blob.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()
}

/// The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Which hosts a line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Names {
    /// `|1|salt|hash`: HMAC-SHA1 of the lookup name keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns (`*`, `?`, `!negated`).
    Patterns(Vec<String>),
}

impl Names {
    fn matches(&self, name: &str) -> bool {
        match self {
            Names::Hashed { salt, hash } => hashed_name_matches(salt, name, hash),
            Names::Patterns(patterns) => {
                let mut positive = false;
                for p in patterns {
                    if let Some(neg) = p.strip_prefix('!') {
                        if wildcard_match(&neg.to_ascii_lowercase(), name) {
                            return false;
                        }
                    } else if wildcard_match(&p.to_ascii_lowercase(), name) {
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// `@revoked` and `@cert-authority` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number, for messages.
    pub line: usize,
    marker: Marker,
    names: Names,
    pub key_type: String,
    pub key: Vec<u8>,
}

/// A parsed known_hosts file. Lines OpenSSH would skip (comments, garbage) are skipped too.
#[derive(Debug, Clone, Default)]
pub struct KnownHostsFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

impl KnownHostsFile {
    /// Read and parse `path`; a missing file is an empty file, as for OpenSSH.
    pub fn load(path: &Path) -> io::Result<Self> {
        let mut text = String::new();
        match fs::File::open(path) {
            Ok(mut f) => {
                f.read_to_string(&mut text)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self::parse(path, &text))
    }

    /// `load`, parsed once per process and shared by every connection: a fleet of N hosts
    /// would otherwise hold N parsed copies of an N-line file while it connects. A file whose
    /// size or mtime changed since (`accept-new` appended a key) is read again.
    pub fn load_shared(path: &Path) -> io::Result<Arc<Self>> {
        static SHARED: Memo<PathBuf, Option<(SystemTime, u64)>, KnownHostsFile> = Memo::new();
        let stamp = fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        SHARED.get_or_try_build(path.to_path_buf(), stamp, || Self::load(path))
    }

    /// Parse the text of a known_hosts file.
    pub fn parse(path: &Path, text: &str) -> Self {
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| parse_line(i + 1, l))
            .collect();
        KnownHostsFile {
            path: path.to_path_buf(),
            entries,
        }
    }
}

fn parse_line(line: usize, text: &str) -> Option<Entry> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut fields = text.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => {
            tracing::debug!(
                line,
                marker = m,
                "known_hosts: unknown marker, line skipped"
            );
            return None;
        }
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let names = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        Names::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        }
    } else {
        Names::Patterns(first.split(',').map(str::to_string).collect())
    };
    let key_type = fields.next()?.to_string();
    let key = STANDARD.decode(fields.next()?).ok()?;
    // A line whose blob names another type than its type field is corrupt; OpenSSH rejects it.
    if blob_key_type(&key) != Some(key_type.as_str()) {
        tracing::debug!(
            line,
            "known_hosts: key type does not match key blob, line skipped"
        );
        return None;
    }
    Some(Entry {
        line,
        marker,
        names,
        key_type,
        key,
    })
}

/// The outcome of checking an offered host key, as OpenSSH decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host has exactly this key.
    Known { file: PathBuf, line: usize },
    /// No line for this host has a key of the offered type.
    Unknown,
    /// Lines for this host have keys of the offered type, none of them this key.
    Changed {
        /// Fingerprints of the keys known for this host and type.
        expected: Vec<String>,
        file: PathBuf,
        line: usize,
    },
    /// The key is listed `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// Check the key `blob` offered by `host:port` against the given files. Only lines of the same
/// key type as the offered key count, so a host known by its RSA key that offers an ed25519 key
/// is `Unknown`, not `Changed` (OpenSSH does the same).
pub fn check<F: Borrow<KnownHostsFile>>(
    files: &[F],
    host: &str,
    port: u16,
    blob: &[u8],
) -> HostKeyStatus {
    let name = lookup_name(host, port);
    let Some(offered_type) = blob_key_type(blob) else {
        return HostKeyStatus::Unknown;
    };
    for f in files {
        let f = f.borrow();
        if let Some(e) = f
            .entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key == blob)
        {
            return HostKeyStatus::Revoked {
                file: f.path.clone(),
                line: e.line,
            };
        }
    }
    let mut changed: Option<(PathBuf, usize)> = None;
    let mut expected = Vec::new();
    for f in files {
        let f = f.borrow();
        for e in f.entries.iter().filter(|e| {
            e.marker == Marker::None && e.key_type == offered_type && e.names.matches(&name)
        }) {
            if e.key == blob {
                return HostKeyStatus::Known {
                    file: f.path.clone(),
                    line: e.line,
                };
            }
            changed.get_or_insert_with(|| (f.path.clone(), e.line));
            let fp = fingerprint(&e.key);
            if !expected.contains(&fp) {
                expected.push(fp);
            }
        }
    }
    match changed {
        Some((file, line)) => HostKeyStatus::Changed {
            expected,
            file,
            line,
        },
        None => HostKeyStatus::Unknown,
    }
}

/// The first `@cert-authority` line whose names match `host:port`, as (file, line). sesame's SSH
/// library cannot check host certificates, so such a host is reported with this line named
/// rather than as merely unknown.
pub fn cert_authority_for<F: Borrow<KnownHostsFile>>(
    files: &[F],
    host: &str,
    port: u16,
) -> Option<(PathBuf, usize)> {
    let name = lookup_name(host, port);
    files.iter().find_map(|f| {
        let f = f.borrow();
        f.entries
            .iter()
            .find(|e| e.marker == Marker::CertAuthority && e.names.matches(&name))
            .map(|e| (f.path.clone(), e.line))
    })
}

/// Key types known for `host:port`, in file order, without duplicates. Used to ask the server
/// for a key we can verify first, as OpenSSH orders its HostKeyAlgorithms.
pub fn known_key_types<F: Borrow<KnownHostsFile>>(
    files: &[F],
    host: &str,
    port: u16,
) -> Vec<String> {
    let name = lookup_name(host, port);
    let mut types: Vec<String> = Vec::new();
    for e in files.iter().flat_map(|f| f.borrow().entries.iter()) {
        if e.marker == Marker::None && e.names.matches(&name) && !types.contains(&e.key_type) {
            types.push(e.key_type.clone());
        }
    }
    types
}

/// Fingerprints of the keys known for `host:port` (not revoked), sorted: what identifies a
/// host beside its address (the knock state file is keyed by both).
pub fn known_fingerprints<F: Borrow<KnownHostsFile>>(
    files: &[F],
    host: &str,
    port: u16,
) -> Vec<String> {
    let name = lookup_name(host, port);
    let mut out: Vec<String> = files
        .iter()
        .flat_map(|f| f.borrow().entries.iter())
        .filter(|e| e.marker == Marker::None && e.names.matches(&name))
        .map(|e| fingerprint(&e.key))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The line `accept-new` appends: plain name, key type, base64 key.
pub fn entry_line(host: &str, port: u16, blob: &[u8]) -> Option<String> {
    let key_type = blob_key_type(blob)?;
    Some(format!(
        "{} {} {}\n",
        lookup_name(host, port),
        key_type,
        STANDARD.encode(blob)
    ))
}

/// What makes `name` unfit to be written as a known_hosts host name (`None`: fit). Whitespace
/// ends the name field, a comma adds a name, `*`/`?`/`!` make it a pattern, `|` and `@`
/// start hashed names and markers, `[`/`]` the port syntax, control characters other lines.
pub fn bad_host_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an empty name".into());
    }
    if name.starts_with(['@', '|']) {
        return Some(format!("a leading `{}`", &name[..1]));
    }
    name.chars()
        .find(|c| c.is_whitespace() || c.is_control() || ",*?![]#".contains(*c))
        .map(|c| format!("{c:?}"))
}

/// Append a key for `host:port` to `path`, creating the file 0600 (and its directory 0700).
/// A name that is not one plain host name is refused before the file is touched.
pub fn append(path: &Path, host: &str, port: u16, blob: &[u8]) -> io::Result<()> {
    if let Some(bad) = bad_host_name(host) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} cannot be written as a known_hosts name: it holds {bad}"),
        ));
    }
    let line = entry_line(host, port, blob).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "host key blob has no key type")
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // A file not ending in a newline would glue our entry onto its last line.
    let needs_newline = match fs::read(path) {
        Ok(existing) => existing.last().is_some_and(|b| *b != b'\n'),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    if needs_newline {
        f.write_all(b"\n")?;
    }
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

/// OpenSSH's `match_pattern`: `*` any run of characters, `?` one character.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// HMAC-SHA1(salt, name): how OpenSSH hashes names in known_hosts (`ssh-keygen -H`). Only for
/// matching names: the host key itself is compared byte for byte.
fn hashed_name_matches(salt: &[u8], name: &str, hash: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn keygen(dir: &Path, name: &str, kind: &str) -> (Vec<u8>, String) {
        let path = dir.join(name);
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "test", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen runs");
        assert!(st.success());
        let pubtext = fs::read_to_string(path.with_extension("pub")).unwrap();
        let b64 = pubtext.split_whitespace().nth(1).unwrap();
        (STANDARD.decode(b64).unwrap(), pubtext)
    }

    fn keygen_fingerprint(pubfile: &Path) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(pubfile)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    #[test]
    fn fingerprint_equals_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ["ed25519", "rsa", "ecdsa"] {
            let (blob, _) = keygen(dir.path(), kind, kind);
            let expected = keygen_fingerprint(&dir.path().join(format!("{kind}.pub")));
            assert!(expected.starts_with("SHA256:"));
            assert_eq!(fingerprint(&blob), expected, "{kind}");
        }
    }

    /// Hashed lines written by `ssh-keygen -H` itself, with default and non-default ports.
    #[test]
    fn hashed_entries_from_ssh_keygen_match() {
        let dir = tempfile::tempdir().unwrap();
        let (ed, _) = keygen(dir.path(), "ed", "ed25519");
        let (rsa, _) = keygen(dir.path(), "rsa", "rsa");
        let kh = dir.path().join("known_hosts");
        let text = format!(
            "198.19.1.10 ssh-ed25519 {}\n[198.19.1.11]:2222 ssh-ed25519 {}\n198.19.1.10 ssh-rsa {}\n",
            STANDARD.encode(&ed),
            STANDARD.encode(&ed),
            STANDARD.encode(&rsa)
        );
        fs::write(&kh, text).unwrap();
        let st = Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&kh)
            .status()
            .unwrap();
        assert!(st.success());
        let hashed = fs::read_to_string(&kh).unwrap();
        assert!(hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
        let f = KnownHostsFile::load(&kh).unwrap();
        assert_eq!(f.entries.len(), 3);
        let files = [f];
        assert!(matches!(
            check(&files, "198.19.1.10", 22, &ed),
            HostKeyStatus::Known { line: 1, .. }
        ));
        assert!(matches!(
            check(&files, "198.19.1.10", 22, &rsa),
            HostKeyStatus::Known { line: 3, .. }
        ));
        assert!(matches!(
            check(&files, "198.19.1.11", 2222, &ed),
            HostKeyStatus::Known { line: 2, .. }
        ));
        // Same address, other port: another host for OpenSSH.
        assert_eq!(
            check(&files, "198.19.1.11", 22, &ed),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "198.19.1.12", 22, &ed),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn changed_only_within_the_same_key_type() {
        let dir = tempfile::tempdir().unwrap();
        let (ed_old, _) = keygen(dir.path(), "a", "ed25519");
        let (ed_new, _) = keygen(dir.path(), "b", "ed25519");
        let (ecdsa, _) = keygen(dir.path(), "c", "ecdsa");
        let text = format!(
            "# comment\n\ngarbage line\nweb1,198.19.1.10 ssh-ed25519 {}\n",
            STANDARD.encode(&ed_old)
        );
        let files = [KnownHostsFile::parse(Path::new("kh"), &text)];
        assert_eq!(files[0].entries.len(), 1);
        match check(&files, "198.19.1.10", 22, &ed_new) {
            HostKeyStatus::Changed {
                expected, line: 4, ..
            } => assert_eq!(expected, vec![fingerprint(&ed_old)]),
            other => panic!("expected Changed, got {other:?}"),
        }
        // Another key type for a known host is merely unknown.
        assert_eq!(
            check(&files, "198.19.1.10", 22, &ecdsa),
            HostKeyStatus::Unknown
        );
        assert!(matches!(
            check(&files, "WEB1", 22, &ed_old),
            HostKeyStatus::Known { .. }
        ));
        assert_eq!(
            known_key_types(&files, "198.19.1.10", 22),
            vec!["ssh-ed25519".to_string()]
        );
    }

    #[test]
    fn patterns_wildcards_negation_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = keygen(dir.path(), "k", "ed25519");
        let b = STANDARD.encode(&k);
        let files = [KnownHostsFile::parse(
            Path::new("kh"),
            &format!(
                "198.19.1.*,!198.19.1.66 ssh-ed25519 {b}\n[198.19.2.?]:2222 ssh-ed25519 {b}\n"
            ),
        )];
        assert!(matches!(
            check(&files, "198.19.1.5", 22, &k),
            HostKeyStatus::Known { .. }
        ));
        assert_eq!(check(&files, "198.19.1.66", 22, &k), HostKeyStatus::Unknown);
        assert!(matches!(
            check(&files, "198.19.2.7", 2222, &k),
            HostKeyStatus::Known { line: 2, .. }
        ));
        assert_eq!(
            check(&files, "198.19.2.77", 2222, &k),
            HostKeyStatus::Unknown
        );
        let revoked = [KnownHostsFile::parse(
            Path::new("kh"),
            &format!("@revoked * ssh-ed25519 {b}\n198.19.1.5 ssh-ed25519 {b}\n"),
        )];
        assert!(matches!(
            check(&revoked, "198.19.1.5", 22, &k),
            HostKeyStatus::Revoked { line: 1, .. }
        ));
    }

    #[test]
    fn cert_authority_lines_are_found_by_name_never_trusted_as_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = keygen(dir.path(), "ca", "ed25519");
        let b = STANDARD.encode(&ca);
        let files = [
            KnownHostsFile::parse(Path::new("user"), ""),
            KnownHostsFile::parse(
                Path::new("global"),
                &format!("# fleet CA\n@cert-authority *.lab,198.19.3.* ssh-ed25519 {b}\n"),
            ),
        ];
        assert_eq!(
            cert_authority_for(&files, "198.19.3.4", 22),
            Some((PathBuf::from("global"), 2))
        );
        assert_eq!(
            cert_authority_for(&files, "web.lab", 22),
            Some((PathBuf::from("global"), 2))
        );
        assert_eq!(cert_authority_for(&files, "198.19.4.4", 22), None);
        // The CA's own key offered as a host key is not "known": a CA line is not a host line.
        assert_eq!(check(&files, "198.19.3.4", 22, &ca), HostKeyStatus::Unknown);
    }

    #[test]
    fn corrupt_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = keygen(dir.path(), "k", "ed25519");
        let b = STANDARD.encode(&k);
        let f = KnownHostsFile::parse(
            Path::new("kh"),
            &format!(
                "h ssh-rsa {b}\nh ssh-ed25519 !!notbase64\n|1|x ssh-ed25519 {b}\n@weird h ssh-ed25519 {b}\nh ssh-ed25519\n"
            ),
        );
        assert!(f.entries.is_empty(), "{:?}", f.entries);
    }

    #[test]
    fn append_refuses_names_that_would_split_or_widen_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = keygen(dir.path(), "k", "ed25519");
        let kh = dir.path().join("known_hosts");
        for bad in ["a b", "a\tb", "a,*", "*", "a\nb", "@cert-authority"] {
            let e = append(&kh, bad, 22, &k).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(!kh.exists(), "{bad:?} wrote the file");
        }
        append(&kh, "fd5e:5a3e:0:4::12", 2222, &k).unwrap();
        assert!(kh.exists());
    }

    #[test]
    fn append_creates_0600_and_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = keygen(dir.path(), "k", "ed25519");
        let kh = dir.path().join("sub/known_hosts");
        append(&kh, "198.19.1.10", 2222, &k).unwrap();
        let mode = fs::metadata(&kh).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        // A file without a final newline keeps its last line intact.
        let kh2 = dir.path().join("kh2");
        fs::write(&kh2, format!("other ssh-ed25519 {}", STANDARD.encode(&k))).unwrap();
        append(&kh2, "198.19.1.10", 22, &k).unwrap();
        let files = [
            KnownHostsFile::load(&kh).unwrap(),
            KnownHostsFile::load(&kh2).unwrap(),
        ];
        assert_eq!(files[1].entries.len(), 2);
        assert!(matches!(
            check(&files[..1], "198.19.1.10", 2222, &k),
            HostKeyStatus::Known { .. }
        ));
        assert!(matches!(
            check(&files[1..], "198.19.1.10", 22, &k),
            HostKeyStatus::Known { line: 2, .. }
        ));
        // And ssh-keygen agrees the written file names the host.
        let out = Command::new("ssh-keygen")
            .args(["-F", "[198.19.1.10]:2222", "-f"])
            .arg(&kh)
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    #[test]
    fn blob_type_and_lookup_name() {
        assert_eq!(
            blob_key_type(b"\0\0\0\x0bssh-ed25519rest"),
            Some("ssh-ed25519")
        );
        assert_eq!(blob_key_type(b"\0\0\0\xffshort"), None);
        assert_eq!(blob_key_type(b"\0\0"), None);
        assert_eq!(lookup_name("Web1", 22), "web1");
        assert_eq!(lookup_name("198.19.1.1", 2222), "[198.19.1.1]:2222");
    }
}
