//! Promises under pressure (issue #43): what the blast-radius cap holds back is queued, not forgotten,
//! and the sweep contains it once the window allows, with no new delivery; a share of the cap is kept
//! for severe findings; a containment that waits a whole window is told once, CRITICAL. Each clock is
//! injected: the cap's windows pass without sleeping.

use crate::support::{attack_sequence, finding};
use crate::world::World;
use firebreak::clock::Clock;
use firebreak::report::{Outcome, Report};
use std::time::Duration;

/// The start of the previous UTC hour plus a minute: every moment of a test before `t0 + 3540` is in
/// that hour's window, and `t0 + 3600 * n` in the n-th window after it.
fn hour_start() -> u64 {
    Clock::system().now().epoch / 3600 * 3600 - 3600 + 60
}

fn at(epoch: u64) -> Clock {
    Clock::starting_at(Duration::from_secs(epoch))
}

async fn isolated(world: &World, instance_id: &str) -> bool {
    let isolation = world.group_by_role("firebreak-isolation").await;
    !isolation.is_empty() && world.interface_groups(instance_id).await.iter().all(|(_, g)| *g == isolation)
}

async fn respond_at(world: &World, event: serde_json::Value, extra: &[(&str, &str)], when: u64) -> Report {
    world.respond_at(event, extra, at(when)).await.expect("state usable").remove(0)
}

/// The schedule's sweep at `when`, as the GuardDuty responder runs it (and `firebreak sweep`).
async fn sweep_at(world: &World, extra: &[(&str, &str)], when: u64) -> serde_json::Value {
    let responder = world.responder(extra).await;
    Box::pin(responder.sweep(&at(when), when + 900)).await.expect("swept")
}

async fn contained(world: &World, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        n += usize::from(isolated(world, id).await);
    }
    n
}

fn held_back(report: &Report) -> bool {
    matches!(report.outcome_of("isolate_instance"), Some(Outcome::Skipped { reason, .. }) if reason.starts_with("held back"))
}

fn with_severity(mut event: serde_json::Value, severity: f64) -> serde_json::Value {
    event["detail"]["severity"] = serde_json::json!(severity);
    event
}

