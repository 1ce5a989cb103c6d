//! This module makes what the fuzz targets are fed: arbitrary bytes under arbitrary
//! signatures, Ralio's example payloads mutated in structure and in bytes (`payloads`), and
//! sequences of well-formed events about a few owners and sessions, so that ids, sessions and
//! timestamps collide often (`events`).

mod events;
mod payloads;

pub use events::{USERS, base_time, sequence};
pub use payloads::{FIXTURES, Mutation, mutate, mutated_delivery};

use proptest::prelude::*;

/// Says how a delivery's `X-Signature` header is made.
#[derive(Debug, Clone)]
pub enum Header {
    Missing,
    /// It is made as Ralio makes it: HMAC-SHA256 of the body, in hex, with the secret the
    /// service holds.
    SignedHex,
    SignedBase64,
    /// It puts `sha256=` before the hex digest.
    SignedPrefixed,
    /// It is signed with the secret being rotated out (the second one held).
    SignedWithPrevious,
    /// It is anything else.
    Junk(String),
}

pub(crate) fn header() -> impl Strategy<Value = Header> {
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

/// Shows the body as text where it is text, so that a kept crasher can be read.
impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("header", &self.header)
            .finish()
    }
}

/// Generates arbitrary bytes, now and then made to look like JSON.
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
