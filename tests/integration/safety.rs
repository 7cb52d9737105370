//! The safety rails against moto server: the blast-radius cap, failing closed, dry run, exactly-once
//! effects under concurrent redelivery, and the gates that keep samples away from EC2 writes.

use crate::support::finding;
use crate::world::{World, TABLE};
use firebreak::incident::InstanceId;
use firebreak::ports::{Compute, ContainmentGroup, GroupRules, InstanceFacts, Revocation};
use firebreak::report::Outcome;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

async fn isolated(world: &World, instance_id: &str) -> bool {
    let isolation = world.group_by_role("firebreak-isolation").await;
    !isolation.is_empty() && world.interface_groups(instance_id).await.iter().all(|(_, g)| *g == isolation)
}

#[tokio::test(flavor = "current_thread")]
async fn ten_findings_with_a_cap_of_three_isolate_three_and_hold_back_seven() {
    let world = World::seed().await;
    let mut victims = Vec::new();
    for _ in 0..10 {
        victims.push(world.launch(false, false).await.instance_id);
    }
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "3")];
    let mut held = 0;
    for (n, id) in victims.iter().enumerate() {
        let report = world.respond(finding(id, &format!("finding{n:02}")), &cap).await.remove(0);
        if matches!(report.outcome_of("isolate_instance"), Some(Outcome::Skipped { reason, .. }) if reason.starts_with("held back: the blast-radius cap"))
        {
            held += 1;
        }
    }
    let mut contained = 0;
    for id in &victims {
        contained += usize::from(isolated(&world, id).await);
    }
    assert_eq!((contained, held), (3, 7));
    let notes = world.notifications().await;
    let circuit: Vec<&Value> = notes.iter().filter(|n| n["MessageAttributes"]["kind"]["Value"] == "circuit").collect();
    assert_eq!(circuit.len(), 1, "one circuit-open notification per window");
    assert_eq!(notes.len(), 11, "every incident is still notified, plus the circuit");
}

#[tokio::test(flavor = "current_thread")]
async fn without_its_state_table_firebreak_isolates_nothing_and_asks_for_a_retry() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    aws_sdk_dynamodb::Client::new(&world.sdk).delete_table().table_name(TABLE).send().await.expect("table deleted");
    let result = world.try_respond(finding(&victim.instance_id, "finding-no-table"), &[]).await;
    let err = result.expect_err("the event must be retried");
    assert!(matches!(err, firebreak::Error::State(_)) && err.is_retryable(), "{err}");
    assert_eq!(world.interface_groups(&victim.instance_id).await, before, "fail closed: no isolation");
    assert!(world.incident_snapshots("finding-no-table").await.is_empty());
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "a person is told");
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("state table is unavailable"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_dry_run_changes_nothing_in_the_emulator_and_says_so() {
    let world = World::seed().await;
    let victim = world.launch(true, true).await;
    world.give_role(&victim.instance_id, "web-instance-role", &[]).await;
    let tg = victim.target_group_arn.as_deref().expect("target group");
    let before = (
        world.service_state("ec2"),
        world.service_state("autoscaling"),
        without_health_reads(world.service_state("elbv2")),
        world.service_state("iam"),
    );
    let report = world
        .respond(finding(&victim.instance_id, "finding-dry-run"), &[("FIREBREAK_DRY_RUN", "true")])
        .await
        .remove(0);
    assert!(report.failures().is_empty(), "every DryRun call was accepted: {report:#?}");
    for action in report.actions.iter().filter(|a| a.action != "notify") {
        assert!(
            matches!(&action.outcome, Outcome::Skipped { reason, .. } if reason.starts_with("dry run: would have done this:")),
            "{action:?}"
        );
    }
    let after = (
        world.service_state("ec2"),
        world.service_state("autoscaling"),
        without_health_reads(world.service_state("elbv2")),
        world.service_state("iam"),
    );
    for (service, (b, a)) in ["ec2", "autoscaling", "elbv2", "iam"].iter().zip([
        (&before.0, &after.0),
        (&before.1, &after.1),
        (&before.2, &after.2),
        (&before.3, &after.3),
    ]) {
        assert_eq!(first_difference(b, a, service), None, "the dry run changed the emulator's state");
    }
    let deny = firebreak::playbooks::INSTANCES_POLICY;
    assert!(world.role_policy("web-instance-role", deny).await.is_none(), "no deny policy on its role");
    assert_eq!(world.metadata_options(&victim.instance_id).await.0, "enabled", "its metadata service still on");
    assert!(world.target_ids(tg).await.contains(&victim.instance_id), "still registered in its target group");
    assert!(world.in_auto_scaling_group(&victim.instance_id).await, "still in its Auto Scaling group");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["dry_run"]["Value"], "true");
}

