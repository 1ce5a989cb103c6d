//! These tests drive the webhook through its real handler, fed function-URL event JSON exactly
//! as Lambda would feed it, against both stores.

use std::sync::Arc;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use idv_adapters::clock::{Clock, ManualClock};
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::{EventStore, Store};
use idv_adapters::testing::fixtures::{at, call};
use idv_adapters::testing::{self, RequestCounter};
use idv_adapters::wiring::Wiring;
use idv_model::{
    AccountRecord, AccountReservation, Currency, ExpirySource, KycLevel, NextActionCode, Owner,
    Phase, RalioAccount, RelatedPartyId, SessionId, Uid, WatchAction, WatchOutcome, WebhookSecret,
    WebhookSecrets, next_action,
};
use idv_webhook::{Parts, Webhook};
use serde_json::{Value, json};

/// This function's name in the recorded permissions.
const FUNCTION: &str = "webhook";

const SECRET: &str = "whsec_ralio_fixture_test_secret";
const USER: &str = "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a";

fn now() -> DateTime<Utc> {
    at("2026-05-20T10:00:00Z")
}

fn app(store: Arc<dyn Store>) -> Router {
    app_with(store, SECRET)
}

/// Builds the function over `store`, with its requests recorded as this function's on
/// DynamoDB.
fn app_with(store: Arc<dyn Store>, secrets: &str) -> Router {
    app_on(store, secrets, &ManualClock::at(now()))
}

fn app_on(store: Arc<dyn Store>, secrets: &str, clock: &ManualClock) -> Router {
    let store: Arc<dyn EventStore> = testing::as_function(&store, FUNCTION);
    idv_webhook::router(Webhook::new(parts(store, secrets, clock)))
}

/// Returns the parts of a webhook over `store` verifying with `secrets` on `clock`, with the
/// default settings and no expiry scheduler.
fn parts(store: Arc<dyn EventStore>, secrets: &str, clock: &ManualClock) -> Parts {
    Parts {
        store,
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(secrets).unwrap()),
        origin: None,
        clock: Arc::new(clock.clone()),
        scheduler: None,
        settings: Default::default(),
        spellings: Default::default(),
    }
}

fn hex_sig(body: &[u8]) -> String {
    WebhookSecret::new(SECRET).sign_hex(body)
}

fn b64_sig(body: &[u8]) -> String {
    WebhookSecret::new(SECRET).sign_base64(body)
}

/// Builds a function-URL invocation (payload format 2.0), as Lambda hands it to the runtime.
fn url_event(
    method: &str,
    body: &[u8],
    signature: Option<&str>,
    base64_body: bool,
) -> lambda_http::Request {
    let mut headers = json!({
        "content-type": "application/json",
        "host": "abcdefgh.lambda-url.eu-west-1.on.aws",
        "user-agent": "Ralio-Webhooks/1.0"
    });
    if let Some(sig) = signature {
        headers["x-signature"] = json!(sig);
    }
    let body_field = if base64_body {
        STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("text body")
    };
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefgh",
            "domainName": "abcdefgh.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefgh",
            "http": { "method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "Ralio-Webhooks/1.0" },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "20/May/2026:10:00:00 +0000",
            "timeEpoch": 1779271200000u64
        },
        "body": body_field,
        "isBase64Encoded": base64_body
    });
    lambda_http::request::from_str(&event.to_string()).expect("a function URL event")
}

async fn send(app: &Router, request: lambda_http::Request) -> (u16, Option<String>, Value) {
    let answer = call(app, request).await;
    let content_type = answer
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (answer.status, content_type, answer.body)
}

async fn post(app: &Router, body: &[u8], signature: Option<&str>) -> (u16, Value) {
    let (status, _, body) = send(app, url_event("POST", body, signature, false)).await;
    (status, body)
}

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ralio");
    std::fs::read(dir.join(name)).unwrap()
}

idv_adapters::both_stores!(
    every_fixture_applies_signed_hex_then_redelivered_base64,
    twenty_concurrent_copies_have_one_effect,
    review_after_verified_is_ignored,
    verified_without_a_level_update_leaves_the_user_light,
    bad_signatures_are_refused_and_store_nothing,
    rotated_secrets_are_all_accepted,
    signed_bodies_that_cannot_be_interpreted_are_kept_verbatim,
    oversized_bodies_and_wrong_methods_are_refused,
    events_without_a_user_id_find_their_session,
    a_young_unattributable_event_is_sent_back_until_its_session_is_known,
    an_ownerless_event_for_a_session_two_users_claim_is_kept_not_guessed,
    a_related_party_event_without_entity_type_never_opens_the_gate,
    a_far_future_timestamp_cannot_pin_a_level,
    a_far_future_unattributable_event_is_kept_an_hour_after_its_first_receipt,
    other_peoples_payloads_are_kept_as_a_digest_even_when_unparsable,
    an_activation_reaches_its_account_whichever_comes_first,
    a_downgrade_naming_only_the_kyc_id_closes_the_gate,
    a_signed_large_event_is_applied_or_kept_as_what_we_read,
    an_unknown_kyc_spelling_is_kept_verbatim_for_a_later_release,
);

/// The verdict arrives before the session is stored (its creation's write failed, or an index
/// lagged). It is answered 503 while young, and applied once the session is known.
async fn a_young_unattributable_event_is_sent_back_until_its_session_is_known(
    store: Arc<dyn Store>,
) {
    let clock = ManualClock::at(now());
    let app = app_on(store.clone(), SECRET, &clock);
    let (uid, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let verified = signed_event(
        "kyc_session_verified",
        &now().to_rfc3339(),
        json!({ "sessionId": session, "entityType": "user" }),
    );
    let (status, answer) = post(&app, &verified, Some(&hex_sig(&verified))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (503, Some("attribution_pending")),
        "{answer}"
    );
    // Ralio's retry budget is undocumented, so a copy of the signed body is kept at once, and a
    // replay has it if Ralio stops sending it. A second 503 keeps nothing more.
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].reason_code.as_str(), &kept[0].body),
        ("attribution_pending", &verified)
    );
    assert_eq!(
        post(&app, &verified, Some(&hex_sig(&verified))).await.0,
        503
    );
    assert_eq!(
        store.quarantined(now().date_naive()).await.unwrap().len(),
        1
    );
    // The session becomes known, here through an event naming its user.
    clock.advance(chrono::Duration::minutes(5));
    let started = signed_event(
        "kyc_session_manual_review",
        &clock.now().to_rfc3339(),
        json!({ "sessionId": session, "userId": uid }),
    );
    assert_eq!(post(&app, &started, Some(&hex_sig(&started))).await.0, 200);
    // Ralio's retry is applied.
    clock.advance(chrono::Duration::minutes(5));
    assert_eq!(
        post(&app, &verified, Some(&hex_sig(&verified))).await.1["outcome"],
        "applied"
    );
    assert_eq!(
        store.load_user(Uid::from_uuid(uid)).await.unwrap().sessions[0].phase,
        Phase::Verified
    );
}

