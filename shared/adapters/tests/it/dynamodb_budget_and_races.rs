//! These tests check guarantees only DynamoDB gives: the webhook round-trip budget, exactly-once
//! application under concurrency and under transaction conflicts, and a clear "unavailable" when
//! the table cannot be reached.

use std::collections::HashMap;
use std::sync::Arc;

use idv_adapters::store::{
    AccountStore, AuditLog, BucketMember, CreationLease, EventStore, ExpiryIndex, Lease,
    SessionWriter, Store, StoreError, UserReader,
};
use idv_adapters::testing::faults::TransactionConflicts;
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{dynamo, dynamo_on, dynamo_with_counter, memory, new_table};
use idv_model::{
    EventOutcome, HostedUrl, KycLevel, Owner, Phase, Plan, SessionRecord, StoredSession,
    WatchAction, WatchOutcome,
};

#[tokio::test]
async fn a_new_event_costs_exactly_one_request_and_no_read() {
    let (store, counter) = dynamo_with_counter().await;
    let owner = Owner::User(uid());
    let session = sid();

    let review = session_event(owner, session, Phase::Review, t0());
    assert_eq!(
        store.execute(&Plan::new(&review, t0())).await.unwrap(),
        EventOutcome::Applied
    );
    assert_eq!(counter.operations(), ["TransactWriteItems"]);

    counter.reset();
    let level = level_event(owner, KycLevel::Regular, t0());
    assert_eq!(
        store.execute(&Plan::new(&level, t0())).await.unwrap(),
        EventOutcome::Applied
    );
    assert_eq!(counter.operations(), ["TransactWriteItems"]);
}

#[tokio::test]
async fn only_a_cancelled_transaction_costs_a_second_request() {
    let (store, counter) = dynamo_with_counter().await;
    let owner = Owner::User(uid());
    let session = sid();
    let verified = session_event(owner, session, Phase::Verified, t0());
    store.execute(&Plan::new(&verified, t0())).await.unwrap();

    counter.reset();
    assert_eq!(
        store.execute(&Plan::new(&verified, t0())).await.unwrap(),
        EventOutcome::Duplicate
    );
    // The first repeat is audited (with a mark on the marker, in one transaction)...
    assert_eq!(
        counter.operations(),
        ["TransactWriteItems", "TransactWriteItems"]
    );
    // ...and later ones are not, so there are still two requests and the second is refused.
    counter.reset();
    store.execute(&Plan::new(&verified, t0())).await.unwrap();
    assert_eq!(
        counter.operations(),
        ["TransactWriteItems", "TransactWriteItems"]
    );

    counter.reset();
    let late_review = session_event(owner, session, Phase::Review, t0());
    assert_eq!(
        store.execute(&Plan::new(&late_review, t0())).await.unwrap(),
        EventOutcome::Stale
    );
    assert_eq!(
        counter.operations(),
        ["TransactWriteItems", "TransactWriteItems"]
    );
}

#[tokio::test]
async fn reading_a_user_is_one_query() {
    let (store, counter) = dynamo_with_counter().await;
    let uid = uid();
    for _ in 0..3 {
        let review = session_event(Owner::User(uid), sid(), Phase::Review, t0());
        store.execute(&Plan::new(&review, t0())).await.unwrap();
    }
    let light = level_event(Owner::User(uid), KycLevel::Light, t0());
    store.execute(&Plan::new(&light, t0())).await.unwrap();
    counter.reset();
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.sessions.len(), 3);
    assert_eq!(counter.operations(), ["Query"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tasks_racing_ten_events_apply_each_exactly_once() {
    fifty_tasks_race(dynamo().await).await;
}

/// The in-memory store keeps the same promise under the same race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tasks_racing_ten_events_apply_each_exactly_once_in_memory() {
    fifty_tasks_race(memory()).await;
}

async fn fifty_tasks_race(store: Arc<dyn Store>) {
    let owner = Owner::User(uid());
    // The ten events are independent (one per session), so each must apply exactly once whatever
    // the interleaving.
    let events: Vec<_> = (0..10)
        .map(|i| {
            let target = if i % 2 == 0 {
                Phase::Verified
            } else {
                Phase::Review
            };
            session_event(owner, sid(), target, t0())
        })
        .collect();
    let events = Arc::new(events);

    let mut tasks = Vec::new();
    for task in 0..50 {
        let (store, events) = (store.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            // Each task walks the events from a different starting point.
            for i in 0..events.len() {
                let event = &events[(i + task) % events.len()];
                let outcome = store.execute(&Plan::new(event, t0())).await.expect("apply");
                outcomes.push((event.event_id, outcome));
            }
            outcomes
        }));
    }
    let mut per_event: HashMap<_, Vec<EventOutcome>> = HashMap::new();
    for task in tasks {
        for (id, outcome) in task.await.unwrap() {
            per_event.entry(id).or_default().push(outcome);
        }
    }
    assert_eq!(per_event.len(), 10);
    for (id, outcomes) in &per_event {
        let applied = outcomes
            .iter()
            .filter(|o| **o == EventOutcome::Applied)
            .count();
        let duplicate = outcomes
            .iter()
            .filter(|o| **o == EventOutcome::Duplicate)
            .count();
        assert_eq!(applied, 1, "event {id} applied {applied} times");
        assert_eq!(duplicate, 49, "event {id}: {outcomes:?}");
    }
    let trail = store.audit_trail(owner).await.unwrap();
    for id in per_event.keys() {
        let applied = trail
            .iter()
            .filter(|a| a.event_id == Some(*id) && a.outcome == "applied")
            .count();
        assert_eq!(applied, 1, "audit entries 'applied' for {id}");
    }
}

