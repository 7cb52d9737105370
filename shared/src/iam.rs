//! The authorization requests AWS evaluates for every call Firebreak makes, and for the calls it must
//! never be allowed to make: one request per resource type the Service Authorization Reference lists
//! for the action (the required ones and the optional ones our request carries), each with only the
//! condition keys that resource type supports and the values our request sends. The IAM test
//! (`tests/integration/iam.rs`) evaluates them against the templates with a real policy simulator.

pub mod operations;

use crate::function::Function;
use crate::plan::StepKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// The tag keys each call sends, as the adapters send them.
const GROUP_TAGS: [(&str, &str); 2] = [("firebreak:role", "firebreak-isolation"), ("Name", "firebreak-isolation")];
const INCIDENT_TAGS: [&str; 4] =
    ["firebreak:incident", "firebreak:finding-type", "firebreak:severity", "firebreak:quarantined"];
const SNAPSHOT_TAGS: [&str; 5] =
    ["firebreak:incident", "firebreak:finding-type", "firebreak:severity", "firebreak:instance", "Name"];
const STOP_TAGS: [&str; 4] =
    ["firebreak:stopped-by", "firebreak:stopped-at", "firebreak:stopped-reason", "firebreak:stop-mode"];
const REVOKE_TAGS: [&str; 3] = ["firebreak:revoked", "firebreak:revoked-at", "firebreak:revoked-why"];
/// GuardDuty Malware Protection for EC2's service-linked role, which the first on-demand scan creates.
const MALWARE_PROTECTION: &str = "malware-protection.guardduty.amazonaws.com";
const MALWARE_PROTECTION_ROLE: &str =
    "role/aws-service-role/malware-protection.guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDutyMalwareProtection";

/// The concrete world the requests are about.
#[derive(Debug, Clone)]
pub struct Scene {
    pub partition: &'static str,
    /// Where the function and its roles live.
    pub home_account: &'static str,
    pub home_region: &'static str,
    /// Where the incident is: the home account or a member account, any region.
    pub account: &'static str,
    pub region: &'static str,
    pub member_role: &'static str,
}

/// Who makes a request: a function's own role, or the member role it assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    Function,
    MemberRole,
    /// Another role of the security account whose name merely looks like a responder's
    /// (`firebreak-impostor-responder-<region>`), holding the same permissions.
    Impostor,
    /// The member account's event-forwarding role (member-role.yaml).
    Forwarder,
    /// Any other principal of a member account, holding every permission an identity policy can give.
    MemberAdministrator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Expect {
    Allowed,
    Denied,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The API call this request is part of (one call can need several requests).
    pub call: String,
    pub action: &'static str,
    /// The SAR resource type, or `*` for actions without resource-level permissions.
    pub resource_type: &'static str,
    pub resource: String,
    pub account: String,
    pub context: BTreeMap<String, Vec<String>>,
    pub principal: Principal,
    pub expect: Expect,
}

impl Scene {
    pub fn home(region: &'static str) -> Self {
        Self {
            partition: "aws",
            home_account: "111111111111",
            home_region: "us-east-1",
            account: "111111111111",
            region,
            member_role: "firebreak-member",
        }
    }

    pub fn member(region: &'static str) -> Self {
        Self { account: "222222222222", ..Self::home(region) }
    }

    fn principal(&self) -> Principal {
        if self.account == self.home_account {
            Principal::Function
        } else {
            Principal::MemberRole
        }
    }

    fn ec2(&self, what: &str) -> String {
        format!("arn:{}:ec2:{}:{}:{what}", self.partition, self.region, self.account)
    }
    fn snapshot(&self) -> String {
        format!("arn:{}:ec2:{}::snapshot/snap-0123456789abcdef0", self.partition, self.region)
    }
    /// The state table, always in the home account and region.
    fn state_table(&self) -> String {
        format!("arn:{}:dynamodb:{}:{}:table/firebreak-state", self.partition, self.home_region, self.home_account)
    }
    fn instance(&self) -> String {
        self.ec2("instance/i-0abc1234def567890")
    }
    fn vpc(&self) -> String {
        self.ec2("vpc/vpc-0123456789abcdef0")
    }
    fn subnet(&self) -> String {
        self.ec2("subnet/subnet-0123456789abcdef0")
    }
    fn asg(&self) -> String {
        format!(
            "arn:{}:autoscaling:{}:{}:autoScalingGroup:6d0e1f2a-3b4c-5d6e-7f80-91a2b3c4d5e6:autoScalingGroupName/web",
            self.partition, self.region, self.account
        )
    }
    fn iam(&self, what: &str) -> String {
        format!("arn:{}:iam::{}:{what}", self.partition, self.account)
    }
    fn route53resolver(&self, what: &str) -> String {
        format!("arn:{}:route53resolver:{}:{}:{what}", self.partition, self.region, self.account)
    }
    fn securityhub(&self, what: &str) -> String {
        format!("arn:{}:securityhub:{}:{}:{what}", self.partition, self.region, self.account)
    }
    fn ecs_cluster(&self) -> String {
        format!("arn:{}:ecs:{}:{}:cluster/prod", self.partition, self.region, self.account)
    }
    fn ecs_task(&self) -> String {
        format!(
            "arn:{}:ecs:{}:{}:task/prod/0123456789abcdef0123456789abcdef",
            self.partition, self.region, self.account
        )
    }
    /// The item of the ingress ranges one group of the incident's account and region received.
    fn ingress_item(&self) -> String {
        crate::state_keys::ingress(self.account, self.region, "sg-0123456789abcdef0")
    }
    fn containment_group(&self) -> String {
        self.ec2("security-group/sg-0f1eebdaedcontain")
    }
    fn other_group(&self) -> String {
        self.ec2("security-group/sg-0123456789abcdef0")
    }
}

/// A small builder: one request of one call.
struct Call<'a> {
    scene: &'a Scene,
    call: String,
    action: &'static str,
    expect: Expect,
    principal: Principal,
}

impl<'a> Call<'a> {
    fn new(scene: &'a Scene, call: &str, action: &'static str) -> Self {
        Self { scene, call: call.to_owned(), action, expect: Expect::Allowed, principal: scene.principal() }
    }
    fn denied(mut self) -> Self {
        self.expect = Expect::Denied;
        self
    }
    fn on(&self, resource_type: &'static str, resource: String, context: &[(&str, &[&str])]) -> Request {
        Request {
            call: self.call.clone(),
            action: self.action,
            resource_type,
            resource,
            account: self.scene.account.to_owned(),
            context: context.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect(),
            principal: self.principal,
            expect: self.expect,
        }
    }
    fn anything(&self) -> Request {
        self.on("*", "*".to_owned(), &[])
    }
}

fn request_tags<'t>(keys: &'t [&'t str], value: &'t str) -> Vec<(String, &'t str)> {
    keys.iter().map(|k| (format!("aws:RequestTag/{k}"), value)).collect()
}

/// `CreateTags` on `resource` with `keys`: the request tags, the tag keys, and the resource's own
/// tags (none, for Firebreak's requests), plus `ec2:CreateAction` when tagging on creation.
fn create_tags(
    call: &Call<'_>,
    resource_type: &'static str,
    resource: String,
    keys: &[&str],
    on_create: Option<&str>,
) -> Request {
    let tags = request_tags(keys, "x");
    let mut context: Vec<(&str, Vec<&str>)> = tags.iter().map(|(k, v)| (k.as_str(), vec![*v])).collect();
    context.push(("aws:TagKeys", keys.to_vec()));
    if let Some(action) = on_create {
        context.push(("ec2:CreateAction", vec![action]));
    }
    let context: Vec<(&str, &[&str])> = context.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    call.on(resource_type, resource, &context)
}

