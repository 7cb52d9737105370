//! Playbooks: the ordered, journaled steps that carry out a plan through the ports, behind the safety
//! rails: one claim per incident, a blast-radius cap that fails closed, dry run.

mod contain;
mod release;
mod revoke;
mod stop_idle;

pub use release::release;
pub use stop_idle::stop_refusal;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::plan::{Decision, Plan};
use crate::ports::{Claim, Compute, Fleet, Notification, Notifier, StateStore, Targets};
use crate::report::{Outcome, Report};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

/// Time kept back from the invocation's deadline so that the notification and the journal always get
/// written: one SDK operation at most (its timeout) plus margin.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(20);

/// Seconds since the epoch, for deadline checks.
fn epoch_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Tag keys Firebreak writes on a contained instance.
pub const QUARANTINE_TAG: &str = "firebreak:quarantined";
pub const ORIGINAL_GROUPS_TAG: &str = "firebreak:original-groups";

/// The moment a run works in: RFC 3339 for tags, epoch seconds for leases and TTLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    pub rfc3339: String,
    pub epoch: u64,
}

impl Now {
    /// The cap window: the UTC hour, e.g. `2026-11-24T06`.
    pub fn hour(&self) -> &str {
        self.rfc3339.get(..13).unwrap_or(&self.rfc3339)
    }
}

/// Everything a playbook acts through, built once per process: where to act (per account and
/// region), and the home account's notifier, state and configuration.
pub struct Responder<T, N, S> {
    pub targets: T,
    pub notifier: N,
    pub state: S,
    pub config: Config,
}

