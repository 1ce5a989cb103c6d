//! The service has two Secrets Manager secrets, and a third with the webhook's optional edge. Only
//! the functions that need one read it:
//!
//! | variable | secret string | read by |
//! |---|---|---|
//! | `RALIO_SECRET_ARN` | `{"api_code": "...", "api_key": "..."}` | create-session, account-gate |
//! | `WEBHOOK_SECRET_ARN` | `{"webhook_secrets": "whsec_new,whsec_old"}` (or a JSON array) | webhook |
//! | `WEBHOOK_ORIGIN_SECRET_ARN` | a random string, which the edge sends in `x-origin-verify` | webhook |
//!
//! So the internet-facing webhook never holds the Ralio API key. Each is read when first needed
//! (or at start, with `PRIME_CONNECTIONS`). Webhook secrets are read again at a maximum age and
//! after a signature mismatch ([`crate::signing_keys::SigningKeys`]), so a rotation needs no
//! redeploy and a removed secret stops verifying; the origin secret is read again after a
//! mismatch ([`crate::origin_secret::OriginSecret`]).

use async_trait::async_trait;
use idv_model::WebhookSecrets;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::aws::OnFirstUse;
use crate::config::{ConfigError, Env};
use crate::origin_secret::{ORIGIN_SECRET_ARN_VAR, OriginSecretSource};
use crate::signing_keys::{SecretsRead, WebhookSecretSource};

pub const SECRET_ARN_VAR: &str = "RALIO_SECRET_ARN";
pub const WEBHOOK_SECRET_ARN_VAR: &str = "WEBHOOK_SECRET_ARN";
pub const WEBHOOK_SECRETS_VAR: &str = "WEBHOOK_SECRETS";

/// Local runs use this webhook secret when none is configured. Lambda refuses it, and so does
/// `idv-local` whenever it can be reached from elsewhere.
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_development_only";

/// This is the shortest webhook secret accepted in Lambda.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 32;

