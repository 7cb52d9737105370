//! The journal of one incident: the steps finished by any run, so a retry resumes instead of
//! repeating; and the deadline every step is started (and evidence steps bounded) against.

use super::context::DEADLINE_RESERVE;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::incident::InstanceId;
use crate::plan::StepKind;
use crate::ports::StateStore;
use crate::report::Outcome;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

/// An entry of the journal, as persisted in the incident's `steps` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKey {
    /// The step is done.
    Step(StepKind),
    /// A slot of the blast-radius cap was taken for this incident.
    CapSlot,
    /// A notification went out while some step had failed; the run that completes the incident
    /// notifies once more.
    NotifyPartial,
    /// A notification said the incident stays open (held back, exempt): a run that finds it open
    /// again says nothing new (a sweep re-drives approved runs every few minutes).
    NotifyOpen,
}

impl JournalKey {
    /// The persisted name: a contract with every incident in flight, pinned by a test.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step(kind) => kind.journal_key(),
            Self::CapSlot => "cap_slot",
            Self::NotifyPartial => "notify-partial",
            Self::NotifyOpen => "notify-open",
        }
    }
}

pub(crate) struct Journal<'a, S> {
    state: &'a S,
    key: &'a str,
    done: BTreeSet<String>,
    first_run: bool,
    /// The invocation's deadline (epoch seconds): no step starts inside [`DEADLINE_RESERVE`] of it.
    deadline: u64,
    clock: &'a Clock,
    /// The instance this view of the journal is for, in a plan that acts on several: its entries are
    /// `<name>#<instance>`. A plan with one instance writes the bare names (the persisted contract).
    instance: Option<String>,
}

impl<'a, S: StateStore> Journal<'a, S> {
    pub(crate) fn new(
        state: &'a S,
        key: &'a str,
        first_run: bool,
        done: BTreeSet<String>,
        deadline: u64,
        clock: &'a Clock,
    ) -> Self {
        Self { state, key, done, first_run, deadline, clock, instance: None }
    }

    /// The view of the journal for one of several instances a plan acts on.
    pub(crate) fn for_instance(&self, instance: &InstanceId) -> Self {
        Self { done: self.done.clone(), instance: Some(instance.as_str().to_owned()), ..*self }
    }

    fn entry(&self, key: JournalKey) -> std::borrow::Cow<'static, str> {
        match &self.instance {
            Some(instance) => format!("{}#{instance}", key.as_str()).into(),
            None => key.as_str().into(),
        }
    }

    pub(crate) fn is_done(&self, key: JournalKey) -> bool {
        self.done.contains(self.entry(key).as_ref())
    }

    /// No earlier run ever claimed the incident. (A run that failed before journaling anything is
    /// not a first run: its effects may exist unrecorded.)
    pub(crate) fn first_run(&self) -> bool {
        self.first_run
    }

    /// Time left before the reserve, or `None` when the reserve is reached.
    pub(crate) fn time_left(&self) -> Option<Duration> {
        self.clock.until(self.deadline).checked_sub(DEADLINE_RESERVE).filter(|d| !d.is_zero())
    }

    /// Run a step unless the journal has it or the deadline is near, without recording it (the
    /// executor records it beside other work, off the critical path). Not bounded in time: a network
    /// step cancelled half-way could leave an interface on the allow-all group, so it bounds itself.
    pub(crate) async fn attempt<Fut>(&self, kind: StepKind, run: impl FnOnce() -> Fut) -> Outcome
    where
        Fut: Future<Output = Result<Outcome>>,
    {
        match self.startable(kind) {
            Some(refused) => refused,
            None => run().await.unwrap_or_else(Outcome::failed),
        }
    }

    /// Run a step that is safe to abandon half-way (evidence and blast control), bounded by the time
    /// left before the reserve, and record it when done.
    pub(crate) async fn bounded_step<Fut>(&self, kind: StepKind, run: impl FnOnce() -> Fut) -> Outcome
    where
        Fut: Future<Output = Result<Outcome>>,
    {
        if let Some(refused) = self.startable(kind) {
            return refused;
        }
        let left = self.time_left().unwrap_or_default();
        let outcome = match tokio::time::timeout(left, run()).await {
            Ok(result) => result.unwrap_or_else(Outcome::failed),
            Err(_) => Outcome::failed(Error::Deadline(format!(
                "not finished within the {}s left before the invocation deadline; the event will be retried",
                left.as_secs()
            ))),
        };
        self.record(kind, outcome).await
    }

    /// `Some(outcome)` when the step must not start: already done, or the deadline is near.
    fn startable(&self, kind: StepKind) -> Option<Outcome> {
        if self.is_done(JournalKey::Step(kind)) {
            return Some(Outcome::skipped("already done for this incident (journal)"));
        }
        self.time_left().is_none().then(|| {
            Outcome::failed(Error::Deadline(
                "not started: the invocation deadline is near; the event will be retried".into(),
            ))
        })
    }

    /// Record a done step; a step done but not recorded is reported as failed, so the retry
    /// checks the world again.
    pub(crate) async fn record(&self, kind: StepKind, outcome: Outcome) -> Outcome {
        if !outcome.is_done() {
            return outcome;
        }
        match self.record_key(JournalKey::Step(kind)).await {
            Ok(()) => outcome,
            Err(e) => Outcome::failed(Error::State(format!(
                "done, but not recorded in the journal ({e}); a retry will check the world again"
            ))),
        }
    }

    pub(crate) async fn record_key(&self, key: JournalKey) -> Result<()> {
        self.state.record_step(self.key, &self.entry(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_persisted_journal_name_is_the_one_the_previous_release_wrote() {
        let mut names: Vec<&str> = StepKind::ALL.iter().map(|k| JournalKey::Step(*k).as_str()).collect();
        names.extend([
            JournalKey::CapSlot.as_str(),
            JournalKey::NotifyPartial.as_str(),
            JournalKey::NotifyOpen.as_str(),
        ]);
        assert_eq!(
            names,
            [
                "isolate_instance",
                "protect_instance",
                "detach_from_auto_scaling_group",
                "deregister_from_target_groups",
                "snapshot_volumes",
                "tag_instance",
                "stop_instance",
                "revoke_security_group_ingress",
                "stop_ecs_task",
                "revoke_instance_credentials",
                "revoke_role_sessions",
                "deactivate_access_key",
                "block_domain",
                "scan_for_malware",
                "record_scan_result",
                "update_security_hub_finding",
                "verify_containment",
                "notify",
                "cap_slot",
                "notify-partial",
                "notify-open"
            ]
        );
    }
}
