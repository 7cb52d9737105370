//! GuardDuty attack sequences against moto server: every instance an EC2 instance-group sequence
//! names is contained, each under the blast-radius cap, with one notification for the whole sequence.

use crate::support::{attack_sequence, finding};
use crate::world::World;
use firebreak::report::{Outcome, Report};

const SEQUENCE_FINDING: &str = "b7e2c4a1d3f5e6a7b8c9d0e1f2a3b4c5";

/// The outcome of `action` for `instance` in a report of several instances.
fn outcome<'a>(report: &'a Report, action: &str, instance: &str) -> &'a Outcome {
    report
        .actions
        .iter()
        .find(|a| a.action == action && a.target.as_deref() == Some(instance))
        .map(|a| &a.outcome)
        .unwrap_or_else(|| panic!("{action} on {instance} missing from {report:#?}"))
}

/// Three instances, the last two in the Auto Scaling group `web` the sequence names.
async fn three_victims(world: &World) -> [String; 3] {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(world.launch(false, false).await.instance_id);
    }
    world.auto_scaling_group("web", &[&ids[1], &ids[2]]).await;
    [ids[0].clone(), ids[1].clone(), ids[2].clone()]
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequence_naming_three_instances_contains_all_three_and_notifies_once() {
    let world = World::seed().await;
    let [direct, grouped_a, grouped_b] = three_victims(&world).await;

    let report = world.respond(attack_sequence(&direct, &[&grouped_a, &grouped_b]), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");

    let isolation = world.group_by_role("firebreak-isolation").await;
    assert_eq!(isolation.len(), 1, "one isolation group for the VPC, shared by the three");
    for id in [&direct, &grouped_a, &grouped_b] {
        assert!(outcome(&report, "isolate_instance", id).is_done(), "{id}");
        for (eni, groups) in world.interface_groups(id).await {
            assert_eq!(groups, isolation, "{id} {eni} carries only the isolation group");
        }
        assert!(world.termination_protected(id).await, "{id}");
        assert!(!world.in_auto_scaling_group(id).await, "{id} out of Auto Scaling");
        assert_eq!(world.tags(id).await.get("firebreak:incident").map(String::as_str), Some(SEQUENCE_FINDING));
    }
    assert_eq!(world.incident_snapshots(SEQUENCE_FINDING).await.len(), 3 * 2, "two volumes each");

    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "one notification for the whole sequence");
    let body = notes[0]["Message"].as_str().expect("message");
    for id in [&direct, &grouped_a, &grouped_b] {
        assert!(body.contains(&format!("Isolate it from the network ({id}): done")), "{body}");
    }
    assert!(body.contains("Signal: Backdoor:EC2/C&CActivity.B"), "{body}");
    assert!(notes[0]["Subject"].as_str().expect("subject").starts_with("[CRITICAL] GuardDuty AttackSequence:EC2"));

    // A redelivery of the sequence changes nothing and tells nobody again.
    let again = world.respond(attack_sequence(&direct, &[&grouped_a, &grouped_b]), &[]).await.remove(0);
    assert!(again.actions.iter().all(|a| !a.outcome.is_done()), "{again:#?}");
    assert!(world.notifications().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequence_is_described_and_looked_up_in_auto_scaling_in_one_call_each_and_cut_before_any_evidence() {
    let world = World::seed().await;
    let [direct, grouped_a, grouped_b] = three_victims(&world).await;
    let event = attack_sequence(&direct, &[&grouped_a, &grouped_b]);
    world.guardduty_produced(&event);
    let proxy = crate::fault_proxy::FaultProxy::start(world.endpoint()).await;
    let report = crate::support::respond_to(&world.responder_via(&proxy, &[]).await, event).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let first_swap = proxy.first("ModifyNetworkInterfaceAttribute").expect("swapped");
    assert_eq!(proxy.calls_before("DescribeInstances", first_swap), 1, "{:?}", proxy.all_calls());
    assert_eq!(proxy.calls_before("DescribeAutoScalingInstances", first_swap), 1, "{:?}", proxy.all_calls());
    assert!(!world.in_auto_scaling_group(&grouped_a).await && !world.in_auto_scaling_group(&grouped_b).await);
    let last_swap = proxy.last("ModifyNetworkInterfaceAttribute").expect("swapped");
    assert_eq!(proxy.calls_before("ModifyNetworkInterfaceAttribute", last_swap + 1), 3 * 2, "two swaps each");
    for evidence in ["CreateSnapshots", "ModifyInstanceAttribute"] {
        assert!(proxy.first(evidence).is_some_and(|at| at > last_swap), "{evidence} after every cut");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn with_a_cap_of_two_two_are_contained_and_the_third_is_named_as_held_back() {
    let world = World::seed().await;
    let [direct, grouped_a, grouped_b] = three_victims(&world).await;
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "2")];

    let report = world.respond(attack_sequence(&direct, &[&grouped_a, &grouped_b]), &cap).await.remove(0);
    let isolated: Vec<&String> = [&direct, &grouped_a, &grouped_b]
        .into_iter()
        .filter(|id| outcome(&report, "isolate_instance", id).is_done())
        .collect();
    assert_eq!(isolated.len(), 2, "{report:#?}");
    let held = [&direct, &grouped_a, &grouped_b].into_iter().find(|id| !isolated.contains(id)).expect("one held back");
    let Outcome::Skipped { reason, .. } = outcome(&report, "isolate_instance", held) else { panic!("{report:#?}") };
    assert!(reason.starts_with(&format!("{held} held back: the blast-radius cap of 2")), "{reason}");
    let original = world.interface_groups(held).await;
    assert!(
        original.iter().all(|(_, groups)| groups == std::slice::from_ref(&world.web_group)),
        "{held} untouched: {original:?}"
    );
    assert!(world.in_auto_scaling_group(held).await || held == &direct, "{held} left in its group");

    let notes = world.notifications().await;
    let incident_note = notes
        .iter()
        .map(|n| n["Message"].as_str().expect("message"))
        .find(|m| m.contains("Attack sequence:"))
        .expect("the sequence's notification");
    assert!(
        incident_note.contains(&format!("Isolate it from the network ({held}): not done - {held} held back")),
        "{incident_note}"
    );
    assert!(
        notes.iter().any(|n| n["Subject"].as_str().is_some_and(|s| s.contains("circuit open"))),
        "the circuit opens once"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_constituent_finding_about_an_instance_the_sequence_contained_changes_nothing() {
    let world = World::seed().await;
    let [direct, grouped_a, grouped_b] = three_victims(&world).await;
    world.respond(attack_sequence(&direct, &[&grouped_a, &grouped_b]), &[]).await;
    world.notifications().await;
    let before = world.service_state("ec2");

    let constituent = world.respond(finding(&grouped_a, "c0ffee00c0ffee00c0ffee00c0ffee00"), &[]).await.remove(0);
    for action in &constituent.actions {
        if action.action != "notify" {
            let Outcome::Skipped { reason, .. } = &action.outcome else { panic!("{constituent:#?}") };
            assert!(reason.contains("already contained by Firebreak"), "{reason}");
        }
    }
    assert!(
        world.incident_snapshots("c0ffee00c0ffee00c0ffee00c0ffee00").await.is_empty(),
        "no second set of snapshots"
    );
    assert_eq!(world.service_state("ec2"), before, "nothing in EC2 changed");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "the new finding is still told, as changing nothing");
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequence_naming_an_instance_a_finding_contained_before_contains_only_the_others() {
    let world = World::seed().await;
    let [direct, grouped_a, grouped_b] = three_victims(&world).await;
    world.respond(finding(&grouped_a, "c0ffee00c0ffee00c0ffee00c0ffee01"), &[]).await;
    let report = world.respond(attack_sequence(&direct, &[&grouped_a, &grouped_b]), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let Outcome::Skipped { reason, .. } = outcome(&report, "isolate_instance", &grouped_a) else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("already contained by Firebreak"), "{reason}");
    for id in [&direct, &grouped_b] {
        assert!(outcome(&report, "isolate_instance", id).is_done(), "{id}");
    }
    assert_eq!(world.incident_snapshots(SEQUENCE_FINDING).await.len(), 2 * 2, "the two others' volumes only");
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequence_of_twenty_five_instances_is_contained_and_told_in_one_sns_message() {
    let world = World::seed().await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(world.launch(false, false).await.instance_id);
    }
    let grouped: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let report = world
        .respond(attack_sequence(&ids[0], &grouped), &[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "100")])
        .await
        .remove(0);
    assert!(report.failures().is_empty(), "SNS accepted the notification: {:?}", report.failures());
    let isolation = world.group_by_role("firebreak-isolation").await;
    for id in &ids {
        assert!(world.interface_groups(id).await.iter().all(|(_, g)| *g == isolation), "{id}");
    }
    assert_eq!(world.notifications().await.len(), 1);
}
