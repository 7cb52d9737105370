//! Security Hub findings: another product's are notified with their severity and resources and never
//! acted on; GuardDuty's are decided from GuardDuty's own copy (`GetFindings`), exactly like GuardDuty's
//! own event and under its key, so that the finding arriving both ways is acted on once.

use super::draft::Draft;
use super::settings::Policy;
use crate::incident::{
    GuardDutyFinding, GuardDutyOrigin, GuardDutyResourceType, InstanceId, SecurityHubFinding, SeverityLabel,
};

pub(super) fn decide(f: &SecurityHubFinding, policy: &Policy) -> Draft {
    let severity = SeverityLabel::from_guardduty(f.severity);
    let summary = format!("Security Hub: {} finding {}", f.product, f.title);
    if let Some(status) = &f.closed {
        return Draft::ignore(
            severity,
            summary,
            format!(
                "the finding is {status} in Security Hub, no longer new: taken up already (Firebreak's own write-back never \
                 leaves one new)"
            ),
        );
    }
    if let Some(origin) = &f.guardduty {
        if origin.sequence {
            return Draft::ignore(
                severity,
                summary,
                "an attack sequence is contained from GuardDuty's own event only: Security Hub's copy keeps at most \
                 10 of its actors and endpoints (ASFF), and GuardDuty's event names every instance"
                    .into(),
            );
        }
        let decided = format!(
            "GuardDuty finding {} delivered by Security Hub: decided from GuardDuty's own copy (GetFindings), exactly \
             as GuardDuty's event is, and acted on once whichever arrives first",
            origin.finding_id
        );
        let Some(instance_id) = one_instance(f) else {
            return Draft::notify(severity, summary, format!("{decided}; GuardDuty's copy may warrant more than this"));
        };
        // What GuardDuty's copy would warrant if it says what this copy says: listed, each step awaiting
        // that copy (the plan's `awaits`), never taken on this copy's word.
        let mut draft = super::guardduty::decide(&as_guardduty_says(f, origin, instance_id), policy);
        draft.reasons.insert(
            0,
            format!(
                "{decided}; the steps are what a copy saying what this one says warrants, each awaiting GuardDuty's \
                 (which may warrant more: the DNS cut of a domain only it names)"
            ),
        );
        return draft;
    }
    if f.severity < policy.notify_min_severity {
        return Draft::ignore(
            severity,
            summary,
            format!(
                "{} severity {} is below the notification threshold {}",
                f.product, f.severity_label, policy.notify_min_severity
            ),
        );
    }
    Draft::notify(
        severity,
        summary,
        format!(
            "a finding of {} ({} severity): notified with its resources; Firebreak acts on GuardDuty's findings only",
            f.product, f.severity_label
        ),
    )
}

/// The one EC2 instance a Security Hub copy names (`AwsEc2Instance` by ARN in ASFF, `AWS::EC2::Instance`
/// by id in OCSF), if it names exactly one.
fn one_instance(f: &SecurityHubFinding) -> Option<InstanceId> {
    let mut instances = f.resources.iter().filter_map(|r| {
        let (kind, id) = r.split_once(' ')?;
        matches!(kind, "AwsEc2Instance" | "AWS::EC2::Instance").then(|| InstanceId::parse(id.rsplit('/').next()?))?
    });
    let first = instances.next()?;
    instances.next().is_none().then_some(first)
}

/// The GuardDuty finding a Security Hub copy says it is, for the plan alone: its type, severity, the
/// instance and the DNS domain as Security Hub carries them.
fn as_guardduty_says(f: &SecurityHubFinding, origin: &GuardDutyOrigin, instance_id: InstanceId) -> GuardDutyFinding {
    GuardDutyFinding {
        finding_id: origin.finding_id.clone(),
        finding_type: origin.finding_type.clone().unwrap_or_else(|| f.title.clone()),
        title: f.title.clone(),
        severity: f.severity,
        resource_type: GuardDutyResourceType::Instance,
        instance_id: Some(instance_id),
        instance_name: None,
        vpc_ids: Vec::new(),
        sample: false,
        archived: false,
        count: 1,
        updated_at: String::new(),
        feature: None,
        detector_id: Some(origin.detector_id.clone()),
        sequence: None,
        process: None,
        workload: None,
        access_key: None,
        dns_domain: origin.dns_domain.clone(),
        malware_scan: None,
    }
}
