//! What GuardDuty confirms. Whoever may invoke a function can hand it a finding GuardDuty never
//! produced, so a GuardDuty plan is acted on only as GuardDuty returns the finding (`GetFindings`):
//! its severity, type, resources and times, decided again with the same policy. Pure: the adapter
//! reads the finding, this compares and decides.

use crate::incident::{Incident, IncidentKind};
use crate::plan::{Decision, Plan};
use crate::policy::{decide, Policy};

/// What the delivered plan must be read back as: which detector, which finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRef {
    pub detector_id: String,
    pub finding_id: String,
}

/// The finding a GuardDuty plan must be confirmed with before it acts, or why it cannot be:
/// `Ok(None)` for a plan that is not about a GuardDuty finding (alarms and CloudTrail are confirmed
/// their own way).
pub fn finding_to_confirm(plan: &Plan) -> Result<Option<FindingRef>, String> {
    if let Some(g) = delivered_by_security_hub(plan) {
        return Ok(Some(FindingRef { detector_id: g.detector_id.clone(), finding_id: g.finding_id.clone() }));
    }
    let IncidentKind::Guardduty(f) = &plan.incident.kind else { return Ok(None) };
    match &f.detector_id {
        Some(detector_id) => {
            Ok(Some(FindingRef { detector_id: detector_id.clone(), finding_id: f.finding_id.clone() }))
        }
        None => Err(format!(
            "refused: the finding {} names no detector (service.detectorId), so GuardDuty cannot confirm it; \
             nothing was done",
            f.finding_id
        )),
    }
}

/// The alarm, and the instance it would stop, that CloudWatch must confirm before a person is asked to
/// approve an idle stop: the request is a message into the approvers' channel, and anyone allowed
/// `SetAlarmState`, or to invoke the function, can make an alarm event say anything.
pub fn alarm_to_confirm(plan: &Plan) -> Option<(&str, &crate::incident::InstanceId)> {
    let IncidentKind::Alarm(alarm) = &plan.incident.kind else { return None };
    if plan.decision != Decision::AwaitApproval {
        return None;
    }
    plan.actions.iter().find_map(|a| match &a.step {
        crate::plan::Step::StopInstance { instance_id } => Some((alarm.alarm_name.as_str(), instance_id)),
        _ => None,
    })
}

/// The GuardDuty finding a Security Hub delivery carries: its plan is always GuardDuty's copy's, even
/// when what Security Hub says would only notify.
pub fn delivered_by_security_hub(plan: &Plan) -> Option<&crate::incident::GuardDutyOrigin> {
    match &plan.incident.kind {
        IncidentKind::SecurityHub(f) if plan.decision != Decision::Ignore => f.guardduty.as_ref(),
        _ => None,
    }
}

/// Why a finding GuardDuty does not know is not acted on.
pub fn unknown_to_guardduty(plan: &Plan, finding: &FindingRef) -> String {
    let account = plan.incident.origin.account.as_ref().map_or("(unknown account)", |a| a.as_str());
    let region = plan.incident.origin.region.as_ref().map_or("(unknown region)", |r| r.as_str());
    format!(
        "refused: GuardDuty's detector {} in {account} {region} does not know finding {}: a finding GuardDuty did \
         not produce is never acted on, whoever delivered it; nothing was done",
        finding.detector_id, finding.finding_id
    )
}

