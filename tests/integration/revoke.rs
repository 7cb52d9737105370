//! The CloudTrail responder's one remediation against moto server: a world-open ingress rule is
//! revoked, and only that rule.

use crate::support::sample_event;
use crate::world::World;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use firebreak::report::{Outcome, Report};
use serde_json::Value;

fn open_ssh_event(group_id: &str, rule_id: Option<&str>) -> Value {
    let text = std::fs::read_to_string(sample_event("cloudtrail/sg-open-ssh-to-world.json")).expect("sample");
    let mut event: Value = serde_json::from_str(&text.replace("sg-0123456789abcdef0", group_id)).expect("json");
    let rules = &mut event["detail"]["responseElements"]["securityGroupRuleSet"]["items"];
    match rule_id {
        Some(id) => rules[0]["securityGroupRuleId"] = Value::from(id),
        None => *rules = Value::Array(vec![]),
    }
    event
}

async fn respond(world: &World, event: Value, extra: &[(&str, &str)]) -> Report {
    world.respond(event, extra).await.remove(0)
}

/// A group with three rules: SSH from the internet (the offence), HTTPS from the internet, SSH from inside.
async fn exposed_group(world: &World) -> String {
    let id = world.exposed_group("exposed").await;
    let rule = |port: i32, cidr: &str| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    };
    world
        .ec2
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(rule(443, "0.0.0.0/0"))
        .ip_permissions(rule(22, "10.0.0.0/8"))
        .send()
        .await
        .expect("ingress");
    id
}

/// The id EC2 gave the group's SSH ingress rule from `cidr`.
async fn ssh_rule_id(world: &World, group_id: &str, cidr: &str) -> String {
    let rules = world
        .ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(group_id).build())
        .send()
        .await
        .expect("rules");
    rules
        .security_group_rules()
        .iter()
        .find(|r| r.is_egress() == Some(false) && r.from_port() == Some(22) && r.cidr_ipv4() == Some(cidr))
        .and_then(|r| r.security_group_rule_id())
        .unwrap_or_else(|| panic!("an SSH rule from {cidr}"))
        .to_owned()
}

/// (port, cidr) of every ingress rule of the group, sorted.
async fn ingress(world: &World, group_id: &str) -> Vec<(i32, String)> {
    let out = world.ec2.describe_security_groups().group_ids(group_id).send().await.expect("group");
    let mut rules: Vec<(i32, String)> = out.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(move |r| (p.from_port().unwrap_or(-1), r.cidr_ip().unwrap_or_default().to_owned()))
        })
        .collect();
    rules.sort();
    rules
}

#[tokio::test(flavor = "current_thread")]
async fn revokes_only_the_world_open_ssh_rule_and_tags_the_group() {
    let world = World::seed().await;
    let group = exposed_group(&world).await;
    let report = respond(&world, open_ssh_event(&group, None), &[]).await;
    assert!(matches!(report.outcome_of("revoke_security_group_ingress"), Some(Outcome::Done { .. })), "{report:#?}");
    assert_eq!(ingress(&world, &group).await, vec![(22, "10.0.0.0/8".to_owned()), (443, "0.0.0.0/0".to_owned())]);
    let tags = world.tags(&group).await;
    assert!(tags.get("firebreak:revoked").is_some_and(|t| t.contains("tcp/22 from 0.0.0.0/0")), "{tags:?}");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["action"]["Value"], "revoked");
}

