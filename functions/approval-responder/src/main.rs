//! Lambda entry point of the approval function: its URL serves the approval links, its schedule
//! closes the requests nobody answered.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    firebreak::decision_log::init_logging("info");
    let config = firebreak::Config::from_env()?;
    let sdk = firebreak::aws::load_sdk_config().await;
    let (responder, signer, containments) = firebreak::lambda::approval_responder(&sdk, config).await?;
    let (responder, signer, containments) = (&responder, &signer, &containments);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        firebreak::lambda::approval_event(event, responder, signer, containments)
    }))
    .await
}
