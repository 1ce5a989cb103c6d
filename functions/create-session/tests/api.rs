//! These tests drive `POST /users/{uid}/idv-sessions` through its router, with Ralio faked over
//! HTTP (wiremock), on both stores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use idv_adapters::clock::ManualClock;
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::{ExpiryQueue, MemoryQueue};
use idv_adapters::store::{ExpiryIndex, Store};
use idv_adapters::testing::fixtures::{
    self, call, fake_ralio as ralio_login, level_event, ralio_client, request, session_event, t0,
    uid,
};
use idv_adapters::testing::{self, RequestCounter};
use idv_adapters::wiring::Wiring;
use idv_create_session::resolution::{ResolveError, SESSION_RESOLVED, SessionResolution};
use idv_create_session::{CreateSession, Parts, Settings};
use idv_model::{
    AttributedEvent, Change, EventId, EventStamp, ExpirySchedule, KycLevel, Owner, Phase, Plan,
    ReverifyNotice, SessionId, Uid,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// This function's name in the recorded permissions.
const FUNCTION: &str = "create-session";

struct Harness {
    app: Router,
    ralio: MockServer,
    store: Arc<dyn Store>,
    queue: Arc<MemoryQueue>,
    clock: ManualClock,
}

/// Returns a fake Ralio whose create call returns a new session each time, created at `t0`.
async fn fake_ralio(create_delay: Duration) -> MockServer {
    let server = ralio_login().await;
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

/// Builds the function over `store`, with its requests recorded as this function's on
/// DynamoDB.
fn build(
    store: &Arc<dyn Store>,
    queue: Arc<dyn ExpiryQueue>,
    ralio: &MockServer,
    clock: &ManualClock,
) -> Router {
    let store = testing::as_function(store, FUNCTION);
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let app = CreateSession::new(Parts {
        users: store.clone(),
        leases: store,
        scheduler: Arc::new(ExpiryScheduler::new(
            index,
            queue,
            ExpirySchedule::default(),
        )),
        ralio: ralio_client(ralio, fixtures::RALIO_TIMEOUT),
        clock: Arc::new(clock.clone()),
        settings: Settings {
            wait_for_peer: Duration::from_secs(3),
            ..Settings::default()
        },
    });
    idv_create_session::router(app)
}

async fn harness(store: Arc<dyn Store>) -> Harness {
    harness_with_delay(store, Duration::ZERO).await
}

async fn harness_with_delay(store: Arc<dyn Store>, delay: Duration) -> Harness {
    let ralio = fake_ralio(delay).await;
    let clock = ManualClock::at(t0() + chrono::Duration::minutes(1));
    let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let app = build(&store, queue.clone(), &ralio, &clock);
    Harness {
        app,
        ralio,
        store,
        queue,
        clock,
    }
}

async fn post(app: &Router, uid: &str) -> (u16, Option<String>, Value) {
    let answer = call(
        app,
        request("POST", &format!("/users/{uid}/idv-sessions"), None),
    )
    .await;
    let retry_after = answer
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (answer.status, retry_after, answer.body)
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
    uid()
}

async fn set_level(store: &Arc<dyn Store>, uid: Uid, level: KycLevel) {
    let event = level_event(Owner::User(uid), level, t0());
    store.execute(&Plan::new(&event, t0())).await.unwrap();
}

async fn set_phase(store: &Arc<dyn Store>, uid: Uid, session: &str, target: Phase) {
    let session = SessionId::parse(session).unwrap();
    let event = session_event(Owner::User(uid), session, target, t0());
    store.execute(&Plan::new(&event, t0())).await.unwrap();
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
    a_malformed_list_entry_does_not_wedge_creation,
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

    // One tick is sent per bucket: the warn bucket 24 h before expiry, and the expiry bucket
    // 1 h after.
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
    // The clock is 30 minutes before expiry, which is inside the 1 h reuse margin.
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

    // Ralio warns that the document expires, so a new verification is needed while the user is
    // still REGULAR.
    let event_id = EventId::from_uuid(uuid::Uuid::new_v4());
    let at = t0() + chrono::Duration::minutes(1);
    let notice = AttributedEvent {
        event_id,
        event_type: "kyc_expiration_warning".into(),
        occurred_at: at,
        stamped_at: None,
        owner: Owner::User(uid),
        change: Change::Reverify(ReverifyNotice {
            expiration_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            days_remaining: 14,
            stamp: EventStamp { at, event_id },
        }),
    };
    h.store.execute(&Plan::new(&notice, t0())).await.unwrap();
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
        // The second creation succeeds at once, because the first gave its lease back.
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
    // Ralio is slow, so the requests overlap.
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
    // Each case is (Ralio's reply, our answer, its code, whether Ralio may have created a
    // session).
    let cases: Vec<(ResponseTemplate, u16, &str, bool)> = vec![
        (ResponseTemplate::new(500), 409, "creation_uncertain", true),
        (
            ResponseTemplate::new(201).set_body_string("{not json"),
            409,
            "creation_uncertain",
            true,
        ),
        (ResponseTemplate::new(404), 404, "user_not_found", false),
        (
            ResponseTemplate::new(422).set_body_string("nope"),
            502,
            "ralio_rejected",
            false,
        ),
    ];
    for (reply, status, code, may_have_acted) in cases {
        let ralio = ralio_login().await;
        Mock::given(method("POST"))
            .and(path_regex("identity-verifications$"))
            .respond_with(reply)
            .mount(&ralio)
            .await;
        // After a failure that may have created a session, the session is looked for first,
        // and there is none.
        mount_empty_list(&ralio).await;
        let clock = ManualClock::at(t0());
        let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
        let app = build(&store, queue.clone(), &ralio, &clock);
        let uid = new_uid();
        let (got, headers, body) = post(&app, &uid.to_string()).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert!(h_empty(&store, uid).await, "{code}: nothing stored");
        assert!(queue.sent().is_empty());
        assert_eq!(lists(&ralio).await, usize::from(may_have_acted));
        let working = fake_ralio(Duration::ZERO).await;
        mount_empty_list(&working).await;
        let retry = build(&store, queue, &working, &clock);
        if may_have_acted {
            assert!(headers.is_some(), "{code}: Retry-After");
            assert!(body["ralioFailure"].is_string(), "{body}");
            // Ralio may still show the session, so no new one is created until that has
            // settled.
            let (got, _, again) = post(&retry, &uid.to_string()).await;
            assert_eq!(
                (got, again["code"].as_str()),
                (409, Some("creation_uncertain"))
            );
            assert_eq!(creates(&working).await, 0, "{code}: not created again yet");
            clock.advance(chrono::Duration::minutes(2));
        }
        // Then a working Ralio serves the retry, after looking at its list when the failure
        // may have left a session there.
        assert_eq!(
            post(&retry, &uid.to_string()).await.0,
            201,
            "{code}: retry after failure"
        );
        assert_eq!(
            lists(&working).await,
            2 * usize::from(may_have_acted),
            "{code}: Ralio's list looked at before creating again"
        );
        assert_eq!(creates(&working).await, 1);
    }
}

/// A session Ralio lists but this service cannot use never fails the whole list. One older
/// than the uncertain attempt is skipped, and the creation settles as usual. One that the
/// attempt may have left keeps it uncertain past any settle delay (counted for the alarm after
/// an hour) until an operator says what Ralio holds.
async fn a_malformed_list_entry_does_not_wedge_creation(store: Arc<dyn Store>) {
    for recent in [false, true] {
        let ralio = ralio_login().await;
        Mock::given(method("POST"))
            .and(path_regex("identity-verifications$"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(1)
            .mount(&ralio)
            .await;
        mount_creation(&ralio).await;
        let created = if recent {
            t0() + chrono::Duration::seconds(1)
        } else {
            t0() - chrono::Duration::days(3)
        };
        let unusable = json!({
            "id": uuid::Uuid::new_v4(), "createdAt": created.to_rfc3339(), "state": "NOT_STARTED"
        });
        Mock::given(method("GET"))
            .and(path_regex("identity-verifications$"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({ "sessions": [unusable] })),
            )
            .mount(&ralio)
            .await;
        let clock = ManualClock::at(t0());
        let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
        let app = build(&store, queue.clone(), &ralio, &clock);
        let uid = new_uid();
        assert_eq!(post(&app, &uid.to_string()).await.0, 409);
        clock.advance(chrono::Duration::minutes(3));
        if !recent {
            assert_eq!(post(&app, &uid.to_string()).await.0, 201, "settled");
            assert_eq!(creates(&ralio).await, 2);
            continue;
        }
        for _ in 0..2 {
            let (status, _, body) = post(&app, &uid.to_string()).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (409, Some("creation_uncertain"))
            );
            clock.advance(chrono::Duration::hours(1));
        }
        assert_eq!(creates(&ralio).await, 1, "nothing created beside it");

        let creator = CreateSession::new(Parts {
            users: store.clone(),
            leases: store.clone(),
            scheduler: Arc::new(ExpiryScheduler::new(
                store.clone(),
                queue,
                ExpirySchedule::default(),
            )),
            ralio: ralio_client(&ralio, fixtures::RALIO_TIMEOUT),
            clock: Arc::new(clock.clone()),
            settings: Settings::default(),
        });
        let elsewhere = SessionId::from_uuid(uuid::Uuid::new_v4());
        let refused = creator
            .resolve_by_operator(store.as_ref(), uid, SessionResolution::Found(elsewhere))
            .await;
        assert!(
            matches!(refused, Err(ResolveError::NotListed(id)) if id == elsewhere),
            "{refused:?}"
        );
        let resolved = creator
            .resolve_by_operator(store.as_ref(), uid, SessionResolution::Absent)
            .await
            .expect("the operator's word is taken");
        assert!(resolved.contains("absent"), "{resolved}");
        assert_eq!(post(&app, &uid.to_string()).await.0, 201);
        assert_eq!(creates(&ralio).await, 2);
        let audited = store.audit_trail(Owner::User(uid)).await.unwrap();
        assert!(audited.iter().any(|a| a.action == SESSION_RESOLVED));
        let again = creator
            .resolve_by_operator(store.as_ref(), uid, SessionResolution::Absent)
            .await;
        assert!(
            matches!(again, Err(ResolveError::NotUncertain(_))),
            "{again:?}"
        );
    }
}

/// Mocks Ralio's session creation, which answers a new session each time.
async fn mount_creation(ralio: &MockServer) {
    Mock::given(method("POST"))
        .and(path_regex("identity-verifications$"))
        .respond_with(|_: &Request| {
            let id = uuid::Uuid::new_v4();
            ResponseTemplate::new(201).set_body_json(json!({
                "createdAt": t0().to_rfc3339(),
                "expiresAt": (t0() + chrono::Duration::days(7)).to_rfc3339(),
                "hostedUrl": format!("https://verify.raliopay.com/session/{id}"),
                "id": id, "state": "NOT_STARTED"
            }))
        })
        .mount(ralio)
        .await;
}

async fn mount_empty_list(ralio: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex("identity-verifications$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sessions": [] })))
        .mount(ralio)
        .await;
}

