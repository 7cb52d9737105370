//! moto server for the emulator tests: one per test on a free 127.0.0.1 port, stopped on drop, with
//! EC2's per-interface security groups and DynamoDB's per-item atomicity restored
//! (tests/emulator/moto_server.py).

use crate::support::repo_root;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// The Python that has moto installed: `FIREBREAK_MOTO_SERVER`'s venv (set by scripts/test) or the repo's.
pub fn moto_python() -> PathBuf {
    let from_env =
        std::env::var_os("FIREBREAK_MOTO_SERVER").map(PathBuf::from).and_then(|p| p.parent().map(|d| d.join("python")));
    let candidate = from_env.unwrap_or_else(|| repo_root().join(".venv/moto/bin/python"));
    assert!(
        candidate.exists(),
        "moto server is not installed ({}): run scripts/test, which installs it",
        candidate.display()
    );
    candidate
}

impl Moto {
    /// A moto server of this test's own, on a free port. The port is free when chosen, not when moto
    /// binds it: another test may take it meanwhile, so the server is ready only when the one answering
    /// is this child (its process id); a child that could not bind is started again on another port.
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let child = Command::new(moto_python())
                .arg(repo_root().join("tests/emulator/moto_server.py"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto server starts");
            let mut moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if moto.answering_pid() == Some(moto.child.id()) {
                    return moto;
                }
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break;
                }
                assert!(Instant::now() < deadline, "moto server did not listen within 30 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto server could not bind a free port in five tries")
    }

    /// The process id of the server answering at this endpoint, if one does.
    fn answering_pid(&self) -> Option<u32> {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET /firebreak-emulator/pid HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split_once("\r\n\r\n")?.1.trim().parse().ok()
    }

    /// GuardDuty produced the findings `event` delivers (an EventBridge `GuardDuty Finding`, or SNS
    /// records carrying one): each goes into the emulator's findings store under its own account,
    /// region and detector, where `GetFindings` finds it (tests/emulator/moto_server.py, 6).
    pub fn guardduty_produced(&self, event: &serde_json::Value) {
        for detail in guardduty_details(event) {
            let body = serde_json::json!({
                "account": detail["accountId"], "region": detail["region"],
                "detectorId": detail["service"]["detectorId"], "finding": detail,
            })
            .to_string();
            self.seed("/firebreak-emulator/guardduty/findings", &body);
        }
    }

    /// Put `body` (JSON) into one of the harness's own stores at `path`: what an AWS service holds in
    /// the test's world without Firebreak having written it.
    pub fn seed(&self, path: &str, body: &str) {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("moto reachable");
        let request = format!(
            "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("seed request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("seed answer");
        assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// An SDK configuration pointing at this server, with the same HTTP stack as production.
    pub async fn sdk(&self) -> SdkConfig {
        sdk_for(&self.endpoint).await
    }
}

/// The production SDK settings (HTTP stack, retries, timeouts) aimed at `endpoint`.
pub async fn sdk_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(firebreak::aws::retry_config())
        .timeout_config(firebreak::aws::timeout_config())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .http_client(firebreak::aws::http_client())
        .load()
        .await
}

/// The GuardDuty finding details an event carries, directly or in SNS records.
fn guardduty_details(event: &serde_json::Value) -> Vec<serde_json::Value> {
    if event["detail-type"] == "GuardDuty Finding" {
        return vec![event["detail"].clone()];
    }
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    records
        .iter()
        .filter_map(|r| r["Sns"]["Message"].as_str())
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .flat_map(|inner| guardduty_details(&inner))
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DynamoDB documents a conditional write as atomic: of concurrent `PutItem`s of one new item with
/// `attribute_not_exists(pk)`, exactly one succeeds and every other gets
/// `ConditionalCheckFailedException`. Stock moto server checks and writes without a lock on parallel
/// threads, so several could win; the harness serialises DynamoDB requests to model the guarantee.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_writes_of_one_item_have_exactly_one_winner_as_in_dynamodb() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let moto = Moto::start();
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk().await);
    ddb.create_table()
        .table_name("atomic")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().expect("key"))
        .send()
        .await
        .expect("table");
    for item in 0..20 {
        let writers = (0..8).map(|writer| {
            let ddb = ddb.clone();
            tokio::spawn(async move {
                ddb.put_item()
                    .table_name("atomic")
                    .item("pk", AttributeValue::S(format!("item-{item}")))
                    .item("writer", AttributeValue::N(writer.to_string()))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await
            })
        });
        let results = futures::future::join_all(writers).await;
        let mut winners = 0;
        for result in results {
            match result.expect("joined") {
                Ok(_) => winners += 1,
                Err(e) => assert_eq!(
                    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
                    Some("ConditionalCheckFailedException"),
                    "{e:?}"
                ),
            }
        }
        assert_eq!(winners, 1, "item-{item}: exactly one conditional write wins");
    }
}

