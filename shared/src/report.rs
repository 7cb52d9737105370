//! What happened when a plan ran: one outcome per action. `firebreak respond` prints it, the
//! notification is rendered from it, and the Lambda functions return it.

use crate::incident::SeverityLabel;
use crate::plan::{Decision, Plan};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done { detail: String },
    Skipped { reason: String },
    Failed { error: String },
}

impl Outcome {
    pub fn done(detail: impl Into<String>) -> Self {
        Self::Done { detail: detail.into() }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::Skipped { reason: reason.into() }
    }
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self::Failed { error: error.to_string() }
    }
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionReport {
    pub action: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub incident_key: String,
    pub kind: &'static str,
    pub decision: Decision,
    pub severity: SeverityLabel,
    pub summary: String,
    pub reasons: Vec<String>,
    pub actions: Vec<ActionReport>,
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
        }
    }

    pub fn push(&mut self, action: &'static str, outcome: Outcome) {
        self.actions.push(ActionReport { action, outcome });
    }

    pub fn failures(&self) -> Vec<&ActionReport> {
        self.actions.iter().filter(|a| a.outcome.is_failed()).collect()
    }

    pub fn outcome_of(&self, action: &str) -> Option<&Outcome> {
        self.actions.iter().find(|a| a.action == action).map(|a| &a.outcome)
    }
}
