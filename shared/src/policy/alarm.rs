//! Alarm policy: stop instances that sit idle, notify on every other alarm (attack, exhaustion).

use super::draft::{glob_matches, step, Draft};
use super::settings::Policy;
use crate::incident::{AlarmContributor, AlarmState, CloudWatchAlarm, Incident, InstanceId, SeverityLabel};
use crate::metrics_insights::Query;
use crate::plan::{Decision, Step};

pub(super) fn decide(alarm: &CloudWatchAlarm, incident: &Incident, policy: &Policy) -> Draft {
    let metric = alarm.metrics.first().and_then(|m| m.name.as_deref()).unwrap_or(if alarm.composite {
        "composite"
    } else {
        "metric"
    });
    let fleet = alarm.fleet_query();
    let metric = fleet.as_ref().map_or(metric, |q| q.metric.as_str());
    if let Some(contributor) = &alarm.contributor {
        return contributor_decision(alarm, contributor, fleet.as_ref(), metric, incident, policy);
    }
    let summary = format!("Alarm {} is {} ({metric})", alarm.alarm_name, alarm.state.as_str());
    match alarm.state {
        AlarmState::InsufficientData => {
            return Draft::ignore(SeverityLabel::Info, summary, "INSUFFICIENT_DATA never triggers an action".into())
        }
        AlarmState::Ok if policy.notify_resolved && alarm.previous_state == Some(AlarmState::Alarm) => {
            return Draft::notify(SeverityLabel::Info, summary, "the alarm is back to OK: notified as resolved".into())
        }
        AlarmState::Ok => {
            return Draft::ignore(
                SeverityLabel::Info,
                summary,
                "OK transitions are not acted on (FIREBREAK_NOTIFY_RESOLVED is off or it was not in ALARM)".into(),
            )
        }
        AlarmState::Alarm => {}
    }
    if fleet.is_some() {
        let why = "the parent state change of a multi-time-series (Metrics Insights) alarm names no instance; each \
                   contributor's own event is decided on its own";
        return if policy.fleet_alarm_summary {
            Draft::notify(SeverityLabel::Low, summary, format!("{why}: notified once as a summary ({})", alarm.reason))
        } else {
            Draft::ignore(SeverityLabel::Info, summary, format!("{why} (FIREBREAK_FLEET_ALARM_SUMMARY is off)"))
        };
    }
    if let Some(why) = &alarm.suppressed {
        return held_by_cloudwatch(summary, why);
    }
    let Some(why_idle) = idle_reason(alarm, policy) else {
        return Draft::notify(
            SeverityLabel::Medium,
            summary,
            "an alarm other than an idle alarm went to ALARM: a sign of attack or exhaustion for a person to judge"
                .into(),
        );
    };
    let instances = alarm.instance_dimensions();
    let instance_id = match instances.as_slice() {
        [one] => InstanceId::parse(one),
        _ => None,
    };
    let Some(instance_id) = instance_id else {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!("{why_idle}, but it does not name exactly one well-formed InstanceId dimension ({instances:?}): nothing to stop"),
        );
    };
    let summary = format!("{summary} on {instance_id}");
    idle_stop(summary, format!("{why_idle}: stop {instance_id}"), instance_id, alarm, incident, policy)
}

/// CloudWatch itself holds the alarm's actions back (a suppressor, a mute rule): so does Firebreak.
fn held_by_cloudwatch(summary: String, why: &str) -> Draft {
    Draft::notify(
        SeverityLabel::Low,
        summary,
        format!("CloudWatch holds this alarm's actions back ({why}): Firebreak does not act on it either, it notifies"),
    )
}

