//! What a host's play costs in round trips: the remote commands over every session and the
//! sessions opened for proofs, counted by wrapping the connector and the sessions it opens.
//! Only counts; changes nothing that goes over the wire.

use crate::transport::{Become, Cmd, Connector, Output, Transport, TransportError, Upload};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counters shared with the sessions a play opens.
#[derive(Default, Clone)]
pub(super) struct Cost {
    pub sessions: Arc<AtomicUsize>,
    pub execs: Arc<AtomicUsize>,
}

impl Cost {
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }
    pub fn execs(&self) -> usize {
        self.execs.load(Ordering::Relaxed)
    }
}

/// A session opened by the connector, counting its commands.
struct Counted {
    inner: Box<dyn Transport>,
    execs: Arc<AtomicUsize>,
}

impl Transport for Counted {
    fn host(&self) -> &str {
        self.inner.host()
    }
    fn exec(&mut self, cmd: &Cmd) -> Result<Output, TransportError> {
        self.execs.fetch_add(1, Ordering::Relaxed);
        self.inner.exec(cmd)
    }
    fn upload(&mut self, f: &Upload<'_>, escalate: Option<&Become>) -> Result<(), TransportError> {
        self.inner.upload(f, escalate)
    }
    fn exec_count(&self) -> usize {
        self.inner.exec_count()
    }
    fn round_trip(&self) -> Option<crate::transport::RoundTrip> {
        self.inner.round_trip()
    }
}

/// `inner`, counting the sessions it opens and their commands in `cost`.
pub(super) fn counting<'a>(inner: &'a Connector<'a>, cost: &Cost) -> Box<Connector<'a>> {
    let cost = cost.clone();
    Box::new(move |knock: bool| {
        let t = inner(knock)?;
        cost.sessions.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(Counted {
            inner: t,
            execs: cost.execs.clone(),
        }) as Box<dyn Transport>)
    })
}
