//! The key that signs approval links, read once at start from Secrets Manager: never from the
//! environment or the template in plain text.

use super::error::aws_error;
use crate::approval::Signer;
use crate::error::{Error, Result};

/// The signer whose key is the secret `arn`, for links to `url` that work for `ttl`.
pub async fn approval_signer(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    url: &str,
    ttl: std::time::Duration,
) -> Result<Signer> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_error("GetSecretValue", e))?;
    let secret = out
        .secret_string()
        .ok_or_else(|| Error::config("FIREBREAK_APPROVAL_SECRET_ARN", format!("{arn} holds no SecretString")))?;
    Signer::new(secret, url, ttl)
}
