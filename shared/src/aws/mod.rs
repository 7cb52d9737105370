//! The AWS adapters: the only modules that import `aws_sdk_*`. Each implements one port.

mod dynamodb;
mod ec2;
mod error;
mod fleet;
mod guardduty;
mod invoke;
mod lazy;
mod sdk;
mod secrets;
mod securityhub;
mod sns;
mod targets;

pub use crate::text::percent_decode;
pub use dynamodb::DynamoStateStore;
pub use ec2::Ec2Compute;
pub use fleet::AwsFleet;
pub use invoke::LambdaContainments;
pub use sdk::{
    aws_smithy_runtime_api_shim, compute_and_fleet, http_client, load_sdk_config, load_sdk_config_for, retry_config,
    timeout_config,
};
pub use secrets::{approval_signer, state_sealer};
pub use sns::SnsNotifier;
pub use targets::AwsTargets;
