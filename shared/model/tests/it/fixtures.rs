//! These tests check that every Ralio fixture parses to the right normalised event, and that
//! every published signature vector verifies (and fails once tampered with).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use idv_model::webhook::{
    EventBody, ExpirationWarningEvent, KycStateEvent, RelatedPartySessionCreated, SessionEvent,
    SessionOutcome, Subject,
};
use idv_model::{
    EventId, FailureReason, KycLevel, Owner, RelatedPartyId, SessionId, SignatureError, Uid,
    WebhookSecret, WebhookSecrets, parse_webhook,
};

const SECRET: &str = "whsec_ralio_fixture_test_secret";
const USER: &str = "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a";
const PARTY: &str = "ffd45d79-e5a0-417a-972d-1052865d32ee";
const SESSION_A: &str = "a534c9a9-b4ae-4db5-86c3-9506219e4c36";
const SESSION_B: &str = "62a16c76-f166-40ba-9af6-c04c6b217a4b";
const SESSION_C: &str = "26c33b2b-1647-41a5-87a6-456349f30616";
const SESSION_RP: &str = "0cb64f88-9fd1-4479-ba23-a0427041da1f";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ralio")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn user() -> Uid {
    Uid::parse(USER).unwrap()
}

fn session(id: &str) -> SessionId {
    SessionId::parse(id).unwrap()
}

fn party() -> RelatedPartyId {
    RelatedPartyId::parse(PARTY).unwrap()
}

