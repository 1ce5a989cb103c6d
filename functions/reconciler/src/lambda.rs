//! This module runs the reconciler in the Lambda runtime for both binaries in `functions/lambda`:
//! `idv-lambda`, which all six functions ship, and `reconciler`, for `cargo lambda watch`.

use std::time::Duration;

use idv_adapters::config::ProcessEnv;
use idv_adapters::ralio::Deadline;
use idv_adapters::wiring::Wiring;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// The run keeps this much of the invocation's time to record what it did.
const MARGIN: Duration = Duration::from_secs(5);

/// Reads the configuration, then runs one sweep per scheduled event until the runtime stops.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let reconciler = crate::Reconciler::from_env(&Wiring::load(&ProcessEnv).await).await?;
    let reconciler = &reconciler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let deadline = Deadline::after(left.saturating_sub(MARGIN));
        let report = reconciler.run_once(deadline).await?;
        Ok::<_, lambda_runtime::Error>(crate::summary(&report))
    }))
    .await
}
