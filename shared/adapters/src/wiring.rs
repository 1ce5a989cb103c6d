//! Each function builds its parts from its environment once, at start: the store, the queue, the
//! Ralio client, the webhook secrets and the expiry schedule. A missing or bad variable fails here
//! with its name, never on the first request.
//!
//! Every function's `from_env` goes through [`Wiring`]. Tests build one on the emulator with their
//! own interceptors, so they start a function exactly as Lambda does.

use std::sync::Arc;

use aws_config::SdkConfig;
use idv_model::ExpirySchedule;

use crate::aws::{
    AwsTimeouts, OnFirstUse, SharedInterceptor, dynamodb_client, eventbridge_client, load_config,
    load_lambda_config, secrets_client, sqs_client,
};
use crate::config::{ConfigError, Env, expiry_schedule, ralio_config};
use crate::expiry::ExpiryScheduler;
use crate::origin_secret::{ORIGIN_SECRET_ARN_VAR, OriginSecret};
use crate::publish::EventBridgeSink;
use crate::queue::{SqsQueue, SqsVisibility};
use crate::ralio::{CredentialSource, RalioClient, RalioCredentials};
use crate::secrets::{
    RalioSecret, SECRET_ARN_VAR, SecretsManagerOriginSecret, SecretsManagerWebhookSecrets,
    WEBHOOK_SECRET_ARN_VAR, in_lambda, secret_string, webhook_secrets_from_env,
};
use crate::signing_keys::{DEFAULT_SECRET_MAX_AGE, SigningKeys};
use crate::store::DynamoStore;

/// Holds the environment of one function and the AWS configuration that its clients share.
pub struct Wiring<'e, E: Env> {
    env: &'e E,
    aws: SdkConfig,
    interceptors: Vec<SharedInterceptor>,
}

impl<'e, E: Env> Wiring<'e, E> {
    /// Loads the standard AWS configuration (role, region; `AWS_ENDPOINT_URL` for an emulator).
    pub async fn load(env: &'e E) -> Self {
        let aws = if in_lambda(env) {
            load_lambda_config(AwsTimeouts::default()).await
        } else {
            load_config(AwsTimeouts::default()).await
        };
        Self::with_config(env, aws, Vec::new())
    }

    /// Takes a given AWS configuration and puts interceptors on every client, for tests.
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

    /// Returns the DynamoDB store on `TABLE_NAME`.
    pub fn store(&self) -> Result<Arc<DynamoStore>, ConfigError> {
        let table = self.env.required("TABLE_NAME", "the DynamoDB table name")?;
        let retention = crate::config::compliance_retention(self.env)?;
        Ok(Arc::new(
            DynamoStore::new(self.client(dynamodb_client), table).with_retention(retention),
        ))
    }

    /// Returns the service's EventBridge bus, `EVENT_BUS_NAME`.
    pub fn event_sink(&self) -> Result<Arc<EventBridgeSink>, ConfigError> {
        let bus = self
            .env
            .required("EVENT_BUS_NAME", "the EventBridge bus domain events go to")?;
        Ok(Arc::new(EventBridgeSink::new(
            self.client(eventbridge_client),
            bus,
        )))
    }

    fn queue_url(&self) -> Result<String, ConfigError> {
        self.env
            .required("QUEUE_URL", "the SQS expiry tick queue URL")
    }

