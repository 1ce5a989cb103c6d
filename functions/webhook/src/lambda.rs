//! This module runs the webhook in the Lambda runtime for both binaries in `functions/lambda`:
//! `idv-lambda`, which all six functions ship, and `webhook`, for `cargo lambda watch`.

use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;

/// Reads the configuration, then answers invocations until the runtime stops.
pub async fn run() -> Result<(), lambda_http::Error> {
    let webhook = crate::Webhook::from_env(&Wiring::load(&ProcessEnv).await).await?;
    lambda_http::run(crate::router(webhook)).await
}
