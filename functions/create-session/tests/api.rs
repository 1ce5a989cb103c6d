//! `POST /users/{uid}/idv-sessions` through its router, with Ralio faked over HTTP (wiremock)
//! and both stores.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use idv_adapters::aws::RequestCounter;
use idv_adapters::clock::ManualClock;
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::{ExpiryQueue, MemoryQueue};
use idv_adapters::ralio::{RalioClient, RalioConfig, RalioCredentials};
use idv_adapters::store::{ExpiryIndex, Store};
use idv_adapters::testing;
use idv_create_session::{CreateSession, Settings};
use idv_model::{
    Change, EventApplication, EventId, ExpirySchedule, KycLevel, LevelStamp, Owner, Phase,
    ReverifyNotice, SessionId, Uid,
};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T09:12:03.418Z")
        .unwrap()
        .to_utc()
}

struct Harness {
    app: Router,
    ralio: MockServer,
    store: Arc<dyn Store>,
    queue: Arc<MemoryQueue>,
    clock: ManualClock,
}

/// A fake Ralio whose create call returns a new session each time, created at `t0`.
async fn fake_ralio(create_delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "token": "tok" })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/api/v1/account/users/[0-9a-f-]+/identity-verifications$",
        ))
        .respond_with(move |_: &Request| {
            let id = uuid::Uuid::new_v4();
            ResponseTemplate::new(201)
                .set_body_json(json!({
                    "createdAt": t0().to_rfc3339(),
                    "expiresAt": (t0() + chrono::Duration::days(7)).to_rfc3339(),
                    "hostedUrl": format!("https://verify.raliopay.com/session/{id}"),
                    "id": id,
                    "state": "NOT_STARTED",
                    "data": {}, "flow": { "id": "f", "tag": "individual-kyc" }, "type": "IDV"
                }))
                .set_delay(create_delay)
        })
        .mount(&server)
        .await;
    server
}

fn ralio_client(server: &MockServer) -> Arc<RalioClient> {
    let mut config = RalioConfig::new(
        server.uri(),
        RalioCredentials {
            api_code: "c".into(),
            api_key: "k".into(),
        },
    );
    config.request_timeout = Duration::from_millis(1500);
    config.base_backoff = Duration::from_millis(5);
    Arc::new(RalioClient::new(config).unwrap())
}

fn build(
    store: Arc<dyn Store>,
    queue: Arc<dyn ExpiryQueue>,
    ralio: &MockServer,
    clock: &ManualClock,
) -> Router {
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let app = CreateSession {
        users: store.clone(),
        sessions: store.clone(),
        leases: store.clone(),
        scheduler: Arc::new(ExpiryScheduler::new(
            index,
            queue,
            ExpirySchedule::default(),
        )),
        ralio: ralio_client(ralio),
        clock: Arc::new(clock.clone()),
        settings: Settings {
            wait_for_peer: Duration::from_secs(3),
            ..Settings::default()
        },
    };
    idv_create_session::router(Arc::new(app))
}

async fn harness(store: Arc<dyn Store>) -> Harness {
    harness_with_delay(store, Duration::ZERO).await
}

async fn harness_with_delay(store: Arc<dyn Store>, delay: Duration) -> Harness {
    let ralio = fake_ralio(delay).await;
    let clock = ManualClock::at(t0() + chrono::Duration::minutes(1));
    let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let app = build(store.clone(), queue.clone(), &ralio, &clock);
    Harness {
        app,
        ralio,
        store,
        queue,
        clock,
    }
}

