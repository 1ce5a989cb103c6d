//! This module reads the data section of each event type this service acts on, in both payload
//! generations and both key spellings.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::event::{
    EventBody, ExpirationWarningEvent, KycStateEvent, RelatedPartySessionCreated, SessionEvent,
    SessionOutcome, Subject,
};
use super::parse::{ParseError, invalid, parse_timestamp};
use super::vocabulary::event_types;
use crate::records::{FailureReason, HostedUrl};
use crate::states::CheckState;
use crate::{EntityType, KycLevel, RelatedPartyId, SessionId, Uid};

/// Returns the body of an event of canonical type `event_type`. A type this service does not
/// act on is kept whole.
pub(super) fn body(
    event_type: &str,
    envelope: Map<String, Value>,
) -> Result<EventBody, ParseError> {
    Ok(match event_type {
        event_types::SESSION_VERIFIED => session_event(&envelope, |_| SessionOutcome::Verified)?,
        event_types::SESSION_MANUAL_REVIEW => {
            session_event(&envelope, |_| SessionOutcome::ManualReview)?
        }
        event_types::SESSION_FAILED => session_event(&envelope, |data| SessionOutcome::Failed {
            reasons: failure_reasons(data.checks.as_deref().unwrap_or_default()),
        })?,
        event_types::SESSION_EXPIRED => session_event(&envelope, |_| SessionOutcome::Expired)?,
        event_types::KYC_STATE_UPDATED => kyc_state_updated(&envelope)?,
        event_types::KYC_EXPIRATION_WARNING => expiration_warning(&envelope)?,
        event_types::RELATED_PARTY_SESSION_CREATED => related_party_session_created(&envelope)?,
        event_types::ACCOUNT_ACTIVATED => account_activated(&envelope)?,
        _ => EventBody::Unknown {
            raw: Value::Object(envelope),
        },
    })
}

fn data_of<'de, T: Deserialize<'de>>(envelope: &'de Map<String, Value>) -> Result<T, ParseError> {
    let data = envelope.get("data").ok_or(ParseError::Missing("data"))?;
    // serde's messages can quote the offending value, which may be personal data, so the error
    // says only which part of the payload is malformed.
    T::deserialize(data).map_err(|_| invalid("data", "unexpected shape"))
}

/// Holds the fields every KYC event may carry about its subject, in either spelling.
#[derive(Deserialize)]
struct SubjectWire {
    #[serde(default, alias = "user_id")]
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(default, alias = "related_party_id")]
    #[serde(rename = "relatedPartyId")]
    related_party_id: Option<String>,
    #[serde(default, alias = "entity_type")]
    #[serde(rename = "entityType")]
    entity_type: Option<String>,
}

impl SubjectWire {
    /// Returns whose event this is, by one rule for every combination:
    ///
    /// | `entityType` | `relatedPartyId` | subject |
    /// |---|---|---|
    /// | absent (first generation) | absent | the user `userId` (if given) |
    /// | absent | present | none: quarantined as `ambiguous_owner`, never taken as the user's |
    /// | `user` | absent | the user `userId` (if given) |
    /// | `user` | present | none: `ambiguous_owner` (the payload contradicts itself) |
    /// | `related-party` | present or absent | the related party `relatedPartyId` (if given); `userId` is only context |
    /// | anything else | any | none: `invalid_field` |
    ///
    /// A user's event must never be a related party's, since a user's events can open the
    /// account gate, so whatever is unclear is kept, not applied.
    fn subject(&self) -> Result<Subject, ParseError> {
        let declared = self.entity_type.as_deref();
        let entity = EntityType::parse(declared).map_err(|e| invalid("entityType", e))?;
        let names_party = self
            .related_party_id
            .as_deref()
            .is_some_and(|id| !id.trim().is_empty());
        Ok(match entity {
            EntityType::User if names_party => return Err(ParseError::AmbiguousOwner),
            EntityType::User => Subject::User(
                self.user_id
                    .as_deref()
                    .map(Uid::parse)
                    .transpose()
                    .map_err(|e| invalid("userId", e))?,
            ),
            EntityType::RelatedParty => Subject::RelatedParty(
                self.related_party_id
                    .as_deref()
                    .map(RelatedPartyId::parse)
                    .transpose()
                    .map_err(|e| invalid("relatedPartyId", e))?,
            ),
        })
    }
}

