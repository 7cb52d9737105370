//! The alarm responder against moto server: idle instances stopped with judgement, in all three
//! delivery forms; alarms that signal attack or exhaustion notified with what a responder needs.

use crate::support::sample_event;
use crate::world::World;
use firebreak::report::{Outcome, Report};
use serde_json::Value;

pub(crate) const FORMS: [&str; 3] =
    ["alarm/idle-cpu-eventbridge.json", "alarm/idle-cpu-alarm-action.json", "alarm/idle-cpu-sns.json"];

pub(crate) fn idle_alarm(form: &str, instance_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event(form)).expect("sample");
    serde_json::from_str(&text.replace("i-0abc1234def567890", instance_id)).expect("json")
}

async fn respond(world: &World, event: Value, extra: &[(&str, &str)]) -> Vec<Report> {
    world.respond(event, extra).await
}

fn stop_outcome(reports: &[Report]) -> &Outcome {
    reports[0].outcome_of("stop_instance").expect("stop_instance in report")
}

fn message(note: &Value) -> String {
    note["Message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn stops_an_idle_instance_whatever_form_the_alarm_arrives_in() {
    for form in FORMS {
        let world = World::seed().await;
        let victim = world.launch(false, false).await;
        world.idle_alarm(&victim.instance_id, 0.3).await;
        let reports = respond(&world, idle_alarm(form, &victim.instance_id), &[]).await;
        assert!(stop_outcome(&reports).is_done(), "{form}: {reports:#?}");
        assert_eq!(world.instance_state(&victim.instance_id).await, "stopped", "{form}");
        let tags = world.tags(&victim.instance_id).await;
        assert_eq!(tags.get("firebreak:stopped-by").map(String::as_str), Some("firebreak alarm-responder"), "{form}");
        assert!(tags.get("firebreak:stopped-reason").is_some_and(|r| r.contains("idle-stop-cpu-")), "{form}: {tags:?}");
        let notes = world.notifications().await;
        assert_eq!(notes.len(), 1, "{form}");
        assert!(message(&notes[0]).contains(&victim.instance_id), "{form}");
        assert_eq!(notes[0]["MessageAttributes"]["action"]["Value"], "stopped", "{form}: {}", notes[0]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn never_stops_an_exempt_or_auto_scaled_instance_and_says_why() {
    let world = World::seed().await;
    let exempt = world.launch(false, false).await;
    let tag = aws_sdk_ec2::types::Tag::builder().key("firebreak:exempt").value("batch").build();
    world.ec2.create_tags().resources(&exempt.instance_id).tags(tag).send().await.expect("tag");
    let reports = respond(&world, idle_alarm(FORMS[0], &exempt.instance_id), &[]).await;
    assert!(matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("exemption")));
    assert_eq!(world.instance_state(&exempt.instance_id).await, "running");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("exemption"), "the notification says why");

    let scaled = world.launch(false, true).await;
    let reports = respond(&world, idle_alarm(FORMS[2], &scaled.instance_id), &[]).await;
    assert!(matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("Auto Scaling")));
    assert_eq!(world.instance_state(&scaled.instance_id).await, "running");
    assert_eq!(world.notifications().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_already_stopped_instance_is_not_stopped_or_notified_again() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    world.ec2.stop_instances().instance_ids(&victim.instance_id).send().await.expect("stop");
    let reports = respond(&world, idle_alarm(FORMS[1], &victim.instance_id), &[]).await;
    assert!(
        matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("already stopped")),
        "{reports:#?}"
    );
    assert!(!world.tags(&victim.instance_id).await.contains_key("firebreak:stopped-by"));
    assert!(world.notifications().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_instance_is_notified_as_not_found() {
    let world = World::seed().await;
    let reports = respond(&world, idle_alarm(FORMS[0], "i-0123456789abcdef0"), &[]).await;
    assert!(matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("not found")));
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(message(&notes[0]).contains("not found"));
}

#[tokio::test(flavor = "current_thread")]
async fn opt_in_mode_stops_only_instances_that_carry_the_tag() {
    let world = World::seed().await;
    let opt_in = [("FIREBREAK_IDLE_REQUIRE_TAG", "firebreak:idle-stop=true")];
    let untagged = world.launch(false, false).await;
    respond(&world, idle_alarm(FORMS[0], &untagged.instance_id), &opt_in).await;
    assert_eq!(world.instance_state(&untagged.instance_id).await, "running");

    let tagged = world.launch(false, false).await;
    world.idle_alarm(&tagged.instance_id, 0.3).await;
    let tag = aws_sdk_ec2::types::Tag::builder().key("firebreak:idle-stop").value("true").build();
    world.ec2.create_tags().resources(&tagged.instance_id).tags(tag).send().await.expect("tag");
    respond(&world, idle_alarm(FORMS[0], &tagged.instance_id), &opt_in).await;
    assert_eq!(world.instance_state(&tagged.instance_id).await, "stopped");
}

#[tokio::test(flavor = "current_thread")]
async fn an_attack_alarm_is_notified_with_metric_threshold_and_datapoints() {
    let world = World::seed().await;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(sample_event("alarm/nat-connection-surge-sns.json")).expect("sample"),
    )
    .expect("json");
    let reports = respond(&world, event, &[]).await;
    assert_eq!(reports[0].outcome_of("notify"), Some(&Outcome::done("published")));
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    let body: Value = serde_json::from_str(&message(&notes[0])).expect("the default body is the JSON report");
    assert_eq!(body["schema"], "firebreak.report/v1");
    assert_eq!(body["region"], "us-east-1");
    let text = body["text"].as_str().expect("text rendering inside the report");
    for needle in [
        "nat-gateway-connection-surge",
        "AWS/NATGateway/ActiveConnectionCount",
        "NatGatewayId=nat-0a1b2c3d4e5f60718",
        "Threshold: 20000",
        "Recent datapoints: 58211",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(notes[0]["MessageAttributes"]["kind"]["Value"], "alarm");
    assert_eq!(notes[0]["MessageAttributes"]["severity"]["Value"], "MEDIUM");
}

/// `cloudwatch:SetAlarmState` (or a forged event) can put any alarm in ALARM with any reason: only the
/// alarm as CloudWatch has it, and its metric's own datapoints, decide a stop.
#[tokio::test(flavor = "current_thread")]
async fn a_hand_set_or_unknown_alarm_stops_nothing() {
    let world = World::seed().await;
    // The metric says busy (40 % CPU); someone set the alarm to ALARM by hand.
    let busy = world.launch(false, false).await;
    world.idle_alarm(&busy.instance_id, 40.0).await;
    let reports = respond(&world, idle_alarm(FORMS[0], &busy.instance_id), &[]).await;
    assert!(
        matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("not earned by the metric")),
        "{reports:#?}"
    );
    assert_eq!(world.instance_state(&busy.instance_id).await, "running");
    // No such alarm at all: a forged event.
    let forged = world.launch(false, false).await;
    let reports = respond(&world, idle_alarm(FORMS[1], &forged.instance_id), &[]).await;
    assert!(matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("no metric alarm")));
    assert_eq!(world.instance_state(&forged.instance_id).await, "running");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 2, "both are notified, with the reason");
}

