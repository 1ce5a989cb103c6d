//! This module generates sequences of well-formed events about two users, a related party and
//! four sessions.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use idv_model::webhook::{
    EventBody, ExpirationWarningEvent, KycStateEvent, RelatedPartySessionCreated, SessionEvent,
    SessionOutcome, Subject,
};
use idv_model::{
    AccountId, EventId, FailureReason, HostedUrl, KycLevel, Owner, RelatedPartyId, SessionId, Uid,
    WebhookEvent,
};
use proptest::prelude::*;

/// These are the users, related parties and sessions the sequences are about. They are few, so
/// that they collide.
pub const USERS: [&str; 2] = [
    "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a",
    "0b4d1b6e-22a4-4a4f-9a41-7d2f0c9e8a11",
];
const PARTIES: [&str; 1] = ["7c0b9e1e-4d8f-4a0e-9a1c-3f6b2d5e8a90"];
const SESSIONS: [&str; 4] = [
    "11111111-0000-4000-8000-000000000001",
    "11111111-0000-4000-8000-000000000002",
    "11111111-0000-4000-8000-000000000003",
    "11111111-0000-4000-8000-000000000004",
];

pub fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T09:00:00Z")
        .expect("a fixed time")
        .to_utc()
}

fn uid(i: usize) -> Uid {
    Uid::parse(USERS[i % USERS.len()]).expect("a UUID")
}

fn owner() -> impl Strategy<Value = Option<Owner>> {
    prop_oneof![
        4 => (0..USERS.len()).prop_map(|i| Some(Owner::User(uid(i)))),
        1 => Just(Some(Owner::RelatedParty(RelatedPartyId::parse(PARTIES[0]).expect("a UUID")))),
        1 => Just(None),
    ]
}

fn subject() -> impl Strategy<Value = Subject> {
    owner().prop_flat_map(|owner| match owner {
        Some(Owner::User(uid)) => Just(Subject::User(Some(uid))).boxed(),
        Some(Owner::RelatedParty(id)) => Just(Subject::RelatedParty(Some(id))).boxed(),
        None => prop_oneof![Just(Subject::User(None)), Just(Subject::RelatedParty(None))].boxed(),
    })
}

fn session_id() -> impl Strategy<Value = SessionId> {
    prop::sample::select(&SESSIONS[..]).prop_map(|s| SessionId::parse(s).expect("a UUID"))
}

fn level() -> impl Strategy<Value = KycLevel> {
    prop_oneof![
        3 => Just(KycLevel::Regular),
        3 => Just(KycLevel::Light),
        1 => Just(KycLevel::Other("PLUS".into())),
    ]
}

fn reasons() -> impl Strategy<Value = Vec<FailureReason>> {
    prop::collection::vec(
        (
            "[a-z_-]{0,8}",
            "[A-Z_.]{0,8}",
            ".{0,12}",
            prop::option::of("[A-Z]{0,4}"),
        )
            .prop_map(|(check, code, message, category)| {
                let message = if message.trim().is_empty() {
                    code.clone()
                } else {
                    message
                };
                FailureReason {
                    check,
                    code,
                    message,
                    category,
                }
            }),
        0..3,
    )
}

fn outcome() -> impl Strategy<Value = SessionOutcome> {
    prop_oneof![
        Just(SessionOutcome::Verified),
        Just(SessionOutcome::ManualReview),
        reasons().prop_map(|reasons| SessionOutcome::Failed { reasons }),
        Just(SessionOutcome::Expired),
    ]
}

fn body() -> impl Strategy<Value = (&'static str, EventBody)> {
    prop_oneof![
        6 => (session_id(), subject(), outcome()).prop_map(|(session_id, subject, outcome)| {
            let name = match outcome {
                SessionOutcome::Verified => "kyc_session_verified",
                SessionOutcome::ManualReview => "kyc_session_manual_review",
                SessionOutcome::Failed { .. } => "kyc_session_failed",
                SessionOutcome::Expired => "kyc_session_expired",
            };
            (name, EventBody::Session(SessionEvent { session_id, subject, outcome }))
        }),
        5 => (owner(), prop::option::of(0i64..50_000), level()).prop_map(|(owner, kyc_id, level)| {
            ("kyc_state_updated", EventBody::KycStateUpdated(KycStateEvent { owner, kyc_id, level }))
        }),
        1 => (owner(), prop::option::of(0i64..50_000), 0u32..400, -5i64..60).prop_map(
            |(owner, kyc_id, days, days_remaining)| {
                let expiration_date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("a date")
                    + chrono::Days::new(u64::from(days));
                (
                    "kyc_expiration_warning",
                    EventBody::ExpirationWarning(ExpirationWarningEvent {
                        owner,
                        kyc_id,
                        expiration_date,
                        days_remaining,
                    }),
                )
            }
        ),
        1 => (session_id(), any::<bool>(), prop::option::of(0i64..20)).prop_map(|(session_id, url, days)| {
            (
                "related_party.kyc_session_created",
                EventBody::RelatedPartySessionCreated(RelatedPartySessionCreated {
                    related_party_id: RelatedPartyId::parse(PARTIES[0]).expect("a UUID"),
                    session_id,
                    hosted_url: url.then(|| HostedUrl::new("https://verify.example/s/abc")),
                    expires_at: days.map(|d| base_time() + Duration::days(d)),
                }),
            )
        }),
        1 => "[A-Za-z0-9]{1,12}".prop_map(|id| {
            ("account_activated", EventBody::AccountActivated {
                account_id: AccountId::parse(&id).expect("an account id"),
            })
        }),
    ]
}

/// Returns a well-formed event numbered `n`, its time within a few hours (ties are common).
fn event(n: usize, minutes: i64, (event_type, body): (&'static str, EventBody)) -> WebhookEvent {
    WebhookEvent {
        id: EventId::parse(&format!("00000000-0000-4000-8000-{n:012}")).expect("a UUID"),
        event_type: event_type.to_owned(),
        occurred_at: base_time() + Duration::minutes(minutes),
        stamped_at: None,
        body,
    }
}

/// Generates deliveries of up to eight distinct events (Ralio gives every event its own id), in
/// any order, with repeats, for one to sixteen in all.
pub fn sequence() -> impl Strategy<Value = Vec<WebhookEvent>> {
    prop::collection::vec((0i64..12 * 60, body()), 1..8).prop_flat_map(|drawn| {
        let events: Vec<WebhookEvent> = drawn
            .into_iter()
            .enumerate()
            .map(|(n, (minutes, body))| event(n, minutes, body))
            .collect();
        let count = events.len();
        prop::collection::vec(0..count, count..16)
            .prop_map(move |picks| picks.into_iter().map(|i| events[i].clone()).collect())
    })
}
