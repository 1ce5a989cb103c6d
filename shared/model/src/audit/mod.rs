//! The audit trail is append-only. It holds one entry for every event applied, refused or
//! repeated, every watcher action and every gate decision, each with a short note that is free
//! of personal data.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountRecord, AccountStatus, AccountWrite};
use crate::activation::Activation;
use crate::change::{AttributedEvent, Change, EventOutcome};
use crate::lifecycle::{EventStamp, ExpirySource, LevelStamp, Phase, Verdict};
use crate::records::{FailureReason, ReverifyNotice};
use crate::{Currency, EventId, KycLevel, SessionId, SessionState};

/// These are the actions the service records besides Ralio's own event types.
pub mod actions {
    pub const SESSION_FLAGGED_EXPIRING: &str = "session_flagged_expiring";
    pub const SESSION_EXPIRED_INFERRED: &str = "session_expired_inferred";
    pub const ACCOUNT_CREATED: &str = "account_created";
    pub const ACCOUNT_UNCERTAIN: &str = "account_creation_uncertain";
    pub const ACCOUNT_ACTIVATED: &str = "account_activated";
    pub const ACCOUNT_REFUSED: &str = "account_refused";
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// It says what happened: an event type (`kyc_session_verified`), a watcher action
    /// (`session_flagged_expiring`) or a gate decision (`account_refused`).
    pub action: String,
    /// It says what came of it: applied, duplicate, stale, refused, and so on.
    pub outcome: AuditOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// It is a short note free of personal data (for example `now VERIFIED`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// It records, as data, what an applied change was. It holds all its domain event needs
    /// and is written in the same request as the change (see [`crate::domain_events`]). It is
    /// `None` on refusals and repeats.
    #[serde(rename = "fact", default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedChange>,
}

/// Records an applied change as data. It is written with the change itself, so that a change is
/// published if and only if it happened, at no extra request. What a blind write cannot know
/// (the state before) is not here; the publisher reads it from the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum AppliedChange {
    /// A session moved to `state` (as Ralio said, or as the watcher inferred).
    SessionState {
        state: SessionState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expiry_source: Option<ExpirySource>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failure_reasons: Vec<FailureReason>,
    },
    /// The watcher flagged a session still waiting for the user as expiring soon.
    SessionExpiring,
    /// The user's KYC level changed, as of a `kyc_state_updated` event.
    Level {
        level: KycLevel,
        stamp: EventStamp,
    },
    /// Ralio warned that the identity document expires, so the user must verify again before
    /// then.
    Reverify {
        expiration_date: NaiveDate,
    },
    AccountCreated {
        account_id: String,
        alias: String,
        currency: Currency,
    },
    AccountActivated {
        account_id: String,
    },
    /// The user was erased: personal data went at once, and the pseudonymous record is kept until
    /// `retained_until` ([`crate::erasure`]).
    UserErased {
        retained_until: DateTime<Utc>,
    },
}

impl AppliedChange {
    /// Returns the session phase this change records, if it is a session move.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            AppliedChange::SessionState {
                state,
                expiry_source,
                ..
            } => Some(Phase::stored(*state, *expiry_source)),
            _ => None,
        }
    }

    pub fn session_move(target: Phase, failure_reasons: Vec<FailureReason>) -> Self {
        AppliedChange::SessionState {
            state: target.state(),
            expiry_source: target.expiry_source(),
            failure_reasons,
        }
    }

    /// Returns what an event's change is once it applies.
    pub fn of_change(change: &Change) -> Self {
        match change {
            Change::Session {
                target,
                failure_reasons,
                ..
            } => AppliedChange::session_move(*target, failure_reasons.clone()),
            Change::Level { stamp, .. } => AppliedChange::Level {
                level: stamp.level.clone(),
                stamp: stamp.stamp,
            },
            Change::Reverify(notice) => AppliedChange::Reverify {
                expiration_date: notice.expiration_date,
            },
        }
    }
}