#[tokio::test(flavor = "current_thread")]
async fn revokes_by_security_group_rule_id_when_the_event_has_one() {
    let world = World::seed().await;
    let group = exposed_group(&world).await;
    let rule_id = ssh_rule_id(&world, &group, "0.0.0.0/0").await;
    let report = respond(&world, open_ssh_event(&group, Some(&rule_id)), &[]).await;
    match report.outcome_of("revoke_security_group_ingress") {
        Some(Outcome::Done { detail }) => assert!(detail.contains(&rule_id), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ingress(&world, &group).await, vec![(22, "10.0.0.0/8".to_owned()), (443, "0.0.0.0/0".to_owned())]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_rule_that_is_already_gone_is_an_outcome_not_an_error() {
    let world = World::seed().await;
    let group = exposed_group(&world).await;
    respond(&world, open_ssh_event(&group, None), &[]).await;
    let mut again = open_ssh_event(&group, None);
    again["detail"]["eventID"] = Value::from("f0f0f0f0-0000-4000-8000-000000000001");
    let report = respond(&world, again, &[]).await;
    assert!(
        matches!(report.outcome_of("revoke_security_group_ingress"), Some(Outcome::Skipped { reason, .. }) if reason.starts_with("already gone")),
        "{report:#?}"
    );
    assert!(report.failures().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_change_made_by_firebreaks_own_role_is_left_alone() {
    let world = World::seed().await;
    let group = exposed_group(&world).await;
    let mut event = open_ssh_event(&group, None);
    event["detail"]["userIdentity"] = serde_json::json!({
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/firebreak-cloudtrail-responder/i-session",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/firebreak-cloudtrail-responder"}}
    });
    let report = respond(
        &world,
        event,
        &[("FIREBREAK_SELF_ROLE_ARN", "arn:aws:iam::123456789012:role/firebreak-cloudtrail-responder")],
    )
    .await;
    assert!(report.actions.is_empty(), "{report:#?}");
    assert_eq!(ingress(&world, &group).await.len(), 3, "nothing revoked");
    assert!(world.notifications().await.is_empty());
}

/// Firebreak's own untracking group opens all traffic to the world on purpose; the cloudtrail-responder
/// must recognise the member role that created it, and nobody else by name.
#[tokio::test(flavor = "current_thread")]
async fn the_member_roles_own_rules_are_left_alone_but_a_look_alike_role_is_not_firebreak() {
    let world = World::seed().await;
    let by = |issuer: &str| {
        serde_json::json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/firebreak-member/firebreak",
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer, "accountId": "123456789012"}}
        })
    };
    let accounts = [("FIREBREAK_ACCOUNTS", "123456789012")];
    let own = exposed_group(&world).await;
    let mut event = open_ssh_event(&own, None);
    event["detail"]["userIdentity"] = by("arn:aws:iam::123456789012:role/firebreak-member");
    assert!(respond(&world, event, &accounts).await.actions.is_empty());
    assert_eq!(ingress(&world, &own).await.len(), 3, "Firebreak's own rules stand");

    let other = world.exposed_group("look-alike").await;
    let mut event = open_ssh_event(&other, None);
    event["detail"]["userIdentity"] = by("arn:aws:iam::123456789012:role/tools/firebreak-member");
    let report = respond(&world, event, &accounts).await;
    assert!(report.outcome_of("revoke_security_group_ingress").is_some_and(Outcome::is_done), "{report:#?}");
}

/// The revocation acts only on the rule ids the group holds now as the event describes them: an event
/// (forged, say, by whoever may invoke the function) that names the id of the group's legitimate SSH
/// rule from inside beside a world-open range revokes only what is world-open.
#[tokio::test(flavor = "current_thread")]
async fn a_rule_id_the_group_holds_otherwise_is_never_revoked_by_its_id() {
    let world = World::seed().await;
    let group = exposed_group(&world).await;
    let inside = ssh_rule_id(&world, &group, "10.0.0.0/8").await;
    let report = respond(&world, open_ssh_event(&group, Some(&inside)), &[]).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    assert_eq!(
        ingress(&world, &group).await,
        vec![(22, "10.0.0.0/8".to_owned()), (443, "0.0.0.0/0".to_owned())],
        "the world-open SSH rule is gone, the rule the forged id names is not"
    );
}

/// A group with HTTPS from the internet and SSH from inside only.
async fn inside_ssh_group(world: &World) -> String {
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build());
    let id = world.group_with("pieces", https.build()).await;
    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build());
    world.ec2.authorize_security_group_ingress().group_id(&id).ip_permissions(ssh.build()).send().await.expect("ssh");
    id
}

