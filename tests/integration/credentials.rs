//! Identity containment against moto server: the contained instance's role credentials are denied
//! wherever they are used (and only its own: proven with the IAM simulator), its metadata service is
//! off, what was there is recorded, and `release` puts it all back.

use crate::support::{finding, release, sample_event};
use crate::world::World;
use firebreak::incident::InstanceId;
use firebreak::report::Outcome;
use serde_json::{json, Value};

const ROLE: &str = "web-instance-role";

/// The sample exfiltration finding, about the session of `role` issued to `instance_id`: its principal
/// id is the role's unique id (as IAM has it, when the role exists) and the instance id.
async fn exfiltration(world: &World, instance_id: &str, role: &str) -> Value {
    let role_id = world.role_id(role).await.unwrap_or_else(|| "AROAEXAMPLE".to_owned());
    session_finding(instance_id, role, &role_id)
}

/// An `AccessKey` finding about a session of `role` (unique id `role_id`) named `session`.
fn session_finding(session: &str, role: &str, role_id: &str) -> Value {
    let instance_id = session;
    let text =
        std::fs::read_to_string(sample_event("guardduty/accesskey-credential-exfiltration.json")).expect("sample");
    let mut event: Value = serde_json::from_str(&text).expect("json");
    let key = &mut event["detail"]["resource"]["accessKeyDetails"];
    key["principalId"] = Value::from(format!("{role_id}:{instance_id}"));
    key["userName"] = Value::from(role);
    event["detail"]["id"] = Value::from(format!("exfiltration-{instance_id}"));
    event
}

fn instance_arn(id: &str) -> String {
    format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")
}

