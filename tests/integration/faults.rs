//! Firebreak's promises under injected faults (tests/integration/fault_proxy.rs in front of moto):
//! throttling ridden out, a bounded run when the API never recovers, partial failures reported
//! precisely and completed by the retry without repeating what was done.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::sample_event;
use crate::world::World;
use firebreak::report::{Outcome, Report};
use serde_json::Value;
use std::time::Duration;

fn finding(instance_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    serde_json::from_str(&text.replace("i-0abc1234def567890", instance_id)).expect("json")
}

/// One delivery through the Lambda handler's code path, with `lease` seconds until the deadline.
/// (GuardDuty produced the finding in `world`.)
async fn deliver(
    world: &World,
    responder: &firebreak::lambda::AwsResponder,
    event: Value,
    lease: u64,
) -> Result<Value, firebreak::Error> {
    world.guardduty_produced(&event);
    let clock = firebreak::clock::Clock::system();
    let deadline = clock.now().epoch + lease;
    firebreak::lambda::respond_payload(event, responder, firebreak::Function::GuarddutyResponder, &clock, deadline)
        .await
}

/// The report of a delivery, whether the delivery returned it or an error for retry.
async fn report(world: &World, responder: &firebreak::lambda::AwsResponder, event: Value) -> Report {
    world.guardduty_produced(&event);
    let incident = firebreak::parse_value(event).expect("parses").remove(0);
    let plan = firebreak::decide(&incident, &responder.config.policy);
    let clock = firebreak::clock::Clock::system();
    responder.respond(&plan, &clock, clock.now().epoch + 300).await.expect("state usable")
}

fn failed(report: &Report, action: &str) -> Option<String> {
    match report.outcome_of(action) {
        Some(Outcome::Failed { error }) => Some(error.to_string()),
        _ => None,
    }
}

async fn isolated(world: &World, instance_id: &str) -> bool {
    let isolation = world.group_by_role("firebreak-isolation").await;
    !isolation.is_empty() && world.interface_groups(instance_id).await.iter().all(|(_, g)| *g == isolation)
}

#[tokio::test(flavor = "current_thread")]
async fn throttling_that_passes_is_ridden_out_by_the_sdk_retries() {
    let world = World::seed().await;
    let victim = world.launch(true, false).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject("ModifyNetworkInterfaceAttribute", Fault::Throttle, 0, Some(2));
    proxy.inject("CreateSnapshots", Fault::Throttle, 0, Some(2));
    proxy.inject("DescribeInstances", Fault::Drop, 0, Some(1));
    let responder = world.responder_via(&proxy, &[]).await;
    let result = deliver(&world, &responder, finding(&victim.instance_id), 120).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(isolated(&world, &victim.instance_id).await);
    assert_eq!(world.incident_snapshots("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7").await.len(), 2);
    assert_eq!(proxy.faulted("ModifyNetworkInterfaceAttribute"), 2, "the throttling really happened");
    assert_eq!(proxy.faulted("DescribeInstances"), 1, "and a dropped connection");
    assert_eq!(world.notifications().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_api_that_never_recovers_ends_the_run_before_its_deadline_with_an_error_and_a_notification() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject("ModifyNetworkInterfaceAttribute", Fault::Throttle, 0, None);
    proxy.inject("CreateSnapshots", Fault::Delay(Duration::from_secs(60)), 0, None);
    let responder = world.responder_via(&proxy, &[]).await;
    // That the run ends inside its deadline is proven in virtual time by the executor's tests
    // (playbooks::executor_tests); here, what the world and the person see afterwards.
    let result = deliver(&world, &responder, finding(&victim.instance_id), 60).await;
    let err = result.expect_err("returned for retry");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("isolate_instance") && err.to_string().contains("snapshot_volumes"), "{err}");
    assert_eq!(world.interface_groups(&victim.instance_id).await, before, "never left on the allow-all group");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "a person is told, inside the deadline");
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("FAILED"));
}

