//! Notifications as subscribers receive them from SNS in moto: per-protocol bodies, message attributes,
//! and a subscription filter policy selecting by severity.

use crate::support::sample_event;
use crate::world::World;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample_event(name)).expect("sample")).expect("json")
}

#[tokio::test(flavor = "current_thread")]
async fn a_filter_policy_on_severity_selects_only_high_incidents() {
    let world = World::seed().await;
    let sqs = &world.sqs;
    let sns = aws_sdk_sns::Client::new(&world.sdk);
    let url = sqs.create_queue().queue_name("pager").send().await.expect("queue").queue_url().expect("url").to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attrs");
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).expect("arn").clone();
    sns.subscribe()
        .topic_arn(&world.topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("FilterPolicy", r#"{"severity": ["HIGH", "CRITICAL"]}"#)
        .send()
        .await
        .expect("subscribe with a filter policy");

    // A HIGH GuardDuty finding about an instance that does not exist (notified, nothing to contain),
    // and a MEDIUM attack alarm.
    world.respond(event("guardduty/ec2-backdoor-high-severity.json"), &[]).await;
    world.respond(event("alarm/nat-connection-surge-sns.json"), &[]).await;

    let all = world.notifications().await;
    assert_eq!(all.len(), 2, "the unfiltered queue gets both");
    let paged = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    assert_eq!(paged.messages().len(), 1, "the filtered queue gets only the HIGH one");
    let envelope: Value = serde_json::from_str(paged.messages()[0].body().unwrap_or("{}")).expect("SNS envelope");
    assert_eq!(envelope["MessageAttributes"]["severity"]["Value"], "HIGH");
    assert_eq!(envelope["MessageAttributes"]["kind"]["Value"], "guardduty");
    assert_eq!(envelope["MessageAttributes"]["account"]["Value"], "123456789012");
    assert_eq!(envelope["MessageAttributes"]["region"]["Value"], "us-east-1");
    let report: Value =
        serde_json::from_str(envelope["Message"].as_str().expect("message")).expect("queues get the JSON report");
    assert_eq!(report["schema"], "firebreak.report/v1");
    assert_eq!(report["severity"], "HIGH");
    let subject = envelope["Subject"].as_str().expect("subject");
    assert!(subject.len() <= 100 && subject.is_ascii(), "{subject}");
}
