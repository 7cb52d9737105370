//! The Lambda handler every function shares: parse, decide, log the decision record, and (with a
//! responder) execute the plan. Refused input is answered, not retried; transient failures are errors.

use crate::{decide, parse_value, Config, Error, Plan};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};

/// Decide for every incident in the payload and log each decision; returns the plans, or a refusal.
pub async fn plan_event(event: LambdaEvent<Value>, config: &Config) -> Result<Value, Error> {
    match parse_value(event.payload) {
        Ok(incidents) => {
            let plans: Vec<Plan> = incidents.iter().map(|i| decide(i, &config.policy)).collect();
            plans.iter().for_each(crate::decision_log::log_decision);
            Ok(json!({ "plans": plans }))
        }
        Err(e) => refusal(&event.context.request_id, e),
    }
}

/// A refused payload is logged and acknowledged, so Lambda does not retry what cannot succeed.
pub(crate) fn refusal(request_id: &str, error: Error) -> Result<Value, Error> {
    if error.is_retryable() {
        return Err(error);
    }
    tracing::warn!(target: "firebreak::decision", request_id, decision = "refused", error = %error, "refused");
    Ok(json!({ "refused": error.to_string() }))
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::Refused { .. } => "Refused",
            Error::Config { .. } => "Config",
            Error::Aws { .. } => "Aws",
            Error::State(_) => "StateUnavailable",
            Error::ActionsFailed { .. } => "ActionsFailed",
        };
        Diagnostic { error_type: kind.to_owned(), error_message: error.to_string() }
    }
}
