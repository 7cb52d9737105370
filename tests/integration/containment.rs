//! The GuardDuty containment playbook and `release`, proven against moto server by the state of the
//! world afterwards.

use crate::support::sample_event;
use crate::world::World;
use firebreak::report::{Outcome, Report};
use serde_json::Value;

const FINDING_ID: &str = "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7";

/// The sample high-severity finding, about `instance_id`.
fn finding_about(instance_id: &str) -> Value {
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    let mut event: Value = serde_json::from_str(&text).expect("json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = Value::from(instance_id);
    event
}

async fn respond(world: &World, event: Value) -> Report {
    world.respond(event, &[]).await.remove(0)
}

fn outcome<'a>(report: &'a Report, action: &str) -> &'a Outcome {
    report.outcome_of(action).unwrap_or_else(|| panic!("{action} missing from {report:?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn isolates_every_interface_of_a_multi_eni_instance_and_preserves_the_evidence() {
    let world = World::seed().await;
    let victim = world.launch(true, true).await;
    let before = world.interface_groups(&victim.instance_id).await;
    assert_eq!(before.len(), 2, "two interfaces");

    let report = respond(&world, finding_about(&victim.instance_id)).await;
    assert!(report.failures().is_empty(), "{report:#?}");

    let isolation = world.group_by_role("firebreak-isolation").await;
    assert_eq!(isolation.len(), 1, "one isolation group in the VPC");
    for (eni, groups) in world.interface_groups(&victim.instance_id).await {
        assert_eq!(groups, isolation, "{eni} carries only the isolation group");
    }
    assert_eq!(world.rule_counts(&isolation[0]).await, (0, 0), "the isolation group has no rules at all");
    let untracking = world.group_by_role("firebreak-untracking").await;
    assert_eq!(untracking.len(), 1);
    assert_eq!(world.rule_counts(&untracking[0]).await, (2, 2), "all traffic both ways, IPv4 and IPv6");

    let volumes = world.volumes(&victim.instance_id).await;
    let snapshots = world.incident_snapshots(FINDING_ID).await;
    assert_eq!(volumes.len(), 2);
    let mut snapped: Vec<String> = snapshots.iter().map(|(_, v)| v.clone()).collect();
    snapped.sort();
    let mut expected = volumes.clone();
    expected.sort();
    assert_eq!(snapped, expected, "one snapshot per volume");
    for (snapshot, _) in &snapshots {
        assert_eq!(world.tags(snapshot).await.get("firebreak:incident").map(String::as_str), Some(FINDING_ID));
    }

    assert!(!world.in_auto_scaling_group(&victim.instance_id).await, "out of its Auto Scaling group");
    let tg = victim.target_group_arn.as_deref().expect("target group");
    assert!(!world.target_ids(tg).await.contains(&victim.instance_id), "out of its target group");
    assert!(world.termination_protected(&victim.instance_id).await);
    let tags = world.tags(&victim.instance_id).await;
    assert_eq!(tags.get("firebreak:incident").map(String::as_str), Some(FINDING_ID));
    assert!(tags.contains_key("firebreak:quarantined"));

    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "one notification");
    let body = notes[0]["Message"].as_str().expect("message");
    assert!(body.contains(&victim.instance_id) && body.contains(FINDING_ID), "{body}");
    let subject = notes[0]["Subject"].as_str().expect("subject");
    assert!(subject.starts_with("[HIGH] GuardDuty Backdoor:EC2"), "{subject}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_delivery_of_the_same_finding_changes_nothing_and_notifies_nobody() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let first = respond(&world, finding_about(&victim.instance_id)).await;
    assert!(first.failures().is_empty(), "{first:#?}");
    let snapshots = world.incident_snapshots(FINDING_ID).await;
    assert_eq!(world.notifications().await.len(), 1);

    let mut again = finding_about(&victim.instance_id);
    again["id"] = Value::from("another-delivery");
    again["detail"]["service"]["count"] = Value::from(4);
    let second = respond(&world, again).await;
    assert!(second.actions.iter().all(|a| matches!(a.outcome, Outcome::Skipped { .. })), "{second:#?}");
    assert_eq!(world.incident_snapshots(FINDING_ID).await, snapshots, "no second set of snapshots");
    assert!(world.notifications().await.is_empty(), "no second notification");
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_instance_is_reported_not_found_and_nothing_is_changed() {
    let world = World::seed().await;
    let report = respond(&world, finding_about("i-0123456789abcdef0")).await;
    match outcome(&report, "isolate_instance") {
        Outcome::Skipped { reason, .. } => assert!(reason.contains("not found"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(world.group_by_role("firebreak-isolation").await.is_empty(), "no group created for nothing");
    assert!(world.incident_snapshots(FINDING_ID).await.is_empty());
    assert_eq!(world.notifications().await.len(), 1, "a person still hears of the finding");
}

#[tokio::test(flavor = "current_thread")]
async fn an_exempt_instance_is_left_alone() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let exempt = aws_sdk_ec2::types::Tag::builder().key("firebreak:exempt").value("bastion").build();
    world.ec2.create_tags().resources(&victim.instance_id).tags(exempt).send().await.expect("tag");
    let before = world.interface_groups(&victim.instance_id).await;
    let report = respond(&world, finding_about(&victim.instance_id)).await;
    assert!(
        matches!(outcome(&report, "isolate_instance"), Outcome::Skipped { reason, .. } if reason.contains("exemption"))
    );
    assert_eq!(world.interface_groups(&victim.instance_id).await, before);
    assert!(world.incident_snapshots(FINDING_ID).await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn release_restores_the_original_groups_and_removes_the_quarantine_tags() {
    let world = World::seed().await;
    let victim = world.launch(true, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let report = respond(&world, finding_about(&victim.instance_id)).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_ne!(world.interface_groups(&victim.instance_id).await, before);
    world.notifications().await;

    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&victim.instance_id).expect("id");
    let released = crate::support::release(&responder, &id).await.expect("released");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert_eq!(world.interface_groups(&victim.instance_id).await, before, "original groups back on every interface");
    let tags = world.tags(&victim.instance_id).await;
    assert!(
        !tags.keys().any(|k| k == "firebreak:quarantined" || k.starts_with("firebreak:original-groups")),
        "{tags:?}"
    );
    assert_eq!(world.notifications().await.len(), 1, "release is notified");

    let again = crate::support::release(&responder, &id).await;
    assert!(
        matches!(again, Err(firebreak::Error::Refused { .. })),
        "a released instance is not isolated any more: {again:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn release_refuses_an_instance_firebreak_did_not_isolate() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let responder = world.responder(&[]).await;
    let id = firebreak::incident::InstanceId::parse(&victim.instance_id).expect("id");
    let err = crate::support::release(&responder, &id).await.expect_err("refused");
    assert!(err.to_string().contains("neither isolated nor revoked by Firebreak"), "{err}");
    assert!(world.notifications().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn the_emulator_reports_each_interfaces_own_groups_as_ec2_documents() {
    // EC2: "each network interface has its own security groups"; the instance's groups are those of
    // its primary interface. Stock moto 5.x would report the secondary interface with both groups.
    let world = World::seed().await;
    let victim = world.launch(true, false).await;
    let enis = world.interface_groups(&victim.instance_id).await;
    let mut groups: Vec<Vec<String>> = enis.into_iter().map(|(_, g)| g).collect();
    groups.sort();
    let mut expected = vec![vec![world.web_group.clone()], vec![world.db_group.clone()]];
    expected.sort();
    assert_eq!(groups, expected);
}

#[tokio::test(flavor = "current_thread")]
async fn the_cap_slot_and_the_original_groups_are_written_while_the_groups_are_checked() {
    // The groups' check is held until the quarantine record and this hour's cap counter exist. Both are
    // sent beside the check, so they land within milliseconds; a run that wrote the record only after
    // the check could not before the SDK gives the held attempt up (5 s), and the hook stops looking at
    // 4 s. The finding names the instance's VPC, as GuardDuty's does: its group records are read ahead.
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let mut event = crate::support::finding(&victim, FINDING_ID);
    event["detail"]["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"] = Value::from(world.vpc_id.clone());
    world.guardduty_produced(&event);
    let proxy = crate::fault_proxy::FaultProxy::start(world.endpoint()).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (dynamodb, found) = (aws_sdk_dynamodb::Client::new(&world.sdk), seen.clone());
    let quarantine = format!("quarantine#{victim}");
    proxy.before(
        "DescribeSecurityGroups",
        Box::new(move || {
            Box::pin(async move {
                let give_up = std::time::Instant::now() + std::time::Duration::from_secs(4);
                while std::time::Instant::now() < give_up {
                    let items = dynamodb.scan().table_name(crate::world::TABLE).send().await.expect("scan");
                    let keys: Vec<String> = items
                        .items()
                        .iter()
                        .filter_map(|i| i.get("pk")?.as_s().ok().cloned())
                        .filter(|pk| *pk == quarantine || pk.starts_with("cap#"))
                        .collect();
                    if keys.len() == 2 {
                        *found.lock().expect("lock") = keys;
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            })
        }),
    );
    let report = crate::support::respond_to(&world.responder_via(&proxy, &[]).await, event).await;
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{report:#?}");
    let found = seen.lock().expect("lock").clone();
    assert_eq!(found.len(), 2, "both written before the groups' check was answered: {found:?}");
}

/// GuardDuty's finding names the VPC of each interface of the instance: the VPC's containment group
/// records are read in the claim's round trip, beside the describe and the quarantine record, instead
/// of after them. A finding naming another VPC (a sample's, a stale one) costs those reads again, in
/// the instance's true VPC, and changes nothing else: the describe decides. A payload naming many VPCs
/// has the records of only the first four read ahead.
#[tokio::test(flavor = "current_thread")]
async fn the_group_records_of_the_vpc_the_finding_names_are_read_with_the_claim() {
    // (VPCs the finding names, table reads before the first swap): the quarantine record, two records
    // per VPC read ahead (four VPCs at most), two more when the instance's own VPC was not among them.
    let others: Vec<String> = (0..10).map(|k| format!("vpc-0000000000000000{k}")).collect();
    for (named, reads) in [(None, 3), (Some(vec!["vpc-0a1b2c3d".to_owned()]), 5), (Some(others), 1 + 2 * 4 + 2)] {
        let world = World::seed().await;
        let victim = world.launch(false, false).await.instance_id;
        let mut event = crate::support::finding(&victim, FINDING_ID);
        let interfaces = &mut event["detail"]["resource"]["instanceDetails"]["networkInterfaces"];
        let named = named.unwrap_or_else(|| vec![world.vpc_id.clone()]);
        let template = interfaces[0].clone();
        *interfaces = named
            .iter()
            .map(|vpc| {
                let mut interface = template.clone();
                interface["vpcId"] = Value::from(vpc.clone());
                interface
            })
            .collect();
        world.guardduty_produced(&event);
        let proxy = crate::fault_proxy::FaultProxy::start(world.endpoint()).await;
        let report = crate::support::respond_to(&world.responder_via(&proxy, &[]).await, event).await;

        assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{report:#?}");
        let isolation = world.recorded_groups("firebreak-isolation").await;
        let groups = world.interface_groups(&victim).await;
        assert!(groups.iter().all(|(_, g)| *g == isolation), "{groups:?} on {isolation:?}");
        let swap = proxy.first("ModifyNetworkInterfaceAttribute").expect("swapped");
        assert_eq!(proxy.calls_before("GetItem", swap), reads, "the finding names {named:?}");
    }
}