#[tokio::test(flavor = "current_thread")]
async fn three_concurrent_deliveries_of_one_finding_give_one_set_of_effects() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let event = finding(&victim.instance_id, "finding-thrice");
    let (a, b, c) = tokio::join!(
        world.try_respond(event.clone(), &[]),
        world.try_respond(event.clone(), &[]),
        world.try_respond(event.clone(), &[])
    );
    // A delivery either acted, was told another run holds the finding (an error, retried later), or
    // arrived after the first finished and was answered "already handled": counted apart.
    let already_handled = |r: &firebreak::Result<Vec<firebreak::report::Report>>| {
        r.as_ref().is_ok_and(|reports| {
            reports[0]
                .actions
                .iter()
                .all(|x| matches!(&x.outcome, Outcome::Skipped { reason, .. } if reason.starts_with("already handled")))
        })
    };
    let acted = [&a, &b, &c].iter().filter(|r| r.is_ok() && !already_handled(r)).count();
    let held_elsewhere = [&a, &b, &c]
        .iter()
        .filter(|r| matches!(r, Err(e @ firebreak::Error::HeldElsewhere(_)) if e.is_retryable()))
        .count();
    let answered_done = [&a, &b, &c].iter().filter(|r| already_handled(r)).count();
    assert_eq!(acted, 1, "exactly one delivery claims the finding and acts");
    assert_eq!(held_elsewhere + answered_done, 2, "the others act on nothing: {a:?} {b:?} {c:?}");
    // The retries arrive after the first run finished.
    for _ in 0..2 {
        let again = world.respond(event.clone(), &[]).await.remove(0);
        assert!(again
            .actions
            .iter()
            .all(|x| matches!(&x.outcome, Outcome::Skipped { reason, .. } if reason.starts_with("already handled"))));
    }
    assert_eq!(world.incident_snapshots("finding-thrice").await.len(), world.volumes(&victim.instance_id).await.len());
    assert_eq!(world.notifications().await.len(), 1);
    assert!(isolated(&world, &victim.instance_id).await);
}

#[tokio::test(flavor = "current_thread")]
async fn the_init_warm_up_touches_the_table_once_and_never_fails_init() {
    let world = World::seed().await;
    let responder = world.responder(&[]).await;
    firebreak::lambda::warm_up(&responder).await;
    let ddb = aws_sdk_dynamodb::Client::new(&world.sdk);
    let item = ddb
        .get_item()
        .table_name(TABLE)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("warm-up".into()))
        .send()
        .await
        .expect("get");
    assert!(item.item().is_some(), "the warm-up wrote its item");
    ddb.delete_table().table_name(TABLE).send().await.expect("table deleted");
    let started = std::time::Instant::now();
    firebreak::lambda::warm_up(&responder).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "bounded");
}

/// moto's dump lists a `FakeHealthStatus` object for every DescribeTargetHealth answer it ever built,
/// so a read grows it. Target membership is asserted directly instead.
fn without_health_reads(mut elbv2: Value) -> Value {
    if let Value::Object(map) = &mut elbv2 {
        map.remove("FakeHealthStatus");
    }
    elbv2
}

/// The path of the first place where two JSON documents differ.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{path}.{key}")) {
                            return Some(d);
                        }
                    }
                    _ => return Some(format!("{path}.{key}: present on one side only")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(n, (p, q))| first_difference(p, q, &format!("{path}[{n}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {} -> {}", truncate(a), truncate(b))),
    }
}

