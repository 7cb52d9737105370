//! The receipt: after the other steps, every way out of a contained instance is read back in one round
//! trip; what is found open is repaired once and read again; what stays open is named. Nothing is
//! reported closed that was not read closed: a rule added to the isolation group after the swap, an
//! interface attached after the describe, an Auto Scaling group that took the instance back, a deny
//! someone removed.

use super::context::{Ports, StepContext};
use super::{contain, credentials, dns};
use crate::error::{Error, Result};
use crate::plan::{Step, StepKind};
use crate::ports::{
    Compute, ContainmentGroup, Fleet, GroupRules, InstanceFacts, InterfaceFacts, RoleFacts, StateStore,
};
use crate::receipt::{Channel, ChannelCheck, ChannelState, Receipt};
use crate::report::Outcome;
use crate::state_keys;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// How a channel found open is closed again.
#[derive(Clone)]
enum Repair {
    /// Record the interface's groups as its originals (kept if recorded already), then swap it to its
    /// VPC's isolation group.
    Regroup {
        interface: String,
        vpc: String,
        groups: Vec<String>,
    },
    /// Revoke every rule of the isolation group.
    ClearRules {
        group: String,
        current: GroupRules,
    },
    /// Put the instance back on its role's denied instances.
    Deny(RoleFacts),
    MetadataOff,
    Detach,
    Protect,
}

/// One channel as read, and how to close it when it is open.
struct Found {
    check: ChannelCheck,
    repair: Option<Repair>,
}

impl Found {
    fn closed(channel: Channel, target: Option<String>, detail: String) -> Self {
        Self { check: ChannelCheck { channel, state: ChannelState::Verified, target, detail }, repair: None }
    }
    fn open(channel: Channel, target: Option<String>, detail: String, repair: Option<Repair>) -> Self {
        Self { check: ChannelCheck { channel, state: ChannelState::Open, target, detail }, repair }
    }
    fn waived(channel: Channel, detail: String) -> Self {
        Self { check: ChannelCheck { channel, state: ChannelState::Waived, target: None, detail }, repair: None }
    }
}

/// Read every channel of the instance back, repair what is open once, read again; the receipt goes to
/// the run's receipts. Fails (retryable: a redelivery repairs again) when a channel Firebreak can close
/// is still open.
pub(super) async fn verify<C: Compute, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    if r.config.dry_run {
        // Nothing was changed, so nothing is read back; the executor words it as what would have been done.
        return Ok(Outcome::done("every way out read back after the steps, and what is open repaired once"));
    }
    let id = &facts.instance_id;
    let first = read(r, facts, ctx).await?;
    let open_before: BTreeSet<(Channel, Option<String>)> =
        first.iter().filter(|f| f.check.state == ChannelState::Open).map(|f| f.check.key()).collect();
    let repairs: Vec<((Channel, Option<String>), Repair)> =
        first.iter().filter_map(|f| Some((f.check.key(), f.repair.clone()?))).collect();
    let mut repaired = 0;
    let checks: Vec<ChannelCheck> = if repairs.is_empty() {
        first.into_iter().map(|f| f.check).collect()
    } else {
        let failures = repair(r, facts, ctx, repairs).await;
        let second = read(r, facts, ctx).await?;
        second
            .into_iter()
            .map(|f| {
                let mut check = f.check;
                if check.state == ChannelState::Verified && open_before.contains(&check.key()) {
                    check.state = ChannelState::Repaired;
                    repaired += 1;
                } else if let Some(why) = failures.get(&check.key()).filter(|_| check.state == ChannelState::Open) {
                    check.detail = format!("{}; the repair failed: {why}", check.detail);
                }
                check
            })
            .collect()
    };
    let mut channels = checks;
    channels.extend(crate::receipt::unclosable(dns_channel(r, id, ctx).await?));
    let receipt = Receipt { instance: id.to_string(), read_at: r.clock.now().rfc3339, channels };
    let left_open: Vec<String> = receipt
        .left_open()
        .iter()
        .map(|c| {
            format!("{}{}", c.channel.human_name(), c.target.as_deref().map(|t| format!(" {t}")).unwrap_or_default())
        })
        .collect();
    let verified =
        receipt.channels.iter().filter(|c| matches!(c.state, ChannelState::Verified | ChannelState::Repaired)).count();
    let read_at = receipt.read_at.clone();
    r.receipts.lock().await.push(receipt);
    if !left_open.is_empty() {
        return Err(Error::Unverified {
            channels: left_open,
            message: format!("{id} read back at {read_at}: repaired once and still open; a retry repairs again"),
        });
    }
    Ok(Outcome::done(format!(
        "{verified} channel(s) of {id} read back closed at {read_at}{}; Time Sync, DNS and what already left stay open \
         (see the receipt)",
        match repaired {
            0 => String::new(),
            n => format!(", {n} of them after a repair"),
        }
    )))
}

