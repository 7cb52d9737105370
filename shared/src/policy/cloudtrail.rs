//! CloudTrail policy: detection rules with stable ids and severities, and the one safe remediation
//! (revoking a world-open ingress rule).

use super::draft::{step, Draft};
use super::settings::Policy;
use crate::incident::{CloudTrailEvent, EarlierIngress, IngressPermission, SeverityLabel};
use crate::plan::{Decision, Step};
use serde_json::Value;

/// A detection rule as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: SeverityLabel,
}

const fn rule(id: &'static str, title: &'static str, severity: SeverityLabel) -> Rule {
    Rule { id, title, severity }
}

use SeverityLabel::{Critical, High, Low, Medium};

pub const ROOT_ACTIVITY: Rule = rule("CT-ROOT-001", "Root user API activity", High);
pub const ROOT_SIGNIN: Rule = rule("CT-ROOT-002", "Root user console sign-in", High);
pub const ROOT_ACCESS_KEY: Rule = rule("CT-ROOT-003", "Access key created for the root user", Critical);
pub const SIGNIN_NO_MFA: Rule = rule("CT-SIGNIN-001", "Console sign-in without MFA", Medium);
pub const SIGNIN_FAILED: Rule = rule("CT-SIGNIN-002", "Failed console sign-in", Low);
pub const LOGGING_STOPPED: Rule = rule("CT-LOG-001", "CloudTrail logging stopped or trail deleted", High);
pub const LOGGING_REDUCED: Rule = rule("CT-LOG-002", "CloudTrail trail or event selectors reduce logging", Medium);
pub const GUARDDUTY_DISABLED: Rule = rule("CT-GD-001", "GuardDuty detector deleted or disabled", High);
pub const GUARDDUTY_AUTO_ARCHIVE: Rule = rule("CT-GD-002", "GuardDuty filter auto-archives findings", Medium);
pub const GUARDDUTY_DETACHED: Rule = rule("CT-GD-003", "Account detached from its GuardDuty administrator", High);
pub const ADMIN_POLICY: Rule =
    rule("CT-IAM-001", "Administrator policy attached (AdministratorAccess or * on *)", High);
pub const LOGIN_PROFILE: Rule = rule("CT-IAM-002", "Console password set for another user", Medium);
pub const BUCKET_PUBLIC: Rule = rule("CT-S3-001", "S3 bucket policy or ACL grants public access", High);
pub const PUBLIC_ACCESS_BLOCK: Rule = rule("CT-S3-002", "S3 public access block removed or weakened", High);
pub const SHARED_PUBLICLY: Rule = rule("CT-EC2-001", "EBS snapshot or AMI shared publicly", High);
pub const KMS_KEY: Rule = rule("CT-KMS-001", "KMS key disabled or scheduled for deletion", High);
pub const ORG_GUARDRAIL: Rule = rule("CT-ORG-001", "Organizations guardrail detached, deleted or left", High);
pub const OPEN_INGRESS: Rule = rule("CT-NET-001", "Security group opened to the internet on a non-allowed port", High);
pub const SELF_GRANT: Rule = rule("CT-SELF-001", "One of Firebreak's own roles granted permissions", Critical);
pub const SELF_CHANGE: Rule = rule(
    "CT-SELF-002",
    "Firebreak's own rules, topic, alarms, functions or roles changed outside its deployment",
    High,
);

pub const RULES: &[Rule] = &[
    ROOT_ACTIVITY,
    ROOT_SIGNIN,
    ROOT_ACCESS_KEY,
    SIGNIN_NO_MFA,
    SIGNIN_FAILED,
    LOGGING_STOPPED,
    LOGGING_REDUCED,
    GUARDDUTY_DISABLED,
    GUARDDUTY_AUTO_ARCHIVE,
    GUARDDUTY_DETACHED,
    ADMIN_POLICY,
    LOGIN_PROFILE,
    BUCKET_PUBLIC,
    PUBLIC_ACCESS_BLOCK,
    SHARED_PUBLICLY,
    KMS_KEY,
    ORG_GUARDRAIL,
    OPEN_INGRESS,
    SELF_GRANT,
    SELF_CHANGE,
];

