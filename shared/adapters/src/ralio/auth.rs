//! This module authorises requests: the credentials, the login token cached per warm container, and
//! what is tried once when Ralio answers 401.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::transport::expect_json;
use super::{Deadline, RalioCall, RalioClient, RalioError};

/// Says how requests are authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// Exchanges `api_code`/`api_key` for a token at `/api/v1/auth/login` (the documented flow).
    Login,
    /// Sends `api_key` itself as the bearer token.
    RawKey,
}

impl AuthScheme {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "login" => Some(AuthScheme::Login),
            "raw-key" => Some(AuthScheme::RawKey),
            _ => None,
        }
    }
}

/// These are Ralio's API code and key. The code names the merchant, and the key is a secret.
#[derive(Clone, Debug)]
pub struct RalioCredentials {
    pub api_code: String,
    pub api_key: SecretString,
}

// Equality is written out because a re-read secret is compared with the credentials in use
// (`reread_credentials`), and secrecy's string has no equality.
impl PartialEq for RalioCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.api_code == other.api_code
            && self.api_key.expose_secret() == other.api_key.expose_secret()
    }
}

impl Eq for RalioCredentials {}

/// A credential source is where credentials can be read again after Ralio refuses them (a rotated
/// key).
#[async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credentials(&self) -> Result<RalioCredentials, String>;
}

impl RalioClient {
    /// Returns the credentials, read from the source the first time they are needed. An error here
    /// means that no request was sent.
    async fn current_credentials(
        &self,
        deadline: Deadline,
    ) -> Result<RalioCredentials, RalioError> {
        let mut current = self.credentials.lock().await;
        if let Some(credentials) = current.as_ref() {
            return Ok(credentials.clone());
        }
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| RalioError::Unreachable("no Ralio credentials configured".into()))?;
        let read = source.credentials();
        let read = match deadline.remaining() {
            Some(left) => tokio::time::timeout(left, read)
                .await
                .map_err(|_| RalioError::OutOfTime)?,
            None => read.await,
        };
        let fresh = read.map_err(|e| {
            RalioError::Unreachable(format!("the Ralio credentials could not be read: {e}"))
        })?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Reads the credentials now if they come from a source (start-up with priming), because a
    /// secret that cannot be read or is incomplete is a reason not to start.
    pub async fn load_credentials(&self) -> Result<(), String> {
        match self.current_credentials(Deadline::none()).await {
            Ok(_) => Ok(()),
            Err(RalioError::Unreachable(why)) => Err(why),
            Err(other) => Err(other.to_string()),
        }
    }

    /// Logs in (or reads the key) now, within `budget`, so the first request finds a token
    /// and an open connection.
    pub async fn warm_up(&self, budget: Duration) -> Result<(), RalioError> {
        self.within(Deadline::after(budget))
            .token()
            .await
            .map(|_| ())
    }

    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_deref() == Some(stale) {
            *cached = None;
        }
    }

    /// Reads the credentials again, once, after Ralio refused them. Returns false when there is
    /// nothing new to try.
    async fn reread_credentials(&self) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        match source.credentials().await {
            Ok(fresh) => {
                // The locks are taken one at a time, because `token()` holds the token lock while
                // it reads these.
                let changed = {
                    let mut current = self.credentials.lock().await;
                    let changed = current.as_ref() != Some(&fresh);
                    *current = Some(fresh);
                    changed
                };
                *self.token.lock().await = None;
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the Ralio credentials again");
                false
            }
        }
    }
}

impl RalioCall<'_> {
    /// Returns the bearer token, logging in when none is cached.
    async fn token(&self) -> Result<String, RalioError> {
        let client = self.client;
        if client.config.auth == AuthScheme::RawKey {
            let credentials = client.current_credentials(self.deadline).await?;
            return Ok(credentials.api_key.expose_secret().to_owned());
        }
        // The lock is held across the login so that concurrent requests in a container share one
        // login.
        let mut cached = client.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let credentials = client.current_credentials(self.deadline).await?;
        let body = json!({
            "api_code": credentials.api_code,
            "api_key": credentials.api_key.expose_secret(),
        });
        let response = self
            .send(true, || {
                client
                    .http()
                    .post(client.url("/api/v1/auth/login"))
                    .json(&body)
            })
            .await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RalioError::Unauthorized);
        }
        let value: Value = expect_json(response).await?;
        let token = value
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RalioError::BadResponse("login answer without token".into()))?
            .to_owned();
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Makes an authorised call. On a 401 it logs in afresh once and tries once more, then reads
    /// the credentials afresh once and tries once more.
    pub(super) async fn authorized(
        &self,
        idempotent: bool,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, RalioError> {
        let client = self.client;
        let url = client.url(path);
        let (mut relogged, mut reread) = (false, false);
        loop {
            let token = match self.token().await {
                Err(RalioError::Unauthorized) if !reread => {
                    reread = true;
                    if client.reread_credentials().await {
                        continue;
                    }
                    return Err(RalioError::Unauthorized);
                }
                other => other?,
            };
            let response = self
                .send(idempotent, || {
                    let request = client
                        .http()
                        .request(method.clone(), &url)
                        .bearer_auth(&token);
                    match body {
                        Some(body) => request.json(body),
                        None => request,
                    }
                })
                .await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            // A 401 means that Ralio did nothing, so it is safe to try again with a new token.
            client.forget_token(&token).await;
            if !relogged && client.config.auth == AuthScheme::Login {
                relogged = true;
                continue;
            }
            if !reread {
                reread = true;
                if client.reread_credentials().await {
                    continue;
                }
            }
            return Err(RalioError::Unauthorized);
        }
    }
}
