//! This module turns what Ralio's REST API reports about a session (its list, checks and state
//! history) into an event the lifecycle applies like a webhook's, for the sweep and
//! `idv-admin reconcile`.

use chrono::{DateTime, Utc};

use super::{AttributedEvent, Change};
use crate::lifecycle::Phase;
use crate::records::FailureReason;
use crate::{EventId, Owner, SessionId};

/// The event type recorded for a state learned from Ralio's list rather than from a webhook.
pub const RECONCILED: &str = "reconciled_from_ralio";

impl AttributedEvent {
    /// Returns a state Ralio's list reports for a session as an event, which the lifecycle
    /// applies like a webhook. Its id is derived from the session and the state, so that
    /// reconciling twice changes nothing. It is `None` for NOT_STARTED, because a listed
    /// session is stored in that state already. The list carries no failure reasons (Ralio's
    /// checks endpoint holds them).
    pub fn reconciled(
        owner: Owner,
        session_id: SessionId,
        state: crate::SessionState,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let target = Phase::reported(state);
        if target == Phase::NotStarted {
            return None;
        }
        let name = format!("ralio-idv/reconcile/{session_id}/{}", state.name());
        Some(Self {
            event_id: EventId::from_uuid(uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                name.as_bytes(),
            )),
            event_type: RECONCILED.into(),
            occurred_at: now,
            stamped_at: None,
            owner,
            change: Change::Session {
                session_id,
                target,
                failure_reasons: Vec::new(),
                hosted_url: None,
                expires_at: None,
                expiry_buckets: Vec::new(),
            },
        })
    }
}

impl AttributedEvent {
    /// Adds what Ralio's checks and state history say about a reconciled state: the reasons a
    /// rejection gives, and when the state was reached (`None` keeps the time of reconciling). A
    /// time after reconciling is Ralio's clock running ahead, so it is not taken.
    pub fn with_evidence(
        mut self,
        reasons: Vec<FailureReason>,
        reached_at: Option<DateTime<Utc>>,
    ) -> Self {
        if let Change::Session {
            failure_reasons, ..
        } = &mut self.change
        {
            *failure_reasons = reasons;
        }
        if let Some(at) = reached_at.filter(|at| *at <= self.occurred_at) {
            self.occurred_at = at;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::{SessionState, Uid};

    #[test]
    fn a_reconciled_state_takes_ralio_s_time_unless_it_is_in_the_future() {
        let now = DateTime::UNIX_EPOCH + Duration::days(400);
        let owner = Owner::User(Uid::from_uuid(uuid::Uuid::nil()));
        let session = SessionId::from_uuid(uuid::Uuid::from_u128(7));
        let event =
            || AttributedEvent::reconciled(owner, session, SessionState::Verified, now).unwrap();
        let earlier = now - Duration::hours(2);
        assert_eq!(
            event().with_evidence(Vec::new(), Some(earlier)).occurred_at,
            earlier
        );
        assert_eq!(event().with_evidence(Vec::new(), None).occurred_at, now);
        let ahead = now + Duration::minutes(3);
        assert_eq!(
            event().with_evidence(Vec::new(), Some(ahead)).occurred_at,
            now
        );
    }
}
