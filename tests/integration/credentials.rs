//! Identity containment against moto server: the contained instance's role credentials are denied
//! wherever they are used (and only its own: proven with the IAM simulator), its metadata service is
//! off, what was there is recorded, and `release` puts it all back.

use crate::support::{finding, release, respond_to, sample_event};
use crate::world::World;
use firebreak::incident::InstanceId;
use firebreak::playbooks::{denies_instance, INSTANCES_POLICY};
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

/// Whether the policy Firebreak keeps on `role` denies the credentials of `instance`.
async fn denied(world: &World, role: &str, instance: &str) -> bool {
    let id = InstanceId::parse(instance).expect("id");
    world.role_policy(role, INSTANCES_POLICY).await.is_some_and(|doc| denies_instance(&doc.to_string(), &id))
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

    let policy = INSTANCES_POLICY;
    let deny = world.role_policy(ROLE, policy).await.expect("the deny policy is on the role");
    assert_eq!(deny["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        deny["Statement"][0]["Condition"]["StringLike"]["ec2:SourceInstanceARN"],
        json!([format!("*/{victim}")])
    );
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
        body.contains(&format!("role {ROLE}: inline policy {policy} now denies 1 instance(s) of the role, {victim}"))
            && body.contains("undo: firebreak release"),
        "{body}"
    );

    let responder = world.responder(&[]).await;
    let released = release(&responder, &InstanceId::parse(&victim).expect("id")).await.expect("released");
    assert!(released.failures().is_empty(), "{released:#?}");
    assert!(world.role_policy(ROLE, policy).await.is_none(), "no instance is denied on the role: the policy is gone");
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
    assert!(denied(&world, ROLE, &victim).await);
    assert_eq!(world.notifications().await[0]["MessageAttributes"]["action"]["Value"], "revoked");

    // A finding naming another role than the instance's profile carries revokes nothing.
    let other = world.launch_with_role(ROLE, &[]).await;
    let report = world.respond(exfiltration(&world, &other, "some-other-role").await, &[]).await.remove(0);
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("nothing is revoked on a mismatch"), "{reason}");
    assert!(!denied(&world, ROLE, &other).await);
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
        let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("revoke_instance_credentials") else {
            panic!("{role}: {report:#?}")
        };
        assert!(reason.contains(why), "{role}: {reason}");
        assert!(!denied(&world, role, &victim).await, "{role}");
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
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.starts_with("not permitted by the deployment"), "{reason}");
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "containment goes on without it");
    assert!(!denied(&world, ROLE, &victim).await);
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
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains(&format!("issued under role id {attacker_role_id}")), "{reason}");
    assert!(reason.contains("is not its credentials"), "{reason}");
    assert!(!denied(&world, ROLE, &victim).await, "nothing on the victim's role");
    assert_eq!(world.metadata_options(&victim).await.0, "enabled", "the victim's metadata service is untouched");
    let body = world.notifications().await[0]["Message"].as_str().expect("message").to_owned();
    assert!(body.contains("is not its credentials"), "the notification says why: {body}");
    assert!(!denied(&world, "attacker-role", &attacker).await);
}

/// Issue #44, hole 5: whoever may assume the instance's own role can name a session after the instance
/// and get exactly its role id. Outside GuardDuty's own instance-credential finding types, a session is
/// an instance's only when the role's trust policy admits EC2 alone: a finding on a session of a role
/// that others may assume revokes nothing on the instance, and says why; of an EC2-only role it does.
#[tokio::test(flavor = "current_thread")]
async fn a_session_of_a_role_others_may_assume_is_no_instances_credentials_without_guarddutys_word() {
    let world = World::seed().await;
    let shared_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let victim = world.launch(false, false).await.instance_id;
    world.give_role_trusting(&victim, "shared-role", &[], shared_trust).await;
    let ec2_only = world.launch_with_role(ROLE, &[]).await;
    // A real GuardDuty type for an anomalous use of a session, not one it raises for instance credentials.
    let anomalous = |instance: &str, role: &str, role_id: &str| {
        let mut event = session_finding(instance, role, role_id);
        event["detail"]["type"] = json!("CredentialAccess:IAMUser/AnomalousBehavior");
        event["detail"]["severity"] = json!(8.0);
        event
    };
    let shared_id = world.role_id("shared-role").await.expect("role");
    let report = world.respond(anomalous(&victim, "shared-role", &shared_id), &[]).await.remove(0);
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("may also be assumed by AWS arn:aws:iam::123456789012:root"), "{reason}");
    assert!(!denied(&world, "shared-role", &victim).await, "nothing on the role");
    assert_eq!(world.metadata_options(&victim).await.0, "enabled", "the instance's metadata service is untouched");
    world.notifications().await;

    let ec2_id = world.role_id(ROLE).await.expect("role");
    let report = world.respond(anomalous(&ec2_only, ROLE, &ec2_id), &[]).await.remove(0);
    assert!(report.outcome_of("revoke_instance_credentials").is_some_and(Outcome::is_done), "{report:#?}");
    assert!(denied(&world, ROLE, &ec2_only).await, "only EC2 may assume the role: the session is the instance's");
}

