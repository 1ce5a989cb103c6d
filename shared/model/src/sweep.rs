//! This module says which sessions the sweep looks at, and when. Ralio may fail to deliver a
//! webhook (its retry window is not specified, and a subscription can miss an event type), so
//! every session carries a mark while something about it may still be missing:
//!
//! - a session without a final outcome is in the [`SweepGroup::Open`] group, and the sweep asks
//!   Ralio about it `SWEEP_AFTER` after its last change;
//! - a VERIFIED session is in the [`SweepGroup::AwaitingLevel`] group until its user is REGULAR,
//!   because the level only ever arrives by webhook and no API can tell it.
//!
//! The mark is written with the change that puts a session in its group (in the same request),
//! and the stores index it, so the sweep reads only marked sessions and never scans.

use chrono::{DateTime, Duration, Utc};

use crate::lifecycle::Phase;

/// The sweep gives up on a session this long after it expired. Ralio has then had a week to say
/// how it ended, and a person can still run `idv-admin reconcile`.
pub const GIVE_UP_AFTER_EXPIRY: Duration = Duration::days(7);

/// The sweep stops counting a verified user's missing level this long after the verification. Its
/// `SweepGaveUp` alarm has then told a person, and the user's `level_overdue` alert stays.
pub const GIVE_UP_AFTER_VERIFIED: Duration = Duration::days(7);

/// A session is visited again at most this long after a visit that found nothing new, so an
/// outcome whose webhook was lost is found within this bound even late in a session's life.
pub const LONGEST_REVISIT: Duration = Duration::hours(6);

/// Says why the sweep looks at a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SweepGroup {
    /// Ralio has not reported a final outcome: its webhook may be lost.
    Open,
    /// The session is VERIFIED: the user's REGULAR level may be lost.
    AwaitingLevel,
}

impl SweepGroup {
    pub const ALL: [SweepGroup; 2] = [SweepGroup::Open, SweepGroup::AwaitingLevel];

