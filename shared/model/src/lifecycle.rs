//! This module holds the rules of a session's lifecycle and of a user's KYC level, as pure
//! functions.
//!
//! Stores turn these into conditions (DynamoDB) or checks under a lock (memory). Both ask the
//! same questions here, so that the rules live in one place.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventId, KycLevel, SessionState};

/// Says how the service learned that a session expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpirySource {
    /// Ralio sent `kyc_session_expired`, which is final.
    Ralio,
    /// The expiry watcher found no outcome after `expiresAt` plus a grace period, so any later
    /// real outcome from Ralio replaces it.
    Inferred,
}

impl ExpirySource {
    /// Returns the stable name that stores and answers use (`ralio`, `inferred`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExpirySource::Ralio => "ralio",
            ExpirySource::Inferred => "inferred",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [ExpirySource::Ralio, ExpirySource::Inferred]
            .into_iter()
            .find(|source| source.as_str() == value)
    }
}

/// A session's place in its lifecycle: Ralio's state and, for EXPIRED, who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    NotStarted,
    Started,
    Verified,
    Review,
    Rejected,
    Expired(ExpirySource),
}

/// The verdict on a change against what is stored, which says whether it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The change is allowed and takes effect.
    Apply,
    /// The session is already there, so nothing changes.
    Unchanged,
    /// The change is not allowed from the current phase (late or out-of-order), so it is
    /// recorded but never applied.
    Stale,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::NotStarted,
        Phase::Started,
        Phase::Verified,
        Phase::Review,
        Phase::Rejected,
        Phase::Expired(ExpirySource::Ralio),
        Phase::Expired(ExpirySource::Inferred),
    ];

    /// These are the phases in which a session waits for the user, and the only ones the
    /// expiry watcher flags or expires.
    pub const OPEN: [Phase; 2] = [Phase::NotStarted, Phase::Started];

    pub fn state(self) -> SessionState {
        match self {
            Phase::NotStarted => SessionState::NotStarted,
            Phase::Started => SessionState::Started,
            Phase::Verified => SessionState::Verified,
            Phase::Review => SessionState::Review,
            Phase::Rejected => SessionState::Rejected,
            Phase::Expired(_) => SessionState::Expired,
        }
    }

    /// Returns the phase a state reported by Ralio (webhook or REST) stands for.
    pub fn reported(state: SessionState) -> Phase {
        Self::from_state(state, ExpirySource::Ralio)
    }

    /// Returns the phase a stored state stands for. An expiry whose source was not recorded is
    /// read as Ralio's, which is final, because that is the cautious reading (an inferred one
    /// could be overturned).
    pub fn stored(state: SessionState, expiry: Option<ExpirySource>) -> Phase {
        Self::from_state(state, expiry.unwrap_or(ExpirySource::Ralio))
    }

    pub fn from_state(state: SessionState, expiry: ExpirySource) -> Phase {
        match state {
            SessionState::NotStarted => Phase::NotStarted,
            SessionState::Started => Phase::Started,
            SessionState::Verified => Phase::Verified,
            SessionState::Review => Phase::Review,
            SessionState::Rejected => Phase::Rejected,
            SessionState::Expired => Phase::Expired(expiry),
        }
    }

    pub fn expiry_source(self) -> Option<ExpirySource> {
        match self {
            Phase::Expired(source) => Some(source),
            _ => None,
        }
    }

    /// Returns whether the phase is final, which nothing Ralio says afterwards can change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Verified | Phase::Rejected | Phase::Expired(ExpirySource::Ralio)
        )
    }

    /// Returns whether the session is waiting for the user, so that it may be flagged as
    /// expiring or marked expired.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// Returns the phases a session may be in for a move to `self` to apply. The DynamoDB
    /// condition is built from this list; whether a missing record allows it is
    /// [`Phase::allowed_when_absent`] (every phase but an inferred expiry).
    pub fn allowed_priors(self) -> &'static [Phase] {
        use ExpirySource::{Inferred, Ralio};
        const INFERRED: Phase = Phase::Expired(Inferred);
        match self {
            Phase::NotStarted => &[],
            Phase::Started => &[Phase::NotStarted],
            Phase::Review => &[Phase::NotStarted, Phase::Started, INFERRED],
            Phase::Verified | Phase::Rejected => {
                &[Phase::NotStarted, Phase::Started, Phase::Review, INFERRED]
            }
            Phase::Expired(Ralio) => &[Phase::NotStarted, Phase::Started, INFERRED],
            Phase::Expired(Inferred) => &[Phase::NotStarted, Phase::Started],
        }
    }

    /// Returns whether a move to this phase may create a missing record. A webhook may be the
    /// first we hear of a session (it can overtake our own create response), so a report from
    /// Ralio creates the record. An inferred expiry needs a session we stored ourselves.
    pub fn allowed_when_absent(self) -> bool {
        self != Phase::Expired(ExpirySource::Inferred)
    }

    /// Decides whether a session in this phase, `already_flagged` or not, gets the
    /// expiring-soon flag. Only sessions still waiting for the user get it, and only once.
    pub fn flag_verdict(self, already_flagged: bool) -> Verdict {
        match (self.is_open(), already_flagged) {
            (true, false) => Verdict::Apply,
            (true, true) => Verdict::Unchanged,
            (false, _) => Verdict::Stale,
        }
    }

    /// Decides a move from `current` (`None` when there is no record yet) to `self`.
    pub fn verdict_from(self, current: Option<Phase>) -> Verdict {
        match current {
            Some(now) if now == self => Verdict::Unchanged,
            Some(now) if self.allowed_priors().contains(&now) => Verdict::Apply,
            Some(_) => Verdict::Stale,
            None if self.allowed_when_absent() => Verdict::Apply,
            None => Verdict::Stale,
        }
    }
}

