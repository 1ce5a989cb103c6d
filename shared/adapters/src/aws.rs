//! AWS SDK clients: shared configuration with timeouts, and a request counter that tests use
//! to hold the round-trip budgets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Timeouts for every AWS call. A webhook answers 503 rather than hang past Ralio's 60 s.
#[derive(Debug, Clone, Copy)]
pub struct AwsTimeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(8),
        }
    }
}

/// Loads the standard AWS configuration (environment, profile, role), with timeouts.
/// `AWS_ENDPOINT_URL` points it at an emulator.
pub async fn load_config(timeouts: AwsTimeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
        .load()
        .await
}

/// A DynamoDB client, optionally counting its requests.
pub fn dynamodb_client(
    config: &SdkConfig,
    counter: Option<RequestCounter>,
) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
    if let Some(counter) = counter {
        builder = builder.interceptor(counter);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// An SQS client, optionally counting its requests.
pub fn sqs_client(config: &SdkConfig, counter: Option<RequestCounter>) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(config);
    if let Some(counter) = counter {
        builder = builder.interceptor(counter);
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// Records every request an SDK client transmits (retries included), by operation.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    sent: Arc<Mutex<Vec<String>>>,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Operations sent so far, in order (for example `TransactWriteItems`).
    pub fn operations(&self) -> Vec<String> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.sent.lock().map(|v| v.len()).unwrap_or_default()
    }

    /// Forgets what was counted, to measure the next step alone.
    pub fn reset(&self) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.clear();
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // JSON-protocol services name the operation in X-Amz-Target ("DynamoDB_20120810.Query").
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(target);
        }
        Ok(())
    }
}
