//! Cutting DNS: security groups and network ACLs cannot filter the VPC's Route 53 Resolver, so an
//! isolated instance keeps resolving, and can send data out one query at a time. Route 53 Resolver DNS
//! Firewall can: the finding's domain goes on Firebreak's domain list, whose rule group answers NXDOMAIN
//! and is associated with each VPC of the instance. Scoped to the named domain and its subdomains; a
//! release leaves the block in place.

use super::context::{Ports, StepContext};
use crate::error::{Error, Result};
use crate::ports::{DnsFirewall, Fleet, InstanceFacts, StateStore};
use crate::report::Outcome;
use crate::state_keys;

/// Block `domain` (validated when the plan was made) in every VPC of the instance.
pub(super) async fn block_domain<C, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    domain: &str,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let vpcs = facts.vpcs();
    let id = &facts.instance_id;
    if vpcs.is_empty() {
        return Ok(Outcome::skipped(format!("{id} is in no VPC: there is no VPC resolver to filter")));
    }
    let entries = crate::domains::list_entries(domain);
    if r.config.dry_run {
        return Ok(Outcome::done(format!("{} in {}", entries.join(" and "), vpcs.join(", "))));
    }
    let account = ctx.plan.incident.origin.account.as_ref().map_or("unknown", |a| a.as_str());
    let max = r.config.max_blocked_domains_per_hour;
    let window = format!("{}{}", ctx.now.hour(), state_keys::DOMAINS_WINDOW);
    if !r.state.take_cap_slot(account, &window, max).await? {
        return Ok(Outcome::held_by(
            crate::report::HeldBy::BlockedDomainsCap,
            format!(
                "held back: the cap of {max} blocked domain(s) per hour in account {account} is reached \
             (FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR); {domain} still resolves"
            ),
        ));
    }
    let firewall = firewall(r).await?;
    r.fleet.change_blocked_domains(&firewall.domain_list_id, &entries, true).await?;
    let associations = futures::future::try_join_all(vpcs.iter().map(|vpc| associate(r, &firewall, vpc))).await?;
    let new = associations.iter().filter(|new| **new).count();
    let (list, group) = (&firewall.domain_list_id, &firewall.rule_group_id);
    Ok(Outcome::done(format!(
        "queries for {domain} and every name under it from {} are answered NXDOMAIN by Firebreak's DNS Firewall \
         (rule group {group}, priority {}{}); other workloads of those VPCs are cut off from {domain} too, and every \
         other name still resolves; release leaves the block: firebreak unblock {domain}, run in that account and \
         region, lifts it (or aws route53resolver update-firewall-domains --firewall-domain-list-id {list} \
         --operation REMOVE --domains {})",
        vpcs.join(", "),
        r.config.dns_firewall_priority,
        match new {
            0 => String::new(),
            n => format!(", newly associated with {n} VPC(s)"),
        },
        entries.join(" "),
    )))
}

/// `firebreak unblock DOMAIN`: take `domain` and every name under it off Firebreak's DNS Firewall list of
/// `scope` (`<account>#<region>`), and read the list back. A release leaves blocks in place: lifting one
/// is a person's decision of its own.
pub async fn unblock<F: Fleet, S: StateStore>(fleet: &F, state: &S, scope: &str, domain: &str) -> Result<Outcome> {
    let domain = crate::domains::blockable(domain)
        .map_err(|why| Error::refused("domain", format!("{why}: Firebreak never blocks it")))?;
    let key = state_keys::dns_firewall(scope);
    let recorded = state.created_resource(&key).await?.map(|recorded| parse(&key, &recorded)).transpose()?;
    let Some(firewall) = recorded else {
        return Err(Error::refused(
            "domain",
            format!(
                "Firebreak has no DNS Firewall recorded for {} (nothing was blocked here)",
                scope.replace('#', " ")
            ),
        ));
    };
    let entries = crate::domains::list_entries(&domain);
    let list = &firewall.domain_list_id;
    // Removed as the list holds them (`example.com.`), and read back the same way.
    let on_list = |listed: Vec<String>| {
        listed.into_iter().filter(|l| entries.iter().any(|e| crate::domains::same_name(l, e))).collect::<Vec<_>>()
    };
    let blocked = on_list(fleet.blocked_domains(list).await?);
    if blocked.is_empty() {
        return Ok(Outcome::skipped(format!("{domain} is not on Firebreak's DNS Firewall list {list}")));
    }
    fleet.change_blocked_domains(list, &blocked, false).await?;
    let still = on_list(fleet.blocked_domains(list).await?);
    if !still.is_empty() {
        let summary = format!("{} still on the DNS Firewall list {list} after its removal", still.join(" "));
        return Err(Error::ActionsFailed { failed: 1, total: 1, summary, retryable: true });
    }
    Ok(Outcome::done(format!(
        "{} taken off Firebreak's DNS Firewall list {list} and read back: {domain} resolves again in every VPC the \
         rule group is associated with",
        blocked.join(" and ")
    )))
}

/// Firebreak's DNS Firewall of the incident's account and region: the one recorded in the state table
/// (never one found by a tag), or a new one, recorded; when another run recorded one first, that one.
async fn firewall<C, F: Fleet, S: StateStore>(r: &Ports<'_, C, F, S>) -> Result<DnsFirewall> {
    if let Some(recorded) = recorded_firewall(r).await? {
        return Ok(recorded);
    }
    let created = r.fleet.create_dns_firewall().await?;
    let key = state_keys::dns_firewall(&r.scope);
    let both = format!("{} {}", created.domain_list_id, created.rule_group_id);
    parse(&key, &r.state.record_created_resource(&key, &both, None).await?)
}

/// The DNS Firewall recorded for the incident's account and region, if any.
pub(super) async fn recorded_firewall<C, F, S: StateStore>(r: &Ports<'_, C, F, S>) -> Result<Option<DnsFirewall>> {
    let key = state_keys::dns_firewall(&r.scope);
    r.state.created_resource(&key).await?.map(|recorded| parse(&key, &recorded)).transpose()
}

/// `<domain list id> <rule group id>`, as recorded under `key`.
fn parse(key: &str, recorded: &str) -> Result<DnsFirewall> {
    match recorded.split_once(' ') {
        Some((list, group)) => Ok(DnsFirewall { domain_list_id: list.to_owned(), rule_group_id: group.to_owned() }),
        None => Err(Error::State(format!("{key} does not hold a domain list and a rule group: {recorded:?}"))),
    }
}

/// The rule group associated with `vpc` once (recorded); `true` when this run associated it.
async fn associate<C, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    firewall: &DnsFirewall,
    vpc: &str,
) -> Result<bool> {
    let key = state_keys::dns_association(&r.scope, vpc);
    let recorded = r.state.created_resource(&key).await?;
    if recorded.as_deref() == Some(firewall.rule_group_id.as_str()) {
        return Ok(false);
    }
    let new = r.fleet.associate_dns_firewall(&firewall.rule_group_id, vpc, r.config.dns_firewall_priority).await?;
    // An association of another rule group recorded before is that group's, not this one's.
    r.state.record_created_resource(&key, &firewall.rule_group_id, recorded.as_deref()).await?;
    Ok(new)
}
