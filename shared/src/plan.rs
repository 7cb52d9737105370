//! The plan: what Firebreak decided for one incident and why. It is the `firebreak plan` contract,
//! the structured decision record in the logs, the program the executor runs, and the source the
//! notification is rendered from.

use crate::incident::{Incident, IngressPermission, InstanceId, Kind, SeverityLabel};
use serde::Serialize;

/// One thing a plan does, with its typed target. What each step needs to be run safely (its phase,
/// its journal key, whether the cap counts it, its IAM actions) is declared by its [`StepKind`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Swap every network interface to the isolation group, breaking tracked connections first.
    IsolateInstance {
        instance_id: InstanceId,
    },
    /// Termination protection on, shutdown behaviour `stop`: the evidence cannot be destroyed by accident.
    ProtectInstance {
        instance_id: InstanceId,
    },
    /// Out of its Auto Scaling group (desired capacity kept), so the group neither uses nor replaces it.
    DetachFromAutoScalingGroup {
        instance_id: InstanceId,
    },
    /// Out of every ELBv2 target group, so it receives no more traffic.
    DeregisterFromTargetGroups {
        instance_id: InstanceId,
    },
    SnapshotVolumes {
        instance_id: InstanceId,
    },
    TagInstance {
        instance_id: InstanceId,
    },
    StopInstance {
        instance_id: InstanceId,
    },
    RevokeSecurityGroupIngress {
        group_id: String,
        permissions: Vec<IngressPermission>,
        /// Judged world-open only together with ranges earlier calls added: revoked only when the group
        /// holds every one of them now (a forged earlier call must not get a real narrow rule revoked).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        judged_together: bool,
    },
    /// Stop the ECS task a Runtime Monitoring finding is about (opt-in: `FIREBREAK_ECS_STOP_TASK`).
    StopEcsTask {
        cluster: String,
        task_arn: String,
    },
    /// Deny every request made with the role credentials issued to this instance (an inline policy on
    /// its role conditioned on `ec2:SourceInstanceARN`), and turn its metadata service off.
    RevokeInstanceCredentials {
        instance_id: InstanceId,
        /// The role the finding's session was issued under, by name and by unique id (the part of its
        /// `principalId` before the colon): the instance's profile role must be that very role.
        #[serde(skip_serializing_if = "Option::is_none")]
        role_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        role_id: Option<String>,
    },
    /// Deny every session of `role_name` issued before the finding (`aws:TokenIssueTime`): opt-in,
    /// since it hits every holder of the role (`FIREBREAK_REVOKE_ROLE_SESSIONS`).
    RevokeRoleSessions {
        role_name: String,
        issued_before: String,
    },
    /// Make an IAM user's access key inactive (opt-in: `FIREBREAK_DEACTIVATE_USER_KEYS`).
    DeactivateAccessKey {
        user_name: String,
        access_key_id: String,
    },
    /// Put the domain a finding names on Firebreak's DNS Firewall, in every VPC of the instance: queries
    /// for it and its subdomains are answered NXDOMAIN (security groups cannot filter DNS).
    BlockDomain {
        instance_id: InstanceId,
        domain: String,
    },
    /// Start GuardDuty's on-demand malware scan of the contained instance's volumes (`StartMalwareScan`),
    /// once per incident, and record the scan so that what it finds joins this incident.
    ScanForMalware {
        instance_id: InstanceId,
    },
    /// Join a Malware Protection finding to the incident whose scan produced it: Firebreak's own
    /// on-demand scan (recorded by `scan_for_malware`), or GuardDuty's scan for the finding it contained.
    RecordScanResult {
        scan_id: String,
        /// The finding that started a GuardDuty-initiated scan (`triggerFindingId`), if it was that.
        #[serde(skip_serializing_if = "Option::is_none")]
        trigger_finding_id: Option<String>,
    },
    /// Write what Firebreak did back on the Security Hub finding (workflow status and a note), where the
    /// team triages. Run by the executor with the notification, once the outcomes are known.
    UpdateSecurityHubFinding {
        finding: crate::incident::SecurityHubRef,
    },
    /// After the other steps, read every way out of the instance back: verified closed, repaired once,
    /// or named as open (the receipt).
    VerifyContainment {
        instance_id: InstanceId,
    },
    Notify,
}

