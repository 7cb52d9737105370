//! What happened when a plan ran: one outcome per step. `firebreak respond` prints it, the
//! notification is rendered from it, and the Lambda functions return it.

use crate::error::Error;
use crate::incident::{Kind, SeverityLabel};
use crate::plan::{Decision, Plan};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        detail: String,
    },
    Skipped {
        reason: String,
    },
    /// The typed error is kept: whether the event is retried depends on it.
    Failed {
        #[serde(serialize_with = "as_text")]
        error: Error,
    },
}

fn as_text<S: Serializer>(error: &Error, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(error)
}

impl Outcome {
    pub fn done(detail: impl Into<String>) -> Self {
        Self::Done { detail: detail.into() }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::Skipped { reason: reason.into() }
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionReport {
    pub action: &'static str,
    /// The instance the step acted on, in a plan that acts on several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
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
    /// How fast the run acted, for the metrics (not part of the report's JSON contract).
    #[serde(skip)]
    pub timings: Timings,
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
            timings: Timings::default(),
        }
    }

    pub fn push(&mut self, action: &'static str, outcome: Outcome) {
        self.actions.push(ActionReport { action, target: None, outcome });
    }

    pub fn failures(&self) -> Vec<&ActionReport> {
        self.actions.iter().filter(|a| a.outcome.is_failed()).collect()
    }

    /// Whether a redelivery could change anything: some step failed in a way that may pass.
    pub fn retry_may_help(&self) -> bool {
        self.actions.iter().filter_map(|a| a.outcome.error()).any(Error::is_retryable)
    }

    pub fn outcome_of(&self, action: &str) -> Option<&Outcome> {
        self.actions.iter().find(|a| a.action == action).map(|a| &a.outcome)
    }
}
