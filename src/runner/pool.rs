//! Running one closure per host in parallel: a dedicated rayon pool sized by `--forks` (never
//! rayon's global pool, which has one thread per core while host work mostly waits on the
//! network), a panic in one host's work caught and reported as that host failing, and Ctrl-C
//! (`Cancel`) stopping new hosts from starting. It prints nothing: it only sends events.

use super::channel::EventSender;
use super::event::{Event, Status, TaskResult};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Default `--forks`, as sesame's (Ansible's is 5; SSH to 20 hosts at once is cheap).
pub const DEFAULT_FORKS: usize = 20;

/// Shared "stop starting new hosts" flag, set by Ctrl-C.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The process-wide flag set by Ctrl-C, installing the handler on first use (`ctrlc`
    /// allows one handler per process). The first Ctrl-C sets the flag: running steps finish
    /// or time out, so no host is left mid-transaction (the firewall rollback stays armed
    /// either way). A second Ctrl-C exits at once with 99, as Ansible's user interrupt.
    pub fn ctrl_c() -> Result<Cancel, CancelError> {
        static INSTALLED: OnceLock<Mutex<Option<Cancel>>> = OnceLock::new();
        let slot = INSTALLED.get_or_init(|| Mutex::new(None));
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cancel = Cancel::new();
        let flag = cancel.clone();
        ctrlc::set_handler(move || {
            if flag.is_cancelled() {
                std::process::exit(99);
            }
            flag.cancel();
        })?;
        *slot = Some(cancel.clone());
        Ok(cancel)
    }
}

/// Installing the Ctrl-C handler failed (another handler was set outside sesame).
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Ctrl-C handler: {0}")]
pub struct CancelError(#[from] ctrlc::Error);

/// How one host's work ended, as the work closure says (its events carry the details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOutcome {
    /// Every task ran (ok, changed, skipped, ignored or rescued).
    Ok,
    /// A task failed (or the work panicked).
    Failed,
    /// The host could not be reached.
    Unreachable,
}

/// One host of a batch: `outcome` is `None` when Ctrl-C came before it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRun {
    pub host: String,
    pub outcome: Option<HostOutcome>,
}

/// The pool's threads could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {forks} worker threads: {source}")]
pub struct PoolError {
    pub forks: usize,
    #[source]
    pub source: rayon::ThreadPoolBuildError,
}