/// The DNS channel in words: open either way (the VPC resolver answers the instance), and whether the
/// finding's domain is on Firebreak's DNS Firewall list, as read back from it.
async fn dns_channel<C, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    id: &crate::incident::InstanceId,
    ctx: &StepContext<'_>,
) -> Result<String> {
    let blocked = ctx.plan.actions.iter().find_map(|a| match &a.step {
        Step::BlockDomain { instance_id, domain } if instance_id == id => Some(domain.as_str()),
        _ => None,
    });
    let Some(domain) = blocked else { return Ok(crate::receipt::DNS_OPEN.to_owned()) };
    let listed = match dns::recorded_firewall(r).await? {
        Some(firewall) => r.fleet.blocked_domains(&firewall.domain_list_id).await?,
        None => Vec::new(),
    };
    let entries = crate::domains::list_entries(domain);
    Ok(if entries.iter().all(|e| listed.iter().any(|l| crate::domains::same_name(l, e))) {
        format!(
            "the VPC's Route 53 Resolver still answers the instance (security groups cannot block it): {domain} and \
             every name under it are on Firebreak's DNS Firewall list (read back), answered NXDOMAIN; every other name \
             resolves"
        )
    } else {
        format!(
            "{}; {domain}, which the finding names, is not on Firebreak's DNS Firewall list (see block_domain)",
            crate::receipt::DNS_RESOLVER
        )
    })
}

/// Whether the plan has a step of `kind` for this instance.
fn planned(ctx: &StepContext<'_>, facts: &InstanceFacts, kind: StepKind) -> bool {
    ctx.plan.actions.iter().any(|a| a.step.kind() == kind && a.step.instance_id() == Some(&facts.instance_id))
}

/// Every channel the plan's steps closed, read back concurrently (one round trip; two for the isolation
/// groups when this run did not look them up itself).
async fn read<C: Compute, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    ctx: &StepContext<'_>,
) -> Result<Vec<Found>> {
    let id = &facts.instance_id;
    let isolating = planned(ctx, facts, StepKind::IsolateInstance);
    let revoking = ctx.plan.actions.iter().find_map(|a| match &a.step {
        Step::RevokeInstanceCredentials { instance_id, role_name, role_id } if instance_id == id => {
            Some((role_name.as_deref(), role_id.as_deref()))
        }
        _ => None,
    });
    let detaching = planned(ctx, facts, StepKind::DetachFromAutoScalingGroup);
    let protecting = planned(ctx, facts, StepKind::ProtectInstance) && !facts.spot;
    let network = async {
        if !isolating {
            return Ok(Vec::new());
        }
        let (interfaces, groups) =
            futures::future::try_join(r.compute.instance_interfaces(id), isolation_groups(r, facts)).await?;
        Ok::<_, Error>(network_checks(facts, &interfaces, &groups))
    };
    let identity = async {
        let Some((named, named_id)) = revoking else { return Ok(Vec::new()) };
        let claimed = credentials::Claimed::of(ctx.plan, named, named_id);
        let role = credentials::instance_role(r, facts, claimed).await?;
        let has_profile = facts.instance_profile_arn.is_some();
        let Ok(found) = &role else {
            // No role whose credentials could be fetched: nothing more to read.
            return Ok(identity_checks(id, has_profile, &role, None, false));
        };
        let (policy, described) = futures::future::try_join(
            r.fleet.role_policy(&found.name, credentials::INSTANCES_POLICY),
            r.compute.describe_instance(id),
        )
        .await?;
        let metadata_on = described.as_ref().and_then(|d| d.metadata.as_ref()).is_none_or(|m| m.endpoint_enabled);
        Ok::<_, Error>(identity_checks(id, has_profile, &role, policy.as_deref(), metadata_on))
    };
    let fleet = async {
        let mut found = Vec::new();
        let (group, protected) = futures::future::try_join(
            async {
                if detaching {
                    r.fleet.auto_scaling_group_of(id).await.map(Some)
                } else {
                    Ok(None)
                }
            },
            async {
                if protecting {
                    r.compute.termination_protected(id).await.map(Some)
                } else {
                    Ok(None)
                }
            },
        )
        .await?;
        match group {
            Some(None) => found.push(Found::closed(Channel::AutoScaling, None, "in no Auto Scaling group".into())),
            Some(Some(group)) => found.push(Found::open(
                Channel::AutoScaling,
                None,
                format!("in Auto Scaling group {group}, which may replace or terminate it"),
                Some(Repair::Detach),
            )),
            None => {}
        }
        match protected {
            Some(true) => found.push(Found::closed(Channel::TerminationProtection, None, "on".into())),
            Some(false) => found.push(Found::open(
                Channel::TerminationProtection,
                None,
                "off: the instance and its evidence can be terminated".into(),
                Some(Repair::Protect),
            )),
            None => {}
        }
        Ok::<_, Error>(found)
    };
    let (network, identity, fleet) = futures::future::try_join3(network, identity, fleet).await?;
    Ok(network.into_iter().chain(identity).chain(fleet).collect())
}