/// Every request the step's run makes in `scene`.
pub fn step_requests(step: StepKind, s: &Scene) -> Vec<Request> {
    let instance_keys: &[(&str, &[&str])] = &[("ec2:InstanceID", &["i-0abc1234def567890"])];
    let describe = Call::new(s, "DescribeInstances", "ec2:DescribeInstances").anything();
    match step {
        StepKind::IsolateInstance => {
            let create = Call::new(s, "CreateSecurityGroup", "ec2:CreateSecurityGroup");
            let group_tag_keys: Vec<&str> = GROUP_TAGS.iter().map(|(k, _)| *k).collect();
            let mut group_context: Vec<(String, Vec<&str>)> =
                GROUP_TAGS.iter().map(|(k, v)| (format!("aws:RequestTag/{k}"), vec![*v])).collect();
            group_context.push(("aws:TagKeys".into(), group_tag_keys.clone()));
            let group_context: Vec<(&str, &[&str])> =
                group_context.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            let tag_group = Call::new(s, "CreateSecurityGroup", "ec2:CreateTags");
            let containment: &[(&str, &[&str])] = &[
                ("aws:ResourceTag/firebreak:role", &["firebreak-isolation"]),
                ("ec2:ResourceTag/firebreak:role", &["firebreak-isolation"]),
            ];
            let vpc = s.vpc();
            let rules = [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
            ]
            .map(|action| {
                Call::new(s, action.trim_start_matches("ec2:"), action).on(
                    "security-group",
                    s.containment_group(),
                    containment,
                )
            });
            let regroup = Call::new(s, "ModifyNetworkInterfaceAttribute", "ec2:ModifyNetworkInterfaceAttribute");
            // The containment groups are recorded in the home account's table.
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            let table = s.state_table();
            let item = |call: &str, key: &'static str| {
                Call::new(&home, call, "dynamodb:UpdateItem").on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &[key])],
                )
            };
            let mut requests = vec![
                describe,
                Call::new(&home, "GetItem", "dynamodb:GetItem").on("table", table.clone(), &[]),
                item("UpdateItem (a containment group created)", "group#123456789012#us-east-1#vpc-1#isolation"),
                item("UpdateItem (the original groups)", "quarantine#i-0abc1234def567890"),
                Call::new(&home, "DeleteItem (the original groups of a run the cap held back)", "dynamodb:DeleteItem")
                    .on("table", table.clone(), &[("dynamodb:LeadingKeys", &["quarantine#i-0abc1234def567890"])]),
                Call::new(s, "DescribeSecurityGroups", "ec2:DescribeSecurityGroups").anything(),
                create.on("security-group", s.ec2("security-group/sg-0aaaaaaaaaaaaaaa1"), &group_context),
                create.on(
                    "vpc",
                    vpc.clone(),
                    &[("ec2:VpcID", &["vpc-0123456789abcdef0"]), ("ec2:Tenancy", &["default"])],
                ),
                create_tags(
                    &tag_group,
                    "security-group",
                    s.ec2("security-group/sg-0aaaaaaaaaaaaaaa1"),
                    &group_tag_keys,
                    Some("CreateSecurityGroup"),
                ),
                regroup.on(
                    "network-interface",
                    s.ec2("network-interface/eni-0123456789abcdef0"),
                    &[("ec2:Vpc", &[vpc.as_str()]), ("ec2:Subnet", &[s.subnet().as_str()])],
                ),
                regroup.on("security-group", s.containment_group(), containment),
                regroup.on("instance", s.instance(), instance_keys),
                regroup.on("subnet", s.subnet(), &[("ec2:Vpc", &[vpc.as_str()])]),
                create_tags(
                    &Call::new(s, "CreateTags (original groups)", "ec2:CreateTags"),
                    "instance",
                    s.instance(),
                    &["firebreak:original-groups:eni-0123456789abcdef0"],
                    None,
                ),
            ];
            requests.extend(rules);
            requests
        }
        StepKind::ProtectInstance => {
            let protect = Call::new(s, "ModifyInstanceAttribute", "ec2:ModifyInstanceAttribute");
            vec![
                describe,
                protect.on("instance", s.instance(), &[("ec2:Attribute/DisableApiTermination", &["true"])]),
                protect.on("instance", s.instance(), &[("ec2:Attribute/InstanceInitiatedShutdownBehavior", &["stop"])]),
            ]
        }
        StepKind::DetachFromAutoScalingGroup => vec![
            describe,
            Call::new(s, "DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingInstances").anything(),
            Call::new(s, "SetInstanceProtection", "autoscaling:SetInstanceProtection").on(
                "autoScalingGroup",
                s.asg(),
                &[],
            ),
            Call::new(s, "DetachInstances", "autoscaling:DetachInstances").on("autoScalingGroup", s.asg(), &[]),
        ],
        StepKind::DeregisterFromTargetGroups => vec![
            describe,
            Call::new(s, "DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroups").anything(),
            Call::new(s, "DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth").anything(),
            Call::new(s, "DeregisterTargets", "elasticloadbalancing:DeregisterTargets").on(
                "targetgroup",
                format!(
                    "arn:{}:elasticloadbalancing:{}:{}:targetgroup/web/0123456789abcdef",
                    s.partition, s.region, s.account
                ),
                &[],
            ),
        ],
        StepKind::SnapshotVolumes => {
            let create = Call::new(s, "CreateSnapshots", "ec2:CreateSnapshots");
            let tags = request_tags(&SNAPSHOT_TAGS, "x");
            let mut snapshot_context: Vec<(&str, &[&str])> =
                tags.iter().map(|(k, _)| (k.as_str(), &["x"][..])).collect();
            snapshot_context.push(("aws:TagKeys", &SNAPSHOT_TAGS));
            vec![
                describe,
                Call::new(s, "DescribeSnapshots", "ec2:DescribeSnapshots").anything(),
                create.on("instance", s.instance(), instance_keys),
                create.on(
                    "volume",
                    s.ec2("volume/vol-0123456789abcdef0"),
                    &[("ec2:VolumeID", &["vol-0123456789abcdef0"])],
                ),
                create.on("snapshot", s.snapshot(), &snapshot_context),
                create_tags(
                    &Call::new(s, "CreateSnapshots", "ec2:CreateTags"),
                    "snapshot",
                    s.snapshot(),
                    &SNAPSHOT_TAGS,
                    Some("CreateSnapshots"),
                ),
            ]
        }
        StepKind::TagInstance => vec![
            describe,
            create_tags(
                &Call::new(s, "CreateTags (incident)", "ec2:CreateTags"),
                "instance",
                s.instance(),
                &INCIDENT_TAGS,
                None,
            ),
        ],
        StepKind::StopInstance => vec![
            describe,
            Call::new(s, "DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingInstances").anything(),
            Call::new(s, "DescribeAlarms", "cloudwatch:DescribeAlarms").on(
                "alarm",
                format!("arn:{}:cloudwatch:{}:{}:alarm:idle-cpu-web-3", s.partition, s.region, s.account),
                &[],
            ),
            Call::new(s, "GetMetricData", "cloudwatch:GetMetricData").anything(),
            Call::new(s, "StopInstances", "ec2:StopInstances").on("instance", s.instance(), instance_keys),
            create_tags(
                &Call::new(s, "CreateTags (stopped)", "ec2:CreateTags"),
                "instance",
                s.instance(),
                &STOP_TAGS,
                None,
            ),
        ],
        StepKind::RevokeSecurityGroupIngress => vec![
            // The rule an event names, read before it is revoked by its id (no resource-level permission).
            Call::new(s, "DescribeSecurityGroupRules", "ec2:DescribeSecurityGroupRules").anything(),
            // The offending group is anyone's: no tag condition can apply.
            Call::new(s, "RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress").on(
                "security-group",
                s.other_group(),
                &[("ec2:SecurityGroupID", &["sg-0123456789abcdef0"])],
            ),
            create_tags(
                &Call::new(s, "CreateTags (revoked)", "ec2:CreateTags"),
                "security-group",
                s.other_group(),
                &REVOKE_TAGS,
                None,
            ),
        ],
        StepKind::StopEcsTask => {
            let cluster = s.ecs_cluster();
            let on_cluster: &[(&str, &[&str])] = &[("ecs:cluster", &[cluster.as_str()])];
            vec![
                Call::new(s, "DescribeTasks", "ecs:DescribeTasks").on("task", s.ecs_task(), on_cluster),
                Call::new(s, "StopTask", "ecs:StopTask").on("task", s.ecs_task(), on_cluster),
            ]
        }
        StepKind::RevokeInstanceCredentials => {
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            let table = s.state_table();
            vec![
                describe,
                Call::new(s, "GetInstanceProfile", "iam:GetInstanceProfile").on(
                    "instance-profile",
                    s.iam("instance-profile/web"),
                    &[],
                ),
                Call::new(s, "GetRole", "iam:GetRole").on("role", s.iam("role/web-instance-role"), &[]),
                Call::new(&home, "UpdateItem (what was there before)", "dynamodb:UpdateItem").on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &["credentials#i-0abc1234def567890"])],
                ),
                Call::new(&home, "UpdateItem (the instances denied on the role)", "dynamodb:UpdateItem").on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &["denied#AROAEXAMPLEROLEID0001"])],
                ),
                Call::new(&home, "GetItem (the instances denied on the role, read back)", "dynamodb:GetItem").on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &["denied#AROAEXAMPLEROLEID0001"])],
                ),
                Call::new(s, "PutRolePolicy", "iam:PutRolePolicy").on("role", s.iam("role/web-instance-role"), &[]),
                // As the Service Authorization Reference reads: the instance as it is (on), the request
                // in ec2:Attribute; and as the other reading would have it: the request in the key.
                metadata_options(
                    Call::new(s, "ModifyInstanceMetadataOptions", "ec2:ModifyInstanceMetadataOptions"),
                    "enabled",
                    &[("HttpEndpoint", "disabled")],
                ),
                Call::new(
                    s,
                    "ModifyInstanceMetadataOptions (the request read from ec2:MetadataHttpEndpoint)",
                    "ec2:ModifyInstanceMetadataOptions",
                )
                .on(
                    "instance",
                    s.instance(),
                    &[("ec2:InstanceID", &["i-0abc1234def567890"]), ("ec2:MetadataHttpEndpoint", &["disabled"])],
                ),
            ]
        }
        StepKind::RevokeRoleSessions => vec![
            Call::new(s, "GetRole", "iam:GetRole").on("role", s.iam("role/deploy"), &[]),
            Call::new(s, "PutRolePolicy (older sessions)", "iam:PutRolePolicy").on("role", s.iam("role/deploy"), &[]),
        ],
        StepKind::DeactivateAccessKey => vec![
            Call::new(s, "GetUser", "iam:GetUser").on("user", s.iam("user/alice"), &[]),
            Call::new(s, "UpdateAccessKey", "iam:UpdateAccessKey").on("user", s.iam("user/alice"), &[]),
        ],
        StepKind::BlockDomain => {
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            let table = s.state_table();
            let tagged: &[(&str, &[&str])] =
                &[("aws:RequestTag/firebreak:role", &["firebreak-dns-block"]), ("aws:TagKeys", &["firebreak:role"])];
            let owned: &[(&str, &[&str])] = &[("aws:ResourceTag/firebreak:role", &["firebreak-dns-block"])];
            let list = s.route53resolver("firewall-domain-list/rslvr-fdl-0123456789abcdef0");
            let group = s.route53resolver("firewall-rule-group/rslvr-frg-0123456789abcdef0");
            let item = |call: &str, key: &'static str| {
                Call::new(&home, call, "dynamodb:UpdateItem").on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &[key])],
                )
            };
            vec![
                describe,
                Call::new(&home, "GetItem (the recorded DNS Firewall)", "dynamodb:GetItem").on(
                    "table",
                    table.clone(),
                    &[],
                ),
                item("UpdateItem (the DNS Firewall recorded)", "group#222222222222#us-east-1#dns-firewall"),
                item("UpdateItem (the hour's blocked domains)", "cap#222222222222#2026-12-03T08#domains"),
                Call::new(s, "CreateFirewallDomainList", "route53resolver:CreateFirewallDomainList").on(
                    "firewall-domain-list",
                    list.clone(),
                    tagged,
                ),
                Call::new(s, "CreateFirewallRuleGroup", "route53resolver:CreateFirewallRuleGroup").on(
                    "firewall-rule-group",
                    group.clone(),
                    tagged,
                ),
                // One call, two resources: the rule group it adds to and the list it blocks.
                Call::new(s, "CreateFirewallRule", "route53resolver:CreateFirewallRule").on(
                    "firewall-rule-group",
                    group,
                    owned,
                ),
                Call::new(s, "CreateFirewallRule", "route53resolver:CreateFirewallRule").on(
                    "firewall-domain-list",
                    list.clone(),
                    owned,
                ),
                Call::new(s, "UpdateFirewallDomains", "route53resolver:UpdateFirewallDomains").on(
                    "firewall-domain-list",
                    list,
                    owned,
                ),
                Call::new(
                    s,
                    "ListFirewallRuleGroupAssociations (associated already?)",
                    "route53resolver:ListFirewallRuleGroupAssociations",
                )
                .anything(),
                Call::new(s, "AssociateFirewallRuleGroup", "route53resolver:AssociateFirewallRuleGroup").on(
                    "firewall-rule-group-association",
                    s.route53resolver("firewall-rule-group-association/rslvr-frgassoc-0123456789abcdef0"),
                    tagged,
                ),
                // The same operation authorizes the tagging action too (the SAR's operations table).
                Call::new(s, "AssociateFirewallRuleGroup (its tags)", "route53resolver:TagResource").on(
                    "firewall-rule-group-association",
                    s.route53resolver("firewall-rule-group-association/rslvr-frgassoc-0123456789abcdef0"),
                    tagged,
                ),
                Call::new(s, "AssociateFirewallRuleGroup (the VPC it depends on)", "ec2:DescribeVpcs").anything(),
            ]
        }
        StepKind::ScanForMalware => {
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            vec![
                describe,
                // GuardDuty's StartMalwareScan supports no resource-level permission.
                Call::new(s, "StartMalwareScan", "guardduty:StartMalwareScan").anything(),
                Call::new(
                    s,
                    "StartMalwareScan (its service-linked role, the first time)",
                    "iam:CreateServiceLinkedRole",
                )
                .on(
                    "role",
                    s.iam(MALWARE_PROTECTION_ROLE),
                    &[("iam:AWSServiceName", &[MALWARE_PROTECTION])],
                ),
                Call::new(&home, "PutItem (the scan's incident)", "dynamodb:PutItem").on(
                    "table",
                    s.state_table(),
                    &[("dynamodb:LeadingKeys", &["scan#0123456789abcdef0123456789abcdef"])],
                ),
            ]
        }
        StepKind::RecordScanResult => {
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            vec![
                Call::new(&home, "GetItem (the scan's incident)", "dynamodb:GetItem").on("table", s.state_table(), &[]),
                Call::new(&home, "UpdateItem (the incident's later lines)", "dynamodb:UpdateItem").on(
                    "table",
                    s.state_table(),
                    &[("dynamodb:LeadingKeys", &["claim#incident#guardduty#222222222222#us-east-1#a8c4e2f1"])],
                ),
            ]
        }
        // In the security account, where Security Hub delivered the finding: the status and the note.
        StepKind::UpdateSecurityHubFinding => {
            let home = Scene { account: s.home_account, ..s.clone() };
            vec![
                Call::new(&home, "GetFindings (ASFF: the finding read back)", "securityhub:GetFindings").on(
                    "hub",
                    home.securityhub("hub/default"),
                    &[],
                ),
                Call::new(&home, "GetFindingsV2 (OCSF: the finding read back)", "securityhub:GetFindings").on(
                    "hubv2",
                    home.securityhub("hubv2/0123456789abcdef"),
                    &[],
                ),
                Call::new(&home, "BatchUpdateFindings (ASFF: status and note)", "securityhub:BatchUpdateFindings").on(
                    "hub",
                    home.securityhub("hub/default"),
                    &[
                        ("securityhub:ASFFSyntaxPath/Workflow.Status", &["RESOLVED"]),
                        ("securityhub:ASFFSyntaxPath/Note.Text", &["Firebreak (finding as of …): contain resolved"]),
                        ("securityhub:ASFFSyntaxPath/Note.UpdatedBy", &["firebreak"]),
                    ],
                ),
                Call::new(&home, "BatchUpdateFindingsV2 (OCSF: status and comment)", "securityhub:BatchUpdateFindings")
                    .on(
                        "hubv2",
                        home.securityhub("hubv2/0123456789abcdef"),
                        &[
                            ("securityhub:OCSFSyntaxPath/StatusId", &["4"]),
                            ("securityhub:OCSFSyntaxPath/Comment", &["Firebreak (finding as of …): contain resolved"]),
                        ],
                    ),
            ]
        }
        // The receipt's reads; its repairs are the calls of the steps that closed each channel.
        StepKind::VerifyContainment => {
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            vec![
                describe,
                Call::new(s, "DescribeNetworkInterfaces (every interface attached)", "ec2:DescribeNetworkInterfaces")
                    .anything(),
                Call::new(s, "DescribeSecurityGroups (the isolation group's rules)", "ec2:DescribeSecurityGroups")
                    .anything(),
                Call::new(s, "DescribeInstanceAttribute (termination protection)", "ec2:DescribeInstanceAttribute").on(
                    "instance",
                    s.instance(),
                    instance_keys,
                ),
                Call::new(s, "GetRolePolicy (the deny on its role)", "iam:GetRolePolicy").on(
                    "role",
                    s.iam("role/web-instance-role"),
                    &[],
                ),
                Call::new(
                    s,
                    "ListFirewallDomains (the blocked domain read back)",
                    "route53resolver:ListFirewallDomains",
                )
                .on(
                    "firewall-domain-list",
                    s.route53resolver("firewall-domain-list/rslvr-fdl-0123456789abcdef0"),
                    &[("aws:ResourceTag/firebreak:role", &["firebreak-dns-block"])],
                ),
                Call::new(&home, "GetItem (the recorded isolation group)", "dynamodb:GetItem").on(
                    "table",
                    s.state_table(),
                    &[],
                ),
            ]
        }
        StepKind::Notify => vec![],
    }
}

