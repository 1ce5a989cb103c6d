//! These tests check domain events end to end: idv-local with the simulator, on the memory store
//! (audit feed) and on DynamoDB (the table's stream read from moto, through the event
//! publisher's own handler). Each applied change appears once in `GET /events`, in the order the
//! changes were applied, and nothing appears for stale or repeated deliveries.

use std::time::Duration;

use idv_e2e::{Stack, Store, both_stores, eventually, new_uid, start};
use idv_model::domain_events::PublishedEvent;
use serde_json::Value;

both_stores!(
    approval_with_duplicates_and_reordering_publishes_each_change_once,
    an_unfinished_session_is_announced_as_expiring_then_expired,
    a_rejection_carries_its_reasons_and_a_review_its_previous_state,
);

fn detail_type(event: &Value) -> &str {
    event["detail-type"].as_str().unwrap()
}

fn count(events: &[Value], kind: &str, field: &str, value: &str) -> usize {
    events
        .iter()
        .filter(|e| detail_type(e) == kind && e["detail"][field] == value)
        .count()
}

/// Returns the history action an event reports, to line events up with the trail.
fn action_of(event: &Value) -> String {
    let d = &event["detail"];
    match detail_type(event) {
        "Session State Changed" => match d["state"].as_str().unwrap() {
            "REVIEW" => "kyc_session_manual_review",
            "VERIFIED" => "kyc_session_verified",
            "REJECTED" => "kyc_session_failed",
            "EXPIRED" if d["expirySource"] == "inferred" => "session_expired_inferred",
            "EXPIRED" => "kyc_session_expired",
            other => panic!("state {other}"),
        },
        "Session Expiring Soon" => "session_flagged_expiring",
        "KYC Level Changed" => "kyc_state_updated",
        "Reverification Due" => "kyc_expiration_warning",
        "Account Created" => "account_created",
        "Account Activated" => "account_activated",
        other => panic!("detail-type {other}"),
    }
    .to_owned()
}

/// Keeps the events, because every event is checked against its schema after the run
/// (`make test`).
fn keep_for_the_schema_check(events: &[Value]) {
    let typed: Vec<PublishedEvent> = events
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    idv_adapters::testing::record_domain_events(&typed);
}

/// Events are published after the change is stored, so this waits until there are as many as
/// the trail has applied changes, however slow the machine. It then reads once more a few
/// publisher polls later, so that an event published twice has had time to show.
async fn settled_events(stack: &Stack, uid: &str) -> Vec<Value> {
    eventually(
        "an event per applied change",
        Duration::from_secs(60),
        || async {
            let applied = stack
                .history(uid)
                .await
                .iter()
                .filter(|e| e["outcome"] == "applied")
                .count();
            (stack.events(uid).await.len() >= applied).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    stack.events(uid).await
}

/// Checks that there is one event per applied change in the trail, and none for anything else.
/// The trail is sorted by each entry's time and the events by when their change was stored, and
/// an account's creation is stamped when it began, so the two orders may differ there.
async fn assert_events_match_the_trail(stack: &Stack, uid: &str, events: &[Value]) {
    let mut applied: Vec<String> = stack
        .history(uid)
        .await
        .iter()
        .filter(|e| e["outcome"] == "applied")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    let mut published: Vec<String> = events.iter().map(action_of).collect();
    applied.sort();
    published.sort();
    assert_eq!(published, applied, "one event per applied change");
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "no event twice");
    for event in events {
        assert_eq!(event["source"], "ralio.idv");
        assert_eq!(event["detail"]["uid"], uid);
        assert_eq!(event["detail"]["eventId"], event["id"]);
        assert_eq!(event["detail"]["schemaVersion"], 1);
    }
}

async fn approval_with_duplicates_and_reordering_publishes_each_change_once(store: Store) {
    let stack = start(store, |o| {
        if let idv_local::RalioMode::Simulator { chaos, .. } = &mut o.ralio {
            chaos.duplicates = true;
            chaos.reorder = true;
        }
    })
    .await;
    let uid = new_uid();
    let (status, session) = stack.create_session(&uid).await;
    assert_eq!(status, 201, "{session}");
    let session_id = session["sessionId"].as_str().unwrap().to_owned();
    stack.outcome(&session_id, "approve", None).await;
    stack
        .events_until(&uid, "VERIFIED and REGULAR", |events| {
            count(events, "Session State Changed", "state", "VERIFIED") == 1
                && count(events, "KYC Level Changed", "level", "REGULAR") == 1
        })
        .await;
    // Every webhook went twice, so the test waits for all of them before judging.
    eventually("four deliveries", Duration::from_secs(60), || async {
        (stack.deliveries().await.len() >= 4).then_some(())
    })
    .await;
    let events = settled_events(&stack, &uid).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let verified = events
        .iter()
        .find(|e| detail_type(e) == "Session State Changed")
        .unwrap();
    assert_eq!(verified["detail"]["sessionId"], session_id.as_str());
    assert_eq!(verified["detail"]["stateCode"], 3);
    assert_eq!(verified["detail"]["previousState"], "NOT_STARTED");
    let regular = events
        .iter()
        .find(|e| detail_type(e) == "KYC Level Changed")
        .unwrap();
    assert_eq!(regular["detail"]["canCreateAccount"], true);
    assert_eq!(regular["detail"]["nextAction"]["code"], "create_account");

    let (status, account) = stack.open_account(&uid, "Main", "EUR").await;
    assert_eq!(status, 201, "{account}");
    stack
        .events_until(&uid, "the account created and activated", |events| {
            events.iter().any(|e| detail_type(e) == "Account Activated")
        })
        .await;
    stack.expiration_warning(&uid, "2027-03-01", 30).await;
    stack
        .events_until(&uid, "the reverification", |events| {
            events
                .iter()
                .any(|e| detail_type(e) == "Reverification Due")
        })
        .await;
    let events = settled_events(&stack, &uid).await;
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| detail_type(e) == "Account Created")
        .collect();
    assert_eq!(created.len(), 1, "{events:#?}");
    assert_eq!(created[0]["detail"]["accountId"], account["accountId"]);
    assert_eq!(created[0]["detail"]["alias"], "Main");
    assert_eq!(created[0]["detail"]["currency"], "EUR");
    let activated = count(
        &events,
        "Account Activated",
        "accountId",
        account["accountId"].as_str().unwrap(),
    );
    assert_eq!(activated, 1);
    let due = events
        .iter()
        .find(|e| detail_type(e) == "Reverification Due")
        .unwrap();
    assert_eq!(due["detail"]["reverifyBefore"], "2027-03-01");
    assert_events_match_the_trail(&stack, &uid, &events).await;
    // Nothing is published for someone else.
    assert!(stack.events(&new_uid()).await.is_empty());
    keep_for_the_schema_check(&events);
    stack.stop().await;
}