/// EC2 refuses termination protection for Spot instances (ModifyInstanceAttribute:
/// "UnsupportedOperation: Modifying 'disableApiTermination' is not supported for spot instances");
/// stock moto accepts it, the harness refuses it as EC2 does.
#[tokio::test(flavor = "current_thread")]
async fn termination_protection_of_a_spot_instance_is_refused_as_in_ec2() {
    let world = crate::world::World::seed().await;
    let spot = world.launch_spot().await;
    let refused = world
        .ec2
        .modify_instance_attribute()
        .instance_id(&spot)
        .disable_api_termination(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect_err("refused");
    assert_eq!(aws_sdk_ec2::error::ProvideErrorMetadata::code(&refused), Some("UnsupportedOperation"));
    let on_demand = world.launch(false, false).await.instance_id;
    world
        .ec2
        .modify_instance_attribute()
        .instance_id(&on_demand)
        .disable_api_termination(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("an on-demand instance can be protected");
}

/// CloudWatch serves the Smithy RPC v2 CBOR protocol the Rust SDK speaks (its service model lists
/// `smithy-rpc-v2-cbor` first); stock moto answers it with 404. Through the harness's translation an
/// alarm written and read back over CBOR keeps every field, timestamps included.
#[tokio::test(flavor = "current_thread")]
async fn cloudwatch_answers_the_sdks_cbor_protocol() {
    let world = crate::world::World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    world.idle_alarm(&victim, 0.3).await;
    let cw = aws_sdk_cloudwatch::Client::new(&world.sdk);
    let alarms =
        cw.describe_alarms().alarm_names(format!("idle-stop-cpu-{victim}")).send().await.expect("describe over CBOR");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value().map(|s| s.as_str()), Some("ALARM"));
    assert_eq!(alarm.threshold(), Some(2.0));
    assert_eq!(alarm.datapoints_to_alarm(), Some(3));
    assert!(alarm.state_updated_timestamp().is_some(), "timestamps survive the translation");
    let missing = cw.describe_alarms().alarm_names("no-such-alarm").send().await.expect("an empty answer");
    assert!(missing.metric_alarms().is_empty());
}

/// The EC2 API reference of ModifyInstanceMetadataOptions: DryRun checks the permission "without
/// actually making the request" (the answer is `DryRunOperation`), and an option left out of the
/// request keeps its state ("if this parameter is not specified, the existing state is maintained").
/// Stock moto 5.x changes the instance on a dry run and resets the options a request leaves out.
#[tokio::test(flavor = "current_thread")]
async fn metadata_options_change_only_as_asked_and_never_on_a_dry_run() {
    use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState};
    let world = crate::world::World::seed().await;
    let id = world.launch(false, false).await.instance_id;
    world
        .ec2
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_tokens(HttpTokensState::Required)
        .send()
        .await
        .expect("IMDSv2 required");
    let dry = world
        .ec2
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_endpoint(InstanceMetadataEndpointState::Disabled)
        .dry_run(true)
        .send()
        .await
        .expect_err("a dry run answers with an error");
    assert_eq!(aws_sdk_ec2::error::ProvideErrorMetadata::code(&dry), Some("DryRunOperation"));
    assert_eq!(world.metadata_options(&id).await, ("enabled".to_owned(), Some("required".to_owned())));
    world
        .ec2
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_endpoint(InstanceMetadataEndpointState::Disabled)
        .send()
        .await
        .expect("off");
    assert_eq!(
        world.metadata_options(&id).await,
        ("disabled".to_owned(), Some("required".to_owned())),
        "HttpTokens, left out of the request, is kept"
    );
}

