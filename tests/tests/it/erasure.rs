//! Erasure end to end, on both stores: after a whole story (a rejected session with its reasons, an
//! approved one, REGULAR, an account named "Holiday Fund", a quarantined payload naming the user),
//! an erasure leaves no alias, hosted link, failure message or payload, and every item left of the
//! user expires by `retainedUntil`. The merchant's routes answer 410 after it, a second erasure
//! answers the same 202, `User Erased` is published once, and a later signed webhook about the user
//! stores nothing but a count.

use idv_e2e::{Stack, Store, both_stores, new_uid, start};
use idv_model::{Owner, Uid};
use serde_json::{Value, json};

both_stores!(an_erasure_leaves_only_the_pseudonymous_record_and_every_route_answers_410);

const ALIAS: &str = "Holiday Fund";
const MESSAGE: &str = "Selfie does not match the photo on the document";
const IN_PAYLOAD: &str = "Jane Quarantine";

async fn new_session(stack: &Stack, uid: &str) -> String {
    let (status, body) = stack.create_session(uid).await;
    assert_eq!(status, 201, "{body}");
    body["sessionId"].as_str().unwrap().to_owned()
}

async fn an_erasure_leaves_only_the_pseudonymous_record_and_every_route_answers_410(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    let rejected = new_session(&stack, &uid).await;
    stack.outcome(&rejected, "reject", Some("no-match")).await;
    stack
        .kyc_until(&uid, "the rejection", |k| {
            k["latestSession"]["state"] == "REJECTED"
        })
        .await;
    let approved = new_session(&stack, &uid).await;
    stack.outcome(&approved, "approve", None).await;
    stack.make_regular(&uid).await;
    stack
        .kyc_until(&uid, "REGULAR", |k| k["kycLevel"] == "REGULAR")
        .await;
    let (status, account) = stack.open_account(&uid, ALIAS, "EUR").await;
    assert_eq!(status, 201, "{account}");
    let unreadable = json!({ "id": uuid::Uuid::new_v4().to_string(), "event": "kyc_session_verified",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "data": { "userId": uid, "sessionId": "not-a-session", "note": IN_PAYLOAD } });
    let (status, kept) = stack.post_webhook(&unreadable).await;
    assert_eq!(
        (status, &kept["outcome"]),
        (200, &json!("quarantined")),
        "{kept}"
    );

    let (status, erased) = stack.erase(&uid).await;
    assert_eq!(status, 202, "{erased}");
    let retained_until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(erased["retainedUntil"].clone()).unwrap();
    let (status, again) = stack.erase(&uid).await;
    assert_eq!(
        (status, &again),
        (202, &erased),
        "an erasure asked again is the same"
    );

    let routes = [
        ("GET", format!("/users/{uid}/kyc"), None),
        ("GET", format!("/users/{uid}/history"), None),
        (
            "POST",
            format!("/users/{uid}/accounts"),
            Some(json!({ "alias": "Other", "currency": "USD" })),
        ),
        ("POST", format!("/users/{uid}/idv-sessions"), None),
    ];
    for (method, path, body) in &routes {
        let (status, problem) = stack.call(method, path, body.as_ref()).await;
        assert_eq!(status, 410, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "user_erased");
        assert_eq!(problem["erasedAt"], erased["erasedAt"]);
    }
    let events = stack
        .events_until(&uid, "User Erased", |events| {
            events.iter().any(|e| e["detail-type"] == "User Erased")
        })
        .await;
    let erasures: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail-type"] == "User Erased")
        .collect();
    let typed: Vec<idv_model::domain_events::PublishedEvent> = events
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    idv_adapters::testing::record_domain_events(&typed);
    assert_eq!(erasures.len(), 1, "published once");
    assert_eq!(
        erasures[0]["detail"]["retainedUntil"],
        erased["retainedUntil"]
    );

    let owner = Owner::User(Uid::parse(&uid).unwrap());
    let trail = stack.running.store.audit_trail(owner).await.unwrap();
    let level = json!({ "id": uuid::Uuid::new_v4().to_string(), "event": "kyc_state_updated",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "data": { "kycId": 40817, "userId": uid, "entityType": "user", "state": "LIGHT" } });
    let (status, answer) = stack.post_webhook(&level).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("erased")),
        "{answer}"
    );
    assert_eq!(
        stack.running.store.audit_trail(owner).await.unwrap(),
        trail,
        "nothing stored about a later event"
    );

    what_is_left(&stack, owner, retained_until).await;
    stack.stop().await;
}

