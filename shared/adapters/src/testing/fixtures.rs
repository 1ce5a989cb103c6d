//! The test suites share these: a fixed time, fresh ids, events as the webhook makes them, a fake
//! Ralio over HTTP (wiremock, never a stubbed client) and in-process HTTP calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use idv_model::{
    AttributedEvent, Change, EventId, EventStamp, FailureReason, KycLevel, LevelStamp, Owner,
    Phase, SessionId, Uid,
};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ralio::{RalioClient, RalioConfig, RalioCredentials};

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Returns the moment the suites start from.
pub fn t0() -> DateTime<Utc> {
    at("2026-05-04T09:12:03.418Z")
}

pub fn uid() -> Uid {
    Uid::from_uuid(uuid::Uuid::new_v4())
}

pub fn sid() -> SessionId {
    SessionId::from_uuid(uuid::Uuid::new_v4())
}

pub fn eid() -> EventId {
    EventId::from_uuid(uuid::Uuid::new_v4())
}

/// Returns Ralio reporting `target` for a session, as the webhook turns it into a change.
pub fn session_event(
    owner: Owner,
    session: SessionId,
    target: Phase,
    when: DateTime<Utc>,
) -> AttributedEvent {
    let event_type = match target {
        Phase::Verified => "kyc_session_verified",
        Phase::Review => "kyc_session_manual_review",
        Phase::Rejected => "kyc_session_failed",
        Phase::Expired(_) => "kyc_session_expired",
        _ => "related_party.kyc_session_created",
    };
    AttributedEvent {
        event_id: eid(),
        event_type: event_type.into(),
        occurred_at: when,
        stamped_at: None,
        owner,
        change: Change::Session {
            session_id: session,
            target,
            failure_reasons: Vec::new(),
            hosted_url: None,
            expires_at: None,
            expiry_buckets: Vec::new(),
        },
    }
}

/// Returns a rejection with its reasons.
pub fn rejected_event(
    owner: Owner,
    session: SessionId,
    reasons: Vec<FailureReason>,
) -> AttributedEvent {
    let mut event = session_event(owner, session, Phase::Rejected, t0());
    if let Change::Session {
        failure_reasons, ..
    } = &mut event.change
    {
        *failure_reasons = reasons;
    }
    event
}

/// Returns a `kyc_state_updated` to `level`, stamped `when`.
pub fn level_event(owner: Owner, level: KycLevel, when: DateTime<Utc>) -> AttributedEvent {
    let event_id = eid();
    AttributedEvent {
        event_id,
        event_type: "kyc_state_updated".into(),
        occurred_at: when,
        stamped_at: None,
        owner,
        change: Change::Level {
            stamp: LevelStamp {
                level,
                stamp: EventStamp { at: when, event_id },
            },
            kyc_id: Some(40817),
        },
    }
}

/// Starts a fake Ralio that logs anyone in with token `tok`, and tests mount the rest.
pub async fn fake_ralio() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "token": "tok" })))
        .mount(&server)
        .await;
    server
}

/// A test's Ralio client waits this long for an answer. It is far longer than any healthy answer
/// takes on a busy machine, so that only a server that never answers ([`NEVER`]) reaches it.
pub const RALIO_TIMEOUT: Duration = Duration::from_secs(3);

/// An answer that never comes within a test is delayed this long. A hang is a hang however slow the
/// machine, and the client's own deadline decides when it gives up.
pub const NEVER: Duration = Duration::from_secs(3600);

/// Returns a client for `server` with the given timeout and quick retries.
pub fn ralio_config(server: &MockServer, timeout: Duration) -> RalioConfig {
    let mut config = RalioConfig::new(
        server.uri(),
        RalioCredentials {
            api_code: "c".into(),
            api_key: "k".into(),
        },
    );
    config.request_timeout = timeout;
    config.base_backoff = Duration::from_millis(5);
    config
}

pub fn ralio_client(server: &MockServer, timeout: Duration) -> Arc<RalioClient> {
    Arc::new(RalioClient::new(ralio_config(server, timeout)).expect("a Ralio client"))
}

/// Returns an environment for a function's `from_env` (through a `Wiring`).
pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// This is an in-process HTTP answer: status, headers and the JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends one request through a router, as the Lambda runtime or the local server would.
pub async fn call<B>(app: &Router, request: Request<B>) -> Answer
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Returns a request with an optional JSON body.
pub fn request(method: &str, uri: &str, body: Option<&Value>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("a request")
}
