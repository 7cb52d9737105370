//! Stopping an idle instance, with judgement: never one that is exempt, in an Auto Scaling group,
//! backed by instance store, already stopping, or gone.

use super::context::{Ports, StepContext};
use crate::config::Config;
use crate::error::Result;
use crate::incident::{IncidentKind, InstanceId};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::ports::{AlarmFacts, Compute, InstanceFacts};
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

/// The namespace of the metrics EC2 itself publishes about an instance. `PutMetricData` refuses every
/// namespace that starts with `AWS/`, so nobody can feed it made-up datapoints.
const EC2_NAMESPACE: &str = "AWS/EC2";

/// Why CloudWatch itself does not confirm that `alarm` found `id` idle, or `None` when it does. An
/// event's state and reason can be set by anyone allowed `cloudwatch:SetAlarmState`: what counts is
/// the alarm as CloudWatch has it, and the metric's own recent values against its threshold.
pub fn idle_unconfirmed(alarm: Option<&AlarmFacts>, id: &InstanceId, name: &str, policy: &Policy) -> Option<String> {
    let Some(a) = alarm else {
        return Some(format!("CloudWatch has no metric alarm {name:?}: the event is not confirmed"));
    };
    if a.state != "ALARM" {
        return Some(format!("CloudWatch has alarm {name:?} in {}, not ALARM: the event is not confirmed", a.state));
    }
    let op = a.comparison.as_deref().unwrap_or("?");
    let below = match op {
        "LessThanThreshold" => |v: f64, t: f64| v < t,
        "LessThanOrEqualToThreshold" => |v: f64, t: f64| v <= t,
        _ => return Some(format!("alarm {name:?} compares with {op} in CloudWatch: not an idle alarm")),
    };
    let metric = a.metric_name.as_deref().unwrap_or("?");
    let namespace = a.namespace.as_deref().unwrap_or("?");
    if namespace != EC2_NAMESPACE {
        return Some(format!(
            "alarm {name:?} watches {metric} in namespace {namespace} in CloudWatch: only EC2's own metrics \
             ({EC2_NAMESPACE}, which no one can publish to) confirm that an instance is idle"
        ));
    }
    if !policy.idle_metrics.iter().any(|m| m == metric) {
        return Some(format!(
            "alarm {name:?} watches {metric} in CloudWatch, not an activity metric (FIREBREAK_IDLE_METRICS)"
        ));
    }
    if !a.dimensions.iter().any(|(k, v)| k == "InstanceId" && v == id.as_str()) {
        return Some(format!("alarm {name:?} does not watch {id} in CloudWatch"));
    }
    let Some(threshold) = a.threshold else {
        return Some(format!("alarm {name:?} has no threshold in CloudWatch"));
    };
    let periods = usize::try_from(a.evaluation_periods.unwrap_or(1).max(1)).unwrap_or(1);
    let needed = usize::try_from(a.datapoints_to_alarm.or(a.evaluation_periods).unwrap_or(1).max(1)).unwrap_or(1);
    let recent: Vec<f64> = a.recent_values.iter().take(periods).copied().collect();
    let breaching = recent.iter().filter(|v| below(**v, threshold)).count();
    if breaching < needed {
        let values: Vec<String> = recent.iter().map(f64::to_string).collect();
        return Some(format!(
            "CloudWatch's own datapoints of {metric} for {id} [{}] do not fall below {threshold} in {needed} of the last \
             {periods} period(s): the alarm's state was not earned by the metric (set by hand with SetAlarmState?)",
            values.join(", ")
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
            instance_profile_arn: None,
            metadata: None,
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

    fn alarm(state: &str, op: &str, values: &[f64]) -> AlarmFacts {
        AlarmFacts {
            name: "idle-cpu".into(),
            state: state.into(),
            comparison: Some(op.into()),
            namespace: Some("AWS/EC2".into()),
            metric_name: Some("CPUUtilization".into()),
            dimensions: vec![("InstanceId".into(), "i-0abc1234def567890".into())],
            threshold: Some(2.0),
            evaluation_periods: Some(6),
            datapoints_to_alarm: Some(3),
            recent_values: values.to_vec(),
        }
    }

    #[test]
    fn only_an_alarm_cloudwatch_has_in_alarm_on_idle_datapoints_confirms_a_stop() {
        let id = InstanceId::parse("i-0abc1234def567890").expect("id");
        let policy = Policy::default();
        let check = |a: Option<&AlarmFacts>| idle_unconfirmed(a, &id, "idle-cpu", &policy);
        assert_eq!(check(Some(&alarm("ALARM", "LessThanThreshold", &[0.3, 0.2, 0.5, 9.0, 9.0, 9.0]))), None);
        assert!(check(None).is_some_and(|w| w.contains("no metric alarm")));
        assert!(check(Some(&alarm("OK", "LessThanThreshold", &[0.3; 6]))).is_some_and(|w| w.contains("in OK")));
        assert!(
            check(Some(&alarm("ALARM", "GreaterThanThreshold", &[0.3; 6]))).is_some_and(|w| w.contains("not an idle"))
        );
        let agent = AlarmFacts { namespace: Some("CWAgent".into()), ..alarm("ALARM", "LessThanThreshold", &[0.3; 6]) };
        assert!(check(Some(&agent)).is_some_and(|w| w.contains("namespace CWAgent")), "anyone may publish to it");
        let set_by_hand = check(Some(&alarm("ALARM", "LessThanThreshold", &[40.0, 41.0, 0.3, 39.0, 40.0, 42.0])));
        assert!(set_by_hand.is_some_and(|w| w.contains("not earned by the metric")));
        assert!(check(Some(&alarm("ALARM", "LessThanThreshold", &[]))).is_some(), "no data confirms nothing");
        let mut other = alarm("ALARM", "LessThanThreshold", &[0.3; 6]);
        other.dimensions = vec![("InstanceId".into(), "i-0fff1234def567890".into())];
        assert!(check(Some(&other)).is_some_and(|w| w.contains("does not watch")));
    }
}
