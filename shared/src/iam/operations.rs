//! Every AWS API operation Firebreak's code calls, and every IAM action AWS authorizes when Firebreak
//! calls it the way it does. One operation is not always one action: the Service Authorization
//! Reference lists, per action, the *dependent actions* a call also needs (its programmatic form's
//! operations table maps each operation to all of them), and a create that sends tags is also a tagging
//! request. The simulation (`tests/integration/iam.rs`) asks for every action listed here for each call,
//! a test scans the adapters for every SDK operation they call, and another expands each call a full run
//! makes through this table: none may be missing from the role that makes it.

/// One operation as Firebreak calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The SDK crate's service (`aws_sdk_<service>`).
    pub service: &'static str,
    /// The API operation, as the SDK and the wire name it.
    pub name: &'static str,
    /// Every action it authorizes, as called: the namesake first.
    pub actions: &'static [&'static str],
    /// What KMS is asked on the caller's behalf, and under which of Firebreak's keys.
    pub on_behalf: Option<(Key, &'static [&'static str])>,
    /// Why more than the namesake, or why not the dependent actions the reference lists.
    pub why: &'static str,
}

/// Firebreak's two keys (template.yaml): the notification topic's and the data key (table, secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Topic,
    Data,
}

impl Key {
    /// The resource id the simulation names the key by (`key/<id>`, the template's logical id).
    pub fn logical_id(self) -> &'static str {
        match self {
            Key::Topic => "TopicKey",
            Key::Data => "DataKey",
        }
    }
}

const fn op(service: &'static str, name: &'static str, actions: &'static [&'static str]) -> Operation {
    Operation { service, name, actions, on_behalf: None, why: "" }
}

const fn with(
    service: &'static str,
    name: &'static str,
    actions: &'static [&'static str],
    why: &'static str,
) -> Operation {
    Operation { service, name, actions, on_behalf: None, why }
}

