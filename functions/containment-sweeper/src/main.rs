//! Lambda entry point: logging, typed configuration, clients from one SdkConfig, the shared handler.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    firebreak::decision_log::init_logging("info");
    let config = firebreak::Config::from_env()?;
    let sdk = firebreak::aws::load_sdk_config().await;
    let responder = firebreak::lambda::aws_responder(&sdk, config).await?;
    firebreak::lambda::warm_up(&responder).await;
    let responder = &responder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        firebreak::lambda::respond_event(event, responder, firebreak::Function::ContainmentSweeper)
    }))
    .await
}
