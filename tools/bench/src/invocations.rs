//! This module builds the invocation each function gets in the bench from the sample events in
//! `infra/events/lambda/` (the ones `cargo lambda invoke` uses), and judges its answer.

use idv_model::WebhookSecret;
use serde_json::{Value, json};

use crate::runtime_api::Answer;

const WEBHOOK: &str = include_str!("../../../infra/events/lambda/webhook.json");
const CREATE_SESSION: &str = include_str!("../../../infra/events/lambda/create-session.json");
const ACCOUNT_GATE: &str = include_str!("../../../infra/events/lambda/account-gate.json");
const EXPIRY_WATCHER: &str = include_str!("../../../infra/events/lambda/expiry-watcher.json");
const EVENT_PUBLISHER: &str = include_str!("../../../infra/events/lambda/event-publisher.json");

fn sample(text: &str) -> Value {
    serde_json::from_str(text).expect("a sample event")
}

/// Returns a delivery of a new `kyc_state_updated` for a new user, signed with `secret`, which
/// the webhook applies.
pub fn webhook_delivery(secret: &str) -> Vec<u8> {
    let mut event = sample(WEBHOOK);
    let body = json!({
        "id": uuid::Uuid::new_v4(),
        "event": "kyc_state_updated",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "kycId": 40817,
            "userId": uuid::Uuid::new_v4(),
            "entityType": "user",
            "state": "REGULAR",
        },
    })
    .to_string();
    event["headers"]["x-signature"] = json!(WebhookSecret::new(secret).sign_hex(body.as_bytes()));
    event["body"] = json!(body);
    event.to_string().into_bytes()
}

fn for_user(text: &str, uid: &str) -> Vec<u8> {
    let mut event = sample(text);
    let path = event["rawPath"]
        .as_str()
        .expect("rawPath")
        .replace("5a45ca52-e189-4464-bac2-bee53a3da72a", uid);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = json!({ "uid": uid });
    event.to_string().into_bytes()
}

/// Returns a request that creates a session at the (simulated) Ralio for a new user.
pub fn create_session() -> Vec<u8> {
    for_user(CREATE_SESSION, &uuid::Uuid::new_v4().to_string())
}

/// Returns a KYC read of one user.
pub fn kyc_read(uid: &str) -> Vec<u8> {
    for_user(ACCOUNT_GATE, uid)
}

/// Returns a due expiry tick.
pub fn tick() -> Vec<u8> {
    EXPIRY_WATCHER.as_bytes().to_vec()
}

/// Returns one audit item from the table's stream, which is published to the bus.
pub fn stream_batch() -> Vec<u8> {
    EVENT_PUBLISHER.as_bytes().to_vec()
}

/// Accepts an HTTP answer with one of the statuses `want`.
pub fn http_status(answer: &Answer, want: &[u16]) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    match body["statusCode"].as_u64() {
        Some(status) if want.iter().any(|w| u64::from(*w) == status) && !answer.error => Ok(()),
        _ => Err(format!(
            "wanted {want:?}, got {}",
            String::from_utf8_lossy(&answer.body)
        )),
    }
}

/// Accepts a batch answer that names no failed item.
pub fn whole_batch(answer: &Answer) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    let failed = body["batchItemFailures"].as_array().map_or(0, Vec::len);
    if answer.error || failed > 0 {
        return Err(format!(
            "batch not done: {}",
            String::from_utf8_lossy(&answer.body)
        ));
    }
    Ok(())
}

/// Accepts the echo of the hello-world baseline.
pub fn echo(answer: &Answer) -> Result<(), String> {
    if answer.error {
        return Err(String::from_utf8_lossy(&answer.body).into_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_invocation_is_for_a_new_user() {
        let path = |event: Vec<u8>| -> String {
            let event: Value = serde_json::from_slice(&event).unwrap();
            event["rawPath"].as_str().unwrap().to_owned()
        };
        let (first, second) = (path(create_session()), path(create_session()));
        assert_ne!(first, second);
        assert!(first.ends_with("/idv-sessions"), "{first}");
    }
}
