//! The executor with fake ports, in virtual time (tokio's paused clock): the order and concurrency of
//! the phases, the settle wait, the deadline, and which failures a retry can fix.

use super::Responder;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::incident::{IngressPermission, InstanceId};
use crate::local_state::ProcessLocalState;
use crate::notify::Notification;
use crate::plan::Plan;
use crate::policy::decide;
use crate::ports::{
    Compute, ContainmentGroup, FixedTarget, Fleet, GroupRules, InstanceFacts, InstanceState, InterfaceFacts, Notifier,
    Revocation,
};
use crate::report::{Outcome, Report};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

const START: u64 = 1_795_503_374;
const INSTANCE: &str = "i-0abc1234def567890";

/// Every port call, with the virtual second it started and ended at.
#[derive(Clone, Default)]
struct Calls(Rc<RefCell<Vec<(String, u64, u64)>>>);

/// A port call's behaviour: how long it takes, and whether it fails.
type Behaviour = (Duration, Option<Error>);

#[derive(Clone, Default)]
struct Script(Rc<RefCell<BTreeMap<&'static str, Behaviour>>>);

/// The findings GuardDuty produced in this world: `detail` of each event a test delivers, by id.
#[derive(Clone, Default)]
struct Findings(Rc<RefCell<BTreeMap<String, serde_json::Value>>>);

#[derive(Clone)]
struct Fake {
    calls: Calls,
    script: Script,
    clock: Clock,
    findings: Findings,
    /// The Auto Scaling group the instance is in.
    auto_scaling_group: Rc<RefCell<Option<String>>>,
    /// Instances whose tagging takes this much longer.
    slow: Rc<RefCell<BTreeMap<String, Duration>>>,
}

impl Fake {
    async fn call(&self, name: &'static str) -> Result<()> {
        let start = self.clock.now().epoch - START;
        let (delay, error) = self.script.0.borrow().get(name).cloned().unwrap_or_default();
        tokio::time::sleep(delay).await;
        self.calls.0.borrow_mut().push((name.to_owned(), start, self.clock.now().epoch - START));
        error.map_or(Ok(()), Err)
    }
}

impl Compute for Fake {
    async fn describe_instance(&self, id: &InstanceId) -> Result<Option<InstanceFacts>> {
        self.call("describe_instance").await?;
        Ok(Some(InstanceFacts {
            instance_id: id.clone(),
            state: InstanceState::Running,
            vpc_id: Some("vpc-1".into()),
            interfaces: vec![InterfaceFacts {
                interface_id: "eni-1".into(),
                vpc_id: Some("vpc-1".into()),
                group_ids: vec!["sg-web".into()],
                tags: BTreeMap::new(),
            }],
            volume_ids: vec!["vol-1".into()],
            tags: BTreeMap::new(),
            root_device_type: Some("ebs".into()),
            hibernation_configured: false,
            spot: false,
            instance_profile_arn: None,
            metadata: None,
        }))
    }
    async fn set_metadata_endpoint(&self, _id: &InstanceId, _enabled: bool, _tokens: Option<&str>) -> Result<()> {
        self.call("metadata").await
    }
    async fn instance_interfaces(&self, _id: &InstanceId) -> Result<Vec<InterfaceFacts>> {
        self.call("instance_interfaces").await?;
        let isolated = self.calls.0.borrow().iter().any(|(name, _, _)| name == "isolate");
        let group = if isolated { "sg-firebreak-isolation" } else { "sg-web" };
        Ok(vec![InterfaceFacts {
            interface_id: "eni-1".into(),
            vpc_id: Some("vpc-1".into()),
            group_ids: vec![group.into()],
            tags: BTreeMap::new(),
        }])
    }
    async fn termination_protected(&self, _id: &InstanceId) -> Result<bool> {
        self.call("termination_protected").await?;
        Ok(self.calls.0.borrow().iter().any(|(name, _, _)| name == "protect"))
    }
    async fn gone_instances(&self, _ids: &[InstanceId]) -> Result<std::collections::BTreeSet<InstanceId>> {
        self.call("gone_instances").await.map(|()| Default::default())
    }
    async fn create_containment_group(&self, _vpc_id: &str, kind: ContainmentGroup) -> Result<String> {
        self.call("create_group").await?;
        Ok(format!("sg-{}", kind.name()))
    }
    async fn group_rules(&self, group_id: &str) -> Result<Option<GroupRules>> {
        self.call("group_rules").await?;
        let kind =
            if group_id.contains("untracking") { ContainmentGroup::Untracking } else { ContainmentGroup::Isolation };
        Ok(Some(kind.expected_rules()))
    }
    async fn set_group_rules(&self, _group_id: &str, _current: &GroupRules, _wanted: &GroupRules) -> Result<()> {
        self.call("set_group_rules").await
    }
    async fn set_interface_groups(&self, _interface_id: &str, group_ids: &[String]) -> Result<()> {
        let name = if group_ids == ["sg-firebreak-untracking"] { "untrack" } else { "isolate" };
        self.call(name).await
    }
    async fn protect_instance(&self, _id: &InstanceId) -> Result<()> {
        self.call("protect").await
    }
    async fn incident_snapshots(&self, _id: &InstanceId, _incident_id: &str) -> Result<Vec<String>> {
        self.call("incident_snapshots").await.map(|()| Vec::new())
    }
    async fn snapshot_volumes(&self, _id: &InstanceId, _tags: &BTreeMap<String, String>) -> Result<Vec<String>> {
        self.call("snapshot").await.map(|()| vec!["snap-1".into()])
    }
    async fn revoke_ingress(&self, _group_id: &str, _permission: &IngressPermission) -> Result<Revocation> {
        self.call("revoke").await.map(|()| Revocation::Revoked)
    }
    async fn ingress_held(&self, _group_id: &str, permissions: &[IngressPermission]) -> Result<Vec<bool>> {
        self.call("ingress_held").await.map(|()| vec![true; permissions.len()])
    }
    async fn stop_instance(&self, _id: &InstanceId, _hibernate: bool) -> Result<()> {
        self.call("stop").await
    }
    async fn tag(&self, resource_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        let slow = self.slow.borrow().get(resource_id).copied();
        tokio::time::sleep(slow.unwrap_or_default()).await;
        self.call(if tags.contains_key(super::QUARANTINE_TAG) { "tag_instance" } else { "tag" }).await
    }
    async fn untag(&self, _resource_id: &str, _keys: &[String]) -> Result<()> {
        self.call("untag").await
    }
}

impl Fleet for Fake {
    async fn guardduty_finding(&self, _detector_id: &str, finding_id: &str) -> Result<Option<serde_json::Value>> {
        self.call("guardduty_finding").await?;
        Ok(self.findings.0.borrow().get(finding_id).cloned())
    }
    async fn metric_alarm(&self, name: &str, _: &InstanceId) -> Result<Option<crate::ports::AlarmFacts>> {
        self.call("metric_alarm").await?;
        Ok(Some(crate::ports::AlarmFacts {
            name: name.to_owned(),
            state: "ALARM".into(),
            comparison: Some("LessThanThreshold".into()),
            namespace: Some("AWS/EC2".into()),
            metric_name: Some("CPUUtilization".into()),
            dimensions: vec![("InstanceId".into(), INSTANCE.into())],
            threshold: Some(2.0),
            evaluation_periods: Some(6),
            datapoints_to_alarm: Some(3),
            recent_values: vec![0.3; 6],
        }))
    }
    async fn auto_scaling_group_of(&self, _id: &InstanceId) -> Result<Option<String>> {
        self.call("auto_scaling_group_of").await.map(|()| self.auto_scaling_group.borrow().clone())
    }
    async fn detach_from(&self, _id: &InstanceId, _group: &str) -> Result<()> {
        self.call("detach").await?;
        self.auto_scaling_group.replace(None);
        Ok(())
    }
    async fn deregister_from_target_groups(&self, _id: &InstanceId, _vpc: Option<&str>) -> Result<Vec<String>> {
        self.call("deregister").await.map(|()| vec!["tg-1".into()])
    }
    async fn ecs_task(&self, _cluster: &str, _task: &str) -> Result<Option<crate::ports::TaskFacts>> {
        self.call("ecs_task").await?;
        Ok(Some(crate::ports::TaskFacts {
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            tags: BTreeMap::new(),
        }))
    }
    async fn stop_ecs_task(&self, _cluster: &str, _task: &str, _reason: &str) -> Result<()> {
        self.call("stop_ecs_task").await
    }
    async fn instance_profile_role(&self, _profile: &str) -> Result<Option<crate::ports::RoleFacts>> {
        self.call("instance_profile_role").await.map(|()| None)
    }
    async fn role(&self, _name: &str) -> Result<Option<crate::ports::RoleFacts>> {
        self.call("role").await.map(|()| None)
    }
    async fn put_role_policy(&self, _role: &str, _policy: &str, _document: &str) -> Result<()> {
        self.call("put_role_policy").await
    }
    async fn role_policy(&self, _role: &str, _policy: &str) -> Result<Option<String>> {
        self.call("role_policy").await.map(|()| None)
    }
    async fn delete_role_policy(&self, _role: &str, _policy: &str) -> Result<()> {
        self.call("delete_role_policy").await
    }
    async fn create_dns_firewall(&self) -> Result<crate::ports::DnsFirewall> {
        self.call("create_dns_firewall").await?;
        Ok(crate::ports::DnsFirewall { domain_list_id: "rslvr-fdl-1".into(), rule_group_id: "rslvr-frg-1".into() })
    }
    async fn change_blocked_domains(&self, _list: &str, _domains: &[String], _block: bool) -> Result<()> {
        self.call("change_blocked_domains").await
    }
    async fn blocked_domains(&self, _list: &str) -> Result<Vec<String>> {
        self.call("blocked_domains").await.map(|()| Vec::new())
    }
    async fn associate_dns_firewall(&self, _group: &str, _vpc: &str, _priority: i32) -> Result<bool> {
        self.call("associate_dns_firewall").await.map(|()| true)
    }
    async fn start_malware_scan(&self, _arn: &str, _token: &str) -> Result<String> {
        self.call("start_malware_scan").await.map(|()| "scan-1".into())
    }
    async fn update_security_hub_finding(&self, _update: &crate::write_back::FindingUpdate) -> Result<()> {
        self.call("update_security_hub_finding").await
    }
    async fn security_hub_status(&self, _finding: &crate::incident::SecurityHubRef) -> Result<Option<String>> {
        self.call("security_hub_status").await.map(|()| Some("NEW".into()))
    }
    async fn user_tags(&self, _name: &str) -> Result<Option<BTreeMap<String, String>>> {
        self.call("user_tags").await.map(|()| None)
    }
    async fn deactivate_access_key(&self, _user: &str, _key: &str) -> Result<()> {
        self.call("deactivate_access_key").await
    }
}

impl Notifier for Fake {
    async fn publish(&self, _notification: &Notification) -> Result<()> {
        self.call("publish").await
    }
}

struct Setup {
    responder: Responder<FixedTarget<Fake, Fake>, Fake, ProcessLocalState>,
    fake: Fake,
}

const APPROVAL_URL: &str = "https://approve.example";

fn setup(env: &[(&str, &str)]) -> Setup {
    let clock = Clock::starting_at(Duration::from_secs(START));
    let fake = Fake {
        calls: Calls::default(),
        script: Script::default(),
        clock,
        findings: Findings::default(),
        auto_scaling_group: Rc::default(),
        slow: Rc::default(),
    };
    let vars: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_lookup(|n| vars.get(n).cloned()).expect("config");
    let responder = Responder {
        targets: FixedTarget(fake.clone(), fake.clone()),
        notifier: fake.clone(),
        state: ProcessLocalState::default(),
        config,
        handoff: None,
        approvals: crate::approval::Signer::new(&"k".repeat(64), APPROVAL_URL, crate::config::DEFAULT_APPROVAL_TTL)
            .ok(),
    };
    Setup { responder, fake }
}

impl Setup {
    fn script(&self, call: &'static str, delay: Duration, error: Option<Error>) {
        self.fake.script.0.borrow_mut().insert(call, (delay, error));
    }

    /// (start, end) of the only call named `name`.
    fn span(&self, name: &str) -> (u64, u64) {
        let calls = self.fake.calls.0.borrow();
        let found: Vec<_> = calls.iter().filter(|(n, ..)| n == name).collect();
        assert_eq!(found.len(), 1, "{name} once: {calls:?}");
        (found[0].1, found[0].2)
    }

    /// Deliver `plan`'s event, which GuardDuty produced (its finding is known), and act on it.
    async fn respond(&self, plan: &Plan, lease: u64) -> Report {
        self.produced(plan);
        self.deliver(plan, lease).await
    }

    /// Deliver `plan`'s event, whoever made it up.
    async fn deliver(&self, plan: &Plan, lease: u64) -> Report {
        self.responder.respond(plan, &self.fake.clock, START + lease).await.expect("state usable")
    }

    /// GuardDuty produced the finding of `plan`'s event.
    fn produced(&self, plan: &Plan) {
        if let Some(event) = &plan.incident.event {
            self.produced_event(&serde_json::from_str(event).expect("kept event"));
        }
    }

    /// GuardDuty produced the finding `event` delivers.
    fn produced_event(&self, event: &serde_json::Value) {
        let detail = event["detail"].clone();
        if let Some(id) = detail["id"].as_str() {
            self.fake.findings.0.borrow_mut().insert(id.to_owned(), detail.clone());
        }
    }
}

fn plan(event: &str, replace: &str) -> Plan {
    plan_from(event, &[(replace, INSTANCE)], &crate::policy::Policy::default())
}

/// The plan `policy` decides for the sample `event` with each `(from, to)` of `edits` replaced.
fn plan_from(event: &str, edits: &[(&str, &str)], policy: &crate::policy::Policy) -> Plan {
    let path = format!("{}/../events/{event}", env!("CARGO_MANIFEST_DIR"));
    let text = edits.iter().fold(std::fs::read_to_string(&path).expect("sample"), |t, (from, to)| t.replace(from, to));
    // Kept with its event, as a function whose policy asks for approval parses it.
    let incident = crate::events::parse_value_keeping_events(serde_json::from_str(&text).expect("json"))
        .expect("parses")
        .remove(0);
    decide(&incident, policy)
}

fn containment() -> Plan {
    plan("guardduty/ec2-backdoor-high-severity.json", INSTANCE)
}

fn throttled() -> Error {
    Error::Aws {
        operation: "CreateSnapshots",
        code: Some("RequestLimitExceeded".into()),
        message: "slow".into(),
        retryable: true,
    }
}

fn denied() -> Error {
    Error::Aws {
        operation: "ModifyInstanceAttribute",
        code: Some("UnauthorizedOperation".into()),
        message: "not allowed".into(),
        retryable: false,
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_network_phase_ends_before_evidence_starts_and_evidence_runs_concurrently_then_one_notification() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "30")]);
    for call in ["untrack", "isolate"] {
        s.script(call, Duration::from_secs(1), None);
    }
    for call in ["protect", "deregister", "snapshot", "tag_instance"] {
        s.script(call, Duration::from_secs(5), None);
    }
    s.script("detach", Duration::from_secs(2), None);
    s.fake.auto_scaling_group.replace(Some("web-asg".into()));
    let report = s.respond(&containment(), 900).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let (untrack_start, untrack_end) = s.span("untrack");
    let (isolate_start, isolate_end) = s.span("isolate");
    assert_eq!(isolate_start - untrack_end, 30, "the settle wait lies between the two swaps, in virtual time");
    assert!(s.span("detach").1 <= untrack_start, "out of Auto Scaling's hands before the first swap");
    assert!(s.span("describe_instance").1 <= s.span("detach").0);
    for call in ["protect", "deregister", "snapshot", "tag_instance"] {
        let (start, end) = s.span(call);
        assert_eq!(start, isolate_end, "{call} starts when the network phase ends, with the others");
        assert_eq!(end, isolate_end + 5, "{call}");
    }
    assert_eq!(s.span("publish").0, isolate_end + 5, "the notification comes after every step");
    // (The fake instance has no instance profile: its credential revocation is refused before anything runs.)
    let order: Vec<&str> =
        report.actions.iter().filter(|a| !matches!(a.outcome, Outcome::Skipped { .. })).map(|a| a.action).collect();
    assert_eq!(order[..2], ["detach_from_auto_scaling_group", "isolate_instance"]);
    assert_eq!(order.last(), Some(&"notify"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_evidence_step_that_hangs_is_cut_at_the_deadline_reserve_and_the_notification_still_goes_out() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("snapshot", Duration::from_secs(3_600), None);
    // 60 s until the deadline, 20 of them kept back: the snapshot gets 40.
    let report = s.respond(&containment(), 60).await;
    assert!(matches!(report.outcome_of("snapshot_volumes"), Some(Outcome::Failed { error: Error::Deadline(_) })));
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done));
    assert!(report.outcome_of("notify").is_some_and(Outcome::is_done));
    let published_at = s.span("publish").0;
    assert!(published_at < 60 - 10, "notified inside the reserve (virtual second {published_at})");
    assert!(report.retry_may_help(), "a deadline is retried");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_step_starts_inside_the_deadline_reserve() {
    let s = setup(&[]);
    let report = s.respond(&containment(), 15).await;
    for step in ["isolate_instance", "protect_instance", "snapshot_volumes"] {
        assert!(
            matches!(report.outcome_of(step), Some(Outcome::Failed { error: Error::Deadline(_) })),
            "{step}: {report:#?}"
        );
    }
    assert!(s.fake.calls.0.borrow().iter().all(|(n, ..)| !matches!(n.as_str(), "untrack" | "isolate" | "protect")));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_denied_step_keeps_its_typed_error_and_is_not_worth_a_retry_but_a_throttle_is() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("protect", Duration::ZERO, Some(denied()));
    let report = s.respond(&containment(), 900).await;
    assert_eq!(report.outcome_of("protect_instance").and_then(Outcome::error), Some(&denied()));
    assert!(!report.retry_may_help());

    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("snapshot", Duration::ZERO, Some(throttled()));
    let report = s.respond(&containment(), 900).await;
    assert!(report.retry_may_help());
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_lambda_acknowledges_a_failure_no_retry_can_fix_and_returns_one_that_may_pass() {
    let payload = |_| {
        let path = format!("{}/../events/guardduty/ec2-backdoor-high-severity.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).expect("sample")).expect("json")
    };
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("protect", Duration::ZERO, Some(denied()));
    let function = crate::Function::GuarddutyResponder;
    let clock = s.fake.clock.clone();
    s.produced_event(&payload(()));
    let acknowledged = crate::lambda::respond_payload(payload(()), &s.responder, function, &clock, START + 900).await;
    assert!(acknowledged.is_ok(), "UnauthorizedOperation is not redelivered: {acknowledged:?}");

    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("snapshot", Duration::ZERO, Some(throttled()));
    s.produced_event(&payload(()));
    let retried = crate::lambda::respond_payload(payload(()), &s.responder, function, &clock, START + 900).await;
    assert!(retried.is_err_and(|e| e.is_retryable()), "a throttle is redelivered");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stop_runs_as_phase_one_after_its_gates_and_calls_nothing_else() {
    let s = setup(&[]);
    let stop = plan("alarm/idle-cpu-eventbridge.json", "i-0abc1234def567890");
    let report = s.respond(&stop, 900).await;
    assert!(report.outcome_of("stop_instance").is_some_and(Outcome::is_done), "{report:#?}");
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(calls, ["describe_instance", "auto_scaling_group_of", "metric_alarm", "stop", "tag", "publish"]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_second_run_resumes_from_the_journal_and_repeats_nothing() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("snapshot", Duration::ZERO, Some(throttled()));
    s.fake.auto_scaling_group.replace(Some("web-asg".into()));
    let first = s.respond(&containment(), 900).await;
    assert!(first.outcome_of("snapshot_volumes").is_some_and(Outcome::is_failed));
    s.script("snapshot", Duration::ZERO, None);
    s.fake.calls.0.borrow_mut().clear();
    let retry = s.respond(&containment(), 900).await;
    assert!(retry.failures().is_empty(), "{retry:#?}");
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(
        calls,
        ["describe_instance", "guardduty_finding", "incident_snapshots", "snapshot", "publish"],
        "only what was left, once GuardDuty confirmed the finding again"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_recorded_containment_group_is_used_only_after_its_rules_are_checked() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.respond(&containment(), 900).await;
    let created = s.fake.calls.0.borrow().iter().filter(|(n, ..)| n == "create_group").count();
    assert_eq!(created, 2, "first containment in the VPC: both groups created");
    let second = plan_from(
        "guardduty/ec2-backdoor-high-severity.json",
        &[(INSTANCE, INSTANCE), ("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7", "ffffffffffffffffffffffffffffffff")],
        &crate::policy::Policy::default(),
    );
    s.fake.calls.0.borrow_mut().clear();
    s.respond(&second, 900).await;
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert!(!calls.iter().any(|c| c == "create_group"), "the recorded groups are reused: {calls:?}");
    let before_the_swap = calls.iter().take_while(|c| *c != "untrack");
    assert_eq!(before_the_swap.filter(|c| *c == "group_rules").count(), 2, "each checked before use: {calls:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn containments_and_stops_count_against_caps_of_their_own() {
    // No containment allowed this hour: a stop still goes ahead.
    let s = setup(&[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "0")]);
    let stop = plan("alarm/idle-cpu-eventbridge.json", "i-0abc1234def567890");
    assert!(s.respond(&stop, 900).await.outcome_of("stop_instance").is_some_and(Outcome::is_done));
    let held = s.respond(&containment(), 900).await;
    assert!(
        matches!(held.outcome_of("isolate_instance"), Some(Outcome::Skipped { reason, .. }) if reason.contains("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR"))
    );
    // No stop allowed: a containment still goes ahead.
    let s = setup(&[("FIREBREAK_MAX_STOPS_PER_HOUR", "0"), ("FIREBREAK_SETTLE_SECONDS", "0")]);
    let held = s.respond(&stop, 900).await;
    assert!(
        matches!(held.outcome_of("stop_instance"), Some(Outcome::Skipped { reason, .. }) if reason.contains("FIREBREAK_MAX_STOPS_PER_HOUR"))
    );
    assert!(s.respond(&containment(), 900).await.outcome_of("isolate_instance").is_some_and(Outcome::is_done));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_cap_the_auto_scaling_lookup_the_group_checks_and_the_original_groups_share_one_round_trip() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    for call in ["auto_scaling_group_of", "create_group", "group_rules"] {
        s.script(call, Duration::from_secs(1), None);
    }
    let report = s.respond(&containment(), 900).await;
    assert!(report.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "{report:#?}");
    let calls = s.fake.calls.0.borrow().clone();
    let started = |name: &str| calls.iter().filter(|(n, ..)| n == name).map(|c| c.1).min().expect(name);
    let described = s.span("describe_instance").1;
    assert_eq!(started("auto_scaling_group_of"), described, "{calls:?}");
    assert_eq!(started("create_group"), described, "the finding's VPC has no groups yet: {calls:?}");
    // Created (1 s), then checked (1 s): the swap comes right after, the originals recorded meanwhile.
    assert_eq!(s.span("untrack").0, described + 2, "{calls:?}");
    use crate::ports::StateStore;
    let recorded = s.responder.state.original_groups(INSTANCE).await.expect("state");
    assert_eq!(recorded, Some(BTreeMap::from([("eni-1".to_owned(), vec!["sg-web".to_owned()])])));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_run_the_cap_holds_back_leaves_no_quarantine_record_but_never_deletes_another_incidents() {
    use crate::ports::StateStore;
    let s = setup(&[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "0")]);
    let held = s.respond(&containment(), 900).await;
    assert!(matches!(held.outcome_of("isolate_instance"), Some(Outcome::Skipped { .. })), "{held:#?}");
    assert_eq!(s.responder.state.original_groups(INSTANCE).await.expect("state"), None, "withdrawn");

    let s = setup(&[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "0")]);
    let theirs = BTreeMap::from([("eni-1".to_owned(), vec!["sg-app".to_owned()])]);
    s.responder
        .state
        .record_original_groups(INSTANCE, &theirs, "incident#another", "123456789012#us-east-1")
        .await
        .expect("state");
    s.respond(&containment(), 900).await;
    assert_eq!(s.responder.state.original_groups(INSTANCE).await.expect("state"), Some(theirs), "kept");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failures_are_notified_once_and_the_completing_run_notifies_once_more() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0")]);
    s.script("snapshot", Duration::ZERO, Some(throttled()));
    let publishes = |s: &Setup| s.fake.calls.0.borrow().iter().filter(|(n, ..)| n == "publish").count();
    s.respond(&containment(), 900).await;
    s.respond(&containment(), 900).await;
    s.respond(&containment(), 900).await;
    assert_eq!(publishes(&s), 1, "three runs with the same failure: one notification");
    s.script("snapshot", Duration::ZERO, None);
    let done = s.respond(&containment(), 900).await;
    assert!(done.failures().is_empty(), "{done:#?}");
    assert_eq!(publishes(&s), 2, "and one with the final outcome");
    s.respond(&containment(), 900).await;
    assert_eq!(publishes(&s), 2, "never more");
}

/// The sample EC2 instance-group sequence naming `n` instances (at most 51): up to 25 (GuardDuty's
/// cap on a group's list) through its Auto Scaling group, the next 25 through its instance profile,
/// the last one directly.
fn sequence_of(n: usize) -> Plan {
    let path = format!("{}/../events/guardduty/attack-sequence-ec2-instance-group.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
    let ids: Vec<String> = (0..n).map(|k| format!("i-0abc1234def5{k:05}")).collect();
    let (by_group, direct) = ids.split_at(n.min(50));
    let resources = &mut event["detail"]["service"]["detection"]["sequence"]["resources"];
    resources[0]["uid"] = serde_json::Value::from(direct.first().unwrap_or(&ids[0]).clone());
    resources[1]["data"]["autoscalingAutoScalingGroup"]["ec2InstanceUids"] =
        serde_json::json!(by_group[..by_group.len().min(25)]);
    resources[2]["data"]["iamInstanceProfile"]["ec2InstanceUids"] =
        serde_json::json!(by_group[by_group.len().min(25)..]);
    let incident = crate::events::parse_value_keeping_events(event).expect("parses").remove(0);
    decide(&incident, &crate::policy::Policy::default())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_sequence_contains_its_instances_a_wave_at_a_time_and_a_retry_resumes_what_the_deadline_cut() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0"), ("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "100")]);
    s.script("isolate", Duration::from_secs(45), None);
    let plan = sequence_of(51);
    assert_eq!(plan.instances().len(), 51);
    // 60 s to the deadline, one instance kept back: the first wave's swaps end at 45 s, after the reserve
    // began.
    let first = s.respond(&plan, 60).await;
    let isolated =
        |r: &Report| r.actions.iter().filter(|a| a.action == "isolate_instance" && a.outcome.is_done()).count();
    assert_eq!(isolated(&first), super::INSTANCE_CONCURRENCY, "one wave fitted: {first:#?}");
    let cut: Vec<&str> = first
        .actions
        .iter()
        .filter(|a| {
            matches!(a.outcome, Outcome::Failed { error: Error::Deadline(_) }) && a.action == "isolate_instance"
        })
        .filter_map(|a| a.target.as_deref())
        .collect();
    assert_eq!(cut.len(), 51 - super::INSTANCE_CONCURRENCY, "the rest were not started: {first:#?}");
    assert!(first.retry_may_help(), "the event is retried");
    let untouched = s.fake.calls.0.borrow().iter().filter(|(n, ..)| n == "untrack" || n == "isolate").count();
    assert_eq!(untouched, super::INSTANCE_CONCURRENCY * 2, "no interface of a cut instance was touched");

    // The retry resumes: the cut instances are contained, the others are not touched again.
    let retry = s.respond(&plan, 4_000).await;
    assert!(retry.failures().is_empty(), "{retry:#?}");
    for action in retry.actions.iter().filter(|a| a.action == "isolate_instance") {
        let target = action.target.as_deref().expect("each outcome names its instance");
        if cut.contains(&target) {
            assert!(action.outcome.is_done(), "{target}: {action:?}");
        } else {
            assert!(
                matches!(&action.outcome, Outcome::Skipped { reason, .. } if reason.contains("journal")),
                "{action:?}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fleets_cuts_all_come_before_any_of_its_evidence() {
    let s = setup(&[("FIREBREAK_SETTLE_SECONDS", "0"), ("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "100")]);
    let plan = sequence_of(3);
    // The copy of the last instance's original groups to its tags, which its first swap waits for, takes
    // 30 s; the others are cut long before.
    let late = plan.instances().last().expect("three").to_string();
    s.fake.slow.borrow_mut().insert(late, Duration::from_secs(30));
    let report = s.respond(&plan, 900).await;
    assert!(report.failures().is_empty(), "{report:#?}");
    let calls = s.fake.calls.0.borrow().clone();
    let last_cut = calls.iter().filter(|(n, ..)| n == "isolate").map(|c| c.2).max().expect("isolated");
    let first_evidence = calls.iter().filter(|(n, ..)| n == "snapshot" || n == "protect").map(|c| c.1).min();
    assert!(last_cut >= 30, "{calls:?}");
    assert_eq!(first_evidence, Some(last_cut), "evidence starts once every instance is cut: {calls:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_plan_awaiting_approval_records_its_request_touches_nothing_and_notifies_the_links_once() {
    let approval = [
        ("FIREBREAK_APPROVAL_INSTANCES", INSTANCE),
        ("FIREBREAK_APPROVAL_URL", APPROVAL_URL),
        (
            "FIREBREAK_APPROVAL_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:firebreak-approval-key",
        ),
    ];
    let s = setup(&approval);
    let waiting = plan_from("guardduty/ec2-backdoor-high-severity.json", &[], &s.responder.config.policy);
    assert_eq!(waiting.decision, crate::plan::Decision::AwaitApproval);
    let report = s.respond(&waiting, 900).await;
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(
        calls,
        ["guardduty_finding", "publish"],
        "no describe, no write: GuardDuty confirms, then the notification"
    );
    let links = report.approval.clone().expect("the links are in the report");
    assert_eq!(links.deadline, START + crate::config::DEFAULT_APPROVAL_TTL.as_secs());
    assert!(links.approve.starts_with(APPROVAL_URL) && links.deny.starts_with(APPROVAL_URL));
    assert!(report.actions.iter().filter(|a| a.action != "notify").all(
        |a| matches!(&a.outcome, Outcome::Skipped { reason, .. } if reason.starts_with("awaiting approval until"))
    ));
    use crate::ports::StateStore;
    let request = s.responder.state.approval(&waiting.incident_key).await.expect("state").expect("recorded");
    assert_eq!(request.status, crate::approval::ApprovalStatus::Pending);
    assert!(request.actions.iter().any(|a| a
        == &format!(
            "Isolate it from the network ({INSTANCE}): cut every network interface off, tracked connections included"
        )));

    let again = s.respond(&waiting, 900).await;
    assert!(again.approval.is_none() && again.actions.iter().all(|a| !a.outcome.is_done()), "{again:#?}");
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(
        calls,
        ["guardduty_finding", "publish", "guardduty_finding"],
        "a redelivery asks nothing new: it only reads GuardDuty, beside the claim that finds it done"
    );
}

/// Attack 1 of the trust issue: whoever may invoke the function can hand it a finding GuardDuty never
/// produced. Only GuardDuty's own copy is acted on.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_finding_guardduty_does_not_know_changes_nothing_and_is_notified_as_refused_once() {
    let s = setup(&[]);
    let forged = containment();
    let report = s.deliver(&forged, 900).await;
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(calls, ["describe_instance", "guardduty_finding", "publish"], "reads, then the notification: {calls:?}");
    assert!(report.reasons[0].starts_with("refused: GuardDuty's detector"), "{:?}", report.reasons);
    assert!(report.reasons[0].contains("does not know finding a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7"));
    assert!(report.actions.iter().all(|a| !a.outcome.is_done() || a.action == "notify"), "{report:#?}");
    let again = s.deliver(&forged, 900).await;
    assert!(again.reasons[0].starts_with("refused"), "still refused, and still open: {:?}", again.reasons);
    s.produced(&forged);
    let real = s.deliver(&forged, 900).await;
    assert!(real.outcome_of("isolate_instance").is_some_and(Outcome::is_done), "once GuardDuty knows it: {real:#?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn only_what_guardduty_says_of_the_finding_is_acted_on() {
    let s = setup(&[]);
    // GuardDuty's finding is about another instance than the event claims: nothing is done.
    let real = plan("guardduty/ec2-backdoor-high-severity.json", "i-0abc1234def567890");
    s.produced(&plan_from(
        "guardduty/ec2-backdoor-high-severity.json",
        &[(INSTANCE, "i-0fff0000eeee11112")],
        &Default::default(),
    ));
    let report = s.deliver(&real, 900).await;
    assert!(report.reasons[0].contains("GuardDuty's finding names i-0fff0000eeee11112"), "{:?}", report.reasons);
    let writes = ["untrack", "isolate", "protect", "snapshot", "detach", "tag_instance", "put_role_policy"];
    assert!(s.fake.calls.0.borrow().iter().all(|(n, ..)| !writes.contains(&n.as_str())));

    // GuardDuty has the finding at severity 5 (say the event was edited to 8): it is only notified.
    let s = setup(&[]);
    s.produced(&plan_from(
        "guardduty/ec2-backdoor-high-severity.json",
        &[("\"severity\": 8", "\"severity\": 5")],
        &Default::default(),
    ));
    let report = s.deliver(&containment(), 900).await;
    assert_eq!(report.decision, crate::plan::Decision::Notify, "{report:#?}");
    assert!(s.fake.calls.0.borrow().iter().all(|(n, ..)| !writes.contains(&n.as_str())));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_the_grants_no_credential_revocation_is_attempted_and_each_says_so() {
    let s = setup(&[
        ("FIREBREAK_REVOKE_INSTANCE_CREDENTIALS", "false"),
        ("FIREBREAK_REVOKE_ROLE_SESSIONS", "true"),
        ("FIREBREAK_DEACTIVATE_USER_KEYS", "true"),
    ]);
    let session = [("AROAEXAMPLE:i-0abc1234def567890", "AROAEXAMPLE:ci-deploy"), ("web-role", "deploy-role")];
    let user = [
        ("AROAEXAMPLE:i-0abc1234def567890", "AIDAEXAMPLEUSER"),
        ("\"userType\": \"AssumedRole\"", "\"userType\": \"IAMUser\""),
        ("web-role", "alice"),
        ("d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8", "d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a9"),
    ];
    for (edits, step) in [(&session[..], "revoke_role_sessions"), (&user[..], "deactivate_access_key")] {
        let policy = &s.responder.config.policy;
        let plan = plan_from("guardduty/accesskey-credential-exfiltration.json", edits, policy);
        assert!(plan.has(crate::plan::StepKind::Notify), "{:?}", plan.actions);
        let report = s.respond(&plan, 900).await;
        let Some(Outcome::Skipped { reason, .. }) = report.outcome_of(step) else { panic!("{step}: {report:#?}") };
        assert!(reason.starts_with("not permitted by the deployment"), "{step}: {reason}");
    }
    let calls: Vec<String> = s.fake.calls.0.borrow().iter().map(|(n, ..)| n.clone()).collect();
    let iam = ["role", "put_role_policy", "user_tags", "deactivate_access_key"];
    assert!(calls.iter().all(|c| !iam.contains(&c.as_str())), "no IAM call at all: {calls:?}");
}