/// The report's names for the things a release does (`firebreak release`: a person's command, not a
/// planned step, so these are not [`StepKind`]s). Persisted in incident records: a contract.
pub const RESTORE_GROUPS: &str = "restore_security_groups";
pub const REMOVE_QUARANTINE_TAGS: &str = "remove_quarantine_tags";
pub const LIFT_CREDENTIAL_REVOCATION: &str = "lift_credential_revocation";
pub const RESTORE_METADATA_SERVICE: &str = "restore_metadata_service";

/// What a person reads for a step or a release's action (the approval page, the text notification,
/// `incidents show`): the one table of human names. Machine outputs (JSON, the journal, metrics) keep
/// the persisted names; a name this table does not know is shown as it is.
pub fn human_name(action: &str) -> &str {
    match action {
        RESTORE_GROUPS => "Restore its original security groups",
        REMOVE_QUARANTINE_TAGS => "Remove the quarantine tags",
        LIFT_CREDENTIAL_REVOCATION => "Lift the revocation of its credentials",
        RESTORE_METADATA_SERVICE => "Restore its metadata service",
        other => StepKind::ALL.iter().find(|k| k.name() == other).map_or(other, |k| k.human_name()),
    }
}

/// The closed set of steps, without their targets: what the executor, the journal, the cap and the
/// least-privilege proof reason about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepKind {
    IsolateInstance,
    ProtectInstance,
    DetachFromAutoScalingGroup,
    DeregisterFromTargetGroups,
    SnapshotVolumes,
    TagInstance,
    StopInstance,
    RevokeSecurityGroupIngress,
    StopEcsTask,
    RevokeInstanceCredentials,
    RevokeRoleSessions,
    DeactivateAccessKey,
    BlockDomain,
    ScanForMalware,
    RecordScanResult,
    UpdateSecurityHubFinding,
    VerifyContainment,
    Notify,
}

/// When a step runs. Phases run in this order; the steps of one phase in the order of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The effect that stops harm (network isolation, stop, revocation), one step after another.
    Network,
    /// Evidence and blast control, concurrently, once the network step ran.
    Evidence,
    /// The read-back of what the steps before closed, once they all ran.
    Verify,
    /// The one notification, after every other step, with their outcomes.
    Notify,
}

/// A blast-radius cap: destructive actions per account per UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Containments,
    Stops,
}

impl Cap {
    /// The window's suffix in the state table's `cap#<account>#<hour><suffix>` and `circuit#…` keys
    /// (persisted: the containment cap keeps the previous release's keys).
    pub fn window_suffix(self) -> &'static str {
        match self {
            Self::Containments => "",
            Self::Stops => "#stops",
        }
    }

    pub fn variable(self) -> &'static str {
        match self {
            Self::Containments => "FIREBREAK_MAX_CONTAINMENTS_PER_HOUR",
            Self::Stops => "FIREBREAK_MAX_STOPS_PER_HOUR",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Self::Containments => "containment",
            Self::Stops => "idle-stop",
        }
    }
}

/// Reading the instance the plan is about: every step aimed at an instance starts from its description.
const DESCRIBE: &str = "ec2:DescribeInstances";

impl StepKind {
    pub const ALL: [StepKind; 18] = [
        Self::IsolateInstance,
        Self::ProtectInstance,
        Self::DetachFromAutoScalingGroup,
        Self::DeregisterFromTargetGroups,
        Self::SnapshotVolumes,
        Self::TagInstance,
        Self::StopInstance,
        Self::RevokeSecurityGroupIngress,
        Self::StopEcsTask,
        Self::RevokeInstanceCredentials,
        Self::RevokeRoleSessions,
        Self::DeactivateAccessKey,
        Self::BlockDomain,
        Self::ScanForMalware,
        Self::RecordScanResult,
        Self::UpdateSecurityHubFinding,
        Self::VerifyContainment,
        Self::Notify,
    ];

