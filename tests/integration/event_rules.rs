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
        ("SelfChanges", "ForwardSelfChanges"),
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
        assert_eq!(rules.len(), 5, "{region}: every rule forwards from every region");
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
    let resources = &crate::iam::decode("template.yaml")["Resources"];
    let theirs = forwarded("member-role.yaml", "ForwardFindingsOfSecurityHub");
    assert_eq!(theirs["source"], json!(["aws.securityhub"]));
    for rule in ["SecurityHubFindingsRule", "OtherProductsFindingsRule"] {
        let ours = &resources[rule]["Properties"]["EventPattern"];
        assert_eq!(ours["source"], theirs["source"], "{rule}");
        let types: BTreeSet<String> =
            ours["$or"].as_array().expect("$or").iter().flat_map(|p| strings(&p["detail-type"])).collect();
        assert_eq!(types, strings(&theirs["detail-type"]), "{rule}: a member forwards both finding events");
    }
    let ours = theirs;
    for detail_type in strings(&ours["detail-type"]) {
        let event = json!({"detail-type": detail_type, "source": "aws.securityhub", "detail": {"findings": []}});
        let refused = firebreak::parse_value(event).expect_err("no finding").to_string();
        assert!(refused.contains("detail.findings"), "{detail_type} is parsed as Security Hub's: {refused}");
    }
}

/// Whether EventBridge delivers `event` to a rule of `pattern`, as the EventBridge user guide's "Event
/// patterns" and "Comparison operators for use in event patterns" pages describe matching: every field of the pattern must match
/// (a list is a set of alternatives; `$or` a list of sub-patterns of which one must match), a pattern
/// reaches into arrays (an array matches when any element does), and the filters `prefix`, `suffix`,
/// `anything-but` (a value, a list, or a `prefix`/`suffix`) and `exists` compare one value. moto's
/// matcher does not reach into arrays of objects (Security Hub's `detail.findings`), so the rules are
/// held to this reading instead.
fn delivers(pattern: &Value, event: &Value) -> bool {
    pattern.as_object().expect("a pattern is an object").iter().all(|(key, wanted)| match key.as_str() {
        "$or" => wanted.as_array().expect("$or lists patterns").iter().any(|p| delivers(p, event)),
        _ => {
            let values = leaves(event.get(key));
            match wanted {
                Value::Object(_) => values.iter().any(|v| delivers(wanted, v)),
                Value::Array(alternatives) => alternatives.iter().any(|alternative| match alternative {
                    Value::Object(filter) if filter.contains_key("exists") => {
                        filter["exists"].as_bool() == Some(!values.is_empty())
                    }
                    _ => values.iter().any(|v| filter_matches(alternative, v)),
                }),
                other => panic!("{key}: {other} is not a pattern value"),
            }
        }
    })
}

/// The values at a field: an array stands for each of its elements.
fn leaves(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
    }
}

fn filter_matches(filter: &Value, value: &Value) -> bool {
    let text = value.as_str();
    match filter {
        Value::Object(f) => match f.iter().next() {
            Some((name, arg)) if name == "prefix" => text.zip(arg.as_str()).is_some_and(|(t, p)| t.starts_with(p)),
            Some((name, arg)) if name == "suffix" => text.zip(arg.as_str()).is_some_and(|(t, p)| t.ends_with(p)),
            Some((name, arg)) if name == "wildcard" => text.zip(arg.as_str()).is_some_and(|(t, p)| wildcard(p, t)),
            Some((name, arg)) if name == "anything-but" => match arg {
                Value::Object(_) => !filter_matches(arg, value),
                Value::Array(list) => !list.contains(value),
                single => single != value,
            },
            other => panic!("a filter this test does not know: {other:?}"),
        },
        literal => literal == value,
    }
}

#[test]
fn only_guarddutys_own_active_new_findings_reach_the_containment_function() {
    let resources = &crate::iam::decode("template.yaml")["Resources"];
    let rule = |name: &str| resources[name]["Properties"]["EventPattern"].clone();
    let (guardduty, others) = (rule("SecurityHubFindingsRule"), rule("OtherProductsFindingsRule"));
    assert_eq!(
        resources["SecurityHubFindingsRule"]["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0],
        "GuardDutyResponder"
    );
    assert_eq!(
        resources["OtherProductsFindingsRule"]["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0],
        "FindingsNotifier"
    );
    let sample = |name: &str| -> Value {
        let path = crate::support::repo_root().join("events/securityhub").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
    };
    for name in ["asff-guardduty-ec2-backdoor.json", "ocsf-guardduty-ec2-backdoor.json"] {
        let event = sample(name);
        assert!(delivers(&guardduty, &event) && !delivers(&others, &event), "{name}: to the GuardDuty responder only");
        // Once it is no longer new (Firebreak's own write-back, a person), or archived, it goes nowhere.
        let mut handled = event.clone();
        if name.starts_with("asff") {
            handled["detail"]["findings"][0]["Workflow"]["Status"] = json!("NOTIFIED");
            let mut archived = event.clone();
            archived["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
            assert!(!delivers(&guardduty, &archived) && !delivers(&others, &archived), "{name} archived");
        } else {
            handled["detail"]["findings"][0]["status_id"] = json!(2);
        }
        assert!(!delivers(&guardduty, &handled) && !delivers(&others, &handled), "{name} in progress");
    }
    let inspector = sample("asff-inspector-ec2-cve.json");
    assert!(delivers(&others, &inspector) && !delivers(&guardduty, &inspector), "Inspector: to the notifier only");
    // A member's own import names its own product: never GuardDuty's.
    let mut imported = sample("ocsf-guardduty-ec2-backdoor.json");
    imported["detail"]["findings"][0]["metadata"]["product"]["uid"] =
        json!("arn:aws:securityhub:us-east-1:222222222222:productv2/222222222222/default");
    assert!(delivers(&others, &imported) && !delivers(&guardduty, &imported), "an import: to the notifier only");
}

/// EventBridge's `wildcard` filter: `*` stands for any run of characters, everything else for itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len())
                    .any(|skip| text.is_char_boundary(head.len() + skip) && wildcard(rest, &text[head.len() + skip..]))
        }
    }
}