/// What one incident's playbook acts through: its account's EC2 and fleet, the home notifier and state.
pub(crate) struct Run<'a, C, F, N, S> {
    pub compute: C,
    pub fleet: F,
    pub notifier: &'a N,
    pub state: &'a S,
    pub config: &'a Config,
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Carry out `plan`, holding the incident's claim until `lease_until` (epoch seconds: the
    /// function's deadline).
    ///
    /// `Err` when the state table cannot be used (nothing destructive was done: fail closed, and a
    /// notification says so) or when another run holds the incident; both are worth a retry. Every
    /// other failure is an action outcome in the report.
    pub async fn respond(&self, plan: &Plan, now: &Now, lease_until: u64) -> Result<Report> {
        let mut report = Report::new(plan);
        if plan.decision == Decision::Ignore {
            return Ok(report);
        }
        // Dry runs keep their own claims, so that switching dry run off later still acts.
        let key =
            if self.config.dry_run { format!("dry-run#{}", plan.incident_key) } else { plan.incident_key.clone() };
        let (first_run, done) = match self.state.claim(&key, lease_until, now.epoch).await {
            Ok(Claim::Claimed { first, done }) => (first, done),
            Ok(Claim::AlreadyDone) => {
                for action in &plan.actions {
                    report.push(
                        action.action.name(),
                        Outcome::skipped("already handled: this incident was completed by an earlier delivery"),
                    );
                }
                return Ok(report);
            }
            Ok(Claim::HeldElsewhere { lease_until }) => {
                return Err(Error::State(format!(
                    "{key} is being handled by another run until {lease_until}; retry later"
                )));
            }
            Err(e) => return Err(self.fail_closed(plan, e).await),
        };
        let journal = Journal { state: &self.state, key: &key, first_run, done, deadline: lease_until };
        let ran = match plan.decision {
            Decision::Notify | Decision::Ignore => Ok(stop_idle::Notify::Yes),
            acting => match self
                .targets
                .target(plan.incident.origin.account.as_ref(), plan.incident.origin.region.as_ref())
                .await
            {
                Err(e) => {
                    // Nothing can be done in that account; say so precisely, notify, retry later.
                    for action in plan.actions.iter().filter(|a| a.action.name() != "notify") {
                        report.push(action.action.name(), Outcome::failed(&e));
                    }
                    Ok(stop_idle::Notify::Yes)
                }
                Ok((compute, fleet)) => {
                    let run =
                        Run { compute, fleet, notifier: &self.notifier, state: &self.state, config: &self.config };
                    match acting {
                        Decision::Contain => {
                            contain::run(&run, &journal, plan, now, &mut report).await.map(|()| stop_idle::Notify::Yes)
                        }
                        Decision::StopIdle => stop_idle::run(&run, &journal, plan, now, &mut report).await,
                        _ => {
                            revoke::run(&run, &journal, plan, &now.rfc3339, &mut report).await;
                            Ok(stop_idle::Notify::Yes)
                        }
                    }
                }
            },
        };
        let notify = match ran {
            Ok(notify) => notify,
            Err(e) => {
                let _ = self.state.finish(&key, false, None).await;
                return Err(self.fail_closed(plan, e).await);
            }
        };
        if self.config.dry_run {
            report.actions.iter_mut().for_each(|a| a.outcome = dry_run_outcome(&a.outcome));
        }
        if let stop_idle::Notify::Suppress(why) = notify {
            report.push("notify", Outcome::skipped(why));
        }
        let mut notified = None;
        if plan.has("notify") && report.outcome_of("notify").is_none() {
            // A run with failed steps notifies once ("notify-partial"); the retry that completes the
            // incident notifies again with the final outcomes. Never more than those two.
            let step = if report.failures().is_empty() { "notify" } else { "notify-partial" };
            let outcome = if journal.is_done("notify") {
                Outcome::skipped("already done for this incident (journal)")
            } else {
                let notification = crate::notify::render(&report, &plan.incident, self.rendering());
                journal
                    .attempt(step, || async {
                        self.notifier.publish(&notification).await.map(|()| Outcome::done("published"))
                    })
                    .await
            };
            // Recorded by `finish` below, in the same write.
            notified = outcome.is_done().then_some(step);
            report.push("notify", outcome);
        }
        let complete = report.failures().is_empty();
        if let Err(e) = self.state.finish(&key, complete, notified).await {
            // The effects stand and are journaled; the claim expires at the lease end and the retry
            // finds every step but the notification done, so at worst it notifies once more.
            tracing::warn!(target: "firebreak::state", key, error = %e, "claim not finished");
        }
        Ok(report)
    }

    fn rendering(&self) -> crate::notify::Rendering {
        crate::notify::Rendering { dry_run: self.config.dry_run, chatbot: self.config.chatbot }
    }

    /// The state table failed: act on nothing, tell a person, return the error for a retry.
    async fn fail_closed(&self, plan: &Plan, error: Error) -> Error {
        let error = match error {
            Error::State(_) => error,
            other => Error::State(other.to_string()),
        };
        let mut report = Report::new(plan);
        for action in plan.actions.iter().filter(|a| a.action.name() != "notify") {
            report.push(
                action.action.name(),
                Outcome::skipped(format!(
                    "held back: the state table is unavailable ({error}); failing closed, the event will be retried"
                )),
            );
        }
        let notification = crate::notify::render(&report, &plan.incident, self.rendering());
        if let Err(e) = self.notifier.publish(&notification).await {
            tracing::error!(target: "firebreak::state", error = %e, "fail-closed notification failed");
        }
        error
    }
}

