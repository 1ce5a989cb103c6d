//! These tests run `idv-admin replay-quarantine` on both stores. An event kept because its
//! session was not known is applied once the session is, exactly once however often the replay
//! runs.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::clock::{Clock, ManualClock};
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::Store;
use idv_adapters::testing::fixtures::{call, request, session_event, t0};
use idv_local::replay::{ReplayFilter, replay_quarantine};
use idv_model::{
    LearntSpellings, Owner, Phase, Plan, SessionId, Uid, WebhookSecret, WebhookSecrets,
};
use idv_webhook::{Parts, Webhook};
use serde_json::json;

const SECRET: &str = "whsec_replay_test_secret";

idv_adapters::both_stores!(
    an_old_unattributable_event_is_quarantined_then_replayed_once,
    an_event_sent_back_once_is_replayed_after_ralio_gives_up,
    a_far_future_stamp_is_replayed_at_its_first_receipt,
    an_unknown_spelling_is_replayed_once_a_person_maps_it,
);

/// A signed event of a spelling this release does not know is kept verbatim and acknowledged.
/// A replay changes nothing until a person maps the spelling, and then it applies, once.
async fn an_unknown_spelling_is_replayed_once_a_person_maps_it(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let live = idv_webhook::router(Webhook::new(Parts {
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        ..replayer_parts(&store, &clock, LearntSpellings::default())
    }));
    let (uid, session) = (
        Uid::from_uuid(uuid::Uuid::new_v4()),
        SessionId::from_uuid(uuid::Uuid::new_v4()),
    );
    let review = session_event(Owner::User(uid), session, Phase::Review, t0());
    store.execute(&Plan::new(&review, t0())).await.unwrap();
    let respelled = json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc.session.verified",
        "timestamp": (t0() + Duration::minutes(1)).to_rfc3339(),
        "data": { "sessionId": session, "entityType": "user" }
    })
    .to_string();
    clock.advance(Duration::minutes(2));
    assert_eq!(deliver(&live, &respelled).await, 200);

    let replay = |spellings: LearntSpellings| {
        let replayer = Webhook::new(replayer_parts(&store, &clock, spellings));
        let filter = ReplayFilter {
            since: t0().date_naive(),
            until: clock.now().date_naive(),
            reason: None,
            dry_run: false,
        };
        let store = store.clone();
        let now = clock.now();
        async move {
            replay_quarantine(&replayer, store.as_ref(), &filter, now)
                .await
                .unwrap()
        }
    };
    let unread = replay(LearntSpellings::default()).await;
    assert_eq!(
        unread.total("still:unknown_event_type"),
        1,
        "{}",
        unread.table()
    );
    assert_eq!(
        store.load_user(uid).await.unwrap().sessions[0].phase,
        Phase::Review
    );

    let mut learnt = LearntSpellings::default();
    learnt
        .learn_pair("kyc.session.verified=kyc_session_verified")
        .unwrap();
    assert!(
        learnt
            .learn_pair("kyc.session.paid=payin_received")
            .is_err()
    );
    let applied = replay(learnt.clone()).await;
    assert_eq!(applied.total("applied"), 1, "{}", applied.table());
    assert_eq!(
        store.load_user(uid).await.unwrap().sessions[0].phase,
        Phase::Verified
    );
    let again = replay(learnt).await;
    assert_eq!(again.total("already_replayed"), 1, "{}", again.table());
}

/// Returns the parts of a webhook that only replays (as `idv-admin replay-quarantine` builds
/// it), on `clock`. A live one is the same with the secret Ralio signs with.
fn replayer_parts(
    store: &Arc<dyn Store>,
    clock: &ManualClock,
    spellings: LearntSpellings,
) -> Parts {
    Parts {
        store: store.clone(),
        keys: idv_webhook::unknowable_keys(),
        origin: None,
        clock: Arc::new(clock.clone()),
        scheduler: None,
        settings: idv_webhook::Settings::default(),
        spellings,
    }
}