    /// The name in the `plan` contract, the report and the notification.
    pub fn name(self) -> &'static str {
        match self {
            Self::IsolateInstance => "isolate_instance",
            Self::ProtectInstance => "protect_instance",
            Self::DetachFromAutoScalingGroup => "detach_from_auto_scaling_group",
            Self::DeregisterFromTargetGroups => "deregister_from_target_groups",
            Self::SnapshotVolumes => "snapshot_volumes",
            Self::TagInstance => "tag_instance",
            Self::StopInstance => "stop_instance",
            Self::RevokeSecurityGroupIngress => "revoke_security_group_ingress",
            Self::StopEcsTask => "stop_ecs_task",
            Self::RevokeInstanceCredentials => "revoke_instance_credentials",
            Self::RevokeRoleSessions => "revoke_role_sessions",
            Self::DeactivateAccessKey => "deactivate_access_key",
            Self::BlockDomain => "block_domain",
            Self::ScanForMalware => "scan_for_malware",
            Self::RecordScanResult => "record_scan_result",
            Self::UpdateSecurityHubFinding => "update_security_hub_finding",
            Self::VerifyContainment => "verify_containment",
            Self::Notify => "notify",
        }
    }

    /// The step as a person reads it ([`human_name`]).
    pub fn human_name(self) -> &'static str {
        match self {
            Self::IsolateInstance => "Isolate it from the network",
            Self::ProtectInstance => "Protect it from termination and shutdown",
            Self::DetachFromAutoScalingGroup => "Detach it from its Auto Scaling group",
            Self::DeregisterFromTargetGroups => "Deregister it from its load balancer target groups",
            Self::SnapshotVolumes => "Snapshot its volumes as evidence",
            Self::TagInstance => "Tag it as quarantined",
            Self::StopInstance => "Stop the instance",
            Self::RevokeSecurityGroupIngress => "Revoke the open security group rule",
            Self::StopEcsTask => "Stop the ECS task",
            Self::RevokeInstanceCredentials => "Revoke the instance's role credentials",
            Self::RevokeRoleSessions => "Revoke the role's earlier sessions",
            Self::DeactivateAccessKey => "Deactivate the access key",
            Self::BlockDomain => "Block the finding's domain in its VPC's DNS",
            Self::ScanForMalware => "Scan its volumes for malware (GuardDuty)",
            Self::RecordScanResult => "Join the malware scan's finding to its incident",
            Self::UpdateSecurityHubFinding => "Mark the finding in Security Hub",
            Self::VerifyContainment => "Read every way out back (the receipt)",
            Self::Notify => "Tell the team",
        }
    }

    /// The name persisted in the state table's journal when the step is done. A contract with every
    /// incident in flight: written out here, never derived from [`Self::name`], and pinned by a test,
    /// so renaming a step cannot silently make a retry repeat it.
    pub fn journal_key(self) -> &'static str {
        match self {
            Self::IsolateInstance => "isolate_instance",
            Self::ProtectInstance => "protect_instance",
            Self::DetachFromAutoScalingGroup => "detach_from_auto_scaling_group",
            Self::DeregisterFromTargetGroups => "deregister_from_target_groups",
            Self::SnapshotVolumes => "snapshot_volumes",
            Self::TagInstance => "tag_instance",
            Self::StopInstance => "stop_instance",
            Self::RevokeSecurityGroupIngress => "revoke_security_group_ingress",
            Self::StopEcsTask => "stop_ecs_task",
            Self::RevokeInstanceCredentials => "revoke_instance_credentials",
            Self::RevokeRoleSessions => "revoke_role_sessions",
            Self::DeactivateAccessKey => "deactivate_access_key",
            Self::BlockDomain => "block_domain",
            Self::ScanForMalware => "scan_for_malware",
            Self::RecordScanResult => "record_scan_result",
            Self::UpdateSecurityHubFinding => "update_security_hub_finding",
            Self::VerifyContainment => "verify_containment",
            Self::Notify => "notify",
        }
    }

    /// The executor's own steps, run when the plan's outcomes are known: the notification and the
    /// Security Hub write-back. Everything else is an acting step.
    pub fn run_by_executor(self) -> bool {
        matches!(self, Self::Notify | Self::UpdateSecurityHubFinding)
    }

    pub fn phase(self) -> Phase {
        match self {
            // Out of Auto Scaling's hands before the swap: termination protection does not stop Auto
            // Scaling, which may replace an "unhealthy" instance during the settle wait.
            Self::DetachFromAutoScalingGroup
            | Self::IsolateInstance
            | Self::StopInstance
            | Self::RevokeSecurityGroupIngress
            | Self::StopEcsTask
            | Self::RevokeInstanceCredentials
            | Self::RevokeRoleSessions
            | Self::DeactivateAccessKey => Phase::Network,
            Self::ProtectInstance
            | Self::DeregisterFromTargetGroups
            | Self::SnapshotVolumes
            | Self::TagInstance
            | Self::BlockDomain
            | Self::ScanForMalware
            | Self::RecordScanResult => Phase::Evidence,
            Self::VerifyContainment => Phase::Verify,
            Self::UpdateSecurityHubFinding | Self::Notify => Phase::Notify,
        }
    }

    /// Destructive steps take a slot of their blast-radius cap before they run.
    pub fn is_destructive(self) -> bool {
        self.cap().is_some()
    }

    /// The cap a destructive step counts against: containments and idle stops each have their own,
    /// so an alarm storm cannot use up the slots containment needs.
    pub fn cap(self) -> Option<Cap> {
        match self {
            Self::IsolateInstance
            | Self::StopEcsTask
            | Self::RevokeInstanceCredentials
            | Self::RevokeRoleSessions
            | Self::DeactivateAccessKey => Some(Cap::Containments),
            Self::StopInstance => Some(Cap::Stops),
            _ => None,
        }
    }

    /// Whether the step acts on the plan's instance (which is described once before any of them runs).
    pub fn targets_instance(self) -> bool {
        !matches!(
            self,
            Self::RevokeSecurityGroupIngress
                | Self::StopEcsTask
                | Self::RevokeRoleSessions
                | Self::DeactivateAccessKey
                | Self::RecordScanResult
                | Self::UpdateSecurityHubFinding
                | Self::Notify
        )
    }

    /// Every IAM action the step's run may call, as the Service Authorization Reference names them.
    /// The template grants each function exactly the union of these over the steps its kinds can plan,
    /// plus [`EXECUTOR_IAM_ACTIONS`].
    pub fn iam_actions(self) -> &'static [&'static str] {
        match self {
            // The containment groups are looked up in the state table (`GetItem`) and checked in EC2.
            Self::IsolateInstance => &[
                DESCRIBE,
                "dynamodb:GetItem",
                // The containment groups it created and the original groups, recorded in the table; the
                // original groups withdrawn when the cap holds the run back.
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "ec2:DescribeSecurityGroups",
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:ModifyNetworkInterfaceAttribute",
                "ec2:CreateTags",
            ],
            Self::ProtectInstance => &[DESCRIBE, "ec2:ModifyInstanceAttribute"],
            Self::DetachFromAutoScalingGroup => &[
                DESCRIBE,
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:SetInstanceProtection",
                "autoscaling:DetachInstances",
            ],
            Self::DeregisterFromTargetGroups => &[
                DESCRIBE,
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DeregisterTargets",
            ],
            // Tagging at creation needs `ec2:CreateTags` as well as `ec2:CreateSnapshots`.
            Self::SnapshotVolumes => &[DESCRIBE, "ec2:DescribeSnapshots", "ec2:CreateSnapshots", "ec2:CreateTags"],
            Self::TagInstance => &[DESCRIBE, "ec2:CreateTags"],
            // The alarm is confirmed from CloudWatch itself before anything is stopped.
            Self::StopInstance => &[
                DESCRIBE,
                "autoscaling:DescribeAutoScalingInstances",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetMetricData",
                "ec2:StopInstances",
                "ec2:CreateTags",
            ],
            Self::RevokeSecurityGroupIngress => {
                &["ec2:DescribeSecurityGroupRules", "ec2:RevokeSecurityGroupIngress", "ec2:CreateTags"]
            }
            // The task is read first: its exemption tag and whether it still runs.
            Self::StopEcsTask => &["ecs:DescribeTasks", "ecs:StopTask"],
            // The instance's role is found through its profile and checked (path, tags) before the
            // deny policy is put on it; what was there before is recorded in the state table.
            Self::RevokeInstanceCredentials => &[
                DESCRIBE,
                "iam:GetInstanceProfile",
                "iam:GetRole",
                "iam:PutRolePolicy",
                "ec2:ModifyInstanceMetadataOptions",
                // The credential record and the instances denied on the role; the set read back.
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
            ],
            Self::RevokeRoleSessions => &["iam:GetRole", "iam:PutRolePolicy"],
            Self::DeactivateAccessKey => &["iam:GetUser", "iam:UpdateAccessKey"],
            // The firewall is created once per account and region and recorded, like the containment
            // groups; the domain is capped per hour (`UpdateItem` of the cap's counter).
            Self::BlockDomain => &[
                DESCRIBE,
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "route53resolver:CreateFirewallDomainList",
                "route53resolver:CreateFirewallRuleGroup",
                "route53resolver:CreateFirewallRule",
                "route53resolver:UpdateFirewallDomains",
                "route53resolver:ListFirewallRuleGroupAssociations",
                "route53resolver:AssociateFirewallRuleGroup",
                // AssociateFirewallRuleGroup authorizes two more (`iam::operations`): the tagging, as it is
                // sent with tags, and the VPC read the reference lists as its dependent action.
                "route53resolver:TagResource",
                "ec2:DescribeVpcs",
            ],
            // GuardDuty snapshots and scans the volumes itself, through its service-linked role, which
            // the first on-demand scan of an account creates (hence `iam:CreateServiceLinkedRole`, for
            // that role only); the scan is recorded so that its finding finds this incident.
            Self::ScanForMalware => {
                &[DESCRIBE, "guardduty:StartMalwareScan", "iam:CreateServiceLinkedRole", "dynamodb:PutItem"]
            }
            // The scan's record read; the incident's record gains a line.
            Self::RecordScanResult => &["dynamodb:GetItem", "dynamodb:UpdateItem"],
            // Only the workflow status and the note (ASFF), the status and the comment (OCSF): the
            // role is denied any other field and the statuses that hide a finding.
            // Read back first: the delivery only names the finding.
            Self::UpdateSecurityHubFinding => &["securityhub:GetFindings", "securityhub:BatchUpdateFindings"],
            // The receipt's reads. Its repairs are the calls of the steps that closed each channel,
            // which a plan holds beside it: it is granted nothing those steps are not.
            Self::VerifyContainment => &[
                DESCRIBE,
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstanceAttribute",
                "iam:GetRolePolicy",
                "route53resolver:ListFirewallDomains",
                "dynamodb:GetItem",
            ],
            Self::Notify => &["sns:Publish"],
        }
    }
}

