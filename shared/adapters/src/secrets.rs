//! The Ralio secret in AWS Secrets Manager, read once when a function starts and kept for the
//! life of the container.
//!
//! The secret string is a JSON object:
//! `{"api_code": "...", "api_key": "...", "webhook_secrets": "whsec_new,whsec_old"}`
//! (`webhook_secrets` may also be a JSON array). Each function reads only the keys it needs.

use std::fmt;

use idv_model::WebhookSecrets;
use serde::Deserialize;

use crate::config::{ConfigError, Env};

pub const SECRET_ARN_VAR: &str = "RALIO_SECRET_ARN";

#[derive(Deserialize, Default, Clone, PartialEq, Eq)]
pub struct RalioSecret {
    #[serde(default)]
    pub api_code: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub webhook_secrets: Option<SecretList>,
}

impl fmt::Debug for RalioSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RalioSecret(<redacted>)")
    }
}

/// A comma-separated string or a JSON array of strings.
#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum SecretList {
    Csv(String),
    List(Vec<String>),
}

impl SecretList {
    fn csv(&self) -> String {
        match self {
            SecretList::Csv(s) => s.clone(),
            SecretList::List(items) => items.join(","),
        }
    }
}

impl RalioSecret {
    pub fn parse(secret_string: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(secret_string).map_err(|_| ConfigError::Secret {
            name: SECRET_ARN_VAR,
            reason: "the secret is not a JSON object with api_code, api_key and webhook_secrets"
                .into(),
        })
    }
}

/// Fetches the secret named by `RALIO_SECRET_ARN`, if that variable is set.
pub async fn load_ralio_secret(
    env: &impl Env,
    client: impl FnOnce() -> aws_sdk_secretsmanager::Client,
) -> Result<Option<RalioSecret>, ConfigError> {
    let Some(arn) = env.value(SECRET_ARN_VAR) else {
        return Ok(None);
    };
    let output = client()
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| ConfigError::Secret {
            name: SECRET_ARN_VAR,
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let text = output.secret_string().ok_or(ConfigError::Secret {
        name: SECRET_ARN_VAR,
        reason: "the secret has no string value".into(),
    })?;
    RalioSecret::parse(text).map(Some)
}

/// `WEBHOOK_SECRETS` wins when set (local runs); otherwise the Secrets Manager secret.
pub fn webhook_secrets(
    env: &impl Env,
    secret: Option<&RalioSecret>,
) -> Result<WebhookSecrets, ConfigError> {
    const NAME: &str = "WEBHOOK_SECRETS";
    if let Some(csv) = env.value(NAME) {
        return WebhookSecrets::from_csv(&csv).map_err(|e| ConfigError::Invalid {
            name: NAME,
            reason: e.to_string(),
        });
    }
    match secret.and_then(|s| s.webhook_secrets.as_ref()) {
        Some(list) => WebhookSecrets::from_csv(&list.csv()).map_err(|e| ConfigError::Secret {
            name: SECRET_ARN_VAR,
            reason: format!("webhook_secrets: {e}"),
        }),
        None => Err(ConfigError::Missing {
            name: NAME,
            meaning: "comma-separated webhook signing secrets (or RALIO_SECRET_ARN naming a secret with webhook_secrets)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn webhook_secrets_come_from_the_variable_or_the_secret() {
        let empty: HashMap<String, String> = HashMap::new();
        let err = webhook_secrets(&empty, None).unwrap_err();
        assert!(err.to_string().contains("WEBHOOK_SECRETS"), "{err}");

        let secret =
            RalioSecret::parse(r#"{"api_code":"c","api_key":"k","webhook_secrets":["a","b"]}"#)
                .unwrap();
        assert_eq!(webhook_secrets(&empty, Some(&secret)).unwrap().len(), 2);
        let csv = RalioSecret::parse(r#"{"webhook_secrets":"a, b ,c"}"#).unwrap();
        assert_eq!(webhook_secrets(&empty, Some(&csv)).unwrap().len(), 3);

        let env: HashMap<String, String> = [("WEBHOOK_SECRETS".to_owned(), "x".to_owned())].into();
        assert_eq!(webhook_secrets(&env, Some(&secret)).unwrap().len(), 1);
        assert!(!format!("{secret:?}").contains('k'));
        assert!(RalioSecret::parse("not json").is_err());
    }
}