/// A composite alarm whose suppressor holds its actions, or an alarm under a mute rule, stops nothing.
#[tokio::test(flavor = "current_thread")]
async fn an_alarm_cloudwatch_suppressed_stops_nothing() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    world.idle_alarm(&victim.instance_id, 0.3).await;
    let mut event = idle_alarm(FORMS[0], &victim.instance_id);
    event["detail"]["state"]["actionsSuppressedBy"] = Value::from("Alarm");
    event["detail"]["state"]["actionsSuppressedReason"] = Value::from("Alarm ServiceMaintenanceAlarm in ALARM");
    let reports = respond(&world, event, &[]).await;
    assert!(reports[0].outcome_of("stop_instance").is_none(), "not even planned: {reports:#?}");
    assert!(reports[0].reasons.iter().any(|r| r.contains("ServiceMaintenanceAlarm")));
    assert_eq!(world.instance_state(&victim.instance_id).await, "running");
}

/// A contributor event of the fleet-wide sample alarm, about `instance_id`, in `form` (each instance a
/// contributor of its own, as CloudWatch names one per time series).
fn contributor(form: &str, instance_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event(form)).expect("sample");
    let id = &instance_id[instance_id.len() - 16..];
    serde_json::from_str(&text.replace("i-0abc1234def567890", instance_id).replace("6d442278dba546f6", id))
        .expect("json")
}