/// GuardDuty's GetFindings (API reference: "Describes Amazon GuardDuty findings specified by finding
/// IDs"; an id it does not know is absent from `findings`; a detector the caller's account does not
/// own is refused with BadRequestException). moto answers 404; the harness serves what the world's
/// GuardDuty produced, as the API returns it.
#[tokio::test(flavor = "current_thread")]
async fn guardduty_returns_the_findings_it_produced_and_only_those() {
    use firebreak::ports::Fleet;
    let world = crate::world::World::seed().await;
    let event = crate::support::finding("i-0abc1234def567890", "5eb2a6a9f5b0c7d1e2f3a4b5c6d7e8f9");
    let detector = event["detail"]["service"]["detectorId"].as_str().expect("detector").to_owned();
    world.guardduty_produced(&event);
    let gd = aws_sdk_guardduty::Client::new(&world.sdk);
    let out = gd
        .get_findings()
        .detector_id(&detector)
        .finding_ids("5eb2a6a9f5b0c7d1e2f3a4b5c6d7e8f9")
        .finding_ids("00000000000000000000000000000000")
        .send()
        .await
        .expect("get findings");
    let found: Vec<(Option<&str>, f64)> =
        out.findings().iter().map(|f| (f.id(), f.severity().unwrap_or_default())).collect();
    assert_eq!(found, [(Some("5eb2a6a9f5b0c7d1e2f3a4b5c6d7e8f9"), 8.0)], "the unknown id is simply absent");
    let unowned = gd.get_findings().detector_id("0123456789abcdef0123456789abcdef").finding_ids("x").send().await;
    let code = unowned.as_ref().err().and_then(aws_sdk_guardduty::error::ProvideErrorMetadata::code);
    assert_eq!(code, Some("BadRequestException"), "{unowned:?}");

    // Served as the API serialises it: the timestamp members of the model (a sequence's signals) are
    // epoch seconds, which the SDK reads as times; in the event they are ISO 8601 text.
    let sequence = crate::support::attack_sequence("i-0abc1234def567890", &[]);
    world.guardduty_produced(&sequence);
    let id = sequence["detail"]["id"].as_str().expect("id");
    let out = gd.get_findings().detector_id(&detector).finding_ids(id).send().await.expect("the SDK reads it");
    let signals =
        out.findings()[0].service().and_then(|s| s.detection()).and_then(|d| d.sequence()).map(|q| q.signals());
    assert!(signals.is_some_and(|s| !s.is_empty() && s.iter().all(|s| s.created_at().is_some())), "{out:?}");

    // Through Firebreak's adapter: the finding exactly as GuardDuty answered, or nothing.
    let (_, fleet) = firebreak::aws::compute_and_fleet(&world.sdk, false);
    let copy = fleet.guardduty_finding(&detector, "5eb2a6a9f5b0c7d1e2f3a4b5c6d7e8f9").await.expect("read");
    assert_eq!(copy.as_ref(), Some(&event["detail"]));
    assert_eq!(fleet.guardduty_finding(&detector, "00000000000000000000000000000000").await.expect("read"), None);
    assert_eq!(fleet.guardduty_finding("0123456789abcdef0123456789abcdef", "x").await.expect("read"), None);
}

/// IAM's quota on a role's inline policies (the IAM quotas reference: their aggregate "cannot exceed
/// 10,240 characters", white space not counted): moto stores any size; the harness refuses what IAM
/// refuses, with IAM's `LimitExceeded`, and counts as IAM counts.
#[tokio::test(flavor = "current_thread")]
async fn a_roles_inline_policies_are_held_to_iams_aggregate_size_quota() {
    let world = crate::world::World::seed().await;
    world.launch_with_role("quota-role", &[]).await;
    let iam = aws_sdk_iam::Client::new(&world.sdk);
    // A policy of exactly `size` characters other than white space, padded with white space besides.
    let policy = |size: usize| {
        let shell = r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let sid = "A".repeat(size - shell.len());
        format!("{}\n{}", shell.replace(r#""Sid":"""#, &format!(r#""Sid":"{sid}""#)), " ".repeat(5000))
    };
    let put = |name: &'static str, document: String| {
        let iam = iam.clone();
        async move { iam.put_role_policy().role_name("quota-role").policy_name(name).policy_document(document).send().await }
    };
    put("first", policy(6_000)).await.expect("6,000 characters fit, whatever the white space");
    put("second", policy(4_240)).await.expect("10,240 together fit");
    let refused = put("third", policy(100)).await.expect_err("10,340 together do not");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&refused), Some("LimitExceeded"));
    put("second", policy(4_000)).await.expect("replacing a policy counts its new size, not both");
}

