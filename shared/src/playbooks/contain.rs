//! Containment of a compromised instance: network first (every interface, tracked connections cut),
//! then evidence and blast control concurrently. Nothing here undoes an earlier step.

use super::context::{Ports, VerifiedGroup, ORIGINAL_GROUPS_TAG, QUARANTINE_TAG};
use crate::clock::Now;
use crate::error::{Error, Result};
use crate::incident::{IncidentKind, InstanceId};
use crate::plan::Plan;
use crate::ports::{Compute, ContainmentGroup, InstanceFacts, InterfaceFacts, OriginalGroups, StateStore};
use crate::report::Outcome;
use crate::state_keys;
use futures::future::join_all;
use std::collections::BTreeMap;

/// EC2 allows 256 characters in a tag value; 16 group ids need more, so long lists span several tags.
const TAG_VALUE_MAX: usize = 256;

/// The tags that mark an instance and its snapshots with the incident.
pub(super) fn incident_tags(plan: &Plan, now: &Now) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if let IncidentKind::Guardduty(f) = &plan.incident.kind {
        tags.insert("firebreak:incident".to_owned(), f.finding_id.clone());
        tags.insert("firebreak:finding-type".to_owned(), f.finding_type.chars().take(TAG_VALUE_MAX).collect());
        tags.insert("firebreak:severity".to_owned(), f.severity.to_string());
    }
    tags.insert(QUARANTINE_TAG.to_owned(), now.rfc3339.clone());
    tags
}

/// The VPC's containment group of `kind`: the one recorded in the state table (never one found by a
/// tag, which anyone may forge), its rules checked and repaired; or a new one, created under an
/// unguessable name, checked, then recorded.
pub(super) async fn verified_group<C: Compute, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    vpc: &str,
    kind: ContainmentGroup,
) -> Result<VerifiedGroup> {
    let wanted = kind.expected_rules();
    let scope = state_keys::group(&r.scope, vpc, kind.name());
    let mut gone = None;
    if let Some(id) = r.group_record(&scope).await? {
        match r.compute.group_rules(&id).await? {
            Some(rules) if rules == wanted => return Ok(VerifiedGroup { id, how: "verified".into() }),
            Some(rules) => {
                r.compute.set_group_rules(&id, &rules, &wanted).await?;
                if r.compute.group_rules(&id).await?.as_ref() != Some(&wanted) {
                    return Err(Error::refused(
                        "containment group",
                        format!("{id} could not be repaired to the {} rules", kind.name()),
                    ));
                }
                let changed = rules.ingress.symmetric_difference(&wanted.ingress).count()
                    + rules.egress.symmetric_difference(&wanted.egress).count();
                return Ok(VerifiedGroup { id, how: format!("repaired ({changed} rule(s) changed), then verified") });
            }
            // EC2 says it was deleted since: a new one replaces that record, and only that one.
            None => gone = Some(id),
        }
    }
    let created = r.compute.create_containment_group(vpc, kind).await?;
    if r.config.dry_run {
        return Ok(VerifiedGroup { id: created, how: "would be created".into() });
    }
    if r.compute.group_rules(&created).await?.as_ref() != Some(&wanted) {
        return Err(Error::refused(
            "containment group",
            format!("the new group {created} does not have the {} rules", kind.name()),
        ));
    }
    let recorded = r.state.record_created_resource(&scope, &created, gone.as_deref()).await?;
    if recorded != created {
        // Another run recorded its group first: use that one, checked like any recorded group. Its
        // record is not the one found gone, so this recursion ends unless that group vanished too.
        return Box::pin(verified_group(r, vpc, kind)).await;
    }
    let how = match gone {
        Some(gone) => format!("created and verified (the recorded {gone} no longer exists)"),
        None => "created and verified".into(),
    };
    Ok(VerifiedGroup { id: created, how })
}