/// Returns whether this process is a Lambda function (the runtime sets `AWS_LAMBDA_FUNCTION_NAME`).
pub fn in_lambda(env: &impl Env) -> bool {
    env.value("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// This is the API credentials secret. The key is read straight into a secret string, so it is
/// never printed. The code names the merchant and is printed, as in `RalioCredentials`.
#[derive(Deserialize, Default, Clone, Debug)]
pub struct RalioSecret {
    #[serde(default)]
    pub api_code: Option<String>,
    #[serde(default)]
    pub api_key: Option<SecretString>,
}

impl RalioSecret {
    pub fn parse(secret_string: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(secret_string).map_err(|_| ConfigError::Secret {
            name: SECRET_ARN_VAR,
            reason: "the secret is not a JSON object with api_code and api_key".into(),
        })
    }

    /// Returns both values. A blank one (the template's placeholder) counts as missing.
    pub fn credentials(&self) -> Result<crate::ralio::RalioCredentials, String> {
        let api_code = self.api_code.clone().filter(|v| !v.trim().is_empty());
        let api_key = self
            .api_key
            .clone()
            .filter(|v| !v.expose_secret().trim().is_empty());
        match (api_code, api_key) {
            (Some(api_code), Some(api_key)) => {
                Ok(crate::ralio::RalioCredentials { api_code, api_key })
            }
            _ => Err("the secret has no api_code and api_key (fill in the secret)".into()),
        }
    }
}

/// This is the webhook secrets secret.
#[derive(Deserialize, Default, Clone, PartialEq, Eq)]
struct WebhookSecretDoc {
    #[serde(default)]
    webhook_secrets: Option<SecretList>,
}

/// The secrets are written as a comma-separated string or a JSON array of strings.
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
    secret_value(client, arn, name).await.map(|(text, _)| text)
}

/// Returns the secret's string and the version it came from.
async fn secret_value(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    name: &'static str,
) -> Result<(String, Option<String>), ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Secret {
            name,
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let text = output.secret_string().ok_or(ConfigError::Secret {
        name,
        reason: "the secret has no string value".into(),
    })?;
    Ok((text.to_owned(), output.version_id().map(str::to_owned)))
}

/// Reads webhook secrets from a list and, in Lambda, refuses what would let a forger in: a short
/// secret or the well-known local one. `name` is the variable that the list came through.
fn checked_secrets(
    items: &[String],
    lambda: bool,
    name: &'static str,
) -> Result<WebhookSecrets, ConfigError> {
    // The secrets are checked as they will be used, so an array item holding a comma is several
    // secrets.
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

/// This is the webhook secrets secret named by `WEBHOOK_SECRET_ARN`.
pub struct SecretsManagerWebhookSecrets {
    pub arn: String,
    pub client: OnFirstUse<aws_sdk_secretsmanager::Client>,
    /// Says whether the Lambda rules apply (no short or local secrets).
    pub lambda: bool,
}

#[async_trait]
impl WebhookSecretSource for SecretsManagerWebhookSecrets {
    async fn webhook_secrets(&self) -> Result<SecretsRead, ConfigError> {
        const NAME: &str = WEBHOOK_SECRET_ARN_VAR;
        let (text, version) = secret_value(&self.client, &self.arn, NAME).await?;
        let doc: WebhookSecretDoc =
            serde_json::from_str(&text).map_err(|_| ConfigError::Secret {
                name: NAME,
                reason: "the secret is not a JSON object with webhook_secrets".into(),
            })?;
        let items = doc
            .webhook_secrets
            .map(|list| list.items())
            .unwrap_or_default();
        let secrets = checked_secrets(&items, self.lambda, NAME)?;
        Ok(SecretsRead { secrets, version })
    }
}

/// This is the edge's origin secret named by `WEBHOOK_ORIGIN_SECRET_ARN`: the whole secret string,
/// as the template generates it and CloudFront sends it.
pub struct SecretsManagerOriginSecret {
    pub arn: String,
    pub client: OnFirstUse<aws_sdk_secretsmanager::Client>,
    /// Says whether the Lambda rules apply (no short secret).
    pub lambda: bool,
}

#[async_trait]
impl OriginSecretSource for SecretsManagerOriginSecret {
    async fn origin_secret(&self) -> Result<SecretString, ConfigError> {
        let text = secret_string(&self.client, &self.arn, ORIGIN_SECRET_ARN_VAR).await?;
        checked_origin_secret(text, self.lambda)
    }
}

/// Refuses an origin secret that anyone could guess: an empty one, or in Lambda one shorter than a
/// webhook secret may be.
fn checked_origin_secret(text: String, lambda: bool) -> Result<SecretString, ConfigError> {
    let refused = |reason: String| ConfigError::Invalid {
        name: ORIGIN_SECRET_ARN_VAR,
        reason,
    };
    if text.trim().is_empty() {
        return Err(refused("the secret is empty".into()));
    }
    if lambda && text.len() < MIN_WEBHOOK_SECRET_BYTES {
        return Err(refused(format!(
            "the origin secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
        )));
    }
    Ok(SecretString::from(text))
}

/// Reads `WEBHOOK_SECRETS` from the environment for local runs only. It is refused inside Lambda,
/// where the secret must come from Secrets Manager.
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
        // An array item holding a comma is several secrets, and each is checked.
        let smuggled = format!("{long},{LOCAL_WEBHOOK_SECRET}");
        assert!(checked_secrets(&[smuggled], true, WEBHOOK_SECRET_ARN_VAR).is_err());
        // Outside Lambda, anything goes (local runs and tests).
        assert!(checked_secrets(&[short], false, WEBHOOK_SECRET_ARN_VAR).is_ok());
        let read = RalioSecret::parse(r#"{"api_code":"c","api_key":"sk_live_value"}"#).unwrap();
        assert!(!format!("{read:?}").contains("sk_live_value"));
    }

    #[test]
    fn an_empty_or_short_origin_secret_is_refused_naming_the_variable() {
        let long = "o".repeat(MIN_WEBHOOK_SECRET_BYTES);
        assert!(checked_origin_secret(long, true).is_ok());
        for (text, lambda) in [(" ", false), ("short", true)] {
            let err = checked_origin_secret(text.into(), lambda).unwrap_err();
            assert!(err.to_string().contains(ORIGIN_SECRET_ARN_VAR), "{err}");
            assert!(!err.to_string().contains(text.trim()) || text.trim().is_empty());
        }
        assert!(checked_origin_secret("short".into(), false).is_ok());
    }

    #[test]
    fn a_blank_ralio_secret_value_counts_as_missing() {
        let blank = RalioSecret::parse(r#"{"api_code":"","api_key":" "}"#).unwrap();
        assert!(blank.credentials().is_err());
        let filled = RalioSecret::parse(r#"{"api_code":"c","api_key":"k"}"#).unwrap();
        assert_eq!(filled.credentials().unwrap().api_code, "c");
    }
}