#[tokio::test(flavor = "current_thread")]
async fn a_contributor_of_a_fleet_idle_alarm_stops_exactly_that_instance_in_either_delivery() {
    for form in ["alarm/fleet-idle-contributor-eventbridge.json", "alarm/fleet-idle-contributor-sns.json"] {
        let world = World::seed().await;
        let idle = world.launch(false, false).await.instance_id;
        let busy = world.launch(false, false).await.instance_id;
        world.fleet_idle_alarm(&[(&idle, 0.3), (&busy, 40.0)]).await;

        let reports = respond(&world, contributor(form, &idle), &[]).await;
        assert!(stop_outcome(&reports).is_done(), "{form}: {reports:#?}");
        assert_eq!(world.instance_state(&idle).await, "stopped", "{form}");
        assert_eq!(world.instance_state(&busy).await, "running", "{form}");

        // The same event about the busy instance is not confirmed by its own datapoints.
        let reports = respond(&world, contributor(form, &busy), &[]).await;
        let Outcome::Skipped { reason, .. } = stop_outcome(&reports) else { panic!("{form}: {reports:#?}") };
        assert!(reason.contains("do not fall below"), "{form}: {reason}");
        assert_eq!(world.instance_state(&busy).await, "running", "{form}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_parent_state_change_of_a_fleet_alarm_never_stops_anything() {
    let world = World::seed().await;
    let idle = world.launch(false, false).await.instance_id;
    world.fleet_idle_alarm(&[(&idle, 0.3)]).await;
    let text = std::fs::read_to_string(sample_event("alarm/fleet-idle-parent-eventbridge.json")).expect("sample");
    let reports = respond(&world, serde_json::from_str(&text).expect("json"), &[]).await;
    assert_eq!(reports[0].actions.iter().map(|a| a.action).collect::<Vec<_>>(), ["notify"]);
    assert_eq!(world.instance_state(&idle).await, "running");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(message(&notes[0]).contains("2 out of 6 time series evaluated to ALARM"), "{}", message(&notes[0]));
}

/// Attack 3 of the trust issue: `cloudwatch:PutMetricAlarm` alone (and `PutMetricData` for a namespace
/// outside `AWS/`) must not be enough to stop an instance, even when real datapoints "earn" the alarm.
#[tokio::test(flavor = "current_thread")]
async fn an_alarm_anyone_can_make_never_stops_an_instance_and_the_notification_says_why() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let event_for = |name: &str| {
        let text = std::fs::read_to_string(sample_event(FORMS[0])).expect("sample");
        let text = text.replace("idle-stop-cpu-i-0abc1234def567890", name);
        serde_json::from_str::<Value>(&text.replace("i-0abc1234def567890", &victim.instance_id)).expect("json")
    };

    let unprefixed = format!("cpu-low-{}", victim.instance_id);
    world.alarm_in_alarm(&unprefixed, "AWS/EC2", &victim.instance_id, 0.3).await;
    let reports = respond(&world, event_for(&unprefixed), &[]).await;
    assert!(reports[0].outcome_of("stop_instance").is_none(), "no stop is even planned: {reports:#?}");
    assert!(reports[0].reasons.iter().any(|r| r.contains("only an alarm named idle-stop-")), "{reports:#?}");

    let agent = format!("idle-stop-agent-{}", victim.instance_id);
    world.alarm_in_alarm(&agent, "CWAgent", &victim.instance_id, 0.3).await;
    let reports = respond(&world, event_for(&agent), &[]).await;
    assert!(
        matches!(stop_outcome(&reports), Outcome::Skipped { reason, .. } if reason.contains("namespace CWAgent")),
        "{reports:#?}"
    );

    assert_eq!(world.instance_state(&victim.instance_id).await, "running");
    assert!(!world.tags(&victim.instance_id).await.contains_key("firebreak:stopped-by"));
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 2, "each refusal is notified once");
    assert!(message(&notes[0]).contains("FIREBREAK_IDLE_ALARM_PREFIX"), "{}", message(&notes[0]));
    assert!(message(&notes[1]).contains("namespace CWAgent"), "{}", message(&notes[1]));
}
