//! Stopping an idle instance, with judgement: never one that is exempt, in an Auto Scaling group,
//! backed by instance store, already stopping, or gone.

use super::{Ports, StepContext};
use crate::config::Config;
use crate::error::Result;
use crate::incident::{IncidentKind, InstanceId};
use crate::plan::Plan;
use crate::ports::{Compute, InstanceFacts};
use crate::report::Outcome;
use std::collections::BTreeMap;

/// Why an instance must not be stopped, or `None` when stopping it is right. Pure: decided from the
/// instance's description, its Auto Scaling group, and the configuration.
pub fn stop_refusal(facts: &InstanceFacts, auto_scaling_group: Option<&str>, config: &Config) -> Option<String> {
    let id = &facts.instance_id;
    if let Some(value) = facts.tags.get(&config.exempt_tag) {
        return Some(format!("{id} carries the exemption tag {}={value}", config.exempt_tag));
    }
    if let Some((key, want)) = &config.idle_require_tag {
        if facts.tags.get(key) != Some(want) {
            return Some(format!("{id} lacks the opt-in tag {key}={want} (FIREBREAK_IDLE_REQUIRE_TAG)"));
        }
    }
    if let Some(group) = auto_scaling_group {
        return Some(format!(
            "{id} belongs to Auto Scaling group {group}: stopping it would only make the group replace it"
        ));
    }
    if facts.root_device_type.as_deref() == Some("instance-store") {
        return Some(format!(
            "{id} has an instance-store root device: stopping is not possible and would lose its data"
        ));
    }
    None
}

/// Stop (or hibernate) the instance and tag it with who, when, why and how.
pub(super) async fn stop<C: Compute, F, S>(
    r: &Ports<'_, C, F, S>,
    id: &InstanceId,
    facts: &InstanceFacts,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    let hibernate = r.config.hibernate && facts.hibernation_configured;
    let tags = stop_tags(ctx.plan, &ctx.now.rfc3339, hibernate);
    r.compute.stop_instance(id, hibernate).await?;
    r.compute.tag(id.as_str(), &tags).await?;
    Ok(Outcome::done(if hibernate {
        format!("{id} hibernated and tagged")
    } else {
        format!("{id} stopped and tagged")
    }))
}

/// Who stopped the instance, when and why, on the instance itself.
fn stop_tags(plan: &Plan, now: &str, hibernate: bool) -> BTreeMap<String, String> {
    let reason = match &plan.incident.kind {
        IncidentKind::Alarm(a) => format!("alarm {}: {}", a.alarm_name, a.reason),
        _ => plan.summary.clone(),
    };
    BTreeMap::from([
        ("firebreak:stopped-by".to_owned(), "firebreak alarm-responder".to_owned()),
        ("firebreak:stopped-at".to_owned(), now.to_owned()),
        ("firebreak:stopped-reason".to_owned(), reason.chars().take(256).collect()),
        ("firebreak:stop-mode".to_owned(), if hibernate { "hibernate" } else { "stop" }.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::InstanceState;

    fn facts(tags: &[(&str, &str)], root: &str) -> InstanceFacts {
        InstanceFacts {
            instance_id: InstanceId::parse("i-0abc1234def567890").expect("id"),
            state: InstanceState::Running,
            vpc_id: None,
            interfaces: vec![],
            volume_ids: vec![],
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            root_device_type: Some(root.into()),
            hibernation_configured: false,
            spot: false,
        }
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let map: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|n| map.get(n).cloned()).expect("config")
    }

    #[test]
    fn an_ordinary_ebs_instance_may_be_stopped() {
        assert_eq!(stop_refusal(&facts(&[], "ebs"), None, &config(&[])), None);
    }

    #[test]
    fn exempt_auto_scaled_and_instance_store_instances_are_never_stopped() {
        let c = config(&[]);
        assert!(stop_refusal(&facts(&[("firebreak:exempt", "yes")], "ebs"), None, &c)
            .is_some_and(|w| w.contains("exemption")));
        assert!(stop_refusal(&facts(&[], "ebs"), Some("web"), &c).is_some_and(|w| w.contains("Auto Scaling")));
        assert!(stop_refusal(&facts(&[], "instance-store"), None, &c).is_some_and(|w| w.contains("instance-store")));
    }

    #[test]
    fn opt_in_mode_stops_only_tagged_instances() {
        let c = config(&[("FIREBREAK_IDLE_REQUIRE_TAG", "firebreak:idle-stop=true")]);
        assert!(stop_refusal(&facts(&[], "ebs"), None, &c).is_some_and(|w| w.contains("opt-in")));
        assert!(stop_refusal(&facts(&[("firebreak:idle-stop", "false")], "ebs"), None, &c).is_some());
        assert_eq!(stop_refusal(&facts(&[("firebreak:idle-stop", "true")], "ebs"), None, &c), None);
    }
}