/// Delivers a signed body to the webhook at `clock`'s time, and returns its status.
async fn deliver(live: &axum::Router, body: &str) -> u16 {
    let mut delivery = request("POST", "/", None);
    *delivery.body_mut() = axum::body::Body::from(body.to_owned());
    delivery.headers_mut().insert(
        "x-signature",
        WebhookSecret::new(SECRET)
            .sign_hex(body.as_bytes())
            .parse()
            .unwrap(),
    );
    call(live, delivery).await.status
}

/// A stamp too far ahead to believe is ordered at the event's first receipt, so a replay of the
/// copy kept on a later delivery does not move it after what truly came later.
async fn a_far_future_stamp_is_replayed_at_its_first_receipt(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let live = idv_webhook::router(Webhook::new(Parts {
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        ..replayer_parts(&store, &clock, LearntSpellings::default())
    }));
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let kyc_id = 4_242_001;
    // The downgrade names only a kycId nobody has paired yet, and is stamped decades ahead.
    let light = json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc_state_updated",
        "timestamp": "2099-01-01T00:00:00Z",
        "data": { "kycId": kyc_id, "state": "LIGHT" }
    })
    .to_string();
    assert_eq!(deliver(&live, &light).await, 503);
    // Its last delivery, past the attribution window, is kept under its own reason.
    clock.advance(Duration::minutes(61));
    assert_eq!(deliver(&live, &light).await, 200);
    let kept = store.quarantined(t0().date_naive()).await.unwrap();
    let mut reasons: Vec<&str> = kept.iter().map(|e| e.reason_code.as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["attribution_pending", "unknown_kyc_id"]);
    // Then the raise to REGULAR, stamped between the two deliveries and delivered late, pairs
    // the kycId with the user.
    let regular = json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc_state_updated",
        "timestamp": (t0() + Duration::minutes(30)).to_rfc3339(),
        "data": { "kycId": kyc_id, "userId": uid, "entityType": "user", "state": "REGULAR" }
    })
    .to_string();
    clock.advance(Duration::minutes(10));
    assert_eq!(deliver(&live, &regular).await, 200);

    let replayer = Webhook::new(replayer_parts(&store, &clock, LearntSpellings::default()));
    let filter = ReplayFilter {
        since: t0().date_naive(),
        until: clock.now().date_naive(),
        reason: Some("unknown_kyc_id".into()),
        dry_run: false,
    };
    let report = replay_quarantine(&replayer, store.as_ref(), &filter, clock.now())
        .await
        .unwrap();
    assert_eq!(report.total("stale"), 1, "{}", report.table());
    assert_eq!(
        store.load_user(uid).await.unwrap().profile.kyc_level(),
        idv_model::KycLevel::Regular,
        "the downgrade first came before the raise"
    );
}

