//! This binary runs the account-gate function on its own, for `cargo lambda watch`, while
//! deployments ship `idv-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_account_gate::lambda::run().await
}
