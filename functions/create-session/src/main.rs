//! The create-session Lambda on its own (cargo lambda watch, make bench); deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    idv_adapters::telemetry::init();
    idv_create_session::lambda::run().await
}
