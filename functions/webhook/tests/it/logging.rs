//! These tests check the delivery log line. Tracing caches per-callsite interest globally, and a
//! scoped subscriber raced the other tests of this binary for that cache (CI once saw no line at
//! all). So one global subscriber is installed for the whole binary, and it writes only what the
//! test's own thread logs, into that thread's buffer; every other thread's lines are dropped.

use std::sync::Arc;

use idv_adapters::clock::ManualClock;
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::EventStore;
use idv_adapters::testing;
use idv_model::{WebhookSecret, WebhookSecrets};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "whsec_ralio_fixture_test_secret";

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ralio");
    std::fs::read(dir.join(name)).unwrap()
}

async fn post(app: &axum::Router, body: &[u8]) -> u16 {
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": { "content-type": "application/json", "x-signature": WebhookSecret::new(SECRET).sign_hex(body) },
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.eu-west-1.on.aws", "domainPrefix": "abc",
            "http": { "method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "Ralio" },
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "20/May/2026:10:00:00 +0000", "timeEpoch": 1779271200000u64
        },
        "body": String::from_utf8(body.to_vec()).unwrap(),
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    app.clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

thread_local! {
    /// The buffer this thread's log lines go to, when a test is capturing them.
    static CAPTURE: std::cell::RefCell<Option<Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Writes a log line to the current thread's capture buffer, or nowhere.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(sink) = c.borrow().as_ref() {
                sink.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the binary's one subscriber (once) and starts capturing this thread's lines. The
/// tests run on tokio's current-thread runtime, so everything the handler logs is on this thread.
fn capture_this_thread() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(|| ThreadCapture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    let sink = Arc::new(std::sync::Mutex::new(Vec::new()));
    CAPTURE.with(|c| *c.borrow_mut() = Some(sink.clone()));
    sink
}

#[tokio::test]
async fn one_log_line_per_delivery_with_ids_and_no_personal_data() {
    let captured = capture_this_thread();

    let store: Arc<dyn EventStore> = testing::memory();
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-20T10:00:00Z")
        .unwrap()
        .to_utc();
    let app = idv_webhook::router(idv_webhook::Webhook::new(idv_webhook::Parts {
        store,
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        origin: None,
        clock: Arc::new(ManualClock::at(now)),
        scheduler: None,
        settings: Default::default(),
        spellings: Default::default(),
    }));
    let body = fixture("related_party.kyc_session_created.v2.json");
    assert_eq!(post(&app, &body).await, 200);

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let deliveries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook delivery")
        .collect();
    assert_eq!(deliveries.len(), 1, "{logs}");
    let fields = &deliveries[0]["fields"];
    assert_eq!(fields["event_id"], "98b980b2-f790-4a25-b9e7-fb433d9e9cca");
    assert_eq!(fields["event_type"], "related_party.kyc_session_created");
    assert_eq!(fields["outcome"], "applied");
    assert_eq!(fields["status"], 200);
    assert!(fields["latency_ms"].is_number());
    for secret in [
        "Marta",
        "Ibáñez",
        "lumen-analytics",
        "+34612345987",
        "getmati",
        "merchantToken",
        "Alcalá",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs: {logs}");
    }
}

/// Requests refused at the edge's check log why, never the secret nor the header they carried,
/// and the delivery line says `edge_header_mismatch`.
#[tokio::test]
async fn the_edge_secret_and_the_header_never_appear_in_logs() {
    const ORIGIN: &str = "EdgeOriginSecretForTheLogTest0123456789abcdefghijklmnopqrstuvw";
    let captured = capture_this_thread();
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-20T10:00:00Z")
        .unwrap()
        .to_utc();
    let app = idv_webhook::router(idv_webhook::Webhook::new(idv_webhook::Parts {
        store: testing::memory(),
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        origin: Some(idv_adapters::origin_secret::OriginSecret::fixed(ORIGIN)),
        clock: Arc::new(ManualClock::at(now)),
        scheduler: None,
        settings: Default::default(),
        spellings: Default::default(),
    }));
    let body = fixture("related_party.kyc_session_created.v2.json");
    let near_miss = format!("{}0", &ORIGIN[..ORIGIN.len() - 1]);
    for (origin, status) in [
        (None, 503),
        (Some(near_miss.as_str()), 503),
        (Some(ORIGIN), 200),
    ] {
        let mut request = axum::http::Request::post("/")
            .header("content-type", "application/json")
            .header("x-signature", WebhookSecret::new(SECRET).sign_hex(&body));
        if let Some(origin) = origin {
            request = request.header("x-origin-verify", origin);
        }
        let request = request.body(axum::body::Body::from(body.clone())).unwrap();
        let answer = app.clone().oneshot(request).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{origin:?}");
    }

    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    assert!(
        !logs.contains(ORIGIN),
        "the secret leaked into logs: {logs}"
    );
    assert!(
        !logs.contains(&near_miss),
        "a header leaked into logs: {logs}"
    );
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook delivery")
        .map(|l| &l["fields"]["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        [
            &json!("edge_header_mismatch"),
            &json!("edge_header_mismatch"),
            &json!("applied")
        ],
        "{logs}"
    );
    let reasons: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook request did not come through the edge")
        .map(|l| &l["fields"]["reason"])
        .collect();
    assert_eq!(
        reasons,
        [&json!("header_missing"), &json!("header_mismatch")]
    );
}
