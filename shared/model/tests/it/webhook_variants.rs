//! These tests check the parser's tolerance of every documented variation of envelope, data
//! generation, key case, check state, event name and timestamp, and its clear errors for what
//! cannot be interpreted.

use chrono::{DateTime, Utc};
use idv_model::webhook::{EventBody, SessionOutcome, Subject, canonical_event_type};
use idv_model::{Attribution, KycLevel, Owner, ParseError, Uid, parse_webhook};
use serde_json::{Value, json};

const USER: &str = "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a";
const SESSION: &str = "a534c9a9-b4ae-4db5-86c3-9506219e4c36";
const EVENT: &str = "9b3b2222-356e-489c-b4f6-9da8792c832d";

fn parse(value: Value) -> Result<idv_model::WebhookEvent, ParseError> {
    parse_webhook(&serde_json::to_vec(&value).unwrap())
}

fn envelope(id_key: &str, type_key: &str, event_type: &str, data: Value) -> Value {
    json!({ id_key: EVENT, type_key: event_type, "timestamp": "2026-05-04T09:31:47.902Z", "data": data })
}

#[test]
fn either_envelope_on_any_event() {
    for (id_key, type_key) in [("id", "event"), ("eventId", "eventType")] {
        for event_type in [
            "kyc_session_verified",
            "kyc_session_manual_review",
            "kyc_session_failed",
            "kyc_session_expired",
        ] {
            let event = parse(envelope(
                id_key,
                type_key,
                event_type,
                json!({ "sessionId": SESSION, "userId": USER }),
            ))
            .unwrap_or_else(|e| panic!("{id_key}/{type_key} {event_type}: {e}"));
            assert_eq!(event.event_type, event_type);
            assert!(matches!(event.body, EventBody::Session(_)));
        }
    }
}

#[test]
fn dotted_names_resolve_through_the_alias_table_only() {
    let cases = [
        ("kyc.session_verified", "kyc_session_verified"),
        ("kyc.session_failed", "kyc_session_failed"),
        ("kyc.session_expired", "kyc_session_expired"),
        ("kyc.session_manual_review", "kyc_session_manual_review"),
        ("kyc.state_updated", "kyc_state_updated"),
        ("KYC.STATE_UPDATED", "kyc_state_updated"),
        ("account.activated", "account_activated"),
        (
            "related_party.kyc_session_created",
            "related_party.kyc_session_created",
        ),
        ("something.new", "something.new"),
    ];
    for (raw, canonical) in cases {
        assert_eq!(canonical_event_type(raw), canonical, "{raw}");
    }
    let event = parse(envelope(
        "id",
        "event",
        "kyc.session_verified",
        json!({ "sessionId": SESSION, "userId": USER }),
    ))
    .unwrap();
    assert_eq!(event.event_type, "kyc_session_verified");
    assert!(matches!(
        event.body,
        EventBody::Session(s) if s.outcome == SessionOutcome::Verified
    ));
}

#[test]
fn snake_and_camel_case_data_keys() {
    for data in [
        json!({ "kyc_id": 1, "user_id": USER, "state": "REGULAR" }),
        json!({ "kycId": 1, "userId": USER, "state": "REGULAR", "entityType": "user" }),
        json!({ "kycId": "1", "userId": USER, "state": "regular" }),
    ] {
        let event = parse(envelope("id", "event", "kyc.state_updated", data.clone())).unwrap();
        match event.body {
            EventBody::KycStateUpdated(e) => {
                assert_eq!(
                    e.owner,
                    Some(Owner::User(Uid::parse(USER).unwrap())),
                    "{data}"
                );
                assert_eq!(e.kyc_id, Some(1));
                assert_eq!(e.level, KycLevel::Regular);
            }
            other => panic!("{other:?}"),
        }
    }
    let event = parse(envelope(
        "id",
        "event",
        "kyc_session_verified",
        json!({ "session_id": SESSION, "user_id": USER }),
    ))
    .unwrap();
    assert!(matches!(event.body, EventBody::Session(_)));
}

#[test]
fn unknown_levels_are_kept_not_rejected() {
    let event = parse(envelope(
        "id",
        "event",
        "kyc_state_updated",
        json!({ "kycId": 1, "userId": USER, "state": "ENHANCED" }),
    ))
    .unwrap();
    assert!(matches!(
        event.body,
        EventBody::KycStateUpdated(e) if e.level == KycLevel::Other("ENHANCED".into())
    ));
}