/// `make fuzz` found this: when events of two users have named the same session, an event
/// naming no owner used to go to whichever owner the store listed first. It is kept instead.
async fn an_ownerless_event_for_a_session_two_users_claim_is_kept_not_guessed(
    store: Arc<dyn Store>,
) {
    let app = app(store.clone());
    let (first, second, session) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    for (uid, at) in [
        (first, "2026-05-20T09:00:00Z"),
        (second, "2026-05-20T09:01:00Z"),
    ] {
        let review = signed_event(
            "kyc_session_manual_review",
            at,
            json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
        );
        assert_eq!(
            post(&app, &review, Some(&hex_sig(&review))).await.1["outcome"],
            "applied"
        );
    }
    let verified = signed_event(
        "kyc_session_verified",
        "2026-05-20T09:02:00Z",
        json!({ "sessionId": session, "entityType": "user" }),
    );
    let (status, answer) = post(&app, &verified, Some(&hex_sig(&verified))).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("quarantined")),
        "{answer}"
    );
    for uid in [first, second] {
        let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
        assert_eq!(
            snapshot.sessions[0].phase,
            Phase::Review,
            "neither user's session moved"
        );
    }
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason_code, "contested_session");
}

/// A level event that names a related party but says nothing of whose it is is never taken
/// as the user's, because a user's REGULAR opens the account gate.
async fn a_related_party_event_without_entity_type_never_opens_the_gate(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let uid = uuid::Uuid::new_v4();
    let level = signed_event(
        "kyc_state_updated",
        "2026-05-20T09:00:00Z",
        json!({ "kycId": 7, "userId": uid, "relatedPartyId": uuid::Uuid::new_v4(), "state": "REGULAR" }),
    );
    assert_eq!(
        post(&app, &level, Some(&hex_sig(&level))).await.1["outcome"],
        "quarantined"
    );
    let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
    assert!(!idv_model::can_create_account(&snapshot.profile));
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    assert_eq!(kept[0].reason_code, "ambiguous_owner");
    // The user it names can see in their history that it was kept, and why. It is audited once,
    // however often Ralio delivers it.
    post(&app, &level, Some(&hex_sig(&level))).await;
    let trail = store
        .audit_trail(Owner::User(Uid::from_uuid(uid)))
        .await
        .unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(
        (
            trail[0].action.as_str(),
            trail[0].outcome.to_string().as_str(),
            trail[0].detail.as_str()
        ),
        ("kyc_state_updated", "quarantined", "ambiguous_owner")
    );
    assert!(trail[0].event_id.is_some());
    assert!(trail[0].applied.is_none(), "a kept payload changes nothing");
}

/// A stamp far ahead is ordered at the first receipt, not at each retry, so the attribution
/// window still ends, and the event is kept rather than sent back until Ralio gives up.
async fn a_far_future_unattributable_event_is_kept_an_hour_after_its_first_receipt(
    store: Arc<dyn Store>,
) {
    let clock = ManualClock::at(now());
    let app = app_on(store.clone(), SECRET, &clock);
    let orphan = signed_event(
        "kyc_session_verified",
        "2099-01-01T00:00:00Z",
        json!({ "sessionId": uuid::Uuid::new_v4(), "entityType": "user" }),
    );
    assert_eq!(post(&app, &orphan, Some(&hex_sig(&orphan))).await.0, 503);
    clock.advance(chrono::Duration::minutes(30));
    assert_eq!(post(&app, &orphan, Some(&hex_sig(&orphan))).await.0, 503);
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        post(&app, &orphan, Some(&hex_sig(&orphan))).await.1["outcome"],
        "quarantined"
    );
}

/// A payment event with a broken envelope is still someone else's data, so only its digest is
/// kept.
async fn other_peoples_payloads_are_kept_as_a_digest_even_when_unparsable(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let payin = serde_json::to_vec(&json!({
        "id": "not-a-uuid", "event": "payin_completed", "timestamp": "yesterday",
        "data": { "payer": { "name": "Jane Example", "iban": "ES9121000418450200051332" } }
    }))
    .unwrap();
    assert_eq!(
        post(&app, &payin, Some(&hex_sig(&payin))).await.1["outcome"],
        "quarantined"
    );
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    let text = String::from_utf8_lossy(&kept[0].body).to_string();
    assert!(!text.contains("Jane") && !text.contains("ES91"), "{text}");
    assert!(text.contains("sha256"), "{text}");
}

/// A level stamped in 2099 is ordered at its receipt, so the real events after it still count.
async fn a_far_future_timestamp_cannot_pin_a_level(store: Arc<dyn Store>) {
    let clock = ManualClock::at(now());
    let app = app_on(store.clone(), SECRET, &clock);
    let uid = uuid::Uuid::new_v4();
    let regular = signed_event(
        "kyc_state_updated",
        "2099-01-01T00:00:00Z",
        json!({ "userId": uid, "state": "REGULAR" }),
    );
    assert_eq!(
        post(&app, &regular, Some(&hex_sig(&regular))).await.1["outcome"],
        "applied"
    );
    clock.advance(chrono::Duration::minutes(10));
    let light = signed_event(
        "kyc_state_updated",
        &clock.now().to_rfc3339(),
        json!({ "userId": uid, "state": "LIGHT" }),
    );
    assert_eq!(
        post(&app, &light, Some(&hex_sig(&light))).await.1["outcome"],
        "applied"
    );
    let owner = Owner::User(Uid::from_uuid(uid));
    let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Light);
    let trail = store.audit_trail(owner).await.unwrap();
    assert!(
        trail.iter().any(|a| a
            .detail
            .contains("stamped 2099-01-01T00:00:00Z, after its receipt")),
        "{trail:?}"
    );
}

