//! What every step shares: the ports it acts through, what it knows when it runs, why it may be
//! refused, and the names and limits the executor and the steps both use.

use crate::clock::{Clock, Now};
use crate::config::Config;
use crate::incident::Origin;
use crate::plan::Plan;
use std::time::Duration;

/// Time kept back from the invocation's deadline so that the notification and the journal always get
/// written: one SDK operation at most (its timeout) plus margin.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(20);

/// Instances of one plan contained at the same time: two of an attack sequence's full group lists (25
/// each, GuardDuty's cap) in one wave. Each instance swaps each interface twice, so 50 instances of up
/// to two interfaces spend 200 `ModifyNetworkInterfaceAttribute` tokens, what EC2's per-API bucket for
/// a mutating action holds; the SDK's retries ride out whatever is throttled beyond that.
pub const INSTANCE_CONCURRENCY: usize = 50;

/// Tag keys Firebreak writes on a contained instance.
pub const QUARANTINE_TAG: &str = "firebreak:quarantined";
pub const ORIGINAL_GROUPS_TAG: &str = "firebreak:original-groups";

/// A containment group that was checked right before use.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedGroup {
    pub id: String,
    /// What the check found: "verified", "repaired (…)" or "created".
    pub how: String,
}

/// What a step acts through: its incident's account's EC2 and fleet, the home state table, the
/// configuration, the clock.
pub(crate) struct Ports<'a, C, F, S> {
    pub compute: C,
    pub fleet: F,
    pub state: &'a S,
    pub config: &'a Config,
    pub clock: &'a Clock,
    /// `<account>#<region>` of the incident: where its containment groups are recorded.
    pub scope: String,
    /// The containment groups checked so far in this run, per VPC; held while they are looked up or
    /// created, so that the instances of one plan share one pair per VPC, checked once.
    pub groups: tokio::sync::Mutex<std::collections::BTreeMap<String, (VerifiedGroup, VerifiedGroup)>>,
    /// Containment group records read beside the claim, by record key: each is used once, so a second
    /// look (after a race lost to another run) reads the table again.
    pub read_ahead: tokio::sync::Mutex<std::collections::BTreeMap<String, Option<String>>>,
    /// The role of each instance profile looked up in this run: the check before the cap and the step
    /// itself read IAM once.
    pub roles: tokio::sync::Mutex<std::collections::BTreeMap<String, Option<crate::ports::RoleFacts>>>,
    /// When the run started on the incident (the clock's reading): what time to isolation counts from.
    pub started: Duration,
    /// The receipt of each instance read back in this run, for the report.
    pub receipts: tokio::sync::Mutex<Vec<crate::receipt::Receipt>>,
    /// The instances of a fleet whose cut is not over yet (see [`Cuts`]).
    pub cuts: Cuts,
}

/// A fleet's cuts come before any of its evidence: each instance of a plan that acts on several enters
/// before its first step and leaves when its network phase is over (or it ends sooner); its evidence
/// waits until no instance that started is still cutting. Only network steps run before that, and
/// none of them waits on evidence, so the wait always ends.
#[derive(Default)]
pub(crate) struct Cuts {
    cutting: std::cell::Cell<usize>,
    over: tokio::sync::Notify,
}

/// One instance's place among the fleet's cuts, left when dropped.
pub(crate) struct Cutting<'a>(&'a Cuts);

impl Cuts {
    pub fn enter(&self) -> Cutting<'_> {
        self.cutting.set(self.cutting.get() + 1);
        Cutting(self)
    }

    /// Until every instance that entered has left.
    pub async fn all_over(&self) {
        loop {
            let over = self.over.notified();
            if self.cutting.get() == 0 {
                return;
            }
            over.await;
        }
    }
}

impl Drop for Cutting<'_> {
    fn drop(&mut self) {
        self.0.cutting.set(self.0.cutting.get() - 1);
        if self.0.cutting.get() == 0 {
            self.0.over.notify_waiters();
        }
    }
}

impl<C, F, S: crate::ports::StateStore> Ports<'_, C, F, S> {
    /// The containment group recorded under `key`: as read beside the claim, or read now.
    pub async fn group_record(&self, key: &str) -> crate::error::Result<Option<String>> {
        let read = self.read_ahead.lock().await.remove(key);
        match read {
            Some(record) => Ok(record),
            None => self.state.created_resource(key).await,
        }
    }
}

/// What a step knows when it runs.
pub(crate) struct StepContext<'a> {
    pub plan: &'a Plan,
    /// The plan's instance, described once before any step aimed at it.
    pub facts: Option<&'a crate::ports::InstanceFacts>,
    pub now: &'a Now,
    /// No earlier run ever claimed the incident: nothing of it can exist in the world yet.
    pub first_run: bool,
    /// Time left before the deadline reserve when the phase started.
    pub time_left: Option<Duration>,
}
/// Why a step is not run although the plan has it.
pub(crate) struct Refusal {
    pub reason: String,
    pub kind: RefusalKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// It would be wrong, and stays wrong (Auto Scaling, instance store, Spot protection).
    Final,
    /// A repeat of something already reported (the instance is already stopped): when every step is
    /// refused so, nobody is notified again.
    AlreadyDone,
    /// The exemption tag: it may be removed, so the incident stays open.
    Exempt,
}
/// The origin of a notice that concerns no incident.
pub(crate) fn nowhere() -> Origin {
    Origin { account: None, region: None }
}
