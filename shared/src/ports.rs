//! The narrow interfaces playbooks act through. Their only real implementations live in [`crate::aws`];
//! nothing here knows about the AWS SDK.

#![allow(async_fn_in_trait)] // Used only inside this workspace; callers are generic, never `dyn`.

use crate::error::Result;
use crate::incident::{IngressPermission, InstanceId};
use std::collections::{BTreeMap, BTreeSet};

/// What one DescribeInstances call tells a playbook about an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    pub instance_id: InstanceId,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    pub vpc_id: Option<String>,
    pub interfaces: Vec<InterfaceFacts>,
    pub volume_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub root_device_type: Option<String>,
    pub hibernation_configured: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceFacts {
    pub interface_id: String,
    pub group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// The two security groups containment uses, one of each per VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainmentGroup {
    /// Allows all traffic both ways from and to `0.0.0.0/0` and `::/0`: EC2 stops tracking existing
    /// connections, so the later swap to the isolation group cuts them instead of letting them live on.
    Untracking,
    /// No ingress and no egress rules.
    Isolation,
}

impl ContainmentGroup {
    pub fn name(self) -> &'static str {
        match self {
            Self::Untracking => "firebreak-untracking",
            Self::Isolation => "firebreak-isolation",
        }
    }
}

/// EC2: describe, re-group interfaces, protect, snapshot, tag.
pub trait Compute {
    /// `None` when the instance does not exist.
    async fn describe_instance(&self, id: &InstanceId) -> Result<Option<InstanceFacts>>;
    /// Find the VPC's group of this kind (by tag), or create it once; returns its id.
    async fn ensure_group(&self, vpc_id: &str, kind: ContainmentGroup) -> Result<String>;
    async fn set_interface_groups(&self, interface_id: &str, group_ids: &[String]) -> Result<()>;
    /// Termination protection on and shutdown behaviour `stop`.
    async fn protect_instance(&self, id: &InstanceId) -> Result<()>;
    /// Snapshots already taken for this incident (found by tag), so a retry takes none twice.
    async fn incident_snapshots(&self, id: &InstanceId, incident_id: &str) -> Result<Vec<String>>;
    /// One crash-consistent set of snapshots of every attached volume, tagged at creation.
    async fn snapshot_volumes(&self, id: &InstanceId, tags: &BTreeMap<String, String>) -> Result<Vec<String>>;
    /// Revoke exactly one ingress permission (by rule id when known); a rule that no longer exists
    /// is [`Revocation::AlreadyGone`], not an error.
    async fn revoke_ingress(&self, group_id: &str, permission: &IngressPermission) -> Result<Revocation>;
    /// Stop (or hibernate) a running instance.
    async fn stop_instance(&self, id: &InstanceId, hibernate: bool) -> Result<()>;
    async fn tag(&self, resource_id: &str, tags: &BTreeMap<String, String>) -> Result<()>;
    async fn untag(&self, resource_id: &str, keys: &[String]) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyGone,
}

/// Auto Scaling and Elastic Load Balancing: the fleet around an instance.
pub trait Fleet {
    /// The Auto Scaling group the instance belongs to, if any.
    async fn auto_scaling_group_of(&self, id: &InstanceId) -> Result<Option<String>>;
    /// Detach from its Auto Scaling group without lowering desired capacity; `None` when in none.
    async fn detach_from_auto_scaling_group(&self, id: &InstanceId) -> Result<Option<String>>;
    /// Deregister from every ELBv2 target group in `vpc_id` that has it; returns their ARNs.
    async fn deregister_from_target_groups(&self, id: &InstanceId, vpc_id: Option<&str>) -> Result<Vec<String>>;
}

/// One message to the notification topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub subject: String,
    /// Plain text for people (email, SMS).
    pub text: String,
    /// The structured JSON report for machines (queues, HTTPS, Lambda).
    pub json: String,
    pub attributes: BTreeMap<String, String>,
}

pub trait Notifier {
    async fn publish(&self, notification: &Notification) -> Result<()>;
}

/// The journal of finished steps, so a redelivered or retried incident resumes instead of repeating.
pub trait StateStore {
    async fn completed_steps(&self, incident_key: &str) -> Result<BTreeSet<String>>;
    async fn record_step(&self, incident_key: &str, step: &str) -> Result<()>;
}
