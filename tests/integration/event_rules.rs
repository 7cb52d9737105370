//! The EventBridge rules of template.yaml deliver exactly what the code acts on, and only from AWS.

use serde_json::Value;
use std::collections::BTreeSet;

fn pattern(rule: &str) -> Value {
    let template = crate::iam::decode("template.yaml");
    template["Resources"]["CloudTrailResponder"]["Properties"]["Events"][rule]["Properties"]["Pattern"].clone()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array().expect("a list").iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

#[test]
fn the_risky_calls_rule_delivers_exactly_the_event_names_and_sources_the_code_detects() {
    let p = pattern("RiskyApiCalls");
    let names: BTreeSet<String> = firebreak::policy::DETECTED_EVENTS.iter().map(|(_, n)| n.to_string()).collect();
    let sources: BTreeSet<String> = firebreak::policy::DETECTED_EVENTS.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(strings(&p["detail"]["eventName"]), names, "template (left) vs code (right)");
    assert_eq!(strings(&p["detail"]["eventSource"]), sources, "template (left) vs code (right)");
}

#[test]
fn every_cloudtrail_rule_admits_only_aws_sources() {
    for rule in ["RiskyApiCalls", "RootActivity", "ConsoleSignIns"] {
        let source = &pattern(rule)["source"];
        let aws_only = source.as_array().is_some_and(|list| {
            list.iter().all(|s| s.as_str().is_some_and(|s| s.starts_with("aws.")) || s["prefix"] == "aws.")
        });
        assert!(aws_only, "{rule}: {source}");
    }
}

/// A rule's pattern in a template other than template.yaml (the forwarding templates).
fn forwarded(template: &str, rule: &str) -> Value {
    crate::iam::decode(template)["Resources"][rule]["Properties"]["EventPattern"].clone()
}

#[test]
fn members_and_us_east_1_forward_exactly_what_firebreaks_rules_match() {
    let alarms = crate::iam::decode("template.yaml")["Resources"]["AlarmResponder"]["Properties"]["Events"]
        ["AlarmStateChanges"]["Properties"]["Pattern"]
        .clone();
    for (ours, theirs) in [
        ("RiskyApiCalls", "ForwardRiskyApiCalls"),
        ("RootActivity", "ForwardRootActivity"),
        ("ConsoleSignIns", "ForwardConsoleSignIns"),
    ] {
        assert_eq!(forwarded("member-role.yaml", theirs), pattern(ours), "member-role.yaml {theirs}");
        assert_eq!(forwarded("global-events.yaml", theirs), pattern(ours), "global-events.yaml {theirs}");
    }
    assert_eq!(forwarded("member-role.yaml", "ForwardAlarmStateChanges"), alarms, "member-role.yaml alarms");
}

#[test]
fn the_alarm_rule_admits_every_alarm_event_the_samples_show_in_the_state_they_act_on() {
    let rule = crate::iam::decode("template.yaml")["Resources"]["AlarmResponder"]["Properties"]["Events"]
        ["AlarmStateChanges"]["Properties"]["Pattern"]
        .clone();
    let admitted = strings(&rule["detail-type"]);
    let excluded = rule["detail"]["alarmName"][0]["anything-but"]["prefix"].as_str().expect("Firebreak's own alarms");
    let folder = crate::support::repo_root().join("events/alarm");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&folder).expect("events/alarm") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        if let Some(detail_type) = event["detail-type"].as_str() {
            assert!(admitted.contains(detail_type), "{} is not admitted: {detail_type}", path.display());
            seen.insert(detail_type.to_owned());
            let name = event["detail"]["alarmName"].as_str().expect("alarmName");
            assert!(!name.starts_with(excluded), "{}: {name} is dropped by the rule", path.display());
        }
    }
    assert_eq!(seen, admitted, "a sample of each admitted detail-type");
    // Firebreak's own alarms are left out by name; an alarm that opts in to stopping is not.
    assert!(!firebreak::policy::DEFAULT_IDLE_ALARM_PREFIX.starts_with(excluded), "{excluded}");
}
