//! These tests start the functions as Lambda runs them, each built on a `Wiring`, on moto, with
//! every AWS request recorded as the function's. Without `PRIME_CONNECTIONS` a start sends
//! nothing, because secrets and connections wait for the first request. With it, each function
//! makes its cheap requests during INIT, and a secret that is not filled in stops the start,
//! naming it.

use std::collections::HashMap;

use idv_adapters::config::ConfigError;
use idv_adapters::testing::{self, RequestCounter};
use idv_adapters::wiring::Wiring;
use serde_json::json;
use wiremock::MockServer;

struct Setting {
    env: HashMap<String, String>,
    ralio: MockServer,
}

async fn setting(prime: bool, api_secret: serde_json::Value) -> Setting {
    // The fake Ralio logs anyone in, and its received requests count the logins.
    let ralio = testing::fixtures::fake_ralio().await;
    let table = testing::new_table().await;
    let (_, queue) = testing::sqs_queue_on(&[]).await;
    let api = testing::api_secret_on_emulator(&api_secret).await;
    let webhook =
        testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": "whsec_a" })).await;
    let env = testing::fixtures::env(&[
        ("TABLE_NAME", &table),
        ("QUEUE_URL", &queue),
        ("EVENT_BUS_NAME", "idv-priming-test"),
        ("RALIO_BASE_URL", &ralio.uri()),
        ("RALIO_SECRET_ARN", &api),
        ("WEBHOOK_SECRET_ARN", &webhook),
        ("PRIME_CONNECTIONS", if prime { "true" } else { "false" }),
    ]);
    Setting { env, ralio }
}

fn filled() -> serde_json::Value {
    json!({ "api_code": "c", "api_key": "k" })
}

/// Starts `function` on `env`, and returns the AWS requests it sent and whether it started.
async fn start(
    function: &str,
    env: &HashMap<String, String>,
) -> (Vec<String>, Result<(), ConfigError>) {
    let counter = RequestCounter::for_function(function);
    let wiring = Wiring::with_config(
        env,
        testing::emulator_config().await,
        vec![counter.interceptor()],
    );
    let started = match function {
        "webhook" => idv_webhook::Webhook::from_env(&wiring).await.map(drop),
        "create-session" => idv_create_session::CreateSession::from_env(&wiring)
            .await
            .map(drop),
        "account-gate" => idv_account_gate::AccountGate::from_env(&wiring)
            .await
            .map(drop),
        "expiry-watcher" => idv_expiry_watcher::Watcher::from_env(&wiring)
            .await
            .map(drop),
        "event-publisher" => idv_event_publisher::EventPublisher::from_env(&wiring)
            .await
            .map(drop),
        "reconciler" => idv_reconciler::Reconciler::from_env(&wiring)
            .await
            .map(drop),
        other => panic!("no function {other}"),
    };
    (counter.operations(), started)
}

const FUNCTIONS: [&str; 6] = [
    "webhook",
    "create-session",
    "account-gate",
    "expiry-watcher",
    "event-publisher",
    "reconciler",
];

#[tokio::test]
async fn without_priming_a_start_sends_nothing() {
    let setting = setting(false, filled()).await;
    for function in FUNCTIONS {
        let (sent, started) = start(function, &setting.env).await;
        assert!(started.is_ok(), "{function}: {started:?}");
        assert!(sent.is_empty(), "{function} sent {sent:?} at start");
    }
    let logins = setting.ralio.received_requests().await.unwrap();
    assert!(logins.is_empty(), "no login at start");
}

#[tokio::test]
async fn with_priming_each_function_opens_its_connections_during_init() {
    let setting = setting(true, filled()).await;
    let expected: [(&str, &[&str], usize); 6] = [
        ("webhook", &["GetSecretValue", "DescribeTable"], 0),
        ("create-session", &["GetSecretValue", "DescribeTable"], 1),
        ("account-gate", &["GetSecretValue", "DescribeTable"], 2),
        ("expiry-watcher", &["DescribeTable"], 2),
        ("event-publisher", &["DescribeTable"], 2),
        ("reconciler", &["GetSecretValue", "DescribeTable"], 3),
    ];
    for (function, requests, logins_so_far) in expected {
        let (sent, started) = start(function, &setting.env).await;
        assert!(started.is_ok(), "{function}: {started:?}");
        assert_eq!(sent, requests, "{function}");
        let logins = setting.ralio.received_requests().await.unwrap().len();
        assert_eq!(logins, logins_so_far, "{function}: Ralio logins so far");
    }
}

#[tokio::test]
async fn with_priming_an_unfilled_secret_stops_the_start_naming_it() {
    // The template creates the secrets with blank values.
    let setting = setting(true, json!({ "api_code": "", "api_key": " " })).await;
    for function in ["create-session", "account-gate", "reconciler"] {
        let (_, started) = start(function, &setting.env).await;
        let message = started.expect_err("an unfilled secret").to_string();
        assert!(
            message.contains("RALIO_SECRET_ARN"),
            "{function}: {message}"
        );
    }
    let mut env = setting.env.clone();
    let blank = testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": "" })).await;
    env.insert("WEBHOOK_SECRET_ARN".into(), blank);
    let (_, started) = start("webhook", &env).await;
    let message = started.expect_err("an unfilled secret").to_string();
    assert!(message.contains("WEBHOOK_SECRET_ARN"), "{message}");
}

#[tokio::test]
async fn without_priming_an_unreadable_webhook_secret_is_a_503_ralio_retries() {
    use tower::ServiceExt;
    let mut env = setting(false, filled()).await.env;
    env.insert(
        "WEBHOOK_SECRET_ARN".into(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:idv-test-webhook-missing".into(),
    );
    let wiring = Wiring::with_config(&env, testing::emulator_config().await, Vec::new());
    let webhook = idv_webhook::Webhook::from_env(&wiring)
        .await
        .expect("a lazy start");
    let body =
        r#"{"id":"e1","event":"kyc_state_updated","timestamp":"2026-05-04T14:05:11Z","data":{}}"#;
    let request = axum::http::Request::post("/")
        .header("x-signature", "00")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = idv_webhook::router(webhook).oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        503,
        "retryable: the secret may come back"
    );
    assert!(response.headers().contains_key("retry-after"));
}
