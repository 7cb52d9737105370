//! The narrow interfaces playbooks act through. Their only real implementations live in [`crate::aws`];
//! nothing here knows about the AWS SDK.

#![allow(async_fn_in_trait)] // Used only inside this workspace; callers are generic, never `dyn`.

use crate::error::Result;
use crate::incident::{AccountId, IngressPermission, InstanceId, Region};
use crate::notify::Notification;
use std::collections::{BTreeMap, BTreeSet};

/// An instance's original security groups, by interface id: what a release puts back.
pub type OriginalGroups = BTreeMap<String, Vec<String>>;

/// What one DescribeInstances call tells a playbook about an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    pub instance_id: InstanceId,
    pub state: InstanceState,
    pub vpc_id: Option<String>,
    pub interfaces: Vec<InterfaceFacts>,
    pub volume_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub root_device_type: Option<String>,
    pub hibernation_configured: bool,
    /// A Spot instance: termination protection cannot be enabled, and EC2 may reclaim it any time.
    pub spot: bool,
    /// The ARN of its instance profile, when it has one: its role's credentials are on the instance.
    pub instance_profile_arn: Option<String>,
    /// Its instance metadata service settings, when EC2 reports them.
    pub metadata: Option<MetadataOptions>,
}

impl InstanceFacts {
    /// Every VPC the instance is in (its own, and each interface's), once each.
    pub fn vpcs(&self) -> Vec<String> {
        let mut vpcs: Vec<String> =
            self.interfaces.iter().filter_map(|i| i.vpc_id.clone()).chain(self.vpc_id.clone()).collect();
        vpcs.sort_unstable();
        vpcs.dedup();
        vpcs
    }
}

/// The instance metadata service settings Firebreak changes and puts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataOptions {
    /// `HttpEndpoint`: the service answers at all.
    pub endpoint_enabled: bool,
    /// `HttpTokens`: `optional` or `required` (IMDSv2).
    pub tokens: Option<String>,
}

/// EC2's instance states (`InstanceStateName`), a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
        }
    }

    /// Terminated or on its way there: nothing is left to act on.
    pub fn is_gone(self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceFacts {
    pub interface_id: String,
    /// The interface's own VPC: with multi-VPC attachments it need not be the instance's.
    pub vpc_id: Option<String>,
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
    /// The value of its `firebreak:role` tag, and the start of its (otherwise random) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Untracking => "firebreak-untracking",
            Self::Isolation => "firebreak-isolation",
        }
    }

    /// The only rules the group may have: none for isolation; all traffic both ways, IPv4 and IPv6,
    /// for untracking.
    pub fn expected_rules(self) -> GroupRules {
        let all = |peer: &str| GroupRule { protocol: "-1".into(), from_port: None, to_port: None, peer: peer.into() };
        match self {
            Self::Isolation => GroupRules::default(),
            Self::Untracking => GroupRules {
                ingress: [all("0.0.0.0/0"), all("::/0")].into(),
                egress: [all("0.0.0.0/0"), all("::/0")].into(),
            },
        }
    }
}

/// One rule of a security group, flattened to one peer (a CIDR, a prefix list or a group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupRule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: String,
}

/// Every rule of a security group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRules {
    pub ingress: BTreeSet<GroupRule>,
    pub egress: BTreeSet<GroupRule>,
}

/// What `one` finds for each of `ids`, asked one at a time: how a port that has no call for many at once
/// answers for many.
async fn each_found<'a, T, F: std::future::Future<Output = Result<Option<T>>>>(
    ids: &'a [InstanceId],
    one: impl Fn(&'a InstanceId) -> F,
) -> Result<BTreeMap<InstanceId, T>> {
    let mut found = BTreeMap::new();
    for id in ids {
        if let Some(t) = one(id).await? {
            found.insert(id.clone(), t);
        }
    }
    Ok(found)
}