/// The isolation group of each VPC the instance was described in, and its rules as EC2 has them now.
async fn isolation_groups<C: Compute, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
) -> Result<BTreeMap<String, (String, Option<GroupRules>)>> {
    let vpcs = facts.vpcs();
    let checked = r.groups.lock().await.clone();
    let groups = join_all(vpcs.into_iter().map(|vpc| {
        let known = checked.get(&vpc).map(|(_, isolation)| isolation.id.clone());
        async move {
            let id = match known {
                Some(id) => Some(id),
                None => {
                    let scope = state_keys::group(&r.scope, &vpc, ContainmentGroup::Isolation.name());
                    r.state.created_resource(&scope).await?
                }
            };
            let Some(id) = id else { return Ok::<_, Error>(None) };
            let rules = r.compute.group_rules(&id).await?;
            Ok(Some((vpc, (id, rules))))
        }
    }))
    .await;
    let mut found = BTreeMap::new();
    for group in groups {
        found.extend(group?);
    }
    Ok(found)
}

/// Each interface on its VPC's isolation group alone, and each isolation group without rules.
fn network_checks(
    facts: &InstanceFacts,
    interfaces: &[InterfaceFacts],
    groups: &BTreeMap<String, (String, Option<GroupRules>)>,
) -> Vec<Found> {
    let mut found = Vec::new();
    if interfaces.is_empty() {
        found.push(Found::closed(Channel::NetworkInterface, None, "no interface is attached".into()));
    }
    for i in interfaces {
        let vpc = i.vpc_id.clone().or_else(|| facts.vpc_id.clone()).unwrap_or_default();
        let target = Some(i.interface_id.clone());
        match groups.get(&vpc) {
            Some((isolation, _)) if i.group_ids == [isolation.clone()] => found.push(Found::closed(
                Channel::NetworkInterface,
                target,
                format!("only the isolation group {isolation}"),
            )),
            known => {
                let wanted =
                    known.map_or_else(|| format!("no isolation group of {vpc} yet"), |(g, _)| format!("not {g} alone"));
                found.push(Found::open(
                    Channel::NetworkInterface,
                    target,
                    format!("has {} ({wanted})", i.group_ids.join(" ")),
                    Some(Repair::Regroup { interface: i.interface_id.clone(), vpc, groups: i.group_ids.clone() }),
                ));
            }
        }
    }
    for (group, rules) in groups.values() {
        let target = Some(group.clone());
        match rules {
            Some(rules) if *rules == GroupRules::default() => {
                found.push(Found::closed(Channel::IsolationGroup, target, "no ingress and no egress rule".into()))
            }
            Some(rules) => found.push(Found::open(
                Channel::IsolationGroup,
                target,
                format!("has {} ingress and {} egress rule(s)", rules.ingress.len(), rules.egress.len()),
                Some(Repair::ClearRules { group: group.clone(), current: rules.clone() }),
            )),
            // Its interfaces show no group of that id: they are regrouped onto a new one.
            None => found.push(Found::open(Channel::IsolationGroup, target, "no longer exists".into(), None)),
        }
    }
    found
}

