//! This module runs the account gate in the Lambda runtime for both binaries in `functions/lambda`:
//! `idv-lambda`, which all six functions ship, and `account-gate`, for `cargo lambda watch`.

use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;

/// Reads the configuration, then answers invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_http::Error> {
    let gate = crate::AccountGate::from_env(&Wiring::load(&ProcessEnv).await).await?;
    lambda_http::run(crate::router(gate)).await
}
