//! These are the crashers `make fuzz` found, as readable cases. Proptest's regression seeds
//! replay a case only while its generator stays the same, and these do not depend on it.

use idv_fuzz::inputs::{Delivery, Header};
use idv_fuzz::properties;

/// serde_json's default float parsing read 7.322823999145873e279 one bit off, so an unknown
/// event's body did not read back as itself (fixed by its `float_roundtrip` feature).
#[test]
fn a_large_float_in_a_payload_reads_back_exactly() {
    let body = br#"{"eventId":"98b980b2-f790-4a25-b9e7-fb433d9e9cca","eventType":"related_party.kyc_sesslon_created","timestamp":"2026-05-06T09:15:40.336Z","data":{"residentialAddress":[7.322823999145873e+279,-100000000000000,[1000000000000000000]]}}"#;
    properties::delivery(
        &properties::secrets(),
        &Delivery {
            body: body.to_vec(),
            header: Header::Missing,
        },
    );
}

/// Two users' events named the same session, and an event naming no owner then went to
/// whichever owner the store listed first, so the same events applied again gave another state.
/// Now the event is kept as `contested_session`.
#[test]
fn an_ownerless_event_for_a_session_two_users_named_changes_nobody() {
    use idv_model::parse_webhook;
    let event = |id: u32, kind: &str, at: &str, user: Option<&str>| {
        let mut data = serde_json::json!({
            "sessionId": "11111111-0000-4000-8000-000000000003",
            "entityType": "user",
        });
        if let Some(user) = user {
            data["userId"] = user.into();
        }
        let body = serde_json::json!({
            "id": format!("00000000-0000-4000-8000-{id:012}"),
            "event": kind,
            "timestamp": at,
            "data": data,
        });
        parse_webhook(body.to_string().as_bytes()).unwrap()
    };
    let first = Some("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a");
    let second = Some("0b4d1b6e-22a4-4a4f-9a41-7d2f0c9e8a11");
    properties::sequence(&[
        event(0, "kyc_session_failed", "2026-05-04T10:59:00Z", first),
        event(5, "kyc_session_failed", "2026-05-04T14:13:00Z", None),
        event(
            4,
            "kyc_session_manual_review",
            "2026-05-04T17:02:00Z",
            second,
        ),
    ]);
}
