//! The Ralio REST client (reqwest with rustls).
//!
//! - Login (`POST /api/v1/auth/login`) for a bearer token, cached for the life of a warm
//!   container and refreshed once on a 401; after a 401 that follows a fresh login, the
//!   credentials are read again once (a rotated key). The scheme sits behind [`AuthScheme`] so
//!   the raw API key can be sent as the bearer instead (REFERENCE §1.2).
//! - HTTPS only (plain HTTP for loopback hosts, for local runs and tests), and no redirects: a
//!   307 must not send the login body somewhere else.
//! - Every call keeps to a [`Deadline`] (the Lambda invocation's, less a margin): logins,
//!   retries, list pages and the create itself together never outlast it.
//! - GETs are retried with jittered exponential backoff on 429 (honouring `Retry-After`), 5xx
//!   and connection errors. Creating calls are retried only when they cannot have reached
//!   Ralio (connection refused) or Ralio refused them unprocessed (429). Every error says
//!   whether Ralio may have acted ([`RalioError::may_have_acted`]); a session creation that may
//!   have happened is looked for in Ralio's list before creating once more.
//! - Parsing is lenient where the docs are vague: `createdAt`/`created_at`, state as name,
//!   number or something unknown.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

mod accounts;
mod sessions;

pub use accounts::{AccountSearch, ListedAccount, list_may_be_a_page};
pub use sessions::{CreatedSession, LeftByAttempt, RalioSession, ReportedState, SessionListing};

/// How requests are authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// Exchange `api_code`/`api_key` for a token at `/api/v1/auth/login` (documented flow).
    Login,
    /// Send `api_key` itself as the bearer token.
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

/// What to send as the body of "create IDV session" (undocumented: REFERENCE §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateSessionBody {
    Empty,
    EmptyJsonObject,
}

/// How long one HTTP exchange with Ralio may take unless configured (`RALIO_TIMEOUT`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, PartialEq, Eq)]
pub struct RalioCredentials {
    pub api_code: String,
    pub api_key: String,
}

impl fmt::Debug for RalioCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RalioCredentials {{ api_code: {:?}, api_key: <redacted> }}",
            self.api_code
        )
    }
}

/// Where credentials can be read again after Ralio refuses them (a rotated key).
#[async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credentials(&self) -> Result<RalioCredentials, String>;
}

#[derive(Debug, Clone)]
pub struct RalioConfig {
    pub base_url: String,
    /// None: read from the client's [`CredentialSource`] on first use (the secret in Lambda).
    pub credentials: Option<RalioCredentials>,
    pub auth: AuthScheme,
    pub connect_timeout: Duration,
    /// Total time for one HTTP exchange.
    pub request_timeout: Duration,
    /// Attempts for retryable calls (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, jittered, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub create_session_body: CreateSessionBody,
}

impl RalioConfig {
    pub fn new(base_url: impl Into<String>, credentials: RalioCredentials) -> Self {
        Self::with_credentials(base_url, Some(credentials))
    }

    /// `None`: the client reads them from its source when first needed.
    pub fn with_credentials(
        base_url: impl Into<String>,
        credentials: Option<RalioCredentials>,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            auth: AuthScheme::Login,
            connect_timeout: Duration::from_secs(2),
            request_timeout: REQUEST_TIMEOUT,
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            create_session_body: CreateSessionBody::Empty,
        }
    }
}

/// Ralio's base URL must be HTTPS; plain HTTP is accepted only for a loopback host.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("must be https (plain http only for a loopback host)".into())
            }
        }
        other => Err(format!("scheme {other} is not https")),
    }
}

/// A Ralio failure, typed by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RalioError {
    /// Our credentials were refused (after one fresh login and one fresh read of them).
    #[error("Ralio refused our credentials")]
    Unauthorized,
    #[error("Ralio does not know this user")]
    UserNotFound,
    /// Any other 4xx: Ralio understood and said no.
    #[error("Ralio refused the request with status {status}")]
    Rejected { status: u16, body: String },
    /// The request never reached Ralio (connection refused, no route).
    #[error("Ralio could not be reached: {0}")]
    Unreachable(String),
    /// 429, after retries where retrying is safe: Ralio did not process it.
    #[error("Ralio is rate limiting us")]
    RateLimited,
    /// 5xx, or the connection broke after the request was sent.
    #[error("Ralio is unavailable: {0}")]
    Unavailable(String),
    #[error("Ralio did not answer in time")]
    Timeout,
    /// The call's deadline passed before the request could be sent.
    #[error("no time left to call Ralio")]
    OutOfTime,
    /// A 2xx (or a redirect) whose body is not what Ralio documents.
    #[error("Ralio answered something unexpected: {0}")]
    BadResponse(String),
}

