//! These tests put the sample Lambda events in `infra/events/lambda/` (what `cargo lambda
//! invoke --data-file` sends) through each function's own handler, as the Lambda runtime hands
//! them over. The HTTP ones are decoded by `lambda_http` into the request the function's router
//! serves.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::{MemoryQueue, QueueError, Visibility};
use idv_adapters::ralio::{RalioClient, RalioConfig, RalioCredentials};
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::MemoryStore;
use idv_adapters::testing::bus::TestBus;
use idv_model::{ExpirySchedule, WebhookSecrets};
use serde_json::Value;
use tower::ServiceExt;

fn sample(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events/lambda")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serves an API Gateway v2 or function URL event through `lambda_http` and the function's
/// router.
async fn serve(router: Router, name: &str) -> (u16, Value) {
    let event: lambda_http::request::LambdaRequest = serde_json::from_str(&sample(name)).unwrap();
    let request: lambda_http::Request = event.into();
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_webhook_sample_is_applied() {
    let store = Arc::new(MemoryStore::new());
    let secrets = WebhookSecrets::from_csv(idv_adapters::secrets::LOCAL_WEBHOOK_SECRET).unwrap();
    let webhook = idv_webhook::Webhook::new(idv_webhook::Parts {
        store,
        keys: SigningKeys::fixed(secrets),
        origin: None,
        clock: Arc::new(SystemClock),
        scheduler: None,
        settings: Default::default(),
        spellings: Default::default(),
    });
    let (status, body) = serve(idv_webhook::router(webhook), "webhook.json").await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
}

#[tokio::test]
async fn the_http_api_samples_are_answered() {
    let store = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // create-session needs a Ralio, so a simulator stands in for it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let config = ralio_sim::SimConfig::new(sim_url.clone(), None, "unused-secret");
    let credentials = RalioCredentials {
        api_code: config.api_code.clone(),
        api_key: config.api_key.clone().into(),
    };
    let sim = ralio_sim::Simulator::new(config);
    tokio::spawn(async move { axum::serve(listener, ralio_sim::router(sim)).await });
    let ralio = Arc::new(RalioClient::new(RalioConfig::new(sim_url, credentials)).unwrap());
    let scheduler = Arc::new(ExpiryScheduler::new(
        store.clone(),
        Arc::new(MemoryQueue::new(clock.clone())),
        ExpirySchedule::default(),
    ));
    let create = idv_create_session::CreateSession::new(idv_create_session::Parts {
        users: store.clone(),
        leases: store.clone(),
        scheduler,
        ralio: ralio.clone(),
        clock: clock.clone(),
        settings: Default::default(),
    });
    let (status, session) = serve(idv_create_session::router(create), "create-session.json").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["state"], "NOT_STARTED");

    let gate = idv_account_gate::AccountGate::new(idv_account_gate::Parts {
        users: store.clone(),
        accounts: store.clone(),
        audit: store.clone(),
        eraser: store.clone(),
        ralio,
        clock,
        settings: Default::default(),
    });
    let (status, kyc) = serve(idv_account_gate::router(gate), "account-gate.json").await;
    assert_eq!(status, 200, "{kyc}");
    assert_eq!(kyc["latestSession"]["sessionId"], session["sessionId"]);
}

/// Stands in for SQS, whose business visibility changes are, because a processed tick asks for
/// none.
struct NoVisibility;

#[async_trait]
impl Visibility for NoVisibility {
    async fn hide(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        panic!("a due tick is processed, not hidden")
    }
}

#[tokio::test]
async fn the_tick_sample_is_processed() {
    let event: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_str(&sample("expiry-watcher.json")).unwrap();
    let watcher = idv_expiry_watcher::Watcher::new(idv_expiry_watcher::Parts {
        index: Arc::new(MemoryStore::new()),
        visibility: Some(Arc::new(NoVisibility)),
        clock: Arc::new(SystemClock),
    });
    let response = watcher.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn the_stream_sample_is_published() {
    let event = serde_json::from_str(&sample("event-publisher.json")).unwrap();
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(TestBus::default());
    let publisher = idv_event_publisher::EventPublisher::new(idv_event_publisher::Parts {
        trail: store.clone(),
        users: store,
        sink: bus.clone(),
    });
    let response = publisher.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    let published = bus.accepted();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].detail_type, "Session State Changed");
    assert_eq!(published[0].detail["state"], "VERIFIED");
}

#[test]
fn every_function_has_its_sample() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events/lambda");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "account-gate.json",
            "create-session.json",
            "event-publisher.json",
            "expiry-watcher.json",
            "webhook.json"
        ]
    );
}
