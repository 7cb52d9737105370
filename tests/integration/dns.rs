//! DNS cut against moto server (issue #30): a finding that names a domain gets it blocked by Route 53
//! Resolver DNS Firewall in the instance's VPC (security groups cannot filter the VPC resolver), once per
//! VPC, capped per hour, and the block outlives a release. A domain that must never be blocked (an AWS
//! service domain, a public suffix) is named and left alone.

use crate::support::{release, sample_event};
use crate::world::World;
use firebreak::report::Outcome;
use serde_json::Value;

/// The sample C&C finding (its `service.action.dnsRequestAction`, as the GuardDuty API reference's
/// `DnsRequestAction`), about `instance`, naming `domain`.
fn dns_finding(instance: &str, finding_id: &str, domain: &str) -> Value {
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    let mut event: Value = serde_json::from_str(&text).expect("json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = Value::from(instance);
    event["detail"]["id"] = Value::from(finding_id);
    event["detail"]["service"]["action"]["dnsRequestAction"]["domain"] = Value::from(domain);
    event
}

/// The DNS Firewall state of the world's account and region: every domain list's names, and the VPCs
/// each rule group is associated with.
async fn firewall(world: &World) -> (Vec<String>, Vec<(String, String)>) {
    let resolver = aws_sdk_route53resolver::Client::new(&world.sdk);
    let associations = resolver.list_firewall_rule_group_associations().send().await.expect("associations");
    let associated: Vec<(String, String)> = associations
        .firewall_rule_group_associations()
        .iter()
        .map(|a| (a.firewall_rule_group_id().unwrap_or_default().to_owned(), a.vpc_id().unwrap_or_default().to_owned()))
        .collect();
    let mut domains = Vec::new();
    for (group, _) in &associated {
        let rules = resolver.list_firewall_rules().firewall_rule_group_id(group).send().await.expect("rules");
        for rule in rules.firewall_rules() {
            assert_eq!(rule.action().map(|a| a.as_str()), Some("BLOCK"));
            assert_eq!(rule.block_response().map(|b| b.as_str()), Some("NXDOMAIN"));
            let list = rule.firewall_domain_list_id().expect("list");
            let out = resolver.list_firewall_domains().firewall_domain_list_id(list).send().await.expect("domains");
            domains.extend(out.domains().iter().cloned());
        }
    }
    domains.sort();
    domains.dedup();
    (domains, associated)
}

#[tokio::test(flavor = "current_thread")]
async fn a_dns_command_and_control_domain_is_blocked_in_the_instances_vpc_once_and_outlives_release() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await.instance_id;
    let report =
        world.respond(dns_finding(&victim, "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1", "c2.evil-example.net"), &[]).await;
    let report = &report[0];
    assert!(report.failures().is_empty(), "{report:#?}");
    let Some(Outcome::Done { detail }) = report.outcome_of("block_domain") else { panic!("{report:#?}") };
    assert!(detail.contains("answered NXDOMAIN") && detail.contains(&world.vpc_id), "{detail}");
    let (domains, associated) = firewall(&world).await;
    assert_eq!(domains, ["*.c2.evil-example.net.", "c2.evil-example.net."], "as DNS Firewall answers them");
    assert_eq!(associated.len(), 1);
    assert_eq!(associated[0].1, world.vpc_id, "associated with the instance's VPC");
    // The receipt names the block in its DNS channel: the VPC resolver still answers every other name.
    let dns = report.receipts[0].channels.iter().find(|c| c.channel == firebreak::receipt::Channel::Dns).expect("dns");
    assert!(
        dns.detail
            .contains("c2.evil-example.net and every name under it are on Firebreak's DNS Firewall list (read back)"),
        "{}",
        dns.detail
    );

    // A second instance of the same VPC, another domain: the same list and rule group, no second association.
    let other = world.launch(false, false).await.instance_id;
    world.respond(dns_finding(&other, "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2", "exfil.evil-example.org"), &[]).await;
    let (domains, associated) = firewall(&world).await;
    assert_eq!(domains.len(), 4, "{domains:?}");
    assert_eq!(associated.len(), 1, "one association per VPC");

    // Release ends the quarantine, not the block: it says how to lift it.
    let id = firebreak::incident::InstanceId::parse(&victim).expect("id");
    let released = release(&world.responder(&[]).await, &id).await.expect("released");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert!(firewall(&world).await.0.contains(&"c2.evil-example.net.".to_owned()), "still blocked after release");
}

#[tokio::test(flavor = "current_thread")]
async fn an_aws_service_domain_or_a_public_suffix_is_never_blocked_and_the_hourly_cap_holds() {
    let world = World::seed().await;
    for (n, (domain, why)) in
        [("s3.us-east-1.amazonaws.com", "AWS's service domains"), ("co.uk", "public suffix")].into_iter().enumerate()
    {
        let victim = world.launch(false, false).await.instance_id;
        let report = world
            .respond(
                dns_finding(
                    &victim,
                    &format!("e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}"),
                    domain,
                ),
                &[],
            )
            .await;
        assert!(report[0].outcome_of("block_domain").is_none(), "not planned: {report:#?}");
        assert!(report[0].reasons.iter().any(|r| r.contains(why)), "{:?}", report[0].reasons);
        assert!(report[0].outcome_of("isolate_instance").is_some_and(Outcome::is_done), "contained all the same");
    }
    assert!(firewall(&world).await.0.is_empty(), "nothing blocked");

    let cap = [("FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR", "1")];
    let first = world.launch(false, false).await.instance_id;
    world.respond(dns_finding(&first, "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1", "one.evil-example.net"), &cap).await;
    let second = world.launch(false, false).await.instance_id;
    let report =
        world.respond(dns_finding(&second, "f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2", "two.evil-example.net"), &cap).await;
    let Some(Outcome::Skipped { reason, .. }) = report[0].outcome_of("block_domain") else { panic!("{report:#?}") };
    assert!(reason.starts_with("held back: the cap of 1 blocked domain(s) per hour"), "{reason}");
    // The receipt says exactly that: the domain is not blocked.
    let dns = report[0].receipts[0].channels.iter().find(|c| c.channel == firebreak::receipt::Channel::Dns);
    let detail = &dns.expect("dns").detail;
    assert!(
        detail.contains("two.evil-example.net, which the finding names, is not on Firebreak's DNS Firewall list"),
        "{detail}"
    );
    assert_eq!(firewall(&world).await.0, ["*.one.evil-example.net.", "one.evil-example.net."]);
}
