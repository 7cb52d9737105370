//! Lambda entry point: the shared responder's life (logging, typed configuration, clients from one
//! SdkConfig, the handler) as the alarm-responder.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak::lambda::serve(firebreak::Function::AlarmResponder).await
}
