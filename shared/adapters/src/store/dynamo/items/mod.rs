//! The items of the table are serde structs, used both ways: written with `serde_dynamo::to_item`
//! and read with `serde_dynamo::from_item`. Absent values are left out rather than written as NULL,
//! because conditions test whether attributes exist.
//!
//! `owner` holds what a user or related party has (sessions, profile), `account` holds accounts and
//! activations, `kyc_owner` says whose a `kycId` is, and `log` holds the audit trail, event
//! markers, ticks and quarantine.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use idv_model::lifecycle::sortable_timestamp;
use idv_model::webhook::parse_timestamp;
use idv_model::{Currency, ExpiryBucket, Owner, SessionId, Uid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::schema;
use crate::store::{StoreError, StoreResult};

mod account;
mod kyc_owner;
mod log;
mod owner;
#[cfg(test)]
mod tests;

pub use account::{AccountItem, AccountOwnerItem, ActivationItem};
pub use kyc_owner::KycOwnerItem;
pub use log::{AuditItem, MarkerItem, QuarantineItem, TickItem};
pub use owner::{
    LeaseItem, ProfileItem, SessionItem, TombstoneItem, expiry_source_value, sweep_mark,
};

pub type Item = HashMap<String, AttributeValue>;

/// Encodes an item as DynamoDB takes it.
pub fn to_item(value: &impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected(describe::<_>(value, &e)))
}

/// Encodes one value as DynamoDB takes it (for conditions and keys).
pub fn to_value(value: &impl Serialize) -> StoreResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::Rejected(describe::<_>(value, &e)))
}

/// Decodes an item read back, and one that does not decode is corrupt.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt(decode_error::<T>(&e)))
}

/// Says what failed to encode, without the value, because serde's messages quote the offending
/// value, and a stored value may be a hosted page's link or a failure message about a person.
fn describe<T: ?Sized>(_: &T, error: &serde_dynamo::Error) -> String {
    format!(
        "{} does not encode ({})",
        short_type::<T>(),
        redacted(error)
    )
}

/// Says what failed to decode, as [`describe`] does.
fn decode_error<T>(error: &serde_dynamo::Error) -> String {
    format!(
        "{} does not decode ({})",
        short_type::<T>(),
        redacted(error)
    )
}

/// Keeps a serde message only when it names a field rather than quoting a value.
pub fn redacted(error: &impl std::fmt::Display) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        "a value of the wrong shape".to_owned()
    }
}

fn short_type<T: ?Sized>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

/// A timestamp is stored fixed-width (nanoseconds, `Z`), so that string order is time order and
/// conditions can compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts(pub DateTime<Utc>);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&sortable_timestamp(self.0))
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_timestamp(&raw)
            .map(Ts)
            .ok_or_else(|| serde::de::Error::custom("bad timestamp"))
    }
}

fn ts(at: Option<DateTime<Utc>>) -> Option<Ts> {
    at.map(Ts)
}

/// This is a table key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
}

impl Key {
    pub fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    pub fn item(&self) -> StoreResult<Item> {
        to_item(self)
    }

    pub fn session(owner: Owner, session_id: SessionId) -> Self {
        Self::new(schema::owner_pk(owner), schema::session_sk(session_id))
    }

    pub fn profile(owner: Owner) -> Self {
        Self::new(schema::owner_pk(owner), schema::PROFILE_SK)
    }

    pub fn account(uid: Uid, alias: &str, currency: Currency) -> Self {
        Self::new(schema::user_pk(uid), schema::account_sk(currency, alias))
    }

    /// Returns the key of a handled event's marker.
    pub fn event(event_id: idv_model::EventId) -> Self {
        Self::new(schema::event_pk(event_id), schema::EVENT_SK)
    }

    /// Returns the key of the item that records when an event was first received.
    pub fn receipt(event_id: idv_model::EventId) -> Self {
        Self::new(schema::event_pk(event_id), schema::RECEIPT_SK)
    }

    pub fn tick(bucket: &ExpiryBucket) -> Self {
        Self::new(schema::tick_pk(bucket), schema::TICK_SK)
    }

    pub fn account_owner(id: &idv_model::AccountId) -> Self {
        Self::new(schema::account_owner_pk(id), schema::ACCOUNT_OWNER_SK)
    }

    pub fn activation(id: &idv_model::AccountId) -> Self {
        Self::new(schema::ACTIVATIONS_PK.to_owned(), id.as_str())
    }

    /// Returns the key of the copy of a waiting activation filed under the day it was received.
    pub fn received_activation(waiting: &idv_model::WaitingActivation) -> Self {
        Self::new(
            schema::activations_received_pk(waiting.received.date_naive()),
            format!(
                "{}#{}",
                sortable_timestamp(waiting.received),
                waiting.activation.account_id.as_str()
            ),
        )
    }

    /// Returns the key of the item recording that an event paired Ralio's `kycId` with `owner`.
    pub fn kyc_owner(kyc_id: i64, owner: Owner) -> Self {
        Self::new(schema::kyc_id_pk(kyc_id), schema::owner_pk(owner))
    }
}

/// This says who an item belongs to, and it is written on every user or related-party item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub entity: &'static str,
    pub owner_type: &'static str,
    pub owner_id: String,
}

impl Identity {
    pub fn new(entity: &'static str, owner: Owner) -> Self {
        Self {
            entity,
            owner_type: schema::owner_type(owner),
            owner_id: schema::owner_id(owner),
        }
    }
}

/// This records where a bucket listing stopped: DynamoDB's last evaluated key on a bucket index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexPosition {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_bucket: Option<String>,
}
