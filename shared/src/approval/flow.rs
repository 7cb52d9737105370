//! Answering a request for approval, and closing the ones nobody answered: each a conditional write on
//! the request first (single use), then the same executor as an automatic containment, or one
//! notification that nothing was done.

use super::{ApprovalRequest, ApprovalStatus, Approver, Verdict};
use crate::clock::{Clock, Now};
use crate::error::Result;
use crate::playbooks::Responder;
use crate::ports::{Notifier, StateStore, Targets};
use crate::report::{Outcome, Report};

/// How an answer ended.
#[derive(Debug)]
pub enum Answer {
    /// Approved (for an operator's resume: approved already): the containment is to run now, by
    /// [`Responder::run_approved`] where the answer was taken or in the function that may contain.
    Approved,
    /// Denied: nothing was done, a person was told.
    Denied(Report),
    /// Nothing changed, and why (already answered, expired, unknown incident, policy no longer contains).
    Refused(String),
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Answer the request for approval of incident `key` with `verdict`, as `by`. A request is answered
    /// once: the answer is a conditional write, and only its winner acts. `resume`: an operator's
    /// `firebreak approve` of an already approved request is approved again, so that its plan runs
    /// again and the journal resumes it where it stopped (a link is never honoured twice).
    pub async fn answer(
        &self,
        key: &str,
        verdict: Verdict,
        by: Approver,
        clock: &Clock,
        resume: bool,
    ) -> Result<Answer> {
        let now = clock.now();
        let Some(request) = self.state.approval(key).await? else {
            return Ok(Answer::Refused(format!("there is no request for approval of incident {key}")));
        };
        let resuming = resume && verdict == Verdict::Approve && request.status == ApprovalStatus::Approved;
        if request.status != ApprovalStatus::Pending && !resuming {
            return Ok(Answer::Refused(already(&request)));
        }
        if request.status == ApprovalStatus::Pending && now.epoch >= request.deadline {
            return Ok(Answer::Refused(format!(
                "the request expired at {}: nothing was done; a new finding asks again",
                Now::at(request.deadline).rfc3339
            )));
        }
        // Decided before the write: a plan that cannot run leaves the request as it was.
        let plan = match request.plan(&self.config.policy) {
            Ok(plan) => plan,
            Err(e) => return Ok(Answer::Refused(e.to_string())),
        };
        if !resuming && !self.state.settle_approval(key, verdict.status(), &by, now.epoch).await? {
            let current = self.state.approval(key).await?.unwrap_or(request);
            return Ok(Answer::Refused(already(&current)));
        }
        match verdict {
            Verdict::Approve => Ok(Answer::Approved),
            Verdict::Deny => {
                let why = format!("denied by a person ({}): nothing was done", by.describe());
                Ok(Answer::Denied(self.closed(&plan, &request, "Denied", why).await))
            }
        }
    }

    /// Run the containment of incident `key`, which the state table must hold as approved: decided
    /// again from its stored event, under a claim of its own (`approved#<key>`) whose journal makes a
    /// second run resume, not repeat. `Ok(Err(why))` when there is nothing approved to run.
    pub async fn run_approved(
        &self,
        key: &str,
        clock: &Clock,
        lease_until: u64,
    ) -> Result<std::result::Result<Report, String>> {
        let Some(request) = self.state.approval(key).await? else {
            return Ok(Err(format!("there is no request for approval of incident {key}")));
        };
        let (ApprovalStatus::Approved, Some(by)) = (request.status, request.decided.as_ref()) else {
            return Ok(Err(format!("the request for approval of {key} is {}, not approved", request.status.as_str())));
        };
        let plan = match request.plan(&self.config.policy) {
            Ok(plan) => super::approved(plan, by),
            Err(e) => return Ok(Err(e.to_string())),
        };
        crate::decision_log::log_decision(&plan);
        let report = self.respond(&plan, clock, lease_until).await?;
        crate::decision_log::log_report(&report);
        Ok(Ok(report))
    }

    /// Close every pending request whose deadline has passed and tell a person that nothing was done.
    /// Run on a schedule by the approval function; a request answered meanwhile is left alone.
    pub async fn expire_overdue(&self, clock: &Clock) -> Result<Vec<Report>> {
        let now = clock.now();
        let mut closed = Vec::new();
        for request in self.state.overdue_approvals(now.epoch).await? {
            let by =
                Approver { via: super::Via::Deadline, source_ip: None, user_agent: None, user: None, at: now.epoch };
            if !self.state.settle_approval(&request.key, ApprovalStatus::Expired, &by, now.epoch).await? {
                continue;
            }
            let why = format!(
                "nobody approved before the deadline {}: nothing was done; a new finding asks again",
                Now::at(request.deadline).rfc3339
            );
            match request.plan(&self.config.policy) {
                Ok(plan) => closed.push(self.closed(&plan, &request, "Expired", why).await),
                Err(e) => {
                    tracing::warn!(target: "firebreak::approval", key = request.key, error = %e, "expired request not notified")
                }
            }
        }
        Ok(closed)
    }

    /// The report and notification of a request closed without acting.
    async fn closed(&self, plan: &crate::Plan, request: &ApprovalRequest, how: &str, why: String) -> Report {
        let mut report = Report::new(plan);
        report.incident_key = request.key.clone();
        report.decision = crate::plan::Decision::AwaitApproval;
        report.summary = format!("{how}: {}", request.summary);
        report.reasons.insert(0, why.clone());
        let multi = plan.instances().len() > 1;
        for step in plan.acting_steps() {
            report.push(step.name(), Outcome::skipped(why.clone()));
            if let (true, Some(id), Some(last)) = (multi, step.instance_id(), report.actions.last_mut()) {
                last.target = Some(id.to_string());
            }
        }
        let notification =
            crate::notify::render(&report, &plan.incident.origin, Some(&plan.incident), self.rendering());
        let outcome =
            self.notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published"));
        report.push(crate::plan::StepKind::Notify.name(), outcome);
        crate::decision_log::log_report(&report);
        report
    }
}

fn already(request: &ApprovalRequest) -> String {
    let by = request.decided.as_ref().map(|b| format!(" ({})", b.describe())).unwrap_or_default();
    format!("this request was already {}{by}: nothing was done now", request.status.as_str())
}
