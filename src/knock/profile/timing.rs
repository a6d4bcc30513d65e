//! Timing: the knock gap and open window of the sequence modes, single_port's hit count and
//! window, and the rollback delay, each bounded (see the module doc of `profile` for why).

use super::values::Collector;
use super::{MAX_HITCOUNT, MAX_SECONDS};

/// The timing variables as read (defaults filled in), before their checks.
#[derive(Clone, Copy)]
pub(super) struct Timing {
    pub step: u32,
    pub open: u32,
    pub hitcount: u32,
    pub hit_min: u32,
    pub hit_max: u32,
    pub rollback: u32,
}

impl Collector<'_> {
    /// The timeouts of the mode in use (`uses_sequence`: knockd or iptables), and the rollback.
    pub(super) fn check_timing(&mut self, t: &Timing, uses_sequence: bool) {
        let Timing {
            step,
            open,
            hitcount,
            hit_min,
            hit_max,
            rollback,
        } = *t;
        if uses_sequence {
            if step == 0 {
                self.err(
                    "knock_step_seconds",
                    step.to_string(),
                    "must be at least 1 second",
                );
            }
            if open == 0 {
                self.err(
                    "knock_open_seconds",
                    open.to_string(),
                    "must be at least 1 second",
                );
            } else if open > MAX_SECONDS {
                self.err(
                    "knock_open_seconds",
                    open.to_string(),
                    format!("must be at most {MAX_SECONDS} seconds"),
                );
            }
            if step > open {
                self.err(
                    "knock_step_seconds",
                    step.to_string(),
                    format!("longer than knock_open_seconds ({open}): the open window must be at least one step"),
                );
            }
        } else {
            self.check_single_port(hitcount, hit_min, hit_max);
        }
        if !(10..=MAX_SECONDS).contains(&rollback) {
            self.err(
                "knock_rollback_seconds",
                rollback.to_string(),
                format!("must be between 10 and {MAX_SECONDS} seconds"),
            );
        }
    }

    fn check_single_port(&mut self, hitcount: u32, hit_min: u32, hit_max: u32) {
        if !(2..=MAX_HITCOUNT).contains(&hitcount) {
            self.err(
                "knock_hitcount",
                hitcount.to_string(),
                format!(
                    "must be between 2 and {MAX_HITCOUNT}: it counts the attempts including the one let through, so 1 would open the port to any first connection"
                ),
            );
        }
        if hit_min < 2 {
            // Linux retransmits an unanswered SYN after 1 s: with a 1 s minimum, any plain
            // client's own retransmission would count as the next knock.
            self.err(
                "knock_hit_min_seconds",
                hit_min.to_string(),
                "must be at least 2 seconds: a client retransmits an unanswered SYN after 1 s, which would count as a knock",
            );
        }
        if hit_max > MAX_SECONDS {
            self.err(
                "knock_hit_max_seconds",
                hit_max.to_string(),
                format!("must be at most {MAX_SECONDS} seconds"),
            );
        }
        if hit_min >= hit_max {
            self.err(
                "knock_hit_min_seconds",
                hit_min.to_string(),
                format!("must be less than knock_hit_max_seconds ({hit_max})"),
            );
        } else if (2..=MAX_HITCOUNT).contains(&hitcount)
            && u64::from(hitcount - 1) * u64::from(hit_min) >= u64::from(hit_max)
        {
            self.err(
                "knock_hit_max_seconds",
                hit_max.to_string(),
                format!(
                    "too short for {hitcount} hits at least {hit_min}s apart: must exceed (knock_hitcount - 1) x knock_hit_min_seconds = {}",
                    (hitcount - 1) * hit_min
                ),
            );
        }
    }
}
