//! The executor: one wrapper that runs any plan's steps phase by phase through the ports, and owns
//! what every step shares: the claim and journal, the blast-radius cap, the deadline, dry run, the
//! clock and the one notification. The modules beside it hold only what is specific to a step.

use super::context::{Cuts, Cutting, Ports, RefusalKind, StepContext, INSTANCE_CONCURRENCY};
use super::journal::{Journal, JournalKey};
use super::{contain, steps};
use crate::clock::{Clock, Now};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::incident::{IncidentKind, InstanceId};
use crate::notify::Rendering;
use crate::plan::{Cap, Decision, Phase, Plan, Step, StepKind};
use crate::ports::{
    Claim, Compute, ContainmentGroup, Fleet, InstanceFacts, Notifier, OriginalGroups, StateStore, Targets,
};
use crate::report::{ActionReport, Outcome, Report};
use futures::future::{join, join_all};
use futures::StreamExt;
use std::collections::BTreeMap;

/// Everything a plan is executed through, built once per process: where to act (per account and
/// region), and the home account's notifier, state and configuration.
pub struct Responder<T, N, S> {
    pub targets: T,
    pub notifier: N,
    pub state: S,
    pub config: Config,
    /// Signs the links of a request for approval; `None` where no rule asks for approval.
    pub approvals: Option<crate::approval::Signer>,
    /// Where the sweep sends the approved runs this function may not run itself (idle stops, from the
    /// GuardDuty responder to the alarm responder); `None`: every approved run runs here.
    pub handoff: Option<Box<dyn crate::ports::HandOff>>,
}

/// At most this many of the VPCs a delivered finding names have their group records read ahead: an
/// instance's interfaces share one VPC unless it has multi-VPC interfaces, and a forged payload naming
/// thousands must not turn into thousands of table reads before anything is confirmed.
const READ_AHEAD_VPCS: usize = 4;

/// The instances of a plan as read beside the claim.
enum Read {
    One(Box<ReadInstance>),
    /// The instances of a plan that acts on several, described in one call: those of `asked` missing
    /// from `found` do not exist. `groups` is the Auto Scaling group of each that is in one, when that could be read; `quarantines`
    /// the quarantine record of each, when the plan isolates them.
    Fleet {
        asked: Vec<InstanceId>,
        found: BTreeMap<InstanceId, InstanceFacts>,
        groups: Option<BTreeMap<InstanceId, String>>,
        quarantines: BTreeMap<InstanceId, Result<Option<OriginalGroups>>>,
    },
}

/// What was read about one instance of a plan beside the claim.
struct ReadInstance {
    described: Result<Option<InstanceFacts>>,
    /// Its recorded original groups (the quarantine record), read when the plan isolates it.
    quarantine: Option<Result<Option<OriginalGroups>>>,
    /// The containment group records of the VPCs the finding names, by record key.
    group_records: BTreeMap<String, Option<String>>,
    /// Its Auto Scaling group (`None` inside when in none), when it was read with the fleet's.
    auto_scaling_group: Option<Result<Option<String>>>,
}

/// How the acting steps ended, for the notification and the claim.
enum Ending {
    /// The incident is handled (whatever the outcomes): a redelivery changes nothing.
    Finished,
    /// Nothing ran and nothing new happened (already stopped): nobody is told again.
    Quiet(String),
    /// Not acted on for a reason that can pass (an exemption, no confirmation yet): a redelivery acts.
    Open(String),
    /// Held back by the blast-radius cap: queued, and the sweep acts once the cap allows.
    Held(String),
}