/// Returns one tuple per fixture: (file, event id, canonical type, timestamp, body).
fn expectations() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    EventBody,
)> {
    let session_event = |id, subject, outcome| {
        EventBody::Session(SessionEvent {
            session_id: session(id),
            subject,
            outcome,
        })
    };
    let reason = |check: &str, code: &str, message: &str, category: Option<&str>| FailureReason {
        check: check.into(),
        code: code.into(),
        message: message.into(),
        category: category.map(Into::into),
    };
    vec![
        (
            "kyc_session_verified.v1.json",
            "dbff0c0e-3fa3-4f7f-ab88-f196ba7ea16c",
            "kyc_session_verified",
            "2026-05-04T14:05:11.276Z",
            session_event(
                SESSION_A,
                Subject::User(Some(user())),
                SessionOutcome::Verified,
            ),
        ),
        (
            "kyc_session_verified.v2.json",
            "e9990689-45ab-4980-b61f-b7f87c3538fe",
            "kyc_session_verified",
            "2026-05-04T14:05:11.276Z",
            session_event(
                SESSION_A,
                Subject::User(Some(user())),
                SessionOutcome::Verified,
            ),
        ),
        (
            "kyc_session_verified.v2.related-party.json",
            "a8596ae6-5bd0-4251-947a-bf2e17d7db7e",
            "kyc_session_verified",
            "2026-05-08T10:41:29.063Z",
            session_event(
                SESSION_RP,
                Subject::RelatedParty(Some(party())),
                SessionOutcome::Verified,
            ),
        ),
        (
            "kyc_session_manual_review.v2.json",
            "9b3b2222-356e-489c-b4f6-9da8792c832d",
            "kyc_session_manual_review",
            "2026-05-04T09:31:47.902Z",
            session_event(
                SESSION_A,
                Subject::User(Some(user())),
                SessionOutcome::ManualReview,
            ),
        ),
        (
            "kyc_session_manual_review.v2.related-party.json",
            "bbc34658-6d73-4ee2-943c-0b25c92e7a21",
            "kyc_session_manual_review",
            "2026-05-07T16:02:54.371Z",
            session_event(
                SESSION_RP,
                Subject::RelatedParty(Some(party())),
                SessionOutcome::ManualReview,
            ),
        ),
        (
            "kyc_session_failed.v1.json",
            "e5003c31-1f61-4b52-98eb-1824eaad3eea",
            "kyc_session_failed",
            "2026-05-05T11:20:38.845Z",
            session_event(
                SESSION_B,
                Subject::User(Some(user())),
                SessionOutcome::Failed {
                    reasons: vec![
                        reason(
                            "document-verification",
                            "EXPIRED_DOCUMENT",
                            "The identity document is past its expiry date",
                            None,
                        ),
                        reason(
                            "face-matching",
                            "NO_MATCH",
                            "Selfie does not match the photo on the document",
                            None,
                        ),
                    ],
                },
            ),
        ),
        (
            "kyc_session_failed.v2.json",
            "8328d372-ecb7-4d52-a02d-9da3c4fe73a0",
            "kyc_session_failed",
            "2026-05-05T11:20:38.845Z",
            session_event(
                SESSION_B,
                Subject::User(Some(user())),
                SessionOutcome::Failed {
                    reasons: vec![reason(
                        "manual_review",
                        "KYC.DOC.DETERIORATED",
                        "Document is damaged or unreadable.",
                        Some("DOC"),
                    )],
                },
            ),
        ),
        (
            "kyc_session_expired.v1.json",
            "a9afe159-7637-46b8-abc6-f45ff64b80b7",
            "kyc_session_expired",
            "2026-05-13T08:00:02.117Z",
            session_event(
                SESSION_C,
                Subject::User(Some(user())),
                SessionOutcome::Expired,
            ),
        ),
        (
            "kyc_session_expired.v2.json",
            "d5412740-2cfd-4e59-96d7-d17f83e2d5a1",
            "kyc_session_expired",
            "2026-05-13T08:00:02.117Z",
            session_event(
                SESSION_C,
                Subject::User(Some(user())),
                SessionOutcome::Expired,
            ),
        ),
        (
            "kyc_state_updated.v1.json",
            "29cdff7f-fe9f-4202-a6c8-d431dd0b404d",
            "kyc_state_updated",
            "2026-05-04T14:05:11.940Z",
            EventBody::KycStateUpdated(KycStateEvent {
                owner: Some(Owner::User(user())),
                kyc_id: Some(40817),
                level: KycLevel::Regular,
            }),
        ),
        (
            "kyc_state_updated.v2.json",
            "997b6324-03d5-417e-aea4-4523f2c41b94",
            "kyc_state_updated",
            "2026-05-04T14:05:11.940Z",
            EventBody::KycStateUpdated(KycStateEvent {
                owner: Some(Owner::User(user())),
                kyc_id: Some(40817),
                level: KycLevel::Regular,
            }),
        ),
        (
            "kyc_state_updated.v2.downgrade-light.json",
            "4f0a7af4-3c00-41c5-9b4b-330ad6015789",
            "kyc_state_updated",
            "2026-06-01T00:05:43.209Z",
            EventBody::KycStateUpdated(KycStateEvent {
                owner: Some(Owner::User(user())),
                kyc_id: Some(40817),
                level: KycLevel::Light,
            }),
        ),
        (
            "kyc_state_updated.v2.related-party.json",
            "2d4ad3c9-1577-468d-a802-f34a9483914b",
            "kyc_state_updated",
            "2026-05-08T10:41:29.688Z",
            EventBody::KycStateUpdated(KycStateEvent {
                owner: Some(Owner::RelatedParty(party())),
                kyc_id: Some(40952),
                level: KycLevel::Regular,
            }),
        ),
        (
            "kyc_expiration_warning.v2.json",
            "db0e8a75-832f-467a-b981-24587b57d005",
            "kyc_expiration_warning",
            "2026-05-18T03:00:00.512Z",
            EventBody::ExpirationWarning(ExpirationWarningEvent {
                owner: Some(Owner::User(user())),
                kyc_id: Some(40817),
                expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
                days_remaining: 14,
            }),
        ),
        (
            "related_party.kyc_session_created.v2.json",
            "98b980b2-f790-4a25-b9e7-fb433d9e9cca",
            "related_party.kyc_session_created",
            "2026-05-06T09:15:40.336Z",
            EventBody::RelatedPartySessionCreated(RelatedPartySessionCreated {
                related_party_id: party(),
                session_id: session(SESSION_RP),
                hosted_url: Some(idv_model::HostedUrl::new(
                    "https://signup.getmati.com/?merchantToken=65f1c0a7e4b2d9001a3c7e51&flowId=65f1c0d2e4b2d9001a3c7e58",
                )),
                expires_at: Some(at("2026-05-13T09:15:40.336Z")),
            }),
        ),
        (
            "account_activated.v1.json",
            "5b0e8f3a-2c4d-4e6f-8a1b-3c5d7e9f1a2b",
            "account_activated",
            "2026-05-08T10:45:02.311Z",
            EventBody::AccountActivated {
                account_id: idv_model::AccountId::parse("7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f")
                    .unwrap(),
            },
        ),
    ]
}