async fn an_old_unattributable_event_is_quarantined_then_replayed_once(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let live = idv_webhook::router(Webhook::new(Parts {
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        ..replayer_parts(&store, &clock, LearntSpellings::default())
    }));
    let (uid, session) = (
        Uid::from_uuid(uuid::Uuid::new_v4()),
        SessionId::from_uuid(uuid::Uuid::new_v4()),
    );
    let body = json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc_session_verified",
        "timestamp": t0().to_rfc3339(),
        "data": { "sessionId": session, "entityType": "user" }
    })
    .to_string();
    let deliver = || {
        let mut delivery = request("POST", "/", None);
        *delivery.body_mut() = axum::body::Body::from(body.clone());
        delivery.headers_mut().insert(
            "x-signature",
            WebhookSecret::new(SECRET)
                .sign_hex(body.as_bytes())
                .parse()
                .unwrap(),
        );
        delivery
    };
    // While the event is young, Ralio is asked to send it again, and an hour later it is kept.
    assert_eq!(call(&live, deliver()).await.status, 503);
    clock.advance(Duration::minutes(61));
    assert_eq!(call(&live, deliver()).await.body["outcome"], "quarantined");

    // The session becomes known, because its creation is stored late.
    let owner = Owner::User(uid);
    let review = session_event(owner, session, Phase::Review, t0() - Duration::minutes(5));
    store
        .execute(&Plan::new(&review, clock.now()))
        .await
        .unwrap();

    let replayer = Webhook::new(replayer_parts(&store, &clock, LearntSpellings::default()));
    let filter = |dry_run| ReplayFilter {
        since: t0().date_naive(),
        until: clock.now().date_naive(),
        reason: Some("unknown_session".into()),
        dry_run,
    };
    let phase = || async { store.load_user(uid).await.unwrap().sessions[0].phase };

    // A dry run says what would happen and changes nothing.
    let dry = replay_quarantine(&replayer, store.as_ref(), &filter(true), clock.now())
        .await
        .unwrap();
    assert_eq!(dry.total("would_apply"), 1, "{}", dry.table());
    assert_eq!(phase().await, Phase::Review);

    let report = replay_quarantine(&replayer, store.as_ref(), &filter(false), clock.now())
        .await
        .unwrap();
    assert_eq!(report.total("applied"), 1, "{}", report.table());
    assert_eq!(phase().await, Phase::Verified);

    // Run again, the replay makes nothing more happen, and nothing more is audited.
    let again = replay_quarantine(&replayer, store.as_ref(), &filter(false), clock.now())
        .await
        .unwrap();
    assert_eq!(again.total("already_replayed"), 1, "{}", again.table());
    let trail = store.audit_trail(owner).await.unwrap();
    let replayed: Vec<_> = trail.iter().filter(|a| a.outcome == "replayed").collect();
    assert_eq!(replayed.len(), 1, "{trail:?}");
    assert!(
        replayed[0].detail.contains("unknown_session"),
        "{:?}",
        replayed[0]
    );
    assert!(report.table().contains("| unknown_session | applied | 1 |"));
}

/// Ralio's retry budget is undocumented, so an event answered 503 once, that Ralio never sends
/// again, must not be lost. Its copy, kept on the first 503, is replayed once its session is
/// known.
async fn an_event_sent_back_once_is_replayed_after_ralio_gives_up(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let live = idv_webhook::router(Webhook::new(Parts {
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        ..replayer_parts(&store, &clock, LearntSpellings::default())
    }));
    let (uid, session) = (
        Uid::from_uuid(uuid::Uuid::new_v4()),
        SessionId::from_uuid(uuid::Uuid::new_v4()),
    );
    let body = json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc_session_verified",
        "timestamp": t0().to_rfc3339(),
        "data": { "sessionId": session, "entityType": "user" }
    })
    .to_string();
    let mut delivery = request("POST", "/", None);
    *delivery.body_mut() = axum::body::Body::from(body.clone());
    delivery.headers_mut().insert(
        "x-signature",
        WebhookSecret::new(SECRET)
            .sign_hex(body.as_bytes())
            .parse()
            .unwrap(),
    );
    assert_eq!(call(&live, delivery).await.status, 503);
    // Ralio gives up. A day later the session is known.
    clock.advance(Duration::days(1));
    let owner = Owner::User(uid);
    let review = session_event(owner, session, Phase::Review, t0() - Duration::minutes(5));
    store
        .execute(&Plan::new(&review, clock.now()))
        .await
        .unwrap();

    let replayer = Webhook::new(replayer_parts(&store, &clock, LearntSpellings::default()));
    let filter = ReplayFilter {
        since: t0().date_naive(),
        until: clock.now().date_naive(),
        reason: Some("attribution_pending".into()),
        dry_run: false,
    };
    let report = replay_quarantine(&replayer, store.as_ref(), &filter, clock.now())
        .await
        .unwrap();
    assert_eq!(report.total("applied"), 1, "{}", report.table());
    assert_eq!(
        store.load_user(uid).await.unwrap().sessions[0].phase,
        Phase::Verified
    );
}
