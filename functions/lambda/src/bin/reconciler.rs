//! This binary runs the reconciler function on its own, for `cargo lambda watch`, while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_reconciler::lambda::run().await
}
