//! The two Secrets Manager secrets, each read only by the functions that need it:
//!
//! | variable | secret string | read by |
//! |---|---|---|
//! | `RALIO_SECRET_ARN` | `{"api_code": "...", "api_key": "..."}` | create-session, account-gate |
//! | `WEBHOOK_SECRET_ARN` | `{"webhook_secrets": "whsec_new,whsec_old"}` (or a JSON array) | webhook |
//!
//! So the internet-facing webhook never holds the Ralio API key. Both are read when first
//! needed (or at start, with `PRIME_CONNECTIONS`), and webhook secrets again when a signature
//! does not match (at most once a minute, see [`SigningKeys`]), so a rotation needs no
//! redeploy.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

// tokio's clock, which is the system's except in a test that pauses it.
use tokio::time::Instant;

use async_trait::async_trait;
use idv_model::{SignatureError, WebhookSecrets};
use serde::Deserialize;

use crate::aws::OnFirstUse;
use crate::config::{ConfigError, Env};

pub const SECRET_ARN_VAR: &str = "RALIO_SECRET_ARN";
pub const WEBHOOK_SECRET_ARN_VAR: &str = "WEBHOOK_SECRET_ARN";
pub const WEBHOOK_SECRETS_VAR: &str = "WEBHOOK_SECRETS";

/// The webhook secret local runs use when none is configured. Refused in Lambda, and by
/// `idv-local` whenever it can be reached from elsewhere.
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_development_only";

/// Shortest webhook secret accepted in Lambda.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 32;

/// How often, at most, a signature mismatch reads the webhook secrets again.
pub const SECRET_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// Whether this process is a Lambda function (the runtime sets `AWS_LAMBDA_FUNCTION_NAME`).
pub fn in_lambda(env: &impl Env) -> bool {
    env.value("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// The API credentials secret.
#[derive(Deserialize, Default, Clone, PartialEq, Eq)]
pub struct RalioSecret {
    #[serde(default)]
    pub api_code: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
}

impl fmt::Debug for RalioSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RalioSecret(<redacted>)")
    }
}

impl RalioSecret {
    pub fn parse(secret_string: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(secret_string).map_err(|_| ConfigError::Secret {
            name: SECRET_ARN_VAR,
            reason: "the secret is not a JSON object with api_code and api_key".into(),
        })
    }

    /// Both values; a blank one (the template's placeholder) counts as missing.
    pub fn credentials(&self) -> Result<crate::ralio::RalioCredentials, String> {
        let filled = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        match (filled(&self.api_code), filled(&self.api_key)) {
            (Some(api_code), Some(api_key)) => {
                Ok(crate::ralio::RalioCredentials { api_code, api_key })
            }
            _ => Err("the secret has no api_code and api_key (fill in the secret)".into()),
        }
    }
}

/// The webhook secrets secret.
#[derive(Deserialize, Default, Clone, PartialEq, Eq)]
struct WebhookSecretDoc {
    #[serde(default)]
    webhook_secrets: Option<SecretList>,
}

/// A comma-separated string or a JSON array of strings.
#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
enum SecretList {
    Csv(String),
    List(Vec<String>),
}

impl SecretList {
    fn items(&self) -> Vec<String> {
        match self {
            SecretList::Csv(s) => s.split(',').map(str::to_owned).collect(),
            SecretList::List(items) => items.clone(),
        }
    }
}

pub(crate) async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    name: &'static str,
) -> Result<String, ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Secret {
            name,
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or(ConfigError::Secret {
            name,
            reason: "the secret has no string value".into(),
        })
}

/// Webhook secrets from a list, refusing in Lambda what would let a forger in: a short secret
/// or the well-known local one. `name` is the variable the list came through.
fn checked_secrets(
    items: &[String],
    lambda: bool,
    name: &'static str,
) -> Result<WebhookSecrets, ConfigError> {
    // Checked as they will be used: an array item holding a comma is several secrets.
    let items: Vec<&str> = items
        .iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if lambda {
        if items.contains(&LOCAL_WEBHOOK_SECRET) {
            return Err(ConfigError::Invalid {
                name,
                reason: "the local development secret is public: set a secret of your own".into(),
            });
        }
        if items.iter().any(|s| s.len() < MIN_WEBHOOK_SECRET_BYTES) {
            return Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "every webhook secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
                ),
            });
        }
    }
    WebhookSecrets::from_csv(&items.join(",")).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// Where webhook secrets are read again from.
