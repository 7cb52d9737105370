//! Auto Scaling, ELBv2, CloudWatch, ECS, IAM and GuardDuty adapter for [`Fleet`].

use super::error::{aws_error, code_of};
use super::lazy::Lazy;
use crate::error::{Error, Result};
use crate::incident::InstanceId;
use crate::metrics_insights::Query;
use crate::ports::{AlarmFacts, DnsFirewall, Fleet, RoleFacts, TaskFacts};

/// The tag key and value on every DNS Firewall resource Firebreak creates (what its role may change).
pub const DNS_FIREWALL_TAG: &str = "firebreak:role";
pub const DNS_FIREWALL_ROLE: &str = "firebreak-dns-block";
use aws_sdk_elasticloadbalancingv2::types::TargetDescription;
use std::collections::BTreeMap;

/// The tag every DNS Firewall resource Firebreak creates carries, at creation.
fn dns_firewall_tag() -> Result<aws_sdk_route53resolver::types::Tag> {
    aws_sdk_route53resolver::types::Tag::builder()
        .key(DNS_FIREWALL_TAG)
        .value(DNS_FIREWALL_ROLE)
        .build()
        .map_err(|e| crate::error::Error::refused("tag", e.to_string()))
}

/// `DescribeAutoScalingInstances` takes at most 50 instance ids (and answers 50 records a page).
const AUTO_SCALING_INSTANCES_PER_CALL: usize = 50;

#[derive(Clone)]
pub struct AwsFleet {
    autoscaling: Lazy<aws_sdk_autoscaling::Client>,
    elb: Lazy<aws_sdk_elasticloadbalancingv2::Client>,
    cloudwatch: Lazy<aws_sdk_cloudwatch::Client>,
    ecs: Lazy<aws_sdk_ecs::Client>,
    iam: Lazy<aws_sdk_iam::Client>,
    guardduty: Lazy<aws_sdk_guardduty::Client>,
    securityhub: Lazy<aws_sdk_securityhub::Client>,
    route53resolver: Lazy<aws_sdk_route53resolver::Client>,
    /// Auto Scaling, ELBv2, ECS and IAM have no `DryRun`: a dry run reads, and skips the writes.
    dry_run: bool,
}

impl AwsFleet {
    /// Every client of the fleet, from one configuration (one account and region), each built when
    /// first called.
    pub fn new(sdk: &aws_config::SdkConfig, dry_run: bool) -> Self {
        Self {
            autoscaling: Lazy::new(sdk, aws_sdk_autoscaling::Client::new),
            elb: Lazy::new(sdk, aws_sdk_elasticloadbalancingv2::Client::new),
            cloudwatch: Lazy::new(sdk, aws_sdk_cloudwatch::Client::new),
            ecs: Lazy::new(sdk, aws_sdk_ecs::Client::new),
            iam: Lazy::new(sdk, aws_sdk_iam::Client::new),
            guardduty: Lazy::new(sdk, aws_sdk_guardduty::Client::new),
            securityhub: Lazy::new(sdk, aws_sdk_securityhub::Client::new),
            route53resolver: Lazy::new(sdk, aws_sdk_route53resolver::Client::new),
            dry_run,
        }
    }

    /// How many of the fleet's clients a run has built so far.
    pub fn clients_built(&self) -> usize {
        [
            self.autoscaling.is_built(),
            self.elb.is_built(),
            self.cloudwatch.is_built(),
            self.ecs.is_built(),
            self.iam.is_built(),
            self.guardduty.is_built(),
            self.securityhub.is_built(),
            self.route53resolver.is_built(),
        ]
        .into_iter()
        .filter(|&built| built)
        .count()
    }
}

impl Fleet for AwsFleet {
    async fn guardduty_finding(&self, detector_id: &str, finding_id: &str) -> Result<Option<serde_json::Value>> {
        super::guardduty::finding(&self.guardduty, detector_id, finding_id).await
    }

