//! The webhook is Ralio's only door into the system. Every delivery is checked and answered so
//! that nothing signed is ever lost, because Ralio never retries a 2xx or a 4xx:
//!
//! | delivery | answer |
//! |---|---|
//! | with an edge (`WEBHOOK_ORIGIN_SECRET_ARN`): `x-origin-verify` missing or wrong, checked before anything else and against the secret read again (at most once a minute) | 503 `edge_header_mismatch`: never a 4xx, which Ralio would drop; counted as `WebhookEdgeRefused`, kept out of the 5xx alarm |
//! | not `POST` | 405 `method_not_allowed` |
//! | body over 6 MB (Lambda's own limit on a function URL request) | 413 `payload_too_large` |
//! | `X-Signature` missing / wrong | 401 `signature_missing` / `signature_invalid` (a forgery is dropped); a mismatch first reads the secrets again, at most once a minute, and secrets older than `WEBHOOK_SECRET_MAX_AGE` are read again first, so a removed secret stops verifying |
//! | `X-Signature` wrong while the secrets cannot be read (Secrets Manager failing), or within `WEBHOOK_SECRET_MAX_AGE` of a rotation seen and read under a minute ago | 503 `signature_unverified`: perhaps genuine, so Ralio sends it again; counted as `WebhookSignatureUnverified`, kept out of the 5xx alarm |
//! | signed, not interpretable, or whose owner is ambiguous | quarantined verbatim, 200 `quarantined` |
//! | signed, owner not known yet (session not stored, no owner named, `kycId` not paired), while young | 503 `attribution_pending`: Ralio sends it again; the first time, the body is kept too (reason `attribution_pending`), so a replay has it if Ralio gives up |
//! | the same, past `ATTRIBUTION_RETRY_WINDOW` | quarantined verbatim, 200 `quarantined` |
//! | signed, unknown event type | its id, type, timestamp and digest kept (the body verbatim when the type looks like Ralio's KYC family, so a release that learns its spelling can replay it), 200 `unhandled` |
//! | signed, known event | applied in one DynamoDB request, 200 `applied` / `duplicate` / `stale` / `unchanged` |
//! | signed `account_activated` | the account marked ACTIVE, or the activation kept until the account is recorded: 200 `applied` / `deferred` |
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`idv_adapters::http::store_problem`]; Ralio retries 5xx), nothing half-written |
//!
//! A timestamp more than `MAX_CLOCK_SKEW` after receipt is ordered at receipt (audited).

mod edge;
mod kept;
pub mod lambda;
mod process;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::http::Problem;
use idv_adapters::origin_secret::OriginSecret;
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::EventStore;
use idv_adapters::wiring::Wiring;
use idv_model::signature::SIGNATURE_HEADER;
use idv_model::webhook::MAX_CLOCK_SKEW;
use idv_model::{ATTRIBUTION_RETRY_WINDOW, LearntSpellings, SignatureError, WebhookSecrets};

pub use edge::EDGE_HEADER_MISMATCH;
pub use process::{Mode, Outcome, Reply};

/// The largest body read. It is Lambda's own limit on a function URL request (6 MB), so every
/// body that reaches the function has its signature checked before any size rule.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The largest body kept verbatim in quarantine, because a DynamoDB item holds at most
/// 400 KB. A larger signed body that is not applied is kept as its digest and the fields read
/// from it.
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

/// Holds the tunables, each with an environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How far ahead of its receipt an event's timestamp is believed (`MAX_CLOCK_SKEW`, 5m).
    pub max_clock_skew: chrono::Duration,
    /// How long an event whose owner is not known yet is answered 503 so that Ralio sends it
    /// again, counted from the later of its timestamp and first receipt
    /// (`ATTRIBUTION_RETRY_WINDOW`, 1h).
    pub attribution_window: chrono::Duration,
    /// How long quarantined payloads are kept (`QUARANTINE_RETENTION`, 30d).
    pub quarantine_retention: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_clock_skew: MAX_CLOCK_SKEW,
            attribution_window: ATTRIBUTION_RETRY_WINDOW,
            quarantine_retention: idv_adapters::config::QUARANTINE_RETENTION,
        }
    }
}

/// Returns the settings as the environment sets them. A variable not set keeps its default.
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
        max_clock_skew: env.span("MAX_CLOCK_SKEW", defaults.max_clock_skew)?,
        attribution_window: env.span("ATTRIBUTION_RETRY_WINDOW", defaults.attribution_window)?,
        quarantine_retention: idv_adapters::config::quarantine_retention(env)?,
    })
}

/// Returns signing keys nobody knows. A webhook holding them verifies no delivery, so it can
/// only replay quarantined payloads ([`Mode::Replay`]), as `idv-admin replay-quarantine` does.
pub fn unknowable_keys() -> SigningKeys {
    let unknowable = idv_model::WebhookSecret::new(uuid::Uuid::new_v4().as_bytes());
    SigningKeys::fixed(WebhookSecrets::new(vec![unknowable]).expect("one secret is not none"))
}

