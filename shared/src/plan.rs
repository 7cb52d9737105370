//! The plan: what Firebreak decided for one incident and why. It is the `firebreak plan` contract,
//! the structured decision record in the logs, and the source the notification is rendered from.

use crate::incident::{Incident, IngressPermission, InstanceId, SeverityLabel};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
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
    },
    Notify,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::IsolateInstance { .. } => "isolate_instance",
            Self::ProtectInstance { .. } => "protect_instance",
            Self::DetachFromAutoScalingGroup { .. } => "detach_from_auto_scaling_group",
            Self::DeregisterFromTargetGroups { .. } => "deregister_from_target_groups",
            Self::SnapshotVolumes { .. } => "snapshot_volumes",
            Self::TagInstance { .. } => "tag_instance",
            Self::StopInstance { .. } => "stop_instance",
            Self::RevokeSecurityGroupIngress { .. } => "revoke_security_group_ingress",
            Self::Notify => "notify",
        }
    }

    /// Destructive actions count against the blast-radius cap.
    pub fn is_destructive(&self) -> bool {
        matches!(self, Self::IsolateInstance { .. } | Self::StopInstance { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Contain,
    StopIdle,
    Revoke,
    Notify,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Stable across redeliveries of the same incident: the idempotency key.
    pub incident_key: String,
    pub kind: &'static str,
    pub decision: Decision,
    pub severity: SeverityLabel,
    /// One line a person reads first: what happened to what.
    pub summary: String,
    /// Why the decision was taken, including "ignored because …".
    pub reasons: Vec<String>,
    pub actions: Vec<PlannedAction>,
    /// The rule that matched, for CloudTrail detections (`CT-…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub incident: Incident,
}

impl Plan {
    pub fn instance_id(&self) -> Option<&InstanceId> {
        self.actions.iter().find_map(|a| match &a.action {
            Action::IsolateInstance { instance_id }
            | Action::StopInstance { instance_id }
            | Action::SnapshotVolumes { instance_id }
            | Action::TagInstance { instance_id }
            | Action::ProtectInstance { instance_id }
            | Action::DetachFromAutoScalingGroup { instance_id }
            | Action::DeregisterFromTargetGroups { instance_id } => Some(instance_id),
            _ => None,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.action.name() == name)
    }
}
