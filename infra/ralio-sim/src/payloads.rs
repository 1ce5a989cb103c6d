//! This module writes webhook payloads the way Ralio's documentation shows them, in both
//! generations. They are built as JSON literals on purpose, so that nothing here comes from the
//! service's own types.

use serde_json::{Value, json};

/// Says which payload generation to send (REFERENCE §4.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generation {
    /// First generation: user-only, `checks`, snake_case `kyc_state_updated`.
    V1,
    /// Second generation: `entityType`, integer check states, reason categories.
    V2,
    /// Either, chosen per event.
    Mixed,
}

impl Generation {
    pub fn pick(self) -> Generation {
        match self {
            Generation::Mixed if fastrand::bool() => Generation::V1,
            Generation::Mixed => Generation::V2,
            fixed => fixed,
        }
    }
}

/// A refusal reason offered on the hosted page.
#[derive(Debug, Clone, Copy)]
pub struct Reason {
    pub key: &'static str,
    pub check: &'static str,
    pub reason_type: &'static str,
    pub code: &'static str,
    pub message: &'static str,
    pub category: &'static str,
}

pub const REASONS: &[Reason] = &[
    Reason {
        key: "expired-document",
        check: "document-verification",
        reason_type: "document",
        code: "EXPIRED_DOCUMENT",
        message: "The identity document is past its expiry date",
        category: "DOC",
    },
    Reason {
        key: "no-match",
        check: "face-matching",
        reason_type: "face-match",
        code: "NO_MATCH",
        message: "Selfie does not match the photo on the document",
        category: "FACE",
    },
    Reason {
        key: "deteriorated",
        check: "manual_review",
        reason_type: "ManualReview",
        code: "KYC.DOC.DETERIORATED",
        message: "Document is damaged or unreadable.",
        category: "DOC",
    },
];

pub fn reason(key: &str) -> Option<&'static Reason> {
    REASONS.iter().find(|r| r.key == key)
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn envelope_a(event: &str, data: Value) -> Value {
    json!({ "id": uuid::Uuid::new_v4().to_string(), "event": event, "timestamp": timestamp(), "data": data })
}

fn envelope_b(event: &str, data: Value) -> Value {
    json!({ "eventId": uuid::Uuid::new_v4().to_string(), "eventType": event, "timestamp": timestamp(), "data": data })
}

pub fn session_verified(generation: Generation, session: &str, uid: &str) -> Value {
    match generation.pick() {
        Generation::V1 => envelope_a(
            "kyc_session_verified",
            json!({
                "sessionId": session,
                "userId": uid,
                "checks": [
                    { "type": "document-verification", "state": "Validated", "data": {}, "reasons": [] },
                    { "type": "face-matching", "state": "Validated", "data": {}, "reasons": [] }
                ]
            }),
        ),
        _ => envelope_a(
            "kyc_session_verified",
            json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
        ),
    }
}

/// Returns a manual review payload. Only a second-generation page exists for manual review,
/// with the `eventId` envelope.
pub fn session_manual_review(session: &str, uid: &str) -> Value {
    envelope_b(
        "kyc_session_manual_review",
        json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
    )
}

pub fn session_failed(generation: Generation, session: &str, uid: &str, reason: &Reason) -> Value {
    match generation.pick() {
        Generation::V1 => envelope_a(
            "kyc_session_failed",
            json!({
                "sessionId": session,
                "userId": uid,
                "checks": [{
                    "type": reason.check, "state": "Refused", "data": {},
                    "reasons": [{ "type": reason.reason_type, "code": reason.code, "message": reason.message }]
                }]
            }),
        ),
        _ => envelope_a(
            "kyc_session_failed",
            json!({
                "sessionId": session,
                "userId": uid,
                "entityType": "user",
                "checks": [{
                    "type": reason.check, "state": 2,
                    "data": { "type": reason.check, "provider": "MOCK", "timestamp": timestamp() },
                    "reasons": [{ "type": reason.reason_type, "code": reason.code, "message": reason.message, "category": reason.category }]
                }]
            }),
        ),
    }
}

pub fn session_expired(generation: Generation, session: &str, uid: &str) -> Value {
    match generation.pick() {
        Generation::V1 => envelope_a(
            "kyc_session_expired",
            json!({ "sessionId": session, "userId": uid, "checks": [] }),
        ),
        _ => envelope_a(
            "kyc_session_expired",
            json!({ "sessionId": session, "userId": uid, "entityType": "user" }),
        ),
    }
}

pub fn state_updated(generation: Generation, kyc_id: i64, uid: &str, level: &str) -> Value {
    match generation.pick() {
        Generation::V1 => envelope_a(
            "kyc_state_updated",
            json!({ "kyc_id": kyc_id, "user_id": uid, "state": level }),
        ),
        _ => envelope_a(
            "kyc_state_updated",
            json!({ "kycId": kyc_id, "userId": uid, "entityType": "user", "state": level }),
        ),
    }
}

pub fn expiration_warning(
    kyc_id: i64,
    uid: &str,
    expiration_date: &str,
    days_remaining: i64,
) -> Value {
    envelope_a(
        "kyc_expiration_warning",
        json!({
            "kycId": kyc_id, "entityType": "user", "userId": uid,
            "expirationDate": expiration_date, "daysRemaining": days_remaining,
            "action": "Open a new KYC verification session for this user before the current one lapses."
        }),
    )
}

/// Returns `account_activated`, which says the account is ready and gives only its id.
pub fn account_activated(account_id: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "event": "account_activated",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": { "accountId": account_id }
    })
}
