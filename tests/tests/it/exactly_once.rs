//! These tests check exactly once at Ralio, end to end. The simulator creates the account or
//! session and then answers badly (502, a reset connection, an answer after the client's
//! timeout) or fails before acting. The merchant retries until it has an answer, and Ralio must
//! hold exactly one account (or session), which the merchant's last answer must name.

use std::time::{Duration, Instant};

use idv_e2e::{Stack, Store, both_stores, new_uid, start};
use serde_json::{Value, json};

both_stores!(
    account_after_act_then_5xx,
    account_after_act_then_reset,
    account_after_act_then_hang,
    account_after_fail_before_acting,
    account_after_act_late,
    session_after_act_then_5xx,
    session_after_act_then_reset,
    session_after_act_then_hang,
    session_after_fail_before_acting,
    session_after_act_late,
    lists_that_never_show_the_account_never_yield_a_second_one,
);

/// It is longer than any healthy answer takes on a busy machine, so only a hang reaches it.
const RALIO_TIMEOUT: Duration = Duration::from_secs(3);
/// A hang that outlasts the timeout ten times over, so it never answers within the call.
const HANG: &str = "act-then-hang:30s";
/// Makes Ralio answer 502 at once and create a second later, which is well within the settle
/// delays below, however busy the machine.
const LATE: &str = "act-late:1s";

async fn stack(store: Store) -> Stack {
    start(store, |options| {
        options.ralio_client.request_timeout = RALIO_TIMEOUT;
        options.account_gate.settle = chrono::Duration::seconds(6);
        // These cases rest on the list meaning what the simulator's default mode says it
        // means, and a deployment that verified it sets the same.
        options.account_gate.recreate = idv_account_gate::Recreate::AfterSettle;
        options.create_session.settle = chrono::Duration::seconds(6);
    })
    .await
}

