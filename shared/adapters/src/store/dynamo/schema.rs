//! The one place that knows the table's shape: key formats, attribute names, indexes and
//! condition expressions. `template.yaml` and the tests follow [`TABLE`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use idv_model::lifecycle::sortable_timestamp;
use idv_model::{EventId, ExpiryBucket, ExpirySource, Owner, Phase, SessionId, Uid};
use sha2::{Digest, Sha256};

/// A global secondary index: name, hash key and optional range key (all strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: Option<&'static str>,
}

/// The table: string keys `PK`/`SK`, three key-only indexes and a TTL attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub indexes: &'static [IndexDefinition],
    pub ttl_attribute: &'static str,
}

pub const TABLE: TableDefinition = TableDefinition {
    hash_key: attr::PK,
    range_key: attr::SK,
    indexes: &[
        IndexDefinition {
            name: index::BY_SESSION,
            hash_key: attr::SESSION_ID,
            range_key: None,
        },
        IndexDefinition {
            name: index::BY_WARN_BUCKET,
            hash_key: attr::WARN_BUCKET,
            range_key: Some(attr::SESSION_ID),
        },
        IndexDefinition {
            name: index::BY_EXPIRE_BUCKET,
            hash_key: attr::EXPIRE_BUCKET,
            range_key: Some(attr::SESSION_ID),
        },
    ],
    ttl_attribute: attr::TTL,
};

pub mod index {
    /// Sessions by Ralio session id, for webhooks that carry no user id.
    pub const BY_SESSION: &str = "BySession";
    /// Sessions by the bucket of their expiry warning.
    pub const BY_WARN_BUCKET: &str = "ByWarnBucket";
    /// Sessions by the bucket of their expiry.
    pub const BY_EXPIRE_BUCKET: &str = "ByExpireBucket";
}

/// Attribute names.
pub mod attr {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const ENTITY: &str = "entity";
    pub const OWNER_TYPE: &str = "ownerType";
    pub const OWNER_ID: &str = "ownerId";
    pub const TTL: &str = "ttl";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const CREATED_AT: &str = "createdAt";

    pub const SESSION_ID: &str = "sessionId";
    pub const STATE: &str = "state";
    pub const STATE_CODE: &str = "stateCode";
    pub const EXPIRY_SOURCE: &str = "expirySource";
    pub const HOSTED_URL: &str = "hostedUrl";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const FAILURE_REASONS: &str = "failureReasons";
    pub const EXPIRING_SOON: &str = "expiringSoon";
    pub const WARN_BUCKET: &str = "warnBucket";
    pub const EXPIRE_BUCKET: &str = "expireBucket";

    pub const KYC_LEVEL: &str = "kycLevel";
    pub const KYC_AT: &str = "kycAt";
    pub const KYC_EVENT_ID: &str = "kycEventId";
    pub const KYC_ID: &str = "kycId";
    pub const REVERIFY_DATE: &str = "reverifyDate";
    pub const REVERIFY_DAYS: &str = "reverifyDaysRemaining";
    pub const REVERIFY_AT: &str = "reverifyAt";
    pub const REVERIFY_EVENT_ID: &str = "reverifyEventId";

    /// The session an audit entry is about. Not `sessionId`: that name is the BySession
    /// index key, which must list session items only.
    pub const AUDIT_SESSION_ID: &str = "aboutSessionId";
    pub const EVENT_ID: &str = "eventId";
    pub const CREATION_LEASE_UNTIL: &str = "creationLeaseUntil";
    pub const CREATION_LEASE_TOKEN: &str = "creationLeaseToken";
    pub const EVENT_TYPE: &str = "eventType";
    pub const OUTCOME: &str = "outcome";
    pub const ACTION: &str = "action";
    pub const DETAIL: &str = "detail";
    pub const AT: &str = "at";

    pub const ALIAS: &str = "alias";
    pub const CURRENCY: &str = "currency";
    pub const ACCOUNT_STATUS: &str = "accountStatus";
    pub const LEASE_UNTIL: &str = "leaseUntil";
    pub const RALIO_ACCOUNT: &str = "ralioAccount";

    pub const RECEIVED_AT: &str = "receivedAt";
    pub const REASON_CODE: &str = "reasonCode";
    pub const REASON: &str = "reason";
    pub const BODY: &str = "body";
}

pub mod entity {
    pub const PROFILE: &str = "profile";
    pub const SESSION: &str = "session";
    pub const ACCOUNT: &str = "account";
    pub const AUDIT: &str = "audit";
    pub const EVENT: &str = "event";
    pub const TICK: &str = "tick";
    pub const QUARANTINE: &str = "quarantine";
}

pub const PROFILE_SK: &str = "PROFILE";
pub const SESSION_SK_PREFIX: &str = "SESSION#";
pub const ACCOUNT_SK_PREFIX: &str = "ACCOUNT#";
pub const ACCOUNT_PENDING: &str = "pending";
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

/// The owner of a `USER#…` or `RP#…` partition (index entries carry only keys).
pub fn parse_owner_pk(pk: &str) -> Option<Owner> {
    if let Some(id) = pk.strip_prefix("USER#") {
        return Uid::parse(id).ok().map(Owner::User);
    }
    let id = pk.strip_prefix("RP#")?;
    idv_model::RelatedPartyId::parse(id)
        .ok()
        .map(Owner::RelatedParty)
}

pub fn parse_owner(owner_type: &str, owner_id: &str) -> Option<Owner> {
    match owner_type {
        "user" => Uid::parse(owner_id).ok().map(Owner::User),
        "related-party" => idv_model::RelatedPartyId::parse(owner_id)
            .ok()
            .map(Owner::RelatedParty),
        _ => None,
    }
}