async fn every_fixture_applies_signed_hex_then_redelivered_base64(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let expected = [
        ("kyc_session_manual_review.v2.json", "applied"),
        ("kyc_session_verified.v1.json", "applied"),
        ("kyc_session_verified.v2.json", "unchanged"),
        ("kyc_state_updated.v1.json", "applied"),
        ("kyc_state_updated.v2.json", "applied"),
        ("kyc_session_failed.v1.json", "applied"),
        ("kyc_session_failed.v2.json", "unchanged"),
        ("kyc_session_expired.v1.json", "applied"),
        ("kyc_session_expired.v2.json", "unchanged"),
        ("kyc_expiration_warning.v2.json", "applied"),
        ("kyc_state_updated.v2.downgrade-light.json", "applied"),
        ("related_party.kyc_session_created.v2.json", "applied"),
        ("kyc_session_manual_review.v2.related-party.json", "applied"),
        ("kyc_session_verified.v2.related-party.json", "applied"),
        ("kyc_state_updated.v2.related-party.json", "applied"),
        ("kyb_state_updated.v2.json", "unhandled"),
        // Its account is not recorded here, so the activation is kept until it is.
        ("account_activated.v1.json", "deferred"),
    ];
    for (file, outcome) in expected {
        let body = fixture(file);
        let (status, answer) = post(&app, &body, Some(&hex_sig(&body))).await;
        assert_eq!(status, 200, "{file}: {answer}");
        assert_eq!(
            answer,
            json!({ "received": true, "duplicate": false, "outcome": outcome }),
            "{file}"
        );
        // Ralio redelivers, and this time the signature is base64 and the body comes
        // base64-encoded.
        let (status, _, again) =
            send(&app, url_event("POST", &body, Some(&b64_sig(&body)), true)).await;
        assert_eq!(status, 200, "{file}");
        let repeat = if outcome == "unhandled" {
            "unhandled"
        } else {
            "duplicate"
        };
        assert_eq!(again["outcome"], repeat, "{file}");
        assert_eq!(again["duplicate"], repeat == "duplicate", "{file}");
    }

    let uid = Uid::parse(USER).unwrap();
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(
        snapshot.profile.kyc_level(),
        KycLevel::Light,
        "the newer downgrade wins"
    );
    assert_eq!(snapshot.profile.kyc.kyc_id, Some(40817));
    let reverify = snapshot
        .profile
        .kyc
        .reverify
        .as_ref()
        .expect("expiration warning stored");
    assert_eq!(reverify.expiration_date.to_string(), "2026-06-01");
    let phase = |id: &str| {
        let session = SessionId::parse(id).unwrap();
        snapshot
            .sessions
            .iter()
            .find(|s| s.session_id == session)
            .map(|s| (s.phase, s.failure_reasons.len()))
    };
    assert_eq!(
        phase("a534c9a9-b4ae-4db5-86c3-9506219e4c36"),
        Some((Phase::Verified, 0))
    );
    assert_eq!(
        phase("62a16c76-f166-40ba-9af6-c04c6b217a4b"),
        Some((Phase::Rejected, 2))
    );
    assert_eq!(
        phase("26c33b2b-1647-41a5-87a6-456349f30616"),
        Some((Phase::Expired(ExpirySource::Ralio), 0))
    );
    assert_eq!(
        snapshot.sessions.len(),
        3,
        "the related party's session is not the user's"
    );
    let party =
        Owner::RelatedParty(RelatedPartyId::parse("ffd45d79-e5a0-417a-972d-1052865d32ee").unwrap());
    let rp_session = SessionId::parse("0cb64f88-9fd1-4479-ba23-a0427041da1f").unwrap();
    assert_eq!(
        store.find_session_owners(rp_session).await.unwrap(),
        vec![party]
    );
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    assert_eq!(kept.len(), 1, "the KYB event is kept once");
    assert_eq!(kept[0].reason_code, "unknown_event_type");
    // Only the id, type, time and digest of an event type not acted on are kept.
    let kyb = fixture("kyb_state_updated.v2.json");
    let digest: Value = serde_json::from_slice(&kept[0].body).unwrap();
    let mut fields: Vec<&String> = digest.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["event", "id", "sha256", "size", "timestamp"]);
    use sha2::Digest;
    assert_eq!(digest["sha256"], hex::encode(sha2::Sha256::digest(&kyb)));
    assert_eq!(digest["event"], "kyb_state_updated");
    assert!(kept[0].expires_at > now() + chrono::Duration::days(29));
}

fn signed_event(event_type: &str, at: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "event": event_type,
        "timestamp": at,
        "data": data
    }))
    .unwrap()
}

async fn twenty_concurrent_copies_have_one_effect(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let uid = uuid::Uuid::new_v4();
    let session = uuid::Uuid::new_v4();
    let body = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11.276Z",
        json!({ "sessionId": session, "userId": uid }),
    );
    let sig = hex_sig(&body);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, body, sig) = (app.clone(), body.clone(), sig.clone());
        tasks.push(tokio::spawn(
            async move { post(&app, &body, Some(&sig)).await },
        ));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert_eq!(status, 200);
        outcomes.push(answer["outcome"].as_str().unwrap().to_owned());
    }
    outcomes.sort();
    let mut want = vec!["duplicate".to_owned(); 19];
    want.insert(0, "applied".into());
    assert_eq!(outcomes, want);
    let trail = store
        .audit_trail(Owner::User(Uid::from_uuid(uid)))
        .await
        .unwrap();
    assert_eq!(trail.iter().filter(|a| a.outcome == "applied").count(), 1);
}

/// Returns all orderings of `items`.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

async fn an_activation_reaches_its_account_whichever_comes_first(store: Arc<dyn Store>) {
    let app = app(store.clone());
    for activation_first in [true, false] {
        let uid = Uid::from_uuid(uuid::Uuid::new_v4());
        let account_id = uuid::Uuid::new_v4().to_string();
        let activation = signed_event(
            "account_activated",
            "2026-05-20T09:00:00Z",
            json!({ "accountId": account_id }),
        );
        // Accounts are reserved only for users at REGULAR.
        let regular = signed_event(
            "kyc_state_updated",
            "2026-05-20T08:00:00Z",
            json!({ "kycId": 1, "userId": uid, "entityType": "user", "state": "REGULAR" }),
        );
        let (status, _) = post(&app, &regular, Some(&hex_sig(&regular))).await;
        assert_eq!(status, 200);
        let token = match store
            .reserve_account(uid, "Main", Currency::Eur, now(), now())
            .await
            .unwrap()
        {
            AccountReservation::Reserved(token) => token,
            other => panic!("{other:?}"),
        };
        let account = RalioAccount::opened(account_id.clone(), "Main", Currency::Eur);
        let complete = AccountRecord::complete(uid, "Main", Currency::Eur, token, account, now());
        let expected = if activation_first {
            "deferred"
        } else {
            store
                .write_account(&complete, now())
                .await
                .unwrap()
                .unwrap();
            "applied"
        };
        let (status, answer) = post(&app, &activation, Some(&hex_sig(&activation))).await;
        assert_eq!((status, answer["outcome"].as_str()), (200, Some(expected)));
        if activation_first {
            store
                .write_account(&complete, now())
                .await
                .unwrap()
                .unwrap();
        }
        let stored = store.load_user(uid).await.unwrap().accounts.remove(0);
        assert_eq!(stored.created().unwrap().state, "ACTIVE");
        let (_, again) = post(&app, &activation, Some(&hex_sig(&activation))).await;
        assert_eq!(again["outcome"], "duplicate");
        // Another event for the same activation changes nothing.
        let other = signed_event(
            "account.activated",
            "2026-05-20T09:00:01Z",
            json!({ "accountId": account_id }),
        );
        let (_, repeat) = post(&app, &other, Some(&hex_sig(&other))).await;
        assert_eq!(repeat["outcome"], "unchanged");
    }
}

type StoreFactory =
    fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>> + Send>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_a_lifecycle_ends_in_the_in_order_state_in_memory() {
    every_order_of_a_lifecycle_ends_in_the_in_order_state(|| Box::pin(async { testing::memory() }))
        .await;
}