/// A `ModifyInstanceMetadataOptions` request as the Service Authorization Reference reads the action:
/// the instance's service as it is in `ec2:MetadataHttpEndpoint`, each requested option in
/// `ec2:Attribute/<option>` (the parameter in `ec2:Attribute`, single-valued).
fn metadata_options(call: Call<'_>, current: &str, requested: &[(&str, &str)]) -> Request {
    let options: Vec<(String, [&str; 1])> =
        requested.iter().map(|(option, value)| (format!("ec2:Attribute/{option}"), [*value])).collect();
    let mut context: Vec<(&str, &[&str])> = vec![
        ("ec2:InstanceID", &["i-0abc1234def567890"]),
        ("ec2:MetadataHttpEndpoint", std::slice::from_ref(&current)),
        ("ec2:Attribute", &["HttpEndpoint"]),
    ];
    context.extend(options.iter().map(|(key, value)| (key.as_str(), &value[..])));
    call.on("instance", call.scene.instance(), &context)
}

/// What the executor calls in the home account for every incident of `function`, whatever the steps:
/// the cap only where a step counts against one, the member role only where it acts in members.
pub fn executor_requests(function: Function, s: &Scene) -> Vec<Request> {
    let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
    let table = s.state_table();
    let topic = format!("arn:{}:sns:{}:{}:firebreak-notifications", s.partition, s.home_region, s.home_account);
    // Each function claims incidents of its own kind only, dry run and approved runs included.
    let claims = claim_items(function).iter().map(|(what, key)| {
        Call::new(&home, &format!("UpdateItem (the claim and journal{what})"), "dynamodb:UpdateItem").on(
            "table",
            table.clone(),
            &[("dynamodb:LeadingKeys", &[key])],
        )
    });
    let mut requests: Vec<Request> = claims.collect();
    requests.extend([
        Call::new(&home, "UpdateItem (the warm-up at start)", "dynamodb:UpdateItem").on(
            "table",
            table.clone(),
            &[("dynamodb:LeadingKeys", &["warm-up"])],
        ),
        Call::new(&home, "Publish", "sns:Publish").on("topic", topic, &[("aws:SecureTransport", &["true"])]),
        Call::new(&home, "GetCallerIdentity", "sts:GetCallerIdentity").anything(),
    ]);
    if let Some((cap, circuit)) = cap_items(function) {
        requests.extend([
            Call::new(&home, "UpdateItem (the cap)", "dynamodb:UpdateItem").on(
                "table",
                table.clone(),
                &[("dynamodb:LeadingKeys", &[cap])],
            ),
            Call::new(&home, "PutItem (the circuit opens)", "dynamodb:PutItem").on(
                "table",
                table,
                &[("dynamodb:LeadingKeys", &[circuit])],
            ),
        ]);
    }
    if s.account != s.home_account && function.acts_in_member_accounts() {
        let mut assume = Call::new(&home, "AssumeRole", "sts:AssumeRole").on(
            "role",
            format!("arn:{}:iam::{}:role/{}", s.partition, s.account, s.member_role),
            &[("sts:ExternalId", &["s3cr3t"]), ("aws:PrincipalOrgID", &["o-firebreak01"])],
        );
        assume.account = s.account.to_owned();
        requests.push(assume);
    }
    requests
}