pub(super) fn decide(e: &CloudTrailEvent, policy: &Policy) -> Draft {
    let who = e
        .identity_arn
        .as_deref()
        .or(e.user_name.as_deref())
        .or(e.identity_type.as_deref())
        .unwrap_or("unknown principal");
    let summary = format!("CloudTrail {} by {who}", e.event_name);
    let attempt = e.error_code.as_deref().map(|c| format!(" (attempted: {c})")).unwrap_or_default();
    let own = is_self(e, policy);
    if own {
        if let Some(detail) = self_grant(e) {
            // Firebreak only ever writes deny policies: an allow written with its role means the role is
            // in someone else's hands (or its code is), the loudest thing there is to report.
            return detection(SELF_GRANT, summary, format!("{}: {detail}{attempt}", SELF_GRANT.id));
        }
    }
    // Disabling a rule, a target, a subscription or an alarm turns containment off without a sound:
    // whoever does it but the deployment, Firebreak's own roles included, is reported.
    if let Some(what) = self_change(e).filter(|_| !by_the_deployment(e, policy)) {
        return detection(SELF_CHANGE, summary, format!("{}: {what}{attempt}", SELF_CHANGE.id));
    }
    if own {
        return Draft::ignore(
            SeverityLabel::Info,
            summary,
            "the call was made by Firebreak's own role (no remediation loops)".into(),
        );
    }
    if e.event_name == "ConsoleLogin" {
        return sign_in(e, summary);
    }
    if e.event_type.as_deref() == Some("AwsServiceEvent") {
        return Draft::ignore(SeverityLabel::Info, summary, "a service event, not a principal's call".into());
    }
    let Some((rule, detail, open)) = detect(e, policy) else {
        let why = if e.read_only == Some(true) || is_read_only_name(&e.event_name) {
            "a read-only call".to_owned()
        } else if let Some(code) = &e.error_code {
            format!("the call failed ({code}): nothing changed")
        } else if let Some(below) = below_the_share(e, policy) {
            below
        } else {
            "no detection rule matches".to_owned()
        };
        let mut draft = Draft::ignore(SeverityLabel::Info, summary, why);
        draft.reasons.extend(unread_window(e));
        return draft;
    };
    if let Some(code) = &e.error_code {
        // A denied attempt at a risky change is itself the signal; it changed nothing, so nothing to revert.
        if is_denial(code) {
            return detection(rule, summary, format!("{}: attempted and denied ({code}): {detail}", rule.id));
        }
        return Draft::ignore(SeverityLabel::Info, summary, format!("the call failed ({code}): nothing changed"));
    }
    if !open.is_empty() {
        let group_id = e.security_group_id.clone().unwrap_or_default();
        let mut draft = detection(rule, summary, format!("{}: {detail}", rule.id));
        let judged_together = open.iter().any(|p| !e.ingress.iter().any(|q| p.same_range(q)));
        if judged_together {
            draft.reasons.push(format!(
                "judged with the ranges earlier calls added to {group_id} within the last {}: revoked only if the \
                 group holds every one of them now",
                window_text(policy.ingress_window_seconds)
            ));
        }
        if !policy.revoke_public_ingress {
            draft.reasons.push("FIREBREAK_REVOKE_PUBLIC_INGRESS is off: notify only".into());
        } else if group_id.starts_with("sg-") {
            draft.decision = Decision::Revoke;
            draft.actions.insert(
                0,
                step(
                    Step::RevokeSecurityGroupIngress { group_id, permissions: open, judged_together },
                    "revoke exactly the world-open permission, nothing else",
                ),
            );
        } else if let Some(name) = &e.security_group_name {
            draft.reasons.push(format!(
                "the call named the group {name:?} (default VPC) without its id: not revoked automatically; revoke it by \
                 hand with aws ec2 revoke-security-group-ingress --group-name and the permissions above"
            ));
        } else {
            draft.reasons.push("the event names no security group id: notify only".into());
        }
        draft.reasons.extend(unread_window(e));
        return draft;
    }
    let mut draft = detection(rule, summary, format!("{}: {detail}", rule.id));
    draft.reasons.extend(unread_window(e));
    draft
}

/// When the ranges earlier calls added could not be read, the plan says the call was judged alone.
fn unread_window(e: &CloudTrailEvent) -> Option<String> {
    match &e.earlier_ingress {
        EarlierIngress::Unavailable { why } => Some(format!(
            "the ranges earlier calls added to the group could not be read ({why}): this call was judged alone"
        )),
        _ => None,
    }
}

