//! The `firebreak plan` contract other tools rely on: one JSON line per file, exit 0/2, errors that
//! name the file and the field.

use crate::support::{firebreak, sample_event};
use serde_json::Value;

fn path(name: &str) -> String {
    sample_event(name).to_string_lossy().into_owned()
}

#[test]
fn plan_prints_one_json_document_per_file_with_instance_scoped_actions() {
    let (code, out, err) =
        firebreak(&["plan", &path("guardduty/ec2-backdoor-high-severity.json"), &path("alarm/idle-cpu-sns.json")], b"");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let contain: Value = serde_json::from_str(lines[0]).expect("json");
    let actions = contain["actions"].as_array().expect("actions");
    // Out of Auto Scaling's hands first, then the network.
    assert_eq!(actions[0]["action"], "detach_from_auto_scaling_group");
    assert_eq!(actions[1]["action"], "isolate_instance");
    assert!(actions.iter().filter(|a| a["action"] != "notify").all(|a| a["instance_id"] == "i-0abc1234def567890"));
    assert!(actions.iter().any(|a| a["action"] == "snapshot_volumes"));
    assert!(actions.iter().any(|a| a["action"] == "notify"));
    let stop: Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(stop["actions"][0]["action"], "stop_instance");
}

#[test]
fn plan_reads_standard_input_for_a_dash() {
    let bytes = std::fs::read(sample_event("cloudtrail/sg-open-ssh-to-world.json")).expect("sample");
    let (code, out, _) = firebreak(&["plan", "-"], &bytes);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(doc["actions"][0]["action"], "revoke_security_group_ingress");
}

#[test]
fn an_ignored_event_has_an_empty_action_list_and_a_reason() {
    let stdin = br#"{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","account":"123456789012","region":"us-east-1",
        "resources":["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"],"detail":{"alarmName":"a","state":{"value":"OK"}}}"#;
    let (code, out, _) = firebreak(&["plan", "-"], stdin);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(doc["actions"], Value::Array(vec![]));
    assert!(doc["plans"][0]["reasons"][0].as_str().unwrap_or("").starts_with("ignored because"));
}

#[test]
fn refused_input_exits_2_with_one_line_naming_file_and_field() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "payload"),
        (b"", "payload"),
        (br#"{"detail-type":"GuardDuty Finding","detail":{"id":"x","type":"t","severity":"high","resource":{"resourceType":"Instance"}}}"#, "detail.severity"),
        (br#"{"unknown":"shape"}"#, "payload"),
    ];
    for (stdin, field) in cases {
        let (code, out, err) = firebreak(&["plan", "-"], stdin);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("firebreak: -: refused: ") && err.contains(field), "{err}");
    }
}

#[test]
fn a_missing_file_is_refused_but_the_other_files_are_still_planned() {
    let (code, out, err) = firebreak(&["plan", "/nonexistent/event.json", &path("alarm/idle-cpu-sns.json")], b"");
    assert_eq!(code, 2);
    assert_eq!(out.lines().count(), 1);
    assert!(err.contains("/nonexistent/event.json") && err.contains("file"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(firebreak(&[], b"").0, 2);
    assert_eq!(firebreak(&["plan"], b"").0, 2);
    assert_eq!(firebreak(&["explode"], b"").0, 2);
}
