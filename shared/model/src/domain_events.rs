//! This module makes the domain events the service publishes (source `ralio.idv`). There is one
//! for every applied change that has an [`AppliedChange`], and it is made from its audit entry.
//!
//! The audit entry is written in the same request as the change, so an event exists exactly
//! when its change happened. What a blind conditional write cannot know (the state before it)
//! is read from the owner's trail by the publisher and decided here, so the Lambda publisher and
//! `idv-local` publish the same events from the same entries.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{AppliedChange, AuditEntry};
use crate::decisions::{NextAction, next_action};
use crate::ledger::UserSnapshot;
use crate::lifecycle::{EventStamp, ExpirySource, LevelStamp, Phase};
use crate::records::{FailureReason, KycRecord, UserProfile};
use crate::{Currency, KycLevel, Owner, SessionId, SessionState, Uid};

/// The EventBridge `source` of every event.
pub const SOURCE: &str = "ralio.idv";
/// It is bumped when a detail changes incompatibly, and consumers may ignore versions they do
/// not know.
pub const SCHEMA_VERSION: u32 = 1;

/// The catalogue, with one JSON Schema per type under `infra/events/schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailType {
    SessionStateChanged,
    SessionExpiringSoon,
    KycLevelChanged,
    ReverificationDue,
    AccountCreated,
    AccountActivated,
    UserErased,
}

impl DetailType {
    pub const ALL: [DetailType; 7] = [
        DetailType::SessionStateChanged,
        DetailType::SessionExpiringSoon,
        DetailType::KycLevelChanged,
        DetailType::ReverificationDue,
        DetailType::AccountCreated,
        DetailType::AccountActivated,
        DetailType::UserErased,
    ];

    /// Returns the EventBridge `detail-type`.
    pub fn name(self) -> &'static str {
        match self {
            DetailType::SessionStateChanged => "Session State Changed",
            DetailType::SessionExpiringSoon => "Session Expiring Soon",
            DetailType::KycLevelChanged => "KYC Level Changed",
            DetailType::ReverificationDue => "Reverification Due",
            DetailType::AccountCreated => "Account Created",
            DetailType::AccountActivated => "Account Activated",
            DetailType::UserErased => "User Erased",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Returns its schema's file name under `infra/events/schemas/`.
    pub fn schema_file(self) -> String {
        format!(
            "{}.json",
            self.name().to_ascii_lowercase().replace(' ', "-")
        )
    }
}

/// One event as EventBridge receives it (and as `idv-local` lists it at `GET /events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedEvent {
    /// It equals `detail.eventId`.
    pub id: uuid::Uuid,
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub time: DateTime<Utc>,
    pub detail: serde_json::Value,
}