/// What the executor itself calls for every incident, whatever its steps: the claim, journal and cap
/// in the state table, the notification (also the fail-closed and circuit notices), learning the home
/// account and assuming the member role of another account.
pub const EXECUTOR_IAM_ACTIONS: &[&str] =
    &["dynamodb:PutItem", "dynamodb:UpdateItem", "sns:Publish", "sts:GetCallerIdentity", "sts:AssumeRole"];

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Self::IsolateInstance { .. } => StepKind::IsolateInstance,
            Self::ProtectInstance { .. } => StepKind::ProtectInstance,
            Self::DetachFromAutoScalingGroup { .. } => StepKind::DetachFromAutoScalingGroup,
            Self::DeregisterFromTargetGroups { .. } => StepKind::DeregisterFromTargetGroups,
            Self::SnapshotVolumes { .. } => StepKind::SnapshotVolumes,
            Self::TagInstance { .. } => StepKind::TagInstance,
            Self::StopInstance { .. } => StepKind::StopInstance,
            Self::RevokeSecurityGroupIngress { .. } => StepKind::RevokeSecurityGroupIngress,
            Self::StopEcsTask { .. } => StepKind::StopEcsTask,
            Self::RevokeInstanceCredentials { .. } => StepKind::RevokeInstanceCredentials,
            Self::RevokeRoleSessions { .. } => StepKind::RevokeRoleSessions,
            Self::DeactivateAccessKey { .. } => StepKind::DeactivateAccessKey,
            Self::BlockDomain { .. } => StepKind::BlockDomain,
            Self::ScanForMalware { .. } => StepKind::ScanForMalware,
            Self::RecordScanResult { .. } => StepKind::RecordScanResult,
            Self::UpdateSecurityHubFinding { .. } => StepKind::UpdateSecurityHubFinding,
            Self::VerifyContainment { .. } => StepKind::VerifyContainment,
            Self::Notify => StepKind::Notify,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn instance_id(&self) -> Option<&InstanceId> {
        match self {
            Self::IsolateInstance { instance_id }
            | Self::StopInstance { instance_id }
            | Self::SnapshotVolumes { instance_id }
            | Self::TagInstance { instance_id }
            | Self::ProtectInstance { instance_id }
            | Self::DetachFromAutoScalingGroup { instance_id }
            | Self::DeregisterFromTargetGroups { instance_id }
            | Self::RevokeInstanceCredentials { instance_id, .. }
            | Self::VerifyContainment { instance_id }
            | Self::ScanForMalware { instance_id }
            | Self::BlockDomain { instance_id, .. } => Some(instance_id),
            Self::RevokeSecurityGroupIngress { .. }
            | Self::StopEcsTask { .. }
            | Self::RevokeRoleSessions { .. }
            | Self::DeactivateAccessKey { .. }
            | Self::RecordScanResult { .. }
            | Self::UpdateSecurityHubFinding { .. }
            | Self::Notify => None,
        }
    }
}