/// Why the instance needs no containment because Firebreak contained it already (for an earlier
/// incident, such as the attack sequence a finding belongs to), or `None`. Decided from what only
/// Firebreak writes: its recorded isolation group on every interface, and its quarantine record.
/// Never from tags, which whoever holds the instance's credentials may set.
/// `quarantine` is the instance's quarantine record when it was read already (beside the claim).
pub(super) async fn already_contained<C, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    quarantine: Option<Result<Option<OriginalGroups>>>,
) -> Result<Option<String>> {
    if facts.interfaces.is_empty() {
        return Ok(None);
    }
    // The quarantine record first: for an instance never contained (the usual case) it is the only
    // read, and the group records are left for the isolation to read once.
    let quarantine = match quarantine {
        Some(read) => read?,
        None => r.state.original_groups(facts.instance_id.as_str()).await?,
    };
    if quarantine.is_none() {
        return Ok(None);
    }
    for interface in &facts.interfaces {
        let Some(vpc) = interface.vpc_id.as_deref().or(facts.vpc_id.as_deref()) else { return Ok(None) };
        let scope = state_keys::group(&r.scope, vpc, ContainmentGroup::Isolation.name());
        let recorded = r.state.created_resource(&scope).await?;
        if recorded.is_none() || interface.group_ids != [recorded.unwrap_or_default()] {
            return Ok(None);
        }
    }
    let id = &facts.instance_id;
    Ok(Some(format!(
        "{id} is already contained by Firebreak (every interface on its isolation group, original groups recorded): \
         nothing changed; firebreak release {id} ends the quarantine"
    )))
}

/// An isolation made ready before its first swap (beside the cap): each VPC's containment groups
/// checked, and the original groups of every interface still to move as recorded (a record already
/// there wins).
#[derive(Debug, Clone)]
pub(crate) struct SwapReady {
    groups: BTreeMap<String, (VerifiedGroup, VerifiedGroup)>,
    originals: OriginalGroups,
}

/// The VPC of each interface; refused when one is in none.
fn vpcs_of(facts: &InstanceFacts) -> Result<Vec<String>> {
    let vpcs: Option<Vec<String>> = facts.interfaces.iter().map(|i| vpc_of(facts, i)).collect();
    let Some(mut vpcs) = vpcs.filter(|v| !v.is_empty()) else {
        return Err(Error::refused("instance.vpc_id", format!("{} is not in a VPC", facts.instance_id)));
    };
    vpcs.sort_unstable();
    vpcs.dedup();
    Ok(vpcs)
}

fn vpc_of(facts: &InstanceFacts, interface: &InterfaceFacts) -> Option<String> {
    interface.vpc_id.clone().or_else(|| facts.vpc_id.clone())
}

/// The interfaces not yet on their VPC's isolation group alone (`isolation` by VPC; a VPC without one
/// yet moves every interface).
fn still_to_move<'f>(
    facts: &'f InstanceFacts,
    isolation: &BTreeMap<String, Option<String>>,
) -> Vec<&'f InterfaceFacts> {
    facts
        .interfaces
        .iter()
        .filter(|i| match vpc_of(facts, i).and_then(|v| isolation.get(&v).cloned().flatten()) {
            Some(group) => i.group_ids != [group],
            None => true,
        })
        .collect()
}

/// Each VPC's pair of containment groups, checked once per VPC and run: the other instances of a plan
/// use what the first one checked.
async fn checked_groups<C: Compute, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    vpcs: &[String],
) -> Result<BTreeMap<String, (VerifiedGroup, VerifiedGroup)>> {
    let mut checked = r.groups.lock().await;
    let unchecked: Vec<&String> = vpcs.iter().filter(|v| !checked.contains_key(*v)).collect();
    let fresh = futures::future::try_join_all(unchecked.into_iter().map(|vpc| async move {
        let (untracking, isolation) = futures::future::try_join(
            verified_group(r, vpc, ContainmentGroup::Untracking),
            verified_group(r, vpc, ContainmentGroup::Isolation),
        )
        .await?;
        Ok::<_, Error>((vpc.clone(), (untracking, isolation)))
    }))
    .await?;
    checked.extend(fresh);
    Ok(vpcs.iter().filter_map(|v| Some((v.clone(), checked.get(v)?.clone()))).collect())
}

