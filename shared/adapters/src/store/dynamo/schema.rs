//! This is the one place that knows the table's shape: key formats, indexes and the attribute names
//! that conditions refer to. The item structs in `items` spell the same names through serde, and a
//! test holds them together. `template.yaml` and the tests follow [`TABLE`].

use chrono::{DateTime, Utc};
use idv_model::lifecycle::sortable_timestamp;
use idv_model::{EventId, ExpiryBucket, Owner, SessionId, Uid};
use sha2::{Digest, Sha256};

/// Describes a global secondary index: its name, hash key and optional range key (all strings),
/// and the attributes it carries besides the keys (none: it projects keys only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: Option<&'static str>,
    pub included: &'static [&'static str],
}

/// Describes the table: string keys `PK`/`SK`, four sparse indexes and a TTL attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub indexes: &'static [IndexDefinition],
    pub ttl_attribute: &'static str,
    /// This is the stream that the event publisher reads. New images are enough, because an audit
    /// item is written once and carries all that its event needs.
    pub stream_view_type: &'static str,
}

pub const TABLE: TableDefinition = TableDefinition {
    hash_key: attr::PK,
    range_key: attr::SK,
    indexes: &[
        IndexDefinition {
            name: index::BY_SESSION,
            hash_key: attr::SESSION_ID,
            range_key: None,
            included: &[],
        },
        IndexDefinition {
            name: index::BY_WARN_BUCKET,
            hash_key: attr::WARN_BUCKET,
            range_key: Some(attr::SESSION_ID),
            included: &[],
        },
        IndexDefinition {
            name: index::BY_EXPIRE_BUCKET,
            hash_key: attr::EXPIRE_BUCKET,
            range_key: Some(attr::SESSION_ID),
            included: &[],
        },
        IndexDefinition {
            name: index::BY_SWEEP,
            hash_key: attr::SWEEP,
            range_key: Some(attr::SWEEP_AT),
            included: &[attr::SWEEP_VISITS],
        },
    ],
    ttl_attribute: attr::TTL,
    stream_view_type: "NEW_IMAGE",
};

pub mod index {
    /// This index finds sessions by Ralio session id, for webhooks that carry no user id.
    pub const BY_SESSION: &str = "BySession";
    /// This index finds sessions by the bucket of their expiry warning.
    pub const BY_WARN_BUCKET: &str = "ByWarnBucket";
    /// This index finds sessions by the bucket of their expiry.
    pub const BY_EXPIRE_BUCKET: &str = "ByExpireBucket";
    /// This index finds the sessions the sweep looks at, by group and by the time their mark
    /// dates from. Only marked sessions are in it, and a session leaves it when the sweep has
    /// nothing left to wait for. Each group is one index partition, and DynamoDB takes about
    /// 1,000 writes a second into one partition: a session's change writes its mark once, so
    /// that is 1,000 session changes a second, far beyond what a merchant's users make. Beyond
    /// it, the index would have to be sharded by a suffix on the group.
    pub const BY_SWEEP: &str = "BySweep";
}

/// These are the attribute names that keys, indexes and conditions refer to.
pub mod attr {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const TTL: &str = "ttl";
    pub const SESSION_ID: &str = "sessionId";
    pub const STATE: &str = "state";
    pub const EXPIRY_SOURCE: &str = "expirySource";
    pub const HOSTED_URL: &str = "hostedUrl";
    pub const EXPIRING_SOON: &str = "expiringSoon";
    pub const WARN_BUCKET: &str = "warnBucket";
    pub const EXPIRE_BUCKET: &str = "expireBucket";
    /// A session's sweep mark: its group, the time it dates from, and the fruitless visits since.
    pub const SWEEP: &str = "sweep";
    pub const SWEEP_AT: &str = "sweepAt";
    pub const SWEEP_VISITS: &str = "sweepVisits";
    pub const KYC_LEVEL: &str = "kycLevel";
    pub const KYC_AT: &str = "kycAt";
    pub const KYC_EVENT_ID: &str = "kycEventId";
    pub const REVERIFY_AT: &str = "reverifyAt";
    pub const REVERIFY_EVENT_ID: &str = "reverifyEventId";
    pub const CREATION_LEASE_UNTIL: &str = "creationLeaseUntil";
    pub const CREATION_LEASE_TOKEN: &str = "creationLeaseToken";
    pub const CREATION_LEASE_SINCE: &str = "creationLeaseSince";
    pub const SESSIONS_VERSION: &str = "sessionsVersion";
    pub const ACCOUNT_STATUS: &str = "accountStatus";
    pub const LEASE_UNTIL: &str = "leaseUntil";
    pub const RESERVATION_TOKEN: &str = "reservationToken";
    pub const ACTIVATED_AT: &str = "activatedAt";
    /// An event marker records when a repeat of the event was audited (once).
    pub const REPEAT_AUDITED_AT: &str = "repeatAuditedAt";
    /// A tick records when it was claimed, and when its message was sent.
    pub const CREATED_AT: &str = "createdAt";
    pub const SENT_AT: &str = "sentAt";
    /// An event's receipt item records when the event was first received.
    pub const FIRST_RECEIVED_AT: &str = "firstReceivedAt";
    /// A quarantined payload records when it was replayed, and what came of it.
    pub const REPLAYED_AT: &str = "replayedAt";
    pub const REPLAY_OUTCOME: &str = "replayOutcome";
    pub const RALIO_ACCOUNT: &str = "ralioAccount";
    /// A waiting activation's copy by day records whose account a lookup read it to be (a digest).
    pub const SEEN_AS: &str = "seenAs";
    /// A waiting activation under its account id records the sort keys of its copies by day.
    pub const COPIES: &str = "copies";
    /// An erased owner's profile holds the tombstone: when, until when the record is kept, and how
    /// many events about the owner arrived since.
    pub const ERASED_AT: &str = "erasedAt";
    /// An account's alias, which erasure removes.
    pub const ALIAS: &str = "alias";
    pub const RETAINED_UNTIL: &str = "retainedUntil";
    pub const ERASED_DELIVERIES: &str = "erasedDeliveries";
}

