//! The decision engine: `decide(&Incident, &Policy) -> Plan`, pure and synchronous, with a reason
//! for every branch (including "ignored because …").

mod alarm;
mod cloudtrail;
mod draft;
mod guardduty;
mod securityhub;
mod settings;

pub use cloudtrail::{describe_permission, DETECTED_EVENTS, RULES as CLOUDTRAIL_RULES, SELF_CHANGE_EVENTS};
pub use settings::{
    ApprovalPolicy, ContainmentPreference, OnExpiry, Policy, SecurityHubWriteBack, DEFAULT_IDLE_ALARM_PREFIX,
    DEFAULT_INGRESS_WINDOW_SECONDS, SUSPECTED_FLOOR,
};

use crate::incident::{Incident, IncidentKind, SeverityLabel};
use crate::plan::{Confirmation, Decision, Plan, Step};
use draft::{step, Draft};

/// Decide what to do about one incident. No I/O: the same input always gives the same plan.
pub fn decide(incident: &Incident, policy: &Policy) -> Plan {
    let account = incident.origin.account.as_ref().map(|a| a.as_str());
    let policy = &*policy.for_account(account);
    let mut draft = match &incident.kind {
        IncidentKind::Guardduty(finding) => guardduty::decide(finding, policy),
        IncidentKind::Alarm(alarm) => alarm::decide(alarm, incident, policy),
        IncidentKind::Cloudtrail(event) => cloudtrail::decide(event, policy),
        IncidentKind::SecurityHub(finding) => securityhub::decide(finding, policy),
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
    if draft.decision != Decision::Ignore {
        if let Some(finding) = write_back_target(incident, policy) {
            let at = draft.actions.iter().position(|a| a.step == Step::Notify).unwrap_or(draft.actions.len());
            let reason = format!("mark {} with what was done", finding.describe());
            draft.actions.insert(at, step(Step::UpdateSecurityHubFinding { finding }, &reason));
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
    for planned in &mut plan.actions {
        planned.awaits = awaits(&plan.incident, &planned.step);
    }
    // One rule for every destructive plan: isolation, an ECS task stop, a credential revocation and an
    // idle stop wait for a person alike.
    if matches!(plan.decision, Decision::Contain | Decision::Revoke | Decision::StopIdle) {
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

/// What AWS must confirm before `respond` takes `step` of a plan for `incident`, the same whatever
/// delivered it: a GuardDuty finding's every step but the notification waits on GuardDuty's copy (a
/// Security Hub delivery's too), an instance's credentials named by a session on its role, an idle stop
/// on CloudWatch's alarm, a revoked ingress rule on the group as EC2 has it.
fn awaits(incident: &Incident, step: &Step) -> Vec<Confirmation> {
    let guardduty = match &incident.kind {
        IncidentKind::Guardduty(_) => true,
        IncidentKind::SecurityHub(f) => f.guardduty.is_some(),
        _ => false,
    };
    let mut awaits = Vec::new();
    if guardduty && *step != Step::Notify {
        awaits.push(Confirmation::GuarddutyFinding);
    }
    match step {
        Step::RevokeInstanceCredentials { role_id: Some(_), .. } => awaits.push(Confirmation::InstanceRole),
        Step::StopInstance { .. } => awaits.push(Confirmation::CloudwatchAlarm),
        Step::RevokeSecurityGroupIngress { .. } => awaits.push(Confirmation::SecurityGroupRules),
        _ => {}
    }
    awaits
}

/// Why this plan must wait for a person, if it must. The lists and the preference apply to every
/// destructive plan; the severity band and the sequence limit to findings (an idle stop has neither).
fn approval_required(plan: &Plan, policy: &Policy) -> Option<String> {
    let rules = &policy.approval;
    let finding = match &plan.incident.kind {
        IncidentKind::Guardduty(finding) => Some(finding),
        IncidentKind::Alarm(_) => None,
        _ => return None,
    };
    let mut why = Vec::new();
    if let Some(finding) = finding.filter(|f| f.severity < policy.contain_min_severity) {
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
    let preference = policy.preference_of(account.map(|a| a.as_str()));
    if preference == settings::ContainmentPreference::ApprovalRequired {
        why.push(format!(
            "the containment preference of account {} is {} ({})",
            account.map_or("(unknown)", |a| a.as_str()),
            preference.as_str(),
            match account.is_some_and(|a| policy.account_preferences.contains_key(a.as_str())) {
                true => "FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS",
                false => "FIREBREAK_CONTAINMENT_PREFERENCE",
            }
        ));
    }
    let instances = plan.instances();
    let listed: Vec<&str> =
        instances.iter().map(|i| i.as_str()).filter(|i| rules.instances.iter().any(|x| x == i)).collect();
    if !listed.is_empty() {
        why.push(format!("{} listed in FIREBREAK_APPROVAL_INSTANCES", listed.join(", ")));
    }
    let sequence = finding.is_some_and(|f| f.sequence.is_some());
    if let Some(max) = rules.sequence_instances.filter(|max| sequence && instances.len() > *max) {
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

/// The Security Hub finding a plan writes back to: the one Security Hub delivered, or, when the policy
/// says so, a GuardDuty finding's own in Security Hub (its id is the finding's ARN in both formats).
fn write_back_target(incident: &Incident, policy: &Policy) -> Option<crate::incident::SecurityHubRef> {
    use crate::incident::{FindingFormat, SecurityHubRef};
    let format = match policy.security_hub_write_back {
        SecurityHubWriteBack::Off => return None,
        _ if incident.security_hub.is_some() => return incident.security_hub.clone(),
        SecurityHubWriteBack::Delivered => return None,
        SecurityHubWriteBack::Ocsf => FindingFormat::Ocsf,
        SecurityHubWriteBack::Asff => FindingFormat::Asff,
    };
    let IncidentKind::Guardduty(f) = &incident.kind else { return None };
    let (account, region) = (incident.origin.account.as_ref()?, incident.origin.region.as_ref()?);
    let detector = f.detector_id.as_deref()?;
    let partition = region.partition();
    let product = match format {
        FindingFormat::Ocsf => "productv2",
        FindingFormat::Asff => "product",
    };
    Some(SecurityHubRef {
        format,
        id: format!("arn:{partition}:guardduty:{region}:{account}:detector/{detector}/finding/{}", f.finding_id),
        product_uid: format!("arn:{partition}:securityhub:{region}::{product}/aws/guardduty"),
        account: account.to_string(),
        region: region.to_string(),
        updated_at: f.updated_at.clone(),
    })
}

/// Stable across redeliveries: GuardDuty re-emits a finding with the same id, CloudTrail events have
/// an `eventID`, an alarm transition is its ARN plus the state timestamp.
fn incident_key(incident: &Incident) -> String {
    use crate::state_keys::INCIDENT;
    let account = incident.origin.account.as_ref().map_or("unknown", |a| a.as_str());
    let region = incident.origin.region.as_ref().map_or("unknown", |r| r.as_str());
    match &incident.kind {
        IncidentKind::Guardduty(f) => crate::state_keys::guardduty_incident(account, region, &f.finding_id),
        // GuardDuty's finding under GuardDuty's key: the same finding delivered twice is claimed once.
        IncidentKind::SecurityHub(f) => match &f.guardduty {
            Some(g) => crate::state_keys::guardduty_incident(account, region, &g.finding_id),
            None => format!(
                "{INCIDENT}securityhub#{account}#{region}#{}",
                incident.security_hub.as_ref().map_or("no-id", |r| r.id.as_str())
            ),
        },
        IncidentKind::Cloudtrail(e) => {
            let id = e.event_id.as_deref().or(incident.delivery_id.as_deref()).unwrap_or("no-id");
            format!("{INCIDENT}cloudtrail#{account}#{region}#{id}")
        }
        IncidentKind::Alarm(a) => {
            let name = a.alarm_arn.as_deref().unwrap_or(&a.alarm_name);
            match &a.contributor {
                Some(c) => format!("{INCIDENT}alarm#{name}#contributor#{}#{}", c.id, a.state_timestamp),
                None => format!("{INCIDENT}alarm#{name}#{}", a.state_timestamp),
            }
        }
        IncidentKind::Recognised { .. } => {
            format!("{INCIDENT}recognised#{account}#{region}#{}", incident.delivery_id.as_deref().unwrap_or("no-id"))
        }
    }
}

#[cfg(test)]
mod decision_tests;
