//! This module holds a user's accounts, whose each Ralio account is, and the activations kept until
//! their account is recorded.

use chrono::NaiveDate;
use idv_model::{
    AccountId, AccountIdentity, AccountRecord, AccountStatus, Activation, Currency, EventId,
    EventStamp, Owner, RalioAccount, ReservationToken, Uid, WaitingActivation,
};
use serde::{Deserialize, Serialize};

use super::{Identity, Key, Ts};
use crate::store::dynamo::schema::{self, entity};
use crate::store::{StoreError, StoreResult};

/// A user's account is a reservation until Ralio has created it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub owner_type: String,
    pub owner_id: Uid,
    /// The alias is the merchant's free text, removed when the user is erased.
    #[serde(default)]
    pub alias: String,
    pub currency: Currency,
    /// The status is `pending`, `uncertain`, `failed` or `created`.
    pub account_status: String,
    /// This is the reservation's holder, while the account is pending or uncertain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_token: Option<uuid::Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_since: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ralio_account: Option<RalioAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// DynamoDB may delete the account after these epoch seconds (`COMPLIANCE_RETENTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl From<&AccountRecord> for AccountItem {
    fn from(record: &AccountRecord) -> Self {
        let key = Key::account(record.uid, &record.alias, record.currency);
        let identity = Identity::new(entity::ACCOUNT, Owner::User(record.uid));
        let mut item = Self {
            pk: key.pk,
            sk: key.sk,
            entity: identity.entity.to_owned(),
            owner_type: identity.owner_type.to_owned(),
            owner_id: record.uid,
            alias: record.alias.clone(),
            currency: record.currency,
            account_status: String::new(),
            reservation_token: None,
            lease_until: None,
            uncertain_since: None,
            ralio_account: None,
            activated_at: None,
            created_at: Ts(record.created_at),
            updated_at: Ts(record.updated_at),
            ttl: None,
        };
        let status = match &record.status {
            AccountStatus::Pending { token, lease_until } => {
                item.reservation_token = Some(token.0);
                item.lease_until = Some(Ts(*lease_until));
                schema::ACCOUNT_PENDING
            }
            AccountStatus::Uncertain { token, since } => {
                item.reservation_token = Some(token.0);
                item.uncertain_since = Some(Ts(*since));
                schema::ACCOUNT_UNCERTAIN
            }
            AccountStatus::Failed => schema::ACCOUNT_FAILED,
            AccountStatus::Created {
                account,
                activated_at,
            } => {
                item.ralio_account = Some(account.clone());
                item.activated_at = activated_at.map(Ts);
                schema::ACCOUNT_CREATED
            }
        };
        item.account_status = status.to_owned();
        item
    }
}

