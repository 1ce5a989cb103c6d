//! This module holds what the account gate's test files share: the function over a store with
//! Ralio faked over HTTP, and webhooks applied as the webhook function applies them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use idv_account_gate::{AccountGate, Parts, Settings};
use idv_adapters::clock::ManualClock;
use idv_adapters::store::Store;
use idv_adapters::testing::fixtures::{self, fake_ralio as ralio_login, ralio_client, t0};
use idv_adapters::testing::{self};
use idv_model::{HostedUrl, Owner, Plan, SessionId, SessionRecord, Uid, parse_webhook};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// This function's name in the recorded permissions.
pub const FUNCTION: &str = "account-gate";

pub struct Harness {
    pub app: Router,
    pub ralio: MockServer,
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
}

/// Returns a Ralio that opens a new account for every call, echoing alias and currency.
pub async fn account_opening_ralio(delay: Duration) -> MockServer {
    let server = ralio_login().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/v1/account/users/[0-9a-f-]+/accounts$"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(201)
                .set_body_json(json!({
                    "alias": body["alias"], "currency": body["currency"], "balance": 0,
                    "id": uuid::Uuid::new_v4(), "pendingIn": 0, "pendingOut": 0,
                    "state": "ACTIVE", "type": "USER"
                }))
                .set_delay(delay)
        })
        .mount(&server)
        .await;
    server
}

/// Builds the function over `store`, with its requests recorded as this function's on
/// DynamoDB.
pub fn build(store: &Arc<dyn Store>, ralio: &MockServer, clock: &ManualClock) -> Router {
    build_with(store, ralio, clock, Settings::default())
}

/// Builds the function with its own settings.
pub fn build_with(
    store: &Arc<dyn Store>,
    ralio: &MockServer,
    clock: &ManualClock,
    settings: Settings,
) -> Router {
    idv_account_gate::router(gate_with(store, ralio, clock, settings))
}

/// Returns the gate itself, because the operator's commands call it directly.
pub fn gate(store: &Arc<dyn Store>, ralio: &MockServer, clock: &ManualClock) -> Arc<AccountGate> {
    gate_with(store, ralio, clock, Settings::default())
}

fn gate_with(
    store: &Arc<dyn Store>,
    ralio: &MockServer,
    clock: &ManualClock,
    settings: Settings,
) -> Arc<AccountGate> {
    let store = testing::as_function(store, FUNCTION);
    AccountGate::new(Parts {
        users: store.clone(),
        accounts: store.clone(),
        audit: store.clone(),
        eraser: store,
        ralio: ralio_client(ralio, fixtures::RALIO_TIMEOUT),
        clock: Arc::new(clock.clone()),
        settings,
    })
}

pub async fn harness(store: Arc<dyn Store>) -> Harness {
    let ralio = account_opening_ralio(Duration::ZERO).await;
    let clock = ManualClock::at(t0() + chrono::Duration::hours(1));
    let app = build(&store, &ralio, &clock);
    Harness {
        app,
        ralio,
        store,
        clock,
    }
}

pub async fn call(app: &Router, method: &str, uri: &str, body: Option<&str>) -> (u16, Value) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.unwrap_or("").to_owned()))
        .unwrap();
    let answer = fixtures::call(app, request).await;
    (answer.status, answer.body)
}

pub async fn kyc(h: &Harness, uid: Uid) -> Value {
    let (status, body) = call(&h.app, "GET", &format!("/users/{uid}/kyc"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn open(h: &Harness, uid: Uid, alias: &str, currency: &str) -> (u16, Value) {
    let body = json!({ "alias": alias, "currency": currency }).to_string();
    call(
        &h.app,
        "POST",
        &format!("/users/{uid}/accounts"),
        Some(&body),
    )
    .await
}

pub async fn ralio_creates(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/accounts"))
        .count()
}

/// Applies a webhook exactly as the webhook function would after verifying it.
pub async fn webhook(store: &Arc<dyn Store>, event_type: &str, at: &str, data: Value) {
    webhook_received(store, event_type, at, data, t0()).await;
}

/// Applies a webhook as [`webhook`] does, received `now`.
pub async fn webhook_received(
    store: &Arc<dyn Store>,
    event_type: &str,
    at: &str,
    data: Value,
    now: chrono::DateTime<chrono::Utc>,
) {
    let body =
        json!({ "id": uuid::Uuid::new_v4(), "event": event_type, "timestamp": at, "data": data });
    let event = parse_webhook(body.to_string().as_bytes()).unwrap();
    if let Some(activation) = event.activation() {
        store.apply_activation(&activation, now).await.unwrap();
        return;
    }
    let owner = event.attribution().owner(&[]).unwrap();
    let attributed = event.attributed(owner).unwrap();
    store.execute(&Plan::new(&attributed, now)).await.unwrap();
}

pub async fn level(store: &Arc<dyn Store>, uid: Uid, level: &str, at: &str) {
    webhook(
        store,
        "kyc_state_updated",
        at,
        json!({ "kycId": 1, "userId": uid, "entityType": "user", "state": level }),
    )
    .await;
}

pub async fn stored_session(store: &Arc<dyn Store>, uid: Uid) -> SessionId {
    let session = SessionId::from_uuid(uuid::Uuid::new_v4());
    let record = SessionRecord::created(
        Owner::User(uid),
        session,
        HostedUrl::new(format!("https://verify.example/{session}")),
        t0(),
        t0() + chrono::Duration::days(7),
    );
    store.store_session(&record, &[]).await.unwrap();
    session
}

pub fn new_uid() -> Uid {
    fixtures::uid()
}
