//! This is the binary every function deploys (`make build`), and `_HANDLER` picks the function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    idv_adapters::telemetry::init();
    idv_lambda::run(std::env::var("_HANDLER").ok().as_deref()).await
}
