//! The EventBridge rules of template.yaml deliver exactly what the code acts on, and only from AWS.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

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

/// `member-role.yaml` as CloudFormation would deploy it in `region` of a member account: its conditions
/// evaluated (the security region us-east-1, forwarding on), the resources and outputs whose condition
/// is false left out.
fn member_stack_in(region: &str) -> Value {
    let mut template = crate::iam::decode("member-role.yaml");
    let params: BTreeMap<&str, &str> = BTreeMap::from([
        ("SecurityRegion", "us-east-1"),
        ("ForwardEvents", "true"),
        ("AllowCredentialRevocation", "true"),
        ("ExternalId", ""),
        ("AWS::Region", region),
    ]);
    let conditions = template["Conditions"].clone();
    for section in ["Resources", "Outputs"] {
        let kept: serde_json::Map<String, Value> = template[section]
            .as_object()
            .expect("section")
            .iter()
            .filter(|(_, r)| {
                r["Condition"].as_str().is_none_or(|c| holds(&conditions, &params, &json!({"Condition": c})))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        template[section] = Value::Object(kept);
    }
    // As CloudFormation would have it: conditions no kept resource uses are not part of this stack.
    loop {
        let used = format!("{}{}{}", template["Resources"], template["Outputs"], template["Conditions"]);
        let names: Vec<String> = template["Conditions"].as_object().expect("conditions").keys().cloned().collect();
        let unused: Vec<String> =
            names.into_iter().filter(|n| used.matches(&format!("\"{n}\"")).count() <= 1).collect();
        if unused.is_empty() {
            break;
        }
        let kept = template["Conditions"].as_object_mut().expect("conditions");
        unused.iter().for_each(|n| {
            kept.remove(n);
        });
    }
    let used = format!("{}{}{}", template["Resources"], template["Outputs"], template["Conditions"]);
    let parameters = template["Parameters"].as_object_mut().expect("parameters");
    parameters.retain(|name, _| used.contains(&format!("\"{name}\"")) || used.contains(&format!("${{{name}}}")));
    template
}

/// A CloudFormation condition expression, for the intrinsics `member-role.yaml` uses.
fn holds(conditions: &Value, params: &BTreeMap<&str, &str>, expression: &Value) -> bool {
    let value = |v: &Value| -> Value {
        match v.get("Ref").and_then(Value::as_str) {
            Some(name) => json!(params.get(name).copied().unwrap_or_default()),
            None => v.clone(),
        }
    };
    let (name, args) = expression.as_object().and_then(|o| o.iter().next()).expect("one intrinsic");
    match name.as_str() {
        "Fn::Equals" => value(&args[0]) == value(&args[1]),
        "Fn::Not" => !holds(conditions, params, &args[0]),
        "Fn::And" => args.as_array().expect("list").iter().all(|a| holds(conditions, params, a)),
        "Fn::Or" => args.as_array().expect("list").iter().any(|a| holds(conditions, params, a)),
        "Condition" => holds(conditions, params, &conditions[args.as_str().expect("name")]),
        other => panic!("member-role.yaml uses {other} in a condition: teach this test"),
    }
}

/// Attack 7 of the trust issue: a StackSet instance in a second region of a member account must not
/// fail on the named (global) roles, or that region's events, and the account's IAM and Organizations
/// events (delivered only in us-east-1), would silently stop arriving.
#[test]
fn the_member_stack_creates_its_roles_once_and_forwards_from_every_region() {
    let lint = crate::support::repo_root().join(".venv/sam/bin/cfn-lint");
    assert!(lint.exists(), "{} is missing: run scripts/test, which installs it", lint.display());
    for (region, roles_here) in [("us-east-1", true), ("eu-west-1", false)] {
        let stack = member_stack_in(region);
        let resources = stack["Resources"].as_object().expect("resources");
        let roles: Vec<&String> =
            resources.iter().filter(|(_, r)| r["Type"] == "AWS::IAM::Role").map(|(k, _)| k).collect();
        assert_eq!(!roles.is_empty(), roles_here, "{region}: roles {roles:?}");
        let rules: Vec<&Value> = resources.values().filter(|r| r["Type"] == "AWS::Events::Rule").collect();
        assert_eq!(rules.len(), 4, "{region}: every rule forwards from every region");
        for rule in rules {
            let target = &rule["Properties"]["Targets"][0];
            let role = target["RoleArn"]["Fn::Sub"].as_str().unwrap_or_default();
            assert!(role.ends_with(":role/firebreak-forwarding"), "{region}: the rule names the role: {target}");
        }
        let file = std::env::temp_dir().join(format!("firebreak-member-{region}-{}.json", std::process::id()));
        std::fs::write(&file, serde_json::to_string_pretty(&stack).expect("json")).expect("rendered");
        let out = std::process::Command::new(&lint).arg(&file).output().expect("cfn-lint runs");
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "{region}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Security Hub's two finding events reach the GuardDuty responder (with `SecurityHubFindings`) and a
/// member forwards exactly them (with `ForwardSecurityHubFindings`); the parser reads both.
#[test]
fn security_hubs_findings_are_matched_forwarded_and_understood_alike() {
    let ours = crate::iam::decode("template.yaml")["Resources"]["SecurityHubFindingsRule"]["Properties"]
        ["EventPattern"]
        .clone();
    assert_eq!(ours["source"], json!(["aws.securityhub"]));
    assert_eq!(forwarded("member-role.yaml", "ForwardFindingsOfSecurityHub"), ours);
    for detail_type in strings(&ours["detail-type"]) {
        let event = json!({"detail-type": detail_type, "source": "aws.securityhub", "detail": {"findings": []}});
        let refused = firebreak::parse_value(event).expect_err("no finding").to_string();
        assert!(refused.contains("detail.findings"), "{detail_type} is parsed as Security Hub's: {refused}");
    }
}
