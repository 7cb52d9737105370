//! Identity containment: the credentials an instance was issued stop working wherever they were copied,
//! and nothing on the instance can fetch new ones. Opt-in: a role's older sessions, a user's key.

use super::context::{Ports, StepContext};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::incident::{InstanceId, Origin};
use crate::ports::{
    Compute, CredentialRevocation, DenialChange, DeniedInstance, Fleet, InstanceFacts, RoleDenials, RoleFacts,
    StateStore,
};
use crate::report::Outcome;
use serde_json::json;
use std::collections::BTreeSet;

/// The inline policy that denied one instance's credentials before Firebreak kept one policy per role
/// ([`INSTANCES_POLICY`]). Still recognised, so that `release` lifts the revocations made then.
pub fn instance_policy_name(id: &InstanceId) -> String {
    format!("firebreak-revoke-{id}")
}

/// The inline policy on a role that denies the credentials of every instance Firebreak revoked on it.
/// One per role, listing the instances: IAM allows 10,240 characters of inline policy per role, which
/// a policy per instance (about 250 characters each) used up at about 40 revocations.
pub const INSTANCES_POLICY: &str = "firebreak-revoked-instances";

/// IAM's quota on the inline policies of one role together, in characters other than white space.
pub const ROLE_INLINE_POLICY_QUOTA: usize = 10_240;

/// How often a role's policy is written again while other runs keep changing its instances.
const SYNC_ATTEMPTS: usize = 8;

/// How often a role's denied instances are checked against EC2 for those that no longer exist: the
/// check describes every instance of the set (up to hundreds), too much for every revocation.
pub const PRUNE_EVERY_SECONDS: u64 = 3600;

/// Denies every request signed with credentials EC2 issued to one of `instances`, whoever holds them:
/// `ec2:SourceInstanceARN` is in the context of every such request, and only of such requests, so the
/// other instances sharing the role keep working. Each instance is matched by its ARN's end, `*/i-…`
/// (instance ids are unique): 24 characters each, so 250 instances take about 6,200 of the role's
/// 10,240. No `aws:TokenIssueTime` bound: credentials an instance obtains later are denied too, until
/// a person releases it.
pub fn instances_deny_document<'a>(instances: impl IntoIterator<Item = &'a InstanceId>) -> String {
    let patterns: Vec<String> = instances.into_iter().map(|id| format!("*/{id}")).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": REVOKED_SID,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"ec2:SourceInstanceARN": patterns}}
        }]
    })
    .to_string()
}

/// The statement id of every policy Firebreak writes to deny instances' credentials.
pub(super) const REVOKED_SID: &str = "FirebreakRevokedInstanceCredentials";

/// The size IAM counts of a policy against its quotas: its characters other than white space.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Whether `document`, as IAM has it, denies the credentials of `id` as Firebreak writes it.
pub fn denies_instance(document: &str, id: &InstanceId) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(document) else { return false };
    let statements = doc["Statement"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [statement] = statements else { return false };
    let pattern = format!("*/{id}");
    // IAM hands a one-element list back as a plain string.
    let listed = match &statement["Condition"]["StringLike"]["ec2:SourceInstanceARN"] {
        serde_json::Value::Array(patterns) => patterns.iter().any(|p| p.as_str() == Some(pattern.as_str())),
        serde_json::Value::String(p) => *p == pattern,
        _ => false,
    };
    statement["Effect"] == "Deny" && statement["Sid"] == REVOKED_SID && statement["Action"] == "*" && listed
}

/// The inline policy that denies a role's sessions issued before a finding.
pub const SESSIONS_POLICY: &str = "firebreak-revoke-sessions";

/// Denies every session of a role issued before `issued_before` (what AWS's "Revoke active sessions"
/// writes): sessions issued later, after the leak is closed, work.
pub fn sessions_deny_document(issued_before: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FirebreakRevokedOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}}
        }]
    })
    .to_string()
}

/// `arn:<partition>:ec2:<region>:<account>:instance/<id>`, as `ec2:SourceInstanceARN` carries it.
pub fn instance_arn(origin: &Origin, id: &InstanceId) -> Result<String> {
    let (Some(account), Some(region)) = (&origin.account, &origin.region) else {
        return Err(Error::refused("origin", "the account and region must be known to name the instance's ARN"));
    };
    Ok(format!("arn:{}:ec2:{region}:{account}:instance/{id}", region.partition()))
}