/// Why an ingress call opening ports beyond the allowed ones is not reported: how much of each
/// address family its ranges cover, with what earlier calls added, against the share.
fn below_the_share(e: &CloudTrailEvent, policy: &Policy) -> Option<String> {
    use crate::cidr::{share_covered, Family};
    let exceeding: Vec<crate::cidr::Cidr> = e
        .ingress
        .iter()
        .chain(e.earlier_ingress.permissions())
        .filter(|p| p.exceeds(&policy.allowed_public_ports))
        .filter_map(IngressPermission::block)
        .collect();
    if !matches!(e.event_name.as_str(), "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules")
        || exceeding.is_empty()
    {
        return None;
    }
    let with_earlier = match &e.earlier_ingress {
        EarlierIngress::Read { window_seconds, .. } => {
            format!(" with the ranges earlier calls added within the last {}", window_text(*window_seconds))
        }
        _ => String::new(),
    };
    let shares: Vec<String> = [(Family::V4, "IPv4"), (Family::V6, "IPv6")]
        .into_iter()
        .filter(|(family, _)| exceeding.iter().any(|b| b.family == *family))
        .map(|(family, name)| format!("{:.1} % of {name}", share_covered(&exceeding, family) * 100.0))
        .collect();
    Some(format!(
        "the ranges opened beyond the allowed ports cover at most {}{with_earlier}: below FIREBREAK_WORLD_OPEN_SHARE \
         ({:.0} %) and no single range covers half an address family",
        shares.join(" and "),
        policy.world_open_share * 100.0
    ))
}

