//! Least privilege, from the steps' declarations: for each function, the IAM actions its steps
//! declare (over every step its incident kinds can plan) plus the executor's own are exactly the
//! actions its role grants in template.yaml; and a full run of each function calls nothing else.

use crate::fault_proxy::FaultProxy;
use crate::support::sample_event;
use crate::world::World;
use firebreak::Function;
use serde_json::Value;
use std::collections::BTreeSet;

/// The actions of the `Allow` statements of a policy document (a statement may sit behind `Fn::If`:
/// both branches count, since either may be deployed).
fn allowed_actions(document: &Value) -> BTreeSet<String> {
    let mut statements: Vec<&Value> = Vec::new();
    for statement in document["Statement"].as_array().expect("statements") {
        match statement.get("Fn::If").and_then(Value::as_array) {
            Some(branches) => statements.extend(branches[1..].iter().filter(|b| b.is_object())),
            None => statements.push(statement),
        }
    }
    statements
        .into_iter()
        .filter(|st| st["Effect"] == "Allow")
        .flat_map(|st| match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            other => panic!("unexpected Action {other}"),
        })
        .collect()
}

/// (allowed actions of the `respond` policy, of the `logs` policy) of the role of `firebreak-<name>`.
fn granted(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let template = crate::iam::decode("template.yaml");
    let resources = template["Resources"].as_object().expect("resources");
    let function = resources
        .values()
        .find(|r| r["Properties"]["FunctionName"] == format!("firebreak-{name}"))
        .expect("function in template");
    let role = function["Properties"]["Role"]["Fn::GetAtt"][0].as_str().expect("explicit role");
    let policy = |policy_name: &str| {
        let policies = resources[role]["Properties"]["Policies"].as_array().expect("inline policies");
        let found = policies.iter().find(|p| p["PolicyName"] == policy_name).expect("policy");
        allowed_actions(&found["PolicyDocument"])
    };
    // The template's own managed policies the role attaches grant what the function does, as `respond`.
    let attached = resources[role]["Properties"]["ManagedPolicyArns"].as_array().cloned().unwrap_or_default();
    let managed = attached.iter().filter_map(|arn| arn["Ref"].as_str()).filter_map(|name| {
        let policy = &resources[name];
        (policy["Type"] == "AWS::IAM::ManagedPolicy").then(|| allowed_actions(&policy["Properties"]["PolicyDocument"]))
    });
    let mut respond = policy("respond");
    managed.for_each(|actions| respond.extend(actions));
    (respond, policy("logs"))
}

/// A document's length as IAM counts it (no white space), every intrinsic resolved to the longest it can
/// be: a `Fn::If` to its longer branch, each `${…}` and reference to an ARN of a long region.
fn worst_case_length(document: &Value) -> usize {
    fn resolve(v: &Value) -> Option<Value> {
        const ARN: &str = "arn:aws:service:ap-southeast-4:123456789012:resource-type/a-resource-name-of-a-length-seen";
        let stand_in = |name: &str| match name {
            "AWS::Partition" => "aws".to_owned(),
            "AWS::Region" => "ap-southeast-4".to_owned(),
            "AWS::AccountId" => "123456789012".to_owned(),
            "AWS::NoValue" => String::new(),
            _ => ARN.to_owned(),
        };
        match v {
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next().expect("one key");
                match k.as_str() {
                    "Ref" if arg == "AWS::NoValue" => None,
                    "Ref" => Some(Value::from(stand_in(arg.as_str().unwrap_or_default()))),
                    "Fn::GetAtt" => Some(Value::from(ARN)),
                    "Fn::Sub" => {
                        let text = arg.as_str().or_else(|| arg[0].as_str()).unwrap_or_default();
                        let mut out = String::new();
                        let mut rest = text;
                        while let Some(at) = rest.find("${") {
                            out.push_str(&rest[..at]);
                            let end = rest[at..].find('}').map_or(rest.len(), |e| at + e);
                            out.push_str(&stand_in(&rest[at + 2..end]));
                            rest = &rest[(end + 1).min(rest.len())..];
                        }
                        out.push_str(rest);
                        Some(Value::from(out))
                    }
                    "Fn::If" => {
                        let branches: Vec<Option<Value>> =
                            arg.as_array().expect("If")[1..].iter().map(resolve).collect();
                        branches.into_iter().flatten().max_by_key(|b| b.to_string().len())
                    }
                    _ => Some(Value::Object(o.iter().filter_map(|(k, x)| Some((k.clone(), resolve(x)?))).collect())),
                }
            }
            Value::Object(o) => {
                Some(Value::Object(o.iter().filter_map(|(k, x)| Some((k.clone(), resolve(x)?))).collect()))
            }
            Value::Array(a) => Some(Value::Array(a.iter().filter_map(resolve).collect())),
            other => Some(other.clone()),
        }
    }
    resolve(document).map_or(0, |d| d.to_string().len())
}

