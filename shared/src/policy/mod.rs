//! The decision engine: `decide(&Incident, &Policy) -> Plan`, pure and synchronous, with a reason
//! for every branch (including "ignored because …").

mod alarm;
mod cloudtrail;
mod guardduty;

pub use cloudtrail::{describe_permission, DETECTED_EVENTS, RULES as CLOUDTRAIL_RULES};

use crate::incident::{Incident, IncidentKind, SeverityLabel};
use crate::plan::{Decision, Plan, PlannedStep, Step};

/// The knobs of the default policy; see the README's policy table.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub contain_min_severity: f64,
    pub notify_min_severity: f64,
    /// Alarm names matching this `*` glob are idle alarms, whatever their comparison.
    pub idle_alarm_pattern: Option<String>,
    /// Metrics that measure activity: a less-than alarm on anything else (free disk, free memory) is
    /// not an idle alarm.
    pub idle_metrics: Vec<String>,
    pub allowed_public_ports: Vec<u16>,
    pub revoke_public_ingress: bool,
    pub self_role_arns: Vec<String>,
    pub notify_resolved: bool,
    /// Notify the parent state change of a multi-time-series alarm ("6 out of 6 time series evaluated
    /// to ALARM") as a summary; its contributors' own events are decided one by one either way.
    pub fleet_alarm_summary: bool,
    /// Stop the ECS task of a Runtime Monitoring finding at containment severity (opt-in: stopping a
    /// task its service replaces may only move the attacker; a person may prefer to look first).
    pub ecs_stop_task: bool,
    /// Also isolate the instance whose credentials were used outside it (`InstanceCredentialExfiltration`);
    /// by default they are revoked and the instance is left running for a person to judge.
    pub contain_on_credential_exfiltration: bool,
    /// Deactivate an IAM user's access key named by a high-severity finding (opt-in).
    pub deactivate_user_keys: bool,
    /// Deny a role's sessions issued before a high-severity finding about one of them (opt-in: every
    /// holder of the role loses its session).
    pub revoke_role_sessions: bool,
    /// When non-empty, only incidents in these accounts are acted on; others are refused and notified.
    pub accounts: Vec<String>,
    /// When non-empty, only incidents in these regions are acted on.
    pub regions: Vec<String>,
    /// The role Firebreak assumes in member accounts: its calls there are Firebreak's own.
    pub member_role_name: String,
    /// The share of an address family that the ranges of one call must cover together to count as
    /// open to the world (1.0: all of it, `0.0.0.0/0` or `0.0.0.0/1` + `128.0.0.0/1`).
    pub world_open_share: f64,
    /// Which containments wait for a person (`FIREBREAK_APPROVAL_*`); all empty: none.
    pub approval: ApprovalPolicy,
}

/// Which containments a person must approve first. Only configuration decides: nothing an attacker can
/// write (a tag, a name) turns an automatic containment into one that waits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalPolicy {
    /// Contain-worthy findings from this severity up to (not including) the automatic containment
    /// threshold wait for approval instead of being only notified.
    pub min_severity: Option<f64>,
    /// Containments in these accounts always wait for approval.
    pub accounts: Vec<String>,
    /// Containments of these instances always wait for approval.
    pub instances: Vec<String>,
    /// An attack sequence naming more than this many instances waits for approval.
    pub sequence_instances: Option<usize>,
}

impl ApprovalPolicy {
    pub fn enabled(&self) -> bool {
        self.min_severity.is_some()
            || !self.accounts.is_empty()
            || !self.instances.is_empty()
            || self.sequence_instances.is_some()
    }
}

impl Policy {
    /// The lowest severity at which an instance finding leads to a containment, automatic or approved.
    fn containment_floor(&self) -> f64 {
        self.approval.min_severity.map_or(self.contain_min_severity, |s| s.min(self.contain_min_severity))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            contain_min_severity: 7.0,
            notify_min_severity: 4.0,
            idle_alarm_pattern: None,
            idle_metrics: ["CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn", "NetworkPacketsOut"]
                .map(String::from)
                .to_vec(),
            allowed_public_ports: vec![80, 443],
            revoke_public_ingress: true,
            self_role_arns: Vec::new(),
            notify_resolved: false,
            fleet_alarm_summary: true,
            ecs_stop_task: false,
            contain_on_credential_exfiltration: false,
            deactivate_user_keys: false,
            revoke_role_sessions: false,
            accounts: Vec::new(),
            regions: Vec::new(),
            member_role_name: "firebreak-member".to_owned(),
            world_open_share: 1.0,
            approval: ApprovalPolicy::default(),
        }
    }
}

/// Decide what to do about one incident. No I/O: the same input always gives the same plan.
pub fn decide(incident: &Incident, policy: &Policy) -> Plan {
    let mut draft = match &incident.kind {
        IncidentKind::Guardduty(finding) => guardduty::decide(finding, policy),
        IncidentKind::Alarm(alarm) => alarm::decide(alarm, incident, policy),
        IncidentKind::Cloudtrail(event) => cloudtrail::decide(event, policy),
        IncidentKind::Recognised { why, .. } => {
            Draft::ignore(SeverityLabel::Info, "recognised event".into(), why.clone())
        }
    };
    if draft.decision != Decision::Ignore {
        if let Some(why) = outside_allowlist(incident, policy) {
            draft.decision = Decision::Notify;
            draft.actions = vec![step(Step::Notify, "tell a person about the refused incident")];
            draft.reasons.insert(0, format!("refused, never acted on: {why}"));
        }
    }
    let mut plan = Plan {
        incident_key: incident_key(incident),
        kind: incident.kind(),
        decision: draft.decision,
        severity: draft.severity,
        summary: draft.summary,
        reasons: draft.reasons,
        actions: draft.actions,
        rule: draft.rule,
        incident: incident.clone(),
    };
    if plan.decision == Decision::Contain {
        if let Some(why) = approval_required(&plan, policy) {
            plan.decision = Decision::AwaitApproval;
            plan.reasons.insert(0, format!("approval required: {why}; nothing is done until a person approves"));
            for planned in plan.actions.iter_mut().filter(|a| a.step == Step::Notify) {
                planned.reason = "ask a person to approve or deny, with the links and the deadline".into();
            }
        }
    }
    plan
}

