//! Playbooks: the ordered, journaled steps that carry out a plan through the ports.

mod contain;
mod release;
mod revoke;
mod stop_idle;

pub use release::release;
pub use stop_idle::stop_refusal;

use crate::config::Config;
use crate::error::Result;
use crate::plan::{Decision, Plan};
use crate::ports::{Compute, Fleet, Notifier, StateStore};
use crate::report::{Outcome, Report};
use std::collections::BTreeSet;
use std::future::Future;

/// Tag keys Firebreak writes on a contained instance.
pub const QUARANTINE_TAG: &str = "firebreak:quarantined";
pub const ORIGINAL_GROUPS_TAG: &str = "firebreak:original-groups";

/// Everything a playbook acts through, built once per process.
pub struct Responder<C, F, N, S> {
    pub compute: C,
    pub fleet: F,
    pub notifier: N,
    pub state: S,
    pub config: Config,
}

impl<C: Compute, F: Fleet, N: Notifier, S: StateStore> Responder<C, F, N, S> {
    /// Carry out `plan`. `now` is the RFC 3339 time written into tags.
    ///
    /// `Err` only when the journal cannot be read (nothing was done: fail closed, retry the event);
    /// every other failure is an action outcome in the report.
    pub async fn respond(&self, plan: &Plan, now: &str) -> Result<Report> {
        let mut report = Report::new(plan);
        if plan.decision == Decision::Ignore {
            return Ok(report);
        }
        let journal = Journal { responder: self, key: &plan.incident_key, done: self.state.completed_steps(&plan.incident_key).await? };
        let mut notify = stop_idle::Notify::Yes;
        match plan.decision {
            Decision::Contain => contain::run(self, &journal, plan, now, &mut report).await,
            Decision::StopIdle => notify = stop_idle::run(self, &journal, plan, now, &mut report).await,
            Decision::Revoke => revoke::run(self, &journal, plan, now, &mut report).await,
            Decision::Notify | Decision::Ignore => {}
        }
        if let stop_idle::Notify::Suppress(why) = notify {
            report.push("notify", Outcome::skipped(why));
        } else if plan.has("notify") {
            let notification = crate::notify::render(&report, &plan.incident, false);
            let outcome = journal.step("notify", || async { self.notifier.publish(&notification).await.map(|()| Outcome::done("published")) }).await;
            report.push("notify", outcome);
        }
        Ok(report)
    }
}

/// The finished steps of one incident: a step already done is skipped, a step that succeeds is recorded.
pub(crate) struct Journal<'a, C, F, N, S> {
    responder: &'a Responder<C, F, N, S>,
    key: &'a str,
    done: BTreeSet<String>,
}

impl<C: Compute, F: Fleet, N: Notifier, S: StateStore> Journal<'_, C, F, N, S> {
    pub(crate) fn is_done(&self, step: &str) -> bool {
        self.done.contains(step)
    }

    pub(crate) async fn step<Fut>(&self, name: &'static str, run: impl FnOnce() -> Fut) -> Outcome
    where
        Fut: Future<Output = Result<Outcome>>,
    {
        if self.done.contains(name) {
            return Outcome::skipped("already done for this incident (journal)");
        }
        match run().await {
            Ok(outcome @ Outcome::Done { .. }) => match self.responder.state.record_step(self.key, name).await {
                Ok(()) => outcome,
                Err(e) => Outcome::failed(format!("done, but not recorded in the journal ({e}); a retry will check the world again")),
            },
            Ok(other) => other,
            Err(e) => Outcome::failed(e),
        }
    }
}
