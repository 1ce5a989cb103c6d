//! This binary runs the event-publisher function on its own, for `cargo lambda watch`, while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_event_publisher::lambda::run().await
}
