//! The controller's memory of what it left on each host: after a proven transaction sesame
//! records the knock it applied, so a later run whose inventory has a new sequence can still
//! get in with the old one (tried after the current knock, never before it). One JSON file,
//! mode 0600 in a 0700 directory: `$XDG_STATE_HOME/sesame/knocks.json`, else
//! `~/.local/state/sesame/knocks.json`. Entries are keyed by the address sesame connects to
//! (`addr:port`) and the fingerprints known_hosts has for it, so a reused address with another
//! machine behind it does not get the old machine's knock. `--no-state` turns it off.
//! Writers lock the file (flock), re-read it, and replace it atomically; changes that arrive
//! while a write is going on are written together by the next one. Never prints.

use super::rotation::PastKnock;
use crate::transport::known_hosts::{self, KnownHostsFile};
use crate::transport::spec::ConnSpec;
use serde_json::{json, Value};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Failures to keep the state file (reported as warnings: the host's rules are proven anyway).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("knock state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

static DISABLED: AtomicBool = AtomicBool::new(false);

/// `--no-state`: neither read nor write the state file in this process. Called once, up front,
/// on the main thread.
pub fn configure(enabled: bool) {
    DISABLED.store(!enabled, Ordering::SeqCst);
}

/// Where the state file lives, or `None` when it is turned off or there is no home.
pub fn path() -> Option<PathBuf> {
    if DISABLED.load(Ordering::SeqCst) {
        return None;
    }
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = nonempty("XDG_STATE_HOME")
        .or_else(|| nonempty("HOME").map(|h| h.join(".local").join("state")))?;
    Some(base.join("sesame").join("knocks.json"))
}

/// What identifies a host in the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `addr:port` the sessions connect to.
    pub address: String,
    /// Sorted fingerprints known_hosts has for it (empty when it has none).
    pub host_keys: Vec<String>,
}

impl HostKey {
    /// The key of the host `spec` connects to, its fingerprints read from the known_hosts
    /// files the connection checks against.
    pub fn for_spec(spec: &ConnSpec) -> HostKey {
        let files: Vec<std::sync::Arc<KnownHostsFile>> = spec
            .known_hosts
            .iter()
            .chain(&spec.global_known_hosts)
            .filter_map(|p| KnownHostsFile::load_shared(p).ok())
            .collect();
        HostKey {
            address: format!("{}:{}", spec.address, spec.port),
            host_keys: known_hosts::known_fingerprints(&files, spec.known_hosts_name(), spec.port),
        }
    }
}

/// What sesame left on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub host: String,
    /// Seconds since the epoch of the transaction.
    pub applied_at: u64,
    pub knocks: Vec<PastKnock>,
    /// Doors sesame removed from the host (`knock_doors` items dropped since): `sesame verify`
    /// proves they no longer open. Never tried to get in.
    pub revoked: Vec<PastKnock>,
}

impl Entry {
    /// How a knock of this entry is named in messages (never by its ports).
    pub fn label(&self) -> String {
        format!("state file entry of {}", utc(self.applied_at))
    }
}

/// The file's entries, read once per process (and refreshed by each write).
type Cached = Option<(PathBuf, Vec<Value>)>;

fn cache() -> &'static Mutex<Cached> {
    static CACHE: OnceLock<Mutex<Cached>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(None))
}

fn read_entries(path: &Path) -> Vec<Value> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("hosts").and_then(Value::as_array).cloned())
            .unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "the knock state file is not valid JSON; ignoring it");
                Vec::new()
            }),
        Err(_) => Vec::new(),
    }
}

fn matches(v: &Value, key: &HostKey) -> bool {
    v.get("address").and_then(Value::as_str) == Some(key.address.as_str())
        && v.get("host_keys") == Some(&json!(key.host_keys))
}

/// The entry for `key`, if sesame recorded one (and the state file is on).
pub fn lookup(key: &HostKey) -> Option<Entry> {
    let path = path()?;
    let mut guard = cache().lock().ok()?;
    if guard.as_ref().map(|(p, _)| p) != Some(&path) {
        *guard = Some((path.clone(), read_entries(&path)));
    }
    let (_, entries) = guard.as_ref()?;
    let v = entries.iter().find(|v| matches(v, key))?;
    Some(parse_entry(v)).filter(|e| !e.knocks.is_empty())
}