/// Holds the parts the webhook is made of. Tests, the local stack and replays choose each part,
/// and Lambda's come from its environment ([`Webhook::from_env`]).
pub struct Parts {
    pub store: Arc<dyn EventStore>,
    /// Holds the secrets deliveries are verified with, or [`unknowable_keys`] for a replayer.
    pub keys: SigningKeys,
    /// Holds the secret the edge sends in `x-origin-verify`, when the webhook sits behind one.
    /// Without it the header is not checked (no edge, local runs, replays).
    pub origin: Option<OriginSecret>,
    pub clock: Arc<dyn Clock>,
    /// Schedules expiry for sessions a webhook announces with their expiry (a related party's
    /// new session). Without it, such sessions are stored but not watched.
    pub scheduler: Option<Arc<ExpiryScheduler>>,
    pub settings: Settings,
    /// Holds event-type spellings a person mapped, which are read before this release's own.
    /// Only a replay has any, because a live delivery is never interpreted on a guess.
    pub spellings: LearntSpellings,
}

/// The function, which holds its parts and nothing else.
pub struct Webhook {
    parts: Parts,
}

impl Webhook {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self { parts })
    }

    /// Builds the webhook from Lambda's configuration: `TABLE_NAME`, `QUEUE_URL`, the expiry
    /// schedule, `WEBHOOK_SECRET_ARN` (or `WEBHOOK_SECRETS` outside Lambda), the edge's
    /// `WEBHOOK_ORIGIN_SECRET_ARN` when it has one, and the [`settings`].
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let store = wiring.store()?;
        let scheduler = wiring.scheduler(store.clone())?;
        let settings = settings(wiring.env())?;
        let keys = wiring.signing_keys()?;
        let origin = wiring.origin_secret()?;
        if let Some(origin) = &origin {
            wiring.prime_origin_secret(origin).await?;
        }
        wiring.prime(&store, None, Some(&keys)).await?;
        Ok(Self::new(Parts {
            store,
            keys,
            origin,
            clock: Arc::new(SystemClock),
            scheduler: Some(scheduler),
            settings,
            spellings: LearntSpellings::default(),
        }))
    }
}

/// Returns a router that answers on every path, as a function URL does. The local runner nests
/// it under `/webhooks/ralio`.
pub fn router(webhook: Arc<Webhook>) -> Router {
    Router::new().fallback(receive).with_state(webhook)
}

async fn receive(State(webhook): State<Arc<Webhook>>, request: Request) -> Response {
    let started = Instant::now();
    let reply = webhook.deliver(request).await;
    tracing::info!(
        event_id = reply.event_id.as_deref().unwrap_or("-"),
        event_type = reply.event_type.as_deref().unwrap_or("-"),
        outcome = reply.outcome.as_str(),
        status = reply.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "webhook delivery"
    );
    idv_adapters::metrics::webhook_outcome(reply.outcome.as_str());
    reply.into_response()
}

impl Webhook {
    async fn deliver(&self, request: Request) -> Reply {
        if let Some(refused) = self.refused_at_the_edge(request.headers()).await {
            return refused;
        }
        if request.method() != Method::POST {
            let mut problem =
                idv_adapters::http::method_not_allowed("Webhooks are delivered with POST.")
                    .into_response();
            problem
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return Reply::answered(Outcome::Refused("method_not_allowed"), problem);
        }
        let signature = request
            .headers()
            .get(SIGNATURE_HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return Reply::refused(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                    format!("Webhook bodies are limited to {MAX_BODY_BYTES} bytes."),
                ));
            }
        };
        match self.parts.keys.verify(&body, signature.as_deref()).await {
            Ok(index) => idv_adapters::metrics::secret_matched(index),
            // The payload may be signed with a secret rotated in a moment ago, or the secrets
            // could not be read. Ralio sends it again, and by then the secrets are read again.
            Err(rejection) if rejection.retryable => {
                tracing::warn!("webhook signature not verifiable yet; Ralio is asked to retry");
                idv_adapters::metrics::signature_unverified();
                return Reply::refused(
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "signature_unverified",
                        "Signature not verifiable yet",
                        "The signing secrets are being read again; send it again shortly.",
                    )
                    .retry_after(60),
                );
            }
            Err(rejection) => {
                let code = match rejection.error {
                    SignatureError::Missing => "signature_missing",
                    SignatureError::Malformed | SignatureError::Mismatch => "signature_invalid",
                };
                tracing::warn!(reason = code, "webhook signature rejected");
                idv_adapters::metrics::signature_rejected(code);
                return Reply::refused(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    code,
                    "Unauthorized",
                    rejection.error.to_string(),
                ));
            }
        }
        // The payload is signed from here on, so whatever happens, it is applied or kept, or
        // Ralio is asked to send it again.
        self.process(&body, Mode::Live).await
    }
}