/// The claim items a function writes: its own kind's incidents, as run, in a dry run, and approved.
fn claim_items(function: Function) -> &'static [(&'static str, &'static str)] {
    match function.role_owner() {
        Function::GuarddutyResponder => &[
            ("", "claim#incident#guardduty#123456789012#us-east-1#a8c4e2f1"),
            (", dry run", "claim#dry-run#incident#guardduty#123456789012#us-east-1#a8c4e2f1"),
            (", approved", "claim#approved#incident#guardduty#123456789012#us-east-1#a8c4e2f1"),
        ],
        Function::AlarmResponder => &[
            ("", ALARM_CLAIM),
            (", dry run", "claim#dry-run#incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:firebreak-idle-web#2026-12-03T08:00:00.000+0000"),
            (", approved", "claim#approved#incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:firebreak-idle-web#2026-12-03T08:00:00.000+0000"),
        ],
        Function::CloudtrailResponder => &[
            ("", CLOUDTRAIL_CLAIM),
            (", dry run", "claim#dry-run#incident#cloudtrail#123456789012#us-east-1#7e0c0000-0000-4000-9000-000000000001"),
        ],
        Function::FindingsNotifier => &[
            ("", NOTIFIER_CLAIM),
            (", dry run", "claim#dry-run#incident#securityhub#123456789012#us-east-1#arn:aws:inspector2:us-east-1:123456789012:finding/0a1b"),
        ],
        Function::ApprovalResponder | Function::ContainmentSweeper => &[],
    }
}

const ALARM_CLAIM: &str =
    "claim#incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:firebreak-idle-web#2026-12-03T08:00:00.000+0000";
const CLOUDTRAIL_CLAIM: &str = "claim#incident#cloudtrail#123456789012#us-east-1#7e0c0000-0000-4000-9000-000000000001";
const NOTIFIER_CLAIM: &str =
    "claim#incident#securityhub#123456789012#us-east-1#arn:aws:inspector2:us-east-1:123456789012:finding/0a1b";
/// The containment cap and its circuit (the GuardDuty responder's), and the idle stops' (the alarm
/// responder's): each function writes its own cap's only.
const CONTAINMENT_CAP: (&str, &str) = ("cap#123456789012#2026-12-03T08", "circuit#123456789012#2026-12-03T08");
const STOPS_CAP: (&str, &str) = ("cap#123456789012#2026-12-03T08#stops", "circuit#123456789012#2026-12-03T08#stops");

/// The cap and circuit items a function writes, if it takes cap slots.
fn cap_items(function: Function) -> Option<(&'static str, &'static str)> {
    match function.role_owner() {
        Function::GuarddutyResponder => Some(CONTAINMENT_CAP),
        Function::AlarmResponder => Some(STOPS_CAP),
        _ => None,
    }
}

/// The operators' break-glass role (`BreakGlassRoleArn`) the IAM test deploys the template with.
pub const BREAK_GLASS_ROLE: &str = "security-break-glass";

/// A count of repeated notifications (`state_keys::tally`).
const TALLY_ITEM: &str =
    "tally#123456789012#2026-12-03T08#cloudtrail#CT-LOG-001#arn:aws:iam::123456789012:role/intruder";

/// A queued containment's item (`state_keys::held`).
const HELD_ITEM: &str = "held#incident#guardduty#123456789012#us-east-1#a8c4e2f1";

/// Reading one of Firebreak's secrets (always in the home account and region): `GetSecretValue`, and
/// the `Decrypt` Secrets Manager asks of KMS on the caller's behalf under the data key, with the
/// secret's ARN as encryption context. Both are expected to be `expect`.
fn read_secret(s: &Scene, call: &str, name: &str, expect: Expect, principal: Principal) -> [Request; 2] {
    let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
    let secret =
        format!("arn:{}:secretsmanager:{}:{}:secret:{name}-AbCdEf", s.partition, s.home_region, s.home_account);
    let key = format!("arn:{}:kms:{}:{}:key/DataKey", s.partition, s.home_region, s.home_account);
    let via = format!("secretsmanager.{}.amazonaws.com", s.home_region);
    let decrypt = format!("{call}: Decrypt by Secrets Manager");
    let mut requests = [
        Call::new(&home, call, "secretsmanager:GetSecretValue").on("Secret", secret.clone(), &[]),
        Call::new(&home, &decrypt, "kms:Decrypt").on(
            "key",
            key,
            &[
                ("kms:EncryptionContext:SecretARN", &[secret.as_str()]),
                ("kms:ViaService", &[via.as_str()]),
                ("kms:CallerAccount", &[s.home_account]),
            ],
        ),
    ];
    for r in &mut requests {
        r.expect = expect;
        r.principal = principal;
    }
    requests
}

