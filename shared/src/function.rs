//! The three Lambda functions: which incident kinds each acts on, and so which steps it can run and
//! which IAM actions its role must grant (exactly those).

use crate::incident::Kind;
use crate::plan::{StepKind, EXECUTOR_IAM_ACTIONS};
use std::collections::BTreeSet;

/// The signing key (both functions read it) and the sweep of expired requests (a scan of the table).
pub const APPROVAL_IAM_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue", "dynamodb:Scan"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    GuarddutyResponder,
    AlarmResponder,
    CloudtrailResponder,
}

impl Function {
    pub const ALL: [Function; 3] = [Self::GuarddutyResponder, Self::AlarmResponder, Self::CloudtrailResponder];

    /// The crate and the deployed function's name (`firebreak-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::GuarddutyResponder => "guardduty-responder",
            Self::AlarmResponder => "alarm-responder",
            Self::CloudtrailResponder => "cloudtrail-responder",
        }
    }

    /// The incident kinds it acts on; any other is refused.
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Self::GuarddutyResponder => &[Kind::Guardduty],
            Self::AlarmResponder => &[Kind::Alarm],
            Self::CloudtrailResponder => &[Kind::Cloudtrail],
        }
    }

    /// Whether it handles `kind`. A recognised event that is deliberately ignored is answered by any.
    pub fn handles(self, kind: Kind) -> bool {
        kind == Kind::Recognised || self.kinds().contains(&kind)
    }

    /// Every step a plan it executes can hold.
    pub fn steps(self) -> BTreeSet<StepKind> {
        self.kinds().iter().flat_map(|k| k.possible_steps().iter().copied()).collect()
    }

    /// Whether it signs approval links, and so whether the approval function (which runs the plans it
    /// asked about, under its role) shares its role.
    pub fn asks_for_approval(self) -> bool {
        self.kinds().contains(&Kind::Guardduty)
    }

    /// What its role must grant: the executor's own calls, every declared action of its steps, and for
    /// the function that asks for approval what the approval function adds.
    pub fn iam_actions(self) -> BTreeSet<&'static str> {
        let steps = self.steps().into_iter().flat_map(|s| s.iam_actions().iter().copied());
        let approval = APPROVAL_IAM_ACTIONS.iter().copied().filter(|_| self.asks_for_approval());
        EXECUTOR_IAM_ACTIONS.iter().copied().chain(steps).chain(approval).collect()
    }
}
