//! These tests check the webhook behind its edge (`WebhookEdge=cloudfront-waf`): a request must
//! carry the edge's `x-origin-verify` secret, checked before anything else, and one that does not
//! is answered 503, never a 4xx that Ralio would drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use idv_adapters::clock::ManualClock;
use idv_adapters::config::ConfigError;
use idv_adapters::origin_secret::{ORIGIN_HEADER, OriginSecret};
use idv_adapters::signing_keys::{SecretsRead, SigningKeys, WebhookSecretSource};
use idv_adapters::store::EventStore;
use idv_adapters::testing::fixtures::{at, call};
use idv_adapters::testing::{self, RequestCounter};
use idv_adapters::wiring::Wiring;
use idv_model::{WebhookSecret, WebhookSecrets};
use idv_webhook::{EDGE_HEADER_MISMATCH, Parts, Webhook};
use serde_json::{Value, json};

/// This function's name in the recorded permissions.
const FUNCTION: &str = "webhook";

const SECRET: &str = "whsec_ralio_fixture_test_secret_for_the_edge";
const ORIGIN: &str = "EdgeOriginSecret0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL";
const ROTATED: &str = "RotatedOriginSecret0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";

/// Builds a function-URL invocation (payload format 2.0) with `headers`, as Lambda hands it to
/// the runtime.
fn url_event(method: &str, body: &[u8], headers: &[(&str, &str)]) -> lambda_http::Request {
    let mut all = json!({
        "content-type": "application/json",
        "host": "abcdefgh.lambda-url.eu-west-1.on.aws",
        "user-agent": "Amazon CloudFront"
    });
    for (name, value) in headers {
        all[*name] = json!(value);
    }
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefgh",
            "domainName": "abcdefgh.lambda-url.eu-west-1.on.aws", "domainPrefix": "abcdefgh",
            "http": { "method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "130.176.0.1", "userAgent": "Amazon CloudFront" },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default", "stage": "$default",
            "time": "20/May/2026:10:00:00 +0000", "timeEpoch": 1779271200000u64
        },
        "body": String::from_utf8(body.to_vec()).unwrap(),
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a function URL event")
}

/// A signed `kyc_state_updated` for a new user, and its signature.
fn signed() -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "event": "kyc_state_updated",
        "timestamp": "2026-05-20T09:00:00Z",
        "data": { "userId": uuid::Uuid::new_v4(), "state": "LIGHT" }
    }))
    .unwrap();
    let signature = WebhookSecret::new(SECRET).sign_hex(&body);
    (body, signature)
}

/// Sends a POST with `headers`, and returns the status, the problem code and the `Retry-After`.
async fn send(app: &Router, method: &str, headers: &[(&str, &str)]) -> (u16, Value, bool) {
    let (body, _) = signed();
    send_body(app, method, &body, headers).await
}

async fn send_body(
    app: &Router,
    method: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Value, bool) {
    let answer = call(app, url_event(method, body, headers)).await;
    let retry = answer.headers.contains_key("retry-after");
    let code = if answer.status == 200 {
        answer.body["outcome"].clone()
    } else {
        answer.body["code"].clone()
    };
    (answer.status, code, retry)
}

/// This source of signing secrets counts its reads, so a test sees whether a signature was
/// checked at all.
struct CountedSecrets(AtomicUsize);

#[async_trait]
impl WebhookSecretSource for CountedSecrets {
    async fn webhook_secrets(&self) -> Result<SecretsRead, ConfigError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(SecretsRead {
            secrets: WebhookSecrets::from_csv(SECRET).unwrap(),
            version: None,
        })
    }
}

