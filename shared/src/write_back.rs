//! What Firebreak writes back on a Security Hub finding: a workflow status and a note, decided from
//! the plan and its outcomes. Pure; the executor sends it through `Fleet::update_security_hub_finding`.

use crate::events::{AS_OF, WRITE_BACK_MARK};
use crate::incident::SecurityHubRef;
use crate::plan::{Decision, Plan};
use crate::report::Report;

/// The longest note ASFF takes (`NoteUpdate.Text`), used for OCSF's comment too.
pub const NOTE_MAX: usize = 512;

/// Who the ASFF note says updated it (`NoteUpdate.UpdatedBy`).
pub const UPDATED_BY: &str = "firebreak";

/// The status a finding is given. Never one that hides it (suppressed, archived): Firebreak's role is
/// denied those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingStatus {
    /// A run or an approval is still open (held back, awaiting a person, a step to be retried).
    InProgress,
    /// Contained (or revoked), every step done and the receipt read back.
    Resolved,
    /// Only notified.
    Notified,
}

impl FindingStatus {
    /// ASFF `Workflow.Status`: it has no "in progress", so an open run is `NOTIFIED` and says so.
    pub fn asff(self) -> &'static str {
        match self {
            Self::Resolved => "RESOLVED",
            Self::InProgress | Self::Notified => "NOTIFIED",
        }
    }

    /// OCSF `status_id`: 2 In Progress, 4 Resolved; OCSF has no "notified", so a notified finding is in
    /// progress (in people's hands), never left New: a write-back is no news (only new findings are
    /// delivered and read), so Firebreak's echo is known by the status Security Hub holds.
    pub fn ocsf(self) -> Option<i32> {
        match self {
            Self::InProgress | Self::Notified => Some(2),
            Self::Resolved => Some(4),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in progress",
            Self::Resolved => "resolved",
            Self::Notified => "notified",
        }
    }
}

/// Whether a finding Security Hub holds in `status` is left as it is: one a person suppressed or
/// archived is never brought back by Firebreak's write-back.
pub fn left_as_it_is(status: &str) -> bool {
    matches!(status, "SUPPRESSED" | "ARCHIVED" | "Suppressed" | "Archived")
}

/// One finding's update.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingUpdate {
    pub finding: SecurityHubRef,
    pub status: FindingStatus,
    pub note: String,
}

/// The update of `finding` after `plan` ran with `report`; `open` when the incident stays open.
pub fn update(finding: &SecurityHubRef, plan: &Plan, report: &Report, open: bool) -> FindingUpdate {
    let failed = !report.failures().is_empty();
    let status = match plan.decision {
        _ if open || failed => FindingStatus::InProgress,
        Decision::AwaitApproval => FindingStatus::InProgress,
        Decision::Contain | Decision::Revoke | Decision::StopIdle => FindingStatus::Resolved,
        Decision::Notify | Decision::Ignore => FindingStatus::Notified,
    };
    let steps: Vec<String> = report
        .actions
        .iter()
        .filter(|a| a.action != crate::plan::StepKind::UpdateSecurityHubFinding.name())
        .map(|a| format!("{} {}", a.action, a.outcome.status()))
        .collect();
    // The finding's time first: a note cut to fit still tells its own echo.
    let note = format!(
        "{WRITE_BACK_MARK} ({AS_OF}{}): {} {}; incident {}; {}",
        finding.updated_at,
        plan.decision.as_str(),
        status.as_str(),
        plan.incident_key,
        if steps.is_empty() { "no step".to_owned() } else { steps.join(", ") }
    );
    FindingUpdate { finding: finding.clone(), status, note: cut(&note, NOTE_MAX) }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_value;
    use crate::policy::{decide, Policy};
    use crate::report::{Outcome, Report};

    fn plan(name: &str) -> (Plan, SecurityHubRef) {
        let path = format!("{}/../events/securityhub/{name}", env!("CARGO_MANIFEST_DIR"));
        let event = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        let incident = parse_value(event).expect("parses").remove(0);
        let finding = incident.security_hub.clone().expect("delivered by Security Hub");
        (decide(&incident, &Policy::default()), finding)
    }

    #[test]
    fn the_status_follows_the_outcome_and_never_hides_a_finding() {
        let (notified, finding) = plan("asff-inspector-ec2-cve.json");
        let mut report = Report::new(&notified);
        report.push("notify", Outcome::done("sent"));
        let update = update(&finding, &notified, &report, false);
        assert_eq!(
            (update.status, update.status.asff(), update.status.ocsf()),
            (FindingStatus::Notified, "NOTIFIED", Some(2))
        );
        let mut contained = notified.clone();
        contained.decision = Decision::Contain;
        assert_eq!(update_of(&finding, &contained, &report, false), FindingStatus::Resolved);
        assert_eq!(update_of(&finding, &contained, &report, true), FindingStatus::InProgress, "open");
        report.push("isolate_instance", Outcome::failed(crate::Error::refused("x", "y")));
        assert_eq!(update_of(&finding, &contained, &report, false), FindingStatus::InProgress, "a step to retry");
        for status in [FindingStatus::InProgress, FindingStatus::Resolved, FindingStatus::Notified] {
            assert!(["NOTIFIED", "RESOLVED"].contains(&status.asff()), "never NEW or SUPPRESSED");
            assert!(matches!(status.ocsf(), Some(2) | Some(4)), "never new, suppressed or archived");
        }
    }

    fn update_of(finding: &SecurityHubRef, plan: &Plan, report: &Report, open: bool) -> FindingStatus {
        update(finding, plan, report, open).status
    }

    /// The note starts with the mark and the finding's own time, so that even cut to ASFF's 512
    /// characters it is recognised when Security Hub delivers it back.
    #[test]
    fn the_note_names_the_incident_and_fits_even_when_the_steps_do_not() {
        let (plan, finding) = plan("asff-guardduty-ec2-backdoor.json");
        let mut report = Report::new(&plan);
        for _ in 0..60 {
            report.push("snapshot_volumes", Outcome::done("x"));
        }
        let note = update(&finding, &plan, &report, false).note;
        assert!(note.chars().count() <= NOTE_MAX, "{}", note.len());
        assert!(note.starts_with(&format!("{WRITE_BACK_MARK} ({AS_OF}2026-11-24T05:58:11.000Z): ")), "{note}");
        assert!(note.contains(&plan.incident_key), "{note}");
        let mut echo: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../events/securityhub/asff-guardduty-ec2-backdoor.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("sample"),
        )
        .expect("json");
        // A note is anyone's to write: a new finding carrying Firebreak's is still news; the echo is
        // known by the status the write-back set.
        echo["detail"]["findings"][0]["Note"] = serde_json::json!({"Text": note, "UpdatedBy": UPDATED_BY});
        let forged = crate::policy::decide(&parse_value(echo.clone()).expect("parses")[0], &Policy::default());
        assert_ne!(forged.decision, Decision::Ignore, "a note alone is no echo");
        let status = update(&finding, &plan, &report, false).status;
        echo["detail"]["findings"][0]["Workflow"] = serde_json::json!({"Status": status.asff()});
        let again = crate::policy::decide(&parse_value(echo).expect("parses")[0], &Policy::default());
        assert_eq!(again.decision, Decision::Ignore, "{:?}", again.reasons);
    }
}
