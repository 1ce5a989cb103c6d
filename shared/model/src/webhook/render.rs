//! This module writes the canonical wire form of a parsed event: the first envelope
//! (`id`/`event`) and second-generation camelCase data with `entityType`. The parser reads it
//! back to the very same event, which the fuzz targets check for every body the parser accepts.
//! The load run sends events in this form.

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::{EventBody, SessionOutcome, Subject, WebhookEvent};
use crate::Owner;

impl WebhookEvent {
    /// Returns the event as Ralio would send it. A timestamp the service did not trust (see
    /// [`WebhookEvent::received`]) is written as it was stamped.
    pub fn to_wire(&self) -> Value {
        if let EventBody::Unknown { raw } = &self.body {
            return raw.clone();
        }
        let stamp = self.stamped_at.unwrap_or(self.occurred_at);
        json!({
            "id": self.id.to_string(),
            "event": self.event_type,
            "timestamp": stamp.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "data": self.body.wire_data(),
        })
    }
}

impl EventBody {
    fn wire_data(&self) -> Value {
        let mut data = Map::new();
        match self {
            EventBody::Session(event) => {
                data.insert("sessionId".into(), event.session_id.to_string().into());
                subject(&mut data, event.subject);
                if let SessionOutcome::Failed { reasons } = &event.outcome {
                    // Each reason gets its own check, because the parser reads every reason of
                    // every check.
                    let checks = reasons.iter().map(|r| {
                        json!({
                            "type": r.check,
                            "state": 2,
                            "reasons": [{ "code": r.code, "message": r.message, "category": r.category }],
                        })
                    });
                    data.insert("checks".into(), checks.collect());
                }
            }
            EventBody::KycStateUpdated(event) => {
                owner(&mut data, event.owner);
                if let Some(kyc_id) = event.kyc_id {
                    data.insert("kycId".into(), kyc_id.into());
                }
                data.insert("state".into(), event.level.name().into());
            }
            EventBody::ExpirationWarning(event) => {
                owner(&mut data, event.owner);
                if let Some(kyc_id) = event.kyc_id {
                    data.insert("kycId".into(), kyc_id.into());
                }
                let date = event.expiration_date.format("%Y-%m-%d").to_string();
                data.insert("expirationDate".into(), date.into());
                data.insert("daysRemaining".into(), event.days_remaining.into());
            }
            EventBody::RelatedPartySessionCreated(event) => {
                let mut session = Map::new();
                session.insert("id".into(), event.session_id.to_string().into());
                if let Some(url) = &event.hosted_url {
                    session.insert("url".into(), url.expose().into());
                }
                if let Some(at) = event.expires_at {
                    let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                    session.insert("expiresAt".into(), at.into());
                }
                data.insert(
                    "relatedParty".into(),
                    json!({ "id": event.related_party_id.to_string() }),
                );
                data.insert("kycSession".into(), session.into());
            }
            EventBody::AccountActivated { account_id } => {
                data.insert("accountId".into(), account_id.as_str().into());
            }
            EventBody::Unknown { raw } => return raw.get("data").cloned().unwrap_or_default(),
        }
        Value::Object(data)
    }
}

fn subject(data: &mut Map<String, Value>, subject: Subject) {
    data.insert("entityType".into(), subject.entity_type().as_str().into());
    match subject {
        Subject::User(Some(uid)) => {
            data.insert("userId".into(), uid.to_string().into());
        }
        Subject::RelatedParty(Some(id)) => {
            data.insert("relatedPartyId".into(), id.to_string().into());
        }
        Subject::User(None) | Subject::RelatedParty(None) => {}
    }
}

/// Level events name an owner or nobody, and nobody is written as a user event without
/// `userId`.
fn owner(data: &mut Map<String, Value>, owner: Option<Owner>) {
    subject(
        data,
        match owner {
            Some(Owner::User(uid)) => Subject::User(Some(uid)),
            Some(Owner::RelatedParty(id)) => Subject::RelatedParty(Some(id)),
            None => Subject::User(None),
        },
    );
}