impl Ending {
    /// Why the incident stays open, when it does.
    fn open_because(&self) -> Option<&str> {
        match self {
            Self::Open(why) | Self::Held(why) => Some(why),
            Self::Finished | Self::Quiet(_) => None,
        }
    }
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Carry out `plan`, holding the incident's claim until `lease_until` (epoch seconds: the
    /// function's deadline), reading the time from `clock`.
    ///
    /// `Err` when the state table cannot be used (nothing destructive was done: fail closed, and a
    /// notification says so) or when another run holds the incident; both are worth a retry. Every
    /// other failure is a step outcome in the report, with its typed error.
    pub async fn respond(&self, plan: &Plan, clock: &Clock, lease_until: u64) -> Result<Report> {
        let started = clock.since_epoch();
        let now = clock.now();
        let mut report = Report::new(plan);
        if plan.decision == Decision::Ignore {
            return Ok(report);
        }
        let acting = plan.decision != Decision::AwaitApproval && plan.acting_steps().next().is_some();
        // A GuardDuty plan that would act or ask a person is read back from GuardDuty first.
        let decided_by_guardduty = crate::confirmation::delivered_by_security_hub(plan).is_some();
        let to_confirm = if acting || plan.decision == Decision::AwaitApproval || decided_by_guardduty {
            crate::confirmation::finding_to_confirm(plan).transpose()
        } else {
            None
        };
        let key = if self.config.dry_run {
            crate::state_keys::dry_run(&plan.incident_key)
        } else {
            plan.incident_key.clone()
        };
        // The target and, for a one-instance plan, the instance's description, its quarantine record and
        // the group records of the VPCs the finding names are read beside the claim: reads, so nothing
        // happens before the claim is won, and three round trips less before the cut.
        // GuardDuty's copy of the finding is read in the same round trip, in the finding's own account.
        let origin = &plan.incident.origin;
        let scope = format!(
            "{}#{}",
            origin.account.as_ref().map_or("unknown", |a| a.as_str()),
            origin.region.as_ref().map_or("unknown", |r| r.as_str())
        );
        let alarm_to_confirm = crate::confirmation::alarm_to_confirm(plan);
        let prefetch = async {
            if !acting && to_confirm.is_none() && alarm_to_confirm.is_none() {
                return None;
            }
            let target = self.targets.target(origin.account.as_ref(), origin.region.as_ref()).await;
            let (facts, confirmed) = match (&target, plan.instances().as_slice()) {
                (Ok((compute, fleet)), instances) => {
                    let describe = async {
                        match instances {
                            [] => None,
                            _ if !acting => None,
                            [one] => Some(Read::One(Box::new(self.read_instance(compute, plan, one, &scope).await))),
                            many => self.read_fleet(compute, fleet, plan, many).await,
                        }
                    };
                    let confirm = async {
                        match &to_confirm {
                            Some(Ok(f)) => Some(fleet.guardduty_finding(&f.detector_id, &f.finding_id).await),
                            _ => None,
                        }
                    };
                    join(describe, confirm).await
                }
                (Err(_), _) => (None, None),
            };
            Some((target, facts, confirmed))
        };
        // Boxed, as the steps below: their futures are large, and a debug build polls them on the stack.
        let (claim, mut prefetched) = join(self.state.claim(&key, lease_until, now.epoch), Box::pin(prefetch)).await;
        let journal = match claim {
            Ok(Claim::Claimed { first, done }) => Journal::new(&self.state, &key, first, done, lease_until, clock),
            Ok(Claim::AlreadyDone) if to_confirm.is_some() && self.approvals.is_some() => {
                // A request may have been made for this finding before: a later update asks again, or,
                // past the automatic threshold, runs; decided from GuardDuty's copy (never from what
                // the delivery claims).
                let answer = prefetched.as_mut().and_then(|(_, _, answer)| answer.take());
                let confirmed = match &to_confirm {
                    Some(wanted) => self.confirm(plan, wanted, answer, &now).ok(),
                    None => None,
                };
                let later = match confirmed {
                    Some(c) if c.decision == Decision::AwaitApproval => self.ask_again(&c, &key, &now).await?,
                    Some(c) if matches!(c.decision, Decision::Contain | Decision::Revoke) => {
                        // Boxed: it runs an approved plan, which comes back here.
                        Box::pin(self.run_past_threshold(&c, &key, clock, lease_until)).await?
                    }
                    _ => None,
                };
                if let Some(report) = later {
                    return Ok(report);
                }
                return Ok(already_done(plan, report));
            }
            Ok(Claim::AlreadyDone) => return Ok(already_done(plan, report)),
            Ok(Claim::HeldElsewhere { lease_until }) => {
                return Err(Error::HeldElsewhere(format!("{key} until {lease_until}; retry later")));
            }
            Err(e) => return Err(self.fail_closed(plan, e).await),
        };
        let mut ending = Ending::Finished;
        let (target, mut facts, answer) = match prefetched {
            Some((target, facts, answer)) => (Some(target), facts, answer),
            None => (None, None, None),
        };
        let confirmed;
        let plan = match (&to_confirm, &target) {
            (None, _) => plan,
            // Nothing can be confirmed, or done, in that account: say so precisely and notify.
            (Some(_), Some(Err(e))) => {
                plan.acting_steps().for_each(|s| report.push(s.name(), Outcome::failed(e.clone())));
                return Box::pin(self.close(plan, &key, &journal, ending, report, clock, started, &now)).await;
            }
            (Some(wanted), _) => match self.confirm(plan, wanted, answer, &now) {
                Ok(from_guardduty) => {
                    confirmed = from_guardduty;
                    report = Report::new(&confirmed);
                    &confirmed
                }
                Err((why, error)) => {
                    let outcome = error.map_or_else(|| Outcome::skipped(why.clone()), Outcome::failed);
                    plan.acting_steps().for_each(|s| report.push(s.name(), outcome.clone()));
                    report.reasons.insert(0, why);
                    if !matches!(outcome, Outcome::Failed { .. }) {
                        ending = Ending::Open("GuardDuty has not confirmed the finding".into());
                    }
                    return Box::pin(self.close(plan, &key, &journal, ending, report, clock, started, &now)).await;
                }
            },
        };
        if plan.decision == Decision::AwaitApproval {
            if let Some(unconfirmed) = self.alarm_unconfirmed(alarm_to_confirm, target.as_ref()).await {
                if let Outcome::Skipped { reason, .. } = &unconfirmed {
                    report.reasons.insert(0, format!("no approval requested: {reason}"));
                }
                plan.acting_steps().for_each(|s| report.push(s.name(), unconfirmed.clone()));
                return Box::pin(self.close(plan, &key, &journal, ending, report, clock, started, &now)).await;
            }
            if let Err(e) = self.request_approval(plan, &key, &now, &mut report).await {
                let _ = self.state.finish(&key, false, None, None).await;
                return Err(self.fail_closed(plan, e).await);
            }
        }
        let acting = plan.decision != Decision::AwaitApproval && plan.acting_steps().next().is_some();
        if let Some(target) = target.filter(|_| acting) {
            match target {
                // Nothing can be done in that account; say so precisely and notify.
                Err(e) => plan.acting_steps().for_each(|s| report.push(s.name(), Outcome::failed(e.clone()))),
                Ok((compute, fleet)) => {
                    let read_ahead = match facts.as_mut() {
                        Some(Read::One(read)) => std::mem::take(&mut read.group_records),
                        _ => BTreeMap::new(),
                    };
                    let ports = Ports {
                        compute,
                        fleet,
                        state: &self.state,
                        config: &self.config,
                        clock,
                        scope,
                        groups: tokio::sync::Mutex::default(),
                        read_ahead: tokio::sync::Mutex::new(read_ahead),
                        roles: tokio::sync::Mutex::default(),
                        started,
                        receipts: tokio::sync::Mutex::default(),
                        cuts: Cuts::default(),
                    };
                    let executed = Box::pin(self.execute(&ports, &journal, plan, facts, &now, &mut report)).await;
                    report.receipts = std::mem::take(&mut *ports.receipts.lock().await);
                    match executed {
                        Ok(Ending::Held(why)) => {
                            self.queue_held(plan, &why, &now, &mut report).await;
                            ending = Ending::Held(why);
                        }
                        Ok(e) => ending = e,
                        Err(e) => {
                            let _ = self.state.finish(&key, false, None, None).await;
                            return Err(self.fail_closed(plan, e).await);
                        }
                    }
                }
            }
        }
        Box::pin(self.close(plan, &key, &journal, ending, report, clock, started, &now)).await
    }

