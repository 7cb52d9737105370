//! Alarm policy: stop instances that sit idle, notify on every other alarm (attack, exhaustion).

use super::{glob_matches, step, Draft, Policy};
use crate::incident::{AlarmState, CloudWatchAlarm, Incident, InstanceId, SeverityLabel};
use crate::plan::{Decision, Step};

pub(super) fn decide(alarm: &CloudWatchAlarm, incident: &Incident, policy: &Policy) -> Draft {
    let metric = alarm.metrics.first().and_then(|m| m.name.as_deref()).unwrap_or(if alarm.composite {
        "composite"
    } else {
        "metric"
    });
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
    if let Some(why) = &alarm.suppressed {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!(
                "CloudWatch holds this alarm's actions back ({why}): Firebreak does not act on it either, it notifies"
            ),
        );
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
    if incident.origin.account.is_none() || incident.origin.region.is_none() {
        return Draft::notify(
            SeverityLabel::Low,
            summary,
            format!("{why_idle}, but its account or region is unknown: Firebreak does not act on a guess"),
        );
    }
    Draft {
        decision: Decision::StopIdle,
        severity: SeverityLabel::Low,
        summary: format!("{summary} on {instance_id}"),
        reasons: vec![format!("{why_idle}: stop {instance_id}")],
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