/// EC2: describe, re-group interfaces, protect, snapshot, tag.
pub trait Compute {
    /// `None` when the instance does not exist.
    async fn describe_instance(&self, id: &InstanceId) -> Result<Option<InstanceFacts>>;
    /// Each of `ids` that exists, described (EC2 answers for many in one call).
    async fn describe_instances(&self, ids: &[InstanceId]) -> Result<BTreeMap<InstanceId, InstanceFacts>> {
        each_found(ids, |id| self.describe_instance(id)).await
    }
    /// Create a containment group in `vpc_id` under a name nobody can guess in advance, tagged with
    /// its role and given the rules of its kind; returns its id.
    async fn create_containment_group(&self, vpc_id: &str, kind: ContainmentGroup) -> Result<String>;
    /// The rules of a group as EC2 has them now; `None` when the group no longer exists.
    async fn group_rules(&self, group_id: &str) -> Result<Option<GroupRules>>;
    /// Make the group's rules exactly `wanted`: revoke every other rule, authorise the missing ones.
    async fn set_group_rules(&self, group_id: &str, current: &GroupRules, wanted: &GroupRules) -> Result<()>;
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
    /// Whether the group holds an ingress rule of exactly each permission's protocol, ports and range
    /// now, in the order given (one read of the group's rules for all of them).
    async fn ingress_held(&self, group_id: &str, permissions: &[IngressPermission]) -> Result<Vec<bool>>;
    /// Stop (or hibernate) a running instance.
    async fn stop_instance(&self, id: &InstanceId, hibernate: bool) -> Result<()>;
    async fn tag(&self, resource_id: &str, tags: &BTreeMap<String, String>) -> Result<()>;
    async fn untag(&self, resource_id: &str, keys: &[String]) -> Result<()>;
    /// Every network interface attached (or being attached) to the instance, with its groups as EC2 has
    /// them now (`DescribeNetworkInterfaces` by attachment).
    async fn instance_interfaces(&self, id: &InstanceId) -> Result<Vec<InterfaceFacts>>;
    /// Whether termination protection is on (`DescribeInstanceAttribute disableApiTermination`).
    async fn termination_protected(&self, id: &InstanceId) -> Result<bool>;
    /// Which of `ids` EC2 no longer has running or stopped: terminated, shutting down, or unknown.
    async fn gone_instances(&self, ids: &[InstanceId]) -> Result<BTreeSet<InstanceId>>;
    /// Turn the instance metadata service on or off (`ModifyInstanceMetadataOptions`); `tokens` puts
    /// `HttpTokens` back as it was.
    async fn set_metadata_endpoint(&self, id: &InstanceId, enabled: bool, tokens: Option<&str>) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyGone,
}

/// A metric alarm as CloudWatch itself has it (not as an event says), with the metric's own recent
/// values over the alarm's evaluation window.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmFacts {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub comparison: Option<String>,
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub threshold: Option<f64>,
    pub evaluation_periods: Option<i32>,
    pub datapoints_to_alarm: Option<i32>,
    /// The metric's values over the last `evaluation_periods` periods, newest first.
    pub recent_values: Vec<f64>,
}