    /// The one instance of `plan`, described; when the plan isolates it, its quarantine record (whether
    /// Firebreak contained it already is decided from that record) and the containment group records of
    /// the VPCs the finding names (`scope` is where they are recorded). A record that could not be read
    /// is read again when needed.
    async fn read_instance<C: Compute>(&self, compute: &C, plan: &Plan, id: &InstanceId, scope: &str) -> ReadInstance {
        let isolates = plan.acting_steps().any(|s| s.kind() == StepKind::IsolateInstance);
        let quarantine = async {
            if isolates {
                Some(self.state.original_groups(id.as_str()).await)
            } else {
                None
            }
        };
        let vpcs = match &plan.incident.kind {
            IncidentKind::Guardduty(f) if isolates => f.vpc_ids.as_slice(),
            _ => &[],
        };
        let keys = vpcs.iter().take(READ_AHEAD_VPCS).flat_map(|vpc| {
            [ContainmentGroup::Untracking, ContainmentGroup::Isolation]
                .map(|kind| crate::state_keys::group(scope, vpc, kind.name()))
        });
        let records = join_all(keys.map(|key| async move {
            let record = self.state.created_resource(&key).await;
            record.ok().map(|record| (key, record))
        }));
        let ((described, quarantine), records) = join(join(compute.describe_instance(id), quarantine), records).await;
        ReadInstance {
            described,
            quarantine,
            group_records: records.into_iter().flatten().collect(),
            auto_scaling_group: None,
        }
    }

    /// The instances of a plan that acts on several, read at once: described in one call, their Auto
    /// Scaling groups in one call per 50, and their quarantine records when the plan isolates them. `None`
    /// when the describe failed (each instance is then described on its own).
    async fn read_fleet<C: Compute, F: Fleet>(
        &self,
        compute: &C,
        fleet: &F,
        plan: &Plan,
        instances: &[&InstanceId],
    ) -> Option<Read> {
        let asked: Vec<InstanceId> = instances.iter().map(|&id| id.clone()).collect();
        let isolates = plan.acting_steps().any(|s| s.kind() == StepKind::IsolateInstance);
        let quarantines = join_all(
            asked
                .iter()
                .filter(|_| isolates)
                .map(|id| async move { (id.clone(), self.state.original_groups(id.as_str()).await) }),
        );
        let ((found, groups), quarantines) =
            join(join(compute.describe_instances(&asked), fleet.auto_scaling_groups_of(&asked)), quarantines).await;
        let quarantines = quarantines.into_iter().collect();
        Some(Read::Fleet { asked, found: found.ok()?, groups: groups.ok(), quarantines })
    }

    /// GuardDuty's answer about the finding `plan` was decided from, made into the plan to act on; or
    /// why nothing may be done, with the error when asking GuardDuty failed (then a retry may help).
    fn confirm(
        &self,
        plan: &Plan,
        wanted: &std::result::Result<crate::confirmation::FindingRef, String>,
        answer: Option<Result<Option<serde_json::Value>>>,
        now: &Now,
    ) -> std::result::Result<Plan, (String, Option<Error>)> {
        let wanted = wanted.as_ref().map_err(|why| (why.clone(), None))?;
        match answer {
            Some(Ok(Some(finding))) => {
                let event = crate::events::guardduty_event_text(&finding, plan.incident.delivery_id.as_deref());
                crate::parse_guardduty_api_finding(finding, plan.incident.delivery_id.clone())
                    .map_err(|e| {
                        (format!("refused: GuardDuty's answer could not be read ({e}); nothing was done"), None)
                    })
                    .and_then(|mut incident| {
                        incident.event = Some(event);
                        crate::confirmation::confirmed_plan(plan, incident, &self.config.policy, &now.rfc3339)
                            .map_err(|why| (why, None))
                    })
            }
            Some(Ok(None)) | None => Err((crate::confirmation::unknown_to_guardduty(plan, wanted), None)),
            Some(Err(e)) => Err((
                format!(
                    "GuardDuty could not be asked about finding {} ({e}): nothing is done until it confirms it",
                    wanted.finding_id
                ),
                Some(e),
            )),
        }
    }

    /// For a plan asking a person to approve an idle stop of `id` on `alarm`: how CloudWatch does not
    /// confirm the alarm (the same check the stop itself makes), or `None` when it does.
    async fn alarm_unconfirmed<C: Compute, F: Fleet>(
        &self,
        to_confirm: Option<(&str, &InstanceId)>,
        target: Option<&Result<(C, F)>>,
    ) -> Option<Outcome> {
        let (alarm, id) = to_confirm?;
        let fleet = match target {
            Some(Ok((_, fleet))) => fleet,
            Some(Err(e)) => return Some(Outcome::failed(e.clone())),
            None => return Some(Outcome::skipped("CloudWatch could not be asked about the alarm: nobody is asked")),
        };
        match fleet.metric_alarm(alarm, id).await {
            Ok(facts) => {
                super::stop_idle::idle_unconfirmed(facts.as_ref(), id, alarm, &self.config.policy).map(Outcome::skipped)
            }
            Err(e) => Some(Outcome::failed(e)),
        }
    }

