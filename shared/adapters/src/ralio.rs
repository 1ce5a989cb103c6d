//! The Ralio REST client (reqwest with rustls).
//!
//! - Login (`POST /api/v1/auth/login`) for a bearer token, cached for the life of a warm
//!   container and refreshed once on a 401. The scheme sits behind [`AuthScheme`] so the raw
//!   API key can be sent as the bearer instead, should the sandbox show that is what Ralio
//!   accepts (REFERENCE §1.2).
//! - Connect and total timeouts on every call. Login and GETs are retried with jittered
//!   exponential backoff on 429 (honouring `Retry-After`), 5xx and connection errors. Creating
//!   calls are retried only when the request cannot have reached Ralio (connection refused) or
//!   Ralio refused it unprocessed (429); after a timeout on creating a session, the list endpoint
//!   is asked first, so one user never gets two sessions by accident.
//! - Parsing is lenient where the docs are vague: `createdAt`/`created_at`, state as name,
//!   number or something unknown.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use idv_model::webhook::parse_timestamp;
use idv_model::{Currency, HostedUrl, SessionId, SessionState, Uid};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use idv_model::RalioAccount;

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

#[derive(Debug, Clone)]
pub struct RalioConfig {
    pub base_url: String,
    pub credentials: RalioCredentials,
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
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            auth: AuthScheme::Login,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            create_session_body: CreateSessionBody::Empty,
        }
    }
}

/// A Ralio failure, typed by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RalioError {
    /// Our credentials were refused (after one fresh login).
    #[error("Ralio refused our credentials")]
    Unauthorized,
    #[error("Ralio does not know this user")]
    UserNotFound,
    /// Any other 4xx: Ralio understood and said no.
    #[error("Ralio refused the request with status {status}")]
    Rejected { status: u16, body: String },
    /// 5xx, 429 or connection failures, after retries where retrying is safe.
    #[error("Ralio is unavailable: {0}")]
    Unavailable(String),
    #[error("Ralio did not answer in time")]
    Timeout,
    /// A 2xx whose body is not what Ralio documents.
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
            RalioError::Unavailable(_) => "unavailable",
            RalioError::Timeout => "timeout",
            RalioError::BadResponse(_) => "bad_response",
        }
    }
}

/// A session state as Ralio reports it over REST: the vocabulary is undocumented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedState {
    Known(SessionState),
    Unknown(String),
}

impl ReportedState {
    fn from_json(value: &Value) -> Self {
        match SessionState::deserialize(value) {
            Ok(state) => ReportedState::Known(state),
            Err(_) => {
                let raw = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                tracing::warn!(state = %raw, "Ralio reported an unknown session state");
                ReportedState::Unknown(raw)
            }
        }
    }

    /// Still usable by the end user, as far as we can tell.
    pub fn is_open(&self) -> bool {
        self.known().is_some_and(SessionState::is_open)
    }

    pub fn known(&self) -> Option<SessionState> {
        match self {
            ReportedState::Known(state) => Some(*state),
            ReportedState::Unknown(_) => None,
        }
    }
}

/// An IDV session as Ralio returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RalioSession {
    pub id: SessionId,
    pub hosted_url: HostedUrl,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub state: ReportedState,
}

#[derive(Deserialize)]
struct SessionWire {
    id: String,
    #[serde(default, rename = "hostedUrl", alias = "hosted_url")]
    hosted_url: Option<String>,
    #[serde(default, rename = "createdAt", alias = "created_at")]
    created_at: Option<String>,
    #[serde(default, rename = "expiresAt", alias = "expires_at")]
    expires_at: Option<String>,
    #[serde(default)]
    state: Value,
}

impl SessionWire {
    fn into_session(self) -> Result<RalioSession, RalioError> {
        let id = SessionId::parse(&self.id).map_err(|e| RalioError::BadResponse(e.to_string()))?;
        let hosted_url = self
            .hosted_url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| RalioError::BadResponse("session without hostedUrl".into()))?;
        Ok(RalioSession {
            id,
            hosted_url: HostedUrl::new(hosted_url),
            created_at: self.created_at.as_deref().and_then(parse_timestamp),
            expires_at: self.expires_at.as_deref().and_then(parse_timestamp),
            state: ReportedState::from_json(&self.state),
        })
    }
}

#[derive(Deserialize)]
struct SessionList {
    #[serde(default)]
    sessions: Vec<SessionWire>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default, rename = "numPages")]
    num_pages: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountWire {
    id: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    balance: i64,
    #[serde(default)]
    pending_in: i64,
    #[serde(default)]
    pending_out: i64,
    #[serde(default)]
    state: String,
    #[serde(default, rename = "type")]
    account_type: String,
}

/// How a session creation ended: created now, or found by reconciliation after a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub session: RalioSession,
    pub reconciled: bool,
}

/// See the module documentation. Cheap to share: one per warm container.
pub struct RalioClient {
    http: reqwest::Client,
    config: RalioConfig,
    token: Mutex<Option<String>>,
}

/// Pages read at most when listing a user's sessions.
const MAX_LIST_PAGES: u32 = 10;