#[tokio::test(flavor = "current_thread")]
async fn throwaway_findings_that_use_up_the_cap_cannot_keep_the_real_one_free() {
    let world = World::seed().await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "3")];
    let t0 = hour_start();
    for n in 0..3 {
        let throwaway = world.launch(false, false).await.instance_id;
        let report = respond_at(&world, finding(&throwaway, &format!("throwaway{n}")), &cap, t0 + n).await;
        assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{report:#?}");
    }
    let real = world.launch(false, false).await.instance_id;
    let report = respond_at(&world, finding(&real, "the-real-one"), &cap, t0 + 60).await;
    assert!(held_back(&report), "{report:#?}");
    assert!(report.reasons.iter().any(|r| r.contains("it is queued")), "{:?}", report.reasons);
    let key = report.incident_key.clone();
    assert!(world.state_item(&format!("held#{key}")).await.is_some(), "queued");

    // A sweep within the same window: still held back, still queued, nothing new told.
    world.notifications().await;
    let swept = sweep_at(&world, &cap, t0 + 600).await;
    assert!(swept["held"][0]["outcome"].as_str().unwrap_or_default().contains("held back again"), "{swept}");
    assert!(!isolated(&world, &real).await);
    assert!(world.notifications().await.is_empty(), "told once already that it stays open");

    // The next window's sweep contains it, with no new delivery, confirmed by GuardDuty again.
    let swept = sweep_at(&world, &cap, t0 + 3600).await;
    assert!(isolated(&world, &real).await, "contained by the sweep: {swept}");
    assert!(world.state_item(&format!("held#{key}")).await.is_none(), "off the queue");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "the containment is told: {notes:?}");
    assert_eq!(notes[0]["MessageAttributes"]["action"]["Value"], "isolated");
    // Done: a later sweep has nothing to run.
    assert_eq!(sweep_at(&world, &cap, t0 + 3900).await["held"], serde_json::json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn low_findings_cannot_take_the_share_of_the_cap_kept_for_severe_ones() {
    let world = World::seed().await;
    let env = [
        ("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "2"),
        ("FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE", "1"),
        ("FIREBREAK_CONTAIN_MIN_SEVERITY", "4"),
    ];
    let t0 = hour_start();
    let [low_a, low_b, severe] =
        [world.launch(false, false).await, world.launch(false, false).await, world.launch(false, false).await]
            .map(|v| v.instance_id);
    let first = respond_at(&world, with_severity(finding(&low_a, "low-a"), 5.0), &env, t0).await;
    assert!(first.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{first:#?}");
    let second = respond_at(&world, with_severity(finding(&low_b, "low-b"), 5.0), &env, t0 + 1).await;
    let Some(Outcome::Skipped { reason, .. }) = second.outcome_of("isolate_instance") else { panic!("{second:#?}") };
    assert!(reason.contains("kept for findings of severity 8 or more"), "{reason}");
    let third = respond_at(&world, with_severity(finding(&severe, "severe"), 8.5), &env, t0 + 2).await;
    assert!(third.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "the reserve: {third:#?}");
    // The next window's sweep contains the low one too.
    sweep_at(&world, &env, t0 + 3600).await;
    assert!(isolated(&world, &low_b).await);
}

#[tokio::test(flavor = "current_thread")]
async fn a_containment_held_past_a_whole_window_is_told_critical_once_naming_what_holds_it() {
    let world = World::seed().await;
    let closed = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "0")];
    let t0 = hour_start();
    let victim = world.launch(false, false).await.instance_id;
    assert!(held_back(&respond_at(&world, finding(&victim, "waits"), &closed, t0).await));
    world.notifications().await;
    sweep_at(&world, &closed, t0 + 3600).await;
    let notes = world.notifications().await;
    let critical: Vec<String> = notes
        .iter()
        .map(|n| n["Message"].as_str().unwrap_or_default().to_owned())
        .filter(|m| m.contains("CRITICAL") && m.contains("has been held back since"))
        .collect();
    assert_eq!(critical.len(), 1, "{notes:?}");
    assert!(critical[0].contains("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR") && critical[0].contains("firebreak sweep"));
    sweep_at(&world, &closed, t0 + 3900).await;
    assert!(world.notifications().await.is_empty(), "told once");
    assert!(!isolated(&world, &victim).await, "a cap of 0 contains nothing");
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequence_of_twenty_five_under_a_cap_of_five_ends_fully_contained_after_the_sweeps() {
    let world = World::seed().await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "5")];
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(world.launch(false, false).await.instance_id);
    }
    let grouped: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let t0 = hour_start();
    respond_at(&world, attack_sequence(&ids[0], &grouped), &cap, t0).await;
    assert_eq!(contained(&world, &ids).await, 5, "the first window's five");
    for window in 1..=4 {
        sweep_at(&world, &cap, t0 + 3600 * window).await;
        assert_eq!(contained(&world, &ids).await, 5 + 5 * window as usize, "after the sweep of window {window}");
    }
    assert_eq!(sweep_at(&world, &cap, t0 + 3600 * 5).await["held"], serde_json::json!([]), "off the queue");
}