/// Why this containment must wait for a person, if it must.
fn approval_required(plan: &Plan, policy: &Policy) -> Option<String> {
    let rules = &policy.approval;
    let IncidentKind::Guardduty(finding) = &plan.incident.kind else { return None };
    let mut why = Vec::new();
    if finding.severity < policy.contain_min_severity {
        why.push(format!(
            "severity {} is in the approval band from FIREBREAK_APPROVAL_MIN_SEVERITY {} up to the automatic containment \
             threshold {}",
            finding.severity,
            rules.min_severity.unwrap_or(policy.contain_min_severity),
            policy.contain_min_severity
        ));
    }
    let account = plan.incident.origin.account.as_ref();
    if let Some(account) = account.filter(|a| rules.accounts.iter().any(|x| x == a.as_str())) {
        why.push(format!("account {account} is listed in FIREBREAK_APPROVAL_ACCOUNTS"));
    }
    let instances = plan.instances();
    let listed: Vec<&str> =
        instances.iter().map(|i| i.as_str()).filter(|i| rules.instances.iter().any(|x| x == i)).collect();
    if !listed.is_empty() {
        why.push(format!("{} listed in FIREBREAK_APPROVAL_INSTANCES", listed.join(", ")));
    }
    if let Some(max) = rules.sequence_instances.filter(|max| finding.sequence.is_some() && instances.len() > *max) {
        why.push(format!(
            "the attack sequence names {} instances, more than FIREBREAK_APPROVAL_SEQUENCE_INSTANCES {max}",
            instances.len()
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Why the incident is outside `FIREBREAK_ACCOUNTS` / `FIREBREAK_REGIONS`, if it is.
fn outside_allowlist(incident: &Incident, policy: &Policy) -> Option<String> {
    let account = incident.origin.account.as_ref().map(|a| a.as_str());
    let region = incident.origin.region.as_ref().map(|r| r.as_str());
    if !policy.accounts.is_empty() && !account.is_some_and(|a| policy.accounts.iter().any(|x| x == a)) {
        return Some(format!("account {} is not in FIREBREAK_ACCOUNTS", account.unwrap_or("(unknown)")));
    }
    if !policy.regions.is_empty() && !region.is_some_and(|r| policy.regions.iter().any(|x| x == r)) {
        return Some(format!("region {} is not in FIREBREAK_REGIONS", region.unwrap_or("(unknown)")));
    }
    None
}

/// What a per-kind policy returns; `decide` adds what every plan has.
struct Draft {
    decision: Decision,
    severity: SeverityLabel,
    summary: String,
    reasons: Vec<String>,
    actions: Vec<PlannedStep>,
    rule: Option<&'static str>,
}

impl Draft {
    fn ignore(severity: SeverityLabel, summary: String, why: String) -> Self {
        Self {
            decision: Decision::Ignore,
            severity,
            summary,
            reasons: vec![format!("ignored because {why}")],
            actions: Vec::new(),
            rule: None,
        }
    }

    fn notify(severity: SeverityLabel, summary: String, why: String) -> Self {
        Self {
            decision: Decision::Notify,
            severity,
            summary,
            actions: vec![PlannedStep { step: Step::Notify, reason: why.clone() }],
            reasons: vec![why],
            rule: None,
        }
    }
}

fn step(step: Step, reason: &str) -> PlannedStep {
    PlannedStep { step, reason: reason.to_owned() }
}

/// Stable across redeliveries: GuardDuty re-emits a finding with the same id, CloudTrail events have
/// an `eventID`, an alarm transition is its ARN plus the state timestamp.
fn incident_key(incident: &Incident) -> String {
    let account = incident.origin.account.as_ref().map_or("unknown", |a| a.as_str());
    let region = incident.origin.region.as_ref().map_or("unknown", |r| r.as_str());
    match &incident.kind {
        IncidentKind::Guardduty(f) => format!("incident#guardduty#{account}#{region}#{}", f.finding_id),
        IncidentKind::Cloudtrail(e) => {
            let id = e.event_id.as_deref().or(incident.delivery_id.as_deref()).unwrap_or("no-id");
            format!("incident#cloudtrail#{account}#{region}#{id}")
        }
        IncidentKind::Alarm(a) => {
            let name = a.alarm_arn.as_deref().unwrap_or(&a.alarm_name);
            match &a.contributor {
                Some(c) => format!("incident#alarm#{name}#contributor#{}#{}", c.id, a.state_timestamp),
                None => format!("incident#alarm#{name}#{}", a.state_timestamp),
            }
        }
        IncidentKind::Recognised { .. } => {
            format!("incident#recognised#{account}#{region}#{}", incident.delivery_id.as_deref().unwrap_or("no-id"))
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob_matches("idle-*", "idle-web-1"));
        assert!(glob_matches("*-idle", "web-idle"));
        assert!(glob_matches("*idle*", "web-idle-1"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("idle-*", "busy-web"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("exact", "exact"));
    }
}

#[cfg(test)]
mod decision_tests;
