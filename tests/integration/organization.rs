//! One deployment protecting several accounts, against moto server (which models accounts and STS
//! AssumeRole): a finding from member account B is contained in B with B's credentials, nothing
//! changes in the deployment's account A, and an account outside the allowlist or without the member
//! role is refused or reported, never silently skipped.

use crate::emulator::sdk_for;
use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::sample_event;
use crate::world::World;
use aws_config::SdkConfig;
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::{Filter, InstanceType};
use firebreak::report::Outcome;
use serde_json::Value;

const MEMBER: &str = "111111111111";

/// Credentials that act in the member account (moto maps an assumed role's keys to its account).
async fn member_sdk(world: &World) -> SdkConfig {
    let sts = aws_sdk_sts::Client::new(&world.sdk);
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{MEMBER}:role/seed"))
        .role_session_name("seed")
        .send()
        .await
        .expect("assume into the member account");
    let c = out.credentials().expect("credentials");
    let credentials =
        Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_owned()), None, "seed");
    sdk_for(world.endpoint())
        .await
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// A running instance in its own VPC of the member account; returns (instance id, its groups).
async fn member_instance(sdk: &SdkConfig) -> (String, Vec<String>) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("id")
        .to_owned();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.9.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .expect("subnet")
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("id")
        .to_owned();
    let group = ec2
        .create_security_group()
        .group_name("app")
        .description("app")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("group")
        .group_id()
        .expect("id")
        .to_owned();
    let run = ec2
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(&group)
        .send()
        .await
        .expect("run");
    (run.instances()[0].instance_id().expect("id").to_owned(), vec![group])
}

async fn groups_in(sdk: &SdkConfig, instance_id: &str) -> Vec<Vec<String>> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let out = ec2
        .describe_network_interfaces()
        .filters(Filter::builder().name("attachment.instance-id").values(instance_id).build())
        .send()
        .await
        .expect("enis");
    out.network_interfaces()
        .iter()
        .map(|n| n.groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect())
        .collect()
}

async fn isolation_groups(sdk: &SdkConfig) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let out = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:firebreak:role").values("firebreak-isolation").build())
        .send()
        .await
        .expect("groups");
    out.security_groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect()
}

/// The sample finding, about the member's instance, as the delegated administrator receives it: the
/// envelope is the administrator's, `detail.accountId` the member's.
fn member_finding(instance_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    let mut event: Value = serde_json::from_str(&text.replace("i-0abc1234def567890", instance_id)).expect("json");
    event["detail"]["accountId"] = Value::from(MEMBER);
    event
}

#[tokio::test(flavor = "current_thread")]
async fn a_finding_from_a_member_account_is_contained_there_with_its_credentials() {
    let world = World::seed().await;
    let member = member_sdk(&world).await;
    let (instance, _) = member_instance(&member).await;
    let reports =
        world.respond(member_finding(&instance), &[("FIREBREAK_ACCOUNTS", &format!("123456789012,{MEMBER}"))]).await;
    assert!(reports[0].failures().is_empty(), "{:#?}", reports[0]);
    let isolation = isolation_groups(&member).await;
    assert_eq!(isolation.len(), 1, "the isolation group is created in the member account");
    assert!(groups_in(&member, &instance).await.iter().all(|g| *g == isolation), "isolated in the member account");
    assert!(isolation_groups(&world.sdk).await.is_empty(), "nothing changed in the deployment's account");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "notified from the security account's topic");
    assert_eq!(notes[0]["MessageAttributes"]["account"]["Value"], MEMBER);
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains(&format!("Account: {MEMBER}")));
}

