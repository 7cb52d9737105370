//! Containment of a compromised instance: network first (every interface, tracked connections cut),
//! then evidence and blast control concurrently. Nothing here undoes an earlier step.

use super::{Now, Ports, ORIGINAL_GROUPS_TAG, QUARANTINE_TAG};
use crate::error::{Error, Result};
use crate::incident::{IncidentKind, InstanceId};
use crate::plan::Plan;
use crate::ports::{Compute, ContainmentGroup, InstanceFacts};
use crate::report::Outcome;
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

/// Swap every interface to the untracking group, wait, then to the isolation group. The original
/// groups are written to the instance's tags before any change, and never overwritten by a retry.
/// When the time left cannot hold the settle wait, the untracking step is skipped: an instance must
/// never be left with the allow-all group because the invocation ran out of time.
pub(super) async fn isolate<C: Compute, F>(
    r: &Ports<'_, C, F>,
    facts: &InstanceFacts,
    time_left: Option<std::time::Duration>,
) -> Result<Outcome> {
    let vpc = facts
        .vpc_id
        .as_deref()
        .ok_or_else(|| Error::refused("instance.vpc_id", format!("{} is not in a VPC", facts.instance_id)))?;
    let (untracking, isolation) = futures::future::try_join(
        r.compute.ensure_group(vpc, ContainmentGroup::Untracking),
        r.compute.ensure_group(vpc, ContainmentGroup::Isolation),
    )
    .await?;
    let pending: Vec<&str> = facts
        .interfaces
        .iter()
        .filter(|i| i.group_ids != [isolation.clone()])
        .map(|i| i.interface_id.as_str())
        .collect();
    if pending.is_empty() {
        return Ok(Outcome::skipped(format!("every interface already has only {isolation}")));
    }
    let mut originals = BTreeMap::new();
    for interface in facts.interfaces.iter().filter(|i| pending.contains(&i.interface_id.as_str())) {
        if original_groups(&facts.tags, &interface.interface_id).is_none() {
            originals.extend(original_group_tags(&interface.interface_id, &interface.group_ids));
        }
    }
    if !originals.is_empty() {
        r.compute.tag(facts.instance_id.as_str(), &originals).await?;
    }
    // Two regroupings, each bounded by the operation timeout, must fit besides the settle wait.
    let needed = r.config.settle + std::time::Duration::from_secs(30);
    let untrack = time_left.is_some_and(|left| left >= needed);
    if untrack {
        let failed = regroup(r, &pending, &untracking).await;
        if !failed.is_empty() {
            // The interfaces that did switch must not stay on the allow-all group until the retry:
            // put their own groups back (best effort); the failed ones never left theirs.
            for interface in facts.interfaces.iter().filter(|i| {
                pending.contains(&i.interface_id.as_str()) && !failed.iter().any(|(eni, _)| *eni == i.interface_id)
            }) {
                let _ = r.compute.set_interface_groups(&interface.interface_id, &interface.group_ids).await;
            }
            return Err(regroup_error(&failed, pending.len()));
        }
        if !r.config.settle.is_zero() {
            r.clock.sleep(r.config.settle).await;
        }
    }
    let failed = regroup(r, &pending, &isolation).await;
    if !failed.is_empty() {
        if untrack {
            // Never leave an interface on the allow-all group: put back what it had, best effort;
            // the retry isolates it.
            for (eni, _) in &failed {
                if let Some(interface) = facts.interfaces.iter().find(|i| &i.interface_id == eni) {
                    let _ = r.compute.set_interface_groups(eni, &interface.group_ids).await;
                }
            }
        }
        return Err(regroup_error(&failed, pending.len()));
    }
    let how = if untrack {
        format!("connections untracked via {untracking} first")
    } else {
        "no time left for the untracking step: tracked connections may outlive the isolation".to_owned()
    };
    Ok(Outcome::done(format!(
        "{} interface(s) isolated with {isolation} ({how}): {}",
        pending.len(),
        pending.join(", ")
    )))
}

/// Set `group` on every interface concurrently; returns each interface that failed, with its error.
async fn regroup<C: Compute, F>(r: &Ports<'_, C, F>, interfaces: &[&str], group: &str) -> Vec<(String, Error)> {
    let groups = [group.to_owned()];
    let results = join_all(interfaces.iter().map(|eni| r.compute.set_interface_groups(eni, &groups))).await;
    interfaces.iter().zip(results).filter_map(|(eni, res)| res.err().map(|e| ((*eni).to_owned(), e))).collect()
}

/// The error that names each interface that could not be changed.
fn regroup_error(failed: &[(String, Error)], total: usize) -> Error {
    Error::combined(failed.iter().map(|(eni, e)| (eni.clone(), e)), total)
}

pub(super) async fn snapshot<C: Compute, F>(
    r: &Ports<'_, C, F>,
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
