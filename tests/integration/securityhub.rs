//! Security Hub deliveries against moto server (issue #32): a GuardDuty finding that Security Hub
//! delivers (OCSF or ASFF) is decided from GuardDuty's own copy and contained once, whichever of it and
//! GuardDuty's own event arrives first; another product's finding is notified, never acted on;
//! Firebreak's own write-back, delivered back, changes nothing and costs no claim.

use crate::support::{finding, sample_event};
use crate::world::World;
use firebreak::report::{Outcome, Report};
use serde_json::Value;

/// The sample Security Hub delivery `name` about `instance` and GuardDuty finding `finding_id`.
pub fn delivery(name: &str, instance: &str, finding_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event(&format!("securityhub/{name}"))).expect("sample");
    let text = text.replace("i-0abc1234def567890", instance).replace("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7", finding_id);
    serde_json::from_str(&text).expect("json")
}

async fn deliver(world: &World, event: Value) -> Report {
    let clock = firebreak::clock::Clock::system();
    world.deliver_at(event, &[], clock).await.expect("state table usable").remove(0)
}

fn isolated_by(report: &Report) -> bool {
    report.outcome_of("isolate_instance").is_some_and(Outcome::is_done)
}

#[tokio::test(flavor = "current_thread")]
async fn a_guardduty_finding_from_security_hub_and_from_guardduty_is_contained_once_in_either_order() {
    let world = World::seed().await;
    for (format, security_hub_first) in
        [("ocsf-guardduty-ec2-backdoor.json", true), ("asff-guardduty-ec2-backdoor.json", false)]
    {
        let victim = world.launch(false, false).await.instance_id;
        let finding_id =
            if security_hub_first { "5b000000000000000000000000000001" } else { "5b000000000000000000000000000002" };
        let native = finding(&victim, finding_id);
        world.guardduty_produced(&native);
        let via_hub = delivery(format, &victim, finding_id);
        // Security Hub holds what it delivers: the write-back finds it.
        if security_hub_first {
            hub_holds_ocsf(&world, &via_hub["detail"]["findings"][0]);
        } else {
            hub_holds_asff(&world, &via_hub).await;
        }
        let (first, second) = if security_hub_first {
            (deliver(&world, via_hub).await, deliver(&world, native).await)
        } else {
            (deliver(&world, native).await, deliver(&world, via_hub).await)
        };
        assert!(isolated_by(&first) && first.failures().is_empty(), "{format}: {first:#?}");
        assert!(!isolated_by(&second), "{format}: contained once: {second:#?}");
        assert_eq!(first.incident_key, second.incident_key, "{format}: one incident, one key");
        assert_eq!(
            first.incident_key,
            format!("incident#guardduty#123456789012#us-east-1#{finding_id}"),
            "{format}: GuardDuty's key"
        );
        // Decided from GuardDuty's copy: the C&C domain GuardDuty names is blocked, though the OCSF
        // delivery does not carry it.
        if security_hub_first {
            assert!(first.outcome_of("block_domain").is_some_and(Outcome::is_done), "{first:#?}");
        }
    }
}

/// A Security Hub delivery naming a GuardDuty finding that GuardDuty never produced: refused.
#[tokio::test(flavor = "current_thread")]
async fn a_security_hub_delivery_of_a_finding_guardduty_does_not_know_is_refused() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let before = world.interface_groups(&victim).await;
    let report =
        deliver(&world, delivery("asff-guardduty-ec2-backdoor.json", &victim, "5b000000000000000000000000000003"))
            .await;
    assert!(!isolated_by(&report), "{report:#?}");
    assert!(report.reasons.iter().any(|r| r.contains("does not know finding")), "{report:#?}");
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("update_security_hub_finding") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("Security Hub is told nothing"), "{reason}");
    assert_eq!(world.interface_groups(&victim).await, before);
}

#[tokio::test(flavor = "current_thread")]
async fn another_products_finding_is_notified_and_never_acted_on() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let before = world.interface_groups(&victim).await;
    let inspector = delivery("asff-inspector-ec2-cve.json", &victim, "unused");
    hub_holds_asff(&world, &inspector).await;
    let report = deliver(&world, inspector).await;
    let names: Vec<&str> = report.actions.iter().map(|a| a.action).collect();
    assert_eq!(names, ["update_security_hub_finding", "notify"], "{report:#?}");
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(world.interface_groups(&victim).await, before, "nothing acted on");
}