/// An `AuthorizeSecurityGroupIngress` of SSH from `cidrs` on `group_id` (its own event id), as
/// CloudTrail records it; the rules are added to the group too when `real`.
async fn open_ssh_from(world: &World, group_id: &str, cidrs: &[&str], event_id: &str, real: bool) -> Value {
    let mut event = open_ssh_event(group_id, None);
    event["detail"]["eventID"] = Value::from(event_id);
    let ranges: Vec<Value> = cidrs.iter().map(|c| serde_json::json!({"cidrIp": c})).collect();
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"] = Value::from(ranges);
    if real {
        let ranges: Vec<IpRange> = cidrs.iter().map(|c| IpRange::builder().cidr_ip(*c).build()).collect();
        let ssh = IpPermission::builder().ip_protocol("tcp").from_port(22).to_port(22).set_ip_ranges(Some(ranges));
        world
            .ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(ssh.build())
            .send()
            .await
            .expect("ingress");
    }
    event
}

/// Attack 6 of the trust issue: SSH opened to the whole IPv4 Internet in two calls of two quarters
/// each. Neither call alone is the world or half of it in one range, so the first is quiet; the second,
/// judged with what the first added (remembered in the state table), is, and all four ranges go.
#[tokio::test(flavor = "current_thread")]
async fn the_internet_opened_in_pieces_by_separate_calls_is_revoked_whole() {
    let world = World::seed().await;
    let group = inside_ssh_group(&world).await;
    let first =
        open_ssh_from(&world, &group, &["0.0.0.0/2", "64.0.0.0/2"], "c0ffee00-0000-4000-8000-000000000001", true).await;
    let report = respond(&world, first, &[]).await;
    assert_eq!(report.decision, firebreak::plan::Decision::Ignore, "{report:#?}");
    assert!(world.notifications().await.is_empty(), "half the Internet in quarters alone is quiet");

    let second =
        open_ssh_from(&world, &group, &["128.0.0.0/2", "192.0.0.0/2"], "c0ffee00-0000-4000-8000-000000000002", true)
            .await;
    let report = respond(&world, second, &[]).await;
    assert!(matches!(report.outcome_of("revoke_security_group_ingress"), Some(Outcome::Done { .. })), "{report:#?}");
    assert_eq!(
        ingress(&world, &group).await,
        vec![(22, "10.0.0.0/8".to_owned()), (443, "0.0.0.0/0".to_owned())],
        "every quarter of both calls is revoked, nothing else"
    );
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["action"]["Value"], "revoked");
    let text = notes[0]["Message"].as_str().unwrap_or_default();
    assert!(text.contains("tcp/22 from 0.0.0.0/2 (added by an earlier call)"), "{text}");
}

/// A forged "earlier call" (a direct invoke of ranges the group never held) must not get a real, narrow
/// rule revoked: ranges judged together are revoked only when the group holds every one of them now;
/// otherwise the judgment is notified for a person, and the group is left as it is.
#[tokio::test(flavor = "current_thread")]
async fn ranges_judged_together_are_revoked_only_when_the_group_holds_them_all() {
    let world = World::seed().await;
    let group = inside_ssh_group(&world).await;
    let forged =
        open_ssh_from(&world, &group, &["0.0.0.0/2", "64.0.0.0/2"], "c0ffee00-0000-4000-8000-000000000003", false)
            .await;
    respond(&world, forged, &[]).await;
    let real =
        open_ssh_from(&world, &group, &["128.0.0.0/2", "192.0.0.0/2"], "c0ffee00-0000-4000-8000-000000000004", true)
            .await;
    let report = respond(&world, real, &[]).await;
    match report.outcome_of("revoke_security_group_ingress") {
        Some(Outcome::Skipped { reason, .. }) => {
            assert!(reason.contains("does not hold now (tcp/22 from 0.0.0.0/2, tcp/22 from 64.0.0.0/2)"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ingress(&world, &group).await,
        vec![
            (22, "10.0.0.0/8".to_owned()),
            (22, "128.0.0.0/2".to_owned()),
            (22, "192.0.0.0/2".to_owned()),
            (443, "0.0.0.0/0".to_owned())
        ]
    );
    assert_eq!(world.notifications().await.len(), 1, "the judgment is for a person to look at");
}
