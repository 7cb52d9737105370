//! Ending a quarantine after investigation: restore every interface's original groups as recorded in
//! the state table (never from tags, which anyone who can tag the instance may have forged), remove the
//! quarantine tags, lift the revocation of its credentials (the deny policy, checked to be Firebreak's,
//! and the metadata service as it was), forget the records, notify. Acts where the records say the
//! instance is (its account, through the member role, and its region), never where the command happens
//! to run; an instance EC2 there says no longer exists is released from its records alone. Refuses an
//! instance Firebreak neither isolated nor revoked, and one whose place it cannot reach or tell.

use super::contain::original_group_keys;
use super::context::{nowhere, QUARANTINE_TAG};
use super::credentials::{write_denials, INSTANCES_POLICY};
use crate::error::{Error, Result};
use crate::incident::{AccountId, InstanceId, Kind, Origin, Region, SeverityLabel};
use crate::notify::Rendering;
use crate::plan::{Decision, StepKind};
use crate::ports::{Compute, CredentialRevocation, DenialChange, DeniedInstance, Fleet, Notifier, StateStore, Targets};
use crate::report::{
    Outcome, Report, LIFT_CREDENTIAL_REVOCATION, REMOVE_QUARANTINE_TAGS, RESTORE_GROUPS, RESTORE_METADATA_SERVICE,
};
use futures::future::join_all;
use std::collections::BTreeMap;

pub async fn release<T: Targets, N: Notifier, S: StateStore>(
    targets: &T,
    notifier: &N,
    state: &S,
    id: &InstanceId,
) -> Result<Report> {
    let originals = state.original_groups(id.as_str()).await?;
    let revocation = state.revocation(id.as_str()).await?;
    if originals.is_none() && revocation.is_none() {
        return Err(Error::refused(
            "instance_id",
            format!(
                "{id} was neither isolated nor revoked by Firebreak (no record of either in the state table): nothing \
                 to release"
            ),
        ));
    }
    let (compute, fleet, origin) = where_it_is(targets, state, id).await?;
    let (compute, fleet) = (&compute, &fleet);
    let facts = compute.describe_instance(id).await?.filter(|f| !f.state.is_gone());
    if facts.is_none() && origin.is_none() {
        // A record from before records named their place: "not found here" may be "elsewhere".
        return Err(Error::refused(
            "instance_id",
            format!(
                "{id} is not found where Firebreak runs, and its record (written before records named their account \
                 and region) does not say where it is: nothing was changed, the record is kept; run firebreak \
                 release with credentials of the instance's own account and AWS_REGION set to its region"
            ),
        ));
    }
    let origin = origin.unwrap_or_else(nowhere);
    let mut report = Report {
        incident_key: format!("release#{id}"),
        kind: Kind::Release,
        decision: Decision::Notify,
        severity: SeverityLabel::Info,
        summary: format!("Quarantine of {id} released"),
        reasons: vec!["an operator ran firebreak release after the investigation".into()],
        actions: Vec::new(),
        approval: None,
        retrying_until: None,
        receipts: Vec::new(),
        timings: Default::default(),
    };
    if let Some(revocation) = revocation {
        // Boxed: the role's policy written and read back makes a large future, polled on a small stack.
        Box::pin(lift_revocation(compute, fleet, state, id, facts.is_some(), &revocation, &mut report)).await;
    }
    match (originals, &facts) {
        (Some(originals), Some(facts)) => restore_groups(compute, state, facts, &originals, &mut report).await,
        // Its interfaces went with it: only the record is left to forget.
        (Some(_), None) => {
            let forgotten = state.forget_original_groups(id.as_str()).await;
            report.push(
                RESTORE_GROUPS,
                forgotten.map_or_else(Outcome::failed, |()| {
                    Outcome::skipped(format!("{id} no longer exists: its record of original groups is forgotten"))
                }),
            );
        }
        (None, _) => {}
    }
    let notification = crate::notify::render(&report, &origin, None, Rendering::default());
    report.push(
        StepKind::Notify.name(),
        notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published")),
    );
    Ok(report)
}

