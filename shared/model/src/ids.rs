//! Ralio ids are UUID strings. Each kind gets its own type, so that a session id can never be
//! passed where a user id is expected, and none can hold a malformed value.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Says that a value is not a UUID where one is required.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be a UUID")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// Parses any UUID spelling Ralio might send (either case, with or without
            /// hyphens, braces or `urn:uuid:`). The canonical form is lowercase hyphenated.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                uuid::Uuid::parse_str(value.trim())
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind })
            }

            /// Parses only the hyphenated spelling (36 characters, either case), as the
            /// public API declares its ids (`format: uuid`). A merchant's request is held to
            /// its contract, while Ralio's payloads are read tolerantly by [`Self::parse`].
            pub fn parse_hyphenated(value: &str) -> Result<Self, InvalidId> {
                let hyphens_in_place = value.len() == 36
                    && [8, 13, 18, 23].iter().all(|&at| value.as_bytes()[at] == b'-');
                if !hyphens_in_place {
                    return Err(InvalidId { kind: $kind });
                }
                uuid::Uuid::try_parse(value)
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind })
            }

            pub fn from_uuid(value: uuid::Uuid) -> Self {
                Self(value)
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// Names a Ralio user (`uid` in the API paths, `userId` / `user_id` in webhooks).
    Uid,
    "user id"
);
uuid_id!(
    /// Names an IDV session (`id` in the create response, `sessionId` in webhooks).
    SessionId,
    "session id"
);
uuid_id!(
    /// Names a webhook delivery's event (`id` or `eventId` in the envelope), and is the
    /// de-duplication key.
    EventId,
    "event id"
);
uuid_id!(
    /// Names a related party (shareholder, UBO, representative) of a business user.
    RelatedPartyId,
    "related party id"
);

/// Says whose KYC record a session or level belongs to. Related parties are kept apart from
/// users so that nothing a related party does can unlock anything for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "kebab-case")]
pub enum Owner {
    User(Uid),
    RelatedParty(RelatedPartyId),
}

impl Owner {
    pub fn entity_type(&self) -> crate::EntityType {
        match self {
            Owner::User(_) => crate::EntityType::User,
            Owner::RelatedParty(_) => crate::EntityType::RelatedParty,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(uid) => write!(f, "user {uid}"),
            Owner::RelatedParty(id) => write!(f, "related-party {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_api_takes_only_the_hyphenated_spelling() {
        let canonical = "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a";
        assert_eq!(
            Uid::parse_hyphenated(&canonical.to_uppercase()),
            Uid::parse(canonical)
        );
        for other in [
            "e4f9d8b36b7047a1aae170c8a689c02a",
            "{e4f9d8b3-6b70-47a1-aae1-70c8a689c02a}",
            "urn:uuid:e4f9d8b3-6b70-47a1-aae1-70c8a689c02a",
            " e4f9d8b3-6b70-47a1-aae1-70c8a689c02a",
            "e4f9d8b3-6b70-47a1-aae1-70c8a689c02",
            "e4f9d8b3-6b7047a1-aae1-70c8a689c02a-",
        ] {
            assert!(Uid::parse_hyphenated(other).is_err(), "{other}");
        }
    }

    #[test]
    fn canonicalises_case_and_hyphens() {
        let lower = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let upper = Uid::parse("E4F9D8B3-6B70-47A1-AAE1-70C8A689C02A").unwrap();
        let simple = Uid::parse("e4f9d8b36b7047a1aae170c8a689c02a").unwrap();
        assert_eq!(lower, upper);
        assert_eq!(lower, simple);
        assert_eq!(upper.to_string(), "e4f9d8b3-6b70-47a1-aae1-70c8a689c02a");
    }

    #[test]
    fn rejects_non_uuids_naming_the_kind() {
        for bad in [
            "",
            "123",
            "not-a-uuid",
            "e4f9d8b3-6b70-47a1-aae1-70c8a689c02",
            "../x",
        ] {
            let err = SessionId::parse(bad).unwrap_err();
            assert_eq!(err.to_string(), "session id must be a UUID");
        }
    }

    #[test]
    fn serde_round_trip_uses_canonical_string() {
        let id = EventId::parse("DBFF0C0E-3FA3-4F7F-AB88-F196BA7EA16C").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"dbff0c0e-3fa3-4f7f-ab88-f196ba7ea16c\"");
        assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
    }
}
