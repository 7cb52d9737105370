//! GuardDuty Extended Threat Detection: the attack sequence under `service.detection.sequence`
//! (GuardDuty API reference: `Detection`, `Sequence`, `Signal`, `Actor`, `ResourceV2`, `ResourceData`).

use super::envelope::field;
use crate::error::{Error, Result};
use crate::incident::{AttackSequence, InstanceId, SequenceInstance, SequenceResource, SequenceSignal};
use serde::Deserialize;
use serde_json::{Map, Value};

/// GuardDuty returns at most this many `ec2InstanceUids` per group resource: a full list may be cut.
pub const GROUP_LIST_MAX: usize = 25;

/// The `ResourceData` members that name a group of instances by what they share. `ecsCluster` also has
/// `ec2InstanceUids`, but those are container hosts, not compromised instances.
const INSTANCE_GROUPS: [(&str, &str); 6] = [
    ("AUTOSCALING_AUTO_SCALING_GROUP", "autoscalingAutoScalingGroup"),
    ("IAM_INSTANCE_PROFILE", "iamInstanceProfile"),
    ("CLOUDFORMATION_STACK", "cloudformationStack"),
    ("EC2_LAUNCH_TEMPLATE", "ec2LaunchTemplate"),
    ("EC2_VPC", "ec2Vpc"),
    ("EC2_IMAGE", "ec2Image"),
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Detection {
    #[serde(default)]
    sequence: Option<Sequence>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sequence {
    uid: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    signals: Vec<Signal>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    actors: Vec<Actor>,
    #[serde(default, deserialize_with = "super::lenient::items")]
    resources: Vec<ResourceV2>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signal {
    #[serde(default)]
    uid: Option<String>,
    #[serde(rename = "type", default)]
    signal_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    severity: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Actor {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    user: Option<ActorUser>,
    #[serde(default)]
    process: Option<ActorProcess>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActorUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    user_type: Option<String>,
}

#[derive(Deserialize)]
struct ActorProcess {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceV2 {
    uid: String,
    resource_type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    data: Map<String, Value>,
}

/// The sequence of a finding's `service.detection`, if it has one. `account` and `region` are the
/// finding's: an instance listed with another account or region is named, never acted on.
pub(super) fn parse(
    detection: Option<Detection>,
    account: Option<&str>,
    region: Option<&str>,
    prefix: &str,
) -> Result<Option<AttackSequence>> {
    let Some(sequence) = detection.and_then(|d| d.sequence) else { return Ok(None) };
    if sequence.signals.is_empty() {
        return Err(Error::refused(
            field(prefix, "service.detection.sequence.signals"),
            "an attack sequence has at least one signal",
        ));
    }
    let mut out = AttackSequence {
        uid: sequence.uid,
        description: sequence.description.unwrap_or_default(),
        signals: sequence
            .signals
            .into_iter()
            .map(|s| SequenceSignal {
                uid: s.uid.unwrap_or_default(),
                signal_type: s.signal_type.unwrap_or_default(),
                name: s.name.unwrap_or_default(),
                severity: s.severity,
            })
            .collect(),
        actors: sequence.actors.into_iter().map(actor_line).collect(),
        resources: Vec::new(),
        instances: Vec::new(),
        possibly_truncated: Vec::new(),
        container_hosts: Vec::new(),
        not_acted_on: Vec::new(),
    };
    for resource in sequence.resources {
        let elsewhere = resource.account_id.as_deref().is_some_and(|a| Some(a) != account)
            || resource.region.as_deref().is_some_and(|r| Some(r) != region);
        let label = resource.name.clone().unwrap_or_else(|| resource.uid.clone());
        let mut named: Vec<(String, String)> = Vec::new();
        if resource.resource_type == "EC2_INSTANCE" {
            named.push((resource.uid.clone(), "directly".to_owned()));
        }
        if let Some((_, key)) = INSTANCE_GROUPS.iter().find(|(kind, _)| *kind == resource.resource_type) {
            let uids = instance_uids(resource.data.get(*key));
            if uids.len() >= GROUP_LIST_MAX {
                out.possibly_truncated.push(format!("{} {label}", resource.resource_type));
            }
            let via = format!("through {} {label}", resource.resource_type);
            named.extend(uids.into_iter().map(|u| (u, via.clone())));
        }
        if resource.resource_type == "ECS_CLUSTER" {
            for uid in instance_uids(resource.data.get("ecsCluster")) {
                if let Some(id) = normalise(&uid) {
                    if !out.container_hosts.contains(&id) {
                        out.container_hosts.push(id);
                    }
                }
            }
        }
        for (uid, via) in named {
            match normalise(&uid) {
                Some(_) if elsewhere => out.not_acted_on.push(format!("{uid} (in another account or region)")),
                Some(id) if !out.instances.iter().any(|i| i.id == id) => {
                    out.instances.push(SequenceInstance { id, via })
                }
                Some(_) => {}
                None => out.not_acted_on.push(format!("{uid} (not an instance id or ARN)")),
            }
        }
        out.resources.push(SequenceResource {
            uid: resource.uid,
            resource_type: resource.resource_type,
            name: resource.name,
        });
    }
    Ok(Some(out))
}

fn instance_uids(group: Option<&Value>) -> Vec<String> {
    group
        .and_then(|g| g.get("ec2InstanceUids"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `i-…` or `arn:<partition>:ec2:<region>:<account>:instance/i-…`.
fn normalise(uid: &str) -> Option<InstanceId> {
    let raw = match uid.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_, "ec2", _, _, resource] => resource.strip_prefix("instance/")?,
                _ => return None,
            }
        }
        None => uid,
    };
    InstanceId::parse(raw)
}

fn actor_line(actor: Actor) -> String {
    let id = actor.id.unwrap_or_else(|| "?".into());
    match (actor.user, actor.process) {
        (Some(user), _) => format!(
            "{id}: {} {}",
            user.user_type.as_deref().unwrap_or("user"),
            user.name.as_deref().unwrap_or("(unnamed)")
        ),
        (None, Some(process)) => format!("{id}: process {}", process.name.as_deref().unwrap_or("(unnamed)")),
        (None, None) => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_uids_are_ids_or_ec2_instance_arns() {
        let id = |s: &str| normalise(s).map(|i| i.as_str().to_owned());
        assert_eq!(id("i-0abc1234def567890").as_deref(), Some("i-0abc1234def567890"));
        assert_eq!(
            id("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234def567890").as_deref(),
            Some("i-0abc1234def567890")
        );
        assert_eq!(id("arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc1234def567890"), None);
        assert_eq!(id("arn:aws:iam::123456789012:instance-profile/web"), None);
        assert_eq!(id("web-server"), None);
    }
}
