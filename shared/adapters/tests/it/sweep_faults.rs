//! These tests check the sweep where Ralio answers badly, on both stores with Ralio faked by
//! wiremock: a user whose calls fail is asked again next run without holding up the others,
//! refused credentials or permissions fail the run, a rejection waits out a passing fault for its
//! reasons but not a lasting refusal, a missing history only loses the time, a final session
//! listed without its hosted page or left out of the list is still healed, and the sweep gives up
//! on a missing level a week after the verification.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::ralio::Deadline;
use idv_adapters::store::Store;
use idv_adapters::sweep::{SweepError, SweepSettings, sweep};
use idv_adapters::testing::fixtures::*;
use idv_model::{EventOutcome, Owner, Phase, Plan, SweepGroup};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::sweep::{SETTINGS, create, listed, marks, phase_of, ralio_knows, run, run_with};

idv_adapters::both_stores!(
    a_failing_user_is_asked_again_next_run_without_holding_up_the_others,
    refused_credentials_fail_the_run_and_leave_every_mark,
    a_refused_permission_fails_the_run_too,
    a_rejection_whose_checks_ralio_refuses_is_applied_without_reasons,
    a_session_the_list_leaves_out_is_healed_from_its_state_history,
    a_rejection_waits_for_its_reasons_but_not_for_its_time,
    a_final_session_listed_without_its_hosted_page_is_healed,
    the_sweep_gives_up_on_a_missing_level_a_week_after_verification,
);

fn sessions_of(uid: idv_model::Uid) -> String {
    format!("/api/v1/account/users/{uid}/identity-verifications")
}

/// Runs the sweep an hour after the session was created, and checks that it healed the session
/// into a rejection.
async fn sweep_heals_the_rejection(
    store: &Arc<dyn Store>,
    server: &MockServer,
    uid: idv_model::Uid,
    session: idv_model::SessionId,
) {
    let client = ralio_client(server, RALIO_TIMEOUT);
    let report = run(store, &client, t0() + Duration::hours(1)).await;
    assert_eq!(
        report.healed,
        [(session, EventOutcome::Applied)],
        "{report:?}"
    );
    assert_eq!(phase_of(store, uid, session).await, Phase::Rejected);
}

async fn a_failing_user_is_asked_again_next_run_without_holding_up_the_others(
    store: Arc<dyn Store>,
) {
    let (broken, fine) = (uid(), uid());
    let (a, b) = (sid(), sid());
    create(&store, broken, a, t0()).await;
    create(&store, fine, b, t0() + Duration::seconds(1)).await;
    let server = fake_ralio().await;
    Mock::given(method("GET"))
        .and(path(sessions_of(broken)))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    ralio_knows(&server, fine, &[(b, "VERIFIED")]).await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let one_at_a_time = SweepSettings {
        max_users: 1,
        ..SETTINGS
    };
    let now = t0() + Duration::hours(1);
    let first = run_with(&store, &client, one_at_a_time, now).await;
    assert_eq!((first.users, first.failed), (1, 1), "{first:?}");
    assert_eq!(first.stopped, None, "a 5xx concerns one user, not the run");
    let second = run_with(&store, &client, one_at_a_time, now).await;
    assert_eq!(second.healed, [(b, EventOutcome::Applied)], "{second:?}");
    assert_eq!(phase_of(&store, broken, a).await, Phase::NotStarted);
    assert!(
        marks(&store, SweepGroup::Open, now).await.contains(&a),
        "a fault is not an answer: the failing user is due again at once, not backed off"
    );
}

async fn refused_credentials_fail_the_run_and_leave_every_mark(store: Arc<dyn Store>) {
    a_refusal_fails_the_run(store, 401).await;
}

async fn a_refused_permission_fails_the_run_too(store: Arc<dyn Store>) {
    a_refusal_fails_the_run(store, 403).await;
}

/// Ralio answers every call with `status`, which no user's visit can get past.
async fn a_refusal_fails_the_run(store: Arc<dyn Store>, status: u16) {
    let (uid, a) = (uid(), sid());
    create(&store, uid, a, t0()).await;
    let server = fake_ralio().await;
    Mock::given(method("GET"))
        .and(path(sessions_of(uid)))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let now = t0() + Duration::hours(1);
    let outcome = sweep(
        store.as_ref(),
        client.within(Deadline::none()),
        SETTINGS,
        now,
    )
    .await;
    assert!(
        matches!(outcome, Err(SweepError::Ralio(_))),
        "{status}: {outcome:?}"
    );
    assert_eq!(marks(&store, SweepGroup::Open, now).await, [a]);
}

