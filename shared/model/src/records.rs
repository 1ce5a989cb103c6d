//! What the service knows about a user and their sessions, independent of how it is stored.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{LevelStamp, Move, Phase, event_order_key};
use crate::{EventId, KycLevel, Owner, SessionId, Uid};

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
    /// Ralio's `createdAt`, or when the service first heard of the session.
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

    /// A session first heard of through a webhook: only its id and phase are known.
    pub fn first_reported(
        owner: Owner,
        session_id: SessionId,
        phase: Phase,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            owner,
            session_id,
            phase,
            hosted_url: None,
            created_at: now,
            expires_at: None,
            failure_reasons: Vec::new(),
            expiring_soon: false,
            updated_at: now,
        }
    }

    /// Moves the session to `target` if the lifecycle allows it. Failure reasons are
    /// replaced only when the move applies.
    pub fn apply(
        &mut self,
        target: Phase,
        failure_reasons: &[FailureReason],
        now: DateTime<Utc>,
    ) -> Move {
        let decision = target.decide_from(Some(self.phase));
        if decision == Move::Apply {
            self.phase = target;
            self.failure_reasons = failure_reasons.to_vec();
            self.updated_at = now;
        }
        decision
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

/// Ralio's warning that the identity document behind a KYC record expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverifyNotice {
    pub expiration_date: NaiveDate,
    pub days_remaining: i64,
    pub at: DateTime<Utc>,
    pub event_id: EventId,
}

impl ReverifyNotice {
    /// Warnings are ordered like levels: the newest (timestamp, then event id) wins.
    pub fn decide_over(&self, stored: Option<&ReverifyNotice>) -> Move {
        match stored {
            None => Move::Apply,
            Some(old) if old.event_id == self.event_id => Move::Unchanged,
            Some(old)
                if event_order_key(self.at, self.event_id)
                    > event_order_key(old.at, old.event_id) =>
            {
                Move::Apply
            }
            Some(_) => Move::Stale,
        }
    }
}

/// A user's KYC standing. A user we never heard of is simply LIGHT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub uid: Uid,
    pub kyc: Option<LevelStamp>,
    pub kyc_id: Option<i64>,
    pub reverify: Option<ReverifyNotice>,
}

impl UserProfile {
    pub fn unknown(uid: Uid) -> Self {
        Self {
            uid,
            kyc: None,
            kyc_id: None,
            reverify: None,
        }
    }

    pub fn kyc_level(&self) -> KycLevel {
        self.kyc
            .as_ref()
            .map_or(KycLevel::Light, |stamp| stamp.level.clone())
    }

    pub fn apply_level(&mut self, stamp: LevelStamp, kyc_id: Option<i64>) -> Move {
        let decision = stamp.decide_over(self.kyc.as_ref());
        if decision == Move::Apply {
            self.kyc = Some(stamp);
            self.kyc_id = kyc_id.or(self.kyc_id);
        }
        decision
    }

    pub fn apply_reverify(&mut self, notice: ReverifyNotice) -> Move {
        let decision = notice.decide_over(self.reverify.as_ref());
        if decision == Move::Apply {
            self.reverify = Some(notice);
        }
        decision
    }

    /// A document-expiry warning that no newer level change has answered yet.
    pub fn pending_reverify(&self) -> Option<&ReverifyNotice> {
        let notice = self.reverify.as_ref()?;
        match &self.kyc {
            Some(level)
                if event_order_key(level.at, level.event_id)
                    > event_order_key(notice.at, notice.event_id) =>
            {
                None
            }
            _ => Some(notice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_newer_level_answers_a_reverify_warning() {
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let mut profile = UserProfile::unknown(uid);
        let regular = LevelStamp {
            level: KycLevel::Regular,
            at: at("2026-05-04T14:05:11Z"),
            event_id: EventId::parse("997b6324-03d5-417e-aea4-4523f2c41b94").unwrap(),
        };
        assert_eq!(profile.apply_level(regular, Some(40817)), Move::Apply);
        let warning = ReverifyNotice {
            expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            days_remaining: 14,
            at: at("2026-05-18T03:00:00Z"),
            event_id: EventId::parse("db0e8a75-832f-467a-b981-24587b57d005").unwrap(),
        };
        assert_eq!(profile.apply_reverify(warning.clone()), Move::Apply);
        assert_eq!(profile.pending_reverify(), Some(&warning));
        assert_eq!(profile.apply_reverify(warning), Move::Unchanged);

        let renewed = LevelStamp {
            level: KycLevel::Regular,
            at: at("2026-05-20T10:00:00Z"),
            event_id: EventId::parse("11111111-1111-4111-8111-111111111111").unwrap(),
        };
        assert_eq!(profile.apply_level(renewed, None), Move::Apply);
        assert_eq!(profile.pending_reverify(), None);
        assert_eq!(profile.kyc_id, Some(40817));
    }

    #[test]
    fn lapsed_open_session_is_not_active() {
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let record = SessionRecord::created(
            Owner::User(uid),
            SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap(),
            HostedUrl::new("https://x"),
            at("2026-05-04T09:12:03Z"),
            at("2026-05-11T09:12:03Z"),
        );
        assert!(record.is_active(at("2026-05-11T09:12:02Z")));
        assert!(!record.is_active(at("2026-05-11T09:12:03Z")));
        assert!(record.has_lapsed(at("2026-05-11T09:12:03Z")));
    }
}
