//! The intake says, in one call, what the model makes of a webhook event.
//!
//! The webhook used to sequence the rules itself (is it an activation, is it ours, whose is
//! it, what does it change), and its dry run for replays repeated the same sequence. Both now
//! match on one [`Intake`]. The only thing the model cannot do alone is read the store. When
//! an event names no owner, [`OwnerQuestion::lookup`] says what to look up and
//! [`OwnerQuestion::answer`] finishes the intake with what was found.

use chrono::{DateTime, Utc};

use crate::activation::Activation;
use crate::change::{AttributedEvent, Attribution, Change, Unattributed};
use crate::ids::{EventId, Owner, SessionId};
use crate::webhook::WebhookEvent;

/// What an event comes to before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Ralio's `account_activated` names only the account, so the store applies it to the
    /// account recorded with that id, or keeps it until one is.
    Activation(Activation),
    /// This service does not act on the event type, so the event is kept (as a digest or
    /// verbatim) and acknowledged.
    Unhandled,
    /// The event names its owner, so it is applied.
    Apply(AttributedEvent),
    /// The event names no owner, so the store must say whose it is.
    NeedsOwner(OwnerQuestion),
}

/// What the store is asked before an event that names no owner can be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerLookup {
    /// It asks for the owners a session with this id is stored for.
    Session(SessionId),
    /// It asks for the owners earlier events paired this Ralio `kycId` with.
    KycId(i64),
}

/// An event waiting for its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerQuestion {
    attribution: Attribution,
    pending: Pending,
}

/// An application without its owner yet.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    event_id: EventId,
    event_type: String,
    occurred_at: DateTime<Utc>,
    stamped_at: Option<DateTime<Utc>>,
    change: Change,
}

impl Pending {
    fn to(self, owner: Owner) -> AttributedEvent {
        AttributedEvent {
            event_id: self.event_id,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            stamped_at: self.stamped_at,
            owner,
            change: self.change,
        }
    }
}

impl OwnerQuestion {
    /// Returns what to look up in the store, if anything. An event that names neither its
    /// owner nor a session or `kycId` cannot be attributed by any lookup.
    pub fn lookup(&self) -> Option<OwnerLookup> {
        match self.attribution {
            Attribution::BySession { session_id, .. } => Some(OwnerLookup::Session(session_id)),
            Attribution::ByKycId(kyc_id) => Some(OwnerLookup::KycId(kyc_id)),
            Attribution::Named(_) | Attribution::Unattributable => None,
        }
    }

    /// Returns the application, given the owners the lookup found, or why the event cannot be
    /// attributed. Such an event is sent back while its owner may still become known, and is
    /// kept otherwise.
    pub fn answer(self, found: &[Owner]) -> Result<AttributedEvent, Unattributed> {
        let owner = self.attribution.owner(found)?;
        Ok(self.pending.to(owner))
    }
}

/// Returns what `event` comes to (see [`Intake`]).
pub fn interpret(event: &WebhookEvent) -> Intake {
    if let Some(activation) = event.activation() {
        return Intake::Activation(activation);
    }
    let Some(change) = event.change() else {
        return Intake::Unhandled;
    };
    let pending = Pending {
        event_id: event.id,
        event_type: event.event_type.clone(),
        occurred_at: event.occurred_at,
        stamped_at: event.stamped_at,
        change,
    };
    match event.attribution() {
        Attribution::Named(owner) => Intake::Apply(pending.to(owner)),
        attribution => Intake::NeedsOwner(OwnerQuestion {
            attribution,
            pending,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::parse_webhook;

    fn event(event_type: &str, data: serde_json::Value) -> WebhookEvent {
        let body = serde_json::json!({
            "id": "98b980b2-f790-4a25-b9e7-fb433d9e9cca",
            "event": event_type,
            "timestamp": "2026-05-04T09:12:03Z",
            "data": data,
        });
        parse_webhook(body.to_string().as_bytes()).unwrap()
    }

    const UID: &str = "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a";
    const SESSION: &str = "0b9a1c9e-2f6d-4f7e-9a51-3d1f6a2b7c44";

    #[test]
    fn each_event_comes_to_one_intake() {
        let activation = event(
            "account_activated",
            serde_json::json!({ "accountId": "acc-1" }),
        );
        assert!(matches!(interpret(&activation), Intake::Activation(_)));

        let payment = event("payin_received", serde_json::json!({ "amount": 1 }));
        assert_eq!(interpret(&payment), Intake::Unhandled);

        let named = event(
            "kyc_state_updated",
            serde_json::json!({ "userId": UID, "state": "REGULAR" }),
        );
        let Intake::Apply(attributed) = interpret(&named) else {
            panic!("an event naming its owner is applied");
        };
        assert_eq!(
            attributed.owner,
            Owner::User(crate::Uid::parse(UID).unwrap())
        );
    }

    #[test]
    fn an_event_naming_no_owner_asks_the_store_and_is_answered_by_what_it_found() {
        let by_session = event(
            "kyc_session_verified",
            serde_json::json!({ "sessionId": SESSION, "entityType": "user" }),
        );
        let Intake::NeedsOwner(question) = interpret(&by_session) else {
            panic!("a session event naming no owner needs one");
        };
        let session = SessionId::parse(SESSION).unwrap();
        assert_eq!(question.lookup(), Some(OwnerLookup::Session(session)));
        let owner = Owner::User(crate::Uid::parse(UID).unwrap());
        assert_eq!(question.clone().answer(&[owner]).unwrap().owner, owner);
        assert_eq!(
            question.answer(&[]).unwrap_err().code,
            crate::webhook::QuarantineReason::UnknownSession
        );

        let by_kyc_id = event(
            "kyc_state_updated",
            serde_json::json!({ "kycId": 7, "state": "LIGHT" }),
        );
        let Intake::NeedsOwner(question) = interpret(&by_kyc_id) else {
            panic!("a kycId-only event needs its owner");
        };
        assert_eq!(question.lookup(), Some(OwnerLookup::KycId(7)));

        let nobody = event("kyc_state_updated", serde_json::json!({ "state": "LIGHT" }));
        let Intake::NeedsOwner(question) = interpret(&nobody) else {
            panic!("an event naming nobody needs an owner");
        };
        assert_eq!(question.lookup(), None);
        assert_eq!(
            question.answer(&[]).unwrap_err().code,
            crate::webhook::QuarantineReason::UnknownOwner
        );
    }
}