/// The isolation group of each VPC as far as it is known without a request (checked earlier in this
/// run, or its record read beside the claim): `None` when one VPC's is not.
async fn isolation_known<C, F, S>(r: &Ports<'_, C, F, S>, vpcs: &[String]) -> Option<BTreeMap<String, Option<String>>> {
    let checked = r.groups.lock().await;
    let read_ahead = r.read_ahead.lock().await;
    vpcs.iter()
        .map(|vpc| {
            let known = match checked.get(vpc) {
                Some((_, isolation)) => Some(isolation.id.clone()),
                None => read_ahead.get(&state_keys::group(&r.scope, vpc, ContainmentGroup::Isolation.name()))?.clone(),
            };
            Some((vpc.clone(), known))
        })
        .collect()
}

/// Make the isolation ready: check the containment groups and record the original groups of the
/// interfaces to move, in one round trip when the isolation groups are known already (the original
/// groups of the interfaces not on them are recorded while the groups are checked). `incident` is
/// recorded among the quarantine record's owners.
pub(super) async fn prepare_isolation<C: Compute, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    incident: &str,
) -> Result<SwapReady> {
    let vpcs = vpcs_of(facts)?;
    let id = facts.instance_id.as_str();
    let record = |originals: OriginalGroups| async move {
        if r.config.dry_run || originals.is_empty() {
            return Ok(originals);
        }
        r.state.record_original_groups(id, &originals, incident, &r.scope).await
    };
    let (groups, mut originals) = match isolation_known(r, &vpcs).await {
        Some(known) => {
            let (groups, recorded) =
                futures::future::join(checked_groups(r, &vpcs), record(groups_of(&still_to_move(facts, &known)))).await;
            (groups?, recorded?)
        }
        None => {
            let groups = checked_groups(r, &vpcs).await?;
            let recorded = record(groups_of(&still_to_move(facts, &isolation_ids(&groups)))).await?;
            (groups, recorded)
        }
    };
    // A group found gone and replaced moves interfaces the early record did not cover: record those too.
    let missed: Vec<&InterfaceFacts> = still_to_move(facts, &isolation_ids(&groups))
        .into_iter()
        .filter(|i| !originals.contains_key(&i.interface_id))
        .collect();
    if !missed.is_empty() {
        originals.extend(record(groups_of(&missed)).await?);
    }
    Ok(SwapReady { groups, originals })
}

/// Each interface's current groups.
fn groups_of(interfaces: &[&InterfaceFacts]) -> OriginalGroups {
    interfaces.iter().map(|i| (i.interface_id.clone(), i.group_ids.clone())).collect()
}

fn isolation_ids(groups: &BTreeMap<String, (VerifiedGroup, VerifiedGroup)>) -> BTreeMap<String, Option<String>> {
    groups.iter().map(|(vpc, (_, isolation))| (vpc.clone(), Some(isolation.id.clone()))).collect()
}

