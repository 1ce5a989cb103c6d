//! This item records who Ralio's `kycId` belongs to: one item per (kycId, owner) that an event
//! paired, written with that event's marker. Events that name only the `kycId` are attributed by a
//! Query of its partition, and two owners under one `kycId` make it contested, never guessed.

use idv_model::Owner;
use serde::{Deserialize, Serialize};

use super::Key;
use crate::store::dynamo::schema;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KycOwnerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    /// This is the owner's partition key (`USER#…`, `RP#…`).
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// DynamoDB may delete the pairing after these epoch seconds (`COMPLIANCE_RETENTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl KycOwnerItem {
    pub fn new(kyc_id: i64, owner: Owner) -> Self {
        let key = Key::kyc_owner(kyc_id, owner);
        Self {
            pk: key.pk,
            sk: key.sk,
            entity: schema::entity::KYC_OWNER.to_owned(),
            ttl: None,
        }
    }

    pub fn owner(&self) -> Option<Owner> {
        schema::parse_owner_pk(&self.sk)
    }
}