/// The ports of the account and region the records of `id` name, and that place (`None` for a record
/// from before records named one: then where Firebreak runs); refused when that place cannot be reached.
async fn where_it_is<T: Targets, S: StateStore>(
    targets: &T,
    state: &S,
    id: &InstanceId,
) -> Result<(T::Compute, T::Fleet, Option<Origin>)> {
    let place = state.recorded_place(id.as_str()).await?.map(|p| place_of(&p));
    let origin = place.clone().unwrap_or_else(nowhere);
    match targets.target(origin.account.as_ref(), origin.region.as_ref()).await {
        Ok((compute, fleet)) => Ok((compute, fleet, place)),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => Err(Error::refused(
            "instance_id",
            format!(
                "the records of {id} place it in {}, where Firebreak cannot act from here ({e}): nothing was changed; \
                 run firebreak release with credentials of that account (AWS_REGION set to its region)",
                described(&origin)
            ),
        )),
    }
}

/// Where a record says it belongs (`<account>#<region>`); a part that is no account or region (an
/// incident that named none) is where Firebreak runs.
fn place_of(place: &str) -> Origin {
    let (account, region) = place.split_once('#').unwrap_or((place, ""));
    Origin { account: AccountId::parse(account), region: Region::parse(region) }
}

fn described(origin: &Origin) -> String {
    format!(
        "account {}, region {}",
        origin.account.as_ref().map_or("(this one)", |a| a.as_str()),
        origin.region.as_ref().map_or("(this one)", |r| r.as_str())
    )
}

/// Take the instance off its role's denied instances (or, for a revocation made before Firebreak kept
/// one policy per role, remove its own policy, only if it is still the one Firebreak wrote), put the
/// metadata service back as it was, forget the record. An instance that no longer exists has no
/// metadata service to restore: its revocation is lifted from the record alone.
async fn lift_revocation<C: Compute, F: Fleet, S: StateStore>(
    compute: &C,
    fleet: &F,
    state: &S,
    id: &InstanceId,
    exists: bool,
    revocation: &CredentialRevocation,
    report: &mut Report,
) {
    let (role, policy) = (&revocation.role, &revocation.policy);
    let lifted = if *policy == INSTANCES_POLICY {
        undeny(fleet, state, id, role).await.unwrap_or_else(Outcome::failed)
    } else {
        match fleet.role_policy(role, policy).await {
            Err(e) => Outcome::failed(e),
            Ok(None) => Outcome::skipped(format!("role {role} no longer has the policy {policy}")),
            Ok(Some(document)) if !is_firebreaks_own_policy(&document, id) => Outcome::failed(Error::refused(
                "state",
                format!("the policy {policy} of role {role} is not the one Firebreak wrote for {id}: left in place"),
            )),
            Ok(Some(_)) => fleet
                .delete_role_policy(role, policy)
                .await
                .map_or_else(Outcome::failed, |()| Outcome::done(format!("policy {policy} removed from role {role}"))),
        }
    };
    let metadata = if lifted.is_failed() {
        Outcome::skipped("kept off while the revocation stands")
    } else if !exists {
        Outcome::skipped(format!("{id} no longer exists: no metadata service to restore"))
    } else if revocation.metadata_was_enabled {
        compute.set_metadata_endpoint(id, true, revocation.metadata_tokens.as_deref()).await.map_or_else(
            Outcome::failed,
            |()| {
                Outcome::done(format!(
                    "metadata service on again (HttpTokens {})",
                    revocation.metadata_tokens.as_deref().unwrap_or("as it was")
                ))
            },
        )
    } else {
        Outcome::skipped("the metadata service was already off before the revocation")
    };
    if !lifted.is_failed() && !metadata.is_failed() {
        if let Err(e) = state.forget_revocation(id.as_str()).await {
            tracing::warn!(target: "firebreak::release", error = %e, "the lifted revocation's record stays until its TTL");
        }
    }
    report.push(LIFT_CREDENTIAL_REVOCATION, lifted);
    report.push(RESTORE_METADATA_SERVICE, metadata);
}

