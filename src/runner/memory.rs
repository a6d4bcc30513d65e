//! The controller's memory with many hosts in flight: glibc's allocator tuned for worker threads
//! that mostly wait on the network. Each of the (up to `--forks`) worker threads would keep its
//! own cache of freed small blocks, its share of two arenas, and freed pages the heap never gave
//! back; with 100 hosts in flight those, not live data, were a third of the controller's RSS.
//!
//! Measured on the lab (first run of 100 hosts at `-f 100`, release build, two runs at once,
//! peak RSS): glibc's defaults with two arenas 52.4 MB; fixed 64 KB mmap and trim thresholds
//! alone 52.8 MB; those plus a `malloc_trim` every 250 ms 47.4 MB; the thresholds plus no
//! per-thread caches (tcache) 43.4 MB. sesame uses all three (see bench/README.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a running pool gives freed heap pages back to the system.
pub const TRIM_EVERY: Duration = Duration::from_millis(250);

/// glibc's setting that turns its per-thread caches off. glibc reads it (`GLIBC_TUNABLES`) only
/// when a process starts, so `tune` starts sesame again with it once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const NO_THREAD_CACHE: &str = "glibc.malloc.tcache_count=0";

/// Tune the allocator for this process: at most two arenas, blocks of 64 KB and more mapped on
/// their own (given back when freed), free memory above 64 KB at a heap's top given back, no
/// per-thread caches. The last needs a fresh start: unless `GLIBC_TUNABLES` already says
/// something about the thread cache (the user's choice wins, and a started-again sesame finds
/// its own setting), sesame replaces itself with itself, same arguments, with the setting
/// added. Called first thing, while the process has one thread; when the restart cannot be
/// made, sesame goes on with the caches on (more memory, nothing else).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        restart_without_thread_caches();
        // SAFETY: mallopt only tunes the allocator; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024);
        }
    }
}

/// `GLIBC_TUNABLES` with the thread cache turned off, unless it already sets the cache.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tunables_without_thread_cache(current: Option<&std::ffi::OsStr>) -> Option<std::ffi::OsString> {
    match current {
        Some(v) if v.to_string_lossy().contains("glibc.malloc.tcache_count") => None,
        Some(v) if !v.is_empty() => {
            let mut out = v.to_os_string();
            out.push(":");
            out.push(NO_THREAD_CACHE);
            Some(out)
        }
        _ => Some(NO_THREAD_CACHE.into()),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn restart_without_thread_caches() {
    use std::os::unix::process::CommandExt;
    let Some(tunables) =
        tunables_without_thread_cache(std::env::var_os("GLIBC_TUNABLES").as_deref())
    else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // Only returns when the exec failed: then go on as we are.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
}

/// How many times `trim` ran (for tests).
static TRIMS: AtomicUsize = AtomicUsize::new(0);

/// Give freed heap memory back to the system: free pages inside the heaps too, not only at
/// their tops (glibc's `malloc_trim`).
pub fn trim() {
    TRIMS.fetch_add(1, Ordering::Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' locks itself; safe from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// While it lives, a thread calls `trim` every `every` (a pool of many hosts frees each host's
/// buffers between its steps while the others still run). Dropping it stops and joins the
/// thread.
pub struct Trimmer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    pub fn start(every: Duration) -> Trimmer {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sesame-trim".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    trim();
                }
            })
            .ok();
        Trimmer {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_thread_cache_setting_is_added_once_and_the_users_own_wins() {
        let t = |v: Option<&str>| {
            tunables_without_thread_cache(v.map(std::ffi::OsStr::new))
                .map(|s| s.to_string_lossy().into_owned())
        };
        assert_eq!(t(None).as_deref(), Some("glibc.malloc.tcache_count=0"));
        assert_eq!(t(Some("")).as_deref(), Some("glibc.malloc.tcache_count=0"));
        assert_eq!(
            t(Some("glibc.malloc.arena_max=4")).as_deref(),
            Some("glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0")
        );
        // Started again: the setting is there, no second restart.
        assert_eq!(t(Some("glibc.malloc.tcache_count=0")), None);
        // The user's own choice stays.
        assert_eq!(t(Some("glibc.malloc.tcache_count=7")), None);
    }

    #[test]
    fn a_trimmer_trims_until_dropped_and_stops_at_once() {
        let before = TRIMS.load(Ordering::Relaxed);
        let t = Trimmer::start(Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(60));
        assert!(TRIMS.load(Ordering::Relaxed) >= before + 2);
        let started = std::time::Instant::now();
        drop(t);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