impl RalioClient {
    pub fn new(config: RalioConfig) -> Result<Self, RalioError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("ralio-idv-lambda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RalioError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            config,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// The bearer token, logging in when none is cached.
    async fn token(&self) -> Result<String, RalioError> {
        if self.config.auth == AuthScheme::RawKey {
            return Ok(self.config.credentials.api_key.clone());
        }
        // Held across the login so concurrent requests in a container share one login.
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let credentials = &self.config.credentials;
        let body = json!({ "api_code": credentials.api_code, "api_key": credentials.api_key });
        let response = self
            .send(true, || {
                self.http.post(self.url("/api/v1/auth/login")).json(&body)
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

    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_deref() == Some(stale) {
            *cached = None;
        }
    }

    /// Sends with retries where they are safe. `idempotent` requests are retried on 429,
    /// 5xx, timeouts and connection errors; others only on connection errors and 429, where
    /// Ralio cannot have acted on them.
    async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RalioError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.config.max_attempts;
            let (retryable, wait, error) = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after(&response).map(|w| w.min(self.config.max_backoff));
                        (
                            true,
                            wait,
                            RalioError::Unavailable("rate limited (429)".into()),
                        )
                    } else if status.is_server_error() {
                        (
                            idempotent,
                            None,
                            RalioError::Unavailable(format!("status {status}")),
                        )
                    } else {
                        return Ok(response);
                    }
                }
                Err(err) if err.is_timeout() => (idempotent, None, RalioError::Timeout),
                Err(err) if err.is_connect() => (
                    true,
                    None,
                    RalioError::Unavailable("connection failed".into()),
                ),
                Err(err) => (
                    idempotent,
                    None,
                    RalioError::Unavailable(err.without_url().to_string()),
                ),
            };
            if !retryable || last {
                return Err(error);
            }
            tokio::time::sleep(wait.unwrap_or_else(|| self.backoff(attempt))).await;
        }
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

    /// An authorised call: one fresh login and one more try on a 401.
    async fn authorized(
        &self,
        idempotent: bool,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, RalioError> {
        let url = self.url(path);
        let mut relogged = false;
        loop {
            let token = self.token().await?;
            let response = self
                .send(idempotent, || {
                    let request = self.http.request(method.clone(), &url).bearer_auth(&token);
                    match body {
                        Some(body) => request.json(body),
                        None => request,
                    }
                })
                .await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                if relogged || self.config.auth == AuthScheme::RawKey {
                    return Err(RalioError::Unauthorized);
                }
                // A 401 means Ralio did nothing: safe to try again once with a new token.
                self.forget_token(&token).await;
                relogged = true;
                continue;
            }
            return Ok(response);
        }
    }

    fn sessions_path(uid: Uid) -> String {
        format!("/api/v1/account/users/{uid}/identity-verifications")
    }

    async fn create_once(&self, uid: Uid) -> Result<RalioSession, RalioError> {
        let body = match self.config.create_session_body {
            CreateSessionBody::Empty => None,
            CreateSessionBody::EmptyJsonObject => Some(json!({})),
        };
        let response = self
            .authorized(
                false,
                Method::POST,
                &Self::sessions_path(uid),
                body.as_ref(),
            )
            .await?;
        let wire: SessionWire = expect_json(response).await?;
        wire.into_session()
    }

    /// Creates an IDV session. After a timeout, looks for a session created meanwhile (not in
    /// `known`, still open) before creating once more.
    pub async fn create_session(
        &self,
        uid: Uid,
        known: &HashSet<SessionId>,
    ) -> Result<CreatedSession, RalioError> {
        let started = Utc::now();
        match self.create_once(uid).await {
            Ok(session) => Ok(CreatedSession {
                session,
                reconciled: false,
            }),
            Err(RalioError::Timeout) => {
                tracing::warn!(
                    "Ralio create-session timed out; reconciling with the list endpoint"
                );
                let listed = self.list_sessions(uid).await?;
                let recent = |s: &RalioSession| {
                    s.created_at
                        .is_none_or(|at| at >= started - chrono::Duration::minutes(5))
                };
                let found = listed
                    .into_iter()
                    .filter(|s| !known.contains(&s.id) && s.state.is_open() && recent(s))
                    .max_by_key(|s| s.created_at);
                match found {
                    Some(session) => Ok(CreatedSession {
                        session,
                        reconciled: true,
                    }),
                    None => Ok(CreatedSession {
                        session: self.create_once(uid).await?,
                        reconciled: false,
                    }),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Every IDV session Ralio has for the user (paged, at most 10 pages of 100).
    pub async fn list_sessions(&self, uid: Uid) -> Result<Vec<RalioSession>, RalioError> {
        let mut sessions = Vec::new();
        let mut page = 1;
        loop {
            let path = format!("{}?page={page}&pageSize=100", Self::sessions_path(uid));
            let response = self.authorized(true, Method::GET, &path, None).await?;
            let list: SessionList = expect_json(response).await?;
            let count = list.sessions.len();
            for wire in list.sessions {
                sessions.push(wire.into_session()?);
            }
            let pages = list.pagination.and_then(|p| p.num_pages).unwrap_or(1);
            if count == 0 || page >= pages || page >= MAX_LIST_PAGES {
                return Ok(sessions);
            }
            page += 1;
        }
    }

    /// Creates an account. Not retried once sent: the caller guards with its own lease.
    pub async fn create_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<RalioAccount, RalioError> {
        let body = json!({ "alias": alias, "currency": currency.as_str() });
        let path = format!("/api/v1/account/users/{uid}/accounts");
        let response = self
            .authorized(false, Method::POST, &path, Some(&body))
            .await?;
        let wire: AccountWire = expect_json(response).await?;
        if wire.id.trim().is_empty() {
            return Err(RalioError::BadResponse("account without id".into()));
        }
        Ok(RalioAccount {
            id: wire.id,
            alias: if wire.alias.is_empty() {
                alias.to_owned()
            } else {
                wire.alias
            },
            currency: if wire.currency.is_empty() {
                currency.as_str().to_owned()
            } else {
                wire.currency
            },
            balance: wire.balance,
            pending_in: wire.pending_in,
            pending_out: wire.pending_out,
            state: wire.state,
            account_type: wire.account_type,
        })
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
    serde_json::from_slice(&bytes).map_err(|e| RalioError::BadResponse(e.to_string()))
}