/// Swap every interface to its VPC's untracking group, wait, then to its VPC's isolation group. The
/// original groups were recorded in the state table before any change (`ready`; a retry or a later
/// incident never overwrites them; tags on the instance are only a readable copy, and their failure
/// never holds the cut back). When the time left cannot hold the settle wait, the untracking swap is
/// skipped: an instance must never be left on the allow-all group because the invocation ran out of time.
pub(super) async fn isolate<C: Compute, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    ready: &SwapReady,
    time_left: Option<std::time::Duration>,
) -> Result<Outcome> {
    let groups = &ready.groups;
    let group_of = |i: &InterfaceFacts| vpc_of(facts, i).and_then(|v| groups.get(&v));
    let pending = still_to_move(facts, &isolation_ids(groups));
    let used: Vec<String> = groups
        .iter()
        .map(|(vpc, (u, i))| {
            format!("{vpc}: isolation group {} ({}), untracking group {} ({})", i.id, i.how, u.id, u.how)
        })
        .collect();
    if pending.is_empty() {
        return Ok(Outcome::skipped(format!(
            "every interface already has only its isolation group; {}",
            used.join("; ")
        )));
    }
    let originals = &ready.originals;
    let mut copy = BTreeMap::new();
    if !r.config.dry_run {
        for (eni, groups) in originals {
            if original_groups(&facts.tags, eni).as_ref() != Some(groups) {
                copy.extend(original_group_tags(eni, groups));
            }
        }
    }
    // A readable copy only (the record above is what release trusts): written beside the first swap,
    // never before it.
    let copied = futures::future::maybe_done(async {
        if copy.is_empty() {
            return;
        }
        if let Err(e) = r.compute.tag(facts.instance_id.as_str(), &copy).await {
            tracing::warn!(target: "firebreak::containment", error = %e, "original groups not copied to tags");
        }
    });
    futures::pin_mut!(copied);
    let ids: Vec<&str> = pending.iter().map(|i| i.interface_id.as_str()).collect();
    // Two regroupings, each bounded by the operation timeout, must fit besides the settle wait.
    let needed = r.config.settle + std::time::Duration::from_secs(30);
    let untrack = time_left.is_some_and(|left| left >= needed);
    if untrack {
        let (failed, ()) =
            futures::future::join(regroup(r, &pending, |i| group_of(i).map(|(u, _)| u.id.clone())), copied.as_mut())
                .await;
        if !failed.is_empty() {
            // The interfaces that did switch must not stay on the allow-all group until the retry.
            let switched: Vec<&InterfaceFacts> =
                pending.iter().copied().filter(|i| !failed.iter().any(|(eni, _)| *eni == i.interface_id)).collect();
            return Err(roll_back(r, &switched, originals, &failed, pending.len()).await);
        }
        if !r.config.settle.is_zero() {
            r.clock.sleep(r.config.settle).await;
        }
    }
    let (failed, ()) = futures::future::join(
        regroup(r, &pending, |i| group_of(i).map(|(_, isolation)| isolation.id.clone())),
        copied.as_mut(),
    )
    .await;
    if !failed.is_empty() {
        if untrack {
            let stuck: Vec<&InterfaceFacts> =
                pending.iter().copied().filter(|i| failed.iter().any(|(eni, _)| *eni == i.interface_id)).collect();
            return Err(roll_back(r, &stuck, originals, &failed, pending.len()).await);
        }
        return Err(regroup_error(&failed, pending.len()));
    }
    let how = if untrack {
        "connections untracked first"
    } else {
        "no time left for the untracking step: tracked connections may outlive the isolation"
    };
    Ok(Outcome::done(format!(
        "{} interface(s) isolated ({how}): {}; {}",
        pending.len(),
        ids.join(", "),
        used.join("; ")
    )))
}

/// Put the interfaces on the allow-all group back on their original groups. When that fails, the
/// interface is wide open: the loudest error there is.
async fn roll_back<C: Compute, F, S>(
    r: &Ports<'_, C, F, S>,
    interfaces: &[&InterfaceFacts],
    originals: &BTreeMap<String, Vec<String>>,
    cause: &[(String, Error)],
    total: usize,
) -> Error {
    let restores = interfaces.iter().map(|i| async move {
        let groups = originals.get(&i.interface_id).unwrap_or(&i.group_ids);
        r.compute.set_interface_groups(&i.interface_id, groups).await.err().map(|e| (i.interface_id.clone(), e))
    });
    let open: Vec<(String, Error)> = join_all(restores).await.into_iter().flatten().collect();
    let cause = regroup_error(cause, total);
    if open.is_empty() {
        return cause;
    }
    let interfaces: Vec<String> = open.iter().map(|(eni, _)| eni.clone()).collect();
    let why: Vec<String> = open.iter().map(|(eni, e)| format!("{eni}: {e}")).collect();
    Error::LeftOpen {
        interfaces,
        message: format!("{cause}; putting the original groups back failed: {}", why.join("; ")),
    }
}

/// Set each interface's target group concurrently; returns each interface that failed, with its error.
async fn regroup<C: Compute, F, S>(
    r: &Ports<'_, C, F, S>,
    interfaces: &[&InterfaceFacts],
    group: impl Fn(&InterfaceFacts) -> Option<String>,
) -> Vec<(String, Error)> {
    let changes = interfaces.iter().map(|i| {
        let target = group(i);
        async move {
            match target {
                Some(g) => r.compute.set_interface_groups(&i.interface_id, &[g]).await,
                None => Err(Error::refused("interface", format!("{} has no containment group", i.interface_id))),
            }
        }
    });
    let results = join_all(changes).await;
    interfaces.iter().zip(results).filter_map(|(i, res)| res.err().map(|e| (i.interface_id.clone(), e))).collect()
}

