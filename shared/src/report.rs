//! What happened when a plan ran: one outcome per step. `firebreak respond` prints it, the
//! notification is rendered from it, and the Lambda functions return it.

use crate::error::Error;
use crate::incident::{Kind, SeverityLabel};
use crate::plan::{Decision, Plan};
use serde::{Serialize, Serializer};

pub use crate::plan::{LIFT_CREDENTIAL_REVOCATION, REMOVE_QUARANTINE_TAGS, RESTORE_GROUPS, RESTORE_METADATA_SERVICE};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        detail: String,
    },
    Skipped {
        reason: String,
        /// The cap that held the step back, when one did (so counted as held back, typed, never read
        /// from the reason's words).
        #[serde(skip_serializing_if = "Option::is_none")]
        held_by: Option<HeldBy>,
    },
    /// The typed error is kept: whether the event is retried depends on it.
    Failed {
        #[serde(serialize_with = "as_text")]
        error: Error,
    },
}

/// The caps that hold a step back. Persisted (`held_by` of a report): pinned in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldBy {
    /// `FIREBREAK_MAX_CONTAINMENTS_PER_HOUR` (or the idle stops' `FIREBREAK_MAX_STOPS_PER_HOUR`).
    BlastRadiusCap,
    /// `FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR`.
    BlockedDomainsCap,
}

fn as_text<S: Serializer>(error: &Error, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(error)
}

impl Outcome {
    pub fn done(detail: impl Into<String>) -> Self {
        Self::Done { detail: detail.into() }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::Skipped { reason: reason.into(), held_by: None }
    }
    /// Not done because `cap` is reached: the step waits (queued, or for the next window).
    pub fn held_by(cap: HeldBy, reason: impl Into<String>) -> Self {
        Self::Skipped { reason: reason.into(), held_by: Some(cap) }
    }
    pub fn failed(error: Error) -> Self {
        Self::Failed { error }
    }
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done { .. })
    }
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Failed { error } => Some(error),
            _ => None,
        }
    }
    /// `done`, `skipped` or `failed`: the serialised tag.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Done { .. } => "done",
            Self::Skipped { .. } => "skipped",
            Self::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionReport {
    pub action: &'static str,
    /// The instance the step acted on, in a plan that acts on several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When the outcome was known, from the start of the run (for the incident's timeline).
    #[serde(skip)]
    pub at: Option<std::time::Duration>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub incident_key: String,
    pub kind: Kind,
    pub decision: Decision,
    pub severity: SeverityLabel,
    pub summary: String,
    pub reasons: Vec<String>,
    pub actions: Vec<ActionReport>,
    /// The links of a request for approval, and its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::ApprovalLinks>,
    /// An approved run not started yet: Firebreak starts it again until then (epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrying_until: Option<u64>,
    /// What each contained instance looked like when read back after the steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<crate::receipt::Receipt>,
    /// How fast the run acted, for the metrics (not part of the report's JSON contract).
    #[serde(skip)]
    pub timings: Timings,
}

/// How a run's acting steps ended, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub done: u32,
    pub skipped: u32,
    pub failed: u32,
    pub held: u32,
}

/// Measured by the executor with the run's clock, from the moment it started on the incident.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Until the (last) instance's isolation swap was done.
    pub isolated_after: Option<std::time::Duration>,
    /// Until the notification was published.
    pub notified_after: Option<std::time::Duration>,
    /// This run opened the blast-radius circuit.
    pub circuit_opened: bool,
    /// The blast-radius cap held this run's containment back (it is queued for the sweep).
    pub held_back: bool,
}

impl Report {
    pub fn new(plan: &Plan) -> Self {
        Self {
            incident_key: plan.incident_key.clone(),
            kind: plan.kind,
            decision: plan.decision,
            severity: plan.severity,
            summary: plan.summary.clone(),
            reasons: plan.reasons.clone(),
            actions: Vec::new(),
            approval: None,
            retrying_until: None,
            receipts: Vec::new(),
            timings: Timings::default(),
        }
    }

    pub fn push(&mut self, action: &'static str, outcome: Outcome) {
        self.actions.push(ActionReport { action, target: None, at: None, outcome });
    }

    /// [`Self::push`], with when the outcome was known.
    pub fn push_at(&mut self, at: std::time::Duration, action: &'static str, outcome: Outcome) {
        self.actions.push(ActionReport { action, target: None, at: Some(at), outcome });
    }

