//! The one tolerant parser for every documented Ralio webhook shape (REFERENCE §4).
//!
//! Envelopes come as `id`/`event` or `eventId`/`eventType` on any event; data comes in two
//! generations with camelCase or snake_case keys. Unknown fields are ignored and unknown event
//! types are kept with their raw JSON. What cannot be interpreted is an error, so the caller can
//! quarantine the signed body verbatim instead of guessing.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::lifecycle::{ExpirySource, Phase};
use crate::records::{FailureReason, HostedUrl};
use crate::states::CheckState;
use crate::{EntityType, EventId, KycLevel, Owner, RelatedPartyId, SessionId, Uid};

mod envelope;
mod render;

pub use envelope::{envelope_hints, named_user};

/// Canonical event type names this service acts on.
pub mod event_types {
    pub const SESSION_VERIFIED: &str = "kyc_session_verified";
    pub const SESSION_MANUAL_REVIEW: &str = "kyc_session_manual_review";
    pub const SESSION_FAILED: &str = "kyc_session_failed";
    pub const SESSION_EXPIRED: &str = "kyc_session_expired";
    pub const KYC_STATE_UPDATED: &str = "kyc_state_updated";
    pub const KYC_EXPIRATION_WARNING: &str = "kyc_expiration_warning";
    pub const RELATED_PARTY_SESSION_CREATED: &str = "related_party.kyc_session_created";
    pub const ACCOUNT_ACTIVATED: &str = "account_activated";
}

/// Dotted names from Ralio's welcome page, mapped explicitly: a blanket `.` → `_` would break
/// `related_party.kyc_session_created`, which really has a dot.
const EVENT_TYPE_ALIASES: &[(&str, &str)] = &[
    ("kyc.session_verified", event_types::SESSION_VERIFIED),
    (
        "kyc.session_manual_review",
        event_types::SESSION_MANUAL_REVIEW,
    ),
    ("kyc.session_failed", event_types::SESSION_FAILED),
    ("kyc.session_expired", event_types::SESSION_EXPIRED),
    ("kyc.state_updated", event_types::KYC_STATE_UPDATED),
    (
        "kyc.expiration_warning",
        event_types::KYC_EXPIRATION_WARNING,
    ),
    ("kyb.state_updated", "kyb_state_updated"),
    ("account.activated", "account_activated"),
    ("payin.processing", "payin_processing"),
    ("payin.completed", "payin_completed"),
    ("payin.failed", "payin_failed"),
    ("payout.processing", "payout_processing"),
    ("payout.completed", "payout_completed"),
    ("transfer.processing", "transfer_processing"),
    ("transfer.completed", "transfer_completed"),
];

/// Whether this service acts on an event type (as it may arrive on the wire): only such
/// payloads are kept verbatim when they cannot be applied.
pub fn is_acted_on(raw: &str) -> bool {
    use event_types::*;
    matches!(
        canonical_event_type(raw).as_str(),
        SESSION_VERIFIED
            | SESSION_MANUAL_REVIEW
            | SESSION_FAILED
            | SESSION_EXPIRED
            | KYC_STATE_UPDATED
            | KYC_EXPIRATION_WARNING
            | RELATED_PARTY_SESSION_CREATED
            | ACCOUNT_ACTIVATED
    )
}

/// The canonical (underscored) name of an event type as it may arrive on the wire.
pub fn canonical_event_type(raw: &str) -> String {
    let lowered = raw.trim().to_ascii_lowercase();
    EVENT_TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == lowered)
        .map_or(lowered, |(_, canonical)| (*canonical).to_owned())
}

/// A webhook delivery, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub id: EventId,
    /// Canonical event type (after alias resolution).
    pub event_type: String,
    /// When the event happened, as far as it is trusted: see [`WebhookEvent::received`].
    pub occurred_at: DateTime<Utc>,
    /// The event's own timestamp when it was too far ahead of its receipt to be trusted.
    pub stamped_at: Option<DateTime<Utc>>,
    pub body: EventBody,
}

/// How far ahead of its receipt an event's timestamp may be and still be believed
/// (`MAX_CLOCK_SKEW`, default 5 min).
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

impl WebhookEvent {
    /// The event as received at `at`. A timestamp more than `max_skew` after its receipt
    /// cannot be right: the event is ordered at its receipt instead, so a far-future stamp
    /// can never outrank the events that follow it, and the stamp is kept for the audit trail.
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
    /// Ralio's account is ready for use; only its id is given.
    AccountActivated {
        account_id: crate::accounts::AccountId,
    },
    /// An event type this service does not act on, kept as received.
    Unknown {
        raw: Value,
    },
}

/// Who a session event is about. Second-generation payloads make `userId` optional, so the
/// id may be missing and must then be found from the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(Option<Uid>),
    RelatedParty(Option<RelatedPartyId>),
}

