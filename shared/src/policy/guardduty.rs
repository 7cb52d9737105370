//! GuardDuty policy: contain compromised instances, notify for everything else worth a look.

use super::{step, Draft, Policy};
use crate::incident::{GuardDutyFinding, GuardDutyResourceType, SeverityLabel};
use crate::plan::{Decision, Step};

pub(super) fn decide(f: &GuardDutyFinding, policy: &Policy) -> Draft {
    let severity = SeverityLabel::from_guardduty(f.severity);
    let target = match (&f.instance_id, &f.instance_name) {
        (Some(id), Some(name)) => format!(" on {id} ({name})"),
        (Some(id), None) => format!(" on {id}"),
        _ => format!(" ({})", f.resource_type),
    };
    let sample = if f.sample { "[SAMPLE] " } else { "" };
    let summary = format!("{sample}GuardDuty {}{target}", f.finding_type);
    if f.archived {
        return Draft::ignore(severity, summary, "the finding is archived (suppressed in GuardDuty)".into());
    }
    if f.severity < policy.notify_min_severity {
        return Draft::ignore(
            severity,
            summary,
            format!("severity {} is below the notification threshold {}", f.severity, policy.notify_min_severity),
        );
    }
    if f.sample {
        return Draft::notify(
            severity,
            summary,
            "sample finding: notified and marked as a sample, never contained".into(),
        );
    }
    let Some(instance_id) = f.instance_id.clone().filter(|_| f.resource_type == GuardDutyResourceType::Instance) else {
        return Draft::notify(
            severity,
            summary,
            format!(
                "a finding about resource type {}: Firebreak contains only EC2 instances, so it notifies",
                f.resource_type
            ),
        );
    };
    if f.severity < policy.contain_min_severity {
        return Draft::notify(
            severity,
            summary,
            format!(
                "severity {} is below the containment threshold {}: notify only",
                f.severity, policy.contain_min_severity
            ),
        );
    }
    let why = format!("severity {} ≥ {} on an EC2 instance: contain", f.severity, policy.contain_min_severity);
    let id = || instance_id.clone();
    Draft {
        decision: Decision::Contain,
        severity,
        summary,
        reasons: vec![why],
        actions: vec![
            step(
                Step::DetachFromAutoScalingGroup { instance_id: id() },
                "first, out of Auto Scaling's hands, so the group neither replaces nor terminates it",
            ),
            step(
                Step::IsolateInstance { instance_id: id() },
                "cut every network interface off, tracked connections included",
            ),
            step(
                Step::ProtectInstance { instance_id: id() },
                "keep the evidence: termination protection, shutdown behaviour stop",
            ),
            step(Step::DeregisterFromTargetGroups { instance_id: id() }, "stop it from receiving traffic"),
            step(Step::SnapshotVolumes { instance_id: id() }, "preserve the disks for forensics"),
            step(Step::TagInstance { instance_id: id() }, "mark it with the incident"),
            step(Step::Notify, "tell a person what happened and what was done"),
        ],
        rule: None,
    }
}