impl Kind {
    /// Every step a plan for an incident of this kind can hold: what the function handling the kind
    /// must be allowed to do, and nothing more.
    pub fn possible_steps(self) -> &'static [StepKind] {
        use StepKind::*;
        match self {
            Kind::Guardduty => &[
                IsolateInstance,
                ProtectInstance,
                DetachFromAutoScalingGroup,
                DeregisterFromTargetGroups,
                SnapshotVolumes,
                TagInstance,
                StopEcsTask,
                RevokeInstanceCredentials,
                RevokeRoleSessions,
                DeactivateAccessKey,
                BlockDomain,
                ScanForMalware,
                RecordScanResult,
                UpdateSecurityHubFinding,
                VerifyContainment,
                Notify,
            ],
            Kind::Alarm => &[StopInstance, Notify],
            Kind::Cloudtrail => &[RevokeSecurityGroupIngress, Notify],
            // A GuardDuty finding it carries is acted on as GuardDuty's own plan (`Kind::Guardduty`).
            Kind::SecurityHub => &[UpdateSecurityHubFinding, Notify],
            Kind::Recognised | Kind::Circuit | Kind::Release => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub step: Step,
    pub reason: String,
    /// What AWS must confirm before `respond` takes the step: `plan` asks AWS nothing, so the step is
    /// what `respond` does once AWS has said so (and only then).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awaits: Vec<Confirmation>,
}

/// A confirmation only AWS can give, which `plan` (no AWS call) cannot make. The names are the plan
/// contract's `awaits` values: persisted, pinned in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// GuardDuty's own copy of the finding (`GetFindings`), decided again: whoever may invoke a
    /// function can hand it a finding GuardDuty never produced.
    GuarddutyFinding,
    /// The instance's role: the session's role id is its profile's, and its trust policy admits EC2
    /// alone (or GuardDuty's finding type says the credentials are the instance's).
    InstanceRole,
    /// The alarm as CloudWatch has it, and its metric's own datapoints.
    CloudwatchAlarm,
    /// The rule as EC2 has it in the group now.
    SecurityGroupRules,
}