/// The audit trail lives in its own partition per owner, so reading a user's profile,
/// sessions and accounts stays one small Query however long the trail grows.
pub fn audit_pk(owner: Owner) -> String {
    format!("AUDIT#{}", owner_pk(owner))
}

/// Sorts by time; the random suffix keeps entries written in the same instant apart.
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

/// Aliases are free text: the key uses a digest so any alias makes a valid, bounded key.
pub fn account_sk(currency: idv_model::Currency, alias: &str) -> String {
    let digest = Sha256::digest(alias.as_bytes());
    format!(
        "{ACCOUNT_SK_PREFIX}{}#{}",
        currency.as_str(),
        hex::encode(&digest[..16])
    )
}

pub fn event_pk(event_id: EventId) -> String {
    format!("EVENT#{event_id}")
}

pub const EVENT_SK: &str = "EVENT";

pub fn tick_pk(bucket: &ExpiryBucket) -> String {
    format!("TICK#{}", bucket.key())
}

pub const TICK_SK: &str = "TICK";

pub fn quarantine_pk(day: chrono::NaiveDate) -> String {
    format!("QUARANTINE#{}", day.format("%Y-%m-%d"))
}

/// Identical bytes get the same key, so a redelivered payload is kept once a day.
pub fn quarantine_sk(body: &[u8]) -> String {
    crate::store::body_digest(body)
}

pub fn expiry_source_name(source: ExpirySource) -> &'static str {
    match source {
        ExpirySource::Ralio => "ralio",
        ExpirySource::Inferred => "inferred",
    }
}

pub fn parse_expiry_source(value: &str) -> Option<ExpirySource> {
    match value {
        "ralio" => Some(ExpirySource::Ralio),
        "inferred" => Some(ExpirySource::Inferred),
        _ => None,
    }
}

/// Expression names and values collected while building an expression: every attribute is
/// referred to as `#name` (several are reserved words) and every value as `:name`.
#[derive(Debug, Default)]
pub struct Expr {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub fn string(&mut self, key: &str, value: impl Into<String>) -> String {
        self.value(key, AttributeValue::S(value.into()))
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// The condition under which a move to `target` may apply, built from the model's allowed
/// prior phases. `require_existing` drops the "no record yet" branch (watcher actions).
pub fn phase_condition(expr: &mut Expr, target: Phase, require_existing: bool) -> String {
    let pk = expr.name(attr::PK);
    let state = expr.name(attr::STATE);
    let mut clauses = Vec::new();
    if target.allowed_when_absent() && !require_existing {
        clauses.push(format!("attribute_not_exists({pk})"));
    }
    let mut plain = Vec::new();
    for (i, prior) in target.allowed_priors().iter().enumerate() {
        let state_value = expr.string(&format!("prior{i}"), prior.state().name());
        match prior.expiry_source() {
            None => plain.push(state_value),
            Some(source) => {
                let source_name = expr.name(attr::EXPIRY_SOURCE);
                let source_value = expr.string(&format!("prior{i}src"), expiry_source_name(source));
                clauses.push(format!(
                    "({state} = {state_value} AND {source_name} = {source_value})"
                ));
            }
        }
    }
    if !plain.is_empty() {
        clauses.push(format!("{state} IN ({})", plain.join(", ")));
    }
    let expression = if clauses.is_empty() {
        // Nothing may precede this target: only creation applies.
        format!("attribute_not_exists({pk})")
    } else {
        clauses.join(" OR ")
    };
    if require_existing {
        format!("attribute_exists({pk}) AND ({expression})")
    } else {
        expression
    }
}

/// A newer (timestamp, event id) than the one stored in `at_attr`/`event_attr`.
pub fn newer_than_stored(
    expr: &mut Expr,
    at_attr: &str,
    event_attr: &str,
    at: DateTime<Utc>,
    event_id: EventId,
) -> String {
    let (at_name, event_name) = (expr.name(at_attr), expr.name(event_attr));
    let at_value = expr.string("orderAt", sortable_timestamp(at));
    let event_value = expr.string("orderEventId", event_id.to_string());
    format!(
        "attribute_not_exists({at_name}) OR {at_name} < {at_value} OR ({at_name} = {at_value} AND {event_name} < {event_value})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_condition_lists_every_allowed_prior() {
        let mut expr = Expr::default();
        let condition = phase_condition(&mut expr, Phase::Verified, false);
        assert_eq!(
            condition,
            "attribute_not_exists(#PK) OR (#state = :prior3 AND #expirySource = :prior3src) OR #state IN (:prior0, :prior1, :prior2)"
        );
        let value = |k: &str| expr.values[k].as_s().unwrap().clone();
        assert_eq!(value(":prior0"), "NOT_STARTED");
        assert_eq!(value(":prior2"), "REVIEW");
        assert_eq!(value(":prior3"), "EXPIRED");
        assert_eq!(value(":prior3src"), "inferred");
    }

    #[test]
    fn inferred_expiry_needs_an_existing_open_session() {
        let mut expr = Expr::default();
        let condition = phase_condition(&mut expr, Phase::Expired(ExpirySource::Inferred), true);
        assert_eq!(
            condition,
            "attribute_exists(#PK) AND (#state IN (:prior0, :prior1))"
        );
    }

    #[test]
    fn account_keys_are_bounded_and_distinct() {
        let a = account_sk(idv_model::Currency::Eur, "Main wallet");
        let b = account_sk(idv_model::Currency::Usd, "Main wallet");
        let c = account_sk(idv_model::Currency::Eur, &"x".repeat(10_000));
        assert_ne!(a, b);
        assert!(c.len() < 80);
    }
}
