//! Warnings: settings that are valid but weak (a short or scan-ordered sequence) or ignored by
//! the mode in use. Collected with the profile, never printed here.

use super::ports::dedup;
use super::values::Collector;
use super::{KnockMode, KnockPort};

impl Collector<'_> {
    /// A sequence a guess or a port scan could send.
    pub(super) fn warn_weak_sequence(
        &mut self,
        mode: KnockMode,
        sequence: &[KnockPort],
        drop_unlisted: bool,
    ) {
        let uses_sequence = mode != KnockMode::SinglePort;
        if uses_sequence && sequence.len() == 2 {
            self.warn(
                "knock_sequence",
                "only 2 knocks: a sequence of 3 or more is much harder to guess",
            );
        }
        // knockd (and the iptables mode when other ports never reach it) only sees packets to
        // the knock ports, so any port scan is, to it, those ports in the scan's order: a random
        // order is the right one with chance 1/n!. One pass of a scan hits each port once, so
        // a port repeated (not in a row) is a sequence no single pass can send.
        let sees_only_knock_ports =
            mode == KnockMode::Knockd || (mode == KnockMode::Iptables && !drop_unlisted);
        if uses_sequence && sees_only_knock_ports && sequence.len() >= 2 {
            let mut distinct = sequence.to_vec();
            dedup(&mut distinct);
            if distinct.len() == sequence.len() {
                self.warn(
                    "knock_sequence",
                    format!(
                        "every port is different: a port scan that hits them in the right order opens the door (a random order does with chance 1/{}); repeat one port, not in a row, e.g. a,b,a,c",
                        factorial(sequence.len())
                    ),
                );
            }
        }
    }

    /// Variables the mode in use does not read.
    pub(super) fn warn_ignored(&mut self, mode: KnockMode) {
        if mode != KnockMode::Iptables && self.is_set("knock_iptables_style") {
            self.warn(
                "knock_iptables_style",
                format!("ignored in {} mode", mode.as_str()),
            );
        }
        if mode != KnockMode::SinglePort {
            for v in [
                "knock_hitcount",
                "knock_hit_min_seconds",
                "knock_hit_max_seconds",
            ] {
                if self.is_set(v) {
                    self.warn(v, format!("ignored in {} mode", mode.as_str()));
                }
            }
        }
    }
}

/// n!, saturating (only shown in a warning).
fn factorial(n: usize) -> u64 {
    (1..=n as u64).fold(1u64, |acc, k| acc.saturating_mul(k))
}
