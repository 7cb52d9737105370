//! EC2 adapter for [`Compute`].

use super::error::{aws_error, code_of};
use super::lazy::Lazy;
use crate::error::{Error, Result};
use crate::incident::{IngressPermission, InstanceId};
use crate::ports::{
    Compute, ContainmentGroup, GroupRule, GroupRules, InstanceFacts, InstanceState, InterfaceFacts, MetadataOptions,
    Revocation,
};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, Filter, InstanceLifecycleType, InstanceSpecification, IpPermission, IpRange,
    Ipv6Range, PrefixListId, ResourceType, SecurityGroupRule, Tag, TagSpecification, UserIdGroupPair,
};
use aws_sdk_ec2::Client;
use std::collections::{BTreeMap, BTreeSet};

pub const ROLE_TAG: &str = "firebreak:role";

#[derive(Clone)]
pub struct Ec2Compute {
    client: Lazy<Client>,
    /// Every write is sent with `DryRun`: EC2 checks the permission and changes nothing.
    dry_run: bool,
}

/// `Ok(Some(value))` for a real call, `Ok(None)` for a dry run EC2 accepted (`DryRunOperation`).
fn settle<T, E, R>(
    dry_run: bool,
    operation: &'static str,
    result: std::result::Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
) -> Result<Option<T>>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if dry_run && code_of(&e) == Some("DryRunOperation") => Ok(None),
        Err(e) => Err(aws_error(operation, e)),
    }
}

/// A group that a dry run would have created; never sent to EC2.
fn dry_run_group(kind: ContainmentGroup) -> String {
    format!("{} (dry run)", kind.name())
}

impl Ec2Compute {
    /// Whether `group_id` holds the ingress rule `rule_id` now, with `p`'s protocol, ports and range.
    async fn holds_rule(&self, group_id: &str, rule_id: &str, p: &IngressPermission) -> Result<bool> {
        let out = match self
            .client
            .describe_security_group_rules()
            .security_group_rule_ids(rule_id)
            .filters(Filter::builder().name("group-id").values(group_id).build())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("InvalidSecurityGroupRuleId.NotFound") => return Ok(false),
            Err(e) => return Err(aws_error("DescribeSecurityGroupRules", e)),
        };
        Ok(out.security_group_rules().iter().any(|rule| is_ingress_rule(rule, group_id, p)))
    }

    /// EC2 of the account and region `sdk` points at; the client is built on the first call.
    pub fn new(sdk: &aws_config::SdkConfig, dry_run: bool) -> Self {
        Self { client: Lazy::new(sdk, Client::new), dry_run }
    }

    /// 1 once a call has built the EC2 client, else 0.
    pub fn clients_built(&self) -> usize {
        usize::from(self.client.is_built())
    }
}

/// The group's ingress rule of exactly this protocol, ports and range.
fn is_ingress_rule(rule: &SecurityGroupRule, group_id: &str, p: &IngressPermission) -> bool {
    let protocol = |text: &str| if text == "-1" { "all".to_owned() } else { text.to_ascii_lowercase() };
    rule.group_id() == Some(group_id)
        && rule.is_egress() == Some(false)
        && rule.ip_protocol().map(protocol) == Some(protocol(&p.protocol))
        && (rule.from_port(), rule.to_port()) == (p.from_port.or(Some(-1)), p.to_port.or(Some(-1)))
        && rule.cidr_ipv4().or(rule.cidr_ipv6()) == Some(p.cidr.as_str())
}

/// 16 hex digits nobody can predict: the process's randomly keyed hasher over the time and a counter.
pub(super) fn unguessable_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

fn permission(rule: &GroupRule) -> IpPermission {
    let p = IpPermission::builder().ip_protocol(&rule.protocol).set_from_port(rule.from_port).set_to_port(rule.to_port);
    let p = if rule.peer.starts_with("sg-") {
        p.user_id_group_pairs(UserIdGroupPair::builder().group_id(&rule.peer).build())
    } else if rule.peer.starts_with("pl-") {
        p.prefix_list_ids(PrefixListId::builder().prefix_list_id(&rule.peer).build())
    } else if rule.peer.contains(':') {
        p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(&rule.peer).build())
    } else {
        p.ip_ranges(IpRange::builder().cidr_ip(&rule.peer).build())
    };
    p.build()
}