    pub fn failures(&self) -> Vec<&ActionReport> {
        self.actions.iter().filter(|a| a.outcome.is_failed()).collect()
    }

    /// Whether a redelivery could change anything: some step failed in a way that may pass.
    pub fn retry_may_help(&self) -> bool {
        self.actions.iter().filter_map(|a| a.outcome.error()).any(Error::is_retryable)
    }

    /// The acting steps' outcomes counted: done, skipped (not held back), failed, held back by the cap.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for a in self.actions.iter().filter(|a| a.action != "notify") {
            match &a.outcome {
                Outcome::Done { .. } => tally.done += 1,
                Outcome::Failed { .. } => tally.failed += 1,
                Outcome::Skipped { held_by: Some(_), .. } => tally.held += 1,
                Outcome::Skipped { .. } => tally.skipped += 1,
            }
        }
        tally
    }

    pub fn outcome_of(&self, action: &str) -> Option<&Outcome> {
        self.actions.iter().find(|a| a.action == action).map(|a| &a.outcome)
    }
}

/// What the state table keeps of an incident for `firebreak incidents`: one JSON attribute of its claim
/// item, written with the claim's finish (no extra call), expiring with it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IncidentRecord {
    /// When the run started (epoch seconds).
    pub started_at: u64,
    pub account: Option<String>,
    pub region: Option<String>,
    pub kind: String,
    pub decision: String,
    pub severity: String,
    pub summary: String,
    pub steps_done: u32,
    pub steps_failed: u32,
    pub steps_held: u32,
    pub time_to_isolation_ms: Option<u64>,
    pub timeline: Vec<TimelineEntry>,
    /// Each contained instance as read back (absent from records written before receipts existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<crate::receipt::Receipt>,
}

/// One step's outcome, when it was known.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    /// Milliseconds from the start of the run.
    pub at_ms: Option<u64>,
    pub step: String,
    pub target: Option<String>,
    /// `done`, `skipped` or `failed`.
    pub status: String,
    pub detail: String,
}

/// Far inside DynamoDB's 400 KB item limit, whatever the steps wrote.
const MAX_TIMELINE: usize = 200;
const MAX_DETAIL: usize = 300;

impl IncidentRecord {
    pub fn of(report: &Report, origin: &crate::incident::Origin, started_at: u64) -> Self {
        let tally = report.tally();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            started_at,
            account: origin.account.as_ref().map(ToString::to_string),
            region: origin.region.as_ref().map(ToString::to_string),
            kind: report.kind.as_str().to_owned(),
            decision: serde_json::to_value(report.decision)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            severity: report.severity.as_str().to_owned(),
            summary: report.summary.chars().take(MAX_DETAIL).collect(),
            steps_done: tally.done,
            steps_failed: tally.failed,
            steps_held: tally.held,
            time_to_isolation_ms: report.timings.isolated_after.map(millis),
            timeline: report
                .actions
                .iter()
                .take(MAX_TIMELINE)
                .map(|a| {
                    let (status, detail) = match &a.outcome {
                        Outcome::Done { detail } => ("done", detail.clone()),
                        Outcome::Skipped { reason, .. } => ("skipped", reason.clone()),
                        Outcome::Failed { error } => ("failed", error.to_string()),
                    };
                    TimelineEntry {
                        at_ms: a.at.map(millis),
                        step: a.action.to_owned(),
                        target: a.target.clone(),
                        status: status.to_owned(),
                        detail: detail.chars().take(MAX_DETAIL).collect(),
                    }
                })
                .collect(),
            receipts: report.receipts.clone(),
        }
    }
}

/// An incident as the state table has it, for `firebreak incidents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredIncident {
    pub key: String,
    /// `done`, `released` (will be retried or acted on later), `in_progress`.
    pub status: String,
    pub record: IncidentRecord,
    /// What happened after the run, one line each, oldest first (a malware scan's finding joined).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub later: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_held_a_step_back_is_a_persisted_name() {
        let held = serde_json::to_value(Outcome::held_by(HeldBy::BlastRadiusCap, "held back")).expect("json");
        assert_eq!(
            held,
            serde_json::json!({"status": "skipped", "reason": "held back", "held_by": "blast_radius_cap"})
        );
        assert_eq!(serde_json::to_value(HeldBy::BlockedDomainsCap).expect("json"), "blocked_domains_cap");
        let skipped = serde_json::to_value(Outcome::skipped("exempt")).expect("json");
        assert_eq!(skipped, serde_json::json!({"status": "skipped", "reason": "exempt"}), "no field when no cap");
    }
}
