//! This module holds the append-only and bookkeeping items: the audit trail, event markers, ticks
//! and quarantine.

use chrono::{DateTime, Utc};
use idv_model::audit::AppliedChange;
use idv_model::{AuditEntry, AuditOutcome, EventId, ExpiryBucket, Owner, SessionId};
use serde::{Deserialize, Serialize};

use super::{Key, Ts};
use crate::store::dynamo::schema::{self, entity};
use crate::store::{QuarantineEntry, Replayed};

/// This is one entry of an owner's audit trail, in the owner's audit partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub at: Ts,
    pub action: String,
    pub outcome: AuditOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// This is the session that an entry is about. It is not named `sessionId`, because that name
    /// The BySession index key, which must list session items only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about_session_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// This says what an applied change was, and the event publisher's stream filter passes only
    /// items that have one.
    #[serde(rename = "fact", default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedChange>,
    /// DynamoDB may delete the entry after these epoch seconds (`COMPLIANCE_RETENTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl AuditItem {
    pub fn new(owner: Owner, entry: &AuditEntry) -> Self {
        Self {
            pk: schema::audit_pk(owner),
            sk: schema::audit_sk(entry.at),
            entity: entity::AUDIT.to_owned(),
            at: Ts(entry.at),
            action: entry.action.clone(),
            outcome: entry.outcome.clone(),
            event_id: entry.event_id,
            about_session_id: entry.session_id,
            detail: entry.detail.clone(),
            applied: entry.applied.clone(),
            ttl: None,
        }
    }

    pub fn entry(self) -> AuditEntry {
        AuditEntry {
            at: self.at.0,
            action: self.action,
            outcome: self.outcome,
            event_id: self.event_id,
            session_id: self.about_session_id,
            detail: self.detail,
            applied: self.applied,
        }
    }

    /// Returns whose trail this entry is in.
    pub fn owner(&self) -> Option<Owner> {
        schema::parse_owner_pk(self.pk.strip_prefix("AUDIT#")?)
    }
}

/// This de-duplication marker records an event id already handled, and is kept for a while.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub event_type: String,
    pub outcome: idv_model::EventOutcome,
    pub received_at: Ts,
    /// DynamoDB may delete the marker after these epoch seconds.
    pub ttl: i64,
}

impl MarkerItem {
    pub fn new(
        event_id: EventId,
        event_type: &str,
        outcome: idv_model::EventOutcome,
        now: DateTime<Utc>,
        keep_for: chrono::Duration,
    ) -> Self {
        Self {
            pk: schema::event_pk(event_id),
            sk: schema::EVENT_SK.to_owned(),
            entity: entity::EVENT.to_owned(),
            event_type: event_type.to_owned(),
            outcome,
            received_at: Ts(now),
            ttl: (now + keep_for).timestamp(),
        }
    }
}

/// A bucket's tick is the proof that its queue message was sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TickItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// This is when a session claimed the tick to send its message.
    pub created_at: Ts,
    /// This is when the message was sent. It is absent while the message may still be unsent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Ts>,
    pub ttl: i64,
}

impl TickItem {
    /// Ticks are needed until their bucket is processed, and they are kept a while after.
    pub fn new(bucket: &ExpiryBucket, now: DateTime<Utc>) -> Self {
        let key = Key::tick(bucket);
        Self {
            pk: key.pk,
            sk: key.sk,
            entity: entity::TICK.to_owned(),
            created_at: Ts(now),
            sent_at: None,
            ttl: (bucket.due_at() + chrono::Duration::days(30)).timestamp(),
        }
    }

    pub fn state(&self) -> idv_model::TickState {
        idv_model::TickState {
            claimed_at: self.created_at.0,
            sent_at: self.sent_at.map(|t| t.0),
        }
    }
}

/// This is a signed payload kept verbatim.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub received_at: Ts,
    pub reason_code: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// DynamoDB may delete the payload after these epoch seconds (absent on items kept before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_outcome: Option<AuditOutcome>,
}

impl From<&QuarantineEntry> for QuarantineItem {
    fn from(entry: &QuarantineEntry) -> Self {
        Self {
            pk: schema::quarantine_pk(entry.received_at.date_naive()),
            sk: schema::quarantine_sk(entry),
            entity: entity::QUARANTINE.to_owned(),
            received_at: Ts(entry.received_at),
            reason_code: entry.reason_code.clone(),
            reason: entry.reason.clone(),
            event_id: entry.event_id.clone(),
            event_type: entry.event_type.clone(),
            body: entry.body.clone(),
            ttl: Some(entry.expires_at.timestamp()),
            replayed_at: entry.replayed.as_ref().map(|r| Ts(r.at)),
            replay_outcome: entry.replayed.as_ref().map(|r| r.outcome.clone()),
        }
    }
}

impl From<QuarantineItem> for QuarantineEntry {
    fn from(item: QuarantineItem) -> Self {
        Self {
            received_at: item.received_at.0,
            reason_code: item.reason_code,
            reason: item.reason,
            event_id: item.event_id,
            event_type: item.event_type,
            body: item.body,
            // Items kept before retention was set live as long as the markers.
            expires_at: item
                .ttl
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .unwrap_or(item.received_at.0 + super::super::MARKER_TTL),
            replayed: match (item.replayed_at, item.replay_outcome) {
                (Some(at), Some(outcome)) => Some(Replayed { at: at.0, outcome }),
                _ => None,
            },
        }
    }
}
