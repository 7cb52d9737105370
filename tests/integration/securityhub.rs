//! Security Hub deliveries against moto server (issue #32): a GuardDuty finding that Security Hub
//! delivers (OCSF or ASFF) is decided from GuardDuty's own copy and contained once, whichever of it and
//! GuardDuty's own event arrives first; another product's finding is notified, never acted on;
//! Firebreak's own write-back, delivered back, changes nothing and costs no claim.

use crate::support::{finding, sample_event};
use crate::world::World;
use firebreak::report::{Outcome, Report};
use serde_json::Value;

/// The sample Security Hub delivery `name` about `instance` and GuardDuty finding `finding_id`.
fn delivery(name: &str, instance: &str, finding_id: &str) -> Value {
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
    assert_eq!(world.interface_groups(&victim).await, before);
}

#[tokio::test(flavor = "current_thread")]
async fn another_products_finding_is_notified_and_never_acted_on() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let before = world.interface_groups(&victim).await;
    let report = deliver(&world, delivery("asff-inspector-ec2-cve.json", &victim, "unused")).await;
    let names: Vec<&str> = report.actions.iter().map(|a| a.action).collect();
    assert_eq!(names, ["notify"], "{report:#?}");
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(world.interface_groups(&victim).await, before, "nothing acted on");
}

/// Security Hub delivers Firebreak's own write-back again (an updated finding is re-sent): its note
/// names the finding's update time, unchanged. Nothing happens, and no claim is written.
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
    let report = deliver(&world, echo).await;
    assert!(report.actions.is_empty(), "{report:#?}");
    let claim = format!("claim#incident#guardduty#123456789012#us-east-1#{finding_id}");
    assert!(world.state_item(&claim).await.is_none(), "no claim was written");
    assert!(!isolated_by(&report));
}
