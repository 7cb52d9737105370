//! Lambda entry point: wires logging, typed configuration and the shared handler.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    firebreak::decision_log::init_logging("info");
    let config = firebreak::Config::from_env()?;
    let config = &config;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| firebreak::lambda::plan_event(event, config))).await
}