/// Says what came of an audited action. It is stored and shown as its snake_case name, as it
/// was before it was a type, and a name written by another release reads back as `Other`,
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, strum::Display, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AuditOutcome {
    Applied,
    Duplicate,
    Stale,
    Unchanged,
    Deferred,
    Quarantined,
    Refused,
    Resolved,
    Uncertain,
    Replayed,
    Erased,
    #[strum(default, to_string = "{0}")]
    Other(String),
}

impl From<EventOutcome> for AuditOutcome {
    fn from(outcome: EventOutcome) -> Self {
        match outcome {
            EventOutcome::Applied => Self::Applied,
            EventOutcome::Duplicate => Self::Duplicate,
            EventOutcome::Stale => Self::Stale,
            EventOutcome::Unchanged => Self::Unchanged,
            EventOutcome::Deferred => Self::Deferred,
            EventOutcome::Erased => Self::Erased,
        }
    }
}

impl PartialEq<&str> for AuditOutcome {
    fn eq(&self, other: &&str) -> bool {
        other.parse::<Self>().is_ok_and(|parsed| parsed == *self)
    }
}

impl Serialize for AuditOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AuditOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        // The default variant takes every other name, so parsing cannot fail.
        Ok(name.parse().unwrap_or(Self::Other(name)))
    }
}

impl AuditEntry {
    pub fn new(at: DateTime<Utc>, action: &str, outcome: AuditOutcome) -> Self {
        Self {
            at,
            action: action.to_owned(),
            outcome,
            event_id: None,
            session_id: None,
            detail: String::new(),
            applied: None,
        }
    }

