//! The account-gate Lambda: wiring only. Logic lives in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    idv_adapters::telemetry::init();
    let gate = idv_account_gate::AccountGate::from_env().await?;
    lambda_http::run(idv_account_gate::router(gate)).await
}