#[test]
fn check_states_as_strings_or_integers_and_reasons_with_categories() {
    let data = json!({
        "sessionId": SESSION,
        "userId": USER,
        "checks": [
            { "type": "document-verification", "state": "Validated", "data": {}, "reasons": [] },
            { "type": "liveness", "state": 2, "data": {} },
            { "type": "manual_review", "state": "Refused", "data": {},
              "reasons": [ { "type": "ManualReview", "code": "KYC.DOC.DETERIORATED",
                             "message": "Document is damaged or unreadable.", "category": "DOC",
                             "somethingNew": true } ] }
        ]
    });
    let event = parse(envelope("id", "event", "kyc_session_failed", data)).unwrap();
    let EventBody::Session(session) = event.body else {
        panic!()
    };
    let reasons = session.outcome.failure_reasons();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].check, "liveness");
    assert_eq!(reasons[0].code, "CHECK_REFUSED");
    assert_eq!(reasons[0].message, "The liveness check was refused.");
    assert_eq!(reasons[1].code, "KYC.DOC.DETERIORATED");
    assert_eq!(reasons[1].category.as_deref(), Some("DOC"));
}

#[test]
fn failed_without_checks_has_no_reasons() {
    let event = parse(envelope(
        "id",
        "event",
        "kyc_session_failed",
        json!({ "sessionId": SESSION, "entityType": "user" }),
    ))
    .unwrap();
    let EventBody::Session(session) = event.body else {
        panic!()
    };
    assert_eq!(
        session.subject,
        Subject::User(None),
        "userId is optional in G2"
    );
    assert_eq!(session.outcome, SessionOutcome::Failed { reasons: vec![] });
}

#[test]
fn timestamps_with_any_fraction_and_offset() {
    let cases = [
        ("2025-06-19T17:14:13.123Z", "2025-06-19T17:14:13.123Z"),
        (
            "2026-02-26T17:02:28.7667797-05:00",
            "2026-02-26T22:02:28.7667797Z",
        ),
        ("2026-03-17T12:40:24-04:00", "2026-03-17T16:40:24Z"),
        ("2026-03-17T16:40:24+00:00", "2026-03-17T16:40:24Z"),
        (
            "2026-03-17T16:40:24.123456789Z",
            "2026-03-17T16:40:24.123456789Z",
        ),
    ];
    for (wire, expected) in cases {
        let mut value = envelope(
            "id",
            "event",
            "kyc_session_verified",
            json!({ "sessionId": SESSION, "userId": USER }),
        );
        value["timestamp"] = json!(wire);
        let event = parse(value).unwrap_or_else(|e| panic!("{wire}: {e}"));
        let expected: DateTime<Utc> = DateTime::parse_from_rfc3339(expected).unwrap().to_utc();
        assert_eq!(event.occurred_at, expected, "{wire}");
    }
}

#[test]
fn unknown_event_types_keep_their_raw_json() {
    let value = envelope(
        "eventId",
        "eventType",
        "payin_completed",
        json!({ "amount": 5000 }),
    );
    let event = parse(value.clone()).unwrap();
    assert_eq!(event.event_type, "payin_completed");
    assert_eq!(event.body, EventBody::Unknown { raw: value });
}

#[test]
fn uninterpretable_bodies_are_errors_naming_what_is_wrong() {
    let ok_data = json!({ "sessionId": SESSION, "userId": USER });
    assert!(matches!(
        parse_webhook(b"not json"),
        Err(ParseError::NotJson(_))
    ));
    assert!(matches!(parse_webhook(b""), Err(ParseError::NotJson(_))));
    assert_eq!(parse(json!([1, 2])).unwrap_err(), ParseError::NotAnObject);

    let mut no_id = envelope("id", "event", "kyc_session_verified", ok_data.clone());
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(parse(no_id).unwrap_err(), ParseError::Missing("id"));

    let mut bad_id = envelope("id", "event", "kyc_session_verified", ok_data.clone());
    bad_id["id"] = json!("evt_123");
    assert!(matches!(
        parse(bad_id).unwrap_err(),
        ParseError::Invalid { field: "id", .. }
    ));

    let mut bad_time = envelope("id", "event", "kyc_session_verified", ok_data.clone());
    bad_time["timestamp"] = json!("yesterday");
    assert!(matches!(
        parse(bad_time).unwrap_err(),
        ParseError::Invalid {
            field: "timestamp",
            ..
        }
    ));

    let no_session = envelope(
        "id",
        "event",
        "kyc_session_verified",
        json!({ "userId": USER }),
    );
    assert_eq!(
        parse(no_session).unwrap_err(),
        ParseError::Missing("sessionId")
    );

    let odd_entity = envelope(
        "id",
        "event",
        "kyc_session_verified",
        json!({ "sessionId": SESSION, "userId": USER, "entityType": "business" }),
    );
    assert!(matches!(
        parse(odd_entity).unwrap_err(),
        ParseError::Invalid {
            field: "entityType",
            ..
        }
    ));

    // A level event naming only its kycId parses, and is attributed to whoever an earlier
    // event paired that kycId with. One naming nobody at all cannot be attributed, so the
    // webhook asks Ralio to send it again while it is young, then quarantines it.
    let level_by_kyc_id = envelope(
        "id",
        "event",
        "kyc_state_updated",
        json!({ "kycId": 1, "entityType": "user", "state": "REGULAR" }),
    );
    assert_eq!(
        parse(level_by_kyc_id).unwrap().attribution(),
        Attribution::ByKycId(1)
    );
    let level_without_owner = envelope(
        "id",
        "event",
        "kyc_state_updated",
        json!({ "entityType": "user", "state": "REGULAR" }),
    );
    assert_eq!(
        parse(level_without_owner).unwrap().attribution(),
        Attribution::Unattributable
    );

    let level_without_state = envelope(
        "id",
        "event",
        "kyc_state_updated",
        json!({ "kycId": 1, "userId": USER }),
    );
    assert_eq!(
        parse(level_without_state).unwrap_err(),
        ParseError::Missing("state")
    );

    let mut no_data = envelope("id", "event", "kyc_session_verified", ok_data);
    no_data.as_object_mut().unwrap().remove("data");
    assert_eq!(parse(no_data).unwrap_err(), ParseError::Missing("data"));
}