#[tokio::test]
async fn an_unreachable_table_is_reported_unavailable() {
    let store = idv_adapters::testing::unreachable_dynamo().await;
    let event = session_event(Owner::User(uid()), sid(), Phase::Verified, t0());
    match store.execute(&Plan::new(&event, t0())).await {
        Err(StoreError::Unavailable(message)) => assert!(!message.is_empty()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// DynamoDB cancels a transaction that races another on the same item with
/// `TransactionConflict` (the emulator never does: it serialises requests). The store tries
/// again, a bounded number of times, and the event still applies exactly once.
#[tokio::test]
async fn a_conflicting_transaction_is_tried_again_and_applies_once() {
    let table = new_table().await;
    let owner = Owner::User(uid());
    let conflicts = TransactionConflicts::next(3);
    let store = dynamo_on(&table, &[conflicts.interceptor()]).await;
    let verified = session_event(owner, sid(), Phase::Verified, t0());
    assert_eq!(
        store.execute(&Plan::new(&verified, t0())).await.unwrap(),
        EventOutcome::Applied
    );
    assert_eq!(conflicts.injected(), 3, "three conflicts, then the write");
    assert_eq!(
        store.execute(&Plan::new(&verified, t0())).await.unwrap(),
        EventOutcome::Duplicate
    );
    let applied = store
        .audit_trail(owner)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.outcome == "applied")
        .count();
    assert_eq!(applied, 1);

    // A watcher action conflicts the same way and is tried again.
    let record = SessionRecord::created(
        owner,
        sid(),
        HostedUrl::new("https://verify.example/s"),
        t0(),
        t0() + chrono::Duration::days(7),
    );
    store.store_session(&record, &[]).await.unwrap();
    let conflicts = TransactionConflicts::next(1);
    let watcher = dynamo_on(&table, &[conflicts.interceptor()]).await;
    let member = BucketMember {
        owner,
        session_id: record.session_id,
    };
    assert_eq!(
        watcher
            .watch(WatchAction::Flag, &member, t0())
            .await
            .unwrap(),
        WatchOutcome::Changed
    );
    assert_eq!(conflicts.injected(), 1);
}

/// Conflicts that do not end are reported as unavailable, so the webhook answers 503 and Ralio
/// delivers again, and nothing was written.
#[tokio::test]
async fn endless_conflicts_are_unavailable_and_write_nothing() {
    let table = new_table().await;
    let owner = Owner::User(uid());
    let conflicts = TransactionConflicts::next(usize::MAX);
    let store = dynamo_on(&table, &[conflicts.interceptor()]).await;
    let level = level_event(owner, KycLevel::Regular, t0());
    match store.execute(&Plan::new(&level, t0())).await {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("conflict"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(conflicts.injected(), 4, "the first try and three more");
    let untouched = dynamo_on(&table, &[]).await;
    let Owner::User(user) = owner else {
        unreachable!()
    };
    assert_eq!(
        untouched.load_user(user).await.unwrap().profile.kyc_level(),
        KycLevel::Light
    );
    assert_eq!(
        untouched.execute(&Plan::new(&level, t0())).await.unwrap(),
        EventOutcome::Applied,
        "the retried delivery applies"
    );
}

/// A conflict while storing a session Ralio just created (a webhook writing the same profile, say)
/// must not lose the session, so it is stored the long way round and the lease is given back.
#[tokio::test]
async fn a_conflict_while_storing_a_created_session_still_stores_it() {
    let table = new_table().await;
    let uid = uid();
    let conflicts = TransactionConflicts::next(1);
    let store = dynamo_on(&table, &[conflicts.interceptor()]).await;
    let Lease::Acquired { token, .. } = store
        .acquire_creation_lease(uid, t0() + chrono::Duration::seconds(60), t0(), 0)
        .await
        .unwrap()
    else {
        panic!("the lease is free")
    };
    let record = SessionRecord::created(
        Owner::User(uid),
        sid(),
        HostedUrl::new("https://verify.example/s"),
        t0(),
        t0() + chrono::Duration::days(7),
    );
    let stored = store
        .store_created_session(&record, &[], token)
        .await
        .unwrap();
    assert_eq!(stored, StoredSession::Stored(record.clone()));
    assert_eq!(conflicts.injected(), 1);
    assert_eq!(store.load_user(uid).await.unwrap().sessions, [record]);
    assert!(
        matches!(
            store
                .acquire_creation_lease(uid, t0() + chrono::Duration::seconds(60), t0(), 1)
                .await
                .unwrap(),
            Lease::Acquired { .. }
        ),
        "the lease was given back"
    );
}

/// An account reservation conditioned on the user's level is a transaction too, so a conflict with
/// a level change racing it is tried again, not reported as a fault.
#[tokio::test]
async fn a_conflicting_account_reservation_is_tried_again() {
    let table = new_table().await;
    let user = uid();
    let setup = dynamo_on(&table, &[]).await;
    let regular = level_event(Owner::User(user), KycLevel::Regular, t0());
    setup.execute(&Plan::new(&regular, t0())).await.unwrap();
    let conflicts = TransactionConflicts::next(2);
    let store = dynamo_on(&table, &[conflicts.interceptor()]).await;
    let reserved = store
        .reserve_account(
            user,
            "Main",
            idv_model::Currency::Eur,
            t0() + chrono::Duration::minutes(1),
            t0(),
        )
        .await
        .unwrap();
    assert!(
        matches!(reserved, idv_model::AccountReservation::Reserved(_)),
        "{reserved:?}"
    );
    assert_eq!(conflicts.injected(), 2);
}