/// Each ordering gets its own table, because moto copies a table on every transaction, and a
/// small one keeps the 120 orderings quick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_a_lifecycle_ends_in_the_in_order_state_on_dynamodb() {
    every_order_of_a_lifecycle_ends_in_the_in_order_state(|| Box::pin(testing::dynamo())).await;
}

async fn every_order_of_a_lifecycle_ends_in_the_in_order_state(make_store: StoreFactory) {
    let store = make_store().await;
    let app = app(store.clone());
    let lifecycle = |uid: uuid::Uuid, a: uuid::Uuid, b: uuid::Uuid| {
        vec![
            signed_event(
                "kyc_session_manual_review",
                "2026-05-04T09:31:47.902Z",
                json!({ "sessionId": a, "userId": uid, "entityType": "user" }),
            ),
            signed_event(
                "kyc_session_verified",
                "2026-05-04T14:05:11.276Z",
                json!({ "sessionId": a, "userId": uid }),
            ),
            signed_event(
                "kyc_state_updated",
                "2026-05-04T14:05:11.940Z",
                json!({ "kyc_id": 1, "user_id": uid, "state": "REGULAR" }),
            ),
            signed_event(
                "kyc.session_failed",
                "2026-05-05T11:20:38.845Z",
                json!({ "sessionId": b, "userId": uid, "checks": [{ "type": "liveness", "state": 2, "data": {} }] }),
            ),
            signed_event(
                "kyc_state_updated",
                "2026-06-01T00:05:43.209Z",
                json!({ "kycId": 1, "userId": uid, "entityType": "user", "state": "LIGHT" }),
            ),
        ]
    };
    let end_state = |snapshot: idv_model::UserSnapshot| {
        let mut phases: Vec<(SessionId, Phase)> = snapshot
            .sessions
            .iter()
            .map(|s| (s.session_id, s.phase))
            .collect();
        phases.sort_by_key(|(id, _)| *id);
        (phases, snapshot.profile.kyc_level())
    };
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let in_order_user = uuid::Uuid::new_v4();
    for body in lifecycle(in_order_user, a, b) {
        assert_eq!(post(&app, &body, Some(&hex_sig(&body))).await.0, 200);
    }
    let (expected_phases, expected_level) = end_state(
        store
            .load_user(Uid::from_uuid(in_order_user))
            .await
            .unwrap(),
    );
    assert_eq!(expected_level, KycLevel::Light);
    assert_eq!(
        expected_phases
            .iter()
            .map(|(_, p)| *p)
            .collect::<std::collections::HashSet<_>>(),
        [Phase::Verified, Phase::Rejected].into()
    );

    for order in permutations(&[0usize, 1, 2, 3, 4]) {
        // Each ordering gets fresh ids in the same shape, because sessions compare by role, not
        // by id.
        let (user, a2, b2) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let bodies = lifecycle(user, a2, b2);
        let store = make_store().await;
        let app = idv_webhook::router(Webhook::new(parts(
            store.clone(),
            SECRET,
            &ManualClock::at(now()),
        )));
        for i in &order {
            let (status, answer) = post(&app, &bodies[*i], Some(&hex_sig(&bodies[*i]))).await;
            assert_eq!(status, 200, "{answer}");
        }
        let snapshot = store.load_user(Uid::from_uuid(user)).await.unwrap();
        let by_role = |id: uuid::Uuid| {
            snapshot
                .sessions
                .iter()
                .find(|s| s.session_id.as_uuid() == id)
                .map(|s| s.phase)
        };
        assert_eq!(by_role(a2), Some(Phase::Verified), "order {order:?}");
        assert_eq!(by_role(b2), Some(Phase::Rejected), "order {order:?}");
        assert_eq!(
            snapshot.profile.kyc_level(),
            expected_level,
            "order {order:?}"
        );
    }
}

async fn review_after_verified_is_ignored(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (uid, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let verified = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "sessionId": session, "userId": uid }),
    );
    let review = signed_event(
        "kyc_session_manual_review",
        "2026-05-04T09:31:47Z",
        json!({ "sessionId": session, "userId": uid }),
    );
    assert_eq!(
        post(&app, &verified, Some(&hex_sig(&verified))).await.1["outcome"],
        "applied"
    );
    let (status, answer) = post(&app, &review, Some(&hex_sig(&review))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({ "received": true, "duplicate": false, "outcome": "stale" })
        )
    );
    let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
    assert_eq!(snapshot.sessions[0].phase, Phase::Verified);
}

async fn verified_without_a_level_update_leaves_the_user_light(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (uid, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let verified = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
    );
    post(&app, &verified, Some(&hex_sig(&verified))).await;
    let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Light);
    assert!(!idv_model::can_create_account(&snapshot.profile));
    let action = next_action(&snapshot.profile, &snapshot.sessions, now());
    assert_eq!(action.code, NextActionCode::AwaitKycUpdate);
}

async fn bad_signatures_are_refused_and_store_nothing(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let uid = uuid::Uuid::new_v4();
    let body = signed_event(
        "kyc_state_updated",
        "2026-05-04T14:05:11Z",
        json!({ "kycId": 1, "userId": uid, "state": "REGULAR" }),
    );
    let good = hex_sig(&body);
    let mut tampered = body.clone();
    let at = tampered.len() - 4;
    tampered[at] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
        (
            "tampered body",
            tampered,
            Some(good.clone()),
            "signature_invalid",
        ),
        (
            "wrong secret",
            body.clone(),
            Some(WebhookSecret::new("whsec_other").sign_hex(&body)),
            "signature_invalid",
        ),
        ("missing header", body.clone(), None, "signature_missing"),
        (
            "empty header",
            body.clone(),
            Some(String::new()),
            "signature_missing",
        ),
        (
            "garbage header",
            body.clone(),
            Some("t=1,v1=nonsense".into()),
            "signature_invalid",
        ),
        (
            "truncated",
            body.clone(),
            Some(good[..40].to_owned()),
            "signature_invalid",
        ),
        (
            "empty body, no signature",
            Vec::new(),
            None,
            "signature_missing",
        ),
    ];
    for (case, body, signature, code) in cases {
        let (status, content_type, answer) =
            send(&app, url_event("POST", &body, signature.as_deref(), true)).await;
        assert_eq!(status, 401, "{case}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{case}"
        );
        assert_eq!(answer["code"], code, "{case}");
        assert_eq!(answer["status"], 401, "{case}");
    }
    let snapshot = store.load_user(Uid::from_uuid(uid)).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Light);
    assert!(
        store
            .quarantined(now().date_naive())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_trail(Owner::User(Uid::from_uuid(uid)))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rotated_secrets_are_all_accepted(store: Arc<dyn Store>) {
    let app = app_with(store.clone(), "whsec_new, whsec_old");
    for secret in ["whsec_new", "whsec_old"] {
        let body = signed_event(
            "kyc_session_verified",
            "2026-05-04T14:05:11Z",
            json!({ "sessionId": uuid::Uuid::new_v4(), "userId": uuid::Uuid::new_v4() }),
        );
        let (status, answer) = post(
            &app,
            &body,
            Some(&WebhookSecret::new(secret).sign_hex(&body)),
        )
        .await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("applied")),
            "{secret}"
        );
    }
    let body = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "sessionId": uuid::Uuid::new_v4(), "userId": uuid::Uuid::new_v4() }),
    );
    let (status, _) = post(
        &app,
        &body,
        Some(&WebhookSecret::new("whsec_retired").sign_hex(&body)),
    )
    .await;
    assert_eq!(status, 401);
}

