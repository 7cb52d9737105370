//! The typed incident every delivery shape is reduced to, and the validated identifiers it carries.

use serde::Serialize;
use std::fmt;

/// An EC2 instance id, checked to be `i-` followed by 8 or 17 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix("i-")?;
        let well_formed =
            matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit())).then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An AWS region code such as `eu-west-1` or `us-gov-west-1` (never a display name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('-').collect();
        let shaped = parts.len() >= 3
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && parts[0].len() == 2;
        shaped.then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition of the region's ARNs.
    pub fn partition(&self) -> &'static str {
        if self.0.starts_with("cn-") {
            "aws-cn"
        } else if self.0.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// The ARN of role `name` of `account` in this region's partition (IAM is global within one: an
    /// organization never spans two, so a member's role is in the home region's).
    pub fn role_arn(&self, account: &AccountId, name: &str) -> String {
        format!("arn:{}:iam::{account}:role/{name}", self.partition())
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Firebreak's own severity scale, shared by every kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityLabel {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLabel {
    /// GuardDuty's documented bands: 1.0–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical.
    pub fn from_guardduty(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Info,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

/// Where an incident happened. Either part may be unknown (published examples carry placeholders);
/// actions that need them refuse to act rather than guess.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    pub account: Option<AccountId>,
    pub region: Option<Region>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardDutyFinding {
    pub finding_id: String,
    pub finding_type: String,
    pub title: String,
    pub severity: f64,
    pub resource_type: GuardDutyResourceType,
    /// Set only when `resource_type` is `Instance`.
    pub instance_id: Option<InstanceId>,
    pub instance_name: Option<String>,
    /// The VPCs of the instance's interfaces as the finding names them
    /// (`resource.instanceDetails.networkInterfaces[].vpcId`): a key to read the VPC's containment group
    /// records early, never trusted for more (the instance's description decides).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vpc_ids: Vec<String>,
    pub sample: bool,
    pub archived: bool,
    pub count: u64,
    pub updated_at: String,
    /// `service.featureName`: `Correlation` for attack sequences, `RuntimeMonitoring`, ….
    pub feature: Option<String>,
    /// `service.detectorId`: the detector of the finding's own account and region that owns it, where
    /// Firebreak reads it back (`GetFindings`) before acting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    /// An Extended Threat Detection attack sequence (`service.detection.sequence`).
    pub sequence: Option<AttackSequence>,
    /// What Runtime Monitoring saw run (`service.runtimeDetails`).
    pub process: Option<RuntimeProcess>,
    /// The ECS or EKS workload a finding is about (`resource.ecsClusterDetails`, `eksClusterDetails`…).
    pub workload: Option<Workload>,
    /// The credentials an `AccessKey` finding is about (`resource.accessKeyDetails`).
    pub access_key: Option<AccessKeyDetails>,
    /// The domain a DNS finding names (`service.action.dnsRequestAction.domain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// The malware scan that produced the finding (`service.ebsVolumeScanDetails`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malware_scan: Option<MalwareScan>,
}

/// `service.ebsVolumeScanDetails` of a Malware Protection for EC2 finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MalwareScan {
    pub scan_id: String,
    /// `scanType` `ON_DEMAND` (started with `StartMalwareScan`, as Firebreak does), not
    /// `GUARDDUTY_INITIATED` (started by GuardDuty for the finding `trigger_finding_id`).
    pub on_demand: bool,
    pub trigger_finding_id: Option<String>,
}

/// `resource.accessKeyDetails` of an `AccessKey` finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessKeyDetails {
    pub access_key_id: Option<String>,
    /// For an instance's role session: `<role id>:<instance id>`.
    pub principal_id: Option<String>,
    /// The IAM user, or for an assumed role the role's name.
    pub user_name: Option<String>,
    /// `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`…
    pub user_type: Option<String>,
}

impl AccessKeyDetails {
    /// The instance a role session was issued to, when the session is an instance's (its principal id
    /// ends with the instance id).
    pub fn session_instance(&self) -> Option<InstanceId> {
        if self.user_type.as_deref() != Some("AssumedRole") {
            return None;
        }
        let (_, session) = self.principal_id.as_deref()?.split_once(':')?;
        InstanceId::parse(session)
    }

    /// The unique id of the role the session was issued under (`AROA…`, before the colon of the
    /// principal id): unlike the session name, nobody chooses it.
    pub fn session_role_id(&self) -> Option<String> {
        let (role_id, _) = self.principal_id.as_deref()?.split_once(':')?;
        (!role_id.is_empty()).then(|| role_id.to_owned())
    }
}

/// A GuardDuty attack sequence: the signals that make it up, who acted, and every resource involved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackSequence {
    pub uid: String,
    pub description: String,
    pub signals: Vec<SequenceSignal>,
    /// Actors as one readable line each (id, user, type).
    pub actors: Vec<String>,
    pub resources: Vec<SequenceResource>,
    /// The EC2 instances the sequence names as compromised, directly (`EC2_INSTANCE`) or through an
    /// instance group (Auto Scaling group, instance profile, stack, launch template, VPC, AMI):
    /// normalised from ids or ARNs, de-duplicated, in the order the sequence lists them.
    pub instances: Vec<SequenceInstance>,
    /// Group resources that list the most instances the API returns (25): there may be more.
    pub possibly_truncated: Vec<String>,
    /// Instances named only as the container hosts of an ECS cluster: never contained for it.
    pub container_hosts: Vec<InstanceId>,
    /// Instance uids that are not instance ids or ARNs, or belong to another account or region.
    pub not_acted_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceSignal {
    pub uid: String,
    pub signal_type: String,
    pub name: String,
    pub severity: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceResource {
    pub uid: String,
    pub resource_type: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceInstance {
    pub id: InstanceId,
    /// How the sequence names it: "directly" or "through AUTOSCALING_AUTO_SCALING_GROUP web-asg".
    pub via: String,
}

/// The process a Runtime Monitoring finding is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeProcess {
    pub name: Option<String>,
    pub executable_path: Option<String>,
    pub pid: Option<i64>,
    pub user: Option<String>,
    /// `runtimeDetails.context.commandLineExample`, when GuardDuty gives one.
    pub command_line: Option<String>,
}

/// The container workload of an ECS or EKS finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// `ECS` or `EKS`.
    pub platform: &'static str,
    pub cluster: Option<String>,
    pub task_arn: Option<String>,
    pub task_definition: Option<String>,
    /// `(name, image)` of each container.
    pub containers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// How the alarm reached us; decisions must not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmDelivery {
    EventBridge,
    AlarmAction,
    Sns,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRef {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudWatchAlarm {
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    pub delivery: AlarmDelivery,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    pub state_timestamp: String,
    pub description: Option<String>,
    /// `Some(true)` when the alarm compares with less-than; `None` when the delivery does not say.
    pub less_than: Option<bool>,
    pub threshold: Option<f64>,
    pub recent_datapoints: Vec<f64>,
    pub metrics: Vec<MetricRef>,
    pub composite: bool,
    pub triggering_alarms: Vec<String>,
    /// Why CloudWatch itself holds the alarm's actions back (a suppressor, a mute rule), if it does.
    pub suppressed: Option<String>,
    /// The one time series of a multi-time-series alarm whose state changed, for a `CloudWatch Alarm
    /// Contributor State Change` event.
    pub contributor: Option<AlarmContributor>,
    /// The alarm's metric-math and Metrics Insights expressions (`configuration.metrics[].expression`).
    pub expressions: Vec<String>,
}

/// A contributor of a Metrics Insights alarm: its id and the `GROUP BY` keys' values that name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmContributor {
    pub id: String,
    pub attributes: Vec<(String, String)>,
}

impl AlarmContributor {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl CloudWatchAlarm {
    /// The alarm's Metrics Insights query when it has one that groups by something: one alarm watching
    /// a fleet, one time series (contributor) per group.
    pub fn fleet_query(&self) -> Option<crate::metrics_insights::Query> {
        self.expressions
            .iter()
            .filter_map(|e| crate::metrics_insights::Query::parse(e))
            .find(|q| !q.group_by.is_empty())
    }

    /// The distinct `InstanceId` dimension values across the alarm's metrics.
    pub fn instance_dimensions(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .metrics
            .iter()
            .flat_map(|m| m.dimensions.iter())
            .filter(|(k, _)| k == "InstanceId")
            .map(|(_, v)| v.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// One ingress permission as CloudTrail records it (one CIDR per entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressPermission {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: String,
    /// The security-group rule id from the response, when the event has one.
    pub rule_id: Option<String>,
}

impl IngressPermission {
    /// Its block, parsed as EC2 reads it (`0::/0` is `::/0`); `None` when it is not one.
    pub fn block(&self) -> Option<crate::cidr::Cidr> {
        crate::cidr::Cidr::parse(&self.cidr)
    }
    /// The same protocol, ports and range, whatever rule id either carries.
    pub fn same_range(&self, other: &Self) -> bool {
        self.protocol.eq_ignore_ascii_case(&other.protocol)
            && (self.from_port, self.to_port) == (other.from_port, other.to_port)
            && self.block().zip(other.block()).map_or(self.cidr == other.cidr, |(x, y)| x == y)
    }
    /// Whether the permission covers a port outside `allowed` (all protocols or a port range count).
    pub fn exceeds(&self, allowed: &[u16]) -> bool {
        if self.protocol == "-1" || self.protocol.eq_ignore_ascii_case("all") {
            return true;
        }
        if !matches!(self.protocol.as_str(), "tcp" | "udp" | "6" | "17") {
            return true;
        }
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) if from == to => u16::try_from(from).map_or(true, |p| !allowed.contains(&p)),
            (Some(from), Some(to)) if from >= 0 && to >= from => {
                (from..=to).any(|p| u16::try_from(p).map_or(true, |p| !allowed.contains(&p)))
            }
            _ => true,
        }
    }
}

/// What the responder knew, when it decided, of the ranges earlier calls added to the same group
/// (`crate::ingress_window`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EarlierIngress {
    /// Not asked: the call opened nothing beyond the allowed ports, the window is off, or the plan was
    /// made without state (`firebreak plan`).
    #[default]
    NotConsulted,
    /// The ranges still within the window (this call's own included), each once.
    Read { permissions: Vec<IngressPermission>, window_seconds: u64 },
    /// The state table could not be asked: the call is judged alone, and the plan says so.
    Unavailable { why: String },
}

impl EarlierIngress {
    pub fn is_not_consulted(&self) -> bool {
        matches!(self, Self::NotConsulted)
    }
    pub fn permissions(&self) -> &[IngressPermission] {
        match self {
            Self::Read { permissions, .. } => permissions,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudTrailEvent {
    pub event_id: Option<String>,
    pub event_name: String,
    pub event_source: String,
    pub event_type: Option<String>,
    pub event_time: String,
    pub identity_type: Option<String>,
    pub identity_arn: Option<String>,
    /// For assumed roles: the role's ARN (the session issuer).
    pub issuer_arn: Option<String>,
    pub user_name: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub mfa_used: Option<bool>,
    pub login_result: Option<String>,
    /// `requestParameters`, which the detection rules read. (The response is reduced at parse time to
    /// what is read of it: the sign-in result and the new rules' ids.)
    pub request: serde_json::Value,
    /// Parsed world-open and other ingress permissions, for `AuthorizeSecurityGroupIngress`.
    pub ingress: Vec<IngressPermission>,
    pub security_group_id: Option<String>,
    /// The group as named by a call in the default VPC that gave no id.
    pub security_group_name: Option<String>,
    /// Prefix lists the call opened ingress from (their contents are not in the event).
    pub prefix_lists: Vec<String>,
    /// The ranges earlier calls added to the same group within the window: never from the payload,
    /// filled from the state table before deciding.
    #[serde(skip_serializing_if = "EarlierIngress::is_not_consulted")]
    pub earlier_ingress: EarlierIngress,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One incident per event, never stored in bulk: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum IncidentKind {
    Guardduty(GuardDutyFinding),
    Alarm(CloudWatchAlarm),
    Cloudtrail(CloudTrailEvent),
    /// A finding Security Hub delivered (OCSF or ASFF): notified, never acted on, unless it is
    /// GuardDuty's, which is then decided from GuardDuty's own copy.
    #[serde(rename = "securityhub")]
    SecurityHub(SecurityHubFinding),
    /// A shape we recognise and deliberately do not act on.
    Recognised {
        detail_type: String,
        why: String,
    },
}

/// One thing that happened, from any delivery shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// The envelope or message id, for tracing a decision back to its delivery.
    pub delivery_id: Option<String>,
    pub origin: Origin,
    #[serde(flatten)]
    pub kind: IncidentKind,
    /// The EventBridge event a GuardDuty finding was parsed from, when the function asks for approval
    /// (`events::parse_value_keeping_events`): what a request for approval keeps, so that the approved
    /// run decides again from exactly what arrived.
    #[serde(skip)]
    pub event: Option<String>,
    /// The Security Hub finding the incident was delivered as, if it was: where what Firebreak did is
    /// written back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<SecurityHubRef>,
}

/// The two shapes Security Hub delivers findings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingFormat {
    /// Security Hub's OCSF findings (`Findings Imported V2`).
    Ocsf,
    /// Security Hub CSPM's AWS Security Finding Format (`Security Hub Findings - Imported`).
    Asff,
}

/// A Security Hub finding, as its update API names it: ASFF `Id` and `ProductArn`, or OCSF
/// `finding_info.uid`, `metadata.product.uid` and `cloud.account.uid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityHubRef {
    pub format: FindingFormat,
    pub id: String,
    pub product_uid: String,
    pub account: String,
    /// The region of the Security Hub that holds it (where it was delivered from).
    pub region: String,
    /// The provider's last update of the finding (ASFF `UpdatedAt`, OCSF `finding_info.modified_time_dt`),
    /// which Security Hub's own updates leave as it is: the note Firebreak writes names it.
    pub updated_at: String,
}

impl SecurityHubRef {
    /// The finding in words: the hub that holds it, its id, its region.
    pub fn describe(&self) -> String {
        let hub = match self.format {
            FindingFormat::Ocsf => "Security Hub (OCSF)",
            FindingFormat::Asff => "Security Hub CSPM (ASFF)",
        };
        format!("{hub} finding {} in {}", self.id, self.region)
    }
}

/// A finding as Security Hub delivered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityHubFinding {
    pub format: FindingFormat,
    /// The product that made it (`GuardDuty`, `Inspector`, `Macie`…).
    pub product: String,
    pub title: String,
    /// Security Hub's label (`HIGH`, `Critical`…), as delivered.
    pub severity_label: String,
    /// The label on GuardDuty's scale (Low 2, Medium 5, High 8, Critical 9), for the thresholds.
    pub severity: f64,
    /// `<type> <id>` of each resource it names.
    pub resources: Vec<String>,
    /// No longer new in Security Hub (notified or in progress, resolved, suppressed, archived): taken up
    /// already, by a person or by Firebreak's own write-back (never leaving a finding new): nothing new.
    pub closed: Option<String>,
    /// The GuardDuty finding it is, when GuardDuty made it.
    pub guardduty: Option<GuardDutyOrigin>,
}

/// A Security Hub finding that GuardDuty made: which one, and whether it is an attack sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardDutyOrigin {
    pub detector_id: String,
    pub finding_id: String,
    pub account: String,
    pub region: String,
    pub sequence: bool,
    /// GuardDuty's finding type as Security Hub carries it (OCSF `finding_info.types`; ASFF `Types`, where
    /// GuardDuty's `/` reads `-`): for the plan of what GuardDuty's copy would warrant, never for acting.
    pub finding_type: Option<String>,
    /// The domain of a DNS finding (ASFF `ProductFields` `aws/guardduty/service/action/dnsRequestAction/domain`).
    pub dns_domain: Option<String>,
}

impl Incident {
    pub fn kind(&self) -> Kind {
        match self.kind {
            IncidentKind::Guardduty(_) => Kind::Guardduty,
            IncidentKind::Alarm(_) => Kind::Alarm,
            IncidentKind::Cloudtrail(_) => Kind::Cloudtrail,
            IncidentKind::SecurityHub(_) => Kind::SecurityHub,
            IncidentKind::Recognised { .. } => Kind::Recognised,
        }
    }
}

/// What a plan or a report is about: the four kinds of incident, and the two notices Firebreak sends
/// of its own (the circuit opening, an operator's release). Also the `kind` message attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Guardduty,
    Alarm,
    Cloudtrail,
    #[serde(rename = "securityhub")]
    SecurityHub,
    Recognised,
    Circuit,
    Release,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guardduty => "guardduty",
            Self::Alarm => "alarm",
            Self::Cloudtrail => "cloudtrail",
            Self::SecurityHub => "securityhub",
            Self::Recognised => "recognised",
            Self::Circuit => "circuit",
            Self::Release => "release",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `resource.resourceType` of a GuardDuty finding, as GuardDuty documents them. An unknown one is
/// refused at parse time rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum GuardDutyResourceType {
    Instance,
    AccessKey,
    S3Bucket,
    S3Object,
    #[serde(rename = "EKSCluster")]
    EksCluster,
    #[serde(rename = "ECSCluster")]
    EcsCluster,
    Container,
    KubernetesCluster,
    #[serde(rename = "RDSDBInstance")]
    RdsDbInstance,
    #[serde(rename = "RDSLimitlessDB")]
    RdsLimitlessDb,
    Lambda,
    #[serde(rename = "EC2NetworkInterface")]
    Ec2NetworkInterface,
    AutoScalingGroup,
    AttackSequence,
}