/// Route 53 Resolver DNS Firewall, which moto lacks, as the API reference describes it: a domain list
/// whose names are added and removed (`UpdateFirewallDomains` ADD / REMOVE, `ListFirewallDomains`), a
/// rule group whose BLOCK rule needs a `BlockResponse`, and a rule group's association with a VPC at a
/// priority "between 100 and 9900", listed by rule group and VPC. The list answers each name fully
/// qualified (`example.com.` for `example.com`: terraform-provider-aws issue 23543).
#[tokio::test(flavor = "current_thread")]
async fn dns_firewall_keeps_lists_rules_and_associations_as_the_api_reference_describes() {
    use aws_sdk_route53resolver::types::{Action, BlockResponse, FirewallDomainUpdateOperation as Op};
    let world = crate::world::World::seed().await;
    let resolver = aws_sdk_route53resolver::Client::new(&world.sdk);
    let list = resolver.create_firewall_domain_list().creator_request_id("l").name("blocked").send().await;
    let list = list.expect("list").firewall_domain_list().and_then(|l| l.id()).expect("id").to_owned();
    let update = |op: Op, domains: &[&str]| {
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        resolver
            .update_firewall_domains()
            .firewall_domain_list_id(&list)
            .operation(op)
            .set_domains(Some(domains))
            .send()
    };
    update(Op::Add, &["evil.example", "*.evil.example"]).await.expect("added");
    update(Op::Add, &["other.example"]).await.expect("added");
    update(Op::Add, &["again.example."]).await.expect("added");
    update(Op::Remove, &["other.example", "again.example"]).await.expect("removed");
    // Each name comes back fully qualified, whether it was sent with the dot or without.
    let listed = resolver.list_firewall_domains().firewall_domain_list_id(&list).send().await.expect("listed");
    assert_eq!(listed.domains(), ["evil.example.", "*.evil.example."]);
    let bad = update(Op::Add, &["not a domain"]).await.expect_err("refused");
    assert_eq!(aws_sdk_route53resolver::error::ProvideErrorMetadata::code(&bad), Some("ValidationException"));

    let group = resolver.create_firewall_rule_group().creator_request_id("g").name("firebreak").send().await;
    let group = group.expect("group").firewall_rule_group().and_then(|g| g.id()).expect("id").to_owned();
    let rule = |response: Option<BlockResponse>| {
        resolver
            .create_firewall_rule()
            .creator_request_id("r")
            .firewall_rule_group_id(&group)
            .firewall_domain_list_id(&list)
            .priority(100)
            .action(Action::Block)
            .set_block_response(response)
            .name("block")
            .send()
    };
    let unanswered = rule(None).await.expect_err("a BLOCK rule needs a BlockResponse");
    assert_eq!(aws_sdk_route53resolver::error::ProvideErrorMetadata::code(&unanswered), Some("ValidationException"));
    rule(Some(BlockResponse::Nxdomain)).await.expect("rule");

    let associate = |priority: i32| {
        resolver
            .associate_firewall_rule_group()
            .creator_request_id(format!("a{priority}"))
            .firewall_rule_group_id(&group)
            .vpc_id(&world.vpc_id)
            .priority(priority)
            .name("firebreak")
            .send()
    };
    let out_of_range = associate(99).await.expect_err("99 is not between 100 and 9900");
    assert_eq!(aws_sdk_route53resolver::error::ProvideErrorMetadata::code(&out_of_range), Some("ValidationException"));
    associate(101).await.expect("associated");
    let all = resolver.list_firewall_rule_group_associations().vpc_id(&world.vpc_id).send().await.expect("listed");
    let found: Vec<(Option<&str>, Option<i32>)> =
        all.firewall_rule_group_associations().iter().map(|a| (a.firewall_rule_group_id(), a.priority())).collect();
    assert_eq!(found, [(Some(group.as_str()), Some(101))]);
}

