//! What the fuzz targets are fed: arbitrary bytes under arbitrary signatures, Ralio's example
//! payloads mutated in structure and in bytes, and sequences of well-formed events about a few
//! owners and sessions, so that ids, sessions and timestamps collide often.

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
use proptest::sample::Index;
use serde_json::Value;

/// Ralio's documented example payloads (`tests/fixtures/ralio`), both generations.
pub const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../../tests/fixtures/ralio/account_activated.v1.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyb_state_updated.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_expiration_warning.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_expired.v1.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_expired.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_failed.v1.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_failed.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_manual_review.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_manual_review.v2.related-party.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_verified.v1.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_verified.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_session_verified.v2.related-party.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_state_updated.v1.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_state_updated.v2.downgrade-light.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_state_updated.v2.json"),
    include_bytes!("../../../tests/fixtures/ralio/kyc_state_updated.v2.related-party.json"),
    include_bytes!("../../../tests/fixtures/ralio/related_party.kyc_session_created.v2.json"),
];

/// How a delivery's `X-Signature` header is made.
#[derive(Debug, Clone)]
pub enum Header {
    Missing,
    /// Ralio's own: HMAC-SHA256 of the body, hex, with the secret the service holds.
    SignedHex,
    SignedBase64,
    /// `sha256=` before the hex digest.
    SignedPrefixed,
    /// Signed with the secret being rotated out (the second one held).
    SignedWithPrevious,
    /// Anything else.
    Junk(String),
}

fn header() -> impl Strategy<Value = Header> {
    prop_oneof![
        Just(Header::Missing),
        Just(Header::SignedHex),
        Just(Header::SignedBase64),
        Just(Header::SignedPrefixed),
        Just(Header::SignedWithPrevious),
        ".{0,80}".prop_map(Header::Junk),
        "(sha256=)?[0-9a-fA-F]{64}".prop_map(Header::Junk),
    ]
}

/// One delivery: a body and how it is signed.
#[derive(Clone)]
pub struct Delivery {
    pub body: Vec<u8>,
    pub header: Header,
}

/// The body as text where it is text, so a kept crasher can be read.
impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("header", &self.header)
            .finish()
    }
}

/// Arbitrary bytes, now and then made to look like JSON.
pub fn raw_delivery() -> impl Strategy<Value = Delivery> {
    let body = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|inner| {
            let mut body = b"{\"id\":".to_vec();
            body.extend(inner);
            body.push(b'}');
            body
        }),
    ];
    (body, header()).prop_map(|(body, header)| Delivery { body, header })
}

/// A change to a fixture, made on its JSON tree or on its bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replace the nth node (pre-order) with another value.
    Replace(Index, Value),
    /// Remove the nth node from its object or array.
    Remove(Index),
    /// Give the nth object member another key (an alias, a near miss, or anything).
    Rename(Index, String),
    /// Set a member of the `data` object, adding it when missing.
    SetData(String, Value),
    /// Byte-level, on the serialised body.
    FlipByte(Index, u8),
    Truncate(Index),
    /// Nest the body this deep in arrays (past serde_json's recursion limit when large).
    Nest(usize),
}

const KEYS: &[&str] = &[
    "id",
    "eventId",
    "event_id",
    "event",
    "eventType",
    "event_type",
    "timestamp",
    "data",
    "sessionId",
    "session_id",
    "userId",
    "user_id",
    "relatedPartyId",
    "related_party_id",
    "entityType",
    "entity_type",
    "checks",
    "state",
    "reasons",
    "code",
    "message",
    "category",
    "kycId",
    "kyc_id",
    "expirationDate",
    "daysRemaining",
    "accountId",
    "relatedParty",
    "kycSession",
    "url",
    "expiresAt",
];

const TEXTS: &[&str] = &[
    "kyc_session_verified",
    "kyc.session_verified",
    "kyc_session_failed",
    "kyc_session_manual_review",
    "kyc_session_expired",
    "kyc_state_updated",
    "KYC_STATE_UPDATED",
    "kyc_expiration_warning",
    "related_party.kyc_session_created",
    "account_activated",
    "REGULAR",
    "regular",
    " LIGHT ",
    "1",
    "2",
    "user",
    "related-party",
    "related_party",
    "company",
    "2026-05-04T14:05:00Z",
    "2026-05-04T14:05:00.123456789+02:00",
    "2099-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30",
    "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a",
    "E4F9D8B3-6B70-47A1-AAE1-70C8A689C02A",
    "{e4f9d8b3-6b70-47a1-aae1-70c8a689c02a}",
    "urn:uuid:e4f9d8b3-6b70-47a1-aae1-70c8a689c02a",
    "",
    " ",
    "\u{0}",
    "Validated",
    "Refused",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(TEXTS).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        (0usize..70_000).prop_map(|n| Value::from("x".repeat(n))),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), key()).prop_map(|(i, k)| Mutation::Rename(i, k)),
        3 => (key(), json_value()).prop_map(|(k, v)| Mutation::SetData(k, v)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop_oneof![1usize..140, 5_000usize..5_001].prop_map(Mutation::Nest),
    ]
}

