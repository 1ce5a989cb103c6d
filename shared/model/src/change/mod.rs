//! This module says what an event asks the store to change, and what became of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::expiry::{ExpiryBucket, ExpirySchedule};
use crate::lifecycle::{EventStamp, LevelStamp, Phase, Verdict};
use crate::records::{FailureReason, HostedUrl, ReverifyNotice};
use crate::webhook::QuarantineReason;
use crate::webhook::{EventBody, ExpirationWarningEvent, KycStateEvent, WebhookEvent};
use crate::{EntityType, EventId, Owner, SessionId};

/// A change to one owner's records, ready for a store to apply atomically with the event's
/// de-duplication marker and audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Session {
        session_id: SessionId,
        target: Phase,
        failure_reasons: Vec<FailureReason>,
        /// It is known only for sessions Ralio announces with their page (related parties).
        hosted_url: Option<HostedUrl>,
        expires_at: Option<DateTime<Utc>>,
        /// These are the expiry buckets to index the session under, when its expiry is known
        /// and the caller schedules expiry (see [`AttributedEvent::schedule_expiry`]).
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
pub struct AttributedEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// It is the event's own timestamp, when that was not believed (see
    /// [`WebhookEvent::received`]).
    pub stamped_at: Option<DateTime<Utc>>,
    pub owner: Owner,
    pub change: Change,
}

/// Says what applying an event did. It is serialised into the webhook answer and the audit
/// trail.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventOutcome {
    /// The change took effect.
    Applied,
    /// This event id was seen before, so nothing was done again.
    Duplicate,
    /// The event is older than, or not allowed after, what is stored, so it was recorded but
    /// not applied.
    Stale,
    /// The records already say this, so the event was recorded and nothing changed.
    Unchanged,
    /// It is kept until what it is about is recorded, then applied (an account activation that
    /// arrives before its account).
    Deferred,
    /// The owner was erased, so nothing about the event was kept but a count.
    Erased,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<Verdict> for EventOutcome {
    fn from(decision: Verdict) -> Self {
        match decision {
            Verdict::Apply => EventOutcome::Applied,
            Verdict::Unchanged => EventOutcome::Unchanged,
            Verdict::Stale => EventOutcome::Stale,
        }
    }
}

impl Change {
    /// Returns the session a change is about, if any.
    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Change::Session { session_id, .. } => Some(*session_id),
            Change::Level { .. } | Change::Reverify(_) => None,
        }
    }
}

impl AttributedEvent {
    /// Sets the buckets to index a session under when the event tells its expiry (a related
    /// party's new session), so that the expiry watcher flags and expires it like any other.
    /// Returns them, empty when there is nothing to schedule.
    pub fn schedule_expiry(&mut self, schedule: &ExpirySchedule) -> Vec<ExpiryBucket> {
        match &mut self.change {
            Change::Session {
                expires_at: Some(at),
                expiry_buckets,
                ..
            } => {
                *expiry_buckets = schedule.buckets(*at).to_vec();
                expiry_buckets.clone()
            }
            _ => Vec::new(),
        }
    }

    /// Returns the `kycId` this event pairs with its owner. It is recorded with the change when
    /// it applies, so that later events that name only that `kycId` are attributed (see
    /// [`Attribution::ByKycId`]).
    pub fn kyc_pairing(&self) -> Option<i64> {
        match &self.change {
            Change::Level { kyc_id, .. } => *kyc_id,
            _ => None,
        }
    }
}

/// Says who an event is about, as far as the event itself tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// The event names its owner.
    Named(Owner),
    /// A session event names no owner, so the stored session tells, and it must belong to
    /// this kind of entity.
    BySession {
        session_id: SessionId,
        entity: EntityType,
    },
    /// A KYC event names no owner, only Ralio's `kycId`, so the owner an earlier event paired
    /// with that id tells (second-generation events require `kycId`, not `userId`).
    ByKycId(i64),
    /// Nothing in the event says whose it is.
    Unattributable,
}

/// Says why an event could not be attributed, with a stable code and a reason for the
/// quarantine record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unattributed {
    pub code: QuarantineReason,
    pub reason: &'static str,
}

/// How long after an event (or its first receipt, whichever is later) an event that cannot
/// be attributed yet is answered 503, so that Ralio sends it again (`ATTRIBUTION_RETRY_WINDOW`,
/// default 1 h). It exists because a session event may arrive before the session it is about is
/// stored.
pub const ATTRIBUTION_RETRY_WINDOW: chrono::Duration = chrono::Duration::hours(1);

impl Unattributed {
    /// Returns whether the owner may still become known, as for a session not stored yet or an
    /// owner not named. A session of the wrong kind of entity stays wrong.
    pub fn may_resolve(&self) -> bool {
        self.code.may_resolve()
    }

    /// Returns how much longer Ralio should be asked to send the event again, measured from the
    /// later of its timestamp and its first receipt. It is `None` when the event should be
    /// quarantined now.
    pub fn retry_left(
        &self,
        occurred_at: DateTime<Utc>,
        first_receipt: DateTime<Utc>,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Option<chrono::Duration> {
        let since = occurred_at.max(first_receipt);
        let left = since + window - now;
        (self.may_resolve() && left > chrono::Duration::zero()).then_some(left)
    }
}

impl Attribution {
    /// Returns the stored session to look up before [`Attribution::owner`] can answer.
    pub fn session_to_look_up(&self) -> Option<SessionId> {
        match self {
            Attribution::BySession { session_id, .. } => Some(*session_id),
            _ => None,
        }
    }