async fn signed_bodies_that_cannot_be_interpreted_are_kept_verbatim(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let binary: Vec<u8> = vec![0xff, 0xfe, b'{', 0x00, b'x'];
    let no_session = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "userId": uuid::Uuid::new_v4() }),
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("binary", binary, "not_json"),
        ("empty", Vec::new(), "not_json"),
        ("array", b"[1,2,3]".to_vec(), "not_an_object"),
        ("no session id", no_session, "missing_field"),
    ];
    for (case, body, _) in &cases {
        let (status, _, answer) =
            send(&app, url_event("POST", body, Some(&b64_sig(body)), true)).await;
        assert_eq!(status, 200, "{case}");
        assert_eq!(
            answer,
            json!({ "received": true, "duplicate": false, "outcome": "quarantined" }),
            "{case}"
        );
    }
    let mut kept = store.quarantined(now().date_naive()).await.unwrap();
    kept.sort_by(|a, b| a.body.cmp(&b.body));
    let mut want: Vec<(Vec<u8>, String)> = cases
        .iter()
        .map(|(_, b, c)| (b.clone(), c.to_string()))
        .collect();
    want.sort();
    assert_eq!(
        kept.into_iter()
            .map(|k| (k.body, k.reason_code))
            .collect::<Vec<_>>(),
        want
    );
}

async fn oversized_bodies_and_wrong_methods_are_refused(store: Arc<dyn Store>) {
    let app = app(store.clone());
    // The body is over Lambda's own request limit, so it is never a delivery that reached the
    // function.
    let huge = vec![b' '; idv_webhook::MAX_BODY_BYTES + 1];
    let (status, content_type, answer) =
        send(&app, url_event("POST", &huge, Some(&hex_sig(&huge)), true)).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (413, Some("application/problem+json"))
    );
    assert_eq!(answer["code"], "payload_too_large");
    // A large, unsigned body is refused for its signature, which is checked before any size
    // rule.
    let big = vec![b' '; 300 * 1024];
    assert_eq!(
        post(&app, &big, Some("00")).await.1["code"],
        "signature_invalid"
    );

    let answer = call(&app, url_event("GET", b"", None, false)).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "POST");
    assert!(
        store
            .quarantined(now().date_naive())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn events_without_a_user_id_find_their_session(store: Arc<dyn Store>) {
    let clock = ManualClock::at(now());
    let app = app_on(store.clone(), SECRET, &clock);
    let (uid, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let review = signed_event(
        "kyc_session_manual_review",
        "2026-05-04T09:31:47Z",
        json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
    );
    post(&app, &review, Some(&hex_sig(&review))).await;
    // Second-generation payloads may leave userId out.
    let verified = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "sessionId": session, "entityType": "user" }),
    );
    assert_eq!(
        post(&app, &verified, Some(&hex_sig(&verified))).await.1["outcome"],
        "applied"
    );
    assert_eq!(
        store.load_user(Uid::from_uuid(uid)).await.unwrap().sessions[0].phase,
        Phase::Verified
    );
    // For a session nobody stored, with no user id, Ralio is asked to send the event again for
    // an hour from its first receipt, and then it is kept for an operator and acknowledged.
    let orphan = signed_event(
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        json!({ "sessionId": uuid::Uuid::new_v4(), "entityType": "user" }),
    );
    let (status, pending) = post(&app, &orphan, Some(&hex_sig(&orphan))).await;
    assert_eq!(
        (status, pending["code"].as_str()),
        (503, Some("attribution_pending"))
    );
    clock.advance(chrono::Duration::minutes(59));
    assert_eq!(post(&app, &orphan, Some(&hex_sig(&orphan))).await.0, 503);
    clock.advance(chrono::Duration::minutes(2));
    assert_eq!(
        post(&app, &orphan, Some(&hex_sig(&orphan))).await.1["outcome"],
        "quarantined"
    );
    // The quarantine holds the copy from the first 503 and the entry finally kept.
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    let mut reasons: Vec<_> = kept.iter().map(|k| k.reason_code.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["attribution_pending", "unknown_session"]);
    // A related-party event pointing at a user's session never lands on the user.
    let sneaky = signed_event(
        "kyc_session_failed",
        "2026-05-04T15:00:00Z",
        json!({ "sessionId": session, "entityType": "related-party" }),
    );
    assert_eq!(
        post(&app, &sneaky, Some(&hex_sig(&sneaky))).await.1["outcome"],
        "quarantined"
    );
    assert_eq!(
        store.load_user(Uid::from_uuid(uid)).await.unwrap().sessions[0].phase,
        Phase::Verified
    );
}