#[test]
fn every_fixture_parses_to_its_normalised_event() {
    for (file, id, event_type, timestamp, body) in expectations() {
        let event = parse_webhook(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.id, EventId::parse(id).unwrap(), "{file}");
        assert_eq!(event.event_type, event_type, "{file}");
        assert_eq!(event.occurred_at, at(timestamp), "{file}");
        assert_eq!(event.body, body, "{file}");
    }
}

#[test]
fn kyb_state_updated_is_kept_as_unknown_with_its_raw_json() {
    let raw = fixture("kyb_state_updated.v2.json");
    let event = parse_webhook(&raw).unwrap();
    assert_eq!(event.event_type, "kyb_state_updated");
    match event.body {
        EventBody::Unknown { raw: json } => {
            let original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(json, original);
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
}

/// These are the vectors published in the fixtures README (self-generated, not from Ralio).
const VECTORS: &[(&str, &str, &str)] = &[
    (
        "account_activated.v1.json",
        "9dc1c76905c2d619d887b05786f21cc021bc3fa212a87f5d5c5ae3626191c9fe",
        "ncHHaQXC1hnYh7BXhvIcwCG8P6ISqH9dXFrjYmGRyf4=",
    ),
    (
        "kyb_state_updated.v2.json",
        "8e18f8f75f8bf535b4b86edb37f7bd94456187285a62b7adaa805a8dae15146f",
        "jhj491+L9TW0uG7bN/e9lEVhhyhaYretqoBaja4VFG8=",
    ),
    (
        "kyc_expiration_warning.v2.json",
        "23a1629b71bb00ce939036cf64770f5a1bee1239c32fac051894b255759ee35a",
        "I6Fim3G7AM6TkDbPZHcPWhvuEjnDL6wFGJSyVXWe41o=",
    ),
    (
        "kyc_session_expired.v1.json",
        "7a3abdec8b93feb2c87e797d6390f984431e8e0b2aaaa8b9cd8eda001b941529",
        "ejq97IuT/rLIfnl9Y5D5hEMejgsqqqi5zY7aABuUFSk=",
    ),
    (
        "kyc_session_expired.v2.json",
        "ed3056b8a82749e796c912886b9cb941c11a5c7d1d7d61dbbd8af0b997928a3a",
        "7TBWuKgnSeeWyRKIa5y5QcEaXH0dfWHbvYrwuZeSijo=",
    ),
    (
        "kyc_session_failed.v1.json",
        "9bd2e5030c4a7043c6c3f7b0973e1c771ec7fba65683f92c55728dc51f827a8b",
        "m9LlAwxKcEPGw/ewlz4cdx7H+6ZWg/ksVXKNxR+Ceos=",
    ),
    (
        "kyc_session_failed.v2.json",
        "4dc2ef359edb92a92210d7aafaf8a0463a0e08d7a2fbf381ae9cc0a2aac68709",
        "TcLvNZ7bkqkiENeq+vigRjoOCNei+/OBrpzAoqrGhwk=",
    ),
    (
        "kyc_session_manual_review.v2.json",
        "666092cea14992488830355bc2411ea86cd1b83c66bbcbc7900f3fa3e3e8d6f6",
        "ZmCSzqFJkkiIMDVbwkEeqGzRuDxmu8vHkA8/o+Po1vY=",
    ),
    (
        "kyc_session_manual_review.v2.related-party.json",
        "1e1be3f3599e4022ad156d5ddc92fdad5fae12bf7367da91ad23e3b5adc50014",
        "Hhvj81meQCKtFW1d3JL9rV+uEr9zZ9qRrSPjta3FABQ=",
    ),
    (
        "kyc_session_verified.v1.json",
        "3deea3526304b0f1355cefa0ad5206d7633de7fe5bc2f54874a381fb5bf8ceb0",
        "Pe6jUmMEsPE1XO+grVIG12M95/5bwvVIdKOB+1v4zrA=",
    ),
    (
        "kyc_session_verified.v2.json",
        "b7c66a3fecfeca83733fa15cbc3ec9b308efcb9f82d1029beb0a69eb282e805a",
        "t8ZqP+z+yoNzP6FcvD7Jswjvy5+C0QKb6wpp6ygugFo=",
    ),
    (
        "kyc_session_verified.v2.related-party.json",
        "80be709c5e3f9ef69619466eabc01804709dbb656d103e375e3ef128010beba5",
        "gL5wnF4/nvaWGUZuq8AYBHCdu2VtED43Xj7xKAEL66U=",
    ),
    (
        "kyc_state_updated.v1.json",
        "3a5b23988ea0d7e65cdf7fe4f1c2a0047aad83d16128928c87e606bf213161aa",
        "OlsjmI6g1+Zc33/k8cKgBHqtg9FhKJKMh+YGvyExYao=",
    ),
    (
        "kyc_state_updated.v2.downgrade-light.json",
        "48c91d55873df2aa0cbdb08205ac3f21d1864ce0f4832b2cc775eb1954dfc9b0",
        "SMkdVYc98qoMvbCCBaw/IdGGTOD0gyssx3XrGVTfybA=",
    ),
    (
        "kyc_state_updated.v2.json",
        "f835c2b759f01e50ffc45f4f592d93b2c6524da35608fc66b882ba305a5655ef",
        "+DXCt1nwHlD/xF9PWS2TssZSTaNWCPxmuIK6MFpWVe8=",
    ),
    (
        "kyc_state_updated.v2.related-party.json",
        "c2a9dbc82b092bf3c04e78f022102705636313504975a959893ae263e974b53d",
        "wqnbyCsJK/PATnjwIhAnBWNjE1BJdalZiTriY+l0tT0=",
    ),
    (
        "related_party.kyc_session_created.v2.json",
        "b831528c1a6bcfeef2a7372fd3e7768c0f24f385d28315c596beb29e26bcd8cb",
        "uDFSjBprz+7ypzcv0+d2jA8k84XSgxXFlr6ynia82Ms=",
    ),
];

#[test]
fn every_published_signature_vector_verifies_in_hex_and_base64() {
    let secrets = WebhookSecrets::from_csv(SECRET).unwrap();
    for (file, hex, base64) in VECTORS {
        let body = fixture(file);
        assert_eq!(WebhookSecret::new(SECRET).sign_hex(&body), *hex, "{file}");
        assert_eq!(
            WebhookSecret::new(SECRET).sign_base64(&body),
            *base64,
            "{file}"
        );
        assert_eq!(secrets.verify(&body, Some(hex)), Ok(0), "{file} hex");
        assert_eq!(
            secrets.verify(&body, Some(&hex.to_uppercase())),
            Ok(0),
            "{file} HEX"
        );
        assert_eq!(secrets.verify(&body, Some(base64)), Ok(0), "{file} base64");
        let url_safe = base64.replace('+', "-").replace('/', "_");
        assert_eq!(
            secrets.verify(&body, Some(&url_safe)),
            Ok(0),
            "{file} base64url"
        );
    }
}

#[test]
fn tampering_with_any_fixture_breaks_its_signature() {
    let secrets = WebhookSecrets::from_csv(SECRET).unwrap();
    for (file, hex, _) in VECTORS {
        let mut body = fixture(file);
        // Dropping the trailing newline is the subtlest possible change to the signed bytes.
        body.pop();
        assert_eq!(
            secrets.verify(&body, Some(hex)),
            Err(SignatureError::Mismatch),
            "{file}"
        );
        let mut flipped = fixture(file);
        flipped[10] ^= 0x01;
        assert_eq!(
            secrets.verify(&flipped, Some(hex)),
            Err(SignatureError::Mismatch),
            "{file}"
        );
    }
    let rotated = WebhookSecrets::from_csv(&format!("whsec_new,{SECRET}")).unwrap();
    let (file, hex, _) = VECTORS[0];
    assert_eq!(
        rotated.verify(&fixture(file), Some(hex)),
        Ok(1),
        "second secret"
    );
    let wrong = WebhookSecrets::from_csv("whsec_other").unwrap();
    assert_eq!(
        wrong.verify(&fixture(file), Some(hex)),
        Err(SignatureError::Mismatch)
    );
}