impl RalioError {
    /// A stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RalioError::Unauthorized => "unauthorized",
            RalioError::UserNotFound => "user_not_found",
            RalioError::Rejected { .. } => "rejected",
            RalioError::Unreachable(_) => "unreachable",
            RalioError::RateLimited => "rate_limited",
            RalioError::Unavailable(_) => "unavailable",
            RalioError::Timeout => "timeout",
            RalioError::OutOfTime => "out_of_time",
            RalioError::BadResponse(_) => "bad_response",
        }
    }

    /// Whether Ralio may have acted on a creating call that ended in this error: certainly
    /// not when it was never reached, refused us, or refused the request (a 4xx other than
    /// 408 and 409); maybe for everything else (timeout, 5xx, a broken connection, an answer
    /// that cannot be read).
    pub fn may_have_acted(&self) -> bool {
        match self {
            RalioError::Unauthorized
            | RalioError::UserNotFound
            | RalioError::Unreachable(_)
            | RalioError::RateLimited
            | RalioError::OutOfTime => false,
            RalioError::Rejected { status, .. } => matches!(status, 408 | 409),
            RalioError::Unavailable(_) | RalioError::Timeout | RalioError::BadResponse(_) => true,
        }
    }
}

/// The latest moment a Ralio call may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline beyond each request's own timeout.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn at(instant: Instant) -> Self {
        Self(Some(instant))
    }

    pub fn after(budget: Duration) -> Self {
        Self(Some(Instant::now() + budget))
    }

    /// Time left; `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// `wanted`, cut to the time left.
    fn bound(&self, wanted: Duration) -> Duration {
        self.remaining().map_or(wanted, |left| wanted.min(left))
    }
}

/// See the module documentation. Cheap to share: one per warm container.
pub struct RalioClient {
    /// Built on the first call, so a start reads no trust store.
    http: std::sync::OnceLock<reqwest::Client>,
    config: RalioConfig,
    credentials: Mutex<Option<RalioCredentials>>,
    source: Option<Arc<dyn CredentialSource>>,
    token: Mutex<Option<String>>,
}

/// Calls on a [`RalioClient`] that keep to one deadline.
#[derive(Clone, Copy)]
pub struct RalioCall<'a> {
    client: &'a RalioClient,
    deadline: Deadline,
}

impl RalioClient {
    pub fn new(config: RalioConfig) -> Result<Self, RalioError> {
        Self::with_source(config, None)
    }

