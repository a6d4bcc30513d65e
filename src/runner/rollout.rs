//! Rolling a play out in `serial` batches, as `ansible-playbook` does: the batch sizes (a count,
//! a percentage of the play's hosts, or a list of them whose last one repeats) and the failure
//! limits that stop the later batches and plays (`any_errors_fatal`, `max_fail_percentage`, and
//! Ansible's own rule: a batch whose every host failed or was unreachable ends the playbook).
//! Pure: it runs nothing and prints nothing; `cli/play.rs` runs the batches and reports the
//! warning.

use crate::playbook::{Play, Serial};
use crate::runner::pool::{HostOutcome, HostRun};

/// How many hosts one `serial` value takes out of a play of `total` hosts. A percentage is
/// truncated as Ansible's `pct_to_int` does it (`int((pct / 100.0) * total)`, floating point
/// included: 29% of 100 hosts is 28), and never below 1.
pub fn batch_size(serial: &Serial, total: usize) -> usize {
    match serial {
        Serial::Count(n) => (*n).max(1),
        Serial::Percent(p) => (((p / 100.0) * total as f64) as usize).max(1),
    }
}

/// The play's hosts in batches: one batch without `serial`; else one batch per value of the
/// list, the last value repeating until every host has had its turn. Percentages are of all
/// the play's hosts, not of those left.
pub fn batches(hosts: &[String], serial: &[Serial]) -> Vec<Vec<String>> {
    if serial.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = hosts;
    let mut k = 0;
    while !rest.is_empty() {
        let n = batch_size(&serial[k.min(serial.len() - 1)], hosts.len()).min(rest.len());
        let (batch, after) = rest.split_at(n);
        out.push(batch.to_vec());
        rest = after;
        k += 1;
    }
    out
}

/// The hosts of a finished batch that failed or were unreachable, in the batch's order.
pub fn failed_hosts(runs: &[HostRun]) -> Vec<String> {
    runs.iter()
        .filter(|r| {
            matches!(
                r.outcome,
                Some(HostOutcome::Failed) | Some(HostOutcome::Unreachable)
            )
        })
        .map(|r| r.host.clone())
        .collect()
}

/// When a play stops starting batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureLimits {
    /// `any_errors_fatal`: one failed host stops the rollout.
    pub any_errors_fatal: bool,
    /// `max_fail_percentage`: more than this share of a batch failing stops the rollout
    /// (exactly this share does not, as in Ansible).
    pub max_fail_percentage: Option<f64>,
}

/// What happens after a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// No later batch of this play starts, and the playbook's later plays do not run.
    pub stop: bool,
    /// Why, when `max_fail_percentage` was passed or the whole batch failed (for the run's
    /// warnings).
    pub warning: Option<String>,
}

impl FailureLimits {
    pub fn of(play: &Play) -> Self {
        FailureLimits {
            any_errors_fatal: play.any_errors_fatal,
            max_fail_percentage: play.max_fail_percentage,
        }
    }

