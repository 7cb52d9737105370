//! GuardDuty's malware scan of a contained instance (issue #30) against moto server, corrected with
//! GuardDuty's on-demand scan: started once per incident, however often the incident is delivered or a
//! step fails, and the scan's finding joins the incident's history.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::{finding, sample_event};
use crate::world::World;
use firebreak::report::{Outcome, Report};

const FINDING: &str = "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7";
const INCIDENT: &str = "incident#guardduty#123456789012#us-east-1#a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7";

/// The scans GuardDuty holds for `instance`: (scan id, scan type).
async fn scans_of(world: &World, instance: &str) -> Vec<(String, String)> {
    let guardduty = aws_sdk_guardduty::Client::new(&world.sdk);
    let listed = guardduty.list_malware_scans().send().await.expect("listed");
    listed
        .scans()
        .iter()
        .filter(|s| s.resource_arn().is_some_and(|arn| arn.ends_with(&format!(":instance/{instance}"))))
        .map(|s| (s.scan_id().unwrap_or_default().to_owned(), s.scan_type().map_or("", |t| t.as_str()).to_owned()))
        .collect()
}

/// What GuardDuty produces when scan `scan_id` of `instance` finds malware: the sample scan finding
/// (events/guardduty/ec2-malicious-file-on-demand-scan.json) about that instance and scan.
fn scan_finding(instance: &str, scan_id: &str, finding_id: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(sample_event("guardduty/ec2-malicious-file-on-demand-scan.json")).expect("sample");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance.into();
    event["detail"]["id"] = finding_id.into();
    event["detail"]["service"]["ebsVolumeScanDetails"]["scanId"] = scan_id.into();
    event
}

fn done(report: &Report, step: &str) -> String {
    match report.outcome_of(step) {
        Some(Outcome::Done { detail }) => detail.clone(),
        other => panic!("{step} not done: {other:?}\n{report:#?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_contained_instance_is_scanned_once_per_incident_and_the_scans_finding_joins_that_incident() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let report = world.respond(finding(&victim, FINDING), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let scans = scans_of(&world, &victim).await;
    assert_eq!(scans.len(), 1, "{scans:?}");
    let (scan_id, scan_type) = &scans[0];
    assert_eq!(scan_type, "ON_DEMAND");
    assert!(done(&report, "scan_for_malware").contains(&format!("GuardDuty scan {scan_id} ")), "{report:#?}");
    let recorded = world.state_item(&format!("scan#{scan_id}")).await.expect("the scan's incident is recorded");
    assert_eq!(recorded.get("incident").and_then(|v| v.as_s().ok()).map(String::as_str), Some(INCIDENT));

    // Delivered again (GuardDuty re-emits an updated finding under the same id): no second scan.
    world.respond(finding(&victim, FINDING), &[]).await;
    assert_eq!(scans_of(&world, &victim).await.len(), 1);

    // The scan finds malware: its finding joins the incident and is not contained a second time.
    let found = world.respond(scan_finding(&victim, scan_id, "c4e8a2f6b0d4c8e2a6f0b4d8c2e6a0f4"), &[]).await.remove(0);
    assert!(done(&found, "record_scan_result").contains(INCIDENT), "{found:#?}");
    assert!(matches!(found.outcome_of("isolate_instance"), Some(Outcome::Skipped { .. })), "{found:#?}");
    assert_eq!(scans_of(&world, &victim).await.len(), 1, "a scan's finding starts no scan");
    let responder = world.responder(&[]).await;
    let history = firebreak::ports::StateStore::incident(&responder.state, INCIDENT).await.expect("read");
    let later = history.expect("the first incident").later;
    assert_eq!(later.len(), 1, "{later:?}");
    assert!(
        later[0].contains(&format!("malware scan {scan_id} found Execution:EC2/MaliciousFile"))
            && later[0].contains("c4e8a2f6b0d4c8e2a6f0b4d8c2e6a0f4"),
        "{later:?}"
    );
}

/// The scan was started, but the step failed before it was journaled (its record could not be written):
/// the redelivery asks GuardDuty again with the same idempotency token, and gets the same scan.
#[tokio::test(flavor = "current_thread")]
async fn a_scan_whose_step_failed_after_it_started_is_the_same_scan_on_the_retry() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let proxy = FaultProxy::start(world.endpoint()).await;
    // The scan's record is the run's only PutItem: every attempt of it fails, the SDK's retries too.
    proxy.inject("PutItem", Fault::ServerError, 0, Some(10));
    let event = finding(&victim, FINDING);
    world.guardduty_produced(&event);
    let responder = world.responder_via(&proxy, &[]).await;
    let failed = crate::support::respond_to(&responder, event.clone()).await;
    let error = failed.outcome_of("scan_for_malware").and_then(Outcome::error).expect("the step failed");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(proxy.calls("StartMalwareScan"), 1);
    proxy.clear();
    let retried = crate::support::respond_to(&responder, event).await;
    assert!(retried.failures().is_empty(), "{retried:#?}");
    assert_eq!(proxy.calls("StartMalwareScan"), 2, "asked again");
    let scans = scans_of(&world, &victim).await;
    assert_eq!(scans.len(), 1, "and answered the scan already started: {scans:?}");
    assert!(done(&retried, "scan_for_malware").contains(&scans[0].0));
}

/// `FIREBREAK_MALWARE_SCAN=false`: contained, not scanned.
#[tokio::test(flavor = "current_thread")]
async fn with_scanning_off_nothing_is_scanned() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let report = world.respond(finding(&victim, FINDING), &[("FIREBREAK_MALWARE_SCAN", "false")]).await.remove(0);
    assert!(report.failures().is_empty() && report.outcome_of("scan_for_malware").is_none(), "{report:#?}");
    assert!(scans_of(&world, &victim).await.is_empty());
}

/// A `scan#` record written around Firebreak (not sealed) joins nothing: the finding of that scan is
/// not written into the history of the incident the record names.
#[tokio::test(flavor = "current_thread")]
async fn a_forged_scan_record_joins_nothing() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let world = World::seed().await;
    let key = world.secret("firebreak-state-key", &"s".repeat(64)).await;
    let sealed = [("FIREBREAK_STATE_KEY_SECRET_ARN", key.as_str())];
    let victim = world.launch(false, false).await.instance_id;
    world.respond(finding(&victim, FINDING), &sealed).await;
    let forged = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";
    aws_sdk_dynamodb::Client::new(&world.sdk)
        .put_item()
        .table_name(crate::world::TABLE)
        .item("pk", AttributeValue::S(format!("scan#{forged}")))
        .item("incident", AttributeValue::S(INCIDENT.into()))
        .send()
        .await
        .expect("written around Firebreak");
    let report =
        world.respond(scan_finding(&victim, forged, "c4e8a2f6b0d4c8e2a6f0b4d8c2e6a0f4"), &sealed).await.remove(0);
    let error = report.outcome_of("record_scan_result").and_then(Outcome::error).expect("refused");
    assert!(error.to_string().contains("not sealed by Firebreak") && !error.is_retryable(), "{error}");
    let responder = world.responder(&sealed).await;
    let history = firebreak::ports::StateStore::incident(&responder.state, INCIDENT).await.expect("read");
    assert!(history.expect("the incident").later.is_empty());
}
