//! What the service knows about a user and their sessions, independent of how it is stored.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::expiry::{BucketKind, ExpiryBucket};
use crate::lifecycle::{EventStamp, LevelStamp, Phase};
use crate::{KycLevel, Owner, SessionId, SessionState, Uid};

/// Ralio's documented session lifetime, for sessions it reports without `expiresAt`.
pub const SESSION_LIFETIME: Duration = Duration::days(7);

/// The page the end user opens. It carries an access token, so it is never printed by
/// `Debug` and has no `Display`: reach for [`HostedUrl::expose`] only where it is sent out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostedUrl(String);

impl HostedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HostedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostedUrl(<redacted>)")
    }
}

/// Why a check refused the user, as Ralio reported it. Codes are opaque strings: their style
/// differs between payload generations and no catalogue is published.
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
    /// Ralio's `createdAt`, or for a session first heard of from a webhook, that event's time.
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reasons: Vec<FailureReason>,
    pub expiring_soon: bool,
    pub updated_at: DateTime<Utc>,
}

impl SessionRecord {
    /// A session that was just created at Ralio.
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

    /// A session as Ralio's REST API describes it (its create answer or its list), with the
    /// documented defaults for what the answer leaves out: created now, expiring
    /// [`SESSION_LIFETIME`] later. Only a state that still waits for the user is taken from
    /// the answer; outcomes reach the record through the lifecycle, as events.
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

    /// The hosted page can still be used: open and not past its expiry.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.phase.is_open() && self.expires_at.is_none_or(|at| now < at)
    }

    /// Open, but Ralio's 7-day window has closed without an outcome.
    pub fn has_lapsed(&self, now: DateTime<Utc>) -> bool {
        matches!(self.phase, Phase::Expired(_))
            || (self.phase.is_open() && self.expires_at.is_some_and(|at| now >= at))
    }

    /// Newest first: by creation time, ties by session id.
    pub fn newest_first(a: &SessionRecord, b: &SessionRecord) -> std::cmp::Ordering {
        (b.created_at, b.session_id).cmp(&(a.created_at, a.session_id))
    }
}

/// What is recorded about one session, field by field. A webhook can be the first news of a
/// session, before its page or expiry is known, so any field may be missing: this is the
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
    /// The expiry buckets the session is indexed under.
    pub warn_bucket: Option<ExpiryBucket>,
    pub expire_bucket: Option<ExpiryBucket>,
}

/// A stored session that lacks what every session has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session {session_id} has no {missing}")]
pub struct IncompleteSession {
    pub session_id: SessionId,
    pub missing: &'static str,
}

impl SessionFields {
    /// The fields of a whole record, indexed under `buckets`.
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
        }
    }

    /// The bucket of `kind` the session is indexed under.
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
/// ordered like levels: the newest [`EventStamp`] wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverifyNotice {
    pub expiration_date: NaiveDate,
    pub days_remaining: i64,
    pub stamp: EventStamp,
}

/// One owner's KYC record: its level, Ralio's KYC id and the newest document-expiry warning.
/// Users and related parties each have one; an owner never heard of has an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KycRecord {
    pub level: Option<LevelStamp>,
    pub kyc_id: Option<i64>,
    pub reverify: Option<ReverifyNotice>,
}

impl KycRecord {
    /// An owner with no level event yet is LIGHT.
    pub fn kyc_level(&self) -> KycLevel {
        self.level
            .as_ref()
            .map_or(KycLevel::Light, |stamp| stamp.level.clone())
    }

