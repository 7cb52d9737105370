//! Containment in a world the attacker prepared, or on an unusual topology: each test seeds that world
//! in moto server and asserts the state afterwards.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::finding;
use crate::world::World;
use aws_sdk_ec2::types::{IpPermission, IpRange, Tag};
use firebreak::report::{Outcome, Report};
use serde_json::Value;
use std::time::Duration;

fn detail(report: &Report, action: &str) -> String {
    match report.outcome_of(action) {
        Some(Outcome::Done { detail }) => detail.clone(),
        other => panic!("{action} not done: {other:?}\n{report:#?}"),
    }
}

/// Every interface of the instance carries exactly one recorded isolation group.
async fn isolated(world: &World, instance_id: &str) -> bool {
    let recorded = world.recorded_groups("firebreak-isolation").await;
    let groups = world.interface_groups(instance_id).await;
    !groups.is_empty() && groups.iter().all(|(_, g)| g.len() == 1 && recorded.contains(&g[0]))
}

/// A group an attacker made to look like Firebreak's: its tag, its former name, all traffic allowed.
async fn planted_group(world: &World, name: &str, role: &str) -> String {
    let all =
        IpPermission::builder().ip_protocol("-1").ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build()).build();
    let id = world.group_with(name, all).await;
    world.tag(&id, &[("firebreak:role".into(), role.into())]).await;
    id
}