/// Security Hub delivers Firebreak's own write-back again (an updated finding is re-sent): Firebreak
/// left it RESOLVED, no longer new. Nothing happens, and no claim is written. A note is no proof: a new
/// finding whose note merely looks like Firebreak's (any member may write one) is still contained.
#[tokio::test(flavor = "current_thread")]
async fn the_echo_of_a_write_back_changes_nothing_and_costs_no_claim() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let finding_id = "5b000000000000000000000000000004";
    world.guardduty_produced(&finding(&victim, finding_id));
    let mut echo = delivery("asff-guardduty-ec2-backdoor.json", &victim, finding_id);
    let note = format!(
        "{} incident#guardduty#123456789012#us-east-1#{finding_id}: contained ({}2026-11-24T05:58:11.000Z)",
        firebreak::events::WRITE_BACK_MARK,
        firebreak::events::AS_OF
    );
    echo["detail"]["findings"][0]["Note"] = serde_json::json!({"Text": note, "UpdatedBy": "firebreak"});
    let mut written_back = echo.clone();
    written_back["detail"]["findings"][0]["Workflow"] = serde_json::json!({"Status": "RESOLVED"});
    let report = deliver(&world, written_back).await;
    assert!(report.actions.is_empty(), "{report:#?}");
    let claim = format!("claim#incident#guardduty#123456789012#us-east-1#{finding_id}");
    assert!(world.state_item(&claim).await.is_none(), "no claim was written");
    assert!(!isolated_by(&report));
    let forged = deliver(&world, echo).await;
    assert!(isolated_by(&forged), "a note proves nothing: {forged:#?}");
}

/// Security Hub holds the OCSF finding `finding` in the world's account and region (the emulator's
/// store, tests/emulator/moto_server.py, 10).
pub fn hub_holds_ocsf(world: &World, finding: &Value) {
    let held = serde_json::json!({"account": "123456789012", "region": "us-east-1", "finding": finding});
    world.emulator_holds("/firebreak-emulator/securityhub/findingsv2", &held);
}

/// Security Hub CSPM holds the ASFF finding of `event` (imported as its provider would).
pub async fn hub_holds_asff(world: &World, event: &Value) {
    use aws_sdk_securityhub::types::{AwsSecurityFinding, Resource, Severity, SeverityLabel};
    let f = &event["detail"]["findings"][0];
    let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
    let resources = f["Resources"].as_array().expect("resources").iter().map(|r| {
        Resource::builder()
            .r#type(r["Type"].as_str().unwrap_or_default())
            .id(r["Id"].as_str().unwrap_or_default())
            .build()
    });
    let finding = AwsSecurityFinding::builder()
        .schema_version(text("SchemaVersion"))
        .id(text("Id"))
        .product_arn(text("ProductArn"))
        .generator_id(text("GeneratorId"))
        .aws_account_id(text("AwsAccountId"))
        .created_at(text("CreatedAt"))
        .updated_at(text("UpdatedAt"))
        .title(text("Title"))
        .description(text("Description"))
        .severity(
            Severity::builder().label(SeverityLabel::from(f["Severity"]["Label"].as_str().unwrap_or("HIGH"))).build(),
        )
        .set_resources(Some(resources.collect()))
        .build();
    let hub = aws_sdk_securityhub::Client::new(&world.sdk);
    let out = hub.batch_import_findings().findings(finding).send().await.expect("imported");
    assert_eq!(out.failed_count(), Some(0), "{out:?}");
}

/// The ASFF finding `id` as Security Hub CSPM holds it now: (workflow status, note text, updated at).
pub async fn asff_finding(world: &World, id: &str) -> (Option<String>, Option<String>, Option<String>) {
    let hub = aws_sdk_securityhub::Client::new(&world.sdk);
    let out = hub.get_findings().send().await.expect("findings");
    let f = out.findings().iter().find(|f| f.id() == Some(id)).expect("held");
    (
        f.workflow().and_then(|w| w.status()).map(|s| s.as_str().to_owned()),
        f.note().and_then(|n| n.text()).map(str::to_owned),
        f.updated_at().map(str::to_owned),
    )
}

