//! The one knock sender: `KnockProfile::send` is what every knock goes through (the knock
//! before a connection, `sesame knock`, the `knock` module, the proof's close sequence, door
//! knocks, earlier knocks tried on rotation). The packets themselves are `client`'s; this file
//! only owns the timing. Never prints.
//!
//! One timing for every mode, chosen so that it is right for all of them:
//! * **sequence modes** (knockd, iptables gates): knocks `KNOCK_GAP` (50 ms) apart. That keeps
//!   their order on the wire (each knock is its own SYN or datagram) and stays far inside every
//!   step window: iptables gates want each knock within `knock_step_seconds` (at least 1 s) of
//!   the previous one, knockd wants the whole sequence within `seq_timeout` (also
//!   `knock_step_seconds`). A sequence so long that 50 ms gaps would use more than half of that
//!   window gets smaller gaps (`KnockProfile::knock_gap`).
//! * **knockd** then waits `KNOCKD_SETTLE` (150 ms): knockd runs its door command in a child
//!   after the last knock, and a SYN sent before the rule is in waits for a 1 s retransmission.
//!   This applies to the close sequence too (its command removes the rule).
//! * **single_port**: `prior_hits` hits on the protected port, `client::single_port_spacing`
//!   apart (at least `knock_hit_min_seconds`, all of them and the connection within
//!   `knock_hit_max_seconds`), the last followed by one more spacing, so that the caller's
//!   connection is the next hit and lands in the middle of the window.
//!
//! These are the values the knock before every connection (and so every proof) used before
//! the senders were merged; `sesame knock` used 200 ms of settling and the `knock` module and
//! the proof's close sequence 100 ms gaps, neither needed by any mode.

use super::{client, KnockError, KnockMode, KnockPort, KnockProfile};
use std::net::IpAddr;
use std::time::Duration;

/// Gap between two knocks of a sequence (see the file's head).
pub const KNOCK_GAP: Duration = Duration::from_millis(50);
/// knockd's time to run its door command after the last knock of a sequence.
pub const KNOCKD_SETTLE: Duration = Duration::from_millis(150);

/// Which knock of a profile to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The knock that opens the door (the sequence, or single_port's hits).
    Open,
    /// knockd's close sequence (`knock_close_sequence`).
    Close,
}

/// What `send` puts on the wire: each knock, then how long to wait after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub knocks: Vec<(KnockPort, Duration)>,
}

impl Schedule {
    /// How long sending takes, waits included.
    pub fn duration(&self) -> Duration {
        self.knocks.iter().map(|(_, d)| *d).sum()
    }
}

impl KnockProfile {
    /// The gap between the knocks of a sequence of `len` knocks: `KNOCK_GAP`, or less when the
    /// sequence is so long that it would take more than half of `knock_step_seconds`.
    pub fn knock_gap(&self, len: usize) -> Duration {
        let gaps = len.saturating_sub(1).max(1) as u32;
        let half_window = Duration::from_secs(u64::from(self.step_seconds.max(1))) / 2;
        KNOCK_GAP.min(half_window / gaps)
    }