/// These say what each item is, in its `entity` attribute.
pub mod entity {
    pub const PROFILE: &str = "profile";
    pub const SESSION: &str = "session";
    pub const ACCOUNT: &str = "account";
    pub const AUDIT: &str = "audit";
    pub const EVENT: &str = "event";
    pub const TICK: &str = "tick";
    pub const QUARANTINE: &str = "quarantine";
    pub const ACCOUNT_OWNER: &str = "account_owner";
    pub const ACTIVATION: &str = "activation";
    pub const KYC_OWNER: &str = "kyc_owner";
}

pub const PROFILE_SK: &str = "PROFILE";
pub const SESSION_SK_PREFIX: &str = "SESSION#";
pub const ACCOUNT_SK_PREFIX: &str = "ACCOUNT#";
pub const ACCOUNT_PENDING: &str = "pending";
pub const ACCOUNT_UNCERTAIN: &str = "uncertain";
pub const ACCOUNT_FAILED: &str = "failed";
pub const ACCOUNT_CREATED: &str = "created";

pub fn owner_pk(owner: Owner) -> String {
    match owner {
        Owner::User(uid) => format!("USER#{uid}"),
        Owner::RelatedParty(id) => format!("RP#{id}"),
    }
}

pub fn user_pk(uid: Uid) -> String {
    owner_pk(Owner::User(uid))
}

pub fn owner_type(owner: Owner) -> &'static str {
    owner.entity_type().as_str()
}

pub fn owner_id(owner: Owner) -> String {
    match owner {
        Owner::User(uid) => uid.to_string(),
        Owner::RelatedParty(id) => id.to_string(),
    }
}

/// Returns the owner of a `USER#…` or `RP#…` partition, because index entries carry only keys.
pub fn parse_owner_pk(pk: &str) -> Option<Owner> {
    if let Some(id) = pk.strip_prefix("USER#") {
        return Uid::parse(id).ok().map(Owner::User);
    }
    let id = pk.strip_prefix("RP#")?;
    idv_model::RelatedPartyId::parse(id)
        .ok()
        .map(Owner::RelatedParty)
}

/// The audit trail lives in its own partition per owner, so reading a user's profile,
/// sessions and accounts stays one small Query however long the trail grows.
pub fn audit_pk(owner: Owner) -> String {
    format!("AUDIT#{}", owner_pk(owner))
}

/// The key sorts by time, and the random suffix keeps entries written in the same instant apart.
pub fn audit_sk(at: DateTime<Utc>) -> String {
    format!(
        "{}#{}",
        sortable_timestamp(at),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn session_sk(session_id: SessionId) -> String {
    format!("{SESSION_SK_PREFIX}{session_id}")
}

/// Aliases are free text, so the key uses a digest to make any alias a valid, bounded key.
pub fn account_sk(currency: idv_model::Currency, alias: &str) -> String {
    let digest = Sha256::digest(alias.as_bytes());
    format!(
        "{ACCOUNT_SK_PREFIX}{}#{}",
        currency.as_str(),
        hex::encode(&digest[..16])
    )
}

/// This partition says whose a Ralio account is, by Ralio's id, so that an activation finds its
/// account.
pub fn account_owner_pk(id: &idv_model::AccountId) -> String {
    format!("RALIO_ACCOUNT#{id}")
}

pub const ACCOUNT_OWNER_SK: &str = "OWNER";

/// Returns the partition of the owners that Ralio's `kycId` was paired with.
pub fn kyc_id_pk(kyc_id: i64) -> String {
    format!("KYCID#{kyc_id}")
}

/// This partition holds activations whose account is not recorded yet, by account id. It is read by
/// key only, because account writes check and absorb them there.
pub const ACTIVATIONS_PK: &str = "ACTIVATIONS";

/// This partition holds the same activations by the day they were received, sorted by time within
/// it, so a lookup reads only the days (and the part of the first day) that its request could have
/// caused.
pub fn activations_received_pk(day: chrono::NaiveDate) -> String {
    format!("ACTIVATIONS#{}", day.format("%Y-%m-%d"))
}

pub fn event_pk(event_id: EventId) -> String {
    format!("EVENT#{event_id}")
}

pub const EVENT_SK: &str = "EVENT";

/// This item, beside an event's marker, records when the event was first received, while it cannot
/// be attributed.
pub const RECEIPT_SK: &str = "RECEIPT";

pub fn tick_pk(bucket: &ExpiryBucket) -> String {
    format!("TICK#{}", bucket.key())
}

pub const TICK_SK: &str = "TICK";

pub fn quarantine_pk(day: chrono::NaiveDate) -> String {
    format!("QUARANTINE#{}", day.format("%Y-%m-%d"))
}

/// Identical bytes get the same key, so a redelivered payload is kept once a day.
pub fn quarantine_sk(entry: &crate::store::QuarantineEntry) -> String {
    entry.key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_are_bounded_and_distinct() {
        let a = account_sk(idv_model::Currency::Eur, "Main wallet");
        let b = account_sk(idv_model::Currency::Usd, "Main wallet");
        let c = account_sk(idv_model::Currency::Eur, &"x".repeat(10_000));
        assert_ne!(a, b);
        assert!(c.len() < 80);
    }
}
