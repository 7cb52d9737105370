//! CloudWatch metrics as Embedded Metric Format records: one JSON line per incident on standard output,
//! from which CloudWatch Logs extracts the metrics (no API call, no permission beyond the logs').
//! Written by hand rather than with `metrics_cloudwatch_embedded`, which aggregates through the
//! `metrics` facade's global recorder per invocation: here each incident (an SNS invocation may carry
//! several) is one record with its own `Kind` and `Decision`. The record is validated against the EMF
//! specification in this module's tests.

use crate::function::Function;
use crate::report::Report;
use serde_json::{json, Map, Value};

/// The metrics' namespace.
pub const NAMESPACE: &str = "Firebreak";

/// Every metric Firebreak emits, a closed set: the dashboard and the alarms may name only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Incidents,
    StepsDone,
    StepsSkipped,
    StepsFailed,
    StepsHeldBack,
    TimeToIsolation,
    TimeToNotification,
    CircuitOpenings,
    FailClosed,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Self::Incidents,
        Self::StepsDone,
        Self::StepsSkipped,
        Self::StepsFailed,
        Self::StepsHeldBack,
        Self::TimeToIsolation,
        Self::TimeToNotification,
        Self::CircuitOpenings,
        Self::FailClosed,
    ];

    /// The metric name in CloudWatch (a contract with the dashboard and alarms).
    pub fn name(self) -> &'static str {
        match self {
            Self::Incidents => "Incidents",
            Self::StepsDone => "StepsDone",
            Self::StepsSkipped => "StepsSkipped",
            Self::StepsFailed => "StepsFailed",
            Self::StepsHeldBack => "StepsHeldBack",
            Self::TimeToIsolation => "TimeToIsolation",
            Self::TimeToNotification => "TimeToNotification",
            Self::CircuitOpenings => "CircuitOpenings",
            Self::FailClosed => "FailClosed",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::TimeToIsolation | Self::TimeToNotification => "Milliseconds",
            _ => "Count",
        }
    }
}

/// The dimension sets of an incident record: per function (what the alarms watch), and per function,
/// kind and decision. Few on purpose: every combination is a billed metric.
pub const INCIDENT_DIMENSIONS: [&[&str]; 2] = [&["Function"], &["Function", "Kind", "Decision"]];
/// The dimension set of a fail-closed record (no incident was decided).
pub const FAIL_CLOSED_DIMENSIONS: [&[&str]; 1] = [&["Function"]];

/// The EMF record of one incident's run.
pub fn incident_record(function: Function, report: &Report, timestamp_ms: u64) -> Value {
    let tally = report.tally();
    let mut values = vec![
        (Metric::Incidents, 1.0),
        (Metric::StepsDone, f64::from(tally.done)),
        (Metric::StepsSkipped, f64::from(tally.skipped)),
        (Metric::StepsFailed, f64::from(tally.failed)),
        (Metric::StepsHeldBack, f64::from(tally.held)),
        (Metric::CircuitOpenings, if report.timings.circuit_opened { 1.0 } else { 0.0 }),
    ];
    if let Some(d) = report.timings.isolated_after {
        values.push((Metric::TimeToIsolation, d.as_millis() as f64));
    }
    if let Some(d) = report.timings.notified_after {
        values.push((Metric::TimeToNotification, d.as_millis() as f64));
    }
    let decision = serde_json::to_value(report.decision).unwrap_or_default();
    let dimensions = [
        ("Function", Value::from(function.name())),
        ("Kind", Value::from(report.kind.as_str())),
        ("Decision", decision),
    ];
    record(&INCIDENT_DIMENSIONS, &dimensions, &values, timestamp_ms)
}

/// The EMF record of a run that failed closed (the state table could not be used).
pub fn fail_closed_record(function: Function, timestamp_ms: u64) -> Value {
    record(
        &FAIL_CLOSED_DIMENSIONS,
        &[("Function", Value::from(function.name()))],
        &[(Metric::FailClosed, 1.0)],
        timestamp_ms,
    )
}

fn record(
    dimension_sets: &[&[&str]],
    dimensions: &[(&str, Value)],
    values: &[(Metric, f64)],
    timestamp_ms: u64,
) -> Value {
    let definitions: Vec<Value> = values.iter().map(|(m, _)| json!({"Name": m.name(), "Unit": m.unit()})).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": dimension_sets, "Metrics": definitions}],
        }),
    );
    for (key, value) in dimensions {
        root.insert((*key).to_owned(), value.clone());
    }
    for (metric, value) in values {
        root.insert(metric.name().to_owned(), json!(value));
    }
    Value::Object(root)
}

/// Where a record goes: one line on standard output, where Lambda's log agent takes it to CloudWatch
/// Logs unwrapped (the JSON log lines go to standard error).
pub fn emit(record: &Value) {
    println!("{record}");
}

/// Why `record` is not valid Embedded Metric Format, per the specification ("Specification: Embedded
/// metric format" in the CloudWatch User Guide), or `None`.
pub fn emf_violation(record: &Value) -> Option<String> {
    check(record).err()
}

