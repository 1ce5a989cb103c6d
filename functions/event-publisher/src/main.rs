//! This binary runs the event-publisher Lambda on its own (cargo lambda watch, make bench), while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_event_publisher::lambda::run().await
}
