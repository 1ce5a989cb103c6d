//! Ralio's only door into the system. Every delivery is checked and answered so that nothing
//! signed is ever lost:
//!
//! | delivery | answer |
//! |---|---|
//! | not `POST` | 405 `method_not_allowed` |
//! | body over 256 KiB | 413 `payload_too_large` |
//! | `X-Signature` missing / wrong | 401 `signature_missing` / `signature_invalid` (Ralio does not retry 4xx: a forgery is dropped) |
//! | signed, not interpretable | quarantined verbatim, 200 `quarantined` |
//! | signed, unknown event type | kept verbatim, 200 `unhandled` |
//! | signed, known event | applied in one DynamoDB request, 200 `applied` / `duplicate` / `stale` / `unchanged` |
//! | signed `account_activated` | the account marked ACTIVE, or the activation kept until the account is recorded: 200 `applied` / `deferred` |
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`]; Ralio retries 5xx), nothing half-written |

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, ProcessEnv};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::http::store_problem;
use idv_adapters::http::{Problem, json};
use idv_adapters::store::{EventLedger, QuarantineEntry, StoreError};
use idv_adapters::wiring::Wiring;
use idv_model::webhook::EventBody;
use idv_model::{
    ApplyOutcome, SignatureError, WebhookEvent, WebhookSecrets, parse_webhook,
    signature::SIGNATURE_HEADER,
};
use serde_json::json;

/// Ralio's payloads are a few hundred bytes; anything this large is not one.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The webhook's dependencies.
pub struct Webhook {
    ledger: Arc<dyn EventLedger>,
    secrets: WebhookSecrets,
    clock: Arc<dyn Clock>,
    /// Schedules expiry for sessions a webhook announces with their expiry (a related
    /// party's new session). Without it, such sessions are stored but not watched.
    scheduler: Option<Arc<ExpiryScheduler>>,
}

impl Webhook {
    pub fn new(
        ledger: Arc<dyn EventLedger>,
        secrets: WebhookSecrets,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Self::with_scheduler(ledger, secrets, clock, None)
    }

    pub fn with_scheduler(
        ledger: Arc<dyn EventLedger>,
        secrets: WebhookSecrets,
        clock: Arc<dyn Clock>,
        scheduler: Option<Arc<ExpiryScheduler>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            ledger,
            secrets,
            clock,
            scheduler,
        })
    }

    /// Lambda configuration: `TABLE_NAME`, `QUEUE_URL`, the expiry schedule, and
    /// `WEBHOOK_SECRETS` or `RALIO_SECRET_ARN`.
    pub async fn from_env() -> Result<Arc<Self>, ConfigError> {
        Self::from_config(&ProcessEnv).await
    }

    pub async fn from_config(env: &impl Env) -> Result<Arc<Self>, ConfigError> {
        Self::wired(&Wiring::load(env).await).await
    }

    pub async fn wired(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let store = wiring.store()?;
        let scheduler = wiring.scheduler(store.clone())?;
        let secrets = wiring.webhook_secrets().await?;
        Ok(Self::with_scheduler(
            store,
            secrets,
            Arc::new(SystemClock),
            Some(scheduler),
        ))
    }
}

/// A router that answers on every path, as a function URL does. The local runner nests it
/// under `/webhooks/ralio`.
pub fn router(webhook: Arc<Webhook>) -> Router {
    Router::new().fallback(receive).with_state(webhook)
}

/// What one delivery came to, for the log line and the answer.
struct Delivery {
    status: StatusCode,
    outcome: &'static str,
    event_id: Option<String>,
    event_type: Option<String>,
    response: Response,
}

impl Delivery {
    fn problem(problem: Problem) -> Self {
        Self {
            status: problem.status,
            outcome: problem.code,
            event_id: None,
            event_type: None,
            response: problem.into_response(),
        }
    }
}

async fn receive(State(webhook): State<Arc<Webhook>>, request: Request) -> Response {
    let started = Instant::now();
    let delivery = webhook.deliver(request).await;
    tracing::info!(
        event_id = delivery.event_id.as_deref().unwrap_or("-"),
        event_type = delivery.event_type.as_deref().unwrap_or("-"),
        outcome = delivery.outcome,
        status = delivery.status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "webhook delivery"
    );
    delivery.response
}

fn acknowledged(outcome: &'static str, event: Option<&WebhookEvent>) -> Delivery {
    Delivery {
        status: StatusCode::OK,
        outcome,
        event_id: event.map(|e| e.id.to_string()),
        event_type: event.map(|e| e.event_type.clone()),
        response: json(
            StatusCode::OK,
            json!({ "received": true, "duplicate": outcome == ApplyOutcome::Duplicate.as_str(), "outcome": outcome }),
        ),
    }
}

impl Webhook {
    async fn deliver(&self, request: Request) -> Delivery {
        if request.method() != Method::POST {
            let mut delivery = Delivery::problem(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "Webhooks are delivered with POST.",
            ));
            delivery
                .response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return delivery;
        }
        let signature = request
            .headers()
            .get(SIGNATURE_HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return Delivery::problem(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                    format!("Webhook bodies are limited to {MAX_BODY_BYTES} bytes."),
                ));
            }
        };
        if let Err(err) = self.secrets.verify(&body, signature.as_deref()) {
            let code = match err {
                SignatureError::Missing => "signature_missing",
                SignatureError::Malformed | SignatureError::Mismatch => "signature_invalid",
            };
            tracing::warn!(reason = code, "webhook signature rejected");
            return Delivery::problem(Problem::new(
                StatusCode::UNAUTHORIZED,
                code,
                "Unauthorized",
                err.to_string(),
            ));
        }
        // Signed from here on: whatever happens, the payload is kept or applied.
        let now = self.clock.now();
        let event = match parse_webhook(&body) {
            Ok(event) => event,
            Err(err) => {
                return self
                    .keep(&body, err.code(), err.to_string(), None, "quarantined")
                    .await;
            }
        };
        if let Some(activation) = event.activation() {
            // Names only the account: applied to it, or kept until it is recorded.
            return match self.ledger.apply_activation(&activation, now).await {
                Ok(applied) => acknowledged(applied.outcome.as_str(), Some(&event)),
                Err(err) => self.failed(&err, Some(&event)),
            };
        }
        if let EventBody::Unknown { .. } = event.body {
            return self
                .keep(
                    &body,
                    "unknown_event_type",
                    format!("event type {} is not acted on", event.event_type),
                    Some(&event),
                    "unhandled",
                )
                .await;
        }
        let attribution = event.attribution();
        let stored_session_owner = match attribution.session_to_look_up() {
            Some(session_id) => match self.ledger.find_session_owner(session_id).await {
                Ok(found) => found,
                Err(err) => return self.failed(&err, Some(&event)),
            },
            None => None,
        };
        let owner = match attribution.owner(stored_session_owner) {
            Ok(owner) => owner,
            Err(unattributed) => {
                return self
                    .keep(
                        &body,
                        unattributed.code,
                        unattributed.reason.into(),
                        Some(&event),
                        "quarantined",
                    )
                    .await;
            }
        };
        let Some(mut application) = event.application(owner) else {
            return self
                .keep(
                    &body,
                    "unknown_event_type",
                    "not acted on".into(),
                    Some(&event),
                    "unhandled",
                )
                .await;
        };
        let buckets = match &self.scheduler {
            Some(scheduler) => application.schedule_expiry(&scheduler.schedule()),
            None => Vec::new(),
        };
        match self.ledger.apply_event(&application, now).await {
            Ok(applied) => {
                if applied.outcome == ApplyOutcome::Applied
                    && !buckets.is_empty()
                    && let Some(scheduler) = &self.scheduler
                    && let Err(e) = scheduler.ensure_ticks(&buckets, now).await
                {
                    // Acknowledged anyway: the event is applied; only the reminder may be missed.
                    tracing::error!(error = %e, "expiry tick not scheduled");
                }
                acknowledged(applied.outcome.as_str(), Some(&event))
            }
            Err(err) => self.failed(&err, Some(&event)),
        }
    }

    async fn keep(
        &self,
        body: &Bytes,
        code: &'static str,
        reason: String,
        event: Option<&WebhookEvent>,
        outcome: &'static str,
    ) -> Delivery {
        let (event_id, event_type) = match event {
            Some(e) => (Some(e.id.to_string()), Some(e.event_type.clone())),
            None => envelope_hints(body),
        };
        let entry = QuarantineEntry {
            received_at: self.clock.now(),
            reason_code: code.to_owned(),
            reason,
            event_id: event_id.clone(),
            event_type: event_type.clone(),
            body: body.to_vec(),
        };
        match self.ledger.quarantine(&entry).await {
            Ok(()) => {
                tracing::warn!(reason = code, "signed webhook kept without being applied");
                let mut delivery = acknowledged(outcome, event);
                delivery.event_id = event_id;
                delivery.event_type = event_type;
                delivery
            }
            Err(err) => self.failed(&err, event),
        }
    }

    fn failed(&self, err: &StoreError, event: Option<&WebhookEvent>) -> Delivery {
        tracing::error!(error = %err, "webhook could not be stored");
        let mut delivery = Delivery::problem(store_problem(err));
        delivery.event_id = event.map(|e| e.id.to_string());
        delivery.event_type = event.map(|e| e.event_type.clone());
        delivery
    }
}

/// Id and type from a payload that did not parse, when they can be read at all (bounded, so a
/// hostile payload cannot fill the quarantine record's metadata).
fn envelope_hints(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .filter(|s| s.len() <= 128)
            .map(str::to_owned)
    };
    (pick(&["id", "eventId"]), pick(&["event", "eventType"]))
}