/// The approval key, read at start by the function that signs links and by the approval function.
fn signing_key(s: &Scene) -> [Request; 2] {
    read_secret(s, "GetSecretValue (the approval key)", "firebreak-approval-key", Expect::Allowed, Principal::Function)
}

/// The alarm responder's key for the links of idle stops, read by it and by the approval function.
fn idle_signing_key(s: &Scene, expect: Expect) -> [Request; 2] {
    read_secret(
        s,
        "GetSecretValue (the idle-stop approval key)",
        "firebreak-idle-approval-key",
        expect,
        Principal::Function,
    )
}

/// The item an answer settles, and the attributes its conditional update names (key, condition, answer).
const APPROVAL_ITEM: &str = "approval#incident#guardduty#123456789012#us-east-1#a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7";
/// A request for approval of an idle stop: the alarm responder's.
const IDLE_APPROVAL_ITEM: &str =
    "approval#incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:idle-stop-cpu-i-0abc1234def567890#2026-12-03T08:00:00.000+0000";
const ANSWER_ATTRIBUTES: &[&str] = &["pk", "status", "decided", "deadline"];

/// Everything the approval function asks for: the key, its requests in the table (read, settle, sweep),
/// the notification, and the GuardDuty responder that runs an approved containment.
fn approval_function_requests(s: &Scene) -> Vec<Request> {
    let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
    let table = s.state_table();
    let topic = format!("arn:{}:sns:{}:{}:firebreak-notifications", s.partition, s.home_region, s.home_account);
    let function = |name: &str| {
        format!("arn:{}:lambda:{}:{}:function:firebreak-{name}", s.partition, s.home_region, s.home_account)
    };
    let mut requests = signing_key(s).to_vec();
    requests.extend(idle_signing_key(s, Expect::Allowed));
    requests.extend([
        Call::new(&home, "GetItem (a request)", "dynamodb:GetItem").on("table", table.clone(), &[]),
        Call::new(&home, "UpdateItem (settle a request)", "dynamodb:UpdateItem").on(
            "table",
            table.clone(),
            &[("dynamodb:LeadingKeys", &[APPROVAL_ITEM]), ("dynamodb:Attributes", ANSWER_ATTRIBUTES)],
        ),
        Call::new(&home, "UpdateItem (note an approved run not started)", "dynamodb:UpdateItem").on(
            "table",
            table,
            &[("dynamodb:LeadingKeys", &[APPROVAL_ITEM]), ("dynamodb:Attributes", &["pk", "undelivered"])],
        ),
        Call::new(&home, "Publish", "sns:Publish").on("topic", topic, &[("aws:SecureTransport", &["true"])]),
        Call::new(&home, "Invoke (run an approved containment)", "lambda:InvokeFunction").on(
            "function",
            function("guardduty-responder"),
            &[],
        ),
        Call::new(&home, "Invoke (run an approved idle stop)", "lambda:InvokeFunction").on(
            "function",
            function("alarm-responder"),
            &[],
        ),
    ]);
    requests
}

/// Every request `function` makes for an incident in `scene`.
pub fn function_requests(function: Function, s: &Scene) -> Vec<Request> {
    // A function that runs under another's role makes that role's requests.
    let function = function.role_owner();
    if function == Function::ApprovalResponder {
        return approval_function_requests(s);
    }
    let mut requests = executor_requests(function, s);
    if function.seals_records() {
        requests.extend(read_secret(
            s,
            "GetSecretValue (the state key)",
            "firebreak-state-key",
            Expect::Allowed,
            Principal::Function,
        ));
    }
    if function.asks_for_approval() {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let table = s.state_table();
        // Each asking function signs and records the requests of its own kind only.
        let (key, item): (_, &'static str) = match function {
            Function::AlarmResponder => (idle_signing_key(s, Expect::Allowed), IDLE_APPROVAL_ITEM),
            _ => (signing_key(s), APPROVAL_ITEM),
        };
        requests.extend(key);
        requests.push(Call::new(&home, "PutItem (a request for approval)", "dynamodb:PutItem").on(
            "table",
            table.clone(),
            &[("dynamodb:LeadingKeys", &[item])],
        ));
        requests.push(Call::new(&home, "GetItem (the request an approved run acts on)", "dynamodb:GetItem").on(
            "table",
            table.clone(),
            &[("dynamodb:LeadingKeys", &[item])],
        ));
    }
    if function.sweeps_approvals() {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let table = s.state_table();
        let alarm_responder = format!(
            "arn:{}:lambda:{}:{}:function:firebreak-alarm-responder",
            s.partition, s.home_region, s.home_account
        );
        requests.push(Call::new(&home, "Invoke (hand an approved idle stop over)", "lambda:InvokeFunction").on(
            "function",
            alarm_responder,
            &[],
        ));
        // The schedule's sweep: expired requests, approved runs not done, and its notes on them.
        // The sweep queries its queue (the sparse index), never scans the table.
        requests.push(Call::new(&home, "Query (the sweep's queue)", "dynamodb:Query").on(
            "index",
            format!("{table}/index/{}", crate::state_keys::QUEUE_INDEX),
            &[],
        ));
        // The queue of containments the cap held back: queued by the run held back, noted, taken off.
        for (call, action) in [
            ("UpdateItem (a containment the cap held back, queued)", "dynamodb:UpdateItem"),
            ("UpdateItem (a queued containment told overdue)", "dynamodb:UpdateItem"),
            ("DeleteItem (a queued containment that ran)", "dynamodb:DeleteItem"),
        ] {
            requests.push(Call::new(&home, call, action).on(
                "table",
                table.clone(),
                &[("dynamodb:LeadingKeys", &[HELD_ITEM])],
            ));
        }
        // The counts of repeated notifications, told once their hour is over, then forgotten.
        requests.push(
            Call::new(&home, "DeleteItem (a told count of repeated notifications)", "dynamodb:DeleteItem").on(
                "table",
                table.clone(),
                &[("dynamodb:LeadingKeys", &[TALLY_ITEM])],
            ),
        );
        for item in [APPROVAL_ITEM, IDLE_APPROVAL_ITEM] {
            requests.push(
                Call::new(&home, "UpdateItem (the sweep settles or notes a request)", "dynamodb:UpdateItem").on(
                    "table",
                    table.clone(),
                    &[
                        ("dynamodb:LeadingKeys", &[item]),
                        ("dynamodb:Attributes", &["pk", "status", "decided", "deadline", "undelivered", "abandoned"]),
                    ],
                ),
            );
        }
    }
    if function.counts_repeats() {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        requests.push(Call::new(&home, "UpdateItem (a repeated notification counted)", "dynamodb:UpdateItem").on(
            "table",
            s.state_table(),
            &[("dynamodb:LeadingKeys", &[TALLY_ITEM])],
        ));
    }
    if function.remembers_ingress() {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let group = s.ingress_item();
        requests.push(Call::new(&home, "UpdateItem (the ingress ranges a group received)", "dynamodb:UpdateItem").on(
            "table",
            s.state_table(),
            &[("dynamodb:LeadingKeys", &[group.as_str()])],
        ));
    }
    if function.confirms_findings() {
        // In the finding's own account (through the member role there); no resource-level permission.
        requests.push(Call::new(s, "GetFindings", "guardduty:GetFindings").anything());
    }
    for step in function.steps() {
        requests.extend(step_requests(step, s));
    }
    requests
}

