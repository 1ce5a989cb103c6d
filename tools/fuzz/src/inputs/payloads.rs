//! This module mutates Ralio's example payloads in structure (a node replaced, removed or
//! renamed, a `data` member set) and in bytes (flipped, truncated, nested deep).

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use super::{Delivery, header};

/// These are Ralio's documented example payloads (`tests/fixtures/ralio`), in both
/// generations.
pub const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../../../tests/fixtures/ralio/account_activated.v1.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyb_state_updated.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_expiration_warning.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_expired.v1.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_expired.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_failed.v1.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_failed.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_manual_review.v2.json"),
    include_bytes!(
        "../../../../tests/fixtures/ralio/kyc_session_manual_review.v2.related-party.json"
    ),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_verified.v1.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_verified.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_session_verified.v2.related-party.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_state_updated.v1.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_state_updated.v2.downgrade-light.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_state_updated.v2.json"),
    include_bytes!("../../../../tests/fixtures/ralio/kyc_state_updated.v2.related-party.json"),
    include_bytes!("../../../../tests/fixtures/ralio/related_party.kyc_session_created.v2.json"),
];

/// A change to a fixture, made on its JSON tree or on its bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replaces the nth node (pre-order) with another value.
    Replace(Index, Value),
    /// Removes the nth node from its object or array.
    Remove(Index),
    /// Gives the nth object member another key (an alias, a near miss, or anything).
    Rename(Index, String),
    /// Sets a member of the `data` object, adding it when missing.
    SetData(String, Value),
    /// This and the mutations after it work on the bytes of the serialised body.
    FlipByte(Index, u8),
    Truncate(Index),
    /// Nests the body this deep in arrays (past serde_json's recursion limit when large).
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

/// Generates a fixture with one to four mutations.
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
