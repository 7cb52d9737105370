//! The perimeter around Firebreak's plumbing, as AWS evaluates it: someone with every permission an
//! identity policy can give (a developer of the security account, a member account's administrator)
//! cannot disable, retarget or delete Firebreak's rules, subscribe to or change its topic, silence its
//! alarms, invoke its functions or set the exemption, under the service control policies of `docs/`;
//! the topic's own policy refuses subscriptions and admits only Firebreak's alarms even without them.
//! The deployment role, the break-glass role and Firebreak itself keep what they need, and a resource
//! that is not Firebreak's is left alone.

use crate::iam::{decode, parameters, simulate};
use crate::support::repo_root;
use serde_json::{json, Value};

const HOME: &str = "111111111111";
const MEMBER: &str = "222222222222";
const DEPLOYER: &str = "platform-deployer";

/// A service control policy of `docs/`, its placeholders filled as an organization would.
fn scp(file: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("docs").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let filled = text
        .replace("SECURITY_ACCOUNT_ID", HOME)
        .replace("DEPLOYMENT_ROLE_NAME", DEPLOYER)
        .replace("MEMBER_ROLE_NAME", "firebreak-member")
        .replace("BREAK_GLASS_ROLE_NAME", firebreak::iam::BREAK_GLASS_ROLE)
        .replace("PLATFORM_ROLE_NAME", "platform-team")
        .replace("SECURITY_ADMIN_ROLE_NAME", "security-admin");
    serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn role(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// One request of the perimeter: `who` (an ARN, holding an allow-all identity policy, or a service
/// principal) doing `action` on `resource`.
struct Case {
    label: String,
    principal: String,
    action: &'static str,
    resource: String,
    account: &'static str,
    context: Value,
    scps: Vec<Value>,
    resource_policy: Option<&'static str>,
    expect: &'static str,
}

impl Case {
    fn json(&self) -> Value {
        json!({"label": self.label, "principal": self.principal, "identity_allows_all": self.principal.starts_with("arn:"),
               "action": self.action, "resource": self.resource, "account": self.account, "home_account": HOME,
               "region": "us-east-1", "context": self.context, "scps": self.scps,
               "resource_policy": self.resource_policy, "expect": self.expect})
    }
}

fn case(who: &str, action: &'static str, resource: &str, expect: &'static str) -> Case {
    let account = if who.contains(MEMBER) || resource.contains(MEMBER) { MEMBER } else { HOME };
    Case {
        label: format!("{who} {action} on {resource}"),
        principal: who.to_owned(),
        action,
        resource: resource.to_owned(),
        account,
        context: json!({"aws:PrincipalArn": who, "aws:PrincipalAccount": account}),
        scps: Vec::new(),
        resource_policy: None,
        expect,
    }
}

/// The names of every EventBridge rule a template deploys (`AWS::Events::Rule` and the functions'
/// EventBridge and schedule events).
fn rule_names(template: &str) -> Vec<String> {
    let decoded = decode(template);
    let mut names = Vec::new();
    for resource in decoded["Resources"].as_object().expect("resources").values() {
        match resource["Type"].as_str() {
            Some("AWS::Events::Rule") => names.push(resource["Properties"]["Name"].as_str().map(str::to_owned)),
            Some("AWS::Serverless::Function") => {
                for event in resource["Properties"]["Events"].as_object().into_iter().flat_map(|e| e.values()) {
                    let properties = &event["Properties"];
                    names.push(properties["RuleName"].as_str().or(properties["Name"].as_str()).map(str::to_owned));
                }
            }
            _ => {}
        }
    }
    names.into_iter().map(|n| n.unwrap_or_else(|| panic!("{template}: an unnamed EventBridge rule"))).collect()
}

#[test]
fn every_eventbridge_rule_firebreak_deploys_is_named_firebreak() {
    for template in ["template.yaml", "member-role.yaml", "global-events.yaml"] {
        let names = rule_names(template);
        assert!(!names.is_empty(), "{template}");
        for name in names {
            assert!(
                name.starts_with("firebreak-") && name.len() <= 64,
                "{template}: {name} (rule/firebreak-* in the SCPs)"
            );
        }
    }
}

fn run(cases: Vec<Case>, deployment_role: Option<&str>) {
    let input = json!({
        "templates": {"home": decode("template.yaml"), "member": decode("member-role.yaml")},
        "parameters": parameters(deployment_role),
        "cases": [],
        "perimeter": cases.iter().map(Case::json).collect::<Vec<_>>(),
    });
    let stdout = simulate(&input);
    assert!(stdout.contains(&format!("evaluated {} requests: 0 wrong", cases.len())), "{stdout}");
}

#[test]
fn the_security_account_scp_keeps_firebreaks_plumbing_for_the_deployment() {
    let developer = role(HOME, "developer");
    let deployer = role(HOME, DEPLOYER);
    let rule = |name: &str| format!("arn:aws:events:us-east-1:{HOME}:rule/{name}");
    let topic = format!("arn:aws:sns:us-east-1:{HOME}:firebreak-notifications");
    let alarm = |name: &str| format!("arn:aws:cloudwatch:us-east-1:{HOME}:alarm:{name}");
    let function = |name: &str| format!("arn:aws:lambda:us-east-1:{HOME}:function:firebreak-{name}");
    let mut cases = Vec::new();
    for name in rule_names("template.yaml") {
        for action in
            ["events:DisableRule", "events:RemoveTargets", "events:PutTargets", "events:DeleteRule", "events:PutRule"]
        {
            cases.push(case(&developer, action, &rule(&name), "Denied"));
        }
        cases.push(case(&deployer, "events:PutTargets", &rule(&name), "Allowed"));
    }
    cases.push(case(&developer, "events:DisableRule", &rule("nightly-build"), "Allowed"));
    for action in
        ["sns:Subscribe", "sns:SetTopicAttributes", "sns:DeleteTopic", "sns:AddPermission", "sns:RemovePermission"]
    {
        cases.push(case(&developer, action, &topic, "Denied"));
        cases.push(case(&deployer, action, &topic, "Allowed"));
    }
    for action in [
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DisableAlarmActions",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:SetAlarmState",
    ] {
        cases.push(case(&developer, action, &alarm("firebreak-failed-steps"), "Denied"));
        cases.push(case(&deployer, action, &alarm("firebreak-failed-steps"), "Allowed"));
    }
    cases.push(case(&developer, "cloudwatch:PutMetricAlarm", &alarm("team-cpu-high"), "Allowed"));
    for f in firebreak::Function::ALL {
        cases.push(case(&developer, "lambda:InvokeFunction", &function(f.name()), "Denied"));
        cases.push(case(&developer, "lambda:InvokeAsync", &function(f.name()), "Denied"));
    }
    cases.push(case(
        &role(HOME, "firebreak-approval-responder-us-east-1"),
        "lambda:InvokeFunction",
        &function("guardduty-responder"),
        "Allowed",
    ));
    cases.push(case(
        &role(HOME, "firebreak-guardduty-responder-us-east-1"),
        "lambda:InvokeFunction",
        &function("alarm-responder"),
        "Allowed",
    ));
    cases.push(case(
        &role(HOME, "firebreak-guardduty-responder-us-east-1"),
        "lambda:InvokeFunction",
        &function("guardduty-responder"),
        "Denied",
    ));
    for c in &mut cases {
        c.scps = vec![scp("scp-security-account.json"), scp("scp-exemption.json")];
        if c.action.starts_with("sns:") {
            c.resource_policy = Some("topic");
        }
    }
    run(cases, Some(&deployer));
}

#[test]
fn the_topic_admits_only_the_deployments_subscriptions_and_firebreaks_alarms_even_without_an_scp() {
    let topic = format!("arn:aws:sns:us-east-1:{HOME}:firebreak-notifications");
    let key = format!("arn:aws:kms:us-east-1:{HOME}:key/TopicKey");
    let alarm = |account: &str, name: &str| format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:{name}");
    let published = |action: &'static str, resource: &str, source: String, account: &str, expect: &'static str| Case {
        label: format!("CloudWatch {action} for {source}"),
        principal: "cloudwatch.amazonaws.com".into(),
        action,
        resource: resource.to_owned(),
        account: HOME,
        context: json!({"aws:SourceArn": source, "aws:SourceAccount": account}),
        scps: Vec::new(),
        resource_policy: Some(if action == "sns:Publish" { "topic" } else { "TopicKey" }),
        expect,
    };
    let subscribe = |who: &str, called_via: Option<&str>, expect: &'static str| {
        let mut c = case(who, "sns:Subscribe", &topic, expect);
        if let Some(service) = called_via {
            c.context["aws:CalledVia"] = json!([service]);
            c.label = format!("{} (via {service})", c.label);
        }
        c.resource_policy = Some("topic");
        c
    };
    let mut cases = Vec::new();
    for (action, resource) in [("sns:Publish", topic.as_str()), ("kms:GenerateDataKey", key.as_str())] {
        cases.push(published(action, resource, alarm(HOME, "firebreak-failed-steps"), HOME, "Allowed"));
        cases.push(published(action, resource, alarm(HOME, "urgent-approve-at-example-com"), HOME, "Denied"));
        cases.push(published(
            action,
            resource,
            alarm("999999999999", "firebreak-failed-steps"),
            "999999999999",
            "Denied",
        ));
    }
    let developer = role(HOME, "developer");
    let deployer = role(HOME, DEPLOYER);
    let break_glass = role(HOME, firebreak::iam::BREAK_GLASS_ROLE);
    let named = vec![
        subscribe(&developer, None, "Denied"),
        subscribe(&deployer, None, "Allowed"),
        subscribe(&break_glass, None, "Allowed"),
        subscribe(&developer, Some("cloudformation.amazonaws.com"), "Denied"),
    ];
    run(cases.into_iter().chain(named).collect(), Some(&deployer));
    // No deployment role named: subscriptions only as CloudFormation makes them (the stack's own email
    // subscription), and by the break-glass role.
    let unnamed = vec![
        subscribe(&developer, None, "Denied"),
        subscribe(&deployer, None, "Denied"),
        subscribe(&developer, Some("cloudformation.amazonaws.com"), "Allowed"),
        subscribe(&break_glass, None, "Allowed"),
    ];
    run(unnamed, None);
}

#[test]
fn the_member_scp_keeps_the_forwarding_the_member_role_and_the_exemption() {
    let admin = role(MEMBER, "admin");
    let deployer = role(MEMBER, DEPLOYER);
    let security_admin = role(MEMBER, "security-admin");
    let rule = |name: &str| format!("arn:aws:events:us-east-1:{MEMBER}:rule/{name}");
    let mut cases = Vec::new();
    for name in rule_names("member-role.yaml").into_iter().chain(rule_names("global-events.yaml")) {
        for action in ["events:DisableRule", "events:RemoveTargets", "events:PutTargets", "events:DeleteRule"] {
            cases.push(case(&admin, action, &rule(&name), "Denied"));
        }
        cases.push(case(&deployer, "events:PutTargets", &rule(&name), "Allowed"));
    }
    for name in ["firebreak-member", "firebreak-forwarding", "firebreak-global-forwarding"] {
        for action in ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:AttachRolePolicy"] {
            cases.push(case(&admin, action, &role(MEMBER, name), "Denied"));
        }
        cases.push(case(&deployer, "iam:PutRolePolicy", &role(MEMBER, name), "Allowed"));
    }
    let tags = |keys: &[&str]| json!(keys);
    let instance = format!("arn:aws:ec2:us-east-1:{MEMBER}:instance/i-0abc1234def567890");
    let exempting: [(&'static str, String); 6] = [
        ("ec2:CreateTags", instance.clone()),
        ("ec2:DeleteTags", instance.clone()),
        ("iam:TagRole", role(MEMBER, "batch")),
        ("iam:CreateRole", role(MEMBER, "batch")),
        ("ecs:TagResource", format!("arn:aws:ecs:us-east-1:{MEMBER}:task/prod/0123456789abcdef0123456789abcdef")),
        (
            "autoscaling:CreateOrUpdateTags",
            format!("arn:aws:autoscaling:us-east-1:{MEMBER}:autoScalingGroup:6d0e1f2a-3b4c-5d6e-7f80-91a2b3c4d5e6:autoScalingGroupName/web"),
        ),
    ];
    for (action, resource) in &exempting {
        for (who, keys, expect) in [
            (&admin, tags(&["Name", "firebreak:exempt"]), "Denied"),
            (&security_admin, tags(&["firebreak:exempt"]), "Allowed"),
            (&admin, tags(&["Name"]), "Allowed"),
        ] {
            let mut c = case(who, action, resource, expect);
            c.context["aws:TagKeys"] = keys.clone();
            c.label = format!("{} with tag keys {keys}", c.label);
            cases.push(c);
        }
    }
    // Launching an instance tagged exempt is a CreateTags request on creation, and RunInstances itself.
    let mut launch = case(&admin, "ec2:CreateTags", &instance, "Denied");
    launch.context["aws:TagKeys"] = tags(&["firebreak:exempt"]);
    launch.context["ec2:CreateAction"] = json!("RunInstances");
    cases.push(launch);
    for c in &mut cases {
        c.scps = vec![scp("scp-member-accounts.json"), scp("scp-exemption.json")];
    }
    run(cases, None);
}