/// The error that names each interface that could not be changed.
fn regroup_error(failed: &[(String, Error)], total: usize) -> Error {
    Error::combined(failed.iter().map(|(eni, e)| (eni.clone(), e)), total)
}

pub(super) async fn snapshot<C: Compute, F, S>(
    r: &Ports<'_, C, F, S>,
    id: &InstanceId,
    facts: &InstanceFacts,
    incident_tags: &BTreeMap<String, String>,
    first_run: bool,
) -> Result<Outcome> {
    if facts.volume_ids.is_empty() {
        return Ok(Outcome::skipped("no EBS volumes attached"));
    }
    // A retry may follow a run that snapshotted but could not journal it: look before taking more.
    if !first_run {
        let incident = incident_tags.get("firebreak:incident").cloned().unwrap_or_default();
        let existing = r.compute.incident_snapshots(id, &incident).await?;
        if !existing.is_empty() {
            return Ok(Outcome::skipped(format!("snapshots for this incident already exist: {}", existing.join(", "))));
        }
    }
    let mut tags: BTreeMap<String, String> =
        incident_tags.iter().filter(|(k, _)| *k != QUARANTINE_TAG).map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.insert("firebreak:instance".to_owned(), id.to_string());
    tags.insert("Name".to_owned(), format!("firebreak evidence {id}"));
    let ids = r.compute.snapshot_volumes(id, &tags).await?;
    Ok(Outcome::done(format!("{} snapshot(s): {}", ids.len(), ids.join(", "))))
}

/// `firebreak:original-groups:<eni>` = "sg-a sg-b", continued in `…:<eni>:2` past 256 characters.
pub(crate) fn original_group_tags(interface_id: &str, group_ids: &[String]) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let mut chunk = String::new();
    let mut part = 1;
    for group in group_ids {
        if !chunk.is_empty() && chunk.len() + 1 + group.len() > TAG_VALUE_MAX {
            tags.insert(tag_key(interface_id, part), std::mem::take(&mut chunk));
            part += 1;
        }
        if !chunk.is_empty() {
            chunk.push(' ');
        }
        chunk.push_str(group);
    }
    tags.insert(tag_key(interface_id, part), chunk);
    tags
}

fn tag_key(interface_id: &str, part: usize) -> String {
    if part == 1 {
        format!("{ORIGINAL_GROUPS_TAG}:{interface_id}")
    } else {
        format!("{ORIGINAL_GROUPS_TAG}:{interface_id}:{part}")
    }
}

/// The original groups recorded for an interface, in order.
pub(crate) fn original_groups(tags: &BTreeMap<String, String>, interface_id: &str) -> Option<Vec<String>> {
    let first = tags.get(&tag_key(interface_id, 1))?;
    let mut groups: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
    let mut part = 2;
    while let Some(more) = tags.get(&tag_key(interface_id, part)) {
        groups.extend(more.split_whitespace().map(str::to_owned));
        part += 1;
    }
    Some(groups)
}

/// Every tag key holding recorded original groups.
pub(crate) fn original_group_keys(tags: &BTreeMap<String, String>) -> Vec<String> {
    tags.keys().filter(|k| k.starts_with(&format!("{ORIGINAL_GROUPS_TAG}:"))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_groups_round_trip_through_tags_even_past_the_tag_value_limit() {
        let groups: Vec<String> = (0..16).map(|n| format!("sg-0123456789abcde{n:02x}")).collect();
        let tags = original_group_tags("eni-0a", &groups);
        assert!(tags.len() > 1, "16 group ids need more than one tag");
        assert!(tags.values().all(|v| v.len() <= TAG_VALUE_MAX));
        assert_eq!(original_groups(&tags, "eni-0a"), Some(groups));
        assert_eq!(original_groups(&tags, "eni-other"), None);
        assert_eq!(original_group_keys(&tags).len(), tags.len());
    }
}