/// A CloudTrail record of `name` by `source` with `request`, as EventBridge delivers it.
fn api_call(source: &str, name: &str, request: Value) -> Value {
    let path = crate::support::repo_root().join("events/cloudtrail/sg-open-ssh-to-world.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
    event["source"] = json!(format!("aws.{}", source.trim_end_matches(".amazonaws.com")));
    event["detail"]["eventSource"] = json!(source);
    event["detail"]["eventName"] = json!(name);
    event["detail"]["requestParameters"] = request;
    event
}

/// The `SelfChanges` rule delivers exactly the (source, name) pairs the code detects as CT-SELF-002, and
/// only when they touch Firebreak's own rules, topic, alarms, functions or roles: the rest of an
/// account's changes never invoke anything.
#[test]
fn the_self_changes_rule_delivers_changes_to_firebreaks_own_plumbing_only() {
    let p = pattern("SelfChanges");
    let mut pairs = BTreeSet::new();
    for branch in p["detail"]["$or"].as_array().expect("branches") {
        for source in strings(&branch["eventSource"]) {
            for name in strings(&branch["eventName"]) {
                pairs.insert((source.clone(), name));
            }
        }
    }
    let code: BTreeSet<(String, String)> =
        firebreak::policy::SELF_CHANGE_EVENTS.iter().map(|(s, n)| (s.to_string(), n.to_string())).collect();
    assert_eq!(pairs, code, "template (left) vs code (right)");
    let responder = "arn:aws:lambda:us-east-1:123456789012:function:firebreak-guardduty-responder";
    let topic = "arn:aws:sns:us-east-1:123456789012:firebreak-notifications";
    for (source, name, ours, theirs) in [
        (
            "events.amazonaws.com",
            "DisableRule",
            json!({"name": "firebreak-guardduty-findings"}),
            json!({"name": "nightly"}),
        ),
        (
            "events.amazonaws.com",
            "PutTargets",
            json!({"rule": "nightly", "targets": [{"id": "x", "arn": responder}]}),
            json!({"rule": "nightly", "targets": [{"id": "x", "arn": "arn:aws:lambda:us-east-1:123456789012:function:build"}]}),
        ),
        (
            "sns.amazonaws.com",
            "Subscribe",
            json!({"topicArn": topic, "protocol": "email"}),
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:builds"}),
        ),
        (
            "sns.amazonaws.com",
            "Unsubscribe",
            json!({"subscriptionArn": format!("{topic}:8b6b2c1e-0f2e-4a8e-9f55-0a1b2c3d4e5f")}),
            json!({"subscriptionArn": "arn:aws:sns:us-east-1:123456789012:builds:8b6b2c1e-0f2e-4a8e-9f55-0a1b2c3d4e5f"}),
        ),
        (
            "monitoring.amazonaws.com",
            "DeleteAlarms",
            json!({"alarmNames": ["x", "firebreak-fail-closed"]}),
            json!({"alarmNames": ["x"]}),
        ),
        (
            "lambda.amazonaws.com",
            "DeleteFunction20150331",
            json!({"functionName": responder}),
            json!({"functionName": "basic-node-task"}),
        ),
        ("iam.amazonaws.com", "DeleteRolePolicy", json!({"roleName": "firebreak-member"}), json!({"roleName": "web"})),
    ] {
        assert!(delivers(&p, &api_call(source, name, ours)), "{name} on Firebreak's");
        assert!(!delivers(&p, &api_call(source, name, theirs)), "{name} on someone else's");
    }
}

#[test]
fn the_pattern_reading_matches_the_user_guides_examples() {
    // "wildcard": the EventBridge User Guide's example of a file name matched by `dir/*.png`.
    assert!(wildcard("dir/*.png", "dir/image.png") && !wildcard("dir/*.png", "dir/image.jpg"));
    assert!(wildcard("arn:*:sns:*:*:firebreak-*", "arn:aws:sns:us-east-1:1:firebreak-notifications"));
    let event = json!({"source": "aws.ec2", "detail": {"state": "running", "tags": [{"k": "a"}, {"k": "b"}]}});
    assert!(delivers(&json!({"source": ["aws.ec2"]}), &event));
    assert!(!delivers(&json!({"source": ["aws.s3"]}), &event));
    assert!(delivers(&json!({"detail": {"tags": {"k": ["b"]}}}), &event), "into arrays of objects");
    assert!(delivers(&json!({"detail": {"state": [{"anything-but": ["stopped"]}]}}), &event));
    assert!(!delivers(&json!({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}), &event));
    assert!(delivers(&json!({"detail": {"state": [{"suffix": "ing"}]}}), &event));
    assert!(delivers(&json!({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["running"]}}]}), &event));
    assert!(!delivers(&json!({"detail": {"missing": ["x"]}}), &event), "a field the event lacks matches nothing");
    assert!(delivers(&json!({"detail": {"missing": [{"exists": false}]}}), &event));
}
