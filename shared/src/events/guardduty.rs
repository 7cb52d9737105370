//! GuardDuty findings (the `detail` of a `GuardDuty Finding` event).

use super::envelope::{envelope_origin, field, from_bytes, typed, Envelope};
use super::sequence;
use crate::error::{Error, Result};
use crate::incident::{
    AccessKeyDetails, GuardDutyFinding, GuardDutyResourceType, Incident, IncidentKind, InstanceId, MalwareScan,
    RuntimeProcess, Workload,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindingDetail {
    id: String,
    #[serde(rename = "type")]
    finding_type: String,
    #[serde(default)]
    title: Option<String>,
    severity: f64,
    account_id: Option<String>,
    region: Option<String>,
    #[serde(default)]
    updated_at: Option<Value>,
    resource: Resource,
    #[serde(default)]
    service: Option<Service>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    resource_type: String,
    #[serde(default)]
    instance_details: Option<InstanceDetails>,
    #[serde(default)]
    ecs_cluster_details: Option<EcsClusterDetails>,
    #[serde(default)]
    access_key_details: Option<AccessKeyBody>,
    #[serde(default)]
    eks_cluster_details: Option<EksClusterDetails>,
    #[serde(default)]
    kubernetes_details: Option<KubernetesDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeyBody {
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    principal_id: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcsClusterDetails {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    task_details: Option<EcsTaskDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcsTaskDetails {
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    definition_arn: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksClusterDetails {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubernetesDetails {
    #[serde(default)]
    kubernetes_workload_details: Option<KubernetesWorkloadDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubernetesWorkloadDetails {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeDetails {
    #[serde(default)]
    process: Option<ProcessDetails>,
    #[serde(default)]
    context: Option<RuntimeContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessDetails {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    executable_path: Option<String>,
    #[serde(default)]
    pid: Option<i64>,
    #[serde(default, deserialize_with = "super::lenient::text")]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeContext {
    #[serde(default)]
    command_line_example: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceDetails {
    #[serde(default)]
    instance_id: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    tags: Vec<Tag>,
    /// `networkInterfaces[].vpcId`: only a key to read ahead by, so it never refuses the finding.
    #[serde(default, rename = "networkInterfaces", deserialize_with = "vpc_ids")]
    vpc_ids: Vec<String>,
}

fn vpc_ids<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    super::lenient::strings_at(d, "vpcId")
}

#[derive(Deserialize)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    detector_id: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::flag")]
    archived: Option<bool>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    additional_info: Option<Value>,
    #[serde(default)]
    feature_name: Option<String>,
    #[serde(default)]
    detection: Option<sequence::Detection>,
    #[serde(default)]
    runtime_details: Option<RuntimeDetails>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    ebs_volume_scan_details: Option<EbsVolumeScanDetails>,
}

/// `service.ebsVolumeScanDetails`: the Malware Protection for EC2 scan that produced the finding (the
/// API reference's `EbsVolumeScanDetails`); only what joins it to an incident is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EbsVolumeScanDetails {
    #[serde(default, deserialize_with = "super::lenient::text")]
    scan_id: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::text")]
    scan_type: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::text")]
    trigger_finding_id: Option<String>,
}

/// `service.action`: what the finding saw; only a DNS request's domain is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    #[serde(default)]
    dns_request_action: Option<DnsRequestAction>,
}

#[derive(Deserialize)]
struct DnsRequestAction {
    #[serde(default, deserialize_with = "super::lenient::text")]
    domain: Option<String>,
}

pub(super) fn parse_envelope(value: Value, prefix: &str) -> Result<Incident> {
    incident(typed(value, prefix)?, prefix)
}

/// [`parse_envelope`] from the payload's bytes, when they are a `GuardDuty Finding` event.
pub(super) fn parse_bytes(bytes: &[u8]) -> Option<Result<Incident>> {
    let envelope: Envelope<FindingDetail> = from_bytes(bytes)?;
    (envelope.detail_type.as_deref() == Some("GuardDuty Finding")).then(|| incident(envelope, ""))
}

fn incident(envelope: Envelope<FindingDetail>, prefix: &str) -> Result<Incident> {
    let detail = envelope.detail;
    let account = detail.account_id.clone().or(envelope.account);
    let region = detail.region.clone().or(envelope.region);
    let finding = finding(detail, account.as_deref(), region.as_deref(), &field(prefix, "detail"))?;
    Ok(Incident {
        delivery_id: envelope.id,
        origin: envelope_origin(account.as_deref(), region.as_deref()),
        kind: IncidentKind::Guardduty(finding),
        event: None,
        security_hub: None,
    })
}

fn finding(
    mut detail: FindingDetail,
    account: Option<&str>,
    region: Option<&str>,
    prefix: &str,
) -> Result<GuardDutyFinding> {
    if !detail.severity.is_finite() || !(0.0..=10.0).contains(&detail.severity) {
        return Err(Error::refused(
            field(prefix, "severity"),
            format!("{} is outside GuardDuty's 0–10 scale", detail.severity),
        ));
    }
    let raw_type = std::mem::take(&mut detail.resource.resource_type);
    let resource_type: GuardDutyResourceType =
        serde_json::from_value(Value::String(raw_type.clone())).map_err(|_| {
            Error::refused(field(prefix, "resource.resourceType"), format!("unknown resource type {raw_type:?}"))
        })?;
    // Non-EC2 sample findings carry a dummy instanceDetails; only an Instance finding names an instance.
    let workload = workload(&mut detail.resource);
    // Only an AccessKey finding is about these credentials: other resource types may carry a sample's.
    let access_key =
        detail.resource.access_key_details.take().filter(|_| resource_type == GuardDutyResourceType::AccessKey).map(
            |k| AccessKeyDetails {
                access_key_id: k.access_key_id,
                principal_id: k.principal_id,
                user_name: k.user_name,
                user_type: k.user_type,
            },
        );
    let (instance_id, instance_name, vpc_ids) = if resource_type == GuardDutyResourceType::Instance {
        let details = detail.resource.instance_details.ok_or_else(|| {
            Error::refused(field(prefix, "resource.instanceDetails"), "missing for an Instance finding")
        })?;
        let raw = details.instance_id.ok_or_else(|| {
            Error::refused(field(prefix, "resource.instanceDetails.instanceId"), "missing for an Instance finding")
        })?;
        let id = InstanceId::parse(&raw).ok_or_else(|| {
            Error::refused(
                field(prefix, "resource.instanceDetails.instanceId"),
                format!("{raw:?} is not an instance id"),
            )
        })?;
        let name = details.tags.into_iter().find(|t| t.key.as_deref() == Some("Name")).and_then(|t| t.value);
        let mut vpcs = details.vpc_ids;
        vpcs.retain(|v| !v.is_empty());
        vpcs.sort_unstable();
        vpcs.dedup();
        (Some(id), name, vpcs)
    } else {
        (None, None, Vec::new())
    };
    let service = detail.service.unwrap_or_default();
    let sequence = sequence::parse(service.detection, account, region, prefix)?;
    if resource_type == GuardDutyResourceType::AttackSequence && sequence.is_none() {
        return Err(Error::refused(
            field(prefix, "service.detection.sequence"),
            "missing for an AttackSequence finding",
        ));
    }
    let process = service.runtime_details.and_then(|r| {
        let command_line = r.context.and_then(|c| c.command_line_example);
        r.process.map(|p| RuntimeProcess {
            name: p.name,
            executable_path: p.executable_path,
            pid: p.pid,
            user: p.user,
            command_line,
        })
    });
    Ok(GuardDutyFinding {
        finding_id: detail.id,
        title: detail.title.unwrap_or_else(|| detail.finding_type.clone()),
        finding_type: detail.finding_type,
        severity: detail.severity,
        resource_type,
        instance_id,
        instance_name,
        vpc_ids,
        sample: is_sample(service.additional_info.as_ref()),
        archived: service.archived.unwrap_or(false),
        count: service.count.unwrap_or(1),
        updated_at: match detail.updated_at {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        },
        feature: service.feature_name,
        detector_id: service.detector_id.filter(|d| !d.is_empty()),
        sequence,
        process,
        workload,
        access_key,
        dns_domain: service.action.and_then(|a| a.dns_request_action).and_then(|d| d.domain).filter(|d| !d.is_empty()),
        malware_scan: service.ebs_volume_scan_details.and_then(|scan| {
            Some(MalwareScan {
                scan_id: scan.scan_id.filter(|id| !id.is_empty())?,
                on_demand: scan.scan_type.as_deref() == Some("ON_DEMAND"),
                trigger_finding_id: scan.trigger_finding_id.filter(|id| !id.is_empty()),
            })
        }),
    })
}

/// The ECS task or EKS workload of a container finding.
fn workload(resource: &mut Resource) -> Option<Workload> {
    let containers = |list: Vec<Container>| -> Vec<(String, String)> {
        list.into_iter()
            .map(|c| (c.name.unwrap_or_else(|| "?".into()), c.image.unwrap_or_else(|| "?".into())))
            .collect()
    };
    if let Some(ecs) = resource.ecs_cluster_details.take() {
        let task = ecs.task_details;
        return Some(Workload {
            platform: "ECS",
            cluster: ecs.arn.or(ecs.name),
            task_arn: task.as_ref().and_then(|t| t.arn.clone()),
            task_definition: task.as_ref().and_then(|t| t.definition_arn.clone()),
            containers: task.map(|t| containers(t.containers)).unwrap_or_default(),
        });
    }
    let eks = resource.eks_cluster_details.take()?;
    let workload = resource.kubernetes_details.take().and_then(|k| k.kubernetes_workload_details);
    Some(Workload {
        platform: "EKS",
        cluster: eks.name,
        task_arn: workload
            .as_ref()
            .map(|w| format!("{}/{}", w.namespace.as_deref().unwrap_or("?"), w.name.as_deref().unwrap_or("?"))),
        task_definition: None,
        containers: workload.map(|w| containers(w.containers)).unwrap_or_default(),
    })
}

/// Sample findings say so in `additionalInfo.sample`, or (newer schema) inside the JSON string
/// `additionalInfo.value`.
fn is_sample(additional_info: Option<&Value>) -> bool {
    let Some(info) = additional_info else { return false };
    let flagged = |v: &Value| {
        matches!(v.get("sample"), Some(Value::Bool(true))) || v.get("sample").and_then(Value::as_str) == Some("true")
    };
    if flagged(info) {
        return true;
    }
    match info.get("value") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map(|v| flagged(&v)).unwrap_or(false),
        Some(nested @ Value::Object(_)) => flagged(nested),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sample_flag_is_found_inside_the_json_string_value() {
        assert!(is_sample(Some(&json!({"value": "{\"sample\":true}", "type": "default"}))));
        assert!(is_sample(Some(&json!({"sample": true}))));
        assert!(!is_sample(Some(&json!({"value": "{\"unusual\":1}"}))));
        assert!(!is_sample(Some(&json!({"value": "not json"}))));
        assert!(!is_sample(None));
    }
}