fn window_text(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn detection(rule: Rule, summary: String, why: String) -> Draft {
    let mut draft = Draft::notify(rule.severity, format!("{summary} — {}", rule.title), why);
    draft.rule = Some(rule.id);
    draft
}

fn sign_in(e: &CloudTrailEvent, summary: String) -> Draft {
    let failed = e.error_code.is_some() || e.login_result.as_deref() == Some("Failure") || e.error_message.is_some();
    let root = e.identity_type.as_deref() == Some("Root");
    if failed {
        let reason = e.error_message.as_deref().or(e.error_code.as_deref()).unwrap_or("no reason given");
        let whose = if root { "root user" } else { "console" };
        let mut draft =
            detection(SIGNIN_FAILED, summary, format!("{}: failed {whose} sign-in: {reason}", SIGNIN_FAILED.id));
        if root {
            draft.severity = Medium;
        }
        return draft;
    }
    let mfa = match e.mfa_used {
        Some(true) => "with MFA",
        Some(false) => "without MFA",
        None => "MFA not recorded",
    };
    if root {
        let mut draft = detection(
            ROOT_SIGNIN,
            summary,
            format!("{}: the root user signed in to the console {mfa}", ROOT_SIGNIN.id),
        );
        if e.mfa_used == Some(false) {
            draft.severity = Critical;
        }
        return draft;
    }
    if e.mfa_used == Some(false) {
        return detection(SIGNIN_NO_MFA, summary, format!("{}: console sign-in without MFA", SIGNIN_NO_MFA.id));
    }
    Draft::ignore(SeverityLabel::Info, summary, format!("a console sign-in {mfa} by a non-root user"))
}

/// Every (event source, event name) that can change Firebreak's own plumbing, as CloudTrail names them
/// (Lambda's with their API version, as the Lambda Developer Guide lists them): the `SelfChanges` rule
/// of template.yaml delivers exactly these, for Firebreak's resources only (a test compares the two).
pub const SELF_CHANGE_EVENTS: &[(&str, &str)] = &[
    ("events.amazonaws.com", "PutRule"),
    ("events.amazonaws.com", "DeleteRule"),
    ("events.amazonaws.com", "DisableRule"),
    ("events.amazonaws.com", "PutTargets"),
    ("events.amazonaws.com", "RemoveTargets"),
    ("sns.amazonaws.com", "Subscribe"),
    ("sns.amazonaws.com", "SetTopicAttributes"),
    ("sns.amazonaws.com", "DeleteTopic"),
    ("sns.amazonaws.com", "AddPermission"),
    ("sns.amazonaws.com", "RemovePermission"),
    ("sns.amazonaws.com", "Unsubscribe"),
    ("monitoring.amazonaws.com", "PutMetricAlarm"),
    ("monitoring.amazonaws.com", "SetAlarmState"),
    ("monitoring.amazonaws.com", "DeleteAlarms"),
    ("monitoring.amazonaws.com", "DisableAlarmActions"),
    ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2"),
    ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2"),
    ("lambda.amazonaws.com", "AddPermission20150331v2"),
    ("lambda.amazonaws.com", "RemovePermission20150331v2"),
    ("lambda.amazonaws.com", "DeleteFunction20150331"),
    ("lambda.amazonaws.com", "PutFunctionConcurrency20171031"),
    ("lambda.amazonaws.com", "DeleteFunctionConcurrency20171031"),
    ("lambda.amazonaws.com", "CreateFunctionUrlConfig"),
    ("lambda.amazonaws.com", "UpdateFunctionUrlConfig"),
    ("lambda.amazonaws.com", "DeleteFunctionUrlConfig"),
    ("lambda.amazonaws.com", "PutFunctionEventInvokeConfig"),
    ("lambda.amazonaws.com", "UpdateFunctionEventInvokeConfig"),
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("iam.amazonaws.com", "DetachRolePolicy"),
    ("iam.amazonaws.com", "DeleteRolePolicy"),
    ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
    ("iam.amazonaws.com", "PutRolePermissionsBoundary"),
    ("iam.amazonaws.com", "DeleteRolePermissionsBoundary"),
    ("iam.amazonaws.com", "DeleteRole"),
];

/// Firebreak's resources are named `firebreak-*` (rules, topic, alarms, functions, roles).
const OWN_PREFIX: &str = "firebreak-";

/// What of Firebreak's own plumbing the call changes, if it changes any.
fn self_change(e: &CloudTrailEvent) -> Option<String> {
    if !SELF_CHANGE_EVENTS.contains(&(e.event_source.as_str(), e.event_name.as_str())) {
        return None;
    }
    let req = &e.request;
    let text = |key: &str| req.get(key).and_then(Value::as_str);
    let texts = |key: &str| -> Vec<&str> {
        req.get(key).and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    };
    let ours = |name: &str| name.starts_with(OWN_PREFIX);
    // arn:<partition>:<service>:<region>:<account>:<name>[:…]; a function's as …:function:<name>[:qualifier].
    let named_in = |arn: &str| -> Option<String> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", _, _, "function", name, ..] => Some((*name).to_owned()),
            ["arn", _, _, _, _, name, ..] => Some(name.rsplit('/').next().unwrap_or(name).to_owned()),
            _ => None,
        }
    };
    let action = e.event_name.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'v');
    let (what, name): (&str, Vec<String>) = match e.event_source.as_str() {
        "events.amazonaws.com" => {
            let rule = text("name").or(text("rule")).map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
            let targets: Vec<String> = req
                .get("targets")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(|t| t.get("arn").and_then(Value::as_str)).filter_map(named_in).collect())
                .unwrap_or_default();
            if let Some(target) = targets.iter().find(|t| ours(t)) {
                let rule = rule.unwrap_or_else(|| "?".into());
                return Some(format!("{action} on rule {rule} aims it at Firebreak's {target}"));
            }
            ("rule", rule.into_iter().collect())
        }
        "sns.amazonaws.com" => {
            ("topic", text("topicArn").or(text("subscriptionArn")).and_then(named_in).into_iter().collect())
        }
        "monitoring.amazonaws.com" => {
            let mut names: Vec<String> = texts("alarmNames").into_iter().map(str::to_owned).collect();
            names.extend(text("alarmName").map(str::to_owned));
            ("alarm", names)
        }
        "lambda.amazonaws.com" => {
            let function = text("functionName").map(|f| named_in(f).unwrap_or_else(|| f.to_owned()));
            ("function", function.into_iter().collect())
        }
        "iam.amazonaws.com" => ("role", text("roleName").map(str::to_owned).into_iter().collect()),
        _ => return None,
    };
    let own: Vec<String> = name.into_iter().filter(|n| ours(n)).collect();
    (!own.is_empty()).then(|| format!("{action} on Firebreak's {what} {}", own.join(", ")))
}

/// A change the deployment made: by the role named as the deployment's, or by CloudFormation itself
/// (a stack update, a StackSet), which CloudTrail records with CloudFormation as the source.
fn by_the_deployment(e: &CloudTrailEvent, policy: &Policy) -> bool {
    let deployer = policy.deployment_role_arn.as_deref();
    deployer.is_some_and(|d| e.issuer_arn.as_deref() == Some(d) || e.identity_arn.as_deref() == Some(d))
        || e.source_ip.as_deref() == Some("cloudformation.amazonaws.com")
}

