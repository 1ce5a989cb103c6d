//! This module works out which time buckets a session's warning and expiry fall in.
//!
//! The queue carries one message per bucket, not per session, because SQS delays at most 15
//! minutes and hides a message at most 12 hours per receive, while sessions live 7 days.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketKind {
    /// The watcher flags still-open sessions as expiring soon.
    Warn,
    /// The watcher marks still-open sessions expired (inferred).
    Expire,
}

impl BucketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketKind::Warn => "warn",
            BucketKind::Expire => "expire",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "warn" => Some(BucketKind::Warn),
            "expire" => Some(BucketKind::Expire),
            _ => None,
        }
    }
}

/// One time bucket of one kind. Sessions whose warn (or expiry) time falls in
/// `[start, start + width)` are handled together when the bucket is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpiryBucket {
    pub kind: BucketKind,
    pub start: DateTime<Utc>,
    pub width_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed expiry bucket key")]
pub struct MalformedBucket;

impl ExpiryBucket {
    /// Returns the bucket of `kind` that contains `at`. Widths come from a validated
    /// [`ExpirySchedule`], so they are at least one second.
    fn containing(kind: BucketKind, at: DateTime<Utc>, width_secs: i64) -> Self {
        let start = at.timestamp().div_euclid(width_secs) * width_secs;
        Self {
            kind,
            start: Utc.timestamp_opt(start, 0).single().unwrap_or(at),
            width_secs,
        }
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.width_secs)
    }

    /// Returns when the bucket may be processed, which is once every time in it has passed.
    pub fn due_at(&self) -> DateTime<Utc> {
        self.end()
    }

    /// Returns a stable text key, such as `warn#1778490000#900`.
    pub fn key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.kind.as_str(),
            self.start.timestamp(),
            self.width_secs
        )
    }

    pub fn parse_key(key: &str) -> Result<Self, MalformedBucket> {
        let mut parts = key.split('#');
        let kind = parts
            .next()
            .and_then(BucketKind::parse)
            .ok_or(MalformedBucket)?;
        let start: i64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(MalformedBucket)?;
        let width_secs: i64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(MalformedBucket)?;
        if parts.next().is_some() || width_secs <= 0 || start % width_secs != 0 {
            return Err(MalformedBucket);
        }
        let start = Utc
            .timestamp_opt(start, 0)
            .single()
            .ok_or(MalformedBucket)?;
        Ok(Self {
            kind,
            start,
            width_secs,
        })
    }
}

impl fmt::Display for ExpiryBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Holds the durations of the expiry schedule. It is built only through
/// [`ExpirySchedule::new`], so that every schedule in use has a bucket of at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirySchedule {
    warning_lead: Duration,
    grace: Duration,
    bucket_secs: i64,
}

/// Says that a schedule cannot work, and names the duration at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchedule {
    #[error("the bucket width must be at least 1s")]
    Bucket,
    #[error("the warning lead must not be negative")]
    WarningLead,
    #[error("the grace period must not be negative")]
    Grace,
}

impl Default for ExpirySchedule {
    fn default() -> Self {
        Self {
            warning_lead: Duration::hours(24),
            grace: Duration::hours(1),
            bucket_secs: 15 * 60,
        }
    }
}

impl ExpirySchedule {
    /// `warning_lead` is how long before `expiresAt` a still-open session is flagged (default
    /// 24 h), `grace` is how long after `expiresAt` a silent session is marked expired (1 h),
    /// and `bucket` is the width of a time bucket, in whole seconds (15 min).
    pub fn new(
        warning_lead: Duration,
        grace: Duration,
        bucket: Duration,
    ) -> Result<Self, InvalidSchedule> {
        if bucket.num_seconds() < 1 {
            return Err(InvalidSchedule::Bucket);
        }
        if warning_lead < Duration::zero() {
            return Err(InvalidSchedule::WarningLead);
        }
        if grace < Duration::zero() {
            return Err(InvalidSchedule::Grace);
        }
        Ok(Self {
            warning_lead,
            grace,
            bucket_secs: bucket.num_seconds(),
        })
    }

