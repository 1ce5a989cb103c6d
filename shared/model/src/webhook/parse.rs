//! This module reads the envelope of a delivery (its id, type and time) in every spelling Ralio
//! uses. The data section is read by type in `data`.

use super::QuarantineReason;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::data;
use super::event::WebhookEvent;
use super::vocabulary::{LearntSpellings, canonical_event_type};
use crate::EventId;

/// Says why a signed body could not be interpreted. The message names fields, never values.
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
    /// Returns a stable machine code for the quarantine record.
    pub fn code(&self) -> QuarantineReason {
        match self {
            ParseError::NotJson(_) => QuarantineReason::NotJson,
            ParseError::NotAnObject => QuarantineReason::NotAnObject,
            ParseError::Missing(_) => QuarantineReason::MissingField,
            ParseError::Invalid { .. } => QuarantineReason::InvalidField,
            ParseError::AmbiguousOwner => QuarantineReason::AmbiguousOwner,
        }
    }
}

pub(super) fn invalid(field: &'static str, reason: impl ToString) -> ParseError {
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

    let body = data::body(&event_type, envelope)?;

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