#[tokio::test(flavor = "current_thread")]
async fn a_planted_allow_all_group_and_a_squatted_name_are_never_used() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let planted = planted_group(&world, "firebreak-isolation", "firebreak-isolation").await;
    let squatted = planted_group(&world, "firebreak-untracking", "firebreak-untracking").await;
    let report = world.respond(finding(&victim.instance_id, "11111111111111111111111111111111"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let recorded = world.recorded_groups("firebreak-isolation").await;
    assert_eq!(recorded.len(), 1);
    assert!(!recorded.contains(&planted) && !world.recorded_groups("firebreak-untracking").await.contains(&squatted));
    assert!(isolated(&world, &victim.instance_id).await);
    assert_eq!(world.rule_counts(&recorded[0]).await, (0, 0), "the group used allows nothing");
    let said = detail(&report, "isolate_instance");
    assert!(said.contains(&recorded[0]) && said.contains("created and verified"), "{said}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_recorded_group_that_gained_a_rule_is_repaired_before_it_is_used_again() {
    let world = World::seed().await;
    let first = world.launch(false, false).await;
    world.respond(finding(&first.instance_id, "11111111111111111111111111111111"), &[]).await;
    let group = world.recorded_groups("firebreak-isolation").await.remove(0);
    // As if the default egress revoke had failed, or someone had added a rule since.
    let all =
        IpPermission::builder().ip_protocol("-1").ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build()).build();
    world.ec2.authorize_security_group_egress().group_id(&group).ip_permissions(all).send().await.expect("egress");
    assert_eq!(world.rule_counts(&group).await, (0, 1));
    let second = world.launch(false, false).await;
    let report = world.respond(finding(&second.instance_id, "22222222222222222222222222222222"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(world.rule_counts(&group).await, (0, 0), "repaired");
    assert!(isolated(&world, &second.instance_id).await);
    assert!(detail(&report, "isolate_instance").contains("repaired"), "{report:#?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_recorded_group_deleted_since_is_replaced_by_a_new_one_and_its_record_with_it() {
    let world = World::seed().await;
    let first = world.launch(false, false).await;
    world.respond(finding(&first.instance_id, "11111111111111111111111111111111"), &[]).await;
    let deleted = world.recorded_groups("firebreak-isolation").await.remove(0);
    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&first.instance_id).expect("id");
    crate::support::release(&responder, &id).await.expect("released");
    world.ec2.delete_security_group().group_id(&deleted).send().await.expect("someone deletes the group");
    let second = world.launch(false, false).await;
    let report = world.respond(finding(&second.instance_id, "22222222222222222222222222222222"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let recorded = world.recorded_groups("firebreak-isolation").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_ne!(recorded[0], deleted, "the record names the new group");
    assert!(isolated(&world, &second.instance_id).await);
    let said = detail(&report, "isolate_instance");
    assert!(said.contains("created and verified") && said.contains(&format!("{deleted} no longer exists")), "{said}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_instance_at_the_tag_limit_is_isolated_all_the_same_and_released_from_the_record() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let have = world.tags(&victim.instance_id).await.len();
    let filler: Vec<(String, String)> = (have..50).map(|n| (format!("team:{n}"), "x".to_owned())).collect();
    world.tag(&victim.instance_id, &filler).await;
    assert_eq!(world.tags(&victim.instance_id).await.len(), 50, "at EC2's limit of 50 tags per resource");
    let before = world.interface_groups(&victim.instance_id).await;
    let report = world.respond(finding(&victim.instance_id, "33333333333333333333333333333333"), &[]).await.remove(0);
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{report:#?}");
    assert!(isolated(&world, &victim.instance_id).await, "the cut never depends on tagging");
    // The incident tags do not fit either: that step fails and says why, and a retry cannot help.
    let tagging = report.outcome_of("tag_instance").and_then(Outcome::error).expect("tagging fails");
    assert!(tagging.to_string().contains("TagLimitExceeded") && !tagging.is_retryable(), "{tagging}");
    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&victim.instance_id).expect("id");
    crate::support::release(&responder, &id).await.expect("released");
    assert_eq!(world.interface_groups(&victim.instance_id).await, before);
}

#[tokio::test(flavor = "current_thread")]
async fn forged_original_group_tags_choose_nothing_release_restores_the_recorded_groups() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let wide_open = world.exposed_group("attackers-choice").await;
    let eni = before[0].0.clone();
    world.tag(&victim.instance_id, &[(format!("firebreak:original-groups:{eni}"), wide_open.clone())]).await;
    let report = world.respond(finding(&victim.instance_id, "44444444444444444444444444444444"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    assert!(isolated(&world, &victim.instance_id).await);
    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&victim.instance_id).expect("id");
    crate::support::release(&responder, &id).await.expect("released");
    let after = world.interface_groups(&victim.instance_id).await;
    assert_eq!(after, before, "the groups it had, not the attacker's {wide_open}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_interface_that_cannot_be_moved_off_the_allow_all_group_is_the_loudest_outcome() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    // The untracking swap passes; the isolation swap and every attempt to put the groups back fail.
    proxy.inject("ModifyNetworkInterfaceAttribute", Fault::ServerError, 1, None);
    let responder = world.responder_via(&proxy, &[]).await;
    let clock = firebreak::clock::Clock::system();
    world.guardduty_produced(&finding(&victim.instance_id, "55555555555555555555555555555555"));
    let deliver = || {
        let event = finding(&victim.instance_id, "55555555555555555555555555555555");
        let function = firebreak::Function::GuarddutyResponder;
        firebreak::lambda::respond_payload(event, &responder, function, &clock, clock.now().epoch + 300)
    };
    let error = deliver().await.expect_err("returned for retry");
    assert!(error.is_retryable() && error.to_string().contains("LEFT WIDE OPEN"), "{error}");
    let untracking = world.recorded_groups("firebreak-untracking").await;
    assert_eq!(world.interface_groups(&victim.instance_id).await[0].1, untracking, "the state the alarm is about");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["severity"]["Value"], "CRITICAL");
    let message: Value = serde_json::from_str(notes[0]["Message"].as_str().expect("message")).expect("report");
    assert!(message["report"]["reasons"][0].as_str().unwrap_or_default().starts_with("CRITICAL:"), "{message}");
    // The receipt does not "repair" a failed cut by skipping the untracking swap: the retry cuts, then reads back.
    let verify =
        message["report"]["actions"].as_array().and_then(|a| a.iter().find(|a| a["action"] == "verify_containment"));
    let reason = verify.and_then(|v| v["reason"].as_str()).unwrap_or_default();
    assert!(reason.starts_with("not read back: a network step failed in this run"), "{message}");
    // The retry, once EC2 answers again, isolates it.
    proxy.clear();
    let retry = deliver().await;
    assert!(retry.is_ok(), "{retry:?}");
    assert!(isolated(&world, &victim.instance_id).await);
    let receipt =
        retry.ok().and_then(|r| r["reports"][0]["receipts"][0]["channels"].as_array().cloned()).unwrap_or_default();
    assert!(receipt.iter().any(|c| c["channel"] == "network_interface" && c["state"] == "verified"), "{receipt:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_spot_instance_is_snapshotted_first_and_not_protected_in_vain() {
    let world = World::seed().await;
    let spot = world.launch_spot().await;
    let report = world.respond(finding(&spot, "66666666666666666666666666666666"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "a Spot instance does not fail the run: {report:#?}");
    let order: Vec<&str> = report.actions.iter().map(|a| a.action).collect();
    let at = |name: &str| order.iter().position(|a| *a == name).expect(name);
    assert!(at("snapshot_volumes") < at("isolate_instance"), "{order:?}");
    assert!(
        matches!(report.outcome_of("protect_instance"), Some(Outcome::Skipped { reason, .. }) if reason.contains("Spot"))
    );
    assert!(!world.termination_protected(&spot).await);
    assert_eq!(world.incident_snapshots("66666666666666666666666666666666").await.len(), 1);
    assert!(isolated(&world, &spot).await);
}

#[tokio::test(flavor = "current_thread")]
async fn an_interface_in_another_vpc_gets_that_vpcs_containment_groups() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let (other_vpc, foreign_eni) = world.attach_interface_in_another_vpc(&victim.instance_id).await;
    let report = world.respond(finding(&victim.instance_id, "77777777777777777777777777777777"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(world.recorded_groups("firebreak-isolation").await.len(), 2, "one per VPC");
    assert!(isolated(&world, &victim.instance_id).await);
    let foreign_group = world
        .interface_groups(&victim.instance_id)
        .await
        .into_iter()
        .find(|(eni, _)| *eni == foreign_eni)
        .map(|(_, g)| g[0].clone())
        .expect("foreign interface");
    let described = world.ec2.describe_security_groups().group_ids(&foreign_group).send().await.expect("group");
    assert_eq!(described.security_groups()[0].vpc_id(), Some(other_vpc.as_str()));
}

#[tokio::test(flavor = "current_thread")]
async fn held_back_and_exempt_incidents_stay_open_and_a_later_delivery_contains_them() {
    let world = World::seed().await;
    let first = world.launch(false, false).await;
    let second = world.launch(false, false).await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "1")];
    world.respond(finding(&first.instance_id, "88888888888888888888888888888881"), &cap).await;
    let held = world.respond(finding(&second.instance_id, "88888888888888888888888888888882"), &cap).await.remove(0);
    assert!(
        matches!(held.outcome_of("isolate_instance"), Some(Outcome::Skipped { reason, .. }) if reason.starts_with("held back"))
    );
    assert!(held.reasons.iter().any(|r| r.contains("stays open")), "{held:#?}");
    assert!(!isolated(&world, &second.instance_id).await);
    // Its original groups were recorded beside the cap, and withdrawn when the cap said no.
    let quarantine = format!("quarantine#{}", second.instance_id);
    assert_eq!(world.state_item(&quarantine).await, None, "no quarantine record of a held-back run");
    // GuardDuty re-delivers the finding; an hour later the cap allows it.
    let later = firebreak::clock::Clock::starting_at(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now") + Duration::from_secs(3600),
    );
    let again = world
        .respond_at(finding(&second.instance_id, "88888888888888888888888888888882"), &cap, later)
        .await
        .expect("state usable")
        .remove(0);
    assert!(again.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{again:#?}");
    assert!(isolated(&world, &second.instance_id).await);
    let record = world.state_item(&quarantine).await.expect("quarantine record");
    let owners = record.get("recorded_by").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
    assert_eq!(owners, std::slice::from_ref(&again.incident_key));
    // Another incident held back never deletes a record it does not own alone.
    use firebreak::ports::StateStore;
    let state = world.responder(&[]).await.state;
    assert!(!state.withdraw_original_groups(&second.instance_id, "incident#another").await.expect("state"));
    assert!(world.state_item(&quarantine).await.is_some(), "kept");

    let exempt = world.launch(false, false).await;
    world.tag(&exempt.instance_id, &[("firebreak:exempt".into(), "bastion".into())]).await;
    let skipped = world.respond(finding(&exempt.instance_id, "88888888888888888888888888888883"), &[]).await.remove(0);
    assert!(
        matches!(skipped.outcome_of("isolate_instance"), Some(Outcome::Skipped { reason, .. }) if reason.contains("exemption"))
    );
    world
        .ec2
        .delete_tags()
        .resources(&exempt.instance_id)
        .tags(Tag::builder().key("firebreak:exempt").build())
        .send()
        .await
        .expect("untag");
    let contained =
        world.respond(finding(&exempt.instance_id, "88888888888888888888888888888883"), &[]).await.remove(0);
    assert!(contained.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{contained:#?}");
    assert!(isolated(&world, &exempt.instance_id).await);
}

#[tokio::test(flavor = "current_thread")]
async fn the_notification_says_what_isolation_leaves_open() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    world.respond(finding(&victim.instance_id, "99999999999999999999999999999999"), &[]).await;
    let notes = world.notifications().await;
    let report: Value = serde_json::from_str(notes[0]["Message"].as_str().expect("message")).expect("report");
    let text = report["text"].as_str().expect("text");
    assert!(!text.contains("no network access"), "a claim security groups cannot keep");
    for open in ["Route 53 Resolver", "instance metadata service", "ICMP", "role credentials"] {
        assert!(text.contains(open), "{open} is named: {text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_auto_scaled_instance_leaves_auto_scalings_hands_before_its_network_is_touched() {
    let world = World::seed().await;
    let victim = world.launch(false, true).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    let responder = world.responder_via(&proxy, &[("FIREBREAK_SETTLE_SECONDS", "0")]).await;
    let clock = firebreak::clock::Clock::system();
    let event = finding(&victim.instance_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    world.guardduty_produced(&event);
    let function = firebreak::Function::GuarddutyResponder;
    firebreak::lambda::respond_payload(event, &responder, function, &clock, clock.now().epoch + 300)
        .await
        .expect("handled");
    let first_swap = proxy.first("ModifyNetworkInterfaceAttribute").expect("swapped");
    let protected = proxy.first("SetInstanceProtection").expect("scale-in protection");
    let detached = proxy.first("DetachInstances").expect("detached");
    assert!(protected < detached && detached < first_swap, "scale-in protection, detach, then the network");
    assert!(!world.in_auto_scaling_group(&victim.instance_id).await);
    assert!(isolated(&world, &victim.instance_id).await);
}

/// Attack 1 of the trust issue: whoever holds `lambda:InvokeFunction` hands the GuardDuty responder a
/// finding GuardDuty never produced (and one it did, edited to name another instance). The world is
/// untouched, and a person is told why.
#[tokio::test(flavor = "current_thread")]
async fn a_forged_invocation_isolates_nothing_and_is_notified_as_refused() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let forged = finding(&victim.instance_id, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f");
    let reports = world.deliver_at(forged, &[], firebreak::clock::Clock::system()).await.expect("state usable");
    assert!(reports[0].reasons[0].contains("does not know finding 0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"), "{reports:#?}");

    // A real finding about another instance, delivered as if it were about the victim.
    let bystander = world.launch(false, false).await;
    let real = finding(&bystander.instance_id, "1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e");
    world.guardduty_produced(&real);
    let edited = finding(&victim.instance_id, "1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e");
    let reports = world.deliver_at(edited, &[], firebreak::clock::Clock::system()).await.expect("state usable");
    let why = &reports[0].reasons[0];
    assert!(why.contains(&format!("GuardDuty's finding names {}", bystander.instance_id)), "{why}");

    assert_eq!(world.interface_groups(&victim.instance_id).await, before, "the victim's network is untouched");
    assert!(!world.termination_protected(&victim.instance_id).await);
    assert!(world.tags(&victim.instance_id).await.keys().all(|k| !k.starts_with("firebreak:")));
    assert!(world.recorded_groups("firebreak-isolation").await.is_empty(), "no containment group was even made");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 2, "each refusal is told once");
    assert!(notes.iter().all(|n| n["Message"].as_str().unwrap_or_default().contains("refused")), "{notes:#?}");
}

/// A state key in this world, as the template generates it; its ARN for `FIREBREAK_STATE_KEY_SECRET_ARN`.
/// A request marked approved written straight into the state table, around Firebreak.
async fn plant_approved_request(ddb: &aws_sdk_dynamodb::Client, key: &str, request: &Value) {
    use aws_sdk_dynamodb::types::AttributeValue;
    ddb.put_item()
        .table_name(crate::world::TABLE)
        .item("pk", AttributeValue::S(format!("approval#{key}")))
        .item("status", AttributeValue::S("approved".into()))
        .item("decided", AttributeValue::S(r#"{"via":"link","at":0}"#.into()))
        .item("deadline", AttributeValue::N("4102444800".into()))
        .item("request", AttributeValue::S(request.to_string()))
        .send()
        .await
        .expect("forged request");
}

async fn state_key(world: &World) -> String {
    world.secret("firebreak-state-key", &"s".repeat(64)).await
}

/// Attack 2 of the trust issue: records written around Firebreak (by a principal the table's policy
/// lets through, or before it existed) are refused, not obeyed: release does not attach the groups a
/// forged `quarantine#` names, and an approved run does not contain what a forged `approval#` names.
#[tokio::test(flavor = "current_thread")]
async fn records_written_around_firebreak_are_refused_not_obeyed() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let world = World::seed().await;
    let arn = state_key(&world).await;
    let sealed = [("FIREBREAK_STATE_KEY_SECRET_ARN", arn.as_str())];
    let victim = world.launch_with_role("web-instance-role", &[]).await;
    let report = world.respond(finding(&victim, "5ea1ed0000000000000000000000000a"), &sealed).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let contained = world.interface_groups(&victim).await;
    let ddb = aws_sdk_dynamodb::Client::new(&world.sdk);
    let item = world.state_item(&format!("quarantine#{victim}")).await.expect("quarantine record");
    let (eni, _) = item.iter().find(|(k, _)| k.starts_with("eni#")).expect("an interface");
    assert!(item.contains_key(&format!("seal#{}", &eni["eni#".len()..])), "sealed: {item:?}");

    // What Firebreak sealed itself, it trusts: another instance contained and released.
    let other = world.launch(false, false).await;
    let before = world.interface_groups(&other.instance_id).await;
    world.respond(finding(&other.instance_id, "5ea1ed0000000000000000000000000b"), &sealed).await;
    let released = crate::support::release(
        &world.responder(&sealed).await,
        &firebreak::incident::InstanceId::parse(&other.instance_id).expect("id"),
    )
    .await
    .expect("a sealed record is trusted");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert_eq!(world.interface_groups(&other.instance_id).await, before);

    // Forged: the original groups rewritten to an attacker's group.
    let forged_groups = world.exposed_group("attacker-chosen").await;
    ddb.update_item()
        .table_name(crate::world::TABLE)
        .key("pk", AttributeValue::S(format!("quarantine#{victim}")))
        .update_expression("SET #e = :g")
        .expression_attribute_names("#e", eni)
        .expression_attribute_values(":g", AttributeValue::S(forged_groups.clone()))
        .send()
        .await
        .expect("forged");
    let responder = world.responder(&sealed).await;
    let id = firebreak::incident::InstanceId::parse(&victim).expect("id");
    let refused = crate::support::release(&responder, &id).await;
    assert!(
        matches!(&refused, Err(firebreak::Error::Refused { .. }) if refused.as_ref().err().is_some_and(|e| e.to_string().contains("not sealed by Firebreak"))),
        "{refused:?}"
    );
    assert_eq!(
        world.interface_groups(&victim).await,
        contained,
        "still isolated; the attacker's group attached nowhere"
    );

    // A request for approval nobody made, marked approved, and the responder asked to run it.
    let key = "incident#guardduty#123456789012#us-east-1#f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";
    let bystander = world.launch(false, false).await;
    let request = serde_json::json!({"key": key, "status": "approved", "deadline": 4_102_444_800u64,
        "requested_at": 0, "summary": "forged", "reasons": [], "actions": [],
        "event": finding(&bystander.instance_id, "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0").to_string()});
    plant_approved_request(&ddb, key, &request).await;
    let clock = firebreak::clock::Clock::system();
    let payload = serde_json::json!({"firebreak-approved": key});
    let function = firebreak::Function::GuarddutyResponder;
    let ran = firebreak::lambda::respond_payload(payload, &responder, function, &clock, clock.now().epoch + 300).await;
    assert!(ran.as_ref().is_err_and(|e| e.to_string().contains("not sealed by Firebreak")), "{ran:?}");
    assert!(!isolated(&world, &bystander.instance_id).await, "nothing a forged request names is contained");

    // The same, dressed as an idle stop's request (which carries no seal) under a finding's item: the
    // item's own key decides, and it is refused.
    let other = "incident#guardduty#123456789012#us-east-1#e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0";
    let mut disguised = request.clone();
    disguised["key"] = serde_json::Value::from("incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:x#t");
    plant_approved_request(&ddb, other, &disguised).await;
    let payload = serde_json::json!({"firebreak-approved": other});
    let ran = firebreak::lambda::respond_payload(payload, &responder, function, &clock, clock.now().epoch + 300).await;
    assert!(ran.as_ref().is_err_and(|e| e.to_string().contains("not sealed by Firebreak")), "{ran:?}");
    assert!(!isolated(&world, &bystander.instance_id).await, "nothing a disguised request names is contained");
}

/// The instances denied on a role are a sealed record too: an entry written around Firebreak (naming an
/// instance whose credentials someone wants dead, say) is never written into the role's policy.
#[tokio::test(flavor = "current_thread")]
async fn a_forged_entry_in_a_roles_denied_instances_is_never_written_into_its_policy() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let world = World::seed().await;
    let arn = state_key(&world).await;
    let sealed = [("FIREBREAK_STATE_KEY_SECRET_ARN", arn.as_str())];
    let (innocent, victim) = (
        world.launch_with_role("web-instance-role", &[]).await,
        world.launch_with_role("web-instance-role", &[]).await,
    );
    let role_id = world.role_id("web-instance-role").await.expect("role");
    aws_sdk_dynamodb::Client::new(&world.sdk)
        .put_item()
        .table_name(crate::world::TABLE)
        .item("pk", AttributeValue::S(format!("denied#{role_id}")))
        .item("instances", AttributeValue::Ss(vec![format!("us-east-1/{innocent}/forged-seal")]))
        .item("version", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("planted");
    let report = world.respond(finding(&victim, "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"), &sealed).await.remove(0);
    let Some(Outcome::Done { detail }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(detail.contains("now denies 1 instance(s) of the role"), "{detail}");
    assert!(detail.contains("1 entr(ies) of its record that Firebreak did not write are ignored"), "{detail}");
    let doc = world.role_policy("web-instance-role", firebreak::playbooks::INSTANCES_POLICY).await.expect("policy");
    let denies = |id: &str| {
        firebreak::playbooks::denies_instance(
            &doc.to_string(),
            &firebreak::incident::InstanceId::parse(id).expect("id"),
        )
    };
    assert!(denies(&victim) && !denies(&innocent), "{doc}");
}
