//! Building the SDK's clients: one HTTPS stack, one retry and timeout policy, one shared configuration.

use super::ec2::Ec2Compute;
use super::fleet::AwsFleet;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// One HTTPS stack for every client: rustls with the ring provider.
pub fn http_client() -> aws_smithy_runtime_api_shim::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// Re-export path for the client type without another direct dependency.
pub mod aws_smithy_runtime_api_shim {
    pub use aws_sdk_ec2::config::SharedHttpClient;
}

/// The shared configuration every client is built from, from the standard AWS environment
/// (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`).
pub async fn load_sdk_config() -> SdkConfig {
    load_sdk_config_for(None, None).await
}

/// [`load_sdk_config`], with the command line's `--region` and `--profile` ahead of the environment.
pub async fn load_sdk_config_for(region: Option<String>, profile: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// Standard retry mode (it retries throttling and 5xx with jittered backoff), four attempts in all.
/// During an attack the API throttles; a few quick retries ride that out, and the event-level retry
/// (EventBridge, Lambda) covers anything longer.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(2))
}

/// Each attempt at most 5 s, each operation (all attempts) at most 15 s: a step can never eat the
/// invocation, and [`crate::playbooks::DEADLINE_RESERVE`] always leaves room to notify.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .operation_timeout(std::time::Duration::from_secs(15))
        .build()
}

/// The EC2 and fleet ports of the account and region `sdk` points at.
pub fn compute_and_fleet(sdk: &SdkConfig, dry_run: bool) -> (Ec2Compute, AwsFleet) {
    (Ec2Compute::new(sdk, dry_run), AwsFleet::new(sdk, dry_run))
}

#[cfg(test)]
mod tests {
    use super::super::lazy::offline;
    use super::*;

    #[test]
    fn the_ports_build_no_client_until_a_call_needs_one() {
        let (compute, fleet) = compute_and_fleet(&offline(), false);
        assert_eq!(compute.clients_built(), 0);
        assert_eq!(fleet.clients_built(), 0);
    }
}