#[async_trait]
pub trait WebhookSecretSource: Send + Sync {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, ConfigError>;
}

/// The webhook secrets secret named by `WEBHOOK_SECRET_ARN`.
pub struct SecretsManagerWebhookSecrets {
    pub arn: String,
    pub client: OnFirstUse<aws_sdk_secretsmanager::Client>,
    /// Whether the Lambda rules apply (no short or local secrets).
    pub lambda: bool,
}

#[async_trait]
impl WebhookSecretSource for SecretsManagerWebhookSecrets {
    async fn webhook_secrets(&self) -> Result<WebhookSecrets, ConfigError> {
        const NAME: &str = WEBHOOK_SECRET_ARN_VAR;
        let text = secret_string(&self.client, &self.arn, NAME).await?;
        let doc: WebhookSecretDoc =
            serde_json::from_str(&text).map_err(|_| ConfigError::Secret {
                name: NAME,
                reason: "the secret is not a JSON object with webhook_secrets".into(),
            })?;
        let items = doc
            .webhook_secrets
            .map(|list| list.items())
            .unwrap_or_default();
        checked_secrets(&items, self.lambda, NAME)
    }
}

/// `WEBHOOK_SECRETS` from the environment: for local runs only, refused inside Lambda where
/// the secret must come from Secrets Manager.
pub fn webhook_secrets_from_env(env: &impl Env) -> Result<Option<WebhookSecrets>, ConfigError> {
    let Some(csv) = env.value(WEBHOOK_SECRETS_VAR) else {
        return Ok(None);
    };
    if in_lambda(env) {
        return Err(ConfigError::Invalid {
            name: WEBHOOK_SECRETS_VAR,
            reason: format!(
                "not accepted inside Lambda (it would override the managed secret): set {WEBHOOK_SECRET_ARN_VAR}"
            ),
        });
    }
    let items: Vec<String> = csv.split(',').map(str::to_owned).collect();
    checked_secrets(&items, false, WEBHOOK_SECRETS_VAR).map(Some)
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub error: SignatureError,
    /// A later attempt may verify it (the secrets could not be read again just now).
    pub retryable: bool,
}

/// The webhook's signing secrets, read again (at most once per interval) when a signature
/// does not match, so a rotated secret is picked up by warm containers without a redeploy.
pub struct SigningKeys {
    /// None until first read (a lazy start).
    current: RwLock<Option<WebhookSecrets>>,
    source: Option<Arc<dyn WebhookSecretSource>>,
    /// When a mismatch last read the secrets again; the first mismatch may always.
    last_reread: tokio::sync::Mutex<Option<Instant>>,
    reread_every: Duration,
}

impl SigningKeys {
    /// Secrets that never change (local runs, tests).
    pub fn fixed(secrets: WebhookSecrets) -> Self {
        Self {
            current: RwLock::new(Some(secrets)),
            source: None,
            last_reread: tokio::sync::Mutex::new(None),
            reread_every: SECRET_REREAD_INTERVAL,
        }
    }

    /// Secrets just read from `source`, read again from it after a mismatch.
    pub fn from_source(secrets: WebhookSecrets, source: Arc<dyn WebhookSecretSource>) -> Self {
        Self {
            source: Some(source),
            ..Self::fixed(secrets)
        }
    }

    /// Secrets to be read from `source` on first use (or by [`SigningKeys::load`]).
    pub fn lazy(source: Arc<dyn WebhookSecretSource>) -> Self {
        Self {
            current: RwLock::new(None),
            source: Some(source),
            last_reread: tokio::sync::Mutex::new(None),
            reread_every: SECRET_REREAD_INTERVAL,
        }
    }