impl AccountItem {
    pub fn record(self) -> StoreResult<AccountRecord> {
        let token = self.reservation_token.map(ReservationToken);
        let status = match (self.account_status.as_str(), token) {
            (schema::ACCOUNT_CREATED, _) => {
                let mut account = self.ralio_account.ok_or_else(|| {
                    StoreError::Corrupt("created account without ralioAccount".into())
                })?;
                // An activation writes only `activatedAt`, so what it means is read here.
                if self.activated_at.is_some() {
                    account.state = idv_model::accounts::ACTIVE.to_owned();
                }
                AccountStatus::Created {
                    account,
                    activated_at: self.activated_at.map(|t| t.0),
                }
            }
            (schema::ACCOUNT_PENDING, Some(token)) => AccountStatus::Pending {
                token,
                lease_until: self
                    .lease_until
                    .ok_or_else(|| {
                        StoreError::Corrupt("pending account without leaseUntil".into())
                    })?
                    .0,
            },
            (schema::ACCOUNT_UNCERTAIN, Some(token)) => AccountStatus::Uncertain {
                token,
                since: self
                    .uncertain_since
                    .ok_or_else(|| StoreError::Corrupt("uncertain account without a time".into()))?
                    .0,
            },
            (schema::ACCOUNT_FAILED, _) => AccountStatus::Failed,
            (other, _) => {
                return Err(StoreError::Corrupt(format!("account status {other:?}")));
            }
        };
        Ok(AccountRecord {
            uid: self.owner_id,
            alias: self.alias,
            currency: self.currency,
            status,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

/// This item says whose a Ralio account is. It is written with the created account and read by an
/// activation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountOwnerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub owner_id: Uid,
    /// The alias is the merchant's free text, removed when the user is erased.
    #[serde(default)]
    pub alias: String,
    pub currency: Currency,
    /// It is set when the owner was erased, so an activation of the account is only counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<Ts>,
    /// DynamoDB may delete the item after these epoch seconds (`COMPLIANCE_RETENTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl AccountOwnerItem {
    pub fn new(id: &AccountId, record: &AccountRecord) -> Self {
        let key = Key::account_owner(id);
        Self {
            pk: key.pk,
            sk: key.sk,
            entity: entity::ACCOUNT_OWNER.to_owned(),
            owner_id: record.uid,
            alias: record.alias.clone(),
            currency: record.currency,
            erased_at: None,
            ttl: None,
        }
    }
}

/// An activation is kept until its account is recorded, under its account id (which account writes
/// check and absorb) or, as a copy, under the day it was received (which a lookup reads, so that it
/// reads only the window its request could have caused).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub account_id: AccountId,
    pub event_id: EventId,
    pub event_type: String,
    pub at: Ts,
    pub stamp_event_id: EventId,
    /// It is absent on activations kept before lookups read them by window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The item under the account id holds the sort key of each copy filed by day (a repeated
    /// announcement received at another time makes another), and all are deleted when it is
    /// absorbed.
    #[serde(
        with = "serde_dynamo::string_set",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub copies: Vec<String>,
}

impl ActivationItem {
    /// Returns the item under its account id.
    pub fn by_account(waiting: &WaitingActivation) -> Self {
        Self::at_key(Key::activation(&waiting.activation.account_id), waiting)
    }

    /// Returns the copy under the day it was received.
    pub fn by_day(waiting: &WaitingActivation) -> Self {
        Self::at_key(Key::received_activation(waiting), waiting)
    }

    fn at_key(key: Key, waiting: &WaitingActivation) -> Self {
        let activation = &waiting.activation;
        Self {
            pk: key.pk,
            sk: key.sk,
            entity: entity::ACTIVATION.to_owned(),
            account_id: activation.account_id.clone(),
            event_id: activation.event_id,
            event_type: activation.event_type.clone(),
            at: Ts(activation.stamp.at),
            stamp_event_id: activation.stamp.event_id,
            received: Some(Ts(waiting.received)),
            seen_as: waiting.seen_as.as_ref().map(|s| s.as_str().to_owned()),
            ttl: Some(waiting.expires_at().timestamp()),
            copies: Vec::new(),
        }
    }

    /// Returns whether the activation is past its TTL, whether or not DynamoDB has removed it yet.
    /// One kept before activations expired has no TTL and never expires.
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.ttl.is_some_and(|ttl| ttl <= now.timestamp())
    }

    /// Returns the keys of its copies by day (none for one kept before copies existed).
    pub fn copy_keys(&self) -> Vec<Key> {
        self.copies
            .iter()
            .filter_map(|sk| {
                Some(Key::new(
                    schema::activations_received_pk(day_of(sk)?),
                    sk.clone(),
                ))
            })
            .collect()
    }
}

/// Returns the day that a copy's sort key (`<sortable timestamp>#<account id>`) was filed under.
fn day_of(sk: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(sk.get(..10)?, "%Y-%m-%d").ok()
}

impl From<ActivationItem> for WaitingActivation {
    fn from(item: ActivationItem) -> Self {
        let at = item.at.0;
        Self {
            activation: Activation {
                event_id: item.event_id,
                event_type: item.event_type,
                stamp: EventStamp {
                    at,
                    event_id: item.stamp_event_id,
                },
                account_id: item.account_id,
            },
            received: item.received.map_or(at, |r| r.0),
            seen_as: item.seen_as.map(AccountIdentity::from_stored),
        }
    }
}