/// The matching rule, what it saw, and (for CT-NET-001) the permissions to revoke.
/// Every (event source, event name) a rule other than the root rules can match: the EventBridge rule
/// in template.yaml must deliver each of them (a test compares the two), and nothing else is detected.
pub const DETECTED_EVENTS: &[(&str, &str)] = &[
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
    ("ec2.amazonaws.com", "ModifySecurityGroupRules"),
    ("ec2.amazonaws.com", "ModifySnapshotAttribute"),
    ("ec2.amazonaws.com", "ModifyImageAttribute"),
    ("cloudtrail.amazonaws.com", "StopLogging"),
    ("cloudtrail.amazonaws.com", "DeleteTrail"),
    ("cloudtrail.amazonaws.com", "UpdateTrail"),
    ("cloudtrail.amazonaws.com", "PutEventSelectors"),
    ("guardduty.amazonaws.com", "DeleteDetector"),
    ("guardduty.amazonaws.com", "UpdateDetector"),
    ("guardduty.amazonaws.com", "CreateFilter"),
    ("guardduty.amazonaws.com", "UpdateFilter"),
    ("guardduty.amazonaws.com", "DisassociateFromMasterAccount"),
    ("guardduty.amazonaws.com", "DisassociateFromAdministratorAccount"),
    ("iam.amazonaws.com", "AttachUserPolicy"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("iam.amazonaws.com", "AttachGroupPolicy"),
    ("iam.amazonaws.com", "PutUserPolicy"),
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("iam.amazonaws.com", "PutGroupPolicy"),
    ("iam.amazonaws.com", "CreatePolicyVersion"),
    ("iam.amazonaws.com", "CreateAccessKey"),
    ("iam.amazonaws.com", "CreateLoginProfile"),
    ("iam.amazonaws.com", "UpdateLoginProfile"),
    ("s3.amazonaws.com", "PutBucketPolicy"),
    ("s3.amazonaws.com", "PutBucketAcl"),
    ("s3.amazonaws.com", "PutBucketPublicAccessBlock"),
    ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock"),
    ("s3.amazonaws.com", "PutPublicAccessBlock"),
    ("s3.amazonaws.com", "DeletePublicAccessBlock"),
    ("s3.amazonaws.com", "PutAccountPublicAccessBlock"),
    ("s3.amazonaws.com", "DeleteAccountPublicAccessBlock"),
    ("kms.amazonaws.com", "DisableKey"),
    ("kms.amazonaws.com", "ScheduleKeyDeletion"),
    ("organizations.amazonaws.com", "DetachPolicy"),
    ("organizations.amazonaws.com", "DeletePolicy"),
    ("organizations.amazonaws.com", "LeaveOrganization"),
    ("organizations.amazonaws.com", "DisablePolicyType"),
];

fn detect(e: &CloudTrailEvent, policy: &Policy) -> Option<(Rule, String, Vec<IngressPermission>)> {
    let root = e.identity_type.as_deref() == Some("Root");
    // Only what the EventBridge rules deliver is detected, so the two cannot drift apart unseen.
    if !root && !DETECTED_EVENTS.contains(&(e.event_source.as_str(), e.event_name.as_str())) {
        return None;
    }
    let req = &e.request;
    let s = |path: &str| req.pointer(path).and_then(Value::as_str);
    let found = |rule: Rule, detail: String| Some((rule, detail, Vec::new()));
    match e.event_name.as_str() {
        "CreateAccessKey" if root && s("/userName").is_none() => {
            found(ROOT_ACCESS_KEY, "an access key was created for the root user".into())
        }
        _ if root => found(ROOT_ACTIVITY, format!("the root user called {}", e.event_name)),
        "StopLogging" | "DeleteTrail" => {
            found(LOGGING_STOPPED, format!("{} on trail {}", e.event_name, s("/name").unwrap_or("?")))
        }
        "UpdateTrail"
            if ["isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation"]
                .iter()
                .any(|k| req.get(*k) == Some(&Value::Bool(false))) =>
        {
            found(LOGGING_REDUCED, format!("trail {} updated to log less", s("/name").unwrap_or("?")))
        }
        "PutEventSelectors" if selectors_reduce(req) => found(
            LOGGING_REDUCED,
            format!("event selectors of trail {} exclude events", s("/trailName").unwrap_or("?")),
        ),
        "DeleteDetector" => found(GUARDDUTY_DISABLED, format!("detector {} deleted", s("/detectorId").unwrap_or("?"))),
        "UpdateDetector" if req.get("enable") == Some(&Value::Bool(false)) => {
            found(GUARDDUTY_DISABLED, format!("detector {} disabled", s("/detectorId").unwrap_or("?")))
        }
        "CreateFilter" | "UpdateFilter" if s("/action").is_some_and(|a| a.eq_ignore_ascii_case("ARCHIVE")) => found(
            GUARDDUTY_AUTO_ARCHIVE,
            format!("filter {} archives matching findings", s("/name").or(s("/filterName")).unwrap_or("?")),
        ),
        "DisassociateFromMasterAccount" | "DisassociateFromAdministratorAccount" => {
            found(GUARDDUTY_DETACHED, e.event_name.clone())
        }
        "AttachUserPolicy" | "AttachRolePolicy" | "AttachGroupPolicy"
            if s("/policyArn").is_some_and(|a| a.ends_with(":policy/AdministratorAccess")) =>
        {
            found(ADMIN_POLICY, format!("AdministratorAccess attached by {}", e.event_name))
        }
        "PutUserPolicy" | "PutRolePolicy" | "PutGroupPolicy"
            if document(req.get("policyDocument")).is_some_and(|d| grants_star_on_star(&d)) =>
        {
            found(ADMIN_POLICY, format!("inline policy granting * on * by {}", e.event_name))
        }
        "CreateLoginProfile" | "UpdateLoginProfile"
            if s("/userName").is_some_and(|u| Some(u) != e.user_name.as_deref()) =>
        {
            found(LOGIN_PROFILE, format!("console password set for user {}", s("/userName").unwrap_or("?")))
        }
        "PutBucketPolicy" if document(req.get("bucketPolicy")).is_some_and(|d| policy_is_public(&d)) => {
            found(BUCKET_PUBLIC, format!("bucket {} policy allows Principal *", s("/bucketName").unwrap_or("?")))
        }
        "PutBucketAcl"
            if req.to_string().contains("acs.amazonaws.com/groups/global/All")
                || s("/x-amz-acl").is_some_and(|a| a.starts_with("public-")) =>
        {
            found(BUCKET_PUBLIC, format!("bucket {} ACL grants a global group", s("/bucketName").unwrap_or("?")))
        }
        "DeletePublicAccessBlock" | "DeleteBucketPublicAccessBlock" | "DeleteAccountPublicAccessBlock" => {
            found(PUBLIC_ACCESS_BLOCK, format!("{} on {}", e.event_name, s("/bucketName").unwrap_or("the account")))
        }
        "PutBucketPublicAccessBlock" | "PutPublicAccessBlock" | "PutAccountPublicAccessBlock"
            if req.to_string().contains("false") =>
        {
            found(
                PUBLIC_ACCESS_BLOCK,
                format!("public access block weakened on {}", s("/bucketName").unwrap_or("the account")),
            )
        }
        "ModifySnapshotAttribute" | "ModifyImageAttribute" if shares_with_all(req) => {
            let what = s("/snapshotId").or(s("/imageId")).unwrap_or("?");
            found(SHARED_PUBLICLY, format!("{what} shared with group all"))
        }
        "DisableKey" | "ScheduleKeyDeletion" => {
            found(KMS_KEY, format!("{} on key {}", e.event_name, s("/keyId").unwrap_or("?")))
        }
        "DetachPolicy" | "DeletePolicy" | "LeaveOrganization" | "DisablePolicyType"
            if e.event_source == "organizations.amazonaws.com" =>
        {
            found(ORG_GUARDRAIL, e.event_name.clone())
        }
        "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules" => {
            let open = world_open_across(&e.ingress, e.earlier_ingress.permissions(), policy);
            let group = e.security_group_id.as_deref().or(e.security_group_name.as_deref()).unwrap_or("?");
            let mut said: Vec<String> = open
                .iter()
                .map(|p| match e.ingress.iter().any(|q| p.same_range(q)) {
                    true => describe_permission(p),
                    false => format!("{} (added by an earlier call)", describe_permission(p)),
                })
                .collect();
            // Half an address family in one range is no "private" network: notified (revoked only when
            // it is world-open by the share above).
            said.extend(half_the_internet(&e.ingress, &open, policy).into_iter().map(|(p, share)| {
                format!("{} (one range covering {:.0} % of the address family)", describe_permission(p), share * 100.0)
            }));
            // A prefix list's contents are not in the event: say which, for a person to check.
            said.extend(
                e.prefix_lists.iter().map(|l| format!("prefix list {l} (contents not in the event: check it)")),
            );
            if said.is_empty() {
                return None;
            }
            Some((OPEN_INGRESS, format!("{group} opened {}", said.join(", ")), open))
        }
        _ => None,
    }
}

pub fn describe_permission(p: &IngressPermission) -> String {
    let ports = match (p.from_port, p.to_port) {
        (Some(f), Some(t)) if f == t => f.to_string(),
        (Some(f), Some(t)) => format!("{f}-{t}"),
        _ => "all ports".into(),
    };
    format!("{}/{ports} from {}", p.protocol, p.cidr)
}

/// The permissions that open a port outside the allowed ones to the world: a block that is the whole
/// address space however it is spelt, or blocks of one call (same protocol and ports) that together
/// cover at least `FIREBREAK_WORLD_OPEN_SHARE` of it.
fn world_open(permissions: &[IngressPermission], policy: &Policy) -> Vec<IngressPermission> {
    use crate::cidr::share_covered;
    let exceeding: Vec<(&IngressPermission, crate::cidr::Cidr)> = permissions
        .iter()
        .filter(|p| p.exceeds(&policy.allowed_public_ports))
        .filter_map(|p| Some((p, p.block()?)))
        .collect();
    exceeding
        .iter()
        .filter(|(p, block)| {
            let same: Vec<crate::cidr::Cidr> = exceeding
                .iter()
                .filter(|(q, b)| {
                    b.family == block.family
                        && (q.protocol.as_str(), q.from_port, q.to_port)
                            == (p.protocol.as_str(), p.from_port, p.to_port)
                })
                .map(|(_, b)| *b)
                .collect();
            share_covered(&same, block.family) >= policy.world_open_share
        })
        .map(|(p, _)| (*p).clone())
        .collect()
}

/// The world-open permissions of this call judged with the ranges earlier calls added to the same group
/// (`earlier`, this call's own among them): what this call opened to the world by itself, and every
/// range of a combination (same family, protocol and ports) that reaches the share only with earlier
/// ranges and includes a range of this call. Earlier combinations alone were judged when made.
fn world_open_across(
    now: &[IngressPermission],
    earlier: &[IngressPermission],
    policy: &Policy,
) -> Vec<IngressPermission> {
    let combination =
        |p: &IngressPermission| (p.block().map(|b| b.family), p.protocol.to_ascii_lowercase(), p.from_port, p.to_port);
    let mut open = world_open(now, policy);
    let alone: Vec<_> = open.iter().map(combination).collect();
    let mut all = now.to_vec();
    all.extend(earlier.iter().filter(|p| !now.iter().any(|q| p.same_range(q))).cloned());
    let together: Vec<IngressPermission> =
        world_open(&all, policy).into_iter().filter(|p| !alone.contains(&combination(p))).collect();
    let ours: Vec<_> = together.iter().filter(|p| now.iter().any(|q| p.same_range(q))).map(combination).collect();
    open.extend(together.into_iter().filter(|p| ours.contains(&combination(p))));
    open
}

/// The share of its address family from which a single range counts as the Internet for a person to
/// look at, whatever `FIREBREAK_WORLD_OPEN_SHARE` says about revoking.
const HALF_THE_INTERNET: f64 = 0.5;

/// Permissions on a port outside the allowed ones whose one range covers at least half of its address
/// family (`0.0.0.0/1`, `::/1`), with that share, unless already world-open.
fn half_the_internet<'a>(
    permissions: &'a [IngressPermission],
    open: &[IngressPermission],
    policy: &Policy,
) -> Vec<(&'a IngressPermission, f64)> {
    permissions
        .iter()
        .filter(|p| p.exceeds(&policy.allowed_public_ports) && !open.contains(p))
        .filter_map(|p| {
            let block = p.block()?;
            Some((p, crate::cidr::share_covered(&[block], block.family)))
        })
        .filter(|(_, share)| *share >= HALF_THE_INTERNET)
        .collect()
}

