//! How each step is gated and run through the ports. The bookkeeping around them (journal, cap,
//! deadline, dry run, notification) is the executor's.

use super::context::{Ports, Refusal, RefusalKind, StepContext};
use super::{contain, credentials, dns, revoke, scan, stop_idle, verify};
use crate::error::{Error, Result};
use crate::incident::IncidentKind;
use crate::plan::{Plan, Step, StepKind};
use crate::ports::{Compute, Fleet, InstanceFacts, InstanceState, StateStore};
use crate::report::Outcome;

/// Why `step` must not run on this instance, decided before the cap is taken; `Err` when finding out
/// failed.
pub(super) async fn refusal<C: Compute, F: Fleet, S>(
    step: &Step,
    ports: &Ports<'_, C, F, S>,
    plan: &Plan,
    facts: Option<&InstanceFacts>,
) -> Result<Option<Refusal>> {
    let refused = |reason: String, kind| Ok(Some(Refusal { reason, kind }));
    match step {
        Step::RevokeRoleSessions { .. } | Step::DeactivateAccessKey { .. }
            if !ports.config.revoke_instance_credentials =>
        {
            return refused(credentials::NOT_PERMITTED.into(), RefusalKind::Final);
        }
        Step::RevokeRoleSessions { role_name, .. } => {
            return Ok(credentials::named_role(ports, role_name)
                .await?
                .err()
                .map(|reason| Refusal { reason, kind: RefusalKind::Final }))
        }
        Step::DeactivateAccessKey { user_name, .. } => {
            let exempt = &ports.config.exempt_tag;
            return match ports.fleet.user_tags(user_name).await? {
                None => refused(format!("IAM has no user {user_name}"), RefusalKind::Final),
                Some(tags) => match tags.get(exempt) {
                    Some(value) => refused(
                        format!("user {user_name} carries the exemption tag {exempt}={value}"),
                        RefusalKind::Exempt,
                    ),
                    None => Ok(None),
                },
            };
        }
        Step::StopEcsTask { cluster, task_arn } => {
            let exempt = &ports.config.exempt_tag;
            return match ports.fleet.ecs_task(cluster, task_arn).await? {
                None => refused(
                    format!("ECS does not know task {task_arn} (stopped long ago, or never)"),
                    RefusalKind::Final,
                ),
                Some(task) if task.desired_status == "STOPPED" || task.last_status == "STOPPED" => {
                    refused(format!("task {task_arn} is already stopped or stopping"), RefusalKind::AlreadyDone)
                }
                Some(task) => match task.tags.get(exempt) {
                    Some(value) => refused(
                        format!("task {task_arn} carries the exemption tag {exempt}={value}"),
                        RefusalKind::Exempt,
                    ),
                    None => Ok(None),
                },
            };
        }
        _ => {}
    }
    let Some(facts) = facts else { return Ok(None) };
    let id = &facts.instance_id;
    if matches!(step, Step::StopInstance { .. })
        && matches!(facts.state, InstanceState::Stopping | InstanceState::Stopped)
    {
        return refused(format!("{id} is already {}", facts.state), RefusalKind::AlreadyDone);
    }
    let exempt = &ports.config.exempt_tag;
    if let Some(value) = facts.tags.get(exempt) {
        return refused(format!("{id} carries the exemption tag {exempt}={value}"), RefusalKind::Exempt);
    }
    match step {
        Step::StopInstance { .. } => {
            let group = ports.fleet.auto_scaling_group_of(id).await?;
            if let Some(reason) = stop_idle::stop_refusal(facts, group.as_deref(), ports.config) {
                return refused(reason, RefusalKind::Final);
            }
            // Confirmed from CloudWatch itself, never from what the event says.
            let IncidentKind::Alarm(alarm) = &plan.incident.kind else { return Ok(None) };
            let facts = ports.fleet.metric_alarm(&alarm.alarm_name, id).await?;
            let why = stop_idle::idle_unconfirmed(facts.as_ref(), id, &alarm.alarm_name, &ports.config.policy);
            Ok(why.map(|reason| Refusal { reason, kind: RefusalKind::Final }))
        }
        // Beside an isolation the cap slot is taken anyway: the role is checked when the step runs,
        // after the swap, instead of on the critical path before it.
        Step::RevokeInstanceCredentials { .. } if plan.has(crate::plan::StepKind::IsolateInstance) => Ok(None),
        Step::RevokeInstanceCredentials { role_name, role_id, .. } => Ok(credentials::instance_role(
            ports,
            facts,
            credentials::Claimed::of(plan, role_name.as_deref(), role_id.as_deref()),
        )
            .await?
            .err()
            .map(|reason| Refusal { reason, kind: RefusalKind::Final })),
        // EC2 refuses termination protection for Spot instances: every retry would fail the same way.
        Step::ProtectInstance { .. } if facts.spot => refused(
            format!("{id} is a Spot instance: EC2 cannot protect it from termination and may reclaim it; its volumes are snapshotted first"),
            RefusalKind::Final,
        ),
        _ => Ok(None),
    }
}

/// What the steps before the cut read and record before they act, done beside the cap (one round
/// trip): the isolation's groups checked and original groups recorded, the Auto Scaling group looked
/// up. Each is `None` when its step is not to run (or the instance is unknown).
#[derive(Default)]
pub(super) struct Prepared {
    pub isolation: Option<Result<contain::SwapReady>>,
    pub auto_scaling_group: Option<Result<Option<String>>>,
}

