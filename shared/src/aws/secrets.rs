//! The key that signs approval links, read once at start from Secrets Manager: never from the
//! environment or the template in plain text.

use super::aws_error;
use crate::approval::Signer;
use crate::error::{Error, Result};
use crate::Config;

/// The signer of a deployment that asks for approval (`None` when no rule does); `require_url`: the
/// links must point somewhere (the responders), or may not (the approval function only verifies).
pub async fn approval_signer(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    require_url: bool,
) -> Result<Option<Signer>> {
    let arn = if require_url {
        match config.require_approval()? {
            Some((_, arn)) => arn,
            None => return Ok(None),
        }
    } else {
        config
            .approval_secret_arn
            .as_deref()
            .ok_or_else(|| Error::config("FIREBREAK_APPROVAL_SECRET_ARN", "required by the approval function"))?
    };
    let url = config.approval_url.clone().unwrap_or_default();
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_error("GetSecretValue", e))?;
    let secret = out
        .secret_string()
        .ok_or_else(|| Error::config("FIREBREAK_APPROVAL_SECRET_ARN", format!("{arn} holds no SecretString")))?;
    Signer::new(secret, &url, config.approval_ttl).map(Some)
}