/// Stop an idle instance, unless the alarm has not opted in by its name or the incident's account or
/// region is unknown.
fn idle_stop(
    summary: String,
    why: String,
    instance_id: InstanceId,
    alarm: &CloudWatchAlarm,
    incident: &Incident,
    policy: &Policy,
) -> Draft {
    if !alarm.alarm_name.starts_with(&policy.idle_alarm_prefix) {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!(
                "{why}, but only an alarm named {prefix}… may stop an instance (FIREBREAK_IDLE_ALARM_PREFIX): anyone \
                 allowed cloudwatch:PutMetricAlarm could have made this one; nothing is stopped",
                prefix = policy.idle_alarm_prefix
            ),
        );
    }
    if incident.origin.account.is_none() || incident.origin.region.is_none() {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!("{why}, but the account or region is unknown: Firebreak does not act on a guess"),
        );
    }
    Draft {
        decision: Decision::StopIdle,
        severity: SeverityLabel::Low,
        summary,
        reasons: vec![why],
        actions: vec![
            step(Step::StopInstance { instance_id }, "idle instance: stop it to save cost"),
            step(Step::Notify, "tell a person which instance was stopped and why"),
        ],
        rule: None,
    }
}

/// Why this alarm counts as an idle alarm, or `None`.
fn idle_reason(alarm: &CloudWatchAlarm, policy: &Policy) -> Option<String> {
    if alarm.composite {
        return None;
    }
    if let Some(pattern) = &policy.idle_alarm_pattern {
        if glob_matches(pattern, &alarm.alarm_name) {
            return Some(format!("alarm name matches the idle pattern {pattern:?}"));
        }
    }
    if alarm.less_than != Some(true) || alarm.instance_dimensions().is_empty() {
        return None;
    }
    let names: Vec<&str> = alarm.metrics.iter().filter_map(|m| m.name.as_deref()).collect();
    let all_activity = !names.is_empty() && names.iter().all(|n| policy.idle_metrics.iter().any(|m| m == n));
    all_activity.then(|| format!("a less-than alarm on activity metric(s) {} of an instance", names.join(", ")))
}

/// One contributor (time series) of a Metrics Insights alarm changed state: an idle instance's
/// contributor going to ALARM is stopped with every judgement of the single-instance path; any other
/// contributor is notified with its attributes.
fn contributor_decision(
    alarm: &CloudWatchAlarm,
    contributor: &AlarmContributor,
    query: Option<&Query>,
    metric: &str,
    incident: &Incident,
    policy: &Policy,
) -> Draft {
    let attributes: Vec<String> = contributor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let summary = format!(
        "Alarm {} contributor {} is {} ({metric})",
        alarm.alarm_name,
        attributes.join(", "),
        alarm.state.as_str()
    );
    match alarm.state {
        AlarmState::Alarm => {}
        AlarmState::Ok if policy.notify_resolved => {
            return Draft::notify(
                SeverityLabel::Info,
                summary,
                "the contributor is back to OK: notified as resolved".into(),
            )
        }
        _ => {
            return Draft::ignore(
                SeverityLabel::Info,
                summary,
                "a contributor back to OK is not acted on (FIREBREAK_NOTIFY_RESOLVED is off)".into(),
            )
        }
    }
    if let Some(why) = &alarm.suppressed {
        return held_by_cloudwatch(summary, why);
    }
    let pattern = policy.idle_alarm_pattern.as_ref().filter(|p| glob_matches(p, &alarm.alarm_name));
    let activity = query.filter(|q| policy.idle_metrics.contains(&q.metric));
    let why_idle = match (pattern, activity) {
        (Some(p), _) => Some(format!("alarm name matches the idle pattern {p:?}")),
        (None, Some(q)) if alarm.less_than == Some(true) => Some(format!(
            "a less-than Metrics Insights alarm on activity metric {} per {}",
            q.metric,
            q.group_by.join(", ")
        )),
        _ => None,
    };
    let Some(why_idle) = why_idle else {
        return Draft::notify(
            SeverityLabel::Medium,
            summary,
            "a contributor of an alarm other than an idle alarm went to ALARM: a sign of attack or exhaustion for a \
             person to judge"
                .into(),
        );
    };
    let Some(instance_id) = contributor.attribute("InstanceId").and_then(InstanceId::parse) else {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!("{why_idle}, but the contributor has no well-formed InstanceId attribute: nothing to stop"),
        );
    };
    idle_stop(
        summary,
        format!("{why_idle}: stop the contributor's instance {instance_id}"),
        instance_id,
        alarm,
        incident,
        policy,
    )
}