/// Prepare whichever of `steps` can be (see [`Prepared`]); the Auto Scaling group is looked up unless
/// it was with the fleet's (`auto_scaling_group`). Nothing here changes an instance.
pub(super) async fn prepare<C: Compute, F: Fleet, S: StateStore>(
    steps: &[&Step],
    ports: &Ports<'_, C, F, S>,
    plan: &Plan,
    facts: Option<&InstanceFacts>,
    auto_scaling_group: Option<Result<Option<String>>>,
) -> Prepared {
    let runs = |kind: StepKind| steps.iter().any(|s| s.kind() == kind);
    let isolation = async {
        match facts {
            Some(facts) if runs(StepKind::IsolateInstance) => {
                Some(contain::prepare_isolation(ports, facts, &plan.incident_key).await)
            }
            _ => None,
        }
    };
    let auto_scaling_group = async {
        match facts {
            Some(facts) if runs(StepKind::DetachFromAutoScalingGroup) => match auto_scaling_group {
                Some(known) => Some(known),
                None => Some(ports.fleet.auto_scaling_group_of(&facts.instance_id).await),
            },
            _ => None,
        }
    };
    let (isolation, auto_scaling_group) = futures::future::join(isolation, auto_scaling_group).await;
    Prepared { isolation, auto_scaling_group }
}

/// Run one step through the ports, with what was `prepared` for it.
pub(super) async fn run<C: Compute, F: Fleet, S: StateStore>(
    step: &Step,
    ports: &Ports<'_, C, F, S>,
    ctx: &StepContext<'_>,
    prepared: &Prepared,
) -> Result<Outcome> {
    let facts =
        || ctx.facts.ok_or_else(|| Error::refused("plan", format!("{} needs the instance's description", step.name())));
    match step {
        Step::IsolateInstance { .. } => {
            let facts = facts()?;
            let ready = match &prepared.isolation {
                Some(ready) => ready.clone()?,
                None => contain::prepare_isolation(ports, facts, &ctx.plan.incident_key).await?,
            };
            contain::isolate(ports, facts, &ready, ctx.time_left).await
        }
        Step::ProtectInstance { instance_id } => ports
            .compute
            .protect_instance(instance_id)
            .await
            .map(|()| Outcome::done("termination protection on, shutdown behaviour stop")),
        Step::DetachFromAutoScalingGroup { instance_id } => {
            let group = match &prepared.auto_scaling_group {
                Some(group) => group.clone()?,
                None => ports.fleet.auto_scaling_group_of(instance_id).await?,
            };
            let Some(group) = group else { return Ok(Outcome::skipped("not in an Auto Scaling group")) };
            ports.fleet.detach_from(instance_id, &group).await?;
            Ok(Outcome::done(format!("detached from {group}; desired capacity kept")))
        }
        Step::DeregisterFromTargetGroups { instance_id } => {
            let groups = ports.fleet.deregister_from_target_groups(instance_id, facts()?.vpc_id.as_deref()).await?;
            Ok(if groups.is_empty() {
                Outcome::skipped("not registered in any target group")
            } else {
                Outcome::done(format!("deregistered from {}", groups.join(", ")))
            })
        }
        Step::SnapshotVolumes { instance_id } => {
            contain::snapshot(ports, instance_id, facts()?, &contain::incident_tags(ctx.plan, ctx.now), ctx.first_run)
                .await
        }
        Step::TagInstance { instance_id } => {
            let tags = contain::incident_tags(ctx.plan, ctx.now);
            let keys = tags.keys().cloned().collect::<Vec<_>>().join(", ");
            ports.compute.tag(instance_id.as_str(), &tags).await.map(|()| Outcome::done(format!("tagged {keys}")))
        }
        Step::StopInstance { instance_id } => stop_idle::stop(ports, instance_id, facts()?, ctx).await,
        Step::RevokeSecurityGroupIngress { group_id, permissions, judged_together } => {
            revoke::revoke(ports, group_id, permissions, *judged_together, ctx).await
        }
        Step::StopEcsTask { cluster, task_arn } => {
            let reason = format!("Firebreak: {}", ctx.plan.summary).chars().take(255).collect::<String>();
            ports.fleet.stop_ecs_task(cluster, task_arn, &reason).await?;
            Ok(Outcome::done(format!("task {task_arn} stopped; its stoppedReason names the finding")))
        }
        Step::RevokeInstanceCredentials { role_name, role_id, .. } => {
            // Boxed: the write of the role's policy, read back and written again, makes a large future.
            let claimed = credentials::Claimed::of(ctx.plan, role_name.as_deref(), role_id.as_deref());
            Box::pin(credentials::revoke_instance(ports, facts()?, claimed, ctx)).await
        }
        Step::RevokeRoleSessions { role_name, issued_before } => {
            credentials::revoke_sessions(ports, role_name, issued_before).await
        }
        Step::DeactivateAccessKey { user_name, access_key_id } => {
            ports.fleet.deactivate_access_key(user_name, access_key_id).await?;
            Ok(Outcome::done(format!(
                "access key {access_key_id} of {user_name} is inactive; undo: aws iam update-access-key --user-name \
                 {user_name} --access-key-id {access_key_id} --status Active"
            )))
        }
        Step::BlockDomain { domain, .. } => Box::pin(dns::block_domain(ports, facts()?, domain, ctx)).await,
        Step::ScanForMalware { instance_id } => scan::scan_for_malware(ports, instance_id, ctx).await,
        Step::RecordScanResult { scan_id, trigger_finding_id } => {
            scan::record_scan_result(ports, scan_id, trigger_finding_id.as_deref(), ctx).await
        }
        // Boxed: its reads and repairs make a large future, and a debug build polls it on the stack.
        Step::VerifyContainment { .. } => Box::pin(verify::verify(ports, facts()?, ctx)).await,
        Step::Notify | Step::UpdateSecurityHubFinding { .. } => Err(Error::refused(
            "plan",
            format!("{} is run by the executor once the outcomes are known, not as a step", step.name()),
        )),
    }
}