    pub fn warning_lead(&self) -> Duration {
        self.warning_lead
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub fn bucket(&self) -> Duration {
        Duration::seconds(self.bucket_secs)
    }

    pub fn warn_bucket(&self, expires_at: DateTime<Utc>) -> ExpiryBucket {
        ExpiryBucket::containing(
            BucketKind::Warn,
            expires_at - self.warning_lead,
            self.bucket_secs,
        )
    }

    pub fn expire_bucket(&self, expires_at: DateTime<Utc>) -> ExpiryBucket {
        ExpiryBucket::containing(
            BucketKind::Expire,
            expires_at + self.grace,
            self.bucket_secs,
        )
    }

    /// Returns both buckets a session expiring at `expires_at` is indexed under: its warning,
    /// then its expiry.
    pub fn buckets(&self, expires_at: DateTime<Utc>) -> [ExpiryBucket; 2] {
        [self.warn_bucket(expires_at), self.expire_bucket(expires_at)]
    }
}

/// A bucket's tick item. It says when a session claimed it (to send the bucket's one queue
/// message), and whether that message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickState {
    pub claimed_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// How long a claimed tick may stay without its message before another session takes it
/// over. After that, its claimer is taken to have died between the claim and the send, or to
/// have failed to give the claim back.
pub const TICK_ORPHANED_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// What a session finds when it claims its bucket's tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickClaim {
    /// This session sends the message, because the bucket had no tick, or an orphaned one.
    Claimed,
    /// The message was sent.
    Sent,
    /// Another session claimed it under a minute ago and is sending it (or a later session
    /// takes it over once it is orphaned).
    Pending,
}

impl TickState {
    /// Returns what claiming a tick stored as `existing` at `now` comes to.
    pub fn claim(existing: Option<&TickState>, now: DateTime<Utc>) -> TickClaim {
        match existing {
            None => TickClaim::Claimed,
            Some(tick) if tick.sent_at.is_some() => TickClaim::Sent,
            Some(tick) if now - tick.claimed_at > TICK_ORPHANED_AFTER => TickClaim::Claimed,
            Some(_) => TickClaim::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn buckets_floor_to_their_width_and_round_trip() {
        let schedule = ExpirySchedule::default();
        let expires = at("2026-05-11T09:12:03.418Z");
        let warn = schedule.warn_bucket(expires);
        assert_eq!(warn.start, at("2026-05-10T09:00:00Z"));
        assert_eq!(warn.due_at(), at("2026-05-10T09:15:00Z"));
        let expire = schedule.expire_bucket(expires);
        assert_eq!(expire.start, at("2026-05-11T10:00:00Z"));
        for bucket in [warn, expire] {
            assert_eq!(ExpiryBucket::parse_key(&bucket.key()), Ok(bucket));
        }
    }

    #[test]
    fn sessions_in_the_same_window_share_a_bucket() {
        let schedule = ExpirySchedule::default();
        let a = schedule.warn_bucket(at("2026-05-11T09:00:00Z"));
        let b = schedule.warn_bucket(at("2026-05-11T09:14:59.999Z"));
        let c = schedule.warn_bucket(at("2026-05-11T09:15:00Z"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn schedules_refuse_what_cannot_work() {
        let hour = Duration::hours(1);
        assert_eq!(
            ExpirySchedule::new(hour, hour, Duration::milliseconds(999)),
            Err(InvalidSchedule::Bucket)
        );
        assert_eq!(
            ExpirySchedule::new(-hour, hour, hour),
            Err(InvalidSchedule::WarningLead)
        );
        assert_eq!(
            ExpirySchedule::new(hour, -hour, hour),
            Err(InvalidSchedule::Grace)
        );
        let schedule = ExpirySchedule::new(
            Duration::seconds(3),
            Duration::seconds(1),
            Duration::seconds(1),
        )
        .unwrap();
        let expires = at("2026-05-11T09:12:03.418Z");
        let [warn, expire] = schedule.buckets(expires);
        assert_eq!(warn, schedule.warn_bucket(expires));
        assert_eq!(expire.start, at("2026-05-11T09:12:04Z"));
        assert_eq!(expire.width_secs, 1);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "warn",
            "warn#x#900",
            "later#0#900",
            "warn#1#900",
            "warn#0#0",
            "warn#0#900#1",
        ] {
            assert_eq!(ExpiryBucket::parse_key(bad), Err(MalformedBucket), "{bad}");
        }
    }

    #[test]
    fn an_unsent_tick_is_taken_over_after_a_minute() {
        let now = DateTime::parse_from_rfc3339("2026-05-04T09:00:00Z")
            .unwrap()
            .to_utc();
        let claimed = TickState {
            claimed_at: now,
            sent_at: None,
        };
        assert_eq!(TickState::claim(None, now), TickClaim::Claimed);
        assert_eq!(
            TickState::claim(Some(&claimed), now + chrono::Duration::seconds(30)),
            TickClaim::Pending
        );
        assert_eq!(
            TickState::claim(Some(&claimed), now + chrono::Duration::seconds(61)),
            TickClaim::Claimed,
            "orphaned"
        );
        let sent = TickState {
            sent_at: Some(now),
            ..claimed
        };
        assert_eq!(
            TickState::claim(Some(&sent), now + chrono::Duration::days(1)),
            TickClaim::Sent
        );
    }
}
