//! These tests check the sweep on both stores, with Ralio faked by wiremock: which sessions carry
//! a mark and when they are due, that a visit never undoes a change that came meanwhile, and that
//! a run heals lost outcomes (with reasons and times), backs off on what is unchanged, counts an
//! overdue level, and stops at Ralio's 429.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idv_adapters::ralio::{Deadline, RalioClient};
use idv_adapters::store::Store;
use idv_adapters::sweep::{SweepReport, SweepSettings, sweep};
use idv_adapters::testing::fixtures::*;
use idv_model::{
    EventOutcome, ExpirySource, HostedUrl, KycLevel, Owner, Phase, Plan, SessionId, SessionRecord,
    SweepGroup, SweepMark, Uid,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

idv_adapters::both_stores!(
    marks_follow_the_lifecycle_and_are_listed_by_group_once_due,
    a_visit_writes_only_over_the_mark_it_read,
    a_sweep_heals_lost_outcomes_once_with_reasons_and_times,
    an_overdue_level_is_counted_until_a_level_arrives,
    a_rate_limited_sweep_stops_and_leaves_the_rest_due,
);

pub(crate) const SETTINGS: SweepSettings = SweepSettings {
    sweep_after: Duration::minutes(30),
    level_wait: Duration::minutes(15),
    max_users: 50,
};

pub(crate) async fn create(
    store: &Arc<dyn Store>,
    uid: Uid,
    session: SessionId,
    at: DateTime<Utc>,
) {
    let record = SessionRecord::created(
        Owner::User(uid),
        session,
        HostedUrl::new(format!("https://verify.example/session/{session}")),
        at,
        at + Duration::days(7),
    );
    store.store_session(&record, &[]).await.unwrap();
}

pub(crate) async fn marks(
    store: &Arc<dyn Store>,
    group: SweepGroup,
    by: DateTime<Utc>,
) -> Vec<SessionId> {
    store
        .marked_before(group, by, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.session_id)
        .collect()
}

pub(crate) async fn phase_of(store: &Arc<dyn Store>, uid: Uid, session: SessionId) -> Phase {
    store
        .load_user(uid)
        .await
        .unwrap()
        .sessions
        .into_iter()
        .find(|s| s.session_id == session)
        .unwrap()
        .phase
}

async fn marks_follow_the_lifecycle_and_are_listed_by_group_once_due(store: Arc<dyn Store>) {
    let (uid, a, b) = (uid(), sid(), sid());
    let owner = Owner::User(uid);
    create(&store, uid, a, t0()).await;
    assert!(
        marks(&store, SweepGroup::Open, t0() - Duration::seconds(1))
            .await
            .is_empty()
    );
    assert_eq!(marks(&store, SweepGroup::Open, t0()).await, [a]);

    // A change restarts the wait, and VERIFIED moves the session to the level's group.
    let t1 = t0() + Duration::hours(1);
    let review = session_event(owner, a, Phase::Review, t1);
    store.execute(&Plan::new(&review, t1)).await.unwrap();
    assert!(marks(&store, SweepGroup::Open, t0()).await.is_empty());
    assert_eq!(marks(&store, SweepGroup::Open, t1).await, [a]);
    let verified = session_event(owner, a, Phase::Verified, t1);
    store.execute(&Plan::new(&verified, t1)).await.unwrap();
    assert!(marks(&store, SweepGroup::Open, t1).await.is_empty());
    assert_eq!(marks(&store, SweepGroup::AwaitingLevel, t1).await, [a]);

    // An outcome with nothing left to wait for leaves the index; a creation stored after it
    // marks it again (the sweep then corrects that without asking Ralio).
    let rejected = rejected_event(owner, b, Vec::new());
    store.execute(&Plan::new(&rejected, t0())).await.unwrap();
    assert!(!marks(&store, SweepGroup::Open, t1).await.contains(&b));
    create(&store, uid, b, t0()).await;
    assert!(marks(&store, SweepGroup::Open, t1).await.contains(&b));
}

async fn a_visit_writes_only_over_the_mark_it_read(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    let owner = Owner::User(uid);
    create(&store, uid, a, t0()).await;
    let seen = store
        .marked_before(SweepGroup::Open, t0(), 10)
        .await
        .unwrap()[0]
        .mark;
    let later = t0() + Duration::hours(1);
    let next = seen.after_visit(SETTINGS.sweep_after, later + Duration::days(14), later);
    assert!(store.record_visit(owner, a, seen, next).await.unwrap());
    assert!(
        !store.record_visit(owner, a, seen, None).await.unwrap(),
        "a visit over a mark that changed since it was read is refused"
    );
    let listed = store
        .marked_before(SweepGroup::Open, later + Duration::hours(2), 10)
        .await;
    assert_eq!(listed.unwrap()[0].mark, next.unwrap());
    assert!(
        store
            .record_visit(owner, a, next.unwrap(), None)
            .await
            .unwrap()
    );
    assert!(
        marks(&store, SweepGroup::Open, later + Duration::days(30))
            .await
            .is_empty()
    );
    assert_eq!(
        phase_of(&store, uid, a).await,
        Phase::NotStarted,
        "a visit changes no state"
    );
    let absent = SweepMark {
        group: SweepGroup::Open,
        since: t0(),
        visits: 0,
    };
    assert!(
        !store
            .record_visit(owner, sid(), absent, None)
            .await
            .unwrap()
    );
}

pub(crate) fn listed(id: SessionId, state: &str) -> Value {
    json!({ "id": id.to_string(), "hostedUrl": format!("https://h/{id}"), "state": state,
            "created_at": "2026-05-04T09:12:03Z", "expiresAt": "2026-05-11T09:12:03Z" })
}

/// Mounts Ralio's list for `uid`, and a history and checks for every session in it.
pub(crate) async fn ralio_knows(server: &MockServer, uid: Uid, sessions: &[(SessionId, &str)]) {
    let base = format!("/api/v1/account/users/{uid}/identity-verifications");
    let list: Vec<Value> = sessions.iter().map(|(id, s)| listed(*id, s)).collect();
    Mock::given(method("GET"))
        .and(path(base.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sessions": list })))
        .mount(server)
        .await;
    for (id, state) in sessions {
        let logs = json!({ "session_id": id.to_string(), "logs": [
            { "id": 1, "new_state": "NOT_STARTED", "created_at": "2026-05-04T09:12:03Z" },
            { "id": 2, "new_state": state, "created_at": "2026-05-04T10:30:00Z" } ] });
        Mock::given(method("GET"))
            .and(path(format!("{base}/{id}/state-history")))
            .respond_with(ResponseTemplate::new(200).set_body_json(logs))
            .mount(server)
            .await;
        let checks = json!({ "session_id": id.to_string(), "checks": [
            { "id": 7, "type": "document", "state": "Refused", "refused_reasons": [
                { "id": 1, "code": "DOC_EXPIRED", "type": "document", "message": "The document has expired." } ] } ] });
        Mock::given(method("GET"))
            .and(path(format!("{base}/{id}/checks")))
            .respond_with(ResponseTemplate::new(200).set_body_json(checks))
            .mount(server)
            .await;
    }
}

pub(crate) async fn run(
    store: &Arc<dyn Store>,
    client: &RalioClient,
    now: DateTime<Utc>,
) -> SweepReport {
    run_with(store, client, SETTINGS, now).await
}

pub(crate) async fn run_with(
    store: &Arc<dyn Store>,
    client: &RalioClient,
    settings: SweepSettings,
    now: DateTime<Utc>,
) -> SweepReport {
    sweep(
        store.as_ref(),
        client.within(Deadline::none()),
        settings,
        now,
    )
    .await
    .unwrap()
}

async fn a_sweep_heals_lost_outcomes_once_with_reasons_and_times(store: Arc<dyn Store>) {
    let (uid, verified, rejected, waiting, reviewed) = (uid(), sid(), sid(), sid(), sid());
    let owner = Owner::User(uid);
    for session in [verified, rejected, waiting, reviewed] {
        create(&store, uid, session, t0()).await;
    }
    let review = session_event(owner, reviewed, Phase::Review, t0());
    store.execute(&Plan::new(&review, t0())).await.unwrap();
    let server = fake_ralio().await;
    ralio_knows(
        &server,
        uid,
        &[
            (verified, "VERIFIED"),
            (rejected, "REJECTED"),
            (waiting, "NOT_STARTED"),
            (reviewed, "VERIFIED"),
        ],
    )
    .await;
    let client = ralio_client(&server, RALIO_TIMEOUT);

    let early = run(&store, &client, t0() + Duration::minutes(29)).await;
    assert_eq!(
        early,
        SweepReport::default(),
        "nothing is due before SWEEP_AFTER"
    );

    let now = t0() + Duration::minutes(30);
    let report = run(&store, &client, now).await;
    let mut healed = report.healed.clone();
    healed.sort_by_key(|(id, _)| *id);
    let mut expected = vec![
        (verified, EventOutcome::Applied),
        (rejected, EventOutcome::Applied),
        (reviewed, EventOutcome::Applied),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(healed, expected);
    assert_eq!(report.users, 1);
    assert_eq!(
        report.unchanged, 1,
        "the session nobody opened is looked at later"
    );
    assert_eq!(
        report.ralio_calls,
        1 + 3 + 1,
        "one list, a history per healed session, the checks of the rejection"
    );

    let snapshot = store.load_user(uid).await.unwrap();
    let session = |id| {
        snapshot
            .sessions
            .iter()
            .find(|s| s.session_id == id)
            .unwrap()
    };
    assert_eq!(session(verified).phase, Phase::Verified);
    assert_eq!(session(reviewed).phase, Phase::Verified);
    assert_eq!(session(waiting).phase, Phase::NotStarted);
    let reasons = &session(rejected).failure_reasons;
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].code, "DOC_EXPIRED");
    let trail = store.audit_trail(owner).await.unwrap();
    let reconciled: Vec<_> = trail
        .iter()
        .filter(|e| e.action.starts_with("reconciled"))
        .collect();
    assert_eq!(reconciled.len(), 3, "{trail:#?}");

    // The same run again finds nothing due, and calls Ralio for nothing.
    let again = run(&store, &client, now).await;
    assert_eq!(again.ralio_calls, 0);
    assert!(again.healed.is_empty());

    // A webhook that Ralio delivers late changes nothing.
    let late = session_event(owner, verified, Phase::Verified, now);
    assert_eq!(
        store.execute(&Plan::new(&late, now)).await.unwrap(),
        EventOutcome::Unchanged
    );

    // The unopened session is due again after a longer wait, and then expires at Ralio.
    assert_eq!(
        run(&store, &client, now + Duration::minutes(59))
            .await
            .ralio_calls,
        0
    );
    server.reset().await;
    ralio_knows(&server, uid, &[(waiting, "EXPIRED")]).await;
    let later = run(&store, &client, now + Duration::minutes(60)).await;
    assert_eq!(later.healed, [(waiting, EventOutcome::Applied)]);
    assert_eq!(
        phase_of(&store, uid, waiting).await,
        Phase::Expired(ExpirySource::Ralio)
    );
    assert!(
        marks(&store, SweepGroup::Open, now + Duration::days(30))
            .await
            .is_empty()
    );
}

async fn an_overdue_level_is_counted_until_a_level_arrives(store: Arc<dyn Store>) {
    let (uid, a) = (uid(), sid());
    let owner = Owner::User(uid);
    create(&store, uid, a, t0()).await;
    let verified = session_event(owner, a, Phase::Verified, t0());
    store.execute(&Plan::new(&verified, t0())).await.unwrap();
    let server = fake_ralio().await;
    let client = ralio_client(&server, RALIO_TIMEOUT);

    let before = run(&store, &client, t0() + Duration::minutes(14)).await;
    assert_eq!(before.level_overdue, 0);
    let overdue = run(&store, &client, t0() + Duration::minutes(15)).await;
    assert_eq!(overdue.level_overdue, 1);
    assert_eq!(
        overdue.ralio_calls, 0,
        "no API tells a level, so none is asked"
    );

    let at = t0() + Duration::hours(1);
    let regular = level_event(owner, KycLevel::Regular, at);
    store.execute(&Plan::new(&regular, at)).await.unwrap();
    let settled = run(&store, &client, at + Duration::days(1)).await;
    assert_eq!(settled.level_overdue, 0);
    assert_eq!(settled.released, 1);
    assert!(
        marks(&store, SweepGroup::AwaitingLevel, at + Duration::days(30))
            .await
            .is_empty()
    );
}

async fn a_rate_limited_sweep_stops_and_leaves_the_rest_due(store: Arc<dyn Store>) {
    let (first, second) = (uid(), uid());
    let (a, b) = (sid(), sid());
    create(&store, first, a, t0()).await;
    create(&store, second, b, t0() + Duration::seconds(1)).await;
    let server = fake_ralio().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .mount(&server)
        .await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let now = t0() + Duration::hours(1);
    let report = run(&store, &client, now).await;
    assert_eq!(report.stopped, Some("rate_limited"));
    assert_eq!(report.ralio_calls, 1, "the run stops at the first refusal");
    assert_eq!(marks(&store, SweepGroup::Open, now).await.len(), 2);
}