#[derive(Deserialize)]
struct SessionData {
    #[serde(default, rename = "sessionId", alias = "session_id")]
    session_id: Option<String>,
    #[serde(flatten)]
    subject: SubjectWire,
    #[serde(default)]
    checks: Option<Vec<CheckWire>>,
}

#[derive(Deserialize)]
struct CheckWire {
    #[serde(default, rename = "type")]
    check_type: Option<String>,
    #[serde(default)]
    state: Value,
    #[serde(default)]
    reasons: Option<Vec<ReasonWire>>,
}

#[derive(Deserialize)]
struct ReasonWire {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

/// Returns the failure reasons of a session's checks as Ralio's REST API lists them
/// (`checks` of REFERENCE §2.3), by the same rule as a `kyc_session_failed` event's, so that a
/// reconciled rejection explains itself exactly as a delivered one would. The REST shape has a
/// reader of its own, so that the webhook's parsing does not change: its reasons are
/// `refused_reasons`, and the newer revision nests their category in `mappedError`. A field of
/// an unexpected type is read as absent.
pub fn failure_reasons_of_checks(checks: &Value) -> Result<Vec<FailureReason>, ParseError> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let checks = checks
        .as_array()
        .ok_or_else(|| invalid("checks", "not a list of checks"))?
        .iter()
        .map(|check| CheckWire {
            check_type: text(check, "type"),
            state: check.get("state").cloned().unwrap_or_default(),
            reasons: check
                .get("refused_reasons")
                .or_else(|| check.get("refusedReasons"))
                .and_then(Value::as_array)
                .map(|reasons| {
                    reasons
                        .iter()
                        .map(|reason| ReasonWire {
                            code: text(reason, "code"),
                            message: text(reason, "message"),
                            category: text(reason, "category").or_else(|| {
                                reason.get("mappedError").and_then(|m| text(m, "category"))
                            }),
                        })
                        .collect()
                }),
        })
        .collect::<Vec<_>>();
    Ok(failure_reasons(&checks))
}

fn session_event(
    envelope: &Map<String, Value>,
    outcome: impl FnOnce(&SessionData) -> SessionOutcome,
) -> Result<EventBody, ParseError> {
    let data: SessionData = data_of(envelope)?;
    let session_id = data
        .session_id
        .as_deref()
        .ok_or(ParseError::Missing("sessionId"))?;
    let session_id = SessionId::parse(session_id).map_err(|e| invalid("sessionId", e))?;
    Ok(EventBody::Session(SessionEvent {
        session_id,
        subject: data.subject.subject()?,
        outcome: outcome(&data),
    }))
}

/// Returns every reason of every check, in order. A refused check that gives no reason still
/// yields one, so that a rejection is never presented without an explanation.
fn failure_reasons(checks: &[CheckWire]) -> Vec<FailureReason> {
    let mut reasons = Vec::new();
    for check in checks {
        let check_type = check.check_type.clone().unwrap_or_default();
        let given = check.reasons.as_deref().unwrap_or_default();
        for reason in given {
            let code = reason.code.clone().unwrap_or_default();
            let message = reason
                .message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| code.clone());
            reasons.push(FailureReason {
                check: check_type.clone(),
                code,
                message,
                category: reason.category.clone(),
            });
        }
        if given.is_empty() && CheckState::from_json(&check.state) == CheckState::Refused {
            reasons.push(FailureReason {
                check: check_type.clone(),
                code: "CHECK_REFUSED".to_owned(),
                message: format!(
                    "The {} check was refused.",
                    check_type.replace(['_', '-'], " ")
                ),
                category: None,
            });
        }
    }
    reasons
}

/// `kycId` is documented as an integer, but a numeric string is accepted too.
fn optional_integer(value: &Option<Value>, field: &'static str) -> Result<Option<i64>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(field, "not an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, "not an integer")),
        Some(_) => Err(invalid(field, "not an integer")),
    }
}

#[derive(Deserialize)]
struct KycStateData {
    #[serde(default, rename = "kycId", alias = "kyc_id")]
    kyc_id: Option<Value>,
    #[serde(flatten)]
    subject: SubjectWire,
    #[serde(default)]
    state: Option<String>,
}

