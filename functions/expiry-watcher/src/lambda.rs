//! This module runs the expiry watcher in the Lambda runtime for both binaries in
//! `functions/lambda`: `idv-lambda`, which all six functions ship, and `expiry-watcher`, for `cargo
//! lambda watch`.

use aws_lambda_events::sqs::SqsEvent;
use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;
use lambda_runtime::{LambdaEvent, service_fn};

/// Reads the configuration, then handles tick batches until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let watcher = crate::Watcher::from_env(&Wiring::load(&ProcessEnv).await).await?;
    let watcher = &watcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(watcher.handle(event.payload).await)
    }))
    .await
}