/// Revoke the credentials of each of `instances` (of role `ROLE`) through one responder, one after
/// another, as their exfiltration findings arrive at `clock`'s time.
async fn revoke_each(
    world: &World,
    instances: &[String],
    clock: firebreak::clock::Clock,
) -> Vec<firebreak::report::Report> {
    let responder = world.responder(&[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "10000")]).await;
    let role_id = world.role_id(ROLE).await.expect("role");
    let mut reports = Vec::new();
    for instance in instances {
        let event = session_finding(instance, ROLE, &role_id);
        world.guardduty_produced(&event);
        for incident in firebreak::lambda::incidents_of(event, &responder.config).expect("parses") {
            let now = clock.now().epoch;
            let plan =
                firebreak::playbooks::decide_with_state(&responder.state, &responder.config.policy, incident, now)
                    .await;
            reports.push(responder.respond(&plan, &clock, now + 900).await.expect("state table usable"));
        }
    }
    reports
}

/// Issue #30: one policy per instance filled IAM's 10,240 characters per role at about 40 revocations
/// (the emulator holds roles to that quota, as IAM does). One policy per role listing its instances
/// holds 250; the instances that no longer exist are dropped from it at the next revocation, and the
/// release of an instance that is gone works from its record.
#[tokio::test(flavor = "current_thread")]
async fn two_hundred_and_fifty_instances_of_one_role_are_denied_at_once_and_the_terminated_are_dropped() {
    let world = World::seed().await;
    let first = world.launch_with_role(ROLE, &[]).await;
    // A subnet of their own: the world's /24 has 251 addresses.
    let subnet = world.ec2.create_subnet().vpc_id(&world.vpc_id).cidr_block("10.0.16.0/20").send().await;
    let subnet = subnet.expect("subnet").subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned();
    let out = world
        .ec2
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(249)
        .max_count(249)
        .subnet_id(&subnet)
        .security_group_ids(&world.web_group)
        .send()
        .await
        .expect("249 more");
    let mut fleet = vec![first];
    fleet.extend(out.instances().iter().filter_map(|i| i.instance_id()).map(str::to_owned));
    assert_eq!(fleet.len(), 250);
    for instance in &fleet[1..] {
        world.give_role(instance, ROLE, &[]).await;
    }

    let reports = revoke_each(&world, &fleet, firebreak::clock::Clock::system()).await;
    for report in &reports {
        assert!(report.outcome_of("revoke_instance_credentials").is_some_and(Outcome::is_done), "{report:#?}");
    }
    let doc = world.role_policy(ROLE, INSTANCES_POLICY).await.expect("the role's policy");
    let listed = doc["Statement"][0]["Condition"]["StringLike"]["ec2:SourceInstanceARN"].as_array().map(Vec::len);
    assert_eq!(listed, Some(250), "every instance denied");
    assert!(firebreak::playbooks::policy_size(&doc.to_string()) <= firebreak::playbooks::ROLE_INLINE_POLICY_QUOTA);

    // Ten are terminated; the eleventh gone one is released before anything prunes it.
    let (gone, released) = (&fleet[1..11], &fleet[11]);
    let terminate = world.ec2.terminate_instances().set_instance_ids(Some(fleet[1..12].to_vec()));
    terminate.send().await.expect("terminated");
    let id = InstanceId::parse(released).expect("id");
    let report = release(&world.responder(&[]).await, &id).await.expect("a gone instance is released from its record");
    assert!(report.failures().is_empty(), "{report:#?}");
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("restore_metadata_service") else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("no longer exists"), "{reason}");
    assert!(!denied(&world, ROLE, released).await);
    assert!(world.state_item(&format!("credentials#{released}")).await.is_none(), "its record is forgotten");

    // The set is checked against EC2 at most hourly (the check describes every instance in it).
    let newcomer = world.launch_with_role(ROLE, &[]).await;
    let now = firebreak::clock::Clock::system().since_epoch();
    let soon = firebreak::clock::Clock::starting_at(now + std::time::Duration::from_secs(600));
    let report = revoke_each(&world, std::slice::from_ref(&newcomer), soon).await.remove(0);
    let Some(Outcome::Done { detail }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    assert!(
        detail.contains("now denies 250 instance(s) of the role, i-"),
        "not checked again within the hour: {detail}"
    );
    let later = firebreak::clock::Clock::starting_at(now + std::time::Duration::from_secs(2 * 3600));
    let another = world.launch_with_role(ROLE, &[]).await;
    let report = revoke_each(&world, std::slice::from_ref(&another), later).await.remove(0);
    let Some(Outcome::Done { detail }) = report.outcome_of("revoke_instance_credentials") else {
        panic!("{report:#?}")
    };
    let dropped =
        "now denies 241 instance(s) of the role, {another} among them (10 that no longer exist dropped from it)";
    assert!(detail.contains(&dropped.replace("{another}", &another)), "{detail}");
    assert!(denied(&world, ROLE, &newcomer).await && denied(&world, ROLE, &fleet[0]).await);
    for instance in gone {
        assert!(!denied(&world, ROLE, instance).await, "{instance} is gone: dropped");
    }
}

