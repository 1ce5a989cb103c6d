//! This module holds what the service knows about a user and their sessions, independent of how
//! it is stored.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::expiry::{BucketKind, ExpiryBucket};
use crate::lifecycle::{EventStamp, LevelStamp, Phase};
use crate::sweep::{GIVE_UP_AFTER_EXPIRY, GIVE_UP_AFTER_VERIFIED, SweepGroup, SweepMark};
use crate::{KycLevel, Owner, SessionId, SessionState, Uid};

/// Ralio's documented session lifetime, for sessions it reports without `expiresAt`.
pub const SESSION_LIFETIME: Duration = Duration::days(7);

/// The page the end user opens. It carries an access token, so it is never printed by
/// `Debug` and has no `Display`. Call [`HostedUrl::expose`] only where it is sent out.
// The newtype stays because records holding a link are compared and stored, and secrecy's
// string has no equality and, by design, no `Serialize`. The link is stored as the plain string
// it always was.
#[derive(Clone, Debug)]
pub struct HostedUrl(SecretString);

impl HostedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for HostedUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for HostedUrl {}

impl Serialize for HostedUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for HostedUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Says why a check refused the user, as Ralio reported it. Codes are opaque strings, because
/// their style differs between payload generations and no catalogue is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReason {
    pub check: String,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One IDV session as the service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub owner: Owner,
    pub session_id: SessionId,
    pub phase: Phase,
    pub hosted_url: Option<HostedUrl>,
    /// It is Ralio's `createdAt` or, for a session first heard of from a webhook, that event's
    /// time.
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reasons: Vec<FailureReason>,
    pub expiring_soon: bool,
    pub updated_at: DateTime<Utc>,
}

impl SessionRecord {
    /// Returns a session that was just created at Ralio.
    pub fn created(
        owner: Owner,
        session_id: SessionId,
        hosted_url: HostedUrl,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            owner,
            session_id,
            phase: Phase::NotStarted,
            hosted_url: Some(hosted_url),
            created_at,
            expires_at: Some(expires_at),
            failure_reasons: Vec::new(),
            expiring_soon: false,
            updated_at: created_at,
        }
    }

    /// Returns a session as Ralio's REST API describes it (its create answer or its list), with
    /// the documented defaults for what the answer leaves out: created now, and expiring
    /// [`SESSION_LIFETIME`] later. Only a state that still waits for the user is taken from
    /// the answer, because outcomes reach the record through the lifecycle, as events.
    pub fn announced(
        owner: Owner,
        session_id: SessionId,
        hosted_url: HostedUrl,
        created_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        reported: Option<SessionState>,
        now: DateTime<Utc>,
    ) -> Self {
        let created_at = created_at.unwrap_or(now);
        let expires_at = expires_at.unwrap_or(created_at + SESSION_LIFETIME);
        let mut record = Self::created(owner, session_id, hosted_url, created_at, expires_at);
        if let Some(state) = reported.filter(|s| s.is_open()) {
            record.phase = Phase::reported(state);
        }
        record
    }

    /// Returns when the sweep stops looking at this session: a week after its verification while
    /// its level is awaited, otherwise a week after its expiry (or after [`SESSION_LIFETIME`]
    /// when Ralio gave none).
    pub fn sweep_gives_up_at(&self) -> DateTime<Utc> {
        match SweepGroup::of(self.phase) {
            Some(SweepGroup::AwaitingLevel) => self.updated_at + GIVE_UP_AFTER_VERIFIED,
            _ => {
                self.expires_at
                    .unwrap_or(self.created_at + SESSION_LIFETIME)
                    + GIVE_UP_AFTER_EXPIRY
            }
        }
    }

    /// Returns whether the hosted page can still be used, which is when the session is open and
    /// not past its expiry.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.phase.is_open() && self.expires_at.is_none_or(|at| now < at)
    }

    /// Returns whether the session has run out: it is expired, or it is still open after
    /// Ralio's 7-day window closed without an outcome.
    pub fn has_lapsed(&self, now: DateTime<Utc>) -> bool {
        matches!(self.phase, Phase::Expired(_))
            || (self.phase.is_open() && self.expires_at.is_some_and(|at| now >= at))
    }

    /// Orders sessions newest first, by creation time, with ties broken by session id.
    pub fn newest_first(a: &SessionRecord, b: &SessionRecord) -> std::cmp::Ordering {
        (b.created_at, b.session_id).cmp(&(a.created_at, a.session_id))
    }
}