/// Auto Scaling, Elastic Load Balancing, CloudWatch and ECS: the fleet around an instance or a task.
pub trait Fleet {
    /// The finding `finding_id` as GuardDuty's detector `detector_id` has it (`GetFindings`), as the
    /// API returns it; `None` when GuardDuty does not know it there.
    async fn guardduty_finding(&self, detector_id: &str, finding_id: &str) -> Result<Option<serde_json::Value>>;
    /// The metric alarm `name` and the recent values of its metric for `instance` (for a Metrics Insights
    /// alarm grouped by instance, that instance's own time series); `None` when no such alarm exists.
    async fn metric_alarm(&self, name: &str, instance: &InstanceId) -> Result<Option<AlarmFacts>>;
    /// The Auto Scaling group the instance belongs to, if any.
    async fn auto_scaling_group_of(&self, id: &InstanceId) -> Result<Option<String>>;
    /// The Auto Scaling group of each of `ids` that is in one (Auto Scaling answers for 50 in one call).
    async fn auto_scaling_groups_of(&self, ids: &[InstanceId]) -> Result<BTreeMap<InstanceId, String>> {
        each_found(ids, |id| self.auto_scaling_group_of(id)).await
    }
    /// Protect from scale-in, then detach from `group` (the Auto Scaling group it was found in)
    /// without lowering desired capacity.
    async fn detach_from(&self, id: &InstanceId, group: &str) -> Result<()>;
    /// Look the instance's Auto Scaling group up, then detach it from that group; `None` when in none.
    async fn detach_from_auto_scaling_group(&self, id: &InstanceId) -> Result<Option<String>> {
        let Some(group) = self.auto_scaling_group_of(id).await? else { return Ok(None) };
        self.detach_from(id, &group).await?;
        Ok(Some(group))
    }
    /// Deregister from every ELBv2 target group in `vpc_id` that has it; returns their ARNs.
    async fn deregister_from_target_groups(&self, id: &InstanceId, vpc_id: Option<&str>) -> Result<Vec<String>>;
    /// The ECS task `task_arn` of `cluster`: its status and tags; `None` when ECS does not know it.
    async fn ecs_task(&self, cluster: &str, task_arn: &str) -> Result<Option<TaskFacts>>;
    /// Stop the task, giving ECS `reason` (shown in the task's `stoppedReason`).
    async fn stop_ecs_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Result<()>;
    /// The role of the instance profile `profile_arn`; `None` when the profile has none (or is gone).
    async fn instance_profile_role(&self, profile_arn: &str) -> Result<Option<RoleFacts>>;
    /// The role `name`; `None` when it does not exist.
    async fn role(&self, name: &str) -> Result<Option<RoleFacts>>;
    /// Put (create or replace) the inline policy `policy` of `role`.
    async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<()>;
    /// The document of the inline policy `policy` of `role`, decoded; `None` when it has none by that name.
    async fn role_policy(&self, role: &str, policy: &str) -> Result<Option<String>>;
    async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<()>;
    /// Create Firebreak's DNS Firewall: a domain list and a rule group with one rule that answers
    /// NXDOMAIN for every name on the list, both tagged as Firebreak's.
    async fn create_dns_firewall(&self) -> Result<DnsFirewall>;
    /// Add (`block`) names to the domain list, or remove them.
    async fn change_blocked_domains(&self, list_id: &str, domains: &[String], block: bool) -> Result<()>;
    /// Every name on the domain list.
    async fn blocked_domains(&self, list_id: &str) -> Result<Vec<String>>;
    /// Associate the rule group with the VPC at `priority`; `false` when it was associated already.
    async fn associate_dns_firewall(&self, rule_group_id: &str, vpc_id: &str, priority: i32) -> Result<bool>;
    /// Start GuardDuty's on-demand malware scan of `resource_arn` (an instance); returns its scan id.
    /// `client_token` makes a repeated start the same scan (GuardDuty's idempotency token).
    async fn start_malware_scan(&self, resource_arn: &str, client_token: &str) -> Result<String>;
    /// Write `update` on its Security Hub finding (`BatchUpdateFindings` for ASFF, `BatchUpdateFindingsV2`
    /// for OCSF): the status and the note, nothing else. A finding Security Hub did not process is an
    /// error naming why.
    async fn update_security_hub_finding(&self, update: &crate::write_back::FindingUpdate) -> Result<()>;
    /// The finding as Security Hub holds it, read back before anything is written on it: its workflow
    /// status (ASFF `Workflow.Status`, `ARCHIVED` when its record is; OCSF `status`), or `None` when Security
    /// Hub holds no finding of that id, product and account (a delivery only names one).
    async fn security_hub_status(&self, finding: &crate::incident::SecurityHubRef) -> Result<Option<String>>;
    /// The IAM user `name`'s tags; `None` when the user does not exist.
    async fn user_tags(&self, name: &str) -> Result<Option<BTreeMap<String, String>>>;
    /// Make the access key inactive (`UpdateAccessKey Status=Inactive`): it can be made active again.
    async fn deactivate_access_key(&self, user: &str, access_key_id: &str) -> Result<()>;
}

/// What revoking an instance's credentials changed, as recorded in the state table
/// (`credentials#<instance>`): the deny policy put on its role, and its metadata settings before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRevocation {
    pub role: String,
    pub policy: String,
    pub metadata_was_enabled: bool,
    pub metadata_tokens: Option<String>,
}

/// Firebreak's Route 53 Resolver DNS Firewall in one account and region: the domain list it blocks, and
/// the rule group whose one rule answers NXDOMAIN for every name on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFirewall {
    pub domain_list_id: String,
    pub rule_group_id: String,
}

/// An instance whose role credentials Firebreak denies, with its region: the instances of a role may
/// be in every region of its account, and each is checked for pruning only where it lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeniedInstance {
    pub region: String,
    pub instance: InstanceId,
}