/// What a call by one of Firebreak's own roles granted, when it granted anything: Firebreak writes
/// inline deny policies (`PutRolePolicy`) and nothing else of IAM, so any `Allow` it writes, any managed
/// policy it attaches and any policy version it creates is not Firebreak's doing.
fn self_grant(e: &CloudTrailEvent) -> Option<String> {
    let req = &e.request;
    let target = req.pointer("/roleName").or(req.pointer("/policyArn")).and_then(Value::as_str).unwrap_or("?");
    match e.event_name.as_str() {
        "AttachRolePolicy" | "AttachUserPolicy" | "AttachGroupPolicy" => Some(format!(
            "{} of {} on {target} by Firebreak's own role, which never attaches policies",
            e.event_name,
            req.pointer("/policyArn").and_then(Value::as_str).unwrap_or("?")
        )),
        "PutRolePolicy" | "PutUserPolicy" | "PutGroupPolicy" | "CreatePolicyVersion"
            if document(req.get("policyDocument")).is_none_or(|d| statements(&d).into_iter().any(allows)) =>
        {
            Some(format!(
                "{} on {target} by Firebreak's own role grants something (an Allow, or a document it cannot read): \
                 Firebreak only ever writes deny policies",
                e.event_name
            ))
        }
        _ => None,
    }
}

