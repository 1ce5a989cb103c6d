//! Ralio's lists may hold entries that this service cannot use. Each is skipped (and logged by what
//! is wrong, not by its values) and never fatal to the list, and one that may be what an uncertain
//! attempt left keeps the attempt uncertain.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use idv_adapters::ralio::{AccountSearch, LeftByAttempt};
use idv_adapters::testing::fixtures::{RALIO_TIMEOUT, at, fake_ralio, ralio_client, uid};
use idv_model::{Currency, SessionId};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn began() -> DateTime<Utc> {
    at("2026-05-04T09:00:00Z")
}

fn session(id: &str, created: DateTime<Utc>, url: Option<&str>) -> Value {
    let mut entry = json!({
        "id": id, "createdAt": created.to_rfc3339(), "state": "NOT_STARTED",
        "expiresAt": (created + Duration::days(7)).to_rfc3339()
    });
    if let Some(url) = url {
        entry["hostedUrl"] = json!(url);
    }
    entry
}

async fn listing(entries: Vec<Value>) -> MockServer {
    let server = fake_ralio().await;
    Mock::given(method("GET"))
        .and(path_regex("identity-verifications$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sessions": entries })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_malformed_session_entry_is_skipped_and_blocks_only_what_it_may_be() {
    let old = began() - Duration::days(3);
    let fresh = began() + Duration::seconds(1);
    let usable = uuid::Uuid::new_v4().to_string();
    let malformed = |created| {
        vec![
            session(&usable, old, Some("https://verify.example/s/1")),
            // The entry has no hosted page, and its id is not one.
            session(&uuid::Uuid::new_v4().to_string(), created, None),
            session("not-a-uuid", created, Some("https://verify.example/s/2")),
        ]
    };
    let known: HashSet<SessionId> = [SessionId::parse(&usable).unwrap()].into();

    let server = listing(malformed(old)).await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let sessions = client.list_sessions(uid()).await.expect("the list is read");
    assert_eq!(sessions.len(), 1, "the usable entry is kept");
    let call = client.within(idv_adapters::ralio::Deadline::none());
    assert_eq!(call.session_listing(uid()).await.unwrap().unusable.len(), 2);
    assert_eq!(
        call.left_by_attempt(uid(), &known, began()).await.unwrap(),
        LeftByAttempt::Nothing,
        "entries older than the attempt are not its"
    );

    let server = listing(malformed(fresh)).await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let call = client.within(idv_adapters::ralio::Deadline::none());
    assert_eq!(
        call.left_by_attempt(uid(), &known, began()).await.unwrap(),
        LeftByAttempt::Unusable,
        "an entry the attempt may have left, unusable, is neither adopted nor ignored"
    );

    // An entry that says nothing of itself may be anything, the attempt's session included.
    let server = listing(vec![json!("garbage")]).await;
    let client = ralio_client(&server, RALIO_TIMEOUT);
    let call = client.within(idv_adapters::ralio::Deadline::none());
    assert_eq!(
        call.left_by_attempt(uid(), &known, began()).await.unwrap(),
        LeftByAttempt::Unusable
    );
}

#[tokio::test]
async fn a_malformed_account_entry_is_skipped_and_makes_absence_inconclusive() {
    let uid = uid();
    let account = |alias: &str| {
        json!({ "id": uuid::Uuid::new_v4(), "alias": alias, "currency": "EUR", "balance": 0,
                "pendingIn": 0, "pendingOut": 0, "state": "ACTIVE", "type": "USER",
                "userId": uid })
    };
    let broken = json!({ "alias": "Main", "currency": "EUR", "userId": uid, "balance": "many" });
    for (entries, expected) in [
        (vec![broken.clone(), account("Main")], "found"),
        (vec![broken.clone(), account("Other")], "inconclusive"),
        (vec![account("Other")], "absent"),
    ] {
        let server = fake_ralio().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/merchant/user/accounts"))
            .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(entries)))
            .mount(&server)
            .await;
        let client = ralio_client(&server, RALIO_TIMEOUT);
        let search = client
            .within(idv_adapters::ralio::Deadline::none())
            .find_account(uid, "Main", Currency::Eur)
            .await
            .expect("the list is read");
        let got = match search {
            AccountSearch::Found(_) => "found",
            AccountSearch::Inconclusive { .. } => "inconclusive",
            AccountSearch::Absent => "absent",
        };
        assert_eq!(got, expected);
    }
}
