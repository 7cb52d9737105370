//! Auto Scaling and ELBv2 adapter for [`Fleet`].

use super::aws_error;
use crate::error::Result;
use crate::incident::InstanceId;
use crate::ports::Fleet;
use aws_sdk_elasticloadbalancingv2::types::TargetDescription;

#[derive(Clone)]
pub struct AwsFleet {
    autoscaling: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    /// Auto Scaling and ELBv2 have no `DryRun`: a dry run reads, and skips the writes.
    dry_run: bool,
}

impl AwsFleet {
    pub fn new(
        autoscaling: aws_sdk_autoscaling::Client,
        elb: aws_sdk_elasticloadbalancingv2::Client,
        dry_run: bool,
    ) -> Self {
        Self { autoscaling, elb, dry_run }
    }
}

impl Fleet for AwsFleet {
    async fn auto_scaling_group_of(&self, id: &InstanceId) -> Result<Option<String>> {
        let out = self
            .autoscaling
            .describe_auto_scaling_instances()
            .instance_ids(id.as_str())
            .send()
            .await
            .map_err(|e| aws_error("DescribeAutoScalingInstances", e))?;
        Ok(out.auto_scaling_instances().iter().find_map(|i| i.auto_scaling_group_name()).map(str::to_owned))
    }

    async fn detach_from_auto_scaling_group(&self, id: &InstanceId) -> Result<Option<String>> {
        let Some(group) = self.auto_scaling_group_of(id).await? else {
            return Ok(None);
        };
        let group = group.as_str();
        if self.dry_run {
            return Ok(Some(group.to_owned()));
        }
        // Scale-in protection first: should the detach fail (an instance in a lifecycle hook, say),
        // a scale-in still cannot pick it.
        self.autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .instance_ids(id.as_str())
            .protected_from_scale_in(true)
            .send()
            .await
            .map_err(|e| aws_error("SetInstanceProtection", e))?;
        self.autoscaling
            .detach_instances()
            .auto_scaling_group_name(group)
            .instance_ids(id.as_str())
            .should_decrement_desired_capacity(false)
            .send()
            .await
            .map_err(|e| aws_error("DetachInstances", e))?;
        Ok(Some(group.to_owned()))
    }

    async fn deregister_from_target_groups(&self, id: &InstanceId, vpc_id: Option<&str>) -> Result<Vec<String>> {
        let mut deregistered = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .elb
                .describe_target_groups()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws_error("DescribeTargetGroups", e))?;
            for group in page.target_groups() {
                let same_vpc = vpc_id.is_none() || group.vpc_id() == vpc_id;
                let by_instance = group.target_type().is_none_or(|t| t.as_str() == "instance");
                let Some(arn) = group.target_group_arn().filter(|_| same_vpc && by_instance) else { continue };
                let health = self
                    .elb
                    .describe_target_health()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeTargetHealth", e))?;
                let targets: Vec<TargetDescription> = health
                    .target_health_descriptions()
                    .iter()
                    .filter_map(|d| d.target())
                    .filter(|t| t.id() == Some(id.as_str()))
                    .cloned()
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                if self.dry_run {
                    deregistered.push(arn.to_owned());
                    continue;
                }
                self.elb
                    .deregister_targets()
                    .target_group_arn(arn)
                    .set_targets(Some(targets))
                    .send()
                    .await
                    .map_err(|e| aws_error("DeregisterTargets", e))?;
                deregistered.push(arn.to_owned());
            }
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(deregistered)
    }
}