    /// Notify, record and release the claim of a run whose steps have ended as `ending`.
    #[allow(clippy::too_many_arguments)]
    async fn close(
        &self,
        plan: &Plan,
        key: &str,
        journal: &Journal<'_, S>,
        ending: Ending,
        mut report: Report,
        clock: &Clock,
        started: std::time::Duration,
        now: &Now,
    ) -> Result<Report> {
        if self.config.dry_run {
            report.actions.iter_mut().for_each(|a| a.outcome = dry_run_outcome(&a.outcome));
        }
        match &ending {
            Ending::Held(why) if self.queued(plan).is_some() => report.reasons.push(format!(
                "this incident stays open ({why}): it is queued, and the sweep contains it as soon as the cap allows, \
                 the most severe first, once GuardDuty confirms the finding again (firebreak sweep runs the queue now)"
            )),
            Ending::Held(why) if approved_run(plan) => report.reasons.push(format!(
                "this incident stays open ({why}): approved, it is run again by the sweep once the cap allows"
            )),
            Ending::Open(why) | Ending::Held(why) => report.reasons.push(format!(
                "this incident stays open ({why}): a later delivery of it is acted on once that no longer holds"
            )),
            Ending::Finished | Ending::Quiet(_) => {}
        }
        // Before the notification, which then says whether Security Hub took it.
        self.write_back(plan, &ending, &mut report).await;
        let notified = self.notify(plan, journal, &ending, &mut report, now).await;
        let elapsed = clock.since_epoch().saturating_sub(started);
        if notified.is_some() {
            report.timings.notified_after = Some(elapsed);
        }
        report.actions.iter_mut().filter(|a| a.at.is_none()).for_each(|a| a.at = Some(elapsed));
        let complete = report.failures().is_empty() && ending.open_because().is_none();
        let record = crate::report::IncidentRecord::of(&report, &plan.incident.origin, now.epoch);
        if let Err(e) = self.state.finish(key, complete, notified.map(JournalKey::as_str), Some(&record)).await {
            // The effects stand and are journaled; the claim expires at the lease end and the retry
            // finds every step but the notification done, so at worst it notifies once more.
            tracing::warn!(target: "firebreak::state", key, error = %e, "claim not finished");
        }
        Ok(report)
    }

    /// Write what was done back on the Security Hub finding the plan names, in the security account (in
    /// the region of the hub that holds it). Every run writes it again: the status moves on as the
    /// incident does (in progress, then resolved).
    async fn write_back(&self, plan: &Plan, ending: &Ending, report: &mut Report) {
        let Some(finding) = plan.actions.iter().find_map(|a| match &a.step {
            Step::UpdateSecurityHubFinding { finding } => Some(finding),
            _ => None,
        }) else {
            return;
        };
        let name = StepKind::UpdateSecurityHubFinding.name();
        // Still the delivered plan of a GuardDuty finding: GuardDuty did not confirm it.
        if crate::confirmation::delivered_by_security_hub(plan).is_some() {
            report
                .push(name, Outcome::skipped("GuardDuty has not confirmed the finding: Security Hub is told nothing"));
            return;
        }
        if self.config.dry_run {
            report.push(name, Outcome::skipped("dry run: Security Hub is not changed"));
            return;
        }
        let update = crate::write_back::update(finding, plan, report, ending.open_because().is_some());
        let region = crate::incident::Region::parse(&finding.region);
        // Read back first: the delivery only names the finding, and a person may have suppressed it since.
        let outcome = match self.targets.target(None, region.as_ref()).await {
            Ok((_, fleet)) => match fleet.security_hub_status(finding).await {
                Ok(Some(status)) if crate::write_back::left_as_it_is(&status) => {
                    Outcome::skipped(format!("{} is {status} in Security Hub now: left as it is", finding.describe()))
                }
                Ok(Some(_)) => match fleet.update_security_hub_finding(&update).await {
                    Ok(()) => Outcome::done(format!(
                        "{} marked {}, with a note naming this incident and its steps",
                        finding.describe(),
                        update.status.as_str()
                    )),
                    Err(e) => Outcome::failed(e),
                },
                Ok(None) => Outcome::skipped(format!(
                    "Security Hub holds no {} in account {} (the delivery only named it): nothing is written",
                    finding.describe(),
                    finding.account
                )),
                Err(e) => Outcome::failed(e),
            },
            Err(e) => Outcome::failed(e),
        };
        report.push(name, outcome);
    }

    /// Record what a plan awaiting approval would do and put the links in the report: nothing else
    /// happens until a person answers. A redelivery finds the claim done and asks nothing new. `Err`
    /// only when the state table fails (fail closed); what cannot be asked is a failed outcome.
    async fn request_approval(&self, plan: &Plan, key: &str, now: &Now, report: &mut Report) -> Result<()> {
        let Some(signer) = &self.approvals else {
            let error = Error::config(
                "FIREBREAK_APPROVAL_URL",
                "this plan awaits approval, but no approval function is configured: nothing was done",
            );
            plan.acting_steps().for_each(|s| report.push(s.name(), Outcome::failed(error.clone())));
            return Ok(());
        };
        let Some(event) = plan.incident.event.clone() else {
            let error = Error::refused(
                "approval",
                "only a GuardDuty finding or an alarm can await approval (its event is kept to decide again): nothing \
                 was done",
            );
            plan.acting_steps().for_each(|s| report.push(s.name(), Outcome::failed(error.clone())));
            return Ok(());
        };
        let request = crate::approval::ApprovalRequest::of(plan, key, event, now.epoch, signer.ttl());
        let recorded = self.state.request_approval(&request).await?;
        awaiting(plan, report, signer, key, recorded.deadline);
        Ok(())
    }

