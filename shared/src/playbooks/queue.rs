//! The sweep of the held-back queue (`crate::held`): every containment the blast-radius cap held back
//! is run again, the most severe first, through the same executor (claim, GuardDuty's confirmation,
//! journal), as soon as the window allows; one that waits past a whole window is told once, CRITICAL.

use super::approval::Redrive;
use super::context::DEADLINE_RESERVE;
use super::executor::Responder;
use crate::clock::{Clock, Now};
use crate::error::Result;
use crate::held::HeldContainment;
use crate::plan::Plan;
use crate::ports::{Notifier, StateStore, Targets};
use std::collections::BTreeSet;

/// A run the sweep starts needs at least this long before the deadline: the claim, GuardDuty's
/// answer, the cut and the notification, each retried a few times.
const RUN_NEEDS_SECONDS: u64 = 60;

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Run the queue of held-back containments, the most severe first, under claims that last until
    /// `lease_until`. Once the cap holds one back again, the rest of its account's findings that may
    /// take no more of the cap wait for the next sweep without a run. What is left when the deadline
    /// nears is the next sweep's.
    pub async fn drain_held(&self, clock: &Clock, lease_until: u64) -> Result<Vec<Redrive>> {
        let mut queue = self.state.held_containments().await?;
        crate::held::sweep_order(&mut queue);
        // The (account, severe) classes the cap holds back in this window, as the runs found them.
        let mut full: BTreeSet<(String, bool)> = BTreeSet::new();
        let mut swept = Vec::with_capacity(queue.len());
        for held in queue {
            let plan = match self.held_plan(&held) {
                Ok(plan) => plan,
                Err(why) => {
                    tracing::warn!(target: "firebreak::held", key = held.incident_key, why, "queued containment dropped");
                    self.state.unhold(&held.incident_key).await?;
                    swept.push(Redrive { key: held.incident_key, outcome: why });
                    continue;
                }
            };
            let (ran, outcome) = Box::pin(self.run_held(&held, &plan, &mut full, clock, lease_until)).await?;
            if !ran && held.overdue_untold(clock.now().epoch) {
                self.tell_overdue(&plan, &held, clock.now()).await?;
            }
            crate::decision_log::log_sweep(&held.incident_key, &outcome);
            swept.push(Redrive { key: held.incident_key, outcome });
        }
        Ok(swept)
    }

    /// Run one queued containment unless its account's cap is known to be reached or the sweep's time is
    /// up; `(true, …)` when it ran and is off the queue. A run the cap holds back again marks its class
    /// in `full`.
    async fn run_held(
        &self,
        held: &HeldContainment,
        plan: &Plan,
        full: &mut BTreeSet<(String, bool)>,
        clock: &Clock,
        lease_until: u64,
    ) -> Result<(bool, String)> {
        let waits = full.contains(&(held.account.clone(), true))
            || (!held.severe() && full.contains(&(held.account.clone(), false)));
        if waits {
            return Ok((
                false,
                "held back: its account's cap is still reached in this window; it waits for the next".into(),
            ));
        }
        if clock.now().epoch + DEADLINE_RESERVE.as_secs() + RUN_NEEDS_SECONDS >= lease_until {
            return Ok((false, "not run: this sweep's time is up; the next sweep runs it".into()));
        }
        // Boxed: the executor's future is large.
        Ok(match Box::pin(self.respond(plan, clock, lease_until)).await {
            Ok(report) if report.timings.held_back => {
                full.insert((held.account.clone(), held.severe()));
                (false, "held back again by the blast-radius cap; it stays queued".to_owned())
            }
            Ok(report) if !report.failures().is_empty() => {
                (false, "ran, with failures: it stays queued and the next sweep resumes it".to_owned())
            }
            Ok(report) => {
                self.state.unhold(&held.incident_key).await?;
                (true, format!("ran: {}", report.summary))
            }
            Err(e) => (false, format!("not run now ({e}); the next sweep tries again")),
        })
    }

    /// The plan of a queued containment, decided again from GuardDuty's copy it keeps (the run then asks
    /// GuardDuty once more); or why it is dropped.
    fn held_plan(&self, held: &HeldContainment) -> std::result::Result<Plan, String> {
        let event: serde_json::Value = serde_json::from_str(&held.event)
            .map_err(|e| format!("dropped: the queued event of {} is not JSON ({e})", held.incident_key))?;
        let mut incidents = crate::parse_value(event)
            .map_err(|e| format!("dropped: the queued event of {} is refused ({e})", held.incident_key))?;
        let (Some(incident), true) = (incidents.pop(), incidents.is_empty()) else {
            return Err(format!("dropped: the queued event of {} is not one finding", held.incident_key));
        };
        let plan = crate::decide(&incident, &self.config.policy);
        if plan.incident_key != held.incident_key {
            return Err(format!(
                "dropped: the queued event of {} is about {}: nothing is done",
                held.incident_key, plan.incident_key
            ));
        }
        Ok(plan)
    }

    /// Tell a person, once, that a containment has waited a whole window: CRITICAL, naming what holds it.
    async fn tell_overdue(&self, plan: &Plan, held: &HeldContainment, now: Now) -> Result<()> {
        let notice = crate::notify::held_overdue(held, &now, self.config.max_containments_per_hour);
        let notification = crate::notify::render(&notice, &plan.incident.origin, None, self.rendering());
        match self.notifier.publish(&notification).await {
            // Told first, noted after: a lost note tells again, never not at all.
            Ok(()) => {
                self.state.note_held_overdue(&held.incident_key).await?;
            }
            Err(e) => {
                tracing::error!(target: "firebreak::held", key = held.incident_key, error = %e, "overdue notice failed")
            }
        }
        Ok(())
    }
}