/// A principal with no permissions at all looping `StopLogging`, denied each time, as CloudTrail
/// records it: a new session name each call, one role behind them.
fn denied_stop_logging(n: u64) -> serde_json::Value {
    let text =
        std::fs::read_to_string(crate::support::sample_event("cloudtrail/sg-open-ssh-to-world.json")).expect("sample");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("json");
    event["id"] = serde_json::json!(format!("7e0c0000-0000-4000-8000-{n:012}"));
    let detail = &mut event["detail"];
    detail["eventID"] = serde_json::json!(format!("7e0c0000-0000-4000-9000-{n:012}"));
    detail["eventName"] = serde_json::json!("StopLogging");
    detail["eventSource"] = serde_json::json!("cloudtrail.amazonaws.com");
    detail["errorCode"] = serde_json::json!("AccessDenied");
    detail["errorMessage"] = serde_json::json!("User is not authorized to perform: cloudtrail:StopLogging");
    detail["requestParameters"] = serde_json::json!({"name": "management-events"});
    detail["responseElements"] = serde_json::Value::Null;
    detail["userIdentity"] = serde_json::json!({
        "type": "AssumedRole",
        "principalId": format!("AROAEXAMPLEINTRUDER:session-{n}"),
        "arn": format!("arn:aws:sts::123456789012:assumed-role/intruder/session-{n}"),
        "accountId": "123456789012",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/intruder"}}
    });
    event
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_denied_calls_is_told_once_then_told_with_its_count_when_the_hour_is_over() {
    let world = World::seed().await;
    let t0 = hour_start();
    for n in 0..20 {
        let report = respond_at(&world, denied_stop_logging(n), &[], t0 + n).await;
        assert_eq!(report.decision, firebreak::plan::Decision::Notify, "{report:#?}");
    }
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "the first is told, the other 19 counted: {notes:?}");
    let first = notes[0]["Message"].as_str().unwrap_or_default();
    assert!(first.contains("further ones this hour are counted"), "{first}");
    // Within the hour the sweep tells nothing; once it is over, the count, once.
    sweep_at(&world, &[], t0 + 600).await;
    assert!(world.notifications().await.is_empty());
    let swept = sweep_at(&world, &[], t0 + 3600).await;
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{swept}");
    let message = notes[0]["Message"].as_str().unwrap_or_default();
    assert!(message.contains("20 notifications of") && message.contains("role/intruder"), "{message}");
    sweep_at(&world, &[], t0 + 3900).await;
    assert!(world.notifications().await.is_empty(), "told once");
}

/// Issue #44, hole 7: the sweep queries its queue (a sparse index holding only the items it reads),
/// never the table. An item a release before the queue wrote has no place in it: the schedule's sweep
/// cannot see it, and the operator's `firebreak sweep` after upgrading puts it in the queue first, so
/// nothing held back is lost across the upgrade.
#[tokio::test(flavor = "current_thread")]
async fn the_sweep_reads_its_queue_and_queues_once_what_a_release_before_it_held_back() {
    let world = World::seed().await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "1")];
    let t0 = hour_start();
    let first = world.launch(false, false).await.instance_id;
    respond_at(&world, finding(&first, "queue-first"), &cap, t0).await;
    let real = world.launch(false, false).await.instance_id;
    let report = respond_at(&world, finding(&real, "queue-held"), &cap, t0 + 60).await;
    assert!(held_back(&report), "{report:#?}");
    let pk = format!("held#{}", report.incident_key);
    let item = world.state_item(&pk).await.expect("queued");
    assert_eq!(
        item.get(firebreak::state_keys::QUEUE_ATTRIBUTE).and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("held")
    );
    // As a release before the queue wrote it: no queue attribute.
    let ddb = aws_sdk_dynamodb::Client::new(&world.sdk);
    ddb.update_item()
        .table_name(crate::world::TABLE)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()))
        .update_expression("REMOVE #queue")
        .expression_attribute_names("#queue", firebreak::state_keys::QUEUE_ATTRIBUTE)
        .send()
        .await
        .expect("an item as an older release left it");
    let swept = sweep_at(&world, &cap, t0 + 3600).await;
    assert_eq!(swept["held"], serde_json::json!([]), "not in the queue, not seen: {swept}");
    assert!(!isolated(&world, &real).await);
    let responder = world.responder(&cap).await;
    assert_eq!(responder.state.queue_what_came_before().await.expect("queued"), 1);
    assert_eq!(responder.state.queue_what_came_before().await.expect("queued"), 0, "once");
    sweep_at(&world, &cap, t0 + 3660).await;
    assert!(isolated(&world, &real).await, "contained once queued");
}
