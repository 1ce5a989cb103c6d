//! This binary runs the webhook Lambda on its own (cargo lambda watch, make bench), while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    idv_adapters::telemetry::init();
    idv_webhook::lambda::run().await
}