async fn lists(ralio: &MockServer) -> usize {
    ralio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path().ends_with("identity-verifications"))
        .count()
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
    let app = build(&store, Arc::new(queue), &ralio, &clock);

    let (status, _, _) = post(&app, &new_uid().to_string()).await;
    assert_eq!(status, 201);
    // The function reads, leases and stores (giving the lease back in the same transaction).
    // Then, for each new bucket, its tick is claimed, its one message sent, and the tick
    // marked sent.
    assert_eq!(
        dynamo_requests.operations(),
        [
            "Query",
            "UpdateItem",
            "TransactWriteItems",
            "PutItem",
            "UpdateItem",
            "PutItem",
            "UpdateItem"
        ]
    );
    assert_eq!(sqs_requests.operations(), ["SendMessage", "SendMessage"]);
    assert_eq!(creates(&ralio).await, 1);

    // The next session lands in the same buckets, and the container knows the ticks exist.
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

/// The function is started from its environment as on Lambda (the Ralio credentials in a
/// Secrets Manager secret), against the emulator. When SQS refuses the tick, the session is
/// still answered, and the tick item is taken back so the next session in the bucket tries
/// again.
#[tokio::test]
async fn starts_from_its_environment_and_survives_a_refused_tick() {
    let ralio = fake_ralio(Duration::ZERO).await;
    let secret = testing::api_secret_on_emulator(&json!({ "api_code": "c", "api_key": "k" })).await;
    let table = testing::new_table().await;
    let (_, queue_url) = testing::sqs_queue_on(&[]).await;
    let env = |queue_url: &str| {
        idv_adapters::testing::fixtures::env(&[
            ("TABLE_NAME", &table),
            ("QUEUE_URL", queue_url),
            ("RALIO_BASE_URL", &ralio.uri()),
            ("RALIO_SECRET_ARN", &secret),
        ])
    };
    let start = |env: HashMap<String, String>| async move {
        let recorder = RequestCounter::for_function(FUNCTION).interceptor();
        let wiring = Wiring::with_config(&env, testing::emulator_config().await, vec![recorder]);
        idv_create_session::router(CreateSession::from_env(&wiring).await.expect("it starts"))
    };

    let missing_queue = format!("{queue_url}-missing");
    let app = start(env(&missing_queue)).await;
    let first = uid();
    assert_eq!(
        post(&app, &first.to_string()).await.0,
        201,
        "the session is answered"
    );
    let store: Arc<dyn Store> = Arc::new(testing::dynamo_on(&table, &[]).await);
    let expires = t0() + chrono::Duration::days(7);
    for bucket in ExpirySchedule::default().buckets(expires) {
        assert_eq!(
            store.claim_tick(&bucket, t0()).await.unwrap(),
            idv_model::TickClaim::Claimed,
            "{bucket}: the unsent tick was taken back"
        );
        store.delete_tick(&bucket).await.unwrap();
    }

    let app = start(env(&queue_url)).await;
    assert_eq!(post(&app, &uid().to_string()).await.0, 201);
    assert_eq!(
        testing::messages_waiting(&queue_url).await,
        2,
        "one tick per bucket"
    );
}

#[tokio::test]
async fn missing_configuration_fails_at_start_naming_the_variable() {
    use idv_adapters::testing::fixtures::env;
    let message = |pairs: &[(&str, &str)]| {
        let env = env(pairs);
        async move {
            match CreateSession::from_env(&Wiring::load(&env).await).await {
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
