//! The one way workers talk to the reporter: `EventSender`, a cloneable wrapper around an mpsc
//! sender that also counts every event into the shared `Stats` at send time (so the engine sees
//! failed/unreachable hosts at once, not when the reporter gets round to printing). It never
//! prints and never blocks on the terminal.

use super::event::Event;
use super::stats::Stats;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What travels on the channel: events, then one `Finish` from the reporter's owner.
#[derive(Debug)]
pub(crate) enum Msg {
    Event(Event),
    /// Everything was sent: print the recap and stop.
    Finish {
        cancelled: bool,
    },
}

/// Cloneable handle workers use to report. Sending never fails: if the reporter is gone
/// (its thread ended), events are still counted and otherwise dropped.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: Sender<Msg>,
    stats: Arc<Mutex<Stats>>,
}

/// The receiving end, read by the reporter (or by tests).
#[derive(Debug)]
pub struct EventReceiver {
    rx: Receiver<Msg>,
    stats: Arc<Mutex<Stats>>,
}

impl EventSender {
    /// A new channel with fresh counters.
    pub fn channel() -> (EventSender, EventReceiver) {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Mutex::new(Stats::new()));
        (
            EventSender {
                tx,
                stats: Arc::clone(&stats),
            },
            EventReceiver { rx, stats },
        )
    }

    /// Count the event, then hand it to the reporter.
    pub fn send(&self, event: Event) {
        lock(&self.stats).record(&event);
        // A closed channel means the reporter stopped (broken pipe on stdout, say); the run
        // goes on and the counters still decide the exit code.
        let _ = self.tx.send(Msg::Event(event));
    }

    /// A copy of the counters so far (what the recap and the exit code are computed from;
    /// serial batches count their failures from `run_hosts`' outcomes instead).
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub(crate) fn finish(&self, cancelled: bool) {
        let _ = self.tx.send(Msg::Finish { cancelled });
    }
}

impl EventReceiver {
    /// The next event, waiting at most `timeout`; `None` on timeout, finish or closed channel.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        match self.rx.recv_timeout(timeout) {
            Ok(Msg::Event(e)) => Some(e),
            _ => None,
        }
    }

    /// Every event already sent, without waiting.
    pub fn drain(&self) -> Vec<Event> {
        self.rx
            .try_iter()
            .filter_map(|m| match m {
                Msg::Event(e) => Some(e),
                Msg::Finish { .. } => None,
            })
            .collect()
    }

    pub(crate) fn recv_msg(&self) -> Option<Msg> {
        self.rx.recv().ok()
    }

    /// The counters shared with every sender.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }
}

/// Counting must go on even if a worker panicked while holding the lock: the counters are
/// plain integers, always consistent between two statements.
fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::event::{Status, TaskResult};

    #[test]
    fn counts_at_send_time_and_delivers_in_order() {
        let (tx, rx) = EventSender::channel();
        let tx2 = tx.clone();
        tx.send(Event::TaskResult(TaskResult::new("a", "t", Status::Failed)));
        assert_eq!(
            tx2.stats().host("a").failed,
            1,
            "visible to every clone at once"
        );
        tx2.send(Event::HostDone { host: "a".into() });
        let got = rx.drain();
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], Event::TaskResult(_)));
        assert!(matches!(got[1], Event::HostDone { .. }));
        assert_eq!(rx.stats().failed_hosts().len(), 1);
    }

    #[test]
    fn sending_after_the_reporter_is_gone_still_counts() {
        let (tx, rx) = EventSender::channel();
        drop(rx);
        tx.send(Event::TaskResult(TaskResult::new("a", "t", Status::Ok)));
        assert_eq!(tx.stats().host("a").ok, 1);
    }
}
