//! CloudTrail records as EventBridge delivers them (`AWS API Call`, `Console Sign In`, `Service Event`).

use super::envelope::{envelope_origin, field, from_bytes, typed, typed_part};
use crate::error::{Error, Result};
use crate::incident::{CloudTrailEvent, Incident, IncidentKind, IngressPermission};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    id: Option<String>,
    /// Only AWS may send events whose source begins with `aws.`; anyone allowed `events:PutEvents`
    /// can send any other.
    #[serde(default)]
    source: Option<String>,
    account: Option<String>,
    region: Option<String>,
    detail: Record,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
    event_name: String,
    event_source: String,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    user_identity: Option<UserIdentity>,
    #[serde(rename = "sourceIPAddress", default)]
    source_ip_address: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::flag")]
    read_only: Option<bool>,
    #[serde(default)]
    request_parameters: Value,
    #[serde(default)]
    response_elements: Value,
    #[serde(default)]
    additional_event_data: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(rename = "type", default)]
    identity_type: Option<String>,
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    session_context: Option<SessionContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionContext {
    #[serde(default)]
    session_issuer: Option<SessionIssuer>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer {
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
}

/// `AuthorizeSecurityGroupIngress` request parameters: the parts that decide a revocation are strict.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizeIngress {
    #[serde(default)]
    group_id: Option<String>,
    /// Calls in the default VPC may name the group instead.
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    ip_permissions: Vec<IpPermission>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpPermission {
    ip_protocol: String,
    #[serde(default)]
    from_port: Option<i32>,
    #[serde(default)]
    to_port: Option<i32>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    ip_ranges: Vec<IpRange>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    ipv6_ranges: Vec<Ipv6Range>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    prefix_list_ids: Vec<PrefixListRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrefixListRef {
    prefix_list_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpRange {
    cidr_ip: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ipv6Range {
    cidr_ipv6: String,
}

/// The rule ids EC2 assigned, when the response carries `securityGroupRuleSet`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthorizeResponse {
    #[serde(default, deserialize_with = "super::lenient::items")]
    security_group_rule_set: Vec<RuleRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleRecord {
    #[serde(default)]
    security_group_rule_id: Option<String>,
    #[serde(default)]
    prefix_list_id: Option<String>,
    #[serde(default)]
    ip_protocol: Option<String>,
    #[serde(default)]
    from_port: Option<i32>,
    #[serde(default)]
    to_port: Option<i32>,
    #[serde(default)]
    cidr_ipv4: Option<String>,
    #[serde(default)]
    cidr_ipv6: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::flag")]
    is_egress: Option<bool>,
}

pub(super) fn parse_envelope(value: Value, prefix: &str) -> Result<Incident> {
    incident(typed(value, prefix)?, prefix)
}

/// The detail types of CloudTrail's records on EventBridge.
pub(super) const DETAIL_TYPES: [&str; 3] =
    ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS Service Event via CloudTrail"];

/// [`parse_envelope`] from the payload's bytes, when they are one of CloudTrail's events.
pub(super) fn parse_bytes(bytes: &[u8]) -> Option<Result<Incident>> {
    let envelope: Envelope = from_bytes(bytes)?;
    DETAIL_TYPES.contains(&envelope.detail_type.as_deref()?).then(|| incident(envelope, ""))
}

fn incident(envelope: Envelope, prefix: &str) -> Result<Incident> {
    let record = envelope.detail;
    let detail_prefix = field(prefix, "detail");
    match envelope.source.as_deref() {
        Some(source) if source.starts_with("aws.") => {}
        other => {
            return Err(Error::refused(
                field(prefix, "source"),
                format!("{other:?} is not an AWS source: only AWS may send aws.* events, anyone may forge the rest"),
            ))
        }
    }
    let identity = record.user_identity.unwrap_or_default();
    if let (Some(envelope_account), Some(recipient)) = (&envelope.account, &record.recipient_account_id) {
        if envelope_account != recipient {
            return Err(Error::refused(
                field(&detail_prefix, "recipientAccountId"),
                format!("{recipient} disagrees with the event's account {envelope_account}"),
            ));
        }
    }
    let account = record.recipient_account_id.clone().or(envelope.account).or(identity.account_id.clone());
    let region = record.aws_region.clone().or(envelope.region);
    let opened = match record.event_name.as_str() {
        "AuthorizeSecurityGroupIngress" => {
            ingress_of(&record.request_parameters, &record.response_elements, &detail_prefix)?
        }
        "ModifySecurityGroupRules" => modified_rules_of(&record.request_parameters),
        _ => Opened::default(),
    };
    let issuer = identity.session_context.and_then(|c| c.session_issuer).unwrap_or_default();
    let event = CloudTrailEvent {
        event_id: record.event_id,
        event_name: record.event_name,
        event_source: record.event_source,
        event_type: record.event_type,
        event_time: record.event_time.unwrap_or_default(),
        identity_type: identity.identity_type,
        identity_arn: identity.arn,
        issuer_arn: issuer.arn,
        user_name: identity.user_name.or(issuer.user_name),
        source_ip: record.source_ip_address,
        user_agent: record.user_agent,
        error_code: record.error_code,
        error_message: record.error_message,
        read_only: record.read_only,
        mfa_used: record
            .additional_event_data
            .get("MFAUsed")
            .and_then(Value::as_str)
            .map(|v| v.eq_ignore_ascii_case("yes")),
        login_result: record.response_elements.get("ConsoleLogin").and_then(Value::as_str).map(str::to_owned),
        request: record.request_parameters,
        ingress: opened.permissions,
        security_group_id: opened.group_id,
        security_group_name: opened.group_name,
        prefix_lists: opened.prefix_lists,
        earlier_ingress: Default::default(),
    };
    Ok(Incident {
        delivery_id: envelope.id,
        origin: envelope_origin(account.as_deref(), region.as_deref()),
        kind: IncidentKind::Cloudtrail(event),
        event: None,
        security_hub: None,
    })
}

/// What an ingress call opened, and on which group.
#[derive(Default)]
struct Opened {
    group_id: Option<String>,
    group_name: Option<String>,
    permissions: Vec<IngressPermission>,
    /// Prefix lists referenced by the call: their contents are not in the event.
    prefix_lists: Vec<String>,
}

/// The permissions as EC2 stored them: from the response's `securityGroupRuleSet` (canonical CIDRs,
/// and the rule ids to revoke by) when the record has it, otherwise from the request.
fn ingress_of(request: &Value, response: &Value, prefix: &str) -> Result<Opened> {
    let request: AuthorizeIngress = typed_part(request, &field(prefix, "requestParameters"))?;
    let response: AuthorizeResponse = if response.is_object() {
        typed_part(response, &field(prefix, "responseElements"))?
    } else {
        AuthorizeResponse::default()
    };
    let mut opened = Opened { group_id: request.group_id, group_name: request.group_name, ..Opened::default() };
    let created: Vec<&RuleRecord> =
        response.security_group_rule_set.iter().filter(|r| r.is_egress != Some(true)).collect();
    if created.is_empty() {
        for p in request.ip_permissions {
            opened.prefix_lists.extend(p.prefix_list_ids.into_iter().map(|l| l.prefix_list_id));
            let cidrs =
                p.ip_ranges.into_iter().map(|r| r.cidr_ip).chain(p.ipv6_ranges.into_iter().map(|r| r.cidr_ipv6));
            for cidr in cidrs {
                opened.permissions.push(IngressPermission {
                    protocol: p.ip_protocol.clone(),
                    from_port: p.from_port,
                    to_port: p.to_port,
                    cidr,
                    rule_id: None,
                });
            }
        }
        return Ok(opened);
    }
    for rule in created {
        if let Some(list) = &rule.prefix_list_id {
            opened.prefix_lists.push(list.clone());
        }
        let Some(cidr) = rule.cidr_ipv4.clone().or_else(|| rule.cidr_ipv6.clone()) else { continue };
        opened.permissions.push(IngressPermission {
            protocol: rule.ip_protocol.clone().unwrap_or_else(|| "-1".to_owned()),
            // EC2 records all-protocol rules with ports -1: no ports.
            from_port: rule.from_port.filter(|p| *p >= 0 || rule.ip_protocol.as_deref() != Some("-1")),
            to_port: rule.to_port.filter(|p| *p >= 0 || rule.ip_protocol.as_deref() != Some("-1")),
            cidr,
            rule_id: rule.security_group_rule_id.clone(),
        });
    }
    Ok(opened)
}

/// `ModifySecurityGroupRules`: each modified rule keeps its id, so it can be revoked by id. The request
/// does not say whether a rule is ingress or egress; revoking an egress id as ingress finds nothing and
/// is reported as already gone, never as a wrong revocation.
fn modified_rules_of(request: &Value) -> Opened {
    let body = request.get("ModifySecurityGroupRulesRequest").unwrap_or(request);
    let group_id = body.get("GroupId").and_then(Value::as_str).map(str::to_owned);
    let entries: Vec<&Value> = match body.get("SecurityGroupRule").or_else(|| body.get("SecurityGroupRules")) {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(Value::Object(map)) => match map.get("items") {
            Some(Value::Array(list)) => list.iter().collect(),
            _ => vec![body.get("SecurityGroupRule").unwrap_or(&Value::Null)],
        },
        _ => Vec::new(),
    };
    let permissions = entries
        .into_iter()
        .filter_map(|entry| {
            let rule = entry.get("SecurityGroupRule")?;
            let port = |k: &str| {
                rule.get(k)
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                    .and_then(|p| i32::try_from(p).ok())
            };
            let cidr = rule.get("CidrIpv4").or_else(|| rule.get("CidrIpv6")).and_then(Value::as_str)?;
            Some(IngressPermission {
                protocol: rule.get("IpProtocol").and_then(Value::as_str).unwrap_or("-1").to_owned(),
                from_port: port("FromPort"),
                to_port: port("ToPort"),
                cidr: cidr.to_owned(),
                rule_id: entry.get("SecurityGroupRuleId").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect();
    Opened { group_id, permissions, ..Opened::default() }
}