    /// Returns a client of the shared configuration, built on first use (see [`OnFirstUse`]).
    fn client<C: 'static>(
        &self,
        build: fn(&SdkConfig, &[SharedInterceptor]) -> C,
    ) -> OnFirstUse<C> {
        let (aws, interceptors) = (self.aws.clone(), self.interceptors.clone());
        OnFirstUse::new(move || build(&aws, &interceptors))
    }

    fn sqs(&self) -> OnFirstUse<aws_sdk_sqs::Client> {
        self.client(sqs_client)
    }

    /// Returns the expiry tick queue at `QUEUE_URL`.
    pub fn queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        Ok(Arc::new(SqsQueue::new(self.sqs(), self.queue_url()?)))
    }

    /// Returns message visibility on the tick queue at `QUEUE_URL`.
    pub fn visibility(&self) -> Result<Arc<SqsVisibility>, ConfigError> {
        Ok(Arc::new(SqsVisibility::new(self.sqs(), self.queue_url()?)))
    }

    /// Reads `EXPIRY_WARNING_LEAD`, `EXPIRY_GRACE` and `EXPIRY_BUCKET`.
    pub fn expiry_schedule(&self) -> Result<ExpirySchedule, ConfigError> {
        expiry_schedule(self.env)
    }

    /// Schedules ticks for `store`'s sessions on the queue, on the configured schedule.
    pub fn scheduler(&self, store: Arc<DynamoStore>) -> Result<Arc<ExpiryScheduler>, ConfigError> {
        Ok(Arc::new(ExpiryScheduler::new(
            store,
            self.queue()?,
            self.expiry_schedule()?,
        )))
    }

    /// Returns the Ralio client: `RALIO_BASE_URL`, and credentials from the environment or from the
    /// secret named by `RALIO_SECRET_ARN`, read when first needed and again once when Ralio refuses
    /// them (a rotated key).
    pub fn ralio(&self) -> Result<Arc<RalioClient>, ConfigError> {
        let from_env = self.env.value("RALIO_API_CODE").is_some();
        let source: Option<Arc<dyn CredentialSource>> = match self.env.value(SECRET_ARN_VAR) {
            Some(arn) if !from_env => Some(Arc::new(SecretCredentials {
                arn,
                client: self.client(secrets_client),
            })),
            _ => None,
        };
        let config = ralio_config(self.env, source.is_some())?;
        let client =
            RalioClient::with_source(config, source).map_err(|e| ConfigError::Invalid {
                name: "RALIO_BASE_URL",
                reason: e.to_string(),
            })?;
        Ok(Arc::new(client))
    }

    /// Returns the webhook's signing secrets. They come from the secret named by
    /// `WEBHOOK_SECRET_ARN`, read on the first delivery (or while priming), again once they are
    /// older than `WEBHOOK_SECRET_MAX_AGE` (default 5 min) and after a signature mismatch; outside
    /// Lambda they may come from `WEBHOOK_SECRETS`.
    pub fn signing_keys(&self) -> Result<SigningKeys, ConfigError> {
        if let Some(secrets) = webhook_secrets_from_env(self.env)? {
            return Ok(SigningKeys::fixed(secrets));
        }
        let arn = self.env.required(
            WEBHOOK_SECRET_ARN_VAR,
            "the Secrets Manager secret holding webhook_secrets (WEBHOOK_SECRETS outside Lambda)",
        )?;
        let max_age = self
            .env
            .duration("WEBHOOK_SECRET_MAX_AGE", DEFAULT_SECRET_MAX_AGE)?;
        if max_age.is_zero() {
            return Err(ConfigError::Invalid {
                name: "WEBHOOK_SECRET_MAX_AGE",
                reason: "must be longer than zero (every delivery would read the secret)".into(),
            });
        }
        let keys = SigningKeys::lazy(Arc::new(SecretsManagerWebhookSecrets {
            arn,
            client: self.client(secrets_client),
            lambda: in_lambda(self.env),
        }));
        Ok(keys.max_age(max_age))
    }

    /// Returns the secret the webhook's edge sends in `x-origin-verify`, from the secret named by
    /// `WEBHOOK_ORIGIN_SECRET_ARN`, read on the first request (or while priming) and again after a
    /// mismatch. Without the variable there is no edge and the header is not checked, as in local
    /// runs.
    pub fn origin_secret(&self) -> Result<Option<OriginSecret>, ConfigError> {
        let Some(arn) = self.env.value(ORIGIN_SECRET_ARN_VAR) else {
            return Ok(None);
        };
        // The template always passes the secret's ARN, so anything else is a mistake that would
        // otherwise only show as every delivery refused.
        if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
            return Err(ConfigError::Invalid {
                name: ORIGIN_SECRET_ARN_VAR,
                reason: "must be the ARN of a Secrets Manager secret".into(),
            });
        }
        Ok(Some(OriginSecret::lazy(Arc::new(
            SecretsManagerOriginSecret {
                arn,
                client: self.client(secrets_client),
                lambda: in_lambda(self.env),
            },
        ))))
    }

    /// With `PRIME_CONNECTIONS`, reads the edge's origin secret now, so one that cannot be read or
    /// is empty stops the start, naming the variable.
    pub async fn prime_origin_secret(&self, origin: &OriginSecret) -> Result<(), ConfigError> {
        if self.prime_connections()? {
            match tokio::time::timeout(Self::PRIME_BUDGET, origin.load()).await {
                Ok(loaded) => loaded?,
                Err(_) => tracing::warn!(
                    "reading the edge's origin secret timed out; the first request reads it"
                ),
            }
        }
        Ok(())
    }

    /// Primes what a function was built with, after every part of its configuration was read,
    /// so that a configuration error is reported before any network call: the webhook secrets
    /// first, then Ralio, then the store.
    pub async fn prime(
        &self,
        store: &DynamoStore,
        ralio: Option<&RalioClient>,
        keys: Option<&SigningKeys>,
    ) -> Result<(), ConfigError> {
        if let Some(keys) = keys {
            self.prime_signing_keys(keys).await?;
        }
        if let Some(ralio) = ralio {
            self.prime_ralio(ralio).await?;
        }
        self.prime_store(store).await
    }

    /// Each priming step may take this long, because INIT must stay well inside Lambda's 10 s.
    pub const PRIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

    /// Reads `PRIME_CONNECTIONS`, which makes one cheap request to each upstream during INIT, so
    /// the first invocation finds its connections open (and a bad secret stops the start).
    pub fn prime_connections(&self) -> Result<bool, ConfigError> {
        self.env.parsed("PRIME_CONNECTIONS", false)
    }

    /// With `PRIME_CONNECTIONS`, opens the store's connection (`DescribeTable`). A failure only
    /// costs the first request its handshake, so it is logged, not fatal.
    async fn prime_store(&self, store: &DynamoStore) -> Result<(), ConfigError> {
        if !self.prime_connections()? {
            return Ok(());
        }
        match tokio::time::timeout(Self::PRIME_BUDGET, store.prime()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "priming the store connection failed"),
            Err(_) => tracing::warn!("priming the store connection timed out"),
        }
        Ok(())
    }

    /// With `PRIME_CONNECTIONS`, reads the Ralio credentials and logs in, opening the connection. A
    /// secret that cannot be read or is not filled in stops the start, naming it. Each step keeps
    /// to [`Self::PRIME_BUDGET`], so a slow Secrets Manager or Ralio leaves the work to the first
    /// request instead of failing INIT (and with it the read-only routes).
    async fn prime_ralio(&self, ralio: &RalioClient) -> Result<(), ConfigError> {
        if !self.prime_connections()? {
            return Ok(());
        }
        match tokio::time::timeout(Self::PRIME_BUDGET, ralio.load_credentials()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                return Err(ConfigError::Secret {
                    name: SECRET_ARN_VAR,
                    reason,
                });
            }
            Err(_) => {
                tracing::warn!(
                    "reading the Ralio credentials timed out; the first call reads them"
                );
                return Ok(());
            }
        }
        if let Err(e) = ralio.warm_up(Self::PRIME_BUDGET).await {
            tracing::warn!(error = %e, "priming the Ralio connection failed");
        }
        Ok(())
    }

    /// With `PRIME_CONNECTIONS`, reads the webhook secrets now, so one that cannot be read or
    /// breaks the rules stops the start.
    async fn prime_signing_keys(&self, keys: &SigningKeys) -> Result<(), ConfigError> {
        if self.prime_connections()? {
            match tokio::time::timeout(Self::PRIME_BUDGET, keys.load()).await {
                Ok(loaded) => loaded?,
                Err(_) => tracing::warn!(
                    "reading the webhook secrets timed out; the first delivery reads them"
                ),
            }
        }
        Ok(())
    }
}

/// Reads Ralio's credentials again from the Secrets Manager secret.
struct SecretCredentials {
    arn: String,
    client: OnFirstUse<aws_sdk_secretsmanager::Client>,
}

#[async_trait::async_trait]
impl CredentialSource for SecretCredentials {
    async fn credentials(&self) -> Result<RalioCredentials, String> {
        let text = secret_string(&self.client, &self.arn, SECRET_ARN_VAR)
            .await
            .map_err(|e| e.to_string())?;
        RalioSecret::parse(&text)
            .map_err(|e| e.to_string())?
            .credentials()
    }
}
