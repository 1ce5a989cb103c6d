//! This module runs the event publisher in the Lambda runtime for both binaries in
//! `functions/lambda`: `idv-lambda`, which all six functions ship, and `event-publisher`, for
//! `cargo lambda watch`.

use aws_lambda_events::event::dynamodb::Event;
use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;
use lambda_runtime::{LambdaEvent, service_fn};

/// Reads the configuration, then publishes stream batches until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let publisher = crate::EventPublisher::from_env(&Wiring::load(&ProcessEnv).await).await?;
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(publisher.handle(event.payload).await)
    }))
    .await
}