    /// Run the plan's acting steps. A plan that acts on several instances (an attack sequence) runs
    /// each instance's steps as one unit, with its own journal entries and cap slot, a wave of instances
    /// at a time, every instance of a wave cut before any of its evidence is taken; their outcomes are
    /// reported in plan order, each naming its instance.
    async fn execute<C: Compute, F: Fleet>(
        &self,
        ports: &Ports<'_, C, F, S>,
        journal: &Journal<'_, S>,
        plan: &Plan,
        read: Option<Read>,
        now: &Now,
        report: &mut Report,
    ) -> Result<Ending> {
        let instances = plan.instances();
        if instances.len() <= 1 {
            let steps = plan.acting_steps().collect();
            let instance = instances.first().copied();
            let read = match read {
                Some(Read::One(read)) => Some(*read),
                _ => None,
            };
            return self.execute_target(ports, journal, plan, steps, instance, read, None, now, report).await;
        }
        // Each instance's description, when the fleet was described beside the claim (an instance GuardDuty's
        // copy added since is described on its own).
        let fleet = match read {
            Some(Read::Fleet { asked, found, groups, quarantines }) => Some((asked, found, groups, quarantines)),
            _ => None,
        };
        let read_of = |id: &InstanceId| {
            let (_, found, groups, quarantines) = fleet.as_ref().filter(|(asked, ..)| asked.contains(id))?;
            Some(ReadInstance {
                described: Ok(found.get(id).cloned()),
                quarantine: quarantines.get(id).cloned(),
                group_records: BTreeMap::new(),
                auto_scaling_group: groups.as_ref().map(|groups| Ok(groups.get(id).cloned())),
            })
        };
        // Each instance enters the fleet's cuts when the stream hands it out, which a wave does for all of
        // its instances before it polls any: no instance's evidence starts while another of its wave has
        // not been cut.
        let runs = futures::stream::iter(instances.iter().map(|&id| {
            let cutting = ports.cuts.enter();
            let read = read_of(id);
            async move {
                let steps: Vec<&Step> = plan.acting_steps().filter(|s| s.instance_id() == Some(id)).collect();
                let scoped = journal.for_instance(id);
                let mut part = Report::new(plan);
                part.reasons.clear();
                let ending = match self
                    .execute_target(ports, &scoped, plan, steps.clone(), Some(id), read, Some(cutting), now, &mut part)
                    .await
                {
                    Ok(ending) => ending,
                    // The cap could not be checked for this instance: nothing destructive ran on it, and the
                    // others' outcomes stand; the error is retryable, so the retry resumes here.
                    Err(e) => {
                        let at = ports.clock.since_epoch().saturating_sub(ports.started);
                        steps.iter().for_each(|s| part.push_at(at, s.name(), Outcome::failed(e.clone())));
                        Ending::Finished
                    }
                };
                (id, ending, part)
            }
        }))
        .buffered(INSTANCE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut open = Vec::new();
        let mut held = false;
        let mut quiet = 0;
        for (id, ending, part) in runs {
            match ending {
                Ending::Open(why) => open.push(format!("{id}: {why}")),
                Ending::Held(why) => {
                    held = true;
                    open.push(format!("{id}: {why}"));
                }
                Ending::Quiet(_) => quiet += 1,
                Ending::Finished => {}
            }
            report.severity = report.severity.max(part.severity);
            report.timings.isolated_after = report.timings.isolated_after.max(part.timings.isolated_after);
            report.timings.circuit_opened |= part.timings.circuit_opened;
            report.timings.held_back |= part.timings.held_back;
            for reason in part.reasons {
                if reason.starts_with("CRITICAL") {
                    report.reasons.insert(0, reason);
                } else {
                    report.reasons.push(reason);
                }
            }
            report.actions.extend(part.actions.into_iter().map(|a| ActionReport { target: Some(id.to_string()), ..a }));
        }
        Ok(if held {
            Ending::Held(open.join("; "))
        } else if !open.is_empty() {
            Ending::Open(open.join("; "))
        } else if quiet == instances.len() {
            Ending::Quiet("every instance was already handled: no second notification".into())
        } else {
            Ending::Finished
        })
    }

    /// Run the plan's acting steps aimed at one instance (or at none): describe it once, gate each
    /// step, take the cap before anything destructive, then phase one in order and phase two
    /// concurrently. `Err` only when the cap cannot be checked.
    #[allow(clippy::too_many_arguments)]
    async fn execute_target<C: Compute, F: Fleet>(
        &self,
        ports: &Ports<'_, C, F, S>,
        journal: &Journal<'_, S>,
        plan: &Plan,
        steps: Vec<&Step>,
        instance: Option<&InstanceId>,
        read: Option<ReadInstance>,
        cutting: Option<Cutting<'_>>,
        now: &Now,
        report: &mut Report,
    ) -> Result<Ending> {
        let elapsed = || ports.clock.since_epoch().saturating_sub(ports.started);
        let mut pending: Vec<&Step> = Vec::new();
        for step in steps {
            if journal.is_done(JournalKey::Step(step.kind())) {
                report.push_at(elapsed(), step.name(), Outcome::skipped("already done for this incident (journal)"));
            } else {
                pending.push(step);
            }
        }
        if pending.is_empty() {
            return Ok(Ending::Finished);
        }
        let (described, quarantine, auto_scaling_group) = match (instance, read) {
            (Some(_), Some(read)) => (Some(read.described), read.quarantine, read.auto_scaling_group),
            (Some(id), None) => (Some(ports.compute.describe_instance(id).await), None, None),
            (None, _) => (None, None, None),
        };
        let facts = match instance.zip(described) {
            None => None,
            Some((id, described)) => match described {
                Ok(Some(facts)) if !facts.state.is_gone() => Some(facts),
                Ok(found) => {
                    let why = match found {
                        Some(f) => format!("{id} is {}: nothing left to act on", f.state),
                        None => format!("{id} was not found (terminated or unknown)"),
                    };
                    skip_instance_steps(&mut pending, &why, elapsed(), report);
                    if pending.is_empty() {
                        return Ok(Ending::Finished);
                    }
                    None
                }
                Err(e) => {
                    pending.iter().for_each(|s| report.push_at(elapsed(), s.name(), Outcome::failed(e.clone())));
                    return Ok(Ending::Finished);
                }
            },
        };
        if let Some(facts) = facts.as_ref().filter(|_| journal.first_run()) {
            // Only a first run can tell: on a retry, this incident's own isolation may be what is found.
            if pending.iter().any(|s| s.kind() == StepKind::IsolateInstance) {
                if let Some(why) = contain::already_contained(ports, facts, quarantine).await? {
                    skip_instance_steps(&mut pending, &why, elapsed(), report);
                    if pending.is_empty() {
                        return Ok(Ending::Finished);
                    }
                }
            }
        }
        let mut runnable = Vec::new();
        let mut quiet = Vec::new();
        let mut exempt = None;
        for step in pending {
            match steps::refusal(step, ports, plan, facts.as_ref()).await {
                Ok(None) => runnable.push(step),
                Ok(Some(refusal)) => {
                    match refusal.kind {
                        RefusalKind::AlreadyDone => quiet.push(refusal.reason.clone()),
                        RefusalKind::Exempt => exempt = Some(refusal.reason.clone()),
                        RefusalKind::Final => {}
                    }
                    report.push_at(elapsed(), step.name(), Outcome::skipped(refusal.reason));
                }
                Err(e) => report.push_at(elapsed(), step.name(), Outcome::failed(e)),
            }
        }
        if runnable.is_empty() {
            let all_quiet = !quiet.is_empty() && report.actions.iter().all(|a| !a.outcome.is_failed());
            if all_quiet {
                return Ok(Ending::Quiet(format!("{}: no second notification", quiet.join("; "))));
            }
            // An exemption can be lifted: the incident is not done, only not acted on yet.
            return Ok(exempt.map_or(Ending::Finished, Ending::Open));
        }
        let mut slot_taken = false;
        // The cap slot is taken in the same round trip as the reads (and the record of the original
        // groups) that the steps before the cut need: nothing in either changes an instance.
        let gate = async {
            match runnable.iter().find_map(|s| s.kind().cap()) {
                Some(cap) => self.cap_gate(plan, cap, now, journal, report, &mut slot_taken).await,
                None => Ok(None),
            }
        };
        let (gate, prepared) =
            join(gate, steps::prepare(&runnable, ports, plan, facts.as_ref(), auto_scaling_group)).await;
        let held = match gate {
            Ok(held) => held,
            Err(e) => {
                self.withdraw(ports, journal, plan, &prepared, facts.as_ref()).await;
                return Err(e);
            }
        };
        if let Some(held) = held {
            self.withdraw(ports, journal, plan, &prepared, facts.as_ref()).await;
            let held = match instance.filter(|_| plan.instances().len() > 1) {
                Some(id) => format!("{id} {held}"),
                None => held,
            };
            let outcome = Outcome::held_by(crate::report::HeldBy::BlastRadiusCap, held);
            runnable.iter().for_each(|s| report.push_at(elapsed(), s.name(), outcome.clone()));
            // Held back is not done: the sweep runs it again once the cap allows.
            report.timings.held_back = true;
            return Ok(Ending::Held("held back by the blast-radius cap".into()));
        }
        // A Spot instance may be reclaimed any moment: its evidence is taken before anything else.
        let spot = facts.as_ref().is_some_and(|f| f.spot);
        let phase = |s: &Step| match s.kind() {
            StepKind::SnapshotVolumes if spot => Phase::Network,
            kind => kind.phase(),
        };
        runnable.sort_by_key(|s| (phase(s), !(spot && s.kind() == StepKind::SnapshotVolumes)));
        let ctx = StepContext {
            plan,
            facts: facts.as_ref(),
            now,
            first_run: journal.first_run(),
            time_left: journal.time_left(),
        };
        let (network, rest): (Vec<&Step>, Vec<&Step>) = runnable.into_iter().partition(|s| phase(s) == Phase::Network);
        let (evidence, verify): (Vec<&Step>, Vec<&Step>) = rest.into_iter().partition(|s| phase(s) == Phase::Evidence);
        let mut network_outcomes = Vec::with_capacity(network.len());
        let mut network_times = Vec::with_capacity(network.len());
        let mut isolated_after = None;
        // The slot is journaled beside the first steps, off the critical path: should that write be
        // lost, a retry takes a second slot, which errs on the side of acting less.
        let record_slot = async {
            if slot_taken {
                if let Err(e) = journal.record_key(JournalKey::CapSlot).await {
                    tracing::warn!(target: "firebreak::state", error = %e, "the cap slot was taken but not journaled; a retry takes another");
                }
            }
        };
        let network_run = async {
            for step in &network {
                let outcome = journal.attempt(step.kind(), || steps::run(step, ports, &ctx, &prepared)).await;
                if step.kind() == StepKind::IsolateInstance && outcome.is_done() {
                    isolated_after = Some(elapsed());
                }
                network_outcomes.push(outcome);
                network_times.push(elapsed());
            }
        };
        join(record_slot, network_run).await;
        if let Some(cutting) = cutting {
            drop(cutting);
            ports.cuts.all_over().await;
        }
        if isolated_after.is_some() {
            report.timings.isolated_after = isolated_after;
        }
        // Journaling phase one runs beside phase two instead of before it.
        let record = join_all(network.iter().zip(network_outcomes).map(|(s, o)| journal.record(s.kind(), o)));
        let ctx = &ctx;
        let prepared = &prepared;
        let elapsed = &elapsed;
        let evidence_runs = join_all(evidence.iter().map(|s| async move {
            let outcome = journal.bounded_step(s.kind(), || steps::run(s, ports, ctx, prepared)).await;
            (outcome, elapsed())
        }));
        let (network_outcomes, evidence_outcomes) = join(record, evidence_runs).await;
        // The read-back comes last: it verifies what every step before it closed. After a failed cut it
        // would "repair" the isolation without the untracking swap: the retry runs the cut, then reads back.
        let cut_failed = network_outcomes.iter().any(Outcome::is_failed);
        let mut verify_outcomes = Vec::with_capacity(verify.len());
        for step in &verify {
            let outcome = if cut_failed {
                Outcome::skipped(
                    "not read back: a network step failed in this run; the retry runs it again, then reads every way \
                     out back",
                )
            } else {
                journal.bounded_step(step.kind(), || steps::run(step, ports, ctx, prepared)).await
            };
            verify_outcomes.push((outcome, elapsed()));
        }
        let outcomes = network_outcomes.into_iter().zip(network_times).chain(evidence_outcomes).chain(verify_outcomes);
        for (step, (outcome, at)) in network.iter().chain(&evidence).chain(&verify).zip(outcomes) {
            // The loudest outcomes there are: critical, first reason, retried.
            let critical = match outcome.error() {
                Some(Error::LeftOpen { interfaces, .. }) => Some(format!(
                    "CRITICAL: {} left on the allow-all untracking group and could not be put back",
                    interfaces.join(", ")
                )),
                Some(Error::Unverified { channels, .. }) => Some(format!(
                    "CRITICAL: read back after containment, {} still open after a repair: {}",
                    step.instance_id().map_or_else(String::new, ToString::to_string),
                    channels.join(", ")
                )),
                _ => None,
            };
            if let Some(reason) = critical {
                report.severity = crate::incident::SeverityLabel::Critical;
                report.reasons.insert(0, reason);
            }
            report.push_at(at, step.name(), outcome);
        }
        Ok(Ending::Finished)
    }

    /// The notification phase: once per incident, plus once more with the final outcomes when a run
    /// with failures is completed by a retry. Returns the journal key to record with the finish.
    async fn notify(
        &self,
        plan: &Plan,
        journal: &Journal<'_, S>,
        ending: &Ending,
        report: &mut Report,
        now: &Now,
    ) -> Option<JournalKey> {
        if !plan.has(StepKind::Notify) {
            return None;
        }
        if let Ending::Quiet(why) = ending {
            report.push(StepKind::Notify.name(), Outcome::skipped(why.clone()));
            return None;
        }
        if ending.open_because().is_some() && journal.is_done(JournalKey::NotifyOpen) {
            report.push(
                StepKind::Notify.name(),
                Outcome::skipped("told already that this incident stays open; the run that acts on it notifies"),
            );
            return None;
        }
        let key =
            if report.failures().is_empty() { JournalKey::Step(StepKind::Notify) } else { JournalKey::NotifyPartial };
        // One notification of failures, then one with the final outcome: a retry that fails again says
        // nothing new, unless something became critical.
        let failures_told = key == JournalKey::NotifyPartial
            && journal.is_done(JournalKey::NotifyPartial)
            && report.severity != crate::incident::SeverityLabel::Critical;
        let outcome = if journal.is_done(JournalKey::Step(StepKind::Notify)) {
            Outcome::skipped("already done for this incident (journal)")
        } else if failures_told {
            Outcome::skipped(
                "the failures of this incident were notified already; the run that completes it notifies the final outcome",
            )
        } else if let Some(counted) = self.count_repeat(plan, now, report).await {
            Outcome::skipped(counted)
        } else {
            let notification =
                crate::notify::render(report, &plan.incident.origin, Some(&plan.incident), self.rendering());
            // The reserve is kept for this call: it is never refused for the deadline.
            self.notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published"))
        };
        // An open incident is told once; the delivery that finally acts on it notifies again.
        let notified = match ending {
            Ending::Open(_) | Ending::Held(_) => outcome.is_done().then_some(JournalKey::NotifyOpen),
            _ => outcome.is_done().then_some(key),
        };
        report.push(StepKind::Notify.name(), outcome);
        notified
    }

    /// Count the notification of a plan that only notifies among its kind's this hour
    /// (`crate::repeats`): `Some(why)` when it is one of the counted ones, not sent on its own. The
    /// first of the hour is sent, saying that the rest are counted; a count that cannot be kept sends.
    async fn count_repeat(&self, plan: &Plan, now: &Now, report: &mut Report) -> Option<String> {
        let repeat = crate::repeats::Repeat::of(plan).filter(|_| !self.config.dry_run)?;
        let window = now.hour();
        match self.state.count_repeat(&repeat, window, &plan.summary).await {
            Ok(1) => {
                report.reasons.push(crate::repeats::first_told(&repeat, window));
                None
            }
            Ok(count) => Some(crate::repeats::counted(&repeat, window, count)),
            Err(e) => {
                tracing::warn!(target: "firebreak::state", error = %e, "repeat not counted; notified on its own");
                None
            }
        }
    }

    pub(crate) fn rendering(&self) -> Rendering {
        Rendering { dry_run: self.config.dry_run, chatbot: self.config.chatbot }
    }

    /// The blast-radius cap, right before the first destructive step: `Ok(None)` to go on,
    /// `Ok(Some(why))` when held back, `Err` when the cap cannot be checked (fail closed).
    async fn cap_gate(
        &self,
        plan: &Plan,
        cap: Cap,
        now: &Now,
        journal: &Journal<'_, S>,
        report: &mut Report,
        slot_taken: &mut bool,
    ) -> Result<Option<String>> {
        if self.config.dry_run || journal.is_done(JournalKey::CapSlot) {
            return Ok(None);
        }
        let account = plan.incident.origin.account.as_ref().map_or("unknown", |a| a.as_str());
        let max = match cap {
            Cap::Containments => self.config.max_containments_per_hour,
            Cap::Stops => self.config.max_stops_per_hour,
        };
        // Below GuardDuty's severity 8 a finding may not take the share kept for severe ones, unless its
        // containment was approved (a request was made and answered for it).
        let severity = finding_severity(plan).filter(|_| cap == Cap::Containments && !approved_run(plan));
        let limit = match severity {
            Some(severity) => crate::held::cap_for(severity, max, self.config.containments_reserved_for_severe),
            None => max,
        };
        let window = format!("{}{}", now.hour(), cap.window_suffix());
        if self.state.take_cap_slot(account, &window, limit).await? {
            *slot_taken = true;
            return Ok(None);
        }
        if limit < max {
            return Ok(Some(format!(
                "held back: {limit} of the blast-radius cap of {max} {} action(s) per hour in account {account} are \
                 taken, and the other {} are kept for findings of severity {} or more ({}, {})",
                cap.noun(),
                max - limit,
                crate::held::SEVERE,
                cap.variable(),
                RESERVE_VARIABLE
            )));
        }
        if self.state.open_circuit(account, &window).await? {
            report.timings.circuit_opened = true;
            let notice = crate::notify::circuit_open(account, now.hour(), cap, max);
            let notification = crate::notify::render(&notice, &plan.incident.origin, None, self.rendering());
            if let Err(e) = self.notifier.publish(&notification).await {
                tracing::error!(target: "firebreak::state", error = %e, "circuit-open notification failed");
            }
        }
        Ok(Some(format!(
            "held back: the blast-radius cap of {max} {} action(s) per hour in account {account} is reached ({})",
            cap.noun(),
            cap.variable()
        )))
    }

    /// Queue the containment the cap held back, as GuardDuty's copy of its finding (`crate::held`). An
    /// approved run is not queued (the approval sweep runs it again), nor anything GuardDuty did not
    /// confirm. A queue that cannot be written is said loudly: only a redelivery would then act.
    async fn queue_held(&self, plan: &Plan, why: &str, now: &Now, report: &mut Report) {
        let Some((event, severity)) = self.queued(plan) else { return };
        let held = crate::held::HeldContainment {
            incident_key: plan.incident_key.clone(),
            event: event.clone(),
            severity,
            account: plan.incident.origin.account.as_ref().map_or("unknown", |a| a.as_str()).to_owned(),
            held_at: now.epoch,
            why: why.to_owned(),
            overdue_told: false,
        };
        if let Err(e) = self.state.hold(&held).await {
            tracing::error!(target: "firebreak::state", key = plan.incident_key, error = %e, "held-back containment not queued");
            report.severity = crate::incident::SeverityLabel::Critical;
            report.reasons.insert(
                0,
                format!(
                    "CRITICAL: held back by the blast-radius cap, and the queue could not be written ({e}): only a \
                     redelivery of the finding contains it"
                ),
            );
        }
    }

    /// What a run of `plan` the cap holds back is queued with (GuardDuty's copy of the finding and its
    /// severity), when it is queued: a GuardDuty finding as GuardDuty confirmed it, not an approved run
    /// (the approval sweep runs those again), never in a dry run.
    fn queued<'p>(&self, plan: &'p Plan) -> Option<(&'p String, f64)> {
        let event = plan.incident.event.as_ref().filter(|_| !approved_run(plan) && !self.config.dry_run)?;
        Some((event, finding_severity(plan)?))
    }