/// Calls Firebreak must never be allowed to make, whatever happens to its code.
pub fn forbidden_requests(function: Function, s: &Scene) -> Vec<Request> {
    let function = function.role_owner();
    let exempt: &[(&str, &[&str])] = &[
        ("aws:ResourceTag/firebreak:exempt", &["true"]),
        ("ec2:ResourceTag/firebreak:exempt", &["true"]),
        ("ec2:InstanceID", &["i-0abc1234def567890"]),
    ];
    let mut denied = vec![
        create_tags(
            &Call::new(s, "CreateTags (a key that is not Firebreak's)", "ec2:CreateTags").denied(),
            "instance",
            s.instance(),
            &["Owner"],
            None,
        ),
        // A finding's workflow and note only: never suppressed, never its severity or any other field.
        Call::new(s, "BatchUpdateFindings (suppress a finding)", "securityhub:BatchUpdateFindings").denied().on(
            "hub",
            s.securityhub("hub/default"),
            &[("securityhub:ASFFSyntaxPath/Workflow.Status", &["SUPPRESSED"])],
        ),
        Call::new(s, "BatchUpdateFindings (lower a finding's severity)", "securityhub:BatchUpdateFindings")
            .denied()
            .on(
                "hub",
                s.securityhub("hub/default"),
                &[("securityhub:ASFFSyntaxPath/Severity.Label", &["INFORMATIONAL"])],
            ),
        Call::new(s, "BatchUpdateFindingsV2 (suppress a finding)", "securityhub:BatchUpdateFindings").denied().on(
            "hubv2",
            s.securityhub("hubv2/0123456789abcdef"),
            &[("securityhub:OCSFSyntaxPath/StatusId", &["3"])],
        ),
        Call::new(s, "BatchUpdateFindingsV2 (change a finding's severity)", "securityhub:BatchUpdateFindings")
            .denied()
            .on("hubv2", s.securityhub("hubv2/0123456789abcdef"), &[("securityhub:OCSFSyntaxPath/SeverityId", &["1"])]),
        // Only GuardDuty Malware Protection's own role: another service's could carry other powers.
        Call::new(s, "CreateServiceLinkedRole (another service's)", "iam:CreateServiceLinkedRole").denied().on(
            "role",
            s.iam("role/aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk"),
            &[("iam:AWSServiceName", &["elasticbeanstalk.amazonaws.com"])],
        ),
    ];
    // Another kind's claim, or a cap that is not its own: never (a claim taken ahead of its function
    // would postpone that incident; a cap filled, hold real ones back).
    {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let own = claim_items(function);
        let claims = [
            ("a containment's claim", "claim#incident#guardduty#123456789012#us-east-1#a8c4e2f1"),
            ("an idle stop's claim", ALARM_CLAIM),
            ("a CloudTrail incident's claim", CLOUDTRAIL_CLAIM),
            ("another product's finding's claim", NOTIFIER_CLAIM),
        ];
        let foreign_claims = claims.into_iter().filter(|(_, key)| !own.iter().any(|(_, k)| k == key));
        let own_cap = cap_items(function);
        let caps = [
            ("the containment cap", CONTAINMENT_CAP.0),
            ("the containment circuit", CONTAINMENT_CAP.1),
            ("the idle stops' cap", STOPS_CAP.0),
            ("the idle stops' circuit", STOPS_CAP.1),
        ];
        let foreign_caps =
            caps.into_iter().filter(|(_, key)| own_cap.is_none_or(|(cap, circuit)| *key != cap && *key != circuit));
        if function != Function::ApprovalResponder {
            for (what, key) in foreign_claims.chain(foreign_caps) {
                denied.push(Call::new(&home, &format!("UpdateItem ({what})"), "dynamodb:UpdateItem").denied().on(
                    "table",
                    s.state_table(),
                    &[("dynamodb:LeadingKeys", &[key])],
                ));
            }
        }
    }
    // Automation rules can match any field a write sets: only the status and the note are written.
    for (what, path, value) in [
        ("a finding's criticality", "Criticality", "0"),
        ("a finding's confidence", "Confidence", "0"),
        ("a finding's types", "Types", "Software and Configuration Checks"),
        ("user-defined fields", "UserDefinedFields", "suppress"),
        ("related findings", "RelatedFindings", "arn:aws:securityhub:::finding/x"),
        ("the product's severity", "Severity.Product", "0"),
    ] {
        let key = format!("securityhub:ASFFSyntaxPath/{path}");
        denied.push(
            Call::new(s, &format!("BatchUpdateFindings ({what})"), "securityhub:BatchUpdateFindings").denied().on(
                "hub",
                s.securityhub("hub/default"),
                &[(key.as_str(), &[value])],
            ),
        );
    }
    // The items only the GuardDuty responder writes: what release and an approved run trust.
    if matches!(function, Function::AlarmResponder | Function::CloudtrailResponder | Function::FindingsNotifier) {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let table = s.state_table();
        for (what, key) in [
            ("a quarantine record", "quarantine#i-0abc1234def567890"),
            ("a credential record", "credentials#i-0abc1234def567890"),
            ("the instances denied on a role", "denied#AROAEXAMPLEROLEID0001"),
            ("a request for approval", APPROVAL_ITEM),
            ("a queued containment", HELD_ITEM),
            ("a containment group", "group#123456789012#us-east-1#vpc-1#isolation"),
            ("the incident of a malware scan", "scan#0123456789abcdef0123456789abcdef"),
        ] {
            for action in ["dynamodb:UpdateItem", "dynamodb:PutItem"] {
                denied.push(Call::new(&home, &format!("{action} ({what})"), action).denied().on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &[key])],
                ));
            }
        }
    }
    match function {
        Function::GuarddutyResponder | Function::ContainmentSweeper => {
            // It may withdraw a quarantine record, never delete the cap, a claim or a recorded group.
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            for (what, key) in [
                ("the cap", "cap#123456789012#2026-12-03T08"),
                ("a claim", "claim#incident#guardduty#123456789012#us-east-1#a8c4e2f1"),
                ("a containment group", "group#123456789012#us-east-1#vpc-1#isolation"),
            ] {
                denied.push(Call::new(&home, &format!("DeleteItem ({what})"), "dynamodb:DeleteItem").denied().on(
                    "table",
                    s.state_table(),
                    &[("dynamodb:LeadingKeys", &[key])],
                ));
            }
            // Someone else's DNS Firewall: neither its domains nor an untagged association, nor its list
            // tagged into Firebreak's.
            let foreign: &[(&str, &[&str])] = &[("aws:ResourceTag/firebreak:role", &["dns-team"])];
            let ours: &[(&str, &[&str])] =
                &[("aws:RequestTag/firebreak:role", &["firebreak-dns-block"]), ("aws:TagKeys", &["firebreak:role"])];
            denied.push(
                Call::new(s, "TagResource (another's list, tagged Firebreak's)", "route53resolver:TagResource")
                    .denied()
                    .on(
                        "firewall-domain-list",
                        s.route53resolver("firewall-domain-list/rslvr-fdl-0000000000000000a"),
                        ours,
                    ),
            );
            denied.extend([
                Call::new(
                    s,
                    "UpdateFirewallDomains (a list that is not Firebreak's)",
                    "route53resolver:UpdateFirewallDomains",
                )
                .denied()
                .on(
                    "firewall-domain-list",
                    s.route53resolver("firewall-domain-list/rslvr-fdl-0000000000000000a"),
                    foreign,
                ),
                Call::new(s, "AssociateFirewallRuleGroup (untagged)", "route53resolver:AssociateFirewallRuleGroup")
                    .denied()
                    .on(
                        "firewall-rule-group-association",
                        s.route53resolver("firewall-rule-group-association/rslvr-frgassoc-0000000000000000a"),
                        &[],
                    ),
            ]);
            let protect =
                Call::new(s, "ModifyInstanceAttribute (exempt instance)", "ec2:ModifyInstanceAttribute").denied();
            let user_data = Call::new(s, "ModifyInstanceAttribute (userData)", "ec2:ModifyInstanceAttribute").denied();
            let regroup = Call::new(
                s,
                "ModifyNetworkInterfaceAttribute (exempt instance)",
                "ec2:ModifyNetworkInterfaceAttribute",
            )
            .denied();
            let rules = Call::new(
                s,
                "AuthorizeSecurityGroupIngress (a group that is not Firebreak's)",
                "ec2:AuthorizeSecurityGroupIngress",
            )
            .denied();
            let untagged =
                Call::new(s, "CreateSecurityGroup (without the role tag)", "ec2:CreateSecurityGroup").denied();
            let mut exempt_protect = exempt.to_vec();
            exempt_protect.push(("ec2:Attribute/DisableApiTermination", &["true"]));
            denied.extend([
                protect.on("instance", s.instance(), &exempt_protect),
                user_data.on("instance", s.instance(), &[("ec2:Attribute/UserData", &["IyEvYmluL3No"])]),
                regroup.on(
                    "network-interface",
                    s.ec2("network-interface/eni-0123456789abcdef0"),
                    &[("ec2:Vpc", &[s.vpc().as_str()]), ("ec2:Subnet", &[s.subnet().as_str()])],
                ),
                regroup.on("instance", s.instance(), exempt),
                rules.on("security-group", s.other_group(), &[("ec2:SecurityGroupID", &["sg-0123456789abcdef0"])]),
                untagged.on(
                    "security-group",
                    s.ec2("security-group/sg-0aaaaaaaaaaaaaaa1"),
                    &[("aws:TagKeys", &["Name"]), ("aws:RequestTag/Name", &["x"])],
                ),
                Call::new(s, "PutRolePolicy (Firebreak's own role)", "iam:PutRolePolicy").denied().on(
                    "role",
                    s.iam(&format!("role/firebreak-guardduty-responder-{}", s.home_region)),
                    &[],
                ),
                Call::new(s, "PutRolePolicy (the member role)", "iam:PutRolePolicy").denied().on(
                    "role",
                    s.iam(&format!("role/{}", s.member_role)),
                    &[],
                ),
                Call::new(s, "PutRolePolicy (a service-linked role)", "iam:PutRolePolicy").denied().on(
                    "role",
                    s.iam("role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
                    &[],
                ),
                Call::new(s, "PutRolePolicy (an exempt role)", "iam:PutRolePolicy").denied().on(
                    "role",
                    s.iam("role/batch"),
                    &[("aws:ResourceTag/firebreak:exempt", &["true"]), ("iam:ResourceTag/firebreak:exempt", &["true"])],
                ),
                Call::new(s, "PassRole (never needed)", "iam:PassRole").denied().on(
                    "role",
                    s.iam("role/web-instance-role"),
                    &[],
                ),
                Call::new(
                    s,
                    "ModifyInstanceMetadataOptions (turning the service on)",
                    "ec2:ModifyInstanceMetadataOptions",
                )
                .denied()
                .on(
                    "instance",
                    s.instance(),
                    &[("ec2:InstanceID", &["i-0abc1234def567890"]), ("ec2:MetadataHttpEndpoint", &["enabled"])],
                ),
                metadata_options(
                    Call::new(
                        s,
                        "ModifyInstanceMetadataOptions (turning on an instance that is off, as the reference reads)",
                        "ec2:ModifyInstanceMetadataOptions",
                    )
                    .denied(),
                    "disabled",
                    &[("HttpEndpoint", "enabled")],
                ),
                metadata_options(
                    Call::new(
                        s,
                        "ModifyInstanceMetadataOptions (off, and IMDSv1 allowed with it)",
                        "ec2:ModifyInstanceMetadataOptions",
                    )
                    .denied(),
                    "enabled",
                    &[("HttpEndpoint", "disabled"), ("HttpTokens", "optional")],
                ),
                Call::new(s, "StopTask (exempt task)", "ecs:StopTask").denied().on(
                    "task",
                    s.ecs_task(),
                    &[
                        ("ecs:cluster", &[s.ecs_cluster().as_str()]),
                        ("aws:ResourceTag/firebreak:exempt", &["true"]),
                        ("ecs:ResourceTag/firebreak:exempt", &["true"]),
                    ],
                ),
            ]);
        }
        Function::AlarmResponder => {
            denied.push(Call::new(s, "StopInstances (exempt instance)", "ec2:StopInstances").denied().on(
                "instance",
                s.instance(),
                exempt,
            ));
        }
        Function::CloudtrailResponder => {}
        Function::FindingsNotifier => {
            // It notifies: no instance, no member account, no cap, no GuardDuty call.
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            if s.account == s.home_account {
                denied.extend([
                    Call::new(s, "StopInstances", "ec2:StopInstances").denied().on(
                        "instance",
                        s.instance(),
                        &[("ec2:InstanceID", &["i-0abc1234def567890"])],
                    ),
                    Call::new(s, "GetFindings", "guardduty:GetFindings").denied().anything(),
                ]);
            }
            denied.extend([Call::new(&home, "PutItem (a claim, whole)", "dynamodb:PutItem").denied().on(
                "table",
                s.state_table(),
                &[("dynamodb:LeadingKeys", &["claim#incident#securityhub#123456789012#x"])],
            )]);
            if s.account != s.home_account {
                let mut assume = Call::new(&home, "AssumeRole (the member role)", "sts:AssumeRole").denied().on(
                    "role",
                    format!("arn:{}:iam::{}:role/{}", s.partition, s.account, s.member_role),
                    &[("sts:ExternalId", &["s3cr3t"]), ("aws:PrincipalOrgID", &["o-firebreak01"])],
                );
                assume.account = s.account.to_owned();
                denied.push(assume);
            }
        }
        Function::ApprovalResponder => {
            // The public function holds no power to contain, revoke or stop: only to ask the responder.
            let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
            let cloudtrail_responder = format!(
                "arn:{}:lambda:{}:{}:function:firebreak-cloudtrail-responder",
                s.partition, s.home_region, s.home_account
            );
            let regroup = Call::new(
                &home,
                "ModifyNetworkInterfaceAttribute (it never contains)",
                "ec2:ModifyNetworkInterfaceAttribute",
            )
            .denied();
            let table = s.state_table();
            let write = |what: &str, key: &'static str, attributes: &'static [&'static str]| {
                Call::new(&home, &format!("UpdateItem ({what})"), "dynamodb:UpdateItem").denied().on(
                    "table",
                    table.clone(),
                    &[("dynamodb:LeadingKeys", &[key]), ("dynamodb:Attributes", attributes)],
                )
            };
            denied.extend([
                write("a quarantine record", "quarantine#i-0abc1234def567890", &["pk", "eni#eni-0a1b2c3d4e5f60718"]),
                write("a credential record", "credentials#i-0abc1234def567890", &["pk", "metadata_tokens"]),
                write("a cap row", "cap#123456789012#2026-12-03T08", &["pk", "count"]),
                write("a claim", "claim#incident#guardduty#123456789012#us-east-1#f", &["pk", "status"]),
                write("what a request would contain", APPROVAL_ITEM, &["pk", "status", "event"]),
            ]);
            denied.extend([
                regroup.on("instance", home.instance(), &[]),
                regroup.on(
                    "network-interface",
                    home.ec2("network-interface/eni-0123456789abcdef0"),
                    &[("ec2:Vpc", &[home.vpc().as_str()]), ("ec2:Subnet", &[home.subnet().as_str()])],
                ),
                Call::new(&home, "StopInstances (it never stops)", "ec2:StopInstances").denied().on(
                    "instance",
                    home.instance(),
                    &[],
                ),
                Call::new(&home, "PutRolePolicy (it never revokes)", "iam:PutRolePolicy").denied().on(
                    "role",
                    format!("arn:{}:iam::{}:role/web", s.partition, s.home_account),
                    &[],
                ),
                Call::new(&home, "Invoke (another function)", "lambda:InvokeFunction").denied().on(
                    "function",
                    cloudtrail_responder,
                    &[],
                ),
            ]);
        }
    }
    // No function scans the table: the sweep queries its queue, and the public function reads by key.
    {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        denied.push(Call::new(&home, "Scan (the table)", "dynamodb:Scan").denied().on("table", s.state_table(), &[]));
    }
    // The ranges only the CloudTrail responder judges: no other function may plant "earlier calls".
    if !function.remembers_ingress() {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        let group = s.ingress_item();
        denied.push(
            Call::new(&home, "UpdateItem (the ingress ranges a group received)", "dynamodb:UpdateItem").denied().on(
                "table",
                s.state_table(),
                &[("dynamodb:LeadingKeys", &[group.as_str()])],
            ),
        );
    }
    // The operators' break-glass role, in the security account: a deny there would lock out release.
    if s.account == s.home_account && function.acts_in_member_accounts() {
        denied.push(Call::new(s, "PutRolePolicy (the operators' break-glass role)", "iam:PutRolePolicy").denied().on(
            "role",
            s.iam(&format!("role/{BREAK_GLASS_ROLE}")),
            &[],
        ));
    }
    // Only the approval key, and only for the function that signs approval links.
    let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
    let secret =
        |name: &str| format!("arn:{}:secretsmanager:{}:{}:secret:{name}", s.partition, s.home_region, s.home_account);
    denied.push(
        Call::new(&home, "GetSecretValue (another secret of the account)", "secretsmanager:GetSecretValue")
            .denied()
            .on("Secret", secret("prod-database-password-AbCdEf"), &[]),
    );
    // Neither by IAM nor by the data key's policy, which refuses the plaintext whatever IAM grants: each
    // asking function reads its own key only, so neither can sign a link to the other's requests.
    if !matches!(function, Function::GuarddutyResponder | Function::ApprovalResponder) {
        denied.extend(read_secret(
            s,
            "GetSecretValue (the approval key)",
            "firebreak-approval-key",
            Expect::Denied,
            Principal::Function,
        ));
    }
    if !matches!(function, Function::AlarmResponder | Function::ApprovalResponder) {
        denied.extend(idle_signing_key(s, Expect::Denied));
    }
    // Nor record the other's requests (the alarm responder's carry no seal: IAM alone keeps them its own).
    let foreign = match function {
        Function::GuarddutyResponder => Some(IDLE_APPROVAL_ITEM),
        Function::AlarmResponder => Some(APPROVAL_ITEM),
        _ => None,
    };
    if let Some(item) = foreign {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        denied.push(
            Call::new(&home, "PutItem (the other kind's request for approval)", "dynamodb:PutItem").denied().on(
                "table",
                s.state_table(),
                &[("dynamodb:LeadingKeys", &[item])],
            ),
        );
    }
    if function == Function::AlarmResponder {
        let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
        denied.push(Call::new(&home, "GetItem (a quarantine record)", "dynamodb:GetItem").denied().on(
            "table",
            s.state_table(),
            &[("dynamodb:LeadingKeys", &["quarantine#i-0abc1234def567890"])],
        ));
    }
    // The key that seals trusted records: the approval function (public) and the others never read it.
    if !function.seals_records() {
        denied.extend(read_secret(
            s,
            "GetSecretValue (the state key)",
            "firebreak-state-key",
            Expect::Denied,
            Principal::Function,
        ));
    }
    denied
}