    /// The knocks `send` sends, and the waits between and after them.
    pub fn schedule(&self, which: Which) -> Result<Schedule, KnockError> {
        if self.mode == KnockMode::SinglePort {
            if which == Which::Close {
                return Err(KnockError::NothingToSend(
                    "single_port mode has no close sequence",
                ));
            }
            let port = *self
                .protected_ports
                .first()
                .ok_or(KnockError::NothingToSend("no protected port"))?;
            let spacing = client::single_port_spacing(
                self.prior_hits,
                self.hit_min_seconds,
                self.hit_max_seconds,
            );
            let knocks = (0..self.prior_hits).map(|_| (port, spacing)).collect();
            return Ok(Schedule { knocks });
        }
        let seq = match which {
            Which::Open => &self.sequence,
            Which::Close => &self.close_sequence,
        };
        if seq.is_empty() {
            return Err(KnockError::NothingToSend(match which {
                Which::Open => "no knock sequence",
                Which::Close => "no close sequence (knock_close_sequence)",
            }));
        }
        let gap = self.knock_gap(seq.len());
        let last = match self.mode {
            KnockMode::Knockd => KNOCKD_SETTLE,
            _ => Duration::ZERO,
        };
        let knocks = seq
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, if i + 1 == seq.len() { last } else { gap }))
            .collect();
        Ok(Schedule { knocks })
    }

    /// Send this profile's knock to `addr` (from `source` when given) and wait until the door
    /// should be open (or, `Which::Close`, shut): the one sender of sesame.
    pub fn send(
        &self,
        source: Option<IpAddr>,
        addr: IpAddr,
        which: Which,
    ) -> Result<(), KnockError> {
        for (k, wait) in self.schedule(which)?.knocks {
            client::knock_once(source, std::net::SocketAddr::new(addr, k.port), k.proto)?;
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knock::{NetFacts, Proto};
    use serde_json::json;

    fn profile(vars: serde_json::Value) -> KnockProfile {
        let facts = NetFacts {
            default_interface: Some("eth0".into()),
            ..Default::default()
        };
        KnockProfile::from_vars("h1", vars.as_object().unwrap(), &facts).unwrap()
    }

    fn ports(s: &Schedule) -> Vec<u16> {
        s.knocks.iter().map(|(k, _)| k.port).collect()
    }

    #[test]
    fn knockd_sequence_is_sent_in_order_50ms_apart_then_settles() {
        let p = profile(
            json!({"knock_mode": "knockd", "knock_sequence": [7000, 8000, 7000, 9000],
                               "knock_close_sequence": [9100, 8100, 7100]}),
        );
        let s = p.schedule(Which::Open).unwrap();
        assert_eq!(ports(&s), [7000, 8000, 7000, 9000]);
        let waits: Vec<Duration> = s.knocks.iter().map(|(_, d)| *d).collect();
        assert_eq!(waits, [KNOCK_GAP, KNOCK_GAP, KNOCK_GAP, KNOCKD_SETTLE]);
        let c = p.schedule(Which::Close).unwrap();
        assert_eq!(ports(&c), [9100, 8100, 7100]);
        assert_eq!(c.knocks.last().unwrap().1, KNOCKD_SETTLE);
    }

    #[test]
    fn iptables_sequence_has_no_settle_and_no_close() {
        let p = profile(json!({"knock_mode": "iptables", "knock_sequence": [7000, 8000, 9000]}));
        let s = p.schedule(Which::Open).unwrap();
        assert_eq!(s.duration(), KNOCK_GAP * 2);
        assert!(matches!(
            p.schedule(Which::Close),
            Err(KnockError::NothingToSend(_))
        ));
    }

    #[test]
    fn a_long_sequence_fits_in_half_the_step_window() {
        let seq: Vec<u16> = (0..30).map(|i| 7000 + (i % 3) * 10 + i).collect();
        let p = profile(json!({"knock_mode": "knockd", "knock_sequence": seq,
                               "knock_step_seconds": 1}));
        let s = p.schedule(Which::Open).unwrap();
        let spread = s.duration() - KNOCKD_SETTLE;
        assert!(spread <= Duration::from_millis(500), "{spread:?}");
        assert!(p.knock_gap(30) < KNOCK_GAP);
        assert_eq!(p.knock_gap(3), KNOCK_GAP);
    }

    #[test]
    fn single_port_hits_honour_the_hit_spacing() {
        let p = profile(json!({"knock_mode": "single_port", "knock_hitcount": 3,
                               "knock_hit_min_seconds": 2, "knock_hit_max_seconds": 9}));
        let s = p.schedule(Which::Open).unwrap();
        let spacing = client::single_port_spacing(2, 2, 9);
        assert_eq!(s.knocks.len(), 2, "hitcount - 1 hits before the connection");
        for (k, wait) in &s.knocks {
            assert_eq!((k.port, k.proto, *wait), (22, Proto::Tcp, spacing));
        }
        assert!(spacing >= Duration::from_secs(2) && spacing * 2 <= Duration::from_secs(9));
    }

    #[test]
    fn udp_sequence_arrives_in_order_on_loopback() {
        let rx: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let seq: Vec<serde_json::Value> = rx
            .iter()
            .map(|s| json!(format!("{}:udp", s.local_addr().unwrap().port())))
            .collect();
        let p = profile(json!({"knock_mode": "iptables", "knock_sequence": seq}));
        p.send(None, "127.0.0.1".parse().unwrap(), Which::Open)
            .unwrap();
        for s in &rx {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 4];
            assert_eq!(s.recv(&mut buf).unwrap(), 1);
        }
    }
}