/// Would IAM allow a request signed with credentials issued to `instance` of a role holding an
/// allow-all policy and `deny` (the policy Firebreak wrote)?
fn simulated(deny: &Value, cases: &[(&str, &str, &str)]) -> String {
    let allow_all =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    crate::iam::simulate_direct(
        cases
            .iter()
            .map(|(label, instance, expect)| {
                json!({
                    "label": label,
                    "policies": [{"name": "app", "policy": allow_all}, {"name": "firebreak", "policy": deny}],
                    "action": "s3:GetObject",
                    "principal": format!("arn:aws:sts::123456789012:assumed-role/{ROLE}/{instance}"),
                    "resource": "arn:aws:s3:::payroll/2026.csv",
                    "account": "123456789012",
                    "context": {"ec2:SourceInstanceARN": instance_arn(instance)},
                    "expect": expect,
                })
            })
            .collect(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn containment_revokes_exactly_the_instances_credentials_and_release_restores_everything() {
    let world = World::seed().await;
    let victim = world.launch_with_role(ROLE, &[]).await;
    let neighbour = world.launch_with_role(ROLE, &[]).await;
    let (endpoint, tokens) = world.metadata_options(&victim).await;
    assert_eq!(endpoint, "enabled");

    let report = world.respond(finding(&victim, "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7"), &[]).await.remove(0);
    assert!(report.failures().is_empty(), "{report:#?}");
    assert!(report.outcome_of("revoke_instance_credentials").is_some_and(Outcome::is_done), "{report:#?}");

    let policy = format!("firebreak-revoke-{victim}");
    let deny = world.role_policy(ROLE, &policy).await.expect("the deny policy is on the role");
    assert_eq!(deny["Statement"][0]["Effect"], "Deny");
    assert_eq!(deny["Statement"][0]["Condition"]["StringEquals"]["ec2:SourceInstanceARN"], instance_arn(&victim));
    assert_eq!(world.metadata_options(&victim).await.0, "disabled", "nothing on it can fetch new credentials");
    assert_eq!(world.metadata_options(&neighbour).await.0, "enabled", "the neighbour's metadata service is untouched");
    let record = world.state_item(&format!("credentials#{victim}")).await.expect("what was there is recorded");
    assert_eq!(record["role"].as_s().map(String::as_str), Ok(ROLE));
    assert_eq!(record["metadata_enabled"].as_bool(), Ok(&true));

    // As IAM evaluates the role's policies: the victim's credentials are denied wherever used, the
    // neighbour's (same role) are not.
    let decisions = simulated(
        &deny,
        &[
            ("credentials issued to the contained instance", victim.as_str(), "Denied"),
            ("credentials issued to another instance of the role", neighbour.as_str(), "Allowed"),
        ],
    );
    assert!(decisions.contains("direct: 2 evaluated, 0 wrong"), "{decisions}");
    let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
    assert!(
        body.contains(&format!("role {ROLE}: inline policy {policy}")) && body.contains("undo: firebreak release"),
        "{body}"
    );

    let responder = world.responder(&[]).await;
    let released = release(&responder, &InstanceId::parse(&victim).expect("id")).await.expect("released");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert!(world.role_policy(ROLE, &policy).await.is_none(), "the deny policy is gone");
    assert_eq!(world.metadata_options(&victim).await, ("enabled".to_owned(), tokens), "the metadata service as it was");
    assert!(world.state_item(&format!("credentials#{victim}")).await.is_none(), "the record is forgotten");
}

#[tokio::test(flavor = "current_thread")]
async fn an_exfiltration_finding_revokes_without_isolating_by_default() {
    let world = World::seed().await;
    let victim = world.launch_with_role(ROLE, &[]).await;
    let before = world.interface_groups(&victim).await;
    let report = world.respond(exfiltration(&world, &victim, ROLE).await, &[]).await.remove(0);
    assert!(report.outcome_of("revoke_instance_credentials").is_some_and(Outcome::is_done), "{report:#?}");
    assert!(report.outcome_of("isolate_instance").is_none());
    assert_eq!(world.interface_groups(&victim).await, before, "the network is left as it was");
    assert!(world.role_policy(ROLE, &format!("firebreak-revoke-{victim}")).await.is_some());
    assert_eq!(world.notifications().await[0]["MessageAttributes"]["action"]["Value"], "revoked");

    // A finding naming another role than the instance's profile carries revokes nothing.
    let other = world.launch_with_role(ROLE, &[]).await;
    let report = world.respond(exfiltration(&world, &other, "some-other-role").await, &[]).await.remove(0);
    let Some(Outcome::Skipped { reason }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("nothing is revoked on a mismatch"), "{reason}");
    assert!(world.role_policy(ROLE, &format!("firebreak-revoke-{other}")).await.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn firebreaks_own_and_exempt_roles_are_refused_with_the_reason() {
    let world = World::seed().await;
    for (role, tags, why) in [
        ("firebreak-member", vec![], "one of Firebreak's own roles"),
        ("batch-role", vec![("firebreak:exempt", "batch")], "exemption tag firebreak:exempt=batch"),
    ] {
        let victim = world.launch_with_role(role, &tags).await;
        let report = world.respond(exfiltration(&world, &victim, role).await, &[]).await.remove(0);
        let Some(Outcome::Skipped { reason }) = report.outcome_of("revoke_instance_credentials") else {
            panic!("{role}: {report:#?}")
        };
        assert!(reason.contains(why), "{role}: {reason}");
        assert!(world.role_policy(role, &format!("firebreak-revoke-{victim}")).await.is_none(), "{role}");
        assert_eq!(world.metadata_options(&victim).await.0, "enabled", "{role}");
        let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
        assert!(body.contains(why), "{role}: the notification says why: {body}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_deployment_without_the_grant_reports_the_step_as_not_permitted() {
    let world = World::seed().await;
    let victim = world.launch_with_role(ROLE, &[]).await;
    let report = world
        .respond(
            finding(&victim, "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7"),
            &[("FIREBREAK_REVOKE_INSTANCE_CREDENTIALS", "false")],
        )
        .await
        .remove(0);
    let Some(Outcome::Skipped { reason }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.starts_with("not permitted by the deployment"), "{reason}");
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "containment goes on without it");
    assert!(world.role_policy(ROLE, &format!("firebreak-revoke-{victim}")).await.is_none());
}

/// Attack 4 of the trust issue: a session named after a victim instance, issued under another role
/// than the victim's profile role, is not that instance's credentials: IAM's role id decides, not the
/// name anyone may give a session.
#[tokio::test(flavor = "current_thread")]
async fn a_session_named_after_an_instance_is_not_its_credentials_unless_its_role_is_the_instances() {
    let world = World::seed().await;
    let victim = world.launch_with_role(ROLE, &[]).await;
    let attacker = world.launch_with_role("attacker-role", &[]).await;
    let attacker_role_id = world.role_id("attacker-role").await.expect("attacker role");
    // The finding names the victim's role (a role name is only a name) and the attacker's role id.
    let forged = session_finding(&victim, ROLE, &attacker_role_id);
    let report = world.respond(forged, &[]).await.remove(0);
    let Some(Outcome::Skipped { reason }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains(&format!("issued under role id {attacker_role_id}")), "{reason}");
    assert!(reason.contains("is not its credentials"), "{reason}");
    assert!(
        world.role_policy(ROLE, &format!("firebreak-revoke-{victim}")).await.is_none(),
        "nothing on the victim's role"
    );
    assert_eq!(world.metadata_options(&victim).await.0, "enabled", "the victim's metadata service is untouched");
    let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
    assert!(body.contains("is not its credentials"), "the notification says why: {body}");
    assert!(world.role_policy("attacker-role", &format!("firebreak-revoke-{attacker}")).await.is_none());
}
