//! The Lambda functions: which incident kinds each acts on, and so which steps it can run and which
//! IAM actions its role must grant (exactly those).

use crate::incident::Kind;
use crate::plan::{StepKind, EXECUTOR_IAM_ACTIONS};
use std::collections::BTreeSet;

/// What the function that acts on GuardDuty findings adds: reading each finding back from GuardDuty
/// before acting on it, in the finding's own account.
pub const CONFIRMATION_IAM_ACTIONS: &[&str] = &["guardduty:GetFindings"];

/// What a function that asks for approval adds: the key that signs its links, and reading the request
/// an approved run acts on.
pub const SIGNING_IAM_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue", "dynamodb:GetItem"];

/// What the function that sweeps the requests adds for its schedule: a query of its queue (expired
/// requests, approved runs not done, held-back containments, counts of repeats), and handing approved
/// idle stops to the alarm responder. The sweep runs there, never on the public URL's concurrency.
pub const SWEEP_IAM_ACTIONS: &[&str] = &["dynamodb:Query", "lambda:InvokeFunction"];

/// Everything the approval function does: verify links with the keys, read and settle requests, notify,
/// and ask the GuardDuty responder (or the alarm responder) to run an approved plan. It contains nothing
/// itself: a flaw in the one public function cannot touch an instance.
pub const APPROVAL_FUNCTION_IAM_ACTIONS: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "sns:Publish",
    "lambda:InvokeFunction",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    GuarddutyResponder,
    AlarmResponder,
    CloudtrailResponder,
    /// Serves the approval links; acts on no incident itself.
    ApprovalResponder,
    /// Notifies the findings other products deliver through Security Hub, with a concurrency of its own:
    /// a flood of them never takes the containment function's executions. Acts on nothing.
    FindingsNotifier,
    /// Runs the schedule's sweep (expired requests, approved runs not done, the containments the cap
    /// held back, the counts of repeated notifications) on a concurrency of its own, under the GuardDuty
    /// responder's role: the sweep never takes the containment function's executions.
    ContainmentSweeper,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Self::GuarddutyResponder,
        Self::AlarmResponder,
        Self::CloudtrailResponder,
        Self::ApprovalResponder,
        Self::FindingsNotifier,
        Self::ContainmentSweeper,
    ];

    /// The crate and the deployed function's name (`firebreak-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::GuarddutyResponder => "guardduty-responder",
            Self::AlarmResponder => "alarm-responder",
            Self::CloudtrailResponder => "cloudtrail-responder",
            Self::ApprovalResponder => "approval-responder",
            Self::FindingsNotifier => "findings-notifier",
            Self::ContainmentSweeper => "containment-sweeper",
        }
    }

    /// The incident kinds it acts on; any other is refused.
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Self::GuarddutyResponder => &[Kind::Guardduty, Kind::SecurityHub],
            Self::AlarmResponder => &[Kind::Alarm],
            Self::CloudtrailResponder => &[Kind::Cloudtrail],
            Self::ApprovalResponder => &[],
            Self::FindingsNotifier => &[Kind::SecurityHub],
            Self::ContainmentSweeper => &[],
        }
    }

    /// The kinds of the plans it runs: the delivered ones, and for the sweeper the GuardDuty
    /// responder's (it runs their held-back and approved containments again).
    fn planned_kinds(self) -> &'static [Kind] {
        self.role_owner().kinds()
    }

    /// The function whose role it runs under (its own, but for the sweeper's).
    pub fn role_owner(self) -> Function {
        match self {
            Self::ContainmentSweeper => Self::GuarddutyResponder,
            other => other,
        }
    }

    /// Whether it runs the schedule's sweep: the sweeper alone, never on the containment function's
    /// concurrency nor the public URL's.
    pub fn runs_the_sweep(self) -> bool {
        self == Self::ContainmentSweeper
    }

    /// Whether it handles `kind`. A recognised event that is deliberately ignored is answered by any.
    pub fn handles(self, kind: Kind) -> bool {
        kind == Kind::Recognised || self.kinds().contains(&kind)
    }

    /// Whether it handles `incident`: a Security Hub delivery of GuardDuty's own finding is the
    /// GuardDuty responder's (it contains once GuardDuty confirms), every other product's the findings
    /// notifier's, so that only GuardDuty's findings take the containment function's executions.
    pub fn handles_incident(self, incident: &crate::Incident) -> bool {
        match &incident.kind {
            crate::incident::IncidentKind::SecurityHub(f) => match self {
                Self::GuarddutyResponder => f.guardduty.is_some(),
                Self::FindingsNotifier => f.guardduty.is_none(),
                _ => false,
            },
            _ => self.handles(incident.kind()),
        }
    }

    /// The function that handles `incident`, for a refusal to name it.
    pub fn for_incident(incident: &crate::Incident) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.handles_incident(incident) && incident.kind() != Kind::Recognised)
    }

    /// Whether it acts in member accounts (through the member role): every function that acts on an
    /// incident; the findings notifier only notifies from the security account.
    pub fn acts_in_member_accounts(self) -> bool {
        self.planned_kinds().iter().any(|k| matches!(k, Kind::Guardduty | Kind::Alarm | Kind::Cloudtrail))
    }

    /// Whether it counts repeated notifications of one kind (`crate::repeats`): the functions whose
    /// plans may only notify, in floods anyone can start (CloudTrail calls, imported findings).
    pub fn counts_repeats(self) -> bool {
        matches!(self, Self::CloudtrailResponder | Self::FindingsNotifier)
    }

    /// Whether a step it runs counts against a blast-radius cap (and so it reads the cap and opens
    /// the circuit).
    pub fn takes_cap_slots(self) -> bool {
        self.steps().iter().any(|s| s.cap().is_some())
    }

    /// Every step a plan it executes can hold.
    pub fn steps(self) -> BTreeSet<StepKind> {
        self.planned_kinds().iter().flat_map(|k| k.possible_steps().iter().copied()).collect()
    }

    /// Whether it reads findings back from GuardDuty before acting on them.
    pub fn confirms_findings(self) -> bool {
        self.planned_kinds().contains(&Kind::Guardduty)
    }

    /// Whether it seals the records later decisions trust (original groups, credential records,
    /// approval requests): the function that writes them, and so reads the state key.
    pub fn seals_records(self) -> bool {
        self.planned_kinds().contains(&Kind::Guardduty)
    }

    /// Whether it remembers the ingress ranges calls add to a group, to judge the next call's with them.
    pub fn remembers_ingress(self) -> bool {
        self.planned_kinds().contains(&Kind::Cloudtrail)
    }

    /// Whether it signs approval links: the functions whose plans may wait for a person (containments,
    /// revocations, idle stops), each with a key of its own.
    pub fn asks_for_approval(self) -> bool {
        self.planned_kinds().iter().any(|k| matches!(k, Kind::Guardduty | Kind::Alarm))
    }

    /// Whether its role may sweep (expired requests, approved runs not done, held-back containments):
    /// the GuardDuty responder's, which the sweeper runs under; never the public approval function's.
    pub fn sweeps_approvals(self) -> bool {
        self.planned_kinds().contains(&Kind::Guardduty)
    }

    /// What its role must grant: the executor's own calls, every declared action of its steps, and the
    /// signing key for the function that asks for approval; the approval function's own short list.
    pub fn iam_actions(self) -> BTreeSet<&'static str> {
        if self == Self::ApprovalResponder {
            return APPROVAL_FUNCTION_IAM_ACTIONS.iter().copied().collect();
        }
        let steps = self.steps().into_iter().flat_map(|s| s.iam_actions().iter().copied());
        let signing = SIGNING_IAM_ACTIONS.iter().copied().filter(|_| self.asks_for_approval() || self.seals_records());
        let confirmation = CONFIRMATION_IAM_ACTIONS.iter().copied().filter(|_| self.confirms_findings());
        let sweep = SWEEP_IAM_ACTIONS.iter().copied().filter(|_| self.sweeps_approvals());
        let executor = EXECUTOR_IAM_ACTIONS.iter().copied().filter(|a| match *a {
            "sts:AssumeRole" => self.acts_in_member_accounts(),
            // The circuit's opening, and a request for approval.
            "dynamodb:PutItem" => self.takes_cap_slots() || self.asks_for_approval(),
            _ => true,
        });
        executor.chain(steps).chain(signing).chain(confirmation).chain(sweep).collect()
    }
}
