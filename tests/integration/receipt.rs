//! The receipt of a containment against moto server (issue #30): every way out of the instance read
//! back after the steps; a world changed behind Firebreak's back between the swap and the read-back is
//! found, repaired once and read again, or the step fails (retryable, critical), never reported done.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::{finding, respond_to};
use crate::world::World;
use firebreak::receipt::{Channel, ChannelState, Receipt};
use firebreak::report::{Outcome, Report};

const ROLE: &str = "web-instance-role";
const FINDING: &str = "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7";

/// The world is changed right before the evidence snapshot: after the swap, before the read-back (the
/// snapshot is taken beside the other evidence steps, which all end before the receipt starts).
const TAMPER_BEFORE: &str = "CreateSnapshots";

/// A running instance with two interfaces, in an Auto Scaling group, whose profile carries `ROLE`.
async fn victim(world: &World) -> String {
    let victim = world.launch(true, true).await.instance_id;
    world.give_role(&victim, ROLE, &[]).await;
    victim
}

/// Contain `instance` through `proxy`, GuardDuty having produced the finding.
async fn contain_via(world: &World, proxy: &FaultProxy, instance: &str) -> Report {
    let event = finding(instance, FINDING);
    world.guardduty_produced(&event);
    respond_to(&world.responder_via(proxy, &[]).await, event).await
}

fn states(receipt: &Receipt, channel: Channel) -> Vec<ChannelState> {
    receipt.channels.iter().filter(|c| c.channel == channel).map(|c| c.state).collect()
}

/// Between the swap and the read-back, someone attaches a new interface (in the web group) to `instance`;
/// its id is in the returned cell once attached.
fn attach_late(world: &World, proxy: &FaultProxy, instance: &str) -> std::sync::Arc<std::sync::Mutex<String>> {
    let (ec2, subnet, web, instance) =
        (world.ec2.clone(), world.subnet_id.clone(), world.web_group.clone(), instance.to_owned());
    let late = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = late.clone();
    proxy.before(
        TAMPER_BEFORE,
        Box::new(move || {
            Box::pin(async move {
                let eni = ec2.create_network_interface().subnet_id(subnet).groups(web).send().await.expect("eni");
                let eni = eni.network_interface().and_then(|n| n.network_interface_id()).expect("id").to_owned();
                let attach = ec2.attach_network_interface().network_interface_id(&eni).instance_id(instance);
                attach.device_index(2).send().await.expect("attached late");
                *seen.lock().expect("lock") = eni;
            })
        }),
    );
    late
}

/// The isolation group Firebreak recorded for the world's VPC.
async fn isolation_group(world: &World) -> String {
    world.recorded_groups("isolation").await.pop().expect("an isolation group is recorded")
}