/// DynamoDB reads and writes items of a table encrypted with a customer managed key by asking KMS
/// for the caller ("Encryption at rest: how it works", Amazon DynamoDB Developer Guide).
const fn table(name: &'static str, actions: &'static [&'static str]) -> Operation {
    Operation {
        service: "dynamodb",
        name,
        actions,
        on_behalf: Some((Key::Data, &["kms:Decrypt", "kms:GenerateDataKey"])),
        why: "the table is encrypted with the data key",
    }
}

pub const OPERATIONS: &[Operation] = &[
    op("autoscaling", "DescribeAutoScalingInstances", &["autoscaling:DescribeAutoScalingInstances"]),
    op("autoscaling", "DetachInstances", &["autoscaling:DetachInstances"]),
    op("autoscaling", "SetInstanceProtection", &["autoscaling:SetInstanceProtection"]),
    op("cloudwatch", "DescribeAlarms", &["cloudwatch:DescribeAlarms"]),
    op("cloudwatch", "GetMetricData", &["cloudwatch:GetMetricData"]),
    table("DeleteItem", &["dynamodb:DeleteItem"]),
    table("GetItem", &["dynamodb:GetItem"]),
    table("PutItem", &["dynamodb:PutItem"]),
    table("Query", &["dynamodb:Query"]),
    table("Scan", &["dynamodb:Scan"]),
    table("UpdateItem", &["dynamodb:UpdateItem"]),
    with(
        "ec2",
        "AuthorizeSecurityGroupEgress",
        &["ec2:AuthorizeSecurityGroupEgress"],
        "sent without TagSpecifications, so not the ec2:CreateTags the reference lists as dependent",
    ),
    with(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        &["ec2:AuthorizeSecurityGroupIngress"],
        "sent without TagSpecifications, so not the ec2:CreateTags the reference lists as dependent",
    ),
    with(
        "ec2",
        "CreateSecurityGroup",
        &["ec2:CreateSecurityGroup", "ec2:CreateTags"],
        "created with TagSpecifications: tagging on creation is a CreateTags request (ec2:CreateAction)",
    ),
    with(
        "ec2",
        "CreateSnapshots",
        &["ec2:CreateSnapshots", "ec2:CreateTags"],
        "created with TagSpecifications: tagging on creation is a CreateTags request (ec2:CreateAction)",
    ),
    op("ec2", "CreateTags", &["ec2:CreateTags"]),
    op("ec2", "DeleteTags", &["ec2:DeleteTags"]),
    op("ec2", "DescribeInstanceAttribute", &["ec2:DescribeInstanceAttribute"]),
    op("ec2", "DescribeInstances", &["ec2:DescribeInstances"]),
    op("ec2", "DescribeNetworkInterfaces", &["ec2:DescribeNetworkInterfaces"]),
    op("ec2", "DescribeSecurityGroupRules", &["ec2:DescribeSecurityGroupRules"]),
    op("ec2", "DescribeSecurityGroups", &["ec2:DescribeSecurityGroups"]),
    op("ec2", "DescribeSnapshots", &["ec2:DescribeSnapshots"]),
    op("ec2", "ModifyInstanceAttribute", &["ec2:ModifyInstanceAttribute"]),
    op("ec2", "ModifyInstanceMetadataOptions", &["ec2:ModifyInstanceMetadataOptions"]),
    op("ec2", "ModifyNetworkInterfaceAttribute", &["ec2:ModifyNetworkInterfaceAttribute"]),
    op("ec2", "RevokeSecurityGroupEgress", &["ec2:RevokeSecurityGroupEgress"]),
    op("ec2", "RevokeSecurityGroupIngress", &["ec2:RevokeSecurityGroupIngress"]),
    op("ec2", "StopInstances", &["ec2:StopInstances"]),
    op("ecs", "DescribeTasks", &["ecs:DescribeTasks"]),
    op("ecs", "StopTask", &["ecs:StopTask"]),
    op("elasticloadbalancingv2", "DeregisterTargets", &["elasticloadbalancing:DeregisterTargets"]),
    op("elasticloadbalancingv2", "DescribeTargetGroups", &["elasticloadbalancing:DescribeTargetGroups"]),
    op("elasticloadbalancingv2", "DescribeTargetHealth", &["elasticloadbalancing:DescribeTargetHealth"]),
    op("guardduty", "GetFindings", &["guardduty:GetFindings"]),
    with(
        "guardduty",
        "StartMalwareScan",
        &["guardduty:StartMalwareScan", "iam:CreateServiceLinkedRole"],
        "the first on-demand scan of an account creates GuardDuty Malware Protection's service-linked role",
    ),
    op("iam", "DeleteRolePolicy", &["iam:DeleteRolePolicy"]),
    op("iam", "GetInstanceProfile", &["iam:GetInstanceProfile"]),
    op("iam", "GetRole", &["iam:GetRole"]),
    op("iam", "GetRolePolicy", &["iam:GetRolePolicy"]),
    op("iam", "GetUser", &["iam:GetUser"]),
    op("iam", "PutRolePolicy", &["iam:PutRolePolicy"]),
    op("iam", "UpdateAccessKey", &["iam:UpdateAccessKey"]),
    op("lambda", "Invoke", &["lambda:InvokeFunction"]),
    with(
        "route53resolver",
        "AssociateFirewallRuleGroup",
        &["route53resolver:AssociateFirewallRuleGroup", "route53resolver:TagResource", "ec2:DescribeVpcs"],
        "associated with tags: the reference's operations table maps it to TagResource as well \
         (list_route53resolver, \"API operations defined by Amazon Route 53 Resolver\"), and its actions table \
         lists ec2:DescribeVpcs as a dependent action",
    ),
    op("route53resolver", "CreateFirewallDomainList", &["route53resolver:CreateFirewallDomainList"]),
    op("route53resolver", "CreateFirewallRule", &["route53resolver:CreateFirewallRule"]),
    op("route53resolver", "CreateFirewallRuleGroup", &["route53resolver:CreateFirewallRuleGroup"]),
    op("route53resolver", "ListFirewallDomains", &["route53resolver:ListFirewallDomains"]),
    op("route53resolver", "ListFirewallRuleGroupAssociations", &["route53resolver:ListFirewallRuleGroupAssociations"]),
    op("route53resolver", "UpdateFirewallDomains", &["route53resolver:UpdateFirewallDomains"]),
    Operation {
        service: "secretsmanager",
        name: "GetSecretValue",
        actions: &["secretsmanager:GetSecretValue"],
        on_behalf: Some((Key::Data, &["kms:Decrypt"])),
        why: "the secrets are encrypted with the data key, decrypted by Secrets Manager for the caller",
    },
    op("securityhub", "BatchUpdateFindings", &["securityhub:BatchUpdateFindings"]),
    op("securityhub", "GetFindings", &["securityhub:GetFindings"]),
    with(
        "securityhub",
        "GetFindingsV2",
        &["securityhub:GetFindings"],
        "the OCSF read has no action of its own: GetFindings authorizes it (on the hubv2 resource)",
    ),
    with(
        "securityhub",
        "BatchUpdateFindingsV2",
        &["securityhub:BatchUpdateFindings"],
        "the OCSF operation has no action of its own: BatchUpdateFindings authorizes it",
    ),
    Operation {
        service: "sns",
        name: "Publish",
        actions: &["sns:Publish"],
        // "The publisher must have kms:GenerateDataKey* and kms:Decrypt" (Amazon SNS Developer Guide,
        // encryption at rest: key management).
        on_behalf: Some((Key::Topic, &["kms:GenerateDataKey", "kms:Decrypt"])),
        why: "the topic is encrypted with the topic key",
    },
    with("sts", "AssumeRole", &["sts:AssumeRole"], "sent without session tags or a source identity"),
    op("sts", "GetCallerIdentity", &["sts:GetCallerIdentity"]),
];

/// The operation `name` of `service`, if Firebreak calls it.
pub fn operation(service: &str, name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.service == service && o.name == name)
}

