//! These tests drive `POST /users/{uid}/erasure` through the router, on both stores. They expect
//! 202 with the tombstone, the same one when asked again (even later), and 410 `user_erased` from
//! every route about the user afterwards, with no call to Ralio.

use std::sync::Arc;

use idv_adapters::store::Store;
use serde_json::json;

use crate::common::*;

idv_adapters::both_stores!(
    an_erased_user_is_gone_from_every_route_and_a_second_erasure_answers_the_same,
    a_user_never_heard_of_can_be_erased_ahead_of_their_events,
);

async fn an_erased_user_is_gone_from_every_route_and_a_second_erasure_answers_the_same(
    store: Arc<dyn Store>,
) {
    let h = harness(store).await;
    let uid = new_uid();
    stored_session(&h.store, uid).await;
    level(&h.store, uid, "REGULAR", "2026-05-04T14:05:11.940Z").await;
    let (status, account) = open(&h, uid, "Holiday Fund", "EUR").await;
    assert_eq!(status, 201, "{account}");
    let creates = ralio_creates(&h.ralio).await;

    let erase = format!("/users/{uid}/erasure");
    let (status, erased) = call(&h.app, "POST", &erase, None).await;
    assert_eq!(status, 202, "{erased}");
    let erased_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(erased["erasedAt"].clone()).unwrap();
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(erased["retainedUntil"].clone()).unwrap();
    assert_eq!(until - erased_at, chrono::Duration::days(1825));

    h.clock.advance(chrono::Duration::hours(1));
    let (status, again) = call(&h.app, "POST", &erase, None).await;
    assert_eq!((status, &again), (202, &erased), "the first erasure stands");

    let body = json!({ "alias": "Other", "currency": "USD" }).to_string();
    for (method, path, body) in [
        ("GET", format!("/users/{uid}/kyc"), None),
        ("GET", format!("/users/{uid}/history"), None),
        (
            "POST",
            format!("/users/{uid}/accounts"),
            Some(body.as_str()),
        ),
    ] {
        let (status, problem) = call(&h.app, method, &path, body).await;
        assert_eq!(status, 410, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "user_erased");
        assert_eq!(problem["erasedAt"], erased["erasedAt"]);
    }
    assert_eq!(
        ralio_creates(&h.ralio).await,
        creates,
        "nothing more at Ralio"
    );
    let snapshot = h.store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.accounts[0].alias, "");
    assert!(snapshot.sessions.iter().all(|s| s.hosted_url.is_none()));
}

async fn a_user_never_heard_of_can_be_erased_ahead_of_their_events(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid();
    let (status, erased) = call(&h.app, "POST", &format!("/users/{uid}/erasure"), None).await;
    assert_eq!(status, 202, "{erased}");
    // A level that arrives afterwards is only counted.
    level(&h.store, uid, "REGULAR", "2026-05-04T14:05:11.940Z").await;
    let (status, problem) = call(&h.app, "GET", &format!("/users/{uid}/kyc"), None).await;
    assert_eq!((status, &problem["code"]), (410, &json!("user_erased")));
    let snapshot = h.store.load_user(uid).await.unwrap();
    assert_eq!(
        snapshot.profile.kyc.level, None,
        "the later level was not kept"
    );
}