fn truncate(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

/// Counts the EC2 calls that change something, passing every call on to the real adapter.
#[derive(Clone)]
struct CountingCompute<C> {
    inner: C,
    writes: Rc<Cell<usize>>,
}

impl<C: Compute> CountingCompute<C> {
    fn write(&self) {
        self.writes.set(self.writes.get() + 1);
    }
}

impl<C: Compute> Compute for CountingCompute<C> {
    async fn describe_instance(&self, id: &InstanceId) -> firebreak::Result<Option<InstanceFacts>> {
        self.inner.describe_instance(id).await
    }
    async fn create_containment_group(&self, vpc_id: &str, kind: ContainmentGroup) -> firebreak::Result<String> {
        self.write();
        self.inner.create_containment_group(vpc_id, kind).await
    }
    async fn group_rules(&self, group_id: &str) -> firebreak::Result<Option<GroupRules>> {
        self.inner.group_rules(group_id).await
    }
    async fn set_group_rules(
        &self,
        group_id: &str,
        current: &GroupRules,
        wanted: &GroupRules,
    ) -> firebreak::Result<()> {
        self.write();
        self.inner.set_group_rules(group_id, current, wanted).await
    }
    async fn set_interface_groups(&self, interface_id: &str, group_ids: &[String]) -> firebreak::Result<()> {
        self.write();
        self.inner.set_interface_groups(interface_id, group_ids).await
    }
    async fn protect_instance(&self, id: &InstanceId) -> firebreak::Result<()> {
        self.write();
        self.inner.protect_instance(id).await
    }
    async fn set_metadata_endpoint(
        &self,
        id: &InstanceId,
        enabled: bool,
        tokens: Option<&str>,
    ) -> firebreak::Result<()> {
        self.write();
        self.inner.set_metadata_endpoint(id, enabled, tokens).await
    }
    async fn instance_interfaces(&self, id: &InstanceId) -> firebreak::Result<Vec<firebreak::ports::InterfaceFacts>> {
        self.inner.instance_interfaces(id).await
    }
    async fn termination_protected(&self, id: &InstanceId) -> firebreak::Result<bool> {
        self.inner.termination_protected(id).await
    }
    async fn gone_instances(&self, ids: &[InstanceId]) -> firebreak::Result<std::collections::BTreeSet<InstanceId>> {
        self.inner.gone_instances(ids).await
    }
    async fn incident_snapshots(&self, id: &InstanceId, incident_id: &str) -> firebreak::Result<Vec<String>> {
        self.inner.incident_snapshots(id, incident_id).await
    }
    async fn snapshot_volumes(
        &self,
        id: &InstanceId,
        tags: &BTreeMap<String, String>,
    ) -> firebreak::Result<Vec<String>> {
        self.write();
        self.inner.snapshot_volumes(id, tags).await
    }
    async fn revoke_ingress(
        &self,
        group_id: &str,
        permission: &firebreak::incident::IngressPermission,
    ) -> firebreak::Result<Revocation> {
        self.write();
        self.inner.revoke_ingress(group_id, permission).await
    }
    async fn ingress_held(
        &self,
        group_id: &str,
        permissions: &[firebreak::incident::IngressPermission],
    ) -> firebreak::Result<Vec<bool>> {
        self.inner.ingress_held(group_id, permissions).await
    }
    async fn stop_instance(&self, id: &InstanceId, hibernate: bool) -> firebreak::Result<()> {
        self.write();
        self.inner.stop_instance(id, hibernate).await
    }
    async fn tag(&self, resource_id: &str, tags: &BTreeMap<String, String>) -> firebreak::Result<()> {
        self.write();
        self.inner.tag(resource_id, tags).await
    }
    async fn untag(&self, resource_id: &str, keys: &[String]) -> firebreak::Result<()> {
        self.write();
        self.inner.untag(resource_id, keys).await
    }
}

#[tokio::test(flavor = "current_thread")]
async fn samples_archived_and_low_severity_findings_never_reach_an_ec2_write() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let real = world.responder(&[]).await;
    let writes = Rc::new(Cell::new(0));
    let (ec2, fleet) = real.targets.home();
    let responder = firebreak::playbooks::Responder {
        targets: firebreak::ports::FixedTarget(CountingCompute { inner: ec2, writes: writes.clone() }, fleet),
        notifier: real.notifier,
        state: real.state,
        config: real.config,
        approvals: None,
        handoff: None,
    };
    let mut sample = finding(&victim.instance_id, "finding-sample");
    sample["detail"]["service"]["additionalInfo"] =
        serde_json::json!({"value": "{\"sample\":true}", "type": "default"});
    let mut archived = finding(&victim.instance_id, "finding-archived");
    archived["detail"]["service"]["archived"] = Value::from(true);
    let mut low = finding(&victim.instance_id, "finding-low");
    low["detail"]["severity"] = Value::from(5.5);
    let clock = firebreak::clock::Clock::system();
    for event in [sample, archived, low] {
        let incident = firebreak::parse_value(event).expect("parses").remove(0);
        let plan = firebreak::decide(&incident, &responder.config.policy);
        responder.respond(&plan, &clock, clock.now().epoch + 900).await.expect("handled");
    }
    assert_eq!(writes.get(), 0);
    // The counter does count: a real high-severity finding goes through it.
    let real = finding(&victim.instance_id, "finding-real");
    world.guardduty_produced(&real);
    let incident = firebreak::parse_value(real).expect("parses").remove(0);
    let plan = firebreak::decide(&incident, &responder.config.policy);
    responder.respond(&plan, &clock, clock.now().epoch + 900).await.expect("handled");
    assert!(writes.get() > 0);
}
