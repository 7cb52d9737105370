//! The queue of containments the blast-radius cap held back. A held-back containment is not forgotten:
//! GuardDuty re-publishes a finding at most every 6 hours by default, and only when its activity recurs,
//! so waiting for a redelivery would let five throwaway findings an hour keep the real one free. The
//! run that is held back queues GuardDuty's own copy of the finding; the schedule's sweep (or
//! `firebreak sweep`) runs the queue again, highest severity first, as soon as the window allows, and
//! GuardDuty is asked again before anything is done. Pure: the state store keeps the items, the
//! executor runs them.

/// GuardDuty's severity from which a finding may take the share of the cap kept for severe ones.
pub const SEVERE: f64 = 8.0;

/// How long a containment may wait in the queue before a person is told, once, that it still waits:
/// one whole window of the cap.
pub const OVERDUE_AFTER_SECONDS: u64 = 3600;

/// How long a queued containment is kept when nothing runs it (the state table's TTL): a finding
/// GuardDuty no longer confirms, or an account whose cap never frees, is not retried forever.
pub const KEPT_SECONDS: u64 = 7 * 24 * 3600;

/// One containment the cap held back, as queued (`held#<incident key>`).
#[derive(Debug, Clone, PartialEq)]
pub struct HeldContainment {
    pub incident_key: String,
    /// GuardDuty's own copy of the finding, as an EventBridge `GuardDuty Finding` event: the sweep
    /// decides from it, then asks GuardDuty again.
    pub event: String,
    /// GuardDuty's severity of the finding when it was held back: the queue's order.
    pub severity: f64,
    /// The account whose cap holds it.
    pub account: String,
    /// When it was first held back (epoch seconds).
    pub held_at: u64,
    /// What holds it, in words, for the notification.
    pub why: String,
    /// A person was told that it waited past one window.
    pub overdue_told: bool,
}

impl HeldContainment {
    /// Whether it has waited a whole window and nobody has been told yet.
    pub fn overdue_untold(&self, now: u64) -> bool {
        !self.overdue_told && now >= self.held_at.saturating_add(OVERDUE_AFTER_SECONDS)
    }

    pub fn severe(&self) -> bool {
        self.severity >= SEVERE
    }
}

/// The order the sweep runs the queue in: the most severe first, then the longest waiting, then by key
/// (a total order, so two sweeps agree).
pub fn sweep_order(queue: &mut [HeldContainment]) {
    queue.sort_by(|a, b| {
        b.severity.total_cmp(&a.severity).then(a.held_at.cmp(&b.held_at)).then(a.incident_key.cmp(&b.incident_key))
    });
}

/// How many containments of the hour a finding of `severity` may take under a cap of `max` of which
/// `reserved` are kept for severe findings (a reserve larger than the cap keeps all of it).
pub fn cap_for(severity: f64, max: u32, reserved: u32) -> u32 {
    if severity >= SEVERE {
        max
    } else {
        max.saturating_sub(reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(key: &str, severity: f64, held_at: u64) -> HeldContainment {
        HeldContainment {
            incident_key: key.into(),
            event: "{}".into(),
            severity,
            account: "123456789012".into(),
            held_at,
            why: "the cap".into(),
            overdue_told: false,
        }
    }

    #[test]
    fn the_most_severe_runs_first_then_the_longest_waiting() {
        let mut queue = vec![held("a", 5.0, 10), held("b", 8.5, 30), held("c", 8.5, 20), held("d", 9.1, 40)];
        sweep_order(&mut queue);
        let keys: Vec<&str> = queue.iter().map(|h| h.incident_key.as_str()).collect();
        assert_eq!(keys, ["d", "c", "b", "a"]);
    }

    #[test]
    fn a_share_of_the_cap_is_kept_for_severe_findings() {
        assert_eq!(cap_for(8.0, 5, 2), 5);
        assert_eq!(cap_for(7.9, 5, 2), 3);
        assert_eq!(cap_for(7.9, 5, 0), 5);
        assert_eq!(cap_for(5.0, 1, 2), 0, "a reserve larger than the cap keeps all of it");
    }

    #[test]
    fn a_containment_is_overdue_after_one_window_and_told_once() {
        let mut h = held("a", 8.0, 1_000);
        assert!(!h.overdue_untold(1_000 + OVERDUE_AFTER_SECONDS - 1));
        assert!(h.overdue_untold(1_000 + OVERDUE_AFTER_SECONDS));
        h.overdue_told = true;
        assert!(!h.overdue_untold(1_000 + 10 * OVERDUE_AFTER_SECONDS));
    }
}