/// The instances denied on one role as the state table has them (`denied#<role id>`), and the set's
/// version, which every change raises: a run that wrote the role's policy from one version and then
/// reads a later one writes it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleDenials {
    pub instances: BTreeSet<DeniedInstance>,
    pub version: u64,
    /// Entries whose seal did not verify (written around Firebreak): never written into a policy.
    pub refused: usize,
    /// When the set was last checked against EC2 for instances that no longer exist (epoch seconds).
    pub pruned_at: u64,
}

/// One change to the instances denied on a role.
#[derive(Debug, Clone, Copy)]
pub enum DenialChange<'a> {
    Add(&'a DeniedInstance),
    Remove(&'a [DeniedInstance]),
    /// The set was checked against EC2 at `at`: `gone` no longer exist and are dropped.
    Prune {
        gone: &'a [DeniedInstance],
        at: u64,
    },
}

/// What IAM says of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleFacts {
    pub name: String,
    /// The role's unique id (`AROA…`): what a session's principal id starts with.
    pub id: String,
    pub arn: String,
    /// `/aws-service-role/…` for service-linked roles.
    pub path: String,
    pub tags: BTreeMap<String, String>,
    /// Who may assume it (its trust policy, decoded), when it could be read.
    pub trust_policy: Option<serde_json::Value>,
}

/// What ECS says of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFacts {
    pub last_status: String,
    pub desired_status: String,
    pub tags: BTreeMap<String, String>,
}

/// Where an incident is acted on: the EC2 and fleet ports for its account and region. In the
/// function's own account these are its own clients; in a member account, clients built from an
/// assumed role. A failure (no such role, trust denied) is an error naming the account and the role.
pub trait Targets {
    type Compute: Compute;
    type Fleet: Fleet;
    async fn target(
        &self,
        account: Option<&AccountId>,
        region: Option<&Region>,
    ) -> Result<(Self::Compute, Self::Fleet)>;
    /// The ARN of the Lambda function being invoked, which names its account: a free way to learn
    /// "this account" without a call.
    fn observe_function_arn(&self, _arn: &str) {}
}

/// One target for every incident: a single account and region (local runs, tests).
#[derive(Debug, Clone)]
pub struct FixedTarget<C, F>(pub C, pub F);

impl<C: Compute + Clone, F: Fleet + Clone> Targets for FixedTarget<C, F> {
    type Compute = C;
    type Fleet = F;
    async fn target(&self, _account: Option<&AccountId>, _region: Option<&Region>) -> Result<(C, F)> {
        Ok((self.0.clone(), self.1.clone()))
    }
}

pub trait Notifier {
    async fn publish(&self, notification: &Notification) -> Result<()>;
}

/// Where an approved containment runs: the approval function holds no permission to contain, so it
/// asks the function that does (the GuardDuty responder), which reads the approval from the state
/// table itself before acting.
pub trait Containments {
    /// Run the approved containment of incident `key`; returns its report (the JSON the responder
    /// returned).
    async fn contain_approved(&self, key: &str) -> Result<serde_json::Value>;
}

/// Approved runs this process must not run itself, handed to the function that may: the sweep, in the
/// GuardDuty responder, hands approved idle stops to the alarm responder (which alone may stop
/// instances). Object-safe, so the responder can hold one whatever its other ports are.
pub trait HandOff {
    /// The run of approved request `key`, in the function that runs its kind; `None`: run it here.
    fn hand_off<'a>(&'a self, key: &'a str) -> Option<futures::future::LocalBoxFuture<'a, Result<serde_json::Value>>>;
}

/// The result of claiming an incident before acting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This run owns the incident until its lease ends. `first` when no run claimed it before; `done`
    /// is the journal of an earlier run that did not finish, read in the same round trip as the claim.
    Claimed { first: bool, done: BTreeSet<String> },
    /// A previous run finished it: nothing to do.
    AlreadyDone,
    /// Another run holds a live lease (epoch seconds): retry later.
    HeldElsewhere { lease_until: u64 },
}