/// Two revocations on one role at once, interleaved the worst way: IAM cannot write conditionally, so
/// the whole of the other revocation (its set change, its policy write, its read-back) runs between this
/// one's set change and its policy write, and this one's policy, made from the older set, lands last. It
/// reads the set again, sees the newer version and writes once more. Neither is lost, and releasing one
/// keeps the other.
#[tokio::test(flavor = "current_thread")]
async fn two_concurrent_revocations_on_one_role_both_land() {
    let world = World::seed().await;
    let (a, b) = (world.launch_with_role(ROLE, &[]).await, world.launch_with_role(ROLE, &[]).await);
    let role_id = world.role_id(ROLE).await.expect("role");
    let proxy = crate::fault_proxy::FaultProxy::start(world.endpoint()).await;
    let (event_a, event_b) = (session_finding(&a, ROLE, &role_id), session_finding(&b, ROLE, &role_id));
    world.guardduty_produced(&event_a);
    world.guardduty_produced(&event_b);
    // Right before a's first policy write, b's revocation runs to its end, on a thread of its own
    // (its responder straight to the emulator): b's write lands first, a's after it.
    let other = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (sdk, config, kept) = (world.sdk.clone(), world.config(&[]), other.clone());
    proxy.before(
        "PutRolePolicy",
        Box::new(move || {
            Box::pin(async move {
                let (done, finished) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    let report = runtime.block_on(async {
                        let responder = firebreak::lambda::aws_responder(&sdk, config).await.expect("responder");
                        respond_to(&responder, event_b).await
                    });
                    let _ = done.send(report);
                });
                *kept.lock().expect("lock") = Some(finished.await.expect("b's revocation ran"));
            })
        }),
    );
    let ra = respond_to(&world.responder_via(&proxy, &[]).await, event_a).await;
    let rb = other.lock().expect("lock").take().expect("b ran inside a's revocation");
    for report in [&ra, &rb] {
        assert!(report.outcome_of("revoke_instance_credentials").is_some_and(Outcome::is_done), "{report:#?}");
    }
    assert_eq!(proxy.calls("PutRolePolicy"), 2, "a wrote again from the set b had changed");
    assert!(denied(&world, ROLE, &a).await && denied(&world, ROLE, &b).await, "both revocations stand");

    let id = InstanceId::parse(&a).expect("id");
    let report = release(&world.responder(&[]).await, &id).await.expect("released");
    assert!(report.failures().is_empty(), "{report:#?}");
    assert!(!denied(&world, ROLE, &a).await && denied(&world, ROLE, &b).await, "the other's revocation stands");
}
