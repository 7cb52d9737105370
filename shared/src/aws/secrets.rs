//! The keys that sign approval links and seal trusted records, read once at start from Secrets
//! Manager: never from the environment or the template in plain text.

use super::error::aws_error;
use crate::approval::Signer;
use crate::error::{Error, Result};
use crate::seal::Sealer;

/// The signer whose key is the secret `arn`, for links to `url` that work for `ttl`.
pub async fn approval_signer(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    url: &str,
    ttl: std::time::Duration,
) -> Result<Signer> {
    Signer::new(&secret_string(sdk, arn, "FIREBREAK_APPROVAL_SECRET_ARN").await?, url, ttl)
}

/// The sealer whose key is the secret `arn`.
pub async fn state_sealer(sdk: &aws_config::SdkConfig, arn: &str) -> Result<Sealer> {
    Sealer::new(&secret_string(sdk, arn, "FIREBREAK_STATE_KEY_SECRET_ARN").await?)
}

/// The text of the secret `arn`, named in the configuration by `variable`.
async fn secret_string(sdk: &aws_config::SdkConfig, arn: &str, variable: &str) -> Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_error("GetSecretValue", e))?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| Error::config(variable, format!("{arn} holds no SecretString")))
}
