//! This module holds what a user or related party has: sessions and the profile (KYC record and
//! creation lease). Accounts are in `account`.

use chrono::NaiveDate;
use idv_model::{
    Erasure, EventId, EventStamp, ExpiryBucket, ExpirySource, FailureReason, HostedUrl, KycLevel,
    KycRecord, LeaseHold, LeaseToken, LevelStamp, Phase, ReverifyNotice, SessionFields, SessionId,
    SessionState, SweepGroup, SweepMark,
};
use serde::{Deserialize, Serialize};

use super::{Ts, ts};
use crate::store::{StoreError, StoreResult};

/// These are a session's attributes. Every field is optional, because the same struct carries a
/// whole item, the fields a write sets, or the fields it fills in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SessionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u8>,
    /// The source is `ralio` or `inferred` for an expired session and `none` otherwise. It is
    /// always written with the state, so that a later state never inherits an old source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_url: Option<HostedUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reasons: Option<Vec<FailureReason>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_soon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_bucket: Option<String>,
    /// The sweep's mark is three attributes, because its group and time are an index's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_visits: Option<u32>,
}

/// A condition compares a stored phase's attributes with this value.
pub const NO_EXPIRY_SOURCE: &str = "none";

pub fn expiry_source_value(phase: Phase) -> &'static str {
    phase
        .expiry_source()
        .map_or(NO_EXPIRY_SOURCE, ExpirySource::as_str)
}

impl From<&SessionFields> for SessionItem {
    fn from(fields: &SessionFields) -> Self {
        Self {
            session_id: None,
            state: fields.phase.map(Phase::state),
            state_code: fields.phase.map(|p| p.state().code()),
            expiry_source: fields.phase.map(|p| expiry_source_value(p).to_owned()),
            hosted_url: fields.hosted_url.clone(),
            created_at: ts(fields.created_at),
            expires_at: ts(fields.expires_at),
            failure_reasons: fields.failure_reasons.clone(),
            expiring_soon: fields.expiring_soon,
            updated_at: ts(fields.updated_at),
            warn_bucket: fields.warn_bucket.map(|b| b.key()),
            expire_bucket: fields.expire_bucket.map(|b| b.key()),
            sweep: fields.sweep.map(|m| m.group.as_str().to_owned()),
            sweep_at: fields.sweep.map(|m| Ts(m.since)),
            sweep_visits: fields.sweep.map(|m| m.visits),
        }
    }
}

impl SessionItem {
    pub fn fields(self) -> StoreResult<SessionFields> {
        let bucket = |key: Option<String>| {
            key.map(|k| ExpiryBucket::parse_key(&k))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let source = self.expiry_source.as_deref().and_then(ExpirySource::parse);
        Ok(SessionFields {
            phase: self.state.map(|state| Phase::stored(state, source)),
            failure_reasons: self.failure_reasons,
            hosted_url: self.hosted_url,
            created_at: self.created_at.map(|t| t.0),
            expires_at: self.expires_at.map(|t| t.0),
            expiring_soon: self.expiring_soon,
            updated_at: self.updated_at.map(|t| t.0),
            warn_bucket: bucket(self.warn_bucket)?,
            expire_bucket: bucket(self.expire_bucket)?,
            sweep: sweep_mark(self.sweep.as_deref(), self.sweep_at, self.sweep_visits)?,
        })
    }
}

/// Reads a stored sweep mark. Its group is the index's hash key, so a mark without one is none.
pub fn sweep_mark(
    group: Option<&str>,
    at: Option<Ts>,
    visits: Option<u32>,
) -> StoreResult<Option<SweepMark>> {
    let Some(group) = group else {
        return Ok(None);
    };
    let group = SweepGroup::parse(group)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown sweep group {group}")))?;
    let since = at.ok_or_else(|| StoreError::Corrupt("a sweep mark has no time".into()))?;
    Ok(Some(SweepMark {
        group,
        since: since.0,
        visits: visits.unwrap_or(0),
    }))
}

/// An owner's profile item holds the KYC record and the session-creation lease.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyc_level: Option<KycLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyc_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyc_event_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyc_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverify_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverify_days_remaining: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverify_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverify_event_id: Option<EventId>,
}

/// An erased owner's tombstone is kept on the profile item ([`idv_model::erasure`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TombstoneItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_until: Option<Ts>,
    /// The count is only read, because it is written by `ADD`.
    #[serde(default, skip_serializing)]
    pub erased_deliveries: Option<u64>,
}

impl TombstoneItem {
    pub fn erasure(&self) -> Option<Erasure> {
        Some(Erasure {
            erased_at: self.erased_at?.0,
            retained_until: self.retained_until?.0,
        })
    }
}

impl From<&Erasure> for TombstoneItem {
    fn from(erasure: &Erasure) -> Self {
        Self {
            erased_at: Some(Ts(erasure.erased_at)),
            retained_until: Some(Ts(erasure.retained_until)),
            erased_deliveries: None,
        }
    }
}

/// The session-creation lease is kept on the profile item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_lease_until: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_lease_token: Option<uuid::Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_lease_since: Option<Ts>,
    /// The version is only read, because it is written by `ADD` and never set.
    #[serde(default, skip_serializing)]
    pub sessions_version: Option<u64>,
}

impl From<&KycRecord> for ProfileItem {
    fn from(kyc: &KycRecord) -> Self {
        let level = kyc.level.as_ref();
        let reverify = kyc.reverify.as_ref();
        Self {
            kyc_level: level.map(|l| l.level.clone()),
            kyc_at: level.map(|l| Ts(l.stamp.at)),
            kyc_event_id: level.map(|l| l.stamp.event_id),
            kyc_id: kyc.kyc_id,
            reverify_date: reverify.map(|n| n.expiration_date),
            reverify_days_remaining: reverify.map(|n| n.days_remaining),
            reverify_at: reverify.map(|n| Ts(n.stamp.at)),
            reverify_event_id: reverify.map(|n| n.stamp.event_id),
        }
    }
}

impl From<&LeaseHold> for LeaseItem {
    fn from(lease: &LeaseHold) -> Self {
        Self {
            creation_lease_until: Some(Ts(lease.until)),
            creation_lease_token: Some(lease.token.0),
            creation_lease_since: Some(Ts(lease.acquired_at)),
            sessions_version: None,
        }
    }
}

impl LeaseItem {
    pub fn lease(&self) -> Option<LeaseHold> {
        let until = self.creation_lease_until?.0;
        Some(LeaseHold {
            token: LeaseToken(self.creation_lease_token?),
            // A lease written before `since` was kept dates from a lease's length earlier.
            acquired_at: self.creation_lease_since.map_or(until, |t| t.0),
            until,
        })
    }

    pub fn sessions_version(&self) -> u64 {
        self.sessions_version.unwrap_or(0)
    }
}

impl ProfileItem {
    pub fn kyc(&self) -> KycRecord {
        let stamp = |at: Option<Ts>, event_id: Option<EventId>| {
            Some(EventStamp {
                at: at?.0,
                event_id: event_id?,
            })
        };
        KycRecord {
            level: self
                .kyc_level
                .clone()
                .zip(stamp(self.kyc_at, self.kyc_event_id))
                .map(|(level, stamp)| LevelStamp { level, stamp }),
            kyc_id: self.kyc_id,
            reverify: self
                .reverify_date
                .zip(stamp(self.reverify_at, self.reverify_event_id))
                .map(|(expiration_date, stamp)| ReverifyNotice {
                    expiration_date,
                    days_remaining: self.reverify_days_remaining.unwrap_or_default(),
                    stamp,
                }),
        }
    }
}
