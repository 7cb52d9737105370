//! Stopping an idle instance, with judgement: never one that is exempt, in an Auto Scaling group,
//! backed by instance store, already stopping, or gone.

use super::{Journal, Now, Run};
use crate::config::Config;
use crate::error::Result;
use crate::incident::IncidentKind;
use crate::plan::Plan;
use crate::ports::{Compute, Fleet, InstanceFacts, Notifier, StateStore};
use crate::report::{Outcome, Report};
use std::collections::BTreeMap;

/// What the playbook concluded about notifying.
pub(super) enum Notify {
    Yes,
    /// Say nothing: a repeat of something already reported (e.g. the instance is already stopped).
    Suppress(String),
}

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

pub(super) async fn run<C: Compute, F: Fleet, N: Notifier, S: StateStore>(
    r: &Run<'_, C, F, N, S>,
    journal: &Journal<'_, S>,
    plan: &Plan,
    now: &Now,
    report: &mut Report,
) -> Result<Notify> {
    let Some(id) = plan.instance_id() else { return Ok(Notify::Yes) };
    if journal.is_done("stop_instance") {
        report.push("stop_instance", Outcome::skipped("already done for this incident (journal)"));
        return Ok(Notify::Yes);
    }
    let facts = match r.compute.describe_instance(id).await {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            report.push("stop_instance", Outcome::skipped(format!("{id} was not found (terminated or unknown)")));
            return Ok(Notify::Yes);
        }
        Err(e) => {
            report.push("stop_instance", Outcome::failed(e));
            return Ok(Notify::Yes);
        }
    };
    match facts.state.as_str() {
        "stopping" | "stopped" => {
            let why = format!("{id} is already {}", facts.state);
            report.push("stop_instance", Outcome::skipped(why.clone()));
            return Ok(Notify::Suppress(format!("{why}: no second notification")));
        }
        "terminated" | "shutting-down" => {
            report.push("stop_instance", Outcome::skipped(format!("{id} is {}", facts.state)));
            return Ok(Notify::Yes);
        }
        _ => {}
    }
    let group = match r.fleet.auto_scaling_group_of(id).await {
        Ok(group) => group,
        Err(e) => {
            report.push("stop_instance", Outcome::failed(e));
            return Ok(Notify::Yes);
        }
    };
    if let Some(why) = stop_refusal(&facts, group.as_deref(), r.config) {
        report.push("stop_instance", Outcome::skipped(why));
        return Ok(Notify::Yes);
    }
    if let Some(held) = r.cap_gate(plan, now, journal).await? {
        report.push("stop_instance", Outcome::skipped(held));
        return Ok(Notify::Yes);
    }
    let hibernate = r.config.hibernate && facts.hibernation_configured;
    let tags = stop_tags(plan, &now.rfc3339, hibernate);
    let outcome = journal
        .step("stop_instance", || async {
            r.compute.stop_instance(id, hibernate).await?;
            r.compute.tag(id.as_str(), &tags).await?;
            Ok(Outcome::done(if hibernate {
                format!("{id} hibernated and tagged")
            } else {
                format!("{id} stopped and tagged")
            }))
        })
        .await;
    report.push("stop_instance", outcome);
    Ok(Notify::Yes)
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
    use crate::incident::InstanceId;

    fn facts(tags: &[(&str, &str)], root: &str) -> InstanceFacts {
        InstanceFacts {
            instance_id: InstanceId::parse("i-0abc1234def567890").expect("id"),
            state: "running".into(),
            vpc_id: None,
            interfaces: vec![],
            volume_ids: vec![],
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            root_device_type: Some(root.into()),
            hibernation_configured: false,
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
