//! Operators' metrics: every run emits one valid Embedded Metric Format record (validated against the
//! specification), and the dashboard and alarms of template.yaml name only metrics, dimensions and the
//! namespace the code emits.

use crate::support::finding;
use crate::world::{World, TABLE};
use firebreak::metrics::{emf_violation, Metric, FAIL_CLOSED_DIMENSIONS, INCIDENT_DIMENSIONS, NAMESPACE};
use firebreak::Function;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

async fn records_of(world: &World, event: Value) -> (Result<Value, firebreak::Error>, Vec<Value>) {
    world.guardduty_produced(&event);
    let responder = world.responder(&[]).await;
    let clock = firebreak::clock::Clock::system();
    let records = RefCell::new(Vec::new());
    let result = firebreak::lambda::respond_payload_with(
        event,
        &responder,
        Function::GuarddutyResponder,
        &clock,
        clock.now().epoch + 900,
        &|r| records.borrow_mut().push(r.clone()),
    )
    .await;
    (result, records.into_inner())
}

#[tokio::test(flavor = "current_thread")]
async fn a_containment_emits_one_valid_record_with_its_time_to_isolation() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let (result, records) = records_of(&world, finding(&victim.instance_id, "metrics-1")).await;
    result.expect("handled");
    assert_eq!(records.len(), 1, "one record per incident");
    let record = &records[0];
    assert_eq!(emf_violation(record), None, "{record}");
    assert_eq!(record["Function"], "guardduty-responder");
    assert_eq!(record["Decision"], "contain");
    assert_eq!(record["Incidents"].as_f64(), Some(1.0));
    assert!(record["StepsDone"].as_f64().is_some_and(|n| n >= 4.0), "{record}");
    assert_eq!(record["StepsFailed"].as_f64(), Some(0.0));
    assert!(record["TimeToIsolation"].as_f64().is_some(), "{record}");
    assert!(record["TimeToNotification"].as_f64() >= record["TimeToIsolation"].as_f64(), "{record}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_fails_closed_emits_a_fail_closed_record() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    aws_sdk_dynamodb::Client::new(&world.sdk).delete_table().table_name(TABLE).send().await.expect("deleted");
    let (result, records) = records_of(&world, finding(&victim.instance_id, "metrics-2")).await;
    assert!(result.is_err(), "retried");
    assert_eq!(records.len(), 1);
    assert_eq!(emf_violation(&records[0]), None);
    assert_eq!(records[0]["FailClosed"].as_f64(), Some(1.0));
}

/// (namespace, metric, dimension keys) of a dashboard metric row `[ns, name, k, v, …, {options}]`.
fn row(metric: &Value) -> Option<(String, String, BTreeSet<String>)> {
    let items = metric.as_array()?;
    let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    let keys = strings[2..].iter().step_by(2).map(|k| k.to_string()).collect();
    Some((strings[0].to_owned(), strings[1].to_owned(), keys))
}

#[test]
fn the_dashboard_and_alarms_name_only_what_the_code_emits() {
    let template = crate::iam::decode("template.yaml");
    let resources = template["Resources"].as_object().expect("resources");
    let emitted: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let allowed = |metric: &str| -> Vec<BTreeSet<String>> {
        let sets: &[&[&str]] =
            if metric == Metric::FailClosed.name() { &FAIL_CLOSED_DIMENSIONS } else { &INCIDENT_DIMENSIONS };
        sets.iter().map(|set| set.iter().map(|k| k.to_string()).collect()).collect()
    };
    let mut checked = 0;
    let mut check = |namespace: &str, metric: &str, keys: &BTreeSet<String>, at: &str| {
        if namespace != NAMESPACE {
            return;
        }
        assert!(emitted.contains(metric), "{at}: {metric} is not a metric Firebreak emits");
        assert!(allowed(metric).contains(keys), "{at}: {metric} is not emitted with dimensions {keys:?}");
        checked += 1;
    };
    let body = &resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    let text = body.as_str().or_else(|| body[0].as_str()).expect("a Fn::Sub string");
    let json: String = {
        // Substitutions stand for names and regions only: any string does for the shape.
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed") + start;
            out.push('x');
            rest = &rest[end + 1..];
        }
        out + rest
    };
    let dashboard: Value = serde_json::from_str(&json).expect("the dashboard body is JSON");
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        for metric in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let (namespace, name, keys) = row(metric).expect("a metric row");
            check(&namespace, &name, &keys, "dashboard");
        }
    }
    for (id, resource) in resources {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let properties = &resource["Properties"];
        let stats = properties["Metrics"].as_array().into_iter().flatten().filter_map(|m| m.get("MetricStat"));
        for stat in stats {
            let metric = &stat["Metric"];
            let keys = metric["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Name"].as_str())
                .map(String::from)
                .collect();
            check(
                metric["Namespace"].as_str().unwrap_or_default(),
                metric["MetricName"].as_str().unwrap_or_default(),
                &keys,
                id,
            );
        }
    }
    assert!(checked >= 20, "the dashboard and the alarms use Firebreak's metrics ({checked} rows checked)");
    for name in ["FailedStepsAlarm", "FailClosedAlarm"] {
        assert!(
            resources[name]["Properties"]["AlarmName"].as_str().is_some_and(|n| n.starts_with("firebreak-")),
            "{name}: its own alarms are not incidents"
        );
    }
}