/// What no one but Firebreak may do: assume the member role the wrong way (without the external id,
/// from outside the organisation, by a look-alike role), write the state table, or read its secrets.
pub fn forbidden_to_outsiders(s: &Scene) -> Vec<Request> {
    let home = Scene { account: s.home_account, region: s.home_region, ..s.clone() };
    let role = format!("arn:{}:iam::{}:role/{}", s.partition, s.account, s.member_role);
    let assume = |call: &str, context: &[(&str, &[&str])]| {
        let mut r = Call::new(&home, call, "sts:AssumeRole").denied().on("role", role.clone(), context);
        r.account = s.account.to_owned();
        r
    };
    let mut impostor = assume(
        "AssumeRole (by a role that only looks like a responder)",
        &[("sts:ExternalId", &["s3cr3t"]), ("aws:PrincipalOrgID", &["o-firebreak01"])],
    );
    impostor.principal = Principal::Impostor;
    // Attack 2 of the trust issue: any other principal of the account, even one granted every table
    // write Firebreak's roles hold, is refused by the table's resource policy.
    let table = s.state_table();
    let mut forgers = Vec::new();
    for (what, key) in [
        ("an approval", APPROVAL_ITEM),
        ("the original groups", "quarantine#i-0abc1234def567890"),
        ("a credential record", "credentials#i-0abc1234def567890"),
        ("the instances denied on a role", "denied#AROAEXAMPLEROLEID0001"),
        ("a cap row", "cap#123456789012#2026-12-03T08"),
        ("an earlier call's ingress ranges", "ingress#222222222222#us-east-1#sg-0123456789abcdef0"),
    ] {
        for action in ["dynamodb:PutItem", "dynamodb:UpdateItem"] {
            let call = format!("{action} ({what}, by a principal outside Firebreak)");
            let mut forger = Call::new(&home, &call, action).denied().on(
                "table",
                table.clone(),
                &[("dynamodb:LeadingKeys", &[key])],
            );
            forger.principal = Principal::Impostor;
            forgers.push(forger);
        }
    }
    let mut denied = vec![
        impostor,
        assume("AssumeRole (without the external id)", &[("aws:PrincipalOrgID", &["o-firebreak01"])]),
        assume(
            "AssumeRole (from outside the organisation)",
            &[("sts:ExternalId", &["s3cr3t"]), ("aws:PrincipalOrgID", &["o-elsewhere99"])],
        ),
    ];
    denied.extend(forgers);
    // Whoever reads the state key seals a forged record and whoever reads the approval key signs a
    // link: the data key's policy refuses both secrets' plaintext to anyone else, even holding a
    // responder's permissions; nor may anyone grant themselves use of the key around that.
    for (call, name) in [
        ("GetSecretValue (the state key)", "firebreak-state-key"),
        ("GetSecretValue (the approval key)", "firebreak-approval-key"),
    ] {
        let [_, decrypt] = read_secret(
            s,
            &format!("{call}, by a principal outside Firebreak"),
            name,
            Expect::Denied,
            Principal::Impostor,
        );
        denied.push(decrypt);
    }
    let mut grant =
        Call::new(&home, "CreateGrant (on the data key, by a principal outside Firebreak)", "kms:CreateGrant")
            .denied()
            .on("key", format!("arn:{}:kms:{}:{}:key/DataKey", s.partition, s.home_region, s.home_account), &[]);
    grant.principal = Principal::Impostor;
    denied.push(grant);
    denied
}

