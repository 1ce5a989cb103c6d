//! What an event asks the store to change, and what became of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::expiry::{ExpiryBucket, ExpirySchedule};
use crate::lifecycle::{LevelStamp, Phase};
use crate::records::{FailureReason, HostedUrl, ReverifyNotice};
use crate::webhook::{EventBody, WebhookEvent};
use crate::{EventId, Owner, SessionId};

/// A change to one owner's records, ready for a store to apply atomically with the event's
/// de-duplication marker and audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Session {
        session_id: SessionId,
        target: Phase,
        failure_reasons: Vec<FailureReason>,
        /// Known only for sessions Ralio announces with their page (related parties).
        hosted_url: Option<HostedUrl>,
        expires_at: Option<DateTime<Utc>>,
        /// The expiry buckets to index the session under, when its expiry is known and the
        /// caller schedules expiry (see [`EventApplication::schedule_expiry`]).
        expiry_buckets: Vec<ExpiryBucket>,
    },
    Level {
        stamp: LevelStamp,
        kyc_id: Option<i64>,
    },
    Reverify(ReverifyNotice),
}

/// One webhook event, attributed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventApplication {
    pub event_id: EventId,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub owner: Owner,
    pub change: Change,
}

/// What applying an event did. Serialised into the webhook answer and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// The change took effect.
    Applied,
    /// This event id was seen before: nothing done again.
    Duplicate,
    /// Older than, or not allowed after, what is stored: recorded, not applied.
    Stale,
    /// The records already say this: recorded, nothing changed.
    Unchanged,
}

impl ApplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Applied => "applied",
            ApplyOutcome::Duplicate => "duplicate",
            ApplyOutcome::Stale => "stale",
            ApplyOutcome::Unchanged => "unchanged",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            ApplyOutcome::Applied,
            ApplyOutcome::Duplicate,
            ApplyOutcome::Stale,
            ApplyOutcome::Unchanged,
        ]
        .into_iter()
        .find(|o| o.as_str() == value)
    }
}

impl EventApplication {
    /// For a session whose expiry the event tells (a related party's new session), the
    /// buckets to index it under, so the expiry watcher flags and expires it like any other.
    /// Returns them, empty when there is nothing to schedule.
    pub fn schedule_expiry(&mut self, schedule: &ExpirySchedule) -> Vec<ExpiryBucket> {
        match &mut self.change {
            Change::Session {
                expires_at: Some(at),
                expiry_buckets,
                ..
            } => {
                *expiry_buckets = vec![schedule.warn_bucket(*at), schedule.expire_bucket(*at)];
                expiry_buckets.clone()
            }
            _ => Vec::new(),
        }
    }
}

impl WebhookEvent {
    /// The owner the event names itself, if any.
    pub fn named_owner(&self) -> Option<Owner> {
        match &self.body {
            EventBody::Session(s) => s.subject.owner(),
            EventBody::KycStateUpdated(k) => Some(k.owner),
            EventBody::ExpirationWarning(w) => Some(w.owner),
            EventBody::RelatedPartySessionCreated(r) => {
                Some(Owner::RelatedParty(r.related_party_id))
            }
            EventBody::Unknown { .. } => None,
        }
    }

    /// The session a session event is about: used to find the owner when the event does not
    /// name one.
    pub fn session_id(&self) -> Option<SessionId> {
        match &self.body {
            EventBody::Session(s) => Some(s.session_id),
            EventBody::RelatedPartySessionCreated(r) => Some(r.session_id),
            _ => None,
        }
    }

    /// The change this event asks for, attributed to `owner`. `None` for events this service
    /// does not act on.
    pub fn application(&self, owner: Owner) -> Option<EventApplication> {
        let change = match &self.body {
            EventBody::Session(s) => Change::Session {
                session_id: s.session_id,
                target: s.outcome.target(),
                failure_reasons: s.outcome.failure_reasons().to_vec(),
                hosted_url: None,
                expires_at: None,
                expiry_buckets: Vec::new(),
            },
            EventBody::RelatedPartySessionCreated(r) => Change::Session {
                session_id: r.session_id,
                target: Phase::NotStarted,
                failure_reasons: Vec::new(),
                hosted_url: r.hosted_url.clone(),
                expires_at: r.expires_at,
                expiry_buckets: Vec::new(),
            },
            EventBody::KycStateUpdated(k) => Change::Level {
                stamp: LevelStamp {
                    level: k.level.clone(),
                    at: self.occurred_at,
                    event_id: self.id,
                },
                kyc_id: k.kyc_id,
            },
            EventBody::ExpirationWarning(w) => Change::Reverify(ReverifyNotice {
                expiration_date: w.expiration_date,
                days_remaining: w.days_remaining,
                at: self.occurred_at,
                event_id: self.id,
            }),
            EventBody::Unknown { .. } => return None,
        };
        Some(EventApplication {
            event_id: self.id,
            event_type: self.event_type.clone(),
            occurred_at: self.occurred_at,
            owner,
            change,
        })
    }
}