/// The role's deny for the instance, and its metadata service off; both left as they are, and said so,
/// where the revocation was refused (an exempt role, a deployment without the grant).
fn identity_checks(
    id: &crate::incident::InstanceId,
    has_profile: bool,
    role: &std::result::Result<RoleFacts, String>,
    policy: Option<&str>,
    metadata_on: bool,
) -> Vec<Found> {
    let role = match role {
        Ok(role) => role,
        Err(why) if !has_profile => {
            return vec![
                Found::closed(Channel::RoleCredentials, None, why.clone()),
                Found::closed(
                    Channel::MetadataService,
                    None,
                    "no role on the instance: no credentials to fetch".into(),
                ),
            ]
        }
        Err(why) => {
            return vec![
                Found::waived(Channel::RoleCredentials, format!("not revoked: {why}")),
                Found::waived(Channel::MetadataService, "left on with the role's credentials".into()),
            ]
        }
    };
    let policy_name = credentials::INSTANCES_POLICY;
    let denied = policy.is_some_and(|doc| credentials::denies_instance(doc, id));
    let credentials = if denied {
        Found::closed(
            Channel::RoleCredentials,
            Some(role.name.clone()),
            format!("policy {policy_name} denies every request made with them, wherever they are used"),
        )
    } else {
        Found::open(
            Channel::RoleCredentials,
            Some(role.name.clone()),
            format!("policy {policy_name} does not deny {id}: its credentials work wherever they were copied"),
            Some(Repair::Deny(role.clone())),
        )
    };
    vec![credentials, metadata_check(metadata_on, "off: nothing on the instance fetches new credentials")]
}

fn metadata_check(on: bool, closed: &str) -> Found {
    if on {
        Found::open(
            Channel::MetadataService,
            None,
            "on: anything on the instance can fetch its role's credentials".into(),
            Some(Repair::MetadataOff),
        )
    } else {
        Found::closed(Channel::MetadataService, None, closed.to_owned())
    }
}

/// Run each repair once, concurrently; returns why each that failed did.
async fn repair<C: Compute, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    ctx: &StepContext<'_>,
    repairs: Vec<((Channel, Option<String>), Repair)>,
) -> BTreeMap<(Channel, Option<String>), String> {
    let id = &facts.instance_id;
    let runs = repairs.into_iter().map(|(key, repair)| async move {
        let done: Result<()> = match repair {
            Repair::Regroup { interface, vpc, groups } => {
                async {
                    let originals = BTreeMap::from([(interface.clone(), groups)]);
                    r.state.record_original_groups(id.as_str(), &originals, &ctx.plan.incident_key, &r.scope).await?;
                    let isolation = contain::verified_group(r, &vpc, ContainmentGroup::Isolation).await?;
                    r.compute.set_interface_groups(&interface, &[isolation.id]).await
                }
                .await
            }
            Repair::ClearRules { group, current } => {
                r.compute.set_group_rules(&group, &current, &GroupRules::default()).await
            }
            Repair::Deny(role) => {
                let denied = credentials::denied_instance(&ctx.plan.incident.origin, id);
                credentials::deny(&r.compute, &r.fleet, r.state, &role, &denied, ctx.now.epoch).await.map(|_| ())
            }
            Repair::MetadataOff => r.compute.set_metadata_endpoint(id, false, None).await,
            Repair::Detach => r.fleet.detach_from_auto_scaling_group(id).await.map(|_| ()),
            Repair::Protect => r.compute.protect_instance(id).await,
        };
        done.err().map(|e| (key, e.to_string()))
    });
    join_all(runs).await.into_iter().flatten().collect()
}