    /// Returns the entry that records what became of a webhook event (or a reconciled state).
    pub fn for_event(
        event: &AttributedEvent,
        outcome: EventOutcome,
        detail: String,
        at: DateTime<Utc>,
    ) -> Self {
        let detail = match event.stamped_at {
            Some(stamped) => format!(
                "{detail}{}stamped {}, after its receipt: ordered at receipt",
                if detail.is_empty() { "" } else { "; " },
                stamped.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => detail,
        };
        Self {
            event_id: Some(event.event_id),
            session_id: event.change.session_id(),
            detail,
            ..Self::new(at, &event.event_type, outcome.into())
        }
    }

    /// Returns the entry of a signed payload naming the user that was kept, not applied.
    /// `reason` is the quarantine reason code. It changes nothing, so it has no applied change.
    pub fn quarantined(
        at: DateTime<Utc>,
        event_type: Option<&str>,
        event_id: Option<EventId>,
        reason: &str,
    ) -> Self {
        Self {
            event_id,
            detail: reason.to_owned(),
            ..Self::new(
                at,
                event_type.unwrap_or("unreadable_event"),
                AuditOutcome::Quarantined,
            )
        }
    }

    pub fn about_session(mut self, session_id: SessionId) -> Self {
        self.session_id = Some(session_id);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn with_applied(mut self, change: AppliedChange) -> Self {
        self.applied = Some(change);
        self
    }

    /// Returns whether this entry is an applied change with what its domain event needs.
    pub fn is_publishable(&self) -> bool {
        self.outcome == AuditOutcome::Applied && self.applied.is_some()
    }
}

/// Writes the notes of the trail. A store that applies in one blind write does not know the
/// previous state, so an applied move names only its target, while a refused one says what was
/// kept.
pub mod describe {
    use super::*;

    pub fn phase(p: Phase) -> String {
        match p {
            Phase::Expired(ExpirySource::Inferred) => "EXPIRED(inferred)".to_owned(),
            other => other.state().name().to_owned(),
        }
    }

    pub fn session(decision: Verdict, current: Option<Phase>, target: Phase) -> String {
        match (decision, current) {
            (Verdict::Apply, _) => format!("now {}", phase(target)),
            (_, Some(current)) => format!("kept {}, not {}", phase(current), phase(target)),
            (_, None) => format!("no session, not {}", phase(target)),
        }
    }

    pub fn level(decision: Verdict, current: Option<&LevelStamp>, stamp: &LevelStamp) -> String {
        match (decision, current) {
            (Verdict::Apply, _) => format!("now {}", stamp.level),
            (_, Some(current)) => format!("kept {}, not {}", current.level, stamp.level),
            (_, None) => format!("not {}", stamp.level),
        }
    }

    pub fn reverify(notice: &ReverifyNotice) -> String {
        // The date belongs to the document, so it stays in the record and the event and not in
        // the note the history endpoint shows.
        let _ = notice;
        "document expiry warning".to_owned()
    }
}

/// Builds the entries each change leaves in the trail. The layers below do not know they are
/// audited; the audit describes them.
impl AuditEntry {
    /// Returns the entry of an event when it applies. It names only the new state, so that a
    /// store can write it in the same blind request as the change itself.
    pub fn applied(event: &AttributedEvent, now: DateTime<Utc>) -> Self {
        let detail = match &event.change {
            Change::Session { target, .. } => describe::session(Verdict::Apply, None, *target),
            Change::Level { stamp, .. } => describe::level(Verdict::Apply, None, stamp),
            Change::Reverify(notice) => describe::reverify(notice),
        };
        Self::for_event(event, EventOutcome::Applied, detail, now)
            .with_applied(AppliedChange::of_change(&event.change))
    }

    /// Returns the entry of an account Ralio created.
    pub fn account_created(record: &AccountRecord) -> Self {
        let entry = Self::new(
            record.updated_at,
            actions::ACCOUNT_CREATED,
            AuditOutcome::Applied,
        )
        .with_detail(format!("{} account", record.currency.as_str()));
        match record.created() {
            Some(account) => entry.with_applied(AppliedChange::AccountCreated {
                account_id: account.id.clone(),
                alias: record.alias.clone(),
                currency: record.currency,
            }),
            None => entry,
        }
    }

    /// Returns the entry of an account creation whose outcome is not known.
    pub fn account_uncertain(record: &AccountRecord) -> Self {
        Self::new(
            record.updated_at,
            actions::ACCOUNT_UNCERTAIN,
            AuditOutcome::Uncertain,
        )
        .with_detail(format!("{} account", record.currency.as_str()))
    }

    /// Returns the entry of an account Ralio activated.
    pub fn account_activated(record: &AccountRecord, stamp: EventStamp) -> Self {
        let id = record.created().map(|a| a.id.as_str()).unwrap_or_default();
        Self::activation(id, record.currency, stamp, record.updated_at)
    }

    /// Returns the entry of an account creation the gate refused because of the user's level.
    pub fn account_refused(level: &KycLevel, now: DateTime<Utc>) -> Self {
        Self::new(now, actions::ACCOUNT_REFUSED, AuditOutcome::Refused)
            .with_detail(format!("kyc level {level}"))
    }

    /// Returns the entry of a `currency` account Ralio activated, written at `at`.
    pub fn activation(
        account_id: &str,
        currency: Currency,
        stamp: EventStamp,
        at: DateTime<Utc>,
    ) -> Self {
        let mut entry = Self::new(at, actions::ACCOUNT_ACTIVATED, AuditOutcome::Applied)
            .with_detail(format!("{} account", currency.as_str()))
            .with_applied(AppliedChange::AccountActivated {
                account_id: account_id.to_owned(),
            });
        entry.event_id = Some(stamp.event_id);
        entry
    }

    /// Returns the entries an account write leaves when it takes effect, having absorbed
    /// `absorbed`.
    pub fn of_account_write(write: &AccountWrite, absorbed: Option<&Activation>) -> Vec<Self> {
        let record = &write.record;
        match &record.status {
            AccountStatus::Created { .. } => {
                let mut entries = vec![Self::account_created(record)];
                if let Some(activation) = absorbed {
                    entries.push(Self::account_activated(record, activation.stamp));
                }
                entries
            }
            AccountStatus::Uncertain { .. } => vec![Self::account_uncertain(record)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