/// EC2's permissions, one rule per peer.
fn rules_of(permissions: &[IpPermission]) -> std::collections::BTreeSet<GroupRule> {
    let mut rules = std::collections::BTreeSet::new();
    for p in permissions {
        let rule = |peer: &str| GroupRule {
            protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
            // EC2 reports all-protocol rules without ports (moto: as -1): no ports either way.
            from_port: p.from_port().filter(|_| p.ip_protocol() != Some("-1")),
            to_port: p.to_port().filter(|_| p.ip_protocol() != Some("-1")),
            peer: peer.to_owned(),
        };
        rules.extend(p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).map(rule));
        rules.extend(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()).map(rule));
        rules.extend(p.prefix_list_ids().iter().filter_map(|r| r.prefix_list_id()).map(rule));
        rules.extend(p.user_id_group_pairs().iter().filter_map(|r| r.group_id()).map(rule));
    }
    rules
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_spec(resource: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build());
    TagSpecification::builder().resource_type(resource).set_tags(Some(tags.collect())).build()
}

impl Compute for Ec2Compute {
    async fn describe_instance(&self, id: &InstanceId) -> Result<Option<InstanceFacts>> {
        Ok(self.describe_instances(std::slice::from_ref(id)).await?.remove(id))
    }

    async fn describe_instances(&self, ids: &[InstanceId]) -> Result<BTreeMap<InstanceId, InstanceFacts>> {
        // A filter, not `InstanceIds`: one unknown id would fail the whole call.
        let filter =
            Filter::builder().name("instance-id").set_values(Some(ids.iter().map(|i| i.to_string()).collect()));
        let mut pages = self.client.describe_instances().filters(filter.build()).into_paginator().send();
        let mut found = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeInstances", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = ids.iter().find(|id| instance.instance_id() == Some(id.as_str())) else { continue };
                found.insert(id.clone(), facts_of(id, instance)?);
            }
        }
        Ok(found)
    }

    async fn create_containment_group(&self, vpc_id: &str, kind: ContainmentGroup) -> Result<String> {
        let description = match kind {
            ContainmentGroup::Untracking => {
                "Firebreak: allows all traffic so EC2 stops tracking connections before isolation"
            }
            ContainmentGroup::Isolation => "Firebreak: no ingress, no egress - quarantine",
        };
        // A guessable name could be squatted (names are unique per VPC) to make creation fail forever.
        let name = format!("{}-{}", kind.name(), unguessable_suffix());
        let created = self
            .client
            .create_security_group()
            .group_name(&name)
            .description(description)
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(
                ResourceType::SecurityGroup,
                &[(ROLE_TAG, kind.name()), ("Name", kind.name())],
            ))
            .dry_run(self.dry_run)
            .send()
            .await;
        let group_id = match created {
            Err(e) if self.dry_run && code_of(&e) == Some("DryRunOperation") => return Ok(dry_run_group(kind)),
            Ok(out) => out.group_id().unwrap_or_default().to_owned(),
            Err(e) => return Err(aws_error("CreateSecurityGroup", e)),
        };
        // A new group allows all egress to 0.0.0.0/0: the rules are set to the kind's exactly.
        let current = self.group_rules(&group_id).await?.unwrap_or_default();
        self.set_group_rules(&group_id, &current, &kind.expected_rules()).await?;
        Ok(group_id)
    }

    async fn group_rules(&self, group_id: &str) -> Result<Option<GroupRules>> {
        if self.dry_run && !group_id.starts_with("sg-") {
            return Ok(Some(GroupRules::default()));
        }
        let out = match self.client.describe_security_groups().group_ids(group_id).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => return Ok(None),
            Err(e) => return Err(aws_error("DescribeSecurityGroups", e)),
        };
        Ok(out
            .security_groups()
            .iter()
            .find(|g| g.group_id() == Some(group_id))
            .map(|g| GroupRules { ingress: rules_of(g.ip_permissions()), egress: rules_of(g.ip_permissions_egress()) }))
    }

    async fn set_group_rules(&self, group_id: &str, current: &GroupRules, wanted: &GroupRules) -> Result<()> {
        let extra = |have: &std::collections::BTreeSet<GroupRule>, want: &std::collections::BTreeSet<GroupRule>| {
            have.difference(want).map(permission).collect::<Vec<_>>()
        };
        let (revoke_in, revoke_out) =
            (extra(&current.ingress, &wanted.ingress), extra(&current.egress, &wanted.egress));
        let (add_in, add_out) = (extra(&wanted.ingress, &current.ingress), extra(&wanted.egress, &current.egress));
        if !revoke_in.is_empty() {
            let r = self.client.revoke_security_group_ingress().group_id(group_id).set_ip_permissions(Some(revoke_in));
            r.dry_run(self.dry_run).send().await.map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?;
        }
        if !revoke_out.is_empty() {
            let r = self.client.revoke_security_group_egress().group_id(group_id).set_ip_permissions(Some(revoke_out));
            r.dry_run(self.dry_run).send().await.map_err(|e| aws_error("RevokeSecurityGroupEgress", e))?;
        }
        if !add_in.is_empty() {
            let r = self.client.authorize_security_group_ingress().group_id(group_id).set_ip_permissions(Some(add_in));
            r.dry_run(self.dry_run).send().await.map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e))?;
        }
        if !add_out.is_empty() {
            let r = self.client.authorize_security_group_egress().group_id(group_id).set_ip_permissions(Some(add_out));
            r.dry_run(self.dry_run).send().await.map_err(|e| aws_error("AuthorizeSecurityGroupEgress", e))?;
        }
        Ok(())
    }

    async fn set_interface_groups(&self, interface_id: &str, group_ids: &[String]) -> Result<()> {
        if self.dry_run && group_ids.iter().any(|g| !g.starts_with("sg-")) {
            // The group exists only in this dry run: there is nothing EC2 could check.
            return Ok(());
        }
        let result = self
            .client
            .modify_network_interface_attribute()
            .network_interface_id(interface_id)
            .set_groups(Some(group_ids.to_vec()))
            .dry_run(self.dry_run)
            .send()
            .await;
        settle(self.dry_run, "ModifyNetworkInterfaceAttribute", result)?;
        Ok(())
    }

    async fn protect_instance(&self, id: &InstanceId) -> Result<()> {
        // One attribute per call; the two are independent, so they go out together.
        let protection = self
            .client
            .modify_instance_attribute()
            .instance_id(id.as_str())
            .disable_api_termination(AttributeBooleanValue::builder().value(true).build())
            .dry_run(self.dry_run)
            .send();
        let shutdown = self
            .client
            .modify_instance_attribute()
            .instance_id(id.as_str())
            .instance_initiated_shutdown_behavior(AttributeValue::builder().value("stop").build())
            .dry_run(self.dry_run)
            .send();
        let (protection, shutdown) = futures::future::join(protection, shutdown).await;
        settle(self.dry_run, "ModifyInstanceAttribute", protection)?;
        settle(self.dry_run, "ModifyInstanceAttribute", shutdown)?;
        Ok(())
    }

    async fn instance_interfaces(&self, id: &InstanceId) -> Result<Vec<InterfaceFacts>> {
        // By attachment, not from the instance's description: an interface being attached shows here
        // before the instance lists it.
        let mut pages = self
            .client
            .describe_network_interfaces()
            .filters(filter("attachment.instance-id", id.as_str()))
            .into_paginator()
            .send();
        let mut interfaces = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
            interfaces.extend(page.network_interfaces().iter().filter_map(|n| {
                Some(InterfaceFacts {
                    interface_id: n.network_interface_id()?.to_owned(),
                    vpc_id: n.vpc_id().map(str::to_owned),
                    group_ids: n.groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect(),
                    tags: BTreeMap::new(),
                })
            }));
        }
        Ok(interfaces)
    }

    async fn termination_protected(&self, id: &InstanceId) -> Result<bool> {
        let out = self
            .client
            .describe_instance_attribute()
            .instance_id(id.as_str())
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
            .send()
            .await
            .map_err(|e| aws_error("DescribeInstanceAttribute", e))?;
        Ok(out.disable_api_termination().and_then(|v| v.value()).unwrap_or(false))
    }

    async fn gone_instances(&self, ids: &[InstanceId]) -> Result<BTreeSet<InstanceId>> {
        // By filter, not by id: an id EC2 no longer knows would fail the whole call. EC2 takes at most
        // 200 values in one filter ("FilterLimitExceeded").
        let mut present = BTreeSet::new();
        for chunk in ids.chunks(200) {
            let values: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let filter = Filter::builder().name("instance-id").set_values(Some(values)).build();
            let mut pages = self.client.describe_instances().filters(filter).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeInstances", e))?;
                for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                    let state = instance.state().and_then(|s| s.name()).and_then(|n| InstanceState::parse(n.as_str()));
                    if state.is_some_and(|s| !s.is_gone()) {
                        present.extend(instance.instance_id().and_then(InstanceId::parse));
                    }
                }
            }
        }
        Ok(ids.iter().filter(|id| !present.contains(*id)).cloned().collect())
    }

    async fn set_metadata_endpoint(&self, id: &InstanceId, enabled: bool, tokens: Option<&str>) -> Result<()> {
        use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState};
        let endpoint =
            if enabled { InstanceMetadataEndpointState::Enabled } else { InstanceMetadataEndpointState::Disabled };
        let out = self
            .client
            .modify_instance_metadata_options()
            .instance_id(id.as_str())
            .http_endpoint(endpoint)
            .set_http_tokens(tokens.map(HttpTokensState::from))
            .dry_run(self.dry_run)
            .send()
            .await;
        settle(self.dry_run, "ModifyInstanceMetadataOptions", out)?;
        Ok(())
    }

    async fn incident_snapshots(&self, id: &InstanceId, incident_id: &str) -> Result<Vec<String>> {
        let out = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter("tag:firebreak:incident", incident_id))
            .filters(filter("tag:firebreak:instance", id.as_str()))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSnapshots", e))?;
        Ok(out.snapshots().iter().filter_map(|s| s.snapshot_id().map(str::to_owned)).collect())
    }

    async fn snapshot_volumes(&self, id: &InstanceId, tags: &BTreeMap<String, String>) -> Result<Vec<String>> {
        let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = self
            .client
            .create_snapshots()
            .instance_specification(
                InstanceSpecification::builder().instance_id(id.as_str()).exclude_boot_volume(false).build(),
            )
            .description(format!("Firebreak evidence of {id}"))
            .tag_specifications(tag_spec(ResourceType::Snapshot, &pairs))
            .dry_run(self.dry_run)
            .send()
            .await;
        Ok(match settle(self.dry_run, "CreateSnapshots", out)? {
            Some(out) => out.snapshots().iter().filter_map(|s| s.snapshot_id().map(str::to_owned)).collect(),
            None => vec!["(dry run)".to_owned()],
        })
    }

    async fn revoke_ingress(&self, group_id: &str, p: &IngressPermission) -> Result<Revocation> {
        const GONE: &[&str] =
            &["InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound"];
        // Revoke by rule id only a rule the group holds now as the event describes it: an id taken from
        // a forged event could name any other rule of the group.
        let holds = match &p.rule_id {
            Some(rule_id) => self.holds_rule(group_id, rule_id, p).await?,
            None => false,
        };
        if let Some(rule_id) = p.rule_id.as_ref().filter(|_| holds) {
            match self
                .client
                .revoke_security_group_ingress()
                .group_id(group_id)
                .security_group_rule_ids(rule_id)
                .dry_run(self.dry_run)
                .send()
                .await
            {
                Ok(out) if out.unknown_ip_permissions().is_empty() => return Ok(Revocation::Revoked),
                Err(e) if self.dry_run && code_of(&e) == Some("DryRunOperation") => return Ok(Revocation::Revoked),
                // The id may be stale or foreign; the permission itself is the ground truth.
                Ok(_) => {}
                Err(e) if code_of(&e).is_some_and(|c| GONE.contains(&c)) => {}
                Err(e) => return Err(aws_error("RevokeSecurityGroupIngress", e)),
            }
        }
        let mut permission =
            IpPermission::builder().ip_protocol(&p.protocol).set_from_port(p.from_port).set_to_port(p.to_port);
        permission = if p.cidr.contains(':') {
            permission.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(&p.cidr).build())
        } else {
            permission.ip_ranges(IpRange::builder().cidr_ip(&p.cidr).build())
        };
        match self
            .client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission.build())
            .dry_run(self.dry_run)
            .send()
            .await
        {
            Ok(out) if out.unknown_ip_permissions().is_empty() => Ok(Revocation::Revoked),
            Err(e) if self.dry_run && code_of(&e) == Some("DryRunOperation") => Ok(Revocation::Revoked),
            Ok(_) => Ok(Revocation::AlreadyGone),
            Err(e) if code_of(&e).is_some_and(|c| GONE.contains(&c)) => Ok(Revocation::AlreadyGone),
            Err(e) => Err(aws_error("RevokeSecurityGroupIngress", e)),
        }
    }

    async fn ingress_held(&self, group_id: &str, permissions: &[IngressPermission]) -> Result<Vec<bool>> {
        let mut held = vec![false; permissions.len()];
        let mut pages = self
            .client
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(group_id).build())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeSecurityGroupRules", e))?;
            for (p, held) in permissions.iter().zip(held.iter_mut()) {
                *held |= page.security_group_rules().iter().any(|rule| is_ingress_rule(rule, group_id, p));
            }
        }
        Ok(held)
    }

    async fn stop_instance(&self, id: &InstanceId, hibernate: bool) -> Result<()> {
        let result = self
            .client
            .stop_instances()
            .instance_ids(id.as_str())
            .hibernate(hibernate)
            .dry_run(self.dry_run)
            .send()
            .await;
        settle(self.dry_run, "StopInstances", result)?;
        Ok(())
    }

    async fn tag(&self, resource_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let result =
            self.client.create_tags().resources(resource_id).set_tags(Some(tags)).dry_run(self.dry_run).send().await;
        settle(self.dry_run, "CreateTags", result)?;
        Ok(())
    }

    async fn untag(&self, resource_id: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let tags = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        let result =
            self.client.delete_tags().resources(resource_id).set_tags(Some(tags)).dry_run(self.dry_run).send().await;
        settle(self.dry_run, "DeleteTags", result)?;
        Ok(())
    }
}