/// Why no credential revocation runs in a deployment without the grants (instance credentials, role
/// sessions and user keys alike): the call would only fail with AccessDenied.
pub(super) const NOT_PERMITTED: &str =
    "not permitted by the deployment: FIREBREAK_REVOKE_INSTANCE_CREDENTIALS is false \
     (the template's AllowCredentialRevocation parameter removed the grants of iam:PutRolePolicy, \
     iam:UpdateAccessKey and ec2:ModifyInstanceMetadataOptions)";

/// Why Firebreak must never put a deny policy on `role`, or `None`.
pub fn role_refusal(role: &RoleFacts, config: &Config) -> Option<String> {
    let name = &role.name;
    if role.path.starts_with("/aws-service-role/") {
        return Some(format!("{name} is a service-linked role: AWS manages it, Firebreak never changes it"));
    }
    let own = name.starts_with("firebreak-")
        || *name == config.member_role_name
        || config.policy.self_role_arns.contains(&role.arn);
    if own {
        return Some(format!("{name} is one of Firebreak's own roles: it never revokes itself"));
    }
    role.tags
        .get(&config.exempt_tag)
        .map(|v| format!("role {name} carries the exemption tag {}={v}", config.exempt_tag))
}

/// What a finding says of the credentials it is about: the role (name, unique id) its session was
/// issued under, and whether its type is one GuardDuty raises only for an instance's own credentials.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claimed<'a> {
    pub role_name: Option<&'a str>,
    pub role_id: Option<&'a str>,
    /// `InstanceCredentialExfiltration`: GuardDuty tells an instance's credentials apart itself.
    pub instance_credentials_type: bool,
}

impl<'a> Claimed<'a> {
    pub fn of(plan: &crate::plan::Plan, role_name: Option<&'a str>, role_id: Option<&'a str>) -> Self {
        let instance_credentials_type = match &plan.incident.kind {
            crate::incident::IncidentKind::Guardduty(f) => f.finding_type.contains("InstanceCredentialExfiltration"),
            _ => false,
        };
        Self { role_name, role_id, instance_credentials_type }
    }
}

/// The role whose credentials the instance holds, checked: `Err(reason)` when there is none to revoke
/// or it must not be touched. A session is the instance's only where AWS says so: GuardDuty's finding
/// type, or a role only EC2 may assume (anyone allowed `sts:AssumeRole` on another role can name a
/// session after any instance).
pub(super) async fn instance_role<C, F: Fleet, S>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    claimed: Claimed<'_>,
) -> Result<std::result::Result<RoleFacts, String>> {
    let id = &facts.instance_id;
    if !r.config.revoke_instance_credentials {
        return Ok(Err(NOT_PERMITTED.into()));
    }
    let Some(profile) = &facts.instance_profile_arn else {
        return Ok(Err(format!("{id} has no instance profile: no role credentials were issued to it")));
    };
    let known = r.roles.lock().await.get(profile).cloned();
    let role = match known {
        Some(role) => role,
        None => {
            let role = r.fleet.instance_profile_role(profile).await?;
            r.roles.lock().await.insert(profile.clone(), role.clone());
            role
        }
    };
    let Some(role) = role else {
        return Ok(Err(format!("the instance profile {profile} of {id} has no role")));
    };
    if let Some(named) = claimed.role_name.filter(|n| *n != role.name) {
        return Ok(Err(format!(
            "the finding names role {named}, but {id}'s instance profile carries {}: nothing is revoked on a mismatch",
            role.name
        )));
    }
    if let Some(named_id) = claimed.role_id.filter(|n| *n != role.id) {
        return Ok(Err(format!(
            "the finding's session was issued under role id {named_id}, but {id}'s instance profile carries {} ({}): \
             a session named after {id} is not its credentials; nothing is revoked on {id}",
            role.name, role.id
        )));
    }
    if claimed.role_id.is_some() && !claimed.instance_credentials_type {
        if let Some(others) = assumable_by_other_than_ec2(&role) {
            return Ok(Err(format!(
                "role {} may also be assumed by {others} (its trust policy), so a session named after {id} may be anyone's: \
                 nothing is revoked on {id}; it is a finding on a session of the role (revoke the role's older sessions \
                 by hand, or with FIREBREAK_REVOKE_ROLE_SESSIONS)",
                role.name
            )));
        }
    }
    Ok(role_refusal(&role, r.config).map_or(Ok(role), Err))
}

