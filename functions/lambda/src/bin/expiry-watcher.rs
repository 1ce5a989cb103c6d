//! This binary runs the expiry-watcher function on its own, for `cargo lambda watch`, while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_expiry_watcher::lambda::run().await
}
