//! Security Hub findings: another product's are notified with their severity and resources and never
//! acted on; GuardDuty's are decided from GuardDuty's own copy (`GetFindings`), exactly like GuardDuty's
//! own event and under its key, so that the finding arriving both ways is acted on once.

use super::draft::Draft;
use super::settings::Policy;
use crate::incident::{SecurityHubFinding, SeverityLabel};

pub(super) fn decide(f: &SecurityHubFinding, policy: &Policy) -> Draft {
    let severity = SeverityLabel::from_guardduty(f.severity);
    let summary = format!("Security Hub: {} finding {}", f.product, f.title);
    if let Some(status) = &f.closed {
        return Draft::ignore(severity, summary, format!("the finding is {status} in Security Hub"));
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
        return Draft::notify(
            severity,
            summary,
            format!(
                "GuardDuty finding {} delivered by Security Hub: decided from GuardDuty's own copy (GetFindings), \
                 exactly as GuardDuty's event is, and acted on once whichever arrives first",
                origin.finding_id
            ),
        );
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