#[tokio::test]
async fn store_outage_answers_503_then_the_same_delivery_applies() {
    let down: Arc<dyn EventStore> = Arc::new(testing::unreachable_dynamo().await);
    let outage = idv_webhook::router(Webhook::new(parts(down, SECRET, &ManualClock::at(now()))));
    let body = fixture("kyc_session_verified.v2.json");
    let (status, content_type, answer) = send(
        &outage,
        url_event("POST", &body, Some(&hex_sig(&body)), false),
    )
    .await;
    assert_eq!(
        (status, content_type.as_deref()),
        (503, Some("application/problem+json"))
    );
    assert_eq!(answer["code"], "store_unavailable");

    let store = testing::dynamo().await;
    let working = app(store.clone());
    let (status, answer) = post(&working, &body, Some(&hex_sig(&body))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
}

#[tokio::test]
async fn a_new_event_costs_one_dynamodb_request_through_the_handler() {
    let (store, counter) = testing::dynamo_with_counter().await;
    let app = app(Arc::new(store));
    let body = fixture("kyc_session_verified.v2.json");
    let (status, _) = post(&app, &body, Some(&hex_sig(&body))).await;
    assert_eq!(status, 200);
    assert_eq!(counter.operations(), ["TransactWriteItems"]);
}

#[tokio::test]
async fn missing_configuration_fails_at_start_naming_the_variable() {
    use idv_adapters::testing::fixtures::env;
    let error = |result: Result<Arc<Webhook>, _>| match result {
        Ok(_) => panic!("configuration accepted"),
        Err(e) => idv_adapters::config::ConfigError::to_string(&e),
    };
    // The function starts as Lambda starts it, with the standard AWS configuration over `env`.
    async fn start(
        env: &std::collections::HashMap<String, String>,
    ) -> Result<Arc<Webhook>, idv_adapters::config::ConfigError> {
        Webhook::from_env(&Wiring::load(env).await).await
    }
    let message = error(start(&env(&[("WEBHOOK_SECRETS", "s"), ("QUEUE_URL", "q")])).await);
    assert!(message.contains("TABLE_NAME"), "{message}");
    let message = error(start(&env(&[("WEBHOOK_SECRETS", "s"), ("TABLE_NAME", "t")])).await);
    assert!(message.contains("QUEUE_URL"), "{message}");
    let message = error(start(&env(&[("TABLE_NAME", "t"), ("QUEUE_URL", "q")])).await);
    assert!(
        message.contains("WEBHOOK_SECRET_ARN") && message.contains("WEBHOOK_SECRETS"),
        "{message}"
    );
    let message = error(
        start(&env(&[
            ("TABLE_NAME", "t"),
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRETS", " , "),
        ]))
        .await,
    );
    assert!(message.contains("WEBHOOK_SECRETS"), "{message}");
    // Inside Lambda, a secret set by hand in the environment is refused, because it would
    // override the managed one.
    let message = error(
        start(&env(&[
            ("TABLE_NAME", "t"),
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRETS", &"s".repeat(40)),
            ("AWS_LAMBDA_FUNCTION_NAME", "ralio-idv-webhook-prod"),
        ]))
        .await,
    );
    assert!(
        message.contains("WEBHOOK_SECRETS") && message.contains("Lambda"),
        "{message}"
    );
    // A short or public secret in Secrets Manager is refused too, naming the variable, when the
    // secret is read at start (PRIME_CONNECTIONS, as the template sets it).
    for weak in ["whsec_short", idv_adapters::secrets::LOCAL_WEBHOOK_SECRET] {
        let secret =
            testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": [weak] })).await;
        let message = error(
            start(&env(&[
                ("TABLE_NAME", "t"),
                ("QUEUE_URL", "q"),
                ("WEBHOOK_SECRET_ARN", &secret),
                ("AWS_LAMBDA_FUNCTION_NAME", "ralio-idv-webhook-prod"),
                ("PRIME_CONNECTIONS", "true"),
            ]))
            .await,
        );
        assert!(message.contains("WEBHOOK_SECRET_ARN"), "{weak}: {message}");
        // When it is read on the first delivery instead, it is never used, and the delivery
        // waits (503).
        let lazy = start(&env(&[
            ("TABLE_NAME", "t"),
            ("QUEUE_URL", "q"),
            ("WEBHOOK_SECRET_ARN", &secret),
            ("AWS_LAMBDA_FUNCTION_NAME", "ralio-idv-webhook-prod"),
        ]))
        .await
        .expect("a lazy start");
        let app = idv_webhook::router(lazy);
        let body = signed_event(
            "kyc_state_updated",
            "2026-05-04T14:05:11Z",
            json!({ "userId": uuid::Uuid::new_v4(), "state": "LIGHT" }),
        );
        let signature = WebhookSecret::new(weak).sign_hex(&body);
        let (status, _) = post(&app, &body, Some(&signature)).await;
        assert_eq!(status, 503, "{weak}: a weak secret verifies nothing");
    }
}

/// A related party's new session comes with its expiry. It is indexed and its ticks are
/// scheduled, so the watcher flags and expires it like a user's.
#[tokio::test]
async fn an_announced_related_party_session_is_scheduled_for_expiry() {
    use idv_adapters::expiry::ExpiryScheduler;
    use idv_adapters::queue::MemoryQueue;
    use idv_adapters::store::ExpiryIndex;
    let store = testing::memory();
    let clock = ManualClock::at(now());
    let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let schedule = idv_model::ExpirySchedule::default();
    let scheduler = Arc::new(ExpiryScheduler::new(index.clone(), queue.clone(), schedule));
    let app = idv_webhook::router(Webhook::new(Parts {
        scheduler: Some(scheduler),
        ..parts(store.clone(), SECRET, &clock)
    }));
    let body = fixture("related_party.kyc_session_created.v2.json");
    assert_eq!(
        post(&app, &body, Some(&hex_sig(&body))).await.1["outcome"],
        "applied"
    );
    // A redelivery schedules nothing more.
    assert_eq!(
        post(&app, &body, Some(&hex_sig(&body))).await.1["outcome"],
        "duplicate"
    );

    let expires = chrono::DateTime::parse_from_rfc3339("2026-05-13T09:15:40.336Z")
        .unwrap()
        .to_utc();
    let buckets = schedule.buckets(expires);
    let sent: Vec<_> = queue.sent().into_iter().map(|t| t.bucket).collect();
    assert_eq!(sent, buckets);
    let session = SessionId::parse("0cb64f88-9fd1-4479-ba23-a0427041da1f").unwrap();
    for bucket in &buckets {
        let page = store.list_bucket(bucket, 10, None).await.unwrap();
        assert_eq!(
            page.members
                .iter()
                .map(|m| m.session_id)
                .collect::<Vec<_>>(),
            [session]
        );
    }
    // The watcher marks it expired once its expiry bucket is due.
    clock.set(buckets[1].due_at());
    let marked = mark_due_bucket(&index, &buckets[1], clock.now()).await;
    assert_eq!(marked, 1);
}

/// Marks each listed session, as the watcher does for a due expiry tick. It does not depend on
/// the watcher crate, because a function never imports another.
async fn mark_due_bucket(
    index: &Arc<dyn idv_adapters::store::ExpiryIndex>,
    bucket: &idv_model::ExpiryBucket,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut changed = 0;
    for member in index.list_bucket(bucket, 10, None).await.unwrap().members {
        if index
            .watch(WatchAction::ExpireInferred, &member, now)
            .await
            .unwrap()
            == WatchOutcome::Changed
        {
            changed += 1;
        }
    }
    changed
}

/// The function is started from its environment as on Lambda (the webhook secrets in a Secrets
/// Manager secret), against the emulator. An announced related-party session is indexed and
/// its ticks are sent. When SQS refuses a tick, the event is still acknowledged and the tick
/// item is taken back.
#[tokio::test]
async fn starts_from_its_environment_and_schedules_announced_sessions_on_sqs() {
    let secret = testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": [SECRET] })).await;
    let table = testing::new_table().await;
    let (_, queue_url) = testing::sqs_queue_on(&[]).await;
    let env = |queue_url: &str| {
        idv_adapters::testing::fixtures::env(&[
            ("TABLE_NAME", &table),
            ("QUEUE_URL", queue_url),
            ("WEBHOOK_SECRET_ARN", &secret),
        ])
    };
    let start = |env: std::collections::HashMap<String, String>| async move {
        let recorder = RequestCounter::for_function(FUNCTION).interceptor();
        let wiring = Wiring::with_config(&env, testing::emulator_config().await, vec![recorder]);
        idv_webhook::router(Webhook::from_env(&wiring).await.expect("it starts"))
    };
    let expires = chrono::Utc::now() + chrono::Duration::days(7);
    let announced = |session: SessionId, party: Uid| {
        signed_event(
            "related_party.kyc_session_created",
            &chrono::Utc::now().to_rfc3339(),
            json!({
                "relatedParty": { "id": party },
                "kycSession": { "id": session, "url": "https://verify.example/rp", "expiresAt": expires.to_rfc3339() }
            }),
        )
    };
    let store: Arc<dyn Store> = Arc::new(testing::dynamo_on(&table, &[]).await);

    // SQS refuses, but the event is acknowledged all the same, and the tick item is given back.
    let refusing = start(env(&format!("{queue_url}-missing"))).await;
    let (session, party) = (
        SessionId::from_uuid(uuid::Uuid::new_v4()),
        Uid::from_uuid(uuid::Uuid::new_v4()),
    );
    let body = announced(session, party);
    let (status, answer) = post(&refusing, &body, Some(&hex_sig(&body))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(
        store.find_session_owners(session).await.unwrap(),
        vec![Owner::RelatedParty(RelatedPartyId::from_uuid(
            party.as_uuid()
        ))]
    );
    assert_eq!(testing::messages_waiting(&queue_url).await, 0);

    // With a working queue, the next announced session in the same buckets sends both ticks.
    let app = start(env(&queue_url)).await;
    let body = announced(SessionId::from_uuid(uuid::Uuid::new_v4()), party);
    assert_eq!(post(&app, &body, Some(&hex_sig(&body))).await.0, 200);
    assert_eq!(
        testing::messages_waiting(&queue_url).await,
        2,
        "one tick per bucket"
    );
}

/// A webhook built as Lambda builds it (`from_env`), on a new table and queue, verifying with
/// a Secrets Manager secret holding `secrets`, with `extra` settings. The counter records every
/// AWS call it makes; the ARN is the secret's, for a test that rotates it.
async fn deployed_webhook(
    secrets: &[&str],
    extra: &[(&str, &str)],
) -> (Router, RequestCounter, String) {
    let secret = testing::webhook_secret_on_emulator(&json!({ "webhook_secrets": secrets })).await;
    let table = testing::new_table().await;
    let (_, queue_url) = testing::sqs_queue_on(&[]).await;
    let mut pairs = vec![
        ("TABLE_NAME", table.as_str()),
        ("QUEUE_URL", queue_url.as_str()),
        ("WEBHOOK_SECRET_ARN", secret.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let env = idv_adapters::testing::fixtures::env(&pairs);
    let counter = RequestCounter::for_function(FUNCTION);
    let wiring = Wiring::with_config(
        &env,
        testing::emulator_config().await,
        vec![counter.interceptor()],
    );
    let app = idv_webhook::router(Webhook::from_env(&wiring).await.unwrap());
    (app, counter, secret)
}

/// A secret rotated in Secrets Manager is picked up by a running function on the first
/// delivery it cannot verify, without a redeploy. A forgery triggers at most one read a minute.
#[tokio::test]
async fn a_rotated_secret_is_picked_up_without_a_redeploy() {
    let old = "whsec_the_old_signing_secret_0123456789";
    let new = "whsec_the_new_signing_secret_9876543210";
    let (app, counter, secret) = deployed_webhook(&[old], &[("PRIME_CONNECTIONS", "true")]).await;
    let reads = || {
        counter
            .operations()
            .iter()
            .filter(|o| o.contains("GetSecretValue"))
            .count()
    };
    assert_eq!(reads(), 1, "read once at start");
    let event = |at: &str| {
        signed_event(
            "kyc_state_updated",
            at,
            json!({ "userId": uuid::Uuid::new_v4(), "state": "LIGHT" }),
        )
    };
    let signed_with = |secret: &str, body: &[u8]| WebhookSecret::new(secret).sign_hex(body);

    // Ralio rotates, putting the new secret first while the old one is still accepted.
    testing::secrets_client_on_emulator()
        .await
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(json!({ "webhook_secrets": [new, old] }).to_string())
        .send()
        .await
        .unwrap();
    let fresh = event("2026-05-20T09:00:00Z");
    assert_eq!(
        post(&app, &fresh, Some(&signed_with(new, &fresh))).await.0,
        200
    );
    assert_eq!(reads(), 2, "read again on the first mismatch");
    let late = event("2026-05-20T09:01:00Z");
    assert_eq!(
        post(&app, &late, Some(&signed_with(old, &late))).await.0,
        200
    );
    // A mismatch within the minute does not make the function read again. It cannot yet tell
    // a forgery from a delivery signed with a secret rotated in a moment ago, so it asks for a
    // retry rather than losing a genuine event.
    let forged = event("2026-05-20T09:02:00Z");
    let (status, answer) = post(&app, &forged, Some(&signed_with("whsec_guess", &forged))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (503, Some("signature_unverified"))
    );
    assert_eq!(reads(), 2);
    // A missing signature does not make it read again either.
    assert_eq!(post(&app, &forged, None).await.0, 401);
    assert_eq!(reads(), 2);
}

/// The door's cost: a flood of unsigned and forged requests makes no AWS call but the secret
/// read. An unsigned request reads nothing; the first forgery reads the secret (and reads it
/// again, since it does not match), and further forgeries read it at most once a minute.
/// Nothing is written or queued for them: they cost Lambda requests, compute and their log
/// lines. A deployed instance also primes at start (`PRIME_CONNECTIONS`), which this test does
/// not set.
#[tokio::test]
async fn unsigned_and_forged_requests_cost_no_aws_call_but_the_rate_limited_secret_read() {
    let genuine_secret = "whsec_the_only_signing_secret_0123456789";
    let (app, counter, _) = deployed_webhook(&[genuine_secret], &[]).await;
    const EACH: usize = 100;
    let body = |i: usize| {
        signed_event(
            "kyc_state_updated",
            "2026-05-20T09:00:00Z",
            json!({ "userId": uuid::Uuid::new_v4(), "state": "REGULAR", "n": i }),
        )
    };
    for i in 0..EACH {
        assert_eq!(post(&app, &body(i), None).await.0, 401, "unsigned");
    }
    assert_eq!(
        counter.operations(),
        Vec::<String>::new(),
        "unsigned: no call"
    );

    let started = std::time::Instant::now();
    for i in 0..EACH {
        let body = body(i);
        let forged = WebhookSecret::new("whsec_a_guess_at_the_secret_000000000").sign_hex(&body);
        assert_eq!(post(&app, &body, Some(&forged)).await.0, 401, "forged");
    }
    // Each further minute the burst lasts may read the secret once more.
    let minutes = started.elapsed().as_secs() / 60;
    let operations = counter.operations();
    assert!(
        operations.iter().all(|o| o.contains("GetSecretValue")),
        "only secret reads: {operations:?}"
    );
    assert!(
        (2..=2 + minutes as usize).contains(&operations.len()),
        "{} secret reads for {EACH} forgeries in {minutes} min",
        operations.len()
    );
}

/// Rotation step 3, removing the old secret, takes effect within `WEBHOOK_SECRET_MAX_AGE`
/// even for someone who holds it and never causes a mismatch. Outside a rotation, a forgery
/// is answered 401 however soon after another it comes, because a 503 would hold the store
/// alarm red.
#[tokio::test]
async fn a_removed_secret_is_refused_within_its_max_age_and_forgeries_get_401() {
    let old = "whsec_the_old_signing_secret_0123456789";
    let new = "whsec_the_new_signing_secret_9876543210";
    let (app, _, secret) = deployed_webhook(&[new, old], &[("WEBHOOK_SECRET_MAX_AGE", "1s")]).await;
    let event = |at: &str| {
        signed_event(
            "kyc_state_updated",
            at,
            json!({ "userId": uuid::Uuid::new_v4(), "state": "LIGHT" }),
        )
    };
    let signed_with = |secret: &str, body: &[u8]| WebhookSecret::new(secret).sign_hex(body);
    let held = event("2026-05-20T09:00:00Z");
    assert_eq!(
        post(&app, &held, Some(&signed_with(old, &held))).await.0,
        200
    );
    for minute in 1..=3 {
        let forged = event(&format!("2026-05-20T09:0{minute}:00Z"));
        let (status, answer) =
            post(&app, &forged, Some(&signed_with("whsec_guess", &forged))).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("signature_invalid"))
        );
    }
    testing::secrets_client_on_emulator()
        .await
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(json!({ "webhook_secrets": [new] }).to_string())
        .send()
        .await
        .unwrap();
    // Once the age has passed, the next delivery reads the secret, whatever else happened
    // meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let stolen = event("2026-05-20T09:05:00Z");
    let (status, answer) = post(&app, &stolen, Some(&signed_with(old, &stolen))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("signature_invalid")),
        "a removal is no rotation: refused for good"
    );
    let genuine = event("2026-05-20T09:06:00Z");
    assert_eq!(
        post(&app, &genuine, Some(&signed_with(new, &genuine)))
            .await
            .0,
        200
    );
}

/// Second-generation `kyc_state_updated` events require `kycId` and may leave `userId` out. A
/// downgrade that names only the `kycId` an earlier event paired with the user reaches that
/// user, so the gate closes. An unpaired `kycId` is sent back, then kept, never guessed.
async fn a_downgrade_naming_only_the_kyc_id_closes_the_gate(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let kyc_id = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as i64 + 1;
    let regular = signed_event(
        "kyc_state_updated",
        "2026-05-20T08:00:00Z",
        json!({ "kycId": kyc_id, "userId": uid, "entityType": "user", "state": "REGULAR" }),
    );
    assert_eq!(post(&app, &regular, Some(&hex_sig(&regular))).await.0, 200);
    let snapshot = store.load_user(uid).await.unwrap();
    assert!(idv_model::can_create_account(&snapshot.profile));

    let lowered = signed_event(
        "kyc_state_updated",
        "2026-05-21T08:00:00Z",
        json!({ "kycId": kyc_id, "entityType": "user", "state": "LIGHT" }),
    );
    let (status, answer) = post(&app, &lowered, Some(&hex_sig(&lowered))).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), idv_model::KycLevel::Light);
    assert!(
        !idv_model::can_create_account(&snapshot.profile),
        "the gate is closed"
    );

    let stranger = signed_event(
        "kyc_state_updated",
        "2026-05-21T08:00:00Z",
        json!({ "kycId": kyc_id + 1, "entityType": "user", "state": "LIGHT" }),
    );
    let (status, answer) = post(&app, &stranger, Some(&hex_sig(&stranger))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (503, Some("attribution_pending")),
        "{answer}"
    );
}