/// IAM's quotas, with every option deployed: a role's inline policies together at most 10,240
/// characters, a managed policy at most 6,144 (the IAM quotas reference, "IAM and AWS STS quotas"; white
/// space is not counted). Past them a deployment fails with `LimitExceeded`.
#[test]
fn every_roles_policies_fit_iams_quotas() {
    for file in ["template.yaml", "member-role.yaml"] {
        let template = crate::iam::decode(file);
        for (name, resource) in template["Resources"].as_object().expect("resources") {
            match resource["Type"].as_str() {
                Some("AWS::IAM::Role") => {
                    let inline = resource["Properties"]["Policies"].as_array().cloned().unwrap_or_default();
                    let total: usize = inline.iter().map(|p| worst_case_length(&p["PolicyDocument"])).sum();
                    let quota = firebreak::playbooks::ROLE_INLINE_POLICY_QUOTA;
                    assert!(total <= quota, "{file} {name}: inline policies of {total} characters");
                }
                Some("AWS::IAM::ManagedPolicy") => {
                    let length = worst_case_length(&resource["Properties"]["PolicyDocument"]);
                    assert!(length <= 6_144, "{file} {name}: a managed policy of {length} characters");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn each_function_is_granted_exactly_the_actions_its_steps_declare() {
    for function in Function::ALL {
        let declared: BTreeSet<String> = function.iam_actions().into_iter().map(String::from).collect();
        assert!(declared.contains("sns:Publish") && declared.iter().any(|a| a.starts_with("dynamodb:")));
        let (respond, _) = granted(function.name());
        assert_eq!(respond, declared, "{}: template grants (left) vs declared by its steps (right)", function.name());
    }
}

/// The declarations are checked against what the code really sends: every AWS operation a full run
/// of each function makes (seen by a proxy in front of the emulator) is declared by its steps.
#[tokio::test(flavor = "current_thread")]
async fn every_call_a_function_makes_is_one_its_steps_declare() {
    let world = World::seed().await;
    let victim = world.launch(true, true).await;
    let idle = world.launch(false, false).await;
    world.idle_alarm(&idle.instance_id, 0.3).await;
    let exposed = world.exposed_group("exposed").await;
    let (cluster, task) = world.ecs_task(&[]).await;
    let read = |name: &str, from: &str, to: &str| -> Value {
        let text = std::fs::read_to_string(sample_event(name)).expect("sample");
        serde_json::from_str(&text.replace(from, to)).expect("json")
    };
    let runs = [
        (
            Function::GuarddutyResponder,
            read("guardduty/ec2-backdoor-high-severity.json", "i-0abc1234def567890", &victim.instance_id),
        ),
        (Function::AlarmResponder, read("alarm/idle-cpu-eventbridge.json", "i-0abc1234def567890", &idle.instance_id)),
        (Function::CloudtrailResponder, read("cloudtrail/sg-open-ssh-to-world.json", "sg-0123456789abcdef0", &exposed)),
        (Function::GuarddutyResponder, crate::support::ecs_runtime_finding(&cluster, &task)),
    ];
    for (function, event) in runs {
        world.guardduty_produced(&event);
        let proxy = FaultProxy::start(world.endpoint()).await;
        let responder = world.responder_via(&proxy, &[("FIREBREAK_ECS_STOP_TASK", "true")]).await;
        let clock = firebreak::clock::Clock::system();
        let result =
            firebreak::lambda::respond_payload(event, &responder, function, &clock, clock.now().epoch + 900).await;
        result.unwrap_or_else(|e| panic!("{}: {e}", function.name()));
        let calls = proxy.all_calls();
        assert!(calls.len() > 3, "{}: the proxy saw the run: {calls:?}", function.name());
        assert_each_operation_is_declared(function, &calls);
    }
}

/// Every operation `function` was seen to call, expanded into every action AWS authorizes for it
/// (`iam::operations`), is declared by its steps (and so granted, by the test above).
fn assert_each_operation_is_declared(function: Function, calls: &std::collections::BTreeMap<String, usize>) {
    let declared = function.iam_actions();
    for operation in calls.keys() {
        let actions = firebreak::iam::operations::actions_of(operation)
            .unwrap_or_else(|| panic!("{} called {operation}, which iam::operations does not list", function.name()));
        for action in actions {
            assert!(
                declared.contains(&action),
                "{} called {operation}, which authorizes {action}: none of its steps declares it",
                function.name()
            );
        }
    }
}

/// The SDK operations each adapter file calls: every `.<operation>(` of a service whose crate the file
/// names, against the operations that crate has (its `src/operation/` modules, found by `cargo metadata`).
fn operations_the_code_calls() -> BTreeSet<(String, String)> {
    let rustc = std::process::Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The build's own platform only: the crates it compiled are there, nothing is downloaded.
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host])
        .current_dir(crate::support::repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("metadata");
    let mut sdk: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for package in metadata["packages"].as_array().expect("packages") {
        let Some(service) = package["name"].as_str().and_then(|n| n.strip_prefix("aws-sdk-")) else { continue };
        let manifest = std::path::PathBuf::from(package["manifest_path"].as_str().expect("manifest"));
        let dir = manifest.parent().expect("crate dir").join("src/operation");
        let operations = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        sdk.insert(
            service.to_owned(),
            operations
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .map(|n| n.trim_end_matches(".rs").to_owned())
                .collect(),
        );
    }
    let mut found = BTreeSet::new();
    let mut files = vec![crate::support::repo_root().join("shared/src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).expect("dir").filter_map(|e| Some(e.ok()?.path())));
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (service, operations) in &sdk {
            if !text.contains(&format!("aws_sdk_{service}")) {
                continue;
            }
            for call in text.split('.').skip(1) {
                let name: String =
                    call.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
                if call[name.len()..].starts_with('(') && operations.contains(&name) {
                    let pascal: String = name.split('_').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect();
                    found.insert((service.clone(), pascal));
                }
            }
        }
    }
    found
}

/// Every SDK operation the adapters call is in the operations table, so the simulation and the grants
/// cover what each authorizes; and every row of the table is an operation the code calls.
#[test]
fn the_operations_table_lists_exactly_the_operations_the_code_calls() {
    let called = operations_the_code_calls();
    assert!(called.len() > 40, "the scan found the adapters' calls: {called:?}");
    let listed: BTreeSet<(String, String)> =
        firebreak::iam::operations::OPERATIONS.iter().map(|o| (o.service.to_owned(), o.name.to_owned())).collect();
    assert_eq!(called, listed, "called by the code (left) vs listed in iam::operations (right)");
}

#[test]
fn the_infrastructure_policy_grants_only_logging_the_failure_destination_and_the_data_key() {
    // Not called by Firebreak's code but by the Lambda service on its behalf: writing its logs, the
    // on-failure destination, and decrypting its environment and the table's key.
    let infrastructure: BTreeSet<String> =
        ["logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"]
            .map(String::from)
            .into();
    for function in Function::ALL {
        assert_eq!(granted(function.name()).1, infrastructure, "{}", function.name());
    }
}

#[test]
fn release_is_not_granted_to_any_function() {
    // `firebreak release` is an operator's command: no function may undo a quarantine.
    for function in Function::ALL {
        assert!(!granted(function.name()).0.contains("ec2:DeleteTags"), "{}", function.name());
    }
}

/// The approval path, each part under the role that runs it: the GuardDuty responder reads the key, asks,
/// runs the approved containment and sweeps the expired requests; the approval function reads the key
/// and settles the answer. Neither calls anything its role's declarations leave out, and the approval
/// function makes no EC2, IAM or Auto Scaling call and no scan at all.
#[tokio::test(flavor = "current_thread")]
async fn every_call_of_the_approval_path_is_declared_by_the_role_that_makes_it() {
    let approvals = crate::approval::Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let victim = world.launch(true, true).await;
    let late = world.launch(false, false).await;
    let env: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (responder_proxy, approval_proxy) =
        (FaultProxy::start(world.endpoint()).await, FaultProxy::start(world.endpoint()).await);
    let responder = world.responder_via(&responder_proxy, &env).await;
    let approval_sdk = crate::emulator::sdk_for(&approval_proxy.endpoint).await;
    let mut approval_env = env.clone();
    approval_env.push(("FIREBREAK_CONTAINMENT_FUNCTION", "firebreak-guardduty-responder"));
    let (approval, _signer, _invoker) =
        firebreak::lambda::approval_responder(&approval_sdk, world.config(&approval_env))
            .await
            .expect("the approval function starts");

    let now = firebreak::clock::Clock::system();
    let two_hours_ago = firebreak::clock::Clock::starting_at(now.since_epoch() - std::time::Duration::from_secs(7200));
    let mut asked = Vec::new();
    for (instance, id, clock) in
        [(&victim.instance_id, "lp-approved", &now), (&late.instance_id, "lp-late", &two_hours_ago)]
    {
        let mut event = crate::support::finding(instance, id);
        event["detail"]["severity"] = Value::from(5.0);
        world.guardduty_produced(&event);
        let incident = firebreak::lambda::incidents_of(event, &responder.config).expect("parses").remove(0);
        let plan = firebreak::decide(&incident, &responder.config.policy);
        responder.respond(&plan, clock, clock.now().epoch + 900).await.expect("asked");
        asked.push(plan.incident_key);
    }
    let by = firebreak::approval::Approver {
        via: firebreak::approval::Via::Cli,
        source_ip: None,
        user_agent: None,
        user: None,
        at: 0,
    };
    let answer =
        approval.answer(&asked[0], firebreak::approval::Verdict::Approve, by, &now, false).await.expect("answered");
    assert!(matches!(answer, firebreak::playbooks::Answer::Approved), "{answer:?}");
    let ran = responder.run_approved(&asked[0], &now, now.now().epoch + 900).await.expect("state usable");
    assert!(ran.is_ok_and(|r| r.outcome_of("isolate_instance").is_some_and(|o| o.is_done())));
    let swept = responder.sweep(&now, now.now().epoch + 900).await.expect("swept");
    assert_eq!(swept["expired"].as_array().map(Vec::len), Some(1), "{swept}");

    for (function, proxy, needed) in [
        (
            Function::GuarddutyResponder,
            &responder_proxy,
            &["GetSecretValue", "PutItem", "ModifyNetworkInterfaceAttribute", "Query"][..],
        ),
        (Function::ApprovalResponder, &approval_proxy, &["GetSecretValue", "GetItem", "UpdateItem"][..]),
    ] {
        let calls = proxy.all_calls();
        for operation in needed {
            assert!(calls.contains_key(*operation), "{} made {operation}: {calls:?}", function.name());
        }
        assert_each_operation_is_declared(function, &calls);
    }
}