    /// A run held back by the cap (or unable to check it) leaves no quarantine record it wrote while
    /// the cap was checked: that record would be taken for the true original groups by a later
    /// containment. Only a run whose incident never took a cap slot nor isolated the instance (a first
    /// run, or a queued one the cap held back each time) may tell that the record is its own to delete (a
    /// retry's earlier run may have moved the interfaces), and only while no other incident has recorded
    /// into it.
    async fn withdraw<C: Compute, F: Fleet>(
        &self,
        ports: &Ports<'_, C, F, S>,
        journal: &Journal<'_, S>,
        plan: &Plan,
        prepared: &steps::Prepared,
        facts: Option<&crate::ports::InstanceFacts>,
    ) {
        let (Some(_), Some(facts)) = (&prepared.isolation, facts) else { return };
        let never_acted =
            !journal.is_done(JournalKey::CapSlot) && !journal.is_done(JournalKey::Step(StepKind::IsolateInstance));
        if self.config.dry_run || !(journal.first_run() || never_acted) {
            return;
        }
        let id = facts.instance_id.as_str();
        if let Err(e) = ports.state.withdraw_original_groups(id, &plan.incident_key).await {
            tracing::warn!(target: "firebreak::state", instance = id, error = %e, "quarantine record of a held-back run not withdrawn");
        }
    }