async fn an_unfinished_session_is_announced_as_expiring_then_expired(store: Store) {
    // Time is compressed: sessions live 6 s, are flagged 3 s before and expired 1 s after, in
    // 1 s buckets.
    let stack = start(store, |o| {
        o.session_life = chrono::Duration::seconds(6);
        o.schedule = idv_model::ExpirySchedule::new(
            chrono::Duration::seconds(3),
            chrono::Duration::seconds(1),
            chrono::Duration::seconds(1),
        )
        .unwrap();
    })
    .await;
    let uid = new_uid();
    let (status, session) = stack.create_session(&uid).await;
    assert_eq!(status, 201, "{session}");
    let events = stack
        .events_until(&uid, "expiring, then expired", |events| events.len() >= 2)
        .await;
    assert_eq!(detail_type(&events[0]), "Session Expiring Soon");
    assert_eq!(events[0]["detail"]["sessionId"], session["sessionId"]);
    assert_eq!(events[0]["detail"]["expiresAt"], session["expiresAt"]);
    assert_eq!(detail_type(&events[1]), "Session State Changed");
    assert_eq!(events[1]["detail"]["state"], "EXPIRED");
    assert_eq!(events[1]["detail"]["expirySource"], "inferred");
    assert_eq!(events[1]["detail"]["previousState"], "NOT_STARTED");
    let events = settled_events(&stack, &uid).await;
    assert_events_match_the_trail(&stack, &uid, &events).await;
    keep_for_the_schema_check(&events);
    stack.stop().await;
}

async fn a_rejection_carries_its_reasons_and_a_review_its_previous_state(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    let (_, session) = stack.create_session(&uid).await;
    let session_id = session["sessionId"].as_str().unwrap();
    stack.outcome(session_id, "review", None).await;
    stack
        .events_until(&uid, "REVIEW", |events| {
            count(events, "Session State Changed", "state", "REVIEW") == 1
        })
        .await;
    stack.outcome(session_id, "reject", Some("no-match")).await;
    let events = stack
        .events_until(&uid, "REVIEW then REJECTED", |events| {
            count(events, "Session State Changed", "state", "REJECTED") == 1
        })
        .await;
    let review = &events[0]["detail"];
    assert_eq!(review["state"], "REVIEW");
    assert_eq!(review["previousState"], "NOT_STARTED");
    assert!(review.get("failureReasons").is_none());
    let rejected = &events[1]["detail"];
    assert_eq!(rejected["previousState"], "REVIEW");
    let reasons = rejected["failureReasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{rejected}");
    assert!(reasons[0]["code"].is_string());
    let events = settled_events(&stack, &uid).await;
    assert_events_match_the_trail(&stack, &uid, &events).await;
    keep_for_the_schema_check(&events);
    stack.stop().await;
}