/// Whether the call was made by one of Firebreak's own roles: by the exact ARN of the session's issuer
/// (a role elsewhere that merely shares a name is not Firebreak), or by the member role in an account
/// Firebreak acts in (with no account list, every account: that is what an empty list means).
fn is_self(e: &CloudTrailEvent, policy: &Policy) -> bool {
    let Some(issuer) = e.issuer_arn.as_deref() else { return false };
    if policy.self_role_arns.iter().any(|role| role == issuer) {
        return true;
    }
    // arn:<partition>:iam::<account>:role/<name>, with no path.
    let parts: Vec<&str> = issuer.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", account, resource]
        if (policy.accounts.is_empty() || policy.accounts.iter().any(|a| a == account))
            && resource.strip_prefix("role/") == Some(policy.member_role_name.as_str()))
}

fn is_read_only_name(name: &str) -> bool {
    ["Get", "List", "Describe", "Head", "LookupEvents"].iter().any(|p| name.starts_with(p))
}

fn is_denial(code: &str) -> bool {
    code.contains("AccessDenied") || code.contains("UnauthorizedOperation") || code.contains("Unauthorized")
}

/// Policy documents arrive as JSON strings (IAM) or as parsed objects (S3).
fn document(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::String(text) => serde_json::from_str(text).ok(),
        other @ Value::Object(_) => Some(other.clone()),
        _ => None,
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn contains_star(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => s == "*",
        Some(Value::Array(list)) => list.iter().any(|s| s.as_str() == Some("*")),
        _ => false,
    }
}

