//! CloudWatch alarms in their three delivery forms: EventBridge state change, Lambda alarm action,
//! and the classic notification SNS carries. All three become the same [`CloudWatchAlarm`].

use super::envelope::{envelope_origin, field, typed};
use crate::error::{Error, Result};
use crate::incident::{
    AlarmContributor, AlarmDelivery, AlarmState, CloudWatchAlarm, Incident, IncidentKind, MetricRef, Origin,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The camelCase alarm body shared by EventBridge (`detail`) and the alarm action (`alarmData`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmBody {
    alarm_name: String,
    state: StateBody,
    #[serde(default)]
    previous_state: Option<StateBody>,
    #[serde(default)]
    configuration: Option<Configuration>,
    /// Present while an alarm mute rule silences the alarm's actions.
    #[serde(default)]
    mute_detail: Option<Value>,
    /// Only in `CloudWatch Alarm Contributor State Change` events.
    #[serde(default)]
    alarm_contributor: Option<ContributorBody>,
}

#[derive(Deserialize)]
struct ContributorBody {
    id: String,
    #[serde(default)]
    attributes: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateBody {
    value: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    reason_data: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    /// `Alarm`, `WaitPeriod` or `ExtensionPeriod` when a composite alarm's suppressor holds its actions.
    #[serde(default)]
    actions_suppressed_by: Option<String>,
    #[serde(default)]
    actions_suppressed_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricQuery>,
    #[serde(default)]
    alarm_rule: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricQuery {
    #[serde(default)]
    metric_stat: Option<MetricStat>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct MetricStat {
    metric: Metric,
}

#[derive(Deserialize)]
struct Metric {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dimensions: Map<String, Value>,
}

#[derive(Deserialize)]
struct EventBridgeAlarm {
    id: Option<String>,
    account: Option<String>,
    region: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(alias = "alarmData")]
    detail: AlarmBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmAction {
    alarm_arn: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    alarm_data: AlarmBody,
}

pub(super) fn parse_eventbridge(value: Value, prefix: &str) -> Result<Incident> {
    // The aws-lambda-rust-runtime fixture puts the body under `alarmData`; accept either.
    let body_field = if value.get("detail").is_some() { "detail" } else { "alarmData" };
    let event: EventBridgeAlarm = typed(value, prefix)?;
    let arn = event.resources.iter().find(|r| r.contains(":alarm:")).map(|a| clean_arn(a));
    let origin = arn_origin(arn.as_deref()).or(envelope_origin(event.account.as_deref(), event.region.as_deref()));
    let alarm = from_body(event.detail, arn, AlarmDelivery::EventBridge, &field(prefix, body_field))?;
    Ok(Incident { delivery_id: event.id, origin, kind: IncidentKind::Alarm(alarm), event: None, security_hub: None })
}

/// A `CloudWatch Alarm Contributor State Change`: one time series of a multi-time-series alarm.
pub(super) fn parse_contributor(value: Value, prefix: &str) -> Result<Incident> {
    let incident = parse_eventbridge(value, prefix)?;
    match &incident.kind {
        IncidentKind::Alarm(a) if a.contributor.is_some() => Ok(incident),
        _ => Err(Error::refused(field(prefix, "detail.alarmContributor"), "missing for a contributor state change")),
    }
}

pub(super) fn parse_alarm_action(value: Value, prefix: &str) -> Result<Incident> {
    let event: AlarmAction = typed(value, prefix)?;
    let arn = event.alarm_arn.as_deref().map(clean_arn);
    let origin = arn_origin(arn.as_deref()).or(envelope_origin(event.account_id.as_deref(), event.region.as_deref()));
    let alarm = from_body(event.alarm_data, arn, AlarmDelivery::AlarmAction, &field(prefix, "alarmData"))?;
    Ok(Incident { delivery_id: None, origin, kind: IncidentKind::Alarm(alarm), event: None, security_hub: None })
}

fn from_body(body: AlarmBody, arn: Option<String>, delivery: AlarmDelivery, prefix: &str) -> Result<CloudWatchAlarm> {
    let state = parse_state(&body.state.value, &field(prefix, "state.value"))?;
    let previous_state = body.previous_state.as_ref().and_then(|s| AlarmState::parse(&s.value));
    let suppressed = match (&body.state.actions_suppressed_by, &body.mute_detail) {
        (Some(by), _) => {
            Some(body.state.actions_suppressed_reason.clone().unwrap_or_else(|| format!("actions suppressed by {by}")))
        }
        (None, Some(mute)) if !mute.is_null() => Some(format!("muted by an alarm mute rule ({mute})")),
        _ => None,
    };
    let reason = body.state.reason.unwrap_or_default();
    let reason_data = ReasonData::parse(body.state.reason_data.as_deref());
    let configuration = body.configuration.unwrap_or_default();
    let expressions = configuration.metrics.iter().filter_map(|q| q.expression.clone()).collect();
    let contributor = body.alarm_contributor.map(|c| AlarmContributor {
        id: c.id,
        attributes: c
            .attributes
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect(),
    });
    let metrics = configuration
        .metrics
        .into_iter()
        .filter_map(|q| q.metric_stat)
        .map(|s| MetricRef {
            namespace: s.metric.namespace,
            name: s.metric.name,
            dimensions: s
                .metric
                .dimensions
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
        })
        .collect();
    Ok(CloudWatchAlarm {
        alarm_name: body.alarm_name,
        alarm_arn: arn,
        delivery,
        state,
        previous_state,
        less_than: comparison_from_reason(&reason),
        reason,
        state_timestamp: normalise_timestamp(body.state.timestamp.as_deref().unwrap_or_default()),
        description: configuration.description,
        threshold: reason_data.threshold,
        recent_datapoints: reason_data.recent_datapoints,
        metrics,
        composite: configuration.alarm_rule.is_some(),
        triggering_alarms: reason_data.triggering_alarms,
        suppressed,
        contributor,
        expressions,
    })
}

/// The classic notification (PascalCase) that CloudWatch publishes to SNS.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClassicNotification {
    alarm_name: String,
    #[serde(default)]
    alarm_description: Option<String>,
    #[serde(rename = "AWSAccountId", default, deserialize_with = "super::lenient::text")]
    account_id: Option<String>,
    new_state_value: String,
    #[serde(default)]
    new_state_reason: Option<String>,
    #[serde(default)]
    state_change_time: Option<String>,
    #[serde(default)]
    alarm_arn: Option<String>,
    #[serde(default)]
    old_state_value: Option<String>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    alarm_rule: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Trigger {
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    dimensions: Vec<ClassicDimension>,
    #[serde(default)]
    comparison_operator: Option<String>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    metrics: Vec<ClassicMetricQuery>,
}

#[derive(Deserialize)]
struct ClassicDimension {
    #[serde(alias = "Name")]
    name: String,
    #[serde(alias = "Value")]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClassicMetricQuery {
    #[serde(default)]
    metric_stat: Option<ClassicMetricStat>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClassicMetricStat {
    metric: ClassicMetric,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClassicMetric {
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    dimensions: Vec<ClassicDimension>,
}

pub(super) fn parse_classic(value: Value, delivery_id: Option<String>, prefix: &str) -> Result<Incident> {
    let note: ClassicNotification = typed(value, prefix)?;
    let state = parse_state(&note.new_state_value, &field(prefix, "NewStateValue"))?;
    let arn = note.alarm_arn.as_deref().map(clean_arn);
    // `Region` here is a display name ("Asia Pacific (Seoul)"): the ARN is the only reliable source.
    let origin = arn_origin(arn.as_deref()).or(envelope_origin(note.account_id.as_deref(), None));
    let trigger = note.trigger.unwrap_or_default();
    let pair = |d: ClassicDimension| (d.name, d.value);
    let mut metrics = Vec::new();
    if trigger.metric_name.is_some() {
        metrics.push(MetricRef {
            namespace: trigger.namespace.clone(),
            name: trigger.metric_name.clone(),
            dimensions: trigger.dimensions.into_iter().map(pair).collect(),
        });
    }
    let trigger_expressions: Vec<String> = trigger.metrics.iter().filter_map(|q| q.expression.clone()).collect();
    metrics.extend(trigger.metrics.into_iter().filter_map(|q| q.metric_stat).map(|s| MetricRef {
        namespace: s.metric.namespace,
        name: s.metric.metric_name,
        dimensions: s.metric.dimensions.into_iter().map(pair).collect(),
    }));
    let reason = note.new_state_reason.unwrap_or_default();
    let less_than = match trigger.comparison_operator.as_deref() {
        Some("LessThanThreshold" | "LessThanOrEqualToThreshold") => Some(true),
        Some(_) => Some(false),
        None => comparison_from_reason(&reason),
    };
    let alarm = CloudWatchAlarm {
        alarm_name: note.alarm_name,
        alarm_arn: arn,
        delivery: AlarmDelivery::Sns,
        state,
        previous_state: note.old_state_value.as_deref().and_then(AlarmState::parse),
        recent_datapoints: datapoints_from_reason(&reason),
        less_than,
        reason,
        state_timestamp: normalise_timestamp(note.state_change_time.as_deref().unwrap_or_default()),
        description: note.alarm_description,
        threshold: trigger.threshold,
        metrics,
        composite: note.alarm_rule.is_some(),
        triggering_alarms: Vec::new(),
        // The classic notification is only sent when actions run: never suppressed.
        suppressed: None,
        contributor: None,
        expressions: trigger_expressions,
    };
    Ok(Incident { delivery_id, origin, kind: IncidentKind::Alarm(alarm), event: None, security_hub: None })
}

fn parse_state(raw: &str, at: &str) -> Result<AlarmState> {
    AlarmState::parse(raw).ok_or_else(|| Error::refused(at, format!("{raw:?} is not OK, ALARM or INSUFFICIENT_DATA")))
}

/// Published payloads contain ARNs with stray spaces (`us-east-1: 444455556666`).
fn clean_arn(arn: &str) -> String {
    arn.chars().filter(|c| !c.is_whitespace()).collect()
}

fn normalise_timestamp(ts: &str) -> String {
    ts.chars().filter(|c| !c.is_whitespace()).collect()
}

fn arn_origin(arn: Option<&str>) -> Origin {
    let mut parts = arn.unwrap_or_default().split(':');
    let (region, account) = (parts.nth(3), parts.next());
    envelope_origin(account, region)
}

impl Origin {
    /// Each part from `self` when known, else from `fallback`.
    fn or(self, fallback: Origin) -> Origin {
        Origin { account: self.account.or(fallback.account), region: self.region.or(fallback.region) }
    }
}

/// The EventBridge and alarm-action forms carry no comparison operator; CloudWatch's state reason
/// does ("… was less than the threshold …", "… less than or equal to the threshold …").
fn comparison_from_reason(reason: &str) -> Option<bool> {
    let reason = reason.to_ascii_lowercase();
    if reason.contains("was not less than") || reason.contains("was not greater than") {
        None
    } else if reason.contains("less than the threshold") || reason.contains("less than or equal to the threshold") {
        Some(true)
    } else if reason.contains("greater than the threshold") || reason.contains("greater than or equal to the threshold")
    {
        Some(false)
    } else {
        None
    }
}

/// "… datapoints [1234.0 (06/03/15 17:43:27), 5.0 (…)] was …" → [1234.0, 5.0]
fn datapoints_from_reason(reason: &str) -> Vec<f64> {
    let Some(start) = reason.find('[') else { return Vec::new() };
    let Some(len) = reason[start..].find(']') else { return Vec::new() };
    reason[start + 1..start + len].split(',').filter_map(|item| item.split_whitespace().next()?.parse().ok()).collect()
}

#[derive(Default)]
struct ReasonData {
    threshold: Option<f64>,
    recent_datapoints: Vec<f64>,
    triggering_alarms: Vec<String>,
}

impl ReasonData {
    /// `reasonData` is a JSON document inside a string; a malformed one loses detail, not the alarm.
    fn parse(raw: Option<&str>) -> Self {
        let Some(value) = raw.and_then(|r| serde_json::from_str::<Value>(r).ok()) else { return Self::default() };
        Self {
            threshold: value.get("threshold").and_then(Value::as_f64),
            recent_datapoints: value
                .get("recentDatapoints")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
            triggering_alarms: value
                .get("triggeringAlarms")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|t| t.get("arn")?.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_read_from_the_state_reason() {
        assert_eq!(
            comparison_from_reason("1 out of the last 1 datapoints [0.5] was less than the threshold (2.0)"),
            Some(true)
        );
        assert_eq!(comparison_from_reason("[99.5] was greater than the threshold (50.0)"), Some(false));
        assert_eq!(comparison_from_reason("was not greater than the threshold (50.0)"), None);
        assert_eq!(comparison_from_reason("test"), None);
    }

    #[test]
    fn datapoints_are_read_from_a_classic_reason() {
        let reason = "Threshold Crossed: 2 out of the last 2 datapoints [1234.0 (06/03/15 17:43:27), 5.5 (06/03/15 17:42:27)] was greater";
        assert_eq!(datapoints_from_reason(reason), vec![1234.0, 5.5]);
    }

    #[test]
    fn arn_with_stray_spaces_still_yields_account_and_region() {
        let origin = arn_origin(Some(&clean_arn("arn:aws:cloudwatch:us-east-1: 444455556666:alarm:x")));
        assert_eq!(origin.account.map(|a| a.to_string()).as_deref(), Some("444455556666"));
        assert_eq!(origin.region.map(|r| r.to_string()).as_deref(), Some("us-east-1"));
    }
}