impl Confirmation {
    pub const ALL: [Confirmation; 4] =
        [Self::GuarddutyFinding, Self::InstanceRole, Self::CloudwatchAlarm, Self::SecurityGroupRules];

    /// The name in a plan's `awaits`.
    pub fn name(self) -> &'static str {
        match self {
            Self::GuarddutyFinding => "guardduty_finding",
            Self::InstanceRole => "instance_role",
            Self::CloudwatchAlarm => "cloudwatch_alarm",
            Self::SecurityGroupRules => "security_group_rules",
        }
    }

    /// What is read, from where.
    pub fn describe(self) -> &'static str {
        match self {
            Self::GuarddutyFinding => "GuardDuty's own copy of the finding (GetFindings), decided again",
            Self::InstanceRole => {
                "the instance profile's role: the session's role id, and a trust policy admitting EC2 alone \
                 (GetInstanceProfile, GetRole)"
            }
            Self::CloudwatchAlarm => {
                "the alarm as CloudWatch has it, and its metric's datapoints (DescribeAlarms, GetMetricData)"
            }
            Self::SecurityGroupRules => "the rule as EC2 has it in the group (DescribeSecurityGroupRules)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Contain,
    /// A containment a person must approve first: recorded with its steps, run once approved.
    AwaitApproval,
    StopIdle,
    Revoke,
    Notify,
    Ignore,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contain => "contain",
            Self::AwaitApproval => "await_approval",
            Self::StopIdle => "stop_idle",
            Self::Revoke => "revoke",
            Self::Notify => "notify",
            Self::Ignore => "ignore",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Stable across redeliveries of the same incident: the idempotency key.
    pub incident_key: String,
    pub kind: Kind,
    pub decision: Decision,
    pub severity: SeverityLabel,
    /// One line a person reads first: what happened to what.
    pub summary: String,
    /// Why the decision was taken, including "ignored because …".
    pub reasons: Vec<String>,
    /// The steps, in the order the executor runs them within a phase. (`actions` in the contract.)
    pub actions: Vec<PlannedStep>,
    /// The rule that matched, for CloudTrail detections (`CT-…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub incident: Incident,
}