impl Subject {
    /// The owner, when the event names it.
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
    /// `None`: the event names no owner (it cannot be attributed).
    pub owner: Option<Owner>,
    pub kyc_id: Option<i64>,
    pub level: KycLevel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirationWarningEvent {
    /// `None`: the event names no owner (it cannot be attributed).
    pub owner: Option<Owner>,
    pub kyc_id: Option<i64>,
    pub expiration_date: NaiveDate,
    pub days_remaining: i64,
}

/// Ralio opened a session for a related party. Only ids and dates are kept: the person's name,
/// e-mail and address in the payload are not this service's to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedPartySessionCreated {
    pub related_party_id: RelatedPartyId,
    pub session_id: SessionId,
    pub hosted_url: Option<HostedUrl>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a signed body could not be interpreted. The message names fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("invalid field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the event names a related party without saying whose event it is (entityType)")]
    AmbiguousOwner,
}

impl ParseError {
    /// A stable machine code for the quarantine record.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::NotJson(_) => "not_json",
            ParseError::NotAnObject => "not_an_object",
            ParseError::Missing(_) => "missing_field",
            ParseError::Invalid { .. } => "invalid_field",
            ParseError::AmbiguousOwner => "ambiguous_owner",
        }
    }
}

fn invalid(field: &'static str, reason: impl ToString) -> ParseError {
    ParseError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

/// Parses an RFC 3339 timestamp with any fractional precision and offset.
pub fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| t.to_utc())
}

/// Spellings of event types Ralio was seen to send that this release does not know, each
/// mapped by a person to the type it means. Only a replay takes them (`idv-admin
/// replay-quarantine --spelling`): live deliveries are never interpreted on a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearntSpellings(std::collections::BTreeMap<String, String>);

impl LearntSpellings {
    /// Learns `spelling` as `meaning`, which must be a type this service acts on.
    pub fn learn(&mut self, spelling: &str, meaning: &str) -> Result<(), String> {
        // A spelling this release already reads keeps its meaning: a mapping only names what
        // was unknown.
        if is_acted_on(spelling) {
            return Err(format!(
                "{spelling} is already read as {}",
                canonical_event_type(spelling)
            ));
        }
        let meaning = canonical_event_type(meaning);
        if !is_acted_on(&meaning) {
            return Err(format!(
                "{meaning} is not an event type this service acts on"
            ));
        }
        self.0.insert(spelling.trim().to_ascii_lowercase(), meaning);
        Ok(())
    }

    /// `SPELLING=TYPE`, as given on the command line.
    pub fn learn_pair(&mut self, pair: &str) -> Result<(), String> {
        let (spelling, meaning) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not SPELLING=TYPE"))?;
        self.learn(spelling, meaning)
    }

    fn meaning(&self, raw: &str) -> Option<&str> {
        self.0
            .get(&raw.trim().to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Parses a signed webhook body.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    parse_webhook_with(body, &LearntSpellings::default())
}

/// Parses a signed webhook body, reading the event type through `learnt` first.
pub fn parse_webhook_with(
    body: &[u8],
    learnt: &LearntSpellings,
) -> Result<WebhookEvent, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let Value::Object(envelope) = value else {
        return Err(ParseError::NotAnObject);
    };

    let id = string_field(&envelope, &["id", "eventId", "event_id"], "id")?;
    let id = EventId::parse(id).map_err(|e| invalid("id", e))?;
    let raw_type = string_field(&envelope, &["event", "eventType", "event_type"], "event")?;
    let event_type = learnt
        .meaning(raw_type)
        .map_or_else(|| canonical_event_type(raw_type), str::to_owned);
    let timestamp = string_field(&envelope, &["timestamp"], "timestamp")?;
    let occurred_at =
        parse_timestamp(timestamp).ok_or_else(|| invalid("timestamp", "not RFC 3339"))?;

    let body = match event_type.as_str() {
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
    };

    Ok(WebhookEvent {
        id,
        event_type,
        occurred_at,
        stamped_at: None,
        body,
    })
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    keys: &[&str],
    name: &'static str,
) -> Result<&'a str, ParseError> {
    match keys.iter().find_map(|k| object.get(*k)) {
        None | Some(Value::Null) => Err(ParseError::Missing(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(name, "not a string")),
    }
}

fn data_of<'de, T: Deserialize<'de>>(envelope: &'de Map<String, Value>) -> Result<T, ParseError> {
    let data = envelope.get("data").ok_or(ParseError::Missing("data"))?;
    // serde's messages can quote the offending value, which may be personal data: say only
    // which part of the payload is malformed.
    T::deserialize(data).map_err(|_| invalid("data", "unexpected shape"))
}

/// Fields every KYC event may carry about its subject, in either spelling.
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
    /// Whose event this is, by one rule for every combination:
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
    /// A user's event must never be a related party's, since a user's events can open the account
    /// gate: whatever is unclear is kept, not applied.
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

/// Every reason of every check, in order. A refused check that gives no reason still yields
/// one, so a rejection is never presented without an explanation.
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

/// `kycId` is documented as an integer; a numeric string is accepted too.
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