fn parse_entry(v: &Value) -> Entry {
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|k| PastKnock::parse(k).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    Entry {
        host: v.get("host").and_then(Value::as_str).unwrap_or("").into(),
        applied_at: v.get("applied_at").and_then(Value::as_u64).unwrap_or(0),
        knocks: list("knocks"),
        revoked: list("revoked"),
    }
}

/// Record that `knocks` are what sesame left on the host of `key` (replacing what was there).
/// Doors the host had before that `knocks` no longer has are kept as revoked.
pub fn record(key: &HostKey, host: &str, knocks: &[PastKnock]) -> Result<(), StateError> {
    let (host, knocks, key_) = (host.to_string(), knocks.to_vec(), key.clone());
    update(key, move |old| {
        let key = &key_;
        let mut revoked: Vec<PastKnock> = Vec::new();
        if let Some(old) = old.map(parse_entry) {
            for k in old.knocks.into_iter().chain(old.revoked) {
                let gone = k.door.is_some() && !knocks.iter().any(|n| n.sequence == k.sequence);
                if gone && !revoked.iter().any(|r| r.sequence == k.sequence) {
                    revoked.push(k);
                }
            }
        }
        Some(json!({
            "address": key.address,
            "host_keys": key.host_keys,
            "host": host,
            "applied_at": now(),
            "knocks": knocks.iter().map(PastKnock::to_value).collect::<Vec<_>>(),
            "revoked": revoked.iter().map(PastKnock::to_value).collect::<Vec<_>>(),
        }))
    })
}

/// What sesame recorded for `key`, revoked doors included (`None` when nothing or off).
pub fn entry(key: &HostKey) -> Option<Entry> {
    let path = path()?;
    let mut guard = cache().lock().ok()?;
    if guard.as_ref().map(|(p, _)| p) != Some(&path) {
        *guard = Some((path.clone(), read_entries(&path)));
    }
    let (_, entries) = guard.as_ref()?;
    entries.iter().find(|v| matches(v, key)).map(parse_entry)
}

/// Forget the host of `key` (sesame took itself off it).
pub fn forget(key: &HostKey) -> Result<(), StateError> {
    update(key, |_| None)
}

/// A change to one host's entry: what `make` builds from the current one (read under the lock).
type Change = (
    HostKey,
    Box<dyn FnOnce(Option<&Value>) -> Option<Value> + Send>,
);

/// Changes waiting for the next write, and where that write leaves its result for every
/// thread whose change it carried.
struct Batch {
    changes: Vec<Change>,
    result: std::sync::Arc<OnceLock<Result<(), (std::io::ErrorKind, String)>>>,
}

/// How many times this process wrote the file (the tests check writes are grouped).
static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn queue() -> &'static Mutex<Option<Batch>> {
    static QUEUE: OnceLock<Mutex<Option<Batch>>> = OnceLock::new();
    QUEUE.get_or_init(|| Mutex::new(None))
}

/// Replace the entry of `key` by what `make` builds from the current one. Writes are grouped:
/// when many hosts finish at once, one read-modify-write (and one fsync) carries every change
/// queued meanwhile, instead of one rewrite of the whole file per host (a large file made that
/// cost grow with hosts x entries, and every worker waited its turn holding its sessions).
/// Returns once the change is on disk, with the result of the write that carried it.
fn update(
    key: &HostKey,
    make: impl FnOnce(Option<&Value>) -> Option<Value> + Send + 'static,
) -> Result<(), StateError> {
    let Some(path) = path() else { return Ok(()) };
    let result = {
        let mut q = queue().lock().unwrap_or_else(|p| p.into_inner());
        let batch = q.get_or_insert_with(|| Batch {
            changes: Vec::new(),
            result: Default::default(),
        });
        batch.changes.push((key.clone(), Box::new(make)));
        batch.result.clone()
    };
    // One writer at a time in this process (then across processes: flock in `write_changes`).
    let mut guard = cache().lock().unwrap_or_else(|p| p.into_inner());
    if result.get().is_none() {
        // Nobody took our batch yet: write it, with whatever joined it meanwhile.
        let taken = queue().lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(batch) = taken {
            let r = write_changes(&path, batch.changes, &mut guard)
                .map_err(|e| (e.kind(), e.to_string()));
            let _ = batch.result.set(r);
        }
    }
    match result.get() {
        Some(Ok(())) => Ok(()),
        Some(Err((kind, msg))) => Err(StateError::Io {
            path,
            source: std::io::Error::new(*kind, msg.clone()),
        }),
        None => Err(StateError::Io {
            path,
            source: std::io::Error::other("the change was not written"),
        }),
    }
}