#[tokio::test(flavor = "current_thread")]
async fn snapshots_failing_after_isolation_leave_it_isolated_and_the_retry_takes_them_once() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject("CreateSnapshots", Fault::ServerError, 0, None);
    let responder = world.responder_via(&proxy, &[]).await;
    let first = report(&world, &responder, finding(&victim.instance_id)).await;
    assert!(failed(&first, "snapshot_volumes").is_some(), "{first:#?}");
    assert!(first.outcome_of("isolate_instance").is_some_and(Outcome::is_done));
    assert!(isolated(&world, &victim.instance_id).await, "containment stands");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("Snapshot its volumes as evidence: FAILED"));

    proxy.clear();
    let regroups = proxy.calls("ModifyNetworkInterfaceAttribute");
    let retry = report(&world, &responder, finding(&victim.instance_id)).await;
    assert!(retry.failures().is_empty(), "{retry:#?}");
    assert!(retry.outcome_of("snapshot_volumes").is_some_and(Outcome::is_done));
    assert!(matches!(retry.outcome_of("isolate_instance"), Some(Outcome::Skipped { .. })));
    assert_eq!(proxy.calls("ModifyNetworkInterfaceAttribute"), regroups, "isolation not repeated");
    assert_eq!(world.incident_snapshots("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7").await.len(), 2, "one set of snapshots");
    assert_eq!(world.notifications().await.len(), 1, "one follow-up with the final outcomes");
    let third = report(&world, &responder, finding(&victim.instance_id)).await;
    assert!(third.actions.iter().all(|a| matches!(a.outcome, Outcome::Skipped { .. })));
    assert!(world.notifications().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_publish_leaves_the_effects_and_the_retry_only_notifies() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject("Publish", Fault::ServerError, 0, None);
    let responder = world.responder_via(&proxy, &[]).await;
    let err = deliver(&world, &responder, finding(&victim.instance_id), 120)
        .await
        .expect_err("an error, so the event is retried");
    assert!(err.to_string().contains("notify"), "{err}");
    assert!(isolated(&world, &victim.instance_id).await);
    assert!(world.notifications().await.is_empty());
    let snapshots = world.incident_snapshots("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7").await;

    proxy.clear();
    let writes_before: usize =
        ["ModifyNetworkInterfaceAttribute", "CreateSnapshots", "ModifyInstanceAttribute", "CreateTags"]
            .iter()
            .map(|a| proxy.calls(a))
            .sum();
    deliver(&world, &responder, finding(&victim.instance_id), 120).await.expect("the retry succeeds");
    let writes_after: usize =
        ["ModifyNetworkInterfaceAttribute", "CreateSnapshots", "ModifyInstanceAttribute", "CreateTags"]
            .iter()
            .map(|a| proxy.calls(a))
            .sum();
    assert_eq!(writes_after, writes_before, "no effect repeated");
    assert_eq!(world.incident_snapshots("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7").await, snapshots);
    assert_eq!(world.notifications().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_group_change_failing_on_the_second_interface_is_reported_precisely_and_retried_to_completion() {
    let world = World::seed().await;
    let victim = world.launch(true, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    // Both interfaces reach the untracking group and the first reaches isolation; every later change
    // fails, including the attempt to put the second back.
    proxy.inject("ModifyNetworkInterfaceAttribute", Fault::ServerError, 3, None);
    let responder = world.responder_via(&proxy, &[]).await;
    let first = report(&world, &responder, finding(&victim.instance_id)).await;
    let error = failed(&first, "isolate_instance").expect("isolation reported failed").to_owned();
    let named: Vec<&String> = before.iter().map(|(eni, _)| eni).filter(|eni| error.contains(eni.as_str())).collect();
    assert_eq!(named.len(), 1, "the error names exactly the interface that failed: {error}");

    proxy.clear();
    let retry = report(&world, &responder, finding(&victim.instance_id)).await;
    assert!(retry.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{retry:#?}");
    assert!(isolated(&world, &victim.instance_id).await);
    let responder_direct = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&victim.instance_id).expect("id");
    crate::support::release(&responder_direct, &id).await.expect("release");
    assert_eq!(
        world.interface_groups(&victim.instance_id).await,
        before,
        "the originals recorded before the failure are the true originals"
    );
}