/// The OCSF findings Security Hub holds in the world's account and region, as JSON.
pub async fn ocsf_findings(world: &World) -> Vec<Value> {
    let hub = aws_sdk_securityhub::Client::new(&world.sdk);
    let out = hub.get_findings_v2().send().await.expect("findings");
    out.findings().iter().map(document_json).collect()
}

fn document_json(d: &aws_smithy_types::Document) -> Value {
    use aws_smithy_types::{Document, Number};
    match d {
        Document::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), document_json(v))).collect()),
        Document::Array(list) => Value::Array(list.iter().map(document_json).collect()),
        Document::Number(Number::PosInt(n)) => Value::from(*n),
        Document::Number(Number::NegInt(n)) => Value::from(*n),
        Document::Number(Number::Float(n)) => Value::from(*n),
        Document::String(s) => Value::from(s.as_str()),
        Document::Bool(b) => Value::from(*b),
        Document::Null => Value::Null,
    }
}

/// Contained through Security Hub's OCSF delivery: the finding is marked resolved (status 4) with a note
/// naming the incident; Security Hub's re-delivery of it, carrying the note, changes nothing.
#[tokio::test(flavor = "current_thread")]
async fn a_contained_finding_is_marked_resolved_in_security_hub_and_its_echo_changes_nothing() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let finding_id = "5b000000000000000000000000000005";
    world.guardduty_produced(&finding(&victim, finding_id));
    let event = delivery("ocsf-guardduty-ec2-backdoor.json", &victim, finding_id);
    hub_holds_ocsf(&world, &event["detail"]["findings"][0]);
    let report = deliver(&world, event.clone()).await;
    assert!(isolated_by(&report) && report.failures().is_empty(), "{report:#?}");
    assert!(report.outcome_of("update_security_hub_finding").is_some_and(Outcome::is_done), "{report:#?}");
    let held = ocsf_findings(&world).await.remove(0);
    assert_eq!((held["status_id"].as_i64(), held["status"].as_str()), (Some(4), Some("Resolved")), "{held}");
    let comment = held["comment"].as_str().expect("a comment");
    assert!(
        comment.starts_with(firebreak::events::WRITE_BACK_MARK)
            && comment.contains(&format!("incident#guardduty#123456789012#us-east-1#{finding_id}"))
            && comment.contains("isolate_instance done"),
        "{comment}"
    );
    assert_eq!(held["severity_id"].as_i64(), Some(4), "the severity is left as it was");

    // Security Hub delivers the updated finding again: Firebreak's echo.
    let mut echo = event;
    echo["detail"]["findings"][0] = held;
    let claim = format!("claim#incident#guardduty#123456789012#us-east-1#{finding_id}");
    let before = world.state_item(&claim).await;
    let again = deliver(&world, echo).await;
    assert!(again.actions.is_empty(), "{again:#?}");
    assert_eq!(world.state_item(&claim).await, before, "the claim was not touched");
}

/// Through ASFF: `Workflow.Status` RESOLVED and a note by `firebreak`, `UpdatedAt` as it was; another
/// product's finding is only notified, and marked NOTIFIED.
#[tokio::test(flavor = "current_thread")]
async fn asff_findings_get_a_workflow_status_and_a_note() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let finding_id = "5b000000000000000000000000000006";
    world.guardduty_produced(&finding(&victim, finding_id));
    let event = delivery("asff-guardduty-ec2-backdoor.json", &victim, finding_id);
    hub_holds_asff(&world, &event).await;
    let report = deliver(&world, event.clone()).await;
    assert!(isolated_by(&report) && report.failures().is_empty(), "{report:#?}");
    let id = event["detail"]["findings"][0]["Id"].as_str().expect("id").to_owned();
    let (status, note, updated_at) = asff_finding(&world, &id).await;
    assert_eq!(status.as_deref(), Some("RESOLVED"));
    assert!(note.as_deref().is_some_and(|n| n.contains(&format!("#{finding_id}"))), "{note:?}");
    assert_eq!(updated_at.as_deref(), Some("2026-11-24T05:58:11.000Z"), "the provider's time is left as it was");

    let inspector = delivery("asff-inspector-ec2-cve.json", &victim, "unused");
    hub_holds_asff(&world, &inspector).await;
    let report = deliver(&world, inspector.clone()).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let id = inspector["detail"]["findings"][0]["Id"].as_str().expect("id");
    let (status, note, _) = asff_finding(&world, id).await;
    assert_eq!(status.as_deref(), Some("NOTIFIED"));
    assert!(note.is_some_and(|n| n.contains("notify notified")));
}

