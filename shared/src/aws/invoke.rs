//! [`Containments`] through AWS Lambda: the approval function invokes the function that runs an
//! approved plan (the GuardDuty responder, the alarm responder), and waits for its report; the sweep
//! hands approved idle stops to the alarm responder the same way.

use super::error::aws_error;
use crate::error::{Error, Result};
use crate::incident::Kind;
use crate::ports::{Containments, HandOff};
use aws_sdk_lambda::primitives::Blob;
use futures::future::LocalBoxFuture;

/// Runs approved plans by invoking the function that handles their kind with the payload
/// [`crate::approval::APPROVED_PAYLOAD`]: the GuardDuty responder for findings, the alarm responder for
/// idle stops.
pub struct LambdaContainments {
    client: aws_sdk_lambda::Client,
    functions: Vec<(Kind, String)>,
}

impl LambdaContainments {
    /// `functions`: the name or ARN of the function that runs each kind. The client waits as long as a
    /// containment may take (the settle wait, up to ten minutes, and the steps) and does not retry on its
    /// own: the responder's claim and journal make a second request safe, but a person sees one answer.
    pub fn new(sdk: &aws_config::SdkConfig, functions: Vec<(Kind, String)>) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .operation_timeout(std::time::Duration::from_secs(14 * 60))
            .build();
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self { client: aws_sdk_lambda::Client::from_conf(config), functions }
    }

    fn function_for(&self, key: &str) -> Option<&str> {
        let kind = crate::state_keys::incident_kind(key)?;
        self.functions.iter().find(|(k, _)| *k == kind).map(|(_, f)| f.as_str())
    }

    async fn invoke(&self, function: &str, key: &str) -> Result<serde_json::Value> {
        let payload = serde_json::json!({ crate::approval::APPROVED_PAYLOAD: key });
        let out = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| aws_error("Invoke", e))?;
        let body: serde_json::Value =
            out.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return Err(Error::Aws {
                operation: "Invoke",
                code: Some(kind.to_owned()),
                message: body.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("the responder failed").to_owned(),
                retryable: true,
            });
        }
        // The responder acknowledges what it refuses (nothing approved to run, a policy that no longer
        // contains): nothing ran, which is not a report.
        if let Some(why) = body.get("refused").and_then(|r| r.as_str()) {
            return Err(Error::refused("responder", why.to_owned()));
        }
        Ok(body)
    }
}

impl HandOff for LambdaContainments {
    fn hand_off<'a>(&'a self, key: &'a str) -> Option<LocalBoxFuture<'a, Result<serde_json::Value>>> {
        let function = self.function_for(key)?;
        Some(Box::pin(self.invoke(function, key)))
    }
}

impl Containments for LambdaContainments {
    async fn contain_approved(&self, key: &str) -> Result<serde_json::Value> {
        match self.hand_off(key) {
            Some(run) => run.await,
            None => {
                Err(Error::refused("approval", format!("no function is configured to run the approved plan of {key}")))
            }
        }
    }
}
