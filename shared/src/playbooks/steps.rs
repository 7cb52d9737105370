//! How each step is gated and run through the ports. The bookkeeping around them (journal, cap,
//! deadline, dry run, notification) is the executor's.

use super::{contain, revoke, stop_idle, Ports, Refusal, StepContext};
use crate::error::{Error, Result};
use crate::plan::Step;
use crate::ports::{Compute, Fleet, InstanceFacts, InstanceState};
use crate::report::Outcome;

/// Why `step` must not run on this instance, decided before the cap is taken; `Err` when finding out
/// failed.
pub(super) async fn refusal<C: Compute, F: Fleet>(
    step: &Step,
    ports: &Ports<'_, C, F>,
    facts: Option<&InstanceFacts>,
) -> Result<Option<Refusal>> {
    let Some(facts) = facts else { return Ok(None) };
    let id = &facts.instance_id;
    if let Step::StopInstance { .. } = step {
        if matches!(facts.state, InstanceState::Stopping | InstanceState::Stopped) {
            return Ok(Some(Refusal { reason: format!("{id} is already {}", facts.state), quiet: true }));
        }
        let group = ports.fleet.auto_scaling_group_of(id).await?;
        let refused = stop_idle::stop_refusal(facts, group.as_deref(), ports.config);
        return Ok(refused.map(|reason| Refusal { reason, quiet: false }));
    }
    let exempt = &ports.config.exempt_tag;
    Ok(facts
        .tags
        .get(exempt)
        .map(|value| Refusal { reason: format!("{id} carries the exemption tag {exempt}={value}"), quiet: false }))
}

/// Run one step through the ports.
pub(super) async fn run<C: Compute, F: Fleet>(
    step: &Step,
    ports: &Ports<'_, C, F>,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let facts =
        || ctx.facts.ok_or_else(|| Error::refused("plan", format!("{} needs the instance's description", step.name())));
    match step {
        Step::IsolateInstance { .. } => contain::isolate(ports, facts()?, ctx.time_left).await,
        Step::ProtectInstance { instance_id } => ports
            .compute
            .protect_instance(instance_id)
            .await
            .map(|()| Outcome::done("termination protection on, shutdown behaviour stop")),
        Step::DetachFromAutoScalingGroup { instance_id } => {
            Ok(match ports.fleet.detach_from_auto_scaling_group(instance_id).await? {
                Some(group) => Outcome::done(format!("detached from {group}; desired capacity kept")),
                None => Outcome::skipped("not in an Auto Scaling group"),
            })
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
        Step::RevokeSecurityGroupIngress { group_id, permissions } => {
            revoke::revoke(ports, group_id, permissions, ctx).await
        }
        Step::Notify => Err(Error::refused("plan", "the notification is sent by the executor, not run as a step")),
    }
}