    /// A client that reads its credentials from `source` when it has none yet, and again when
    /// Ralio refuses them.
    pub fn with_source(
        config: RalioConfig,
        source: Option<Arc<dyn CredentialSource>>,
    ) -> Result<Self, RalioError> {
        check_base_url(&config.base_url).map_err(RalioError::BadResponse)?;
        if config.credentials.is_none() && source.is_none() {
            return Err(RalioError::BadResponse(
                "no Ralio credentials and nowhere to read them from".into(),
            ));
        }
        Ok(Self {
            http: std::sync::OnceLock::new(),
            credentials: Mutex::new(config.credentials.clone()),
            config,
            source,
            token: Mutex::new(None),
        })
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(crate::tls::rustls_config())
                .connect_timeout(self.config.connect_timeout)
                .timeout(self.config.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("ralio-idv-lambda/", env!("CARGO_PKG_VERSION")))
                .build()
                // Only a TLS backend of another type can fail here, and that is a bug.
                .expect("the Ralio HTTP client builds from its own rustls configuration")
        })
    }

    /// The credentials, read from the source the first time they are needed. An error here
    /// means no request was sent.
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

    /// Reads the credentials now if they come from a source (start-up with priming): a
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

    /// Calls that keep to `deadline`.
    pub fn within(&self, deadline: Deadline) -> RalioCall<'_> {
        RalioCall {
            client: self,
            deadline,
        }
    }

    fn unbounded(&self) -> RalioCall<'_> {
        self.within(Deadline::none())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// Full jitter: a random wait up to the exponential bound.
    fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .config
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.config.max_backoff);
        bound.mul_f64(fastrand::f64())
    }

    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_deref() == Some(stale) {
            *cached = None;
        }
    }

    /// Reads the credentials again, once, after Ralio refused them. False when there is
    /// nothing new to try.
    async fn reread_credentials(&self) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        match source.credentials().await {
            Ok(fresh) => {
                // One lock at a time: `token()` holds the token lock while it reads these.
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
    /// The bearer token, logging in when none is cached.
    async fn token(&self) -> Result<String, RalioError> {
        let client = self.client;
        if client.config.auth == AuthScheme::RawKey {
            return Ok(client.current_credentials(self.deadline).await?.api_key);
        }
        // Held across the login so concurrent requests in a container share one login.
        let mut cached = client.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let credentials = client.current_credentials(self.deadline).await?;
        let body = json!({ "api_code": credentials.api_code, "api_key": credentials.api_key });
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

    /// Sends with retries where they are safe, within the deadline. `idempotent` requests are
    /// retried on 429, 5xx, timeouts and connection errors; others only on connection errors
    /// and 429, where Ralio cannot have acted on them.
    async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RalioError> {
        let config = &self.client.config;
        let mut attempt = 0;
        let mut last = RalioError::OutOfTime;
        loop {
            if self.deadline.passed() {
                return Err(last);
            }
            attempt += 1;
            let timeout = self.deadline.bound(config.request_timeout);
            let (retryable, wait, error) = match build().timeout(timeout).send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after(&response).map(|w| w.min(config.max_backoff));
                        (true, wait, RalioError::RateLimited)
                    } else if status.is_server_error() {
                        let error = RalioError::Unavailable(format!("status {status}"));
                        (idempotent, None, error)
                    } else {
                        return Ok(response);
                    }
                }
                Err(err) if err.is_timeout() => (idempotent, None, RalioError::Timeout),
                Err(err) if err.is_connect() => (
                    true,
                    None,
                    RalioError::Unreachable(err.without_url().to_string()),
                ),
                Err(err) => (
                    idempotent,
                    None,
                    RalioError::Unavailable(err.without_url().to_string()),
                ),
            };
            if !retryable || attempt >= config.max_attempts {
                return Err(error);
            }
            last = error;
            let pause = self
                .deadline
                .bound(wait.unwrap_or_else(|| self.client.backoff(attempt)));
            tokio::time::sleep(pause).await;
        }
    }

    /// An authorised call: one fresh login and one more try on a 401, then one fresh read of
    /// the credentials and one more.
    async fn authorized(
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
            // A 401 means Ralio did nothing: safe to try again with a new token.
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

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A 2xx JSON body, or the error the status stands for.
async fn expect_json<T: for<'de> Deserialize<'de>>(response: Response) -> Result<T, RalioError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(RalioError::BadResponse(format!("redirect {status}")));
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(match status {
            StatusCode::UNAUTHORIZED => RalioError::Unauthorized,
            StatusCode::NOT_FOUND => RalioError::UserNotFound,
            s if s.is_client_error() => RalioError::Rejected {
                status: s.as_u16(),
                body: body.chars().take(500).collect(),
            },
            s => RalioError::Unavailable(format!("status {s}")),
        });
    }
    let bytes = response.bytes().await.map_err(|e| {
        if e.is_timeout() {
            RalioError::Timeout
        } else {
            RalioError::Unavailable(e.without_url().to_string())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RalioError::BadResponse(describe_json_error(&e)))
}

/// What is wrong with a body Ralio sent, without quoting it: serde's messages quote the
/// offending value, which may be a hosted page's link or a person's name.
pub(crate) fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_base_url("https://sandbox-revo-api.raliopay.com").is_ok());
        for local in [
            "http://127.0.0.1:3001",
            "http://localhost:9",
            "http://[::1]:80",
        ] {
            assert!(check_base_url(local).is_ok(), "{local}");
        }
        for bad in [
            "http://ralio.example",
            "http://10.0.0.1",
            "ftp://x",
            "nonsense",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_may_have_happened_at_ralio() {
        let maybe = [
            RalioError::Timeout,
            RalioError::Unavailable("502".into()),
            RalioError::BadResponse("x".into()),
            RalioError::Rejected {
                status: 409,
                body: String::new(),
            },
            RalioError::Rejected {
                status: 408,
                body: String::new(),
            },
        ];
        let not = [
            RalioError::Unreachable("refused".into()),
            RalioError::RateLimited,
            RalioError::Unauthorized,
            RalioError::UserNotFound,
            RalioError::OutOfTime,
            RalioError::Rejected {
                status: 422,
                body: String::new(),
            },
        ];
        assert!(maybe.iter().all(RalioError::may_have_acted));
        assert!(not.iter().all(|e| !e.may_have_acted()));
    }
}