async fn a_rejection_whose_checks_ralio_refuses_is_applied_without_reasons(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    create(&store, uid, a, t0()).await;
    let server = fake_ralio().await;
    ralio_knows(&server, uid, &[(a, "REJECTED")]).await;
    // The checks mounted last answer first: Ralio says it has none to show.
    Mock::given(method("GET"))
        .and(path_regex(".*/checks$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    sweep_heals_the_rejection(&store, &server, uid, a).await;
}

async fn a_session_the_list_leaves_out_is_healed_from_its_state_history(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    create(&store, uid, a, t0()).await;
    let server = fake_ralio().await;
    ralio_knows(&server, uid, &[(a, "REJECTED")]).await;
    // The list mounted last answers first, and it shows only open sessions: none.
    Mock::given(method("GET"))
        .and(path(sessions_of(uid)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sessions": [] })))
        .mount(&server)
        .await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let report = run(&store, &client, t0() + Duration::hours(2)).await;
    assert_eq!(report.healed, [(a, EventOutcome::Applied)], "{report:?}");
    assert_eq!(report.ralio_calls, 3, "list, history, checks: {report:?}");
    let snapshot = store.load_user(uid).await.unwrap();
    let healed = &snapshot.sessions[0];
    assert_eq!(healed.phase, Phase::Rejected);
    assert_eq!(healed.failure_reasons[0].code, "DOC_EXPIRED");
}

async fn a_rejection_waits_for_its_reasons_but_not_for_its_time(store: Arc<dyn Store>) {
    let (uid, rejected, verified) = (uid(), sid(), sid());
    create(&store, uid, rejected, t0()).await;
    create(&store, uid, verified, t0()).await;
    let server = fake_ralio().await;
    let base = sessions_of(uid);
    Mock::given(method("GET"))
        .and(path(base.clone()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "sessions": [
            listed(rejected, "REJECTED"), listed(verified, "VERIFIED") ] })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(".*/(checks|state-history)$"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let now = t0() + Duration::hours(1);
    let report = run(&store, &client, now).await;
    assert_eq!(report.healed, [(verified, EventOutcome::Applied)]);
    assert_eq!(report.failed, 1, "{report:?}");
    let snapshot = store.load_user(uid).await.unwrap();
    let healed = snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == verified)
        .unwrap();
    assert_eq!(
        healed.updated_at, now,
        "without its history a state is dated when it was reconciled"
    );
    assert_eq!(phase_of(&store, uid, rejected).await, Phase::NotStarted);

    // The client keeps its token, so Ralio's login need not be mounted again.
    server.reset().await;
    ralio_knows(&server, uid, &[(rejected, "REJECTED")]).await;
    let later = run(&store, &client, now + Duration::hours(1)).await;
    assert_eq!(later.healed, [(rejected, EventOutcome::Applied)]);
    let snapshot = store.load_user(uid).await.unwrap();
    let reasons = &snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == rejected)
        .unwrap()
        .failure_reasons;
    assert_eq!(reasons[0].code, "DOC_EXPIRED");
}

async fn a_final_session_listed_without_its_hosted_page_is_healed(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    create(&store, uid, a, t0()).await;
    let server = fake_ralio().await;
    ralio_knows(&server, uid, &[(a, "REJECTED")]).await;
    // The list mounted last answers first, so this entry without `hostedUrl` is what is read.
    Mock::given(method("GET"))
        .and(path(sessions_of(uid)))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "sessions": [
            { "id": a.to_string(), "state": "REJECTED" } ] })),
        )
        .mount(&server)
        .await;
    sweep_heals_the_rejection(&store, &server, uid, a).await;
}

async fn the_sweep_gives_up_on_a_missing_level_a_week_after_verification(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    create(&store, uid, a, t0()).await;
    let verified = session_event(Owner::User(uid), a, Phase::Verified, t0());
    store.execute(&Plan::new(&verified, t0())).await.unwrap();
    let server = fake_ralio().await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    for run_at in [
        Duration::minutes(15),
        Duration::minutes(30),
        Duration::days(3),
    ] {
        let report = run(&store, &client, t0() + run_at).await;
        assert_eq!(
            report.level_overdue, 1,
            "every run counts the user while the level is missing"
        );
    }
    let week = run(&store, &client, t0() + Duration::days(7)).await;
    assert_eq!((week.level_overdue, week.gave_up), (1, 1), "{week:?}");
    assert!(
        marks(&store, SweepGroup::AwaitingLevel, t0() + Duration::days(30))
            .await
            .is_empty()
    );
}
