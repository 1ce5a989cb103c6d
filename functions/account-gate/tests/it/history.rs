//! These tests drive `GET /users/{uid}/history` through the router, on both stores. They expect
//! a user's trail newest first, in pages, with ids and codes only.

use std::sync::Arc;

use idv_adapters::clock::Clock;
use idv_adapters::store::Store;
use serde_json::{Value, json};

use crate::common::*;

idv_adapters::both_stores!(
    the_trail_pages_newest_first_and_holds_no_personal_data,
    bad_pages_are_refused_naming_the_parameter,
);

async fn the_trail_pages_newest_first_and_holds_no_personal_data(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid();
    let session = stored_session(&h.store, uid).await;
    let verified = json!({ "sessionId": session, "userId": uid });
    let minute = chrono::Duration::minutes(1);
    webhook_received(
        &h.store,
        "kyc_session_verified",
        "2026-05-04T14:05:11Z",
        verified,
        h.clock.now(),
    )
    .await;
    h.clock.advance(minute);
    let (status, _) = open(&h, uid, "Jane's savings", "EUR").await;
    assert_eq!(status, 403);
    h.clock.advance(minute);
    let regular = json!({ "kycId": 1, "userId": uid, "entityType": "user", "state": "REGULAR" });
    webhook_received(
        &h.store,
        "kyc_state_updated",
        "2026-05-04T14:05:12Z",
        regular,
        h.clock.now(),
    )
    .await;
    h.clock.advance(minute);
    let (status, _) = open(&h, uid, "Jane's savings", "EUR").await;
    assert_eq!(status, 201);

    let mut actions = Vec::new();
    let mut raw = String::new();
    let mut uri = format!("/users/{uid}/history?limit=2");
    let mut pages = 0;
    loop {
        let (status, page) = call(&h.app, "GET", &uri, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        assert_eq!(page["uid"], uid.to_string());
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        raw.push_str(&page.to_string());
        actions.extend(entries.iter().map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        }));
        match &page["nextCursor"] {
            Value::String(cursor) => {
                uri = format!("/users/{uid}/history?limit=2&cursor={cursor}");
            }
            Value::Null => break,
            other => panic!("nextCursor {other}"),
        }
    }
    let expected = [
        ("account_created", "applied"),
        ("kyc_state_updated", "applied"),
        ("account_refused", "refused"),
        ("kyc_session_verified", "applied"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect();
    assert_eq!(actions, expected, "newest first");
    assert_eq!(pages, 2);
    assert!(!raw.contains("Jane"), "no alias: {raw}");
    assert!(!raw.contains("verify.example"), "no page URL: {raw}");

    let (_, whole) = call(&h.app, "GET", &format!("/users/{uid}/history"), None).await;
    let created = &whole["entries"][0];
    assert!(created["accountId"].is_string(), "{created}");
    let verified = &whole["entries"][3];
    assert_eq!(verified["sessionId"], session.to_string());
    assert!(verified["eventId"].is_string());
    assert_eq!(verified["detail"], "now VERIFIED");
}

async fn bad_pages_are_refused_naming_the_parameter(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let uid = new_uid();
    for (query, code, field) in [
        ("limit=0", "invalid_limit", "limit"),
        ("limit=201", "invalid_limit", "limit"),
        ("limit=ten", "invalid_limit", "limit"),
        ("cursor=%21%21", "invalid_cursor", "cursor"),
        ("cursor=", "invalid_cursor", "cursor"),
    ] {
        let (status, problem) = call(
            &h.app,
            "GET",
            &format!("/users/{uid}/history?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(problem["code"], code, "{query}");
        assert_eq!(problem["field"], field, "{query}");
    }
    let (status, problem) = call(&h.app, "GET", "/users/not-a-uid/history", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_uid"))
    );
    let (status, empty) = call(&h.app, "GET", &format!("/users/{uid}/history"), None).await;
    assert_eq!(status, 200);
    assert_eq!(empty["entries"], json!([]));
    assert_eq!(empty["nextCursor"], Value::Null);
}
