//! Activations kept without their account, as a lookup reads them: only the window its request
//! could have caused, newest first, expired after `ACTIVATION_RETENTION`, and with what an
//! earlier lookup read each to be. Both stores.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idv_adapters::store::Store;
use idv_adapters::testing::fixtures::*;
use idv_model::{
    ACTIVATION_RETENTION, AccountId, AccountIdentity, Activation, ApplyOutcome, EventStamp,
};

idv_adapters::both_stores!(
    a_lookup_reads_only_its_window_newest_first,
    what_a_lookup_read_is_kept_with_the_activation,
);

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
    assert_eq!(applied.outcome, ApplyOutcome::Deferred);
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
    // Either side of midnight, so the window spans two days' partitions.
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