/// The signature is checked on the whole body before any size rule, so a genuine 300 KiB
/// `kyc_session_failed` (with long failure reasons, say) is applied, not refused for good. One
/// too large to keep whole that is not applied is kept as its digest and the fields read from
/// it.
async fn a_signed_large_event_is_applied_or_kept_as_what_we_read(store: Arc<dyn Store>) {
    let clock = ManualClock::at(now());
    let app = app_on(store.clone(), SECRET, &clock);
    let (uid, session) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let padding = "x".repeat(300 * 1024);
    let failed = signed_event(
        "kyc_session_failed",
        "2026-05-20T09:00:00Z",
        json!({ "sessionId": session, "userId": uid, "note": padding }),
    );
    assert!(failed.len() > 300 * 1024);
    let (status, answer) = post(&app, &failed, Some(&hex_sig(&failed))).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let sessions = store.load_user(Uid::from_uuid(uid)).await.unwrap().sessions;
    assert_eq!(sessions[0].phase, Phase::Rejected);

    // An event that is not attributable and past its window is kept, but not whole.
    let stray = signed_event(
        "kyc_session_failed",
        "2026-05-01T09:00:00Z",
        json!({ "sessionId": uuid::Uuid::new_v4(), "entityType": "user", "note": padding }),
    );
    assert_eq!(post(&app, &stray, Some(&hex_sig(&stray))).await.0, 503);
    clock.advance(chrono::Duration::minutes(61));
    let (status, answer) = post(&app, &stray, Some(&hex_sig(&stray))).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("quarantined")),
        "{answer}"
    );
    let kept: Vec<_> = store
        .quarantined(now().date_naive())
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.reason_code == "unknown_session")
        .collect();
    assert_eq!(kept.len(), 1);
    let digest: Value = serde_json::from_slice(&kept[0].body).unwrap();
    assert_eq!(digest["size"], stray.len());
    assert_eq!(digest["event"], "kyc_session_failed");
    assert_eq!(digest["data"]["entityType"], "user");
    assert!(digest["data"]["sessionId"].is_string());
    assert!(digest["data"].get("note").is_none(), "only the fields read");
}