    /// Returns the `kycId` whose paired owners to look up before [`Attribution::owner`] can
    /// answer.
    pub fn kyc_id_to_look_up(&self) -> Option<i64> {
        match self {
            Attribution::ByKycId(kyc_id) => Some(*kyc_id),
            _ => None,
        }
    }

    /// Returns the owner, given the owners looked up (those the looked-up session is stored
    /// for, or the looked-up `kycId` was paired with). An event whose owner cannot be
    /// established is kept rather than guessed at, and so is one whose session or `kycId` more
    /// than one owner's events have named.
    pub fn owner(self, looked_up: &[Owner]) -> Result<Owner, Unattributed> {
        match (self, looked_up) {
            (Attribution::Named(owner), _) => Ok(owner),
            (Attribution::BySession { entity, .. }, [owner]) if owner.entity_type() == entity => {
                Ok(*owner)
            }
            (Attribution::BySession { .. }, [_]) => Err(Unattributed {
                code: QuarantineReason::OwnerMismatch,
                reason: "the session belongs to another kind of entity",
            }),
            (Attribution::BySession { .. }, [_, _, ..]) => Err(Unattributed {
                code: QuarantineReason::ContestedSession,
                reason: "the session is stored for more than one owner",
            }),
            (Attribution::BySession { .. }, []) => Err(Unattributed {
                code: QuarantineReason::UnknownSession,
                reason: "no stored session has this id and the event names no owner",
            }),
            (Attribution::ByKycId(_), [owner]) => Ok(*owner),
            (Attribution::ByKycId(_), []) => Err(Unattributed {
                code: QuarantineReason::UnknownKycId,
                reason: "no earlier event paired this kycId with an owner, and the event names none",
            }),
            (Attribution::ByKycId(_), [_, _, ..]) => Err(Unattributed {
                code: QuarantineReason::ContestedKycId,
                reason: "earlier events paired this kycId with more than one owner",
            }),
            (Attribution::Unattributable, _) => Err(Unattributed {
                code: QuarantineReason::UnknownOwner,
                reason: "the event names no owner",
            }),
        }
    }
}

impl WebhookEvent {
    /// Returns whose records this event changes, or how to find out.
    pub fn attribution(&self) -> Attribution {
        match &self.body {
            EventBody::Session(s) => match s.subject.owner() {
                Some(owner) => Attribution::Named(owner),
                None => Attribution::BySession {
                    session_id: s.session_id,
                    entity: s.subject.entity_type(),
                },
            },
            EventBody::KycStateUpdated(KycStateEvent { owner, kyc_id, .. })
            | EventBody::ExpirationWarning(ExpirationWarningEvent { owner, kyc_id, .. }) => {
                match (owner, kyc_id) {
                    (Some(owner), _) => Attribution::Named(*owner),
                    (None, Some(kyc_id)) => Attribution::ByKycId(*kyc_id),
                    (None, None) => Attribution::Unattributable,
                }
            }
            EventBody::RelatedPartySessionCreated(r) => {
                Attribution::Named(Owner::RelatedParty(r.related_party_id))
            }
            EventBody::AccountActivated { .. } | EventBody::Unknown { .. } => {
                Attribution::Unattributable
            }
        }
    }

    /// Returns the change this event asks for, attributed to `owner`. It is `None` for events
    /// this service does not act on.
    pub fn attributed(&self, owner: Owner) -> Option<AttributedEvent> {
        Some(AttributedEvent {
            event_id: self.id,
            event_type: self.event_type.clone(),
            occurred_at: self.occurred_at,
            stamped_at: self.stamped_at,
            owner,
            change: self.change()?,
        })
    }

    /// Returns the change this event asks for, whoever it turns out to be about. It is `None`
    /// for events this service does not act on.
    pub fn change(&self) -> Option<Change> {
        Some(match &self.body {
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
                    stamp: self.stamp(),
                },
                kyc_id: k.kyc_id,
            },
            EventBody::ExpirationWarning(w) => Change::Reverify(ReverifyNotice {
                expiration_date: w.expiration_date,
                days_remaining: w.days_remaining,
                stamp: self.stamp(),
            }),
            EventBody::AccountActivated { .. } | EventBody::Unknown { .. } => return None,
        })
    }
}

impl WebhookEvent {
    /// Returns an `account_activated` event as the store applies it.
    pub fn activation(&self) -> Option<crate::activation::Activation> {
        match &self.body {
            EventBody::AccountActivated { account_id } => Some(crate::activation::Activation {
                event_id: self.id,
                event_type: self.event_type.clone(),
                stamp: self.stamp(),
                account_id: account_id.clone(),
            }),
            _ => None,
        }
    }

    /// Returns the event's place in Ralio's timeline.
    pub fn stamp(&self) -> EventStamp {
        EventStamp {
            at: self.occurred_at,
            event_id: self.id,
        }
    }
}

mod reconciled;
pub use reconciled::RECONCILED;

#[cfg(test)]
mod tests;