/// State for exactly-once effects and the blast-radius cap. Every method fails closed: an error means
/// "do not act".
pub trait StateStore {
    /// Claim `key` until `lease_until` (the function's deadline), unless done or held by a live lease;
    /// a successful claim returns the journal of finished steps, so a retry resumes instead of repeating.
    async fn claim(&self, key: &str, lease_until: u64, now: u64) -> Result<Claim>;
    /// Mark the claim done, or release it so that a retry can claim it again (the journal stays);
    /// `step`, when given, is recorded in the same write.
    async fn finish(
        &self,
        key: &str,
        done: bool,
        step: Option<&str>,
        record: Option<&crate::report::IncidentRecord>,
    ) -> Result<()>;
    /// The most recent incidents with a record, newest first (an operator's read: `firebreak incidents`).
    async fn incidents(&self, limit: usize) -> Result<Vec<crate::report::StoredIncident>>;
    /// One incident by its key.
    async fn incident(&self, key: &str) -> Result<Option<crate::report::StoredIncident>>;
    async fn record_step(&self, key: &str, step: &str) -> Result<()>;
    /// Take one of `max` destructive-action slots of `account` in the hour `window`, atomically.
    /// `false` when the cap is reached.
    async fn take_cap_slot(&self, account: &str, window: &str, max: u32) -> Result<bool>;
    /// `true` only for the first caller in the window: that one sends the "circuit open" notification.
    async fn open_circuit(&self, account: &str, window: &str) -> Result<bool>;
    /// Add `entries` (`crate::ingress_window`) to the set kept under `key` until at least `expires_at`,
    /// atomically, and return the whole set as it is after the addition (expired entries included:
    /// the caller judges them by their own expiry, and asks for them to be forgotten).
    async fn remember_ingress(&self, key: &str, entries: &[String], expires_at: u64) -> Result<Vec<String>>;
    /// Remove `entries` from the set under `key` (expired ones, best effort).
    async fn forget_ingress(&self, key: &str, entries: &[String]) -> Result<()>;
    /// The network resource Firebreak created and recorded under `key` (`state_keys::group`: a VPC's
    /// containment group of a kind, the DNS Firewall of an account and region, its association with a
    /// VPC), if any. Only what is recorded here is ever used: tags can be forged, this table cannot.
    async fn created_resource(&self, key: &str) -> Result<Option<String>>;
    /// Record `id` under `key` unless one is recorded already, and return the recorded one. `replacing`
    /// names a recorded resource the caller found gone: that one, and only that one, is replaced (a
    /// concurrent run that replaced it first wins, and its resource is returned).
    async fn record_created_resource(&self, key: &str, id: &str, replacing: Option<&str>) -> Result<String>;
    /// Record that Firebreak's scan `scan_id` was started for `incident_key` (sealed: only then does a
    /// finding of the scan join that incident).
    async fn record_scan(&self, scan_id: &str, incident_key: &str) -> Result<()>;
    /// The incident a scan Firebreak started was for; `Err` when the record's seal does not verify.
    async fn scan_incident(&self, scan_id: &str) -> Result<Option<String>>;
    /// Add `line` to what happened to incident `incident_key` after its run (its `later` lines);
    /// `false` when no incident is recorded under that key.
    async fn add_to_incident(&self, incident_key: &str, line: &str) -> Result<bool>;
    /// Record an instance's original groups per interface before its first swap, keeping any already
    /// recorded (a retry or a second incident never overwrites the true originals), and `incident` among
    /// the record's owners, and `place` (`<account>#<region>`) as where it belongs; returns them all.
    async fn record_original_groups(
        &self,
        instance: &str,
        originals: &OriginalGroups,
        incident: &str,
        place: &str,
    ) -> Result<OriginalGroups>;
    /// Delete the quarantine record `incident` wrote when nothing was done with it (the cap held the
    /// isolation back), only if no other incident has recorded into it since; `true` when deleted.
    async fn withdraw_original_groups(&self, instance: &str, incident: &str) -> Result<bool>;
    /// The recorded original groups of a quarantined instance (its quarantine record: for `release`,
    /// and to tell an instance Firebreak contained already).
    async fn original_groups(&self, instance: &str) -> Result<Option<OriginalGroups>>;
    /// Forget a released quarantine.
    async fn forget_original_groups(&self, instance: &str) -> Result<()>;
    /// Record what revoking an instance's credentials changed, before changing it, keeping a record
    /// already there (a retry or a second incident never overwrites what was there first); returns
    /// the recorded one.
    async fn record_revocation(
        &self,
        instance: &str,
        revocation: &CredentialRevocation,
        place: &str,
    ) -> Result<CredentialRevocation>;
    /// Where the quarantine or credential record of `instance` belongs (`<account>#<region>`), its seal
    /// checked; `None` for a record written before records named their place, or none at all.
    async fn recorded_place(&self, instance: &str) -> Result<Option<String>>;
    /// The recorded revocation of an instance's credentials (for `release`).
    async fn revocation(&self, instance: &str) -> Result<Option<CredentialRevocation>>;
    /// Forget a released revocation.
    async fn forget_revocation(&self, instance: &str) -> Result<()>;
    /// Apply `change` to the instances denied on the role whose unique id is `role_id`, atomically,
    /// raising the set's version; returns the set as it is after the change.
    async fn change_denials(&self, role_id: &str, change: DenialChange<'_>) -> Result<RoleDenials>;
    /// The instances denied on the role `role_id` as they stand (a strongly consistent read).
    async fn denials(&self, role_id: &str) -> Result<RoleDenials>;
    /// Record a request for approval unless one is recorded for its incident already (a redelivery
    /// asks nothing new); returns the recorded one.
    async fn request_approval(
        &self,
        request: &crate::approval::ApprovalRequest,
    ) -> Result<crate::approval::ApprovalRequest>;
    /// Replace the request of `request.key` with `request`, unless it changed since `previous` was
    /// read (status and deadline): `false` then, and nothing written.
    async fn replace_approval(
        &self,
        request: &crate::approval::ApprovalRequest,
        previous: &crate::approval::ApprovalRequest,
    ) -> Result<bool>;
    /// The request for approval of incident `key`, as it stands.
    async fn approval(&self, key: &str) -> Result<Option<crate::approval::ApprovalRequest>>;
    /// Every approved request (by a person, the deadline or the policy), for the sweep to see whether
    /// its run finished.
    async fn approved_requests(&self) -> Result<Vec<crate::approval::ApprovalRequest>>;
    /// Set `note` on the request of `key` to `text` unless it is set already: `true` the first time.
    async fn note_on_request(&self, key: &str, note: crate::approval::RequestNote, text: &str) -> Result<bool>;
    /// Move a pending request to `to` in one conditional write: an answer only while `now` is before
    /// the deadline, an expiry only once it has passed. `false` when the request was not pending so (a
    /// replayed link, a second answer, a race): nothing changed.
    async fn settle_approval(
        &self,
        key: &str,
        to: crate::approval::ApprovalStatus,
        by: &crate::approval::Approver,
        now: u64,
    ) -> Result<bool>;
    /// Pending requests whose deadline has passed at `now`.
    async fn overdue_approvals(&self, now: u64) -> Result<Vec<crate::approval::ApprovalRequest>>;
    /// Queue a containment the cap held back (`held#<incident key>`), or refresh it: when it was first
    /// held back and whether a person was told it is overdue stay as they were.
    async fn hold(&self, held: &crate::held::HeldContainment) -> Result<()>;
    /// Every queued containment, in no particular order.
    async fn held_containments(&self) -> Result<Vec<crate::held::HeldContainment>>;
    /// Note that a person was told the queued containment of `incident_key` is overdue: `true` only the
    /// first time (one notification however many sweeps find it waiting).
    async fn note_held_overdue(&self, incident_key: &str) -> Result<bool>;
    /// Take a containment off the queue: it ran, or nothing is left to run.
    async fn unhold(&self, incident_key: &str) -> Result<()>;
    /// Count one more notification of `repeat` in `window` (atomically), keeping `first` (the first
    /// one's summary); returns the count with this one.
    async fn count_repeat(&self, repeat: &crate::repeats::Repeat, window: &str, first: &str) -> Result<u64>;
    /// Every count of a window before `window` (those whose hour is over), in no particular order.
    async fn closed_tallies(&self, window: &str) -> Result<Vec<crate::repeats::Tally>>;
    /// Forget a count once told.
    async fn forget_tally(&self, tally: &crate::repeats::Tally) -> Result<()>;
    /// One cheap write during init, so that the first incident's claim does not pay for the
    /// connection (DNS, TCP, TLS) to the table.
    async fn warm_up(&self) -> Result<()> {
        Ok(())
    }
}