async fn post(app: &Router, uid: &str) -> (u16, Option<String>, Value) {
    let request = axum::http::Request::post(format!("/users/{uid}/idv-sessions"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn creates(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.method.as_str() == "POST" && r.url.path().ends_with("/identity-verifications")
        })
        .count()
}

fn new_uid() -> Uid {
    Uid::from_uuid(uuid::Uuid::new_v4())
}

async fn apply(store: &Arc<dyn Store>, owner: Owner, change: Change, at: DateTime<Utc>) {
    let event_id = match &change {
        Change::Level { stamp, .. } => stamp.event_id,
        Change::Reverify(n) => n.event_id,
        Change::Session { .. } => EventId::from_uuid(uuid::Uuid::new_v4()),
    };
    let event = EventApplication {
        event_id,
        event_type: "test".into(),
        occurred_at: at,
        owner,
        change,
    };
    store.apply_event(&event, at).await.unwrap();
}

async fn set_level(store: &Arc<dyn Store>, uid: Uid, level: KycLevel) {
    let event_id = EventId::from_uuid(uuid::Uuid::new_v4());
    apply(
        store,
        Owner::User(uid),
        Change::Level {
            stamp: LevelStamp {
                level,
                at: t0(),
                event_id,
            },
            kyc_id: None,
        },
        t0(),
    )
    .await;
}

async fn set_phase(store: &Arc<dyn Store>, uid: Uid, session: &str, target: Phase) {
    let change = Change::Session {
        session_id: SessionId::parse(session).unwrap(),
        target,
        failure_reasons: vec![],
        hosted_url: None,
        expires_at: None,
        expiry_buckets: vec![],
    };
    apply(store, Owner::User(uid), change, t0()).await;
}

idv_adapters::both_stores!(
    creates_stores_and_schedules_a_session,
    an_active_session_is_reused_without_calling_ralio,
    a_session_about_to_expire_is_not_reused,
    a_regular_user_needs_no_session_unless_reverification_is_due,
    expired_or_rejected_latest_sessions_get_a_new_one,
    malformed_uids_are_refused,
    twenty_concurrent_requests_create_one_ralio_session,
    ralio_failures_are_reported_and_nothing_is_kept,
);

async fn creates_stores_and_schedules_a_session(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid();
    let (status, _, body) = post(&h.app, &uid.to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reused"], false);
    assert_eq!(body["state"], "NOT_STARTED");
    assert_eq!(body["stateCode"], 1);
    assert_eq!(body["expiresAt"], "2026-05-11T09:12:03.418Z");
    let session_id = body["sessionId"].as_str().unwrap();
    assert_eq!(
        body["hostedUrl"],
        format!("https://verify.raliopay.com/session/{session_id}")
    );

    let snapshot = h.store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(snapshot.sessions[0].session_id.to_string(), session_id);
    assert_eq!(snapshot.sessions[0].phase, Phase::NotStarted);

    // One tick per bucket: the warn bucket 24 h before expiry, the expiry bucket 1 h after.
    let ticks: Vec<String> = h.queue.sent().iter().map(|t| t.bucket.key()).collect();
    let schedule = ExpirySchedule::default();
    let expires = t0() + chrono::Duration::days(7);
    assert_eq!(
        ticks,
        [
            schedule.warn_bucket(expires).key(),
            schedule.expire_bucket(expires).key()
        ]
    );
    // The session is indexed under both.
    for bucket in [
        schedule.warn_bucket(expires),
        schedule.expire_bucket(expires),
    ] {
        let page = h.store.list_bucket(&bucket, 10, None).await.unwrap();
        assert_eq!(
            page.members
                .iter()
                .map(|m| m.session_id.to_string())
                .collect::<Vec<_>>(),
            [session_id]
        );
    }
    // A second user in the same buckets sends no further tick.
    assert_eq!(post(&h.app, &new_uid().to_string()).await.0, 201);
    assert_eq!(h.queue.sent().len(), 2);
}

async fn an_active_session_is_reused_without_calling_ralio(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid().to_string();
    let (_, _, first) = post(&h.app, &uid).await;
    h.clock.advance(chrono::Duration::days(2));
    let (status, _, again) = post(&h.app, &uid).await;
    assert_eq!(status, 200);
    assert_eq!(again["reused"], true);
    assert_eq!(again["sessionId"], first["sessionId"]);
    assert_eq!(again["hostedUrl"], first["hostedUrl"]);
    assert_eq!(creates(&h.ralio).await, 1);
}

async fn a_session_about_to_expire_is_not_reused(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid().to_string();
    let (_, _, first) = post(&h.app, &uid).await;
    // 30 minutes before expiry: inside the 1 h reuse margin.
    h.clock
        .set(t0() + chrono::Duration::days(7) - chrono::Duration::minutes(30));
    let (status, _, second) = post(&h.app, &uid).await;
    assert_eq!(status, 201);
    assert_ne!(second["sessionId"], first["sessionId"]);
}

async fn a_regular_user_needs_no_session_unless_reverification_is_due(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid();
    set_level(&h.store, uid, KycLevel::Regular).await;
    let (status, _, body) = post(&h.app, &uid.to_string()).await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "already_verified");
    assert_eq!(creates(&h.ralio).await, 0);

    // Ralio warns the document expires: a new verification is needed while still REGULAR.
    let event_id = EventId::from_uuid(uuid::Uuid::new_v4());
    let notice = ReverifyNotice {
        expiration_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        days_remaining: 14,
        at: t0() + chrono::Duration::minutes(1),
        event_id,
    };
    apply(&h.store, Owner::User(uid), Change::Reverify(notice), t0()).await;
    assert_eq!(post(&h.app, &uid.to_string()).await.0, 201);
}

async fn expired_or_rejected_latest_sessions_get_a_new_one(store: Arc<dyn Store>) {
    let h = harness(store).await;
    for ending in [
        Phase::Expired(idv_model::ExpirySource::Ralio),
        Phase::Rejected,
    ] {
        let uid = new_uid();
        let (_, _, first) = post(&h.app, &uid.to_string()).await;
        let first_id = first["sessionId"].as_str().unwrap().to_owned();
        set_phase(&h.store, uid, &first_id, ending).await;
        // At once: the first creation gave its lease back.
        let (status, _, second) = post(&h.app, &uid.to_string()).await;
        assert_eq!(status, 201, "{ending:?}: {second}");
        assert_ne!(second["sessionId"], first_id);
    }
}

async fn malformed_uids_are_refused(store: Arc<dyn Store>) {
    let h = harness(store).await;
    for bad in ["123", "not-a-uuid", "e4f9d8b3-6b70-47a1-aae1-70c8a689c02"] {
        let (status, _, body) = post(&h.app, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "invalid_uid");
        assert_eq!(body["field"], "uid");
    }
    assert_eq!(creates(&h.ralio).await, 0);
}

async fn twenty_concurrent_requests_create_one_ralio_session(store: Arc<dyn Store>) {
    // A slow Ralio, so the requests overlap.
    let h = harness_with_delay(store, Duration::from_millis(400)).await;
    let uid = new_uid().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, uid) = (h.app.clone(), uid.clone());
        tasks.push(tokio::spawn(async move { post(&app, &uid).await }));
    }
    let mut session_ids = std::collections::HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, retry_after, body) = task.await.unwrap();
        match status {
            201 => {
                created += 1;
                session_ids.insert(body["sessionId"].as_str().unwrap().to_owned());
            }
            200 => {
                assert_eq!(body["reused"], true);
                session_ids.insert(body["sessionId"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_eq!(body["code"], "creation_in_progress");
                assert_eq!(retry_after.as_deref(), Some("2"));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        session_ids.len(),
        1,
        "every answer carries the same session"
    );
    assert_eq!(creates(&h.ralio).await, 1, "exactly one Ralio create");
}

async fn ralio_failures_are_reported_and_nothing_is_kept(store: Arc<dyn Store>) {
    let cases: Vec<(ResponseTemplate, u16, &str)> = vec![
        (ResponseTemplate::new(500), 503, "ralio_unavailable"),
        (
            ResponseTemplate::new(201).set_body_string("{not json"),
            502,
            "ralio_bad_response",
        ),
        (ResponseTemplate::new(404), 404, "user_not_found"),
        (
            ResponseTemplate::new(422).set_body_string("nope"),
            502,
            "ralio_rejected",
        ),
    ];
    for (reply, status, code) in cases {
        let ralio = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/auth/login"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "token": "t" })))
            .mount(&ralio)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("identity-verifications$"))
            .respond_with(reply)
            .mount(&ralio)
            .await;
        let clock = ManualClock::at(t0());
        let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
        let app = build(store.clone(), queue.clone(), &ralio, &clock);
        let uid = new_uid();
        let (got, _, body) = post(&app, &uid.to_string()).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert!(h_empty(&store, uid).await, "{code}: nothing stored");
        assert!(queue.sent().is_empty());
        // The lease was released: a working Ralio serves the retry straight away.
        let working = fake_ralio(Duration::ZERO).await;
        let retry = build(store.clone(), queue, &working, &clock);
        assert_eq!(
            post(&retry, &uid.to_string()).await.0,
            201,
            "{code}: retry after failure"
        );
    }
}

async fn h_empty(store: &Arc<dyn Store>, uid: Uid) -> bool {
    store.load_user(uid).await.unwrap().sessions.is_empty()
}

#[tokio::test]
async fn happy_path_round_trips_on_dynamodb_and_sqs() {
    let (store, dynamo_requests): (_, RequestCounter) = testing::dynamo_with_counter().await;
    let (queue, sqs_requests) = testing::sqs_queue_with_counter().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let ralio = fake_ralio(Duration::ZERO).await;
    let clock = ManualClock::at(t0());
    let app = build(store, Arc::new(queue), &ralio, &clock);

    let (status, _, _) = post(&app, &new_uid().to_string()).await;
    assert_eq!(status, 201);
    // Read, lease, store (giving the lease back in the same transaction); then each new
    // bucket: its tick item and its one message.
    assert_eq!(
        dynamo_requests.operations(),
        [
            "Query",
            "UpdateItem",
            "TransactWriteItems",
            "PutItem",
            "PutItem"
        ]
    );
    assert_eq!(sqs_requests.operations(), ["SendMessage", "SendMessage"]);
    assert_eq!(creates(&ralio).await, 1);

    // The next session in the same buckets: the container knows the ticks exist.
    dynamo_requests.reset();
    sqs_requests.reset();
    assert_eq!(post(&app, &new_uid().to_string()).await.0, 201);
    assert_eq!(
        dynamo_requests.operations(),
        ["Query", "UpdateItem", "TransactWriteItems"]
    );
    assert!(sqs_requests.operations().is_empty());
    let logins = ralio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v1/auth/login")
        .count();
    assert_eq!(logins, 1, "the token is cached across requests");
}

#[tokio::test]
async fn missing_configuration_fails_at_start_naming_the_variable() {
    let env = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let message = |pairs: &[(&str, &str)]| {
        let env = env(pairs);
        async move {
            match CreateSession::from_config(&env).await {
                Ok(_) => panic!("configuration accepted"),
                Err(e) => e.to_string(),
            }
        }
    };
    let base = [
        ("TABLE_NAME", "t"),
        ("QUEUE_URL", "q"),
        ("RALIO_BASE_URL", "https://ralio.example"),
        ("RALIO_API_CODE", "c"),
        ("RALIO_API_KEY", "k"),
    ];
    for missing in [
        "TABLE_NAME",
        "QUEUE_URL",
        "RALIO_BASE_URL",
        "RALIO_API_CODE",
        "RALIO_API_KEY",
    ] {
        let pairs: Vec<_> = base
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let text = message(&pairs).await;
        assert!(text.contains(missing), "{missing}: {text}");
    }
    let mut pairs = base.to_vec();
    pairs.push(("EXPIRY_BUCKET", "soon"));
    assert!(message(&pairs).await.contains("EXPIRY_BUCKET"));
    let mut pairs = base.to_vec();
    pairs.push(("RALIO_AUTH_SCHEME", "magic"));
    assert!(message(&pairs).await.contains("RALIO_AUTH_SCHEME"));
}