/// Who besides EC2 the role's trust policy lets assume it, or `None` when only EC2 may (then every
/// session of the role is an instance's). A policy that cannot be read admits anyone, as far as
/// Firebreak can tell.
pub fn assumable_by_other_than_ec2(role: &RoleFacts) -> Option<String> {
    let Some(trust) = &role.trust_policy else { return Some("principals its trust policy names (unread)".into()) };
    let statements = match &trust["Statement"] {
        serde_json::Value::Array(list) => list.iter().collect(),
        one @ serde_json::Value::Object(_) => vec![one],
        _ => Vec::new(),
    };
    let mut others = BTreeSet::new();
    for st in statements.into_iter().filter(|st| st["Effect"] == "Allow") {
        if st.get("NotPrincipal").is_some() {
            others.insert("everyone but a NotPrincipal".to_owned());
        }
        match &st["Principal"] {
            serde_json::Value::String(any) => {
                others.insert(any.clone());
            }
            serde_json::Value::Object(kinds) => {
                for (kind, who) in kinds {
                    let who: Vec<&str> = match who {
                        serde_json::Value::String(one) => vec![one.as_str()],
                        serde_json::Value::Array(list) => list.iter().filter_map(|w| w.as_str()).collect(),
                        _ => vec!["?"],
                    };
                    for w in who {
                        let ec2 = kind == "Service" && matches!(w, "ec2.amazonaws.com" | "ec2.amazonaws.com.cn");
                        if !ec2 {
                            others.insert(format!("{kind} {w}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (!others.is_empty()).then(|| others.into_iter().collect::<Vec<_>>().join(", "))
}

/// Record what is there, add the instance to its role's denied instances, turn the metadata service off.
pub(super) async fn revoke_instance<C: Compute, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    claimed: Claimed<'_>,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let id = &facts.instance_id;
    let role = match instance_role(r, facts, claimed).await? {
        Ok(role) => role,
        Err(why) => return Ok(Outcome::skipped(why)),
    };
    // The account and region name the instance: refused, as before any change, when they are unknown.
    instance_arn(&ctx.plan.incident.origin, id)?;
    let denied = denied_instance(&ctx.plan.incident.origin, id);
    let denies = if r.config.dry_run {
        format!("would deny {id} among the instances of the role")
    } else {
        let before = CredentialRevocation {
            role: role.name.clone(),
            policy: INSTANCES_POLICY.to_owned(),
            metadata_was_enabled: facts.metadata.as_ref().is_none_or(|m| m.endpoint_enabled),
            metadata_tokens: facts.metadata.as_ref().and_then(|m| m.tokens.clone()),
        };
        r.state.record_revocation(id.as_str(), &before, &r.scope).await?;
        let (denials, pruned) = deny(&r.compute, &r.fleet, r.state, &role, &denied, ctx.now.epoch).await?;
        let pruned = match pruned.len() {
            0 => String::new(),
            n => format!(" ({n} that no longer exist dropped from it)"),
        };
        let forged = match denials.refused {
            0 => String::new(),
            n => format!("; {n} entr(ies) of its record that Firebreak did not write are ignored"),
        };
        format!("now denies {} instance(s) of the role, {id} among them{pruned}{forged}", denials.instances.len())
    };
    r.compute.set_metadata_endpoint(id, false, None).await?;
    Ok(Outcome::done(format!(
        "role {}: inline policy {INSTANCES_POLICY} {denies}: every request made with credentials issued to {id} \
         (ec2:SourceInstanceARN) is denied wherever they are used; other instances of the role are unaffected; \
         the metadata service of {id} is off, so nothing on it can fetch new ones; undo: firebreak release {id}",
        role.name
    )))
}

/// The instance `id` of the incident's region, as the role's denied instances name it.
pub(super) fn denied_instance(origin: &Origin, id: &InstanceId) -> DeniedInstance {
    let region = origin.region.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default();
    DeniedInstance { region, instance: id.clone() }
}

/// Add `denied` to the instances denied on `role`, drop those of its region that EC2 no longer has
/// (their credentials died with them; checked at most every [`PRUNE_EVERY_SECONDS`]), and write the
/// role's policy; returns the set written and the instances dropped. When the policy cannot be written
/// (IAM's size quota, a denied call) the instance stays in the set: the step fails and says so, the
/// receipt reads the role's credentials as open, and the next write that fits denies it too.
pub(super) async fn deny<C: Compute, F: Fleet, S: StateStore>(
    compute: &C,
    fleet: &F,
    state: &S,
    role: &RoleFacts,
    denied: &DeniedInstance,
    now: u64,
) -> Result<(RoleDenials, BTreeSet<InstanceId>)> {
    let mut denials = state.change_denials(&role.id, DenialChange::Add(denied)).await?;
    let neighbours: Vec<InstanceId> = denials
        .instances
        .iter()
        .filter(|d| d.region == denied.region && d.instance != denied.instance)
        .map(|d| d.instance.clone())
        .collect();
    let mut gone = BTreeSet::new();
    if !neighbours.is_empty() && now >= denials.pruned_at.saturating_add(PRUNE_EVERY_SECONDS) {
        gone = compute.gone_instances(&neighbours).await?;
        let stale: Vec<DeniedInstance> = denials
            .instances
            .iter()
            .filter(|d| d.region == denied.region && gone.contains(&d.instance))
            .cloned()
            .collect();
        denials = state.change_denials(&role.id, DenialChange::Prune { gone: &stale, at: now }).await?;
    }
    Ok((write_denials(fleet, state, role, denials).await?, gone))
}

/// Make `role`'s policy list exactly the instances of `denials`, then read the set again: when another
/// run changed it meanwhile (a concurrent revocation or release on the same role), write it again from
/// the newer set. IAM has no conditional write; the set's version is what lets two concurrent changes
/// both land, since whichever write comes last was made from a set no change followed.
pub(super) async fn write_denials<F: Fleet, S: StateStore>(
    fleet: &F,
    state: &S,
    role: &RoleFacts,
    mut denials: RoleDenials,
) -> Result<RoleDenials> {
    for _ in 0..SYNC_ATTEMPTS {
        if denials.instances.is_empty() {
            fleet.delete_role_policy(&role.name, INSTANCES_POLICY).await?;
        } else {
            let document = instances_deny_document(denials.instances.iter().map(|d| &d.instance));
            let size = policy_size(&document);
            if size > ROLE_INLINE_POLICY_QUOTA {
                return Err(Error::refused(
                    "role",
                    format!(
                        "denying the {} instances listed for role {} takes {size} characters, more than IAM's \
                         {ROLE_INLINE_POLICY_QUOTA} per role: release the instances that are no longer needed as evidence",
                        denials.instances.len(),
                        role.name
                    ),
                ));
            }
            fleet.put_role_policy(&role.name, INSTANCES_POLICY, &document).await?;
        }
        let now = state.denials(&role.id).await?;
        if now.version == denials.version {
            return Ok(denials);
        }
        denials = now;
    }
    Err(Error::HeldElsewhere(format!(
        "the instances denied on role {} kept changing while its policy was written: a retry writes it from the newest set",
        role.name
    )))
}

/// A role that is not an instance's: deny its sessions issued before the finding.
pub(super) async fn revoke_sessions<C, F: Fleet, S>(
    r: &Ports<'_, C, F, S>,
    role_name: &str,
    issued_before: &str,
) -> Result<Outcome> {
    r.fleet.put_role_policy(role_name, SESSIONS_POLICY, &sessions_deny_document(issued_before)).await?;
    Ok(Outcome::done(format!(
        "role {role_name}: inline policy {SESSIONS_POLICY} denies every session issued before {issued_before}, for \
         every holder of the role; undo: aws iam delete-role-policy --role-name {role_name} --policy-name \
         {SESSIONS_POLICY}"
    )))
}

/// The role of a session revocation, checked: `Err(reason)` when it is missing or must not be touched.
pub(super) async fn named_role<C, F: Fleet, S>(
    r: &Ports<'_, C, F, S>,
    name: &str,
) -> Result<std::result::Result<RoleFacts, String>> {
    let Some(role) = r.fleet.role(name).await? else {
        return Ok(Err(format!("IAM has no role {name}")));
    };
    Ok(role_refusal(&role, r.config).map_or(Ok(role), Err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{AccountId, Region};
    use std::collections::BTreeMap;

    fn config() -> Config {
        Config::from_lookup(|_| None).expect("config")
    }

    fn role(name: &str, path: &str, tags: &[(&str, &str)]) -> RoleFacts {
        RoleFacts {
            trust_policy: None,
            name: name.into(),
            id: "AROAEXAMPLEROLEID0001".into(),
            arn: format!("arn:aws:iam::123456789012:role{path}{name}"),
            path: path.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_role_is_an_instances_alone_only_when_its_trust_policy_admits_ec2_alone() {
        let trusting = |statements: serde_json::Value| RoleFacts {
            trust_policy: Some(json!({"Version": "2012-10-17", "Statement": statements})),
            ..role("web", "/", &[])
        };
        let ec2 = json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
        assert_eq!(assumable_by_other_than_ec2(&trusting(json!([ec2.clone()]))), None);
        assert_eq!(assumable_by_other_than_ec2(&trusting(ec2.clone())), None, "one statement, not a list");
        let both = json!([{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}]);
        assert_eq!(assumable_by_other_than_ec2(&trusting(both)).as_deref(), Some("Service lambda.amazonaws.com"));
        let anyone = json!([ec2, {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]);
        assert_eq!(assumable_by_other_than_ec2(&trusting(anyone)).as_deref(), Some("*"));
        let denied = json!([{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
                            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]);
        assert_eq!(assumable_by_other_than_ec2(&trusting(denied)), None, "a deny admits nobody");
        assert!(assumable_by_other_than_ec2(&role("web", "/", &[])).is_some(), "unread: anyone, as far as is known");
    }

    #[test]
    fn own_member_service_linked_and_exempt_roles_are_never_touched() {
        let c = config();
        assert_eq!(role_refusal(&role("web-instance-role", "/", &[]), &c), None);
        assert!(role_refusal(&role("firebreak-guardduty-responder-us-east-1", "/", &[]), &c)
            .is_some_and(|w| w.contains("Firebreak's own")));
        assert!(role_refusal(&role("firebreak-member", "/", &[]), &c).is_some());
        assert!(role_refusal(
            &role("AWSServiceRoleForAutoScaling", "/aws-service-role/autoscaling.amazonaws.com/", &[]),
            &c
        )
        .is_some_and(|w| w.contains("service-linked")));
        assert!(role_refusal(&role("batch", "/", &[("firebreak:exempt", "yes")]), &c)
            .is_some_and(|w| w.contains("exemption")));
    }

    #[test]
    fn the_instance_arn_is_in_the_partition_of_its_region() {
        let origin = |r: &str| Origin { account: AccountId::parse("123456789012"), region: Region::parse(r) };
        let id = InstanceId::parse("i-0abc1234def567890").expect("id");
        assert_eq!(
            instance_arn(&origin("eu-west-1"), &id).expect("arn"),
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc1234def567890"
        );
        assert!(instance_arn(&origin("cn-north-1"), &id).expect("arn").starts_with("arn:aws-cn:"));
        assert!(instance_arn(&origin("us-gov-west-1"), &id).expect("arn").starts_with("arn:aws-us-gov:"));
        let unknown = Origin { account: None, region: Region::parse("eu-west-1") };
        assert!(instance_arn(&unknown, &id).is_err());
    }

    #[test]
    fn the_deny_documents_name_exactly_the_instances_and_the_issue_time() {
        let id = |n: u32| InstanceId::parse(&format!("i-0abc1234def{n:06}")).expect("id");
        let document = instances_deny_document([&id(1), &id(2)]);
        let doc: serde_json::Value = serde_json::from_str(&document).expect("json");
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            doc["Statement"][0]["Condition"]["StringLike"]["ec2:SourceInstanceARN"],
            json!(["*/i-0abc1234def000001", "*/i-0abc1234def000002"])
        );
        assert!(denies_instance(&document, &id(2)));
        assert!(!denies_instance(&document, &id(3)));
        let doc: serde_json::Value =
            serde_json::from_str(&sessions_deny_document("2026-11-24T06:19:30Z")).expect("json");
        assert_eq!(doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "2026-11-24T06:19:30Z");
    }

    #[test]
    fn the_credentials_of_250_instances_of_one_role_fit_in_iams_quota_for_its_inline_policies() {
        let ids: Vec<InstanceId> =
            (0..250).map(|n| InstanceId::parse(&format!("i-0{n:016x}")).expect("17-digit id")).collect();
        let size = policy_size(&instances_deny_document(&ids));
        assert!(size <= ROLE_INLINE_POLICY_QUOTA, "{size}");
        // What one policy per instance took: about 40 of them filled the quota.
        let one = json!({"Version": "2012-10-17", "Statement": [{"Sid": REVOKED_SID, "Effect": "Deny", "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"ec2:SourceInstanceARN":
            "arn:aws:ec2:us-east-1:123456789012:instance/i-00000000000000000"}}}]});
        assert!(policy_size(&one.to_string()) * 45 > ROLE_INLINE_POLICY_QUOTA);
        assert_eq!(policy_size(" { \"a\" :\n 1 } "), 7, "IAM does not count white space");
    }
}