#[tokio::test(flavor = "current_thread")]
async fn a_member_account_outside_the_allowlist_is_refused_and_notified() {
    let world = World::seed().await;
    let member = member_sdk(&world).await;
    let (instance, groups) = member_instance(&member).await;
    let reports = world.respond(member_finding(&instance), &[("FIREBREAK_ACCOUNTS", "123456789012")]).await;
    assert_eq!(reports[0].actions.iter().map(|a| a.action).collect::<Vec<_>>(), ["notify"]);
    assert!(reports[0].reasons[0].contains("not in FIREBREAK_ACCOUNTS"), "{:?}", reports[0].reasons);
    assert_eq!(groups_in(&member, &instance).await, vec![groups]);
    assert_eq!(world.notifications().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_member_role_is_a_notified_error_naming_the_account_and_the_role() {
    let world = World::seed().await;
    let member = member_sdk(&world).await;
    let (instance, groups) = member_instance(&member).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject("AssumeRole", Fault::Deny, 0, None);
    let responder = world.responder_via(&proxy, &[]).await;
    let incident = firebreak::parse_value(member_finding(&instance)).expect("parses").remove(0);
    let plan = firebreak::decide(&incident, &responder.config.policy);
    let clock = firebreak::clock::Clock::system();
    let report = responder.respond(&plan, &clock, clock.now().epoch + 300).await.expect("state usable");
    match report.outcome_of("isolate_instance") {
        Some(Outcome::Failed { error }) => {
            let error = error.to_string();
            assert!(
                error.contains(MEMBER)
                    && error.contains(&format!("arn:aws:iam::{MEMBER}:role/firebreak-member"))
                    && error.contains("AccessDenied"),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(groups_in(&member, &instance).await, vec![groups], "nothing changed");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("firebreak-member"));
}

/// Release acts where the records say the instance is: a member account's quarantine is released in
/// the member account (through the member role) from the security account, and its records are
/// forgotten only once restored there, or once EC2 there answers that the instance is gone. A record
/// that names no place (written before records did) is kept when the instance is not found here.
#[tokio::test(flavor = "current_thread")]
async fn a_member_accounts_quarantine_is_released_there_and_forgotten_only_on_ec2s_word_there() {
    use firebreak::incident::InstanceId;
    let world = World::seed().await;
    let member = member_sdk(&world).await;
    let (instance, groups) = member_instance(&member).await;
    let allowed = format!("123456789012,{MEMBER}");
    let accounts = [("FIREBREAK_ACCOUNTS", allowed.as_str())];
    world.respond(member_finding(&instance), &accounts).await;
    let quarantine = format!("quarantine#{instance}");
    let record = world.state_item(&quarantine).await.expect("recorded");
    let place = record.get("place").and_then(|v| v.as_s().ok()).cloned();
    assert_eq!(place, Some(format!("{MEMBER}#us-east-1")), "the record names where it belongs");
    let id = InstanceId::parse(&instance).expect("id");
    let released = crate::support::release(&world.responder(&accounts).await, &id).await.expect("released");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert_eq!(groups_in(&member, &instance).await, vec![groups], "restored in the member account");
    assert!(world.state_item(&quarantine).await.is_none(), "forgotten once restored");

    // Contained again, then terminated in the member account: EC2 there says it is gone.
    let mut again = member_finding(&instance);
    again["detail"]["id"] = Value::from("0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    world.respond(again, &accounts).await;
    assert!(world.state_item(&quarantine).await.is_some());
    let ec2 = aws_sdk_ec2::Client::new(&member);
    let unprotect = aws_sdk_ec2::types::AttributeBooleanValue::builder().value(false).build();
    ec2.modify_instance_attribute()
        .instance_id(&instance)
        .disable_api_termination(unprotect)
        .send()
        .await
        .expect("unprotected");
    ec2.terminate_instances().instance_ids(&instance).send().await.expect("terminated");
    let released = crate::support::release(&world.responder(&accounts).await, &id).await.expect("released");
    let Some(Outcome::Skipped { reason, .. }) = released.outcome_of("restore_security_groups") else {
        panic!("{released:#?}")
    };
    assert!(reason.contains("no longer exists"), "{reason}");
    assert!(world.state_item(&quarantine).await.is_none(), "forgotten on EC2's word in the member account");

    // A record from before records named their place, of an instance not found here: kept, refused.
    let ddb = aws_sdk_dynamodb::Client::new(&world.sdk);
    let legacy = "i-0feedfacefeedface";
    ddb.put_item()
        .table_name(crate::world::TABLE)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("quarantine#{legacy}")))
        .item("eni#eni-0feedfacefeedface", aws_sdk_dynamodb::types::AttributeValue::S("sg-0123".into()))
        .send()
        .await
        .expect("an old record");
    let id = InstanceId::parse(legacy).expect("id");
    let refused = crate::support::release(&world.responder(&[]).await, &id).await.expect_err("refused");
    assert!(refused.to_string().contains("does not say where it is"), "{refused}");
    assert!(world.state_item(&format!("quarantine#{legacy}")).await.is_some(), "kept");
}

/// The member external id sits only where a member account is acted in: not in the public approval
/// function's environment, nor the findings notifier's (issue #44, "the external id only where it is
/// used").
#[test]
fn the_member_external_id_is_only_in_the_functions_that_act_in_member_accounts() {
    let template = crate::iam::decode("template.yaml");
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals.get("FIREBREAK_MEMBER_EXTERNAL_ID").is_none(), "not for every function");
    let resources = template["Resources"].as_object().expect("resources");
    for function in firebreak::Function::ALL {
        let resource = resources
            .values()
            .find(|r| r["Properties"]["FunctionName"] == format!("firebreak-{}", function.name()))
            .expect("function in template");
        let variables = &resource["Properties"]["Environment"]["Variables"];
        let has = |name: &str| variables.get(name).is_some();
        assert_eq!(has("FIREBREAK_MEMBER_EXTERNAL_ID"), function.acts_in_member_accounts(), "{}", function.name());
        assert_eq!(has("FIREBREAK_MEMBER_ROLE_NAME"), function.acts_in_member_accounts(), "{}", function.name());
    }
}
