//! These tests run the reconciler as Lambda builds it, on both stores (its DynamoDB requests are
//! recorded for the IAM check), with Ralio faked by wiremock.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::clock::ManualClock;
use idv_adapters::ralio::Deadline;
use idv_adapters::store::Store;
use idv_adapters::sweep::SweepSettings;
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{self, as_function};
use idv_adapters::wiring::Wiring;
use idv_model::{EventOutcome, HostedUrl, Owner, Phase, Plan, SessionRecord};
use idv_reconciler::{Parts, Reconciler, summary};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const FUNCTION: &str = "reconciler";

idv_adapters::both_stores!(a_run_heals_a_lost_outcome_and_settles_a_level_once);

async fn a_run_heals_a_lost_outcome_and_settles_a_level_once(store: Arc<dyn Store>) {
    let (uid, lost, verified) = (uid(), sid(), sid());
    let owner = Owner::User(uid);
    for session in [lost, verified] {
        let record = SessionRecord::created(
            owner,
            session,
            HostedUrl::new("https://verify.example/s"),
            t0(),
            t0() + Duration::days(7),
        );
        store.store_session(&record, &[]).await.unwrap();
    }
    let event = session_event(owner, verified, Phase::Verified, t0());
    store.execute(&Plan::new(&event, t0())).await.unwrap();
    let level = level_event(owner, idv_model::KycLevel::Regular, t0());
    store.execute(&Plan::new(&level, t0())).await.unwrap();

    let ralio = fake_ralio().await;
    let base = format!("/api/v1/account/users/{uid}/identity-verifications");
    Mock::given(method("GET"))
        .and(path(base.clone()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "sessions": [
            { "id": lost.to_string(), "hostedUrl": "https://h/1", "state": "EXPIRED" },
            { "id": verified.to_string(), "hostedUrl": "https://h/2", "state": "VERIFIED" } ] })),
        )
        .mount(&ralio)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/{lost}/state-history")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "logs": [
            { "id": 1, "new_state": "EXPIRED", "created_at": "2026-05-11T09:12:03Z" } ] })))
        .mount(&ralio)
        .await;
    let reconciler = Reconciler::new(Parts {
        store: as_function(&store, FUNCTION),
        ralio: ralio_client(&ralio, RALIO_TIMEOUT),
        clock: Arc::new(ManualClock::at(t0() + Duration::hours(1))),
        settings: SweepSettings::default(),
    });
    let report = reconciler.run_once(Deadline::none()).await.unwrap();
    assert_eq!(report.healed, [(lost, EventOutcome::Applied)]);
    assert_eq!(report.released, 1, "the verified session's user is REGULAR");
    assert_eq!(report.ralio_calls, 2, "one list and one history");
    let answer = summary(&report);
    assert_eq!(answer["healed"][0]["outcome"], "applied");
    assert!(!answer.to_string().contains("https://"), "{answer}");

    let again = reconciler.run_once(Deadline::none()).await.unwrap();
    assert_eq!((again.users, again.ralio_calls), (0, 0), "{again:?}");
}

#[tokio::test]
async fn bad_sweep_settings_stop_the_start_naming_the_variable() {
    let ralio = fake_ralio().await;
    let table = testing::new_table().await;
    for (name, value) in [
        ("SWEEP_AFTER", "0s"),
        ("LEVEL_WAIT", "soon"),
        ("SWEEP_MAX_USERS", "0"),
    ] {
        let env = env(&[
            ("TABLE_NAME", &table),
            ("RALIO_BASE_URL", &ralio.uri()),
            ("RALIO_API_CODE", "c"),
            ("RALIO_API_KEY", "k"),
            (name, value),
        ]);
        let wiring = Wiring::with_config(&env, testing::emulator_config().await, Vec::new());
        let error = Reconciler::from_env(&wiring)
            .await
            .err()
            .expect(name)
            .to_string();
        assert!(error.contains(name), "{error}");
    }
}