impl fmt::Display for GuardDutyResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name is GuardDuty's spelling.
        let text = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hole 7 of #44: a GovCloud (or China) member role is named in its own partition.
    #[test]
    fn a_role_arn_is_in_the_partition_of_the_region() {
        let account = AccountId::parse("222222222222").expect("account");
        let arn = |region: &str| Region::parse(region).expect("region").role_arn(&account, "firebreak-member");
        assert_eq!(arn("us-gov-west-1"), "arn:aws-us-gov:iam::222222222222:role/firebreak-member");
        assert_eq!(arn("cn-north-1"), "arn:aws-cn:iam::222222222222:role/firebreak-member");
        assert_eq!(arn("eu-west-1"), "arn:aws:iam::222222222222:role/firebreak-member");
    }

    #[test]
    fn instance_ids_must_be_eight_or_seventeen_hex_digits() {
        assert!(InstanceId::parse("i-12345678").is_some());
        assert!(InstanceId::parse("i-0f672ea50a80cda4b").is_some());
        assert!(InstanceId::parse("TestInstance").is_none());
        assert!(InstanceId::parse("i-99999999z").is_none());
        assert!(InstanceId::parse("i-0F672EA50A80CDA4B").is_none());
    }

    #[test]
    fn regions_are_codes_not_display_names() {
        assert!(Region::parse("ap-northeast-2").is_some());
        assert!(Region::parse("us-gov-west-1").is_some());
        assert!(Region::parse("Asia Pacific (Seoul)").is_none());
        assert!(Region::parse("REGION").is_none());
    }

    #[test]
    fn ingress_on_an_allowed_port_does_not_exceed_but_a_range_over_it_does() {
        let rule = |from, to| IngressPermission {
            protocol: "tcp".into(),
            from_port: Some(from),
            to_port: Some(to),
            cidr: "0.0.0.0/0".into(),
            rule_id: None,
        };
        assert!(!rule(443, 443).exceeds(&[80, 443]));
        assert!(rule(22, 22).exceeds(&[80, 443]));
        assert!(rule(80, 443).exceeds(&[80, 443]));
        let all = IngressPermission { protocol: "-1".into(), from_port: None, to_port: None, ..rule(0, 0) };
        assert!(all.exceeds(&[80, 443]));
    }
}