    /// A document-expiry warning that no newer level change has answered yet.
    pub fn pending_reverify(&self) -> Option<&ReverifyNotice> {
        let notice = self.reverify.as_ref()?;
        match &self.level {
            Some(level) if level.stamp > notice.stamp => None,
            _ => Some(notice),
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
mod tests {
    use super::*;
    use crate::EventId;

    #[test]
    fn hosted_url_is_redacted_in_debug() {
        let url = HostedUrl::new("https://verify.example/session/secret-token");
        assert_eq!(format!("{url:?}"), "HostedUrl(<redacted>)");
        assert!(!format!("{:?}", Some(url.clone())).contains("secret-token"));
        assert_eq!(url.expose(), "https://verify.example/session/secret-token");
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn stamp(at_: &str, id: &str) -> EventStamp {
        EventStamp {
            at: at(at_),
            event_id: EventId::parse(id).unwrap(),
        }
    }

    fn uid() -> Uid {
        Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()
    }

    fn session_id() -> SessionId {
        SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap()
    }

    #[test]
    fn a_newer_level_answers_a_reverify_warning() {
        let mut kyc = KycRecord {
            level: Some(LevelStamp {
                level: KycLevel::Regular,
                stamp: stamp(
                    "2026-05-04T14:05:11Z",
                    "997b6324-03d5-417e-aea4-4523f2c41b94",
                ),
            }),
            kyc_id: Some(40817),
            reverify: None,
        };
        let warning = ReverifyNotice {
            expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            days_remaining: 14,
            stamp: stamp(
                "2026-05-18T03:00:00Z",
                "db0e8a75-832f-467a-b981-24587b57d005",
            ),
        };
        kyc.reverify = Some(warning.clone());
        assert_eq!(kyc.pending_reverify(), Some(&warning));
        kyc.level = Some(LevelStamp {
            level: KycLevel::Regular,
            stamp: stamp(
                "2026-05-20T10:00:00Z",
                "11111111-1111-4111-8111-111111111111",
            ),
        });
        assert_eq!(kyc.pending_reverify(), None);
    }

    #[test]
    fn lapsed_open_session_is_not_active() {
        let record = SessionRecord::created(
            Owner::User(uid()),
            session_id(),
            HostedUrl::new("https://x"),
            at("2026-05-04T09:12:03Z"),
            at("2026-05-11T09:12:03Z"),
        );
        assert!(record.is_active(at("2026-05-11T09:12:02Z")));
        assert!(!record.is_active(at("2026-05-11T09:12:03Z")));
        assert!(record.has_lapsed(at("2026-05-11T09:12:03Z")));
    }

    #[test]
    fn an_announced_session_gets_the_documented_defaults_and_only_open_states() {
        let now = at("2026-05-04T09:12:03Z");
        let announce = |created, expires, state| {
            SessionRecord::announced(
                Owner::User(uid()),
                session_id(),
                HostedUrl::new("https://x"),
                created,
                expires,
                state,
                now,
            )
        };
        let bare = announce(None, None, None);
        assert_eq!(bare.created_at, now);
        assert_eq!(bare.expires_at, Some(now + SESSION_LIFETIME));
        assert_eq!(bare.phase, Phase::NotStarted);
        let earlier = at("2026-05-01T00:00:00Z");
        assert_eq!(
            announce(Some(earlier), None, None).expires_at,
            Some(earlier + SESSION_LIFETIME)
        );
        let started = announce(None, None, Some(SessionState::Started));
        assert_eq!(started.phase, Phase::Started);
        let verified = announce(None, None, Some(SessionState::Verified));
        assert_eq!(verified.phase, Phase::NotStarted, "outcomes come as events");
    }

    #[test]
    fn fields_of_a_record_read_back_as_that_record() {
        let record = SessionRecord::created(
            Owner::User(uid()),
            session_id(),
            HostedUrl::new("https://x"),
            at("2026-05-04T09:12:03Z"),
            at("2026-05-11T09:12:03Z"),
        );
        let fields = SessionFields::of(&record, &[]);
        assert_eq!(fields.record(record.owner, record.session_id), Ok(record));
        let err = SessionFields::default()
            .record(Owner::User(uid()), session_id())
            .unwrap_err();
        assert_eq!(err.missing, "creation time");
    }
}
