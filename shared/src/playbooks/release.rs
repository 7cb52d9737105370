//! Ending a quarantine after investigation: restore every interface's original groups as recorded in
//! the state table (never from tags, which anyone who can tag the instance may have forged), remove the
//! quarantine tags, forget the record, notify. Refuses an instance Firebreak did not isolate.

use super::contain::original_group_keys;
use super::QUARANTINE_TAG;
use crate::error::{Error, Result};
use crate::incident::{InstanceId, Kind, SeverityLabel};
use crate::notify::Rendering;
use crate::plan::{Decision, StepKind};
use crate::ports::{Compute, Notifier, StateStore};
use crate::report::{Outcome, Report};
use futures::future::join_all;

/// The report's names for the two things a release does.
pub const RESTORE_GROUPS: &str = "restore_security_groups";
pub const REMOVE_QUARANTINE_TAGS: &str = "remove_quarantine_tags";

pub async fn release<C: Compute, N: Notifier, S: StateStore>(
    compute: &C,
    notifier: &N,
    state: &S,
    id: &InstanceId,
) -> Result<Report> {
    let facts = compute
        .describe_instance(id)
        .await?
        .ok_or_else(|| Error::refused("instance_id", format!("{id} was not found")))?;
    let Some(originals) = state.original_groups(id.as_str()).await? else {
        return Err(Error::refused(
            "instance_id",
            format!("{id} was not isolated by Firebreak (no original groups recorded in the state table): nothing to release"),
        ));
    };
    let mut report = Report {
        incident_key: format!("release#{id}"),
        kind: Kind::Release,
        decision: Decision::Notify,
        severity: SeverityLabel::Info,
        summary: format!("Quarantine of {id} released"),
        reasons: vec!["an operator ran firebreak release after the investigation".into()],
        actions: Vec::new(),
    };
    let originals = &originals;
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
    let notification = crate::notify::render(&report, &super::nowhere(), None, Rendering::default());
    report.push(
        StepKind::Notify.name(),
        notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published")),
    );
    Ok(report)
}