/// GuardDuty's on-demand malware scan, which moto lacks: StartMalwareScan answers a scan id, the same
/// one again for an idempotency token already used ("the idempotency token for the create request"),
/// refuses what is not a resource ARN (`BadRequestException`), and ListMalwareScans lists each scan
/// started, `ON_DEMAND`, of an `EC2_INSTANCE`.
#[tokio::test(flavor = "current_thread")]
async fn on_demand_malware_scans_are_started_once_per_token_as_the_api_reference_describes() {
    let world = crate::world::World::seed().await;
    let guardduty = aws_sdk_guardduty::Client::new(&world.sdk);
    let arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234def567890";
    let start = |token: &'static str| guardduty.start_malware_scan().resource_arn(arn).client_token(token).send();
    let first = start("incident-1").await.expect("started").scan_id().expect("scan id").to_owned();
    let again = start("incident-1").await.expect("started").scan_id().expect("scan id").to_owned();
    let other = start("incident-2").await.expect("started").scan_id().expect("scan id").to_owned();
    assert_eq!(first, again, "one token, one scan");
    assert_ne!(first, other);
    let bad = guardduty.start_malware_scan().resource_arn("i-0abc1234def567890").send().await.expect_err("refused");
    assert_eq!(aws_sdk_guardduty::error::ProvideErrorMetadata::code(&bad), Some("BadRequestException"));
    let listed = guardduty.list_malware_scans().send().await.expect("listed");
    let mut scans: Vec<(&str, &str, Option<&str>, Option<&str>)> = listed
        .scans()
        .iter()
        .map(|s| {
            (
                s.scan_id().unwrap_or_default(),
                s.resource_arn().unwrap_or_default(),
                s.scan_type().map(|t| t.as_str()),
                s.resource_type().map(|t| t.as_str()),
            )
        })
        .collect();
    scans.sort();
    let mut wanted = vec![
        (first.as_str(), arn, Some("ON_DEMAND"), Some("EC2_INSTANCE")),
        (other.as_str(), arn, Some("ON_DEMAND"), Some("EC2_INSTANCE")),
    ];
    wanted.sort();
    assert_eq!(scans, wanted);
}

/// Security Hub's finding updates, which moto lacks: BatchUpdateFindings sets `Workflow.Status` and a
/// `Note` and "updates from BatchUpdateFindings do not affect the value of UpdatedAt"; an unknown finding
/// is unprocessed (`FindingNotFound`). BatchUpdateFindingsV2 sets the OCSF `status_id` and `comment`,
/// leaves `finding_info.modified_time_dt`, and reports an unknown finding (`ResourceNotFoundException`).
#[tokio::test(flavor = "current_thread")]
async fn security_hub_updates_a_findings_status_and_note_as_the_api_reference_describes() {
    use aws_sdk_securityhub::types::{
        AwsSecurityFindingIdentifier, NoteUpdate, OcsfFindingIdentifier, WorkflowStatus, WorkflowUpdate,
    };
    let world = crate::world::World::seed().await;
    let hub = aws_sdk_securityhub::Client::new(&world.sdk);
    let event = crate::support::sample_json("securityhub/asff-inspector-ec2-cve.json");
    crate::securityhub::hub_holds_asff(&world, &event).await;
    let finding = &event["detail"]["findings"][0];
    let (id, product) = (finding["Id"].as_str().expect("id"), finding["ProductArn"].as_str().expect("product"));
    let update = |id: &str| {
        hub.batch_update_findings()
            .finding_identifiers(AwsSecurityFindingIdentifier::builder().id(id).product_arn(product).build())
            .workflow(WorkflowUpdate::builder().status(WorkflowStatus::Resolved).build())
            .note(NoteUpdate::builder().text("looked at").updated_by("someone").build())
            .send()
    };
    let out = update(id).await.expect("updated");
    assert_eq!((out.processed_findings().len(), out.unprocessed_findings().len()), (1, 0));
    let (status, note, updated_at) = crate::securityhub::asff_finding(&world, id).await;
    assert_eq!((status.as_deref(), note.as_deref()), (Some("RESOLVED"), Some("looked at")));
    assert_eq!(updated_at.as_deref(), finding["UpdatedAt"].as_str(), "UpdatedAt is the provider's");
    let unknown = update("arn:aws:inspector2:us-east-1:123456789012:finding/unknown").await.expect("answered");
    assert_eq!(unknown.unprocessed_findings()[0].error_code(), Some("FindingNotFound"));

    let ocsf = crate::support::sample_json("securityhub/ocsf-guardduty-ec2-backdoor.json");
    let held = &ocsf["detail"]["findings"][0];
    crate::securityhub::hub_holds_ocsf(&world, held);
    let identifier = |uid: &str| {
        OcsfFindingIdentifier::builder()
            .cloud_account_uid("123456789012")
            .finding_info_uid(uid)
            .metadata_product_uid(held["metadata"]["product"]["uid"].as_str().expect("product"))
            .build()
    };
    let uid = held["finding_info"]["uid"].as_str().expect("uid");
    let out =
        hub.batch_update_findings_v2().finding_identifiers(identifier(uid)).status_id(2).comment("on it").send().await;
    assert_eq!(out.expect("updated").processed_findings().len(), 1);
    let now = crate::securityhub::ocsf_findings(&world).await.remove(0);
    assert_eq!(
        (now["status_id"].as_i64(), now["status"].as_str(), now["comment"].as_str()),
        (Some(2), Some("In Progress"), Some("on it"))
    );
    assert_eq!(now["finding_info"]["modified_time_dt"], held["finding_info"]["modified_time_dt"]);
    let out = hub.batch_update_findings_v2().finding_identifiers(identifier("arn:unknown")).status_id(4).send().await;
    let code = out.expect("answered").unprocessed_findings()[0].error_code().map(|c| c.as_str().to_owned());
    assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
}