/// An event type this service does not know, spelled like Ralio's KYC family, keeps its body
/// verbatim, so a release that learns the spelling can replay it. Other unknown types keep
/// their digest only, because their bodies carry other people's data.
async fn an_unknown_kyc_spelling_is_kept_verbatim_for_a_later_release(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let respelled = signed_event(
        "kyc.session.verified",
        "2026-05-20T09:00:00Z",
        json!({ "sessionId": uuid::Uuid::new_v4(), "userId": uuid::Uuid::new_v4() }),
    );
    let other = signed_event(
        "payin_received",
        "2026-05-20T09:00:00Z",
        json!({ "payer": "A Person", "amount": 10 }),
    );
    for body in [&respelled, &other] {
        let (status, answer) = post(&app, body, Some(&hex_sig(body))).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("unhandled"))
        );
    }
    let kept = store.quarantined(now().date_naive()).await.unwrap();
    let body_of = |event_type: &str| {
        kept.iter()
            .find(|k| k.event_type.as_deref() == Some(event_type))
            .unwrap()
            .body
            .clone()
    };
    assert_eq!(body_of("kyc.session.verified"), respelled);
    let digest: Value = serde_json::from_slice(&body_of("payin_received")).unwrap();
    assert!(digest["sha256"].is_string());
    assert!(!String::from_utf8_lossy(&body_of("payin_received")).contains("A Person"));
}