/// The plan for `confirmed`, GuardDuty's own copy of the finding `delivered` was decided from, or why
/// nothing may be done: another finding, account or region than the event claimed, or other
/// instances. GuardDuty's `updatedAt` is never taken as later than `now` (RFC 3339), so no session
/// revocation reaches into the future.
pub fn confirmed_plan(delivered: &Plan, mut confirmed: Incident, policy: &Policy, now: &str) -> Result<Plan, String> {
    let IncidentKind::Guardduty(finding) = &mut confirmed.kind else {
        return Err("refused: GuardDuty's answer is not a finding; nothing was done".into());
    };
    if finding.updated_at.get(..19).unwrap_or(&finding.updated_at) > now.get(..19).unwrap_or(now) {
        finding.updated_at = now.to_owned();
    }
    // `confirmed.event`, kept to decide again (a request for approval, the held-back queue), stays
    // GuardDuty's copy as the caller made it: never what was delivered (a Security Hub copy, decided
    // again, only notifies).
    confirmed.delivery_id.clone_from(&delivered.incident.delivery_id);
    confirmed.security_hub.clone_from(&delivered.incident.security_hub);
    let mut plan = decide(&confirmed, policy);
    if delivered.incident_key.starts_with(crate::state_keys::APPROVED) {
        // A person approved this plan: GuardDuty's copy still asks for one, so it runs as approved,
        // under the approved run's own claim. A copy that no longer warrants it (archived, lower) does not.
        plan.incident_key = crate::state_keys::approved(&plan.incident_key);
        if plan.decision == Decision::AwaitApproval
            && matches!(delivered.decision, Decision::Contain | Decision::Revoke)
        {
            plan.decision = delivered.decision;
            plan.summary.clone_from(&delivered.summary);
            plan.reasons.clone_from(&delivered.reasons);
        } else if matches!(plan.decision, Decision::Contain | Decision::Revoke) {
            // GuardDuty's copy now acts without a person (raised past the automatic threshold): it
            // still says who or what approved this run.
            plan.summary.clone_from(&delivered.summary);
            if let Some(approval) = delivered.reasons.first().filter(|r| !plan.reasons.contains(r)) {
                plan.reasons.insert(0, approval.clone());
            }
        }
    }
    if plan.incident_key != delivered.incident_key {
        return Err(format!(
            "refused: the event claims {}, GuardDuty's finding is {}: nothing was done",
            delivered.incident_key, plan.incident_key
        ));
    }
    // A Security Hub delivery names no instance of its own to act on: the plan is GuardDuty's copy's.
    let (claimed, actual) = (delivered.instances(), plan.instances());
    if !actual.is_empty() && claimed != actual && delivered_by_security_hub(delivered).is_none() {
        let names =
            |ids: &[&crate::incident::InstanceId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "refused: the event names {} but GuardDuty's finding names {}: nothing was done",
            names(&claimed),
            names(&actual)
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{parse_guardduty_api_finding, parse_value};
    use serde_json::{json, Value};

    fn event() -> Value {
        let path = format!("{}/../events/guardduty/ec2-backdoor-high-severity.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
    }

    fn delivered(event: Value, policy: &Policy) -> Plan {
        decide(&parse_value(event).expect("parses").remove(0), policy)
    }

    fn guardduty_copy(edit: impl FnOnce(&mut Value)) -> Incident {
        let mut finding = event()["detail"].clone();
        finding["service"]["additionalInfo"] = json!({"value": "{}", "type": "default"});
        edit(&mut finding);
        parse_guardduty_api_finding(finding, None).expect("GuardDuty's copy parses")
    }

    #[test]
    fn a_finding_without_a_detector_cannot_be_confirmed() {
        let mut no_detector = event();
        no_detector["detail"]["service"].as_object_mut().expect("service").remove("detectorId");
        let plan = delivered(no_detector, &Policy::default());
        assert!(finding_to_confirm(&plan).is_err_and(|why| why.contains("names no detector")));
        let plan = delivered(event(), &Policy::default());
        let wanted = finding_to_confirm(&plan).expect("confirmable").expect("a GuardDuty plan");
        assert_eq!(wanted.finding_id, "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7");
    }

    #[test]
    fn guardduty_s_copy_decides_and_no_time_is_later_than_now() {
        let policy = Policy::default();
        let plan = delivered(event(), &policy);
        let now = "2026-11-24T06:30:00Z";
        let future = guardduty_copy(|f| f["updatedAt"] = json!("2099-01-01T00:00:00.000Z"));
        let confirmed = confirmed_plan(&plan, future, &policy, now).expect("the same finding");
        let IncidentKind::Guardduty(f) = &confirmed.incident.kind else { panic!("{confirmed:?}") };
        assert_eq!(f.updated_at, now);
        let archived = guardduty_copy(|f| f["service"]["archived"] = json!(true));
        assert_eq!(confirmed_plan(&plan, archived, &policy, now).expect("same").decision, Decision::Ignore);
        let elsewhere = guardduty_copy(|f| f["accountId"] = json!("444455556666"));
        assert!(confirmed_plan(&plan, elsewhere, &policy, now).is_err_and(|why| why.contains("444455556666")));
    }

    #[test]
    fn an_approved_containment_runs_as_approved_while_guardduty_still_asks_for_it() {
        let policy = Policy {
            approval: crate::policy::ApprovalPolicy {
                instances: vec!["i-0abc1234def567890".into()],
                ..Default::default()
            },
            ..Policy::default()
        };
        let request = delivered(event(), &policy);
        assert_eq!(request.decision, Decision::AwaitApproval);
        let by = crate::approval::Approver {
            via: crate::approval::Via::Cli,
            source_ip: None,
            user_agent: None,
            user: Some("alice".into()),
            at: 0,
        };
        let approved = crate::approval::approved(request, &by);
        let now = "2026-11-24T06:30:00Z";
        let confirmed = confirmed_plan(&approved, guardduty_copy(|_| {}), &policy, now).expect("confirmed");
        assert_eq!((confirmed.decision, &confirmed.incident_key), (Decision::Contain, &approved.incident_key));
        assert!(confirmed.reasons[0].contains("approved by a person"), "{:?}", confirmed.reasons);
        let archived = guardduty_copy(|f| f["service"]["archived"] = json!(true));
        assert_eq!(confirmed_plan(&approved, archived, &policy, now).expect("same").decision, Decision::Ignore);
    }
}