    /// The verdict on batch `batch` (1-based) of `batches`, of `size` hosts of which `failed`
    /// failed or were unreachable. Whatever the limits, a batch whose every host failed stops
    /// the rollout and the playbook's later plays, as `ansible-playbook` does (its
    /// PlaybookExecutor breaks the play when the batch's failed and unreachable hosts are the
    /// whole batch; its output says "NO MORE HOSTS LEFT").
    pub fn after_batch(&self, batch: usize, batches: usize, size: usize, failed: usize) -> Verdict {
        let mut verdict = Verdict {
            stop: failed > 0 && self.any_errors_fatal,
            warning: None,
        };
        if let Some(maxp) = self.max_fail_percentage {
            if size > 0 && (failed as f64) * 100.0 / (size as f64) > maxp {
                verdict.warning = Some(format!(
                    "{failed} of {size} hosts failed in this batch (over max_fail_percentage {maxp}); stopping the rollout"
                ));
                verdict.stop = true;
            }
        }
        if size > 0 && failed >= size {
            let which = if batches > 1 {
                format!("batch {batch} of {batches} ({size} hosts)")
            } else {
                format!("this play ({size} hosts)")
            };
            verdict.warning = Some(format!(
                "NO MORE HOSTS LEFT: every host of {which} failed or was unreachable; \
no later batch and no later play runs"
            ));
            verdict.stop = true;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(n: usize, serial: &[Serial]) -> Vec<usize> {
        batches(&hosts(n), serial).iter().map(Vec::len).collect()
    }

    #[test]
    fn no_serial_is_one_batch_and_counts_cut_the_rest() {
        assert_eq!(sizes(5, &[]), [5]);
        assert_eq!(sizes(0, &[]), [0]);
        assert_eq!(sizes(5, &[Serial::Count(2)]), [2, 2, 1]);
        assert_eq!(sizes(2, &[Serial::Count(10)]), [2]);
        let b = batches(&hosts(3), &[Serial::Count(2)]);
        assert_eq!(b, [vec!["h1", "h2"], vec!["h3"]]);
    }

    #[test]
    fn a_list_is_used_in_order_and_its_last_value_repeats() {
        let s = [Serial::Count(1), Serial::Count(2), Serial::Percent(50.0)];
        // 1, 2, then 50% of all 10 hosts (5) while hosts remain.
        assert_eq!(sizes(10, &s), [1, 2, 5, 2]);
        assert_eq!(sizes(2, &s), [1, 1]);
    }

    #[test]
    fn percentages_truncate_as_ansible_and_take_at_least_one_host() {
        // Ansible: int((29 / 100.0) * 100) == 28 (0.29 * 100 is 28.999999999999996).
        assert_eq!(batch_size(&Serial::Percent(29.0), 100), 28);
        assert_eq!(batch_size(&Serial::Percent(57.0), 100), 56);
        assert_eq!(batch_size(&Serial::Percent(30.0), 10), 3);
        assert_eq!(batch_size(&Serial::Percent(33.0), 10), 3);
        assert_eq!(batch_size(&Serial::Percent(1.0), 10), 1);
        assert_eq!(batch_size(&Serial::Percent(100.0), 7), 7);
        assert_eq!(sizes(10, &[Serial::Percent(25.0)]), [2, 2, 2, 2, 2]);
        assert_eq!(sizes(3, &[Serial::Percent(50.0)]), [1, 1, 1]);
    }

    #[test]
    fn failure_limits_stop_the_rollout_only_past_their_threshold() {
        let none = FailureLimits {
            any_errors_fatal: false,
            max_fail_percentage: None,
        };
        assert!(!none.after_batch(1, 1, 4, 3).stop);
        let fatal = FailureLimits {
            any_errors_fatal: true,
            ..none
        };
        assert!(!fatal.after_batch(1, 1, 4, 0).stop);
        let v = fatal.after_batch(1, 1, 4, 1);
        assert!(v.stop && v.warning.is_none());
        let half = FailureLimits {
            max_fail_percentage: Some(50.0),
            ..none
        };
        // Exactly the limit goes on; more stops, with a warning naming the numbers.
        assert!(!half.after_batch(1, 1, 4, 2).stop);
        let v = half.after_batch(1, 1, 4, 3);
        assert!(v.stop);
        assert!(v.warning.unwrap().contains("3 of 4 hosts failed"));
        let zero = FailureLimits {
            max_fail_percentage: Some(0.0),
            ..none
        };
        assert!(!zero.after_batch(1, 1, 2, 0).stop);
        assert!(zero.after_batch(1, 1, 2, 1).stop);
        assert!(!zero.after_batch(1, 1, 0, 0).stop);
    }

    #[test]
    fn failed_and_unreachable_hosts_count_as_failed() {
        let run = |host: &str, outcome| HostRun {
            host: host.into(),
            outcome,
        };
        let runs = [
            run("h1", Some(HostOutcome::Ok)),
            run("h2", Some(HostOutcome::Failed)),
            run("h3", Some(HostOutcome::Unreachable)),
            run("h4", None),
        ];
        assert_eq!(failed_hosts(&runs), ["h2", "h3"]);
    }

    /// Ansible's PlaybookExecutor: failed + unreachable == len(batch) breaks the play, whatever
    /// the limits; one host left standing lets the rollout go on (unless a limit says stop).
    #[test]
    fn a_batch_whose_every_host_failed_stops_the_rollout_and_the_later_plays() {
        let none = FailureLimits {
            any_errors_fatal: false,
            max_fail_percentage: None,
        };
        let fatal = FailureLimits {
            any_errors_fatal: true,
            ..none
        };
        let most = FailureLimits {
            max_fail_percentage: Some(60.0),
            ..none
        };
        // (limits, size, failed, stop)
        let table = [
            (none, 1, 1, true),
            (none, 4, 4, true),
            (none, 4, 3, false),
            (none, 2, 1, false),
            (none, 4, 0, false),
            (none, 0, 0, false),
            (fatal, 4, 4, true),
            (fatal, 4, 3, true),
            (most, 4, 4, true),
            (most, 5, 3, false),
            (most, 4, 3, true),
        ];
        for (limits, size, failed, stop) in table {
            let v = limits.after_batch(2, 3, size, failed);
            assert_eq!(v.stop, stop, "{limits:?} {failed} of {size}");
            if size > 0 && failed == size {
                let w = v.warning.unwrap();
                assert!(w.starts_with("NO MORE HOSTS LEFT"), "{w}");
                assert!(w.contains(&format!("batch 2 of 3 ({size} hosts)")), "{w}");
            }
        }
        let w = none.after_batch(1, 1, 3, 3).warning.unwrap();
        assert!(
            w.contains("every host of this play (3 hosts) failed"),
            "{w}"
        );
    }
}