/// Correction 11: Security Hub's GetFindings and GetFindingsV2 answer the findings that match their
/// filters (moto's GetFindings answered every one): by id, product and account, `EQUALS`, fields ANDed;
/// a filter the harness does not apply is refused rather than ignored.
#[tokio::test(flavor = "current_thread")]
async fn security_hub_answers_only_the_findings_its_filters_match() {
    use aws_sdk_securityhub::types::{
        AllowedOperators, AwsSecurityFindingFilters, CompositeFilter, OcsfFindingFilters, OcsfStringField,
        OcsfStringFilter, StringFilter, StringFilterComparison,
    };
    let world = crate::world::World::seed().await;
    let hub = aws_sdk_securityhub::Client::new(&world.sdk);
    let event = crate::support::sample_json("securityhub/asff-inspector-ec2-cve.json");
    crate::securityhub::hub_holds_asff(&world, &event).await;
    let mut other = event.clone();
    other["detail"]["findings"][0]["Id"] = serde_json::json!("arn:aws:inspector2:us-east-1:123456789012:finding/other");
    crate::securityhub::hub_holds_asff(&world, &other).await;
    let equals = |v: &str| StringFilter::builder().value(v).comparison(StringFilterComparison::Equals).build();
    let id = event["detail"]["findings"][0]["Id"].as_str().expect("id");
    let found = |id: &str| {
        hub.get_findings()
            .filters(AwsSecurityFindingFilters::builder().id(equals(id)).aws_account_id(equals("123456789012")).build())
            .send()
    };
    let out = found(id).await.expect("answered");
    assert_eq!(out.findings().iter().filter_map(|f| f.id()).collect::<Vec<_>>(), [id]);
    assert!(found("arn:aws:inspector2:us-east-1:123456789012:finding/none")
        .await
        .expect("answered")
        .findings()
        .is_empty());
    let refused =
        hub.get_findings().filters(AwsSecurityFindingFilters::builder().title(equals("x")).build()).send().await;
    assert!(refused.is_err(), "a filter the harness cannot apply is refused");

    let ocsf = crate::support::sample_json("securityhub/ocsf-guardduty-ec2-backdoor.json");
    let held = &ocsf["detail"]["findings"][0];
    crate::securityhub::hub_holds_ocsf(&world, held);
    let uid = held["finding_info"]["uid"].as_str().expect("uid");
    let v2 = |uid: &str| {
        let composite = CompositeFilter::builder()
            .string_filters(
                OcsfStringFilter::builder().field_name(OcsfStringField::FindingInfoUid).filter(equals(uid)).build(),
            )
            .string_filters(
                OcsfStringFilter::builder()
                    .field_name(OcsfStringField::CloudAccountUid)
                    .filter(equals("123456789012"))
                    .build(),
            )
            .operator(AllowedOperators::And)
            .build();
        hub.get_findings_v2().filters(OcsfFindingFilters::builder().composite_filters(composite).build()).send()
    };
    assert_eq!(v2(uid).await.expect("answered").findings().len(), 1);
    assert!(v2("arn:unknown").await.expect("answered").findings().is_empty());
}