/// A fixture with one to four mutations.
pub fn mutated_delivery() -> impl Strategy<Value = Delivery> {
    (
        prop::sample::select(FIXTURES),
        prop::collection::vec(mutation(), 1..5),
        header(),
    )
        .prop_map(|(fixture, mutations, header)| Delivery {
            body: mutate(fixture, &mutations),
            header,
        })
}

/// Applies tree mutations to the parsed fixture, then byte mutations to its serialisation.
pub fn mutate(fixture: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut tree: Value = serde_json::from_slice(fixture).expect("fixtures are JSON");
    for mutation in mutations {
        match mutation {
            Mutation::Replace(at, value) => {
                if let Some(node) = nth_node(&mut tree, at) {
                    *node = value.clone();
                }
            }
            Mutation::Remove(at) => remove_nth(&mut tree, at),
            Mutation::Rename(at, key) => rename_nth(&mut tree, at, key),
            Mutation::SetData(key, value) => {
                if let Some(Value::Object(data)) = tree.get_mut("data") {
                    data.insert(key.clone(), value.clone());
                }
            }
            _ => {}
        }
    }
    let mut body = serde_json::to_vec(&tree).expect("a JSON tree serialises");
    for mutation in mutations {
        match mutation {
            Mutation::FlipByte(at, byte) if !body.is_empty() => {
                let i = at.index(body.len());
                body[i] ^= byte | 1;
            }
            Mutation::Truncate(at) => body.truncate(at.index(body.len() + 1)),
            Mutation::Nest(depth) => {
                let mut nested = vec![b'['; *depth];
                nested.extend_from_slice(&body);
                nested.extend(std::iter::repeat_n(b']', *depth));
                body = nested;
            }
            _ => {}
        }
    }
    body
}

fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(members) => members.values().map(count).sum(),
        _ => 0,
    }
}

fn nth_node<'a>(tree: &'a mut Value, at: &Index) -> Option<&'a mut Value> {
    let mut n = at.index(count(tree));
    walk(tree, &mut n)
}

fn walk<'a>(node: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(node);
    }
    *n -= 1;
    match node {
        Value::Array(items) => items.iter_mut().find_map(|item| walk(item, n)),
        Value::Object(members) => members.values_mut().find_map(|v| walk(v, n)),
        _ => None,
    }
}

fn remove_nth(tree: &mut Value, at: &Index) {
    let mut n = at.index(count(tree));
    remove_walk(tree, &mut n);
}

/// Removes the `n`th node (pre-order, the root excluded) from its parent.
fn remove_walk(node: &mut Value, n: &mut usize) -> bool {
    match node {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 {
                    items.remove(i);
                    return true;
                }
                *n -= 1;
                if remove_walk(&mut items[i], n) {
                    return true;
                }
            }
            false
        }
        Value::Object(members) => {
            let keys: Vec<String> = members.keys().cloned().collect();
            for key in keys {
                if *n == 0 {
                    members.remove(&key);
                    return true;
                }
                *n -= 1;
                if let Some(child) = members.get_mut(&key)
                    && remove_walk(child, n)
                {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn rename_nth(tree: &mut Value, at: &Index, new_key: &str) {
    let mut n = at.index(count(tree));
    rename_walk(tree, &mut n, new_key);
}

/// Renames the key of the `n`th object member (pre-order over members).
fn rename_walk(node: &mut Value, n: &mut usize, new_key: &str) -> bool {
    match node {
        Value::Array(items) => items.iter_mut().any(|item| rename_walk(item, n, new_key)),
        Value::Object(members) => {
            let keys: Vec<String> = members.keys().cloned().collect();
            for key in keys {
                if *n == 0 {
                    if let Some(value) = members.remove(&key) {
                        members.insert(new_key.to_owned(), value);
                    }
                    return true;
                }
                *n -= 1;
                if let Some(child) = members.get_mut(&key)
                    && rename_walk(child, n, new_key)
                {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// The users, related parties and sessions the sequences are about: few, so they collide.
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

/// A well-formed event, its time within a few hours (ties are common), numbered `n`.
fn event(n: usize, minutes: i64, (event_type, body): (&'static str, EventBody)) -> WebhookEvent {
    WebhookEvent {
        id: EventId::parse(&format!("00000000-0000-4000-8000-{n:012}")).expect("a UUID"),
        event_type: event_type.to_owned(),
        occurred_at: base_time() + Duration::minutes(minutes),
        stamped_at: None,
        body,
    }
}

/// Deliveries of up to eight distinct events (Ralio gives every event its own id), in any
/// order, with repeats: one to sixteen in all.
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