    fn held(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Reads the secrets if none are held yet. A secret that cannot be read, or breaks the
    /// rules, is a configuration error.
    pub async fn load(&self) -> Result<(), ConfigError> {
        if self.held() {
            return Ok(());
        }
        let Some(source) = &self.source else {
            return Ok(());
        };
        // The re-read lock: concurrent first deliveries share one read, and a failed read is
        // not tried again within the interval (a flood must not become one read per request).
        let mut last = self.last_reread.lock().await;
        if self.held() {
            return Ok(());
        }
        if last.is_some_and(|at| at.elapsed() < self.reread_every) {
            return Err(ConfigError::Secret {
                name: WEBHOOK_SECRET_ARN_VAR,
                reason: "the last read failed moments ago; not read again yet".into(),
            });
        }
        let secrets = match source.webhook_secrets().await {
            Ok(secrets) => secrets,
            Err(e) => {
                *last = Some(Instant::now());
                return Err(e);
            }
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(secrets);
        Ok(())
    }

    /// Reads again at most this often (default one minute).
    pub fn reread_at_most_every(mut self, interval: Duration) -> Self {
        self.reread_every = interval;
        self
    }

    fn check(&self, body: &[u8], header: Option<&str>) -> Result<usize, SignatureError> {
        match &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
            Some(secrets) => secrets.verify(body, header),
            None => Err(SignatureError::Mismatch),
        }
    }

    /// Checks a signature; `Ok` holds the position of the secret that matched. Only a
    /// mismatch (not a missing or malformed header) may read the secrets again; a mismatch
    /// that a fresh read could still settle, but that could not be read now (another read
    /// within the interval, or Secrets Manager failing), is [`Rejection::retryable`]: it may
    /// be a genuine delivery signed with a secret rotated in a moment ago.
    pub async fn verify(&self, body: &[u8], header: Option<&str>) -> Result<usize, Rejection> {
        let refused = |error, retryable| Rejection { error, retryable };
        if header.is_none() {
            // Nothing to check, whatever the secrets: no reason to read them.
            return Err(refused(SignatureError::Missing, false));
        }
        if let Err(e) = self.load().await {
            // Nothing to check against yet: Ralio retries, and the alarm on 5xx shows it.
            tracing::error!(error = %e, "webhook secrets could not be read");
            return Err(refused(SignatureError::Mismatch, true));
        }
        let first = self.check(body, header);
        if first != Err(SignatureError::Mismatch) {
            return first.map_err(|e| refused(e, false));
        }
        let Some(source) = &self.source else {
            return first.map_err(|e| refused(e, false));
        };
        {
            let mut last = self.last_reread.lock().await;
            if last.is_some_and(|at| at.elapsed() < self.reread_every) {
                return first.map_err(|e| refused(e, true));
            }
            *last = Some(Instant::now());
            match source.webhook_secrets().await {
                Ok(fresh) => {
                    *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
                    tracing::info!("webhook secrets read again after a signature mismatch");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook secrets not read again; keeping the ones held");
                    return first.map_err(|e| refused(e, true));
                }
            }
        }
        // Read just now: a mismatch stands.
        self.check(body, header).map_err(|e| refused(e, false))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn webhook_secrets_from_the_environment_are_for_local_runs_only() {
        assert_eq!(webhook_secrets_from_env(&env(&[])).unwrap(), None);
        let local = webhook_secrets_from_env(&env(&[(WEBHOOK_SECRETS_VAR, "a, b ,")])).unwrap();
        assert_eq!(local.map(|s| s.len()), Some(2));
        let err = webhook_secrets_from_env(&env(&[
            (WEBHOOK_SECRETS_VAR, &"x".repeat(40)),
            ("AWS_LAMBDA_FUNCTION_NAME", "webhook"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(WEBHOOK_SECRETS_VAR), "{err}");
    }

    /// A source whose secrets an operator rotates, counting reads.
    struct Rotating {
        secrets: std::sync::Mutex<String>,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl WebhookSecretSource for Rotating {
        async fn webhook_secrets(&self) -> Result<WebhookSecrets, ConfigError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(WebhookSecrets::from_csv(&self.secrets.lock().unwrap()).unwrap())
        }
    }

    // Paused time: the interval is measured on tokio's clock, not on how busy the machine is.
    #[tokio::test(start_paused = true)]
    async fn a_rotation_right_after_a_forgery_is_retried_not_refused() {
        use idv_model::WebhookSecret;
        let source = Arc::new(Rotating {
            secrets: std::sync::Mutex::new("old".into()),
            reads: Default::default(),
        });
        let keys =
            SigningKeys::from_source(WebhookSecrets::from_csv("old").unwrap(), source.clone())
                .reread_at_most_every(Duration::from_millis(300));
        let body = b"{}";
        let sig = |secret: &str| WebhookSecret::new(secret).sign_hex(body);
        // A forgery uses the read: refused for good (it was checked against fresh secrets).
        let forged = keys.verify(body, Some(&sig("guess"))).await.unwrap_err();
        assert_eq!(
            (forged.error, forged.retryable),
            (SignatureError::Mismatch, false)
        );
        // The operator rotates; a genuine delivery arrives within the interval: Ralio must be
        // asked to send it again, not told it is forged.
        *source.secrets.lock().unwrap() = "new,old".into();
        let early = keys.verify(body, Some(&sig("new"))).await.unwrap_err();
        assert!(early.retryable, "{early:?}");
        // A missing or malformed header never reads, and is final.
        let missing = keys.verify(body, None).await.unwrap_err();
        assert_eq!(
            (missing.error, missing.retryable),
            (SignatureError::Missing, false)
        );
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Ralio's retry, after the interval, is verified with the new secret.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(keys.verify(body, Some(&sig("new"))).await, Ok(0));
        assert_eq!(keys.verify(body, Some(&sig("old"))).await, Ok(1));
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn in_lambda_short_and_public_secrets_are_refused_naming_the_variable() {
        let long = "s".repeat(MIN_WEBHOOK_SECRET_BYTES);
        let short = "s".repeat(MIN_WEBHOOK_SECRET_BYTES - 1);
        assert!(checked_secrets(std::slice::from_ref(&long), true, WEBHOOK_SECRET_ARN_VAR).is_ok());
        for refused in [
            vec![long.clone(), short.clone()],
            vec![LOCAL_WEBHOOK_SECRET.to_owned()],
        ] {
            let err = checked_secrets(&refused, true, WEBHOOK_SECRET_ARN_VAR).unwrap_err();
            assert!(err.to_string().contains(WEBHOOK_SECRET_ARN_VAR), "{err}");
        }
        // An array item holding a comma is several secrets, each checked.
        let smuggled = format!("{long},{LOCAL_WEBHOOK_SECRET}");
        assert!(checked_secrets(&[smuggled], true, WEBHOOK_SECRET_ARN_VAR).is_err());
        // Outside Lambda, anything goes (local runs and tests).
        assert!(checked_secrets(&[short], false, WEBHOOK_SECRET_ARN_VAR).is_ok());
        assert!(!format!("{:?}", RalioSecret::parse(r#"{"api_key":"k"}"#).unwrap()).contains('k'));
    }

    /// A source that cannot be read, counting attempts.
    #[derive(Default)]
    struct Unreadable {
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl WebhookSecretSource for Unreadable {
        async fn webhook_secrets(&self) -> Result<WebhookSecrets, ConfigError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(ConfigError::Secret {
                name: WEBHOOK_SECRET_ARN_VAR,
                reason: "unavailable".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_lazy_start_never_accepts_and_a_flood_does_not_become_one_read_each() {
        let source = Arc::new(Unreadable::default());
        let keys = SigningKeys::lazy(source.clone());
        let reads = || source.reads.load(std::sync::atomic::Ordering::SeqCst);
        // No header: refused for good, nothing read.
        let missing = keys.verify(b"{}", None).await.unwrap_err();
        assert_eq!(
            (missing.error, missing.retryable, reads()),
            (SignatureError::Missing, false, 0)
        );
        // Secrets unreadable: never accepted, answered as retryable (503), read once a minute.
        for _ in 0..5 {
            let refused = keys.verify(b"{}", Some("00")).await.unwrap_err();
            assert!(refused.retryable);
        }
        assert_eq!(reads(), 1);
        assert!(keys.load().await.is_err());
    }

    #[test]
    fn a_blank_ralio_secret_value_counts_as_missing() {
        let blank = RalioSecret::parse(r#"{"api_code":"","api_key":" "}"#).unwrap();
        assert!(blank.credentials().is_err());
        let filled = RalioSecret::parse(r#"{"api_code":"c","api_key":"k"}"#).unwrap();
        assert_eq!(filled.credentials().unwrap().api_code, "c");
    }
}