    /// The state table failed: act on nothing, tell a person, return the error for a retry.
    async fn fail_closed(&self, plan: &Plan, error: Error) -> Error {
        let error = match error {
            Error::State(_) => error,
            other => Error::State(other.to_string()),
        };
        let mut report = Report::new(plan);
        for step in plan.acting_steps() {
            report.push(
                step.name(),
                Outcome::skipped(format!(
                    "held back: the state table is unavailable ({error}); failing closed, the event will be retried"
                )),
            );
        }
        let notification =
            crate::notify::render(&report, &plan.incident.origin, Some(&plan.incident), self.rendering());
        if let Err(e) = self.notifier.publish(&notification).await {
            tracing::error!(target: "firebreak::state", error = %e, "fail-closed notification failed");
        }
        error
    }
}
/// The variable that keeps a share of the containment cap for severe findings.
const RESERVE_VARIABLE: &str = "FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE";

/// Whether `plan` runs a containment a person (or the policy) approved: under the approved run's key.
fn approved_run(plan: &Plan) -> bool {
    plan.incident_key.starts_with(crate::state_keys::APPROVED)
}

/// GuardDuty's severity of the finding a plan is about (as confirmed, once it is).
fn finding_severity(plan: &Plan) -> Option<f64> {
    match &plan.incident.kind {
        IncidentKind::Guardduty(f) => Some(f.severity),
        _ => None,
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

/// The report of a plan waiting for a person until `deadline`: each acting step not done, and the links.
pub(super) fn awaiting(plan: &Plan, report: &mut Report, signer: &crate::approval::Signer, key: &str, deadline: u64) {
    let until = Now::at(deadline).rfc3339;
    let multi = plan.instances().len() > 1;
    for step in plan.acting_steps() {
        let target = step.instance_id().filter(|_| multi).map(ToString::to_string);
        report.actions.push(ActionReport {
            action: step.name(),
            target,
            at: None,
            outcome: Outcome::skipped(format!("awaiting approval until {until}: not done")),
        });
    }
    report.approval = Some(signer.links(key, deadline));
}

/// The report of a delivery whose incident an earlier one completed: nothing done, and why.
fn already_done(plan: &Plan, mut report: Report) -> Report {
    let why = match plan.decision {
        Decision::AwaitApproval => "already asked: nothing new to ask about",
        _ => "already handled: this incident was completed by an earlier delivery",
    };
    for planned in &plan.actions {
        report.push(planned.step.name(), Outcome::skipped(why));
    }
    report
}

/// Report the steps aimed at the instance as skipped for `why`, and keep the others (a scan's finding
/// still joins its incident when the instance is contained already, or gone).
fn skip_instance_steps(pending: &mut Vec<&Step>, why: &str, at: std::time::Duration, report: &mut Report) {
    pending.retain(|s| {
        let aimed = s.kind().targets_instance();
        if aimed {
            report.push_at(at, s.name(), Outcome::skipped(why.to_owned()));
        }
        !aimed
    });
}
