//! GuardDuty's malware scan of a contained instance: Firebreak starts it (`StartMalwareScan`, on
//! demand) once the instance is cut off, and records which incident it was for; what the scan finds
//! arrives later as a Malware Protection finding, which joins that incident's history.

use super::context::{Ports, StepContext};
use crate::error::{Error, Result};
use crate::incident::{IncidentKind, InstanceId};
use crate::ports::{Fleet, StateStore};
use crate::report::Outcome;
use crate::state_keys;
use sha2::{Digest, Sha256};

/// Start the scan of `id`'s volumes, the same scan however often the step is retried, and record it.
pub(super) async fn scan_for_malware<C, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    id: &InstanceId,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let origin = &ctx.plan.incident.origin;
    let (Some(account), Some(region)) = (&origin.account, &origin.region) else {
        return Err(Error::refused("plan", "a malware scan needs the instance's account and region"));
    };
    let arn = format!("arn:{}:ec2:{}:{}:instance/{id}", region.partition(), region.as_str(), account.as_str());
    if r.config.dry_run {
        return Ok(Outcome::done(format!("GuardDuty's malware scan of {arn} would be started")));
    }
    let scan_id = r.fleet.start_malware_scan(&arn, &client_token(&ctx.plan.incident_key, id)).await?;
    r.state.record_scan(&scan_id, &ctx.plan.incident_key).await?;
    Ok(Outcome::done(format!(
        "GuardDuty scan {scan_id} of the EBS volumes of {id} started (from snapshots GuardDuty takes itself; it skips \
         volumes tagged GuardDutyExcluded=true); malware it finds arrives as a GuardDuty finding and joins this \
         incident, a clean result shows only in GuardDuty's malware scans"
    )))
}

/// GuardDuty's idempotency token (at most 64 characters): one per incident and instance, so a retry
/// after a lost answer names the scan already started instead of starting a second.
fn client_token(incident_key: &str, id: &InstanceId) -> String {
    let digest = Sha256::new().chain_update(incident_key).chain_update("/").chain_update(id.as_str()).finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Join the finding of scan `scan_id` to the incident the scan was for: Firebreak's own on-demand
/// scan (its sealed record), or GuardDuty's scan for the finding `trigger` (that finding's incident).
pub(super) async fn record_scan_result<C, F, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    scan_id: &str,
    trigger: Option<&str>,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let plan = ctx.plan;
    let origin = &plan.incident.origin;
    let incident = match trigger {
        Some(finding) => Some(state_keys::guardduty_incident(
            origin.account.as_ref().map_or("unknown", |a| a.as_str()),
            origin.region.as_ref().map_or("unknown", |r| r.as_str()),
            finding,
        )),
        None => r.state.scan_incident(scan_id).await?,
    };
    let Some(incident) = incident else {
        return Ok(Outcome::skipped(format!("scan {scan_id} was not started by Firebreak: no incident to join")));
    };
    let what = match &plan.incident.kind {
        IncidentKind::Guardduty(f) => format!("{} (severity {}), finding {}", f.finding_type, f.severity, f.finding_id),
        _ => plan.summary.clone(),
    };
    if r.config.dry_run {
        return Ok(Outcome::done(format!("would be joined to incident {incident}")));
    }
    let line = format!("{} malware scan {scan_id} found {what}: incident {}", ctx.now.rfc3339, plan.incident_key);
    Ok(if r.state.add_to_incident(&incident, &line).await? {
        Outcome::done(format!("joined to incident {incident}: its history shows this finding"))
    } else {
        Outcome::skipped(format!("scan {scan_id} names incident {incident}, which the state table does not hold"))
    })
}
