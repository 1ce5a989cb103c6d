//! DynamoDB-only guarantees: the webhook round-trip budget, exactly-once application under
//! concurrency, and a clear "unavailable" when the table cannot be reached.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use idv_adapters::store::{EventLedger, Store, StoreError, UserReader};
use idv_model::{ApplyOutcome, KycLevel, Owner, Phase};

#[tokio::test]
async fn a_new_event_costs_exactly_one_request_and_no_read() {
    let (store, counter) = dynamo_with_counter().await;
    let owner = Owner::User(uid());
    let session = sid();

    let review = session_event(owner, session, Phase::Review, t0());
    assert_eq!(
        store.apply_event(&review, t0()).await.unwrap().outcome,
        ApplyOutcome::Applied
    );
    assert_eq!(counter.operations(), ["TransactWriteItems"]);

    counter.reset();
    let level = level_event(owner, KycLevel::Regular, t0());
    assert_eq!(
        store.apply_event(&level, t0()).await.unwrap().outcome,
        ApplyOutcome::Applied
    );
    assert_eq!(counter.operations(), ["TransactWriteItems"]);
}

#[tokio::test]
async fn only_a_cancelled_transaction_costs_a_second_request() {
    let (store, counter) = dynamo_with_counter().await;
    let owner = Owner::User(uid());
    let session = sid();
    let verified = session_event(owner, session, Phase::Verified, t0());
    store.apply_event(&verified, t0()).await.unwrap();

    counter.reset();
    assert_eq!(
        store.apply_event(&verified, t0()).await.unwrap().outcome,
        ApplyOutcome::Duplicate
    );
    assert_eq!(counter.operations(), ["TransactWriteItems", "PutItem"]);

    counter.reset();
    let late_review = session_event(owner, session, Phase::Review, t0());
    assert_eq!(
        store.apply_event(&late_review, t0()).await.unwrap().outcome,
        ApplyOutcome::Stale
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
        store
            .apply_event(
                &session_event(Owner::User(uid), sid(), Phase::Review, t0()),
                t0(),
            )
            .await
            .unwrap();
    }
    store
        .apply_event(&level_event(Owner::User(uid), KycLevel::Light, t0()), t0())
        .await
        .unwrap();
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
    fifty_tasks_race(memory().await).await;
}

async fn fifty_tasks_race(store: Arc<dyn Store>) {
    let owner = Owner::User(uid());
    // Ten independent events (one per session), so each must apply exactly once whatever the
    // interleaving.
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
                let applied = store.apply_event(event, t0()).await.expect("apply");
                outcomes.push((event.event_id, applied.outcome));
            }
            outcomes
        }));
    }
    let mut per_event: HashMap<_, Vec<ApplyOutcome>> = HashMap::new();
    for task in tasks {
        for (id, outcome) in task.await.unwrap() {
            per_event.entry(id).or_default().push(outcome);
        }
    }
    assert_eq!(per_event.len(), 10);
    for (id, outcomes) in &per_event {
        let applied = outcomes
            .iter()
            .filter(|o| **o == ApplyOutcome::Applied)
            .count();
        let duplicate = outcomes
            .iter()
            .filter(|o| **o == ApplyOutcome::Duplicate)
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
    match store.apply_event(&event, t0()).await {
        Err(StoreError::Unavailable(message)) => assert!(!message.is_empty()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
