//! Notifications as subscribers receive them from SNS in moto: per-protocol bodies, message attributes,
//! and a subscription filter policy selecting by severity.

use crate::support::{finding, sample_event};
use crate::world::World;
use aws_sdk_sqs::types::QueueAttributeName;
use firebreak::approval::Verdict;
use firebreak::clock::Clock;
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

/// Every notification kind the one renderer produces, as SQS subscribers receive it: an incident's
/// (contained and held back), the circuit-open notice and a release. Each body is validated against
/// docs/report.schema.json with the `jsonschema` package of the moto venv (a Draft 2020-12 validator).
#[tokio::test(flavor = "current_thread")]
async fn every_notification_kind_is_a_valid_versioned_report() {
    let approvals = crate::approval::Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    // A request for approval, and its denial.
    let asked = world.launch(false, false).await;
    let request = approvals.ask_body(&asked.instance_id, "33333333333333333333333333333333", Clock::system()).await;
    let by = firebreak::approval::Approver {
        via: firebreak::approval::Via::Cli,
        source_ip: None,
        user_agent: None,
        user: Some("ops".into()),
        at: 0,
    };
    let key = "incident#guardduty#123456789012#us-east-1#33333333333333333333333333333333";
    let denied =
        approvals.responder().await.answer(key, Verdict::Deny, by, &Clock::system(), false).await.expect("answered");
    assert!(matches!(denied, firebreak::playbooks::Answer::Denied(_)), "{denied:?}");
    let first = world.launch(false, false).await;
    let second = world.launch(false, false).await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "1")];
    world.respond(finding(&first.instance_id, "11111111111111111111111111111111"), &cap).await;
    world.respond(finding(&second.instance_id, "22222222222222222222222222222222"), &cap).await;
    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&first.instance_id).expect("id");
    crate::support::release(&responder, &id).await.expect("released");
    let mut bodies: Vec<Value> = world
        .notifications()
        .await
        .iter()
        .map(|n| serde_json::from_str(n["Message"].as_str().expect("message")).expect("the SQS body is JSON"))
        .collect();
    bodies.push(request);
    let mut kinds: Vec<(&str, &str)> =
        bodies.iter().map(|b| (b["kind"].as_str().unwrap_or(""), b["action"].as_str().unwrap_or(""))).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            ("circuit", "held"),
            ("guardduty", "awaiting_approval"),
            ("guardduty", "isolated"),
            ("guardduty", "notified"),
            ("guardduty", "notified"),
            ("release", "released")
        ],
        "{bodies:#?}"
    );
    let path = std::env::temp_dir().join(format!("firebreak-reports-{}.json", std::process::id()));
    std::fs::write(&path, Value::Array(bodies).to_string()).expect("write");
    let check = "import json, sys, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 v = jsonschema.Draft202012Validator(schema)\n\
                 errors = [f'{n}: {e.json_path}: {e.message}' for n, b in enumerate(json.load(open(sys.argv[2]))) for e in v.iter_errors(b)]\n\
                 print('\\n'.join(errors)); sys.exit(1 if errors else 0)";
    let out = std::process::Command::new(crate::emulator::moto_python())
        .args(["-c", check])
        .arg(crate::support::repo_root().join("docs/report.schema.json"))
        .arg(&path)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