fn check(record: &Value) -> Result<(), String> {
    let root = record.as_object().ok_or("not a JSON object")?;
    let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws object")?;
    if !aws.get("Timestamp").is_some_and(|t| t.is_u64()) {
        return Err("_aws.Timestamp must be epoch milliseconds".into());
    }
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
    for directive in directives {
        let namespace = directive.get("Namespace").and_then(Value::as_str).unwrap_or_default();
        if namespace.is_empty() || namespace.len() > 1024 {
            return Err("Namespace must be 1 to 1024 characters".into());
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("no Dimensions array")?;
        for set in sets {
            let keys = set.as_array().ok_or("a dimension set must be an array")?;
            if keys.len() > 30 {
                return Err("a dimension set has at most 30 dimensions".into());
            }
            for key in keys {
                let key = key.as_str().ok_or("a dimension must be a string")?;
                if !root.get(key).is_some_and(Value::is_string) {
                    return Err(format!("dimension {key} must be a string member of the root"));
                }
            }
        }
        let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("no Metrics array")?;
        if metrics.len() > 100 {
            return Err("at most 100 metrics per directive".into());
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).ok_or("a metric needs a Name")?;
            if name.is_empty() || name.len() > 1024 {
                return Err("a metric name must be 1 to 1024 characters".into());
            }
            if !root.get(name).is_some_and(Value::is_number) {
                return Err(format!("metric {name} must be a number member of the root"));
            }
            let unit = metric.get("Unit").and_then(Value::as_str).unwrap_or("None");
            if !EMF_UNITS.contains(&unit) {
                return Err(format!("{unit} is not a CloudWatch unit"));
            }
        }
    }
    Ok(())
}

/// The units `MetricDatum` accepts.
const EMF_UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Decision;
    use crate::report::{Outcome, Timings};
    use std::time::Duration;

    fn report() -> Report {
        let mut report = Report {
            incident_key: "incident#guardduty#123456789012#us-east-1#f".into(),
            kind: crate::incident::Kind::Guardduty,
            decision: Decision::Contain,
            severity: crate::incident::SeverityLabel::High,
            summary: "s".into(),
            reasons: vec!["r".into()],
            actions: Vec::new(),
            approval: None,
            retrying_until: None,
            receipts: Vec::new(),
            timings: Timings {
                isolated_after: Some(Duration::from_millis(1_250)),
                notified_after: Some(Duration::from_millis(1_900)),
                circuit_opened: false,
                held_back: false,
            },
        };
        report.push("isolate_instance", Outcome::done("x"));
        report.push("snapshot_volumes", Outcome::failed(crate::error::Error::Deadline("late".into())));
        report.push(
            "protect_instance",
            Outcome::held_by(crate::report::HeldBy::BlastRadiusCap, "held back: the blast-radius cap"),
        );
        // Worded alike, but no cap held it back: the state table failed closed.
        report.push("tag_instance", Outcome::skipped("held back: the state table is unavailable; failing closed"));
        report.push("notify", Outcome::done("published"));
        report
    }

    #[test]
    fn an_incident_record_is_valid_emf_and_counts_what_happened() {
        let record = incident_record(Function::GuarddutyResponder, &report(), 1_795_503_374_000);
        assert_eq!(emf_violation(&record), None, "{record}");
        assert_eq!(record["Function"], "guardduty-responder");
        assert_eq!(record["Kind"], "guardduty");
        assert_eq!(record["Decision"], "contain");
        assert_eq!((record["StepsDone"].as_f64(), record["StepsFailed"].as_f64()), (Some(1.0), Some(1.0)));
        assert_eq!(record["StepsHeldBack"].as_f64(), Some(1.0), "typed, never read from the words");
        assert_eq!(record["StepsSkipped"].as_f64(), Some(1.0));
        assert_eq!(record["TimeToIsolation"].as_f64(), Some(1_250.0));
        assert_eq!(record["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }

    #[test]
    fn a_run_that_never_isolated_declares_no_time_to_isolation() {
        let mut r = report();
        r.timings.isolated_after = None;
        let record = incident_record(Function::AlarmResponder, &r, 1);
        assert_eq!(emf_violation(&record), None);
        assert!(record.get("TimeToIsolation").is_none());
        let declared = record["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(!declared.contains("TimeToIsolation"), "a declared metric must be present: {declared}");
    }

    #[test]
    fn the_validator_rejects_what_the_specification_rejects() {
        let good = fail_closed_record(Function::CloudtrailResponder, 5);
        assert_eq!(emf_violation(&good), None);
        let mut missing = good.clone();
        missing.as_object_mut().expect("object").remove("FailClosed");
        assert!(emf_violation(&missing).is_some());
        let mut no_dimension = good.clone();
        no_dimension.as_object_mut().expect("object").remove("Function");
        assert!(emf_violation(&no_dimension).is_some());
        let mut bad_unit = good;
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Widgets");
        assert!(emf_violation(&bad_unit).is_some());
    }
}