#[tokio::test(flavor = "current_thread")]
async fn a_clean_containment_reads_every_channel_back_closed_and_names_what_stays_open() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let report = world.respond(finding(&victim, FINDING), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    let Some(Outcome::Done { detail }) = report.outcome_of("verify_containment") else { panic!("{report:#?}") };
    assert!(detail.contains("7 channel(s) of") && detail.contains("read back closed at"), "{detail}");
    let [receipt] = report.receipts.as_slice() else { panic!("one receipt: {report:#?}") };
    assert_eq!(receipt.instance, victim);
    assert_eq!(states(receipt, Channel::NetworkInterface), [ChannelState::Verified; 2], "both interfaces");
    for channel in [
        Channel::IsolationGroup,
        Channel::RoleCredentials,
        Channel::MetadataService,
        Channel::AutoScaling,
        Channel::TerminationProtection,
    ] {
        assert_eq!(states(receipt, channel), [ChannelState::Verified], "{channel:?}: {receipt:#?}");
    }
    for channel in [Channel::TimeSync, Channel::Dns, Channel::OutsideAws] {
        assert_eq!(states(receipt, channel), [ChannelState::Open], "named as open: {channel:?}");
    }
    // Where the team reads it: the notification, and the incident's record (`incidents show`).
    let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
    assert!(body.contains(&format!("Receipt for {victim} (read back at {}):", receipt.read_at)), "{body}");
    assert!(body.contains("- DNS: open (Firebreak cannot close it): "), "{body}");
    let key = format!("claim#{}", report.incident_key);
    let item = world.state_item(&key).await.expect("claim");
    let record: firebreak::report::IncidentRecord =
        serde_json::from_str(item["record"].as_s().expect("record")).expect("record JSON");
    assert_eq!(record.receipts, report.receipts);
    let stored = firebreak::report::StoredIncident {
        key: report.incident_key.clone(),
        status: "done".into(),
        record,
        later: Vec::new(),
    };
    let shown = firebreak::history::timeline(&stored);
    assert!(shown.contains("- isolation group sg-") && shown.contains(": verified closed: no ingress"), "{shown}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_rule_added_to_the_isolation_group_after_the_swap_is_found_and_revoked() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    let ec2 = world.ec2.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(&world.sdk);
    proxy.before(
        TAMPER_BEFORE,
        Box::new(move || {
            Box::pin(async move {
                let group = World::recorded_groups_in(&dynamodb, "isolation").await.pop().expect("isolation group");
                let ssh = aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build();
                ec2.authorize_security_group_ingress().group_id(group).ip_permissions(ssh).send().await.expect("rule");
            })
        }),
    );
    let report = contain_via(&world, &proxy, &victim).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let receipt = &report.receipts[0];
    assert_eq!(states(receipt, Channel::IsolationGroup), [ChannelState::Repaired], "{receipt:#?}");
    assert_eq!(world.rule_counts(&isolation_group(&world).await).await, (0, 0), "the rule is gone");
    let Some(Outcome::Done { detail }) = report.outcome_of("verify_containment") else { panic!("{report:#?}") };
    assert!(detail.contains("1 of them after a repair"), "{detail}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_interface_attached_after_the_describe_is_isolated_with_its_groups_recorded() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    let late = attach_late(&world, &proxy, &victim);
    let report = contain_via(&world, &proxy, &victim).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let late = late.lock().expect("lock").clone();
    let receipt = &report.receipts[0];
    let check = receipt.channels.iter().find(|c| c.target.as_deref() == Some(late.as_str())).expect("late interface");
    assert_eq!(check.state, ChannelState::Repaired, "{receipt:#?}");
    let isolation = isolation_group(&world).await;
    let groups = world.interface_groups(&victim).await;
    assert!(groups.iter().all(|(_, g)| *g == [isolation.clone()]), "every interface isolated: {groups:?}");
    let record = world.state_item(&format!("quarantine#{victim}")).await.expect("quarantine record");
    let recorded = record.get(&format!("eni#{late}")).and_then(|v| v.as_s().ok()).cloned();
    assert_eq!(recorded, Some(world.web_group.clone()), "release can put its groups back");
}

#[tokio::test(flavor = "current_thread")]
async fn a_deny_removed_by_someone_else_is_put_back() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    let iam = aws_sdk_iam::Client::new(&world.sdk);
    proxy.before(
        TAMPER_BEFORE,
        Box::new(move || {
            Box::pin(async move {
                let delete =
                    iam.delete_role_policy().role_name(ROLE).policy_name(firebreak::playbooks::INSTANCES_POLICY);
                delete.send().await.expect("removed behind Firebreak's back");
            })
        }),
    );
    let report = contain_via(&world, &proxy, &victim).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(states(&report.receipts[0], Channel::RoleCredentials), [ChannelState::Repaired]);
    let doc = world.role_policy(ROLE, firebreak::playbooks::INSTANCES_POLICY).await.expect("the deny is back");
    let id = firebreak::incident::InstanceId::parse(&victim).expect("id");
    assert!(firebreak::playbooks::denies_instance(&doc.to_string(), &id));
}

/// A channel that cannot be repaired (the swap of the late interface is refused) fails the step, as
/// retryable, and makes the notification critical: never reported as done.
#[tokio::test(flavor = "current_thread")]
async fn a_channel_that_stays_open_fails_the_step_loudly_and_a_retry_closes_it() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    attach_late(&world, &proxy, &victim);
    // Two interfaces, two swaps each: the fifth regrouping is the repair's.
    proxy.inject("ModifyNetworkInterfaceAttribute", Fault::Deny, 4, None);
    let report = contain_via(&world, &proxy, &victim).await;
    let Some(Outcome::Failed { error }) = report.outcome_of("verify_containment") else { panic!("{report:#?}") };
    assert!(error.is_retryable(), "a redelivery repairs again: {error}");
    assert!(error.to_string().starts_with("NOT VERIFIED CLOSED: network interface eni-"), "{error}");
    assert_eq!(report.severity, firebreak::incident::SeverityLabel::Critical);
    assert!(report.reasons[0].starts_with("CRITICAL: read back after containment"), "{:?}", report.reasons);
    let receipt = &report.receipts[0];
    let open: Vec<_> = receipt.left_open().iter().map(|c| c.detail.clone()).collect();
    assert_eq!(open.len(), 1, "{receipt:#?}");
    assert!(open[0].contains("the repair failed: AWS ModifyNetworkInterfaceAttribute failed"), "{open:?}");
    let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
    assert!(body.contains("OPEN (could not be closed)"), "{body}");

    // The redelivery, with EC2 answering again, closes it.
    proxy.clear();
    let report = contain_via(&world, &proxy, &victim).await;
    assert!(report.outcome_of("verify_containment").is_some_and(Outcome::is_done), "{report:#?}");
    let isolation = isolation_group(&world).await;
    assert!(world.interface_groups(&victim).await.iter().all(|(_, g)| *g == [isolation.clone()]));
}

/// Issue #30: the receipt and the new steps come after the cut, so nothing is added before the first
/// swap: every call they make reaches AWS (the proxy) after the first `ModifyNetworkInterfaceAttribute`.
#[tokio::test(flavor = "current_thread")]
async fn the_receipt_and_the_dns_cut_come_after_the_first_swap() {
    let world = World::seed().await;
    let victim = victim(&world).await;
    let proxy = FaultProxy::start(world.endpoint()).await;
    let report = contain_via(&world, &proxy, &victim).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    assert!(report.outcome_of("block_domain").is_some_and(Outcome::is_done), "{report:#?}");
    let first_swap = proxy.first("ModifyNetworkInterfaceAttribute").expect("swapped");
    for action in [
        "DescribeNetworkInterfaces",
        "DescribeInstanceAttribute",
        "GetRolePolicy",
        "CreateFirewallDomainList",
        "UpdateFirewallDomains",
        "AssociateFirewallRuleGroup",
        "ListFirewallDomains",
    ] {
        let at = proxy.first(action).unwrap_or_else(|| panic!("{action} was called"));
        assert!(at > first_swap, "{action} (call {at}) before the first swap (call {first_swap})");
    }
}