impl Plan {
    /// The first instance the plan acts on (the only one, except for an attack sequence).
    pub fn instance_id(&self) -> Option<&InstanceId> {
        self.actions.iter().find_map(|a| a.step.instance_id())
    }

    /// Every instance the plan acts on, once each, in plan order.
    pub fn instances(&self) -> Vec<&InstanceId> {
        let mut seen: Vec<&InstanceId> = Vec::new();
        for id in self.actions.iter().filter_map(|a| a.step.instance_id()) {
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        seen
    }

    pub fn has(&self, kind: StepKind) -> bool {
        self.actions.iter().any(|a| a.step.kind() == kind)
    }

    /// The steps that act on the world: everything but what the executor runs itself (the notification
    /// and the Security Hub write-back).
    pub fn acting_steps(&self) -> impl Iterator<Item = &Step> {
        self.actions.iter().map(|a| &a.step).filter(|s| !s.kind().run_by_executor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_isolation_and_stops_count_against_the_cap() {
        let destructive: Vec<StepKind> = StepKind::ALL.into_iter().filter(|k| k.is_destructive()).collect();
        assert_eq!(
            destructive,
            [
                StepKind::IsolateInstance,
                StepKind::StopInstance,
                StepKind::StopEcsTask,
                StepKind::RevokeInstanceCredentials,
                StepKind::RevokeRoleSessions,
                StepKind::DeactivateAccessKey
            ]
        );
        assert!(destructive.iter().all(|k| k.phase() == Phase::Network), "the cap is taken before phase one");
    }

    #[test]
    fn every_step_declares_what_it_needs_and_instance_steps_read_the_instance() {
        for kind in StepKind::ALL {
            assert!(!kind.iam_actions().is_empty(), "{kind:?}");
            assert_eq!(kind.targets_instance(), kind.iam_actions().contains(&DESCRIBE), "{kind:?}");
        }
    }
}