    /// Returns the group a session in `phase` belongs to. An expiry the service inferred is still
    /// open, because a real outcome from Ralio overturns it.
    pub fn of(phase: Phase) -> Option<SweepGroup> {
        match phase {
            Phase::Verified => Some(SweepGroup::AwaitingLevel),
            phase if !phase.is_final() => Some(SweepGroup::Open),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SweepGroup::Open => "OPEN",
            SweepGroup::AwaitingLevel => "AWAITING_LEVEL",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// The sweep's mark on a session: its group, the time its wait counts from, and how many visits
/// found nothing new since its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SweepMark {
    pub group: SweepGroup,
    /// The session is due `wait` (`SWEEP_AFTER` or `LEVEL_WAIT`) after this time.
    pub since: DateTime<Utc>,
    pub visits: u32,
}

impl SweepMark {
    /// Returns the mark of a session that moved to `phase` at `at`, or `None` when the sweep has
    /// nothing to wait for.
    pub fn after_change(phase: Phase, at: DateTime<Utc>) -> Option<SweepMark> {
        SweepGroup::of(phase).map(|group| SweepMark {
            group,
            since: at,
            visits: 0,
        })
    }

    /// Returns whether the sweep should look at the session now.
    pub fn is_due(&self, wait: Duration, now: DateTime<Utc>) -> bool {
        self.since + wait <= now
    }

    /// Returns the mark after a visit at `now` whose call to Ralio failed: due again at once, so
    /// the next run asks again, with the visits unchanged (a fault is not an answer, so it does
    /// not lengthen the wait), or `None` once `gives_up_at` has passed.
    pub fn after_failure(
        &self,
        wait: Duration,
        gives_up_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<SweepMark> {
        (now < gives_up_at).then_some(SweepMark {
            since: now - wait,
            ..*self
        })
    }

    /// Returns the mark after a visit at `now` that found nothing new, or `None` once `gives_up_at`
    /// (see `SessionRecord::sweep_gives_up_at`) has passed.
    ///
    /// - An open session's wait doubles with each such visit, up to [`LONGEST_REVISIT`], so a
    ///   session nobody opens costs Ralio a few calls a day rather than one per run.
    /// - A verified session's level is looked at again after `wait` each time: that look reads
    ///   only the store, and each run then counts every overdue user, so its gauge does not
    ///   flicker.
    pub fn after_visit(
        &self,
        wait: Duration,
        gives_up_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<SweepMark> {
        if now >= gives_up_at {
            return None;
        }
        let visits = self.visits.saturating_add(1);
        let next_wait = match self.group {
            SweepGroup::Open => wait
                .checked_mul(1_i32 << visits.min(16))
                .unwrap_or(LONGEST_REVISIT)
                .min(LONGEST_REVISIT.max(wait)),
            SweepGroup::AwaitingLevel => wait,
        };
        // The session is due `wait` after `since`, so `since` is placed that much before the
        // next visit.
        Some(SweepMark {
            group: self.group,
            since: now + next_wait - wait,
            visits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::ExpirySource;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::hours(hours)
    }

    #[test]
    fn a_failed_visit_is_due_at_once_without_lengthening_the_wait() {
        let mark = SweepMark {
            group: SweepGroup::Open,
            since: at(0),
            visits: 3,
        };
        let wait = Duration::minutes(30);
        let next = mark.after_failure(wait, at(100), at(10)).unwrap();
        assert!(next.is_due(wait, at(10)));
        assert_eq!(next.visits, 3);
        assert_eq!(mark.after_failure(wait, at(10), at(10)), None);
    }

    #[test]
    fn groups_follow_what_may_still_be_missing() {
        assert_eq!(SweepGroup::of(Phase::NotStarted), Some(SweepGroup::Open));
        assert_eq!(SweepGroup::of(Phase::Review), Some(SweepGroup::Open));
        assert_eq!(
            SweepGroup::of(Phase::Expired(ExpirySource::Inferred)),
            Some(SweepGroup::Open)
        );
        assert_eq!(
            SweepGroup::of(Phase::Verified),
            Some(SweepGroup::AwaitingLevel)
        );
        assert_eq!(SweepGroup::of(Phase::Rejected), None);
        assert_eq!(SweepGroup::of(Phase::Expired(ExpirySource::Ralio)), None);
        for group in SweepGroup::ALL {
            assert_eq!(SweepGroup::parse(group.as_str()), Some(group));
        }
    }

    #[test]
    fn fruitless_visits_back_off_to_a_bound_and_end_after_expiry() {
        let wait = Duration::minutes(30);
        let mut mark = SweepMark::after_change(Phase::NotStarted, at(0)).unwrap();
        assert!(!mark.is_due(wait, at(0)));
        let mut now = mark.since + wait;
        assert!(mark.is_due(wait, now));
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = mark.after_visit(wait, at(168), now).unwrap();
            let due = next.since + wait;
            gaps.push((due - now).num_minutes());
            assert!(!next.is_due(wait, now));
            now = due;
            mark = next;
        }
        assert_eq!(gaps, [60, 120, 240, 360, 360, 360]);
        assert_eq!(mark.after_visit(wait, at(24), at(24)), None);
    }

    #[test]
    fn an_awaited_level_is_looked_at_every_wait_until_giving_up() {
        let wait = Duration::minutes(15);
        let mut mark = SweepMark::after_change(Phase::Verified, at(0)).unwrap();
        let gives_up_at = at(0) + GIVE_UP_AFTER_VERIFIED;
        let mut now = at(1);
        for visit in 1..=5 {
            mark = mark.after_visit(wait, gives_up_at, now).unwrap();
            assert_eq!(mark.visits, visit);
            assert!(!mark.is_due(wait, now + wait - Duration::seconds(1)));
            assert!(mark.is_due(wait, now + wait));
            now += wait;
        }
        assert_eq!(mark.after_visit(wait, gives_up_at, gives_up_at), None);
    }
}