/// Says where an event sits in Ralio's timeline. It orders by timestamp, with ties broken by
/// event id, so that any delivery order of the same events converges on the newest. Levels and
/// document-expiry warnings are both ordered this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventStamp {
    pub at: DateTime<Utc>,
    pub event_id: EventId,
}

impl EventStamp {
    /// Decides whether a value stamped `self` replaces one stamped `stored`.
    pub fn verdict_over(self, stored: Option<EventStamp>) -> Verdict {
        match stored {
            None => Verdict::Apply,
            Some(old) if old.event_id == self.event_id => Verdict::Unchanged,
            Some(old) if self > old => Verdict::Apply,
            Some(_) => Verdict::Stale,
        }
    }
}

/// A KYC level as of one `kyc_state_updated` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelStamp {
    pub level: KycLevel,
    pub stamp: EventStamp,
}

/// Returns a fixed-width UTC timestamp (nanoseconds, `Z`) whose string order is its time order,
/// so that stores can compare timestamps in conditions and sort keys.
pub fn sortable_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExpirySource::{Inferred, Ralio};

    #[test]
    fn review_is_not_final_and_resolves_either_way() {
        assert!(!Phase::Review.is_final());
        assert_eq!(
            Phase::Verified.verdict_from(Some(Phase::Review)),
            Verdict::Apply
        );
        assert_eq!(
            Phase::Rejected.verdict_from(Some(Phase::Review)),
            Verdict::Apply
        );
    }

    #[test]
    fn final_phases_never_move() {
        for final_phase in [Phase::Verified, Phase::Rejected, Phase::Expired(Ralio)] {
            assert!(final_phase.is_final());
            for target in Phase::ALL {
                let expected = if target == final_phase {
                    Verdict::Unchanged
                } else {
                    Verdict::Stale
                };
                assert_eq!(
                    target.verdict_from(Some(final_phase)),
                    expected,
                    "{final_phase:?} -> {target:?}"
                );
            }
        }
    }

    #[test]
    fn inferred_expiry_yields_to_any_real_outcome() {
        let inferred = Some(Phase::Expired(Inferred));
        for outcome in [
            Phase::Verified,
            Phase::Review,
            Phase::Rejected,
            Phase::Expired(Ralio),
        ] {
            assert_eq!(
                outcome.verdict_from(inferred),
                Verdict::Apply,
                "{outcome:?}"
            );
        }
        assert_eq!(Phase::Started.verdict_from(inferred), Verdict::Stale);
        assert!(!Phase::Expired(Inferred).is_final());
    }

    #[test]
    fn inferred_expiry_only_touches_open_sessions() {
        let target = Phase::Expired(Inferred);
        assert_eq!(target.verdict_from(Some(Phase::NotStarted)), Verdict::Apply);
        assert_eq!(target.verdict_from(Some(Phase::Started)), Verdict::Apply);
        assert_eq!(target.verdict_from(Some(Phase::Review)), Verdict::Stale);
        assert_eq!(target.verdict_from(None), Verdict::Stale);
    }

    #[test]
    fn review_after_a_final_outcome_is_stale() {
        assert_eq!(
            Phase::Review.verdict_from(Some(Phase::Verified)),
            Verdict::Stale
        );
        assert_eq!(
            Phase::Review.verdict_from(Some(Phase::Rejected)),
            Verdict::Stale
        );
        assert_eq!(
            Phase::Started.verdict_from(Some(Phase::Review)),
            Verdict::Stale
        );
        assert_eq!(
            Phase::NotStarted.verdict_from(Some(Phase::Started)),
            Verdict::Stale
        );
    }

    #[test]
    fn only_open_sessions_are_flagged_and_only_once() {
        assert_eq!(Phase::NotStarted.flag_verdict(false), Verdict::Apply);
        assert_eq!(Phase::Started.flag_verdict(true), Verdict::Unchanged);
        for closed in [
            Phase::Review,
            Phase::Verified,
            Phase::Rejected,
            Phase::Expired(Inferred),
        ] {
            assert_eq!(closed.flag_verdict(false), Verdict::Stale, "{closed:?}");
        }
    }

    #[test]
    fn a_repeat_changes_nothing() {
        for phase in Phase::ALL {
            assert_eq!(phase.verdict_from(Some(phase)), Verdict::Unchanged);
        }
    }

    #[test]
    fn priors_never_include_the_target_itself() {
        for phase in Phase::ALL {
            assert!(!phase.allowed_priors().contains(&phase), "{phase:?}");
        }
    }

    fn stamp(at: &str, id: &str) -> EventStamp {
        EventStamp {
            at: DateTime::parse_from_rfc3339(at).unwrap().to_utc(),
            event_id: EventId::parse(id).unwrap(),
        }
    }

    #[test]
    fn older_stamps_never_overwrite_newer_ones() {
        let earlier = stamp(
            "2026-05-04T14:05:11.940Z",
            "997b6324-03d5-417e-aea4-4523f2c41b94",
        );
        let later = stamp(
            "2026-06-01T00:05:43.209Z",
            "4f0a7af4-3c00-41c5-9b4b-330ad6015789",
        );
        assert_eq!(later.verdict_over(Some(earlier)), Verdict::Apply);
        assert_eq!(earlier.verdict_over(Some(later)), Verdict::Stale);
        assert_eq!(earlier.verdict_over(Some(earlier)), Verdict::Unchanged);
        assert_eq!(earlier.verdict_over(None), Verdict::Apply);
    }

    #[test]
    fn equal_timestamps_are_ordered_by_event_id() {
        let low = stamp(
            "2026-05-04T14:05:11Z",
            "00000000-0000-4000-8000-000000000001",
        );
        let high = stamp(
            "2026-05-04T14:05:11Z",
            "00000000-0000-4000-8000-000000000002",
        );
        assert_eq!(high.verdict_over(Some(low)), Verdict::Apply);
        assert_eq!(low.verdict_over(Some(high)), Verdict::Stale);
    }

    #[test]
    fn expiry_source_names_round_trip_and_match_serde() {
        for source in [Ralio, Inferred] {
            assert_eq!(ExpirySource::parse(source.as_str()), Some(source));
            assert_eq!(serde_json::to_value(source).unwrap(), source.as_str());
        }
        assert_eq!(ExpirySource::parse("none"), None);
    }

    #[test]
    fn open_phases_are_exactly_those_waiting_for_the_user() {
        for phase in Phase::ALL {
            assert_eq!(phase.is_open(), phase.state().is_open(), "{phase:?}");
        }
    }

    #[test]
    fn sortable_timestamps_sort_like_time() {
        let a = DateTime::parse_from_rfc3339("2026-05-04T14:05:11.9Z")
            .unwrap()
            .to_utc();
        let b = DateTime::parse_from_rfc3339("2026-05-04T14:05:11.10+00:00")
            .unwrap()
            .to_utc();
        let c = DateTime::parse_from_rfc3339("2026-05-04T10:05:12-04:00")
            .unwrap()
            .to_utc();
        let (sa, sb, sc) = (
            sortable_timestamp(a),
            sortable_timestamp(b),
            sortable_timestamp(c),
        );
        assert_eq!(sa, "2026-05-04T14:05:11.900000000Z");
        assert!(sb < sa && sa < sc);
    }
}
