//! The expiry-watcher Lambda: wiring only. Logic lives in the library.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    let watcher = idv_expiry_watcher::SqsWatcher::from_env().await?;
    let watcher = &watcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(watcher.handle(event.payload).await)
    }))
    .await
}
