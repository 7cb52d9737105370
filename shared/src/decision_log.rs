//! The structured decision record: one JSON log line per incident, the same data as the plan.

use crate::plan::Plan;

/// Log the decision for `plan` at info level under the `firebreak::decision` target.
pub fn log_decision(plan: &Plan) {
    let actions: Vec<&str> = plan.actions.iter().map(|a| a.step.name()).collect();
    tracing::info!(
        target: "firebreak::decision",
        incident_key = %plan.incident_key,
        kind = plan.kind.as_str(),
        decision = ?plan.decision,
        severity = plan.severity.as_str(),
        summary = %plan.summary,
        rule = plan.rule.unwrap_or(""),
        actions = %actions.join(","),
        reasons = %plan.reasons.join("; "),
        "decision"
    );
}

/// JSON logs on stderr (CloudWatch in Lambda), filtered by `RUST_LOG`, `default_level` otherwise.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// Log what a plan's execution did, one record per incident.
pub fn log_report(report: &crate::report::Report) {
    let outcomes = serde_json::to_string(&report.actions).unwrap_or_default();
    let failed = report.failures().len();
    tracing::info!(target: "firebreak::outcome", incident_key = %report.incident_key, failed, outcomes = %outcomes, "outcome");
}

/// Log what the sweep did with one queued containment (`crate::held`).
pub fn log_sweep(incident_key: &str, outcome: &str) {
    tracing::info!(target: "firebreak::held", incident_key, outcome, "swept");
}