fn allows(statement: &Value) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

fn grants_star_on_star(doc: &Value) -> bool {
    statements(doc)
        .into_iter()
        .any(|st| allows(st) && contains_star(st.get("Action")) && contains_star(st.get("Resource")))
}

fn policy_is_public(doc: &Value) -> bool {
    statements(doc).into_iter().any(|st| {
        allows(st)
            && st.get("Condition").is_none()
            && match st.get("Principal") {
                Some(Value::String(p)) => p == "*",
                Some(Value::Object(map)) => map.values().any(|v| contains_star(Some(v))),
                _ => false,
            }
    })
}

fn shares_with_all(req: &Value) -> bool {
    fn walk(v: &Value, under_add: bool) -> bool {
        match v {
            Value::Object(map) => map.iter().any(|(k, v)| {
                (under_add && k == "group" && v.as_str() == Some("all"))
                    || walk(v, under_add || k == "add" || k == "Add")
            }),
            Value::Array(list) => list.iter().any(|v| walk(v, under_add)),
            _ => false,
        }
    }
    walk(req, false)
}

fn selectors_reduce(req: &Value) -> bool {
    let basic = req.get("eventSelectors").and_then(Value::as_array);
    let advanced = req.get("advancedEventSelectors").and_then(Value::as_array);
    if basic.is_none_or(|b| b.is_empty()) && advanced.is_none_or(|a| a.is_empty()) {
        return true;
    }
    basic.is_some_and(|list| {
        list.iter().any(|s| {
            s.get("includeManagementEvents") == Some(&Value::Bool(false))
                || s.get("readWriteType").and_then(Value::as_str).is_some_and(|t| t != "All")
        })
    })
}