/// Holds what is recorded about one session, field by field. A webhook can be the first news of
/// a session, before its page or expiry is known, so any field may be missing. This is the
/// shape both stores keep, and [`SessionFields::record`] reads it as a [`SessionRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFields {
    pub phase: Option<Phase>,
    pub failure_reasons: Option<Vec<FailureReason>>,
    pub hosted_url: Option<HostedUrl>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expiring_soon: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
    /// These are the expiry buckets the session is indexed under.
    pub warn_bucket: Option<ExpiryBucket>,
    pub expire_bucket: Option<ExpiryBucket>,
    /// This is the sweep's mark while something about the session may still be missing.
    pub sweep: Option<SweepMark>,
}

/// Says that a stored session lacks what every session has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session {session_id} has no {missing}")]
pub struct IncompleteSession {
    pub session_id: SessionId,
    pub missing: &'static str,
}

impl SessionFields {
    /// Returns the fields of a whole record, indexed under `buckets`.
    pub fn of(record: &SessionRecord, buckets: &[ExpiryBucket]) -> Self {
        let bucket = |kind| buckets.iter().find(|b| b.kind == kind).copied();
        Self {
            phase: Some(record.phase),
            failure_reasons: Some(record.failure_reasons.clone()),
            hosted_url: record.hosted_url.clone(),
            created_at: Some(record.created_at),
            expires_at: record.expires_at,
            expiring_soon: Some(record.expiring_soon),
            updated_at: Some(record.updated_at),
            warn_bucket: bucket(BucketKind::Warn),
            expire_bucket: bucket(BucketKind::Expire),
            sweep: SweepMark::after_change(record.phase, record.updated_at),
        }
    }

    /// Returns the bucket of `kind` the session is indexed under.
    pub fn bucket(&self, kind: BucketKind) -> Option<ExpiryBucket> {
        match kind {
            BucketKind::Warn => self.warn_bucket,
            BucketKind::Expire => self.expire_bucket,
        }
    }

    pub fn record(
        &self,
        owner: Owner,
        session_id: SessionId,
    ) -> Result<SessionRecord, IncompleteSession> {
        let missing = |missing| IncompleteSession {
            session_id,
            missing,
        };
        let created_at = self.created_at.ok_or_else(|| missing("creation time"))?;
        Ok(SessionRecord {
            owner,
            session_id,
            phase: self.phase.ok_or_else(|| missing("state"))?,
            hosted_url: self.hosted_url.clone(),
            created_at,
            expires_at: self.expires_at,
            failure_reasons: self.failure_reasons.clone().unwrap_or_default(),
            expiring_soon: self.expiring_soon.unwrap_or(false),
            updated_at: self.updated_at.unwrap_or(created_at),
        })
    }
}

/// Ralio's warning that the identity document behind a KYC record expires soon. Warnings are
/// ordered like levels, so the newest [`EventStamp`] wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverifyNotice {
    pub expiration_date: NaiveDate,
    pub days_remaining: i64,
    pub stamp: EventStamp,
}

/// One owner's KYC record: its level, Ralio's KYC id and the newest document-expiry warning.
/// Users and related parties each have one, and an owner never heard of has an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KycRecord {
    pub level: Option<LevelStamp>,
    pub kyc_id: Option<i64>,
    pub reverify: Option<ReverifyNotice>,
}

impl KycRecord {
    /// Returns the owner's level. An owner with no level event yet is LIGHT.
    pub fn kyc_level(&self) -> KycLevel {
        self.level
            .as_ref()
            .map_or(KycLevel::Light, |stamp| stamp.level.clone())
    }

    /// Returns a document-expiry warning that no newer level change has answered yet.
    pub fn pending_reverify(&self) -> Option<&ReverifyNotice> {
        let notice = self.reverify.as_ref()?;
        match &self.level {
            Some(level) if level.stamp > notice.stamp => None,
            _ => Some(notice),
        }
    }
}

/// Records that a user was erased: when, and until when the pseudonymous compliance record is kept
/// ([`crate::erasure`]). It is the tombstone, and the same erasure asked for again answers with
/// the same stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    pub erased_at: DateTime<Utc>,
    pub retained_until: DateTime<Utc>,
}

impl Erasure {
    /// Returns the erasure that a request at `now` begins, keeping the record for `retention`.
    pub fn begin(now: DateTime<Utc>, retention: chrono::Duration) -> Self {
        Self {
            erased_at: now,
            retained_until: now + retention,
        }
    }
}

/// A user's KYC standing, as the decisions read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub uid: Uid,
    pub kyc: KycRecord,
}

impl UserProfile {
    pub fn unknown(uid: Uid) -> Self {
        Self {
            uid,
            kyc: KycRecord::default(),
        }
    }

    pub fn kyc_level(&self) -> KycLevel {
        self.kyc.kyc_level()
    }

    pub fn pending_reverify(&self) -> Option<&ReverifyNotice> {
        self.kyc.pending_reverify()
    }
}

#[cfg(test)]
mod tests;