/// Issue #44, hole 7: a delivery only names the finding to write back on. Firebreak reads it back from
/// Security Hub first (`GetFindings`, filtered to that id, product and account): a finding Security Hub
/// does not hold is not written, and one a person suppressed since is left as it is.
#[tokio::test(flavor = "current_thread")]
async fn the_write_back_reads_the_finding_back_first() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let unheld = delivery("asff-inspector-ec2-cve.json", &victim, "unused");
    let report = deliver(&world, unheld).await;
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("update_security_hub_finding") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("Security Hub holds no"), "{reason}");

    let mut suppressed = delivery("asff-inspector-ec2-cve.json", &victim, "unused");
    suppressed["detail"]["findings"][0]["Id"] =
        serde_json::json!("arn:aws:inspector2:us-east-1:123456789012:finding/suppressed");
    hub_holds_asff(&world, &suppressed).await;
    let id = suppressed["detail"]["findings"][0]["Id"].as_str().expect("id").to_owned();
    let product = suppressed["detail"]["findings"][0]["ProductArn"].as_str().expect("product").to_owned();
    aws_sdk_securityhub::Client::new(&world.sdk)
        .batch_update_findings()
        .finding_identifiers(
            aws_sdk_securityhub::types::AwsSecurityFindingIdentifier::builder().id(&id).product_arn(&product).build(),
        )
        .workflow(
            aws_sdk_securityhub::types::WorkflowUpdate::builder()
                .status(aws_sdk_securityhub::types::WorkflowStatus::Suppressed)
                .build(),
        )
        .send()
        .await
        .expect("a person suppresses it");
    let report = deliver(&world, suppressed).await;
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("update_security_hub_finding") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("is SUPPRESSED in Security Hub now: left as it is"), "{reason}");
    assert_eq!(asff_finding(&world, &id).await.0.as_deref(), Some("SUPPRESSED"), "not brought back");
}

/// Only GuardDuty's own findings take the containment function's executions: another product's
/// finding invoked on the GuardDuty responder is refused before any claim, naming the findings
/// notifier, which notifies it; GuardDuty's copy invoked on the notifier is refused, naming the
/// GuardDuty responder.
#[tokio::test(flavor = "current_thread")]
async fn other_products_findings_are_the_notifiers_and_guarddutys_the_containment_functions() {
    use firebreak::Function;
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let inspector = delivery("asff-inspector-ec2-cve.json", &victim, "unused");
    hub_holds_asff(&world, &inspector).await;
    let responder = world.responder(&[]).await;
    let clock = firebreak::clock::Clock::system();
    let lease = clock.now().epoch + 900;
    let run = |event: Value, function: Function| {
        let (responder, clock) = (&responder, &clock);
        async move { Box::pin(firebreak::lambda::respond_payload(event, responder, function, clock, lease)).await }
    };
    let refused = run(inspector.clone(), Function::GuarddutyResponder).await.expect_err("refused");
    assert!(refused.to_string().contains("findings-notifier handles it"), "{refused}");
    assert!(world.notifications().await.is_empty(), "nothing told, no claim taken");
    let notified = run(inspector, Function::FindingsNotifier).await.expect("notified");
    assert_eq!(notified["reports"][0]["decision"], "notify", "{notified}");
    assert_eq!(world.notifications().await.len(), 1);

    let copy = delivery("asff-guardduty-ec2-backdoor.json", &victim, "5c000000000000000000000000000005");
    let refused = run(copy, Function::FindingsNotifier).await.expect_err("refused");
    assert!(refused.to_string().contains("guardduty-responder handles it"), "{refused}");
}
