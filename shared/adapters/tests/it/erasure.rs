//! These tests check erasure in the stores: it is bounded and finished by a later call after a
//! crash part of the way, it answers with the first call's tombstone, and a webhook's write stays
//! one request while the tombstone is checked in it.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::store::dynamo::ERASURE_BATCH;
use idv_adapters::store::{Eraser, EventStore, Store, UserReader};
use idv_adapters::testing::faults::TransactionConflicts;
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{dynamo_on, dynamo_with_counter, new_table};
use idv_model::{Erasure, EventOutcome, Owner, Phase, Plan};

use super::sweep::create;

/// A crash between two of an erasure's transactions leaves the tombstone and part of the user
/// redacted; the next call finishes it with the first call's tombstone.
#[tokio::test]
async fn a_crash_between_erasure_transactions_is_finished_by_the_next_call() {
    let table = new_table().await;
    let store: Arc<dyn Store> = Arc::new(dynamo_on(&table, &[]).await);
    let uid = uid();
    let sessions = ERASURE_BATCH + 5;
    for i in 0..sessions {
        create(&store, uid, sid(), t0() + Duration::seconds(i as i64)).await;
    }
    let first = Erasure::begin(t0() + Duration::hours(1), Duration::days(1825));
    // The tombstone's transaction and the first batch go through, and then the function dies.
    let dying = dynamo_on(&table, &[TransactionConflicts::after(2, 100).interceptor()]).await;
    assert!(dying.erase_user(uid, first, t0()).await.is_err());
    let half = store.load_user(uid).await.unwrap();
    assert_eq!(half.erased, Some(first), "the tombstone is written first");
    let linked = half
        .sessions
        .iter()
        .filter(|s| s.hosted_url.is_some())
        .count();
    assert_eq!(linked, 5, "one batch of {ERASURE_BATCH} was redacted");

    let later = Erasure::begin(t0() + Duration::hours(2), Duration::days(1825));
    let stamp = store.erase_user(uid, later, t0()).await.unwrap();
    assert_eq!(stamp, first, "the first call's tombstone stands");
    let done = store.load_user(uid).await.unwrap();
    assert_eq!(done.sessions.len(), sessions);
    assert!(done.sessions.iter().all(|s| s.hosted_url.is_none()));
    let erasures = store
        .audit_trail(Owner::User(uid))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == idv_model::erasure::USER_ERASED)
        .count();
    assert_eq!(erasures, 1, "audited (and so published) once");
}

/// The tombstone is checked inside the webhook's one transaction, so an event about a user who
/// is not erased still costs one request, and one about an erased user is only counted.
#[tokio::test]
async fn the_tombstone_costs_the_webhook_no_request_and_stops_its_write() {
    let (store, counter) = dynamo_with_counter().await;
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    let applied = session_event(owner, session, Phase::Started, t0());
    counter.reset();
    let outcome = store.execute(&Plan::new(&applied, t0())).await.unwrap();
    assert_eq!(outcome, EventOutcome::Applied);
    assert_eq!(counter.count(), 1, "one TransactWriteItems");

    let erasure = Erasure::begin(t0() + Duration::hours(1), Duration::days(1825));
    store.erase_user(uid, erasure, t0()).await.unwrap();
    let later = session_event(owner, session, Phase::Verified, t0() + Duration::hours(2));
    let outcome = store
        .execute(&Plan::new(&later, t0() + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(outcome, EventOutcome::Erased);
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(
        snapshot.sessions[0].phase,
        Phase::Started,
        "nothing applied"
    );
}
