//! The AWS SDK clients share a configuration with timeouts and leave room for interceptors, which
//! tests use to count requests against the round-trip budgets and to inject faults.

use std::ops::Deref;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
pub use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

/// These timeouts apply to every AWS call, so that a webhook answers 503 rather than hang past
/// Ralio's 60 s.
#[derive(Debug, Clone, Copy)]
pub struct AwsTimeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl AwsTimeouts {
    /// Suits an emulator on a busy machine (moto is one Python thread). The limits stand only
    /// between a test and a hang, never between a slow answer and its test.
    pub fn emulator() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(60),
            operation: Duration::from_secs(120),
        }
    }
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

/// Loads the standard AWS configuration (environment, profile, role) with timeouts.
/// `AWS_ENDPOINT_URL` points it at an emulator.
pub async fn load_config(timeouts: AwsTimeouts) -> SdkConfig {
    loader(timeouts).load().await
}

/// Does the same inside Lambda, where everything comes from the environment because the runtime
/// sets the region and the role's credentials as variables. No profile file is looked for, and no
/// provider chain is built for the region or the credentials.
pub async fn load_lambda_config(timeouts: AwsTimeouts) -> SdkConfig {
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
    let none = EnvConfigFiles::builder()
        .include_default_config_file(false)
        .include_default_credentials_file(false)
        .with_contents(EnvConfigFileKind::Config, "")
        .build();
    loader(timeouts)
        .profile_files(none)
        .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
        .load()
        .await
}

fn loader(timeouts: AwsTimeouts) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
}

/// This SDK client is built when it is first used. Building one parses its SDK crate's endpoint
/// partition table (JSON and regexes, once per crate), which a function's INIT need not do for a
/// client that its first request may not use (the webhook's secret client, account-gate's Ralio
/// credentials on a KYC read). With `PRIME_CONNECTIONS`, the priming request builds it during INIT
/// anyway.
pub struct OnFirstUse<C>(Arc<LazyLock<C, Box<dyn FnOnce() -> C + Send>>>);

impl<C> OnFirstUse<C> {
    pub fn new(build: impl FnOnce() -> C + Send + 'static) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(build))))
    }
}

impl<C> Clone for OnFirstUse<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> Deref for OnFirstUse<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> std::fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<C>())
    }
}

macro_rules! already_built {
    ($($client:ty),*) => {$(
        impl From<$client> for OnFirstUse<$client> {
            fn from(client: $client) -> Self {
                Self::new(move || client)
            }
        }
    )*};
}
already_built!(
    aws_sdk_dynamodb::Client,
    aws_sdk_sqs::Client,
    aws_sdk_secretsmanager::Client,
    aws_sdk_eventbridge::Client
);

/// Builds a DynamoDB client with extra interceptors, so tests can count or fault its requests.
pub fn dynamodb_client(
    config: &SdkConfig,
    interceptors: &[SharedInterceptor],
) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
    for interceptor in interceptors {
        builder.push_interceptor(interceptor.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// Builds an SQS client with extra interceptors.
pub fn sqs_client(config: &SdkConfig, interceptors: &[SharedInterceptor]) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(config);
    for interceptor in interceptors {
        builder.push_interceptor(interceptor.clone());
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// Builds a Secrets Manager client with extra interceptors.
pub fn secrets_client(
    config: &SdkConfig,
    interceptors: &[SharedInterceptor],
) -> aws_sdk_secretsmanager::Client {
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(config);
    for interceptor in interceptors {
        builder.push_interceptor(interceptor.clone());
    }
    aws_sdk_secretsmanager::Client::from_conf(builder.build())
}

/// Builds an EventBridge client with extra interceptors.
pub fn eventbridge_client(
    config: &SdkConfig,
    interceptors: &[SharedInterceptor],
) -> aws_sdk_eventbridge::Client {
    let mut builder = aws_sdk_eventbridge::config::Builder::from(config);
    for interceptor in interceptors {
        builder.push_interceptor(interceptor.clone());
    }
    aws_sdk_eventbridge::Client::from_conf(builder.build())
}

/// Builds a DynamoDB Streams client with extra interceptors, for the local runner and tests.
#[cfg(feature = "stream-reader")]
pub fn dynamodb_streams_client(
    config: &SdkConfig,
    interceptors: &[SharedInterceptor],
) -> aws_sdk_dynamodbstreams::Client {
    let mut builder = aws_sdk_dynamodbstreams::config::Builder::from(config);
    for interceptor in interceptors {
        builder.push_interceptor(interceptor.clone());
    }
    aws_sdk_dynamodbstreams::Client::from_conf(builder.build())
}