/// Take `id` off the instances denied on `role` and write the role's policy from what is left.
async fn undeny<F: Fleet, S: StateStore>(fleet: &F, state: &S, id: &InstanceId, role: &str) -> Result<Outcome> {
    let Some(facts) = fleet.role(role).await? else {
        return Ok(Outcome::skipped(format!("role {role} no longer exists: nothing denies {id} on it")));
    };
    let denied = state.denials(&facts.id).await?;
    let entries: Vec<DeniedInstance> = denied.instances.iter().filter(|d| d.instance == *id).cloned().collect();
    if entries.is_empty() {
        return Ok(Outcome::skipped(format!("role {role} does not list {id} among its denied instances")));
    }
    let left = state.change_denials(&facts.id, DenialChange::Remove(&entries)).await?;
    let written = write_denials(fleet, state, &facts, left).await?;
    Ok(Outcome::done(match written.instances.len() {
        0 => format!(
            "{id} taken off role {role}; no instance is denied on it any more: policy {INSTANCES_POLICY} removed"
        ),
        n => format!("{id} taken off policy {INSTANCES_POLICY} of role {role} ({n} other instance(s) still denied)"),
    }))
}

/// The policy of one instance, as Firebreak wrote it before it kept one policy per role.
fn is_firebreaks_own_policy(document: &str, id: &InstanceId) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(document) else { return false };
    let statements = doc["Statement"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [statement] = statements else { return false };
    statement["Effect"] == "Deny"
        && statement["Sid"] == "FirebreakRevokedInstanceCredentials"
        && statement["Condition"]["StringEquals"]["ec2:SourceInstanceARN"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&format!(":instance/{id}")))
}

async fn restore_groups<C: Compute, S: StateStore>(
    compute: &C,
    state: &S,
    facts: &crate::ports::InstanceFacts,
    originals: &BTreeMap<String, Vec<String>>,
    report: &mut Report,
) {
    let id = &facts.instance_id;
    let restores = facts.interfaces.iter().map(|i| async move {
        match originals.get(&i.interface_id).cloned() {
            Some(groups) => compute
                .set_interface_groups(&i.interface_id, &groups)
                .await
                .map(|()| format!("{}: {}", i.interface_id, groups.join(" "))),
            None => Err(Error::refused("state", format!("no original groups recorded for {}", i.interface_id))),
        }
    });
    let results = join_all(restores).await;
    let (restored, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let restored: Vec<String> = restored.into_iter().filter_map(Result::ok).collect();
    let failed: Vec<Error> = failed.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        report.push(RESTORE_GROUPS, Outcome::done(restored.join("; ")));
        let mut keys = original_group_keys(&facts.tags);
        keys.push(QUARANTINE_TAG.to_owned());
        let untag = compute.untag(id.as_str(), &keys).await;
        report.push(REMOVE_QUARANTINE_TAGS, untag.map_or_else(Outcome::failed, |()| Outcome::done(keys.join(", "))));
        if let Err(e) = state.forget_original_groups(id.as_str()).await {
            tracing::warn!(target: "firebreak::release", error = %e, "the released quarantine's record stays until its TTL");
        }
    } else {
        // Keep the record and the tags: they are what a second release restores from.
        let total = facts.interfaces.len();
        let error = Error::combined(failed.iter().map(|e| ("restore".to_owned(), e)), total);
        report.push(RESTORE_GROUPS, Outcome::failed(error));
        report.push(REMOVE_QUARANTINE_TAGS, Outcome::skipped("kept because not every interface was restored"));
    }
}