/// A member account forwarding its events to the security account's default bus: its forwarding role
/// from inside the organisation allowed; from outside, or any other principal of a member, denied.
pub fn forwarding_requests(s: &Scene) -> Vec<Request> {
    let bus = format!("arn:{}:events:{}:{}:event-bus/default", s.partition, s.home_region, s.home_account);
    let put = |call: &str, org: &'static [&'static str], expect: Expect| Request {
        call: call.to_owned(),
        action: "events:PutEvents",
        resource_type: "event-bus",
        resource: bus.clone(),
        account: s.home_account.to_owned(),
        context: [("aws:PrincipalOrgID".to_owned(), org.iter().map(|o| o.to_string()).collect())].into(),
        principal: Principal::Forwarder,
        expect,
    };
    let mut other = put("PutEvents (another principal of a member account)", &["o-firebreak01"], Expect::Denied);
    other.principal = Principal::MemberAdministrator;
    vec![
        put("PutEvents (a member of the organisation forwards)", &["o-firebreak01"], Expect::Allowed),
        put("PutEvents (from outside the organisation)", &["o-elsewhere99"], Expect::Denied),
        other,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EXECUTOR_IAM_ACTIONS;
    use std::collections::BTreeSet;

    #[test]
    fn every_call_asks_for_every_action_its_operation_authorizes() {
        for function in Function::ALL {
            for scene in [Scene::home("us-east-1"), Scene::member("eu-west-1")] {
                let requests = function_requests(function, &scene);
                let mut asked: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                for r in &requests {
                    asked.entry(operations::call_name(&r.call)).or_default().insert(r.action);
                }
                for (operation, actions) in asked {
                    // Two services may name an operation alike (GuardDuty's and Security Hub's GetFindings):
                    // the one whose namesake action the call asks for.
                    let services: BTreeSet<&str> = actions.iter().filter_map(|a| a.split(':').next()).collect();
                    let named: Vec<&operations::Operation> =
                        operations::OPERATIONS.iter().filter(|o| o.name == operation).collect();
                    assert!(!named.is_empty(), "{operation} is missing from iam::operations");
                    let authorized = named
                        .iter()
                        .filter(|o| {
                            named.len() == 1 || o.actions[0].split(':').next().is_some_and(|s| services.contains(s))
                        })
                        .flat_map(|o| o.actions.iter().copied());
                    for action in authorized {
                        assert!(actions.contains(action), "{}: {operation} asks for {action} too", function.name());
                    }
                }
            }
        }
    }

    #[test]
    fn the_requests_of_each_step_are_exactly_its_declared_actions() {
        for step in StepKind::ALL {
            let actions: BTreeSet<&str> =
                step_requests(step, &Scene::home("us-east-1")).iter().map(|r| r.action).collect();
            let declared: BTreeSet<&str> = step.iam_actions().iter().copied().filter(|a| *a != "sns:Publish").collect();
            assert_eq!(actions, declared, "{step:?}");
        }
        let executor: BTreeSet<&str> = executor_requests(Function::GuarddutyResponder, &Scene::member("us-east-1"))
            .iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(executor, EXECUTOR_IAM_ACTIONS.iter().copied().collect());
    }
}
