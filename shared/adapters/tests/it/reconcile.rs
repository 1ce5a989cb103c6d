//! These tests reconcile a user's sessions from Ralio's list endpoint (Ralio faked with wiremock).

use idv_adapters::ralio::{RalioClient, RalioConfig, RalioCredentials};
use idv_adapters::reconcile::reconcile_user;
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::memory;
use idv_model::{EventOutcome, ExpirySource, HostedUrl, Owner, Phase, Plan, SessionRecord};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn missing_sessions_and_missed_outcomes_are_caught_up_once() {
    let store = memory();
    let uid = uid();
    let (reviewed, lost, fresh, odd) = (sid(), sid(), sid(), sid());
    let ours = SessionRecord::created(
        Owner::User(uid),
        reviewed,
        HostedUrl::new("https://h/a"),
        t0(),
        t0() + chrono::Duration::days(7),
    );
    store.store_session(&ours, &[]).await.unwrap();
    let review = session_event(Owner::User(uid), reviewed, Phase::Review, t0());
    store.execute(&Plan::new(&review, t0())).await.unwrap();

    let ralio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "token": "t" })))
        .mount(&ralio)
        .await;
    let listed = |id: idv_model::SessionId, state: &str| json!({ "id": id.to_string(), "hostedUrl": format!("https://h/{id}"), "state": state, "created_at": "2026-05-04T09:12:03Z", "expiresAt": "2026-05-11T09:12:03Z" });
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/account/users/{uid}/identity-verifications")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sessions": [
            listed(reviewed, "VERIFIED"), listed(lost, "EXPIRED"), listed(fresh, "NOT_STARTED"), listed(odd, "ARCHIVED")
        ] })))
        .mount(&ralio)
        .await;
    let mut config = RalioConfig::new(
        ralio.uri(),
        RalioCredentials {
            api_code: "c".into(),
            api_key: "k".into(),
        },
    );
    config.request_timeout = idv_adapters::testing::fixtures::RALIO_TIMEOUT;
    let client = RalioClient::new(config).unwrap();

    let report = reconcile_user(uid, &client, store.as_ref(), t0())
        .await
        .unwrap();
    assert_eq!(report.added, 2, "the lost and the fresh session");
    assert_eq!(report.unknown_states, 1);
    assert_eq!(
        report.outcomes,
        vec![
            (reviewed.to_string(), EventOutcome::Applied),
            (lost.to_string(), EventOutcome::Applied)
        ]
    );
    let snapshot = store.load_user(uid).await.unwrap();
    let phase = |id| {
        snapshot
            .sessions
            .iter()
            .find(|s| s.session_id == id)
            .map(|s| s.phase)
    };
    assert_eq!(phase(reviewed), Some(Phase::Verified));
    assert_eq!(phase(lost), Some(Phase::Expired(ExpirySource::Ralio)));
    assert_eq!(phase(fresh), Some(Phase::NotStarted));
    assert_eq!(phase(odd), None);

    // Reconciling again finds nothing new, and every reported state is a duplicate.
    let again = reconcile_user(uid, &client, store.as_ref(), t0())
        .await
        .unwrap();
    assert_eq!(again.added, 0);
    assert!(
        again
            .outcomes
            .iter()
            .all(|(_, o)| *o == EventOutcome::Duplicate),
        "{again:?}"
    );
    let reconciled = store
        .audit_trail(Owner::User(uid))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "reconciled_from_ralio" && a.outcome == "applied")
        .count();
    assert_eq!(reconciled, 2);
}