/// Checks what the store still holds about the user, through its API on both stores and, on
/// DynamoDB, item by item.
async fn what_is_left(stack: &Stack, owner: Owner, retained_until: chrono::DateTime<chrono::Utc>) {
    let Owner::User(uid) = owner else {
        unreachable!()
    };
    let store = &stack.running.store;
    let snapshot = store.load_user(uid).await.unwrap();
    assert!(snapshot.erased.is_some());
    assert_eq!(
        snapshot.sessions.len(),
        2,
        "the compliance record keeps the sessions"
    );
    for session in &snapshot.sessions {
        assert!(session.hosted_url.is_none(), "no hosted link");
        assert!(session.failure_reasons.iter().all(|r| r.message.is_empty()));
    }
    assert!(
        snapshot
            .sessions
            .iter()
            .any(|s| s.failure_reasons.iter().any(|r| r.code == "NO_MATCH")),
        "the codes stay"
    );
    assert_eq!(snapshot.accounts.len(), 1);
    assert_eq!(snapshot.accounts[0].alias, "");
    let trail = format!("{:?}", store.audit_trail(owner).await.unwrap());
    for gone in [ALIAS, MESSAGE] {
        assert!(!trail.contains(gone), "{gone} left in the trail");
    }
    let today = chrono::Utc::now().date_naive();
    let quarantined = store.quarantined(today).await.unwrap();
    assert!(
        quarantined
            .iter()
            .all(|q| !String::from_utf8_lossy(&q.body).contains(IN_PAYLOAD)),
        "the payload naming the user is gone"
    );

    if stack.running.store_kind != Store::Dynamodb {
        return;
    }
    let items = idv_adapters::testing::table_items(&stack.table_name).await;
    let user_pk = format!("USER#{uid}");
    let mut of_user = 0;
    for item in &items {
        let entity = match item["entity"].as_str() {
            Some(entity) => entity,
            None if item["SK"] == "RECEIPT" => "receipt",
            None => panic!("an item without an entity: {}", item["PK"]),
        };
        let documented = idv_adapters::testing::documented_fields(entity);
        for attribute in item.as_object().unwrap().keys() {
            assert!(
                documented.contains(attribute),
                "docs/data-map.md does not list `{attribute}` of `{entity}`"
            );
        }
        let text = item.to_string();
        for gone in [ALIAS, MESSAGE, IN_PAYLOAD, "/hosted/"] {
            assert!(!text.contains(gone), "{gone} left in {}", item["PK"]);
        }
        let pk = item["PK"].as_str().unwrap_or_default();
        let sk = item["SK"].as_str().unwrap_or_default();
        let users = pk == user_pk
            || pk == format!("AUDIT#{user_pk}")
            || (pk.starts_with("KYCID#") && sk == user_pk)
            || (pk.starts_with("RALIO_ACCOUNT#") && item["ownerId"] == uid.to_string());
        if users {
            of_user += 1;
            let ttl = item["ttl"]
                .as_i64()
                .unwrap_or_else(|| panic!("no ttl on {pk} {sk}"));
            assert!(
                ttl <= retained_until.timestamp(),
                "{pk} {sk} outlives the record"
            );
        }
    }
    assert!(
        of_user >= 6,
        "profile, sessions, account, its owner, the trail: {of_user}"
    );
}
