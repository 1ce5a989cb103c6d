//! These tests check erasure in the stores: it is bounded and finished by a later call after a
//! crash part of the way, it answers with the first call's tombstone, a webhook's write stays one
//! request while the tombstone is checked in it, and nothing a request had under way when the
//! user was erased (a session or an account being created, a watcher's tick) writes afterwards.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::store::dynamo::ERASURE_BATCH;
use idv_adapters::store::{BucketMember, Eraser, EventStore, Lease, Store, UserReader};
use idv_adapters::testing::faults::TransactionConflicts;
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{dynamo_on, dynamo_with_counter, new_table};
use idv_model::{
    AccountRecord, AccountRefusal, AccountReservation, Currency, Erasure, EventOutcome, HostedUrl,
    KycLevel, Owner, Phase, Plan, RalioAccount, SessionRecord, StoredSession, WatchAction,
    WatchOutcome,
};

idv_adapters::both_stores!(
    a_session_created_while_its_user_is_erased_is_not_stored,
    an_account_created_while_its_user_is_erased_is_not_recorded,
    the_watcher_leaves_an_erased_users_sessions_alone,
);

fn erasure_at(hours: i64) -> Erasure {
    Erasure::begin(t0() + Duration::hours(hours), Duration::days(1825))
}

async fn a_session_created_while_its_user_is_erased_is_not_stored(store: Arc<dyn Store>) {
    let uid = uid();
    let now = t0();
    let Lease::Acquired { token, .. } = store
        .acquire_creation_lease(uid, now + Duration::seconds(60), now, 0)
        .await
        .unwrap()
    else {
        panic!("the lease is free");
    };
    // Ralio creates the session while the user is erased.
    let erasure = erasure_at(0);
    store.erase_user(uid, erasure, now).await.unwrap();
    let session = sid();
    let record = SessionRecord::created(
        Owner::User(uid),
        session,
        HostedUrl::new(format!("https://verify.example/session/{session}")),
        now,
        now + Duration::days(7),
    );
    let stored = store
        .store_created_session(&record, &[], token)
        .await
        .unwrap();
    assert_eq!(stored, StoredSession::Erased(erasure));
    assert!(store.load_user(uid).await.unwrap().sessions.is_empty());
    let again = store
        .acquire_creation_lease(uid, now + Duration::seconds(60), now, 0)
        .await
        .unwrap();
    assert_eq!(again, Lease::Erased(erasure), "no creation starts again");
}

async fn an_account_created_while_its_user_is_erased_is_not_recorded(store: Arc<dyn Store>) {
    let (uid, now) = (uid(), t0());
    let owner = Owner::User(uid);
    let regular = level_event(owner, KycLevel::Regular, now);
    store.execute(&Plan::new(&regular, now)).await.unwrap();
    let alias = "Holiday Fund";
    let AccountReservation::Reserved(token) = store
        .reserve_account(uid, alias, Currency::Eur, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("the account is free");
    };
    // Ralio creates the account while the user is erased.
    let erasure = erasure_at(0);
    store.erase_user(uid, erasure, now).await.unwrap();
    let created = RalioAccount::opened("acc-1", alias, Currency::Eur);
    let write = AccountRecord::complete(uid, alias, Currency::Eur, token, created, now);
    let refused = store.write_account(&write, now).await.unwrap();
    assert_eq!(refused, Err(AccountRefusal::Erased(erasure)));
    let snapshot = store.load_user(uid).await.unwrap();
    assert!(
        snapshot
            .accounts
            .iter()
            .all(|a| a.alias.is_empty() && a.created().is_none())
    );
    let trail = format!("{:?}", store.audit_trail(owner).await.unwrap());
    assert!(!trail.contains(alias), "no Account Created with the alias");
    let later = store
        .reserve_account(
            uid,
            "Other",
            Currency::Usd,
            now + Duration::seconds(60),
            now,
        )
        .await
        .unwrap();
    assert_eq!(later, AccountReservation::Erased(erasure));
}

async fn the_watcher_leaves_an_erased_users_sessions_alone(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let now = t0();
    create(&store, uid, session, now).await;
    store.erase_user(uid, erasure_at(1), now).await.unwrap();
    let trail = store.audit_trail(Owner::User(uid)).await.unwrap();
    let member = BucketMember {
        owner: Owner::User(uid),
        session_id: session,
    };
    for action in [WatchAction::Flag, WatchAction::ExpireInferred] {
        let outcome = store
            .watch(action, &member, now + Duration::days(8))
            .await
            .unwrap();
        assert_eq!(outcome, WatchOutcome::Skipped);
    }
    assert_eq!(store.audit_trail(Owner::User(uid)).await.unwrap(), trail);
    assert_eq!(
        store.load_user(uid).await.unwrap().sessions[0].phase,
        Phase::NotStarted
    );
}

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