impl<C: Compute, F: Fleet, N: Notifier, S: StateStore> Run<'_, C, F, N, S> {
    /// The blast-radius cap, called by a playbook right before its destructive write: `Ok(None)` to
    /// go on, `Ok(Some(why))` when held back, `Err` when the cap cannot be checked (fail closed).
    pub(crate) async fn cap_gate(&self, plan: &Plan, now: &Now, journal: &Journal<'_, S>) -> Result<Option<String>> {
        let Some(destructive) = plan.actions.iter().find(|a| a.action.is_destructive()) else { return Ok(None) };
        if self.config.dry_run || journal.is_done("cap_slot") || journal.is_done(destructive.action.name()) {
            return Ok(None);
        }
        let account = plan.incident.origin.account.as_ref().map_or("unknown", |a| a.as_str());
        let max = self.config.max_containments_per_hour;
        if self.state.take_cap_slot(account, now.hour(), max).await? {
            self.state.record_step(journal.key, "cap_slot").await?;
            return Ok(None);
        }
        if self.state.open_circuit(account, now.hour()).await? {
            self.circuit_open_notice(account, now, max).await;
        }
        Ok(Some(format!(
            "held back: the blast-radius cap of {max} destructive action(s) per hour in account {account} is reached (FIREBREAK_MAX_CONTAINMENTS_PER_HOUR)"
        )))
    }

    async fn circuit_open_notice(&self, account: &str, now: &Now, max: u32) {
        let subject = format!("[CRITICAL] Firebreak circuit open in {account}: containment cap of {max}/hour reached");
        let notice = Notification {
            sms: subject.clone(),
            chat: None,
            subject,
            text: format!(
                "Firebreak took {max} destructive action(s) in account {account} during {}:00 UTC and holds back every further one \
                 until the hour ends. Each held-back incident is still notified. A flood of findings may be an attack on the \
                 responder itself, a misconfigured detector, or sample findings: look before raising FIREBREAK_MAX_CONTAINMENTS_PER_HOUR.",
                now.hour()
            ),
            json: serde_json::json!({"schema": "firebreak.circuit/v1", "account": account, "window": now.hour(), "cap": max}).to_string(),
            attributes: BTreeMap::from([
                ("kind".to_owned(), "circuit".to_owned()),
                ("severity".to_owned(), "CRITICAL".to_owned()),
                ("account".to_owned(), account.to_owned()),
                ("action".to_owned(), "held".to_owned()),
                ("dry_run".to_owned(), "false".to_owned()),
            ]),
        };
        if let Err(e) = self.notifier.publish(&notice).await {
            tracing::error!(target: "firebreak::state", error = %e, "circuit-open notification failed");
        }
    }
}

/// In a dry run nothing is done: a successful DryRun call proves the permission and is reported as
/// "would have".
fn dry_run_outcome(outcome: &Outcome) -> Outcome {
    match outcome {
        Outcome::Done { detail } => Outcome::skipped(format!("dry run: would have done this: {detail}")),
        other => other.clone(),
    }
}

/// The finished steps of one incident: a step already done is skipped, a step that succeeds is recorded.
pub(crate) struct Journal<'a, S> {
    state: &'a S,
    key: &'a str,
    done: BTreeSet<String>,
    /// No earlier run ever claimed the incident: nothing of it can exist in the world yet. (A run that
    /// failed before journaling anything is not a first run: its effects may exist unrecorded.)
    pub(crate) first_run: bool,
    /// The invocation's deadline (epoch seconds): no step starts inside [`DEADLINE_RESERVE`] of it.
    deadline: u64,
}

impl<S: StateStore> Journal<'_, S> {
    pub(crate) fn is_done(&self, step: &str) -> bool {
        self.done.contains(step)
    }

    /// Time left before the reserve, or `None` when the reserve is reached.
    pub(crate) fn time_left(&self) -> Option<Duration> {
        let left = self.deadline.saturating_sub(epoch_now());
        Duration::from_secs(left).checked_sub(DEADLINE_RESERVE).filter(|d| !d.is_zero())
    }

    /// Run a step and record it in the journal when it is done.
    pub(crate) async fn step<Fut>(&self, name: &'static str, run: impl FnOnce() -> Fut) -> Outcome
    where
        Fut: Future<Output = Result<Outcome>>,
    {
        let outcome = self.attempt(name, run).await;
        if outcome.is_done() {
            self.recorded(name, outcome).await
        } else {
            outcome
        }
    }

    /// Run a step unless the journal has it or the deadline is near, without recording it: the
    /// caller records it alongside other work, off the critical path.
    pub(crate) async fn attempt<Fut>(&self, name: &'static str, run: impl FnOnce() -> Fut) -> Outcome
    where
        Fut: Future<Output = Result<Outcome>>,
    {
        if self.done.contains(name) {
            return Outcome::skipped("already done for this incident (journal)");
        }
        // Notifying is what the reserve is kept for.
        if !name.starts_with("notify") && self.time_left().is_none() {
            return Outcome::failed("not started: the invocation deadline is near; the event will be retried");
        }
        run().await.unwrap_or_else(Outcome::failed)
    }

    /// Record a done step; a step done but not recorded is reported as such, so the retry rechecks it.
    pub(crate) async fn recorded(&self, name: &'static str, outcome: Outcome) -> Outcome {
        match self.state.record_step(self.key, name).await {
            Ok(()) => outcome,
            Err(e) => Outcome::failed(format!(
                "done, but not recorded in the journal ({e}); a retry will check the world again"
            )),
        }
    }
}