/// Apply `changes` to the file under its lock: re-read, replace the entries, write atomically.
fn write_changes(path: &Path, changes: Vec<Change>, cached: &mut Cached) -> std::io::Result<()> {
    WRITES.fetch_add(1, Ordering::SeqCst);
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path.with_extension("lock"))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut entries = read_entries(path);
    for (key, make) in changes {
        let entry = make(entries.iter().find(|v| matches(v, &key)));
        entries.retain(|v| !matches(v, &key));
        entries.extend(entry);
    }
    let text = serde_json::to_string_pretty(&json!({"version": 1, "hosts": entries}))
        .map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    *cached = Some((path.to_path_buf(), entries));
    drop(lock);
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_764_657_000), "2025-12-02 06:30 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }

    // The environment is process-wide: one test covers the whole life of an entry.
    #[test]
    fn record_lookup_replace_forget_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("XDG_STATE_HOME", dir.path());
        let key = HostKey {
            address: "198.19.1.11:22".into(),
            host_keys: vec!["SHA256:abc".into()],
        };
        let other = HostKey {
            host_keys: vec!["SHA256:other-machine".into()],
            ..key.clone()
        };
        let a = PastKnock::parse(&json!([7101, 7202, 7101])).unwrap();
        let b = PastKnock::parse(&json!([7501, 7502, 7501])).unwrap();
        record(&key, "h1", std::slice::from_ref(&a)).unwrap();
        record(&other, "h1", std::slice::from_ref(&b)).unwrap();
        let file = dir.path().join("sesame/knocks.json");
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("sesame"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(lookup(&key).unwrap().knocks, vec![a.clone()]);
        assert_eq!(lookup(&other).unwrap().knocks, vec![b.clone()]);
        record(&key, "h1", std::slice::from_ref(&b)).unwrap();
        assert_eq!(lookup(&key).unwrap().knocks, vec![b.clone()]);
        assert!(lookup(&key)
            .unwrap()
            .label()
            .starts_with("state file entry of 20"));
        // A door dropped from the host is kept as revoked, until it comes back.
        let door = |k: &PastKnock, n: &str| PastKnock {
            door: Some(n.into()),
            ..k.clone()
        };
        let (alice, bob) = (door(&a, "alice"), door(&b, "bob"));
        record(&key, "h1", &[alice.clone(), bob.clone()]).unwrap();
        record(&key, "h1", std::slice::from_ref(&alice)).unwrap();
        assert_eq!(entry(&key).unwrap().revoked, vec![bob.clone()]);
        record(&key, "h1", std::slice::from_ref(&alice)).unwrap();
        assert_eq!(entry(&key).unwrap().revoked, vec![bob.clone()]);
        record(&key, "h1", &[alice.clone(), bob.clone()]).unwrap();
        assert!(entry(&key).unwrap().revoked.is_empty());
        forget(&key).unwrap();
        assert!(lookup(&key).is_none());
        assert!(lookup(&other).is_some());
        // Many hosts finishing while a write is going on: their changes go in one write, and
        // each of them returns only once its own change is on disk.
        let hosts: Vec<HostKey> = (0..32)
            .map(|i| HostKey {
                address: format!("198.19.2.{i}:22"),
                host_keys: vec![format!("SHA256:h{i}")],
            })
            .collect();
        let writes = WRITES.load(Ordering::SeqCst);
        let writer = cache().lock().unwrap();
        let threads: Vec<_> = hosts
            .iter()
            .cloned()
            .map(|k| {
                let b = b.clone();
                std::thread::spawn(move || record(&k, "hN", &[b]).unwrap())
            })
            .collect();
        let queued = || {
            queue()
                .lock()
                .unwrap()
                .as_ref()
                .map_or(0, |q| q.changes.len())
        };
        while queued() < hosts.len() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(writer);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            WRITES.load(Ordering::SeqCst) - writes,
            1,
            "one write for 32 hosts"
        );
        *cache().lock().unwrap() = None; // read the file again, as another process would
        for k in &hosts {
            assert_eq!(lookup(k).unwrap().knocks, vec![b.clone()], "{}", k.address);
        }
        assert_eq!(lookup(&other).unwrap().knocks, vec![b.clone()]);
        configure(false);
        assert!(lookup(&other).is_none(), "--no-state still reads");
        configure(true);
        std::env::remove_var("XDG_STATE_HOME");
    }
}
