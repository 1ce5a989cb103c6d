//! These tests check activations kept without their account, as a lookup reads them: only the
//! window its request could have caused, newest first, expired after `ACTIVATION_RETENTION`, and
//! with what an earlier lookup read each to be. They run on both stores.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idv_adapters::store::Store;
use idv_adapters::testing::fixtures::*;
use idv_model::{
    ACTIVATION_RETENTION, AccountId, AccountIdentity, AccountRecord, AccountStatus, Activation,
    Currency, EventOutcome, EventStamp, KycLevel, Owner, Plan, RalioAccount, ReservationToken,
};

idv_adapters::both_stores!(
    a_lookup_reads_only_its_window_newest_first,
    what_a_lookup_read_is_kept_with_the_activation,
    a_repeated_announcement_is_listed_once_and_absorbed_whole,
    an_expired_activation_is_neither_listed_nor_absorbed,
);

/// Records the account `id` for a REGULAR user at `now`, as a creation at Ralio leads to.
async fn record_account(
    store: &Arc<dyn Store>,
    id: &AccountId,
    now: DateTime<Utc>,
) -> AccountStatus {
    let uid = uid();
    let regular = level_event(Owner::User(uid), KycLevel::Regular, now - Duration::days(1));
    store.execute(&Plan::new(&regular, now)).await.unwrap();
    let token = ReservationToken(uuid::Uuid::new_v4());
    let reserve = AccountRecord::reserve(
        uid,
        "Main",
        Currency::Eur,
        token,
        now + Duration::minutes(1),
        now,
    );
    store.write_account(&reserve, now).await.unwrap().unwrap();
    let account = RalioAccount::opened(id.as_str(), "Main", Currency::Eur);
    let complete = AccountRecord::complete(uid, "Main", Currency::Eur, token, account, now);
    store
        .write_account(&complete, now)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn a_repeated_announcement_is_listed_once_and_absorbed_whole(store: Arc<dyn Store>) {
    let first = t0();
    let id = keep(&store, first).await;
    let again = Activation {
        account_id: id.clone(),
        ..activation(first + Duration::hours(1))
    };
    store
        .apply_activation(&again, first + Duration::hours(1))
        .await
        .unwrap();
    let later = first + Duration::hours(2);
    let listed = store
        .activations_since(first - Duration::minutes(1), later)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one account, listed once");
    assert_eq!(listed[0].received, first, "at its first receipt");

    let status = record_account(&store, &id, later).await;
    assert!(
        matches!(
            status,
            AccountStatus::Created {
                activated_at: Some(_),
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(
        window(&store, first - Duration::days(1), later).await,
        vec![]
    );
}

async fn an_expired_activation_is_neither_listed_nor_absorbed(store: Arc<dyn Store>) {
    let id = keep(&store, t0()).await;
    let after = t0() + ACTIVATION_RETENTION + Duration::seconds(1);
    assert_eq!(
        window(&store, t0() - Duration::days(1), after).await,
        vec![]
    );
    let status = record_account(&store, &id, after).await;
    assert!(
        matches!(
            status,
            AccountStatus::Created {
                activated_at: None,
                ..
            }
        ),
        "{status:?}"
    );
}

fn activation(at: DateTime<Utc>) -> Activation {
    let event_id = eid();
    Activation {
        event_id,
        event_type: "account_activated".into(),
        stamp: EventStamp { at, event_id },
        account_id: AccountId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
    }
}

async fn keep(store: &Arc<dyn Store>, received: DateTime<Utc>) -> AccountId {
    let activation = activation(received - Duration::seconds(2));
    let applied = store.apply_activation(&activation, received).await.unwrap();
    assert_eq!(applied, EventOutcome::Deferred);
    activation.account_id
}

async fn window(
    store: &Arc<dyn Store>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<AccountId> {
    store
        .activations_since(since, now)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.activation.account_id)
        .collect()
}

async fn a_lookup_reads_only_its_window_newest_first(store: Arc<dyn Store>) {
    // The activations fall either side of midnight, so the window spans two days' partitions.
    let midnight = at("2026-05-05T00:00:00Z");
    let old = keep(&store, midnight - Duration::hours(5)).await;
    let before = keep(&store, midnight - Duration::minutes(1)).await;
    let after = keep(&store, midnight + Duration::minutes(1)).await;
    let now = midnight + Duration::minutes(2);

    assert_eq!(
        window(&store, midnight - Duration::minutes(2), now).await,
        vec![after.clone(), before.clone()],
        "the window holds what was received since its start, newest first"
    );
    assert_eq!(window(&store, midnight, now).await, vec![after.clone()]);
    assert_eq!(
        window(&store, midnight - Duration::days(1), now).await,
        vec![after.clone(), before.clone(), old.clone()]
    );
    // Past its retention an activation is gone, whether or not the TTL has run yet.
    let much_later = midnight - Duration::hours(5) + ACTIVATION_RETENTION + Duration::seconds(1);
    let left = window(&store, midnight - Duration::days(1), much_later).await;
    assert!(!left.contains(&old), "expired activation still listed");
    assert_eq!(left, vec![after, before]);
}

async fn what_a_lookup_read_is_kept_with_the_activation(store: Arc<dyn Store>) {
    let now = t0();
    let id = keep(&store, now).await;
    let since = now - Duration::minutes(5);
    let listed = store.activations_since(since, now).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].seen_as, None);
    assert_eq!(listed[0].received, now);

    let uid = uid();
    let theirs = AccountIdentity::read(&uid.to_string(), " Savings ", "EUR");
    store
        .note_activation_identity(&listed[0], &theirs)
        .await
        .unwrap();
    let listed = store.activations_since(since, now).await.unwrap();
    assert_eq!(listed[0].seen_as.as_ref(), Some(&theirs));
    let mine = AccountIdentity::wanted(uid, "Main", idv_model::Currency::Eur);
    assert!(!listed[0].may_be(&mine), "read to be another account");
    assert!(listed[0].may_be(&AccountIdentity::wanted(
        uid,
        "Savings",
        idv_model::Currency::Eur
    )));
    assert_eq!(listed[0].activation.account_id, id);

    // A second announcement of the same account changes nothing under its id.
    let again = Activation {
        account_id: id.clone(),
        ..activation(now)
    };
    store.apply_activation(&again, now).await.unwrap();
    assert_eq!(window(&store, since, now).await, vec![id.clone()]);
}