#[test]
fn error_messages_never_echo_values() {
    let value = envelope(
        "id",
        "event",
        "kyc_session_verified",
        json!({ "sessionId": "jane.doe@example.com", "userId": USER }),
    );
    let message = parse(value).unwrap_err().to_string();
    assert!(!message.contains("jane.doe"), "{message}");
}

/// Checks one case per combination of `userId`, `relatedPartyId` and `entityType` (the rule is
/// written on `SubjectWire::subject`), because a related party's event must never be a user's.
#[test]
fn ownership_is_explicit_for_every_combination() {
    const PARTY: &str = "ffd45d79-2b9f-4c1a-9f0e-5f3a2c8e7d11";
    let user = Owner::User(Uid::parse(USER).unwrap());
    let party = Owner::RelatedParty(idv_model::RelatedPartyId::parse(PARTY).unwrap());
    let level = |subject: Value| {
        let mut data = json!({ "kycId": 1, "state": "REGULAR" });
        data.as_object_mut()
            .unwrap()
            .extend(subject.as_object().unwrap().clone());
        parse(envelope("id", "event", "kyc_state_updated", data))
    };
    let session = |subject: Value| {
        let mut data = json!({ "sessionId": SESSION });
        data.as_object_mut()
            .unwrap()
            .extend(subject.as_object().unwrap().clone());
        parse(envelope("id", "event", "kyc_session_verified", data))
    };
    let owner_of = |parsed: Result<idv_model::WebhookEvent, ParseError>| {
        parsed.map(|e| match e.attribution() {
            Attribution::Named(owner) => Some(owner),
            _ => None,
        })
    };
    let by_session = |parsed: Result<idv_model::WebhookEvent, ParseError>| matches!(parsed.map(|e| e.attribution()), Ok(Attribution::BySession { entity, .. }) if entity == idv_model::EntityType::RelatedParty);
    // Each case is (subject fields, owner of a level event).
    let cases: Vec<(Value, Result<Option<Owner>, &str>)> = vec![
        (json!({ "userId": USER }), Ok(Some(user))),
        (json!({}), Ok(None)),
        (
            json!({ "userId": USER, "relatedPartyId": PARTY }),
            Err("ambiguous_owner"),
        ),
        (json!({ "relatedPartyId": PARTY }), Err("ambiguous_owner")),
        (
            json!({ "userId": USER, "entityType": "user" }),
            Ok(Some(user)),
        ),
        (json!({ "entityType": "user" }), Ok(None)),
        (
            json!({ "userId": USER, "relatedPartyId": PARTY, "entityType": "user" }),
            Err("ambiguous_owner"),
        ),
        (
            json!({ "userId": USER, "relatedPartyId": PARTY, "entityType": "related-party" }),
            Ok(Some(party)),
        ),
        (
            json!({ "relatedPartyId": PARTY, "entityType": "related_party" }),
            Ok(Some(party)),
        ),
        (
            json!({ "userId": USER, "entityType": "related-party" }),
            Ok(None),
        ),
        (
            json!({ "userId": USER, "entityType": "business" }),
            Err("invalid_field"),
        ),
    ];
    for (subject, expected) in cases {
        let got = owner_of(level(subject.clone())).map_err(|e| e.code().as_str());
        assert_eq!(got, expected, "level event with {subject}");
        // Session events follow the same rule, and a related party's without its id is looked
        // up among related parties' sessions, never users'.
        let session_got = owner_of(session(subject.clone())).map_err(|e| e.code().as_str());
        match expected {
            Ok(None) if subject.get("entityType") == Some(&json!("related-party")) => {
                assert!(
                    by_session(session(subject.clone())),
                    "session event with {subject}"
                )
            }
            Ok(None) => assert_eq!(session_got, Ok(None), "session event with {subject}"),
            other => assert_eq!(session_got, other, "session event with {subject}"),
        }
    }
}
