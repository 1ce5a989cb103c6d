//! This module decides what is kept of a signed payload that is not applied, and why.

use chrono::{DateTime, Utc};
use idv_adapters::store::QuarantineEntry;
use idv_model::webhook::envelope_hints;
use idv_model::{QuarantineReason, WebhookEvent};
use serde_json::json;

use crate::Webhook;

impl Webhook {
    /// Returns what is kept of a signed payload. What this service acts on is kept verbatim,
    /// and so are event types that look like Ralio's KYC family, because a later release that
    /// learns their spelling can replay them. Other event types are kept as a digest, because
    /// their bodies carry other people's data even when their envelope does not parse, and so
    /// is any body too large for one item (with the fields this service reads from it).
    pub(crate) fn entry(
        &self,
        body: &[u8],
        event: Option<&WebhookEvent>,
        code: QuarantineReason,
        reason: String,
        now: DateTime<Utc>,
    ) -> QuarantineEntry {
        let (event_id, event_type) = match event {
            Some(e) => (Some(e.id.to_string()), Some(e.event_type.clone())),
            None => envelope_hints(body),
        };
        let acted_on = event_type
            .as_deref()
            .is_none_or(idv_model::webhook::is_acted_on);
        let kyc_family = event_type.as_deref().is_some_and(looks_like_kyc);
        let verbatim = (acted_on && code != QuarantineReason::UnknownEventType) || kyc_family;
        let kept = if verbatim && body.len() <= crate::MAX_KEPT_BYTES {
            body.to_vec()
        } else {
            digest_only(
                body,
                event_id.as_deref(),
                event_type.as_deref(),
                event.map(|e| e.stamped_at.unwrap_or(e.occurred_at)),
                verbatim,
            )
        };
        QuarantineEntry {
            received_at: now,
            reason_code: code.to_string(),
            reason,
            event_id,
            event_type,
            body: kept,
            expires_at: now + self.parts.settings.quarantine_retention,
            replayed: None,
        }
    }
}

/// Returns whether an event type looks like Ralio's KYC family in another spelling
/// (`kyc.session.verified`, `KycSessionVerified`).
fn looks_like_kyc(event_type: &str) -> bool {
    event_type.to_ascii_lowercase().contains("kyc")
}

/// Says why a payload is quarantined, and the outcome it is acknowledged with.
pub(crate) struct Quarantining {
    pub(crate) code: QuarantineReason,
    pub(crate) reason: String,
    pub(crate) outcome: crate::Outcome,
}

/// Returns what is kept of a body not kept verbatim: its envelope and digest, and, for one of
/// ours (`ours`) too large to keep whole, the fields this service reads from its `data`.
fn digest_only(
    body: &[u8],
    id: Option<&str>,
    event_type: Option<&str>,
    timestamp: Option<DateTime<Utc>>,
    ours: bool,
) -> Vec<u8> {
    use sha2::Digest;
    let mut kept = json!({
        "id": id,
        "event": event_type,
        "timestamp": timestamp,
        "sha256": hex::encode(sha2::Sha256::digest(body)),
        "size": body.len(),
    });
    if ours {
        kept["data"] = read_fields(body);
    }
    kept.to_string().into_bytes()
}

/// Returns the fields of `data` this service reads (ids, entity type, state, outcome), when
/// they are short.
fn read_fields(body: &[u8]) -> serde_json::Value {
    const READ: [&str; 9] = [
        "sessionId",
        "userId",
        "kycId",
        "entityType",
        "relatedPartyId",
        "state",
        "status",
        "accountId",
        "expirationDate",
    ];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return serde_json::Value::Null;
    };
    let data = &value["data"];
    let mut fields = serde_json::Map::new();
    for name in READ {
        let field = &data[name];
        let short = field.as_str().is_none_or(|s| s.len() <= 128);
        if !field.is_null() && !field.is_object() && !field.is_array() && short {
            fields.insert(name.to_owned(), field.clone());
        }
    }
    serde_json::Value::Object(fields)
}