/// Run `work(host, events)` for every host, at most `forks` at once, each host an independent
/// job started in inventory order. Returns one `HostRun` per host, in the order given. After
/// each host's work returns (or panics) the pool sends `HostDone` for it; a panic is also
/// reported as a failed task named `internal error`. Once `cancel` is set no new host starts.
/// Serial batches: call this once per batch.
pub fn run_hosts<F>(
    hosts: &[String],
    forks: usize,
    cancel: &Cancel,
    events: &EventSender,
    work: F,
) -> Result<Vec<HostRun>, PoolError>
where
    F: Fn(&str, &EventSender) -> HostOutcome + Sync,
{
    let mut runs: Vec<HostRun> = hosts
        .iter()
        .map(|h| HostRun {
            host: h.clone(),
            outcome: None,
        })
        .collect();
    if hosts.is_empty() {
        return Ok(runs);
    }
    let threads = forks.clamp(1, hosts.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sesame-host-{i}"))
        .build()
        .map_err(|source| PoolError {
            forks: threads,
            source,
        })?;
    let work = &work;
    // Each host frees its buffers between steps while the others run: give those pages back.
    let _trim = (threads > 1).then(|| super::memory::Trimmer::start(super::memory::TRIM_EVERY));
    pool.scope_fifo(|scope| {
        for run in runs.iter_mut() {
            scope.spawn_fifo(move |_| {
                if cancel.is_cancelled() {
                    return;
                }
                run.outcome = Some(run_one(&run.host, events, work));
            });
        }
    });
    Ok(runs)
}

fn run_one<F>(host: &str, events: &EventSender, work: &F) -> HostOutcome
where
    F: Fn(&str, &EventSender) -> HostOutcome + Sync,
{
    // AssertUnwindSafe: after a panic the only state we touch again is the channel and the
    // counters, which stay consistent (the counter lock recovers from poisoning).
    events.send(Event::HostStart {
        host: host.to_string(),
    });
    let outcome = match catch_unwind(AssertUnwindSafe(|| work(host, events))) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            events.send(Event::TaskResult(TaskResult {
                msg: Some(format!(
                    "sesame bug: the worker for this host panicked ({why}); other hosts go on"
                )),
                ..TaskResult::new(host, "internal error", Status::Failed)
            }));
            HostOutcome::Failed
        }
    };
    events.send(Event::HostDone {
        host: host.to_string(),
    });
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn runs_every_host_once_in_given_order() {
        let (tx, rx) = EventSender::channel();
        let hosts = names(7);
        let seen = Mutex::new(Vec::new());
        let runs = run_hosts(&hosts, 3, &Cancel::new(), &tx, |h, _| {
            seen.lock().expect("lock").push(h.to_string());
            if h == "h3" {
                HostOutcome::Unreachable
            } else {
                HostOutcome::Ok
            }
        })
        .expect("pool");
        assert_eq!(
            runs.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(),
            hosts
        );
        assert_eq!(runs[2].outcome, Some(HostOutcome::Unreachable));
        assert_eq!(runs[0].outcome, Some(HostOutcome::Ok));
        let mut seen = seen.into_inner().expect("lock");
        seen.sort();
        let mut want = hosts.clone();
        want.sort();
        assert_eq!(seen, want);
        let done = rx
            .drain()
            .into_iter()
            .filter(|e| matches!(e, Event::HostDone { .. }))
            .count();
        assert_eq!(done, 7);
    }

    #[test]
    fn forks_bound_concurrency_and_are_all_used() {
        // 20 hosts sleeping 100 ms each with forks 20 take ~100 ms, not 2 s: the pool is
        // dedicated (rayon's global pool would give 2 threads on this 2-core machine).
        let (tx, _rx) = EventSender::channel();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let work = |_: &str, _: &EventSender| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            running.fetch_sub(1, Ordering::SeqCst);
            HostOutcome::Ok
        };
        let start = Instant::now();
        run_hosts(&names(20), 20, &Cancel::new(), &tx, work).expect("pool");
        let wall = start.elapsed();
        assert_eq!(peak.load(Ordering::SeqCst), 20);
        assert!(wall < Duration::from_millis(1000), "took {wall:?}");

        peak.store(0, Ordering::SeqCst);
        run_hosts(&names(12), 4, &Cancel::new(), &tx, work).expect("pool");
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_panicking_host_fails_alone() {
        let (tx, rx) = EventSender::channel();
        let runs = run_hosts(&names(5), 5, &Cancel::new(), &tx, |h, ev| {
            if h == "h2" {
                panic!("boom on {h}");
            }
            ev.send(Event::TaskResult(TaskResult::new(h, "t", Status::Ok)));
            HostOutcome::Ok
        })
        .expect("pool");
        assert_eq!(runs[1].outcome, Some(HostOutcome::Failed));
        for i in [0, 2, 3, 4] {
            assert_eq!(runs[i].outcome, Some(HostOutcome::Ok));
        }
        let stats = tx.stats();
        assert_eq!(stats.host("h2").failed, 1);
        assert_eq!(stats.host("h1").ok, 1);
        let msg = rx
            .drain()
            .into_iter()
            .find_map(|e| match e {
                Event::TaskResult(r) if r.host == "h2" => r.msg,
                _ => None,
            })
            .expect("a failure event for h2");
        assert!(msg.contains("boom on h2"), "{msg}");
    }

    #[test]
    fn cancel_stops_new_hosts_but_lets_running_ones_finish() {
        let (tx, rx) = EventSender::channel();
        let cancel = Cancel::new();
        let finished = AtomicUsize::new(0);
        // forks 2: h1 and h2 start; h1 presses Ctrl-C; both finish; h3..h6 never start.
        let runs = run_hosts(&names(6), 2, &cancel, &tx, |h, _| {
            if h == "h1" {
                cancel.cancel();
            }
            std::thread::sleep(Duration::from_millis(50));
            finished.fetch_add(1, Ordering::SeqCst);
            HostOutcome::Ok
        })
        .expect("pool");
        let started: Vec<_> = runs.iter().filter(|r| r.outcome.is_some()).collect();
        assert!(
            (1..=2).contains(&started.len()),
            "only in-flight hosts ran: {runs:?}"
        );
        assert_eq!(finished.load(Ordering::SeqCst), started.len());
        assert!(runs[2..].iter().all(|r| r.outcome.is_none()), "{runs:?}");
        let done = rx
            .drain()
            .into_iter()
            .filter(|e| matches!(e, Event::HostDone { .. }))
            .count();
        assert_eq!(done, started.len(), "hosts never started get no result");

        // A later serial batch starts nothing at all.
        let again = run_hosts(&names(3), 2, &cancel, &tx, |_, _| HostOutcome::Ok).expect("pool");
        assert!(again.iter().all(|r| r.outcome.is_none()));
    }

    #[test]
    fn ctrl_c_handler_is_installed_once_and_shared() {
        let a = Cancel::ctrl_c().expect("install");
        let b = Cancel::ctrl_c().expect("second call reuses the handler");
        // Not cancelled here: the flag is process-wide and other tests may run a command.
        assert!(Arc::ptr_eq(&a.0, &b.0), "both calls give the same flag");
    }

    #[test]
    fn empty_host_list_and_zero_forks_are_fine() {
        let (tx, _rx) = EventSender::channel();
        let runs = run_hosts(&[], 0, &Cancel::new(), &tx, |_, _| HostOutcome::Ok).expect("pool");
        assert!(runs.is_empty());
        let runs = run_hosts(&names(2), 0, &Cancel::new(), &tx, |_, _| HostOutcome::Ok)
            .expect("zero forks means one thread");
        assert!(runs.iter().all(|r| r.outcome == Some(HostOutcome::Ok)));
    }
}
