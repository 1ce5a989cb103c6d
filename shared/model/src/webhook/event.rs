//! This module holds the event a webhook delivery becomes, which is what the rest of the model
//! reads, whatever the wire generation it came in.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::lifecycle::{ExpirySource, Phase};
use crate::records::{FailureReason, HostedUrl};
use crate::{EntityType, EventId, KycLevel, Owner, RelatedPartyId, SessionId, Uid};

/// A webhook delivery, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub id: EventId,
    /// It is the canonical event type (after alias resolution).
    pub event_type: String,
    /// It is when the event happened, as far as that is trusted (see
    /// [`WebhookEvent::received`]).
    pub occurred_at: DateTime<Utc>,
    /// It is the event's own timestamp, when that was too far ahead of its receipt to be
    /// trusted.
    pub stamped_at: Option<DateTime<Utc>>,
    pub body: EventBody,
}

/// How far ahead of its receipt an event's timestamp may be and still be believed
/// (`MAX_CLOCK_SKEW`, default 5 min).
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

impl WebhookEvent {
    /// Returns the event as received at `at`. A timestamp more than `max_skew` after its
    /// receipt cannot be right, so the event is ordered at its receipt instead. A far-future
    /// stamp can then never outrank the events that follow it, and the stamp is kept for the
    /// audit trail.
    pub fn received(mut self, at: DateTime<Utc>, max_skew: chrono::Duration) -> Self {
        if self.occurred_at > at + max_skew {
            self.stamped_at = Some(self.occurred_at);
            self.occurred_at = at;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Session(SessionEvent),
    KycStateUpdated(KycStateEvent),
    ExpirationWarning(ExpirationWarningEvent),
    RelatedPartySessionCreated(RelatedPartySessionCreated),
    /// Ralio's account is ready for use, and only its id is given.
    AccountActivated {
        account_id: crate::accounts::AccountId,
    },
    /// This service does not act on the event type, so the event is kept as received.
    Unknown {
        raw: Value,
    },
}

/// Says who a session event is about. Second-generation payloads make `userId` optional, so the
/// id may be missing and must then be found from the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(Option<Uid>),
    RelatedParty(Option<RelatedPartyId>),
}

impl Subject {
    /// Returns the owner, when the event names it.
    pub fn owner(self) -> Option<Owner> {
        match self {
            Subject::User(uid) => uid.map(Owner::User),
            Subject::RelatedParty(id) => id.map(Owner::RelatedParty),
        }
    }

    pub fn entity_type(self) -> EntityType {
        match self {
            Subject::User(_) => EntityType::User,
            Subject::RelatedParty(_) => EntityType::RelatedParty,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    Verified,
    ManualReview,
    Failed { reasons: Vec<FailureReason> },
    Expired,
}

impl SessionOutcome {
    pub fn target(&self) -> Phase {
        match self {
            SessionOutcome::Verified => Phase::Verified,
            SessionOutcome::ManualReview => Phase::Review,
            SessionOutcome::Failed { .. } => Phase::Rejected,
            SessionOutcome::Expired => Phase::Expired(ExpirySource::Ralio),
        }
    }

    pub fn failure_reasons(&self) -> &[FailureReason] {
        match self {
            SessionOutcome::Failed { reasons } => reasons,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub session_id: SessionId,
    pub subject: Subject,
    pub outcome: SessionOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycStateEvent {
    /// It is `None` when the event names no owner; the event is then attributed through its
    /// `kyc_id`, if it has one.
    pub owner: Option<Owner>,
    pub kyc_id: Option<i64>,
    pub level: KycLevel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirationWarningEvent {
    /// It is `None` when the event names no owner; the event is then attributed through its
    /// `kyc_id`, if it has one.
    pub owner: Option<Owner>,
    pub kyc_id: Option<i64>,
    pub expiration_date: NaiveDate,
    pub days_remaining: i64,
}

/// Says that Ralio opened a session for a related party. Only ids and dates are kept, because
/// the person's name, e-mail and address in the payload are not this service's to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedPartySessionCreated {
    pub related_party_id: RelatedPartyId,
    pub session_id: SessionId,
    pub hosted_url: Option<HostedUrl>,
    pub expires_at: Option<DateTime<Utc>>,
}