/// What Firebreak reads of a described instance.
fn facts_of(id: &InstanceId, instance: &aws_sdk_ec2::types::Instance) -> Result<InstanceFacts> {
    let tags: BTreeMap<String, String> = instance
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect();
    let interfaces = instance
        .network_interfaces()
        .iter()
        .filter_map(|n| {
            Some(InterfaceFacts {
                interface_id: n.network_interface_id()?.to_owned(),
                vpc_id: n.vpc_id().map(str::to_owned),
                group_ids: n.groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect(),
                tags: BTreeMap::new(),
            })
        })
        .collect();
    let raw_state = instance.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default();
    let state = InstanceState::parse(raw_state).ok_or_else(|| Error::Aws {
        operation: "DescribeInstances",
        code: None,
        message: format!("{id} is in state {raw_state:?}, which EC2 does not document"),
        retryable: false,
    })?;
    Ok(InstanceFacts {
        instance_id: id.clone(),
        state,
        vpc_id: instance.vpc_id().map(str::to_owned),
        interfaces,
        volume_ids: instance
            .block_device_mappings()
            .iter()
            .filter_map(|b| b.ebs().and_then(|e| e.volume_id()).map(str::to_owned))
            .collect(),
        tags,
        root_device_type: instance.root_device_type().map(|t| t.as_str().to_owned()),
        hibernation_configured: instance.hibernation_options().and_then(|h| h.configured()).unwrap_or(false),
        spot: instance.instance_lifecycle() == Some(&InstanceLifecycleType::Spot),
        instance_profile_arn: instance.iam_instance_profile().and_then(|p| p.arn()).map(str::to_owned),
        metadata: instance.metadata_options().map(|m| MetadataOptions {
            endpoint_enabled: m.http_endpoint().is_none_or(|e| e.as_str() != "disabled"),
            tokens: m.http_tokens().map(|t| t.as_str().to_owned()),
        }),
    })
}