fn kyc_state_updated(envelope: &Map<String, Value>) -> Result<EventBody, ParseError> {
    let data: KycStateData = data_of(envelope)?;
    let level = data.state.as_deref().ok_or(ParseError::Missing("state"))?;
    if level.trim().is_empty() {
        return Err(invalid("state", "empty"));
    }
    Ok(EventBody::KycStateUpdated(KycStateEvent {
        owner: data.subject.subject()?.owner(),
        kyc_id: optional_integer(&data.kyc_id, "kycId")?,
        level: KycLevel::parse(level),
    }))
}

#[derive(Deserialize)]
struct ExpirationWarningData {
    #[serde(default, rename = "kycId", alias = "kyc_id")]
    kyc_id: Option<Value>,
    #[serde(flatten)]
    subject: SubjectWire,
    #[serde(default, rename = "expirationDate", alias = "expiration_date")]
    expiration_date: Option<String>,
    #[serde(default, rename = "daysRemaining", alias = "days_remaining")]
    days_remaining: Option<Value>,
}

fn expiration_warning(envelope: &Map<String, Value>) -> Result<EventBody, ParseError> {
    let data: ExpirationWarningData = data_of(envelope)?;
    let date = data
        .expiration_date
        .as_deref()
        .ok_or(ParseError::Missing("expirationDate"))?;
    let expiration_date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .or_else(|_| parse_timestamp(date).map(|t| t.date_naive()).ok_or(()))
        .map_err(|_| invalid("expirationDate", "not a date"))?;
    let days_remaining = optional_integer(&data.days_remaining, "daysRemaining")?
        .ok_or(ParseError::Missing("daysRemaining"))?;
    Ok(EventBody::ExpirationWarning(ExpirationWarningEvent {
        owner: data.subject.subject()?.owner(),
        kyc_id: optional_integer(&data.kyc_id, "kycId")?,
        expiration_date,
        days_remaining,
    }))
}

#[derive(Deserialize)]
struct RelatedPartyCreatedData {
    #[serde(rename = "relatedParty", alias = "related_party")]
    related_party: Option<IdOnly>,
    #[serde(rename = "kycSession", alias = "kyc_session")]
    kyc_session: Option<KycSessionWire>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<String>,
}

#[derive(Deserialize)]
struct KycSessionWire {
    id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "expiresAt", alias = "expires_at")]
    expires_at: Option<String>,
}

fn related_party_session_created(envelope: &Map<String, Value>) -> Result<EventBody, ParseError> {
    let data: RelatedPartyCreatedData = data_of(envelope)?;
    let party = data
        .related_party
        .and_then(|p| p.id)
        .ok_or(ParseError::Missing("relatedParty.id"))?;
    let session = data.kyc_session.ok_or(ParseError::Missing("kycSession"))?;
    let session_id = session
        .id
        .as_deref()
        .ok_or(ParseError::Missing("kycSession.id"))?;
    let expires_at = match session.expires_at.as_deref() {
        None => None,
        Some(raw) => Some(
            parse_timestamp(raw).ok_or_else(|| invalid("kycSession.expiresAt", "not RFC 3339"))?,
        ),
    };
    Ok(EventBody::RelatedPartySessionCreated(
        RelatedPartySessionCreated {
            related_party_id: RelatedPartyId::parse(&party)
                .map_err(|e| invalid("relatedParty.id", e))?,
            session_id: SessionId::parse(session_id).map_err(|e| invalid("kycSession.id", e))?,
            hosted_url: session.url.map(HostedUrl::new),
            expires_at,
        },
    ))
}

#[derive(Deserialize)]
struct AccountActivatedData {
    #[serde(default, rename = "accountId", alias = "account_id")]
    account_id: Option<String>,
}

fn account_activated(envelope: &Map<String, Value>) -> Result<EventBody, ParseError> {
    let data: AccountActivatedData = data_of(envelope)?;
    let id = data
        .account_id
        .as_deref()
        .ok_or(ParseError::Missing("accountId"))?;
    Ok(EventBody::AccountActivated {
        account_id: crate::accounts::AccountId::parse(id).map_err(|e| invalid("accountId", e))?,
    })
}
