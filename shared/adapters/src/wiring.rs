//! Building a function's parts from its environment, once, at start: the store, the queue,
//! the Ralio client, the webhook secrets and the expiry schedule. A missing or bad variable
//! fails here with its name, never on the first request.
//!
//! Every function's `from_env` goes through [`Wiring`]; tests build one on the emulator with
//! their own interceptors, so they start a function exactly as Lambda does.

use std::sync::Arc;

use aws_config::SdkConfig;
use idv_model::ExpirySchedule;

use crate::aws::{
    AwsTimeouts, SharedInterceptor, dynamodb_client, eventbridge_client, load_config,
    secrets_client, sqs_client,
};
use crate::config::{ConfigError, Env, expiry_schedule, ralio_config};
use crate::expiry::ExpiryScheduler;
use crate::publish::EventBridgeSink;
use crate::queue::{SqsQueue, SqsVisibility};
use crate::ralio::{CredentialSource, RalioClient, RalioCredentials};
use crate::secrets::{
    RalioSecret, SECRET_ARN_VAR, SecretsManagerWebhookSecrets, SigningKeys, WEBHOOK_SECRET_ARN_VAR,
    WebhookSecretSource, in_lambda, load_ralio_secret, webhook_secrets_from_env,
};
use crate::store::DynamoStore;

/// The environment of one function and the AWS configuration its clients share.
pub struct Wiring<'e, E: Env> {
    env: &'e E,
    aws: SdkConfig,
    interceptors: Vec<SharedInterceptor>,
}

impl<'e, E: Env> Wiring<'e, E> {
    /// The standard AWS configuration (role, region; `AWS_ENDPOINT_URL` for an emulator).
    pub async fn load(env: &'e E) -> Self {
        Self::with_config(env, load_config(AwsTimeouts::default()).await, Vec::new())
    }

    /// A given AWS configuration, with interceptors on every client (tests).
    pub fn with_config(env: &'e E, aws: SdkConfig, interceptors: Vec<SharedInterceptor>) -> Self {
        Self {
            env,
            aws,
            interceptors,
        }
    }

    pub fn env(&self) -> &E {
        self.env
    }

    /// The DynamoDB store on `TABLE_NAME`.
    pub fn store(&self) -> Result<Arc<DynamoStore>, ConfigError> {
        let table = self.env.required("TABLE_NAME", "the DynamoDB table name")?;
        let client = dynamodb_client(&self.aws, &self.interceptors);
        Ok(Arc::new(DynamoStore::new(client, table)))
    }

    /// The service's EventBridge bus, `EVENT_BUS_NAME`.
    pub fn event_sink(&self) -> Result<Arc<EventBridgeSink>, ConfigError> {
        let bus = self
            .env
            .required("EVENT_BUS_NAME", "the EventBridge bus domain events go to")?;
        let client = eventbridge_client(&self.aws, &self.interceptors);
        Ok(Arc::new(EventBridgeSink::new(client, bus)))
    }

    fn queue_url(&self) -> Result<String, ConfigError> {
        self.env
            .required("QUEUE_URL", "the SQS expiry tick queue URL")
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        sqs_client(&self.aws, &self.interceptors)
    }

    /// The expiry tick queue at `QUEUE_URL`.
    pub fn queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        Ok(Arc::new(SqsQueue::new(self.sqs(), self.queue_url()?)))
    }

    /// Message visibility on the tick queue at `QUEUE_URL`.
    pub fn visibility(&self) -> Result<Arc<SqsVisibility>, ConfigError> {
        Ok(Arc::new(SqsVisibility::new(self.sqs(), self.queue_url()?)))
    }

    /// `EXPIRY_WARNING_LEAD`, `EXPIRY_GRACE`, `EXPIRY_BUCKET`.
    pub fn expiry_schedule(&self) -> Result<ExpirySchedule, ConfigError> {
        expiry_schedule(self.env)
    }

    /// Ticks for `store`'s sessions on the queue, on the configured schedule.
    pub fn scheduler(&self, store: Arc<DynamoStore>) -> Result<Arc<ExpiryScheduler>, ConfigError> {
        Ok(Arc::new(ExpiryScheduler::new(
            store,
            self.queue()?,
            self.expiry_schedule()?,
        )))
    }

    /// The Secrets Manager secret named by `RALIO_SECRET_ARN`, if set.
    async fn ralio_secret(&self) -> Result<Option<RalioSecret>, ConfigError> {
        load_ralio_secret(self.env, || secrets_client(&self.aws, &self.interceptors)).await
    }

    /// The Ralio client: `RALIO_BASE_URL` and credentials from the environment or the secret.
    /// Credentials from the secret are read again once when Ralio refuses them (a rotated key).
    pub async fn ralio(&self) -> Result<Arc<RalioClient>, ConfigError> {
        let secret = self.ralio_secret().await?;
        let config = ralio_config(self.env, secret.as_ref())?;
        let from_env = self.env.value("RALIO_API_CODE").is_some();
        let source: Option<Arc<dyn CredentialSource>> = match self.env.value(SECRET_ARN_VAR) {
            Some(arn) if !from_env => Some(Arc::new(SecretCredentials {
                arn,
                client: secrets_client(&self.aws, &self.interceptors),
            })),
            _ => None,
        };
        let client =
            RalioClient::with_source(config, source).map_err(|e| ConfigError::Invalid {
                name: "RALIO_BASE_URL",
                reason: e.to_string(),
            })?;
        Ok(Arc::new(client))
    }

    /// The webhook's signing secrets: the secret named by `WEBHOOK_SECRET_ARN`, read again
    /// after a signature mismatch; or `WEBHOOK_SECRETS` outside Lambda.
    pub async fn signing_keys(&self) -> Result<SigningKeys, ConfigError> {
        if let Some(secrets) = webhook_secrets_from_env(self.env)? {
            return Ok(SigningKeys::fixed(secrets));
        }
        let arn = self.env.required(
            WEBHOOK_SECRET_ARN_VAR,
            "the Secrets Manager secret holding webhook_secrets (WEBHOOK_SECRETS outside Lambda)",
        )?;
        let source = Arc::new(SecretsManagerWebhookSecrets {
            arn,
            client: secrets_client(&self.aws, &self.interceptors),
            lambda: in_lambda(self.env),
        });
        let secrets = source.webhook_secrets().await?;
        Ok(SigningKeys::from_source(secrets, source))
    }
}

/// Ralio's credentials, read again from the Secrets Manager secret.
struct SecretCredentials {
    arn: String,
    client: aws_sdk_secretsmanager::Client,
}

#[async_trait::async_trait]
impl CredentialSource for SecretCredentials {
    async fn credentials(&self) -> Result<RalioCredentials, String> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
        let secret = RalioSecret::parse(output.secret_string().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        match (secret.api_code, secret.api_key) {
            (Some(api_code), Some(api_key)) => Ok(RalioCredentials { api_code, api_key }),
            _ => Err("the secret has no api_code and api_key".into()),
        }
    }
}
