//! [`Containments`] through AWS Lambda: the approval function invokes the GuardDuty responder, and
//! waits for its report, to run a containment a person approved.

use super::error::aws_error;
use crate::error::{Error, Result};
use crate::ports::Containments;
use aws_sdk_lambda::primitives::Blob;

/// The payload that asks the GuardDuty responder to run an approved containment (see
/// [`crate::approval::APPROVED_PAYLOAD`]).
pub struct LambdaContainments {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaContainments {
    /// `function`: the GuardDuty responder's name or ARN. The client waits as long as a containment
    /// may take (the settle wait, up to ten minutes, and the steps) and does not retry on its own: the
    /// responder's claim and journal make a second request safe, but a person sees one answer.
    pub fn new(sdk: &aws_config::SdkConfig, function: &str) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .operation_timeout(std::time::Duration::from_secs(14 * 60))
            .build();
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self { client: aws_sdk_lambda::Client::from_conf(config), function: function.to_owned() }
    }
}

impl Containments for LambdaContainments {
    async fn contain_approved(&self, key: &str) -> Result<serde_json::Value> {
        let payload = serde_json::json!({ crate::approval::APPROVED_PAYLOAD: key });
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
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
