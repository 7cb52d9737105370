//! Ending a quarantine after investigation: restore every interface's original groups as recorded in
//! the state table (never from tags, which anyone who can tag the instance may have forged), remove the
//! quarantine tags, lift the revocation of its credentials (the deny policy, checked to be Firebreak's,
//! and the metadata service as it was), forget the records, notify. Refuses an instance Firebreak
//! neither isolated nor revoked.

use super::contain::original_group_keys;
use super::context::{nowhere, QUARANTINE_TAG};
use crate::error::{Error, Result};
use crate::incident::{InstanceId, Kind, SeverityLabel};
use crate::notify::Rendering;
use crate::plan::{Decision, StepKind};
use crate::ports::{Compute, CredentialRevocation, Fleet, Notifier, StateStore};
use crate::report::{
    Outcome, Report, LIFT_CREDENTIAL_REVOCATION, REMOVE_QUARANTINE_TAGS, RESTORE_GROUPS, RESTORE_METADATA_SERVICE,
};
use futures::future::join_all;
use std::collections::BTreeMap;

pub async fn release<C: Compute, F: Fleet, N: Notifier, S: StateStore>(
    compute: &C,
    fleet: &F,
    notifier: &N,
    state: &S,
    id: &InstanceId,
) -> Result<Report> {
    let facts = compute
        .describe_instance(id)
        .await?
        .ok_or_else(|| Error::refused("instance_id", format!("{id} was not found")))?;
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
        timings: Default::default(),
    };
    if let Some(revocation) = revocation {
        lift_revocation(compute, fleet, state, id, &revocation, &mut report).await;
    }
    if let Some(originals) = originals {
        restore_groups(compute, state, &facts, &originals, &mut report).await;
    }
    let notification = crate::notify::render(&report, &nowhere(), None, Rendering::default());
    report.push(
        StepKind::Notify.name(),
        notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published")),
    );
    Ok(report)
}

/// Remove the deny policy (only if it is still the one Firebreak wrote), put the metadata service back
/// as it was, forget the record. A policy that is not Firebreak's is left alone and the release fails.
async fn lift_revocation<C: Compute, F: Fleet, S: StateStore>(
    compute: &C,
    fleet: &F,
    state: &S,
    id: &InstanceId,
    revocation: &CredentialRevocation,
    report: &mut Report,
) {
    let (role, policy) = (&revocation.role, &revocation.policy);
    let lifted = match fleet.role_policy(role, policy).await {
        Err(e) => Outcome::failed(e),
        Ok(None) => Outcome::skipped(format!("role {role} no longer has the policy {policy}")),
        Ok(Some(document)) if !is_firebreaks_revocation(&document, id) => Outcome::failed(Error::refused(
            "state",
            format!("the policy {policy} of role {role} is not the one Firebreak wrote for {id}: left in place"),
        )),
        Ok(Some(_)) => fleet
            .delete_role_policy(role, policy)
            .await
            .map_or_else(Outcome::failed, |()| Outcome::done(format!("policy {policy} removed from role {role}"))),
    };
    let metadata = if lifted.is_failed() {
        Outcome::skipped("kept off while the revocation stands")
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

/// The policy denies exactly the credentials of `id`, as Firebreak writes it.
fn is_firebreaks_revocation(document: &str, id: &InstanceId) -> bool {
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