/// Every action the operations called `name` authorize, whatever their service (a proxy sees the name
/// on the wire, not always the service); `None` when Firebreak is not known to call one by that name.
pub fn actions_of(name: &str) -> Option<Vec<&'static str>> {
    let found: Vec<&'static str> =
        OPERATIONS.iter().filter(|o| o.name == name).flat_map(|o| o.actions.iter().copied()).collect();
    (!found.is_empty()).then_some(found)
}

/// The operation one of `iam`'s requests belongs to: its call's first word (`UpdateItem (the cap)`).
pub fn call_name(call: &str) -> &str {
    call.split([' ', '(']).next().unwrap_or_default()
}

/// The operation of one of `iam`'s requests, if Firebreak calls one by that name.
pub fn of_call(call: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == call_name(call))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_is_listed_once_with_its_namesake_first() {
        for (i, o) in OPERATIONS.iter().enumerate() {
            assert!(!OPERATIONS[..i].iter().any(|p| p.service == o.service && p.name == o.name), "{o:?} twice");
            let namesake = o.actions[0].split_once(':').map(|(_, action)| action);
            let expected = if o.name == "Invoke" { "InvokeFunction" } else { o.name.trim_end_matches("V2") };
            assert_eq!(namesake, Some(expected), "{o:?}");
            assert!(o.actions.len() == 1 || !o.why.is_empty(), "{o:?}: why more than the namesake");
        }
    }

    #[test]
    fn an_associate_with_tags_asks_for_the_tagging_action() {
        let associate = operation("route53resolver", "AssociateFirewallRuleGroup").expect("listed");
        assert!(associate.actions.contains(&"route53resolver:TagResource"));
        assert_eq!(actions_of("CreateSecurityGroup"), Some(vec!["ec2:CreateSecurityGroup", "ec2:CreateTags"]));
        assert_eq!(actions_of("ListBuckets"), None);
    }
}