impl PublishedEvent {
    pub fn uid(&self) -> Option<&str> {
        self.detail.get("uid").and_then(|u| u.as_str())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail<T: Serialize> {
    event_id: uuid::Uuid,
    occurred_at: DateTime<Utc>,
    schema_version: u32,
    uid: Uid,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
enum Body<'a> {
    SessionState {
        session_id: SessionId,
        state: SessionState,
        state_code: u8,
        previous_state: Option<SessionState>,
        #[serde(skip_serializing_if = "Option::is_none")]
        failure_reasons: Option<&'a [FailureReason]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiry_source: Option<ExpirySource>,
    },
    Expiring {
        session_id: SessionId,
        expires_at: Option<DateTime<Utc>>,
    },
    Level {
        level: &'a KycLevel,
        previous_level: Option<KycLevel>,
        can_create_account: bool,
        next_action: NextAction,
    },
    Reverify {
        reverify_before: NaiveDate,
    },
    AccountCreated {
        account_id: &'a str,
        alias: &'a str,
        currency: Currency,
    },
    AccountActivated {
        account_id: &'a str,
    },
    Erased {
        retained_until: DateTime<Utc>,
    },
}

/// Holds what the publisher read about the owner when it mapped an entry: the trail (for the
/// state before a move) and the records (for a flagged session's expiry, and the next action).
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnerHistory<'a> {
    pub trail: &'a [AuditEntry],
    pub snapshot: Option<&'a UserSnapshot>,
}

/// Returns whether mapping `entry` needs the owner's [`OwnerHistory`], because the publisher
/// reads it only then.
pub fn needs_history(entry: &AuditEntry) -> bool {
    matches!(
        entry.applied,
        Some(
            AppliedChange::SessionState { .. }
                | AppliedChange::SessionExpiring
                | AppliedChange::Level { .. }
        )
    )
}

/// Returns the stable id of the event an entry makes. The same entry, delivered again by the
/// stream or replayed, makes the same id, so that consumers can de-duplicate on it.
pub fn event_id(uid: Uid, entry: &AuditEntry) -> uuid::Uuid {
    let account = match &entry.applied {
        Some(
            AppliedChange::AccountCreated { account_id, .. }
            | AppliedChange::AccountActivated { account_id },
        ) => account_id.as_str(),
        _ => "",
    };
    let name = format!(
        "{SOURCE}/{uid}/{}/{}/{}/{}/{account}",
        entry.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        entry.action,
        entry.event_id.map(|e| e.to_string()).unwrap_or_default(),
        entry.session_id.map(|s| s.to_string()).unwrap_or_default(),
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
}

/// Returns the event an audit entry makes. It is `None` for what is not an applied change, for related parties (the merchant's users are who it acts on), and for a level update
/// that repeats the level. `nextAction` is worked out from the user's records as the publisher
/// reads them, so a late redelivery may describe a later moment under the same id.
pub fn domain_event(
    owner: Owner,
    entry: &AuditEntry,
    history: OwnerHistory<'_>,
) -> Option<PublishedEvent> {
    let Owner::User(uid) = owner else {
        return None;
    };
    if !entry.is_publishable() {
        return None;
    }
    let (detail_type, body) = match entry.applied.as_ref()? {
        AppliedChange::SessionState {
            state,
            expiry_source,
            failure_reasons,
        } => {
            let session_id = entry.session_id?;
            let phase = Phase::stored(*state, *expiry_source);
            (
                DetailType::SessionStateChanged,
                Body::SessionState {
                    session_id,
                    state: *state,
                    state_code: state.code(),
                    previous_state: previous_phase(session_id, phase, history.trail)
                        .map(Phase::state),
                    failure_reasons: (*state == SessionState::Rejected)
                        .then_some(failure_reasons.as_slice()),
                    expiry_source: *expiry_source,
                },
            )
        }
        AppliedChange::SessionExpiring => {
            let session_id = entry.session_id?;
            let expires_at = history.snapshot.and_then(|s| {
                s.sessions
                    .iter()
                    .find(|r| r.session_id == session_id)
                    .and_then(|r| r.expires_at)
            });
            (
                DetailType::SessionExpiringSoon,
                Body::Expiring {
                    session_id,
                    expires_at,
                },
            )
        }
        AppliedChange::Level { level, stamp } => {
            let previous_level = previous_level(*stamp, history.trail);
            // A newer update that repeats the level changes nothing a consumer acts on, so it
            // is in the user's history but not on the bus.
            if previous_level.as_ref() == Some(level) {
                return None;
            }
            let at_level = LevelStamp {
                level: level.clone(),
                stamp: *stamp,
            };
            let profile = UserProfile {
                uid,
                kyc: KycRecord {
                    level: Some(at_level),
                    kyc_id: None,
                    reverify: history
                        .snapshot
                        .and_then(|s| s.profile.kyc.reverify.clone()),
                },
            };
            let sessions = history.snapshot.map_or(&[][..], |s| &s.sessions[..]);
            (
                DetailType::KycLevelChanged,
                Body::Level {
                    level,
                    previous_level,
                    can_create_account: crate::can_create_account(&profile),
                    next_action: next_action(&profile, sessions, entry.at),
                },
            )
        }
        AppliedChange::Reverify { expiration_date } => (
            DetailType::ReverificationDue,
            Body::Reverify {
                reverify_before: *expiration_date,
            },
        ),
        AppliedChange::AccountCreated {
            account_id,
            alias,
            currency,
        } => (
            DetailType::AccountCreated,
            Body::AccountCreated {
                account_id,
                alias,
                currency: *currency,
            },
        ),
        AppliedChange::AccountActivated { account_id } => (
            DetailType::AccountActivated,
            Body::AccountActivated { account_id },
        ),
        AppliedChange::UserErased { retained_until } => (
            DetailType::UserErased,
            Body::Erased {
                retained_until: *retained_until,
            },
        ),
    };
    let id = event_id(uid, entry);
    let detail = Detail {
        event_id: id,
        occurred_at: entry.at,
        schema_version: SCHEMA_VERSION,
        uid,
        body,
    };
    Some(PublishedEvent {
        id,
        source: SOURCE.to_owned(),
        detail_type: detail_type.name().to_owned(),
        time: entry.at,
        detail: serde_json::to_value(detail).ok()?,
    })
}

/// Returns the phase a session was in before it moved to `target`. That is the latest applied
/// move of that session in the trail that the lifecycle allows before `target`. Applied moves of
/// a session form a chain in which each allows the one before it, so "latest" is the one no
/// other candidate allows before itself, and the order entries were written in does not matter.
/// Every Ralio session starts NOT_STARTED, which is the answer when nothing earlier was recorded.
pub fn previous_phase(session_id: SessionId, target: Phase, trail: &[AuditEntry]) -> Option<Phase> {
    let priors = target.allowed_priors();
    if priors.is_empty() {
        return None;
    }
    let candidates: Vec<Phase> = trail
        .iter()
        .filter(|e| e.is_publishable() && e.session_id == Some(session_id))
        .filter_map(|e| e.applied.as_ref()?.phase())
        .filter(|p| priors.contains(p))
        .collect();
    let latest = candidates
        .iter()
        .find(|p| !candidates.iter().any(|q| q.allowed_priors().contains(p)));
    Some(latest.copied().unwrap_or(Phase::NotStarted))
}

/// Returns the level before the one stamped `stamp`, which is the newest applied level stamped
/// before it.
pub fn previous_level(stamp: EventStamp, trail: &[AuditEntry]) -> Option<KycLevel> {
    trail
        .iter()
        .filter(|e| e.is_publishable())
        .filter_map(|e| match &e.applied {
            Some(AppliedChange::Level { level, stamp: s }) if *s < stamp => Some((*s, level)),
            _ => None,
        })
        .max_by_key(|(s, _)| *s)
        .map(|(_, level)| level.clone())
}

#[cfg(test)]
mod tests;
