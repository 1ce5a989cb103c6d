//! This module reads what it can of a signed body that did not parse as an event, or that was
//! kept without being applied. These are the wire format's fallbacks, and they are bounded so
//! that a hostile body cannot fill a record.

use serde_json::Value;

use crate::ids::Uid;

/// Returns the user a kept payload names (`data.userId`), when it names one that is a user id.
pub fn named_user(body: &[u8]) -> Option<Uid> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data").unwrap_or(&value);
    let id = ["userId", "user_id"]
        .iter()
        .find_map(|k| data.get(*k).and_then(|v| v.as_str()))?;
    Uid::parse(id).ok()
}

/// Returns the id and type of a payload that did not parse, when they can be read at all. They
/// are bounded, so that a hostile payload cannot fill the quarantine record's metadata.
pub fn envelope_hints(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .filter(|s| s.len() <= 128)
            .map(str::to_owned)
    };
    (pick(&["id", "eventId"]), pick(&["event", "eventType"]))
}