/// A request without the edge's header, or with a wrong one, is answered 503 before anything
/// else: no body read, no signature check (the signing secrets are never read), no store call.
/// With the right header, the delivery goes on as without an edge.
#[tokio::test]
async fn without_the_edge_header_nothing_else_is_done_and_the_answer_is_a_503() {
    let (store, store_calls) = testing::dynamo_with_counter().await;
    let signing = Arc::new(CountedSecrets(AtomicUsize::new(0)));
    let app = idv_webhook::router(Webhook::new(Parts {
        store: Arc::new(store) as Arc<dyn EventStore>,
        keys: SigningKeys::lazy(signing.clone()),
        origin: Some(OriginSecret::fixed(ORIGIN)),
        clock: Arc::new(ManualClock::at(at("2026-05-20T10:00:00Z"))),
        scheduler: None,
        settings: Default::default(),
        spellings: Default::default(),
    }));
    let (body, signature) = signed();
    let refused = (503, json!(EDGE_HEADER_MISMATCH), true);
    // A genuine signature does not make up for the missing or wrong header.
    let signed_only = [("x-signature", signature.as_str())];
    assert_eq!(send_body(&app, "POST", &body, &signed_only).await, refused);
    let near_miss = format!("{}x", &ORIGIN[..ORIGIN.len() - 1]);
    for wrong in [near_miss.as_str(), "", ROTATED] {
        let headers = [("x-signature", signature.as_str()), (ORIGIN_HEADER, wrong)];
        assert_eq!(
            send_body(&app, "POST", &body, &headers).await,
            refused,
            "{wrong:?}"
        );
    }
    // The header comes first: neither a missing signature (401) nor the method (405) is looked
    // at before it.
    assert_eq!(send(&app, "POST", &[]).await, refused);
    assert_eq!(
        send(&app, "GET", &[(ORIGIN_HEADER, "guess")]).await,
        refused
    );
    assert_eq!(signing.0.load(Ordering::SeqCst), 0, "no signature work");
    assert_eq!(
        store_calls.operations(),
        Vec::<String>::new(),
        "no store call"
    );

    // With the right header, the delivery is checked and applied as usual.
    let through_the_edge = [("x-signature", signature.as_str()), (ORIGIN_HEADER, ORIGIN)];
    let (status, outcome, _) = send_body(&app, "POST", &body, &through_the_edge).await;
    assert_eq!((status, outcome), (200, json!("applied")));
    assert_eq!(signing.0.load(Ordering::SeqCst), 1);
    assert!(store_calls.count() > 0);
    let (status, code, _) = send(&app, "POST", &[(ORIGIN_HEADER, ORIGIN)]).await;
    assert_eq!((status, code), (401, json!("signature_missing")));
    let (status, code, _) = send(&app, "GET", &[(ORIGIN_HEADER, ORIGIN)]).await;
    assert_eq!((status, code), (405, json!("method_not_allowed")));
}

/// Starts the webhook as Lambda does, on a new table and queue, with its signing secret and the
/// edge's origin secret in Secrets Manager holding `origin`. Every AWS request it sends is
/// recorded as the webhook's, for the IAM check; the counter sees them too.
async fn deployed(origin_arn: &str, extra: &[(&str, &str)]) -> Result<Router, ConfigError> {
    let signing =
        testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": [SECRET] })).await;
    let table = testing::new_table().await;
    let (_, queue_url) = testing::sqs_queue_on(&[]).await;
    let mut pairs = vec![
        ("TABLE_NAME", table.as_str()),
        ("QUEUE_URL", queue_url.as_str()),
        ("WEBHOOK_SECRET_ARN", signing.as_str()),
        ("WEBHOOK_ORIGIN_SECRET_ARN", origin_arn),
    ];
    pairs.extend_from_slice(extra);
    let env = testing::fixtures::env(&pairs);
    let recorder = RequestCounter::for_function(FUNCTION).interceptor();
    let wiring = Wiring::with_config(&env, testing::emulator_config().await, vec![recorder]);
    Webhook::from_env(&wiring).await.map(idv_webhook::router)
}

/// The operator rotates the origin secret and the edge sends the new value: the first request
/// carrying it reads the secret again and is accepted, without a redeploy of the function. The
/// old value is refused from then on. The reads are recorded as the webhook's, on the origin
/// secret, which its role must allow.
#[tokio::test]
async fn a_rotated_origin_secret_is_accepted_after_reading_it_again() {
    let arn = testing::origin_secret_on_emulator(ORIGIN).await;
    let app = deployed(&arn, &[("PRIME_CONNECTIONS", "true")])
        .await
        .expect("it starts");
    let post = |origin: &'static str| {
        let app = app.clone();
        async move {
            let (body, signature) = signed();
            let headers = [("x-signature", signature.as_str()), (ORIGIN_HEADER, origin)];
            send_body(&app, "POST", &body, &headers).await
        }
    };
    assert_eq!(post(ORIGIN).await.0, 200);
    testing::secrets_client_on_emulator()
        .await
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(ROTATED)
        .send()
        .await
        .unwrap();
    // The running function still holds the old value until a request shows it the new one.
    assert_eq!(post(ORIGIN).await.0, 200);
    assert_eq!(post(ROTATED).await.0, 200, "accepted after the read");
    let (status, code, retry) = post(ORIGIN).await;
    assert_eq!(
        (status, code, retry),
        (503, json!(EDGE_HEADER_MISMATCH), true)
    );
}

/// A configuration that cannot work stops the start, naming the variable: a value that is not a
/// secret's ARN, a secret that cannot be read, and, in Lambda, a short one.
#[tokio::test]
async fn a_bad_origin_secret_configuration_stops_the_start_naming_the_variable() {
    let prime = ("PRIME_CONNECTIONS", "true");
    let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "ralio-idv-webhook-prod");
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:idv-test-origin-missing";
    let short = testing::origin_secret_on_emulator("short").await;
    for (arn, extra) in [
        ("ralio-idv/prod/webhook-origin", vec![]),
        (missing, vec![prime]),
        (short.as_str(), vec![prime, lambda]),
    ] {
        let error = deployed(arn, &extra).await.expect_err("refused");
        assert!(
            error.to_string().contains("WEBHOOK_ORIGIN_SECRET_ARN"),
            "{arn}: {error}"
        );
        // The secret's value is never part of the message.
        assert!(!error.to_string().contains("short"), "{error}");
    }
}
