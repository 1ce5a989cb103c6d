//! These tests run full lifecycles over HTTP: idv-local with the Ralio simulator, once with the
//! in-memory store and once with DynamoDB + SQS on moto. The simulator sends real signed
//! webhooks back.

use idv_e2e::{Stack, Store, both_stores, new_uid, start};
use serde_json::Value;

both_stores!(
    approve_then_open_an_account,
    review_then_approve,
    reject_then_a_new_session_then_approve,
    an_unfinished_session_is_flagged_then_expires,
    duplicated_and_reordered_webhooks_end_in_the_same_state,
    an_account_only_once_the_level_is_regular,
);

fn latest_state(kyc: &Value) -> &str {
    kyc["latestSession"]["state"].as_str().unwrap_or("")
}

async fn new_session(stack: &Stack, uid: &str) -> String {
    let (status, body) = stack.create_session(uid).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["hostedUrl"].as_str().unwrap().contains("/hosted/"));
    body["sessionId"].as_str().unwrap().to_owned()
}

async fn approve_then_open_an_account(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    assert_eq!(
        stack.kyc(&uid).await["nextAction"]["code"],
        "start_verification"
    );
    let session = new_session(&stack, &uid).await;
    assert_eq!(
        stack.kyc(&uid).await["nextAction"]["code"],
        "complete_verification"
    );
    stack.outcome(&session, "approve", None).await;
    let kyc = stack
        .kyc_until(&uid, "REGULAR", |k| k["canCreateAccount"] == true)
        .await;
    assert_eq!(latest_state(&kyc), "VERIFIED");
    assert_eq!(kyc["nextAction"]["code"], "create_account");
    let (status, account) = stack.open_account(&uid, "Main", "EUR").await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["status"], "created");
    assert_eq!(
        stack.kyc(&uid).await["accounts"][0]["accountId"],
        account["accountId"]
    );
    stack.stop().await;
}

async fn review_then_approve(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    let session = new_session(&stack, &uid).await;
    stack.outcome(&session, "review", None).await;
    let kyc = stack
        .kyc_until(&uid, "REVIEW", |k| latest_state(k) == "REVIEW")
        .await;
    assert_eq!(kyc["nextAction"]["code"], "await_review");
    stack.outcome(&session, "approve", None).await;
    stack
        .kyc_until(&uid, "REGULAR", |k| {
            k["kycLevel"] == "REGULAR" && latest_state(k) == "VERIFIED"
        })
        .await;
    stack.stop().await;
}

async fn reject_then_a_new_session_then_approve(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    let first = new_session(&stack, &uid).await;
    stack.outcome(&first, "reject", Some("no-match")).await;
    let kyc = stack
        .kyc_until(&uid, "REJECTED", |k| latest_state(k) == "REJECTED")
        .await;
    assert_eq!(kyc["nextAction"]["code"], "retry_verification");
    assert!(
        kyc["nextAction"]["message"]
            .as_str()
            .unwrap()
            .contains("Selfie does not match"),
        "{kyc}"
    );
    assert_eq!(
        kyc["latestSession"]["failureReasons"][0]["code"],
        "NO_MATCH"
    );
    assert_eq!(kyc["latestSession"]["hostedUrl"], Value::Null);

    let second = new_session(&stack, &uid).await;
    assert_ne!(second, first);
    stack.outcome(&second, "approve", None).await;
    let kyc = stack
        .kyc_until(&uid, "REGULAR", |k| k["canCreateAccount"] == true)
        .await;
    assert_eq!(kyc["latestSession"]["sessionId"], second.as_str());
    assert_eq!(kyc["sessions"].as_array().unwrap().len(), 2);
    stack.stop().await;
}

async fn an_unfinished_session_is_flagged_then_expires(store: Store) {
    // Time is compressed: sessions live 16 s, are flagged 8 s before and expired 1 s after, in
    // 1 s buckets. The flag stands 9 s before the expiry, so that a busy machine still sees it.
    let stack = start(store, |o| {
        o.session_life = chrono::Duration::seconds(16);
        o.schedule = idv_model::ExpirySchedule::new(
            chrono::Duration::seconds(8),
            chrono::Duration::seconds(1),
            chrono::Duration::seconds(1),
        )
        .unwrap();
    })
    .await;
    let uid = new_uid();
    new_session(&stack, &uid).await;
    let flagged = stack
        .kyc_until(&uid, "the expiry warning", |k| {
            k["latestSession"]["expiringSoon"] == true
        })
        .await;
    assert_eq!(
        latest_state(&flagged),
        "NOT_STARTED",
        "flagged before it expired"
    );
    assert!(
        flagged["nextAction"]["message"]
            .as_str()
            .unwrap()
            .contains("expires soon")
    );
    let expired = stack
        .kyc_until(&uid, "the inferred expiry", |k| {
            latest_state(k) == "EXPIRED"
        })
        .await;
    assert_eq!(expired["latestSession"]["expirySource"], "inferred");
    assert_eq!(expired["nextAction"]["code"], "retry_verification");
    stack.stop().await;
}

async fn duplicated_and_reordered_webhooks_end_in_the_same_state(store: Store) {
    let stack = start(store, |o| {
        if let idv_local::RalioMode::Simulator { chaos, .. } = &mut o.ralio {
            chaos.duplicates = true;
            chaos.reorder = true;
        }
    })
    .await;
    let uid = new_uid();
    let session = new_session(&stack, &uid).await;
    stack.outcome(&session, "review", None).await;
    stack.outcome(&session, "approve", None).await;
    let kyc = stack
        .kyc_until(&uid, "REGULAR and VERIFIED", |k| {
            k["kycLevel"] == "REGULAR" && latest_state(k) == "VERIFIED"
        })
        .await;
    assert_eq!(kyc["canCreateAccount"], true);
    // Every webhook went twice and was acknowledged both times.
    let deliveries = idv_e2e::eventually(
        "six deliveries",
        std::time::Duration::from_secs(60),
        || async {
            let d = stack.deliveries().await;
            (d.len() >= 6).then_some(d)
        },
    )
    .await;
    assert!(
        deliveries.iter().all(|d| d["status"] == 200),
        "{deliveries:?}"
    );
    stack.stop().await;
}

async fn an_account_only_once_the_level_is_regular(store: Store) {
    let stack = start(store, |_| {}).await;
    let uid = new_uid();
    let session = new_session(&stack, &uid).await;
    // Ralio verifies the session but has not raised the level yet.
    stack.outcome(&session, "verify-only", None).await;
    let kyc = stack
        .kyc_until(&uid, "VERIFIED", |k| latest_state(k) == "VERIFIED")
        .await;
    assert_eq!(kyc["nextAction"]["code"], "await_kyc_update");
    let (status, refused) = stack.open_account(&uid, "Main", "USD").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("kyc_not_regular"))
    );
    stack.set_level(&uid, "REGULAR").await;
    stack
        .kyc_until(&uid, "REGULAR", |k| k["canCreateAccount"] == true)
        .await;
    assert_eq!(stack.open_account(&uid, "Main", "USD").await.0, 201);
    // Ralio downgrades the user, so no further account is opened.
    stack.set_level(&uid, "LIGHT").await;
    stack
        .kyc_until(&uid, "LIGHT", |k| k["kycLevel"] == "LIGHT")
        .await;
    assert_eq!(stack.open_account(&uid, "Savings", "EUR").await.0, 403);
    stack.stop().await;
}