/// One answer the merchant got.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Answer {
    fn brief(&self) -> String {
        match self.body["code"].as_str() {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// Posts `path` until the answer is a 200 or 201, as a merchant's retrying client would.
async fn retry_until_answered(stack: &Stack, path: &str, body: &Value) -> Vec<Answer> {
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut answers = Vec::new();
    loop {
        let response = stack
            .http
            .post(stack.api(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.json().await.unwrap_or(Value::Null);
        answers.push(Answer {
            status,
            body,
            retry_after,
        });
        if matches!(status, 200 | 201) {
            return answers;
        }
        assert!(
            Instant::now() < give_up,
            "no answer after {} tries: {}",
            answers.len(),
            briefs(&answers)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Checks that until the last answer, the merchant was told to come back, never that it failed.
fn told_to_come_back(answers: &[Answer]) {
    for answer in &answers[..answers.len() - 1] {
        assert_eq!(answer.status, 409, "{}", answer.body);
        assert_eq!(answer.body["code"], "creation_uncertain");
        assert!(answer.retry_after.is_some(), "409 without Retry-After");
    }
}

fn briefs(answers: &[Answer]) -> String {
    answers
        .iter()
        .map(Answer::brief)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn account_survives(store: Store, fault: &str) {
    let stack = stack(store).await;
    let uid = new_uid();
    stack.make_regular(&uid).await;
    stack.fail_next("create-account", fault).await;

    let request = json!({ "alias": "Main", "currency": "EUR" });
    let answers = retry_until_answered(&stack, &format!("/users/{uid}/accounts"), &request).await;
    eprintln!("create-account {fault} ({store:?}): {}", briefs(&answers));

    let ralio = stack.ralio_accounts(&uid).await;
    assert_eq!(ralio.len(), 1, "Ralio holds {ralio:?}");
    let last = answers.last().unwrap();
    assert_eq!(last.body["accountId"], ralio[0]["id"], "{}", last.body);
    assert_eq!(last.body["status"], "created");
    told_to_come_back(&answers);
    let kyc = stack.kyc(&uid).await;
    assert_eq!(kyc["accounts"].as_array().unwrap().len(), 1, "{kyc}");
    assert_eq!(kyc["accounts"][0]["accountId"], ralio[0]["id"]);

    // Asking again is answered from the store, without a second account.
    let (status, again) = stack.open_account(&uid, "Main", "EUR").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["accountId"], ralio[0]["id"]);
    assert_eq!(stack.ralio_accounts(&uid).await.len(), 1);
    stack.stop().await;
}

async fn account_after_act_then_5xx(store: Store) {
    account_survives(store, "act-then-5xx").await
}

async fn account_after_act_then_reset(store: Store) {
    account_survives(store, "act-then-reset").await
}

async fn account_after_act_then_hang(store: Store) {
    account_survives(store, HANG).await
}

async fn account_after_fail_before_acting(store: Store) {
    account_survives(store, "fail-before-acting").await
}

async fn account_after_act_late(store: Store) {
    account_survives(store, LATE).await
}

async fn session_survives(store: Store, fault: &str) {
    let stack = stack(store).await;
    let uid = new_uid();
    stack.fail_next("create-session", fault).await;

    let answers =
        retry_until_answered(&stack, &format!("/users/{uid}/idv-sessions"), &Value::Null).await;
    eprintln!("create-session {fault} ({store:?}): {}", briefs(&answers));

    told_to_come_back(&answers);
    let ralio = stack.ralio_sessions(&uid);
    assert_eq!(ralio.len(), 1, "Ralio holds {ralio:?}");
    let last = answers.last().unwrap();
    assert_eq!(last.body["sessionId"], ralio[0].as_str(), "{}", last.body);
    let kyc = stack.kyc(&uid).await;
    assert_eq!(
        kyc["latestSession"]["sessionId"],
        ralio[0].as_str(),
        "{kyc}"
    );

    // A retry reuses the one session.
    let (status, again) = stack.create_session(&uid).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["sessionId"], ralio[0].as_str());
    assert_eq!(stack.ralio_sessions(&uid).len(), 1);
    stack.stop().await;
}

async fn session_after_act_then_5xx(store: Store) {
    session_survives(store, "act-then-5xx").await
}

async fn session_after_act_then_reset(store: Store) {
    session_survives(store, "act-then-reset").await
}

async fn session_after_act_then_hang(store: Store) {
    session_survives(store, HANG).await
}

async fn session_after_fail_before_acting(store: Store) {
    session_survives(store, "fail-before-acting").await
}

async fn session_after_act_late(store: Store) {
    session_survives(store, LATE).await
}

/// Ralio's list may show only the merchant's own accounts, or take the filter literally
/// (simulator modes), and either way it never shows the user's account. By default a creation
/// answered 502 after acting then stays uncertain past every settle delay, and Ralio is never
/// asked again, until an operator resolves it with what they found at Ralio.
async fn lists_that_never_show_the_account_never_yield_a_second_one(store: Store) {
    for list in [
        ralio_sim::AccountList::MerchantOnly,
        ralio_sim::AccountList::LiteralFilter,
    ] {
        let stack = start(store, |options| {
            options.ralio_client.request_timeout = RALIO_TIMEOUT;
            options.account_gate.settle = chrono::Duration::seconds(1);
            if let idv_local::RalioMode::Simulator {
                account_list,
                announce_accounts,
                ..
            } = &mut options.ralio
            {
                *account_list = list;
                // No account_activated is sent either, so only the list, or a person, can tell.
                *announce_accounts = false;
            }
        })
        .await;
        let uid = new_uid();
        stack.make_regular(&uid).await;
        stack.fail_next("create-account", "act-then-5xx").await;
        // The merchant keeps asking for longer than the settle delay.
        let past_settling = Instant::now() + Duration::from_secs(3);
        loop {
            let (status, answer) = stack.open_account(&uid, "Main", "EUR").await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (409, Some("creation_uncertain")),
                "{list:?}: {answer}"
            );
            if Instant::now() > past_settling {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let ralio = stack.ralio_accounts(&uid).await;
        assert_eq!(ralio.len(), 1, "{list:?}: Ralio holds {ralio:?}");
        let id = ralio[0]["id"].as_str().unwrap();
        let found = idv_model::AccountId::parse(id).unwrap();
        let uid_parsed = idv_model::Uid::parse(&uid).unwrap();
        stack
            .running
            .accounts
            .resolve_by_operator(
                uid_parsed,
                "Main",
                idv_model::Currency::Eur,
                idv_account_gate::Resolution::Found(found),
            )
            .await
            .unwrap();
        let (status, answer) = stack.open_account(&uid, "Main", "EUR").await;
        assert_eq!((status, answer["accountId"].as_str()), (200, Some(id)));
        assert_eq!(stack.ralio_accounts(&uid).await.len(), 1);
        stack.stop().await;
    }
}