    async fn metric_alarm(&self, name: &str, instance: &InstanceId) -> Result<Option<AlarmFacts>> {
        use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricStat};
        let out = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(|e| aws_error("DescribeAlarms", e))?;
        let Some(alarm) = out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name)) else {
            return Ok(None);
        };
        // A Metrics Insights alarm watches one time series per group: the instance's own series is
        // its metric with the instance's dimension, computed with the query's function.
        let insights = alarm.metrics().iter().find_map(|m| Some((Query::parse(m.expression()?)?, m.period())));
        let (namespace, metric_name, dimensions, period, statistic) = match insights {
            Some((query, period)) => {
                let dimensions = if query.per_instance() {
                    vec![("InstanceId".to_owned(), instance.as_str().to_owned())]
                } else {
                    Vec::new()
                };
                let statistic = query.statistic().to_owned();
                (Some(query.namespace), Some(query.metric), dimensions, period.or(alarm.period()), Some(statistic))
            }
            None => (
                alarm.namespace().map(str::to_owned),
                alarm.metric_name().map(str::to_owned),
                alarm.dimensions().iter().filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned()))).collect(),
                alarm.period(),
                alarm.statistic().map(|s| s.as_str().to_owned()),
            ),
        };
        let periods = alarm.evaluation_periods().unwrap_or(1).max(1);
        let mut recent_values = Vec::new();
        if let (Some(namespace), Some(metric), Some(period), Some(statistic), false) =
            (&namespace, &metric_name, period, &statistic, dimensions.is_empty())
        {
            let end = std::time::SystemTime::now();
            let start = end - std::time::Duration::from_secs(u64::try_from(period * periods).unwrap_or(0));
            let metric = Metric::builder()
                .namespace(namespace)
                .metric_name(metric)
                .set_dimensions(Some(
                    dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
                ))
                .build();
            let query = MetricDataQuery::builder()
                .id("m")
                .metric_stat(MetricStat::builder().metric(metric).period(period).stat(statistic).build())
                .build();
            let data = self
                .cloudwatch
                .get_metric_data()
                .metric_data_queries(query)
                .start_time(aws_smithy_types::DateTime::from(start))
                .end_time(aws_smithy_types::DateTime::from(end))
                .scan_by(aws_sdk_cloudwatch::types::ScanBy::TimestampDescending)
                .send()
                .await
                .map_err(|e| aws_error("GetMetricData", e))?;
            recent_values = data.metric_data_results().iter().flat_map(|r| r.values().iter().copied()).collect();
        }
        Ok(Some(AlarmFacts {
            name: name.to_owned(),
            state: alarm.state_value().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            comparison: alarm.comparison_operator().map(|c| c.as_str().to_owned()),
            namespace,
            metric_name,
            dimensions,
            threshold: alarm.threshold(),
            evaluation_periods: alarm.evaluation_periods(),
            datapoints_to_alarm: alarm.datapoints_to_alarm(),
            recent_values,
        }))
    }

    async fn ecs_task(&self, cluster: &str, task_arn: &str) -> Result<Option<TaskFacts>> {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTasks", e))?;
        Ok(out.tasks().iter().find(|t| t.task_arn() == Some(task_arn)).map(|t| TaskFacts {
            last_status: t.last_status().unwrap_or_default().to_owned(),
            desired_status: t.desired_status().unwrap_or_default().to_owned(),
            tags: t.tags().iter().filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned()))).collect(),
        }))
    }

    async fn stop_ecs_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| aws_error("StopTask", e))?;
        Ok(())
    }

    async fn instance_profile_role(&self, profile_arn: &str) -> Result<Option<RoleFacts>> {
        let name = profile_arn.rsplit('/').next().unwrap_or(profile_arn);
        let out = match self.iam.get_instance_profile().instance_profile_name(name).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(aws_error("GetInstanceProfile", e)),
        };
        let Some(role) = out.instance_profile().and_then(|p| p.roles().first()) else { return Ok(None) };
        // The profile's copy of the role may lack its tags: the role itself is read.
        self.role(role.role_name()).await
    }

    async fn role(&self, name: &str) -> Result<Option<RoleFacts>> {
        let out = match self.iam.get_role().role_name(name).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(aws_error("GetRole", e)),
        };
        Ok(out.role().map(|r| RoleFacts {
            name: r.role_name().to_owned(),
            id: r.role_id().to_owned(),
            arn: r.arn().to_owned(),
            path: r.path().to_owned(),
            tags: r.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect(),
            trust_policy: r.assume_role_policy_document().and_then(trust_policy),
        }))
    }

    async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| aws_error("PutRolePolicy", e))?;
        Ok(())
    }

    async fn role_policy(&self, role: &str, policy: &str) -> Result<Option<String>> {
        match self.iam.get_role_policy().role_name(role).policy_name(policy).send().await {
            // IAM returns the document URL-encoded.
            Ok(out) => Ok(Some(crate::text::percent_decode(out.policy_document()))),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(aws_error("GetRolePolicy", e)),
        }
    }

    async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        match self.iam.delete_role_policy().role_name(role).policy_name(policy).send().await {
            // Gone already is what was asked for.
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
            other => other.map(|_| ()).map_err(|e| aws_error("DeleteRolePolicy", e)),
        }
    }

    async fn create_dns_firewall(&self) -> Result<DnsFirewall> {
        use aws_sdk_route53resolver::types::{Action, BlockResponse};
        // The creator request id makes a retried call idempotent: one per creation, never reused.
        let request = |what: &str| format!("firebreak-{what}-{}", super::ec2::unguessable_suffix());
        let list = self
            .route53resolver
            .create_firewall_domain_list()
            .creator_request_id(request("list"))
            .name(format!("{DNS_FIREWALL_ROLE}-domains"))
            .tags(dns_firewall_tag()?)
            .send()
            .await
            .map_err(|e| aws_error("CreateFirewallDomainList", e))?;
        let list_id = list.firewall_domain_list().and_then(|l| l.id()).unwrap_or_default().to_owned();
        let group = self
            .route53resolver
            .create_firewall_rule_group()
            .creator_request_id(request("group"))
            .name(DNS_FIREWALL_ROLE)
            .tags(dns_firewall_tag()?)
            .send()
            .await
            .map_err(|e| aws_error("CreateFirewallRuleGroup", e))?;
        let group_id = group.firewall_rule_group().and_then(|g| g.id()).unwrap_or_default().to_owned();
        self.route53resolver
            .create_firewall_rule()
            .creator_request_id(request("rule"))
            .firewall_rule_group_id(&group_id)
            .firewall_domain_list_id(&list_id)
            .priority(100)
            .action(Action::Block)
            .block_response(BlockResponse::Nxdomain)
            .name(format!("{DNS_FIREWALL_ROLE}-nxdomain"))
            .send()
            .await
            .map_err(|e| aws_error("CreateFirewallRule", e))?;
        Ok(DnsFirewall { domain_list_id: list_id, rule_group_id: group_id })
    }

    async fn change_blocked_domains(&self, list_id: &str, domains: &[String], block: bool) -> Result<()> {
        use aws_sdk_route53resolver::types::FirewallDomainUpdateOperation as Operation;
        self.route53resolver
            .update_firewall_domains()
            .firewall_domain_list_id(list_id)
            .operation(if block { Operation::Add } else { Operation::Remove })
            .set_domains(Some(domains.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("UpdateFirewallDomains", e))?;
        Ok(())
    }

    async fn blocked_domains(&self, list_id: &str) -> Result<Vec<String>> {
        let mut pages =
            self.route53resolver.list_firewall_domains().firewall_domain_list_id(list_id).into_paginator().send();
        let mut domains = Vec::new();
        while let Some(page) = pages.next().await {
            domains.extend(page.map_err(|e| aws_error("ListFirewallDomains", e))?.domains().iter().cloned());
        }
        Ok(domains)
    }

    async fn associate_dns_firewall(&self, rule_group_id: &str, vpc_id: &str, priority: i32) -> Result<bool> {
        // Associated already (by an earlier run whose record was lost): what was asked for. Asked with the
        // documented list, not inferred from an error code the API reference does not name.
        let existing = self
            .route53resolver
            .list_firewall_rule_group_associations()
            .firewall_rule_group_id(rule_group_id)
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(|e| aws_error("ListFirewallRuleGroupAssociations", e))?;
        if !existing.firewall_rule_group_associations().is_empty() {
            return Ok(false);
        }
        self.route53resolver
            .associate_firewall_rule_group()
            .creator_request_id(format!("firebreak-{vpc_id}-{rule_group_id}"))
            .firewall_rule_group_id(rule_group_id)
            .vpc_id(vpc_id)
            .priority(priority)
            .name(DNS_FIREWALL_ROLE)
            .tags(dns_firewall_tag()?)
            .send()
            .await
            .map_err(|e| aws_error("AssociateFirewallRuleGroup", e))?;
        Ok(true)
    }

    async fn start_malware_scan(&self, resource_arn: &str, client_token: &str) -> Result<String> {
        if self.dry_run {
            return Ok("(dry run: no scan)".into());
        }
        let out = self
            .guardduty
            .start_malware_scan()
            .resource_arn(resource_arn)
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| aws_error("StartMalwareScan", e))?;
        out.scan_id()
            .map(str::to_owned)
            .ok_or_else(|| Error::refused("StartMalwareScan", "GuardDuty answered without a scan id"))
    }

    async fn update_security_hub_finding(&self, update: &crate::write_back::FindingUpdate) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        super::securityhub::update(&self.securityhub, update).await
    }

    async fn security_hub_status(&self, finding: &crate::incident::SecurityHubRef) -> Result<Option<String>> {
        super::securityhub::status(&self.securityhub, finding).await
    }

    async fn user_tags(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.iam.get_user().user_name(name).send().await {
            Ok(out) => Ok(Some(
                out.user()
                    .map(|u| u.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
                    .unwrap_or_default(),
            )),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(aws_error("GetUser", e)),
        }
    }

    async fn deactivate_access_key(&self, user: &str, access_key_id: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.iam
            .update_access_key()
            .user_name(user)
            .access_key_id(access_key_id)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send()
            .await
            .map_err(|e| aws_error("UpdateAccessKey", e))?;
        Ok(())
    }

    async fn auto_scaling_group_of(&self, id: &InstanceId) -> Result<Option<String>> {
        Ok(self.auto_scaling_groups_of(std::slice::from_ref(id)).await?.remove(id))
    }

    async fn auto_scaling_groups_of(&self, ids: &[InstanceId]) -> Result<BTreeMap<InstanceId, String>> {
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(AUTO_SCALING_INSTANCES_PER_CALL) {
            let out = self
                .autoscaling
                .describe_auto_scaling_instances()
                .set_instance_ids(Some(chunk.iter().map(ToString::to_string).collect()))
                .max_records(AUTO_SCALING_INSTANCES_PER_CALL as i32)
                .send()
                .await
                .map_err(|e| aws_error("DescribeAutoScalingInstances", e))?;
            for member in out.auto_scaling_instances() {
                let id = chunk.iter().find(|id| member.instance_id() == Some(id.as_str()));
                if let (Some(id), Some(group)) = (id, member.auto_scaling_group_name()) {
                    found.insert(id.clone(), group.to_owned());
                }
            }
        }
        Ok(found)
    }

    async fn detach_from(&self, id: &InstanceId, group: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
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
        Ok(())
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

/// A role's trust policy as IAM returns it: URL-encoded JSON ("The policy that grants an entity
/// permission to assume the role", `AssumeRolePolicyDocument`, IAM API Reference, Role data type).
fn trust_policy(encoded: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&crate::text::percent_decode(encoded)).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_trust_policy_is_read_as_iam_returns_it_url_encoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ec2.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let trust = super::trust_policy(encoded).expect("decoded");
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
        assert_eq!(super::trust_policy("%7"), None, "a malformed escape");
    }

    #[test]
    fn iam_policy_documents_are_url_decoded() {
        assert_eq!(crate::text::percent_decode("%7B%22Effect%22%3A%22Deny%22%7D"), "{\"Effect\":\"Deny\"}");
        assert_eq!(crate::text::percent_decode("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(crate::text::percent_decode("100%"), "100%");
    }
}
