//! Identity containment: the credentials an instance was issued stop working wherever they were copied,
//! and nothing on the instance can fetch new ones. Opt-in: a role's older sessions, a user's key.

use super::context::{Ports, StepContext};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::incident::{InstanceId, Origin};
use crate::ports::{Compute, CredentialRevocation, Fleet, InstanceFacts, RoleFacts, StateStore};
use crate::report::Outcome;
use serde_json::json;

/// The inline policy put on an instance's role: one per instance, so that releasing one instance never
/// lifts another's revocation.
pub fn instance_policy_name(id: &InstanceId) -> String {
    format!("firebreak-revoke-{id}")
}

/// The inline policy that denies a role's sessions issued before a finding.
pub const SESSIONS_POLICY: &str = "firebreak-revoke-sessions";

/// Denies every request signed with credentials issued to the instance `instance_arn`, whoever holds
/// them: `ec2:SourceInstanceARN` is in the context of every such request, and only of such requests,
/// so other instances sharing the role keep working. No `aws:TokenIssueTime` bound: credentials the
/// instance obtains later are denied too, until a person releases it.
pub fn instance_deny_document(instance_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FirebreakRevokedInstanceCredentials",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"ec2:SourceInstanceARN": instance_arn}}
        }]
    })
    .to_string()
}

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
    let partition = match region.as_str() {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    };
    Ok(format!("arn:{partition}:ec2:{region}:{account}:instance/{id}"))
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

/// The role whose credentials the instance holds, checked: `Err(reason)` when there is none to revoke
/// or it must not be touched.
pub(super) async fn instance_role<C, F: Fleet, S>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    named: Option<&str>,
    named_id: Option<&str>,
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
    if let Some(named) = named.filter(|n| *n != role.name) {
        return Ok(Err(format!(
            "the finding names role {named}, but {id}'s instance profile carries {}: nothing is revoked on a mismatch",
            role.name
        )));
    }
    if let Some(named_id) = named_id.filter(|n| *n != role.id) {
        return Ok(Err(format!(
            "the finding's session was issued under role id {named_id}, but {id}'s instance profile carries {} ({}): \
             a session named after {id} is not its credentials; nothing is revoked on {id}",
            role.name, role.id
        )));
    }
    Ok(role_refusal(&role, r.config).map_or(Ok(role), Err))
}

/// Record what is there, put the deny policy on the role, turn the metadata service off.
pub(super) async fn revoke_instance<C: Compute, F: Fleet, S: StateStore>(
    r: &Ports<'_, C, F, S>,
    facts: &InstanceFacts,
    named: Option<&str>,
    named_id: Option<&str>,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let id = &facts.instance_id;
    let role = match instance_role(r, facts, named, named_id).await? {
        Ok(role) => role,
        Err(why) => return Ok(Outcome::skipped(why)),
    };
    let arn = instance_arn(&ctx.plan.incident.origin, id)?;
    let policy = instance_policy_name(id);
    if !r.config.dry_run {
        let before = CredentialRevocation {
            role: role.name.clone(),
            policy: policy.clone(),
            metadata_was_enabled: facts.metadata.as_ref().is_none_or(|m| m.endpoint_enabled),
            metadata_tokens: facts.metadata.as_ref().and_then(|m| m.tokens.clone()),
        };
        r.state.record_revocation(id.as_str(), &before).await?;
    }
    r.fleet.put_role_policy(&role.name, &policy, &instance_deny_document(&arn)).await?;
    r.compute.set_metadata_endpoint(id, false, None).await?;
    Ok(Outcome::done(format!(
        "role {}: inline policy {policy} denies every request made with credentials issued to {id} \
         (ec2:SourceInstanceARN), wherever they are used; other instances of the role are unaffected; the \
         metadata service of {id} is off, so nothing on it can fetch new ones; undo: firebreak release {id}",
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
            name: name.into(),
            id: "AROAEXAMPLEROLEID0001".into(),
            arn: format!("arn:aws:iam::123456789012:role{path}{name}"),
            path: path.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
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
    fn the_deny_documents_name_exactly_the_instance_and_the_issue_time() {
        let doc: serde_json::Value =
            serde_json::from_str(&instance_deny_document("arn:aws:ec2:us-east-1:1:instance/i-1")).expect("json");
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            doc["Statement"][0]["Condition"]["StringEquals"]["ec2:SourceInstanceARN"],
            "arn:aws:ec2:us-east-1:1:instance/i-1"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&sessions_deny_document("2026-11-24T06:19:30Z")).expect("json");
        assert_eq!(doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "2026-11-24T06:19:30Z");
    }
}
