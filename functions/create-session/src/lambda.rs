//! This module runs create-session in the Lambda runtime for both binaries in `functions/lambda`:
//! `idv-lambda`, which all six functions ship, and `create-session`, for `cargo lambda watch`.

use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;

/// Reads the configuration, then answers invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_http::Error> {
    let app = crate::CreateSession::from_env(&Wiring::load(&ProcessEnv).await).await?;
    lambda_http::run(crate::router(app)).await
}
